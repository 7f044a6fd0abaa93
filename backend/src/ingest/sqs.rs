//! S3 event notifications through SQS, as Vector's `aws_s3` source reads them: a source with a
//! `queue_url` long-polls its queue, takes every object a notification announces through the
//! same ledger as a listed object (`s3://bucket/key@etag`, claimed, read once by one node), and
//! deletes a message only once every object it announces is done, here or before. A message
//! left undeleted (an object another node reads, a read that failed) comes back after the
//! queue's visibility timeout and is tried again; a queue with a redrive policy moves a message
//! that keeps failing to its dead-letter queue.
//!
//! S3's test event (`s3:TestEvent`, sent when notifications are configured) is deleted; a
//! message that is no notification at all is counted, logged and deleted, so that it does not
//! come back for ever. Events other than `ObjectCreated:*`, and objects of another bucket or
//! outside the source's prefix (a queue shared by several sources), are skipped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use serde::Deserialize;

use super::object;
use super::s3::{describe, Bucket, Listed, Round};
use super::stats::SourceStats;
use super::take::{Outcome, Taker};

/// Long polling: a receive waits up to this for a message (SQS's most).
const WAIT_SECS: i32 = 20;
/// Messages received at once (SQS's most).
const MESSAGES_PER_RECEIVE: i32 = 10;
/// An empty answer sooner than this: the service does not long-poll, so the next receive
/// waits for the source's poll interval instead of asking again at once.
const LONG_POLL_AT_LEAST: Duration = Duration::from_secs(1);
/// Of a malformed message, the start that the log shows.
const LOGGED_BODY_CHARS: usize = 200;

/// One receive from the source's queue, and the objects its messages announce taken in
/// order. A message is deleted once all its objects are done; on an error the round stops
/// (the source backs off) and the messages left come back after their visibility timeout.
pub(super) async fn round(
    bucket: Bucket,
    taker: Taker,
    reader: Arc<Mutex<object::Reader>>,
    stats: Arc<SourceStats>,
) -> Round {
    let config = &bucket.config;
    let mut round = Round {
        done_through: None,
        held: BTreeMap::new(),
        taken: 0,
        advanced: false,
        error: None,
    };
    let Some(queue) = &bucket.queue else {
        return round;
    };
    let started = Instant::now();
    let messages = match queue.receive().await {
        Ok(messages) => messages,
        Err(error) => {
            tracing::error!(source = %config.name, queue = %queue.url, %error, "cannot receive from the queue");
            round.error = Some(error);
            return round;
        }
    };
    round.advanced = !messages.is_empty() || started.elapsed() >= LONG_POLL_AT_LEAST;
    let total = messages.len();
    for (n, message) in messages.into_iter().enumerate() {
        stats.set_pending(total - n - 1);
        let objects = match parse(&message.body) {
            Notice::Test => {
                tracing::debug!(source = %config.name, "S3 test event");
                Vec::new()
            }
            Notice::Malformed(reason) => {
                stats.malformed_message();
                let body: String = message.body.chars().take(LOGGED_BODY_CHARS).collect();
                tracing::warn!(source = %config.name, queue = %queue.url, %reason, %body, "a queue message that is no S3 event notification: deleted");
                Vec::new()
            }
            Notice::Created(objects) => objects,
        };
        let mut finished = true;
        for announced in objects {
            if announced.bucket != config.bucket
                || !announced.key.starts_with(&config.prefix)
                || announced.key.ends_with('/')
            {
                continue;
            }
            let listed = match announced.etag {
                Some(etag) => Listed {
                    key: announced.key,
                    etag,
                    size: announced.size,
                    modified_ms: announced.time_ms,
                },
                None => match bucket.head(&announced.key).await {
                    Ok(listed) => listed,
                    Err(error) => {
                        tracing::error!(source = %config.name, key = %announced.key, %error, "cannot ask for an announced object");
                        round.error = Some(error);
                        break;
                    }
                },
            };
            match bucket.take(&taker, reader.clone(), &listed, &stats).await {
                Ok(Outcome::Done) => round.taken += 1,
                Ok(Outcome::AlreadyDone) => {}
                // Another node reads it: the message comes back after its visibility
                // timeout, finds the object done, and is deleted then.
                Ok(Outcome::Held { .. }) => finished = false,
                Err(e) => {
                    let error = e.to_string();
                    tracing::error!(source = %config.name, %error, "object not finished; its message comes back after the queue's visibility timeout, and the read resumes where the broker's acknowledgements were saved");
                    round.error = Some(error);
                    break;
                }
            }
        }
        if round.error.is_some() {
            stats.set_pending(0);
            return round;
        }
        if finished {
            if let Err(error) = queue.delete(&message.receipt).await {
                // Harmless beyond the retry: the message comes back and finds its objects done.
                tracing::warn!(source = %config.name, queue = %queue.url, %error, "cannot delete a message");
            }
        }
    }
    stats.set_pending(0);
    round
}

/// A source's queue.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    pub url: String,
}

