//! Tumbling event-time windows per (layer, entity): pure state, no clock and no I/O.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::time::{Duration, Instant};

use hashbrown::{Equivalent, HashMap};
use layercast_shared::ErrorClassCounts;
use layercast_shared::{Event, LatencySummary, OsiLayer, SeriesWindow};
use sketches_ddsketch::{Config, DDSketch};

/// The start of the window `ts_ms` falls in. Windows are aligned to the Unix epoch, so every
/// node and every partition cuts time at the same instants, and `[start, start + len)`
/// includes its start and excludes its end.
pub fn window_start(ts_ms: i64, len_ms: i64) -> i64 {
    ts_ms.div_euclid(len_ms) * len_ms
}

/// The sketch every window uses: 1% relative error. One configuration everywhere, because
/// only sketches of the same configuration merge.
fn sketch_config() -> Config {
    Config::defaults()
}

/// Latency of the records of one window: a DDSketch, which also keeps the exact count, sum,
/// min and max.
#[derive(Clone)]
pub struct Latency(DDSketch);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        Latency(DDSketch::new(sketch_config()))
    }

    pub fn add(&mut self, ms: f64) {
        // The sketch's log mapping is for positive values; a clock that says a request took
        // -1 ms is measuring nothing, so it counts as zero.
        self.0.add(ms.max(0.0));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Every sketch here has the same configuration, which is all `merge` checks.
        let _ = self.0.merge(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let q = |q: f64| self.0.quantile(q).ok().flatten().unwrap_or(0.0);
        Some(LatencySummary {
            count,
            min_ms: self.0.min().unwrap_or(0.0),
            max_ms: self.0.max().unwrap_or(0.0),
            mean_ms: self.0.sum().unwrap_or(0.0) / count as f64,
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
        })
    }

    /// The portable DDSketch encoding (the one Datadog's Java and Go libraries read).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_java_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Latency> {
        let sketch = DDSketch::from_java_bytes(bytes).ok()?;
        // Merged into one of ours rather than used as decoded: only sketches of one
        // configuration merge, and bytes of another (not written by LayerCast) give `None`,
        // so the row's next write replaces them instead of failing every merge after it.
        let mut ours = Latency::new();
        ours.0.merge(&sketch).ok()?;
        Some(ours)
    }
}

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Latency(count={})", self.count())
    }
}

impl PartialEq for Latency {
    fn eq(&self, other: &Self) -> bool {
        self.summary() == other.summary()
    }
}

/// The aggregates of one series over one window. Every field merges: sums add, extremes take
/// the extreme, sketches merge, so that a batch's delta, a roll-up and a stored row are the
/// same kind of value.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAgg {
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub errors: u64,
    pub bytes_min: u64,
    pub bytes_max: u64,
    /// `None` until a record with a latency arrives: most layers have none, and a sketch is
    /// a few hundred bytes.
    pub latency: Option<Box<Latency>>,
    /// `None` while the window has no classified error: most windows have none.
    pub error_classes: Option<Box<ErrorClassCounts>>,
}

impl Default for WindowAgg {
    fn default() -> Self {
        WindowAgg {
            events: 0,
            bytes: 0,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            bytes_min: u64::MAX,
            bytes_max: 0,
            latency: None,
            error_classes: None,
        }
    }
}

impl WindowAgg {
    pub fn add(&mut self, e: &Event) {
        self.events += 1;
        self.bytes = self.bytes.saturating_add(e.bytes);
        self.packets = self.packets.saturating_add(e.packets);
        self.connections = self.connections.saturating_add(e.connections);
        self.requests = self.requests.saturating_add(e.requests);
        self.errors = self.errors.saturating_add(e.errors);
        self.bytes_min = self.bytes_min.min(e.bytes);
        self.bytes_max = self.bytes_max.max(e.bytes);
        if let (Some(class), 1..) = (e.error_class, e.errors) {
            self.error_classes
                .get_or_insert_with(Box::default)
                .add(class, e.errors);
        }
        if let Some(ms) = e.latency_ms.filter(|v| v.is_finite()) {
            self.latency
                .get_or_insert_with(|| Box::new(Latency::new()))
                .add(ms);
        }
    }

