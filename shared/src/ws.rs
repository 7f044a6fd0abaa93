use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Alert, OsiLayer, SeriesRunway, SeriesTrend, SeriesWindow, WindowAnomaly};

/// Version of the WebSocket protocol spoken on `/ws`; sent in [`ServerMsg::Hello`].
pub const PROTOCOL_VERSION: u16 = 1;
/// Version of [`UpdateMsg`], the payload of `layercast.updates`.
pub const UPDATE_VERSION: u16 = 2;

/// The totals of one layer over one tumbling window, summed over every entity of the layer.
/// Values are totals, not increments, so a client that applies the same window twice (or a
/// snapshot after an update) stays right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerWindow {
    pub layer: OsiLayer,
    /// Window start, milliseconds since the Unix epoch (inclusive).
    pub start_ms: i64,
    /// Window end, milliseconds since the Unix epoch (exclusive).
    pub end_ms: i64,
    pub events: u64,
    pub bytes: u64,
    #[serde(default)]
    pub packets: u64,
    #[serde(default)]
    pub connections: u64,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    /// `errors` out of requests (L7), connections (L4-L6) or packets (L1-L3); `None` without
    /// any of that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Errors per class over every entity of the layer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_classes: BTreeMap<String, u64>,
    /// Latency over every entity of the layer (their sketches merged); on final windows only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<crate::LatencySummary>,
    /// Every source partition has closed the window: these totals are its last. `false`: the
    /// sum of what the sources have sent so far, while the window is open. Updates from
    /// before the layer stage carry no such field and were final totals of stored rows.
    #[serde(default = "final_by_default")]
    pub is_final: bool,
}

fn final_by_default() -> bool {
    true
}

/// Messages from the server to a WebSocket client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message of every connection.
    Hello { protocol: u16, node: String },
    /// The latest windows of every layer, sent after `Hello`.
    Snapshot { windows: Vec<LayerWindow> },
    /// A window's new totals.
    Window { window: LayerWindow },
    /// New values of series windows, sent only to a client that asked with
    /// [`ClientMsg::Subscribe`]: provisional ones (at most one a second per window while it
    /// fills) and the final one when it closes.
    Series { windows: Vec<SeriesWindow> },
    /// Windows the anomaly detector found unusual, as they close.
    Anomalies { anomalies: Vec<WindowAnomaly> },
}

/// Messages from a WebSocket client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Ask for a fresh snapshot (a client does this after it missed updates).
    Resync,
    /// Receive series windows (`ServerMsg::Series`) of these layers (all when empty); with
    /// `final_only`, only windows that have closed.
    Subscribe {
        #[serde(default)]
        layers: Vec<OsiLayer>,
        #[serde(default)]
        final_only: bool,
    },
}

/// The versioned payload of a record on `layercast.updates`: the new totals of the windows
/// that one durable write changed. Every node reads all of them and fans them out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateMsg {
    pub v: u16,
    pub windows: Vec<LayerWindow>,
    /// The series windows of the write: provisional or final.
    #[serde(default)]
    pub series: Vec<SeriesWindow>,
    #[serde(default)]
    pub anomalies: Vec<WindowAnomaly>,
    /// Alerts that changed state (or were acknowledged or silenced), as stored.
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// Trends whose estimate changed (a roll-up bucket completed).
    #[serde(default)]
    pub trends: Vec<SeriesTrend>,
    #[serde(default)]
    pub runways: Vec<SeriesRunway>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_tagged_by_type() {
        let msg = ServerMsg::Window {
            window: LayerWindow {
                layer: OsiLayer::L2,
                start_ms: 0,
                end_ms: 10_000,
                events: 3,
                bytes: 99,
                packets: 0,
                connections: 0,
                requests: 0,
                errors: 0,
                error_rate: None,
                error_classes: Default::default(),
                latency: None,
                is_final: false,
            },
        };
        let text = serde_json::to_string(&msg).expect("encode");
        assert!(text.starts_with(r#"{"type":"window""#), "{text}");
        assert_eq!(
            serde_json::from_str::<ServerMsg>(&text).expect("decode"),
            msg
        );
    }
}
