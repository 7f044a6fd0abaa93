//! The aggregator: a pool of sync actors (one DB connection each) that make a partition's
//! window deltas durable, together with the partition's new offset, in one transaction.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, Handler, Message, SyncContext};
use diesel::Connection;
use layercast_shared::LayerWindow;

use super::windows::{self, WindowDelta};
use crate::metrics::Metrics;
use super::{offsets, Db, DbConn, StoreError};

/// Everything a partition actor has gathered since its last durable write.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<LayerWindow>, StoreError>")]
pub struct WriteBatch {
    pub topic: String,
    pub partition: i32,
    /// The partition's stored offset when the partition actor began this batch.
    pub expected_offset: i64,
    /// The offset after the last record in the batch.
    pub next_offset: i64,
    pub window_len_ms: i64,
    pub deltas: Vec<WindowDelta>,
    /// The node writing, kept with the offset to show who owned the partition last.
    pub node: String,
}

/// A sync actor: diesel blocks, so these run on their own threads (`SyncArbiter`), never on
/// the async arbiters that serve HTTP and Kafka.
pub struct Aggregator {
    db: Db,
    /// Kept between batches; dropped after an error so the next batch reconnects.
    conn: Option<DbConn>,
    metrics: Arc<Metrics>,
}

impl Aggregator {
    pub fn new(db: Db, metrics: Arc<Metrics>) -> Self {
        Aggregator { db, conn: None, metrics }
    }

    fn write(conn: &mut DbConn, batch: &WriteBatch) -> Result<Vec<LayerWindow>, StoreError> {
        conn.transaction::<_, StoreError, _>(|conn| {
            windows::apply_deltas(conn, batch.window_len_ms, &batch.deltas)?;
            offsets::advance(
                conn,
                &batch.topic,
                batch.partition,
                batch.expected_offset,
                batch.next_offset,
                &batch.node,
            )
        })?;
        let keys: BTreeSet<_> = batch.deltas.iter().map(|d| (d.layer, d.start_ms)).collect();
        Ok(windows::layer_totals(conn, batch.window_len_ms, &keys)?)
    }
}

impl Actor for Aggregator {
    type Context = SyncContext<Self>;
}

impl Handler<WriteBatch> for Aggregator {
    type Result = Result<Vec<LayerWindow>, StoreError>;

    fn handle(&mut self, batch: WriteBatch, _: &mut SyncContext<Self>) -> Self::Result {
        let started = Instant::now();
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => match self.db.dedicated() {
                Ok(conn) => conn,
                Err(e) => {
                    self.metrics.observe_batch(started.elapsed(), false);
                    return Err(e);
                }
            },
        };
        let result = Self::write(&mut conn, &batch);
        self.metrics.observe_batch(started.elapsed(), result.is_ok());
        if !matches!(result, Err(StoreError::Query(_))) {
            self.conn = Some(conn);
        }
        result
    }
}