    /// As [`merge`](Self::merge), without the latency sketch: for sums over many series,
    /// whose latency nobody reads.
    pub fn merge_sums(&mut self, o: &WindowAgg) {
        self.events += o.events;
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.packets = self.packets.saturating_add(o.packets);
        self.connections = self.connections.saturating_add(o.connections);
        self.requests = self.requests.saturating_add(o.requests);
        self.errors = self.errors.saturating_add(o.errors);
        self.bytes_min = self.bytes_min.min(o.bytes_min);
        self.bytes_max = self.bytes_max.max(o.bytes_max);
        if let Some(theirs) = &o.error_classes {
            match &mut self.error_classes {
                Some(ours) => ours.merge(theirs),
                None => self.error_classes = Some(theirs.clone()),
            }
        }
    }

    pub fn merge(&mut self, o: &WindowAgg) {
        self.merge_sums(o);
        if let Some(theirs) = &o.latency {
            match &mut self.latency {
                Some(ours) => ours.merge(theirs),
                None => self.latency = Some(theirs.clone()),
            }
        }
    }
}

/// A series: what one row of windows is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub layer: OsiLayer,
    pub entity: Box<str>,
}

// Hashes exactly as `SeriesRef`, so a lookup by borrowed entity finds the owned key without
// allocating a `String` per record.
impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        SeriesRef {
            layer: self.layer,
            entity: &self.entity,
        }
        .hash(state);
    }
}

#[derive(Hash)]
struct SeriesRef<'a> {
    layer: OsiLayer,
    entity: &'a str,
}

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        self.layer == key.layer && self.entity == &*key.entity
    }
}

/// A window's aggregates for one series, as handed out by [`TumblingWindows`].
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub layer: OsiLayer,
    pub entity: String,
    pub start_ms: i64,
    pub len_ms: i64,
    pub agg: WindowAgg,
}

/// Per [`Purpose`], whether something changed since it was last handed out as provisional
/// values.
#[derive(Debug, Default)]
struct Changed {
    unpublished: bool,
    unsaved: bool,
}

impl Changed {
    const ALL: Changed = Changed {
        unpublished: true,
        unsaved: true,
    };

    fn flag(&mut self, purpose: Purpose) -> &mut bool {
        match purpose {
            Purpose::Publish => &mut self.unpublished,
            Purpose::Save => &mut self.unsaved,
        }
    }
}

/// A series' aggregates in one window, and whether they changed.
#[derive(Debug, Default)]
struct Slot {
    agg: WindowAgg,
    changed: Changed,
}

/// Who takes provisional values of open windows, each at its own pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The live feed.
    Publish,
    /// The database.
    Save,
}

/// The series of one window, and whether any of them changed.
#[derive(Debug)]
struct Bin {
    start_ms: i64,
    series: HashMap<SeriesKey, Slot>,
    changed: Changed,
    /// When its first record came (wall clock).
    opened_at: Instant,
}

/// Bins of windows, each holding every series seen in it. A record may arrive out of order:
/// it lands in the window of its own event time, whichever that is.
#[derive(Debug)]
pub struct TumblingWindows {
    len_ms: i64,
    /// Sorted by start, oldest first, and searched from the newest end: nearly every record
    /// falls into one of the newest two, and the watermark keeps only a few open.
    bins: VecDeque<Bin>,
    /// Series in the largest bin handed out so far: a new bin starts with room for as many, so
    /// that a batch does not rehash its way up from an empty map every time.
    bin_capacity: usize,
}

impl TumblingWindows {
    /// `len_ms` must be positive (the configuration refuses anything else).
    pub fn new(len_ms: i64) -> Self {
        TumblingWindows {
            len_ms: len_ms.max(1),
            bins: VecDeque::new(),
            bin_capacity: 0,
        }
    }

    pub fn len_ms(&self) -> i64 {
        self.len_ms
    }

    /// Where the bin of `start_ms` is (`Ok`), or would go (`Err`).
    fn find(&self, start_ms: i64) -> Result<usize, usize> {
        for (i, bin) in self.bins.iter().enumerate().rev() {
            if bin.start_ms == start_ms {
                return Ok(i);
            }
            if bin.start_ms < start_ms {
                return Err(i + 1);
            }
        }
        Err(0)
    }

    fn bin_mut(&mut self, start_ms: i64) -> &mut Bin {
        let i = match self.find(start_ms) {
            Ok(i) => i,
            Err(i) => {
                let series = HashMap::with_capacity(self.bin_capacity);
                self.bins.insert(
                    i,
                    Bin {
                        start_ms,
                        series,
                        changed: Changed::default(),
                        opened_at: Instant::now(),
                    },
                );
                i
            }
        };
        &mut self.bins[i]
    }

