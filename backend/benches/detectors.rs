//! Throughput of all the detectors of one series (anomaly, trend, forecast with a runway per
//! forecast bucket, alert rules fed by all three) over one synthetic series of 10-second
//! windows: the cost target is at least a million points per second per core.
//!
//! ```text
//! cargo bench -p layercast --bench detectors -- [--days 60] [--runs 3]
//! ```
//!
//! Output is `key=value` lines on stdout.

use std::time::{Duration, Instant};

use anyhow::Result;
use bench_args::arg;
use layercast::analysis::anomaly::{AnomalyConfig, AnomalyDetector};
use layercast::analysis::{
    AlertRule, Condition, ForecastConfig, Forecaster, Observation, Op, RuleSet, SeriesKey, Signal,
    TrendConfig, TrendTracker, DEFAULT_MAX_HORIZON_MS,
};
use layercast_shared::OsiLayer;

#[path = "bench_args/mod.rs"]
mod bench_args;

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
    Ok(())
}
