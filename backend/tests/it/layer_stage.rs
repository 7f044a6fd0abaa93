//! The layer stage end to end: two `serve` nodes share the layers topic's partitions, three
//! source partitions send their contributions (provisional values, finals, copies of finals,
//! stale provisional values after a final) through `LayerFeed`, as the partition actors do,
//! and one node is SIGKILLed halfway. Every layer window all sources closed must be stored
//! final with exactly the sum of the sources' final values; those one source still holds
//! open must be stored provisional.

use std::collections::BTreeMap;
use std::time::Duration;

use layercast::store::{layer_windows, Db, DbUrl};
use layercast::stream::layers::{partials_of, LayerFeed};
use layercast::stream::window::{Window, WindowAgg};
use layercast_shared::OsiLayer;
use rand::{Rng, SeedableRng};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use crate::support::{http_get, wait_for, Broker, Node, TestDb};

/// Partitions of the events topic: the sources.
const SOURCES: i32 = 3;
const LEN_MS: i64 = 10_000;
const BASE_MS: i64 = 1_800_000_000_000;
const WINDOWS: i64 = 30;
/// Source 2 closes windows this many behind the others, and never closes the last ones.
const LAG: i64 = 4;
const LAYERS: [OsiLayer; 3] = [OsiLayer::L2, OsiLayer::L3, OsiLayer::L7];
const ENTITIES: usize = 3;

/// Final per-entity windows of one source at one window start.
fn windows_of(rng: &mut rand_chacha::ChaCha8Rng, source: i32, start_ms: i64) -> Vec<Window> {
    let mut out = Vec::new();
    for layer in LAYERS {
        for e in 0..ENTITIES {
            let events = rng.random_range(1..50);
            let agg = WindowAgg {
                events,
                bytes: events * 100,
                errors: events / 10,
                ..WindowAgg::default()
            };
            out.push(Window {
                layer,
                entity: format!("s{source}-e{e}"),
                start_ms,
                len_ms: LEN_MS,
                agg,
            });
        }
    }
    out
}

/// The same windows with part of their records: what a source sends while they are open.
fn partly(windows: &[Window]) -> Vec<Window> {
    windows
        .iter()
        .map(|w| {
            let events = w.agg.events / 2;
            Window {
                agg: WindowAgg {
                    events,
                    bytes: events * 100,
                    ..WindowAgg::default()
                },
                ..w.clone()
            }
        })
        .collect()
}

type Sums = BTreeMap<(String, i64), (i64, i64)>;

fn add(sums: &mut Sums, windows: &[Window]) {
    for w in windows {
        let e = sums
            .entry((w.layer.as_str().to_owned(), w.start_ms))
            .or_default();
        e.0 += w.agg.events as i64;
        e.1 += w.agg.bytes as i64;
    }
}

fn stored(db: &Db) -> BTreeMap<(String, i64), (i64, i64, bool, i32)> {
    let Ok(mut conn) = db.conn() else {
        return BTreeMap::new();
    };
    let rows = layer_windows::range(&mut conn, LEN_MS, None, i64::MIN, i64::MAX, 100_000)
        .unwrap_or_default();
    rows.into_iter()
        .map(|r| {
            (
                (r.layer, r.window_start),
                (r.events, r.bytes, r.is_final, r.sources),
            )
        })
        .collect()
}

/// The layers whose stage actor runs on the node: those its `/metrics` reports idle sources of.
fn owned_layers(port: u16) -> Vec<String> {
    let Some((_, metrics)) = http_get(port, "/metrics") else {
        return Vec::new();
    };
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("layercast_layer_idle_sources{layer=\""))
        .filter_map(|l| l.split('"').next().map(str::to_owned))
        .collect()
}

