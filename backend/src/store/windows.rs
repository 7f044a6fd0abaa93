//! The `windows` table: totals per (layer, entity, window).

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Text};
use layercast_shared::{LayerWindow, OsiLayer, SeriesWindow};

use super::schema::windows;
use super::DbConn;

/// Rows per INSERT statement: 6 binds a row keeps us far below SQLite's 32,766 and MySQL's
/// 65,535 placeholders, while one round trip still carries many rows.
const UPSERT_CHUNK: usize = 500;

/// What a batch adds to one window of one series. Increments, not totals: the stored row is
/// the sum of every batch ever applied, and the partition-offset fence written in the same
/// transaction makes sure no batch is applied twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDelta {
    pub layer: OsiLayer,
    pub entity: String,
    pub start_ms: i64,
    pub events: u64,
    pub bytes: u64,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = windows)]
pub struct WindowRow {
    pub layer: String,
    pub entity: String,
    pub window_start: i64,
    pub window_len_ms: i64,
    pub events: i64,
    pub bytes: i64,
}

impl WindowRow {
    /// `None` for a row whose layer is not one of ours (written by hand into the table).
    pub fn into_series_window(self) -> Option<SeriesWindow> {
        Some(SeriesWindow {
            layer: self.layer.parse().ok()?,
            entity: self.entity,
            start_ms: self.window_start,
            end_ms: self.window_start + self.window_len_ms,
            events: u64::try_from(self.events).unwrap_or(0),
            bytes: u64::try_from(self.bytes).unwrap_or(0),
        })
    }
}

#[derive(Debug, QueryableByName)]
struct LayerTotalRow {
    #[diesel(sql_type = Text)]
    layer: String,
    #[diesel(sql_type = BigInt)]
    window_start: i64,
    #[diesel(sql_type = BigInt)]
    events: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

impl LayerTotalRow {
    fn into_layer_window(self, len_ms: i64) -> Option<LayerWindow> {
        Some(LayerWindow {
            layer: self.layer.parse().ok()?,
            start_ms: self.window_start,
            end_ms: self.window_start + len_ms,
            events: u64::try_from(self.events).unwrap_or(0),
            bytes: u64::try_from(self.bytes).unwrap_or(0),
        })
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Adds the deltas to their rows, creating the rows that do not exist yet. Call it inside the
/// transaction that also advances the partition offset.
pub fn apply_deltas(conn: &mut DbConn, len_ms: i64, deltas: &[WindowDelta]) -> QueryResult<()> {
    for chunk in deltas.chunks(UPSERT_CHUNK) {
        let values = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let head = "INSERT INTO windows (layer, entity, window_start, window_len_ms, events, bytes) VALUES ";
        match conn {
            DbConn::Mysql(c) => {
                let sql = format!(
                    "{head}{values} ON DUPLICATE KEY UPDATE events = events + VALUES(events), bytes = bytes + VALUES(bytes)"
                );
                bind_deltas(diesel::sql_query(sql).into_boxed(), len_ms, chunk).execute(c)?;
            }
            DbConn::Sqlite(c) => {
                let sql = format!(
                    "{head}{values} ON CONFLICT (layer, entity, window_start, window_len_ms) DO UPDATE SET events = events + excluded.events, bytes = bytes + excluded.bytes"
                );
                bind_deltas(diesel::sql_query(sql).into_boxed(), len_ms, chunk).execute(c)?;
            }
        }
    }
    Ok(())
}

fn bind_deltas<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>,
    len_ms: i64,
    chunk: &'a [WindowDelta],
) -> BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<BigInt>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    for d in chunk {
        query = query
            .bind::<Text, _>(d.layer.as_str())
            .bind::<Text, _>(d.entity.as_str())
            .bind::<BigInt, _>(d.start_ms)
            .bind::<BigInt, _>(len_ms)
            .bind::<BigInt, _>(to_i64(d.events))
            .bind::<BigInt, _>(to_i64(d.bytes));
    }
    query
}

/// Totals per layer of the given (layer, window start) pairs, summed over all entities, as
/// they stand in the database now (so they include what other nodes wrote).
pub fn layer_totals(
    conn: &mut DbConn,
    len_ms: i64,
    keys: &BTreeSet<(OsiLayer, i64)>,
) -> QueryResult<Vec<LayerWindow>> {
    let starts: BTreeSet<i64> = keys.iter().map(|(_, s)| *s).collect();
    if starts.is_empty() {
        return Ok(Vec::new());
    }
    let list = starts.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let rows = sum_by_layer(conn, &format!("window_len_ms = {len_ms} AND window_start IN ({list})"))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_layer_window(len_ms))
        .filter(|w| keys.contains(&(w.layer, w.start_ms)))
        .collect())
}

