//! What an overview card says about a layer: its throughput and error rate now, a sparkline of
//! the last hour, its trend, its anomalies and its shortest runway, from the REST answers the
//! page loaded and the live windows that came after.

use layercast_shared::{
    LayerSeriesWindow, LayerWindow, OsiLayer, SeriesRunway, SeriesTrend, WindowAnomaly,
};

use super::chart_data::{sparkline_data, ChartData};
use super::layer_table::PLANNED_METRIC;
use super::runway::rank;
use crate::format::BITS_PER_BYTE;

const MS_PER_S: f64 = 1_000.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerSummary {
    /// Bytes per second of the newest window.
    pub bytes_per_s: Option<f64>,
    /// The newest window's values are final (a provisional one is shown as such).
    pub is_final: bool,
    pub error_rate: Option<f64>,
    /// Latency p95 of the newest window that has one: final windows only carry the layer's
    /// latency (its entities' sketches merged when the window closes).
    pub latency_p95_ms: Option<f64>,
    /// Throughput in bits/s over the last hour.
    pub sparkline: ChartData,
    /// The layer-wide series' throughput trend.
    pub trend: Option<SeriesTrend>,
    /// The soonest full series of the layer.
    pub runway: Option<SeriesRunway>,
    pub anomalies: usize,
}

fn rate(bytes: u64, start_ms: i64, end_ms: i64) -> f64 {
    bytes as f64 / ((end_ms - start_ms).max(1) as f64 / MS_PER_S)
}

/// Sums a layer's picture from what was loaded (`rest`, the stored layer windows of the last
/// hour) and what the live feed brought since (`live`, newer wins for the same window).
pub fn summarize(
    layer: OsiLayer,
    rest: &[LayerSeriesWindow],
    live: &[LayerWindow],
    trends: &[SeriesTrend],
    runway: &[SeriesRunway],
    anomalies: &[WindowAnomaly],
) -> LayerSummary {
    let rest = rest.iter().filter(|w| w.layer == layer);
    let live_points = live.iter().filter(|w| w.layer == layer).map(|w| {
        (
            w.start_ms,
            rate(w.bytes, w.start_ms, w.end_ms) * BITS_PER_BYTE,
        )
    });
    let sparkline = sparkline_data(
        rest.clone()
            .map(|w| (w.start_ms, w.bytes_per_s * BITS_PER_BYTE))
            .chain(live_points),
    );
    let newest_live = live
        .iter()
        .filter(|w| w.layer == layer)
        .max_by_key(|w| w.start_ms);
    let newest_rest = rest.clone().max_by_key(|w| w.start_ms);
    let (bytes_per_s, is_final, error_rate) = match (newest_live, newest_rest) {
        (Some(l), Some(r)) if r.start_ms > l.start_ms => (
            Some(r.bytes_per_s),
            r.is_final,
            layercast_shared::error_rate(layer, r.errors, r.packets, r.connections, r.requests),
        ),
        (Some(l), _) => (
            Some(rate(l.bytes, l.start_ms, l.end_ms)),
            l.is_final,
            l.error_rate,
        ),
        (None, Some(r)) => (
            Some(r.bytes_per_s),
            r.is_final,
            layercast_shared::error_rate(layer, r.errors, r.packets, r.connections, r.requests),
        ),
        (None, None) => (None, false, None),
    };
    let latency_live = live
        .iter()
        .filter(|w| w.layer == layer)
        .filter_map(|w| Some((w.start_ms, w.latency.as_ref()?.p95_ms)));
    let latency_rest = rest
        .clone()
        .filter_map(|w| Some((w.start_ms, w.latency.as_ref()?.p95_ms)));
    let latency_p95_ms = latency_live
        .chain(latency_rest)
        .max_by_key(|(start, _)| *start)
        .map(|(_, p95)| p95);
    LayerSummary {
        bytes_per_s,
        is_final,
        error_rate,
        latency_p95_ms,
        sparkline,
        trend: trends
            .iter()
            .find(|t| t.layer == layer && t.entity.is_empty() && t.metric == PLANNED_METRIC)
            .cloned(),
        runway: rank(
            runway
                .iter()
                .filter(|r| r.layer == layer)
                .cloned()
                .collect(),
        )
        .into_iter()
        .next(),
        anomalies: anomalies.iter().filter(|a| a.layer == layer).count(),
    }
}

