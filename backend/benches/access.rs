//! The cost of access control: the same GET, open (anonymous viewing) and authenticated with
//! an API token and with a session cookie, over keep-alive connections to a `layercast serve`
//! of this build (embedded mode: SQLite, where the token and session lookups happen). Prints
//! `key=value` lines for scripts/bench: per mode requests per second and p50/p99 latency.
//!
//! `cargo bench -p layercast --bench access [-- --requests N --clients C]`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive connection: sends GETs, reads each answer whole.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let writer = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        writer.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(writer.try_clone().expect("clone"));
        Client { reader, writer }
    }

    fn get(&mut self, path: &str, header: &str) -> (u16, String) {
        write!(
            self.writer,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n"
        )
        .expect("send");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        let mut headers = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            headers.push_str(&line);
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        (status, headers + &String::from_utf8_lossy(&body))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn main() {
    let requests = arg("--requests", 4_000);
    let clients = arg("--clients", 4);
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_layercast");
    let mut server = Command::new(bin)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("layercast serve");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let password = loop {
        if let Ok(p) = std::fs::read_to_string(dir.path().join("initial-admin-password")) {
            break p.trim().to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n", dir.path())).expect("config");
    let out = Command::new(bin)
        .args([
            "token", "create", "--name", "bench", "--role", "viewer", "--config",
        ])
        .arg(&config)
        .stderr(Stdio::null())
        .output()
        .expect("token create");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // Login: one request, its own cost (argon2id).
    let body = format!(r#"{{"name":"admin","password":"{password}"}}"#);
    let login_started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST /api/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("login");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("login answer");
    let login_ms = login_started.elapsed().as_secs_f64() * 1e3;
    let cookie = answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    println!("login_ms={login_ms:.1}");

    let path = "/api/late";
    for (mode, header) in [
        ("open", String::new()),
        ("token", format!("Authorization: Bearer {token}\r\n")),
        ("session", format!("Cookie: {cookie}\r\n")),
    ] {
        // Warm up, and check every mode really answers 200.
        let (status, text) = Client::connect(port).get(path, &header);
        assert_eq!(status, 200, "{mode}: {text}");
        let began = Instant::now();
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let header = header.clone();
                std::thread::spawn(move || {
                    let mut client = Client::connect(port);
                    let mut times = Vec::with_capacity(requests / clients);
                    for _ in 0..requests / clients {
                        let t = Instant::now();
                        let (status, _) = client.get(path, &header);
                        assert_eq!(status, 200);
                        times.push(t.elapsed());
                    }
                    times
                })
            })
            .collect();
        let mut times: Vec<Duration> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("client"))
            .collect();
        let secs = began.elapsed().as_secs_f64();
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!("{mode}_requests_per_s={:.0}", times.len() as f64 / secs);
        println!("{mode}_p50_us={}", at(0.50).as_micros());
        println!("{mode}_p99_us={}", at(0.99).as_micros());
    }
    let _ = server.kill();
    let _ = server.wait();
}
