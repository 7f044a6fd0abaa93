//! The Numenta Anomaly Benchmark's score, as its `sweeper.py` and optimiser define it, so that
//! our detector is measured by the same yardstick as the published ones.
//!
//! - A point *detects* when its anomaly score is at or above the threshold.
//! - In each labelled window only the first detection counts: it earns
//!   `tp_weight * scaled_sigmoid(y) / scaled_sigmoid(-1)`, where `y` runs from -1 at the window's
//!   first point to 0 just past its last (NAB's `-(right - i + 1) / width`), so a detection at
//!   the window's start earns exactly `tp_weight`.
//! - A detection outside every window costs `fp_weight * scaled_sigmoid(d)`, `d` being the
//!   distance past the preceding window's end relative to that window's width (so a detection
//!   right after a window costs little); before any window it costs the full `fp_weight`.
//! - A window without a detection costs `fn_weight`.
//! - The first 15% of each file (at most 750 points) is probationary: nothing counts there.
//! - One threshold for the whole corpus, the one that maximises the summed score (NAB's
//!   optimiser), then `100 * (raw - null) / (perfect - null)` with `null = -fn_weight * windows`
//!   (a detector that never fires) and `perfect = tp_weight * windows`.
//!
//! Pure: windows come in as point indices (the caller matches timestamps), scores as `f64`.

/// Part of a file that is probationary, as a fraction of its points.
pub const PROBATIONARY_FRACTION: f64 = 0.15;
/// Upper bound of the probationary part, points (NAB: 15% of 5,000).
pub const PROBATIONARY_MAX_POINTS: usize = 750;
/// Relative distance past a window from which a false positive costs the full weight.
const FAR_PAST_WINDOW: f64 = 3.0;
/// Steepness of NAB's scaled sigmoid.
const SIGMOID_STEEPNESS: f64 = 5.0;

/// Weights of one NAB scoring profile (`profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostProfile {
    pub name: &'static str,
    /// Reward of a window detected at its very start.
    pub tp_weight: f64,
    /// Cost of a detection far from any window.
    pub fp_weight: f64,
    /// Cost of a window without detection.
    pub fn_weight: f64,
}

impl CostProfile {
    pub const STANDARD: Self = Self {
        name: "standard",
        tp_weight: 1.0,
        fp_weight: 0.11,
        fn_weight: 1.0,
    };
    pub const REWARD_LOW_FP: Self = Self {
        name: "reward_low_FP_rate",
        tp_weight: 1.0,
        fp_weight: 0.22,
        fn_weight: 1.0,
    };
    pub const REWARD_LOW_FN: Self = Self {
        name: "reward_low_FN_rate",
        tp_weight: 1.0,
        fp_weight: 0.11,
        fn_weight: 2.0,
    };
    /// NAB's three profiles.
    pub const ALL: [Self; 3] = [Self::STANDARD, Self::REWARD_LOW_FP, Self::REWARD_LOW_FN];
}

/// A labelled window: first and last point index, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub first: usize,
    pub last: usize,
}

/// NAB's scaled sigmoid: about 0.987 at -1 (a window's start), 0 at 0 (its end), about -0.987 at
/// +1 and -1 from 3 on.
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y >= FAR_PAST_WINDOW {
        -1.0
    } else {
        2.0 / (1.0 + (SIGMOID_STEEPNESS * y).exp()) - 1.0
    }
}

/// Points at the start of a file of `len` points where no detection counts.
pub fn probationary_len(len: usize) -> usize {
    ((PROBATIONARY_FRACTION * len as f64).floor() as usize).min(PROBATIONARY_MAX_POINTS)
}

/// One scorable point of a file: its anomaly score, the window it lies in and what detecting it
/// is worth (positive in a window, negative outside, before the profile's weights).
#[derive(Debug, Clone, Copy)]
struct Scorable {
    score: f64,
    /// Index of the window in the corpus, `None` outside every window.
    window: Option<usize>,
    /// Unweighted worth: scaled sigmoid of the relative position (normalised to 1 at a
    /// window's start for true positives).
    worth: f64,
}

/// Scores of one file, ready for the threshold sweep.
#[derive(Debug, Clone, Default)]
pub struct FileSweep {
    points: Vec<Scorable>,
    /// Windows that have at least one scorable point (NAB ignores windows inside probation).
    windows: usize,
}

