//! The database: one schema over MySQL (production) and SQLite (embedded), reached through
//! diesel. Per table one file of row types and query functions; `aggregator` is the actor that
//! writes window batches from the stream, `layer_writer` the one of the layer stage.

mod aggregator;
pub mod analysis;
pub mod anomalies;
pub mod audit;
mod db;
pub mod ingest;
pub mod late;
pub mod layer_windows;
mod layer_writer;
pub mod notifications;
pub mod offsets;
pub mod retention;
mod rows;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;
pub mod windows;

pub use aggregator::{
    Aggregator, DeliveredFirst, LoadAnalysis, LoadHistory, LoadOpenWindows, LoadPendingRollups,
    WriteBatch, WriteFindings, WriteTrackers,
};
pub(crate) use db::write_transaction;
pub use db::{
    Db, DbConn, DbUrl, StoreError, PING_TIMEOUT, RECOMMENDED_BUFFER_POOL_BYTES,
    RECOMMENDED_FOR_SERIES,
};
pub use layer_writer::{LayerWriter, LoadProgress, WriteLayers};