    pub fn insert(&mut self, e: &Event) {
        self.insert_at(e.ts.timestamp_millis(), e);
    }

    /// As [`insert`](Self::insert), with the event time already taken out of the record.
    /// Returns the start of the window the record went into.
    pub fn insert_at(&mut self, ts_ms: i64, e: &Event) -> i64 {
        let start = window_start(ts_ms, self.len_ms);
        let bin = self.bin_mut(start);
        bin.changed = Changed::ALL;
        let probe = SeriesRef {
            layer: e.layer,
            entity: &e.entity,
        };
        match bin.series.get_mut(&probe) {
            Some(slot) => {
                slot.agg.add(e);
                slot.changed = Changed::ALL;
            }
            None => {
                let mut agg = WindowAgg::default();
                agg.add(e);
                let slot = Slot {
                    agg,
                    changed: Changed::ALL,
                };
                bin.series.insert(
                    SeriesKey {
                        layer: e.layer,
                        entity: e.entity.as_str().into(),
                    },
                    slot,
                );
            }
        }
        start
    }

    /// Adds aggregates taken out earlier back in (a write that failed and will be retried).
    pub fn restore(&mut self, window: Window) {
        let bin = self.bin_mut(window_start(window.start_ms, self.len_ms));
        let key = SeriesKey {
            layer: window.layer,
            entity: window.entity.into(),
        };
        bin.series.entry(key).or_default().agg.merge(&window.agg);
    }

    /// Hands the series window out again with the next [`take_changed`](Self::take_changed)
    /// for `purpose` (its provisional value did not get there).
    pub fn mark_changed(&mut self, window: &Window, purpose: Purpose) {
        let Ok(i) = self.find(window_start(window.start_ms, self.len_ms)) else {
            return;
        };
        let bin = &mut self.bins[i];
        let probe = SeriesRef {
            layer: window.layer,
            entity: &window.entity,
        };
        if let Some(slot) = bin.series.get_mut(&probe) {
            *slot.changed.flag(purpose) = true;
            *bin.changed.flag(purpose) = true;
        }
    }

    /// Bins held: window starts with at least one series.
    pub fn bins(&self) -> usize {
        self.bins.len()
    }

