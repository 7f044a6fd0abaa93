//! The simulator's scenarios through `serve` in production mode (MariaDB, tansu, two nodes
//! sharing the partitions), against their ground truth: every incident of the built-in
//! scenario is raised on its layer and entity within three minutes of its true start, nothing
//! in the healthy first two hours, and a link growing 5% a week shows a runway within 10% of
//! the true time left.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use layercast_shared::{OsiLayer, WindowAnomaly};
use serde_json::{json, Value};

use crate::support::{http, wait_for, Broker, Node, TestDb};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The built-in scenario's incidents end at 6 h 20 min.
const SCENARIO_MS: i64 = 400 * 60_000;
/// 2026-11-23T00:00:00Z, a Monday, and seed 7: the bytes `layercast replay`'s test reads. The
/// background of another start or seed may hold a lone error on a link that never has any,
/// which the anomaly detector flags.
const SCENARIO_START_MS: i64 = 1_795_392_000_000;
/// How late after its true start an incident may be raised: the slower sources (flow logs
/// aggregate a minute and roll every five) take a few windows.
const LATE_MS: i64 = 3 * 60_000;
/// The growth scenario of the replay's runway test: one 40 Gbps link at 55% growing 5% a
/// week, a ±40% daily cycle, 5% noise; on a switch of its own (the built-in scenario's links
/// would add their traffic to its series).
const GROWTH: &str = r#"
name = "growth"

[traffic]
daily_amplitude = 0.4
peak_hour_utc = 14.0
weekend_factor = 1.0
noise = 0.05

[rolls]
counters_poll = "30s"
counters_object = "1h"
flow_aggregation = "1m"
flow_object = "5m"
alb_object = "5m"
zeek_object = "5m"

[[links]]
site = "ams9"
switch = "ams9-spine1"
port = "et1"
speed_gbps = 40.0
utilisation = 0.55
growth_per_week = 0.05
"#;
const GROWTH_DAYS: i64 = 10;

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339()
}

/// Runs `layercast simulate`; returns its ground truth.
fn simulate(
    out: &Path,
    start_ms: i64,
    duration: &str,
    seed: u64,
    scenario: Option<&Path>,
) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_layercast"));
    command
        .args(["simulate", "--speed", "max", "--duration", duration])
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--start")
        .arg(rfc3339(start_ms))
        .arg("--out")
        .arg(out);
    if let Some(s) = scenario {
        command.arg("--scenario").arg(s);
    }
    let done = command.output().expect("simulate");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join(".ground-truth.json")).expect("truth"))
        .expect("truth json")
}

/// Moves the simulated objects into an inbox; returns how many. One inbox reads them all in
/// name order, which is time order across sources (names start with the object's time), as
/// the sources deliver them: read apart, one source's backlog would come after another's
/// present and be late.
fn deliver(from: &Path, inbox: &Path) -> usize {
    let mut names: Vec<PathBuf> = std::fs::read_dir(from)
        .expect("objects")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    names.sort();
    for path in &names {
        let name = path.file_name().expect("name");
        std::fs::rename(path, inbox.join(name)).expect("into the inbox");
    }
    names.len()
}

fn files_done(port: u16) -> usize {
    let answer = http(port, "GET", "/api/ingest", &[], None);
    let report: Value = serde_json::from_str(&answer.body).unwrap_or_default();
    report["files"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["status"] == "done").count())
        .unwrap_or(0)
}

