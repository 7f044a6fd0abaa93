//! Streaming anomaly score of one series: `push(ts_ms, value)` returns a score in [0, 1] for
//! that point, computed from that point and the ones before it only, in constant time.
//!
//! How a point is scored:
//! 1. Forecast models, each with a robust scale (the mean absolute error of its recent
//!    forecasts, with outliers clipped):
//!    - *level*: a fast robust location ([`robust::RobustLevel`]), for any series;
//!    - *daily* and *weekly* (once enough history exists): the value's time-of-day or
//!      time-of-week profile plus a fast offset ([`seasonal::SeasonalModel`]), so a daily peak
//!      is expected and a level shift is absorbed within a few dozen points.
//!
//!    The model with the smallest recent error judges the point: its residual over its scale
//!    is the robust z, and `ln(1 + z)` the raw surprise (the logarithm keeps one huge z from
//!    swamping the statistics of step 2).
//! 2. [`likelihood::Likelihood`]: the raw surprise against the long-term distribution of raw
//!    surprises, as a Gaussian tail in decades of improbability, so a series that is always
//!    noisy is held to its own noise. Twice: for the point's own raw surprise, and for the
//!    recent mean of raw surprises (HTM's short-term average, half-life ~7 points). The larger
//!    of the recent mean's decades and [`POINT_WEIGHT`] times the point's own is the point's
//!    surprise: a lone point has to be twice as improbable (in decades) as a change that
//!    persists for a few points. On the NAB subset this cut the false alerts from 67 to 48
//!    and found one more window (standard score 56.0 to 62.0).
//! 3. The score maps those decades into [0, 1) with the half-way point set by the sensitivity.
//!    After a score reaches [`ALERT_SCORE`] the next [`AnomalyConfig::cooldown_points`] scores
//!    are damped, so one event raises one alert (NAB rewards the first detection of an event
//!    and charges every further one outside its window).
//!
//! A first-difference model (to catch steps at their first point) was tried and dropped: on
//! NAB its noise cost more false alerts than the earlier detections gained.
//!
//! States: [`AnomalyState::Warming`] (score 0, nothing raised) for the first
//! [`WARMUP_MIN_POINTS`] points and at least [`WARMUP_MIN_SPAN_MS`]; then
//! [`AnomalyState::Baseline`] (the level model); [`AnomalyState::Daily`] once
//! [`DAILY_MIN_SPAN_MS`] of history exists; [`AnomalyState::Weekly`] after
//! [`WEEKLY_MIN_SPAN_MS`].
//!
//! Invariance: every model works on residuals and scales, so adding a constant to a series
//! leaves its scores unchanged, and so does multiplying it by a positive factor (up to
//! rounding; a perfectly flat series is the exception: its first wobble is infinitely surprising
//! at any scale).
//!
//! Memory: one [`AnomalyDetector`] is a fixed-size struct without heap allocations,
//! [`AnomalyDetector::STATE_BYTES`]: 5,792 bytes on x86-64, nearly all of it the daily profile
//! (288 five-minute bins) and the weekly one (168 hourly bins).

mod likelihood;
mod robust;
mod seasonal;

use likelihood::Likelihood;
use robust::RobustLevel;
use seasonal::SeasonalModel;

/// Warm-up: at least this many points...
pub const WARMUP_MIN_POINTS: usize = 12;
/// ...covering at least this much time (the first hour, as Netdata's 15 minutes or so).
pub const WARMUP_MIN_SPAN_MS: i64 = HOUR_MS;
/// Daily profile used once the series spans this much (two full days seen).
pub const DAILY_MIN_SPAN_MS: i64 = 2 * DAY_MS;
/// Weekly profile used once the series spans this much (Datadog asks for three weeks).
pub const WEEKLY_MIN_SPAN_MS: i64 = 3 * WEEK_MS;
/// A score at or above this raises an alert (and starts the cooldown).
pub const ALERT_SCORE: f64 = 0.5;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Daily profile bins: 5 minutes each.
const DAILY_BINS: usize = 288;
/// Weekly profile bins: one hour each.
const WEEKLY_BINS: usize = 168;

