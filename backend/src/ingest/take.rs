//! Taking one object of a source (a file of the inbox, an S3 object), the same way for every
//! source: claim it in the ledger, stream it through its parser in bounded memory, publish
//! every event with its origin, save the broker's acknowledgements with the claim's renewals,
//! and record the outcome.
//!
//! Nothing is lost and nothing counts twice when a reader dies mid-object. The claim is a lease
//! that the reader renews with its progress: how many of the object's events, in order, the
//! broker has acknowledged. A node that finds an object whose lease ran out takes it over and
//! publishes again from there (the object is parsed again from its start: parsers keep
//! headers). The events after that point may already be on the topic; each carries its origin
//! (object, event number), and the partitions count each origin once (`stream::origins`).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use layercast_shared::{Event, EventMsg, Origin};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::object;
use super::parse::{self, Format, LineError, Sink};
use super::stats::SourceStats;
use crate::metrics::Metrics;
use crate::store::ingest::{Claim, Lease};
use crate::store::{self, Db};

/// Events awaiting their delivery report at once: enough to keep the producer's batches full.
const IN_FLIGHT: usize = 10_000;
/// Events handed from the parsing thread to the publisher at a time, and batches in between:
/// with the producer's in-flight events, all an object holds in memory.
const BATCH: usize = 1_024;
const BATCHES_QUEUED: usize = 16;
/// A reader saves its progress and renews its claim this many times a lease, so that a slow
/// database round does not cost the claim.
const RENEWALS_PER_LEASE: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("cannot read {object}: {reason}")]
    Read { object: String, reason: String },
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{object}: another node took it over while this one read it")]
    ClaimLost { object: String },
}

/// What became of an object a source tried to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Read to its end by this node (perhaps after others started it).
    Done,
    /// Read before: the ledger has it done.
    AlreadyDone,
    /// Another node reads it and holds it until then (ms since the epoch; `None`: for good,
    /// a claim written by a version that did not renew claims).
    Held { until_ms: Option<i64> },
}

/// One object to take.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    /// Its name in the ledger, unique over every source, with what tells its versions apart:
    /// a file's name, `s3://bucket/key@etag`.
    pub ledger_name: String,
    /// What its events carry as their origin's object.
    pub origin: String,
    pub size: u64,
    /// Its format, or `None` to detect it from its first lines.
    pub format: Option<Format>,
    /// When it was last written (ms since the epoch), if known: the start of its lag.
    pub modified_ms: Option<i64>,
    /// Its source's figures.
    pub stats: Arc<SourceStats>,
}

/// What every source of a node shares to take objects.
#[derive(Clone)]
pub struct Taker {
    pub db: Db,
    pub producer: FutureProducer,
    pub events_topic: String,
    pub node: String,
    /// `ingest.claim_lease_ms`.
    pub lease_ms: i64,
    pub metrics: Arc<Metrics>,
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The input of an object, opened once it is claimed.
pub type Input = Box<dyn Read + Send>;

impl Taker {
    fn lease(&self) -> (String, i64) {
        (self.node.clone(), self.lease_ms)
    }

    /// Claims, reads and publishes `object`; `open` gives its bytes once it is this node's.
    /// `reader` keeps what spans a source's objects (counter samples). Counts the outcome in
    /// the object's source's figures.
    pub async fn take<F, Fut>(
        &self,
        object: ObjectRef,
        reader: Arc<Mutex<object::Reader>>,
        open: F,
    ) -> Result<Outcome, TakeError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Input, String>>,
    {
        let (stats, name, modified_ms) = (
            object.stats.clone(),
            object.ledger_name.clone(),
            object.modified_ms,
        );
        let outcome = self.take_counted(object, reader, open).await;
        match &outcome {
            Ok(Outcome::Done) => stats.finished(&name, modified_ms),
            Ok(Outcome::AlreadyDone) | Err(TakeError::ClaimLost { .. }) => stats.clear(&name),
            Ok(Outcome::Held { .. }) => {}
            Err(_) => stats.failed(&name),
        }
        outcome
    }

