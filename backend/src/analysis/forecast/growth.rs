//! Which growth the forecast extrapolates: additive (a line, the daily swing keeps its size) or
//! multiplicative (a constant rate per day, the daily swing grows with the level), chosen by
//! how the data grew. Network traffic usually grows by a percentage a week and its daily peak
//! grows with its mean; a line with a fixed swing then reaches the capacity far too late (the
//! peak rises 1 + amplitude times faster than the mean).
//!
//! Each completed season (a day) gives two numbers: the mean of its bucket means and their
//! spread (root mean square deviation from that mean), the size of the daily swing. Over the
//! last four weeks of days, the Theil-Sen slopes of both, relative to their averages, are the
//! growth rates of the level and of the swing: when the swing grows at least half as fast as the
//! level (relative), the series is multiplicative; when it stays put, additive.

use std::collections::VecDeque;

use crate::analysis::trend::stats::median;

/// Days kept: four weeks.
const MAX_DAYS: usize = 28;
/// Days needed before the data can choose multiplicative; before, additive.
const MIN_DAYS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Growth {
    Additive,
    Multiplicative,
}

/// Memory: 28 days of three f64 (672 bytes), an open day (40 bytes) and the cached rate.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct GrowthShape {
    /// (season number, sum, sum of squares, count) of the season being filled.
    open: Option<(i64, f64, f64, u32)>,
    /// (season number, mean, spread) of completed seasons.
    days: VecDeque<(f64, f64, f64)>,
    /// [`Self::rate_per_season`], worked out when a season completes: a runway asks for it
    /// at every step of its horizon, and the Theil-Sen slopes behind it sort hundreds of pairs.
    rate: Option<f64>,
}

impl GrowthShape {
    /// Adds one bucket mean; `season_buckets` is the season length.
    pub(super) fn push(&mut self, index: i64, mean: f64, season_buckets: usize) {
        let m = season_buckets as i64;
        let season = index.div_euclid(m);
        match &mut self.open {
            Some(open) if open.0 == season => {
                open.1 += mean;
                open.2 += mean * mean;
                open.3 += 1;
            }
            Some(open) if open.0 > season => return,
            _ => self.open = Some((season, mean, mean * mean, 1)),
        }
        // A season is complete with its last phase; one that is mostly missing is dropped.
        if index.rem_euclid(m) == m - 1 {
            if let Some((season, sum, sum_sq, count)) = self.open.take() {
                if count as usize * 4 >= season_buckets * 3 {
                    let n = f64::from(count);
                    let mean = sum / n;
                    let spread = (sum_sq / n - mean * mean).max(0.0).sqrt();
                    if self.days.len() == MAX_DAYS {
                        self.days.pop_front();
                    }
                    self.days.push_back((season as f64, mean, spread));
                    self.rate = self.compute_rate();
                }
            }
        }
    }

    /// Growth rate per season of the multiplicative model: the Theil-Sen slope of the
    /// logarithm of the seasons' means (whole seasons, so the seasonal terms do not bias it),
    /// when the days chose that model.
    pub(super) fn rate_per_season(&self) -> Option<f64> {
        self.rate
    }

    fn compute_rate(&self) -> Option<f64> {
        if self.growth() != Growth::Multiplicative || self.days.iter().any(|d| d.1 <= 0.0) {
            return None;
        }
        let mut slopes = pair_slopes(self.days.iter().map(|d| (d.0, d.1.ln())));
        median(&mut slopes)
    }

    /// The growth the days so far support: additive until `MIN_DAYS` seasons are there.
    pub(super) fn growth(&self) -> Growth {
        if self.days.len() < MIN_DAYS {
            return Growth::Additive;
        }
        let level = relative_slope(self.days.iter().map(|d| (d.0, d.1)));
        let swing = relative_slope(self.days.iter().map(|d| (d.0, d.2)));
        match (level, swing) {
            (Some(level), Some(swing)) if level > 0.0 && swing >= 0.5 * level => {
                Growth::Multiplicative
            }
            _ => Growth::Additive,
        }
    }
}

/// Theil-Sen slope per season of the points divided by their mean; `None` if that mean is not
/// positive.
fn relative_slope(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let n = points.clone().count();
    let mean = points.clone().map(|p| p.1).sum::<f64>() / n as f64;
    if mean.is_nan() || mean <= 0.0 {
        return None;
    }
    let mut slopes = pair_slopes(points);
    median(&mut slopes).map(|s| s / mean)
}

/// Slopes between all pairs of points (at most 378 for 28 days).
fn pair_slopes(points: impl Iterator<Item = (f64, f64)>) -> Vec<f64> {
    let pts: Vec<(f64, f64)> = points.collect();
    let mut slopes = Vec::with_capacity(pts.len() * pts.len().saturating_sub(1) / 2);
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    slopes
}