/// The arrow of a trend's direction.
pub fn trend_arrow(direction: &str) -> &'static str {
    match direction {
        "up" => "↗",
        "down" => "↘",
        _ => "→",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(start_ms: i64, bytes_per_s: f64) -> LayerSeriesWindow {
        serde_json::from_value(serde_json::json!({
            "layer": "L3", "start_ms": start_ms, "end_ms": start_ms + 10_000, "events": 1,
            "bytes": 0, "packets": 100, "connections": 0, "requests": 0, "errors": 1,
            "bytes_per_s": bytes_per_s, "events_per_s": 0.0, "final": true, "sources": 1,
        }))
        .expect("a layer series window")
    }

    fn live(start_ms: i64, bytes: u64, is_final: bool) -> LayerWindow {
        serde_json::from_value(serde_json::json!({
            "layer": "L3", "start_ms": start_ms, "end_ms": start_ms + 10_000, "events": 1,
            "bytes": bytes, "error_rate": 0.5, "is_final": is_final,
        }))
        .expect("a layer window")
    }

    #[test]
    fn the_newest_window_wins_and_live_points_extend_the_sparkline() {
        let s = summarize(
            OsiLayer::L3,
            &[stored(0, 10.0), stored(10_000, 20.0)],
            &[live(20_000, 1_000, false)],
            &[],
            &[],
            &[],
        );
        assert_eq!(s.bytes_per_s, Some(100.0));
        assert!(!s.is_final, "a provisional window shows as provisional");
        assert_eq!(s.error_rate, Some(0.5));
        assert_eq!(s.sparkline.x, [0.0, 10.0, 20.0]);
        assert_eq!(s.sparkline.ys[0][2], Some(800.0));

        let only_rest = summarize(OsiLayer::L3, &[stored(0, 10.0)], &[], &[], &[], &[]);
        assert_eq!(only_rest.error_rate, Some(0.01));
        assert!(only_rest.is_final);
        let other_layer = summarize(OsiLayer::L4, &[stored(0, 10.0)], &[], &[], &[], &[]);
        assert_eq!(other_layer.bytes_per_s, None);
    }

    #[test]
    fn the_shortest_runway_and_the_layer_wide_trend() {
        let runway = |entity: &str, days: f64| SeriesRunway {
            layer: OsiLayer::L3,
            entity: entity.into(),
            metric: PLANNED_METRIC.into(),
            capacity: 1.0,
            current: 0.5,
            days_until_full: Some(days),
            state: "filling".into(),
            at_ms: 0,
        };
        let trend = SeriesTrend {
            layer: OsiLayer::L3,
            entity: String::new(),
            metric: PLANNED_METRIC.into(),
            direction: "up".into(),
            slope_per_day: 1.0,
            slope_low: 0.5,
            slope_high: 1.5,
            p_value: 0.01,
            buckets: 24,
            at_ms: 0,
        };
        let s = summarize(
            OsiLayer::L3,
            &[],
            &[],
            &[trend],
            &[runway("a", 9.0), runway("b", 2.0)],
            &[],
        );
        assert_eq!(s.runway.map(|r| r.entity), Some("b".to_owned()));
        assert_eq!(s.trend.map(|t| trend_arrow(&t.direction)), Some("↗"));
    }

    #[test]
    fn the_layer_latency_is_the_newest_final_windows_p95() {
        let with_latency = |start_ms: i64, p95: f64| -> LayerSeriesWindow {
            let mut w = stored(start_ms, 10.0);
            w.latency = Some(layercast_shared::LatencySummary {
                count: 10,
                min_ms: 1.0,
                max_ms: p95 * 2.0,
                mean_ms: p95 / 2.0,
                p50_ms: p95 / 2.0,
                p95_ms: p95,
                p99_ms: p95 * 1.5,
            });
            w
        };
        let s = summarize(
            OsiLayer::L3,
            &[
                with_latency(0, 40.0),
                with_latency(10_000, 55.0),
                stored(20_000, 1.0),
            ],
            &[live(30_000, 1_000, false)],
            &[],
            &[],
            &[],
        );
        assert_eq!(s.latency_p95_ms, Some(55.0), "the open windows carry none");
        let none = summarize(OsiLayer::L3, &[stored(0, 1.0)], &[], &[], &[], &[]);
        assert_eq!(none.latency_p95_ms, None);
    }
}
