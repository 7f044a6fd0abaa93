//! S3 sources against a real S3-protocol server (moto) on loopback: objects under two prefixes
//! (two sources), some gzip, some with malformed lines, one large enough to be read across
//! several progress saves; two nodes share the sources, and the one reading the large object
//! is SIGKILLed mid-object. Every record must be stored exactly once, every object finished
//! once in the ledger, and a source whose bucket does not exist must say so in `/api/ingest`
//! without holding the others up.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use layercast::store::{Db, DbUrl};

use crate::support::{
    assert_windows_exact, gzip, http_get, ledger, settle, stored_window_totals, wait_for, Broker,
    Node, S3Server, TestDb, S3_ENV, S3_KEY_ID, S3_SECRET,
};

const PARTITIONS: i32 = 4;
const LEN_MS: i64 = 10_000;
const BUCKET: &str = "flow-logs";
/// Small objects per prefix, and their lines.
const SMALL: usize = 100;
const SMALL_LINES: u64 = 500;
/// The large object's lines: read across several of the readers' progress saves.
const LARGE_LINES: u64 = 200_000;
const LEASE_MS: u64 = 4_000;
const BASE_MS: i64 = 1_800_000_000_000;
const ENTITIES: u64 = 30;

type Key = (String, String, i64);

/// An object of NDJSON events numbered from `first`; every 40th object also has two
/// malformed lines. Adds its events to `expected`.
fn object(
    first: u64,
    lines: u64,
    malformed: bool,
    expected: &mut BTreeMap<Key, (i64, i64)>,
) -> Vec<u8> {
    let mut text = String::new();
    for i in first..first + lines {
        let entity = format!("eni-{}", i % ENTITIES);
        // Within ten minutes of event time, in any order across objects: the sources'
        // out-of-orderness (below) takes them all.
        let ts = BASE_MS + (i as i64 * 7) % 600_000;
        let bytes = 40 + i % 1_400;
        text.push_str(&format!(
            r#"{{"ts":{ts},"layer":"L3","entity":"{entity}","bytes":{bytes},"packets":1}}"#
        ));
        text.push('\n');
        let e = expected
            .entry(("L3".into(), entity, ts.div_euclid(LEN_MS) * LEN_MS))
            .or_default();
        e.0 += 1;
        e.1 += bytes as i64;
        if malformed && i == first + lines / 2 {
            text.push_str("{\"ts\": \"not a time\"}\nnot json at all\n");
        }
    }
    text.into_bytes()
}