#[actix_web::test]
async fn simulated_incidents_are_raised_in_time_and_the_growing_link_has_its_runway() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let pid = std::process::id();
    let config = |inbox: &Path| {
        format!(
            "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{pid}\"\nupdates_topic = \"updates-{pid}\"\n\
             layers_topic = \"layers-{pid}\"\nlate_topic = \"late-{pid}\"\ngroup_id = \"group-{pid}\"\npartitions = 4\n\
             [database]\nurl = \"{}\"\n\
             [ingest]\ninbox = \"{}\"\npoll_ms = 200\n\
             [windows]\nlength_secs = 60\nretention_days = 60\n\
             [[windows.rollups]]\nlength_secs = 3600\nretention_days = 730\n",
            broker.bootstrap,
            database.url,
            inbox.display()
        )
    };
    // One-minute windows, as `layercast replay` uses: log objects come in 5-minute batches,
    // and a minute is fine enough to place an incident within minutes.
    let (inbox_a, inbox_b) = (dir.path().join("inbox-a"), dir.path().join("inbox-b"));
    for inbox in [&inbox_a, &inbox_b] {
        std::fs::create_dir_all(inbox).expect("inbox");
    }
    let a = Node::start("node-a", &config(&inbox_a), dir.path());
    a.wait_healthy();
    let token = {
        let out = Command::new(env!("CARGO_BIN_EXE_layercast"))
            .args([
                "token", "create", "--name", "planner", "--role", "admin", "--config",
            ])
            .arg(dir.path().join("node-a").join("layercast.toml"))
            .output()
            .expect("token create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };

    // The growing link's ten days end before the built-in scenario's 6 h 40 min start.
    let scenario_start = SCENARIO_START_MS;
    let growth_start = scenario_start - GROWTH_DAYS * DAY_MS - 8 * HOUR_MS;
    let staging = dir.path().join("staging");
    let growth_file = dir.path().join("growth.toml");
    std::fs::write(&growth_file, GROWTH).expect("growth scenario");
    let growth = simulate(
        &staging.join("growth"),
        growth_start,
        "10d",
        3,
        Some(&growth_file),
    );
    let truth = simulate(&staging.join("scenario"), scenario_start, "400m", 7, None);

    // The growing link's capacity: line rate, in and out (the L2 series counts both).
    let link = &growth["growth"][0];
    let capacity = link["capacity_bps"].as_f64().expect("capacity") / 8.0 * 1.8;
    let entity = link["entity"].as_str().expect("entity").to_owned();
    let answer = http(
        a.port,
        "PUT",
        &format!("/api/capacities/L2/{entity}"),
        &[("Authorization", &format!("Bearer {token}"))],
        Some(&json!({"metric": "bytes_per_s", "capacity": capacity}).to_string()),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    // Node B reads the capacity as it starts; A within a second, well before B is up.
    let b = Node::start("node-b", &config(&inbox_b), dir.path());
    b.wait_healthy();
    wait_for(
        "both nodes to own partitions",
        Duration::from_secs(60),
        || (!a.partitions().is_empty() && !b.partitions().is_empty()).then_some(()),
    );

    // Into node A's inbox: the growth first (its objects sort first by time), then the
    // incidents. Its records go to every partition, shared by the two nodes.
    let objects =
        deliver(&staging.join("growth"), &inbox_a) + deliver(&staging.join("scenario"), &inbox_a);
    wait_for("the inbox to be read", Duration::from_secs(600), || {
        (files_done(a.port) == objects).then_some(())
    });

    // Every effect of every incident, on its layer and entity, in time.
    let mut expected: Vec<(OsiLayer, String, i64, String)> = Vec::new();
    for incident in truth["incidents"].as_array().expect("incidents") {
        for effect in incident["effects"].as_array().expect("effects") {
            let start = effect["start_ms"].as_i64().expect("start");
            for layer in effect["layers"].as_array().expect("layers") {
                let layer: OsiLayer = layer.as_str().expect("layer").parse().expect("layer");
                for e in effect["entities"].as_array().expect("entities") {
                    let what = format!("{} ({})", incident["what"], effect["measure"]);
                    expected.push((layer, e.as_str().expect("entity").to_owned(), start, what));
                }
            }
        }
    }
    assert!(
        expected.len() >= 9,
        "the built-in scenario has its incidents"
    );
    let anomalies = |port: u16| -> Vec<WindowAnomaly> {
        let path = format!(
            "/api/anomalies?from={}&to={}",
            scenario_start,
            scenario_start + SCENARIO_MS + HOUR_MS
        );
        serde_json::from_str(&http(port, "GET", &path, &[], None).body).unwrap_or_default()
    };
    let missing = |found: &[WindowAnomaly]| -> Vec<String> {
        expected
            .iter()
            .filter(|(layer, entity, start, _)| {
                !found.iter().any(|a| {
                    a.layer == *layer
                        && a.entity == *entity
                        && a.start_ms >= start - 60_000
                        && a.start_ms <= start + LATE_MS
                })
            })
            .map(|(layer, entity, start, what)| format!("{what} on {layer} {entity} at {start}"))
            .collect()
    };
    let found = wait_for("every incident raised", Duration::from_secs(300), || {
        let found = anomalies(b.port);
        missing(&found).is_empty().then_some(found)
    });
    assert!(missing(&found).is_empty());
    // Nothing before the first incident: the detectors warm up quietly and a healthy network
    // raises nothing.
    let first = expected.iter().map(|(_, _, s, _)| *s).min().expect("first");
    let early: BTreeSet<String> = found
        .iter()
        .filter(|a| a.start_ms < first - 60_000)
        .map(|a| {
            format!(
                "{} {:?} {} at {}",
                a.layer,
                a.entity,
                a.metric.as_str(),
                a.start_ms
            )
        })
        .collect();
    assert!(early.is_empty(), "raised on a healthy network: {early:#?}");

    // The growing link's runway, against the time its daily peak truly reaches capacity.
    let growth_end = growth["end_ms"].as_i64().expect("end");
    let peak = link["peak_reaches_capacity_ms"].as_i64().expect("peak");
    let true_days = (peak - growth_end) as f64 / DAY_MS as f64;
    let days = wait_for("the growing link's runway", Duration::from_secs(60), || {
        let list: Vec<Value> =
            serde_json::from_str(&http(a.port, "GET", "/api/runway", &[], None).body).ok()?;
        let r = list.into_iter().find(|r| r["entity"] == entity.as_str())?;
        (r["at_ms"].as_i64()? >= growth_end - HOUR_MS).then_some(())?;
        r["days_until_full"].as_f64()
    });
    let error = (days - true_days).abs() / true_days;
    eprintln!(
        "runway {days:.2} d, truth {true_days:.2} d, error {:.1}%",
        100.0 * error
    );
    assert!(error <= 0.10, "runway {days:.2} d, truth {true_days:.2} d");
}