/// A message received: its body and the handle that deletes it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub receipt: String,
}

impl Queue {
    /// The client of `url`, with the source's credentials and region; reached at the queue
    /// URL's own host when the source has an `endpoint` (a local or S3-compatible setup).
    pub fn connect(shared: &aws_config::SdkConfig, url: &str, custom_endpoint: bool) -> Queue {
        let mut config = aws_sdk_sqs::config::Builder::from(shared);
        if custom_endpoint {
            if let Some(origin) = origin(url) {
                config = config.endpoint_url(origin);
            }
        }
        Queue {
            client: Client::from_conf(config.build()),
            url: url.to_owned(),
        }
    }

    /// Up to ten messages, waiting up to [`WAIT_SECS`] for the first.
    pub async fn receive(&self) -> Result<Vec<Received>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(MESSAGES_PER_RECEIVE)
            .wait_time_seconds(WAIT_SECS)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Received {
                    body: m.body()?.to_owned(),
                    receipt: m.receipt_handle()?.to_owned(),
                })
            })
            .collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), String> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let host_len = rest.find('/').unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + host_len])
}

/// An object a notification announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub bucket: String,
    /// Decoded (notifications carry keys URL-encoded, spaces as `+`).
    pub key: String,
    /// Without quotes; `None` when the event has none (then the object is asked for it).
    pub etag: Option<String>,
    pub size: u64,
    /// The event's time (ms since the epoch): when the object was written.
    pub time_ms: Option<i64>,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Objects created (perhaps none of interest: other events only).
    Created(Vec<Announced>),
    /// S3's `s3:TestEvent`.
    Test,
    /// Not an S3 event notification, with why.
    Malformed(String),
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
    /// A notification delivered through SNS: the S3 event is the text of `Message`.
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: String,
    event_time: Option<String>,
    s3: Entity,
}

#[derive(Deserialize)]
struct Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "eTag")]
    etag: Option<String>,
}

/// Reads a message's body.
pub fn parse(body: &str) -> Notice {
    let parsed: Body = match serde_json::from_str(body) {
        Ok(parsed) => parsed,
        Err(e) => return Notice::Malformed(format!("not an S3 event notification: {e}")),
    };
    if parsed.kind.as_deref() == Some("Notification") {
        if let Some(inner) = &parsed.message {
            return parse(inner);
        }
    }
    if parsed.event.as_deref() == Some("s3:TestEvent") {
        return Notice::Test;
    }
    let Some(records) = parsed.records else {
        return Notice::Malformed("an S3 event notification has Records".into());
    };
    let mut created = Vec::new();
    for record in records {
        if !record.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        let Some(key) = decode_key(&record.s3.object.key) else {
            return Notice::Malformed(format!(
                "object key {:?} is not URL-encoded UTF-8",
                record.s3.object.key
            ));
        };
        created.push(Announced {
            bucket: record.s3.bucket.name,
            key,
            etag: record
                .s3
                .object
                .etag
                .map(|e| e.trim_matches('"').to_owned())
                .filter(|e| !e.is_empty()),
            size: record.s3.object.size,
            time_ms: record
                .event_time
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_millis()),
        });
    }
    Notice::Created(created)
}

/// A key as S3 notifications write it: form-URL-encoded (`+` for a space).
fn decode_key(key: &str) -> Option<String> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_events_give_decoded_keys_etags_and_times() {
        let body = r#"{"Records":[
            {"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2026-12-06T10:00:00.500Z",
             "eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"logs"},
             "object":{"key":"vpc/2026/a+b%3D1.log.gz","size":42,"eTag":"0123abc"}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"logs"},
             "object":{"key":"gone"}}}]}"#;
        assert_eq!(
            parse(body),
            Notice::Created(vec![Announced {
                bucket: "logs".into(),
                key: "vpc/2026/a b=1.log.gz".into(),
                etag: Some("0123abc".into()),
                size: 42,
                time_ms: Some(1_796_551_200_500),
            }])
        );
    }

    #[test]
    fn test_events_sns_envelopes_and_garbage() {
        assert_eq!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"logs"}"#),
            Notice::Test
        );
        let inner = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1}}}]}"#;
        let sns = serde_json::json!({"Type": "Notification", "Message": inner}).to_string();
        assert!(matches!(parse(&sns), Notice::Created(v) if v.len() == 1 && v[0].etag.is_none()));
        for garbage in ["not json", "{}", r#"{"Records":[{"eventName":1}]}"#] {
            assert!(matches!(parse(garbage), Notice::Malformed(_)), "{garbage}");
        }
    }

    #[test]
    fn a_queue_url_is_reached_at_its_own_host() {
        assert_eq!(
            origin("http://127.0.0.1:5000/123456789012/logs"),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            origin("https://sqs.eu-west-1.amazonaws.com/1/q"),
            Some("https://sqs.eu-west-1.amazonaws.com")
        );
        assert_eq!(origin("no scheme"), None);
    }
}
