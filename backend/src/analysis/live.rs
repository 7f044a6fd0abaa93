//! The detectors of the running stream: every closed window of a series is a point of its
//! throughput, error and latency series, scored by that series' anomaly detector.

use std::collections::HashMap;

use layercast_shared::{OsiLayer, SeriesWindow, WindowAnomaly, WindowMetric as Metric};

use super::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyState};

/// Missing windows filled with zero traffic between two closed ones, at most: a series quiet
/// for longer starts afresh (the detector relearns it) rather than walking through hours of
/// zeros it would then call normal.
const MAX_FILLED_WINDOWS: i64 = 360;

/// The detectors of one series. Latency's is made on the first window that has latency: most
/// layers never measure one, and a detector is a few kilobytes.
struct SeriesDetectors {
    last_start_ms: i64,
    bytes_per_s: AnomalyDetector,
    errors: AnomalyDetector,
    latency_ms: Option<Box<AnomalyDetector>>,
}

/// Detectors of every series a partition holds. Feed it the final windows of the base length,
/// oldest first per series; a window at or before one already seen is ignored (a replay).
pub struct LiveDetectors {
    /// A fresh detector, cloned for every new series; `None` when the configuration is
    /// invalid (then nothing is detected).
    fresh: Option<AnomalyDetector>,
    len_ms: i64,
    /// Boxed: a series' detectors are kilobytes, and the table moves its entries each time it
    /// grows (at a partition's first close, its thousands of series arrive at once: copying
    /// them was most of that close's time).
    series: HashMap<(OsiLayer, String), Box<SeriesDetectors>>,
}

impl LiveDetectors {
    pub fn new(config: AnomalyConfig, len_ms: i64) -> Self {
        LiveDetectors {
            fresh: AnomalyDetector::new(config).ok(),
            len_ms: len_ms.max(1),
            series: HashMap::new(),
        }
    }

    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// Learns from history (windows closed before this node took the partition over) without
    /// reporting: they were reported when they closed.
    pub fn warm(&mut self, w: &SeriesWindow) {
        let _ = self.observe(w);
    }

    /// Scores a closed window; returns what is unusual in it.
    pub fn observe(&mut self, w: &SeriesWindow) -> Vec<WindowAnomaly> {
        self.observe_scored(w).0
    }

    /// As [`observe`](Self::observe), with the window's scores for the alert rules.
    pub fn observe_scored(&mut self, w: &SeriesWindow) -> (Vec<WindowAnomaly>, Scores) {
        let mut scores = Scores::default();
        if w.end_ms - w.start_ms != self.len_ms {
            return (Vec::new(), scores);
        }
        let Some(fresh) = &self.fresh else {
            return (Vec::new(), scores);
        };
        let key = (w.layer, w.entity.clone());
        let s = self.series.entry(key).or_insert_with(|| {
            Box::new(SeriesDetectors {
                last_start_ms: w.start_ms - self.len_ms,
                bytes_per_s: fresh.clone(),
                errors: fresh.clone(),
                latency_ms: None,
            })
        });
        if w.start_ms <= s.last_start_ms {
            return (Vec::new(), scores);
        }
        let missing = (w.start_ms - s.last_start_ms) / self.len_ms - 1;
        // (metric, window start, value, verdict)
        let mut points = Vec::new();
        if missing > MAX_FILLED_WINDOWS {
            **s = SeriesDetectors {
                last_start_ms: w.start_ms,
                bytes_per_s: fresh.clone(),
                errors: fresh.clone(),
                latency_ms: None,
            };
        } else {
            // A window without a record is zero traffic and zero errors (a link that went
            // silent is news); latency is unknown there.
            for i in 1..=missing {
                let at = s.last_start_ms + i * self.len_ms;
                points.push((Metric::BytesPerS, at, 0.0, s.bytes_per_s.push(at, 0.0)));
                s.errors.push(at, 0.0);
            }
        }
        s.last_start_ms = w.start_ms;
        points.push((
            Metric::BytesPerS,
            w.start_ms,
            w.bytes_per_s,
            s.bytes_per_s.push(w.start_ms, w.bytes_per_s),
        ));
        points.push((
            Metric::Errors,
            w.start_ms,
            w.errors as f64,
            s.errors.push(w.start_ms, w.errors as f64),
        ));
        if let Some(latency) = &w.latency {
            let detector = s.latency_ms.get_or_insert_with(|| Box::new(fresh.clone()));
            points.push((
                Metric::LatencyMs,
                w.start_ms,
                latency.mean_ms,
                detector.push(w.start_ms, latency.mean_ms),
            ));
        }
        for (metric, start_ms, _, p) in &points {
            if *start_ms != w.start_ms || p.state == AnomalyState::Warming {
                continue;
            }
            match metric {
                Metric::BytesPerS => scores.bytes_per_s = Some(p.score),
                Metric::Errors => scores.errors = Some(p.score),
                Metric::LatencyMs => scores.latency_ms = Some(p.score),
            }
        }
        let found = points
            .into_iter()
            .filter(|(_, _, _, p)| p.alert)
            .map(|(metric, start_ms, value, p)| WindowAnomaly {
                layer: w.layer,
                entity: w.entity.clone(),
                metric,
                start_ms,
                end_ms: start_ms + self.len_ms,
                value,
                score: p.score,
            })
            .collect();
        (found, scores)
    }
}

