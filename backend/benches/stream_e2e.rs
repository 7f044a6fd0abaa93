//! The stream engine end to end on this machine: a real broker (tansu, in-memory storage) and
//! MariaDB on loopback, one `layercast serve` node with every detector on (anomaly, trends,
//! forecasts and runways for the series with a capacity, alert rules) over 10,000 series. The
//! bars: at least 200,000 events per second made durable, sustained; under 500 ms at p99 from
//! a window's close to its final row being pushed to a WebSocket client; under 1 s at p99 from
//! a window's close to the alert it causes reaching that client. The broker's own
//! produce-and-consume rate is measured in the same run as the ceiling.
//!
//! Before producing, the bench installs through the API (with an admin token from `layercast
//! token create`) `LAYERCAST_BENCH_E2E_RULES` rules over patterns of the generated entities,
//! most of which never fire, capacities on `LAYERCAST_BENCH_E2E_CAPACITIES` entities, and the
//! probe rule on probe entities whose traffic alternates above and below it every window, so
//! that each one's alert fires and resolves at every close (`stream_events/analysis.rs`). One
//! protocol-2 WebSocket client subscribes to the final series windows and the alerts; a probe
//! alert's delay is its arrival minus the `closed_at_ms` of its probe's window whose end is
//! the alert's `changed_ms`.
//!
//! ```text
//! cargo build --release -p layercast --bin layercast
//! cargo bench -p layercast --bench stream_e2e
//! ```
//!
//! Environment (all optional):
//! - `LAYERCAST_BENCH_E2E_SECS` (60): how long events are produced for our run;
//! - `LAYERCAST_BENCH_CEILING_RECORDS` (2000000): records of the produce-only and
//!   consume-only ceiling runs (0: no ceiling); `LAYERCAST_BENCH_CEILING_SECS` (20): the
//!   combined one;
//! - `LAYERCAST_BENCH_E2E_PARTITIONS` (4), `LAYERCAST_BENCH_E2E_WRITERS` (4): serve's
//!   `kafka.partitions` and `database.writers`;
//! - `LAYERCAST_BENCH_E2E_ENTITIES` (10000): entities (series) of the generated records,
//!   besides the probe;
//! - `LAYERCAST_BENCH_E2E_RULES` (20): alert rules besides the probe's;
//! - `LAYERCAST_BENCH_E2E_PROBES` (1): probe entities, each with an alert change at every
//!   close (`stream_events/analysis.rs`);
//! - `LAYERCAST_BENCH_E2E_CAPACITIES` (100): entities with a capacity (forecast and runway);
//! - `LAYERCAST_BENCH_E2E_EVENT_RATE` (20000): records per second of event time (so a
//!   10-s window holds 200,000 records and closes about once a second at 200,000/s);
//! - `LAYERCAST_BIN` (the `layercast` next to this bench's build), `TANSU_BIN` (`tansu` on
//!   the PATH or in ~/.cargo/bin), `LAYERCAST_TEST_MYSQL` (`mysql://root@127.0.0.1:3306`);
//! - `LAYERCAST_BENCH_CLIENT_OPTIONS` (`fetch.wait.max.ms=10`): librdkafka settings of the
//!   ceiling's consumer and of serve (`kafka.client_options`), `key=value,...`;
//! - `LAYERCAST_BENCH_E2E_BATCH_RECORDS` (10000): the producer's `batch.num.messages` (1 is
//!   tansu's workaround for seeks into a batch, README "Known limitations");
//! - `LAYERCAST_BENCH_E2E_MAX_LEAD` (1000000): the most records the producer runs ahead of
//!   what serve made durable (so a slow serve does not fill the broker's memory);
//! - `LAYERCAST_BENCH_E2E_RATE` (0): records per second the producer keeps to, 0 for as fast
//!   as serve takes them (then the latency is measured on a saturated machine);
//! - `LAYERCAST_BENCH_E2E_OUT_OF_ORDER_SECS` (2): serve's `windows.out_of_order_secs`;
//! - `LAYERCAST_BENCH_E2E_ROLLUPS` (`60,3600`): serve's roll-up lengths in seconds (empty for
//!   none);
//! - `LAYERCAST_BENCH_CEILING_ONLY=1` stops after the ceiling;
//! - `LAYERCAST_BENCH_KEEP=1` keeps the work folder (logs of tansu and serve).
//!
//! Output: progress on stderr, `key=value` lines on stdout.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable};
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};
use layercast_shared::v2::{Frame, ServerMsg};
use layercast_shared::{AlertStatus, Event, EventMsg};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

#[path = "stream_events/mod.rs"]
mod stream_events;
use stream_events::EventGen;
#[path = "stream_events/analysis.rs"]
mod analysis;
use analysis::Probed;

const WINDOW_SECS: i64 = 10;
const BAR_EVENTS_PER_SECOND: f64 = 200_000.0;
const BAR_P99_MS: f64 = 500.0;
/// From a window's close to its alert on a WebSocket client, p99.
const BAR_ALERT_P99_MS: f64 = 1_000.0;
const EVENTS_TOPIC: &str = "layercast.events";

/// Extra librdkafka settings for the ceiling's consumer and for serve (`kafka.client_options`),
/// from `LAYERCAST_BENCH_CLIENT_OPTIONS="key=value,key=value"`.
const DEFAULT_CLIENT_OPTIONS: &str = "fetch.wait.max.ms=10";

