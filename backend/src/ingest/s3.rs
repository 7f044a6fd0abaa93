//! The S3 source: one actor per configured bucket (`[[sources]]`), listing its objects in key
//! order and taking each (`take`): claimed in the ledger as `s3://bucket/key@etag` (so that an
//! object replaced under the same key is read again, as new data), streamed from GetObject
//! through gzip and its parser in bounded memory, published with its origin, once, by one
//! node of all those sharing the source.
//!
//! With a `queue_url` it learns of new objects from the bucket's S3 event notifications
//! through SQS instead (`sqs`), and takes them the same way.
//!
//! Listing starts after the last key all of whose predecessors are done (ListObjectsV2's
//! `start-after`), so a bucket of a million old objects is not listed again at every round;
//! an object another node holds keeps that mark where it is, so that the object is tried
//! again, and taken over, if its reader dies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use aws_sdk_s3::Client;
use futures::FutureExt;
use layercast_shared::IngestSource;

use super::object;
use super::sqs::Queue;
use super::stats::{Discovery, SourceKind, SourceStats};
use super::take::{Input, ObjectRef, Outcome, TakeError, Taker};
use crate::config::S3SourceConfig;

/// Objects taken per round at most, so that a source's status and a stop are seen in time.
const OBJECTS_PER_ROUND: usize = 1_000;
/// After a failure (the store away, wrong credentials), the wait before the next round
/// doubles from the poll interval up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Every source's status, as `/api/ingest` shows it: shared by the source actors and the API.
pub type SourceBoard = Arc<Mutex<BTreeMap<String, IngestSource>>>;

/// Stop after the object in hand: the node is shutting down.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopSource;

/// A configured bucket and its client: what the source actor and `layercast ingest` share.
#[derive(Clone)]
pub struct Bucket {
    pub config: S3SourceConfig,
    client: Client,
    /// The queue of its event notifications, when `queue_url` is set.
    pub queue: Option<Queue>,
}

/// An object as listed (or announced).
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub etag: String,
    pub size: u64,
    /// LastModified, ms since the epoch.
    pub modified_ms: Option<i64>,
}

