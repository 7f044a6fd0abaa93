//! The payload of `layercast.layers`: what one partition of the events topic contributes to
//! the layer-wide windows, re-keyed by layer for the second stage (the repartition pattern of
//! Kafka Streams).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::OsiLayer;

/// Version of [`LayerPartial`].
pub const LAYER_PARTIAL_VERSION: u16 = 1;

/// One source partition's contribution to the windows of one layer, and how far that
/// partition's watermark has closed windows. Values are absolute (the sum over the
/// partition's entities of the layer), never increments: a record delivered twice, or
/// replayed by the stage after a takeover, changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPartial {
    pub v: u16,
    /// The partition of the events topic the values come from.
    pub source_partition: i32,
    pub layer: OsiLayer,
    /// Per window length (ms), the start of the newest window the source partition has
    /// closed (made final). Empty while it has no watermark yet. The stage applies it after
    /// `windows`, so a message that closes a window may carry that window's final value.
    #[serde(default)]
    pub closed_through: Vec<(i64, i64)>,
    #[serde(default)]
    pub windows: Vec<PartialWindow>,
}

/// The source partition's totals of one window of the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialWindow {
    /// Window start, ms since the Unix epoch.
    pub start_ms: i64,
    pub len_ms: i64,
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub errors: u64,
    /// Errors per class (classes without one left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_classes: BTreeMap<String, u64>,
    /// The source's latency sketch of the window (its entities' merged), encoded: on final
    /// values only (a provisional one every second would cost a merge per entity each time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_sketch: Option<Vec<u8>>,
    /// The source has closed the window: this value is its last. A provisional value
    /// (`false`) never replaces a final one.
    pub is_final: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_round_trip_and_old_fields_default() {
        let p = LayerPartial {
            v: LAYER_PARTIAL_VERSION,
            source_partition: 3,
            layer: OsiLayer::L4,
            closed_through: vec![(10_000, 20_000)],
            windows: vec![PartialWindow {
                start_ms: 20_000,
                len_ms: 10_000,
                events: 2,
                bytes: 3,
                packets: 4,
                connections: 5,
                requests: 6,
                errors: 7,
                error_classes: Default::default(),
                latency_sketch: None,
                is_final: true,
            }],
        };
        let text = serde_json::to_string(&p).expect("encode");
        assert_eq!(
            serde_json::from_str::<LayerPartial>(&text).expect("decode"),
            p
        );
        let bare: LayerPartial =
            serde_json::from_str(r#"{"v":1,"source_partition":0,"layer":"L2"}"#).expect("decode");
        assert!(bare.windows.is_empty() && bare.closed_through.is_empty());
    }
}
