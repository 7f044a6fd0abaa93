//! The aggregator: a pool of sync actors (one DB connection each) that make a partition's
//! window deltas durable, together with the partition's new offset, in one transaction.

use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, Handler, Message, SyncContext};
use layercast_shared::{SeriesWindow, WindowAnomaly};

use super::late::{self, LateDrop};
use super::offsets::Position;
use super::windows::{self, WindowRow};
use super::db::write_transaction;
use super::{anomalies, offsets, Db, DbConn, StoreError};
use crate::metrics::Metrics;
use crate::stream::window::Window;

/// Everything a partition actor has gathered since its last durable write.
#[derive(Debug, Message)]
#[rtype(result = "Result<WriteOutcome, StoreError>")]
pub struct WriteBatch {
    pub topic: String,
    pub partition: i32,
    /// The partition's stored offset when the partition actor began this batch.
    pub expected_offset: i64,
    /// Where the partition stands after the batch: the offset after its last record, the first
    /// record not yet durable, and the event-time clock.
    pub position: Position,
    /// Base windows the watermark closed: their whole, final values.
    pub closed: Vec<Window>,
    /// When the watermark passed the windows of `closed` (wall clock, ms).
    pub closed_at_ms: i64,
    /// Base windows still open whose values changed: provisional, replaced by the next write.
    pub open: Vec<Window>,
    /// The roll-up windows `closed` adds to, whole: what their rows hold (the partition actor
    /// keeps a copy) plus what `closed` adds. Written as values, so nothing is read back.
    pub rollups: Vec<Window>,
    /// Per roll-up length, the last roll-up window start whose base windows have all closed.
    pub close: Vec<(i64, i64)>,
    pub late: Vec<LateDrop>,
    /// The node writing, kept with the offset to show who owned the partition last.
    pub node: String,
}

/// What a durable batch changed, to be published, besides the windows the batch carried.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    /// Roll-up windows that closed with this batch: their final values. (The open ones are
    /// not published: their rows lack the base windows still open, which `/api/windows` adds.)
    pub finals: Vec<SeriesWindow>,
}

/// Anomalies the partition's detectors found in windows that just closed.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct WriteAnomalies(pub Vec<WindowAnomaly>);

/// The partition's final windows since `since_ms`, to warm its detectors.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<SeriesWindow>, StoreError>")]
pub struct LoadHistory {
    pub partition: i32,
    pub len_ms: i64,
    pub since_ms: i64,
    pub limit: i64,
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

    /// The kept connection, or a new one.
    fn connection(&mut self) -> Result<DbConn, StoreError> {
        match self.conn.take() {
            Some(conn) => Ok(conn),
            None => self.db.dedicated(),
        }
    }

    /// Keeps the connection unless the query failed (then the next call reconnects).
    fn keep<T>(&mut self, conn: DbConn, result: &Result<T, StoreError>) {
        if !matches!(result, Err(StoreError::Query(_))) {
            self.conn = Some(conn);
        }
    }

    fn write(conn: &mut DbConn, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        let closed = write_transaction(conn, |conn| {
            windows::put(conn, batch.partition, &batch.closed, Some(batch.closed_at_ms))?;
            windows::put(conn, batch.partition, &batch.open, None)?;
            windows::put(conn, batch.partition, &batch.rollups, None)?;
            late::add(conn, &batch.late)?;
            let mut closed = Vec::new();
            for &(len_ms, last_start) in &batch.close {
                closed.extend(windows::close(conn, batch.partition, len_ms, last_start, batch.closed_at_ms)?);
            }
            offsets::advance(conn, &batch.topic, batch.partition, batch.expected_offset, &batch.position, &batch.node)?;
            Ok(closed)
        })?;
        let mut outcome = WriteOutcome::default();
        outcome.finals = closed.into_iter().filter_map(WindowRow::into_series_window).collect();
        Ok(outcome)
    }
}

impl Actor for Aggregator {
    type Context = SyncContext<Self>;
}

impl Handler<WriteBatch> for Aggregator {
    type Result = Result<WriteOutcome, StoreError>;

    fn handle(&mut self, batch: WriteBatch, _: &mut SyncContext<Self>) -> Self::Result {
        let started = Instant::now();
        let mut conn = match self.connection() {
            Ok(conn) => conn,
            Err(e) => {
                self.metrics.observe_batch(started.elapsed(), false);
                return Err(e);
            }
        };
        let result = Self::write(&mut conn, &batch);
        self.metrics.observe_batch(started.elapsed(), result.is_ok());
        self.keep(conn, &result);
        result
    }
}

impl Handler<WriteAnomalies> for Aggregator {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, msg: WriteAnomalies, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = anomalies::upsert(&mut conn, &msg.0).map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

/// The partition's windows not yet final, of the given lengths, as last written: its open
/// roll-ups, which a partition actor holds whole; and the open base windows an embedded node
/// restarted on an empty broker takes over, the records behind them being gone with the old
/// broker.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Window>, StoreError>")]
pub struct LoadOpenWindows {
    pub partition: i32,
    pub lengths_ms: Vec<i64>,
}

impl Handler<LoadOpenWindows> for Aggregator {
    type Result = Result<Vec<Window>, StoreError>;

    fn handle(&mut self, msg: LoadOpenWindows, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = windows::open_windows(&mut conn, msg.partition, &msg.lengths_ms).map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

impl Handler<LoadHistory> for Aggregator {
    type Result = Result<Vec<SeriesWindow>, StoreError>;

    fn handle(&mut self, msg: LoadHistory, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = windows::final_history(&mut conn, msg.partition, msg.len_ms, msg.since_ms, msg.limit)
            .map(|rows| rows.into_iter().filter_map(WindowRow::into_series_window).collect())
            .map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}
