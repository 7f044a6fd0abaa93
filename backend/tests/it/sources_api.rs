//! `/api/sources`: an admin adds an S3 source through the API while a node runs; the node
//! reads its objects, picks up a change, and stops when it is removed. Invalid sources get a
//! 400 naming the field; every change is in the audit log.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use layercast::store::{windows, Db, DbUrl};
use serde_json::{json, Value};

use crate::support::{http, wait_for, Broker, Node, S3Server, TestDb, S3_ENV};

const BUCKET: &str = "api-logs";
const OBJECTS: u64 = 8;
const LINES: u64 = 250;

fn ndjson(first: u64) -> Vec<u8> {
    (first..first + LINES)
        .map(|i| {
            format!(
                "{{\"ts\":{},\"layer\":\"L4\",\"entity\":\"svc-{}\",\"bytes\":100}}\n",
                1_800_000_000_000_i64 + i as i64 * 10,
                i % 5
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn sources_on_board(port: u16) -> Vec<String> {
    let answer = http(port, "GET", "/api/ingest", &[], None);
    answer.json()["sources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn an_admin_adds_changes_and_removes_a_source_while_the_node_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let client = s3.client_with_bucket(BUCKET).await;
    for n in 0..OBJECTS {
        client
            .put_object()
            .bucket(BUCKET)
            .key(format!("flows/{n:03}.ndjson"))
            .body(ByteStream::from(ndjson(n * LINES)))
            .send()
            .await
            .expect("put object");
    }
    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let id = std::process::id();
    let config = format!(
        "[kafka]\nbrokers = \"{}\"\nevents_topic = \"events-{id}\"\nupdates_topic = \"updates-{id}\"\n\
         layers_topic = \"layers-{id}\"\nlate_topic = \"late-{id}\"\ngroup_id = \"group-{id}\"\npartitions = 2\n\
         [database]\nurl = \"{}\"\n[windows]\nout_of_order_secs = 3600\nidle_timeout_secs = 86400\n",
        broker.bootstrap, database.url
    );
    let env = S3_ENV;
    let node = Node::start_with_env("node-a", &config, dir.path(), &env);
    node.wait_healthy();
    let password = std::fs::read_to_string(dir.path().join("node-a/initial-admin-password"))
        .expect("the first admin's password");
    let login = http(
        node.port,
        "POST",
        "/api/login",
        &[],
        Some(&json!({"name": "admin", "password": password.trim()}).to_string()),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let csrf = login.json()["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();
    let put = |body: &Value| {
        http(
            node.port,
            "PUT",
            "/api/sources/api-flows",
            &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
            Some(&body.to_string()),
        )
    };
    let mut source = json!({
        "name": "api-flows", "bucket": BUCKET, "prefix": "flows/", "region": "us-east-1",
        "endpoint": s3.endpoint, "path_style": true, "format": "ndjson", "poll_ms": 200,
    });

    // Refused with the field named; nothing stored.
    let mut bad = source.clone();
    bad["format"] = json!("xml");
    let refused = put(&bad);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.json()["error"]
        .as_str()
        .unwrap_or("")
        .contains("sources.format"));
    let mut renamed = source.clone();
    renamed["name"] = json!("other");
    assert_eq!(put(&renamed).status, 400);

    let created = put(&source);
    assert_eq!(created.status, 201, "{}", created.body);
    let listed = http(node.port, "GET", "/api/sources", &[], None).json();
    assert_eq!(listed[0]["defined_in"], "api", "{listed}");

    // The node reads every object of it.
    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("db");
    let expected = OBJECTS * LINES;
    wait_for(
        "every record of the new source stored",
        Duration::from_secs(90),
        || {
            let mut conn = db.conn().ok()?;
            (windows::total_events(&mut conn, 10_000).ok()? == expected).then_some(())
        },
    );
    assert!(sources_on_board(node.port).contains(&"api-flows".to_owned()));

    // A change is applied (the reader restarts with it) and audited with before and after.
    source["poll_ms"] = json!(300);
    let changed = put(&source);
    assert_eq!(changed.status, 200, "{}", changed.body);
    let audit = http(node.port, "GET", "/api/audit", &[("Cookie", &cookie)], None).json();
    let update = audit
        .as_array()
        .and_then(|a| a.iter().find(|e| e["action"] == "source.update"))
        .unwrap_or_else(|| panic!("no source.update in {audit}"));
    assert_eq!(update["before"]["poll_ms"], 200);
    assert_eq!(update["after"]["poll_ms"], 300);
    assert_eq!(update["actor"], "user:admin");

    // Removed: its reader stops and leaves the ingest report within seconds.
    let removed = http(
        node.port,
        "DELETE",
        "/api/sources/api-flows",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        None,
    );
    assert_eq!(removed.status, 204, "{}", removed.body);
    wait_for("the source to stop", Duration::from_secs(10), || {
        (!sources_on_board(node.port).contains(&"api-flows".to_owned())).then_some(())
    });
    // Nothing was read twice.
    let mut conn = db.conn().expect("conn");
    assert_eq!(
        windows::total_events(&mut conn, 10_000).expect("total"),
        expected
    );
}
