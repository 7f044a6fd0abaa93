//! A seasonal profile: the typical value per phase bin of a period (time of day, time of week),
//! each bin an exponentially weighted mean of the values that fell in it. Fixed-size arrays, so
//! the memory is known at compile time.

/// Each bin's first visits are averaged plainly (weight 1/n) until this many, then with a fixed
/// weight of 1/this, so a bin remembers roughly its last this-many visits.
pub const BIN_MEMORY_VISITS: u32 = 8;

/// Typical value per phase of a period of `period_ms`, in `BINS` bins.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalProfile<const BINS: usize> {
    period_ms: i64,
    mean: [f64; BINS],
    visits: [u32; BINS],
}

impl<const BINS: usize> SeasonalProfile<BINS> {
    pub fn new(period_ms: i64) -> Self {
        Self {
            period_ms,
            mean: [0.0; BINS],
            visits: [0; BINS],
        }
    }

    /// The bin of a timestamp (ms since the Unix epoch, UTC).
    pub fn bin(&self, ts_ms: i64) -> usize {
        let phase = ts_ms.rem_euclid(self.period_ms);
        // phase < period, so the bin is < BINS; i128 keeps the product from overflowing.
        (phase as i128 * BINS as i128 / self.period_ms as i128) as usize
    }

    /// The expected value at `ts_ms`, `None` until its bin has been visited.
    pub fn expected(&self, ts_ms: i64) -> Option<f64> {
        let b = self.bin(ts_ms);
        (self.visits[b] > 0).then_some(self.mean[b])
    }

    pub fn update(&mut self, ts_ms: i64, x: f64) {
        let b = self.bin(ts_ms);
        self.visits[b] = self.visits[b].saturating_add(1);
        let weight = 1.0 / f64::from(self.visits[b].min(BIN_MEMORY_VISITS));
        self.mean[b] += weight * (x - self.mean[b]);
    }
}

/// A seasonal forecast with a level: the profile's value at the time plus a fast-moving offset
/// (the recent deviation from the profile), so a level shift is absorbed in a few points while
/// the shape of the period is kept, as Holt-Winters keeps level and season apart.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalModel<const BINS: usize> {
    profile: SeasonalProfile<BINS>,
    /// Recent deviation of the values from the profile.
    offset: f64,
    offset_alpha: f64,
    /// Mean absolute error of the forecasts (clipped), its scale.
    pub error: f64,
    error_alpha: f64,
}

impl<const BINS: usize> SeasonalModel<BINS> {
    pub fn new(period_ms: i64, offset_alpha: f64, error_alpha: f64) -> Self {
        Self {
            profile: SeasonalProfile::new(period_ms),
            offset: 0.0,
            offset_alpha,
            error: 0.0,
            error_alpha,
        }
    }

    /// Seeds the error scale (end of warm-up).
    pub fn seed(&mut self, error: f64) {
        self.error = error;
    }

    /// The forecast at `ts_ms`, `None` until that phase has been seen.
    pub fn forecast(&self, ts_ms: i64) -> Option<f64> {
        self.profile.expected(ts_ms).map(|e| e + self.offset)
    }

    /// Learns `x` at `ts_ms`; `clip` bounds the error that updates the scale.
    pub fn update(&mut self, ts_ms: i64, x: f64, clip: f64) {
        if let Some(f) = self.forecast(ts_ms) {
            self.error += self.error_alpha * ((x - f).abs().min(clip) - self.error);
        }
        // The profile learns the value net of the current offset, so that the offset carries
        // the level and the profile the shape.
        let net = x - self.offset;
        self.profile.update(ts_ms, net);
        if let Some(e) = self.profile.expected(ts_ms) {
            self.offset += self.offset_alpha * (x - e - self.offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn learns_a_daily_square_wave() {
        let mut p = SeasonalProfile::<24>::new(24 * HOUR_MS);
        for h in 0..24 * 5 {
            p.update(h * HOUR_MS, if h % 24 < 12 { 1.0 } else { 5.0 });
        }
        assert_eq!(p.expected(3 * HOUR_MS), Some(1.0));
        assert_eq!(p.expected(15 * HOUR_MS), Some(5.0));
    }

    #[test]
    fn bins_cover_negative_timestamps() {
        let p = SeasonalProfile::<24>::new(24 * HOUR_MS);
        assert_eq!(p.bin(-HOUR_MS), 23);
    }
}