/// Weight of a new value in the fast level (half-life about 7 points).
const LEVEL_ALPHA: f64 = 0.1;
/// Weight of a new absolute error in the models' scales (half-life about 140 points).
const SCALE_ALPHA: f64 = 0.005;
/// Weight of a new deviation from the seasonal profile in its offset (half-life ~ 35 points).
const SEASONAL_OFFSET_ALPHA: f64 = 0.02;
/// Weight of a new absolute difference in the long-term step size (half-life ~ 700 points),
/// which floors the short-term scales.
const LONG_ALPHA: f64 = 0.001;
/// Scales never go below this fraction of the long-term mean absolute difference.
const SCALE_FLOOR_FRACTION: f64 = 0.1;
/// Weight of a new raw value in the likelihood's long-term distribution (half-life ~ 1,400).
const LIKELIHOOD_LONG_ALPHA: f64 = 0.0005;
/// Weight of a new raw value in the recent mean of raw values (half-life ~ 7 points), HTM's
/// short-term average: a change that lasts a few points adds up there, a lone blip is diluted.
const RECENT_ALPHA: f64 = 0.1;
/// Weight of a single point's own decades against those of the recent mean: a lone point must
/// be 1 / this times as improbable, in decades, as a sustained change to score the same (noisy
/// series throw lone large errors often; sustained runs of them are rarer).
const POINT_WEIGHT: f64 = 0.5;
/// z values are capped here so that a step off a flat line stays finite.
const Z_CAP: f64 = 1e9;
/// Decades of improbability that give a score of 0.5 at sensitivity 0 and at sensitivity 1;
/// in between the decades are interpolated geometrically.
const HALF_DECADES_LEAST_SENSITIVE: f64 = 6.0;
const HALF_DECADES_MOST_SENSITIVE: f64 = 1.5;
/// Factor applied to scores during the cooldown after an alert.
const COOLDOWN_DAMPING: f64 = 0.25;
/// Longest cooldown the config accepts, points.
const MAX_COOLDOWN_POINTS: u32 = 100_000;

/// What an admin can set per layer or series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyConfig {
    /// 0 (only the most extreme points reach [`ALERT_SCORE`]) to 1 (milder ones do too).
    pub sensitivity: f64,
    /// Points after an alert during which scores are damped, so one event raises one alert.
    pub cooldown_points: u32,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            sensitivity: 0.5,
            cooldown_points: 400,
        }
    }
}

/// Invalid [`AnomalyConfig`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnomalyError {
    #[error("sensitivity must be between 0 and 1, got {0}")]
    Sensitivity(f64),
    #[error("cooldown must be at most {MAX_COOLDOWN_POINTS} points, got {0}")]
    Cooldown(u32),
}

impl AnomalyConfig {
    pub fn validate(&self) -> Result<(), AnomalyError> {
        if !(0.0..=1.0).contains(&self.sensitivity) {
            return Err(AnomalyError::Sensitivity(self.sensitivity));
        }
        if self.cooldown_points > MAX_COOLDOWN_POINTS {
            return Err(AnomalyError::Cooldown(self.cooldown_points));
        }
        Ok(())
    }

    /// Decades of improbability that score 0.5.
    fn half_decades(&self) -> f64 {
        let (lo, hi) = (
            HALF_DECADES_LEAST_SENSITIVE.ln(),
            HALF_DECADES_MOST_SENSITIVE.ln(),
        );
        (lo + self.sensitivity * (hi - lo)).exp()
    }
}

/// Which models the detector uses so far, ordered by how much of the series' structure is
/// modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyState {
    /// Cold start: learning, scores are 0 and nothing is raised.
    Warming,
    /// The robust level model.
    Baseline,
    /// Plus the time-of-day profile.
    Daily,
    /// Plus the time-of-week profile.
    Weekly,
}

impl AnomalyState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warming => "warming",
            Self::Baseline => "baseline",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

/// The detector's verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyPoint {
    /// 0 (usual) to 1 (as unusual as it gets).
    pub score: f64,
    /// Models in use when the point was scored.
    pub state: AnomalyState,
    /// `score >= ALERT_SCORE`.
    pub alert: bool,
}

/// Streaming anomaly detector of one series.
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    config: AnomalyConfig,
    /// Points taken in (finite values only).
    count: usize,
    first_ts_ms: i64,
    /// Warm-up sample, to seed the models with its median and MAD.
    warmup: [f64; WARMUP_MIN_POINTS],
    prev: f64,
    level: RobustLevel,
    /// Mean absolute first difference over the long run: the floor of the scales.
    long_step: f64,
    daily: SeasonalModel<DAILY_BINS>,
    weekly: SeasonalModel<WEEKLY_BINS>,
    likelihood: Likelihood,
    /// Recent mean of the raw surprise values ([`RECENT_ALPHA`]).
    recent: f64,
    /// The long-term distribution of `recent`.
    recent_likelihood: Likelihood,
    /// Points left in the cooldown after an alert.
    cooldown_left: u32,
    state: AnomalyState,
}

impl AnomalyDetector {
    /// Bytes of state per series; constant, no heap.
    pub const STATE_BYTES: usize = std::mem::size_of::<Self>();

    pub fn new(config: AnomalyConfig) -> Result<Self, AnomalyError> {
        config.validate()?;
        Ok(Self {
            config,
            count: 0,
            first_ts_ms: 0,
            warmup: [0.0; WARMUP_MIN_POINTS],
            prev: 0.0,
            level: RobustLevel::new(0.0, 0.0, LEVEL_ALPHA, SCALE_ALPHA),
            long_step: 0.0,
            daily: SeasonalModel::new(DAY_MS, SEASONAL_OFFSET_ALPHA, SCALE_ALPHA),
            weekly: SeasonalModel::new(WEEK_MS, SEASONAL_OFFSET_ALPHA, SCALE_ALPHA),
            likelihood: Likelihood::new(LIKELIHOOD_LONG_ALPHA),
            recent: 0.0,
            recent_likelihood: Likelihood::new(LIKELIHOOD_LONG_ALPHA),
            cooldown_left: 0,
            state: AnomalyState::Warming,
        })
    }

