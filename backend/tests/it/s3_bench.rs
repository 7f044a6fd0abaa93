//! The S3 ingest benchmark (ignored in `cargo test`; `scripts/bench` runs it in release, see
//! `LAYERCAST_BENCH_S3`): the rate from moto's S3 server on loopback into durable windows, in
//! MB of objects and records per second, for plain and gzip objects of the same records, each
//! against the raw GetObject rate of the same objects (read to their end, one at a time as a
//! source reads them) as its ceiling, in one run.
//!
//! The time runs from the first object claimed to the stored windows holding every record.
//! Partition actors save open windows every 5 s, so a run should last well over that.
//!
//! Settings: `LAYERCAST_BENCH_S3_MB` (MB of plain objects, default 256) and
//! `LAYERCAST_BENCH_S3_OBJECTS` (how many, default 8).

use std::io::{BufReader, BufWriter};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use diesel::prelude::*;
use layercast::store::{Db, DbUrl};

use crate::s3_faults::node_config;
use crate::s3_large_object::{vpc_flow_file, Totals};
use crate::support::{wait_for, Broker, Node, S3Server, TestDb, S3_KEY_ID, S3_SECRET};

const BUCKET: &str = "bench";
const LEN_MS: i64 = 10_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    events: i64,
}

/// Events in the stored base windows: one query, light enough to ask every 100 ms.
fn stored_events(conn: &mut MysqlConnection) -> i64 {
    diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(events), 0) AS SIGNED) AS events FROM windows WHERE window_len_ms = ?",
    )
    .bind::<diesel::sql_types::BigInt, _>(LEN_MS)
    .get_result::<Sum>(conn)
    .map_or(0, |s| s.events)
}

/// Reads every object under `prefix` to its end, one at a time: bytes per second.
async fn get_object_rate(client: &aws_sdk_s3::Client, keys: &[String]) -> (u64, Duration) {
    let started = Instant::now();
    let mut bytes = 0;
    for key in keys {
        let mut body = client
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .expect("get object")
            .body;
        while let Some(chunk) = body.try_next().await.expect("read the body") {
            bytes += chunk.len() as u64;
        }
    }
    (bytes, started.elapsed())
}

/// One run: a node reading `prefix` into a fresh broker and database, timed from the first
/// claim to the windows holding `records` events.
async fn ingest_rate(dir: &std::path::Path, s3: &S3Server, prefix: &str, records: u64) -> Duration {
    let broker = Broker::start(dir);
    let database = TestDb::create();
    let sources = format!(
        "[[sources]]\nname = \"bench\"\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\nregion = \"us-east-1\"\n\
         endpoint = \"{}\"\npath_style = true\npoll_ms = 100\n",
        s3.endpoint
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        ("RUST_LOG", "warn"),
    ];
    let node = Node::start_with_env(
        &format!("bench-{}", prefix.trim_end_matches('/')),
        &node_config(&broker, &database, &sources),
        dir,
        &env,
    );
    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");
    let ledger_rows = || {
        db.conn()
            .ok()
            .and_then(|mut conn| layercast::store::ingest::report(&mut conn, 0).ok())
            .map_or(0, |r| r.files.len())
    };
    wait_for("the first claim", Duration::from_secs(120), || {
        (ledger_rows() > 0).then_some(())
    });
    let started = Instant::now();
    let mut conn = MysqlConnection::establish(&database.url).expect("the test database");
    wait_for(
        "every record in the stored windows",
        Duration::from_secs(1_800),
        || (stored_events(&mut conn) >= i64::try_from(records).unwrap_or(i64::MAX)).then_some(()),
    );
    let took = started.elapsed();
    assert_eq!(
        stored_events(&mut conn),
        i64::try_from(records).unwrap_or(i64::MAX),
        "every record once"
    );
    drop(node);
    took
}

#[actix_web::test]
#[ignore = "a benchmark: scripts/bench runs it in release (LAYERCAST_BENCH_S3)"]
async fn s3_ingest_rate() {
    let total_mb = env_u64("LAYERCAST_BENCH_S3_MB", 256);
    let objects = env_u64("LAYERCAST_BENCH_S3_OBJECTS", 8).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let client = s3.client_with_bucket(BUCKET).await;
    let mut records = 0;
    let (mut plain_bytes, mut gzip_bytes) = (0, 0);
    let (mut plain_keys, mut gzip_keys) = (Vec::new(), Vec::new());
    for n in 0..objects {
        let path = dir.path().join(format!("{n:03}.log"));
        records += vpc_flow_file(&path, total_mb * 1_000_000 / objects, &mut Totals::new());
        let gz = dir.path().join(format!("{n:03}.log.gz"));
        {
            let mut input = BufReader::new(std::fs::File::open(&path).expect("the file"));
            let mut enc = flate2::write::GzEncoder::new(
                BufWriter::new(std::fs::File::create(&gz).expect("gz file")),
                flate2::Compression::default(),
            );
            std::io::copy(&mut input, &mut enc).expect("compress");
            enc.finish().expect("finish");
        }
        for (file, key, keys, bytes) in [
            (
                &path,
                format!("plain/{n:03}.log"),
                &mut plain_keys,
                &mut plain_bytes,
            ),
            (
                &gz,
                format!("gzip/{n:03}.log.gz"),
                &mut gzip_keys,
                &mut gzip_bytes,
            ),
        ] {
            *bytes += std::fs::metadata(file).expect("size").len();
            client
                .put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from_path(file).await.expect("the file"))
                .send()
                .await
                .expect("put object");
            keys.push(key);
        }
        std::fs::remove_file(&path).ok();
        std::fs::remove_file(&gz).ok();
    }
    let mb = |bytes: u64, took: Duration| bytes as f64 / 1e6 / took.as_secs_f64();
    println!(
        "s3_bench: {objects} objects, {records} records, plain {:.1} MB, gzip {:.1} MB",
        plain_bytes as f64 / 1e6,
        gzip_bytes as f64 / 1e6
    );
    for (name, prefix, keys, bytes) in [
        ("plain", "plain/", &plain_keys, plain_bytes),
        ("gzip", "gzip/", &gzip_keys, gzip_bytes),
    ] {
        let (read, get_took) = get_object_rate(&client, keys).await;
        assert_eq!(read, bytes);
        let took = ingest_rate(dir.path(), &s3, prefix, records).await;
        let (ceiling, rate) = (mb(bytes, get_took), mb(bytes, took));
        println!(
            "s3_bench {name}: getobject_mb_per_s={ceiling:.1} ingest_mb_per_s={rate:.1} \
             ingest_records_per_s={:.0} ingest_secs={:.1} of_ceiling={:.3}",
            records as f64 / took.as_secs_f64(),
            took.as_secs_f64(),
            rate / ceiling
        );
    }
}
