//! A node SIGKILLed while it reads a file of a shared inbox loses nothing and doubles nothing:
//! another node takes the file over once the dead node's claim runs out, resumes after the
//! records the broker had acknowledged, and the partitions drop the copies of records that
//! were on the topic already. Every stored window must hold exactly the file's totals.

use std::collections::BTreeMap;
use std::time::Duration;

use layercast::store::{Db, DbUrl};

use crate::support::{
    assert_windows_exact, http_get, settle, stored_window_totals, wait_for, Broker, Node, TestDb,
    LOADED_GROUP_TIMEOUT_MS,
};

const PARTITIONS: i32 = 4;
const LEN_MS: i64 = 10_000;
/// Lines of the file: enough that its reading takes several of the readers' progress saves.
const LINES: u64 = 300_000;
const ENTITIES: u64 = 40;
const BASE_MS: i64 = 1_800_000_000_000;
/// The claim's lease: renewed every quarter of it, taken over this long after the last renewal.
const LEASE_MS: u64 = 4_000;
const FILE: &str = "flows-0001.ndjson";

type Key = (String, String, i64);

fn line(i: u64) -> (String, Key, u64) {
    let layer = if i.is_multiple_of(3) { "L4" } else { "L3" };
    let entity = format!("link-{}", i % ENTITIES);
    // 100 records per second of event time, in order: windows close as the file goes on.
    let ts = BASE_MS + (i as i64) * 10;
    let bytes = 100 + i % 900;
    let text = format!(
        r#"{{"ts":{ts},"layer":"{layer}","entity":"{entity}","bytes":{bytes},"packets":1}}"#
    );
    let start = ts.div_euclid(LEN_MS) * LEN_MS;
    (text, (layer.to_owned(), entity, start), bytes)
}

/// The file, and per window its (events, bytes).
fn file() -> (String, BTreeMap<Key, (i64, i64)>) {
    let mut text = String::new();
    let mut expected: BTreeMap<Key, (i64, i64)> = BTreeMap::new();
    for i in 0..LINES {
        let (l, key, bytes) = line(i);
        text.push_str(&l);
        text.push('\n');
        let e = expected.entry(key).or_default();
        e.0 += 1;
        e.1 += bytes as i64;
    }
    (text, expected)
}

/// The file's ledger row: (status, node, acked).
fn ledger(db: &Db) -> Option<(String, String, u64)> {
    let mut conn = db.conn().ok()?;
    let report = layercast::store::ingest::report(&mut conn, 0).ok()?;
    let row = report.files.into_iter().find(|f| f.name == FILE)?;
    Some((row.status, row.node, row.acked))
}

fn duplicates_dropped(node: &Node) -> f64 {
    http_get(node.port, "/metrics")
        .and_then(|(_, body)| {
            body.lines()
                .find(|l| l.starts_with("layercast_duplicate_records_total "))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0.0)
}

#[actix_web::test]
async fn a_file_whose_reader_is_killed_is_finished_by_another_node_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    // SQLite storage: a node taking a partition over fetches from inside the batches the
    // inbox's producer writes (tansu's memory engine cannot).
    let broker = Broker::start_sqlite(dir.path());
    let database = TestDb::create();
    let id = std::process::id();
    let shared_inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&shared_inbox).expect("inbox");
    let config = |inbox: &std::path::Path| {
        format!(
            "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{id}\"\nupdates_topic = \"updates-{id}\"\n\
             layers_topic = \"layers-{id}\"\nlate_topic = \"late-{id}\"\ngroup_id = \"group-{id}\"\npartitions = {PARTITIONS}\n\
             session_timeout_ms = {LOADED_GROUP_TIMEOUT_MS}\nrebalance_timeout_ms = {LOADED_GROUP_TIMEOUT_MS}\n\
             [database]\nurl = \"{}\"\n\
             [windows]\nlength_secs = {}\nidle_timeout_secs = 86400\n\
             [ingest]\ninbox = \"{}\"\npoll_ms = 100\nclaim_lease_ms = {LEASE_MS}\n",
            broker.bootstrap,
            database.url,
            LEN_MS / 1000,
            inbox.display(),
        )
    };
    // Node A leads the consumer group and watches an inbox of its own: tansu 0.6 never drops
    // a crashed group leader (README, known limitations), so the reader killed must be another
    // node. B and C share the inbox.
    let a = Node::start("node-a", &config(&dir.path().join("inbox-a")), dir.path());
    a.wait_healthy();
    wait_for("node A to own partitions", Duration::from_secs(60), || {
        (!a.partitions().is_empty()).then_some(())
    });
    let mut nodes = vec![
        Node::start("node-b", &config(&shared_inbox), dir.path()),
        Node::start("node-c", &config(&shared_inbox), dir.path()),
    ];
    for n in &nodes {
        n.wait_healthy();
    }
    wait_for(
        "three nodes to share the partitions",
        Duration::from_secs(90),
        || {
            let owned = [a.partitions(), nodes[0].partitions(), nodes[1].partitions()];
            (owned.iter().all(|o| !o.is_empty())
                && owned.iter().map(Vec::len).sum::<usize>() == PARTITIONS as usize)
                .then_some(())
        },
    );

    let (text, expected) = file();
    let tmp = shared_inbox.join(format!(".{FILE}.tmp"));
    std::fs::write(&tmp, text).expect("write the file");
    std::fs::rename(&tmp, shared_inbox.join(FILE)).expect("rename");

    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");
    // Mid-file: the broker has acknowledged part of it, and the reader has saved that.
    let (reader, acked) = wait_for(
        "the reader to save its progress",
        Duration::from_secs(120),
        || match ledger(&db)? {
            (status, node, acked) if status == "reading" && acked > 0 => Some((node, acked)),
            _ => None,
        },
    );
    let killed = nodes
        .iter()
        .position(|n| n.proc.name == reader)
        .expect("the reader is B or C");
    nodes[killed].proc.kill();
    eprintln!("{reader} killed with {acked} of {LINES} records acknowledged");

    let (status, finisher, _) = wait_for(
        "another node to finish the file",
        Duration::from_secs(180),
        || ledger(&db).filter(|(status, ..)| status == "done"),
    );
    assert_eq!(status, "done");
    assert_ne!(
        finisher, reader,
        "the file was finished by a node that took it over"
    );
    // The killed node comes back: it finds the file done and reads nothing of it again.
    let name = reader.clone();
    nodes[killed] = Node::start(&name, &config(&shared_inbox), dir.path());
    nodes[killed].wait_healthy();

    // Generous: with the rest of the suite on the same two cores, the restarted node's
    // rejoining can hold a partition in rebalance (tansu) for a while before its last windows
    // are saved; it returns as soon as they are.
    settle(Duration::from_secs(180), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    assert_windows_exact(&expected, &stored_window_totals(&db, LEN_MS));

    let (_, body) = http_get(a.port, "/api/ingest").expect("GET /api/ingest");
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    let row = report["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["name"] == FILE))
        .unwrap_or_else(|| panic!("{FILE} in {body}"));
    assert_eq!(row["records"].as_u64(), Some(LINES), "{body}");
    assert_eq!(row["status"], "done");
    let dropped: f64 = std::iter::once(&a)
        .chain(nodes.iter())
        .map(duplicates_dropped)
        .sum();
    eprintln!("copies dropped by the partitions: {dropped}");
}
