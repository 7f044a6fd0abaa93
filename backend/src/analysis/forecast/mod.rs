//! Forecast and capacity runway for one series.
//!
//! Points are averaged into buckets (30 min by default). Each completed bucket updates an
//! additive Holt-Winters model (level, trend, one seasonal term per bucket of the season, a day
//! by default). Until two full seasons have been seen the model runs without the seasonal part
//! (Holt's linear method); it then initialises the seasonal terms from those two seasons.
//!
//! The prediction interval comes from an exponentially weighted variance of the one-step
//! errors, widened with the horizon by the uncertainty of the robust slope (below), or, until
//! that exists, as the state-space form of Holt-Winters prescribes (Hyndman et al.,
//! *Forecasting with Exponential Smoothing*, 2008, class 1 variance).
//!
//! For the runway the slope matters most, and Holt-Winters' trend term is a short, noisy
//! memory of level changes. So the forecast extrapolates with a robust slope instead: the
//! Theil-Sen slope ([`super::trend`]) of the deseasonalised bucket means over the last one to
//! four weeks (`slope.rs`), falling back to the Holt-Winters trend while that is not available. Level and seasonal
//! terms stay Holt-Winters'.
//!
//! Growth is additive or multiplicative, chosen by the data (`growth.rs`): each completed day
//! gives its mean and the size of its daily swing; when the swing grows (relative) at least
//! half as fast as the mean, as network traffic growing by a percentage a week does, the
//! forecast is multiplicative: `(level + season) × exp(rate × h)`, one rate for the level and
//! the daily swing, the rate being the Theil-Sen slope of the logarithm of the daily means over
//! the last four weeks. Its level is the mean of the last day's Holt-Winters levels (grown to
//! now: additive seasonal terms lag a growing swing, and the level takes the rest, ±2% over
//! the day at 5%/week), and its seasonal terms are grown over their mean age. Otherwise (a
//! constant swing, no season, fewer than five days) the forecast is additive:
//! `level + slope × h + season`. Under compounded growth the additive model reaches capacity
//! 1.5 to 1.7 times too late: the daily peak grows 1 + amplitude times faster than the mean.
//! The multiplicative runway smooths the daily shape to its first six harmonics (less noise
//! weeks ahead).

mod growth;
mod runway;
mod slope;
#[cfg(test)]
pub(crate) mod tests;

use serde::{Deserialize, Serialize};

pub use runway::{rank_by_days_until_full, Runway, DEFAULT_MAX_HORIZON_MS};

use super::trend::TrendError;
use growth::GrowthShape;
use slope::RobustSlope;

const DEFAULT_BUCKET_MS: i64 = 30 * 60_000;
const DEFAULT_SEASON_BUCKETS: usize = 48;
const DEFAULT_LEVEL_SMOOTHING: f64 = 0.2;
const DEFAULT_TREND_SMOOTHING: f64 = 0.02;
/// Seasonal terms adapt within a few days: real traffic changes its daily shape (weekdays,
/// weekends), and 0.1 made the day-ahead forecast of a real link worse than "same time
/// yesterday" (tests: `day_ahead_forecast_on_a_real_link`).
const DEFAULT_SEASON_SMOOTHING: f64 = 0.3;
/// 95% two-sided normal quantile.
const DEFAULT_INTERVAL_Z: f64 = 1.959_963_984_540_054;
/// The one-step error variance forgets with this weight per bucket (about two days of 30 min
/// buckets): long enough to be stable, short enough to follow a change of regime.
const ERROR_VARIANCE_WEIGHT: f64 = 0.01;
/// Season lengths are bounded so the state is too (one f64 per bucket of the season).
pub const MAX_SEASON_BUCKETS: usize = 1_024;