#[actix_web::test]
async fn objects_of_two_prefixes_are_stored_exactly_once_through_a_reader_killed_mid_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let client = s3.client_with_bucket(BUCKET).await;

    let mut expected = BTreeMap::new();
    let mut first = 0;
    let mut put = Vec::new();
    // The large one first in key order: it is the first object a reader of prefix `a/` takes.
    put.push((
        "a/000-large.ndjson".to_owned(),
        object(first, LARGE_LINES, false, &mut expected),
    ));
    first += LARGE_LINES;
    for prefix in ["a", "b"] {
        for n in 1..=SMALL {
            let data = object(first, SMALL_LINES, n % 40 == 0, &mut expected);
            first += SMALL_LINES;
            let (name, body) = if n % 3 == 0 {
                (format!("{prefix}/{n:03}.ndjson.gz"), gzip(&data))
            } else {
                (format!("{prefix}/{n:03}.ndjson"), data)
            };
            put.push((name, body));
        }
    }
    let objects = put.len();
    for (key, body) in put {
        client
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }

    let broker = Broker::start_sqlite(dir.path());
    let database = TestDb::create();
    let id = std::process::id();
    let sources = |with: bool| {
        if !with {
            return String::new();
        }
        let mut text = String::new();
        for prefix in ["a", "b"] {
            text.push_str(&format!(
                "[[sources]]\nname = \"flows-{prefix}\"\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}/\"\nregion = \"us-east-1\"\n\
                 endpoint = \"{}\"\npath_style = true\npoll_ms = 200\n",
                s3.endpoint
            ));
        }
        text.push_str(&format!(
            "[[sources]]\nname = \"missing\"\nbucket = \"no-such-bucket\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\npath_style = true\n",
            s3.endpoint
        ));
        text
    };
    let config = |with_sources: bool| {
        format!(
            "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{id}\"\nupdates_topic = \"updates-{id}\"\n\
             layers_topic = \"layers-{id}\"\nlate_topic = \"late-{id}\"\ngroup_id = \"group-{id}\"\npartitions = {PARTITIONS}\n\
             [database]\nurl = \"{}\"\n\
             [windows]\nlength_secs = {}\nout_of_order_secs = 3600\nidle_timeout_secs = 86400\n\
             [ingest]\nclaim_lease_ms = {LEASE_MS}\n{}",
            broker.bootstrap,
            database.url,
            LEN_MS / 1000,
            sources(with_sources),
        )
    };
    let env = S3_ENV;
    // Node A leads the consumer group and reads no source: tansu 0.6 never drops a crashed
    // group leader (README, known limitations), so the reader killed must be another node.
    let a = Node::start("node-a", &config(false), dir.path());
    a.wait_healthy();
    wait_for("node A to own partitions", Duration::from_secs(60), || {
        (!a.partitions().is_empty()).then_some(())
    });
    let mut nodes = vec![
        Node::start_with_env("node-b", &config(true), dir.path(), &env),
        Node::start_with_env("node-c", &config(true), dir.path(), &env),
    ];
    for n in &nodes {
        n.wait_healthy();
    }

    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");
    let large = format!("s3://{BUCKET}/a/000-large.ndjson@");
    let (reader, acked) = wait_for(
        "a reader to save its progress in the large object",
        Duration::from_secs(120),
        || {
            ledger(&db)
                .into_iter()
                .find(|f| f.name.starts_with(&large) && f.status == "reading" && f.acked > 0)
                .map(|f| (f.node, f.acked))
        },
    );
    let killed = nodes
        .iter()
        .position(|n| n.proc.name == reader)
        .expect("the reader is B or C");
    nodes[killed].proc.kill();
    eprintln!(
        "{reader} killed with {acked} of {LARGE_LINES} events of the large object acknowledged"
    );

    wait_for(
        "every object to be finished",
        Duration::from_secs(240),
        || {
            let files = ledger(&db);
            (files.len() == objects && files.iter().all(|f| f.status == "done")).then_some(())
        },
    );
    settle(Duration::from_secs(60), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    assert_windows_exact(&expected, &stored_window_totals(&db, LEN_MS));

    let files = ledger(&db);
    let large_row = files
        .iter()
        .find(|f| f.name.starts_with(&large))
        .expect("the large object's row");
    assert_eq!(large_row.records, LARGE_LINES);
    assert_ne!(
        large_row.node, reader,
        "finished by the node that took it over"
    );
    let malformed: u64 = files.iter().map(|f| f.errors).sum();
    assert_eq!(
        malformed,
        2 * 2 * (SMALL as u64 / 40),
        "two malformed lines in every 40th object"
    );
    let records: u64 = files.iter().map(|f| f.records).sum();
    assert_eq!(records, LARGE_LINES + 2 * SMALL as u64 * SMALL_LINES);

    // The missing bucket: a clear error in the API of a node that reads it; the others went on.
    let survivor = &nodes[1 - killed];
    let (_, body) = http_get(survivor.port, "/api/ingest").expect("GET /api/ingest");
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    let missing = report["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "missing"))
        .unwrap_or_else(|| panic!("the missing source in {body}"));
    assert_eq!(missing["state"], "failing", "{body}");
    assert!(
        missing["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("NoSuchBucket")),
        "{body}"
    );
    let ok = report["sources"].as_array().map_or(0, |s| {
        s.iter()
            .filter(|s| s["kind"] == "s3" && s["state"] == "ok")
            .count()
    });
    assert_eq!(ok, 2, "{body}");
    // The inbox is listed among the sources too, since it is one.
    assert!(
        report["sources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["kind"] == "inbox")),
        "{body}"
    );
    assert!(!body.contains(S3_SECRET), "no secret in the API");
}

/// `layercast ingest --once` into a running deployment: every object of the prefix read once,
/// its records stored exactly; a second run reads nothing again.
#[actix_web::test]
async fn a_backfill_reads_a_prefix_once_into_a_running_deployment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let client = s3.client_with_bucket(BUCKET).await;
    let mut expected = BTreeMap::new();
    const OBJECTS: u64 = 30;
    for n in 0..OBJECTS {
        let data = object(n * SMALL_LINES, SMALL_LINES, false, &mut expected);
        let (key, body) = if n % 2 == 0 {
            (format!("old/{n:03}.ndjson.gz"), gzip(&data))
        } else {
            (format!("old/{n:03}.ndjson"), data)
        };
        client
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object");
    }
    // Not under the prefix: not read.
    client
        .put_object()
        .bucket(BUCKET)
        .key("new/000.ndjson")
        .body(ByteStream::from(object(
            1_000_000,
            10,
            false,
            &mut BTreeMap::new(),
        )))
        .send()
        .await
        .expect("put object");

    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let id = std::process::id();
    let config = format!(
        "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{id}\"\nupdates_topic = \"updates-{id}\"\n\
         layers_topic = \"layers-{id}\"\nlate_topic = \"late-{id}\"\ngroup_id = \"group-{id}\"\npartitions = {PARTITIONS}\n\
         [database]\nurl = \"{}\"\n[windows]\nlength_secs = {}\nout_of_order_secs = 3600\nidle_timeout_secs = 86400\n",
        broker.bootstrap,
        database.url,
        LEN_MS / 1000,
    );
    let node = Node::start("node-a", &config, dir.path());
    node.wait_healthy();
    let config_file = dir.path().join("ingest.toml");
    std::fs::write(&config_file, &config).expect("config");
    let ingest = |once: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_layercast"));
        command
            .arg("ingest")
            .arg("--config")
            .arg(&config_file)
            .args([
                "--source",
                &format!("s3://{BUCKET}/old/"),
                "--endpoint",
                &s3.endpoint,
                "--region",
                "us-east-1",
                "--path-style",
            ])
            .env("AWS_ACCESS_KEY_ID", S3_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .env("RUST_LOG", "warn");
        if once {
            command.arg("--once");
        }
        let out = command.output().expect("run layercast ingest");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stderr) = ingest(false);
    assert!(!ok && stderr.contains("pass --once"), "{stderr}");
    let (ok, stderr) = ingest(true);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("{OBJECTS} objects read")),
        "{stderr}"
    );

    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");
    settle(Duration::from_secs(60), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    assert_eq!(
        stored_window_totals(&db, LEN_MS),
        expected,
        "every record of the prefix stored once"
    );
    let files = ledger(&db);
    assert_eq!(files.len(), OBJECTS as usize);
    assert!(
        files
            .iter()
            .all(|f| f.status == "done" && f.records == SMALL_LINES),
        "{files:?}"
    );

    let (ok, stderr) = ingest(true);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("0 objects read") && stderr.contains(&format!("{OBJECTS} read before")),
        "{stderr}"
    );
    // It published nothing: the ledger had every object done.
    assert_eq!(
        stored_window_totals(&db, LEN_MS),
        expected,
        "nothing counted twice"
    );
}