impl Bucket {
    /// The client for `config`: aws-config's default chain for credentials (and region,
    /// unless set), the endpoint and addressing of an S3-compatible store when set.
    pub async fn connect(config: S3SourceConfig) -> Bucket {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.path_style);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        let queue = config
            .queue_url
            .as_deref()
            .map(|url| Queue::connect(&shared, url, config.endpoint.is_some()));
        Bucket {
            client: Client::from_conf(s3.build()),
            queue,
            config,
        }
    }

    /// The object under `key` now, as a listing would give it (for notifications without an
    /// ETag).
    pub async fn head(&self, key: &str) -> Result<Listed, String> {
        let head = self
            .client
            .head_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(Listed {
            key: key.to_owned(),
            etag: head
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
            size: head
                .content_length()
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
            modified_ms: head.last_modified().and_then(|t| t.to_millis().ok()),
        })
    }

    /// Up to `limit` objects after `start_after`, in key order.
    pub async fn list(
        &self,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed>, String> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(&self.config.prefix)
            .set_start_after(start_after.map(str::to_owned))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe(&e))?;
            for object in page.contents() {
                let (Some(key), Some(etag)) = (object.key(), object.e_tag()) else {
                    continue;
                };
                // Folders made by consoles are empty keys ending in `/`.
                if key.ends_with('/') {
                    continue;
                }
                out.push(Listed {
                    key: key.to_owned(),
                    etag: etag.trim_matches('"').to_owned(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    modified_ms: object.last_modified().and_then(|t| t.to_millis().ok()),
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Takes one listed object (`take`): claimed as `s3://bucket/key@etag`, streamed,
    /// published once.
    pub async fn take(
        &self,
        taker: &Taker,
        reader: Arc<Mutex<object::Reader>>,
        listed: &Listed,
        stats: &Arc<SourceStats>,
    ) -> Result<Outcome, TakeError> {
        let name = format!("s3://{}/{}@{}", self.config.bucket, listed.key, listed.etag);
        let object = ObjectRef {
            ledger_name: name.clone(),
            origin: name,
            size: listed.size,
            format: self.config.fixed_format(),
            modified_ms: listed.modified_ms,
            stats: stats.clone(),
        };
        let (client, bucket, key, etag) = (
            self.client.clone(),
            self.config.bucket.clone(),
            listed.key.clone(),
            listed.etag.clone(),
        );
        taker
            .take(object, reader, move || async move {
                open(&client, &bucket, &key, &etag).await
            })
            .await
    }
}

pub struct S3Source {
    config: S3SourceConfig,
    bucket: Bucket,
    taker: Taker,
    /// Kept from object to object (counters continue across objects).
    reader: Arc<Mutex<object::Reader>>,
    /// Keys up to this one are all done: listing starts after it.
    done_through: Option<String>,
    /// Objects another node reads, by key: tried again once their claim may have run out.
    held: BTreeMap<String, i64>,
    /// Rounds failed in a row: the backoff.
    failures: u32,
    busy: bool,
    stopping: bool,
    board: SourceBoard,
    stats: Arc<SourceStats>,
}

/// What a round of listing (or receiving) and taking came to.
pub(super) struct Round {
    pub done_through: Option<String>,
    pub held: BTreeMap<String, i64>,
    /// Objects read to their end by this node.
    pub taken: u64,
    /// Whether to go on at once: the listing mark moved, the queue gave messages.
    pub advanced: bool,
    pub error: Option<String>,
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl S3Source {
    pub fn new(bucket: Bucket, taker: Taker, board: SourceBoard) -> Self {
        let config = bucket.config.clone();
        let discovery = if bucket.queue.is_some() {
            Discovery::Sqs
        } else {
            Discovery::Listing
        };
        let stats = taker
            .metrics
            .source(&config.name, SourceKind::S3, discovery);
        if let Ok(mut board) = board.lock() {
            board.insert(
                config.name.clone(),
                IngestSource {
                    name: config.name.clone(),
                    bucket: config.bucket.clone(),
                    prefix: config.prefix.clone(),
                    state: "starting".into(),
                    last_error: None,
                    objects_taken: 0,
                    last_round_ms: None,
                    kind: String::new(),
                    discovery: String::new(),
                    objects: Default::default(),
                    bytes_total: 0,
                    records_total: 0,
                    bytes_per_sec: 0.0,
                    records_per_sec: 0.0,
                    lag_last_secs: None,
                    lag_max_secs: None,
                    malformed_messages: 0,
                },
            );
        }
        S3Source {
            config,
            bucket,
            taker,
            reader: Arc::default(),
            done_through: None,
            held: BTreeMap::new(),
            failures: 0,
            busy: false,
            stopping: false,
            board,
            stats,
        }
    }

    fn schedule(&self, ctx: &mut Context<Self>) {
        let poll = Duration::from_millis(self.config.poll_ms);
        let wait = if self.failures == 0 {
            poll
        } else {
            (poll * 2u32.saturating_pow(self.failures.min(16))).min(MAX_BACKOFF.max(poll))
        };
        ctx.run_later(wait, |act, ctx| act.start_round(ctx));
    }

    fn start_round(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.stopping {
            return;
        }
        self.busy = true;
        let (bucket, taker, reader, stats) = (
            self.bucket.clone(),
            self.taker.clone(),
            self.reader.clone(),
            self.stats.clone(),
        );
        let round = if self.bucket.queue.is_some() {
            super::sqs::round(bucket, taker, reader, stats).boxed_local()
        } else {
            round(
                bucket,
                taker,
                reader,
                stats,
                self.done_through.clone(),
                self.held.clone(),
            )
            .boxed_local()
        };
        ctx.spawn(round.into_actor(self).map(|mut round, act, ctx| {
            if act.bucket.queue.is_some() {
                // Not used by a queue's rounds: keep what the actor has.
                round.done_through = act.done_through.take();
                round.held = std::mem::take(&mut act.held);
            }
            act.busy = false;
            act.done_through = round.done_through;
            act.held = round.held;
            act.failures = if round.error.is_some() {
                act.failures + 1
            } else {
                0
            };
            let go_on = round.advanced && round.error.is_none();
            if let Ok(mut board) = act.board.lock() {
                if let Some(status) = board.get_mut(&act.config.name) {
                    status.objects_taken += round.taken;
                    status.last_round_ms = Some(wall_ms());
                    status.state = if round.error.is_some() {
                        "failing"
                    } else {
                        "ok"
                    }
                    .into();
                    status.last_error = round.error;
                }
            }
            if go_on && !act.stopping {
                // More may be waiting: go on at once.
                ctx.run_later(Duration::ZERO, |act, ctx| act.start_round(ctx));
            } else {
                act.schedule(ctx);
            }
        }));
    }
}

/// Lists the objects after `done_through` and takes them in key order.
async fn round(
    bucket: Bucket,
    taker: Taker,
    reader: Arc<Mutex<object::Reader>>,
    stats: Arc<SourceStats>,
    mut done_through: Option<String>,
    mut held: BTreeMap<String, i64>,
) -> Round {
    let config = &bucket.config;
    let mut taken = 0;
    let started_at = done_through.clone();
    let end = |done_through: Option<String>, held, taken, error| Round {
        advanced: done_through != started_at,
        done_through,
        held,
        taken,
        error,
    };
    let listed = match bucket
        .list(done_through.as_deref(), OBJECTS_PER_ROUND)
        .await
    {
        Ok(listed) => listed,
        Err(error) => {
            tracing::error!(source = %config.name, bucket = %config.bucket, %error, "cannot list the bucket");
            return end(done_through, held, taken, Some(error));
        }
    };
    let now_ms = wall_ms();
    // Whether every key so far in this round is done: only then may the mark move.
    let mut all_done = true;
    let total = listed.len();
    for (n, listed) in listed.into_iter().enumerate() {
        stats.set_pending(total - n - 1);
        if held
            .get(&listed.key)
            .is_some_and(|retry_at| *retry_at > now_ms)
        {
            all_done = false;
            continue;
        }
        match bucket.take(&taker, reader.clone(), &listed, &stats).await {
            Ok(outcome @ (Outcome::Done | Outcome::AlreadyDone)) => {
                held.remove(&listed.key);
                taken += u64::from(outcome == Outcome::Done);
                if all_done {
                    done_through = Some(listed.key);
                }
            }
            Ok(Outcome::Held { until_ms }) => {
                all_done = false;
                // A claim that is never renewed (an older version's): left for good.
                held.insert(listed.key, until_ms.map_or(i64::MAX, |until| until + 1));
            }
            Err(e) => {
                let error = e.to_string();
                tracing::error!(source = %config.name, %error, "object not finished; tried again later, resuming where the broker's acknowledgements were saved");
                let retry_in = if matches!(e, TakeError::ClaimLost { .. }) {
                    taker.lease_ms
                } else {
                    0
                };
                held.insert(listed.key, now_ms + retry_in);
                stats.set_pending(0);
                return end(done_through, held, taken, Some(error));
            }
        }
    }
    stats.set_pending(0);
    end(done_through, held, taken, None)
}

/// The object's body as a blocking reader (for the parsing thread), of exactly the version
/// listed: if it was replaced since, the read fails and the next listing finds the new one.
async fn open(client: &Client, bucket: &str, key: &str, etag: &str) -> Result<Input, String> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .if_match(format!("\"{etag}\""))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let body = object.body.into_async_read();
    Ok(Box::new(tokio_util::io::SyncIoBridge::new(body)))
}

/// An SDK error with its cause (the SDK's own text says only "service error").
pub(super) fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Actor for S3Source {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(source = %self.config.name, bucket = %self.config.bucket, prefix = %self.config.prefix, "reading an S3 source");
        ctx.run_later(Duration::ZERO, |act, ctx| act.start_round(ctx));
    }
}

impl Handler<StopSource> for S3Source {
    type Result = ();

    fn handle(&mut self, _: StopSource, _: &mut Context<Self>) {
        self.stopping = true;
    }
}
