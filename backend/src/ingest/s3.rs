//! The S3 source: one actor per configured bucket (`[[sources]]`), listing its objects in key
//! order and taking each (`take`): claimed in the ledger as `s3://bucket/key@etag` (so that an
//! object replaced under the same key is read again, as new data), streamed from GetObject
//! through gzip and its parser in bounded memory, published with its origin, once, by one
//! node of all those sharing the source.
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
use layercast_shared::IngestSource;

use super::object;
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

pub struct S3Source {
    config: S3SourceConfig,
    client: Client,
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
}

/// What a round of listing and taking came to.
struct Round {
    done_through: Option<String>,
    held: BTreeMap<String, i64>,
    taken: u64,
    error: Option<String>,
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl S3Source {
    /// The client for `config`: aws-config's default chain for credentials (and region,
    /// unless set), the endpoint and addressing of an S3-compatible store when set.
    pub async fn client(config: &S3SourceConfig) -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.path_style);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        Client::from_conf(s3.build())
    }

    pub fn new(config: S3SourceConfig, client: Client, taker: Taker, board: SourceBoard) -> Self {
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
                },
            );
        }
        S3Source {
            config,
            client,
            taker,
            reader: Arc::default(),
            done_through: None,
            held: BTreeMap::new(),
            failures: 0,
            busy: false,
            stopping: false,
            board,
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
        let round = round(
            self.config.clone(),
            self.client.clone(),
            self.taker.clone(),
            self.reader.clone(),
            self.done_through.clone(),
            self.held.clone(),
        );
        ctx.spawn(round.into_actor(self).map(|round, act, ctx| {
            act.busy = false;
            act.done_through = round.done_through;
            act.held = round.held;
            act.failures = if round.error.is_some() {
                act.failures + 1
            } else {
                0
            };
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
            if round.taken > 0 && !act.stopping {
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
    config: S3SourceConfig,
    client: Client,
    taker: Taker,
    reader: Arc<Mutex<object::Reader>>,
    mut done_through: Option<String>,
    mut held: BTreeMap<String, i64>,
) -> Round {
    let mut taken = 0;
    let listed = match list(&config, &client, done_through.as_deref()).await {
        Ok(listed) => listed,
        Err(error) => {
            tracing::error!(source = %config.name, bucket = %config.bucket, %error, "cannot list the bucket");
            return Round {
                done_through,
                held,
                taken,
                error: Some(error),
            };
        }
    };
    let now_ms = wall_ms();
    // Whether every key so far in this round is done: only then may the mark move.
    let mut all_done = true;
    for listed in listed {
        if held
            .get(&listed.key)
            .is_some_and(|retry_at| *retry_at > now_ms)
        {
            all_done = false;
            continue;
        }
        let object = ObjectRef {
            ledger_name: format!("s3://{}/{}@{}", config.bucket, listed.key, listed.etag),
            origin: format!("s3://{}/{}@{}", config.bucket, listed.key, listed.etag),
            size: listed.size,
            format: config.fixed_format(),
        };
        let (client, bucket, key, etag) = (
            client.clone(),
            config.bucket.clone(),
            listed.key.clone(),
            listed.etag.clone(),
        );
        let outcome = taker
            .take(object, reader.clone(), move || async move {
                open(&client, &bucket, &key, &etag).await
            })
            .await;
        match outcome {
            Ok(Outcome::Done) => {
                held.remove(&listed.key);
                taken += 1;
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
                return Round {
                    done_through,
                    held,
                    taken,
                    error: Some(error),
                };
            }
        }
    }
    Round {
        done_through,
        held,
        taken,
        error: None,
    }
}

struct Listed {
    key: String,
    etag: String,
    size: u64,
}

/// Up to [`OBJECTS_PER_ROUND`] objects after `start_after`, in key order.
async fn list(
    config: &S3SourceConfig,
    client: &Client,
    start_after: Option<&str>,
) -> Result<Vec<Listed>, String> {
    let mut pages = client
        .list_objects_v2()
        .bucket(&config.bucket)
        .prefix(&config.prefix)
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
            });
            if out.len() >= OBJECTS_PER_ROUND {
                return Ok(out);
            }
        }
    }
    Ok(out)
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
fn describe(e: &dyn std::error::Error) -> String {
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
