//! The inbox source: an actor that notices new files in a folder, claims each in the database
//! ledger (so that it is read once, even by several nodes sharing the folder), parses it (any
//! format LayerCast reads, plain or gzip) and publishes its measurements as events.
//!
//! Nothing is lost and nothing counts twice when a reader dies mid-file. The claim is a lease
//! that the reader renews with its progress: how many of the file's records, in order, the
//! broker has acknowledged. A node that finds a file whose lease ran out takes it over and
//! publishes again from there. The records after that point may already be on the topic; each
//! carries its origin (file, record number), and the partitions count each origin once
//! (`stream::origins`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use layercast_shared::{Event, EventMsg, Origin};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::object;
use super::parse::{self, Format, LineError};
use crate::metrics::Metrics;
use crate::store::ingest::{Claim, Lease};
use crate::store::{self, Db};

/// Events awaiting their delivery report at once: enough to keep the producer's batches full.
const IN_FLIGHT: usize = 10_000;
/// A reader saves its progress and renews its claim every this part of the lease, so that a
/// slow database round does not cost the claim.
const RENEWALS_PER_LEASE: u32 = 4;
/// Sources of origins: the inbox's files are `inbox/<name>`.
const ORIGIN_PREFIX: &str = "inbox/";

#[derive(Debug, Clone)]
pub struct InboxSettings {
    pub dir: PathBuf,
    pub poll: Duration,
    /// `ingest.claim_lease_ms`.
    pub lease_ms: i64,
    pub node: String,
    pub events_topic: String,
}

#[derive(Debug, thiserror::Error)]
enum InboxError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{file}: another node took the file over while this one read it")]
    ClaimLost { file: String },
}

/// What became of a file the reader tried.
#[derive(Debug)]
enum Outcome {
    /// Read to its end (by this node, perhaps after others started it), or read before.
    Done,
    /// Another node reads it and holds it until then (ms since the epoch; `None`: for good,
    /// a claim written by a version that did not renew claims).
    Held { until_ms: Option<i64> },
}

/// What the reader knows of a file in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Size at the last listing. A file is read only once its size held still for a whole
    /// poll interval: a writer that does not write-then-rename may still be appending.
    Growing(u64),
    /// Read, being read here, or held for good by a claim that is never renewed.
    Taken,
    /// Another node reads it; tried again once its claim may have run out.
    Held { retry_at_ms: i64 },
}

pub struct InboxReader {
    settings: InboxSettings,
    db: Db,
    producer: FutureProducer,
    seen: HashMap<PathBuf, Seen>,
    /// One file at a time: the producer's queue is shared, and order of files is kept.
    busy: bool,
    /// Kept from file to file (counters continue across objects). A std mutex: it is only
    /// taken inside the blocking parse task, and files are read one at a time.
    reader: Arc<Mutex<object::Reader>>,
    metrics: Arc<Metrics>,
}

impl InboxReader {
    pub fn new(
        settings: InboxSettings,
        db: Db,
        producer: FutureProducer,
        metrics: Arc<Metrics>,
    ) -> Self {
        InboxReader {
            settings,
            db,
            producer,
            seen: HashMap::new(),
            busy: false,
            reader: Arc::default(),
            metrics,
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        let Some(path) = self.next_ready() else {
            return;
        };
        self.busy = true;
        self.seen.insert(path.clone(), Seen::Taken);
        let job = read_file(
            path.clone(),
            self.settings.clone(),
            self.db.clone(),
            self.producer.clone(),
            self.reader.clone(),
            self.metrics.clone(),
        );
        ctx.spawn(job.into_actor(self).map(move |result, act, _| {
            act.busy = false;
            match result {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Held {
                    until_ms: Some(until_ms),
                }) => {
                    act.seen.insert(
                        path,
                        Seen::Held {
                            retry_at_ms: until_ms + 1,
                        },
                    );
                }
                Ok(Outcome::Held { until_ms: None }) => {}
                Err(e) => {
                    tracing::error!(error = %e, "inbox file not finished");
                    // A lost claim: the file is another node's now. A database or read error:
                    // try again after a lease, resuming where the broker's acknowledgements
                    // were saved.
                    act.seen.insert(
                        path,
                        Seen::Held {
                            retry_at_ms: wall_ms() + act.settings.lease_ms,
                        },
                    );
                }
            }
        }));
    }

