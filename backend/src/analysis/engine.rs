//! The analysis of the running stream and of `layercast replay`, one code path for both: every
//! final base window of a series goes through its trend trackers, its forecasters and runway
//! (for metrics with a capacity) and the alert rules that match it. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use layercast_shared::{OsiLayer, SeriesRunway, SeriesTrend, SeriesWindow};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::alerts::{AlertTransition, Observation, RuleSet, SeriesAlerts, SeriesKey, StoredAlert};
use super::forecast::{ForecastConfig, Forecaster, Runway, DEFAULT_MAX_HORIZON_MS};
use super::live::Scores;
use super::precursor::EntityGroup;
use super::trend::{Trend, TrendConfig, TrendTracker};

/// The metrics every series keeps a trend of; a metric with a capacity gets one too.
pub const TREND_METRICS: [&str; 3] = ["bytes_per_s", "error_rate", "latency_p95_ms"];

/// A series' capacity in one metric: what its runway is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Capacity {
    pub layer: OsiLayer,
    pub entity: String,
    /// One of the metric names (`bytes_per_s`, `requests_per_s`, ...).
    pub metric: String,
    pub capacity: f64,
}

/// What admins set that the analysis reads: it applies from the next window after a change.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Per layer and entity, (metric, capacity) by metric: looked up for every window, by a
    /// borrowed name.
    capacities: HashMap<OsiLayer, HashMap<String, Vec<(String, f64)>>>,
    pub rules: RuleSet,
    pub groups: Vec<EntityGroup>,
}

impl Inputs {
    pub fn new(capacities: Vec<Capacity>, rules: RuleSet, groups: Vec<EntityGroup>) -> Self {
        let mut by_series: HashMap<OsiLayer, HashMap<String, Vec<(String, f64)>>> = HashMap::new();
        for c in capacities {
            let of_series = by_series
                .entry(c.layer)
                .or_default()
                .entry(c.entity)
                .or_default();
            of_series.retain(|(m, _)| *m != c.metric);
            of_series.push((c.metric, c.capacity));
            of_series.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Inputs {
            capacities: by_series,
            rules,
            groups,
        }
    }

    fn capacities_of(&self, layer: OsiLayer, entity: &str) -> &[(String, f64)] {
        self.capacities
            .get(&layer)
            .and_then(|by_entity| by_entity.get(entity))
            .map_or(&[], |c| c.as_slice())
    }
}

/// The id of an alert: the same for a rule on a series across episodes, restarts and nodes.
pub fn alert_id(rule: &str, layer: OsiLayer, entity: &str, metric: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule, layer.as_str(), entity, metric] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// What the trackers of one series hold, as stored for a node that takes it over.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeriesState {
    /// Start of the newest window taken in.
    pub last_start_ms: i64,
    pub trends: BTreeMap<String, TrendTracker>,
    pub forecasts: BTreeMap<String, Forecaster>,
}

struct Series {
    state: SeriesState,
    /// Per metric with rules.
    alerts: BTreeMap<String, SeriesAlerts>,
    /// The inputs' generation the alerts were made under.
    generation: u64,
    /// Latest runway per metric, in days (what `runway_days` rules read).
    runway_days: BTreeMap<String, f64>,
}

/// An alert's change, with what the store needs besides the state machine's transition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub id: String,
    pub transition: AlertTransition,
    pub threshold: f64,
}

/// What one window brought: usually nothing.
#[derive(Debug, Default)]
pub struct Findings {
    pub alerts: Vec<AlertChange>,
    pub trends: Vec<SeriesTrend>,
    pub runways: Vec<SeriesRunway>,
    /// Series whose trackers completed a bucket: store their state.
    pub states: Vec<(OsiLayer, String, SeriesState)>,
}

impl Findings {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.trends.is_empty()
            && self.runways.is_empty()
            && self.states.is_empty()
    }

    pub fn extend(&mut self, other: Findings) {
        self.alerts.extend(other.alerts);
        self.trends.extend(other.trends);
        self.runways.extend(other.runways);
        self.states.extend(other.states);
    }
}

/// The analysis of every series of one partition (or of the layer stage, or of a replay).
pub struct Analysis {
    len_ms: i64,
    trend: TrendConfig,
    forecast: ForecastConfig,
    inputs: Arc<Inputs>,
    generation: u64,
    /// Per layer, by entity: looked up for every window by a borrowed name.
    series: HashMap<OsiLayer, HashMap<String, Series>>,
}

