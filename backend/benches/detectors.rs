//! Throughput of all the detectors of one series (anomaly, trend, forecast with a runway per
//! forecast bucket, alert rules fed by all three) over one synthetic series of 10-second
//! windows: the cost target is at least a million points per second per core.
//!
//! Then the analysis as `layercast serve` runs it at each window close, over many series: the
//! anomaly detectors of every series (`LiveDetectors::observe_scored`) and `Analysis::observe`
//! (trends, forecasts and runways where there is a capacity, the alert rules that match),
//! with the end-to-end benchmark's entities, rules and capacities
//! (`stream_events/analysis.rs`): its cost per series and window and per window close of
//! every series. No bar; reported.
//!
//! ```text
//! cargo bench -p layercast --bench detectors -- [--days 60] [--runs 3] \
//!     [--series 10000] [--windows 720] [--rules 20] [--capacities 100]
//! ```
//!
//! Output is `key=value` lines on stdout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bench_args::arg;
use layercast::analysis::anomaly::{AnomalyConfig, AnomalyDetector};
use layercast::analysis::live::LiveDetectors;
use layercast::analysis::{
    AlertRule, Analysis, Capacity, Condition, ForecastConfig, Forecaster, Inputs, Observation, Op,
    RuleSet, SeriesKey, Signal, TrendConfig, TrendTracker, DEFAULT_MAX_HORIZON_MS,
};
use layercast_shared::{LatencySummary, OsiLayer, SeriesWindow};

#[path = "bench_args/mod.rs"]
mod bench_args;
// The end-to-end benchmark's entities, rules and capacities; its record generator and probe
// are not used here.
#[allow(dead_code)]
#[path = "stream_events/mod.rs"]
mod stream_events;
#[allow(dead_code)]
#[path = "stream_events/analysis.rs"]
mod workload;

const WINDOW_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
const START_MS: i64 = 1_790_000_000_000;
/// Capacity of the synthetic link, in the series' units.
const CAPACITY: f64 = 700.0;

fn rule(id: &str, signal: Signal, op: Op, fire: f64, resolve: Option<f64>) -> AlertRule {
    AlertRule {
        id: id.to_owned(),
        layer: OsiLayer::L2,
        entity: "sw1-*".to_owned(),
        metric: "bytes".to_owned(),
        condition: Condition {
            signal,
            op,
            fire,
            resolve,
        },
        for_ms: 5 * 60_000,
    }
}

fn run(points: i64) -> Result<(Duration, u64)> {
    let mut anomaly = AnomalyDetector::new(AnomalyConfig::default())?;
    let mut trend = TrendTracker::new(TrendConfig::default())?;
    let forecast_config = ForecastConfig::default();
    let bucket_ms = forecast_config.bucket_ms;
    let mut forecaster = Forecaster::new(forecast_config)?;
    let rules = RuleSet::new(vec![
        rule("hot", Signal::Value, Op::Above, 900.0, Some(800.0)),
        rule("runway", Signal::RunwayDays, Op::Below, 30.0, Some(45.0)),
        rule("jump", Signal::ChangePercent, Op::Above, 200.0, None),
        rule("odd", Signal::AnomalyScore, Op::Above, 0.9, Some(0.5)),
    ])?;
    let mut alerts = rules.for_series(SeriesKey {
        layer: OsiLayer::L2,
        entity: "sw1-eth0".to_owned(),
        metric: "bytes".to_owned(),
    });
    // A cheap deterministic jitter (xorshift) so the values are not a perfect line.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut transitions = 0_u64;
    let mut runway_days = None;
    let started = Instant::now();
    for i in 0..points {
        let ts = START_MS + i * WINDOW_MS;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state >> 11) as f64 / (1_u64 << 53) as f64 - 0.5;
        let t_days = (i * WINDOW_MS) as f64 / DAY_MS as f64;
        let value =
            200.0 + 5.0 * t_days + 100.0 * (t_days * std::f64::consts::TAU).sin() + 50.0 * noise;
        let point = anomaly.push(ts, value);
        trend.push(ts, value);
        forecaster.push(ts, value);
        // The runway is asked once per forecast bucket, as an actor would.
        if ts % bucket_ms == 0 {
            runway_days = forecaster
                .runway(Some(CAPACITY), DEFAULT_MAX_HORIZON_MS)
                .days_until_full();
        }
        transitions += alerts
            .evaluate(&Observation {
                ts_ms: ts,
                value,
                anomaly_score: Some(point.score),
                runway_days,
            })
            .len() as u64;
    }
    let elapsed = started.elapsed();
    std::hint::black_box((trend.trend(), forecaster.forecast(DAY_MS)));
    Ok((elapsed, transitions))
}

