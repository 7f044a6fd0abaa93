//! Capacity runway: when the forecast, and its upper bound, reach the capacity an admin set.
//! Capacity is always given, never guessed from past peaks.

use serde::{Deserialize, Serialize};

use super::{bucket_mid_ms, Forecaster, Model};

pub(crate) const MS_PER_DAY: f64 = 86_400_000.0;
/// How far ahead a runway is looked for by default: two years.
pub const DEFAULT_MAX_HORIZON_MS: i64 = 2 * 365 * 86_400_000;

/// Time left before a series reaches its capacity. Every case a planner can meet is a state,
/// none is an error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Runway {
    /// No capacity is set for the entity.
    NoCapacity,
    /// Not enough data for a slope yet.
    Warming { buckets: usize },
    /// The current smoothed value is at or above the capacity.
    AlreadyAbove { value: f64, capacity: f64 },
    /// The forecast stays below capacity within the horizon; the upper bound of its
    /// prediction interval may still reach it.
    NeverAtThisTrend {
        upper_bound_at_ms: Option<i64>,
        upper_bound_in_days: Option<f64>,
    },
    /// The forecast reaches capacity at `at_ms`, `in_days` after the latest point; its upper
    /// bound (the pessimistic case) earlier, or at the same time.
    Reaches {
        at_ms: i64,
        in_days: f64,
        upper_bound_at_ms: i64,
        upper_bound_in_days: f64,
    },
}

impl Runway {
    /// Days until full for alert rules and rankings: 0 when already above, infinite when
    /// never; `None` when unknown (no capacity, warming).
    pub fn days_until_full(&self) -> Option<f64> {
        match self {
            Runway::NoCapacity | Runway::Warming { .. } => None,
            Runway::AlreadyAbove { .. } => Some(0.0),
            Runway::NeverAtThisTrend { .. } => Some(f64::INFINITY),
            Runway::Reaches { in_days, .. } => Some(*in_days),
        }
    }

    /// Sort key: full first, then soonest, then never, warming, and no capacity last.
    fn rank_key(&self) -> (u8, f64) {
        match self {
            Runway::AlreadyAbove { .. } => (0, 0.0),
            Runway::Reaches { in_days, .. } => (1, *in_days),
            Runway::NeverAtThisTrend {
                upper_bound_in_days,
                ..
            } => (2, upper_bound_in_days.unwrap_or(f64::INFINITY)),
            Runway::Warming { .. } => (3, 0.0),
            Runway::NoCapacity => (4, 0.0),
        }
    }
}

