//! Trend: is a series going up, down or neither over the last days, and by how much per day.
//!
//! Points are averaged into time buckets (e.g. 84 buckets of 2 h for a 7-day horizon); when a
//! bucket completes, the Theil-Sen slope (median of pairwise slopes, robust to outliers) and a
//! Mann-Kendall test are recomputed over the buckets in the horizon. Plain Mann-Kendall assumes
//! independent values, which network series never are, so the variance is corrected with
//! Hamed-Rao (autocorrelation of the detrended ranks); with a season length the seasonal
//! Mann-Kendall test compares each bucket only with the same hour of other days instead.
//!
//! Cost: a point is an add into the open bucket; the quadratic recomputation (at most
//! `MAX_BUCKETS`² / 2 pairs) happens once per bucket, so it is amortised over the points of a
//! bucket (720 points for 2 h buckets of 10 s windows).

pub(crate) mod stats;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use stats::Sample;

/// Upper bound on buckets per horizon: keeps the per-bucket recomputation (pairs grow as n²)
/// and the state bounded.
pub const MAX_BUCKETS: usize = 96;
/// Fewest buckets for which a test is meaningful; below, the result is "not enough data".
pub const MIN_BUCKETS: usize = 8;
const MS_PER_DAY: f64 = 86_400_000.0;
const DEFAULT_BUCKET_MS: i64 = 2 * 3_600_000;
const DEFAULT_BUCKETS: usize = 84;
const DEFAULT_ALPHA: f64 = 0.05;

/// Settings of one trend tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendConfig {
    /// Width of a downsampling bucket in milliseconds.
    pub bucket_ms: i64,
    /// Buckets in the horizon (horizon = `bucket_ms * buckets`), at most [`MAX_BUCKETS`].
    pub buckets: usize,
    /// Significance level: a trend whose p-value is not below it is reported flat.
    pub alpha: f64,
    /// Season length in buckets (12 for a daily season of 2 h buckets): switches to the
    /// seasonal Mann-Kendall test.
    pub season_buckets: Option<usize>,
    /// Buckets needed before a result is given, at least [`MIN_BUCKETS`].
    pub min_buckets: usize,
}

impl Default for TrendConfig {
    /// Seven days in 2-hour buckets, alpha 0.05, no season.
    fn default() -> Self {
        Self {
            bucket_ms: DEFAULT_BUCKET_MS,
            buckets: DEFAULT_BUCKETS,
            alpha: DEFAULT_ALPHA,
            season_buckets: None,
            min_buckets: MIN_BUCKETS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendError {
    #[error("bucket width must be positive, got {0} ms")]
    BucketWidth(i64),
    #[error("buckets must be between {min} and {MAX_BUCKETS}, got {got}", min = MIN_BUCKETS)]
    Buckets { got: usize },
    #[error("min_buckets must be between {MIN_BUCKETS} and the buckets in the horizon ({buckets}), got {got}")]
    MinBuckets { got: usize, buckets: usize },
    #[error("alpha must be in (0, 1), got {0}")]
    Alpha(f64),
    #[error("a season needs 2 to {buckets}/2 buckets, got {got}")]
    Season { got: usize, buckets: usize },
}

/// Where the series is heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    /// No significant trend at the configured alpha.
    Flat,
}

/// What the tracker can say about the horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Trend {
    /// Fewer completed buckets than `min_buckets` in the horizon.
    NotEnoughData {
        buckets: usize,
        needed: usize,
    },
    Estimate(TrendEstimate),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendEstimate {
    pub direction: Direction,
    /// Theil-Sen slope in the series' units per day (also when flat: it is the best estimate,
    /// just not a significant one).
    pub slope_per_day: f64,
    /// 95% confidence interval of the slope, units per day (Sen's method on the same corrected
    /// variance as the test).
    pub slope_low_per_day: f64,
    pub slope_high_per_day: f64,
    /// Two-sided p-value of the (corrected) Mann-Kendall test.
    pub p_value: f64,
    /// Buckets the test ran on.
    pub samples: usize,
}

/// A completed bucket: its index (bucket start / width) and mean time and value.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Bucket {
    index: i64,
    mean_ts_ms: f64,
    mean: f64,
}

/// The bucket being filled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct OpenBucket {
    index: i64,
    sum_ts_ms: f64,
    sum: f64,
    count: u32,
}

/// Streaming trend over one series.
///
/// Memory: 24 bytes per completed bucket, at most [`MAX_BUCKETS`] of them (2.3 KiB), plus about
/// 150 bytes of fixed fields; nothing grows with history. The per-recompute scratch (pairwise
/// slopes, up to 36 KiB) is allocated only while a bucket completes.
/// Serializable, so that a node taking a partition over continues with the same answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrendTracker {
    config: TrendConfig,
    buckets: VecDeque<Bucket>,
    open: Option<OpenBucket>,
    result: Trend,
    /// Points older than the open bucket (dropped: windows upstream already handled lateness).
    late_points: u64,
}

