//! Tumbling event-time windows per (layer, entity): pure state, no clock and no I/O.

use std::collections::{BTreeMap, HashMap};

use layercast_shared::OsiLayer;

/// The start of the window `ts_ms` falls in. Windows are aligned to the Unix epoch, so every
/// node and every partition cuts time at the same instants, and `[start, start + len)`
/// includes its start and excludes its end.
pub fn window_start(ts_ms: i64, len_ms: i64) -> i64 {
    ts_ms.div_euclid(len_ms) * len_ms
}

/// The aggregates of one series over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowAgg {
    pub events: u64,
    pub bytes: u64,
}

/// A window's aggregates for one series, as handed out by [`TumblingWindows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedWindow {
    pub layer: OsiLayer,
    pub entity: String,
    pub start_ms: i64,
    pub agg: WindowAgg,
}

/// Bins keyed by window start, each holding every series seen in it. A record may arrive out
/// of order: it lands in the window of its own event time, whichever that is.
#[derive(Debug)]
pub struct TumblingWindows {
    len_ms: i64,
    bins: BTreeMap<i64, HashMap<(OsiLayer, String), WindowAgg>>,
}

impl TumblingWindows {
    /// `len_ms` must be positive (the configuration refuses anything else).
    pub fn new(len_ms: i64) -> Self {
        TumblingWindows { len_ms: len_ms.max(1), bins: BTreeMap::new() }
    }

    pub fn len_ms(&self) -> i64 {
        self.len_ms
    }

    pub fn insert(&mut self, ts_ms: i64, layer: OsiLayer, entity: &str, bytes: u64) {
        let bin = self.bins.entry(window_start(ts_ms, self.len_ms)).or_default();
        let agg = bin.entry((layer, entity.to_owned())).or_default();
        agg.events += 1;
        agg.bytes = agg.bytes.saturating_add(bytes);
    }

    /// Adds aggregates taken out earlier back in (a write that failed and will be retried).
    pub fn restore(&mut self, window: ClosedWindow) {
        let bin = self.bins.entry(window.start_ms).or_default();
        let agg = bin.entry((window.layer, window.entity)).or_default();
        agg.events += window.agg.events;
        agg.bytes = agg.bytes.saturating_add(window.agg.bytes);
    }

    /// Series windows holding deltas (one per window and series).
    pub fn open(&self) -> usize {
        self.bins.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Removes and returns every window that ends at or before `watermark_ms`, oldest first.
    pub fn close_until(&mut self, watermark_ms: i64) -> Vec<ClosedWindow> {
        let open = self.bins.split_off(&(watermark_ms - self.len_ms + 1));
        let closed = std::mem::replace(&mut self.bins, open);
        Self::flatten(closed)
    }

    /// Removes and returns every window, open or not, oldest first.
    pub fn drain(&mut self) -> Vec<ClosedWindow> {
        Self::flatten(std::mem::take(&mut self.bins))
    }

    fn flatten(bins: BTreeMap<i64, HashMap<(OsiLayer, String), WindowAgg>>) -> Vec<ClosedWindow> {
        let mut out = Vec::new();
        for (start_ms, series) in bins {
            let mut series: Vec<_> = series.into_iter().collect();
            series.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(series.into_iter().map(|((layer, entity), agg)| ClosedWindow { layer, entity, start_ms, agg }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: i64 = 10_000;

    #[test]
    fn a_record_on_a_boundary_opens_the_next_window() {
        assert_eq!(window_start(9_999, LEN), 0);
        assert_eq!(window_start(10_000, LEN), 10_000);
        assert_eq!(window_start(-1, LEN), -10_000, "before the epoch still floors");
    }

    #[test]
    fn out_of_order_records_land_in_their_own_window() {
        let mut w = TumblingWindows::new(LEN);
        w.insert(15_000, OsiLayer::L3, "a", 10);
        w.insert(3_000, OsiLayer::L3, "a", 1);
        w.insert(19_999, OsiLayer::L3, "a", 100);
        w.insert(10_000, OsiLayer::L3, "a", 1000);
        let all = w.drain();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].start_ms, all[0].agg), (0, WindowAgg { events: 1, bytes: 1 }));
        assert_eq!((all[1].start_ms, all[1].agg), (10_000, WindowAgg { events: 3, bytes: 1110 }));
        assert!(w.is_empty());
    }

    #[test]
    fn series_are_kept_apart_by_layer_and_entity() {
        let mut w = TumblingWindows::new(LEN);
        w.insert(1, OsiLayer::L3, "a", 1);
        w.insert(2, OsiLayer::L4, "a", 1);
        w.insert(3, OsiLayer::L3, "b", 1);
        w.insert(4, OsiLayer::L3, "a", 1);
        let all = w.drain();
        let keys: Vec<_> = all.iter().map(|c| (c.layer, c.entity.as_str(), c.agg.events)).collect();
        assert_eq!(keys, vec![(OsiLayer::L3, "a", 2), (OsiLayer::L3, "b", 1), (OsiLayer::L4, "a", 1)]);
    }

    #[test]
    fn close_until_takes_only_windows_that_have_ended() {
        let mut w = TumblingWindows::new(LEN);
        w.insert(5_000, OsiLayer::L2, "p", 1);
        w.insert(15_000, OsiLayer::L2, "p", 1);
        assert!(w.close_until(9_999).is_empty(), "window [0,10s) has not ended at 9.999 s");
        let closed = w.close_until(10_000);
        assert_eq!(closed.iter().map(|c| c.start_ms).collect::<Vec<_>>(), vec![0]);
        assert_eq!(w.drain().len(), 1, "[10s,20s) stays open");
    }
}
