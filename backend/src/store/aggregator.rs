//! The aggregator: a pool of sync actors (one DB connection each) that make a partition's
//! window deltas durable, together with the partition's new offset, in one transaction.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Handler, Message, SyncContext};
use layercast_shared::{Alert, SeriesWindow};

use super::analysis::{self, SavedState, StoredFindings, TrackerRows};
use super::db::write_transaction;
use super::late::{self, LateDrop};
use super::offsets::Position;
use super::windows::{self, WindowRow};
use super::{offsets, Db, DbConn, StoreError};
use crate::metrics::Metrics;
use crate::stream::window::Window;

/// Everything a partition actor has gathered since its last durable write.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
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
    /// The roll-up windows whose last base window is final (made so by an earlier batch):
    /// their whole, final values (the partition actor holds them). A roll-up has no row before
    /// that; until then it is read from the rows below it (`windows::pending_rollups`).
    pub rollups: Vec<Window>,
    /// When the close that ended them was due (wall clock, ms).
    pub rollups_closed_at_ms: i64,
    pub late: Vec<LateDrop>,
    /// The node writing, kept with the offset to show who owned the partition last.
    pub node: String,
    /// What must be on Kafka before the batch commits, if anything.
    pub delivered_first: Option<DeliveredFirst>,
}

/// The answer of Kafka deliveries that must succeed before a batch commits: late records and
/// layer contributions, which nobody would send again once the partition's position passes
/// them. They run while the batch's rows are written, and the commit waits for them, so a
/// close costs the longer of the two rather than their sum.
#[derive(Debug)]
pub struct DeliveredFirst(Receiver<bool>);

impl DeliveredFirst {
    /// The sender takes `true` once everything is delivered; `false`, or being dropped, rolls
    /// the batch back.
    pub fn channel() -> (SyncSender<bool>, Self) {
        let (done, answer) = sync_channel(1);
        (done, DeliveredFirst(answer))
    }

    /// Blocks this writer's thread (a sync actor's own) until the answer; returns how long.
    fn wait(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        match self.0.recv() {
            Ok(true) => Ok(started.elapsed()),
            _ => Err(StoreError::NotDelivered),
        }
    }
}

/// The partition's final windows since `since_ms`, to warm its detectors.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<SeriesWindow>, StoreError>")]
pub struct LoadHistory {
    pub partition: i32,
    pub len_ms: i64,
    pub since_ms: i64,
    pub limit: i64,
}

/// The anomalies and alert changes of a close, stored in one transaction
/// (`analysis::write`).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Alert>, StoreError>")]
pub struct WriteFindings {
    pub partition: i32,
    pub findings: StoredFindings,
    pub now_ms: i64,
}

/// The trends, runways and trackers' states of a close (`analysis::save_trackers`), stored
/// after its alerts: a node taking over skips the windows a state has seen.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct WriteTrackers {
    pub partition: i32,
    pub rows: TrackerRows,
}

/// The pending and firing alerts and the trackers' states of a partition (`analysis::load`).
#[derive(Debug, Message)]
#[rtype(result = "Result<(Vec<Alert>, Vec<SavedState>), StoreError>")]
pub struct LoadAnalysis {
    pub partition: i32,
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
        Aggregator {
            db,
            conn: None,
            metrics,
        }
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

    /// Returns the time spent waiting for the batch's deliveries.
    fn write(conn: &mut DbConn, batch: &WriteBatch) -> Result<Duration, StoreError> {
        // SQLite has one writer at a time: its lock is not held while Kafka answers.
        let wait_inside = !matches!(conn, DbConn::Sqlite(_));
        let wait = |now: bool| match &batch.delivered_first {
            Some(delivered) if now => delivered.wait(),
            _ => Ok(Duration::ZERO),
        };
        let waited_before = wait(!wait_inside)?;
        write_transaction(conn, |conn| {
            windows::put(
                conn,
                batch.partition,
                &batch.closed,
                Some(batch.closed_at_ms),
            )?;
            windows::put(
                conn,
                batch.partition,
                &batch.rollups,
                Some(batch.rollups_closed_at_ms),
            )?;
            windows::put(conn, batch.partition, &batch.open, None)?;
            late::add(conn, &batch.late)?;
            offsets::advance(
                conn,
                &batch.topic,
                batch.partition,
                batch.expected_offset,
                &batch.position,
                &batch.node,
            )?;
            Ok(waited_before + wait(wait_inside)?)
        })
    }
}

impl Actor for Aggregator {
    type Context = SyncContext<Self>;
}

impl Handler<WriteBatch> for Aggregator {
    type Result = Result<(), StoreError>;

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
        let waited = result.as_ref().map_or(Duration::ZERO, |w| *w);
        self.metrics
            .observe_batch(started.elapsed().saturating_sub(waited), result.is_ok());
        if result.is_ok() && batch.delivered_first.is_some() {
            self.metrics
                .delivery_wait_seconds
                .observe(waited.as_secs_f64());
        }
        self.keep(conn, &result);
        result.map(|_| ())
    }
}