fn client_options() -> Vec<(String, String)> {
    // tansu holds every fetch for the whole fetch.wait.max.ms (500 ms by default) even when it
    // has records, which caps a consumer near 100,000 records/s; both sides get the same.
    std::env::var("LAYERCAST_BENCH_CLIENT_OPTIONS")
        .unwrap_or_else(|_| DEFAULT_CLIENT_OPTIONS.into())
        .split(',')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// A request with a bearer token and a JSON body: (status, body).
fn http_send(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = body.to_string();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Installs the analysis inputs through the API as an admin: capacities, the background
/// rules, the probe rule. Serve applies them within a second, from the next window close.
fn install_analysis(
    layercast: &Path,
    config: &Path,
    port: u16,
    entities: u64,
    rules: usize,
    capacities: usize,
) -> Result<()> {
    let out = Command::new(layercast)
        .args([
            "token", "create", "--name", "bench", "--role", "admin", "--config",
        ])
        .arg(config)
        .output()
        .context("layercast token create")?;
    if !out.status.success() {
        bail!(
            "layercast token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut requests: Vec<(&str, String, serde_json::Value)> = Vec::new();
    for entity in analysis::capacity_entities(capacities, entities) {
        let path = format!("/api/capacities/L2/{entity}");
        requests.push(("PUT", path, analysis::capacity_body()));
    }
    for rule in analysis::rules(rules)
        .into_iter()
        .chain([analysis::probe_rule()])
    {
        requests.push(("POST", "/api/rules".to_owned(), rule));
    }
    for (method, path, body) in &requests {
        match http_send(port, method, path, &token, body) {
            Some((status, _)) if status < 300 => {}
            Some((status, answer)) => bail!("{method} {path}: {status} {answer}"),
            None => bail!("{method} {path}: no answer"),
        }
    }
    Ok(())
}

/// A child process, killed when dropped.
struct Proc {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut command: Command, dir: &Path) -> Result<Proc> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = command
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Proc {
            child,
            name: name.into(),
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ---\n{}",
            self.name,
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throw-away MariaDB database, dropped at the end.
struct TestDb {
    server: String,
    name: String,
}

impl TestDb {
    fn create() -> Result<TestDb> {
        let server = std::env::var("LAYERCAST_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
        let name = format!("bench_e2e_{}_{}", std::process::id(), free_port()?);
        let mut conn = MysqlConnection::establish(&server).context("MariaDB reachable")?;
        conn.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(TestDb { server, name })
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    fn connect(&self) -> Result<MysqlConnection> {
        Ok(MysqlConnection::establish(&self.url())?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = MysqlConnection::establish(&self.server) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = Nullable<BigInt>)]
    v: Option<i64>,
}

fn query_i64(conn: &mut MysqlConnection, sql: &str) -> Result<i64> {
    let rows: Vec<Sum> = diesel::sql_query(sql).load(conn)?;
    Ok(rows.first().and_then(|r| r.v).unwrap_or(0))
}

fn durable_total(conn: &mut MysqlConnection) -> Result<i64> {
    query_i64(
        conn,
        &format!("SELECT CAST(SUM(next_offset) AS SIGNED) AS v FROM partition_offsets WHERE topic = '{EVENTS_TOPIC}'"),
    )
}

/// What docs/operations.md asks of MariaDB for 10,000 series (and scripts/setup gives it).
const RECOMMENDED_BUFFER_POOL: i64 = layercast::store::RECOMMENDED_BUFFER_POOL_BYTES as i64;

fn buffer_pool_bytes(conn: &mut MysqlConnection) -> Result<i64> {
    query_i64(
        conn,
        "SELECT CAST(@@innodb_buffer_pool_size AS SIGNED) AS v",
    )
}

/// Pages InnoDB had to read from disk since the server started: a run whose windows do not fit
/// the buffer pool reads them back at every close.
fn pages_read(conn: &mut MysqlConnection) -> Result<i64> {
    query_i64(
        conn,
        "SELECT CAST(VARIABLE_VALUE AS SIGNED) AS v FROM information_schema.GLOBAL_STATUS \
         WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_READS'",
    )
}

/// CPU seconds (user + system) of a process, all threads, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Busy and total CPU seconds of the whole machine.
fn machine_cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some(((total - idle) as f64 / 100.0, total as f64 / 100.0))
}

fn find_pid(comms: &[&str]) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            comms.contains(&comm.trim()).then_some(pid)
        })
}

/// CPU use of the processes that matter, over an interval.
struct CpuWatch {
    pids: Vec<(String, u32)>,
    start: Vec<Option<f64>>,
    machine: Option<(f64, f64)>,
    at: Instant,
}

impl CpuWatch {
    fn start(pids: Vec<(String, u32)>) -> CpuWatch {
        let start = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
        CpuWatch {
            pids,
            start,
            machine: machine_cpu(),
            at: Instant::now(),
        }
    }

    /// (name, cores used) per process, then the machine's busy cores and the rest.
    fn stop(&self, prefix: &str) {
        let wall = self.at.elapsed().as_secs_f64();
        let mut ours = 0.0;
        for ((name, pid), start) in self.pids.iter().zip(&self.start) {
            if let (Some(a), Some(b)) = (start, cpu_seconds(*pid)) {
                let cores = (b - a) / wall;
                ours += cores;
                println!("{prefix}_cpu_{name}={cores:.2}");
            }
        }
        if let (Some((busy0, _)), Some((busy1, _))) = (self.machine, machine_cpu()) {
            let busy = (busy1 - busy0) / wall;
            println!("{prefix}_cpu_machine_busy={busy:.2}");
            println!("{prefix}_cpu_others={:.2}", (busy - ours).max(0.0));
        }
    }
}

/// Counts delivery reports.
#[derive(Default)]
struct Delivered {
    ok: AtomicU64,
    failed: AtomicU64,
}

#[derive(Clone, Default)]
struct CountingContext(Arc<Delivered>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// The producer both runs use: idempotent (so acks=all, as LayerCast's own), batching tuned
/// for throughput.
fn producer(
    bootstrap: &str,
    batch_records: u64,
) -> Result<(ThreadedProducer<CountingContext>, Arc<Delivered>)> {
    let context = CountingContext::default();
    let delivered = context.0.clone();
    let producer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("batch.num.messages", batch_records.to_string())
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "262144")
        .create_with_context(context)?;
    Ok((producer, delivered))
}

/// Sends one record, waiting while librdkafka's queue is full.
fn send(
    producer: &ThreadedProducer<CountingContext>,
    topic: &str,
    key: &str,
    payload: &[u8],
) -> Result<()> {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Produces EventMsg records (keyed by entity, as the inbox does) until `stop` is set or
/// `limit` records were sent; returns how many were sent. `sent` counts as it goes.
#[allow(clippy::too_many_arguments)]
fn produce(
    producer: &ThreadedProducer<CountingContext>,
    topic: &str,
    next_event: &mut impl FnMut() -> Event,
    limit: u64,
    stop: &AtomicBool,
    sent: &AtomicU64,
    // (records taken by the other side, the most we may be ahead of it)
    lead: Option<(&AtomicU64, u64)>,
    // records per second, or as fast as it goes
    pace: Option<u64>,
) -> Result<u64> {
    let started = Instant::now();
    let mut n = 0;
    let mut payload = Vec::with_capacity(512);
    while n < limit && !stop.load(Ordering::Relaxed) {
        if let Some((taken, max)) = lead {
            if n % 1024 == 0 && n > taken.load(Ordering::Relaxed) + max {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        }
        if let Some(rate) = pace.filter(|_| n % 1024 == 0) {
            let due = Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(early) = due.checked_sub(started.elapsed()) {
                thread::sleep(early);
            }
        }
        let event = next_event();
        let key = event.entity.clone();
        payload.clear();
        serde_json::to_writer(&mut payload, &EventMsg::new(event))?;
        send(producer, topic, &key, &payload)?;
        n += 1;
        if n % 1024 == 0 {
            sent.store(n, Ordering::Relaxed);
        }
    }
    sent.store(n, Ordering::Relaxed);
    Ok(n)
}

fn flush(producer: &ThreadedProducer<CountingContext>) -> Result<()> {
    producer.flush(Duration::from_secs(120))?;
    Ok(())
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
    let results = futures::executor::block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &options,
    ))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => bail!("cannot create topic {t}: {code}"),
        }
    }
    Ok(())
}

/// A rate over the steady part of a run: from the sample at `from` to the last one.
fn steady_rate(samples: &[(f64, i64)], from: f64) -> Option<f64> {
    let first = samples.iter().find(|(t, _)| *t >= from)?;
    let last = samples.last()?;
    (last.0 > first.0).then(|| (last.1 - first.1) as f64 / (last.0 - first.0))
}

fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A Prometheus histogram from /metrics text: cumulative buckets (le, count), sum, count.
struct Histogram {
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

fn histogram(text: &str, name: &str) -> Histogram {
    let mut h = Histogram {
        buckets: Vec::new(),
        sum: 0.0,
        count: 0,
    };
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = rest.rsplit(' ').next().unwrap_or("0");
        if let Some(le) = rest
            .strip_prefix("_bucket{le=\"")
            .and_then(|r| r.split('"').next())
        {
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::NAN)
            };
            h.buckets
                .push((le, value.parse::<f64>().unwrap_or(0.0) as u64));
        } else if rest.starts_with("_sum ") {
            h.sum = value.parse().unwrap_or(0.0);
        } else if rest.starts_with("_count ") {
            h.count = value.parse::<f64>().unwrap_or(0.0) as u64;
        }
    }
    h
}