    /// Series windows held (one per window and series).
    pub fn open(&self) -> usize {
        self.bins.iter().map(|bin| bin.series.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Every series' aggregates in the window starting at `start_ms` (none if it is not held).
    pub fn series_in(&self, start_ms: i64) -> impl Iterator<Item = (OsiLayer, &WindowAgg)> + '_ {
        let bin = self.find(start_ms).ok().map(|i| &self.bins[i]);
        bin.into_iter()
            .flat_map(|bin| bin.series.iter().map(|(key, slot)| (key.layer, &slot.agg)))
    }

    /// Copies of the series windows that changed since the last call for `purpose`, oldest
    /// first: the provisional values of windows still filling.
    pub fn take_changed(&mut self, purpose: Purpose) -> Vec<Window> {
        self.take_changed_older(purpose, Duration::ZERO, 0..0)
    }

    /// As [`take_changed`](Self::take_changed), from the windows opened at least `min_age`
    /// ago and not ending within `passed_over` (window ends, ms) only; the others keep their
    /// flags.
    pub fn take_changed_older(
        &mut self,
        purpose: Purpose,
        min_age: Duration,
        passed_over: Range<i64>,
    ) -> Vec<Window> {
        self.take_changed_where(
            purpose,
            min_age,
            passed_over,
            |layer, entity, start_ms, len_ms, agg| Window {
                layer,
                entity: entity.into(),
                start_ms,
                len_ms,
                agg: agg.clone(),
            },
        )
    }

    /// As [`take_changed`](Self::take_changed), each window made into what the caller needs
    /// (without copying its latency sketch unless `make` does).
    pub fn take_changed_as<T>(
        &mut self,
        purpose: Purpose,
        make: impl FnMut(OsiLayer, &str, i64, i64, &WindowAgg) -> T,
    ) -> Vec<T> {
        self.take_changed_where(purpose, Duration::ZERO, 0..0, make)
    }

    fn take_changed_where<T>(
        &mut self,
        purpose: Purpose,
        min_age: Duration,
        passed_over: Range<i64>,
        mut make: impl FnMut(OsiLayer, &str, i64, i64, &WindowAgg) -> T,
    ) -> Vec<T> {
        let len_ms = self.len_ms;
        let mut out = Vec::new();
        for bin in self.bins.iter_mut() {
            if bin.opened_at.elapsed() < min_age
                || passed_over.contains(&bin.start_ms.saturating_add(len_ms))
                || !std::mem::take(bin.changed.flag(purpose))
            {
                continue;
            }
            let mut changed: Vec<(&SeriesKey, &WindowAgg)> = Vec::new();
            for (key, slot) in bin.series.iter_mut() {
                let flag = slot.changed.flag(purpose);
                if *flag {
                    *flag = false;
                    let slot: &Slot = slot;
                    changed.push((key, &slot.agg));
                }
            }
            changed.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.extend(
                changed
                    .into_iter()
                    .map(|(key, agg)| make(key.layer, &key.entity, bin.start_ms, len_ms, agg)),
            );
        }
        out
    }

    /// Removes and returns every window that ends at or before `watermark_ms`, oldest first.
    pub fn close_until(&mut self, watermark_ms: i64) -> Vec<Window> {
        let first_open = watermark_ms - self.len_ms + 1;
        let closed = self
            .bins
            .iter()
            .take_while(|bin| bin.start_ms < first_open)
            .count();
        let bins: Vec<Bin> = self.bins.drain(..closed).collect();
        self.flatten(bins)
    }

    /// The windows `close_until(watermark_ms)` would remove, of the bins that start after
    /// `after_ms`, as `make` makes them, left in place: what the analysis takes as they close,
    /// while the write in flight holds up their removal.
    pub fn closing_as<T>(
        &self,
        watermark_ms: i64,
        after_ms: i64,
        mut make: impl FnMut(OsiLayer, &str, i64, i64, &WindowAgg) -> T,
    ) -> Vec<T> {
        let first_open = watermark_ms - self.len_ms + 1;
        let mut out = Vec::new();
        for bin in self
            .bins
            .iter()
            .take_while(|bin| bin.start_ms < first_open)
            .filter(|bin| bin.start_ms > after_ms)
        {
            let mut series: Vec<(&SeriesKey, &Slot)> = bin.series.iter().collect();
            series.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.extend(series.into_iter().map(|(key, slot)| {
                make(key.layer, &key.entity, bin.start_ms, self.len_ms, &slot.agg)
            }));
        }
        out
    }

    /// Removes and returns every window, open or not, oldest first.
    pub fn drain(&mut self) -> Vec<Window> {
        let bins: Vec<Bin> = self.bins.drain(..).collect();
        self.flatten(bins)
    }

    fn flatten(&mut self, bins: Vec<Bin>) -> Vec<Window> {
        let len_ms = self.len_ms;
        let total = bins.iter().map(|bin| bin.series.len()).sum();
        self.bin_capacity = bins
            .iter()
            .map(|bin| bin.series.len())
            .max()
            .unwrap_or(0)
            .max(self.bin_capacity);
        let mut out = Vec::with_capacity(total);
        for bin in bins {
            let start_ms = bin.start_ms;
            let mut series: Vec<_> = bin.series.into_iter().collect();
            // Keys are unique, so an unstable sort gives the same order.
            series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            out.extend(series.into_iter().map(|(key, slot)| Window {
                layer: key.layer,
                entity: key.entity.into(),
                start_ms,
                len_ms,
                agg: slot.agg,
            }));
        }
        out
    }
}

impl Window {
    /// The window as the API and the live feed show it.
    pub fn to_series_window(&self, is_final: bool, closed_at_ms: Option<i64>) -> SeriesWindow {
        series_window(
            self.layer,
            &self.entity,
            self.start_ms,
            self.len_ms,
            &self.agg,
            is_final,
            closed_at_ms,
        )
    }
}

/// A series' window as the API and the live feed show it.
pub fn series_window(
    layer: OsiLayer,
    entity: &str,
    start_ms: i64,
    len_ms: i64,
    a: &WindowAgg,
    is_final: bool,
    closed_at_ms: Option<i64>,
) -> SeriesWindow {
    let secs = len_ms.max(1) as f64 / 1000.0;
    SeriesWindow {
        layer,
        entity: entity.to_owned(),
        start_ms,
        end_ms: start_ms + len_ms,
        events: a.events,
        bytes: a.bytes,
        packets: a.packets,
        connections: a.connections,
        requests: a.requests,
        errors: a.errors,
        // An empty window has no smallest record.
        bytes_min: if a.events == 0 { 0 } else { a.bytes_min },
        bytes_max: a.bytes_max,
        bytes_per_s: a.bytes as f64 / secs,
        events_per_s: a.events as f64 / secs,
        latency: a.latency.as_ref().and_then(|l| l.summary()),
        error_rate: layercast_shared::error_rate(
            layer,
            a.errors,
            a.packets,
            a.connections,
            a.requests,
        ),
        error_classes: a
            .error_classes
            .as_ref()
            .map(|c| c.to_map())
            .unwrap_or_default(),
        is_final,
        closed_at_ms,
    }
}

/// The same windows at a longer length: the roll-ups planners look at (1 min, 1 h), made by
/// merging base windows, so that a roll-up is exactly the sum of its base windows. Sorted by
/// (start, layer, entity), whatever the order of `windows`.
pub fn roll_up(windows: &[Window], len_ms: i64) -> Vec<Window> {
    // The usual input is a drain: sorted by (start, layer, entity). Runs of it that fall into
    // one roll-up window are then rolled up on their own, without a map and a sort, when each
    // series appears once in the run (a batch that saw one base window).
    let mut out = Vec::with_capacity(windows.len());
    let mut rest = windows;
    let mut last_start = None;
    while let Some(first) = rest.first() {
        let start = window_start(first.start_ms, len_ms);
        if last_start.is_some_and(|s| s >= start) {
            return roll_up_any(windows, len_ms);
        }
        last_start = Some(start);
        let run = rest
            .iter()
            .take_while(|w| window_start(w.start_ms, len_ms) == start)
            .count();
        let (chunk, tail) = rest.split_at(run);
        rest = tail;
        let one_each = chunk
            .windows(2)
            .all(|p| (p[0].layer, p[0].entity.as_str()) < (p[1].layer, p[1].entity.as_str()));
        if one_each {
            out.extend(chunk.iter().map(|w| Window {
                layer: w.layer,
                entity: w.entity.clone(),
                start_ms: start,
                len_ms,
                agg: w.agg.clone(),
            }));
        } else {
            out.extend(roll_up_any(chunk, len_ms));
        }
    }
    out
}

/// [`roll_up`] for input in any order: hashed, then sorted once (cheaper than a tree of string
/// keys, same order).
fn roll_up_any(windows: &[Window], len_ms: i64) -> Vec<Window> {
    let mut merged: HashMap<(i64, OsiLayer, &str), WindowAgg> =
        HashMap::with_capacity(windows.len());
    for w in windows {
        let start = window_start(w.start_ms, len_ms);
        match merged.entry((start, w.layer, w.entity.as_str())) {
            hashbrown::hash_map::Entry::Occupied(mut o) => o.get_mut().merge(&w.agg),
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(w.agg.clone());
            }
        }
    }
    let mut merged: Vec<_> = merged.into_iter().collect();
    merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    merged
        .into_iter()
        .map(|((start_ms, layer, entity), agg)| Window {
            layer,
            entity: entity.to_owned(),
            start_ms,
            len_ms,
            agg,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    const LEN: i64 = 10_000;

    fn ev(ts_ms: i64, layer: OsiLayer, entity: &str, bytes: u64) -> Event {
        Event {
            ts: Utc.timestamp_millis_opt(ts_ms).single().expect("ts"),
            layer,
            entity: entity.into(),
            bytes,
            packets: 1,
            connections: 0,
            requests: 0,
            errors: 0,
            latency_ms: None,
            error_class: None,
        }
    }

    fn sums(w: &Window) -> (i64, u64, u64) {
        (w.start_ms, w.agg.events, w.agg.bytes)
    }

    #[test]
    fn a_record_on_a_boundary_opens_the_next_window() {
        assert_eq!(window_start(9_999, LEN), 0);
        assert_eq!(window_start(10_000, LEN), 10_000);
        assert_eq!(
            window_start(-1, LEN),
            -10_000,
            "before the epoch still floors"
        );
    }

    #[test]
    fn out_of_order_records_land_in_their_own_window() {
        let mut w = TumblingWindows::new(LEN);
        for (ts, bytes) in [(15_000, 10), (3_000, 1), (19_999, 100), (10_000, 1000)] {
            w.insert(&ev(ts, OsiLayer::L3, "a", bytes));
        }
        let all = w.drain();
        assert_eq!(
            all.iter().map(sums).collect::<Vec<_>>(),
            vec![(0, 1, 1), (10_000, 3, 1110)]
        );
        assert_eq!(
            (
                all[1].agg.bytes_min,
                all[1].agg.bytes_max,
                all[1].agg.packets
            ),
            (10, 1000, 3)
        );
        assert!(w.is_empty());
    }

    #[test]
    fn series_are_kept_apart_by_layer_and_entity() {
        let mut w = TumblingWindows::new(LEN);
        for (ts, layer, entity) in [
            (1, OsiLayer::L3, "a"),
            (2, OsiLayer::L4, "a"),
            (3, OsiLayer::L3, "b"),
            (4, OsiLayer::L3, "a"),
        ] {
            w.insert(&ev(ts, layer, entity, 1));
        }
        let all = w.drain();
        let keys: Vec<_> = all
            .iter()
            .map(|c| (c.layer, c.entity.as_str(), c.agg.events))
            .collect();
        assert_eq!(
            keys,
            vec![
                (OsiLayer::L3, "a", 2),
                (OsiLayer::L3, "b", 1),
                (OsiLayer::L4, "a", 1)
            ]
        );
    }

    #[test]
    fn close_until_takes_only_windows_that_have_ended() {
        let mut w = TumblingWindows::new(LEN);
        w.insert(&ev(5_000, OsiLayer::L2, "p", 1));
        w.insert(&ev(15_000, OsiLayer::L2, "p", 1));
        assert!(
            w.close_until(9_999).is_empty(),
            "window [0,10s) has not ended at 9.999 s"
        );
        let closed = w.close_until(10_000);
        assert_eq!(
            closed.iter().map(|c| c.start_ms).collect::<Vec<_>>(),
            vec![0]
        );
        assert_eq!(w.drain().len(), 1, "[10s,20s) stays open");
    }

    #[test]
    fn closing_windows_are_shown_as_close_until_takes_them_and_left_in_place() {
        let mut w = TumblingWindows::new(LEN);
        for (ts, entity) in [(5_000, "b"), (5_000, "a"), (15_000, "a"), (25_000, "a")] {
            w.insert(&ev(ts, OsiLayer::L2, entity, 1));
        }
        let key = |layer: OsiLayer, entity: &str, start: i64, _: i64, agg: &WindowAgg| {
            (layer, entity.to_owned(), start, agg.events)
        };
        let due = w.closing_as(20_000, i64::MIN, key);
        assert_eq!(
            due.iter().map(|d| (d.1.as_str(), d.2)).collect::<Vec<_>>(),
            vec![("a", 0), ("b", 0), ("a", 10_000)]
        );
        assert_eq!(
            w.closing_as(20_000, 0, key).len(),
            1,
            "only the bins after the one already taken"
        );
        let closed: Vec<_> = w
            .close_until(20_000)
            .iter()
            .map(|c| (c.layer, c.entity.clone(), c.start_ms, c.agg.events))
            .collect();
        assert_eq!(closed, due, "what close_until then takes");
        assert_eq!(w.drain().len(), 1, "[20s,30s) stays open");
    }

    #[test]
    fn provisional_values_are_handed_out_once_per_change() {
        let mut w = TumblingWindows::new(LEN);
        w.insert(&ev(1_000, OsiLayer::L3, "a", 5));
        w.insert(&ev(12_000, OsiLayer::L3, "b", 7));
        w.insert(&ev(2_000, OsiLayer::L3, "c", 1));
        let first: Vec<_> = w
            .take_changed(Purpose::Publish)
            .iter()
            .map(|c| (c.start_ms, c.entity.clone(), c.agg.bytes))
            .collect();
        assert_eq!(
            first,
            vec![
                (0, "a".into(), 5),
                (0, "c".into(), 1),
                (10_000, "b".into(), 7)
            ]
        );
        assert!(
            w.take_changed(Purpose::Publish).is_empty(),
            "nothing changed since"
        );
        w.insert(&ev(3_000, OsiLayer::L3, "a", 10));
        let second: Vec<_> = w
            .take_changed(Purpose::Publish)
            .iter()
            .map(|c| (c.entity.clone(), c.agg.events, c.agg.bytes))
            .collect();
        assert_eq!(
            second,
            vec![("a".into(), 2, 15)],
            "only the series that changed, with its whole window"
        );
        let hour = Duration::from_secs(3_600);
        assert!(
            w.take_changed_older(Purpose::Save, hour, 0..0).is_empty(),
            "no window is an hour old"
        );
        let ending_later: Vec<_> = w
            .take_changed_older(Purpose::Save, Duration::ZERO, 0..10_001)
            .iter()
            .map(|c| (c.start_ms, c.entity.clone()))
            .collect();
        assert_eq!(
            ending_later,
            vec![(10_000, "b".into())],
            "a window ending within the range passed over keeps its flags"
        );
        assert_eq!(
            w.take_changed(Purpose::Save).len(),
            2,
            "each purpose at its own pace, the young ones and those ending soon kept for later"
        );
        w.insert(&ev(4_000, OsiLayer::L3, "a", 1));
        assert_eq!(w.close_until(10_000).len(), 2);
        assert!(
            w.take_changed(Purpose::Publish).is_empty(),
            "a closed window is final, not provisional"
        );
        assert_eq!(
            w.drain().iter().map(|c| c.start_ms).collect::<Vec<_>>(),
            vec![10_000],
            "only the open window is held"
        );
    }

    #[test]
    fn latency_percentiles_come_from_the_sketch_and_survive_encoding() {
        let mut w = TumblingWindows::new(LEN);
        for i in 1..=1000 {
            let mut e = ev(i, OsiLayer::L7, "svc", 0);
            e.latency_ms = Some(i as f64);
            w.insert(&e);
        }
        w.insert(&ev(1, OsiLayer::L7, "svc", 0));
        let all = w.drain();
        let latency = all[0].agg.latency.as_ref().expect("latency");
        let s = latency.summary().expect("summary");
        assert_eq!(
            (s.count, s.min_ms, s.max_ms),
            (1000, 1.0, 1000.0),
            "records without latency are not counted"
        );
        for (got, want) in [(s.p50_ms, 500.0), (s.p95_ms, 950.0), (s.p99_ms, 990.0)] {
            assert!((got - want).abs() <= want * 0.02, "{got} vs {want}");
        }
        let decoded = Latency::from_bytes(&latency.to_bytes()).expect("decode");
        assert_eq!(decoded.summary(), Some(s));
        assert!(Latency::from_bytes(b"\x02garbage").is_none());
    }

    #[test]
    fn roll_ups_merge_their_base_windows_exactly() {
        let mut w = TumblingWindows::new(LEN);
        for i in 0..180 {
            let mut e = ev(i * 1_000, OsiLayer::L7, "svc", i as u64);
            e.latency_ms = Some((i % 60) as f64 + 1.0);
            w.insert(&e);
        }
        let base = w.drain();
        let minutes = roll_up(&base, 60_000);
        assert_eq!(
            minutes.iter().map(sums).collect::<Vec<_>>(),
            vec![
                (0, 60, (0..60).sum()),
                (60_000, 60, (60..120).sum()),
                (120_000, 60, (120..180).sum()),
            ]
        );
        assert_eq!(
            (minutes[1].agg.bytes_min, minutes[1].agg.bytes_max),
            (60, 119)
        );
        let p = minutes[2]
            .agg
            .latency
            .as_ref()
            .and_then(|l| l.summary())
            .expect("latency");
        assert_eq!((p.count, p.min_ms, p.max_ms), (60, 1.0, 60.0));
        assert!(
            (p.p50_ms - 30.0).abs() <= 1.0,
            "the median of 1..60 from merged sketches, not a mean of medians: {}",
            p.p50_ms
        );
        let mut shuffled = base.clone();
        shuffled.reverse();
        shuffled.swap(0, 7);
        assert_eq!(
            roll_up(&shuffled, 60_000),
            minutes,
            "the order of the base windows does not matter"
        );
        let one = roll_up(&base[..1], 60_000);
        assert_eq!(
            (
                one.len(),
                one[0].start_ms,
                one[0].len_ms,
                one[0].agg.clone()
            ),
            (1, 0, 60_000, base[0].agg.clone())
        );
    }
}