    /// Lists the folder and returns the first file that is complete and not taken yet.
    fn next_ready(&mut self) -> Option<PathBuf> {
        let entries = match std::fs::read_dir(&self.settings.dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %self.settings.dir.display(), error = %e, "cannot list the inbox");
                return None;
            }
        };
        let mut files: Vec<(PathBuf, u64)> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| (e.path(), meta.len()))
            })
            .collect();
        files.sort();
        let mut ready = None;
        let now_ms = wall_ms();
        for (path, size) in files {
            match self.seen.get(&path) {
                Some(Seen::Taken) => {}
                Some(Seen::Held { retry_at_ms }) => {
                    if *retry_at_ms <= now_ms {
                        ready.get_or_insert(path);
                    }
                }
                Some(Seen::Growing(before)) if *before == size => {
                    ready.get_or_insert(path);
                }
                _ => {
                    self.seen.insert(path, Seen::Growing(size));
                }
            }
        }
        ready
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn read_file(
    path: PathBuf,
    settings: InboxSettings,
    db: Db,
    producer: FutureProducer,
    reader: Arc<Mutex<object::Reader>>,
    metrics: Arc<Metrics>,
) -> Result<Outcome, InboxError> {
    let name = file_name(&path);
    let read_error = |source| InboxError::Read {
        path: path.clone(),
        source,
    };
    // Claimed before it is read: a file another node holds is not read here at all.
    let size = tokio::fs::metadata(&path).await.map_err(read_error)?.len();
    let claim = {
        let (db, name, node) = (db.clone(), name.clone(), settings.node.clone());
        let lease_ms = settings.lease_ms;
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            let lease = Lease {
                node: &node,
                now_ms: wall_ms(),
                lease_ms,
            };
            Ok::<_, store::StoreError>(store::ingest::claim_file(&mut conn, &name, size, lease)?)
        })
        .await??
    };
    let from = match claim {
        Claim::Mine { from } => from,
        Claim::Done => {
            tracing::debug!(file = %name, "already in the ledger, skipped");
            return Ok(Outcome::Done);
        }
        Claim::Held { node, until_ms } => {
            tracing::debug!(file = %name, %node, ?until_ms, "being read by another node");
            return Ok(Outcome::Held { until_ms });
        }
    };
    if from > 0 {
        tracing::warn!(file = %name, from, "taking over a file whose reader stopped: resuming after the records the broker acknowledged");
    }
    let bytes = tokio::fs::read(&path).await.map_err(read_error)?;
    let (format, parsed) = tokio::task::spawn_blocking(move || {
        // A parse that panicked left nothing half-done that matters: take the reader anyway.
        let mut reader = reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read_object(&mut reader, bytes)
    })
    .await?;
    let mut errors = parsed.errors;
    let mut error_count = parsed.error_count;
    let records = parsed.events.len() as u64;
    let source = format.map(Format::name);
    let progress = Progress {
        db: db.clone(),
        file: name.clone(),
        node: settings.node.clone(),
        lease_ms: settings.lease_ms,
    };
    let failures = publish(
        &producer,
        &settings.events_topic,
        source,
        &format!("{ORIGIN_PREFIX}{name}"),
        parsed.events,
        from,
        &progress,
    )
    .await?;
    for (index, reason) in failures.iter().take(parse::MAX_SAMPLES) {
        errors.push(LineError {
            line: *index,
            reason: reason.clone(),
        });
    }
    error_count += failures.len() as u64;
    let published = records - failures.len() as u64;
    for e in &errors {
        tracing::warn!(file = %name, line = e.line, reason = %e.reason, "malformed line");
    }
    let finished = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn()?;
        let samples: Vec<(u64, &str)> =
            errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        Ok::<_, store::StoreError>(store::ingest::finish_file(
            &mut conn,
            &name,
            &progress.node,
            published,
            error_count,
            &samples,
        )?)
    })
    .await??;
    if !finished {
        return Err(InboxError::ClaimLost {
            file: file_name(&path),
        });
    }
    tracing::info!(file = %file_name(&path), records = published, errors = error_count, "inbox file taken");
    metrics.inbox_files.inc();
    metrics.inbox_events.inc_by(published);
    metrics.inbox_malformed_lines.inc_by(error_count);
    Ok(Outcome::Done)
}

