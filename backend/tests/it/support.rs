//! Test harness: a broker process, a throw-away database, `layercast serve` nodes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection};
use layercast_shared::{SeriesWindow, ServerMsg};

/// A free port on 127.0.0.1, as the kernel hands it out.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The group's session and rebalance timeouts of tests that load the SQLite-backed tansu with
/// hundreds of thousands of records: it then answers heartbeats later than the default 6 s,
/// and a node replaying a partition can go past the default 10 s between polls, so with the
/// defaults every node kept leaving and rejoining the group, each rejoin replaying its
/// partitions from their stored positions (docs/operations.md, known limitations).
pub const LOADED_GROUP_TIMEOUT_MS: u32 = 30_000;

/// Polls `check` until it gives a value or `deadline` passes. For conditions that only an
/// outside process can make true (a port opening, rows appearing in another process's DB).
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `done` or the deadline, without failing: for a condition the caller then
/// asserts with a message of its own. Partition actors save open windows every 5 s, so the
/// rows reach the records a few seconds after the stored positions do.
pub fn settle(deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts that the stored windows are exactly the expected ones: each with its totals, and
/// none that no record made. Names the first ten that are off.
pub fn assert_windows_exact<K, V>(expected: &BTreeMap<K, V>, stored: &BTreeMap<K, V>)
where
    K: Ord + Clone + std::fmt::Debug,
    V: PartialEq + Copy + std::fmt::Debug,
{
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), *v, stored.get(k).copied()))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "windows off (key, expected, stored): {wrong:?}"
    );
    assert_eq!(
        stored.len(),
        expected.len(),
        "no window that no record made"
    );
}

/// (events, bytes) per (layer, entity, window start) of the stored windows of `len_ms`.
pub fn stored_window_totals(
    db: &layercast::store::Db,
    len_ms: i64,
) -> BTreeMap<(String, String, i64), (i64, i64)> {
    let Ok(mut conn) = db.conn() else {
        return BTreeMap::new();
    };
    layercast::store::windows::series_windows(
        &mut conn,
        len_ms,
        None,
        i64::MIN,
        i64::MAX,
        10_000_000,
    )
    .unwrap_or_default()
    .into_iter()
    .map(|r| ((r.layer, r.entity, r.window_start), (r.events, r.bytes)))
    .collect()
}

/// A minimal HTTP GET, enough to read the JSON of the API.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_within(port, path, Duration::from_secs(10))
}

/// `http_get` giving up on an answer slower than `timeout`.
pub fn http_get_within(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
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

/// `data` compressed as gzip, as log shippers write objects.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("compress");
    enc.finish().expect("finish")
}

/// The ingest ledger's rows (every object and file read or being read).
pub fn ledger(db: &layercast::store::Db) -> Vec<layercast_shared::IngestFile> {
    db.conn()
        .ok()
        .and_then(|mut conn| layercast::store::ingest::report(&mut conn, 0).ok())
        .map(|r| r.files)
        .unwrap_or_default()
}

/// An HTTP answer: status, headers (names lower-case) and body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One HTTP/1.1 request on a connection of its own (closed after), with any method, headers
/// and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpAnswer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {method} {path}: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A child process killed when the test ends, however it ends.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.into(),
            log,
        }
    }

    /// SIGKILL: no flush, no goodbye to the group, as a crashed machine.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its log so far, without the colours of the terminal format.
    pub fn log_text(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut text = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // An SGR sequence: ESC [ ... m.
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                text.push(c);
            }
        }
        text
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of {} ---\n{}", self.name, self.log_tail());
        }
        self.kill();
    }
}

/// A tansu broker on a free port, keeping its log in memory (or in SQLite).
pub struct Broker {
    pub bootstrap: String,
    _proc: Proc,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        Self::start_on(dir, "memory://tansu/")
    }

    /// Keeping its log in a SQLite file in `dir`: slower per batch than memory, but it serves
    /// a fetch that starts inside a record batch, which tansu 0.6's memory engine answers with
    /// nothing (a node taking a partition over would stall), so producers may batch.
    pub fn start_sqlite(dir: &Path) -> Broker {
        Self::start_on(dir, "sqlite://tansu.db")
    }

    fn start_on(dir: &Path, storage: &str) -> Broker {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
        let mut command = Command::new(bin);
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", storage])
            .current_dir(dir);
        let proc = Proc::spawn("tansu", command, dir);
        wait_for("tansu to listen", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            _proc: proc,
        }
    }
}

