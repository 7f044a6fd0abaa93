//! The windows and detectors of `layercast replay`: measurements summed into event-time
//! windows per (layer, entity), then every series run through the anomaly detector (errors,
//! latency, throughput) and, where a capacity is given, the forecaster's runway.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use std::sync::Arc;

use layercast_shared::{
    AlertChange, LatencySummary, OsiLayer, ReplayIncident, ReplayRunway, SeriesTrend, SeriesWindow,
    WindowMetric as Metric,
};

use crate::analysis::anomaly::{AnomalyConfig, AnomalyDetector};
use crate::analysis::live::LiveDetectors;
use crate::analysis::{
    rank_by_days_until_full, ForecastConfig, Forecaster, Runway, DEFAULT_MAX_HORIZON_MS,
};
use crate::analysis::{Analysis, Capacity as EngineCapacity, Inputs, RuleSet};
use crate::ingest::parse::{Measurement, Sink};

const MS_PER_S: i64 = 1000;
/// Empty windows filled in between two with data, at most: a quiet series counts zero traffic,
/// but a gap of weeks (a clock error, or logs of another period in the same folder) is a new
/// start, not weeks of points for the detectors to walk through.
const MAX_FILLED_WINDOWS: i64 = 10_080;

/// A capacity an admin gives for one series: `L2:fra1-spine1/et49=9e9` (bytes per second).
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    pub layer: OsiLayer,
    pub entity: String,
    pub bytes_per_s: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CapacityError {
    #[error("capacity `{0}` is not LAYER:ENTITY=BYTES_PER_SECOND (e.g. L2:sw1/et1=1.25e9)")]
    Shape(String),
    #[error("capacity `{0}`: {1}")]
    Layer(String, layercast_shared::UnknownLayer),
    #[error("capacity `{0}`: the bytes per second must be a positive number")]
    Value(String),
}

impl std::str::FromStr for Capacity {
    type Err = CapacityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || CapacityError::Shape(s.to_owned());
        let (series, value) = s.rsplit_once('=').ok_or_else(shape)?;
        let (layer, entity) = series.split_once(':').ok_or_else(shape)?;
        if entity.is_empty() {
            return Err(shape());
        }
        let layer = layer
            .parse()
            .map_err(|e| CapacityError::Layer(s.to_owned(), e))?;
        let bytes_per_s: f64 = value
            .trim()
            .parse()
            .map_err(|_| CapacityError::Value(s.to_owned()))?;
        if !(bytes_per_s.is_finite() && bytes_per_s > 0.0) {
            return Err(CapacityError::Value(s.to_owned()));
        }
        Ok(Capacity {
            layer,
            entity: entity.to_owned(),
            bytes_per_s,
        })
    }
}

/// What one window of one series holds.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    bytes: u64,
    errors: u64,
    latency_sum_ms: f64,
    latency_count: u64,
}

/// Sums measurements into windows per (layer, entity), in event time.
#[derive(Debug)]
pub struct WindowSink {
    window_ms: i64,
    /// Latest event time seen: windows that end after it are not complete, and a partial
    /// last window would look like a collapse of traffic.
    max_ts_ms: i64,
    /// Per layer, so that a known entity is looked up by `&str`, without an allocation.
    series: BTreeMap<OsiLayer, HashMap<String, BTreeMap<i64, Window>>>,
}

impl WindowSink {
    pub fn new(window_secs: u64) -> Self {
        let secs = i64::try_from(window_secs)
            .unwrap_or(i64::MAX)
            .clamp(1, i64::MAX / MS_PER_S);
        let window_ms = secs * MS_PER_S;
        WindowSink {
            window_ms,
            max_ts_ms: i64::MIN,
            series: BTreeMap::new(),
        }
    }
}

impl Sink for WindowSink {
    fn measurement(&mut self, m: &Measurement<'_>) {
        let start = m.ts_ms.div_euclid(self.window_ms) * self.window_ms;
        self.max_ts_ms = self.max_ts_ms.max(m.ts_ms);
        let entities = self.series.entry(m.layer).or_default();
        let windows = match entities.get_mut(m.entity) {
            Some(w) => w,
            None => entities.entry(m.entity.to_owned()).or_default(),
        };
        let w = windows.entry(start).or_default();
        w.bytes += m.bytes;
        w.errors += m.errors;
        if let Some(latency) = m.latency_ms.filter(|l| l.is_finite()) {
            w.latency_sum_ms += latency;
            w.latency_count += 1;
        }
    }
}

/// The metrics the anomaly detector watches on every series, in the order their incidents are
/// listed for one instant.
const METRICS: [Metric; 3] = [Metric::Errors, Metric::LatencyMs, Metric::BytesPerS];

