//! The `windows` table: totals per (layer, entity, window).

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text};
use layercast_shared::{LayerWindow, OsiLayer, SeriesWindow};

use super::schema::windows;
use super::DbConn;
use crate::stream::window::{Latency, Window};

/// Rows per INSERT statement: 14 binds a row keeps us far below SQLite's 32,766 and MySQL's
/// 65,535 placeholders, while one round trip still carries many rows.
const UPSERT_CHUNK: usize = 500;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = windows)]
pub struct WindowRow {
    pub layer: String,
    pub entity: String,
    pub window_start: i64,
    pub window_len_ms: i64,
    pub events: i64,
    pub bytes: i64,
    pub packets: i64,
    pub connections: i64,
    pub requests: i64,
    pub errors: i64,
    pub bytes_min: i64,
    pub bytes_max: i64,
    pub latency_sketch: Option<Vec<u8>>,
    pub partition_id: i32,
    pub is_final: bool,
    pub closed_at_ms: Option<i64>,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl WindowRow {
    /// `None` for a row whose layer is not one of ours (written by hand into the table).
    pub fn into_series_window(self) -> Option<SeriesWindow> {
        let secs = (self.window_len_ms.max(1)) as f64 / 1000.0;
        let latency = self.latency_sketch.as_deref().and_then(Latency::from_bytes).and_then(|l| l.summary());
        Some(SeriesWindow {
            layer: self.layer.parse().ok()?,
            entity: self.entity,
            start_ms: self.window_start,
            end_ms: self.window_start + self.window_len_ms,
            events: to_u64(self.events),
            bytes: to_u64(self.bytes),
            packets: to_u64(self.packets),
            connections: to_u64(self.connections),
            requests: to_u64(self.requests),
            errors: to_u64(self.errors),
            bytes_min: to_u64(self.bytes_min),
            bytes_max: to_u64(self.bytes_max),
            bytes_per_s: self.bytes as f64 / secs,
            events_per_s: self.events as f64 / secs,
            latency,
            is_final: self.is_final,
            closed_at_ms: self.closed_at_ms,
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
            is_final: false,
        })
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A window's natural key, as bound in SQL: (layer, entity, start, length).
type Key<'a> = (&'a str, &'a str, i64, i64);

fn key_of(w: &Window) -> Key<'_> {
    (w.layer.as_str(), w.entity.as_str(), w.start_ms, w.len_ms)
}

/// Adds the windows' aggregates (increments since the last write) to their rows, creating the
/// rows that do not exist yet. Sums add and extremes keep the extreme in SQL; latency sketches
/// cannot merge in SQL, so the stored ones are read (locked, on MySQL) and merged here. Call
/// it inside the transaction that also advances the partition offset: the fence on the offset
/// is what makes a retried batch impossible to apply twice.
pub fn apply(conn: &mut DbConn, partition: i32, deltas: &[Window]) -> QueryResult<()> {
    for chunk in deltas.chunks(UPSERT_CHUNK) {
        let with_latency: Vec<&Window> = chunk.iter().filter(|w| w.agg.latency.is_some()).collect();
        let mut stored = stored_sketches(conn, &with_latency)?;
        let sketches: Vec<Option<Vec<u8>>> = chunk
            .iter()
            .map(|w| {
                let delta = w.agg.latency.as_deref()?;
                let key = (w.layer.as_str().to_owned(), w.entity.clone(), w.start_ms, w.len_ms);
                let merged = match stored.remove(&key) {
                    Some(mut old) => {
                        old.merge(delta);
                        old
                    }
                    None => delta.clone(),
                };
                Some(merged.to_bytes())
            })
            .collect();
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let head = "INSERT INTO windows (layer, entity, window_start, window_len_ms, partition_id, events, bytes, packets, \
                    connections, requests, errors, bytes_min, bytes_max, latency_sketch) VALUES ";
        let sums = ["events", "bytes", "packets", "connections", "requests", "errors"];
        match conn {
            DbConn::Mysql(c) => {
                let add: Vec<String> = sums.iter().map(|f| format!("{f} = {f} + VALUES({f})")).collect();
                let sql = format!(
                    "{head}{values} ON DUPLICATE KEY UPDATE {}, bytes_min = LEAST(bytes_min, VALUES(bytes_min)), \
                     bytes_max = GREATEST(bytes_max, VALUES(bytes_max)), \
                     latency_sketch = COALESCE(VALUES(latency_sketch), latency_sketch), partition_id = VALUES(partition_id)",
                    add.join(", ")
                );
                bind_windows(diesel::sql_query(sql).into_boxed(), partition, chunk, &sketches).execute(c)?;
            }
            DbConn::Sqlite(c) => {
                let add: Vec<String> = sums.iter().map(|f| format!("{f} = {f} + excluded.{f}")).collect();
                let sql = format!(
                    "{head}{values} ON CONFLICT (layer, entity, window_start, window_len_ms) DO UPDATE SET {}, \
                     bytes_min = min(bytes_min, excluded.bytes_min), bytes_max = max(bytes_max, excluded.bytes_max), \
                     latency_sketch = COALESCE(excluded.latency_sketch, latency_sketch), partition_id = excluded.partition_id",
                    add.join(", ")
                );
                bind_windows(diesel::sql_query(sql).into_boxed(), partition, chunk, &sketches).execute(c)?;
            }
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct SketchRow {
    #[diesel(sql_type = Text)]
    layer: String,
    #[diesel(sql_type = Text)]
    entity: String,
    #[diesel(sql_type = BigInt)]
    window_start: i64,
    #[diesel(sql_type = BigInt)]
    window_len_ms: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    latency_sketch: Option<Vec<u8>>,
}

type OwnedKey = (String, String, i64, i64);

/// The stored latency sketches of these windows, locked on MySQL until the transaction ends.
fn stored_sketches(conn: &mut DbConn, of: &[&Window]) -> QueryResult<HashMap<OwnedKey, Latency>> {
    if of.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<Key<'_>> = of.iter().map(|w| key_of(w)).collect();
    let rows: Vec<SketchRow> = match conn {
        DbConn::Mysql(c) => {
            let sql = format!("SELECT layer, entity, window_start, window_len_ms, latency_sketch FROM windows WHERE {} FOR UPDATE", key_filter(keys.len()));
            bind_keys(diesel::sql_query(sql).into_boxed(), &keys).load(c)?
        }
        DbConn::Sqlite(c) => {
            let sql = format!("SELECT layer, entity, window_start, window_len_ms, latency_sketch FROM windows WHERE {}", key_filter(keys.len()));
            bind_keys(diesel::sql_query(sql).into_boxed(), &keys).load(c)?
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let sketch = Latency::from_bytes(r.latency_sketch.as_deref()?)?;
            Some(((r.layer, r.entity, r.window_start, r.window_len_ms), sketch))
        })
        .collect())
}

/// `(layer, entity, window_start, window_len_ms) IN ((?, ?, ?, ?), ...)`: row values, which
/// both MySQL and SQLite (3.15+) answer from the primary key.
fn key_filter(n: usize) -> String {
    format!("(layer, entity, window_start, window_len_ms) IN ({})", vec!["(?, ?, ?, ?)"; n].join(", "))
}

fn bind_keys<'a, DB>(mut query: BoxedSqlQuery<'a, DB, SqlQuery>, keys: &[Key<'a>]) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<BigInt>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    for &(layer, entity, start, len) in keys {
        query = query.bind::<Text, _>(layer).bind::<Text, _>(entity).bind::<BigInt, _>(start).bind::<BigInt, _>(len);
    }
    query
}

fn bind_windows<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, SqlQuery>,
    partition: i32,
    chunk: &'a [Window],
    sketches: &'a [Option<Vec<u8>>],
) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Binary>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    Option<&'a [u8]>: diesel::serialize::ToSql<Nullable<Binary>, DB>,
{
    for (w, sketch) in chunk.iter().zip(sketches) {
        let a = &w.agg;
        // An empty window has no smallest record; it is never written, but stay in range.
        let bytes_min = if a.events == 0 { 0 } else { a.bytes_min };
        query = query
            .bind::<Text, _>(w.layer.as_str())
            .bind::<Text, _>(w.entity.as_str())
            .bind::<BigInt, _>(w.start_ms)
            .bind::<BigInt, _>(w.len_ms)
            .bind::<Integer, _>(partition)
            .bind::<BigInt, _>(to_i64(a.events))
            .bind::<BigInt, _>(to_i64(a.bytes))
            .bind::<BigInt, _>(to_i64(a.packets))
            .bind::<BigInt, _>(to_i64(a.connections))
            .bind::<BigInt, _>(to_i64(a.requests))
            .bind::<BigInt, _>(to_i64(a.errors))
            .bind::<BigInt, _>(to_i64(bytes_min))
            .bind::<BigInt, _>(to_i64(a.bytes_max))
            .bind::<Nullable<Binary>, _>(sketch.as_deref());
    }
    query
}

/// Marks the partition's windows of length `len_ms` that start at or before `last_start` as
/// final, and returns them as they now stand. The partition's fence makes this node the only
/// writer of these rows, so the read and the update see the same set.
pub fn close(conn: &mut DbConn, partition: i32, len_ms: i64, last_start: i64, closed_at_ms: i64) -> QueryResult<Vec<WindowRow>> {
    let open = windows::table
        .filter(windows::partition_id.eq(partition))
        .filter(windows::is_final.eq(false))
        .filter(windows::window_len_ms.eq(len_ms))
        .filter(windows::window_start.le(last_start));
    let mut rows: Vec<WindowRow> = open.select(WindowRow::as_select()).load(conn)?;
    if rows.is_empty() {
        return Ok(rows);
    }
    diesel::update(open)
        .set((windows::is_final.eq(true), windows::closed_at_ms.eq(Some(closed_at_ms))))
        .execute(conn)?;
    for r in &mut rows {
        r.is_final = true;
        r.closed_at_ms = Some(closed_at_ms);
    }
    Ok(rows)
}

/// The rows of these windows as they stand now.
pub fn rows_of(conn: &mut DbConn, of: &[(OsiLayer, String, i64, i64)]) -> QueryResult<Vec<WindowRow>> {
    let mut out = Vec::new();
    for chunk in of.chunks(UPSERT_CHUNK) {
        let keys: Vec<Key<'_>> = chunk.iter().map(|(l, e, s, n)| (l.as_str(), e.as_str(), *s, *n)).collect();
        let sql = format!(
            "SELECT layer, entity, window_start, window_len_ms, events, bytes, packets, connections, requests, errors, \
             bytes_min, bytes_max, latency_sketch, partition_id, is_final, closed_at_ms FROM windows WHERE {}",
            key_filter(keys.len())
        );
        let rows: Vec<WindowRow> = match conn {
            DbConn::Mysql(c) => bind_keys(diesel::sql_query(sql).into_boxed(), &keys).load(c)?,
            DbConn::Sqlite(c) => bind_keys(diesel::sql_query(sql).into_boxed(), &keys).load(c)?,
        };
        out.extend(rows);
    }
    Ok(out)
}

/// The partition's final windows of length `len_ms` from `since_ms` on, oldest first: the
/// history a node taking the partition over warms its detectors with.
pub fn final_history(conn: &mut DbConn, partition: i32, len_ms: i64, since_ms: i64, limit: i64) -> QueryResult<Vec<WindowRow>> {
    windows::table
        .filter(windows::partition_id.eq(partition))
        .filter(windows::is_final.eq(true))
        .filter(windows::window_len_ms.eq(len_ms))
        .filter(windows::window_start.ge(since_ms))
        .order((windows::window_start, windows::layer, windows::entity))
        .limit(limit)
        .select(WindowRow::as_select())
        .load(conn)
}

/// Deletes the rows of windows of length `len_ms` that ended before `before_ms`: retention.
pub fn expire(conn: &mut DbConn, len_ms: i64, before_ms: i64) -> QueryResult<usize> {
    diesel::delete(
        windows::table
            .filter(windows::window_len_ms.eq(len_ms))
            .filter(windows::window_start.lt(before_ms - len_ms)),
    )
    .execute(conn)
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
    use crate::stream::window::WindowAgg;

    fn delta(layer: OsiLayer, entity: &str, start_ms: i64, events: u64, bytes: u64) -> Window {
        let agg = WindowAgg { events, bytes, bytes_min: bytes / events.max(1), bytes_max: bytes, ..WindowAgg::default() };
        Window { layer, entity: entity.into(), start_ms, len_ms: 10_000, agg }
    }

    fn with_latency(mut w: Window, ms: &[f64]) -> Window {
        let mut lat = WindowAgg::default();
        for &v in ms {
            lat.add(&layercast_shared::Event {
                ts: chrono::DateTime::UNIX_EPOCH,
                layer: w.layer,
                entity: w.entity.clone(),
                bytes: 0,
                packets: 0,
                connections: 0,
                requests: 1,
                errors: 0,
                latency_ms: Some(v),
                error_class: None,
            });
        }
        w.agg.latency = lat.latency;
        w
    }

    #[test]
    fn deltas_add_up_per_natural_key_and_sum_per_layer() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let first = [delta(OsiLayer::L3, "a", 0, 2, 200), delta(OsiLayer::L3, "b", 0, 1, 50)];
        let second = [delta(OsiLayer::L3, "a", 0, 3, 300), delta(OsiLayer::L7, "svc", 10_000, 4, 0)];
        apply(&mut conn, 0, &first).expect("first");
        apply(&mut conn, 0, &second).expect("second");

        let rows = series_windows(&mut conn, 10_000, Some(OsiLayer::L3), 0, 20_000, 100).expect("rows");
        let a = rows.iter().find(|r| r.entity == "a").expect("row a");
        assert_eq!((a.events, a.bytes, a.bytes_min, a.bytes_max), (5, 500, 100, 300));

        let keys = BTreeSet::from([(OsiLayer::L3, 0), (OsiLayer::L7, 10_000)]);
        let totals = layer_totals(&mut conn, 10_000, &keys).expect("totals");
        assert_eq!(totals.len(), 2);
        assert_eq!((totals[0].events, totals[0].bytes), (6, 550));
        assert_eq!(totals[1].layer, OsiLayer::L7);
        assert_eq!(total_events(&mut conn, 10_000).expect("total"), 10);
    }

    #[test]
    fn latency_sketches_merge_across_writes() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let low: Vec<f64> = (1..=50).map(f64::from).collect();
        let high: Vec<f64> = (51..=100).map(f64::from).collect();
        apply(&mut conn, 3, &[with_latency(delta(OsiLayer::L7, "svc", 0, 50, 0), &low)]).expect("first");
        apply(&mut conn, 3, &[with_latency(delta(OsiLayer::L7, "svc", 0, 50, 0), &high)]).expect("second");
        apply(&mut conn, 3, &[delta(OsiLayer::L7, "svc", 0, 1, 0)]).expect("a write without latency keeps the sketch");
        let key = [(OsiLayer::L7, "svc".to_owned(), 0, 10_000)];
        let row = rows_of(&mut conn, &key).expect("rows").pop().expect("row");
        let w = row.into_series_window().expect("window");
        let lat = w.latency.expect("latency");
        assert_eq!((lat.count, lat.min_ms, lat.max_ms), (100, 1.0, 100.0));
        assert!((lat.p50_ms - 50.0).abs() <= 1.0, "{}", lat.p50_ms);
        assert!((lat.p99_ms - 99.0).abs() <= 2.0, "{}", lat.p99_ms);
        assert_eq!(w.events, 101);
        assert!((w.events_per_s - 10.1).abs() < 1e-9);
    }