    async fn take_counted<F, Fut>(
        &self,
        object: ObjectRef,
        reader: Arc<Mutex<object::Reader>>,
        open: F,
    ) -> Result<Outcome, TakeError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Input, String>>,
    {
        let claim = {
            let (db, name, size) = (self.db.clone(), object.ledger_name.clone(), object.size);
            let (node, lease_ms) = self.lease();
            tokio::task::spawn_blocking(move || {
                let mut conn = db.conn()?;
                let lease = Lease {
                    node: &node,
                    now_ms: wall_ms(),
                    lease_ms,
                };
                Ok::<_, store::StoreError>(store::ingest::claim_file(
                    &mut conn, &name, size, lease,
                )?)
            })
            .await??
        };
        let from = match claim {
            Claim::Mine { from } => from,
            Claim::Done => return Ok(Outcome::AlreadyDone),
            Claim::Held { node, until_ms } => {
                tracing::debug!(object = %object.ledger_name, %node, ?until_ms, "being read by another node");
                return Ok(Outcome::Held { until_ms });
            }
        };
        let _reading = object.stats.reading();
        if from > 0 {
            tracing::warn!(object = %object.ledger_name, from, "taking over an object whose reader stopped: resuming after the events the broker acknowledged");
        }
        let input = open().await.map_err(|reason| TakeError::Read {
            object: object.ledger_name.clone(),
            reason,
        })?;

        let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(BATCHES_QUEUED);
        let cancelled = Arc::new(AtomicBool::new(false));
        let parsing = {
            let (format, cancelled) = (object.format, cancelled.clone());
            let stats = object.stats.clone();
            tokio::task::spawn_blocking(move || {
                // A parse that panicked left nothing half-done that matters: take the reader anyway.
                let mut reader = reader
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut sink = ChannelSink {
                    tx,
                    batch: Vec::with_capacity(BATCH),
                    source: None,
                    cancelled: cancelled.clone(),
                };
                let input = Cancellable {
                    input,
                    cancelled,
                    stats,
                };
                let streamed = reader.stream(format, input, &mut sink);
                sink.flush();
                streamed
            })
        };
        let progress = Progress {
            taker: self.clone(),
            object: object.ledger_name.clone(),
        };
        let published = publish(self, &object, rx, from, &progress).await;
        if published.is_err() {
            cancelled.store(true, Ordering::Relaxed);
        }
        let streamed = parsing.await?;
        let Published { acked, failures } = published?;
        let streamed = match streamed {
            Ok(streamed) => streamed,
            Err(e) => {
                // What was published is saved: the next try (this node's, or another's after
                // the lease) resumes there.
                progress.save(acked).await?;
                return Err(TakeError::Read {
                    object: object.ledger_name.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let records = acked;
        let mut errors = streamed.report.errors;
        let mut error_count = streamed.report.error_count;
        if streamed.format.is_none() {
            error_count += 1;
            errors.push(LineError {
                line: 1,
                reason: "format not recognised".into(),
            });
        }
        if let Some(reason) = streamed.broken {
            error_count += 1;
            errors.push(LineError { line: 0, reason });
        }
        for (number, reason) in failures.iter().take(parse::MAX_SAMPLES) {
            errors.push(LineError {
                line: *number,
                reason: reason.clone(),
            });
        }
        error_count += failures.len() as u64;
        let published = records - failures.len() as u64;
        for e in &errors {
            tracing::warn!(object = %object.ledger_name, line = e.line, reason = %e.reason, "malformed line");
        }
        let finished = {
            let (db, name) = (self.db.clone(), object.ledger_name.clone());
            let node = self.node.clone();
            tokio::task::spawn_blocking(move || {
                let mut conn = db.conn()?;
                let samples: Vec<(u64, &str)> =
                    errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
                Ok::<_, store::StoreError>(store::ingest::finish_file(
                    &mut conn,
                    &name,
                    &node,
                    chrono::Utc::now().timestamp_millis(),
                    published,
                    error_count,
                    &samples,
                )?)
            })
            .await??
        };
        if !finished {
            return Err(TakeError::ClaimLost {
                object: object.ledger_name,
            });
        }
        tracing::info!(object = %object.ledger_name, records = published, errors = error_count, "object taken");
        self.metrics.inbox_files.inc();
        self.metrics.inbox_events.inc_by(published);
        self.metrics.inbox_malformed_lines.inc_by(error_count);
        Ok(Outcome::Done)
    }
}

/// Events of an object, marked with their format as their source: each source may have its
/// own allowed out-of-orderness (`windows.sources`).
struct Batch {
    source: Option<&'static str>,
    events: Vec<Event>,
}

/// Hands the parser's events to the publisher in batches; blocks the parsing thread while the
/// publisher is behind (the backpressure that bounds an object's memory).
struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<Batch>,
    batch: Vec<Event>,
    source: Option<&'static str>,
    cancelled: Arc<AtomicBool>,
}

impl ChannelSink {
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let events = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if self
            .tx
            .blocking_send(Batch {
                source: self.source,
                events,
            })
            .is_err()
        {
            // The publisher stopped (a lost claim, the broker refusing): stop reading too.
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }
}

impl Sink for ChannelSink {
    fn measurement(&mut self, m: &parse::Measurement<'_>) {
        if let Some(e) = m.to_event() {
            self.batch.push(e);
            if self.batch.len() >= BATCH {
                self.flush();
            }
        }
    }

    fn format(&mut self, format: Format) {
        self.source = Some(format.name());
    }
}

/// Ends the input early once the publisher has stopped; counts the bytes read.
struct Cancellable {
    input: Input,
    cancelled: Arc<AtomicBool>,
    stats: Arc<SourceStats>,
}

impl Read for Cancellable {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the publisher stopped"));
        }
        let n = self.input.read(buf)?;
        self.stats.add_bytes(n as u64);
        Ok(n)
    }
}

/// Where a reader saves its progress and renews its claim.
struct Progress {
    taker: Taker,
    object: String,
}

impl Progress {
    /// Saves that the first `acked` events are on the broker; `Err(ClaimLost)` when another
    /// node holds the object now.
    async fn save(&self, acked: u64) -> Result<(), TakeError> {
        let (db, object) = (self.taker.db.clone(), self.object.clone());
        let (node, lease_ms) = self.taker.lease();
        let kept = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            let lease = Lease {
                node: &node,
                now_ms: wall_ms(),
                lease_ms,
            };
            Ok::<_, store::StoreError>(store::ingest::renew(&mut conn, &object, lease, acked)?)
        })
        .await??;
        if kept {
            Ok(())
        } else {
            Err(TakeError::ClaimLost {
                object: self.object.clone(),
            })
        }
    }
}

