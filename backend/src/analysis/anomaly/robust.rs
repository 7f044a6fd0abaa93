//! A robust running location and scale: an exponentially weighted mean whose residuals are
//! clipped at a few scales (a Huber-type M-estimator, updated online), so one spike moves it a
//! little and a level shift moves it within a few dozen points. Constant time and 16 bytes,
//! where a sliding median/MAD would need the window kept and sorted.

/// Residuals beyond this many scales are clipped before they update the estimates.
pub const CLIP_SCALES: f64 = 3.0;

/// Location and scale of one stream of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustLevel {
    /// Current location estimate (same unit as the values).
    pub level: f64,
    /// Mean absolute deviation around `level` (same unit).
    pub scale: f64,
    /// Weight of a new value in the location, (0, 1].
    level_alpha: f64,
    /// Weight of a new absolute residual in the scale, (0, 1].
    scale_alpha: f64,
}

impl RobustLevel {
    /// Starts at `level` and `scale` (from a warm-up sample, e.g. its median and MAD).
    pub fn new(level: f64, scale: f64, level_alpha: f64, scale_alpha: f64) -> Self {
        Self {
            level,
            scale,
            level_alpha,
            scale_alpha,
        }
    }

    /// Residual of `x` from the current location.
    pub fn residual(&self, x: f64) -> f64 {
        x - self.level
    }

    /// Takes `x` in; `floor` bounds the scale from below in the clipping so that a series that
    /// was flat can still move the location.
    pub fn update(&mut self, x: f64, floor: f64) {
        let e = x - self.level;
        let bound = CLIP_SCALES * self.scale.max(floor);
        self.level += self.level_alpha * e.clamp(-bound, bound);
        self.scale += self.scale_alpha * (e.abs().min(bound) - self.scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spike_barely_moves_the_level() {
        let mut r = RobustLevel::new(10.0, 1.0, 0.1, 0.05);
        r.update(1000.0, 0.0);
        assert!(r.level < 10.5, "{}", r.level);
    }

    #[test]
    fn a_level_shift_is_followed_within_a_hundred_points() {
        let mut r = RobustLevel::new(10.0, 1.0, 0.1, 0.05);
        for i in 0..100 {
            r.update(110.0 + (i % 2) as f64, 0.0);
        }
        assert!((r.level - 110.5).abs() < 2.0, "{}", r.level);
    }
}
