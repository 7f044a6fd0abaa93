//! The live analysis in production mode (MariaDB, tansu, two nodes): a capacity gives a
//! runway, a rule added and lowered through the API fires on the next close and reaches a
//! WebSocket client of the other node, notifications reach a webhook that was down at first,
//! and killing a node keeps its alerts firing (neither fired again nor resolved) and its
//! runway where it was.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use layercast_shared::v2::{Frame, ServerMsg};
use layercast_shared::{Alert, AlertStatus, Event, EventMsg, OsiLayer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use crate::support::{free_port, http, http_get, wait_for, Broker, Node, Proc, TestDb};

const PARTITIONS: i32 = 4;
const DAY_MS: i64 = 86_400_000;
/// Event time starts at a midnight, far from now: the windows close by event time alone.
const T0: i64 = 1_789_948_800_000;
/// The growing link grows linearly from 1 MB/s by 200 kB/s a day toward 2.6 MB/s: a runway of seven
/// days after the first day.
const BASE: f64 = 1.0e6;
const GROWTH_PER_DAY: f64 = 2.0e5;
const CAPACITY: f64 = 2.6e6;
const SECRET: &str = "Bearer s3cret-7f1d";

fn link0(ts_ms: i64) -> f64 {
    BASE + GROWTH_PER_DAY * (ts_ms - T0) as f64 / DAY_MS as f64
}

/// One record carrying a window's worth of traffic at `bytes_per_s` (10 s windows).
fn event(entity: &str, ts_ms: i64, bytes_per_s: f64) -> Vec<u8> {
    let e = Event {
        ts: Utc.timestamp_millis_opt(ts_ms).single().expect("ts"),
        layer: OsiLayer::L3,
        entity: entity.into(),
        bytes: (bytes_per_s * 10.0) as u64,
        packets: 100,
        connections: 0,
        requests: 0,
        errors: 1,
        latency_ms: None,
        error_class: Some(layercast_shared::ErrorClass::Rejected),
    };
    serde_json::to_vec(&EventMsg::new(e)).expect("encode")
}

async fn send(producer: &FutureProducer, topic: &str, records: Vec<(String, Vec<u8>)>) {
    let sends = records.iter().map(|(key, payload)| {
        producer.send(
            FutureRecord::to(topic).key(key).payload(payload),
            Timeout::Never,
        )
    });
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e).expect("delivered");
    }
}

/// A request a receiver got: its `Authorization` header and its JSON body.
type Received = (Option<String>, Value);

/// A webhook receiver on a port nobody listens on until `listen`.
struct Webhook {
    port: u16,
    bodies: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Webhook {
    fn new() -> Webhook {
        Webhook {
            port: free_port(),
            bodies: Arc::default(),
            stop: Arc::default(),
        }
    }

    fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("webhook port");
        listener.set_nonblocking(true).expect("nonblocking");
        let (bodies, stop) = (self.bodies.clone(), self.stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(request) = read_request(stream) {
                            bodies.lock().expect("bodies").push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
    }

    fn received(&self) -> Vec<Received> {
        self.bodies.lock().expect("bodies").clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One HTTP request: its Authorization header and JSON body; answered 200.
fn read_request(mut stream: TcpStream) -> Option<Received> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_len, length) = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (at + 4, length);
        }
    };
    while raw.len() < head_len + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_len]).into_owned();
    let auth = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_owned())
    });
    let body = serde_json::from_slice(&raw[head_len..]).ok()?;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some((auth, body))
}

/// Alert frames a protocol-2 client of a node receives.
struct AlertFeed {
    alerts: Arc<Mutex<Vec<Alert>>>,
    stop: Arc<AtomicBool>,
}