#[actix_web::test]
async fn layer_windows_are_the_sum_of_every_source_through_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let id = std::process::id();
    let layers_topic = format!("ls-layers-{id}");
    let config = format!(
        "[kafka]\nbrokers = \"{}\"\nevents_topic = \"ls-events-{id}\"\nupdates_topic = \"ls-updates-{id}\"\n\
         late_topic = \"ls-late-{id}\"\nlayers_topic = \"{layers_topic}\"\ngroup_id = \"ls-group-{id}\"\npartitions = {SOURCES}\n\
         [database]\nurl = \"{}\"\n[windows]\nlength_secs = {}\n\
         # No wall-clock idleness: finality must depend on what the sources said alone.\nidle_timeout_secs = 86400\n",
        broker.bootstrap,
        database.url,
        LEN_MS / 1000,
    );
    // Node A leads both groups (tansu 0.6 never drops a crashed leader), so B is killed.
    let a = Node::start("node-a", &config, dir.path());
    a.wait_healthy();
    let mut b = Node::start("node-b", &config, dir.path());
    b.wait_healthy();
    wait_for("both nodes to own layers", Duration::from_secs(90), || {
        let (la, lb) = (owned_layers(a.port), owned_layers(b.port));
        (!la.is_empty() && !lb.is_empty() && la.len() + lb.len() == OsiLayer::ALL.len())
            .then_some(())
    });

    // One record per batch: tansu 0.6 cannot fetch from the middle of a batch (see
    // stream_engine.rs).
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("enable.idempotence", "true")
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    let feed = LayerFeed::new(
        producer,
        layers_topic.clone(),
        layercast::kafka::LAYERS_PARTITIONS,
    );
    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let finals: Vec<Vec<Vec<Window>>> = (0..SOURCES)
        .map(|s| {
            (0..WINDOWS)
                .map(|w| windows_of(&mut rng, s, BASE_MS + w * LEN_MS))
                .collect()
        })
        .collect();
    let mut want_final = Sums::new();
    let mut want_open = Sums::new();
    for w in 0..WINDOWS {
        for s in 0..SOURCES {
            let source_closes = s != 2 || w < WINDOWS - LAG;
            if w < WINDOWS - LAG {
                add(&mut want_final, &finals[s as usize][w as usize]);
            } else if source_closes {
                add(&mut want_open, &finals[s as usize][w as usize]);
            } else {
                add(&mut want_open, &partly(&finals[s as usize][w as usize]));
            }
        }
    }

    for t in 0..WINDOWS + LAG {
        if t == WINDOWS / 2 {
            // Halfway, once B has made some windows final: kill it.
            wait_for("some final layer windows", Duration::from_secs(60), || {
                (stored(&db).values().filter(|v| v.2).count() >= 3).then_some(())
            });
            b.proc.kill();
        }
        for s in 0..SOURCES {
            let source = &finals[s as usize];
            if t < WINDOWS {
                feed.deliver(partials_of(s, &[], &partly(&source[t as usize]), |_, _| {
                    false
                }))
                .await
                .expect("provisional");
            }
            let closes = if s == 2 { t - LAG } else { t };
            let last = if s == 2 { WINDOWS - LAG } else { WINDOWS };
            if !(0..last).contains(&closes) {
                continue;
            }
            let start = BASE_MS + closes * LEN_MS;
            let closed = partials_of(s, &[(LEN_MS, start)], &source[closes as usize], |_, _| true);
            feed.deliver(closed.clone()).await.expect("final");
            if s == 0 {
                // A copy (a retried write) and a stale provisional value after the final.
                feed.deliver(closed).await.expect("copy");
                feed.deliver(partials_of(
                    s,
                    &[],
                    &partly(&source[closes as usize]),
                    |_, _| false,
                ))
                .await
                .expect("stale");
            }
        }
    }

    wait_for("node A to own every layer", Duration::from_secs(90), || {
        (owned_layers(a.port).len() == OsiLayer::ALL.len()).then_some(())
    });
    let finals_wanted = want_final.len();
    let got = wait_for(
        "every closed layer window to be final",
        Duration::from_secs(120),
        || {
            let got = stored(&db);
            (got.values().filter(|v| v.2).count() == finals_wanted).then_some(got)
        },
    );
    for (key, (events, bytes)) in &want_final {
        assert_eq!(
            got.get(key),
            Some(&(*events, *bytes, true, SOURCES)),
            "final window {key:?}"
        );
    }
    // The windows source 2 holds open: provisional, the sum of the latest values. Written at
    // most once a second, so wait for the last.
    let got = wait_for(
        "the open windows' latest values",
        Duration::from_secs(30),
        || {
            let got = stored(&db);
            want_open
                .iter()
                .all(|(k, (e, b))| {
                    got.get(k)
                        .is_some_and(|v| (v.0, v.1, v.2) == (*e, *b, false))
                })
                .then_some(got)
        },
    );
    assert_eq!(
        got.len(),
        want_final.len() + want_open.len(),
        "no layer window that no source sent"
    );

    let last_start = BASE_MS + (WINDOWS - 1) * LEN_MS;
    let (_, body) = http_get(
        a.port,
        &format!(
            "/api/layers?layer=L3&from={BASE_MS}&to={}",
            last_start + LEN_MS
        ),
    )
    .expect("GET /api/layers");
    let api: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
    assert_eq!(api.len(), WINDOWS as usize, "{body}");
    let (events, _, _, _) = got[&("L3".to_owned(), BASE_MS)];
    assert_eq!(
        (
            api[0]["events"].as_i64(),
            api[0]["final"].as_bool(),
            api[0]["sources"].as_i64()
        ),
        (Some(events), Some(true), Some(3))
    );
    assert_eq!(api[WINDOWS as usize - 1]["final"].as_bool(), Some(false));

    let (_, metrics) = http_get(a.port, "/metrics").expect("GET /metrics");
    let last_final = BASE_MS + (WINDOWS - LAG - 1) * LEN_MS;
    let series =
        format!("layercast_layer_final_through_seconds{{layer=\"L3\",len_ms=\"{LEN_MS}\"}} ");
    let through: Option<f64> = metrics
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok());
    assert_eq!(through, Some(last_final as f64 / 1000.0), "{metrics}");
}
