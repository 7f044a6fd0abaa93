//! What a chart shows, in the shape the uPlot bridge (`js/charts.js`) takes: a spec (series
//! names, units, colours, which two series bound a band) given once, and data (one x array in
//! seconds, one y array per series, `null` where a series has no point) replaced in place on
//! every update. Built here, natively tested; the bridge only draws.

use layercast_shared::{Forecast, SeriesWindow, WindowAnomaly};
use serde::Serialize;

use crate::format::BITS_PER_BYTE;

const MS_PER_S: f64 = 1_000.0;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSpec {
    pub label: String,
    /// The unit the tooltip and the axis format values in with SI prefixes (`bit/s`), or
    /// `%` for a ratio.
    pub unit: String,
    /// A CSS custom property of the theme (`--chart-1`), so the colours follow light and dark.
    pub color: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dashed: bool,
    /// Drawn as points only (anomalies).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub points: bool,
}

impl SeriesSpec {
    fn new(label: &str, unit: &str, color: &str) -> Self {
        SeriesSpec {
            label: label.to_owned(),
            unit: unit.to_owned(),
            color: color.to_owned(),
            dashed: false,
            points: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartSpec {
    pub title: String,
    pub series: Vec<SeriesSpec>,
    /// Indexes (into `series`) of the upper and lower bound of a filled band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<(usize, usize)>,
    /// A small chart without axes and legend (the overview's cards).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sparkline: bool,
    pub height: u32,
}

/// Columns of a chart: `x` in seconds since the epoch (uPlot's time unit), one `ys` per
/// series of the spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChartData {
    pub x: Vec<f64>,
    pub ys: Vec<Vec<Option<f64>>>,
}

/// Index of each series of [`entity_spec`].
pub const THROUGHPUT: usize = 0;
pub const FORECAST: usize = 1;
pub const UPPER: usize = 2;
pub const LOWER: usize = 3;
pub const CAPACITY: usize = 4;
pub const ANOMALY: usize = 5;
pub const ALERT: usize = 6;

/// An entity's throughput on one layer with its forecast, band, capacity, anomalies and alert
/// periods.
pub fn entity_spec(title: &str) -> ChartSpec {
    let mut forecast = SeriesSpec::new("forecast", "bit/s", "--chart-2");
    forecast.dashed = true;
    let mut capacity = SeriesSpec::new("capacity", "bit/s", "--chart-bad");
    capacity.dashed = true;
    let mut anomaly = SeriesSpec::new("anomaly", "bit/s", "--chart-warn");
    anomaly.points = true;
    let mut alert = SeriesSpec::new("alert", "bit/s", "--chart-bad");
    alert.points = true;
    ChartSpec {
        title: title.to_owned(),
        series: vec![
            SeriesSpec::new("throughput", "bit/s", "--chart-1"),
            forecast,
            SeriesSpec::new("forecast upper", "bit/s", "--chart-band"),
            SeriesSpec::new("forecast lower", "bit/s", "--chart-band"),
            capacity,
            anomaly,
            alert,
        ],
        band: Some((UPPER, LOWER)),
        sparkline: false,
        height: 220,
    }
}

/// The columns of [`entity_spec`]: history (bytes/s spoken as bits/s), the forecast after
/// it, the capacity as a flat line over the whole span, anomalies at their windows' starts,
/// and the throughput again, marked, in every window inside an alert's period (`(since,
/// until)` in ms; an open one runs to `i64::MAX`).
pub fn entity_data(
    history: &[SeriesWindow],
    forecast: Option<&Forecast>,
    capacity_bytes_per_s: Option<f64>,
    anomalies: &[WindowAnomaly],
    alert_periods: &[(i64, i64)],
) -> ChartData {
    let mut x: Vec<i64> = history.iter().map(|w| w.start_ms).collect();
    if let Some(f) = forecast {
        x.extend(f.points.iter().map(|p| p.ts_ms));
    }
    x.sort_unstable();
    x.dedup();
    let at = |ts: i64| x.binary_search(&ts).ok();
    let mut ys = vec![vec![None; x.len()]; ALERT + 1];
    for w in history {
        if let Some(i) = at(w.start_ms) {
            let value = Some(w.bytes_per_s * BITS_PER_BYTE);
            ys[THROUGHPUT][i] = value;
            if alert_periods
                .iter()
                .any(|&(since, until)| w.end_ms > since && w.start_ms < until)
            {
                ys[ALERT][i] = value;
            }
        }
    }
    if let Some(f) = forecast {
        for p in &f.points {
            if let Some(i) = at(p.ts_ms) {
                ys[FORECAST][i] = Some(p.value * BITS_PER_BYTE);
                ys[UPPER][i] = Some(p.upper * BITS_PER_BYTE);
                ys[LOWER][i] = Some(p.lower * BITS_PER_BYTE);
            }
        }
    }
    if let Some(c) = capacity_bytes_per_s {
        ys[CAPACITY] = vec![Some(c * BITS_PER_BYTE); x.len()];
    }
    for a in anomalies {
        if let (Some(i), Some(w)) = (
            at(a.start_ms),
            history.iter().find(|w| w.start_ms == a.start_ms),
        ) {
            ys[ANOMALY][i] = Some(w.bytes_per_s * BITS_PER_BYTE);
        }
    }
    ChartData {
        x: x.into_iter().map(|ms| ms as f64 / MS_PER_S).collect(),
        ys,
    }
}

/// A card's sparkline: one series.
pub fn sparkline_spec(title: &str, unit: &str) -> ChartSpec {
    ChartSpec {
        title: title.to_owned(),
        series: vec![SeriesSpec::new(title, unit, "--chart-1")],
        band: None,
        sparkline: true,
        height: 48,
    }
}

/// Points `(start_ms, value)` as one sorted series, the newest value of a start winning.
pub fn sparkline_data(points: impl IntoIterator<Item = (i64, f64)>) -> ChartData {
    let mut points: Vec<(i64, f64)> = points.into_iter().collect();
    // Stable sort, then keep the last of each start: later points are newer values.
    points.sort_by_key(|p| p.0);
    let mut deduped: Vec<(i64, f64)> = Vec::with_capacity(points.len());
    for p in points {
        match deduped.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => deduped.push(p),
        }
    }
    ChartData {
        x: deduped.iter().map(|p| p.0 as f64 / MS_PER_S).collect(),
        ys: vec![deduped.iter().map(|p| Some(p.1)).collect()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layercast_shared::{ForecastValue, OsiLayer, WindowMetric};

    fn window(start_ms: i64, bytes_per_s: f64) -> SeriesWindow {
        serde_json::from_value(serde_json::json!({
            "layer": "L3", "entity": "core-1", "start_ms": start_ms, "end_ms": start_ms + 60_000,
            "events": 1, "bytes": 0, "bytes_per_s": bytes_per_s, "final": true,
        }))
        .expect("a series window")
    }

    #[test]
    fn history_then_forecast_band_and_a_capacity_line_over_both() {
        let history = [window(0, 100.0), window(60_000, 110.0)];
        let forecast = Forecast {
            layer: OsiLayer::L3,
            entity: "core-1".into(),
            metric: "bytes_per_s".into(),
            points: vec![ForecastValue {
                ts_ms: 120_000,
                value: 120.0,
                lower: 100.0,
                upper: 140.0,
            }],
            runway: None,
        };
        let anomaly = WindowAnomaly {
            layer: OsiLayer::L3,
            entity: "core-1".into(),
            metric: WindowMetric::BytesPerS,
            start_ms: 60_000,
            end_ms: 120_000,
            value: 110.0,
            score: 0.99,
        };
        let data = entity_data(
            &history,
            Some(&forecast),
            Some(150.0),
            &[anomaly],
            &[(70_000, i64::MAX)],
        );
        assert_eq!(data.x, [0.0, 60.0, 120.0]);
        assert_eq!(data.ys[THROUGHPUT], [Some(800.0), Some(880.0), None]);
        assert_eq!(data.ys[FORECAST], [None, None, Some(960.0)]);
        assert_eq!(data.ys[UPPER][2], Some(1120.0));
        assert_eq!(data.ys[LOWER][2], Some(800.0));
        assert_eq!(data.ys[CAPACITY], [Some(1200.0); 3]);
        assert_eq!(data.ys[ANOMALY], [None, Some(880.0), None]);
        assert_eq!(
            data.ys[ALERT],
            [None, Some(880.0), None],
            "the window the alert began in"
        );
        assert_eq!(entity_spec("L3").series.len(), data.ys.len());
    }

    #[test]
    fn without_forecast_or_capacity_those_series_stay_empty() {
        let data = entity_data(&[window(0, 1.0)], None, None, &[], &[(60_000, 120_000)]);
        assert_eq!(
            data.ys[ALERT],
            [None],
            "a period after the window marks nothing"
        );
        assert_eq!(data.ys[CAPACITY], [None]);
        assert_eq!(data.ys[FORECAST], [None]);
    }

    #[test]
    fn sparklines_sort_and_keep_the_newest_value_of_a_window() {
        let data = sparkline_data([(20_000, 3.0), (10_000, 1.0), (20_000, 4.0)]);
        assert_eq!(data.x, [10.0, 20.0]);
        assert_eq!(data.ys, [vec![Some(1.0), Some(4.0)]]);
    }
}