/// Where a reader saves its progress and renews its claim.
struct Progress {
    db: Db,
    file: String,
    node: String,
    lease_ms: i64,
}

impl Progress {
    /// Saves that the first `acked` records are on the broker; `Err(ClaimLost)` when another
    /// node holds the file now.
    async fn save(&self, acked: u64) -> Result<(), InboxError> {
        let (db, file, node) = (self.db.clone(), self.file.clone(), self.node.clone());
        let lease_ms = self.lease_ms;
        let kept = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            let lease = Lease {
                node: &node,
                now_ms: wall_ms(),
                lease_ms,
            };
            Ok::<_, store::StoreError>(store::ingest::renew(&mut conn, &file, lease, acked)?)
        })
        .await??;
        if kept {
            Ok(())
        } else {
            Err(InboxError::ClaimLost {
                file: self.file.clone(),
            })
        }
    }
}

/// Decompresses, recognises and parses one file: every format LayerCast reads, plain or gzip.
fn read_object(reader: &mut object::Reader, raw: Vec<u8>) -> (Option<Format>, parse::Parsed) {
    let (bytes, broken) = object::decode(raw);
    let mut parsed = parse::Parsed::default();
    let format = object::detect(&bytes);
    match format {
        Some(format) => {
            let report = reader.parse(format, &bytes, &mut parsed.events);
            parsed.errors = report.errors;
            parsed.error_count = report.error_count;
        }
        None => {
            parsed.error_count = 1;
            parsed.errors.push(LineError {
                line: 1,
                reason: "format not recognised".into(),
            });
        }
    }
    if let Some(reason) = broken {
        parsed.error_count += 1;
        parsed.errors.push(LineError { line: 0, reason });
    }
    (format, parsed)
}

/// Publishes the events from number `from` on, keyed by entity, marked with their format as
/// their source and with their origin (`object`, event number); returns the ones the broker
/// did not take, as (event number, reason). Saves its progress [`RENEWALS_PER_LEASE`] times a
/// lease: the
/// number of events before the first one not yet acknowledged (the deliveries are awaited in
/// order, so that is a prefix).
async fn publish(
    producer: &FutureProducer,
    topic: &str,
    source: Option<&str>,
    object: &str,
    events: Vec<Event>,
    from: u64,
    progress: &Progress,
) -> Result<Vec<(u64, String)>, InboxError> {
    let sends = events
        .into_iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .map(|(index, event)| async move {
            let key = event.entity.clone();
            let msg = match source {
                Some(source) => EventMsg::from_source(event, source),
                None => EventMsg::new(event),
            }
            .with_origin(Origin {
                object: object.to_owned(),
                seq: index as u64,
            });
            let payload =
                serde_json::to_vec(&msg).map_err(|e| (index as u64 + 1, e.to_string()))?;
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    Timeout::Never,
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| format!("event {} not published: {e}", index + 1))
                .map_err(|reason| (index as u64 + 1, reason))
        });
    let mut acks = futures::stream::iter(sends).buffered(IN_FLIGHT);
    let every = Duration::from_millis(u64::try_from(progress.lease_ms).unwrap_or(u64::MAX))
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
                    if let Err(failure) = result {
                        failures.push(failure);
                    }
                }
                None => break,
            },
            // Also when nothing was acknowledged (the broker is away): the claim stays ours.
            _ = renew.tick() => progress.save(acked).await?,
        }
    }
    Ok(failures)
}

impl Actor for InboxReader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Err(e) = std::fs::create_dir_all(&self.settings.dir) {
            tracing::error!(dir = %self.settings.dir.display(), error = %e, "cannot create the inbox");
        }
        tracing::info!(dir = %self.settings.dir.display(), "watching the inbox");
        ctx.run_interval(self.settings.poll, |act, ctx| act.poll(ctx));
    }
}
