//! The pages' logic as plain functions over plain data: no signals, no DOM, no fetch, so that
//! it runs and is tested natively (`cargo test -p layercast-frontend`).

pub mod alerts;
pub mod capacity_csv;
pub mod chart_data;
pub mod layer_table;
pub mod overview;
pub mod route;
pub mod rule_form;
pub mod runway;
pub mod wire;
pub mod zoom;