impl FileSweep {
    /// Prepares a file: `scores[i]` is the detector's score of point `i`, `windows` sorted,
    /// non-overlapping and inside `0..scores.len()`.
    pub fn new(scores: &[f64], windows: &[Window]) -> Self {
        let max_tp = scaled_sigmoid(-1.0);
        let probation = probationary_len(scores.len());
        let mut points = Vec::with_capacity(scores.len().saturating_sub(probation));
        let mut counted = vec![false; windows.len()];
        let mut next = 0; // the first window not yet passed
        let mut prev: Option<Window> = None;
        for (i, &score) in scores.iter().enumerate() {
            while next < windows.len() && windows[next].last < i {
                prev = Some(windows[next]);
                next += 1;
            }
            let inside = windows.get(next).filter(|w| w.first <= i);
            let (window, worth) = match (inside, prev) {
                (Some(w), _) => {
                    let width = (w.last - w.first + 1) as f64;
                    let y = -((w.last - i + 1) as f64) / width;
                    (Some(next), scaled_sigmoid(y) / max_tp)
                }
                (None, Some(p)) => {
                    let width = (p.last - p.first + 1) as f64;
                    // NAB divides by width - 1; a one-point window would divide by zero.
                    let d = (i - p.last) as f64 / (width - 1.0).max(1.0);
                    (None, scaled_sigmoid(d))
                }
                (None, None) => (None, -1.0),
            };
            if i < probation {
                continue;
            }
            if let Some(w) = window {
                counted[w] = true;
            }
            points.push(Scorable {
                score,
                window,
                worth,
            });
        }
        Self {
            points,
            windows: counted.iter().filter(|&&c| c).count(),
        }
    }

    /// Labelled windows that count in this file.
    pub fn windows(&self) -> usize {
        self.windows
    }
}

/// The corpus score of one profile at its best threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorpusScore {
    /// Lowest anomaly score that detects; `f64::INFINITY` when never firing is best.
    pub threshold: f64,
    /// Summed raw score over the corpus.
    pub raw: f64,
    /// NAB's normalised score: 0 for a detector that never fires, 100 for a perfect one.
    pub normalized: f64,
    /// Windows with a detection.
    pub detected_windows: usize,
    /// Windows in the corpus.
    pub windows: usize,
    /// Detections outside every window.
    pub false_positives: usize,
}

/// Raw score of one file at a fixed threshold.
pub fn raw_score(file: &FileSweep, threshold: f64, profile: &CostProfile) -> f64 {
    let mut best = vec![
        None::<f64>;
        file.points
            .iter()
            .filter_map(|p| p.window)
            .max()
            .map_or(0, |w| w + 1)
    ];
    let mut fp = 0.0;
    for p in file.points.iter().filter(|p| p.score >= threshold) {
        match p.window {
            Some(w) => best[w] = Some(best[w].map_or(p.worth, |b: f64| b.max(p.worth))),
            None => fp += p.worth * profile.fp_weight,
        }
    }
    let tp: f64 = best.iter().flatten().map(|w| w * profile.tp_weight).sum();
    let missed = file.windows - best.iter().flatten().count();
    tp + fp - missed as f64 * profile.fn_weight
}

