//! Access: two production nodes on one database, without anonymous viewing. Every route of the
//! OpenAPI document refuses what it must (enumerated from the document, so a new route cannot
//! slip through), sessions and tokens revoked on one node are refused at once on the other,
//! CSRF, body limits, the WebSocket's Origin check, the operators' CLI, the audit log,
//! schemathesis against the whole document, and login throttling.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{http, Broker, HttpAnswer, Node, TestDb};

const MAX_BODY: usize = 4_096;
const LOGIN_FAILURES: u32 = 3;

/// A browser session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn login(port: u16, name: &str, password: &str) -> Session {
        let answer = login(port, name, password);
        assert_eq!(answer.status, 200, "login of {name}: {}", answer.body);
        let set_cookie = answer.header("set-cookie").expect("a session cookie");
        assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
        assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        let cookie = set_cookie
            .split(';')
            .next()
            .expect("cookie")
            .trim()
            .to_owned();
        let csrf = answer.json()["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_owned();
        Session { cookie, csrf }
    }

    fn get(&self, port: u16, path: &str) -> HttpAnswer {
        http(port, "GET", path, &[("Cookie", &self.cookie)], None)
    }

    fn send(&self, port: u16, method: &str, path: &str, body: Option<&Value>) -> HttpAnswer {
        let text = body.map(Value::to_string);
        http(
            port,
            method,
            path,
            &[("Cookie", &self.cookie), ("X-CSRF-Token", &self.csrf)],
            text.as_deref(),
        )
    }
}

