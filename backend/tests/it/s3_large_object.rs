//! An object over 100 MB, read from moto with bounded memory: the node streams GetObject's body
//! through its parser and the producer, so its peak resident memory (`VmHWM`) grows by far
//! less than the object, and every record is stored. The objects are synthetic VPC flow logs
//! (AWS's fields up to v5, with the header line AWS writes), generated to files as a stream;
//! a 20-MB one is read first, so that the baseline holds what reading such objects takes
//! whatever their size.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use layercast::store::{Db, DbUrl};

use crate::s3_faults::{done_objects, node_config};
use crate::support::{
    assert_windows_exact, peak_rss_bytes, settle, stored_window_totals, wait_for, Broker, Node,
    S3Server, TestDb, S3_ENV,
};

const BUCKET: &str = "flow-logs";
const LEN_MS: i64 = 10_000;
/// The object's size at least.
const OBJECT_BYTES: u64 = 105 * 1_000_000;
/// The object read before it.
const WARM_UP_BYTES: u64 = 20 * 1_000_000;
/// What the node's peak memory may grow by while it reads the object: far less than the
/// object, which a reader holding it whole would add. With glibc's `malloc` it grew by about
/// 15 MB; with mimalloc (serve's allocator since 2026-12-07), which keeps freed pages for reuse
/// in each thread's heap, by 27 MB alone and 35 MB beside the rest of the suite, past the
/// 32 MiB this bound was before.
const MAX_GROWTH_BYTES: u64 = 48 * 1024 * 1024;
const ENTITIES: u64 = 50;
/// Flow starts, seconds since the epoch.
const BASE_SECS: i64 = 1_800_000_000;
/// AWS's fields up to v5, as the header line of a custom format names them.
const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
    packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type \
    pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service \
    pkt-dst-aws-service flow-direction traffic-path";

pub type Totals = BTreeMap<(String, String, i64), (i64, i64)>;

/// Writes VPC flow records to `path` until it holds `size` bytes; returns how many, and adds
/// the (events, bytes) they make per L3 window to `expected`. ICMP flows: one L3 measurement
/// each (no port, so no L4 one).
pub fn vpc_flow_file(path: &Path, size: u64, expected: &mut Totals) -> u64 {
    let file = std::fs::File::create(path).expect("create the object's file");
    let mut w = BufWriter::new(file);
    let mut written = 0_u64;
    let put = |w: &mut BufWriter<std::fs::File>, line: &str| {
        w.write_all(line.as_bytes()).expect("write");
        line.len() as u64
    };
    written += put(&mut w, &format!("{HEADER}\n"));
    let mut records = 0_u64;
    while written < size {
        let i = records;
        let eni = format!("eni-0{:016x}", i % ENTITIES);
        let start = BASE_SECS + (i as i64 * 7) % 3_600;
        let (packets, bytes) = (1 + i % 50, 64 + (i * 13) % 9_000);
        let line = format!(
            "5 123456789012 {eni} 10.0.{}.{} 10.1.{}.{} 0 0 1 {packets} {bytes} {start} {} ACCEPT OK \
             vpc-0a1b2c3d4e5f6a7b8 subnet-0a1b2c3d4e5f6a7b8 i-0a1b2c3d4e5f6a7b8 0 IPv4 10.0.{}.{} \
             10.1.{}.{} us-east-1 use1-az1 - - - - ingress 1\n",
            i % 250,
            (i / 250) % 250,
            (i / 7) % 250,
            i % 199,
            start + 60,
            i % 250,
            (i / 250) % 250,
            (i / 7) % 250,
            i % 199,
        );
        written += put(&mut w, &line);
        let e = expected
            .entry((
                "L3".into(),
                eni,
                (start * 1_000).div_euclid(LEN_MS) * LEN_MS,
            ))
            .or_default();
        e.0 += 1;
        e.1 += bytes as i64;
        records += 1;
    }
    w.flush().expect("flush");
    records
}

#[actix_web::test]
async fn an_object_over_100_mb_is_stored_whole_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let client = s3.client_with_bucket(BUCKET).await;
    // A smaller object of the same kind first, so that what reading such objects needs
    // whatever their size (clients, connections, the parser's buffers, the producer's queue
    // and the consumer's prefetch filled, the windows of these interfaces and hours) is in
    // the baseline: what grows after it grows with the object.
    let mut expected = Totals::new();
    let warm_up = dir.path().join("warm-up.log");
    vpc_flow_file(&warm_up, WARM_UP_BYTES, &mut expected);
    client
        .put_object()
        .bucket(BUCKET)
        .key("logs/000-warm-up.log")
        .body(ByteStream::from_path(&warm_up).await.expect("the file"))
        .send()
        .await
        .expect("put the warm-up object");

    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let sources = format!(
        "[[sources]]\nname = \"flows\"\nbucket = \"{BUCKET}\"\nprefix = \"logs/\"\nregion = \"us-east-1\"\n\
         endpoint = \"{}\"\npath_style = true\npoll_ms = 200\n",
        s3.endpoint
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
    wait_for("the warm-up object", Duration::from_secs(60), || {
        (done_objects(&db) == 1).then_some(())
    });
    settle(Duration::from_secs(20), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    let pid = node.proc.child.id();
    let before = peak_rss_bytes(pid).expect("the node's VmHWM");

    let path = dir.path().join("large.log");
    let records = vpc_flow_file(&path, OBJECT_BYTES, &mut expected);
    let size = std::fs::metadata(&path).expect("the file").len();
    client
        .put_object()
        .bucket(BUCKET)
        .key("logs/001-large.log")
        .body(ByteStream::from_path(&path).await.expect("the file"))
        .send()
        .await
        .expect("put the large object");
    let started = Instant::now();
    wait_for(
        "the large object to be done",
        Duration::from_secs(180),
        || (done_objects(&db) == 2).then_some(()),
    );
    let took = started.elapsed();
    settle(Duration::from_secs(30), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    assert_windows_exact(&expected, &stored_window_totals(&db, LEN_MS));
    let after = peak_rss_bytes(pid).expect("the node's VmHWM");
    let growth = after.saturating_sub(before);
    eprintln!(
        "{size} bytes, {records} records in {took:?}; the node's peak RSS {} MB before, {} MB after (+{} MB)",
        before / 1_000_000,
        after / 1_000_000,
        growth / 1_000_000
    );
    assert!(size > 100_000_000);
    assert!(
        growth < MAX_GROWTH_BYTES,
        "the node's peak RSS grew by {growth} bytes reading a {size}-byte object"
    );
}