/// Settings of one forecaster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastConfig {
    /// Width of a bucket, the forecast's time step, in milliseconds.
    pub bucket_ms: i64,
    /// Season length in buckets (48 × 30 min = a day); `None` for no seasonality.
    pub season_buckets: Option<usize>,
    /// Holt-Winters smoothing of the level (alpha), the trend (beta) and the seasonal terms
    /// (gamma), each in (0, 1).
    pub level_smoothing: f64,
    pub trend_smoothing: f64,
    pub season_smoothing: f64,
    /// Width of the prediction interval in standard deviations (1.96 for 95%).
    pub interval_z: f64,
}

impl Default for ForecastConfig {
    /// 30 min buckets, a daily season, a 95% interval.
    fn default() -> Self {
        Self {
            bucket_ms: DEFAULT_BUCKET_MS,
            season_buckets: Some(DEFAULT_SEASON_BUCKETS),
            level_smoothing: DEFAULT_LEVEL_SMOOTHING,
            trend_smoothing: DEFAULT_TREND_SMOOTHING,
            season_smoothing: DEFAULT_SEASON_SMOOTHING,
            interval_z: DEFAULT_INTERVAL_Z,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("bucket width must be positive, got {0} ms")]
    BucketWidth(i64),
    #[error("season length must be 2..={MAX_SEASON_BUCKETS} buckets, got {0}")]
    Season(usize),
    #[error("smoothing parameter {name} must be in (0, 1), got {value}")]
    Smoothing { name: &'static str, value: f64 },
    #[error("interval width must be a positive number of standard deviations, got {0}")]
    IntervalZ(f64),
    #[error("robust slope tracker: {0}")]
    Slope(#[from] TrendError),
}

/// The forecast for one future time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    /// Middle of the forecast bucket.
    pub at_ms: i64,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct OpenBucket {
    index: i64,
    sum: f64,
    count: u32,
}

/// Holt-Winters state once it has started.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Model {
    level: f64,
    trend: f64,
    /// Index of the last bucket folded in.
    last_index: i64,
    /// Seasonal terms by phase (`bucket index mod season`); empty until two seasons are seen.
    season: Vec<f64>,
    /// Sum of the levels of the last season's buckets and those levels (once seasonal).
    recent_level_sum: f64,
    recent_levels: std::collections::VecDeque<f64>,
    /// Exponentially weighted mean of squared one-step errors.
    error_variance: f64,
    buckets_seen: usize,
}

/// Streaming forecaster for one series.
///
/// Memory: the seasonal terms (8 bytes per bucket of the season: 384 bytes for a day of 30 min
/// buckets), the first two seasons of bucket means while the seasonal terms are not yet
/// initialised (16 bytes each, 1.5 KiB, freed afterwards), the robust slope (two windows of at
/// most 84 buckets of 24 bytes, 4 KiB), the last season's levels (8 bytes per bucket of the
/// season), 28 days of daily mean and swing (672 bytes) and about 350 bytes of fixed fields.
/// Nothing grows with history.
/// Serializable, so that a node taking a partition over continues with the same answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forecaster {
    config: ForecastConfig,
    open: Option<OpenBucket>,
    model: Option<Model>,
    /// (bucket index, mean) of the first two seasons, kept to initialise the seasonal terms.
    warmup: Vec<(i64, f64)>,
    slope: RobustSlope,
    /// Daily level and swing, to choose between additive and multiplicative growth.
    shape: GrowthShape,
    /// Time of the latest point: "now" for the runway.
    now_ms: i64,
}

impl Forecaster {
    pub fn new(config: ForecastConfig) -> Result<Self, ForecastError> {
        if config.bucket_ms <= 0 {
            return Err(ForecastError::BucketWidth(config.bucket_ms));
        }
        if let Some(m) = config.season_buckets {
            if !(2..=MAX_SEASON_BUCKETS).contains(&m) {
                return Err(ForecastError::Season(m));
            }
        }
        for (name, value) in [
            ("level_smoothing", config.level_smoothing),
            ("trend_smoothing", config.trend_smoothing),
            ("season_smoothing", config.season_smoothing),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(ForecastError::Smoothing { name, value });
            }
        }
        if !(config.interval_z.is_finite() && config.interval_z > 0.0) {
            return Err(ForecastError::IntervalZ(config.interval_z));
        }
        let slope = RobustSlope::new(config.bucket_ms)?;
        Ok(Self {
            shape: GrowthShape::default(),
            warmup: Vec::new(),
            open: None,
            model: None,
            slope,
            now_ms: i64::MIN,
            config,
        })
    }