/// The newest `count` windows of every layer, measured back from the newest window stored.
pub fn latest_layer_windows(conn: &mut DbConn, len_ms: i64, count: i64) -> QueryResult<Vec<LayerWindow>> {
    let newest: Option<i64> = windows::table
        .filter(windows::window_len_ms.eq(len_ms))
        .select(diesel::dsl::max(windows::window_start))
        .first(conn)?;
    let Some(newest) = newest else {
        return Ok(Vec::new());
    };
    let oldest = newest - (count - 1) * len_ms;
    let rows = sum_by_layer(conn, &format!("window_len_ms = {len_ms} AND window_start >= {oldest}"))?;
    Ok(rows.into_iter().filter_map(|r| r.into_layer_window(len_ms)).collect())
}

/// `filter` is built only from integers above, never from outside text.
fn sum_by_layer(conn: &mut DbConn, filter: &str) -> QueryResult<Vec<LayerTotalRow>> {
    // SUM over BIGINT is DECIMAL in MySQL and INTEGER in SQLite: cast where needed so both
    // read back as BIGINT.
    let sum = match conn {
        DbConn::Mysql(_) => |c: &str| format!("CAST(SUM({c}) AS SIGNED)"),
        DbConn::Sqlite(_) => |c: &str| format!("SUM({c})"),
    };
    let sql = format!(
        "SELECT layer, window_start, {} AS events, {} AS bytes FROM windows WHERE {filter} GROUP BY layer, window_start ORDER BY window_start, layer",
        sum("events"),
        sum("bytes")
    );
    diesel::sql_query(sql).load(conn)
}

/// Rows of one layer (or all) whose window starts in `[from_ms, to_ms)`, oldest first.
pub fn series_windows(
    conn: &mut DbConn,
    len_ms: i64,
    layer: Option<OsiLayer>,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> QueryResult<Vec<WindowRow>> {
    let mut query = windows::table
        .filter(windows::window_len_ms.eq(len_ms))
        .filter(windows::window_start.ge(from_ms))
        .filter(windows::window_start.lt(to_ms))
        .into_boxed();
    if let Some(layer) = layer {
        query = query.filter(windows::layer.eq(layer.as_str()));
    }
    query
        .order((windows::window_start, windows::layer, windows::entity))
        .limit(limit)
        .select(WindowRow::as_select())
        .load(conn)
}

/// Sum of `events` over every stored window of the given length.
pub fn total_events(conn: &mut DbConn, len_ms: i64) -> QueryResult<u64> {
    let rows = sum_by_layer(conn, &format!("window_len_ms = {len_ms}"))?;
    Ok(rows.iter().map(|r| u64::try_from(r.events).unwrap_or(0)).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    fn delta(layer: OsiLayer, entity: &str, start_ms: i64, events: u64, bytes: u64) -> WindowDelta {
        WindowDelta { layer, entity: entity.into(), start_ms, events, bytes }
    }

    #[test]
    fn deltas_add_up_per_natural_key_and_sum_per_layer() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let first = [delta(OsiLayer::L3, "a", 0, 2, 200), delta(OsiLayer::L3, "b", 0, 1, 50)];
        let second = [delta(OsiLayer::L3, "a", 0, 3, 300), delta(OsiLayer::L7, "svc", 10_000, 4, 0)];
        apply_deltas(&mut conn, 10_000, &first).expect("first");
        apply_deltas(&mut conn, 10_000, &second).expect("second");

        let rows = series_windows(&mut conn, 10_000, Some(OsiLayer::L3), 0, 20_000, 100).expect("rows");
        let a = rows.iter().find(|r| r.entity == "a").expect("row a");
        assert_eq!((a.events, a.bytes), (5, 500));

        let keys = BTreeSet::from([(OsiLayer::L3, 0), (OsiLayer::L7, 10_000)]);
        let totals = layer_totals(&mut conn, 10_000, &keys).expect("totals");
        assert_eq!(totals.len(), 2);
        assert_eq!((totals[0].events, totals[0].bytes), (6, 550));
        assert_eq!(totals[1].layer, OsiLayer::L7);
        assert_eq!(total_events(&mut conn, 10_000).expect("total"), 10);
    }

    #[test]
    fn latest_windows_reach_back_from_the_newest() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let deltas: Vec<_> = (0..10).map(|i| delta(OsiLayer::L2, "port", i * 10_000, 1, 1)).collect();
        apply_deltas(&mut conn, 10_000, &deltas).expect("apply");
        let latest = latest_layer_windows(&mut conn, 10_000, 3).expect("latest");
        let starts: Vec<i64> = latest.iter().map(|w| w.start_ms).collect();
        assert_eq!(starts, vec![70_000, 80_000, 90_000]);
    }

    #[test]
    fn large_batches_span_several_statements() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let deltas: Vec<_> =
            (0..(UPSERT_CHUNK as i64 * 2 + 7)).map(|i| delta(OsiLayer::L4, &format!("e{i}"), 0, 1, 1)).collect();
        apply_deltas(&mut conn, 10_000, &deltas).expect("apply");
        assert_eq!(total_events(&mut conn, 10_000).expect("total"), deltas.len() as u64);
    }
}
