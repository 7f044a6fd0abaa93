//! The windows and detectors of `layercast replay`: measurements summed into event-time
//! windows per (layer, entity), then every series run through the anomaly detector (errors,
//! latency, throughput) and, where a capacity is given, the forecaster's runway.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use layercast_shared::{OsiLayer, ReplayIncident, ReplayRunway, WindowMetric as Metric};

use crate::analysis::anomaly::{AnomalyConfig, AnomalyDetector};
use crate::analysis::{
    rank_by_days_until_full, ForecastConfig, Forecaster, Runway, DEFAULT_MAX_HORIZON_MS,
};
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

/// Runs the detectors over every series of `sink` and returns the incidents (in time order)
/// and the runway of every series with a capacity (soonest full first).
pub fn find(
    sink: WindowSink,
    capacities: &[Capacity],
    anomaly: &AnomalyConfig,
) -> (Vec<ReplayIncident>, Vec<ReplayRunway>) {
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
    (incidents, runway.collect())
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
        let (incidents, runway) = find(WindowSink::new(60), &[capacity], &AnomalyConfig::default());
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
        let (incidents, _) = find(sink, &[], &AnomalyConfig::default());
        let errors: Vec<_> = incidents.iter().filter(|i| i.metric == "errors").collect();
        assert_eq!(errors.len(), 1, "{incidents:#?}");
        assert_eq!(errors[0].at_ms, start + 90 * 60_000);
        assert!(
            incidents.iter().all(|i| i.at_ms < start + 120 * 60_000),
            "{incidents:#?}"
        );
    }
}