    pub fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    pub fn state(&self) -> AnomalyState {
        self.state
    }

    /// Scores the point at `ts_ms` (ms since the Unix epoch) and learns from it. A non-finite
    /// value is not learned from and scores 0.
    pub fn push(&mut self, ts_ms: i64, value: f64) -> AnomalyPoint {
        if !value.is_finite() {
            return AnomalyPoint {
                score: 0.0,
                state: self.state,
                alert: false,
            };
        }
        if self.count == 0 {
            self.first_ts_ms = ts_ms;
        }
        let span = ts_ms.saturating_sub(self.first_ts_ms);
        let score = if self.state == AnomalyState::Warming {
            self.warm(value, span);
            0.0
        } else {
            self.promote(span);
            self.score(ts_ms, value)
        };
        self.count += 1;
        self.prev = value;
        AnomalyPoint {
            score,
            state: self.state,
            alert: score >= ALERT_SCORE,
        }
    }

    fn warm(&mut self, value: f64, span: i64) {
        if self.count < WARMUP_MIN_POINTS {
            self.warmup[self.count] = value;
        }
        if self.count > 0 {
            let step = (value - self.prev).abs();
            self.long_step += (step - self.long_step) / self.count.min(WARMUP_MIN_POINTS) as f64;
        }
        if self.count + 1 < WARMUP_MIN_POINTS || span < WARMUP_MIN_SPAN_MS {
            return;
        }
        let mut sample = self.warmup;
        let median = median_in_place(&mut sample);
        for v in sample.iter_mut() {
            *v = (*v - median).abs();
        }
        let mad = median_in_place(&mut sample);
        self.level = RobustLevel::new(value, mad.max(self.long_step), LEVEL_ALPHA, SCALE_ALPHA);
        self.daily.seed(mad.max(self.long_step));
        self.weekly.seed(mad.max(self.long_step));
        // Raw values are ln(1 + z); a z of about 1 is the usual at the start.
        self.likelihood.seed(std::f64::consts::LN_2, 0.25);
        // An average of about 1 / RECENT_ALPHA such values varies that much less.
        self.recent = std::f64::consts::LN_2;
        self.recent_likelihood
            .seed(std::f64::consts::LN_2, 0.25 * RECENT_ALPHA);
        self.state = AnomalyState::Baseline;
    }

    fn promote(&mut self, span: i64) {
        self.state = match self.state {
            AnomalyState::Baseline if span >= DAILY_MIN_SPAN_MS => AnomalyState::Daily,
            AnomalyState::Daily if span >= WEEKLY_MIN_SPAN_MS => AnomalyState::Weekly,
            s => s,
        };
    }

    fn score(&mut self, ts_ms: i64, x: f64) -> f64 {
        let floor = SCALE_FLOOR_FRACTION * self.long_step + f64::MIN_POSITIVE;

        // The model that has forecast best lately judges this point: (residual, scale).
        let mut best = (self.level.residual(x), self.level.scale);
        let daily = (self.state >= AnomalyState::Daily)
            .then(|| self.daily.forecast(ts_ms))
            .flatten();
        if let Some(f) = daily.filter(|_| self.daily.error < best.1) {
            best = (x - f, self.daily.error);
        }
        let weekly = (self.state >= AnomalyState::Weekly)
            .then(|| self.weekly.forecast(ts_ms))
            .flatten();
        if let Some(f) = weekly.filter(|_| self.weekly.error < best.1) {
            best = (x - f, self.weekly.error);
        }
        let z = (best.0.abs() / best.1.max(floor)).min(Z_CAP);
        let raw = z.ln_1p();
        self.recent += RECENT_ALPHA * (raw - self.recent);
        let decades = (POINT_WEIGHT * self.likelihood.push(raw))
            .max(self.recent_likelihood.push(self.recent));

        // Learn after scoring: the score of this point used the past only.
        let clip = robust::CLIP_SCALES * best.1.max(floor);
        self.level.update(x, floor);
        self.long_step += LONG_ALPHA * ((x - self.prev).abs() - self.long_step);
        self.daily.update(ts_ms, x, clip);
        self.weekly.update(ts_ms, x, clip);

        let half = self.config.half_decades();
        let score = decades / (decades + half);
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            score * COOLDOWN_DAMPING
        } else {
            if score >= ALERT_SCORE {
                self.cooldown_left = self.config.cooldown_points;
            }
            score
        }
    }
}

/// Median of a small sample (reorders it).
fn median_in_place(sample: &mut [f64]) -> f64 {
    sample.sort_by(f64::total_cmp);
    let n = sample.len();
    if n % 2 == 1 {
        sample[n / 2]
    } else {
        0.5 * (sample[n / 2 - 1] + sample[n / 2])
    }
}

#[cfg(test)]
mod tests;