/// An S3-protocol server on a free port of 127.0.0.1: moto's, in memory (`scripts/setup --test`
/// installs it; `MOTO_SERVER` names another binary). Credentials of its own kind: any key.
pub struct S3Server {
    pub endpoint: String,
    pub port: u16,
    proc: Option<Proc>,
    dir: PathBuf,
    /// Its log's name, and environment variables of its own.
    name: String,
    env: Vec<(String, String)>,
}

/// What `S3Server` and the nodes that read it take as credentials (moto accepts any).
pub const S3_KEY_ID: &str = "layercast-test";
pub const S3_SECRET: &str = "layercast-test-secret";
/// The credentials of the test server, as the environment of a node that reads it.
pub const S3_ENV: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
];

impl S3Server {
    pub fn start(dir: &Path) -> S3Server {
        Self::start_named(dir, "moto", &[])
    }

    /// One that checks credentials from the first request on (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0`): every key is unknown to it, so every request fails
    /// with `InvalidAccessKeyId`, as with wrong credentials.
    pub fn start_checking_credentials(dir: &Path) -> S3Server {
        Self::start_named(dir, "moto-auth", &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn start_named(dir: &Path, name: &str, env: &[(&str, &str)]) -> S3Server {
        let port = free_port();
        let mut server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            proc: None,
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        server.resume();
        server
    }

    /// Starts the server (again, on the same port; moto keeps nothing across a restart).
    pub fn resume(&mut self) {
        let default = std::env::var("HOME")
            .map(|h| format!("{h}/.cache/layercast/moto-venv/bin/moto_server"))
            .unwrap_or_default();
        let bin = std::env::var("MOTO_SERVER").unwrap_or(default);
        let mut command = Command::new(bin);
        command
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        self.proc = Some(Proc::spawn(&self.name, command, &self.dir));
        let port = self.port;
        wait_for("the S3 server to listen", Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    /// A client of it, as the tests put objects.
    /// A client, and `bucket` made on the server.
    pub async fn client_with_bucket(&self, bucket: &str) -> aws_sdk_s3::Client {
        let client = self.client().await;
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
        client
    }

    pub async fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                S3_KEY_ID, S3_SECRET, None, None, "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// An SQS client of it (moto serves SQS on the same port).
    pub async fn sqs_client(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::new()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                S3_KEY_ID, S3_SECRET, None, None, "test",
            ))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }
}

/// A TCP proxy on a free port of 127.0.0.1 in front of `127.0.0.1:upstream`, that a test cuts
/// (every open connection closed, new ones closed at once, as a store that went away) and
/// restores; threads of its own, stopped on drop.
pub struct TcpProxy {
    pub port: u16,
    shared: Arc<ProxyShared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

struct ProxyShared {
    up: AtomicBool,
    stop: AtomicBool,
    /// Both ends of every connection made, to close them at a cut.
    open: Mutex<Vec<TcpStream>>,
}

impl TcpProxy {
    pub fn start(upstream: u16) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listens");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(ProxyShared {
            up: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            open: Mutex::default(),
        });
        let accept = std::thread::spawn({
            let shared = shared.clone();
            move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if !shared.up.load(Ordering::SeqCst) {
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        continue;
                    };
                    let ends = (client.try_clone(), server.try_clone());
                    let (Ok(client_end), Ok(server_end)) = ends else {
                        continue;
                    };
                    if let Ok(mut open) = shared.open.lock() {
                        open.extend([client_end, server_end]);
                    }
                    pipe(client.try_clone(), server.try_clone());
                    pipe(Ok(server), Ok(client));
                }
            }
        });
        TcpProxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// Closes every connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        if let Ok(mut open) = self.shared.open.lock() {
            for stream in open.drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    pub fn restore(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on a thread until either closes.
fn pipe(from: std::io::Result<TcpStream>, to: std::io::Result<TcpStream>) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Both);
        let _ = from.shutdown(std::net::Shutdown::Both);
    });
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// A MySQL database of its own, dropped at the end.
pub struct TestDb {
    pub url: String,
    server: String,
    name: String,
}

