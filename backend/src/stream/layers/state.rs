//! The pure state of one layer-stage actor: per layer, window length and window start, the
//! latest contribution of every source partition, and per source how far it has closed
//! windows. No clock and no I/O: wall time comes in as an argument.
//!
//! **When a layer window is final.** Per (layer, length) the stage keeps `final_through`:
//! every window starting at or before it is final. It moves to the smallest `closed_through`
//! of the source partitions (the events topic's partitions, all of them, whether they ever
//! had a record of the layer or not), and never back. A source that has sent nothing about
//! the layer for the idle timeout (wall clock) does not hold windows open, as an idle input
//! does not hold a Flink watermark: a partition without traffic has no watermark to send, and
//! must not stop the layer forever. It still holds a window to which it has sent a
//! provisional value (its final value is still to come: its node may be down, and whoever
//! takes the partition over sends it). A contribution to a window already final (a replay
//! after a takeover, or a source that was idle and speaks again about an old window) is
//! skipped and counted.

use std::collections::{BTreeMap, BTreeSet};

use layercast_shared::{LayerPartial, LayerWindow, OsiLayer, PartialWindow};

use crate::store::layer_windows::{FinalThrough, LayerWindowRow, Progress, SourceClosed};
use crate::stream::window::{Latency, WindowAgg};
use layercast_shared::ErrorClassCounts;

/// The sums of a layer window, from one source or from all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub events: u64,
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_classes: ErrorClassCounts,
}

impl Totals {
    /// The sums of one entity's window.
    pub fn of_agg(a: &WindowAgg) -> Self {
        Totals {
            events: a.events,
            bytes: a.bytes,
            packets: a.packets,
            connections: a.connections,
            requests: a.requests,
            errors: a.errors,
            error_classes: a.error_classes.as_deref().copied().unwrap_or_default(),
        }
    }

    pub fn into_partial(self, start_ms: i64, len_ms: i64, is_final: bool) -> PartialWindow {
        let Totals {
            events,
            bytes,
            packets,
            connections,
            requests,
            errors,
            error_classes,
        } = self;
        PartialWindow {
            start_ms,
            len_ms,
            events,
            bytes,
            packets,
            connections,
            requests,
            errors,
            error_classes: error_classes.to_map(),
            latency_sketch: None,
            is_final,
        }
    }

    fn of(w: &PartialWindow) -> Self {
        Totals {
            events: w.events,
            bytes: w.bytes,
            packets: w.packets,
            connections: w.connections,
            requests: w.requests,
            errors: w.errors,
            error_classes: ErrorClassCounts::from_map(&w.error_classes),
        }
    }

    pub fn add(&mut self, o: &Totals) {
        self.events = self.events.saturating_add(o.events);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.packets = self.packets.saturating_add(o.packets);
        self.connections = self.connections.saturating_add(o.connections);
        self.requests = self.requests.saturating_add(o.requests);
        self.errors = self.errors.saturating_add(o.errors);
        self.error_classes.merge(&o.error_classes);
    }
}

/// One source's latest value of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Contribution {
    totals: Totals,
    /// The source's latency sketch of the window, encoded (final values carry one).
    latency: Option<Vec<u8>>,
    is_final: bool,
    /// Offset (layers topic) of the record that carried it: the stage's position may not pass
    /// it while the window is open, so that a new owner reads it again.
    offset: i64,
}

#[derive(Debug, Default)]
struct OpenWindow {
    by_source: BTreeMap<i32, Contribution>,
    /// Changed since its value was last written as provisional.
    changed: bool,
}

impl OpenWindow {
    fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for c in self.by_source.values() {
            t.add(&c.totals);
        }
        t
    }

    /// The sources' latency sketches merged, encoded; `None` when none carries one.
    fn latency(&self) -> Option<Vec<u8>> {
        let mut merged: Option<Latency> = None;
        for sketch in self.by_source.values().filter_map(|c| c.latency.as_deref()) {
            if let Some(theirs) = Latency::from_bytes(sketch) {
                merged.get_or_insert_with(Latency::new).merge(&theirs);
            }
        }
        merged.map(|l| l.to_bytes())
    }
}

