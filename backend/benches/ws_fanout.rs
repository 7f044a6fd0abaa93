//! WebSocket fan-out (protocol 2) on this machine: one `layercast serve` (release, embedded
//! mode), N clients on `/ws?v=2` each subscribed to the layer windows of every layer, and
//! updates published on `layercast.updates` (the way every node hears the others) at a steady
//! rate. The bar: p99 from publish to every client under 100 ms at 1,000 clients and 10
//! updates a second; printed besides: the server's memory and CPU per client.
//!
//! Each update is a layer window of a window start never used before (so the hub sends it)
//! whose `events` field carries the publish time in microseconds: a client's delay is its
//! receive time minus that.
//!
//! ```text
//! cargo build --release -p layercast --bin layercast
//! cargo bench -p layercast --bench ws_fanout
//! ```
//!
//! Environment (all optional): `LAYERCAST_BENCH_WS_CLIENTS` (1000),
//! `LAYERCAST_BENCH_WS_RATE` (10 updates a second), `LAYERCAST_BENCH_WS_SECS` (30),
//! `LAYERCAST_BIN` (the `layercast` next to this bench's build), `LAYERCAST_BENCH_KEEP=1`
//! keeps the work folder (serve's log).
//!
//! Output: progress on stderr, `key=value` lines on stdout; exits non-zero when the bar is
//! missed or a client misses an update.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use layercast_shared::v2::{ClientMsg, Frame, Kind, ServerMsg};
use layercast_shared::{LayerWindow, OsiLayer, UpdateMsg, UPDATE_VERSION};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The bar: p99 from publish to every client, milliseconds.
const P99_BAR_MS: f64 = 100.0;
/// Stack of a client thread: it only decodes small frames.
const CLIENT_STACK: usize = 256 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
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

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// serve, killed when dropped.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The in-process broker's address, from serve's log line `broker ready`.
fn bootstrap_from_log(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("broker ready"))?;
    let value = line.split("bootstrap=").nth(1)?;
    Some(value.split_whitespace().next()?.to_owned())
}

/// One client: connects, subscribes, waits for its snapshot, then records the delay of every
/// layer window until `stop`.
fn client(
    port: u16,
    ready: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    delays: Arc<Mutex<Vec<u64>>>,
) -> Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    let (mut socket, _) =
        tungstenite::client::client(format!("ws://127.0.0.1:{port}/ws?v=2"), stream.try_clone()?)
            .map_err(|e| anyhow::anyhow!("handshake: {e}"))?;
    for msg in [
        ClientMsg::Subscribe {
            layers: vec![],
            entities: None,
            kinds: vec![Kind::Layers],
            final_only: false,
        },
        ClientMsg::Resync,
    ] {
        socket.send(tungstenite::Message::text(serde_json::to_string(&msg)?))?;
    }
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut mine = Vec::new();
    let mut synced = false;
    while !stop.load(Ordering::Relaxed) {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let received = now_us();
                let frame: Frame = serde_json::from_str(&text)?;
                match frame.msg {
                    ServerMsg::Snapshot { .. } if !synced => {
                        synced = true;
                        ready.fetch_add(1, Ordering::Relaxed);
                    }
                    ServerMsg::Layer { window } => {
                        mine.push(received.saturating_sub(window.events))
                    }
                    ServerMsg::TooSlow => bail!("told too_slow"),
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => bail!("read: {e}"),
        }
    }
    delays
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .extend(mine);
    Ok(())
}

