//! Cross-layer precursors: which anomaly on a lower layer came shortly before one on a higher
//! layer of entities that belong together (a switch port and the service behind it).
//!
//! Anomaly events come in as they happen. Each is compared with the recent anomalies of every
//! group its entity belongs to: a lower-layer anomaly that started at most `max_lag_ms` earlier
//! is its likely precursor (the one with the highest score, the earliest on a tie), returned
//! with the lag so it can be attached to the later alert. Recent anomalies are kept per group,
//! pruned by time and capped in number.
//!
//! Alongside, counts per (group, lower layer, higher layer) say how often the lower layer led
//! and how often it followed, so a planner can see which links are habitual (`lead_stats`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use layercast_shared::OsiLayer;
use serde::{Deserialize, Serialize};

use super::alerts::SeriesKey;

#[cfg(test)]
mod tests;

const DEFAULT_MAX_LAG_MS: i64 = 15 * 60_000;
const DEFAULT_MAX_RECENT_PER_GROUP: usize = 64;
/// One-sided normal quantile for a 95% Wilson lower bound.
const WILSON_Z: f64 = 1.644_853_626_951_472_6;

/// Entities that belong together, named for the UI (`"sw1/eth3 + api"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntityGroup {
    pub name: String,
    pub entities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecursorConfig {
    /// Longest lead that still counts, in milliseconds.
    pub max_lag_ms: i64,
    /// Recent anomalies kept per group (the oldest go first when more arrive within the lag).
    pub max_recent_per_group: usize,
}

impl Default for PrecursorConfig {
    /// 15 minutes, 64 anomalies per group.
    fn default() -> Self {
        Self {
            max_lag_ms: DEFAULT_MAX_LAG_MS,
            max_recent_per_group: DEFAULT_MAX_RECENT_PER_GROUP,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrecursorError {
    #[error("the maximum lag must be positive, got {0} ms")]
    MaxLag(i64),
    #[error("at least one recent anomaly per group must be kept")]
    ZeroRecent,
    #[error("group {0:?} has no entities")]
    EmptyGroup(String),
}

/// An anomaly as the anomaly detector reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    pub series: SeriesKey,
    pub start_ms: i64,
    /// Anomaly score in [0, 1].
    pub score: f64,
}

/// The likely precursor of a later anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Precursor {
    /// The earlier, lower-layer anomaly.
    pub anomaly: AnomalyEvent,
    /// How long before the later anomaly it started.
    pub lag_ms: i64,
    /// The group that relates the two entities.
    pub group: String,
}

/// How a lower layer and a higher layer of one group relate over the anomalies seen so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadStat {
    pub group: String,
    pub lower: OsiLayer,
    pub higher: OsiLayer,
    /// Higher-layer anomalies of the group.
    pub higher_anomalies: u64,
    /// ... of which a lower-layer anomaly preceded within the lag.
    pub led: u64,
    /// Lower-layer anomalies that came within the lag *after* a higher-layer one.
    pub followed: u64,
    /// 95% Wilson lower bound of `led / higher_anomalies`: how sure we are the lower layer
    /// habitually leads (0 with little data).
    pub confidence: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct PairCounts {
    led: u64,
    followed: u64,
}

/// Finds precursors across the configured groups.
///
/// Memory: at most `max_recent_per_group` anomalies per group (about 100 bytes each with a short
/// entity name), a map from entity to its groups, and at most 21 layer-pair counters (16 bytes)
/// plus 7 layer counters per group: bounded by the configuration, not by history.
#[derive(Debug, Clone)]
pub struct PrecursorFinder {
    config: PrecursorConfig,
    group_names: Vec<String>,
    groups_of: HashMap<String, Vec<usize>>,
    recent: Vec<VecDeque<AnomalyEvent>>,
    higher_counts: BTreeMap<(usize, OsiLayer), u64>,
    pair_counts: BTreeMap<(usize, OsiLayer, OsiLayer), PairCounts>,
}

impl PrecursorFinder {
    pub fn new(groups: Vec<EntityGroup>, config: PrecursorConfig) -> Result<Self, PrecursorError> {
        if config.max_lag_ms <= 0 {
            return Err(PrecursorError::MaxLag(config.max_lag_ms));
        }
        if config.max_recent_per_group == 0 {
            return Err(PrecursorError::ZeroRecent);
        }
        let mut groups_of: HashMap<String, Vec<usize>> = HashMap::new();
        let mut group_names = Vec::with_capacity(groups.len());
        for (i, group) in groups.into_iter().enumerate() {
            if group.entities.is_empty() {
                return Err(PrecursorError::EmptyGroup(group.name));
            }
            for entity in group.entities {
                let of = groups_of.entry(entity).or_default();
                if !of.contains(&i) {
                    of.push(i);
                }
            }
            group_names.push(group.name);
        }
        Ok(Self {
            recent: vec![VecDeque::new(); group_names.len()],
            group_names,
            groups_of,
            higher_counts: BTreeMap::new(),
            pair_counts: BTreeMap::new(),
            config,
        })
    }