/// The value of a window; `None` when the window says nothing of it (no latency measured).
/// Counts of an absent window are 0: no measurement, no traffic.
fn metric_value(metric: Metric, w: Option<&Window>, window_ms: i64) -> Option<f64> {
    match metric {
        Metric::Errors => Some(w.map_or(0.0, |w| w.errors as f64)),
        Metric::LatencyMs => w
            .filter(|w| w.latency_count > 0)
            .map(|w| w.latency_sum_ms / w.latency_count as f64),
        Metric::BytesPerS => {
            Some(w.map_or(0.0, |w| w.bytes as f64) * MS_PER_S as f64 / window_ms as f64)
        }
    }
}

/// What the detectors found over a replay's windows.
#[derive(Debug, Default)]
pub struct Found {
    /// In time order.
    pub incidents: Vec<ReplayIncident>,
    /// Soonest full first.
    pub runway: Vec<ReplayRunway>,
    /// The latest trend of every series' metrics.
    pub trends: Vec<SeriesTrend>,
    /// Every change of the alert rules, in time order.
    pub alerts: Vec<AlertChange>,
}

/// A replay window as the live analysis takes it: one series' window, final.
fn series_window(
    layer: OsiLayer,
    entity: &str,
    start: i64,
    w: Option<&Window>,
    window_ms: i64,
) -> SeriesWindow {
    let w = w.copied().unwrap_or_default();
    let secs = window_ms as f64 / MS_PER_S as f64;
    let latency = (w.latency_count > 0).then(|| {
        let mean = w.latency_sum_ms / w.latency_count as f64;
        LatencySummary {
            count: w.latency_count,
            min_ms: mean,
            max_ms: mean,
            mean_ms: mean,
            p50_ms: mean,
            p95_ms: mean,
            p99_ms: mean,
        }
    });
    SeriesWindow {
        layer,
        entity: entity.to_owned(),
        start_ms: start,
        end_ms: start + window_ms,
        events: 0,
        bytes: w.bytes,
        packets: 0,
        connections: 0,
        requests: 0,
        errors: w.errors,
        bytes_min: 0,
        bytes_max: 0,
        bytes_per_s: w.bytes as f64 / secs,
        events_per_s: 0.0,
        latency,
        error_rate: None,
        error_classes: Default::default(),
        is_final: true,
        closed_at_ms: None,
    }
}

