//! An S3 source with a `queue_url` learns of new objects from the bucket's event notifications
//! through SQS, against moto (which serves both, and sends a bucket's notifications to its
//! queue): every announced object is read once, the queue is left empty (S3's test event and
//! a message that is no notification deleted, the latter counted), and an object written
//! before notifications were configured is never read (the source does not list).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use layercast::store::{Db, DbUrl};

use crate::s3_faults::{ndjson_object, node_config};
use crate::support::{
    assert_windows_exact, gzip, http_get, ingest_source, ledger, settle, stored_window_totals,
    wait_for, Broker, Node, S3Server, TestDb, S3_ENV,
};

const BUCKET: &str = "flow-logs";
const OBJECTS: u64 = 30;
const LINES: u64 = 500;
const LEN_MS: i64 = 10_000;

/// Messages in the queue, visible or not.
async fn queued(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Option<u64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .ok()?;
    let attributes = out.attributes()?;
    let count = |name| attributes.get(&name)?.parse::<u64>().ok();
    Some(
        count(QueueAttributeName::ApproximateNumberOfMessages)?
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
    )
}

#[actix_web::test]
async fn objects_announced_through_sqs_are_each_read_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(dir.path());
    let client = s3.client().await;
    let sqs = s3.sqs_client().await;
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    // Before notifications: never announced, so never read.
    client
        .put_object()
        .bucket(BUCKET)
        .key("logs/000-before.ndjson")
        .body(ByteStream::from(ndjson_object(
            9_000_000,
            10,
            &mut BTreeMap::new(),
        )))
        .send()
        .await
        .expect("put object");
    let queue_url = sqs
        .create_queue()
        .queue_name("flow-log-events")
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    // moto sends S3's test event to the queue now, as S3 does.
    client
        .put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
        )
        .send()
        .await
        .expect("bucket notifications");
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("not an S3 event notification")
        .send()
        .await
        .expect("send a malformed message");

    let broker = Broker::start(dir.path());
    let database = TestDb::create();
    let sources = format!(
        "[[sources]]\nname = \"events\"\nbucket = \"{BUCKET}\"\nprefix = \"logs/\"\nregion = \"us-east-1\"\n\
         endpoint = \"{}\"\npath_style = true\npoll_ms = 200\nqueue_url = \"{queue_url}\"\n",
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

    let mut expected = BTreeMap::new();
    for n in 1..=OBJECTS {
        let data = ndjson_object(n * LINES, LINES, &mut expected);
        // Some gzip; one key with a space and a sign that notifications URL-encode.
        let (key, body) = match n {
            7 => ("logs/with space+plus.ndjson".to_owned(), data),
            n if n % 3 == 0 => (format!("logs/{n:03}.ndjson.gz"), gzip(&data)),
            n => (format!("logs/{n:03}.ndjson"), data),
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

    let db = Db::open(DbUrl::parse(&database.url).expect("url"), 2).expect("test db");
    wait_for(
        "every announced object to be done",
        Duration::from_secs(60),
        || {
            let files = ledger(&db);
            (files.iter().filter(|f| f.status == "done").count() == OBJECTS as usize).then_some(())
        },
    );
    settle(Duration::from_secs(30), || {
        stored_window_totals(&db, LEN_MS) == expected
    });
    assert_windows_exact(&expected, &stored_window_totals(&db, LEN_MS));
    let files = ledger(&db);
    assert_eq!(files.len(), OBJECTS as usize, "{files:?}");
    assert!(
        files.iter().all(|f| f.records == LINES && f.errors == 0),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.name.contains("logs/with space+plus.ndjson@")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.name.contains("000-before")),
        "an object never announced is not read"
    );

    let source = wait_for(
        "the queue's messages all handled",
        Duration::from_secs(30),
        || {
            ingest_source(node.port, "events")
                .filter(|s| s["malformed_messages"] == 1 && s["objects"]["pending"] == 0)
        },
    );
    assert_eq!(source["discovery"], "sqs", "{source}");
    assert_eq!(source["kind"], "s3", "{source}");
    assert_eq!(source["state"], "ok", "{source}");
    assert_eq!(source["objects"]["done"], OBJECTS, "{source}");
    assert_eq!(source["records_total"], OBJECTS * LINES, "{source}");
    assert!(source["lag_max_secs"].as_f64().is_some(), "{source}");
    // Every message deleted: the test event, the malformed one, every notification.
    let deadline = Instant::now() + Duration::from_secs(30);
    while queued(&sqs, &queue_url).await != Some(0) {
        assert!(Instant::now() < deadline, "messages left in the queue");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, metrics) = http_get(node.port, "/metrics").expect("GET /metrics");
    for line in [
        format!(
            "layercast_source_records_total{{source=\"events\"}} {}",
            OBJECTS * LINES
        ),
        "layercast_source_malformed_messages_total{source=\"events\"} 1".to_owned(),
        format!("layercast_source_objects{{source=\"events\",state=\"done\"}} {OBJECTS}"),
        "layercast_source_info{source=\"events\",kind=\"s3\",discovery=\"sqs\"} 1".to_owned(),
    ] {
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}