#[derive(Debug, Default)]
struct Source {
    /// Per window length, the newest start the source has closed.
    closed_through: BTreeMap<i64, i64>,
    /// Wall clock of the last message about the layer (or of the actor's start).
    last_seen_ms: i64,
}

/// A window made final whose row is not yet durable.
#[derive(Debug, Clone)]
struct Closed {
    row: LayerWindowRow,
    /// The oldest record that contributed to it.
    oldest_offset: i64,
}

type WindowKey = (OsiLayer, i64, i64);

/// What a take did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Took {
    pub windows: usize,
    /// Contributions to windows already final.
    pub skipped: usize,
}

/// What to make durable: see [`LayerState::pending`].
#[derive(Debug, Default)]
pub struct Pending {
    pub rows: Vec<LayerWindowRow>,
    pub progress: Progress,
    /// The offset a new owner would resume from.
    pub position: i64,
    /// Layer windows of the base length to publish once durable: the final ones, and the
    /// provisional ones that changed.
    pub publish: Vec<LayerWindow>,
    /// Whether the provisional values are part of it.
    pub with_provisional: bool,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.progress.sources.is_empty() && self.progress.finals.is_empty()
    }
}

pub struct LayerState {
    /// Partitions of the events topic: every one must close a window before it is final.
    sources: i32,
    idle_after_ms: i64,
    started_ms: i64,
    base_len_ms: i64,
    by_source: BTreeMap<(OsiLayer, i32), Source>,
    final_through: BTreeMap<(OsiLayer, i64), i64>,
    open: BTreeMap<WindowKey, OpenWindow>,
    closed: Vec<Closed>,
    dirty_sources: BTreeSet<(OsiLayer, i64, i32)>,
    dirty_finals: BTreeSet<(OsiLayer, i64)>,
    /// The offset after the last record taken.
    next_offset: i64,
}

impl LayerState {
    /// `next_offset`: where the actor starts reading (its stored position).
    pub fn new(
        sources: i32,
        idle_after_ms: i64,
        base_len_ms: i64,
        next_offset: i64,
        now_ms: i64,
    ) -> Self {
        LayerState {
            sources,
            idle_after_ms,
            started_ms: now_ms,
            base_len_ms,
            by_source: BTreeMap::new(),
            final_through: BTreeMap::new(),
            open: BTreeMap::new(),
            closed: Vec::new(),
            dirty_sources: BTreeSet::new(),
            dirty_finals: BTreeSet::new(),
            next_offset,
        }
    }

    /// Takes back what the previous owner stored. Sources count as heard from now, so the
    /// idle timeout runs from the takeover.
    pub fn restore(&mut self, progress: &Progress, now_ms: i64) {
        for s in &progress.sources {
            let source = self
                .by_source
                .entry((s.layer, s.source_partition))
                .or_default();
            source.last_seen_ms = now_ms;
            let through = source
                .closed_through
                .entry(s.len_ms)
                .or_insert(s.closed_through);
            *through = (*through).max(s.closed_through);
            self.sources = self.sources.max(s.source_partition + 1);
        }
        for f in &progress.finals {
            let through = self
                .final_through
                .entry((f.layer, f.len_ms))
                .or_insert(f.final_through);
            *through = (*through).max(f.final_through);
        }
    }