/// Runs the detectors over every series of `sink`: the anomaly detector's incidents, the
/// runway of every series with a capacity, and the live analysis (trends, the alert rules).
pub fn find(
    sink: WindowSink,
    capacities: &[Capacity],
    anomaly: &AnomalyConfig,
    rules: &RuleSet,
) -> Found {
    let mut analysis = Analysis::new(sink.window_ms);
    analysis.set_inputs(Arc::new(Inputs::new(
        capacities
            .iter()
            .map(|c| EngineCapacity {
                layer: c.layer,
                entity: c.entity.clone(),
                metric: "bytes_per_s".into(),
                capacity: c.bytes_per_s,
            })
            .collect(),
        rules.clone(),
        Vec::new(),
    )));
    let mut trends: BTreeMap<(OsiLayer, String, String), SeriesTrend> = BTreeMap::new();
    let mut alerts: Vec<AlertChange> = Vec::new();
    let window_ms = sink.window_ms;
    // The start of the last complete window (nothing is complete when nothing was measured).
    let last_complete = sink
        .max_ts_ms
        .saturating_add(1)
        .div_euclid(window_ms)
        .saturating_mul(window_ms)
        .saturating_sub(window_ms);
    let mut series: Vec<((OsiLayer, String), BTreeMap<i64, Window>)> = sink
        .series
        .into_iter()
        .flat_map(|(layer, entities)| entities.into_iter().map(move |(e, w)| ((layer, e), w)))
        .collect();
    // Same input, same report: series in a fixed order.
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut incidents = Vec::new();
    let mut runways: Vec<((OsiLayer, String, f64), Runway)> = Vec::new();
    for ((layer, entity), windows) in &series {
        let Some(&last) = windows.keys().next_back() else {
            continue;
        };
        let starts = timeline(windows, last.min(last_complete), window_ms);
        let mut live = LiveDetectors::new(*anomaly, window_ms);
        for &start in &starts {
            let w = series_window(*layer, entity, start, windows.get(&start), window_ms);
            let (_, scores) = live.observe_scored(&w);
            let found = analysis.observe(&w, &scores);
            for t in found.trends {
                trends.insert((t.layer, t.entity.clone(), t.metric.clone()), t);
            }
            for c in found.alerts.iter().filter_map(crate::stream::new_change) {
                alerts.push(AlertChange {
                    alert_id: c.id,
                    rule: c.rule,
                    layer: c.layer,
                    entity: c.entity,
                    metric: c.metric,
                    from: c.from,
                    to: c.to,
                    at_ms: c.at_ms,
                    value: c.value,
                    notify: true,
                });
            }
        }
        for metric in METRICS {
            let Ok(mut detector) = AnomalyDetector::new(*anomaly) else {
                continue;
            };
            for &start in &starts {
                if let Some(value) = metric_value(metric, windows.get(&start), window_ms) {
                    let point = detector.push(start, value);
                    if point.alert {
                        incidents.push(ReplayIncident {
                            layer: *layer,
                            entity: entity.clone(),
                            metric: metric.as_str().into(),
                            at: rfc3339(start),
                            at_ms: start,
                            value,
                            score: point.score,
                        });
                    }
                }
            }
        }
        for capacity in capacities
            .iter()
            .filter(|c| c.layer == *layer && c.entity == *entity)
        {
            let Ok(mut forecaster) = Forecaster::new(ForecastConfig::default()) else {
                continue;
            };
            for &start in &starts {
                if let Some(v) = metric_value(Metric::BytesPerS, windows.get(&start), window_ms) {
                    forecaster.push(start, v);
                }
            }
            let runway = forecaster.runway(Some(capacity.bytes_per_s), DEFAULT_MAX_HORIZON_MS);
            runways.push(((*layer, entity.clone(), capacity.bytes_per_s), runway));
        }
    }
    // A capacity for a series the data never mentions is still listed, as warming.
    for c in capacities {
        if !runways
            .iter()
            .any(|((l, e, _), _)| *l == c.layer && *e == c.entity)
        {
            runways.push((
                (c.layer, c.entity.clone(), c.bytes_per_s),
                Runway::Warming { buckets: 0 },
            ));
        }
    }
    incidents.sort_by(|a, b| (a.at_ms, a.layer, &a.entity).cmp(&(b.at_ms, b.layer, &b.entity)));
    let runway =
        rank_by_days_until_full(&runways)
            .into_iter()
            .map(|((layer, entity, capacity), r)| {
                let (state, days, upper) = match *r {
                    Runway::Reaches {
                        in_days,
                        upper_bound_in_days,
                        ..
                    } => ("reaches", Some(in_days), Some(upper_bound_in_days)),
                    Runway::NeverAtThisTrend {
                        upper_bound_in_days,
                        ..
                    } => ("never_at_this_trend", None, upper_bound_in_days),
                    Runway::AlreadyAbove { .. } => ("already_above", Some(0.0), Some(0.0)),
                    Runway::Warming { .. } | Runway::NoCapacity => ("warming", None, None),
                };
                ReplayRunway {
                    layer: *layer,
                    entity: entity.clone(),
                    metric: Metric::BytesPerS.as_str().into(),
                    capacity: *capacity,
                    state: state.into(),
                    days_until_full: days,
                    upper_bound_days: upper,
                }
            });
    alerts.sort_by(|a, b| (a.at_ms, a.layer, &a.entity).cmp(&(b.at_ms, b.layer, &b.entity)));
    Found {
        incidents,
        runway: runway.collect(),
        trends: trends.into_values().collect(),
        alerts,
    }
}

