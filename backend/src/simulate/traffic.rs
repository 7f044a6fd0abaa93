//! How much traffic there is at a moment: daily and weekly seasonality, growth, noise. Pure
//! functions of time and a seeded RNG.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::model::Profile;

pub const MS_PER_S: i64 = 1000;
pub const MS_PER_HOUR: i64 = 3_600_000;
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
pub const MS_PER_WEEK: i64 = 7 * MS_PER_DAY;
/// 1970-01-01 was a Thursday: days since the epoch + this, mod 7, is 0 on Monday.
const EPOCH_WEEKDAY_FROM_MONDAY: i64 = 3;
const SATURDAY_FROM_MONDAY: i64 = 5;
/// The triangular distribution on [-1, 1] has variance 1/6; this scales it to variance 1.
const TRIANGULAR_TO_UNIT_SD: f64 = 2.449_489_742_783_178;

/// The seasonal level at `ts_ms` (absolute, ms since the epoch): 1 is a weekday's mean.
pub fn seasonal(profile: &Profile, ts_ms: i64) -> f64 {
    let day = ts_ms.div_euclid(MS_PER_DAY);
    let hour = ts_ms.rem_euclid(MS_PER_DAY) as f64 / MS_PER_HOUR as f64;
    let phase = (hour - profile.peak_hour_utc) / 24.0 * std::f64::consts::TAU;
    let daily = 1.0 + profile.daily_amplitude * phase.cos();
    let weekday = (day + EPOCH_WEEKDAY_FROM_MONDAY).rem_euclid(7);
    let weekly = if weekday >= SATURDAY_FROM_MONDAY {
        profile.weekend_factor
    } else {
        1.0
    };
    daily * weekly
}

/// Compound growth after `offset_ms` of simulated time.
pub fn growth(growth_per_week: f64, offset_ms: i64) -> f64 {
    (1.0 + growth_per_week).powf(offset_ms as f64 / MS_PER_WEEK as f64)
}

/// A zero-mean, unit-variance draw, bounded to ±2.45 (two uniforms: cheap and never wild).
pub fn unit_noise(rng: &mut ChaCha8Rng) -> f64 {
    (rng.random::<f64>() + rng.random::<f64>() - 1.0) * TRIANGULAR_TO_UNIT_SD
}

/// A multiplicative noise factor around 1 with relative spread `sd`, never below 0.
pub fn noise_factor(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    (1.0 + sd * unit_noise(rng)).max(0.0)
}

/// `expected` rounded up or down at random so that the mean count is `expected`.
pub fn count(rng: &mut ChaCha8Rng, expected: f64) -> u64 {
    if expected.is_nan() || expected <= 0.0 {
        return 0;
    }
    let whole = expected.floor();
    whole as u64 + u64::from(rng.random::<f64>() < expected - whole)
}

/// True with probability `p`.
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;

    use super::*;

    const PROFILE: Profile = Profile {
        daily_amplitude: 0.4,
        peak_hour_utc: 14.0,
        weekend_factor: 0.7,
        noise: 0.05,
    };
    /// 2026-11-23, a Monday, 00:00 UTC.
    const MONDAY_MS: i64 = 1_795_392_000_000;

    #[test]
    fn the_peak_hour_is_the_busiest_and_weekends_are_quieter() {
        let at = |day: i64, hour: i64| {
            seasonal(&PROFILE, MONDAY_MS + day * MS_PER_DAY + hour * MS_PER_HOUR)
        };
        assert!((at(0, 14) - 1.4).abs() < 1e-9);
        assert!((at(0, 2) - 0.6).abs() < 1e-9);
        assert!((at(5, 14) - 1.4 * 0.7).abs() < 1e-9, "Saturday");
        assert!((at(7, 14) - 1.4).abs() < 1e-9, "the next Monday");
    }

    #[test]
    fn growth_compounds_per_week() {
        assert!((growth(0.05, MS_PER_WEEK) - 1.05).abs() < 1e-12);
        assert!((growth(0.05, 2 * MS_PER_WEEK) - 1.1025).abs() < 1e-12);
        assert_eq!(growth(0.05, 0), 1.0);
    }

    proptest! {
        #[test]
        fn counts_have_the_expected_mean(expected in 0.0_f64..50.0, seed in any::<u64>()) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let n = 4000;
            let total: u64 = (0..n).map(|_| count(&mut rng, expected)).sum();
            let mean = total as f64 / f64::from(n);
            // Each draw is off by at most 1 (variance <= 1/4): 6 standard errors of the mean.
            prop_assert!((mean - expected).abs() < 6.0 * 0.5 / f64::from(n).sqrt(), "{mean} vs {expected}");
        }

        #[test]
        fn noise_is_centred_with_the_asked_spread(seed in any::<u64>()) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let n = 20_000;
            let draws: Vec<f64> = (0..n).map(|_| unit_noise(&mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
            prop_assert!(mean.abs() < 0.05, "mean {mean}");
            prop_assert!((var - 1.0).abs() < 0.08, "variance {var}");
        }
    }
}