impl Analysis {
    pub fn new(len_ms: i64) -> Self {
        Analysis {
            len_ms: len_ms.max(1),
            trend: TrendConfig::default(),
            forecast: ForecastConfig::default(),
            inputs: Arc::new(Inputs::default()),
            generation: 0,
            series: HashMap::new(),
        }
    }

    /// New capacities, rules and groups: rules that still apply keep their alerts' states.
    pub fn set_inputs(&mut self, inputs: Arc<Inputs>) {
        self.inputs = inputs;
        self.generation += 1;
    }

    pub fn inputs(&self) -> &Arc<Inputs> {
        &self.inputs
    }

    pub fn series(&self) -> usize {
        self.series.values().map(HashMap::len).sum()
    }

    /// A series' trackers as a node stored them (before it replays the windows after them).
    pub fn restore_state(&mut self, layer: OsiLayer, entity: &str, state: SeriesState) {
        self.series_mut(layer, entity).state = state;
    }

    /// An alert as stored: the rule must still apply, else it is left (it resolves in the
    /// store when its rule is removed).
    pub fn restore_alert(
        &mut self,
        rule: &str,
        layer: OsiLayer,
        entity: &str,
        metric: &str,
        stored: StoredAlert,
    ) {
        let series = self.series_mut(layer, entity);
        if let Some(alerts) = series.alerts.get_mut(metric) {
            let _ = alerts.restore(rule, stored);
        }
    }

    /// The runway of one metric of a series now, if it has a forecaster.
    pub fn forecaster(&self, layer: OsiLayer, entity: &str, metric: &str) -> Option<&Forecaster> {
        self.series
            .get(&layer)?
            .get(entity)?
            .state
            .forecasts
            .get(metric)
    }

    fn series_mut(&mut self, layer: OsiLayer, entity: &str) -> &mut Series {
        Self::series_in(
            &mut self.series,
            &self.inputs,
            self.generation,
            layer,
            entity,
        )
    }

