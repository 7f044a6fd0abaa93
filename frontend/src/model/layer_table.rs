//! The layer page's table: one row per entity of the layer, from its newest window, its
//! capacity, runway and anomaly score; sorted by a column and filtered by a name pattern.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use layercast_shared::{SeriesRunway, SeriesWindow, WindowAnomaly};

use super::wire::Capacity;

/// The metric utilisation and runway are shown for: links are planned by throughput.
pub const PLANNED_METRIC: &str = "bytes_per_s";

#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    pub entity: String,
    pub bytes_per_s: f64,
    /// Throughput out of the capacity set for it (1.0 = full); `None` without a capacity.
    pub utilisation: Option<f64>,
    pub runway_days: Option<f64>,
    /// The runway's state (`full`, `filling`, `never`, `learning`) when there is one.
    pub runway_state: Option<String>,
    pub error_rate: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Highest anomaly score among the entity's recent anomalies.
    pub anomaly_score: Option<f64>,
    /// The window's values are final; a provisional row is shown as such.
    pub is_final: bool,
}

/// The columns a planner sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Entity,
    Throughput,
    Utilisation,
    Runway,
    ErrorRate,
    Latency,
    Anomaly,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        SortKey::Entity,
        SortKey::Throughput,
        SortKey::Utilisation,
        SortKey::Runway,
        SortKey::ErrorRate,
        SortKey::Latency,
        SortKey::Anomaly,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortKey::Entity => "Entity",
            SortKey::Throughput => "Throughput",
            SortKey::Utilisation => "Utilisation",
            SortKey::Runway => "Runway",
            SortKey::ErrorRate => "Error rate",
            SortKey::Latency => "Latency p95",
            SortKey::Anomaly => "Anomaly",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            SortKey::Entity => "entity",
            SortKey::Throughput => "throughput",
            SortKey::Utilisation => "utilisation",
            SortKey::Runway => "runway",
            SortKey::ErrorRate => "error-rate",
            SortKey::Latency => "latency",
            SortKey::Anomaly => "anomaly",
        }
    }

    /// The direction a first click sorts in: the worst first (busiest, soonest full).
    pub fn worst_first(self) -> bool {
        !matches!(self, SortKey::Entity | SortKey::Runway)
    }
}

/// One row per entity of `windows` (its newest window), joined with what is known of it.
pub fn build_rows(
    windows: &[SeriesWindow],
    capacities: &[Capacity],
    runway: &[SeriesRunway],
    anomalies: &[WindowAnomaly],
) -> Vec<LayerRow> {
    let mut newest: BTreeMap<&str, &SeriesWindow> = BTreeMap::new();
    for w in windows {
        let slot = newest.entry(&w.entity).or_insert(w);
        if w.start_ms > slot.start_ms {
            *slot = w;
        }
    }
    newest
        .into_values()
        .map(|w| {
            let capacity = capacities
                .iter()
                .find(|c| c.entity == w.entity && c.layer == w.layer && c.metric == PLANNED_METRIC)
                .map(|c| c.capacity)
                .filter(|c| *c > 0.0);
            let run = runway
                .iter()
                .find(|r| r.entity == w.entity && r.layer == w.layer && r.metric == PLANNED_METRIC);
            let anomaly_score = anomalies
                .iter()
                .filter(|a| a.entity == w.entity && a.layer == w.layer)
                .map(|a| a.score)
                .fold(None, |best: Option<f64>, s| {
                    Some(best.map_or(s, |b| b.max(s)))
                });
            LayerRow {
                entity: w.entity.clone(),
                bytes_per_s: w.bytes_per_s,
                utilisation: capacity.map(|c| w.bytes_per_s / c),
                runway_days: run.and_then(|r| match r.state.as_str() {
                    "full" => Some(0.0),
                    _ => r.days_until_full,
                }),
                runway_state: run.map(|r| r.state.clone()),
                error_rate: w.error_rate,
                latency_p95_ms: w.latency.as_ref().map(|l| l.p95_ms),
                anomaly_score,
                is_final: w.is_final,
            }
        })
        .collect()
}

fn key_value(row: &LayerRow, key: SortKey) -> Option<f64> {
    match key {
        SortKey::Entity => None,
        SortKey::Throughput => Some(row.bytes_per_s),
        SortKey::Utilisation => row.utilisation,
        SortKey::Runway => row.runway_days,
        SortKey::ErrorRate => row.error_rate,
        SortKey::Latency => row.latency_p95_ms,
        SortKey::Anomaly => row.anomaly_score,
    }
}

