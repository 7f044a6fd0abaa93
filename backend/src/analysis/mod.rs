//! Detectors over window series: each series (layer, entity, metric) of window aggregates feeds
//! streaming detectors that update in constant time per new window. Pure code: no I/O, no
//! clock (time comes in with every point), no actors.

pub mod alerts;
pub mod anomaly;
pub mod forecast;
pub mod nab;
pub mod precursor;
pub mod trend;
