//! The `anomalies` table: windows the live detectors flagged.

use diesel::prelude::*;
use layercast_shared::{OsiLayer, WindowAnomaly};

use super::rows::{Upsert, Value};
use super::schema::anomalies;
use super::DbConn;

/// Anomalies a statement.
const PER_STATEMENT: usize = 500;

/// Writes the anomalies, many a statement; one already there (the same window found again
/// after a replay) is overwritten with the same values.
pub fn upsert(conn: &mut DbConn, found: &[WindowAnomaly]) -> QueryResult<()> {
    let rows: Vec<Vec<Value<'_>>> = found
        .iter()
        .map(|a| {
            vec![
                Value::Text(a.layer.as_str()),
                Value::Text(&a.entity),
                Value::Text(a.metric.as_str()),
                Value::BigInt(a.start_ms),
                Value::BigInt(a.end_ms - a.start_ms),
                Value::Double(a.value),
                Value::Double(a.score),
            ]
        })
        .collect();
    Upsert {
        table: "anomalies",
        columns: &[
            "layer",
            "entity",
            "metric",
            "window_start",
            "window_len_ms",
            "value",
            "score",
        ],
        key: &["layer", "entity", "metric", "window_start", "window_len_ms"],
        update: &["value", "score"],
        per_statement: PER_STATEMENT,
    }
    .execute(conn, &rows)
}

/// Anomalies of windows starting in `[from_ms, to_ms)`, of one layer or all, newest first.
pub fn list(
    conn: &mut DbConn,
    layer: Option<OsiLayer>,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> QueryResult<Vec<WindowAnomaly>> {
    let mut query = anomalies::table
        .filter(anomalies::window_start.ge(from_ms))
        .filter(anomalies::window_start.lt(to_ms))
        .into_boxed();
    if let Some(layer) = layer {
        query = query.filter(anomalies::layer.eq(layer.as_str()));
    }
    let rows: Vec<(String, String, String, i64, i64, f64, f64)> = query
        .order((
            anomalies::window_start.desc(),
            anomalies::layer,
            anomalies::entity,
            anomalies::metric,
        ))
        .limit(limit)
        .select((
            anomalies::layer,
            anomalies::entity,
            anomalies::metric,
            anomalies::window_start,
            anomalies::window_len_ms,
            anomalies::value,
            anomalies::score,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(layer, entity, metric, start_ms, len_ms, value, score)| {
            Some(WindowAnomaly {
                layer: layer.parse().ok()?,
                entity,
                metric: metric.parse().ok()?,
                start_ms,
                end_ms: start_ms + len_ms,
                value,
                score,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;
    use layercast_shared::WindowMetric;

    #[test]
    fn a_repeated_detection_is_one_row_and_lists_newest_first() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let at = |start_ms: i64, score: f64| WindowAnomaly {
            layer: OsiLayer::L7,
            entity: "svc".into(),
            metric: WindowMetric::LatencyMs,
            start_ms,
            end_ms: start_ms + 10_000,
            value: 900.0,
            score,
        };
        upsert(&mut conn, &[at(0, 0.9), at(10_000, 0.95)]).expect("first");
        upsert(&mut conn, &[at(10_000, 0.97)]).expect("again");
        let listed = list(&mut conn, None, 0, 100_000, 10).expect("list");
        assert_eq!(listed, vec![at(10_000, 0.97), at(0, 0.9)]);
        assert!(list(&mut conn, Some(OsiLayer::L3), 0, 100_000, 10)
            .expect("L3")
            .is_empty());
    }
}
