use super::*;
use proptest::prelude::*;

const STEP_MS: i64 = 5 * 60_000;

/// Deterministic noise in [-1, 1] (splitmix64), the same on every machine.
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn run(values: &[f64]) -> Vec<AnomalyPoint> {
    let mut d = AnomalyDetector::new(AnomalyConfig::default()).expect("default config is valid");
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| d.push(i as i64 * STEP_MS, v))
        .collect()
}

/// A noisy daily wave at 5-minute steps.
fn daily_wave(n: usize) -> Vec<f64> {
    let per_day = (DAY_MS / STEP_MS) as f64;
    (0..n)
        .map(|i| {
            50.0 + 20.0 * (std::f64::consts::TAU * i as f64 / per_day).sin() + 2.0 * noise(i as u64)
        })
        .collect()
}

fn max_score(points: &[AnomalyPoint], range: std::ops::Range<usize>) -> f64 {
    points[range].iter().map(|p| p.score).fold(0.0, f64::max)
}

#[test]
fn warming_up_raises_nothing_then_upgrades_to_seasonal_models() {
    let values = daily_wave(4 * WEEK_MS as usize / STEP_MS as usize);
    let points = run(&values);
    let warm = (WARMUP_MIN_SPAN_MS / STEP_MS) as usize;
    assert!(points[..warm]
        .iter()
        .all(|p| p.state == AnomalyState::Warming && p.score == 0.0 && !p.alert));
    assert_eq!(points[warm + 1].state, AnomalyState::Baseline);
    assert_eq!(
        points[(DAILY_MIN_SPAN_MS / STEP_MS) as usize + 1].state,
        AnomalyState::Daily
    );
    assert_eq!(points.last().map(|p| p.state), Some(AnomalyState::Weekly));
}

#[test]
fn a_spike_in_a_seasonal_series_alerts_and_the_daily_swing_does_not() {
    let mut values = daily_wave(10 * DAY_MS as usize / STEP_MS as usize);
    let at = 8 * DAY_MS as usize / STEP_MS as usize;
    values[at] += 40.0;
    let points = run(&values);
    assert!(points[at].alert, "spike scored {}", points[at].score);
    let quiet = max_score(&points, 3 * DAY_MS as usize / STEP_MS as usize..at);
    assert!(quiet < ALERT_SCORE, "usual days scored up to {quiet}");
}

#[test]
fn a_level_shift_alerts_once_and_the_new_level_becomes_usual() {
    let mut values: Vec<f64> = (0..3000).map(|i| 10.0 + noise(i)).collect();
    for v in &mut values[2000..] {
        *v += 15.0;
    }
    let points = run(&values);
    assert!(max_score(&points, 2000..2005) >= ALERT_SCORE);
    assert!(max_score(&points, 2300..3000) < ALERT_SCORE);
    assert!(max_score(&points, 300..2000) < ALERT_SCORE);
}

#[test]
fn a_flat_line_scores_zero() {
    let points = run(&[3.0; 2000]);
    assert!(points.iter().all(|p| p.score == 0.0));
}

#[test]
fn scores_use_the_past_only() {
    let a = daily_wave(1500);
    let mut b = a.clone();
    for v in &mut b[1000..] {
        *v *= 3.0;
    }
    let (pa, pb) = (run(&a), run(&b));
    assert_eq!(pa[..1000], pb[..1000]);
}

#[test]
fn state_is_fixed_size_without_heap() {
    let mut d = AnomalyDetector::new(AnomalyConfig::default()).expect("valid");
    let before = std::mem::size_of_val(&d);
    for (i, v) in daily_wave(20_000).into_iter().enumerate() {
        d.push(i as i64 * STEP_MS, v);
    }
    assert_eq!(std::mem::size_of_val(&d), before);
    assert_eq!(before, AnomalyDetector::STATE_BYTES);
    // The module doc states 5,792 bytes on x86-64; under 8 KiB anywhere.
    const { assert!(AnomalyDetector::STATE_BYTES < 8192) };
}

#[test]
fn bad_config_is_refused() {
    for s in [-0.1, 1.5, f64::NAN] {
        let c = AnomalyConfig {
            sensitivity: s,
            ..AnomalyConfig::default()
        };
        assert!(matches!(
            AnomalyDetector::new(c),
            Err(AnomalyError::Sensitivity(_))
        ));
    }
    let c = AnomalyConfig {
        cooldown_points: u32::MAX,
        ..AnomalyConfig::default()
    };
    assert_eq!(c.validate(), Err(AnomalyError::Cooldown(u32::MAX)));
}

#[test]
fn higher_sensitivity_scores_higher() {
    let mut values = daily_wave(3000);
    values[2500] += 12.0;
    let score = |sensitivity| {
        let mut d = AnomalyDetector::new(AnomalyConfig {
            sensitivity,
            ..AnomalyConfig::default()
        })
        .expect("valid");
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| d.push(i as i64 * STEP_MS, v))
            .nth(2500)
            .map(|p| p.score)
    };
    assert!(score(0.9) > score(0.1));
}

#[test]
fn non_finite_values_are_skipped() {
    let mut d = AnomalyDetector::new(AnomalyConfig::default()).expect("valid");
    for i in 0..100 {
        d.push(i * STEP_MS, 1.0 + noise(i as u64));
    }
    let p = d.push(100 * STEP_MS, f64::NAN);
    assert_eq!(p.score, 0.0);
    assert!(d.push(101 * STEP_MS, 1.0).score < ALERT_SCORE);
}

fn series() -> impl Strategy<Value = Vec<f64>> {
    (
        prop::collection::vec(-1.0f64..1.0, 300..600),
        0.1f64..100.0,
        0usize..600,
        -50.0f64..50.0,
    )
        .prop_map(|(mut v, scale, at, jump)| {
            for x in &mut v {
                *x *= scale;
            }
            if at < v.len() {
                v[at] += jump * scale;
            }
            v
        })
}

fn close(a: &[AnomalyPoint], b: &[AnomalyPoint]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| x.state == y.state && (x.score - y.score).abs() < 1e-6)
}

proptest! {
    #[test]
    fn shifted_copy_scores_the_same(v in series(), shift in -1e4f64..1e4) {
        let shifted: Vec<f64> = v.iter().map(|x| x + shift).collect();
        prop_assert!(close(&run(&v), &run(&shifted)));
    }

    #[test]
    fn scaled_copy_scores_the_same(v in series(), factor in 0.01f64..100.0) {
        let scaled: Vec<f64> = v.iter().map(|x| x * factor).collect();
        prop_assert!(close(&run(&v), &run(&scaled)));
    }

    #[test]
    fn scores_stay_in_unit_interval(v in series()) {
        prop_assert!(run(&v).iter().all(|p| (0.0..=1.0).contains(&p.score)));
    }
}

/// A step of 3 on noise of ±1 for one point stays quiet; held for ten points it alerts (the
/// recent mean of surprises, POINT_WEIGHT).
#[test]
fn a_lone_blip_stays_quiet_where_the_same_excess_held_for_a_few_points_alerts() {
    let base: Vec<f64> = (0..3000).map(|i| 10.0 + noise(i)).collect();
    let (mut lone, mut held) = (base.clone(), base);
    lone[2000] += 3.0;
    for v in &mut held[2000..2010] {
        *v += 3.0;
    }
    let lone_max = max_score(&run(&lone), 2000..2010);
    let held_max = max_score(&run(&held), 2000..2010);
    assert!(lone_max < 0.45, "lone blip scored {lone_max}");
    assert!(held_max >= 0.55, "held excess scored {held_max}");
}
