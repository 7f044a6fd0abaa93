//! The layer stage's writer: a sync actor (diesel blocks) that makes a layers partition's
//! final windows, its sources' progress and its position durable in one transaction.

use actix::{Actor, Handler, Message, SyncContext};
use layercast_shared::OsiLayer;

use super::db::write_transaction;
use super::layer_windows::{self, LayerWindowRow, Progress};
use super::offsets::{self, Position};
use super::{Db, DbConn, StoreError};

/// What a layer actor has to make durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct WriteLayers {
    /// The layers topic, whose positions live in `partition_offsets` like the events topic's.
    pub topic: String,
    pub partition: i32,
    /// The stored position when the actor built this write: the fence.
    pub expected_offset: i64,
    /// The position after it: the oldest record still needed to rebuild an open window.
    pub next_offset: i64,
    /// Final rows, and provisional ones of windows still open.
    pub rows: Vec<LayerWindowRow>,
    pub progress: Progress,
    pub node: String,
}

/// The stored progress of these layers, for an actor taking them over.
#[derive(Debug, Message)]
#[rtype(result = "Result<Progress, StoreError>")]
pub struct LoadProgress {
    pub layers: Vec<OsiLayer>,
}

pub struct LayerWriter {
    db: Db,
    /// Kept between writes; dropped after an error so the next write reconnects.
    conn: Option<DbConn>,
}

impl LayerWriter {
    pub fn new(db: Db) -> Self {
        LayerWriter { db, conn: None }
    }

    fn with_conn<T>(
        &mut self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.db.dedicated()?,
        };
        let result = f(&mut conn);
        if !matches!(result, Err(StoreError::Query(_))) {
            self.conn = Some(conn);
        }
        result
    }
}

impl Actor for LayerWriter {
    type Context = SyncContext<Self>;
}

impl Handler<WriteLayers> for LayerWriter {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, w: WriteLayers, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_conn(|conn| {
            write_transaction(conn, |conn| {
                layer_windows::upsert(conn, &w.rows)?;
                layer_windows::save_progress(conn, &w.progress)?;
                // Also when the position stays: the fence must hold for every write, and
                // diesel's MySQL connections count a matched row as updated (CLIENT_FOUND_ROWS).
                let next = Position {
                    next_offset: w.next_offset,
                    replay_from: w.next_offset,
                    max_event_ms: None,
                    watermark_ms: None,
                    sources: Default::default(),
                    origins: Default::default(),
                };
                offsets::advance(
                    conn,
                    &w.topic,
                    w.partition,
                    w.expected_offset,
                    &next,
                    &w.node,
                )
            })
        })
    }
}

impl Handler<LoadProgress> for LayerWriter {
    type Result = Result<Progress, StoreError>;

    fn handle(&mut self, msg: LoadProgress, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_conn(|conn| Ok(layer_windows::load_progress(conn, &msg.layers)?))
    }
}

// The layer stage's analysis (its layer-wide series) goes through this writer too, not the
// event partitions' aggregators: a layer actor starting during a rebalance must not wait
// behind their batches, which wait for Kafka deliveries.

impl Handler<super::WriteFindings> for LayerWriter {
    type Result = Result<Vec<layercast_shared::Alert>, StoreError>;

    fn handle(&mut self, msg: super::WriteFindings, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_conn(|conn| {
            Ok(super::analysis::write(
                conn,
                msg.partition,
                &msg.findings,
                msg.now_ms,
            )?)
        })
    }
}

impl Handler<super::WriteTrackers> for LayerWriter {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, msg: super::WriteTrackers, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_conn(|conn| {
            Ok(super::analysis::save_trackers(
                conn,
                msg.partition,
                &msg.rows,
            )?)
        })
    }
}

impl Handler<super::LoadAnalysis> for LayerWriter {
    type Result = Result<
        (
            Vec<layercast_shared::Alert>,
            Vec<super::analysis::SavedState>,
        ),
        StoreError,
    >;

    fn handle(&mut self, msg: super::LoadAnalysis, _: &mut SyncContext<Self>) -> Self::Result {
        self.with_conn(|conn| Ok(super::analysis::load(conn, msg.partition)?))
    }
}