/// The partition's base windows not yet final, as last saved: what an embedded node
/// restarted on an empty broker takes over, the records behind them being gone with the old
/// broker.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Window>, StoreError>")]
pub struct LoadOpenWindows {
    pub partition: i32,
    pub len_ms: i64,
}

/// The partition's open roll-ups, which a partition actor holds whole: what its closed base
/// windows have added to them, rebuilt from the final rows below them. `levels`: the base
/// length, then the roll-up lengths.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Window>, StoreError>")]
pub struct LoadPendingRollups {
    pub partition: i32,
    pub levels: Vec<i64>,
}

impl Handler<LoadPendingRollups> for Aggregator {
    type Result = Result<Vec<Window>, StoreError>;

    fn handle(&mut self, msg: LoadPendingRollups, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = windows::pending_rollups(
            &mut conn,
            &msg.levels,
            &windows::RollupScope::partition(msg.partition),
            false,
        )
        .map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

impl Handler<LoadOpenWindows> for Aggregator {
    type Result = Result<Vec<Window>, StoreError>;

    fn handle(&mut self, msg: LoadOpenWindows, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result =
            windows::open_windows(&mut conn, msg.partition, msg.len_ms).map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

impl Handler<LoadHistory> for Aggregator {
    type Result = Result<Vec<SeriesWindow>, StoreError>;

    fn handle(&mut self, msg: LoadHistory, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = windows::final_history(
            &mut conn,
            msg.partition,
            msg.len_ms,
            msg.since_ms,
            msg.limit,
        )
        .map(|rows| {
            rows.into_iter()
                .filter_map(WindowRow::into_series_window)
                .collect()
        })
        .map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

impl Handler<WriteFindings> for Aggregator {
    type Result = Result<Vec<Alert>, StoreError>;

    fn handle(&mut self, msg: WriteFindings, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = analysis::write(&mut conn, msg.partition, &msg.findings, msg.now_ms)
            .map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

impl Handler<WriteTrackers> for Aggregator {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, msg: WriteTrackers, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result =
            analysis::save_trackers(&mut conn, msg.partition, &msg.rows).map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

impl Handler<LoadAnalysis> for Aggregator {
    type Result = Result<(Vec<Alert>, Vec<SavedState>), StoreError>;

    fn handle(&mut self, msg: LoadAnalysis, _: &mut SyncContext<Self>) -> Self::Result {
        let mut conn = self.connection()?;
        let result = analysis::load(&mut conn, msg.partition).map_err(StoreError::from);
        self.keep(conn, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;
    use crate::stream::window::{Window, WindowAgg};
    use layercast_shared::OsiLayer;

    fn closing(delivered_first: DeliveredFirst) -> WriteBatch {
        let agg = WindowAgg {
            events: 3,
            ..WindowAgg::default()
        };
        WriteBatch {
            topic: "t".into(),
            partition: 0,
            expected_offset: 0,
            position: Position {
                next_offset: 5,
                replay_from: 5,
                ..Position::default()
            },
            closed: vec![Window {
                layer: OsiLayer::L4,
                entity: "x".into(),
                start_ms: 0,
                len_ms: 10_000,
                agg,
            }],
            closed_at_ms: 1,
            open: Vec::new(),
            rollups: Vec::new(),
            rollups_closed_at_ms: 1,
            late: Vec::new(),
            node: "n".into(),
            delivered_first: Some(delivered_first),
        }
    }

    #[test]
    fn a_batch_commits_only_once_its_deliveries_are_acknowledged() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        offsets::resume_offset(&mut conn, "t", 0, "n").expect("partition row");
        let (delivered, answer) = DeliveredFirst::channel();
        delivered.send(false).expect("answer");
        assert!(matches!(
            Aggregator::write(&mut conn, &closing(answer)),
            Err(StoreError::NotDelivered)
        ));
        let (delivered, answer) = DeliveredFirst::channel();
        drop(delivered);
        assert!(
            matches!(
                Aggregator::write(&mut conn, &closing(answer)),
                Err(StoreError::NotDelivered)
            ),
            "the deliveries' task is gone"
        );
        assert_eq!(
            windows::total_events(&mut conn, 10_000).expect("total"),
            0,
            "nothing of either batch written"
        );
        assert_eq!(
            offsets::resume_offset(&mut conn, "t", 0, "n").expect("offset"),
            0
        );

        let (delivered, answer) = DeliveredFirst::channel();
        let acknowledged = std::thread::spawn(move || delivered.send(true));
        Aggregator::write(&mut conn, &closing(answer)).expect("written once acknowledged");
        acknowledged.join().expect("thread").expect("sent");
        assert_eq!(windows::total_events(&mut conn, 10_000).expect("total"), 3);
        assert_eq!(
            offsets::resume_offset(&mut conn, "t", 0, "n").expect("offset"),
            5
        );
    }
}