impl TestDb {
    pub fn create() -> TestDb {
        let server = std::env::var("LAYERCAST_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
        let name = format!("test_{}_{}", std::process::id(), free_port());
        let mut conn = MysqlConnection::establish(&server)
            .expect("MariaDB reachable (scripts/test starts it)");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        TestDb {
            url: format!("{server}/{name}"),
            server,
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = MysqlConnection::establish(&self.server) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

/// A `layercast serve` process.
pub struct Node {
    pub port: u16,
    pub proc: Proc,
}

impl Node {
    pub fn start(name: &str, config: &str, dir: &Path) -> Node {
        Self::start_with_env(name, config, dir, &[])
    }

    /// With environment variables of its own (credentials, as an operator sets them).
    pub fn start_with_env(name: &str, config: &str, dir: &Path, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).expect("node dir");
        let config_path = node_dir.join("layercast.toml");
        // Tests that are not about access read the API without credentials, as a deployment
        // with anonymous viewing does; the access test sets `[auth]` itself.
        let auth = if config.contains("[auth]") {
            ""
        } else {
            "\n[auth]\nanonymous_viewer = true\n"
        };
        std::fs::write(
            &config_path,
            format!("node_id = \"{name}\"\n{config}{auth}"),
        )
        .expect("config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_layercast"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&node_dir)
            .env("RUST_LOG", "info,librdkafka=warn")
            .envs(env.iter().copied());
        let proc = Proc::spawn(name, command, dir);
        Node { port, proc }
    }

    /// The node's `/api/health` once it answers with status ok.
    pub fn wait_healthy(&self) -> serde_json::Value {
        self.wait_healthy_within(Duration::from_secs(60))
    }

    /// As `wait_healthy`, for a node started while the broker is saturated (its health check
    /// asks the broker for the topic's metadata).
    pub fn wait_healthy_within(&self, limit: Duration) -> serde_json::Value {
        wait_for(&format!("{} to be healthy", self.proc.name), limit, || {
            let (status, body) = http_get(self.port, "/api/health")?;
            (status == 200)
                .then(|| serde_json::from_str(&body).ok())
                .flatten()
        })
    }

    pub fn partitions(&self) -> Vec<i64> {
        http_get(self.port, "/api/health")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| {
                v["partitions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|p| p.as_i64()).collect())
            })
            .unwrap_or_default()
    }
}

/// A MariaDB server of the test's own, for tests that stop the database: the shared server on
/// 3306 serves other tests. Its data folder is made by `mariadb-install-db` (root without a
/// password over TCP from 127.0.0.1); `stop` and `restart` keep the folder and the port, as an
/// operator restarting the server would. Killed on drop.
///
/// Settings: `MARIADB_INSTALL_DB` (default `mariadb-install-db`) and `MARIADBD` (default
/// `/usr/sbin/mariadbd` when it exists, else `mariadbd` on the PATH).
pub struct PrivateMariaDb {
    pub port: u16,
    dir: PathBuf,
    proc: Option<Proc>,
    starts: u32,
}

/// Small files and buffers: a test server holds a few MB of rows.
const MARIADB_SIZES: [&str; 2] = [
    "--innodb-log-file-size=16M",
    "--innodb-buffer-pool-size=32M",
];

impl PrivateMariaDb {
    /// A fresh data folder under `dir` and a server on a free port, ready for connections.
    pub fn start(dir: &Path) -> PrivateMariaDb {
        let dir = dir.join("mariadb");
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).expect("mariadb dir");
        let bin =
            std::env::var("MARIADB_INSTALL_DB").unwrap_or_else(|_| "mariadb-install-db".into());
        let mut install = Command::new(&bin);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(MARIADB_SIZES);
        if running_as_root() {
            // Both refuse to run as root unless told to.
            install.arg("--user=root");
        }
        let output = install
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        assert!(
            output.status.success(),
            "{bin} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut db = PrivateMariaDb {
            port: free_port(),
            dir,
            proc: None,
            starts: 0,
        };
        db.launch();
        db
    }

    /// The server URL without a database, as `LAYERCAST_TEST_MYSQL`.
    pub fn server_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Creates `name` and gives its URL.
    pub fn create_database(&self, name: &str) -> String {
        let mut conn =
            MysqlConnection::establish(&self.server_url()).expect("private MariaDB reachable");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        format!("{}/{name}", self.server_url())
    }

    /// Stops the server if it runs, then starts it again on the same data folder and port and
    /// waits until it answers a query (after its crash recovery when `stop` killed it).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        self.starts += 1;
        let bin = std::env::var("MARIADBD").unwrap_or_else(|_| {
            if Path::new("/usr/sbin/mariadbd").exists() {
                "/usr/sbin/mariadbd".into()
            } else {
                "mariadbd".into()
            }
        });
        let mut command = Command::new(bin);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg("--skip-name-resolve")
            .args(MARIADB_SIZES);
        if running_as_root() {
            command.arg("--user=root");
        }
        // One log per start, so that a failure shows what the last start said.
        self.proc = Some(Proc::spawn(
            &format!("mariadb-{}", self.starts),
            command,
            &self.dir,
        ));
        let url = self.server_url();
        wait_for(
            "the private MariaDB to answer",
            Duration::from_secs(60),
            || {
                if let Some(proc) = self.proc.as_mut() {
                    if let Ok(Some(status)) = proc.child.try_wait() {
                        panic!("mariadbd exited at start ({status}):\n{}", proc.log_tail());
                    }
                }
                MysqlConnection::establish(&url)
                    .ok()?
                    .batch_execute("SELECT 1")
                    .ok()
            },
        );
    }

    /// SIGKILL, and waits for the process to be gone: the server vanishes as in a crash,
    /// mid-transaction if one is running; its data folder stays for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill();
        }
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        // `Proc`'s own drop kills it (and shows its log if the test failed).
        self.proc.take();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The resident memory of a process in bytes (Linux: `VmRSS` of `/proc/PID/status`), `None`
/// once it is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
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

/// The peak resident memory of a process in bytes (Linux: `VmHWM` of `/proc/PID/status`).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A source's entry in a node's `/api/ingest`.
pub fn ingest_source(port: u16, name: &str) -> Option<serde_json::Value> {
    let (_, body) = http_get(port, "/api/ingest")?;
    let report: serde_json::Value = serde_json::from_str(&body).ok()?;
    report["sources"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

/// A program subscribed to a node's live feed over WebSocket for final series windows, as
/// `ClientMsg::Subscribe` offers it; what it receives is collected on a thread of its own
/// until it is dropped.
pub struct FinalWindowsFeed {
    received: Arc<Mutex<Vec<SeriesWindow>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FinalWindowsFeed {
    pub fn connect(port: u16) -> FinalWindowsFeed {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
        let (mut socket, _) = tungstenite::client::client(
            format!("ws://127.0.0.1:{port}/ws"),
            stream.try_clone().expect("stream"),
        )
        .expect("websocket handshake");
        socket
            .send(tungstenite::Message::text(
                r#"{"type":"subscribe","final_only":true}"#,
            ))
            .expect("subscribe");
        // A short read timeout lets the thread see `stop`.
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let received: Arc<Mutex<Vec<SeriesWindow>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (received, stop) = (received.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match socket.read() {
                        Ok(tungstenite::Message::Text(text)) => {
                            if let Ok(ServerMsg::Series { windows }) =
                                serde_json::from_str::<ServerMsg>(&text)
                            {
                                received.lock().expect("received").extend(windows);
                            }
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(e) => {
                            eprintln!("the live feed broke: {e}");
                            break;
                        }
                    }
                }
                let _ = socket.close(None);
            }
        });
        FinalWindowsFeed {
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn received(&self) -> Vec<SeriesWindow> {
        self.received.lock().expect("received").clone()
    }
}

impl Drop for FinalWindowsFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
