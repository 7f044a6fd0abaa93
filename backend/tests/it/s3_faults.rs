//! S3 sources through faults, against moto on loopback. The store goes away for 20 s (a TCP
//! proxy of the test's own between the node and moto is cut, so no process dies): the source
//! shows `failing` with the error in `/api/ingest` meanwhile, retries with a backoff, and once
//! the proxy is back every record is stored exactly once without anyone doing anything. A
//! source whose store refuses the node's credentials fails with a clear error in the log and
//! the API, while the other source goes on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use layercast::store::{Db, DbUrl};

use crate::support::{
    assert_windows_exact, http_get, ingest_source, settle, stored_window_totals, wait_for, Broker,
    Node, S3Server, TcpProxy, TestDb, S3_ENV, S3_SECRET,
};

const PARTITIONS: i32 = 2;
const LEN_MS: i64 = 10_000;
const BUCKET: &str = "flow-logs";
/// Objects before the outage and during it, and their lines.
const BEFORE: u64 = 10;
const DURING: u64 = 10;
const LINES: u64 = 1_000;
/// How long the store is away.
const OUTAGE: Duration = Duration::from_secs(20);
const POLL_MS: u64 = 200;
const BASE_MS: i64 = 1_800_000_000_000;
const ENTITIES: u64 = 20;

pub type Key = (String, String, i64);

/// An object of NDJSON events numbered from `first`; adds them to `expected`.
pub fn ndjson_object(first: u64, lines: u64, expected: &mut BTreeMap<Key, (i64, i64)>) -> Vec<u8> {
    let mut text = String::new();
    for i in first..first + lines {
        let entity = format!("eni-{}", i % ENTITIES);
        let ts = BASE_MS + (i as i64 * 7) % 600_000;
        let bytes = 40 + i % 1_400;
        text.push_str(&format!(
            "{{\"ts\":{ts},\"layer\":\"L3\",\"entity\":\"{entity}\",\"bytes\":{bytes},\"packets\":1}}\n"
        ));
        let e = expected
            .entry(("L3".into(), entity, ts.div_euclid(LEN_MS) * LEN_MS))
            .or_default();
        e.0 += 1;
        e.1 += bytes as i64;
    }
    text.into_bytes()
}

/// Settings of a node on `broker` and `database` with the given `[[sources]]`.
pub fn node_config(broker: &Broker, database: &TestDb, sources: &str) -> String {
    let id = std::process::id();
    format!(
        "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{id}\"\nupdates_topic = \"updates-{id}\"\n\
         layers_topic = \"layers-{id}\"\nlate_topic = \"late-{id}\"\ngroup_id = \"group-{id}\"\npartitions = {PARTITIONS}\n\
         [database]\nurl = \"{}\"\n\
         [windows]\nlength_secs = {}\nout_of_order_secs = 3600\nidle_timeout_secs = 86400\n{sources}",
        broker.bootstrap,
        database.url,
        LEN_MS / 1000,
    )
}

/// Objects of the ledger that are done.
pub fn done_objects(db: &Db) -> usize {
    db.conn()
        .ok()
        .and_then(|mut conn| layercast::store::ingest::report(&mut conn, 0).ok())
        .map_or(0, |r| r.files.iter().filter(|f| f.status == "done").count())
}

async fn put(client: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e}"));
}

#[actix_web::test]
async fn a_store_away_for_20_s_and_wrong_credentials_are_shown_retried_and_survived() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let locked = S3Server::start_checking_credentials(dir.path());
    let client = s3.client_with_bucket(BUCKET).await;
    let mut expected = BTreeMap::new();
    for n in 0..BEFORE {
        let body = ndjson_object(n * LINES, LINES, &mut expected);
        put(&client, &format!("logs/{n:03}.ndjson"), body).await;
    }

    let proxy = TcpProxy::start(s3.port);
    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let sources = format!(
        "[[sources]]\nname = \"flows\"\nbucket = \"{BUCKET}\"\nprefix = \"logs/\"\nregion = \"us-east-1\"\n\
         endpoint = \"http://127.0.0.1:{}\"\npath_style = true\npoll_ms = {POLL_MS}\n\
         [[sources]]\nname = \"locked\"\nbucket = \"{BUCKET}\"\nregion = \"us-east-1\"\n\
         endpoint = \"{}\"\npath_style = true\npoll_ms = {POLL_MS}\n",
        proxy.port, locked.endpoint
    );
    let env = S3_ENV;
    let node = Node::start_with_env(
        "node-a",
        &node_config(&broker, &database, &sources),
        dir.path(),
        &env,
    );
    node.wait_healthy();
    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");
    wait_for(
        "the objects before the outage to be done",
        Duration::from_secs(60),
        || (done_objects(&db) == BEFORE as usize).then_some(()),
    );

    proxy.cut();
    let cut_at = Instant::now();
    // Written while the node cannot reach the store: found once it can.
    for n in BEFORE..BEFORE + DURING {
        let body = ndjson_object(n * LINES, LINES, &mut expected);
        put(&client, &format!("logs/{n:03}.ndjson"), body).await;
    }
    let error = wait_for(
        "the source to show failing",
        Duration::from_secs(30),
        || {
            let source = ingest_source(node.port, "flows")?;
            (source["state"] == "failing")
                .then(|| source["last_error"].as_str().map(str::to_owned))
                .flatten()
        },
    );
    eprintln!("while the store is away, /api/ingest says: {error}");
    assert!(!error.is_empty());
    std::thread::sleep(OUTAGE.saturating_sub(cut_at.elapsed()));
    let log = node.proc.log_text();
    let tries = log
        .lines()
        .filter(|l| l.contains("cannot list the bucket") && l.contains("source=flows"))
        .count();
    // Every 200 ms without a backoff: about 100 in 20 s; doubling from 200 ms: about 7.
    assert!(
        (2..=15).contains(&tries),
        "{tries} tries in {OUTAGE:?}: a backoff"
    );
    proxy.restore();
    let restored_at = Instant::now();

    wait_for(
        "every object to be done after the outage",
        Duration::from_secs(90),
        || (done_objects(&db) == (BEFORE + DURING) as usize).then_some(()),
    );
    eprintln!(
        "every object done {:?} after the store came back",
        restored_at.elapsed()
    );
    settle(Duration::from_secs(30), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    assert_windows_exact(&expected, &stored_window_totals(&db, LEN_MS));
    let flows = wait_for("the source to be ok again", Duration::from_secs(30), || {
        ingest_source(node.port, "flows").filter(|s| s["state"] == "ok")
    });
    assert_eq!(flows["objects"]["done"], BEFORE + DURING, "{flows}");
    assert_eq!(flows["records_total"], (BEFORE + DURING) * LINES, "{flows}");
    assert!(flows["last_error"].is_null(), "{flows}");

    // Wrong credentials: a clear error in the API and the log, the secret in neither.
    let locked_status = ingest_source(node.port, "locked").expect("the locked source");
    assert_eq!(locked_status["state"], "failing", "{locked_status}");
    let locked_error = locked_status["last_error"].as_str().unwrap_or_default();
    assert!(
        locked_error.contains("InvalidAccessKeyId"),
        "{locked_status}"
    );
    let log = node.proc.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("source=locked") && l.contains("InvalidAccessKeyId")),
        "the log names the source and the error"
    );
    let (_, body) = http_get(node.port, "/api/ingest").expect("GET /api/ingest");
    assert!(!body.contains(S3_SECRET), "no secret in the API");
    assert!(!log.contains(S3_SECRET), "no secret in the log");
}
