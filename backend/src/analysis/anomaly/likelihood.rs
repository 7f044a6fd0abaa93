//! Turns raw surprise values into a probability, as HTM's "anomaly likelihood" does: compare
//! the raw value with the long-term distribution of raw values (mean and variance, exponentially
//! weighted) and take the Gaussian tail. A series that is always noisy has a high long-term
//! mean, so its usual noise stops looking unusual; a calm series that starts jumping stands out.
//! HTM averages the last few raw values first; on NAB that alone delayed and diluted single
//! spikes, so the detector runs one of these on the raw value and one on its recent mean and
//! takes the stronger verdict (see the module above). Constant time, 24 bytes.

/// Long-term variance never goes below this fraction of the squared long-term mean, so a
/// perfectly regular stretch does not make the next tiny wobble infinitely unlikely.
const MIN_RELATIVE_VARIANCE: f64 = 1e-4;
/// Absolute floor of the long-term standard deviation (raw values are dimensionless).
const MIN_STD: f64 = 1e-3;
/// Beyond this z the tail is computed from its asymptotic expansion, where `erfc` underflows.
const ASYMPTOTIC_Z: f64 = 8.0;

/// Long-term distribution of one stream of raw values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Likelihood {
    mean: f64,
    var: f64,
    /// Weight of a new raw value in the mean and variance.
    alpha: f64,
}

impl Likelihood {
    pub fn new(alpha: f64) -> Self {
        Self {
            mean: 0.0,
            var: 0.0,
            alpha,
        }
    }

    /// Seeds the long-term distribution (end of warm-up).
    pub fn seed(&mut self, mean: f64, var: f64) {
        self.mean = mean;
        self.var = var;
    }

    /// Takes a raw value in and returns its surprise in decades: `-log10` of the Gaussian upper
    /// tail (0 when it is not above the long-term mean). The comparison is against the
    /// distribution *before* this value, so the value cannot hide itself.
    pub fn push(&mut self, raw: f64) -> f64 {
        let std = self
            .var
            .max(MIN_RELATIVE_VARIANCE * self.mean * self.mean)
            .sqrt()
            .max(MIN_STD);
        let z = (raw - self.mean) / std;
        let d = raw - self.mean;
        self.mean += self.alpha * d;
        self.var = (1.0 - self.alpha) * (self.var + self.alpha * d * d);
        tail_decades(z)
    }
}

/// `-log10 P(Z > z)` for a standard normal `Z`, 0 for `z <= 0`.
pub fn tail_decades(z: f64) -> f64 {
    if z <= 0.0 {
        0.0
    } else if z < ASYMPTOTIC_Z {
        -(0.5 * libm::erfc(z / std::f64::consts::SQRT_2)).log10()
    } else {
        // Mills ratio: ln P(Z > z) ~ -z²/2 - ln(z) - ln(sqrt(2π)) - 1/z² (next term).
        let ln_tail =
            -0.5 * z * z - z.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln() - 1.0 / (z * z);
        -ln_tail / std::f64::consts::LN_10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_matches_known_values_and_is_continuous_at_the_switch() {
        assert!((tail_decades(1.959964) - (-(0.025f64).log10())).abs() < 1e-5);
        assert!((tail_decades(3.0) - (-(0.0013499f64).log10())).abs() < 1e-4);
        let below = tail_decades(ASYMPTOTIC_Z - 1e-9);
        let above = tail_decades(ASYMPTOTIC_Z);
        assert!((below - above).abs() < 1e-3, "{below} vs {above}");
        assert!(tail_decades(40.0).is_finite() && tail_decades(40.0) > tail_decades(39.0));
    }

    #[test]
    fn a_burst_after_calm_is_surprising_and_usual_noise_is_not() {
        let mut l = Likelihood::new(0.01);
        l.seed(1.0, 0.25);
        let calm: f64 = (0..500)
            .map(|i| l.push(1.0 + 0.5 * ((i % 3) as f64 - 1.0)))
            .fold(0.0, f64::max);
        let burst = l.push(10.0);
        assert!(calm < 2.0 && burst > 6.0, "calm {calm}, burst {burst}");
    }
}
