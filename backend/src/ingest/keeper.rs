//! Keeps one [`S3Source`] actor per source: those of the configuration file, and those admins
//! add, change or remove through `/api/sources` (kind `source` of `admin_settings`), which
//! every node reads each [`CHECK_EVERY`] so that a change reaches all of them within it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use super::{Bucket, S3Source, SourceBoard, StopSource, Taker};
use crate::config::S3SourceConfig;
use crate::store::{self, Db};

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The sources admins stored through `/api/sources`.
pub fn stored_sources(db: &Db) -> Result<Vec<S3SourceConfig>, store::StoreError> {
    let mut conn = db.conn()?;
    Ok(store::settings::load(&mut conn, store::settings::SOURCE)?)
}

type Running = Arc<Mutex<BTreeMap<String, (S3SourceConfig, Addr<S3Source>)>>>;

/// The running sources of this node; [`SourceKeeper::stop`] ends them at shutdown.
#[derive(Clone)]
pub struct SourceKeeper {
    running: Running,
    stop: Arc<tokio::sync::Notify>,
}

impl SourceKeeper {
    /// Starts the file's sources at once and the stored ones within a second, then follows
    /// the table. Must run inside an actix system.
    pub fn start(db: Db, taker: Taker, board: SourceBoard, fixed: Vec<S3SourceConfig>) -> Self {
        let keeper = SourceKeeper {
            running: Running::default(),
            stop: Arc::new(tokio::sync::Notify::new()),
        };
        let (running, stop) = (keeper.running.clone(), keeper.stop.clone());
        actix::spawn(async move {
            loop {
                let stored = {
                    let db = db.clone();
                    tokio::task::spawn_blocking(move || stored_sources(&db)).await
                };
                let mut wanted = fixed.clone();
                match stored {
                    Ok(Ok(stored)) => wanted.extend(
                        stored
                            .into_iter()
                            .filter(|s| !fixed.iter().any(|f| f.name == s.name)),
                    ),
                    // Keep what runs: the database may be back in a moment.
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot read the stored sources");
                        wanted = keep_running(&running);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the stored sources");
                        wanted = keep_running(&running);
                    }
                }
                reconcile(&running, &wanted, &taker, &board).await;
                tokio::select! {
                    () = stop.notified() => break,
                    () = tokio::time::sleep(CHECK_EVERY) => {}
                }
            }
        });
        keeper
    }

    pub fn stop(&self) {
        self.stop.notify_one();
        if let Ok(mut running) = self.running.lock() {
            for (_, (_, source)) in std::mem::take(&mut *running) {
                source.do_send(StopSource);
            }
        }
    }
}

fn keep_running(running: &Running) -> Vec<S3SourceConfig> {
    running
        .lock()
        .map(|r| r.values().map(|(c, _)| c.clone()).collect())
        .unwrap_or_default()
}

/// Stops what is no longer wanted or changed, starts what is new or changed.
async fn reconcile(
    running: &Running,
    wanted: &[S3SourceConfig],
    taker: &Taker,
    board: &SourceBoard,
) {
    let to_start: Vec<S3SourceConfig> = {
        let Ok(mut now) = running.lock() else {
            return;
        };
        let gone: Vec<String> = now
            .iter()
            .filter(|(name, (config, _))| !wanted.iter().any(|w| &w.name == *name && w == config))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some((_, source)) = now.remove(&name) {
                tracing::info!(source = %name, "source removed or changed: stopping its reader");
                source.do_send(StopSource);
            }
            if let Ok(mut board) = board.lock() {
                board.remove(&name);
            }
            taker.metrics.forget_source(&name);
        }
        wanted
            .iter()
            .filter(|w| !now.contains_key(&w.name))
            .cloned()
            .collect()
    };
    for config in to_start {
        let name = config.name.clone();
        let bucket = Bucket::connect(config.clone()).await;
        let source = S3Source::new(bucket, taker.clone(), board.clone()).start();
        if let Ok(mut now) = running.lock() {
            now.insert(name, (config, source));
        }
    }
}