    /// A series' state, made when new and brought to the inputs' generation (its alerts under
    /// the rules that apply to it now).
    fn series_in<'a>(
        all: &'a mut HashMap<OsiLayer, HashMap<String, Series>>,
        inputs: &Inputs,
        generation: u64,
        layer: OsiLayer,
        entity: &str,
    ) -> &'a mut Series {
        let of_layer = all.entry(layer).or_default();
        if !of_layer.contains_key(entity) {
            of_layer.insert(
                entity.to_owned(),
                Series {
                    state: SeriesState {
                        last_start_ms: i64::MIN,
                        ..SeriesState::default()
                    },
                    alerts: BTreeMap::new(),
                    generation: u64::MAX,
                    runway_days: BTreeMap::new(),
                },
            );
        }
        let Some(series) = of_layer.get_mut(entity) else {
            unreachable!("inserted above")
        };
        if series.generation != generation {
            let metrics = inputs.rules.metrics_of(layer, entity);
            series.alerts.retain(|m, _| metrics.contains(m));
            for metric in metrics {
                let key = SeriesKey {
                    layer,
                    entity: entity.to_owned(),
                    metric: metric.clone(),
                };
                series
                    .alerts
                    .entry(metric)
                    .and_modify(|a| a.apply_rules(&inputs.rules))
                    .or_insert_with(|| inputs.rules.for_series(key));
            }
            series.generation = generation;
        }
        series
    }

    /// Learns from a window closed before this node took the series over: nothing is reported
    /// (it was when it closed), and alerts keep the state they were stored with.
    pub fn warm(&mut self, w: &SeriesWindow) {
        let _ = self.take(w, None, false);
    }

    /// Takes a final window of the base length, with its anomaly scores.
    pub fn observe(&mut self, w: &SeriesWindow, scores: &Scores) -> Findings {
        self.take(w, Some(scores), true)
    }

    fn take(&mut self, w: &SeriesWindow, scores: Option<&Scores>, report: bool) -> Findings {
        let mut found = Findings::default();
        if w.end_ms - w.start_ms != self.len_ms {
            return found;
        }
        let inputs = Arc::clone(&self.inputs);
        let (trend_config, forecast_config) = (&self.trend, &self.forecast);
        let generation = self.generation;
        let series = Self::series_in(&mut self.series, &inputs, generation, w.layer, &w.entity);
        if w.start_ms <= series.state.last_start_ms {
            return found;
        }
        series.state.last_start_ms = w.start_ms;
        let capacities = inputs.capacities_of(w.layer, &w.entity);
        let mut completed = false;

        let trend_metrics = TREND_METRICS.iter().copied().chain(
            capacities
                .iter()
                .map(|(m, _)| m.as_str())
                .filter(|m| !TREND_METRICS.contains(m)),
        );
        for metric in trend_metrics {
            let Some(value) = w.metric(metric) else {
                continue;
            };
            let tracker = match series.state.trends.get_mut(metric) {
                Some(t) => t,
                None => match TrendTracker::new(trend_config.clone()) {
                    Ok(t) => series.state.trends.entry(metric.to_owned()).or_insert(t),
                    Err(_) => continue,
                },
            };
            let before = tracker.buckets_held();
            let before_result = tracker.trend();
            tracker.push(w.start_ms, value);
            if tracker.buckets_held() != before || tracker.trend() != before_result {
                completed = true;
                if let (true, Trend::Estimate(e)) = (report, tracker.trend()) {
                    found.trends.push(SeriesTrend {
                        layer: w.layer,
                        entity: w.entity.clone(),
                        metric: metric.to_owned(),
                        direction: format!("{:?}", e.direction).to_lowercase(),
                        slope_per_day: e.slope_per_day,
                        slope_low: e.slope_low_per_day,
                        slope_high: e.slope_high_per_day,
                        p_value: e.p_value,
                        buckets: u32::try_from(e.samples).unwrap_or(u32::MAX),
                        at_ms: w.end_ms,
                    });
                }
            }
        }

        for (metric, capacity) in capacities {
            let Some(value) = w.metric(metric) else {
                continue;
            };
            let forecaster = match series.state.forecasts.get_mut(metric) {
                Some(f) => f,
                None => match Forecaster::new(forecast_config.clone()) {
                    Ok(f) => series.state.forecasts.entry(metric.clone()).or_insert(f),
                    Err(_) => continue,
                },
            };
            let before = forecaster.buckets_seen();
            forecaster.push(w.start_ms, value);
            let changed = forecaster.buckets_seen() != before;
            completed |= changed;
            // Computed when a bucket completes (its cost is a search over the horizon), and
            // the first time (a capacity just set, or a restored series).
            let first = !series.runway_days.contains_key(metric);
            if changed || first {
                let runway = forecaster.runway(Some(*capacity), DEFAULT_MAX_HORIZON_MS);
                let r = series_runway(w, metric, *capacity, forecaster, runway);
                series
                    .runway_days
                    .insert(metric.clone(), runway.days_until_full().unwrap_or(f64::NAN));
                // The first one too: a capacity just set shows at once, as learning.
                if report {
                    found.runways.push(r);
                }
            }
        }
        series
            .runway_days
            .retain(|m, _| capacities.iter().any(|(c, _)| c == m));

        if report {
            for (metric, alerts) in &mut series.alerts {
                let Some(value) = w.metric(metric) else {
                    continue;
                };
                let obs = Observation {
                    ts_ms: w.end_ms,
                    value,
                    anomaly_score: scores.and_then(|s| s.of_metric(metric)),
                    runway_days: series.runway_days.get(metric).copied(),
                };
                for t in alerts.evaluate(&obs) {
                    let threshold = inputs
                        .rules
                        .get(&t.rule_id)
                        .map_or(f64::NAN, |r| r.condition.fire);
                    found.alerts.push(AlertChange {
                        id: alert_id(&t.rule_id, w.layer, &w.entity, metric),
                        transition: t,
                        threshold,
                    });
                }
            }
        }
        if completed && report {
            found
                .states
                .push((w.layer, w.entity.clone(), series.state.clone()));
        }
        found
    }
}

/// A runway as the API shows it.
pub fn series_runway(
    w: &SeriesWindow,
    metric: &str,
    capacity: f64,
    forecaster: &Forecaster,
    runway: Runway,
) -> SeriesRunway {
    let current = forecaster.forecast(0).map_or(f64::NAN, |p| p.value);
    let (state, days) = match runway {
        Runway::NoCapacity | Runway::Warming { .. } => ("learning", None),
        Runway::AlreadyAbove { .. } => ("full", Some(0.0)),
        Runway::NeverAtThisTrend { .. } => ("never", None),
        Runway::Reaches { in_days, .. } => ("filling", Some(in_days)),
    };
    SeriesRunway {
        layer: w.layer,
        entity: w.entity.clone(),
        metric: metric.to_owned(),
        capacity,
        current,
        days_until_full: days,
        state: state.to_owned(),
        at_ms: w.end_ms,
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
