use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const HOUR_MS: i64 = 3_600_000;
const STEP_MS: i64 = 5 * 60_000;

/// One day in 1 h buckets: small enough for debug-build property tests.
fn config() -> TrendConfig {
    TrendConfig {
        bucket_ms: HOUR_MS,
        buckets: 48,
        ..TrendConfig::default()
    }
}

/// Feeds `f(t_days)` every 5 minutes for `hours` hours (plus one point that closes the last
/// bucket) and returns the trend.
fn run(config: TrendConfig, hours: i64, mut f: impl FnMut(f64) -> f64) -> Trend {
    let mut tracker = TrendTracker::new(config).expect("valid config");
    let start = 1_790_000_000_000_i64 - 1_790_000_000_000_i64 % HOUR_MS;
    let mut ts = start;
    while ts <= start + hours * HOUR_MS {
        tracker.push(ts, f((ts - start) as f64 / MS_PER_DAY));
        ts += STEP_MS;
    }
    tracker.trend()
}

fn estimate(trend: Trend) -> TrendEstimate {
    match trend {
        Trend::Estimate(e) => e,
        other => panic!("expected an estimate, got {other:?}"),
    }
}

/// Standard normal draw (Box-Muller), to keep the dev-dependencies at `rand`.
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

proptest! {
    #[test]
    fn slope_of_exact_line_is_exact(a in -1e3..1e3_f64, b in -1e3..1e3_f64) {
        let e = estimate(run(config(), 48, |t| a + b * t));
        prop_assert!((e.slope_per_day - b).abs() <= 1e-6 * (1.0 + b.abs()), "{} vs {b}", e.slope_per_day);
        // No noise, no doubt about the slope.
        prop_assert!(e.slope_high_per_day - e.slope_low_per_day <= 1e-6 * (1.0 + b.abs()));
        if b.abs() > 1e-3 {
            prop_assert_eq!(e.direction, if b > 0.0 { Direction::Up } else { Direction::Down });
        }
    }

    #[test]
    fn constant_series_is_flat(c in -1e6..1e6_f64) {
        let e = estimate(run(config(), 48, |_| c));
        prop_assert_eq!(e.direction, Direction::Flat);
        prop_assert_eq!(e.slope_per_day, 0.0);
        prop_assert!(e.p_value > 0.99);
    }

    #[test]
    fn adding_a_constant_keeps_the_slope(seed in any::<u64>(), shift in -1e4..1e4_f64, b in -50.0..50.0_f64) {
        let series = |shift: f64| {
            let mut rng = StdRng::seed_from_u64(seed);
            run(config(), 48, move |t| 100.0 + b * t + 10.0 * normal(&mut rng) + shift)
        };
        let (base, shifted) = (estimate(series(0.0)), estimate(series(shift)));
        prop_assert!((base.slope_per_day - shifted.slope_per_day).abs() <= 1e-6 * (1.0 + b.abs()));
        prop_assert_eq!(base.direction, shifted.direction);
    }

    #[test]
    fn noisy_upward_line_is_up(seed in any::<u64>(), b in 20.0..500.0_f64) {
        let mut rng = StdRng::seed_from_u64(seed);
        // Noise sd 10 per point, a rise of at least 40 over the two days.
        let e = estimate(run(config(), 48, |t| 1000.0 + b * t + 10.0 * normal(&mut rng)));
        prop_assert_eq!(e.direction, Direction::Up);
        prop_assert!((e.slope_per_day - b).abs() < 0.2 * b, "slope {} vs {b}", e.slope_per_day);
        prop_assert!(e.slope_low_per_day <= e.slope_per_day && e.slope_per_day <= e.slope_high_per_day);
    }
}

fn false_positive_rate(config: &TrendConfig, mut noise: impl FnMut(&mut StdRng) -> f64) -> f64 {
    let series = 200;
    let mut trends = 0;
    for seed in 0..series {
        let mut rng = StdRng::seed_from_u64(seed);
        let e = estimate(run(config.clone(), 48, |_| 500.0 + noise(&mut rng)));
        if e.direction != Direction::Flat {
            trends += 1;
        }
    }
    f64::from(trends) / series as f64
}

#[test]
fn iid_noise_is_flat_most_of_the_time() {
    let rate = false_positive_rate(&config(), |rng| 50.0 * normal(rng));
    eprintln!("i.i.d. noise: false positive rate {rate}");
    assert!(rate < 0.15, "false positive rate {rate}");
}