/// NAB's optimiser: the threshold that maximises the corpus score, tried at every distinct
/// anomaly score of the corpus (and above them all).
pub fn optimise(files: &[FileSweep], profile: &CostProfile) -> CorpusScore {
    let windows: usize = files.iter().map(|f| f.windows).sum();
    // Window ids unique across the corpus.
    let mut offset = 0;
    let mut all = Vec::with_capacity(files.iter().map(|f| f.points.len()).sum());
    for f in files {
        let n = f
            .points
            .iter()
            .filter_map(|p| p.window)
            .max()
            .map_or(0, |w| w + 1);
        all.extend(f.points.iter().map(|p| Scorable {
            window: p.window.map(|w| w + offset),
            ..*p
        }));
        offset += n;
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));

    let null = -(windows as f64) * profile.fn_weight;
    let mut window_best = vec![None::<f64>; offset];
    let (mut tp_sum, mut fp_sum, mut fp_count, mut detected) = (0.0, 0.0, 0usize, 0usize);
    let mut best = (f64::INFINITY, null, 0, 0);
    let mut i = 0;
    while i < all.len() {
        let threshold = all[i].score;
        while i < all.len() && all[i].score == threshold {
            let p = all[i];
            match p.window {
                Some(w) => {
                    let worth = p.worth * profile.tp_weight;
                    match window_best[w] {
                        None => {
                            window_best[w] = Some(worth);
                            detected += 1;
                            tp_sum += worth;
                        }
                        Some(b) if worth > b => {
                            window_best[w] = Some(worth);
                            tp_sum += worth - b;
                        }
                        Some(_) => {}
                    }
                }
                None => {
                    fp_sum += p.worth * profile.fp_weight;
                    fp_count += 1;
                }
            }
            i += 1;
        }
        let raw = tp_sum + fp_sum - (windows - detected) as f64 * profile.fn_weight;
        if raw > best.1 {
            best = (threshold, raw, detected, fp_count);
        }
    }
    let perfect = windows as f64 * profile.tp_weight;
    let normalized = if perfect > null {
        100.0 * (best.1 - null) / (perfect - null)
    } else {
        0.0
    };
    CorpusScore {
        threshold: best.0,
        raw: best.1,
        normalized,
        detected_windows: best.2,
        windows,
        false_positives: best.3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 1000;
    const W1: Window = Window {
        first: 300,
        last: 399,
    };
    const W2: Window = Window {
        first: 700,
        last: 749,
    };

    fn scores_with(hits: &[usize]) -> Vec<f64> {
        let mut s = vec![0.0; LEN];
        for &h in hits {
            s[h] = 1.0;
        }
        s
    }

    fn normalized(hits: &[usize], profile: &CostProfile) -> f64 {
        optimise(&[FileSweep::new(&scores_with(hits), &[W1, W2])], profile).normalized
    }

    #[test]
    fn scaled_sigmoid_matches_nab_reference_points() {
        assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 1e-5);
        assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 1e-5);
        assert!(scaled_sigmoid(0.0).abs() < 1e-12);
        assert!((scaled_sigmoid(1.0) + 0.98661).abs() < 1e-5);
        assert_eq!(scaled_sigmoid(3.5), -1.0);
    }

    #[test]
    fn probation_is_fifteen_percent_capped() {
        assert_eq!(probationary_len(1000), 150);
        assert_eq!(probationary_len(4032), 604);
        assert_eq!(probationary_len(10_000), 750);
    }

    #[test]
    fn null_detector_scores_zero_and_perfect_scores_hundred() {
        for p in CostProfile::ALL {
            assert!(normalized(&[], &p).abs() < 1e-9);
            assert!(
                (normalized(&[W1.first, W2.first], &p) - 100.0).abs() < 1e-9,
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn a_late_detection_earns_less_than_an_early_one() {
        let p = CostProfile::STANDARD;
        let early = normalized(&[W1.first + 10, W2.first], &p);
        let late = normalized(&[W1.first + 80, W2.first], &p);
        assert!(early > late && late > 50.0, "early {early}, late {late}");
    }

    #[test]
    fn only_the_first_detection_in_a_window_counts() {
        let p = CostProfile::STANDARD;
        let once = normalized(&[W1.first, W2.first], &p);
        let many = normalized(&[W1.first, W1.first + 5, W1.last, W2.first], &p);
        assert_eq!(once, many);
    }

    #[test]
    fn a_false_positive_far_from_windows_costs_fp_weight() {
        let p = CostProfile::STANDARD;
        let file = FileSweep::new(&scores_with(&[W1.first, W2.first, 200]), &[W1, W2]);
        let clean = FileSweep::new(&scores_with(&[W1.first, W2.first]), &[W1, W2]);
        let cost = raw_score(&clean, 0.5, &p) - raw_score(&file, 0.5, &p);
        assert!((cost - 0.11).abs() < 1e-12, "{cost}");
        // Right after a window it costs almost nothing, far after it nearly the full weight.
        let near = FileSweep::new(&scores_with(&[W1.first, W2.first, W1.last + 1]), &[W1, W2]);
        let far = FileSweep::new(
            &scores_with(&[W1.first, W2.first, W1.last + 250]),
            &[W1, W2],
        );
        let near_cost = raw_score(&clean, 0.5, &p) - raw_score(&near, 0.5, &p);
        let far_cost = raw_score(&clean, 0.5, &p) - raw_score(&far, 0.5, &p);
        assert!(
            near_cost < 0.01 && far_cost > 0.1,
            "near {near_cost}, far {far_cost}"
        );
    }

    #[test]
    fn detections_in_probation_count_nothing() {
        let p = CostProfile::STANDARD;
        assert!(normalized(&[10, 20], &p).abs() < 1e-9);
    }

    #[test]
    fn optimiser_picks_the_threshold_that_drops_the_false_positive() {
        let mut s = scores_with(&[]);
        s[W1.first] = 0.9;
        s[W2.first] = 0.8;
        s[500] = 0.5; // a false positive, lower than both true ones
        let r = optimise(&[FileSweep::new(&s, &[W1, W2])], &CostProfile::STANDARD);
        assert_eq!(r.threshold, 0.8);
        assert_eq!((r.detected_windows, r.false_positives), (2, 0));
        assert!((r.normalized - 100.0).abs() < 1e-9);
    }

    #[test]
    fn optimiser_agrees_with_raw_score_at_its_threshold() {
        let s: Vec<f64> = (0..LEN)
            .map(|i| ((i * 7919) % 101) as f64 / 100.0)
            .collect();
        let file = FileSweep::new(&s, &[W1, W2]);
        for p in CostProfile::ALL {
            let r = optimise(std::slice::from_ref(&file), &p);
            assert!((raw_score(&file, r.threshold, &p) - r.raw).abs() < 1e-9);
            for t in [0.0, 0.3, 0.9, 1.0] {
                assert!(raw_score(&file, t, &p) <= r.raw + 1e-9);
            }
        }
    }
}