/// The "days until full" list planners open first: entities ordered by how soon they are full
/// (already full first); those that never get there at this trend follow (the ones whose
/// upper bound gets there first), then the warming ones, then those without a capacity. Ties
/// keep the input order.
pub fn rank_by_days_until_full<E>(entries: &[(E, Runway)]) -> Vec<&(E, Runway)> {
    let mut ranked: Vec<&(E, Runway)> = entries.iter().collect();
    ranked.sort_by(|a, b| {
        let (ka, kb) = (a.1.rank_key(), b.1.rank_key());
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    ranked
}

impl Forecaster {
    /// Runway toward `capacity` (in the series' units; `None` when none is set), looking at most
    /// `max_horizon_ms` ahead of the latest point. Costs O(season × log(horizon)), so call it
    /// when needed, not on every point.
    pub fn runway(&self, capacity: Option<f64>, max_horizon_ms: i64) -> Runway {
        let Some(capacity) = capacity else {
            return Runway::NoCapacity;
        };
        let Some(model) = &self.model else {
            return Runway::Warming { buckets: 0 };
        };
        let slope = match self.slope.per_day() {
            Some((per_day, _)) => per_day * self.config.bucket_ms as f64 / MS_PER_DAY,
            None => {
                return Runway::Warming {
                    buckets: model.buckets_seen,
                }
            }
        };
        // Weeks ahead, the noise of single seasonal terms matters more than detail finer than
        // a few hours: the multiplicative model smooths the daily shape to its first harmonics
        // (the additive one keeps the terms: smoothing made its runway sweep worse).
        let rate = self.rate_per_bucket();
        let smoothed = Model {
            season: match rate {
                Some(_) => smooth_season(&model.season),
                None => model.season.clone(),
            },
            ..model.clone()
        };
        let model = &smoothed;
        let level = rate.map_or(model.level, |r| Forecaster::day_level(model, r));
        let current = level
            + Forecaster::season_at(model, model.last_index)
                * rate.map_or(1.0, |r| self.season_catch_up(model, r));
        if current >= capacity {
            return Runway::AlreadyAbove {
                value: current,
                capacity,
            };
        }
        let max_steps = (max_horizon_ms / self.config.bucket_ms).max(1);
        // Without the seasonal term, for the search of the minimum; the multiplicative model
        // grows the level and the seasonal term at the same rate.
        let base = |h: i64| match rate {
            Some(rate) => level * (rate * h as f64).exp(),
            None => model.level + slope * h as f64,
        };
        let point = |h: i64| self.point(model, h);
        let upper = |h: i64| point(h) + self.half_width(model, h);
        let upper_base = |h: i64| base(h) + self.half_width(model, h);
        let to_time = |h: i64| {
            let at_ms = bucket_mid_ms(self.config.bucket_ms, model.last_index + h);
            (at_ms, ((at_ms - self.now_ms) as f64 / MS_PER_DAY).max(0.0))
        };
        let upper_steps = first_crossing(upper, upper_base, model, max_steps, capacity);
        match (
            first_crossing(point, base, model, max_steps, capacity),
            upper_steps,
        ) {
            (Some(h), upper_h) => {
                let (at_ms, in_days) = to_time(h);
                // The upper bound is never below the forecast, so it crosses no later.
                let (upper_bound_at_ms, upper_bound_in_days) = to_time(upper_h.unwrap_or(h).min(h));
                Runway::Reaches {
                    at_ms,
                    in_days,
                    upper_bound_at_ms,
                    upper_bound_in_days,
                }
            }
            (None, upper_h) => {
                let upper = upper_h.map(to_time);
                Runway::NeverAtThisTrend {
                    upper_bound_at_ms: upper.map(|u| u.0),
                    upper_bound_in_days: upper.map(|u| u.1),
                }
            }
        }
    }
}

/// Harmonics of the season kept by [`smooth_season`]: six a day, detail down to four hours.
const SEASON_HARMONICS: usize = 6;

/// The seasonal terms projected on their mean and first [`SEASON_HARMONICS`] harmonics (a
/// truncated discrete Fourier series): 13 of 48 degrees of freedom, about half the noise of
/// the raw terms. Short seasons are returned as they are.
fn smooth_season(season: &[f64]) -> Vec<f64> {
    let m = season.len();
    if m <= 2 * SEASON_HARMONICS + 1 {
        return season.to_vec();
    }
    let angle = |k: usize, p: usize| 2.0 * std::f64::consts::PI * (k * p) as f64 / m as f64;
    let mean = season.iter().sum::<f64>() / m as f64;
    let mut out = vec![mean; m];
    for k in 1..=SEASON_HARMONICS {
        let (mut a, mut b) = (0.0, 0.0);
        for (p, s) in season.iter().enumerate() {
            a += s * angle(k, p).cos();
            b += s * angle(k, p).sin();
        }
        let (a, b) = (2.0 * a / m as f64, 2.0 * b / m as f64);
        for (p, o) in out.iter_mut().enumerate() {
            *o += a * angle(k, p).cos() + b * angle(k, p).sin();
        }
    }
    out
}

/// Smallest step h in 1..=max_steps with `value(h) >= capacity`, where `value` is `base` plus
/// the seasonal term (scaled with `base` in the multiplicative model) and `base` falls then
/// rises (or is monotone), as a line or an exponential plus a widening interval does.
///
/// A crossing while `base` still falls would also be one a season earlier, so checking the
/// first season directly covers that part; after the minimum of `base` each seasonal phase is
/// monotone and gets a binary search: O(season × log(max_steps)).
fn first_crossing(
    value: impl Fn(i64) -> f64,
    base: impl Fn(i64) -> f64,
    model: &Model,
    max_steps: i64,
    capacity: f64,
) -> Option<i64> {
    let reaches = |h: i64| value(h) >= capacity;
    let m = model.season.len().max(1) as i64;
    if let Some(h) = (1..=m.min(max_steps)).find(|&h| reaches(h)) {
        return Some(h);
    }
    // Ternary search for the minimum of the unimodal base.
    let (mut lo, mut hi) = (1_i64, max_steps);
    while hi - lo > 2 {
        let third = (hi - lo) / 3;
        if base(lo + third) <= base(hi - third) {
            hi -= third;
        } else {
            lo += third;
        }
    }
    let rising_from = lo.max(m + 1);
    let mut best: Option<i64> = None;
    for first in rising_from..(rising_from + m).min(max_steps + 1) {
        let last_k = (max_steps - first) / m;
        if !reaches(first + last_k * m) {
            continue;
        }
        let (mut k_lo, mut k_hi) = (0, last_k);
        while k_lo < k_hi {
            let mid = (k_lo + k_hi) / 2;
            if reaches(first + mid * m) {
                k_hi = mid;
            } else {
                k_lo = mid + 1;
            }
        }
        let h = first + k_lo * m;
        best = Some(best.map_or(h, |b| b.min(h)));
    }
    best
}