/// One final base window of series `i` at window `k`: traffic around a level of its own, a
/// daily cycle and noise; a latency on L7 and on one series in four of the others.
fn window(
    i: u64,
    layer: OsiLayer,
    entity: &str,
    k: i64,
    rng: &mut stream_events::Rng,
) -> SeriesWindow {
    let start_ms = START_MS + k * WINDOW_MS;
    let t_days = (k * WINDOW_MS) as f64 / DAY_MS as f64;
    let level = 20.0 + (i % 50) as f64;
    let noise = rng.below(1_000) as f64 / 1_000.0;
    let events =
        (level * (1.0 + 0.3 * (t_days * std::f64::consts::TAU).sin() + 0.2 * noise)) as u64;
    let bytes = events * (500 + rng.below(1_000));
    let packets = events + bytes / 1_000;
    let connections = if layer == OsiLayer::L4 { events } else { 0 };
    let requests = if layer == OsiLayer::L7 { events } else { 0 };
    let errors = u64::from(rng.below(100) < 30);
    let latency = (layer == OsiLayer::L7 || i % 4 == 1).then(|| {
        let p50 = 20.0 + 10.0 * noise;
        LatencySummary {
            count: events,
            min_ms: 1.0,
            max_ms: p50 * 8.0,
            mean_ms: p50 * 1.2,
            p50_ms: p50,
            p95_ms: p50 * 3.0,
            p99_ms: p50 * 5.0,
        }
    });
    SeriesWindow {
        layer,
        entity: entity.to_owned(),
        start_ms,
        end_ms: start_ms + WINDOW_MS,
        events,
        bytes,
        packets,
        connections,
        requests,
        errors,
        bytes_min: 40,
        bytes_max: 1_500,
        bytes_per_s: bytes as f64 / 10.0,
        events_per_s: events as f64 / 10.0,
        latency,
        error_rate: layercast_shared::error_rate(layer, errors, packets, connections, requests),
        error_classes: Default::default(),
        is_final: true,
        closed_at_ms: Some(start_ms + WINDOW_MS),
    }
}

/// What [`analysis_cost`] measured.
struct AnalysisCost {
    /// Time in the two calls, all windows of all series.
    elapsed: Duration,
    anomalies: usize,
    alert_changes: usize,
    trends: usize,
    runways: usize,
    states: usize,
}

/// `windows` window closes of `series` series: per close, every series' window through its
/// anomaly detectors and the analysis, in the order serve's partition actor calls them.
/// Building the windows is not timed.
fn analysis_cost(
    series: u64,
    windows: i64,
    rules: usize,
    capacities: usize,
) -> Result<AnalysisCost> {
    let rules = workload::rules(rules)
        .into_iter()
        .map(serde_json::from_value::<AlertRule>)
        .collect::<Result<Vec<_>, _>>()?;
    let capacities = workload::capacity_entities(capacities, series)
        .into_iter()
        .map(|entity| Capacity {
            layer: OsiLayer::L2,
            entity,
            metric: "bytes_per_s".to_owned(),
            capacity: workload::CAPACITY_BYTES_PER_S,
        })
        .collect();
    let mut analysis = Analysis::new(WINDOW_MS);
    analysis.set_inputs(Arc::new(Inputs::new(
        capacities,
        RuleSet::new(rules)?,
        Vec::new(),
    )));
    let mut detectors = LiveDetectors::new(AnomalyConfig::default(), WINDOW_MS);
    let names: Vec<(OsiLayer, String)> = (0..series).map(stream_events::entity).collect();
    let mut rng = stream_events::Rng(0x9E37_79B9_7F4A_7C15);
    let mut cost = AnalysisCost {
        elapsed: Duration::ZERO,
        anomalies: 0,
        alert_changes: 0,
        trends: 0,
        runways: 0,
        states: 0,
    };
    let mut batch = Vec::with_capacity(names.len());
    for k in 0..windows {
        batch.clear();
        for (i, (layer, name)) in names.iter().enumerate() {
            batch.push(window(i as u64, *layer, name, k, &mut rng));
        }
        let started = Instant::now();
        for w in &batch {
            let (anomalies, scores) = detectors.observe_scored(w);
            let found = analysis.observe(w, &scores);
            cost.anomalies += anomalies.len();
            cost.alert_changes += found.alerts.len();
            cost.trends += found.trends.len();
            cost.runways += found.runways.len();
            cost.states += found.states.len();
            std::hint::black_box(found);
        }
        cost.elapsed += started.elapsed();
    }
    Ok(cost)
}

fn main() -> Result<()> {
    let days = arg("--days", 60)? as i64;
    let runs = arg("--runs", 3)?;
    let points = days * DAY_MS / WINDOW_MS;
    let mut best = Duration::MAX;
    let mut transitions = 0;
    for _ in 0..runs {
        let (elapsed, t) = run(points)?;
        best = best.min(elapsed);
        transitions = t;
    }
    println!("points={points}");
    println!("best_seconds={:.4}", best.as_secs_f64());
    println!(
        "points_per_second={:.0}",
        points as f64 / best.as_secs_f64()
    );
    println!("ns_per_point={:.1}", best.as_nanos() as f64 / points as f64);
    println!("alert_transitions={transitions}");
    println!("anomaly_state_bytes={}", AnomalyDetector::STATE_BYTES);

    let series = arg("--series", 10_000)?.max(1);
    let windows = arg("--windows", 720)?.max(1) as i64;
    let rules = arg("--rules", 20)? as usize;
    let capacities = arg("--capacities", 100)? as usize;
    let cost = analysis_cost(series, windows, rules, capacities)?;
    let series_windows = series as f64 * windows as f64;
    let ns_per_series_window = cost.elapsed.as_nanos() as f64 / series_windows;
    println!("analysis_series={series}");
    println!("analysis_windows={windows}");
    println!("analysis_rules={rules}");
    println!("analysis_capacities={capacities}");
    println!("analysis_seconds={:.3}", cost.elapsed.as_secs_f64());
    println!("analysis_ns_per_series_window={ns_per_series_window:.0}");
    println!(
        "analysis_ms_per_window_close={:.2}",
        cost.elapsed.as_secs_f64() * 1e3 / windows as f64
    );
    println!(
        "analysis_series_windows_per_second={:.0}",
        1e9 / ns_per_series_window
    );
    println!("analysis_anomalies={}", cost.anomalies);
    println!("analysis_alert_changes={}", cost.alert_changes);
    println!("analysis_trends={}", cost.trends);
    println!("analysis_runways={}", cost.runways);
    println!("analysis_states={}", cost.states);
    Ok(())
}
