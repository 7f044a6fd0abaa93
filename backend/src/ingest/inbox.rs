//! The inbox source: an actor that notices new files in a folder, claims each in the database
//! ledger (so that it is read once, even by several nodes sharing the folder), parses it (any
//! format LayerCast reads, plain or gzip) and publishes its measurements as events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use layercast_shared::{Event, EventMsg};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::object;
use super::parse::{self, Format, LineError};
use crate::metrics::Metrics;
use crate::store::{self, Db};

/// Events awaiting their delivery report at once: enough to keep the producer's batches full.
const IN_FLIGHT: usize = 10_000;

#[derive(Debug, Clone)]
pub struct InboxSettings {
    pub dir: PathBuf,
    pub poll: Duration,
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
}

/// What the reader knows of a file in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Size at the last listing. A file is read only once its size held still for a whole
    /// poll interval: a writer that does not write-then-rename may still be appending.
    Growing(u64),
    Taken,
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
            path,
            self.settings.clone(),
            self.db.clone(),
            self.producer.clone(),
            self.reader.clone(),
            self.metrics.clone(),
        );
        ctx.spawn(job.into_actor(self).map(|result, act, _| {
            act.busy = false;
            if let Err(e) = result {
                tracing::error!(error = %e, "inbox file not taken");
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
        for (path, size) in files {
            match self.seen.get(&path) {
                Some(Seen::Taken) => {}
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

async fn read_file(
    path: PathBuf,
    settings: InboxSettings,
    db: Db,
    producer: FutureProducer,
    reader: Arc<Mutex<object::Reader>>,
    metrics: Arc<Metrics>,
) -> Result<(), InboxError> {
    let name = file_name(&path);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|source| InboxError::Read {
            path: path.clone(),
            source,
        })?;
    let size = bytes.len() as u64;
    let claimed = {
        let (db, name, node) = (db.clone(), name.clone(), settings.node.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            Ok::<_, store::StoreError>(store::ingest::claim_file(&mut conn, &name, size, &node)?)
        })
        .await??
    };
    if !claimed {
        tracing::debug!(file = %name, "already in the ledger, skipped");
        return Ok(());
    }
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
    let failures = publish(&producer, &settings.events_topic, source, parsed.events).await;
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
    tracing::info!(file = %name, records = published, errors = error_count, "inbox file taken");
    metrics.inbox_files.inc();
    metrics.inbox_events.inc_by(published);
    metrics.inbox_malformed_lines.inc_by(error_count);
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn()?;
        let samples: Vec<(u64, &str)> =
            errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        store::ingest::finish_file(&mut conn, &name, published, error_count, &samples)?;
        Ok::<_, store::StoreError>(())
    })
    .await??;
    Ok(())
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

/// Publishes the events keyed by entity, marked with their format as their source; returns
/// the ones the broker did not take, as (event number, reason).
async fn publish(
    producer: &FutureProducer,
    topic: &str,
    source: Option<&str>,
    events: Vec<Event>,
) -> Vec<(u64, String)> {
    let sends = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| async move {
            let key = event.entity.clone();
            let msg = match source {
                Some(source) => EventMsg::from_source(event, source),
                None => EventMsg::new(event),
            };
            let payload = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    Timeout::Never,
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| format!("event {} not published: {e}", index + 1))
        });
    futures::stream::iter(sends)
        .buffered(IN_FLIGHT)
        .enumerate()
        .filter_map(|(index, r)| async move { r.err().map(|reason| (index as u64 + 1, reason)) })
        .collect()
        .await
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