fn main() -> Result<()> {
    let clients = env_u64("LAYERCAST_BENCH_WS_CLIENTS", 1000) as usize;
    let rate = env_u64("LAYERCAST_BENCH_WS_RATE", 10).max(1);
    let secs = env_u64("LAYERCAST_BENCH_WS_SECS", 30);
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = dir.path().join("serve.log");
    let out = File::create(&log)?;
    let child = Command::new(layercast_bin()?)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info,librdkafka=warn,layercast::http=warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
        .context("cannot start serve")?;
    let serve = Serve { child, log };
    let pid = serve.child.id();
    wait_for("serve to be healthy", Duration::from_secs(60), || {
        http_get(port, "/api/health").filter(|b| b.contains("\"ok\""))
    })?;
    let bootstrap = wait_for(
        "the broker's address in the log",
        Duration::from_secs(10),
        || bootstrap_from_log(&serve.log),
    )?;
    // Settle: the node's own start-up allocations done.
    thread::sleep(Duration::from_secs(2));
    let rss_idle = rss_bytes(pid).context("rss")?;

    eprintln!("connecting {clients} clients");
    let ready = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let delays = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for _ in 0..clients {
        let (ready, stop, delays) = (ready.clone(), stop.clone(), delays.clone());
        threads.push(
            thread::Builder::new()
                .stack_size(CLIENT_STACK)
                .spawn(move || client(port, ready, stop, delays))?,
        );
    }
    wait_for("every client's snapshot", Duration::from_secs(120), || {
        (ready.load(Ordering::Relaxed) == clients).then_some(())
    })?;
    thread::sleep(Duration::from_secs(2));
    let rss_connected = rss_bytes(pid).context("rss")?;

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .create()?;
    let updates = rate * secs;
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    eprintln!("publishing {updates} updates at {rate}/s");
    let cpu_start = cpu_seconds(pid).context("cpu")?;
    let started = Instant::now();
    let mut rss_peak = rss_connected;
    for i in 0..updates {
        let due = started + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let layer = OsiLayer::ALL[i as usize % OsiLayer::ALL.len()];
        let msg = UpdateMsg {
            v: UPDATE_VERSION,
            windows: vec![LayerWindow {
                layer,
                start_ms: 1_000_000_000_000 + i as i64 * 10_000,
                end_ms: 1_000_000_000_000 + i as i64 * 10_000 + 10_000,
                events: now_us(),
                bytes: i,
                packets: 0,
                connections: 0,
                requests: 0,
                errors: 0,
                error_rate: None,
                error_classes: Default::default(),
                latency: None,
                is_final: false,
            }],
            series: vec![],
            anomalies: vec![],
            ..UpdateMsg::default()
        };
        let payload = serde_json::to_vec(&msg)?;
        producer
            .send(
                BaseRecord::<str, [u8]>::to("layercast.updates")
                    .key(layer.as_str())
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)?;
        producer.poll(Duration::ZERO);
        if i % rate == 0 {
            rss_peak = rss_peak.max(rss_bytes(pid).unwrap_or(0));
        }
    }
    producer.flush(Duration::from_secs(10))?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid).context("cpu")? - cpu_start;
    // The last updates' way to every client.
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let mut failed_clients = 0;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed_clients += 1;
                eprintln!("a client failed: {e:#}");
            }
            Err(_) => failed_clients += 1,
        }
    }
    let mut all = std::mem::take(&mut *delays.lock().map_err(|_| anyhow::anyhow!("lock"))?);
    all.sort_unstable();
    let expected = updates as usize * clients;
    let ms = |us: u64| us as f64 / 1000.0;
    let p99 = ms(percentile(&all, 0.99));
    println!("clients={clients}");
    println!("updates_per_second={rate}");
    println!("updates={updates}");
    println!("seconds={elapsed:.1}");
    println!("deliveries={}", all.len());
    println!("deliveries_expected={expected}");
    println!("failed_clients={failed_clients}");
    println!("delay_p50_ms={:.1}", ms(percentile(&all, 0.50)));
    println!("delay_p95_ms={:.1}", ms(percentile(&all, 0.95)));
    println!("delay_p99_ms={p99:.1}");
    println!("delay_max_ms={:.1}", ms(all.last().copied().unwrap_or(0)));
    println!("rss_idle_mib={:.1}", rss_idle as f64 / 1048576.0);
    println!("rss_connected_mib={:.1}", rss_connected as f64 / 1048576.0);
    println!("rss_peak_mib={:.1}", rss_peak as f64 / 1048576.0);
    println!(
        "rss_per_client_kib={:.1}",
        rss_connected.saturating_sub(rss_idle) as f64 / 1024.0 / clients as f64
    );
    println!("serve_cpu_cores={:.3}", cpu / elapsed);
    println!(
        "serve_cpu_us_per_client_second={:.1}",
        cpu / elapsed / clients as f64 * 1e6
    );
    let met = p99 < P99_BAR_MS && all.len() == expected && failed_clients == 0;
    println!("bar_met={met}");
    if std::env::var("LAYERCAST_BENCH_KEEP").is_ok_and(|v| v == "1") {
        let kept = dir.keep();
        eprintln!("work folder kept: {}", kept.display());
    }
    drop(serve);
    if !met {
        bail!("missed: p99 {p99:.1} ms (bar {P99_BAR_MS} ms), {} of {expected} deliveries, {failed_clients} clients failed", all.len());
    }
    Ok(())
}