    /// Adds one window aggregate. Non-finite values and points older than the bucket being
    /// filled are ignored.
    pub fn push(&mut self, ts_ms: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.now_ms = self.now_ms.max(ts_ms);
        let index = ts_ms.div_euclid(self.config.bucket_ms);
        match &mut self.open {
            Some(open) if open.index == index => {
                open.sum += value;
                open.count += 1;
                return;
            }
            Some(open) if open.index > index => return,
            _ => {}
        }
        if let Some(done) = self.open.take() {
            self.complete(done.index, done.sum / f64::from(done.count));
        }
        self.open = Some(OpenBucket {
            index,
            sum: value,
            count: 1,
        });
    }

    /// Completed buckets folded into the model.
    pub fn buckets_seen(&self) -> usize {
        self.model.as_ref().map_or(0, |m| m.buckets_seen)
    }

    /// Whether the seasonal terms are in use (after two seasons of data).
    pub fn is_seasonal(&self) -> bool {
        self.model.as_ref().is_some_and(|m| !m.season.is_empty())
    }

    /// The forecast `ahead_ms` after the latest point, `None` before the first bucket completes.
    pub fn forecast(&self, ahead_ms: i64) -> Option<ForecastPoint> {
        let model = self.model.as_ref()?;
        let target = (self.now_ms.saturating_add(ahead_ms)).div_euclid(self.config.bucket_ms);
        let steps = (target - model.last_index).max(1);
        let value = self.point(model, steps);
        let half_width = self.half_width(model, steps);
        Some(ForecastPoint {
            at_ms: bucket_mid_ms(self.config.bucket_ms, model.last_index + steps),
            value,
            lower: value - half_width,
            upper: value + half_width,
        })
    }

    /// The slope used to extrapolate, per bucket: the robust one when available.
    fn slope_per_bucket(&self, model: &Model) -> f64 {
        match self.slope.per_day() {
            Some((per_day, _)) => per_day * self.config.bucket_ms as f64 / runway::MS_PER_DAY,
            None => model.trend,
        }
    }

    fn season_at(model: &Model, index: i64) -> f64 {
        if model.season.is_empty() {
            return 0.0;
        }
        model.season[index.rem_euclid(model.season.len() as i64) as usize]
    }

    /// The level of the multiplicative model: the mean of the last season's levels grown to
    /// now. Additive seasonal terms lag a swing that grows, and the level takes up the rest, a
    /// bias that changes sign over the day (about ±2% at 5%/week); over a day it cancels.
    fn day_level(model: &Model, rate_per_bucket: f64) -> f64 {
        let n = model.recent_levels.len();
        if n == 0 || n < model.season.len() {
            return model.level;
        }
        let mean = model.recent_level_sum / n as f64;
        mean * (rate_per_bucket * (n as f64 - 1.0) / 2.0).exp()
    }

    /// In the multiplicative model a seasonal term is an exponentially weighted mean of past
    /// seasons, with weight gamma (1 - alpha) on the latest (the level takes alpha of each
    /// error first), so its mean age is (1 - g) / g seasons: it is grown by the rate over that
    /// age to stand for now.
    fn season_catch_up(&self, model: &Model, rate_per_bucket: f64) -> f64 {
        let g = self.config.season_smoothing * (1.0 - self.config.level_smoothing);
        let age_buckets = model.season.len() as f64 * (1.0 - g) / g;
        (rate_per_bucket * age_buckets).exp()
    }

