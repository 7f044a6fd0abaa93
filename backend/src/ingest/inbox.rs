//! The inbox source: an actor that notices new files in a folder and takes each (`take`):
//! claimed in the database ledger (so that it is read once, even by several nodes sharing the
//! folder, and taken over when its reader dies), streamed through its parser (any format
//! LayerCast reads, plain or gzip) and published as events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use super::object;
use super::stats::{Discovery, SourceKind, SourceStats};
use super::take::{Input, ObjectRef, Outcome, Taker};

/// The inbox's name among the sources (`/api/ingest`, `/metrics`).
pub const SOURCE_NAME: &str = "inbox";

/// What an inbox file's events carry as their origin's object: `inbox/<name>`.
const ORIGIN_PREFIX: &str = "inbox/";

#[derive(Debug, Clone)]
pub struct InboxSettings {
    pub dir: PathBuf,
    pub poll: Duration,
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
    taker: Taker,
    seen: HashMap<PathBuf, Seen>,
    /// One file at a time: the producer's queue is shared, and order of files is kept.
    busy: bool,
    /// Kept from file to file (counters continue across objects). A std mutex: it is only
    /// taken inside the blocking parse task, and files are read one at a time.
    reader: Arc<Mutex<object::Reader>>,
    stats: Arc<SourceStats>,
}

impl InboxReader {
    pub fn new(settings: InboxSettings, taker: Taker) -> Self {
        let stats = taker
            .metrics
            .source(SOURCE_NAME, SourceKind::Inbox, Discovery::Folder);
        InboxReader {
            settings,
            taker,
            seen: HashMap::new(),
            busy: false,
            reader: Arc::default(),
            stats,
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
        let job = take_file(
            path.clone(),
            self.taker.clone(),
            self.reader.clone(),
            self.stats.clone(),
        );
        ctx.spawn(job.into_actor(self).map(move |result, act, _| {
            act.busy = false;
            match result {
                Ok(Outcome::Done | Outcome::AlreadyDone) => {}
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
                            retry_at_ms: wall_ms() + act.taker.lease_ms,
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
        // Files not taken yet (but the one about to be read), and not held by another node.
        let mut pending = 0;
        for (path, size) in files {
            match self.seen.get(&path) {
                Some(Seen::Taken) => {}
                Some(Seen::Held { retry_at_ms }) => {
                    if *retry_at_ms <= now_ms {
                        ready.get_or_insert(path);
                    }
                }
                Some(Seen::Growing(before)) if *before == size => {
                    if ready.is_none() {
                        ready = Some(path);
                    } else {
                        pending += 1;
                    }
                }
                _ => {
                    pending += 1;
                    self.seen.insert(path, Seen::Growing(size));
                }
            }
        }
        self.stats.set_pending(pending);
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

async fn take_file(
    path: PathBuf,
    taker: Taker,
    reader: Arc<Mutex<object::Reader>>,
    stats: Arc<SourceStats>,
) -> Result<Outcome, super::take::TakeError> {
    let name = file_name(&path);
    // Claimed before it is opened: a file another node holds is not read here at all.
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|e| super::take::TakeError::Read {
            object: name.clone(),
            reason: e.to_string(),
        })?;
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    let object = ObjectRef {
        ledger_name: name.clone(),
        origin: format!("{ORIGIN_PREFIX}{name}"),
        size: meta.len(),
        format: None,
        modified_ms,
        stats,
    };
    taker
        .take(object, reader, || async move {
            std::fs::File::open(&path)
                .map(|f| Box::new(f) as Input)
                .map_err(|e| e.to_string())
        })
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
