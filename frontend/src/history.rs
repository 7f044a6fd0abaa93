//! What the dashboard remembers of each layer: its newest windows, newest first.
//!
//! Plain data with no I/O and no signals, so that the rules (totals replace, the newest few
//! are kept) are tested without a browser. `live.rs` wraps one [`LayerHistory`] per layer in
//! a signal.

use layercast_shared::{LayerWindow, OsiLayer};

/// How many windows a layer card lists.
pub const HISTORY_LEN: usize = 6;

/// Number of OSI layers, the length of the per-layer arrays.
pub const LAYER_COUNT: usize = OsiLayer::ALL.len();

/// The newest windows of one layer, newest first, at most [`HISTORY_LEN`], one per start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerHistory {
    windows: Vec<LayerWindow>,
}

impl LayerHistory {
    /// Newest first.
    pub fn windows(&self) -> &[LayerWindow] {
        &self.windows
    }

    pub fn latest(&self) -> Option<&LayerWindow> {
        self.windows.first()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Takes in the current totals of one window.
    ///
    /// A window already held is replaced, never added to: the server sends totals, so a
    /// window seen twice (an update racing a snapshot) stays right. A window older than
    /// every one held, when the list is full, is dropped.
    pub fn apply(&mut self, window: LayerWindow) {
        // The list is sorted by start, descending, hence the reversed comparison.
        match self
            .windows
            .binary_search_by(|held| window.start_ms.cmp(&held.start_ms))
        {
            Ok(i) => self.windows[i] = window,
            Err(i) if i < HISTORY_LEN => {
                self.windows.insert(i, window);
                self.windows.truncate(HISTORY_LEN);
            }
            Err(_) => {}
        }
    }
}

/// Position of a layer in the per-layer arrays (L1 → 0 … L7 → 6).
pub fn slot(layer: OsiLayer) -> usize {
    // `OsiLayer`'s variants are declared in order L1..L7 without explicit values, so the
    // discriminant is the position in `OsiLayer::ALL` (checked by a test below).
    layer as usize
}

/// Splits a snapshot into one history per layer.
pub fn from_snapshot(windows: Vec<LayerWindow>) -> [LayerHistory; LAYER_COUNT] {
    let mut layers: [LayerHistory; LAYER_COUNT] = Default::default();
    for window in windows {
        layers[slot(window.layer)].apply(window);
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(layer: OsiLayer, start_s: i64, events: u64) -> LayerWindow {
        // From JSON, so that fields added with a default need no change here.
        serde_json::from_value(serde_json::json!({
            "layer": layer,
            "start_ms": start_s * 1000,
            "end_ms": (start_s + 10) * 1000,
            "events": events,
            "bytes": events * 100,
            "is_final": true,
        }))
        .expect("a layer window")
    }

    fn starts(h: &LayerHistory) -> Vec<i64> {
        h.windows().iter().map(|w| w.start_ms / 1000).collect()
    }

    #[test]
    fn totals_replace_the_window_they_belong_to() {
        let mut h = LayerHistory::default();
        h.apply(window(OsiLayer::L3, 10, 42));
        h.apply(window(OsiLayer::L3, 10, 50));
        assert_eq!(h.windows().len(), 1);
        assert_eq!(h.latest().map(|w| w.events), Some(50));
    }

    #[test]
    fn keeps_the_newest_windows_newest_first() {
        let mut h = LayerHistory::default();
        for start in [30, 10, 80, 20, 70, 40, 60, 50] {
            h.apply(window(OsiLayer::L1, start, 1));
        }
        assert_eq!(starts(&h), vec![80, 70, 60, 50, 40, 30]);
        // Older than everything kept: ignored. Newer: pushes the oldest out.
        h.apply(window(OsiLayer::L1, 0, 1));
        h.apply(window(OsiLayer::L1, 90, 1));
        assert_eq!(starts(&h), vec![90, 80, 70, 60, 50, 40]);
    }

    #[test]
    fn a_snapshot_is_split_by_layer() {
        let layers = from_snapshot(vec![
            window(OsiLayer::L7, 10, 1),
            window(OsiLayer::L3, 10, 2),
            window(OsiLayer::L3, 20, 3),
        ]);
        assert_eq!(starts(&layers[slot(OsiLayer::L3)]), vec![20, 10]);
        assert_eq!(starts(&layers[slot(OsiLayer::L7)]), vec![10]);
        assert!(layers[slot(OsiLayer::L1)].is_empty());
    }

    #[test]
    fn slots_follow_the_order_of_all() {
        for (i, layer) in OsiLayer::ALL.into_iter().enumerate() {
            assert_eq!(slot(layer), i);
        }
    }
}
