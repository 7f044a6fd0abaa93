//! The layer stage: layer-wide windows (the sum over every entity of a layer) need every
//! partition of the events topic, so they are a second stage fed by the first, re-keyed by
//! layer (the repartition pattern of Kafka Streams) rather than a query-time sum.
//!
//! - [`feed`]: each partition actor sums its per-entity windows per layer and sends them on
//!   the layers topic ([`LayerFeed`]): final values when its windows close (delivered before
//!   its own transaction, so at least once), provisional ones once a second. Values are
//!   absolute, so a copy sent twice changes nothing.
//! - `stage`: its own consumer group on the layers topic; one actor per assigned partition
//!   (a partition carries one layer when the topic has seven).
//! - `state`: per window the last value of every source partition; a layer window is final
//!   once every source has closed it (see its module documentation for idle sources).
//! - `actor`: writes final windows to `layer_windows` with the partition's position in one
//!   transaction, then publishes them on the updates topic.
//!
//! Position: the stage stores (and commits) the offset of the oldest record that contributed
//! to a window not yet final, so a node taking a partition over reads every contribution of
//! the open windows again; contributions to windows already final are skipped.

mod actor;
mod feed;
mod stage;
mod state;

pub use feed::{layers_of, partials_of, partition_of, LayerFeed};
pub use layercast_shared::{LayerPartial, PartialWindow};
pub use stage::{start, LayerStageSettings};
pub use state::{LayerState, Pending, Took, Totals};