/// Sorts by `key`, descending when `descending`; rows without the value come last either way
/// (an entity without a capacity is not "least utilised"), ties by name.
pub fn sort_rows(rows: &mut [LayerRow], key: SortKey, descending: bool) {
    rows.sort_by(|a, b| {
        let by_key = if key == SortKey::Entity {
            let o = a.entity.cmp(&b.entity);
            if descending {
                o.reverse()
            } else {
                o
            }
        } else {
            match (key_value(a, key), key_value(b, key)) {
                (Some(x), Some(y)) => {
                    let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                    if descending {
                        o.reverse()
                    } else {
                        o
                    }
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        };
        by_key.then_with(|| a.entity.cmp(&b.entity))
    });
}

/// Whether `name` matches `pattern`, case-insensitively: a glob (`*` any run, `?` one
/// character) when the pattern has one, a substring otherwise; an empty pattern matches all.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim().to_lowercase();
    let name = name.to_lowercase();
    if pattern.is_empty() {
        return true;
    }
    if !pattern.contains(['*', '?']) {
        return name.contains(&pattern);
    }
    glob(
        &pattern.chars().collect::<Vec<_>>(),
        &name.chars().collect::<Vec<_>>(),
    )
}

/// Iterative glob match with one backtrack point (the last `*`): linear in practice.
fn glob(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The rows to show: filtered by `pattern`, then sorted.
pub fn view_rows(
    rows: &[LayerRow],
    pattern: &str,
    key: SortKey,
    descending: bool,
) -> Vec<LayerRow> {
    let mut shown: Vec<LayerRow> = rows
        .iter()
        .filter(|r| matches(pattern, &r.entity))
        .cloned()
        .collect();
    sort_rows(&mut shown, key, descending);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use layercast_shared::{LatencySummary, OsiLayer, WindowMetric};

    fn window(entity: &str, start_ms: i64, bytes_per_s: f64) -> SeriesWindow {
        serde_json::from_value(serde_json::json!({
            "layer": "L3", "entity": entity, "start_ms": start_ms, "end_ms": start_ms + 10_000,
            "events": 1, "bytes": (bytes_per_s * 10.0) as u64, "bytes_per_s": bytes_per_s,
            "final": true,
        }))
        .expect("a series window")
    }

    fn rows() -> Vec<LayerRow> {
        let mut busy = window("core-1", 10_000, 900.0);
        busy.latency = Some(LatencySummary {
            count: 1,
            min_ms: 1.0,
            max_ms: 9.0,
            mean_ms: 3.0,
            p50_ms: 2.0,
            p95_ms: 8.0,
            p99_ms: 9.0,
        });
        busy.error_rate = Some(0.02);
        let windows = vec![
            window("core-1", 0, 1.0),
            busy,
            window("edge-2", 10_000, 50.0),
            window("edge-10", 10_000, 400.0),
        ];
        let capacities = vec![
            Capacity {
                layer: OsiLayer::L3,
                entity: "core-1".into(),
                metric: PLANNED_METRIC.into(),
                capacity: 1_000.0,
            },
            Capacity {
                layer: OsiLayer::L3,
                entity: "edge-2".into(),
                metric: PLANNED_METRIC.into(),
                capacity: 100.0,
            },
        ];
        let runway = vec![SeriesRunway {
            layer: OsiLayer::L3,
            entity: "edge-2".into(),
            metric: PLANNED_METRIC.into(),
            capacity: 100.0,
            current: 50.0,
            days_until_full: Some(12.0),
            state: "filling".into(),
            at_ms: 0,
        }];
        let anomalies = vec![WindowAnomaly {
            layer: OsiLayer::L3,
            entity: "edge-10".into(),
            metric: WindowMetric::Errors,
            start_ms: 0,
            end_ms: 10_000,
            value: 5.0,
            score: 0.97,
        }];
        build_rows(&windows, &capacities, &runway, &anomalies)
    }

    fn names(rows: &[LayerRow]) -> Vec<&str> {
        rows.iter().map(|r| r.entity.as_str()).collect()
    }

    #[test]
    fn one_row_per_entity_from_its_newest_window() {
        let rows = rows();
        assert_eq!(names(&rows), ["core-1", "edge-10", "edge-2"]);
        let core = &rows[0];
        assert_eq!(core.bytes_per_s, 900.0);
        assert_eq!(core.utilisation, Some(0.9));
        assert_eq!(core.latency_p95_ms, Some(8.0));
        assert_eq!(core.error_rate, Some(0.02));
        assert_eq!(rows[1].anomaly_score, Some(0.97));
        assert_eq!(rows[2].runway_days, Some(12.0));
    }

    #[test]
    fn sorting_puts_unknown_values_last_in_both_directions() {
        let rows = rows();
        let by_use = view_rows(&rows, "", SortKey::Utilisation, true);
        assert_eq!(names(&by_use), ["core-1", "edge-2", "edge-10"]);
        let by_use_asc = view_rows(&rows, "", SortKey::Utilisation, false);
        assert_eq!(names(&by_use_asc), ["edge-2", "core-1", "edge-10"]);
        let by_throughput = view_rows(&rows, "", SortKey::Throughput, true);
        assert_eq!(names(&by_throughput), ["core-1", "edge-10", "edge-2"]);
        let by_runway = view_rows(&rows, "", SortKey::Runway, false);
        assert_eq!(by_runway[0].entity, "edge-2");
        let by_name = view_rows(&rows, "", SortKey::Entity, true);
        assert_eq!(names(&by_name), ["edge-2", "edge-10", "core-1"]);
    }

    #[test]
    fn filtering_by_substring_or_glob() {
        let rows = rows();
        assert_eq!(
            names(&view_rows(&rows, "EDGE", SortKey::Entity, false)),
            ["edge-10", "edge-2"]
        );
        assert_eq!(
            names(&view_rows(&rows, "edge-?", SortKey::Entity, false)),
            ["edge-2"]
        );
        assert_eq!(
            names(&view_rows(&rows, "*-1*", SortKey::Entity, false)),
            ["core-1", "edge-10"]
        );
        assert!(view_rows(&rows, "nothing", SortKey::Entity, false).is_empty());
    }

    #[test]
    fn glob_backtracks() {
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("*", ""));
        assert!(!matches("a*c", "abd"));
        assert!(matches("10.0.*.1", "10.0.3.1"));
    }
}