    #[test]
    fn closing_marks_only_the_partitions_windows_up_to_the_point_once() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let ws: Vec<_> = (0..5).map(|i| delta(OsiLayer::L4, "x", i * 10_000, 1, 1)).collect();
        apply(&mut conn, 1, &ws).expect("apply");
        apply(&mut conn, 2, &[delta(OsiLayer::L4, "other", 0, 1, 1)]).expect("other partition");
        let closed = close(&mut conn, 1, 10_000, 20_000, 777).expect("close");
        assert_eq!(closed.iter().map(|r| r.window_start).collect::<Vec<_>>(), vec![0, 10_000, 20_000]);
        assert!(closed.iter().all(|r| r.is_final && r.closed_at_ms == Some(777)));
        assert!(close(&mut conn, 1, 10_000, 20_000, 999).expect("again").is_empty(), "already final");
        let rows = series_windows(&mut conn, 10_000, Some(OsiLayer::L4), 0, 100_000, 100).expect("rows");
        let other = rows.iter().find(|r| r.entity == "other").expect("other");
        assert!(!other.is_final, "another partition's window is not ours to close");
    }

    #[test]
    fn latest_windows_reach_back_from_the_newest() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let deltas: Vec<_> = (0..10).map(|i| delta(OsiLayer::L2, "port", i * 10_000, 1, 1)).collect();
        apply(&mut conn, 0, &deltas).expect("apply");
        let latest = latest_layer_windows(&mut conn, 10_000, 3).expect("latest");
        let starts: Vec<i64> = latest.iter().map(|w| w.start_ms).collect();
        assert_eq!(starts, vec![70_000, 80_000, 90_000]);
        assert_eq!(expire(&mut conn, 10_000, 50_000).expect("expire"), 4, "windows that ended before 50 s");
    }

    #[test]
    fn large_batches_span_several_statements() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let deltas: Vec<_> =
            (0..(UPSERT_CHUNK as i64 * 2 + 7)).map(|i| delta(OsiLayer::L4, &format!("e{i}"), 0, 1, 1)).collect();
        apply(&mut conn, 0, &deltas).expect("apply");
        assert_eq!(total_events(&mut conn, 10_000).expect("total"), deltas.len() as u64);
        let keys: Vec<_> = deltas.iter().map(|d| (d.layer, d.entity.clone(), d.start_ms, d.len_ms)).collect();
        assert_eq!(rows_of(&mut conn, &keys).expect("rows").len(), deltas.len());
    }
}