    pub fn final_through(&self) -> impl Iterator<Item = (OsiLayer, i64, i64)> + '_ {
        self.final_through
            .iter()
            .map(|((layer, len), t)| (*layer, *len, *t))
    }

    /// A record at `offset` that carried nothing to take (malformed): the position may pass it.
    pub fn pass(&mut self, offset: i64) {
        self.next_offset = offset + 1;
    }

    /// The record at `offset` (in offset order).
    pub fn take(&mut self, offset: i64, partial: &LayerPartial, now_ms: i64) -> Took {
        self.next_offset = offset + 1;
        let (layer, source) = (partial.layer, partial.source_partition);
        // A source beyond the count read at start: the events topic grew.
        self.sources = self.sources.max(source + 1);
        self.by_source
            .entry((layer, source))
            .or_default()
            .last_seen_ms = now_ms;
        let mut took = Took::default();
        for w in &partial.windows {
            if self
                .final_through
                .get(&(layer, w.len_ms))
                .is_some_and(|t| w.start_ms <= *t)
            {
                took.skipped += 1;
                continue;
            }
            let window = self.open.entry((layer, w.len_ms, w.start_ms)).or_default();
            let new = Contribution {
                totals: Totals::of(w),
                latency: w.latency_sketch.clone(),
                is_final: w.is_final,
                offset,
            };
            match window.by_source.get_mut(&source) {
                // Last value wins, but a provisional value never replaces a final one (it
                // comes from a node that lost the partition, or was overtaken by the close).
                Some(old) if old.is_final && !new.is_final => {}
                Some(old) => {
                    window.changed |= old.totals != new.totals || old.latency != new.latency;
                    *old = new;
                }
                None => {
                    window.by_source.insert(source, new);
                    window.changed = true;
                }
            }
            took.windows += 1;
        }
        // After the windows: a message may carry a window's final value and its close.
        let entry = self.by_source.entry((layer, source)).or_default();
        for &(len, through) in &partial.closed_through {
            let stored = entry.closed_through.entry(len).or_insert(i64::MIN);
            if through > *stored {
                *stored = through;
                self.dirty_sources.insert((layer, len, source));
            }
        }
        took
    }

    fn idle(&self, layer: OsiLayer, source: i32, now_ms: i64) -> bool {
        let last = self
            .by_source
            .get(&(layer, source))
            .map_or(self.started_ms, |s| s.last_seen_ms);
        now_ms.saturating_sub(last) >= self.idle_after_ms
    }

    /// Sources treated as idle for `layer` now.
    pub fn idle_sources(&self, layer: OsiLayer, now_ms: i64) -> usize {
        (0..self.sources)
            .filter(|s| self.idle(layer, *s, now_ms))
            .count()
    }

    /// How far the windows of (layer, length) can be final now, before the never-back rule.
    fn closable_through(&self, layer: OsiLayer, len: i64, now_ms: i64) -> Option<i64> {
        let mut through: Option<i64> = None;
        let mut bound = |t: i64| through = Some(through.map_or(t, |x| x.min(t)));
        for s in 0..self.sources {
            let closed = self
                .by_source
                .get(&(layer, s))
                .and_then(|src| src.closed_through.get(&len).copied());
            if !self.idle(layer, s, now_ms) {
                bound(closed?);
                continue;
            }
            // Idle: only its provisional values hold windows open.
            let provisional = self
                .open
                .range((layer, len, i64::MIN)..=(layer, len, i64::MAX))
                .find(|(_, w)| w.by_source.get(&s).is_some_and(|c| !c.is_final))
                .map(|((_, _, start), _)| *start);
            if let Some(start) = provisional {
                bound(closed.unwrap_or(i64::MIN).max(start - 1));
            }
        }
        // Every source idle and holding nothing: whatever is open may close.
        through.or_else(|| {
            self.open
                .range((layer, len, i64::MIN)..=(layer, len, i64::MAX))
                .next_back()
                .map(|(k, _)| k.2)
        })
    }

    /// Makes final every window that every source has closed (or that only idle sources have
    /// not), keeping their rows until [`LayerState::written`].
    pub fn close(&mut self, now_ms: i64) {
        let mut pairs: BTreeSet<(OsiLayer, i64)> =
            self.open.keys().map(|(l, len, _)| (*l, *len)).collect();
        for ((layer, _), source) in &self.by_source {
            pairs.extend(source.closed_through.keys().map(|len| (*layer, *len)));
        }
        for (layer, len) in pairs {
            let Some(through) = self.closable_through(layer, len, now_ms) else {
                continue;
            };
            let old = self.final_through.get(&(layer, len)).copied();
            if old.is_some_and(|o| o >= through) {
                continue;
            }
            self.final_through.insert((layer, len), through);
            self.dirty_finals.insert((layer, len));
            let done: Vec<WindowKey> = self
                .open
                .range((layer, len, i64::MIN)..=(layer, len, through))
                .map(|(k, _)| *k)
                .collect();
            for key in done {
                let Some(window) = self.open.remove(&key) else {
                    continue;
                };
                let oldest_offset = window
                    .by_source
                    .values()
                    .map(|c| c.offset)
                    .min()
                    .unwrap_or(self.next_offset);
                self.closed.push(Closed {
                    row: row(key, &window, Some(now_ms)),
                    oldest_offset,
                });
            }
        }
    }

    /// The offset a new owner must resume from: the oldest record that contributed to a
    /// window not yet durably final, else the next record.
    pub fn position(&self) -> i64 {
        let open = self
            .open
            .values()
            .flat_map(|w| w.by_source.values().map(|c| c.offset));
        let closed = self.closed.iter().map(|c| c.oldest_offset);
        open.chain(closed).fold(self.next_offset, i64::min)
    }

    /// What to write now: the final rows and progress not yet durable, and with
    /// `with_provisional` the values of open windows that changed.
    pub fn pending(&self, with_provisional: bool) -> Pending {
        let mut rows: Vec<LayerWindowRow> = self.closed.iter().map(|c| c.row.clone()).collect();
        if with_provisional {
            rows.extend(
                self.open
                    .iter()
                    .filter(|(_, w)| w.changed)
                    .map(|(k, w)| row(*k, w, None)),
            );
        }
        let publish = rows
            .iter()
            .filter(|r| r.window_len_ms == self.base_len_ms)
            .filter_map(|r| r.clone().into_layer_window())
            .collect();
        let sources = self
            .dirty_sources
            .iter()
            .filter_map(|&(layer, len_ms, source_partition)| {
                let closed_through = *self
                    .by_source
                    .get(&(layer, source_partition))?
                    .closed_through
                    .get(&len_ms)?;
                Some(SourceClosed {
                    layer,
                    len_ms,
                    source_partition,
                    closed_through,
                })
            })
            .collect();
        let finals = self
            .dirty_finals
            .iter()
            .filter_map(|&(layer, len_ms)| {
                Some(FinalThrough {
                    layer,
                    len_ms,
                    final_through: *self.final_through.get(&(layer, len_ms))?,
                })
            })
            .collect();
        Pending {
            rows,
            progress: Progress { sources, finals },
            position: self.position(),
            publish,
            with_provisional,
        }
    }

    /// Whether open windows have values not yet written.
    pub fn has_changes(&self) -> bool {
        self.open.values().any(|w| w.changed)
    }

    /// `pending` is durable (nothing was taken since it was read).
    pub fn written(&mut self, pending: &Pending) {
        self.closed.clear();
        self.dirty_sources.clear();
        self.dirty_finals.clear();
        if pending.with_provisional {
            for w in self.open.values_mut() {
                w.changed = false;
            }
        }
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row(
    (layer, len, start): WindowKey,
    window: &OpenWindow,
    closed_at_ms: Option<i64>,
) -> LayerWindowRow {
    let t = window.totals();
    LayerWindowRow {
        layer: layer.as_str().to_owned(),
        window_start: start,
        window_len_ms: len,
        events: to_i64(t.events),
        bytes: to_i64(t.bytes),
        packets: to_i64(t.packets),
        connections: to_i64(t.connections),
        requests: to_i64(t.requests),
        errors: to_i64(t.errors),
        is_final: closed_at_ms.is_some(),
        closed_at_ms,
        sources: i32::try_from(window.by_source.len()).unwrap_or(i32::MAX),
        error_classes: t.error_classes.to_json(),
        // Merged when the window closes, once: provisional rows carry none.
        latency_sketch: closed_at_ms.and_then(|_| window.latency()),
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
