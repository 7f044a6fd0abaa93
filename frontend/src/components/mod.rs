//! Small pieces the pages are made of.

mod connection_indicator;
mod layer_card;
mod window_table;

pub use connection_indicator::ConnectionIndicator;
pub use layer_card::LayerCard;
pub use window_table::WindowTable;