    /// Growth rate per bucket of the multiplicative model, when the data chose it and the
    /// log slope exists.
    fn rate_per_bucket(&self) -> Option<f64> {
        let m = self.config.season_buckets?;
        Some(self.shape.rate_per_season()? / m as f64)
    }

    /// The forecast without its interval `steps` buckets ahead: the level plus the seasonal
    /// term, moved on by the slope (additive) or grown together at the rate (multiplicative).
    fn point(&self, model: &Model, steps: i64) -> f64 {
        let season = Self::season_at(model, model.last_index + steps);
        match self.rate_per_bucket() {
            Some(rate) => {
                let season = season * self.season_catch_up(model, rate);
                (Self::day_level(model, rate) + season) * (rate * steps as f64).exp()
            }
            None => model.level + self.slope_per_bucket(model) * steps as f64 + season,
        }
    }

    /// Half width of the prediction interval `steps` buckets ahead: Holt-Winters' own variance
    /// for the level and seasonal terms. Its trend part assumes a random-walk trend, which
    /// grows as the cube of the horizon and reaches any capacity within weeks; once the robust
    /// slope extrapolates, that part is replaced by the slope's own uncertainty carried over
    /// the horizon.
    fn half_width(&self, model: &Model, steps: i64) -> f64 {
        let variance = match self.slope.per_day() {
            Some((_, se_per_day)) => {
                let se_per_bucket = se_per_day * self.config.bucket_ms as f64 / runway::MS_PER_DAY;
                let drift = se_per_bucket * steps as f64;
                model.error_variance * self.variance_factor(model, steps, 0.0) + drift * drift
            }
            None => {
                let trend = self.config.trend_smoothing;
                model.error_variance * self.variance_factor(model, steps, trend)
            }
        };
        self.config.interval_z * variance.sqrt()
    }

    /// Var(h) / sigma² for additive Holt-Winters in state-space form: 1 + sum over j < h of
    /// c_j², c_j = alpha (1 + j beta) + gamma (1 - alpha) [j a multiple of the season]
    /// (beta = 0: without the trend's share).
    fn variance_factor(&self, model: &Model, steps: i64, trend_smoothing: f64) -> f64 {
        let a = self.config.level_smoothing;
        let b = trend_smoothing;
        let h = steps as f64;
        let n = h - 1.0;
        let sum_j = n * h / 2.0;
        let sum_j2 = n * h * (2.0 * h - 1.0) / 6.0;
        let mut factor = 1.0 + a * a * (n + 2.0 * b * sum_j + b * b * sum_j2);
        if !model.season.is_empty() {
            let m = model.season.len() as f64;
            let g = self.config.season_smoothing * (1.0 - a);
            let k = (n / m).floor();
            factor += k * (2.0 * g * a + g * g) + 2.0 * g * a * b * m * k * (k + 1.0) / 2.0;
        }
        factor
    }

    fn complete(&mut self, index: i64, mean: f64) {
        let Some(model) = &mut self.model else {
            self.model = Some(Model {
                level: mean,
                trend: 0.0,
                last_index: index,
                season: Vec::new(),
                recent_level_sum: 0.0,
                recent_levels: Default::default(),
                error_variance: 0.0,
                buckets_seen: 1,
            });
            self.after_bucket(index, mean);
            return;
        };
        let (a, b, g) = (
            self.config.level_smoothing,
            self.config.trend_smoothing,
            self.config.season_smoothing,
        );
        // Missing buckets: the level moves on with the trend, the seasonal terms wait.
        let gap = (index - model.last_index - 1).max(0) as f64;
        model.level += model.trend * gap;
        let s = Self::season_at(model, index);
        let predicted = model.level + model.trend + s;
        let error = mean - predicted;
        model.error_variance += ERROR_VARIANCE_WEIGHT * (error * error - model.error_variance);
        let level = a * (mean - s) + (1.0 - a) * (model.level + model.trend);
        model.trend = b * (level - model.level) + (1.0 - b) * model.trend;
        model.level = level;
        if !model.season.is_empty() {
            let phase = index.rem_euclid(model.season.len() as i64) as usize;
            model.season[phase] = g * (mean - level) + (1.0 - g) * model.season[phase];
            if model.recent_levels.len() == model.season.len() {
                model.recent_level_sum -= model.recent_levels.pop_front().unwrap_or(0.0);
            }
            model.recent_levels.push_back(level);
            model.recent_level_sum += level;
        }
        model.last_index = index;
        model.buckets_seen += 1;
        self.after_bucket(index, mean);
    }

