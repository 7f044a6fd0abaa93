//! Small pieces the pages are made of.

mod anomaly_list;
mod chart;
mod connection_indicator;
mod layer_card;
mod partition_table;
mod shell;
mod user_menu;
mod window_table;

pub use anomaly_list::AnomalyList;
pub use chart::Chart;
pub use connection_indicator::ConnectionIndicator;
pub use layer_card::LayerCard;
pub use partition_table::PartitionTable;
pub use shell::Shell;
pub use user_menu::UserMenu;
pub use window_table::WindowTable;