impl Histogram {
    /// The upper bound of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> f64 {
        let want = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, c)| *c >= want.max(1))
            .map_or(f64::NAN, |(le, _)| *le)
    }

    fn print(&self, key: &str) {
        println!("{key}_count={}", self.count);
        if self.count > 0 {
            println!("{key}_mean_s={:.4}", self.sum / self.count as f64);
            for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
                println!("{key}_{name}_le_s={}", self.quantile(q));
            }
        }
        let shown: Vec<String> = self
            .buckets
            .iter()
            .filter(|(le, _)| le.is_finite())
            .map(|(le, c)| format!("{le}:{c}"))
            .collect();
        println!("{key}_buckets={}", shown.join(","));
    }
}

fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The ceiling: a minimal producer and consumer on a topic of the same partition count, with
/// records of the same size.
// Each argument is one of the run's knobs, read from its own environment variable.
#[allow(clippy::too_many_arguments)]
fn ceiling(
    bootstrap: &str,
    partitions: i32,
    records: u64,
    combined_secs: u64,
    event_rate: u64,
    tansu: u32,
    batch_records: u64,
    entities: u64,
) -> Result<f64> {
    let topic = "bench.ceiling";
    create_topic(bootstrap, topic, partitions)?;
    let start_ms = now_ms() - 3_600_000;
    let mut events = EventGen::new(entities, start_ms, event_rate, 1_500, 30_000);
    let (producer, delivered) = producer(bootstrap, batch_records)?;
    let sent = AtomicU64::new(0);
    let never = AtomicBool::new(false);

    eprintln!("ceiling: producing {records} records");
    let cpu = CpuWatch::start(vec![
        ("tansu".into(), tansu),
        ("bench".into(), std::process::id()),
    ]);
    let started = Instant::now();
    produce(
        &producer,
        topic,
        &mut || events.next_event(),
        records,
        &never,
        &sent,
        None,
        None,
    )?;
    flush(&producer)?;
    let produce_s = started.elapsed().as_secs_f64();
    cpu.stop("ceiling_produce");
    let ok = delivered.ok.load(Ordering::Relaxed);
    println!("ceiling_produce_records={ok}");
    println!(
        "ceiling_produce_failed={}",
        delivered.failed.load(Ordering::Relaxed)
    );
    println!("ceiling_produce_per_second={:.0}", ok as f64 / produce_s);

    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-ceiling")
        .set("enable.auto.commit", "false");
    for (k, v) in client_options() {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut bytes = 0_u64;
    let mut consumed = 0_u64;
    eprintln!("ceiling: consuming them");
    let cpu = CpuWatch::start(vec![
        ("tansu".into(), tansu),
        ("bench".into(), std::process::id()),
    ]);
    let started = Instant::now();
    while consumed < ok {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                consumed += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => eprintln!("ceiling consumer: {e}"),
            None if started.elapsed() > Duration::from_secs(300) => {
                bail!("ceiling consumer stalled at {consumed}")
            }
            None => {}
        }
    }
    let consume_s = started.elapsed().as_secs_f64();
    cpu.stop("ceiling_consume");
    println!(
        "ceiling_consume_per_second={:.0}",
        consumed as f64 / consume_s
    );
    println!(
        "record_payload_bytes_mean={:.0}",
        bytes as f64 / consumed.max(1) as f64
    );

    // Both at once, measured as our run is: records taken by the consumer per second,
    // sampled every second, after a warm-up.
    eprintln!("ceiling: producing and consuming for {combined_secs} s");
    let stop = Arc::new(AtomicBool::new(false));
    let taken = Arc::new(AtomicU64::new(0));
    let consumer_thread = {
        let stop = stop.clone();
        let taken = taken.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                    taken.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let sent = Arc::new(AtomicU64::new(0));
    let max_lead = env_u64("LAYERCAST_BENCH_E2E_MAX_LEAD", 1_000_000);
    let producer_thread = {
        let stop = stop.clone();
        let sent = sent.clone();
        let taken_p = taken.clone();
        thread::spawn(move || -> Result<u64> {
            let n = produce(
                &producer,
                topic,
                &mut || events.next_event(),
                u64::MAX,
                &stop,
                &sent,
                Some((&taken_p, max_lead)),
                None,
            )?;
            flush(&producer)?;
            Ok(n)
        })
    };
    let cpu = CpuWatch::start(vec![
        ("tansu".into(), tansu),
        ("bench".into(), std::process::id()),
    ]);
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(combined_secs) {
        thread::sleep(Duration::from_secs(1));
        samples.push((
            started.elapsed().as_secs_f64(),
            taken.load(Ordering::Relaxed) as i64,
        ));
    }
    cpu.stop("ceiling_combined");
    let produced_in_time = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let _ = producer_thread
        .join()
        .map_err(|_| anyhow!("producer panicked"))??;
    let _ = consumer_thread.join();
    let warmup = (combined_secs as f64 * 0.2).max(2.0);
    let rate = steady_rate(&samples, warmup).unwrap_or(0.0);
    println!(
        "ceiling_combined_produce_per_second={:.0}",
        produced_in_time as f64 / combined_secs as f64
    );
    println!("ceiling_combined_consume_per_second={rate:.0}");
    Ok(rate)
}

/// What the WebSocket client saw.
#[derive(Default)]
struct Seen {
    /// Final series windows: (window length ms, arrival − `closed_at_ms`, ms).
    delays: Vec<(i64, i64)>,
    /// The probes' final base windows: (entity, end) → `closed_at_ms`.
    probe_closed: HashMap<(String, i64), i64>,
    /// The probe rule's alert frames: (entity, `changed_ms`, arrival ms, state).
    probe_alerts: Vec<(String, i64, i64, AlertStatus)>,
    /// Alert frames of the other rules.
    other_alerts: u64,
    /// Series window frames.
    series_frames: u64,
    /// The server cut the client for falling behind.
    too_slow: bool,
}

type Feed = Arc<Mutex<Seen>>;

/// A protocol-2 client subscribed to the final series windows and the alerts.
fn ws_client(port: u16, stop: Arc<AtomicBool>, feed: Feed) -> Result<thread::JoinHandle<()>> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    let (mut socket, _) =
        tungstenite::client::client(format!("ws://127.0.0.1:{port}/ws?v=2"), stream.try_clone()?)
            .map_err(|e| anyhow!("websocket handshake: {e}"))?;
    socket.send(tungstenite::Message::text(
        r#"{"type":"subscribe","kinds":["windows","alerts"],"final_only":true}"#,
    ))?;
    // Protocol 2 sends updates once the client is in sync: a snapshot (of the layer windows,
    // which this subscription leaves out), then every update after it.
    socket.send(tungstenite::Message::text(r#"{"type":"resync"}"#))?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let msg = match socket.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    eprintln!("websocket: {e}");
                    return;
                }
            };
            let now = now_ms();
            let tungstenite::Message::Text(text) = msg else {
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                continue;
            };
            let mut seen = feed.lock().expect("feed");
            match frame.msg {
                ServerMsg::Series { window: w } => {
                    seen.series_frames += 1;
                    if let (true, Some(closed)) = (w.is_final, w.closed_at_ms) {
                        let len = w.end_ms - w.start_ms;
                        seen.delays.push((len, now - closed));
                        if len == WINDOW_SECS * 1000
                            && w.layer == analysis::PROBE_LAYER
                            && analysis::is_probe(&w.entity)
                        {
                            seen.probe_closed.insert((w.entity, w.end_ms), closed);
                        }
                    }
                }
                ServerMsg::Alert { alert } if alert.rule == analysis::PROBE_RULE => {
                    seen.probe_alerts
                        .push((alert.entity, alert.changed_ms, now, alert.state));
                }
                ServerMsg::Alert { .. } => seen.other_alerts += 1,
                ServerMsg::TooSlow => {
                    seen.too_slow = true;
                    eprintln!("websocket: the server cut the client (too_slow)");
                }
                _ => {}
            }
        }
        let _ = socket.close(None);
    }))
}