fn login(port: u16, name: &str, password: &str) -> HttpAnswer {
    let body = json!({"name": name, "password": password}).to_string();
    http(port, "POST", "/api/login", &[], Some(&body))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn with_token(port: u16, token: &str, method: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    http(
        port,
        method,
        path,
        &[("Authorization", &bearer(token))],
        body,
    )
}

/// Asserts a refusal: its status and a JSON `error`.
fn refused(answer: &HttpAnswer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.json()["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{what}: no JSON error body: {}",
        answer.body
    );
}

/// A WebSocket upgrade by hand: the status line of the answer.
fn ws_upgrade(port: u16, origin: &str, token: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    .expect("send");
    let mut head = [0_u8; 64];
    let n = stream.read(&mut head).expect("an answer");
    String::from_utf8_lossy(&head[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status")
}

/// Every (method, path, required role) of the document, path parameters filled in.
fn operations(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{name}", "nobody")
            .replace("{id}", "999999")
            .replace("{layer}", "L3")
            .replace("{entity}", "nobody");
        for (method, op) in item.as_object().expect("path item") {
            let role = op["x-required-role"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no x-required-role"));
            out.push((method.to_uppercase(), concrete.clone(), role.to_owned()));
        }
    }
    out
}

fn schemathesis() -> String {
    std::env::var("SCHEMATHESIS").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/layercast/schemathesis-venv/bin/schemathesis")
    })
}

fn cli(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_layercast"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("layercast");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("layercast runs");
    assert!(
        out.status.success(),
        "layercast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn only_who_may_gets_in_on_every_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let id = std::process::id();
    let config = format!(
        "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{id}\"\nupdates_topic = \"updates-{id}\"\n\
         group_id = \"group-{id}\"\npartitions = 2\n[database]\nurl = \"{}\"\n\
         [auth]\nanonymous_viewer = false\nmax_body_bytes = {MAX_BODY}\nlogin_failures = {LOGIN_FAILURES}\n",
        broker.bootstrap, database.url
    );
    let a = Node::start("node-a", &config, dir.path());
    a.wait_healthy();
    let b = Node::start("node-b", &config, dir.path());
    b.wait_healthy();

    // The first start made one admin, its password in node A's data folder only, 0600.
    let file = dir.path().join("node-a").join("initial-admin-password");
    let mode = std::fs::metadata(&file)
        .expect("the password file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!dir
        .path()
        .join("node-b")
        .join("initial-admin-password")
        .exists());
    let admin_password = std::fs::read_to_string(&file)
        .expect("read")
        .trim()
        .to_owned();
    let admin = Session::login(a.port, "admin", &admin_password);

    // Changes from a browser session need its CSRF token.
    let vera = json!({"name": "vera", "role": "viewer", "password": "vera-password-1"});
    let no_csrf = http(
        a.port,
        "POST",
        "/api/users",
        &[("Cookie", &admin.cookie)],
        Some(&vera.to_string()),
    );
    refused(&no_csrf, 403, "a change without the CSRF token");
    let created = admin.send(a.port, "POST", "/api/users", Some(&vera));
    assert_eq!(created.status, 201, "{}", created.body);
    let again = admin.send(a.port, "POST", "/api/users", Some(&vera));
    refused(&again, 409, "the same name twice");
    let weak = admin.send(
        a.port,
        "POST",
        "/api/users",
        Some(&json!({"name": "weak", "role": "viewer", "password": "short"})),
    );
    refused(&weak, 400, "a short password");

    let token_of = |body: &Value| -> (String, i64) {
        let answer = admin.send(a.port, "POST", "/api/tokens", Some(body));
        assert_eq!(answer.status, 201, "{}", answer.body);
        let v = answer.json();
        (
            v["token"].as_str().expect("token").to_owned(),
            v["id"].as_i64().expect("id"),
        )
    };
    let (viewer_token, viewer_token_id) =
        token_of(&json!({"name": "wall", "role": "viewer", "expires_in": "30d"}));
    let (admin_token, _) = token_of(&json!({"name": "fuzzer", "role": "admin"}));
    let listed = admin.get(a.port, "/api/tokens").json();
    assert!(
        !listed.to_string().contains(&viewer_token),
        "a listed token shows only its prefix"
    );

    // Every operation of the document, anonymously and as a viewer.
    let doc = http(a.port, "GET", "/api/openapi.json", &[], None).json();
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "the document lists every route: {ops:?}");
    for (method, path, role) in &ops {
        if method != "GET" && path != "/api/login" && path != "/api/logout" {
            assert_eq!(role, "admin", "{method} {path} changes something");
        }
        if path == "/ws" {
            continue; // the upgrade is checked below
        }
        let body = (method != "GET").then_some("{}");
        let anonymous = http(a.port, method, path, &[], body);
        let viewer = with_token(a.port, &viewer_token, method, path, body);
        match role.as_str() {
            "none" => {
                assert!(
                    ![401, 403].contains(&anonymous.status),
                    "{method} {path}: {}",
                    anonymous.body
                );
            }
            "viewer" => {
                // /metrics and /api/health are open by default (auth.open_metrics, open_health).
                if path != "/metrics" && path != "/api/health" {
                    refused(&anonymous, 401, &format!("{method} {path} anonymously"));
                    assert!(anonymous.header("www-authenticate").is_some());
                }
                assert!(
                    ![401, 403].contains(&viewer.status),
                    "{method} {path} as viewer: {}",
                    viewer.body
                );
            }
            "admin" => {
                refused(&anonymous, 401, &format!("{method} {path} anonymously"));
                refused(&viewer, 403, &format!("{method} {path} as viewer"));
            }
            other => panic!("{method} {path}: unknown role {other}"),
        }
    }
    // The router decodes the path; so does the guard.
    let encoded = with_token(a.port, &viewer_token, "GET", "/api/%75sers", None);
    refused(&encoded, 403, "an encoded admin path as viewer");

    // A token revoked on one node is refused at once on the other.
    assert_eq!(
        with_token(b.port, &viewer_token, "GET", "/api/windows", None).status,
        200
    );
    let revoke = admin.send(
        a.port,
        "DELETE",
        &format!("/api/tokens/{viewer_token_id}"),
        None,
    );
    assert_eq!(revoke.status, 204, "{}", revoke.body);
    refused(
        &with_token(b.port, &viewer_token, "GET", "/api/windows", None),
        401,
        "a revoked token on the other node",
    );
    // So is a logged-out session.
    let vera_session = Session::login(a.port, "vera", "vera-password-1");
    assert_eq!(vera_session.get(b.port, "/api/windows").status, 200);
    assert_eq!(
        vera_session
            .send(a.port, "POST", "/api/logout", None)
            .status,
        204
    );
    refused(
        &vera_session.get(b.port, "/api/windows"),
        401,
        "a logged-out session on the other node",
    );

    // Bodies over the limit: 413 with a JSON error, before any handler.
    let big = json!({"name": "big", "role": "viewer", "password": "x".repeat(MAX_BODY)});
    refused(
        &admin.send(a.port, "POST", "/api/users", Some(&big)),
        413,
        "a body over auth.max_body_bytes",
    );

    // The WebSocket: a page of another origin is refused before the upgrade.
    let (_, fuzz_id) = token_of(&json!({"name": "ws", "role": "viewer"}));
    assert!(fuzz_id > 0);
    let ws_token = {
        let answer = admin.send(
            a.port,
            "POST",
            "/api/tokens",
            Some(&json!({"name": "ws2", "role": "viewer"})),
        );
        answer.json()["token"].as_str().expect("token").to_owned()
    };
    assert_eq!(ws_upgrade(a.port, "http://evil.example", &ws_token), 403);
    let own = format!("http://127.0.0.1:{}", a.port);
    assert_eq!(ws_upgrade(a.port, &own, &ws_token), 101);
    assert_eq!(ws_upgrade(a.port, &own, "lct_wrong"), 401);

    // The operators' CLI, on the configured database.
    let config_a = dir.path().join("node-a").join("layercast.toml");
    cli(
        &config_a,
        &[
            "user",
            "add",
            "carl",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("carl-password-12\n"),
    );
    assert_eq!(login(b.port, "carl", "carl-password-12").status, 200);
    let cli_token = cli(
        &config_a,
        &[
            "token",
            "create",
            "--name",
            "ops",
            "--role",
            "admin",
            "--expires",
            "1d",
        ],
        None,
    );
    let cli_token = cli_token.trim();
    assert!(cli_token.starts_with("lct_"), "{cli_token}");
    assert_eq!(
        with_token(b.port, cli_token, "GET", "/api/users", None).status,
        200
    );

    // The audit log: who, from where, before and after.
    let audit = admin.get(b.port, "/api/audit").json();
    let entries = audit.as_array().expect("entries");
    let find = |action: &str, actor: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["actor"] == actor)
            .unwrap_or_else(|| panic!("no {action} by {actor} in {audit}"))
    };
    let vera_entry = find("user.create", "user:admin");
    assert_eq!(vera_entry["address"], "127.0.0.1");
    assert_eq!(vera_entry["after"]["name"], "vera");
    let revoked = find("token.revoke", "user:admin");
    assert_eq!(revoked["before"]["revoked"], false);
    assert_eq!(revoked["after"]["revoked"], true);
    find("user.create", "cli");
    find("token.create", "cli");
    find("user.create", "system");
    assert!(
        !audit.to_string().contains("password\":"),
        "no password in the audit log"
    );

    // schemathesis against the whole document on node B, as an admin: no 5xx, every answer
    // as the document says.
    let url = format!("http://127.0.0.1:{}/api/openapi.json", b.port);
    let report = dir.path().join("schemathesis");
    let out = Command::new(schemathesis())
        .args(["run", &url, "--header"])
        .arg(format!("Authorization: {}", bearer(&admin_token)))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples",
            "20",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--generation-with-security-parameters",
            "false",
            "--no-color",
            "--report-dir",
        ])
        .arg(&report)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): scripts/setup --test installs it", schemathesis()));
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Wrong passwords: after LOGIN_FAILURES, 429 with Retry-After, even for the right one.
    for _ in 0..LOGIN_FAILURES {
        refused(
            &login(a.port, "admin", "not-the-password"),
            401,
            "a wrong password",
        );
    }
    let throttled = login(a.port, "admin", &admin_password);
    refused(&throttled, 429, "a login after too many failures");
    let retry: u64 = throttled
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=300).contains(&retry), "{retry}");

    // No secret in the nodes' logs.
    for node in [&a, &b] {
        let log = std::fs::read_to_string(&node.proc.log).expect("log");
        for secret in [
            &viewer_token,
            &admin_token,
            &ws_token,
            cli_token,
            "vera-password-1",
            "carl-password-12",
        ] {
            assert!(!log.contains(secret), "{} logged a secret", node.proc.name);
        }
        let session_id = admin.cookie.split_once('=').map(|(_, v)| v).unwrap_or("");
        assert!(
            !log.contains(session_id),
            "{} logged a session id",
            node.proc.name
        );
    }
}