/// A window's anomaly scores per detector, `None` where the detector is still warming (a rule
/// on the score keeps its state then).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub bytes_per_s: Option<f64>,
    pub errors: Option<f64>,
    pub latency_ms: Option<f64>,
}

impl Scores {
    /// The score a rule on `metric` reads: throughput's for the rates and sums of traffic,
    /// the error detector's for errors, latency's for the latency percentiles.
    pub fn of_metric(&self, metric: &str) -> Option<f64> {
        match metric {
            "errors" | "error_rate" => self.errors,
            m if m.starts_with("latency_") => self.latency_ms,
            _ => self.bytes_per_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: i64 = 10_000;

    fn window(start_ms: i64, bytes: u64) -> SeriesWindow {
        SeriesWindow {
            layer: OsiLayer::L3,
            entity: "link".into(),
            start_ms,
            end_ms: start_ms + LEN,
            events: 10,
            bytes,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            bytes_min: 0,
            bytes_max: 0,
            bytes_per_s: bytes as f64 / 10.0,
            events_per_s: 1.0,
            latency: None,
            error_rate: None,
            error_classes: Default::default(),
            is_final: true,
            closed_at_ms: None,
        }
    }

    /// A steady link with a little noise, for long enough to warm up (more than an hour).
    fn steady(d: &mut LiveDetectors, windows: i64) {
        for i in 0..windows {
            d.warm(&window(i * LEN, 1_000_000 + (i % 7) as u64 * 1_000));
        }
    }

    #[test]
    fn a_burst_after_a_steady_hour_is_an_anomaly_and_steady_windows_are_not() {
        let mut d = LiveDetectors::new(AnomalyConfig::default(), LEN);
        steady(&mut d, 720);
        assert!(
            d.observe(&window(720 * LEN, 1_003_000)).is_empty(),
            "usual traffic"
        );
        let found = d.observe(&window(721 * LEN, 60_000_000));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].metric, found[0].start_ms),
            (Metric::BytesPerS, 721 * LEN)
        );
        assert!(found[0].score >= 0.5);
    }

    #[test]
    fn windows_seen_before_are_ignored_and_other_lengths_too() {
        let mut d = LiveDetectors::new(AnomalyConfig::default(), LEN);
        steady(&mut d, 720);
        assert!(
            d.observe(&window(10 * LEN, 60_000_000)).is_empty(),
            "a replayed old window"
        );
        let mut minute = window(0, 60_000_000);
        minute.end_ms = 60_000;
        assert!(
            d.observe(&minute).is_empty(),
            "a roll-up is not a point of the base series"
        );
        assert_eq!(d.series(), 1);
    }

    #[test]
    fn a_link_gone_silent_is_flagged_at_its_first_empty_window_and_a_long_silence_starts_afresh() {
        let mut d = LiveDetectors::new(AnomalyConfig::default(), LEN);
        steady(&mut d, 720);
        // Eleven windows without a record, then traffic again: the drop to nothing is the news,
        // found when the series speaks next (an empty window has no row to close).
        let found = d.observe(&window(731 * LEN, 1_000_000));
        let first = found.first().expect("the silence is flagged");
        assert_eq!(
            (first.metric, first.start_ms, first.value),
            (Metric::BytesPerS, 720 * LEN, 0.0)
        );
        // After days of silence the detector relearns: nothing is flagged while warming.
        assert!(d.observe(&window(100_000 * LEN, 90_000_000)).is_empty());
    }
}