fn print_delays(key: &str, delays: &[i64]) -> f64 {
    let mut sorted = delays.to_vec();
    sorted.sort_unstable();
    println!("{key}_count={}", sorted.len());
    let p99 = percentile(&sorted, 0.99) as f64;
    if !sorted.is_empty() {
        println!("{key}_p50_ms={}", percentile(&sorted, 0.5));
        println!("{key}_p95_ms={}", percentile(&sorted, 0.95));
        println!("{key}_p99_ms={p99}");
        println!("{key}_max_ms={}", sorted[sorted.len() - 1]);
    }
    p99
}

fn layercast_bin() -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("LAYERCAST_BIN") {
        return Ok(bin.into());
    }
    // This bench runs from <target>/release/deps/; serve is <target>/release/layercast.
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("layercast"))
        .context("target dir")?;
    if !bin.exists() {
        bail!(
            "{} is missing: cargo build --release -p layercast --bin layercast first",
            bin.display()
        );
    }
    Ok(bin)
}

fn tansu_bin() -> String {
    std::env::var("TANSU_BIN").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        let cargo = Path::new(&home).join(".cargo/bin/tansu");
        if cargo.exists() {
            cargo.display().to_string()
        } else {
            "tansu".into()
        }
    })
}

fn main() -> Result<()> {
    let secs = env_u64("LAYERCAST_BENCH_E2E_SECS", 60).max(5);
    let ceiling_records = env_u64("LAYERCAST_BENCH_CEILING_RECORDS", 2_000_000);
    let ceiling_secs = env_u64("LAYERCAST_BENCH_CEILING_SECS", 20).max(3);
    let partitions = env_u64("LAYERCAST_BENCH_E2E_PARTITIONS", 4).clamp(1, 1024) as i32;
    let writers = env_u64("LAYERCAST_BENCH_E2E_WRITERS", 4).max(1);
    let event_rate = env_u64("LAYERCAST_BENCH_E2E_EVENT_RATE", 20_000).max(1);
    let batch_records = env_u64("LAYERCAST_BENCH_E2E_BATCH_RECORDS", 10_000).max(1);
    let max_lead = env_u64("LAYERCAST_BENCH_E2E_MAX_LEAD", 1_000_000).max(1);
    let pace = Some(env_u64("LAYERCAST_BENCH_E2E_RATE", 0)).filter(|&r| r > 0);
    let workload = Workload {
        entities: env_u64("LAYERCAST_BENCH_E2E_ENTITIES", 10_000).max(1),
        rules: env_u64("LAYERCAST_BENCH_E2E_RULES", 20) as usize,
        capacities: env_u64("LAYERCAST_BENCH_E2E_CAPACITIES", 100) as usize,
        probes: env_u64("LAYERCAST_BENCH_E2E_PROBES", 1).max(1),
    };
    let layercast = layercast_bin()?;

    let dir = std::env::temp_dir().join(format!("layercast-bench-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let keep = std::env::var("LAYERCAST_BENCH_KEEP").is_ok_and(|v| v == "1");
    let result = run(
        &dir,
        &layercast,
        secs,
        ceiling_records,
        ceiling_secs,
        partitions,
        writers,
        event_rate,
        batch_records,
        max_lead,
        pace,
        &workload,
    );
    if keep || result.is_err() {
        eprintln!("logs kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// What the records and the analysis cover.
struct Workload {
    /// Entities of the generated records (the probes besides).
    entities: u64,
    /// Alert rules besides the probe's.
    rules: usize,
    /// Entities with a capacity.
    capacities: usize,
    /// Probe entities (`stream_events/analysis.rs`).
    probes: u64,
}

#[allow(clippy::too_many_arguments)]
fn run(
    dir: &Path,
    layercast: &Path,
    secs: u64,
    ceiling_records: u64,
    ceiling_secs: u64,
    partitions: i32,
    writers: u64,
    event_rate: u64,
    batch_records: u64,
    max_lead: u64,
    pace: Option<u64>,
    workload: &Workload,
) -> Result<()> {
    println!(
        "cores={}",
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "loadavg_at_start={}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("partitions={partitions}");
    println!("writers={writers}");
    println!("entities={}", workload.entities);
    println!("rules={}", workload.rules);
    println!("capacities={}", workload.capacities);
    println!("probes={}", workload.probes);
    println!("event_time_records_per_second={event_rate}");
    println!("producer_batch_records={batch_records}");
    println!("producer_max_lead={max_lead}");

    // The broker.
    let port = free_port()?;
    let url = format!("tcp://127.0.0.1:{port}");
    let mut command = Command::new(tansu_bin());
    command
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .current_dir(dir);
    let tansu = Proc::spawn("tansu", command, dir)?;
    wait_for("tansu to listen", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    })?;
    let bootstrap = format!("127.0.0.1:{port}");
    eprintln!("tansu listening on {bootstrap}");

    // LAYERCAST_BENCH_CEILING_RECORDS=0 skips the ceiling.
    let ceiling_rate = if ceiling_records > 0 {
        ceiling(
            &bootstrap,
            partitions,
            ceiling_records,
            ceiling_secs,
            event_rate,
            tansu.pid(),
            batch_records,
            workload.entities,
        )?
    } else {
        0.0
    };

    if std::env::var("LAYERCAST_BENCH_CEILING_ONLY").is_ok_and(|v| v == "1") {
        return Ok(());
    }

    // Ours: one serve node.
    let db = TestDb::create()?;
    let http_port = free_port()?;
    let config_path = dir.join("layercast.toml");
    // 2 s by default, so that windows close during the run; a week keeps every window open
    // (a run that measures the rate alone, without closes).
    let out_of_order = env_u64("LAYERCAST_BENCH_E2E_OUT_OF_ORDER_SECS", 2);
    println!("out_of_order_secs={out_of_order}");
    println!("producer_pace_per_second={}", pace.unwrap_or(0));
    // The roll-up lengths in seconds (`60,3600`, serve's default; empty: none), to see what
    // the roll-ups cost the database.
    let rollups = std::env::var("LAYERCAST_BENCH_E2E_ROLLUPS").ok();
    let rollups_toml = match &rollups {
        None => String::new(),
        Some(list) => {
            let tables: Vec<String> = list
                .split(',')
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{{ length_secs = {}, retention_days = 30 }}", l.trim()))
                .collect();
            format!("rollups = [{}]\n", tables.join(", "))
        }
    };
    println!("rollups_secs={}", rollups.as_deref().unwrap_or("60,3600"));
    let options: String = client_options()
        .iter()
        .map(|(k, v)| format!("\"{k}\" = \"{v}\"\n"))
        .collect();
    println!(
        "client_options={}",
        std::env::var("LAYERCAST_BENCH_CLIENT_OPTIONS")
            .unwrap_or_else(|_| DEFAULT_CLIENT_OPTIONS.into())
    );
    // Anonymous viewing on (off by default with MariaDB): the WebSocket client and the counts
    // read as a viewer without credentials; rules and capacities need the admin token.
    std::fs::write(
        &config_path,
        format!(
            "node_id = \"bench\"\n\
             [kafka]\nbrokers = \"{bootstrap}\"\npartitions = {partitions}\n\
             [kafka.client_options]\n{options}\
             [database]\nurl = \"{}\"\nwriters = {writers}\n\
             [windows]\nlength_secs = {WINDOW_SECS}\nout_of_order_secs = {out_of_order}\ngrace_secs = 1\nidle_timeout_secs = 5\n{rollups_toml}\
             [auth]\nanonymous_viewer = true\n",
            db.url()
        ),
    )?;
    let mut command = Command::new(layercast);
    command
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .arg("--listen")
        .arg(format!("127.0.0.1:{http_port}"))
        .arg("--data-dir")
        .arg(dir.join("serve"))
        .env("RUST_LOG", "info,librdkafka=warn");
    let serve = Proc::spawn("serve", command, dir)?;
    let healthy = wait_for(
        "serve to own every partition",
        Duration::from_secs(90),
        || {
            let (status, body) = http_get(http_port, "/api/health")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let owned = v["partitions"].as_array().map_or(0, Vec::len);
            (status == 200 && owned == partitions as usize).then_some(())
        },
    );
    if let Err(e) = healthy {
        eprintln!("{}\n{}", serve.tail(), tansu.tail());
        return Err(e);
    }
    eprintln!("serve healthy on 127.0.0.1:{http_port}, {partitions} partitions");
    if let Err(e) = install_analysis(
        layercast,
        &config_path,
        http_port,
        workload.entities,
        workload.rules,
        workload.capacities,
    ) {
        eprintln!("{}", serve.tail());
        return Err(e);
    }
    eprintln!(
        "{} rules, the probe rule and {} capacities installed",
        workload.rules, workload.capacities
    );

    let stop_ws = Arc::new(AtomicBool::new(false));
    let feed: Feed = Arc::default();
    let ws = ws_client(http_port, stop_ws.clone(), feed.clone())?;
    thread::sleep(Duration::from_millis(500));

    let mariadb = find_pid(&["mariadbd", "mysqld"]);
    let mut watched = vec![
        ("tansu".to_owned(), tansu.pid()),
        ("serve".to_owned(), serve.pid()),
    ];
    if let Some(pid) = mariadb {
        watched.push(("mariadbd".to_owned(), pid));
    }
    watched.push(("bench".to_owned(), std::process::id()));

    // Produce for `secs`, event time from half an hour ago advancing `event_rate` records a
    // second (faster than the wall clock when we produce faster than that).
    let bootstrap_p = bootstrap.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (producer, delivered) = producer(&bootstrap, batch_records)?;
    let durable_now = Arc::new(AtomicU64::new(0));
    let (entities, probes) = (workload.entities, workload.probes);
    let producer_thread = {
        let stop = stop.clone();
        let sent = sent.clone();
        let durable_now = durable_now.clone();
        thread::spawn(move || -> Result<u64> {
            let _ = bootstrap_p;
            let events = EventGen::new(entities, now_ms() - 1_800_000, event_rate, 1_500, 30_000);
            let mut events = Probed::new(events, probes, WINDOW_SECS * 1000);
            let lead = Some((&*durable_now, max_lead));
            let n = produce(
                &producer,
                EVENTS_TOPIC,
                &mut || events.next_event(),
                u64::MAX,
                &stop,
                &sent,
                lead,
                pace,
            )?;
            flush(&producer)?;
            Ok(n)
        })
    };
    eprintln!("ours: producing for {secs} s");
    let mut conn = db.connect()?;
    let pool = buffer_pool_bytes(&mut conn)?;
    println!("mariadb_buffer_pool_bytes={pool}");
    if pool < RECOMMENDED_BUFFER_POOL {
        eprintln!(
            "WARNING: MariaDB's innodb_buffer_pool_size is {} MiB, below the {} MiB docs/operations.md asks for: the run measures page reads from disk (scripts/setup --test sets it)",
            pool >> 20,
            RECOMMENDED_BUFFER_POOL >> 20
        );
    }
    let pages_read_before = pages_read(&mut conn)?;
    let started = Instant::now();
    let warmup = (secs as f64 * 0.15).max(3.0);
    let mut cpu = None;
    let mut samples: Vec<(f64, i64)> = Vec::new();
    let mut produced_samples: Vec<(f64, i64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        thread::sleep(Duration::from_secs(1));
        let t = started.elapsed().as_secs_f64();
        let d = durable_total(&mut conn)?;
        durable_now.store(d as u64, Ordering::Relaxed);
        samples.push((t, d));
        produced_samples.push((t, sent.load(Ordering::Relaxed) as i64));
        if cpu.is_none() && t >= warmup {
            cpu = Some(CpuWatch::start(watched.clone()));
        }
        if samples.len().is_multiple_of(10) {
            eprintln!(
                "  t={t:.0}s produced {} durable {}",
                sent.load(Ordering::Relaxed),
                samples.last().map_or(0, |s| s.1)
            );
        }
    }
    if let Some(cpu) = &cpu {
        cpu.stop("ours");
    }
    stop.store(true, Ordering::Relaxed);
    let produced_attempts = producer_thread
        .join()
        .map_err(|_| anyhow!("producer panicked"))??;
    let produced = delivered.ok.load(Ordering::Relaxed) as i64;
    let failed = delivered.failed.load(Ordering::Relaxed);
    let produce_secs = started.elapsed().as_secs_f64();
    println!(
        "mariadb_pages_read={}",
        pages_read(&mut conn)? - pages_read_before
    );
    let metrics_at_end = http_get(http_port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let rate = steady_rate(&samples, warmup).unwrap_or(0.0);
    let produce_rate = steady_rate(&produced_samples, warmup).unwrap_or(0.0);

    // Everything produced must become durable; then the idle timeout closes the last windows.
    eprintln!("ours: {produced} produced, waiting for all of it to be durable");
    let drain_started = Instant::now();
    // Stalled: no progress for 30 s.
    let mut last = (Instant::now(), -1_i64);
    let all_durable = wait_for("every record durable", Duration::from_secs(900), || {
        let d = durable_total(&mut conn).ok()?;
        if d != last.1 {
            last = (Instant::now(), d);
        }
        if last.0.elapsed() > Duration::from_secs(30) {
            return Some(Err(anyhow!(
                "serve stalled at {d} durable of {produced} (no progress for 30 s)"
            )));
        }
        (d >= produced).then_some(Ok(d))
    })
    .and_then(|r| r);
    let drain_s = drain_started.elapsed().as_secs_f64();
    let total_s = started.elapsed().as_secs_f64();
    // Every record durable is not every window stored whole: the last open windows reach
    // their rows with the next save of provisional values (windows opened 5 s ago, every 5 s)
    // or their close by idleness. Wait for that, not a fixed time.
    let late_total = || -> i64 {
        http_get(http_port, "/api/late")
            .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|v| v["total"].as_i64())
            .unwrap_or(-1)
    };
    let base_sum = |conn: &mut MysqlConnection| {
        query_i64(
            conn,
            &format!(
                "SELECT CAST(SUM(events) AS SIGNED) AS v FROM windows WHERE window_len_ms = {}",
                WINDOW_SECS * 1000
            ),
        )
    };
    let settling = Instant::now();
    let settled = all_durable.is_ok()
        && wait_for(
            "the base windows to hold every record",
            Duration::from_secs(30),
            || {
                let late = late_total();
                (late >= 0 && base_sum(&mut conn).ok()? == produced - late).then_some(())
            },
        )
        .is_ok();
    println!("counts_settled={settled}");
    println!(
        "counts_settle_seconds={:.1}",
        settling.elapsed().as_secs_f64()
    );
    // The finals of the windows closed by idleness, for the live feed's numbers.
    thread::sleep(Duration::from_secs(9).saturating_sub(settling.elapsed()));
    stop_ws.store(true, Ordering::Relaxed);
    let _ = ws.join();

    println!("produce_seconds={produce_secs:.1}");
    println!("produced_records={produced}");
    println!("produce_failed={failed}");
    println!("produce_attempts={produced_attempts}");
    println!("produce_per_second_steady={produce_rate:.0}");
    println!("durable_per_second_steady={rate:.0}");
    println!("steady_from_s={warmup:.0}");
    if ceiling_rate > 0.0 {
        println!("ours_vs_ceiling={:.3}", rate / ceiling_rate);
    }
    // Latency: per final window pushed, now - closed_at.
    let seen = feed.lock().expect("feed");
    let delays = &seen.delays;
    println!("ws_series_messages={}", seen.series_frames);
    println!("ws_too_slow={}", seen.too_slow);
    let base: Vec<i64> = delays
        .iter()
        .filter(|(len, _)| *len == WINDOW_SECS * 1000)
        .map(|(_, d)| *d)
        .collect();
    let all: Vec<i64> = delays.iter().map(|(_, d)| *d).collect();
    let p99 = print_delays("ws_final_delay", &all);
    print_delays("ws_final_delay_base", &base);
    // Close → alert: per probe alert frame, its arrival minus the close of its probe's window
    // that caused it (the one ending at the alert's changed_ms).
    let alert_delays: Vec<i64> = seen
        .probe_alerts
        .iter()
        .filter_map(|(entity, changed, at, _)| {
            seen.probe_closed
                .get(&(entity.clone(), *changed))
                .map(|closed| at - closed)
        })
        .collect();
    let count_state = |state: AlertStatus| {
        seen.probe_alerts
            .iter()
            .filter(|(.., s)| *s == state)
            .count()
    };
    println!("probe_final_windows={}", seen.probe_closed.len());
    println!("probe_alerts={}", seen.probe_alerts.len());
    println!("probe_alerts_firing={}", count_state(AlertStatus::Firing));
    println!(
        "probe_alerts_resolved={}",
        count_state(AlertStatus::Resolved)
    );
    println!("ws_other_alerts={}", seen.other_alerts);
    let alert_p99 = print_delays("alert", &alert_delays);
    // The same over the steady part of the run, where the rate is measured: the first closes
    // after serve starts make every series' trackers while it catches up with the producer.
    let steady_from_ms = now_ms() - ((started.elapsed().as_secs_f64() - warmup) * 1000.0) as i64;
    let steady_alert_delays: Vec<i64> = seen
        .probe_alerts
        .iter()
        .filter_map(|(entity, changed, at, _)| {
            let closed = seen.probe_closed.get(&(entity.clone(), *changed))?;
            (*closed >= steady_from_ms).then_some(at - closed)
        })
        .collect();
    print_delays("alert_steady", &steady_alert_delays);
    drop(seen);

    let metrics = http_get(http_port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    histogram(&metrics, "layercast_window_close_delay_seconds").print("metrics_window_close_delay");
    histogram(&metrics, "layercast_window_close_queued_seconds")
        .print("metrics_window_close_queued");
    histogram(&metrics, "layercast_db_batch_seconds").print("metrics_db_batch");
    histogram(&metrics, "layercast_delivery_wait_seconds").print("metrics_delivery_wait");
    histogram(&metrics, "layercast_live_final_delay_seconds").print("metrics_live_final_delay");
    histogram(&metrics, "layercast_stream_thread_lag_seconds").print("metrics_stream_thread_lag");
    // The alert's way: from the close to the live hub (stored), then the hub to the client.
    histogram(&metrics, "layercast_alert_delay_seconds").print("metrics_alert_delay");
    let analysis = histogram(&metrics, "layercast_analysis_seconds");
    analysis.print("metrics_analysis");
    if let Some(windows) = metric_value(&metrics, "layercast_analysed_windows_total") {
        println!("metrics_analysed_windows={windows:.0}");
        if windows > 0.0 {
            println!("analysis_us_per_window={:.1}", analysis.sum * 1e6 / windows);
        }
    }
    for name in [
        "layercast_events_total",
        "layercast_late_records_total",
        "layercast_malformed_records_total",
        "layercast_db_batch_failures_total",
    ] {
        if let Some(v) = metric_value(&metrics, name) {
            println!("metrics_{}={v:.0}", name.trim_start_matches("layercast_"));
        }
    }

    let serve_log = std::fs::read_to_string(&serve.log).unwrap_or_default();
    println!(
        "serve_resyncs={}",
        serve_log.matches("resynchronising").count()
    );
    println!(
        "serve_fence_lost={}",
        serve_log.matches("was written by another node").count()
    );
    println!(
        "serve_write_failures={}",
        serve_log.matches("window write failed").count()
    );
    let durable = match all_durable {
        Ok(d) => d,
        Err(e) => {
            println!("stalled=true");
            println!("rate_bar_met=false");
            println!("latency_bar_met=false");
            println!("alert_bar_met=false");
            println!("counts_match=false");
            println!("bar_events_per_second={BAR_EVENTS_PER_SECOND:.0}");
            println!("bar_p99_ms={BAR_P99_MS:.0}");
            println!("bar_alert_p99_ms={BAR_ALERT_P99_MS:.0}");
            eprintln!("{}", serve.tail());
            return Err(e);
        }
    };
    println!("durable_records={durable}");
    println!("backlog_drain_seconds={drain_s:.1}");
    println!("durable_per_second_overall={:.0}", durable as f64 / total_s);
    if let Some(lag) = metric_value(&metrics_at_end, "layercast_events_total") {
        println!("events_total_when_producer_stopped={lag:.0}");
    }

    // Correctness: the base windows hold every record but the late ones.
    let late = late_total();
    let in_windows = base_sum(&mut conn)?;
    let finals = query_i64(
        &mut conn,
        &format!(
            "SELECT COUNT(*) AS v FROM windows WHERE window_len_ms = {} AND is_final",
            WINDOW_SECS * 1000
        ),
    )?;
    let rows = query_i64(
        &mut conn,
        &format!(
            "SELECT COUNT(*) AS v FROM windows WHERE window_len_ms = {}",
            WINDOW_SECS * 1000
        ),
    )?;
    println!("late_total={late}");
    println!("events_in_base_windows={in_windows}");
    println!("produced_minus_late={}", produced - late);
    println!("base_window_rows={rows}");
    println!("base_window_rows_final={finals}");
    let correct = late >= 0 && in_windows == produced - late;
    println!("counts_match={correct}");

    let rate_ok = rate >= BAR_EVENTS_PER_SECOND;
    let latency_ok = !all.is_empty() && p99 < BAR_P99_MS;
    let alert_ok = !alert_delays.is_empty() && alert_p99 < BAR_ALERT_P99_MS;
    println!("bar_events_per_second={BAR_EVENTS_PER_SECOND:.0}");
    println!("bar_p99_ms={BAR_P99_MS:.0}");
    println!("bar_alert_p99_ms={BAR_ALERT_P99_MS:.0}");
    println!("rate_bar_met={rate_ok}");
    println!("latency_bar_met={latency_ok}");
    println!("alert_bar_met={alert_ok}");
    drop(serve);
    drop(db);
    drop(tansu);
    if !correct {
        bail!("the base windows hold {in_windows} events, {produced} produced minus {late} late");
    }
    Ok(())
}