impl TrendTracker {
    pub fn new(config: TrendConfig) -> Result<Self, TrendError> {
        if config.bucket_ms <= 0 {
            return Err(TrendError::BucketWidth(config.bucket_ms));
        }
        if !(MIN_BUCKETS..=MAX_BUCKETS).contains(&config.buckets) {
            return Err(TrendError::Buckets {
                got: config.buckets,
            });
        }
        if !(MIN_BUCKETS..=config.buckets).contains(&config.min_buckets) {
            return Err(TrendError::MinBuckets {
                got: config.min_buckets,
                buckets: config.buckets,
            });
        }
        if !(config.alpha > 0.0 && config.alpha < 1.0) {
            return Err(TrendError::Alpha(config.alpha));
        }
        if let Some(season) = config.season_buckets {
            if season < 2 || season > config.buckets / 2 {
                return Err(TrendError::Season {
                    got: season,
                    buckets: config.buckets,
                });
            }
        }
        Ok(Self {
            result: Trend::NotEnoughData {
                buckets: 0,
                needed: config.min_buckets,
            },
            buckets: VecDeque::with_capacity(config.buckets),
            open: None,
            late_points: 0,
            config,
        })
    }

    /// Adds one window aggregate. Non-finite values are ignored.
    pub fn push(&mut self, ts_ms: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let index = ts_ms.div_euclid(self.config.bucket_ms);
        match &mut self.open {
            Some(open) if open.index == index => {
                open.sum_ts_ms += ts_ms as f64;
                open.sum += value;
                open.count += 1;
                return;
            }
            Some(open) if open.index > index => {
                self.late_points += 1;
                return;
            }
            _ => {}
        }
        if let Some(done) = self.open.take() {
            self.complete(done);
        }
        self.open = Some(OpenBucket {
            index,
            sum_ts_ms: ts_ms as f64,
            sum: value,
            count: 1,
        });
    }

    /// The result as of the last completed bucket.
    pub fn trend(&self) -> Trend {
        self.result
    }

    /// Points dropped because they were older than the bucket being filled.
    pub fn late_points(&self) -> u64 {
        self.late_points
    }

    fn complete(&mut self, open: OpenBucket) {
        let count = f64::from(open.count);
        self.buckets.push_back(Bucket {
            index: open.index,
            mean_ts_ms: open.sum_ts_ms / count,
            mean: open.sum / count,
        });
        let oldest_kept = open.index - self.config.buckets as i64 + 1;
        while self.buckets.front().is_some_and(|b| b.index < oldest_kept) {
            self.buckets.pop_front();
        }
        self.result = self.compute();
    }

    fn compute(&self) -> Trend {
        let n = self.buckets.len();
        if n < self.config.min_buckets {
            return Trend::NotEnoughData {
                buckets: n,
                needed: self.config.min_buckets,
            };
        }
        let Some(origin) = self.buckets.front().map(|b| b.mean_ts_ms) else {
            return Trend::NotEnoughData {
                buckets: 0,
                needed: self.config.min_buckets,
            };
        };
        let seasons = self.config.season_buckets.unwrap_or(1);
        let samples: Vec<Sample> = self
            .buckets
            .iter()
            .map(|b| Sample {
                x_days: (b.mean_ts_ms - origin) / MS_PER_DAY,
                y: b.mean,
                season: b.index.rem_euclid(seasons as i64) as usize,
            })
            .collect();
        let mut scratch = Vec::with_capacity(n * (n - 1) / 2);
        let test = match self.config.season_buckets {
            Some(seasons) => stats::seasonal(&samples, seasons, &mut scratch),
            None => stats::hamed_rao(&samples, &mut scratch),
        };
        let Some(test) = test else {
            return Trend::NotEnoughData {
                buckets: n,
                needed: self.config.min_buckets,
            };
        };
        let direction = if test.p_value >= self.config.alpha || test.slope_per_day == 0.0 {
            Direction::Flat
        } else if test.z > 0.0 {
            Direction::Up
        } else {
            Direction::Down
        };
        Trend::Estimate(TrendEstimate {
            direction,
            slope_per_day: test.slope_per_day,
            slope_low_per_day: test.slope_low,
            slope_high_per_day: test.slope_high,
            p_value: test.p_value,
            samples: n,
        })
    }

    /// Forgets all data (keeps the configuration).
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.open = None;
        self.result = Trend::NotEnoughData {
            buckets: 0,
            needed: self.config.min_buckets,
        };
    }

    /// Completed buckets currently held (bounded by `config.buckets`).
    pub fn buckets_held(&self) -> usize {
        self.buckets.len()
    }
}