struct Published {
    /// Events before the first not acknowledged (the broker took them or refused them for good).
    acked: u64,
    /// The ones it refused, as (event number, reason).
    failures: Vec<(u64, String)>,
}

/// Publishes the events from number `from` on, keyed by entity, marked with their format as
/// their source and with their origin (`object`, event number). Saves its progress
/// [`RENEWALS_PER_LEASE`] times a lease: the number of events before the first one not yet
/// acknowledged (the deliveries are awaited in order, so that is a prefix).
async fn publish(
    taker: &Taker,
    object_ref: &ObjectRef,
    rx: tokio::sync::mpsc::Receiver<Batch>,
    from: u64,
    progress: &Progress,
) -> Result<Published, TakeError> {
    let producer = &taker.producer;
    let topic = taker.events_topic.as_str();
    let object = object_ref.origin.as_str();
    let events = batches(rx)
        .flat_map(|batch| {
            futures::stream::iter(batch.events.into_iter().map(move |e| (batch.source, e)))
        })
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX));
    let sends = events.map(|(index, (source, event))| async move {
        let seq = index as u64;
        let key = event.entity.clone();
        let msg = match source {
            Some(source) => EventMsg::from_source(event, source),
            None => EventMsg::new(event),
        }
        .with_origin(Origin {
            object: object.to_owned(),
            seq,
        });
        let payload = serde_json::to_vec(&msg).map_err(|e| (seq + 1, e.to_string()))?;
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&payload),
                Timeout::Never,
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| (seq + 1, format!("event {} not published: {e}", seq + 1)))
    });
    let mut acks = sends.buffered(IN_FLIGHT);
    let every = Duration::from_millis(u64::try_from(taker.lease_ms).unwrap_or(u64::MAX))
        / RENEWALS_PER_LEASE;
    let mut renew = tokio::time::interval(every);
    renew.tick().await;
    let mut acked = from;
    let mut failures = Vec::new();
    loop {
        tokio::select! {
            next = acks.next() => match next {
                Some(result) => {
                    acked += 1;
                    match result {
                        Ok(()) => object_ref.stats.add_records(1),
                        Err(failure) => failures.push(failure),
                    }
                }
                None => break,
            },
            // Also when nothing was acknowledged (the broker is away): the claim stays ours.
            _ = renew.tick() => progress.save(acked).await?,
        }
    }
    Ok(Published { acked, failures })
}

/// The receiver as a stream.
fn batches(mut rx: tokio::sync::mpsc::Receiver<Batch>) -> impl futures::Stream<Item = Batch> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
