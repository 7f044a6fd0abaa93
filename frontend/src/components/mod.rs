//! Small pieces the pages are made of.

mod connection_indicator;
mod layer_card;
mod partition_table;
mod window_table;

pub use connection_indicator::ConnectionIndicator;
pub use layer_card::LayerCard;
pub use partition_table::PartitionTable;
pub use window_table::WindowTable;
