//! Retention: rows of each window length are deleted once older than that length's retention
//! (raw windows days, roll-ups months or years).

use std::time::Duration;

use super::{layer_windows, windows, Db};

/// Retention is coarse (days), so a pass every ten minutes keeps the tables within minutes of
/// their bound at the cost of one indexed DELETE per length.
const EVERY: Duration = Duration::from_secs(600);

/// Runs a pass now and then every [`EVERY`], for as long as the process lives. Every node
/// runs it: the deletes are idempotent, and a node alone must still expire its rows.
pub fn start(db: Db, lengths: Vec<(i64, i64)>) {
    actix::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let (db, lengths) = (db.clone(), lengths.clone());
            let now_ms = chrono::Utc::now().timestamp_millis();
            let done = tokio::task::spawn_blocking(move || expire_all(&db, &lengths, now_ms)).await;
            match done {
                Ok(Ok(0)) => {}
                Ok(Ok(deleted)) => {
                    tracing::info!(deleted, "expired window rows past their retention")
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "retention pass failed; tried again later")
                }
                Err(e) => tracing::warn!(error = %e, "retention task failed"),
            }
        }
    });
}

/// Deletes, for every (length, retention), the windows that ended more than the retention ago.
pub fn expire_all(
    db: &Db,
    lengths: &[(i64, i64)],
    now_ms: i64,
) -> Result<usize, super::StoreError> {
    let mut conn = db.conn()?;
    let mut deleted = 0;
    for &(len_ms, keep_ms) in lengths {
        deleted += windows::expire(&mut conn, len_ms, now_ms.saturating_sub(keep_ms))?;
        deleted += layer_windows::expire(&mut conn, len_ms, now_ms.saturating_sub(keep_ms))?;
    }
    Ok(deleted)
}
