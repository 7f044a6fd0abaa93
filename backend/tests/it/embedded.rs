//! Embedded mode as a user starts it: no configuration, files dropped into the inbox.

use std::time::Duration;

use crate::support::{http_get, wait_for, Node};

#[test]
fn a_dropped_file_is_counted_and_its_malformed_lines_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = Node::start("embedded", "", dir.path());
    node.wait_healthy();

    let ts = 1_790_000_003_000_i64; // inside the window [1_790_000_000_000, +10 s)
    let mut lines: Vec<String> = (0..30)
        .map(|i| format!(r#"{{"ts":{ts},"layer":"L4","entity":"10.0.0.{i}:443","bytes":10}}"#))
        .collect();
    lines.insert(10, "{\"ts\":1,\"layer\":\"L4\"".into()); // truncated JSON, line 11
    lines.push(r#"{"ts":1,"layer":"L8","entity":"x"}"#.into()); // no such layer, line 32
    let inbox = dir.path().join("embedded").join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    std::fs::write(inbox.join(".drop.tmp"), lines.join("\n")).expect("write");
    std::fs::rename(inbox.join(".drop.tmp"), inbox.join("drop.ndjson")).expect("rename");

    let windows = wait_for("the events to be stored", Duration::from_secs(60), || {
        let (_, body) = http_get(
            node.port,
            "/api/windows?layer=L4&from=1790000000000&to=1790000010000",
        )?;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
        let events: u64 = rows.iter().filter_map(|r| r["events"].as_u64()).sum();
        (events == 30).then_some(rows)
    });
    assert_eq!(windows.len(), 30, "one row per entity");
    assert!(windows.iter().all(|r| r["bytes"] == 10));

    let (status, body) = http_get(node.port, "/api/ingest").expect("ingest report");
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["records_total"], 30);
    assert_eq!(report["errors_total"], 2);
    let lines: Vec<u64> = report["error_samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter_map(|s| s["line"].as_u64())
        .collect();
    assert_eq!(
        lines
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [11, 32].into()
    );

    // What an operator's Prometheus scrapes: the events taken, the inbox's counts, the batch
    // writes, and per partition the durable offset and the consumer's lag (from librdkafka's
    // statistics, once a second).
    let metrics = wait_for(
        "the metrics to show the file",
        Duration::from_secs(30),
        || {
            let (status, body) = http_get(node.port, "/metrics")?;
            (status == 200
                && body.contains("layercast_events_total 30\n")
                && body.contains("layercast_consumer_lag{partition=\"")
                && body.contains("layercast_durable_offset{partition=\""))
            .then_some(body)
        },
    );
    assert!(
        metrics.contains("layercast_inbox_files_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("layercast_inbox_events_total 30\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("layercast_inbox_malformed_lines_total 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("layercast_malformed_records_total 0\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("layercast_db_batch_seconds_count 0\n"),
        "{metrics}"
    );
    // Without asking for OpenMetrics: the Prometheus text format, whose counters' HELP and
    // TYPE name their samples (as `promtool check metrics` wants).
    assert!(
        metrics.contains("# TYPE layercast_events_total counter\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("# EOF"), "{metrics}");
    // Prometheus asks for OpenMetrics and gets it.
    let open = crate::support::http(
        node.port,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
        None,
    );
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    assert!(open.body.contains("# TYPE layercast_events counter\n"));

    // Every partition, who made it durable and how far behind the log it is: all 30 events
    // durable, nothing left behind.
    let partitions = wait_for(
        "every partition durable up to its log end",
        Duration::from_secs(30),
        || {
            let (_, body) = http_get(node.port, "/api/partitions")?;
            let rows: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
            rows.iter().all(|p| p["lag"] == 0).then_some(rows)
        },
    );
    assert!(!partitions.is_empty());
    let durable: i64 = partitions
        .iter()
        .filter_map(|p| p["durable_offset"].as_i64())
        .sum();
    let log_end: i64 = partitions
        .iter()
        .filter_map(|p| p["log_end_offset"].as_i64())
        .sum();
    assert_eq!((durable, log_end), (30, 30), "{partitions:?}");
    for p in partitions
        .iter()
        .filter(|p| p["durable_offset"].as_i64() > Some(0))
    {
        assert_eq!(p["owner"], "embedded", "{p}");
        assert_eq!(p["owned_here"], true, "{p}");
    }

    // A real format, gzip-compressed: VPC flow logs (v2), one accepted and one rejected flow.
    let flows = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1790000001 1790000005 ACCEPT OK\n\
                 2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 1 40 1790000002 1790000006 REJECT OK\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, flows.as_bytes()).expect("gzip");
    std::fs::write(inbox.join(".flows.tmp"), gz.finish().expect("gzip")).expect("write");
    std::fs::rename(inbox.join(".flows.tmp"), inbox.join("flows.log.gz")).expect("rename");
    let l3 = wait_for(
        "the flow-log bytes to be stored",
        Duration::from_secs(60),
        || {
            let (_, body) = http_get(
                node.port,
                "/api/windows?layer=L3&from=1790000000000&to=1790000010000",
            )?;
            let rows: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
            (!rows.is_empty()).then_some(rows)
        },
    );
    assert_eq!(l3.len(), 1, "one interface");
    assert_eq!(l3[0]["entity"], "eni-1235b8ca123456789");
    assert_eq!(
        (l3[0]["events"].as_u64(), l3[0]["bytes"].as_u64()),
        (Some(2), Some(4289))
    );

    let (status, body) = http_get(node.port, "/api/windows?layer=L8").expect("bad request");
    assert_eq!(status, 400);
    assert!(body.contains("\"error\""), "{body}");

    // The same records in the 1-minute roll-up, with every aggregate of a window.
    let minute = wait_for("the 1-minute roll-up", Duration::from_secs(30), || {
        let (_, body) = http_get(
            node.port,
            "/api/windows?layer=L3&len=1m&from=1789999980000&to=1790000040000",
        )?;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
        (!rows.is_empty()).then_some(rows)
    });
    assert_eq!(
        (minute[0]["start_ms"].as_i64(), minute[0]["end_ms"].as_i64()),
        (Some(1_789_999_980_000), Some(1_790_000_040_000))
    );
    assert_eq!(
        (
            minute[0]["events"].as_u64(),
            minute[0]["bytes_min"].as_u64(),
            minute[0]["bytes_max"].as_u64()
        ),
        (Some(2), Some(40), Some(4249))
    );
    assert_eq!(
        minute[0]["final"], false,
        "the watermark is far from passing it: provisional"
    );
    let (status, body) = http_get(node.port, "/api/windows?len=7m").expect("bad length");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("10s, 60s, 3600s"),
        "names the lengths stored: {body}"
    );
    let (status, body) = http_get(node.port, "/api/late").expect("late");
    assert_eq!((status, body.as_str()), (200, r#"{"total":0,"series":[]}"#));
    let (status, body) = http_get(node.port, "/api/anomalies").expect("anomalies");
    assert_eq!((status, body.as_str()), (200, "[]"));
}

/// Flow logs come minutes after the counters of the same time: with their own allowed
/// out-of-orderness (`windows.sources.vpc-flow`) their records count, where the counters'
/// 5 seconds alone would have dropped them as late.
#[test]
fn a_source_with_its_own_out_of_orderness_is_not_dropped_as_late() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = "[windows]\nout_of_order_secs = 5\ngrace_secs = 1\n[windows.sources.vpc-flow]\nout_of_order_secs = 900\n";
    let node = Node::start("embedded", config, dir.path());
    node.wait_healthy();
    let inbox = dir.path().join("embedded").join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let drop_file = |name: &str, text: &str| {
        std::fs::write(inbox.join(".tmp"), text).expect("write");
        std::fs::rename(inbox.join(".tmp"), inbox.join(name)).expect("rename");
    };

    // Ten minutes of counters first, on every partition.
    let counters: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"ts":{},"layer":"L4","entity":"10.0.0.{i}:443","bytes":10}}"#,
                1_790_000_600_000_i64
            )
        })
        .collect();
    drop_file("counters.ndjson", &counters.join("\n"));
    wait_for("the counters to be taken", Duration::from_secs(60), || {
        let (_, body) = http_get(node.port, "/metrics")?;
        body.contains("layercast_events_total 64\n").then_some(())
    });
    // Then the flow logs of ten minutes before.
    drop_file(
        "flows.log",
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1790000001 1790000005 ACCEPT OK\n",
    );
    let l3 = wait_for(
        "the flow-log bytes to be stored",
        Duration::from_secs(60),
        || {
            let (_, body) = http_get(
                node.port,
                "/api/windows?layer=L3&from=1790000000000&to=1790000010000",
            )?;
            let rows: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
            (!rows.is_empty()).then_some(rows)
        },
    );
    assert_eq!(
        (l3[0]["events"].as_u64(), l3[0]["bytes"].as_u64()),
        (Some(1), Some(4249))
    );
    let (status, body) = http_get(node.port, "/api/late").expect("late");
    assert_eq!((status, body.as_str()), (200, r#"{"total":0,"series":[]}"#));
}