    /// Records an anomaly and returns its likely precursor, if a lower-layer anomaly of a
    /// related entity started at most `max_lag_ms` before it.
    pub fn observe(&mut self, event: AnomalyEvent) -> Option<Precursor> {
        let groups = self.groups_of.get(&event.series.entity)?.clone();
        let mut best: Option<(usize, &AnomalyEvent)> = None;
        for &g in &groups {
            let recent = &mut self.recent[g];
            let horizon = event.start_ms.saturating_sub(self.config.max_lag_ms);
            recent.retain(|r| r.start_ms >= horizon);
            *self
                .higher_counts
                .entry((g, event.series.layer))
                .or_default() += 1;
            let mut led_by = [false; OsiLayer::ALL.len()];
            let mut followed = [false; OsiLayer::ALL.len()];
            for earlier in recent.iter().filter(|r| r.start_ms <= event.start_ms) {
                let layer_index = earlier.series.layer as usize;
                if earlier.series.layer < event.series.layer {
                    led_by[layer_index] = true;
                } else if earlier.series.layer > event.series.layer {
                    followed[layer_index] = true;
                }
            }
            for layer in OsiLayer::ALL {
                if led_by[layer as usize] {
                    self.pair_counts
                        .entry((g, layer, event.series.layer))
                        .or_default()
                        .led += 1;
                }
                if followed[layer as usize] {
                    self.pair_counts
                        .entry((g, event.series.layer, layer))
                        .or_default()
                        .followed += 1;
                }
            }
        }
        for &g in &groups {
            for earlier in &self.recent[g] {
                let related =
                    earlier.series.layer < event.series.layer && earlier.start_ms <= event.start_ms;
                let better = best.is_none_or(|(_, b)| {
                    earlier.score > b.score
                        || (earlier.score == b.score && earlier.start_ms < b.start_ms)
                });
                if related && better {
                    best = Some((g, earlier));
                }
            }
        }
        let precursor = best.map(|(g, earlier)| Precursor {
            lag_ms: event.start_ms - earlier.start_ms,
            anomaly: earlier.clone(),
            group: self.group_names[g].clone(),
        });
        for &g in &groups {
            let recent = &mut self.recent[g];
            if recent.len() == self.config.max_recent_per_group {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        precursor
    }

    /// Lead statistics per group and layer pair that has seen at least one lead or follow.
    pub fn lead_stats(&self) -> Vec<LeadStat> {
        self.pair_counts
            .iter()
            .map(|(&(g, lower, higher), counts)| {
                let higher_anomalies = self.higher_counts.get(&(g, higher)).copied().unwrap_or(0);
                LeadStat {
                    group: self.group_names[g].clone(),
                    lower,
                    higher,
                    higher_anomalies,
                    led: counts.led,
                    followed: counts.followed,
                    confidence: wilson_lower_bound(counts.led, higher_anomalies),
                }
            })
            .collect()
    }

    /// Anomalies currently held (bounded by groups × `max_recent_per_group`).
    pub fn held(&self) -> usize {
        self.recent.iter().map(VecDeque::len).sum()
    }
}

/// Lower bound of the Wilson score interval for `successes` out of `trials`.
fn wilson_lower_bound(successes: u64, trials: u64) -> f64 {
    if trials == 0 {
        return 0.0;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = WILSON_Z * WILSON_Z;
    let centre = p + z2 / (2.0 * n);
    let margin = WILSON_Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}