/// The window starts a series is judged on, up to `last`: every window with data, and the
/// empty ones between two of them, at most [`MAX_FILLED_WINDOWS`] in a row.
fn timeline(windows: &BTreeMap<i64, Window>, last: i64, window_ms: i64) -> Vec<i64> {
    let keys: Vec<i64> = windows.keys().copied().collect();
    let mut starts = Vec::new();
    for (i, &start) in keys.iter().enumerate().take_while(|(_, &k)| k <= last) {
        starts.push(start);
        let Some(&next) = keys.get(i + 1) else { break };
        let gap = (next - start) / window_ms - 1;
        if (1..=MAX_FILLED_WINDOWS).contains(&gap) {
            starts.extend(
                (1..=gap)
                    .map(|k| start + k * window_ms)
                    .take_while(|&s| s <= last),
            );
        }
    }
    starts
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(ts_ms: i64, errors: u64) -> Measurement<'static> {
        let mut m = Measurement::new(ts_ms, OsiLayer::L2, "sw1/et1");
        m.bytes = 1_000;
        m.errors = errors;
        m
    }

    #[test]
    fn capacities_read_layer_entity_and_bytes_per_second() {
        let c: Capacity = "L4:10.0.0.1:443/tcp=1.25e9".parse().expect("capacity");
        assert_eq!(
            (c.layer, c.entity.as_str(), c.bytes_per_s),
            (OsiLayer::L4, "10.0.0.1:443/tcp", 1.25e9)
        );
        assert!(matches!(
            "sw1=5".parse::<Capacity>(),
            Err(CapacityError::Shape(_))
        ));
        assert!(matches!(
            "L9:sw1=5".parse::<Capacity>(),
            Err(CapacityError::Layer(..))
        ));
        assert!(matches!(
            "L2:sw1=-5".parse::<Capacity>(),
            Err(CapacityError::Value(_))
        ));
        assert!(matches!(
            "L2:sw1=lots".parse::<Capacity>(),
            Err(CapacityError::Value(_))
        ));
    }

    #[test]
    fn nothing_measured_finds_nothing_and_lists_capacities_as_warming() {
        let capacity: Capacity = "L2:sw1/et1=100".parse().expect("capacity");
        let found = find(
            WindowSink::new(60),
            &[capacity],
            &AnomalyConfig::default(),
            &RuleSet::default(),
        );
        let (incidents, runway) = (found.incidents, found.runway);
        assert!(incidents.is_empty());
        assert_eq!(runway.len(), 1);
        assert_eq!(runway[0].state, "warming");
    }

    #[test]
    fn short_gaps_count_as_quiet_windows_and_long_ones_as_a_new_start() {
        let w = 60_000;
        let mut windows = BTreeMap::new();
        for start in [0, 3 * w, 3 * w + (MAX_FILLED_WINDOWS + 2) * w] {
            windows.insert(start, Window::default());
        }
        let starts = timeline(&windows, i64::MAX, w);
        assert_eq!(&starts[..4], &[0, w, 2 * w, 3 * w]);
        assert_eq!(starts.len(), 5, "the long gap is not filled");
        // Windows after the last complete one are left out.
        assert_eq!(timeline(&windows, w, w), vec![0, w]);
    }

    #[test]
    fn an_error_burst_after_a_quiet_hour_is_one_incident_and_the_partial_last_window_none() {
        let mut sink = WindowSink::new(60);
        let start = 1_790_000_040_000_i64; // on a minute
        for minute in 0..120 {
            let errors = if (90..95).contains(&minute) { 500 } else { 0 };
            for second in (0..60).step_by(10) {
                sink.measurement(&measurement(
                    start + (minute * 60 + second) * 1_000,
                    errors / 6,
                ));
            }
        }
        // The data end 10 s into a last window: its bytes look like a collapse, but it is
        // not complete and is not judged.
        sink.measurement(&measurement(start + 120 * 60_000, 0));
        let incidents = find(sink, &[], &AnomalyConfig::default(), &RuleSet::default()).incidents;
        let errors: Vec<_> = incidents.iter().filter(|i| i.metric == "errors").collect();
        assert_eq!(errors.len(), 1, "{incidents:#?}");
        assert_eq!(errors[0].at_ms, start + 90 * 60_000);
        assert!(
            incidents.iter().all(|i| i.at_ms < start + 120 * 60_000),
            "{incidents:#?}"
        );
    }

    #[test]
    fn the_live_analysis_runs_over_the_windows_trends_and_rules() {
        use crate::analysis::{AlertRule, Condition, Op, Signal};
        let mut sink = WindowSink::new(60);
        let start = 1_790_000_040_000_i64;
        // A day of traffic rising steadily, over 1,000 bytes a second for the last six hours.
        for minute in 0..1_440 {
            let mut m = measurement(start + minute * 60_000, 0);
            m.bytes = 30_000 + minute as u64 * 50;
            sink.measurement(&m);
        }
        let rule = AlertRule {
            id: "busy".into(),
            layer: OsiLayer::L2,
            entity: "sw1/*".into(),
            metric: "bytes_per_s".into(),
            condition: Condition {
                signal: Signal::Value,
                op: Op::Above,
                fire: 1_000.0,
                resolve: None,
            },
            for_ms: 0,
        };
        let rules = RuleSet::new(vec![rule]).expect("rules");
        let found = find(sink, &[], &AnomalyConfig::default(), &rules);
        let trend = found
            .trends
            .iter()
            .find(|t| t.metric == "bytes_per_s")
            .expect("a throughput trend");
        assert_eq!(trend.direction, "up");
        assert!(
            (trend.slope_per_day - 50.0 * 1_440.0 / 60.0).abs() < 60.0,
            "{trend:?}"
        );
        assert_eq!(found.alerts.len(), 1, "{:?}", found.alerts);
        let fired = &found.alerts[0];
        assert_eq!(
            (fired.rule.as_str(), fired.to),
            ("busy", layercast_shared::AlertStatus::Firing)
        );
        // 30,000 + 50 m bytes a minute is over 1,000 a second from minute 601 on.
        assert_eq!(fired.at_ms, start + 602 * 60_000);
    }
}