impl AlertFeed {
    fn connect(port: u16) -> AlertFeed {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (mut socket, _) = tungstenite::client::client(
            format!("ws://127.0.0.1:{port}/ws?v=2"),
            stream.try_clone().expect("stream"),
        )
        .expect("handshake");
        socket
            .send(tungstenite::Message::text(
                r#"{"type":"subscribe","kinds":["alerts"]}"#,
            ))
            .expect("subscribe");
        socket
            .send(tungstenite::Message::text(r#"{"type":"resync"}"#))
            .expect("resync");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let (alerts, stop): (Arc<Mutex<Vec<Alert>>>, Arc<AtomicBool>) = Default::default();
        std::thread::spawn({
            let (alerts, stop) = (alerts.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match socket.read() {
                        Ok(tungstenite::Message::Text(text)) => {
                            if let Ok(Frame {
                                msg: ServerMsg::Alert { alert },
                                ..
                            }) = serde_json::from_str::<Frame>(&text)
                            {
                                alerts.lock().expect("alerts").push(alert);
                            }
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
            }
        });
        AlertFeed { alerts, stop }
    }

    fn seen(&self) -> Vec<Alert> {
        self.alerts.lock().expect("alerts").clone()
    }
}

impl Drop for AlertFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An Alertmanager of the test's own (Debian's `prometheus-alertmanager`, or `ALERTMANAGER`),
/// routing everything to a receiver that sends nothing.
fn start_alertmanager(dir: &std::path::Path) -> (Proc, u16) {
    let port = free_port();
    let home = dir.join("alertmanager");
    std::fs::create_dir_all(&home).expect("alertmanager dir");
    let config = home.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
    )
    .expect("alertmanager config");
    let bin = std::env::var("ALERTMANAGER").unwrap_or_else(|_| "prometheus-alertmanager".into());
    let mut command = std::process::Command::new(bin);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", home.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No cluster: it would listen on 0.0.0.0:9094.
        .arg("--cluster.listen-address=");
    let proc = Proc::spawn("alertmanager", command, dir);
    wait_for("Alertmanager to answer", Duration::from_secs(30), || {
        http_get(port, "/-/ready").filter(|(status, _)| *status == 200)
    });
    (proc, port)
}

/// The `busy` alerts Alertmanager holds as active, by entity.
fn alertmanager_active(port: u16) -> BTreeSet<String> {
    let Some((_, body)) = http_get(
        port,
        "/api/v2/alerts?active=true&silenced=false&inhibited=false",
    ) else {
        return BTreeSet::new();
    };
    let alerts: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
    alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "busy" && a["status"]["state"] == "active")
        .filter_map(|a| a["labels"]["entity"].as_str().map(str::to_owned))
        .collect()
}

fn alerts_of(port: u16, state: &str) -> Vec<Alert> {
    let answer = http(
        port,
        "GET",
        &format!("/api/alerts?state={state}"),
        &[],
        None,
    );
    serde_json::from_str(&answer.body).unwrap_or_default()
}

fn history(port: u16) -> Vec<Value> {
    let answer = http(port, "GET", "/api/alerts/history?from=0", &[], None);
    serde_json::from_str(&answer.body).unwrap_or_default()
}

/// A link's runway: (days until full, when it was worked out).
fn runway(port: u16, entity: &str) -> Option<(f64, i64)> {
    let list: Vec<Value> = http(port, "GET", "/api/runway", &[], None)
        .json()
        .as_array()?
        .clone();
    let r = list.iter().find(|r| r["entity"] == entity)?;
    Some((r["days_until_full"].as_f64()?, r["at_ms"].as_i64()?))
}

#[actix_web::test]
async fn rules_fire_notify_and_survive_a_takeover_with_the_runway() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let pid = std::process::id();
    let topic = format!("events-{pid}");
    let config = format!(
        "[kafka]\nbrokers = \"{}\"\nevents_topic = \"{topic}\"\nupdates_topic = \"updates-{pid}\"\n\
         layers_topic = \"layers-{pid}\"\ngroup_id = \"group-{pid}\"\npartitions = {PARTITIONS}\n\
         [database]\nurl = \"{}\"\n[windows]\nlength_secs = 10\n",
        broker.bootstrap, database.url
    );
    let a = Node::start("node-a", &config, dir.path());
    a.wait_healthy();
    // Node A leads the group (tansu never drops a crashed leader): B is the one killed.
    wait_for("node A to own partitions", Duration::from_secs(60), || {
        (!a.partitions().is_empty()).then_some(())
    });
    let token = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_layercast"))
            .args([
                "token", "create", "--name", "admin", "--role", "admin", "--config",
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
    let auth = format!("Bearer {token}");
    let admin = |port: u16, method: &str, path: &str, body: Value| {
        let answer = http(
            port,
            method,
            path,
            &[("Authorization", &auth)],
            Some(&body.to_string()),
        );
        assert!(
            answer.status < 300,
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
        answer
    };
    // Capacities before node B starts: it reads them as it starts, so they apply to the first
    // window of the partitions it takes (the growing link is chosen among these on B).
    let candidates: Vec<String> = (0..8).map(|j| format!("link-{j}")).collect();
    for name in &candidates {
        admin(
            a.port,
            "PUT",
            &format!("/api/capacities/L3/{name}"),
            json!({"metric": "bytes_per_s", "capacity": CAPACITY}),
        );
    }
    let mut b = Node::start("node-b", &config, dir.path());
    b.wait_healthy();
    wait_for(
        "both nodes to own partitions",
        Duration::from_secs(60),
        || {
            let (pa, pb) = (a.partitions(), b.partitions());
            (!pa.is_empty() && !pb.is_empty() && pa.len() + pb.len() == PARTITIONS as usize)
                .then_some(())
        },
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("enable.idempotence", "true")
        // tansu cannot fetch from the middle of a batch (see production.rs).
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    // The growing link and one of the others are on node B's partitions: the takeover is
    // theirs. A probe that is not an event (skipped) tells where a name goes.
    let on_b = b.partitions();
    let mut names: Vec<(String, bool)> = Vec::new();
    for name in candidates
        .iter()
        .cloned()
        .chain((8..64).map(|j| format!("link-{j}")))
    {
        let delivery = producer
            .send(
                FutureRecord::to(&topic).key(&name).payload("probe"),
                Timeout::Never,
            )
            .await
            .map_err(|(e, _)| e)
            .expect("probe delivered");
        names.push((name, on_b.contains(&i64::from(delivery.partition))));
    }
    let grower = names
        .iter()
        .take(candidates.len())
        .find(|(_, b)| *b)
        .expect("a name with a capacity on B")
        .0
        .clone();
    let mut flat: Vec<String> = names
        .iter()
        .filter(|(n, b)| *b && *n != grower)
        .take(1)
        .map(|(n, _)| n.clone())
        .collect();
    let others: Vec<String> = names
        .iter()
        .filter(|(n, _)| *n != grower && !flat.contains(n))
        .take(2)
        .map(|(n, _)| n.clone())
        .collect();
    flat.extend(others);
    assert_eq!(flat.len(), 3);

    // A day of the growing link's history, one record a minute.
    let history_records: Vec<(String, Vec<u8>)> = (0..1440)
        .map(|m| {
            let ts = T0 + m * 60_000;
            (grower.clone(), event(&grower, ts, link0(ts)))
        })
        .collect();
    send(&producer, &topic, history_records).await;

    // Then live traffic on a thread of its own (the test blocks on its checks): every link,
    // one window of event time every 100 ms; the flat links run at `level`.
    let level = Arc::new(AtomicU64::new(100_000));
    let step = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let traffic = {
        let (producer, topic) = (producer.clone(), topic.clone());
        let (level, step, running) = (level.clone(), step.clone(), running.clone());
        let (grower, flat) = (grower.clone(), flat.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                while running.load(Ordering::Relaxed) {
                    let k = step.fetch_add(1, Ordering::Relaxed) as i64;
                    let ts = T0 + DAY_MS + k * 10_000;
                    let value = level.load(Ordering::Relaxed) as f64;
                    let mut records = vec![(grower.clone(), event(&grower, ts, link0(ts)))];
                    for name in &flat {
                        records.push((name.clone(), event(name, ts, value)));
                    }
                    send(&producer, &topic, records).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        })
    };

    let (days, _) = wait_for(
        "the growing link's runway",
        Duration::from_secs(120),
        || runway(a.port, &grower).filter(|(d, at)| d.is_finite() && *at > T0 + DAY_MS),
    );
    let truth = (CAPACITY - link0(T0 + DAY_MS)) / GROWTH_PER_DAY;
    assert!(
        (days - truth).abs() / truth < 0.15,
        "runway {days:.2} days, truth {truth:.2}"
    );
    let trends: Vec<Value> = http(
        a.port,
        "GET",
        &format!("/api/trends?layer=L3&entity={grower}&metric=bytes_per_s"),
        &[],
        None,
    )
    .json()
    .as_array()
    .cloned()
    .unwrap_or_default();
    assert!(
        trends.iter().any(|t| t["direction"] == "up"),
        "the growing link trends up: {trends:?}"
    );

    // A receiver that is down, then a rule above the traffic: nothing fires.
    let hook = Webhook::new();
    admin(
        a.port,
        "PUT",
        "/api/receivers/hook",
        json!({"kind": "webhook", "url": format!("http://127.0.0.1:{}/hook", hook.port), "authorization": SECRET}),
    );
    let (_alertmanager, am_port) = start_alertmanager(dir.path());
    admin(
        b.port,
        "PUT",
        "/api/receivers/team",
        json!({"kind": "alertmanager", "url": format!("http://127.0.0.1:{am_port}")}),
    );
    let feed = AlertFeed::connect(a.port);
    let rule = json!({"id": "busy", "layer": "L3", "entity": "link-*", "metric": "bytes_per_s",
        "condition": {"signal": "value", "op": "above", "fire": 5e6, "resolve": 4e6}});
    admin(b.port, "POST", "/api/rules", rule.clone());
    let quiet_until = step.load(Ordering::Relaxed) + 30;
    wait_for("30 windows under the rule", Duration::from_secs(30), || {
        (step.load(Ordering::Relaxed) > quiet_until).then_some(())
    });
    assert!(
        alerts_of(a.port, "all").is_empty(),
        "nothing is above 5 MB/s"
    );

    // Lowered below the traffic on node B: every link fires, and node A's client sees it.
    let mut lowered = rule.clone();
    lowered["condition"]["fire"] = json!(5e4);
    lowered["condition"]["resolve"] = json!(2e4);
    admin(b.port, "PUT", "/api/rules/busy", lowered);
    let links: BTreeSet<String> = flat.iter().chain([&grower]).cloned().collect();
    wait_for(
        "node A's client to see every link fire",
        Duration::from_secs(60),
        || {
            let firing: BTreeSet<String> = feed
                .seen()
                .into_iter()
                .filter(|a| a.state == AlertStatus::Firing)
                .map(|a| a.entity)
                .collect();
            (firing == links).then_some(())
        },
    );
    wait_for(
        "Alertmanager to hold every firing link",
        Duration::from_secs(60),
        || (alertmanager_active(am_port) == links).then_some(()),
    );
    let firing = alerts_of(b.port, "firing");
    assert_eq!(firing.len(), 4, "{firing:?}");
    assert!(firing
        .iter()
        .all(|a| a.threshold == 5e4 && a.value > 5e4 && a.signal == "value"));

    // The failed sends are counted; once the receiver listens it gets every change to notify.
    wait_for("failed sends", Duration::from_secs(30), || {
        let metrics = http(a.port, "GET", "/metrics", &[], None).body
            + &http(b.port, "GET", "/metrics", &[], None).body;
        metrics
            .lines()
            .any(|l| l.starts_with("layercast_notifications_failed_total") && !l.ends_with(" 0"))
            .then_some(())
    });
    hook.listen();
    let notified = |changes: &[Value]| -> BTreeSet<String> {
        changes
            .iter()
            .filter(|c| c["notify"] == true)
            .map(|c| {
                format!(
                    "{}:{}:{}",
                    c["alert_id"].as_str().unwrap_or(""),
                    c["at_ms"],
                    c["to"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    wait_for(
        "the webhook to get every firing",
        Duration::from_secs(60),
        || {
            let got: BTreeSet<String> = hook
                .received()
                .iter()
                .filter_map(|(_, b)| b["change_key"].as_str().map(str::to_owned))
                .collect();
            let want = notified(&history(a.port));
            (want.len() >= 4 && want.is_subset(&got)).then_some(())
        },
    );
    for (auth, body) in hook.received() {
        assert_eq!(auth.as_deref(), Some(SECRET));
        assert_eq!(
            body["alert"]["state"], body["to"],
            "the alert as stored after the change"
        );
        assert!(body["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with(body["alert"]["id"].as_str().unwrap_or("?"))));
    }
    let shown = http(
        a.port,
        "GET",
        "/api/receivers/hook",
        &[("Authorization", &auth)],
        None,
    )
    .json();
    assert_eq!(shown["authorization"], "(set)");
    let audit = http(
        a.port,
        "GET",
        "/api/audit",
        &[("Authorization", &auth)],
        None,
    )
    .body;
    assert!(
        audit.contains("receiver") && !audit.contains("s3cret"),
        "{audit}"
    );

    // Kill node B: node A takes its partitions; the alerts stay firing, none fires again.
    let (before_days, before_at) = runway(a.port, &grower).expect("runway");
    let firings_before: BTreeMap<String, usize> = count_firings(&history(a.port));
    b.proc.kill();
    assert!(
        !b.proc.log_text().contains("s3cret"),
        "no secret in a node's log"
    );
    wait_for(
        "node A to own every partition",
        Duration::from_secs(90),
        || (a.partitions().len() == PARTITIONS as usize).then_some(()),
    );
    let (after_days, _) = wait_for(
        "a runway worked out after the takeover",
        Duration::from_secs(120),
        || runway(a.port, &grower).filter(|(_, at)| *at > before_at + 3_600_000),
    );
    assert!(
        (after_days - before_days).abs() / before_days < 0.10,
        "runway {before_days:.2} days before the takeover, {after_days:.2} after"
    );

    // Inside the band: still firing. Below the resolve threshold: links 1-3 resolve, once.
    level.store(30_000, Ordering::Relaxed);
    let band_until = step.load(Ordering::Relaxed) + 30;
    wait_for("30 windows in the band", Duration::from_secs(30), || {
        (step.load(Ordering::Relaxed) > band_until).then_some(())
    });
    assert_eq!(
        alerts_of(a.port, "firing").len(),
        4,
        "in the band they keep firing"
    );
    level.store(10_000, Ordering::Relaxed);
    wait_for("links 1-3 to resolve", Duration::from_secs(60), || {
        let resolved: BTreeSet<String> = alerts_of(a.port, "resolved")
            .into_iter()
            .map(|a| a.entity)
            .collect();
        (resolved.len() == 3 && !resolved.contains(&grower)).then_some(())
    });
    wait_for(
        "Alertmanager to drop the resolved links",
        Duration::from_secs(60),
        || (alertmanager_active(am_port) == BTreeSet::from([grower.clone()])).then_some(()),
    );
    running.store(false, Ordering::Relaxed);
    let _ = traffic.join();

    // The gauges for Prometheus, and names promtool finds nothing wrong with.
    let metrics = http(a.port, "GET", "/metrics", &[], None).body;
    assert!(
        metrics.contains(&format!("layercast_series_runway_seconds{{layer=\"L3\",entity=\"{grower}\",metric=\"bytes_per_s\"}}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("layercast_alerts_firing{rule=\"busy\",layer=\"L3\"} 1"),
        "{metrics}"
    );
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/setup --test installs it)");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("metrics to promtool");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let changes = history(a.port);
    assert_eq!(
        count_firings(&changes),
        firings_before,
        "no alert fired twice across the takeover"
    );
    let resolutions = changes.iter().filter(|c| c["to"] == "resolved").count();
    assert_eq!(resolutions, 3, "each resolved once: {changes:?}");
}

fn count_firings(changes: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for c in changes.iter().filter(|c| c["to"] == "firing") {
        *counts
            .entry(c["entity"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    counts
}