    /// Feeds the robust slope and, during the first two seasons, the warm-up buffer.
    fn after_bucket(&mut self, index: i64, mean: f64) {
        let mid_ms = bucket_mid_ms(self.config.bucket_ms, index);
        let Some(m) = self.config.season_buckets else {
            self.push_slopes(mid_ms, mean);
            return;
        };
        self.shape.push(index, mean, m);
        let Some(model) = &self.model else {
            return;
        };
        if !model.season.is_empty() {
            let deseasonalised = mean - Self::season_at(model, index);
            self.push_slopes(mid_ms, deseasonalised);
            return;
        }
        self.push_slopes(mid_ms, mean);
        self.warmup.push((index, mean));
        let first = self.warmup[0].0;
        if index - first + 1 >= 2 * m as i64 {
            self.start_seasons(m);
        }
    }

    /// Seasonal terms from the warm-up buffer: each phase's mean deviation from the mean of
    /// its season; trend and level from the two seasons' means (Holt's level on raw data lags
    /// the cycle); the robust slope restarts on the deseasonalised buffer.
    fn start_seasons(&mut self, m: usize) {
        let Some(model) = &mut self.model else {
            return;
        };
        let first = self.warmup[0].0;
        let which_season = |index: i64| (((index - first) / m as i64) as usize).min(1);
        let mut season_sum = [0.0_f64; 2];
        let mut season_count = [0_u32; 2];
        for &(index, mean) in &self.warmup {
            season_sum[which_season(index)] += mean;
            season_count[which_season(index)] += 1;
        }
        let season_mean = |k: usize| season_sum[k] / f64::from(season_count[k].max(1));
        let trend = (season_mean(1) - season_mean(0)) / m as f64;
        // Deviations from the line through the two seasons' means, so that the trend within a
        // season does not end up in the seasonal terms as a sawtooth.
        let middle = (m as f64 - 1.0) / 2.0;
        let mut deviation = vec![0.0; m];
        let mut count = vec![0_u32; m];
        for &(index, mean) in &self.warmup {
            let which = which_season(index);
            let offset = (index - first - (which * m) as i64) as f64 - middle;
            let phase = index.rem_euclid(m as i64) as usize;
            deviation[phase] += mean - season_mean(which) - trend * offset;
            count[phase] += 1;
        }
        for (d, c) in deviation.iter_mut().zip(&count) {
            *d /= f64::from((*c).max(1));
        }
        model.trend = trend;
        // The second season's mean sits at its middle, (m - 1) / 2 buckets before its end.
        model.level = season_mean(1) + trend * middle;
        model.season = deviation;
        self.slope.clear();
        let warmup = std::mem::take(&mut self.warmup);
        let deseasonalised: Vec<(i64, f64)> = warmup
            .iter()
            .map(|&(index, mean)| {
                let mid_ms = bucket_mid_ms(self.config.bucket_ms, index);
                (mid_ms, mean - Self::season_at(model, index))
            })
            .collect();
        for (mid_ms, value) in deseasonalised {
            self.push_slopes(mid_ms, value);
        }
    }

    fn push_slopes(&mut self, mid_ms: i64, value: f64) {
        self.slope.push(mid_ms, value);
    }
}

/// Middle of bucket `index`: where a bucket mean sits in time.
fn bucket_mid_ms(bucket_ms: i64, index: i64) -> i64 {
    index
        .saturating_mul(bucket_ms)
        .saturating_add(bucket_ms / 2)
}