#[test]
fn autocorrelated_noise_is_mostly_flat_thanks_to_hamed_rao() {
    // AR(1) at the bucket scale: a slowly wandering level, the case plain Mann-Kendall over-calls.
    let mut level = 0.0;
    let mut step = 0;
    let rate = false_positive_rate(&config(), |rng| {
        step += 1;
        if step % 12 == 0 {
            level = 0.6 * level + 10.0 * normal(rng);
        }
        level + normal(rng)
    });
    eprintln!("AR(1) noise: false positive rate {rate}");
    assert!(rate < 0.25, "false positive rate {rate}");
}

#[test]
fn seasonal_test_sees_a_trend_under_a_daily_cycle_and_none_without() {
    let seasonal = TrendConfig {
        bucket_ms: 2 * HOUR_MS,
        buckets: 84,
        season_buckets: Some(12),
        ..TrendConfig::default()
    };
    let cycle = |t: f64| 200.0 * (2.0 * std::f64::consts::PI * t).sin();
    let mut rng = StdRng::seed_from_u64(7);
    let up = estimate(run(seasonal.clone(), 168, |t| {
        1000.0 + 30.0 * t + cycle(t) + 5.0 * normal(&mut rng)
    }));
    assert_eq!(up.direction, Direction::Up);
    assert!(
        (up.slope_per_day - 30.0).abs() < 3.0,
        "{}",
        up.slope_per_day
    );
    let flat = estimate(run(seasonal, 168, |t| {
        1000.0 + cycle(t) + 5.0 * normal(&mut rng)
    }));
    assert_eq!(flat.direction, Direction::Flat);
}

#[test]
fn not_enough_data_until_min_buckets() {
    let trend = run(config(), 3, |t| t);
    assert_eq!(
        trend,
        Trend::NotEnoughData {
            buckets: 3,
            needed: MIN_BUCKETS
        }
    );
}

#[test]
fn state_does_not_grow_with_history() {
    let mut tracker = TrendTracker::new(config()).expect("valid config");
    for i in 0..20_000 {
        tracker.push(i * 10 * 60_000, (i % 17) as f64);
        assert!(tracker.buckets_held() <= 48);
    }
    assert_eq!(tracker.buckets_held(), 48);
    assert!(tracker.buckets.capacity() <= 2 * 48);
}

#[test]
fn late_points_are_counted_not_used() {
    let mut tracker = TrendTracker::new(config()).expect("valid config");
    tracker.push(10 * HOUR_MS, 1.0);
    tracker.push(HOUR_MS, 1.0);
    assert_eq!(tracker.late_points(), 1);
}

#[test]
fn invalid_configs_are_refused() {
    let bad = [
        TrendConfig {
            bucket_ms: 0,
            ..config()
        },
        TrendConfig {
            buckets: MAX_BUCKETS + 1,
            ..config()
        },
        TrendConfig {
            alpha: 1.0,
            ..config()
        },
        TrendConfig {
            min_buckets: 2,
            ..config()
        },
        TrendConfig {
            season_buckets: Some(30),
            ..config()
        },
    ];
    for c in bad {
        assert!(TrendTracker::new(c.clone()).is_err(), "{c:?}");
    }
}

/// NAB's artificial series without anomalies (5-min points over two weeks): a flat line and a
/// noisy daily cycle have no trend, the latter only when the test knows the season.
#[test]
fn nab_series_without_trend_are_flat() {
    let read = |name: &str| {
        crate::analysis::forecast::tests::read_series(
            &format!("nab/data/artificialNoAnomaly/{name}"),
            "%Y-%m-%d %H:%M:%S",
        )
    };
    let week_in_2h_buckets = TrendConfig::default();
    let seasonal = TrendConfig {
        season_buckets: Some(12),
        ..TrendConfig::default()
    };
    for (file, config) in [
        ("art_flatline.csv", week_in_2h_buckets),
        ("art_daily_small_noise.csv", seasonal.clone()),
        ("art_daily_no_noise.csv", seasonal),
    ] {
        let mut tracker = TrendTracker::new(config).expect("valid config");
        for (ts, v) in read(file) {
            tracker.push(ts, v);
        }
        let e = estimate(tracker.trend());
        assert_eq!(e.direction, Direction::Flat, "{file}: {e:?}");
    }
}

#[test]
fn slope_interval_covers_the_true_slope_mostly() {
    let mut covered = 0;
    for seed in 0..100 {
        let mut rng = StdRng::seed_from_u64(seed);
        let e = estimate(run(config(), 48, |t| {
            100.0 + 30.0 * t + 20.0 * normal(&mut rng)
        }));
        if (e.slope_low_per_day..=e.slope_high_per_day).contains(&30.0) {
            covered += 1;
        }
    }
    eprintln!("95% slope interval covered the true slope {covered} times in 100");
    assert!(covered >= 85, "covered {covered} of 100");
}
