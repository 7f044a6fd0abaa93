//! The `windows` table: totals per (layer, entity, window).

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
use layercast_shared::{OsiLayer, SeriesWindow};

use super::schema::windows;
use super::DbConn;
use crate::stream::window::{roll_up, Latency, Window, WindowAgg};
use layercast_shared::ErrorClassCounts;

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
    /// JSON object of errors per class; `NULL` when the window has none.
    pub error_classes: Option<String>,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl WindowRow {
    /// `None` for a row whose layer is not one of ours (written by hand into the table).
    pub fn into_window(self) -> Option<Window> {
        let agg = WindowAgg {
            events: to_u64(self.events),
            bytes: to_u64(self.bytes),
            packets: to_u64(self.packets),
            connections: to_u64(self.connections),
            requests: to_u64(self.requests),
            errors: to_u64(self.errors),
            bytes_min: to_u64(self.bytes_min),
            bytes_max: to_u64(self.bytes_max),
            latency: self
                .latency_sketch
                .as_deref()
                .and_then(Latency::from_bytes)
                .map(Box::new),
            error_classes: self
                .error_classes
                .as_deref()
                .map(|text| Box::new(ErrorClassCounts::from_json(text))),
        };
        Some(Window {
            layer: self.layer.parse().ok()?,
            entity: self.entity,
            start_ms: self.window_start,
            len_ms: self.window_len_ms,
            agg,
        })
    }

    pub fn into_series_window(self) -> Option<SeriesWindow> {
        let (is_final, closed_at_ms) = (self.is_final, self.closed_at_ms);
        Some(self.into_window()?.to_series_window(is_final, closed_at_ms))
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes whole windows, replacing what their rows held: the final values of base windows and
/// roll-ups, kept in the partition actor's memory until they closed, or the provisional values
/// of base windows still open. Idempotent, so a replay after a takeover writes the same rows
/// again.
pub fn put(
    conn: &mut DbConn,
    partition: i32,
    whole: &[Window],
    closed_at_ms: Option<i64>,
) -> QueryResult<()> {
    for chunk in whole.chunks(UPSERT_CHUNK) {
        let extras: Vec<Extras> = chunk
            .iter()
            .map(|w| Extras {
                sketch: w.agg.latency.as_ref().map(|l| l.to_bytes()),
                error_classes: w.agg.error_classes.as_ref().and_then(|c| c.to_json()),
            })
            .collect();
        upsert(conn, partition, chunk, &extras, closed_at_ms)?;
    }
    Ok(())
}

/// A row's encoded columns, made before the statement borrows them.
struct Extras {
    sketch: Option<Vec<u8>>,
    error_classes: Option<String>,
}

/// Replaces the rows of `chunk` (inserting the missing ones); final when `closed_at_ms` is set.
fn upsert(
    conn: &mut DbConn,
    partition: i32,
    chunk: &[Window],
    extras: &[Extras],
    closed_at_ms: Option<i64>,
) -> QueryResult<()> {
    let values =
        vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
    let head = "INSERT INTO windows (layer, entity, window_start, window_len_ms, partition_id, events, bytes, packets, \
                connections, requests, errors, bytes_min, bytes_max, latency_sketch, is_final, closed_at_ms, \
                error_classes) VALUES ";
    let mysql = matches!(conn, DbConn::Mysql(_));
    let new = |f: &str| {
        if mysql {
            format!("VALUES({f})")
        } else {
            format!("excluded.{f}")
        }
    };
    let set: Vec<String> = [
        "events",
        "bytes",
        "packets",
        "connections",
        "requests",
        "errors",
    ]
    .iter()
    .chain(&[
        "bytes_min",
        "bytes_max",
        "latency_sketch",
        "is_final",
        "closed_at_ms",
        "partition_id",
        "error_classes",
    ])
    .map(|f| format!("{f} = {}", new(f)))
    .collect();
    let on_conflict = if mysql {
        "ON DUPLICATE KEY UPDATE"
    } else {
        "ON CONFLICT (layer, entity, window_start, window_len_ms) DO UPDATE SET"
    };
    let sql = format!("{head}{values} {on_conflict} {}", set.join(", "));
    match conn {
        DbConn::Mysql(c) => bind_windows(
            diesel::sql_query(sql).into_boxed(),
            partition,
            chunk,
            extras,
            closed_at_ms,
        )
        .execute(c)?,
        DbConn::Sqlite(c) => bind_windows(
            diesel::sql_query(sql).into_boxed(),
            partition,
            chunk,
            extras,
            closed_at_ms,
        )
        .execute(c)?,
    };
    Ok(())
}

fn bind_windows<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, SqlQuery>,
    partition: i32,
    chunk: &'a [Window],
    extras: &'a [Extras],
    closed_at_ms: Option<i64>,
) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Bool>
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Binary>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    bool: diesel::serialize::ToSql<Bool, DB>,
    Option<i64>: diesel::serialize::ToSql<Nullable<BigInt>, DB>,
    Option<&'a [u8]>: diesel::serialize::ToSql<Nullable<Binary>, DB>,
    Option<&'a str>: diesel::serialize::ToSql<Nullable<Text>, DB>,
{
    for (w, extra) in chunk.iter().zip(extras) {
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
            .bind::<Nullable<Binary>, _>(extra.sketch.as_deref())
            .bind::<Bool, _>(closed_at_ms.is_some())
            .bind::<Nullable<BigInt>, _>(closed_at_ms)
            .bind::<Nullable<Text>, _>(extra.error_classes.as_deref());
    }
    query
}

/// The partition's final windows of length `len_ms` from `since_ms` on, oldest first: the
/// history a node taking the partition over warms its detectors with.
pub fn final_history(
    conn: &mut DbConn,
    partition: i32,
    len_ms: i64,
    since_ms: i64,
    limit: i64,
) -> QueryResult<Vec<WindowRow>> {
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

/// The partition's windows of length `len_ms` not yet final, as they were last written.
pub fn open_windows(conn: &mut DbConn, partition: i32, len_ms: i64) -> QueryResult<Vec<Window>> {
    RowsOf {
        partition: Some(partition),
        layer: None,
        len_ms,
        is_final: false,
    }
    .load(conn, i64::MIN, i64::MAX)
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

/// `SUM(column)` read back as BIGINT: SUM over BIGINT is DECIMAL in MySQL, INTEGER in SQLite.
fn sum_of(conn: &DbConn, column: &str) -> String {
    match conn {
        DbConn::Mysql(_) => format!("CAST(SUM({column}) AS SIGNED)"),
        DbConn::Sqlite(_) => format!("SUM({column})"),
    }
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
    series_windows_of(conn, len_ms, layer, None, from_ms, to_ms, limit)
}

/// As [`series_windows`], of one entity when `entity` is given.
pub fn series_windows_of(
    conn: &mut DbConn,
    len_ms: i64,
    layer: Option<OsiLayer>,
    entity: Option<&str>,
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
    if let Some(entity) = entity {
        query = query.filter(windows::entity.eq(entity.to_owned()));
    }
    query
        .order((windows::window_start, windows::layer, windows::entity))
        .limit(limit)
        .select(WindowRow::as_select())
        .load(conn)
}

/// Where `pending_rollups` looks: one partition or all, one layer or all, and the roll-up
/// windows that start in `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy)]
pub struct RollupScope {
    pub partition: Option<i32>,
    pub layer: Option<OsiLayer>,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl RollupScope {
    /// Everything of one partition: what a node taking it over holds.
    pub fn partition(partition: i32) -> Self {
        RollupScope {
            partition: Some(partition),
            layer: None,
            from_ms: i64::MIN,
            to_ms: i64::MAX,
        }
    }
}

/// The roll-up windows not yet final, rebuilt from the rows below them. A roll-up's row is
/// written once, final, when its last base window closes, so that a close writes only what
/// it finishes. Until then a window of length L(k) is the final windows of L(k-1) in it and,
/// where those have not closed yet, the same again one length down, down to the final base
/// windows and (with `open_base`) the open base windows as last saved.
///
/// `levels`: the base length, then the roll-up lengths, each a multiple of the one before.
/// Returns the windows of every roll-up length. Closing is per partition (one watermark), so
/// "not yet in a final row of the length above" is per partition: after that partition's
/// newest final row of that length.
pub fn pending_rollups(
    conn: &mut DbConn,
    levels: &[i64],
    scope: &RollupScope,
    open_base: bool,
) -> QueryResult<Vec<Window>> {
    let Some((&base, _)) = levels.split_first() else {
        return Ok(Vec::new());
    };
    let longest = levels.iter().copied().max().unwrap_or(base);
    let rows_to = scope.to_ms.saturating_add(longest);
    let mut below: Vec<Window> = Vec::new();
    if open_base {
        let open = RowsOf {
            partition: scope.partition,
            layer: scope.layer,
            len_ms: base,
            is_final: false,
        };
        below.extend(open.load(conn, scope.from_ms, rows_to)?);
    }
    let mut pending = Vec::new();
    let mut newest_below = newest_final_starts(conn, base, scope.partition)?;
    for pair in levels.windows(2) {
        let (shorter, len) = (pair[0], pair[1]);
        let newest = newest_final_starts(conn, len, scope.partition)?;
        for &partition in newest_below.keys() {
            let after = newest
                .get(&partition)
                .map_or(i64::MIN, |start| start.saturating_add(len));
            let closed = RowsOf {
                partition: Some(partition),
                layer: scope.layer,
                len_ms: shorter,
                is_final: true,
            };
            below.extend(closed.load(conn, after.max(scope.from_ms), rows_to)?);
        }
        pending.extend(
            roll_up(&below, len)
                .into_iter()
                .filter(|w| (scope.from_ms..scope.to_ms).contains(&w.start_ms)),
        );
        newest_below = newest;
    }
    Ok(pending)
}

/// Which rows `pending_rollups` reads at one level: one partition or all, one layer or all.
struct RowsOf {
    partition: Option<i32>,
    layer: Option<OsiLayer>,
    len_ms: i64,
    is_final: bool,
}

impl RowsOf {
    /// Those that start in `[from_ms, to_ms)`.
    fn load(&self, conn: &mut DbConn, from_ms: i64, to_ms: i64) -> QueryResult<Vec<Window>> {
        let mut rows = windows::table
            .filter(windows::window_len_ms.eq(self.len_ms))
            .filter(windows::is_final.eq(self.is_final))
            .filter(windows::window_start.ge(from_ms))
            .filter(windows::window_start.lt(to_ms))
            .into_boxed();
        if let Some(p) = self.partition {
            rows = rows.filter(windows::partition_id.eq(p));
        }
        if let Some(layer) = self.layer {
            rows = rows.filter(windows::layer.eq(layer.as_str()));
        }
        Ok(rows
            .select(WindowRow::as_select())
            .load(conn)?
            .into_iter()
            .filter_map(WindowRow::into_window)
            .collect())
    }
}

/// Per partition (one or all), the start of its newest final window of length `len_ms`.
fn newest_final_starts(
    conn: &mut DbConn,
    len_ms: i64,
    partition: Option<i32>,
) -> QueryResult<BTreeMap<i32, i64>> {
    let mut query = windows::table
        .filter(windows::is_final.eq(true))
        .filter(windows::window_len_ms.eq(len_ms))
        .group_by(windows::partition_id)
        .select((
            windows::partition_id,
            diesel::dsl::max(windows::window_start),
        ))
        .into_boxed();
    if let Some(p) = partition {
        query = query.filter(windows::partition_id.eq(p));
    }
    let rows: Vec<(i32, Option<i64>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, newest)| Some((p, newest?)))
        .collect())
}

/// Windows of the roll-up length `levels.last()` as they stand now, oldest first: the final
/// rows, and the windows not yet final rebuilt from the rows below them (`pending_rollups`),
/// so a roll-up shows every record taken.
pub fn rollup_windows(
    conn: &mut DbConn,
    levels: &[i64],
    layer: Option<OsiLayer>,
    entity: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> QueryResult<Vec<SeriesWindow>> {
    let Some(&len_ms) = levels.last() else {
        return Ok(Vec::new());
    };
    // (start, layer, entity) -> (window, final, closed at): sorted as the result is.
    type Key = (i64, OsiLayer, String);
    let mut merged: BTreeMap<Key, (Window, bool, Option<i64>)> = BTreeMap::new();
    // Rows written non-final by earlier versions are left out: the rows below hold them.
    for row in series_windows_of(conn, len_ms, layer, entity, from_ms, to_ms, limit)?
        .into_iter()
        .filter(|r| r.is_final)
    {
        let closed_at_ms = row.closed_at_ms;
        if let Some(w) = row.into_window() {
            merged.insert(
                (w.start_ms, w.layer, w.entity.clone()),
                (w, true, closed_at_ms),
            );
        }
    }
    let scope = RollupScope {
        partition: None,
        layer,
        from_ms,
        to_ms,
    };
    for w in pending_rollups(conn, levels, &scope, true)?
        .into_iter()
        .filter(|w| w.len_ms == len_ms && entity.is_none_or(|e| w.entity == e))
    {
        merged
            .entry((w.start_ms, w.layer, w.entity.clone()))
            .or_insert((w, false, None));
    }
    Ok(merged
        .into_values()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(w, is_final, closed_at_ms)| w.to_series_window(is_final, closed_at_ms))
        .collect())
}

/// Sum of `events` over every stored window of the given length.
pub fn total_events(conn: &mut DbConn, len_ms: i64) -> QueryResult<u64> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = Nullable<BigInt>)]
        events: Option<i64>,
    }
    let sql = format!(
        "SELECT {} AS events FROM windows WHERE window_len_ms = {len_ms}",
        sum_of(conn, "events")
    );
    let total: Total = diesel::sql_query(sql).get_result(conn)?;
    Ok(total.events.map_or(0, to_u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    fn delta(layer: OsiLayer, entity: &str, start_ms: i64, events: u64, bytes: u64) -> Window {
        let agg = WindowAgg {
            events,
            bytes,
            bytes_min: bytes / events.max(1),
            bytes_max: bytes,
            ..WindowAgg::default()
        };
        Window {
            layer,
            entity: entity.into(),
            start_ms,
            len_ms: 10_000,
            agg,
        }
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
    fn a_put_replaces_the_row_sketch_and_all() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let low: Vec<f64> = (1..=50).map(f64::from).collect();
        let high: Vec<f64> = (51..=100).map(f64::from).collect();
        let first = with_latency(delta(OsiLayer::L7, "svc", 0, 50, 0), &low);
        put(&mut conn, 3, std::slice::from_ref(&first), None).expect("first");
        // The whole window as it grew, as a partition actor writes a roll-up.
        let mut whole = first;
        whole
            .agg
            .merge(&with_latency(delta(OsiLayer::L7, "svc", 0, 51, 0), &high).agg);
        put(
            &mut conn,
            3,
            &[whole, delta(OsiLayer::L3, "a", 0, 2, 200)],
            None,
        )
        .expect("second");
        let row = series_windows(&mut conn, 10_000, Some(OsiLayer::L7), 0, 10_000, 10)
            .expect("rows")
            .pop()
            .expect("row");
        let w = row.into_series_window().expect("window");
        let lat = w.latency.expect("latency");
        assert_eq!((lat.count, lat.min_ms, lat.max_ms), (100, 1.0, 100.0));
        assert!((lat.p50_ms - 50.0).abs() <= 1.0, "{}", lat.p50_ms);
        assert!((lat.p99_ms - 99.0).abs() <= 2.0, "{}", lat.p99_ms);
        assert_eq!(w.events, 101);
        assert!((w.events_per_s - 10.1).abs() < 1e-9);
        assert_eq!(total_events(&mut conn, 10_000).expect("total"), 103);
    }

    fn sized(mut w: Window, start_ms: i64, len_ms: i64) -> Window {
        w.start_ms = start_ms;
        w.len_ms = len_ms;
        w
    }

    /// Partition 0: series "a" has closed minutes 0 and 1 of hour 0 and two 10-s windows of
    /// minute 2, and one open 10-s window after them. Partition 1: series "b" has closed hour 0
    /// and has one closed 10-s window in hour 1.
    fn three_levels(conn: &mut DbConn) {
        let a = |start, events| delta(OsiLayer::L3, "a", start, events, events * 10);
        let b = |start, events| delta(OsiLayer::L3, "b", start, events, events * 10);
        put(
            conn,
            0,
            &[a(0, 6), a(60_000, 4), a(120_000, 3), a(130_000, 2)],
            Some(1),
        )
        .expect("a's final 10-s windows");
        put(
            conn,
            0,
            &[sized(a(0, 6), 0, 60_000), sized(a(0, 4), 60_000, 60_000)],
            Some(1),
        )
        .expect("a's final minutes");
        put(conn, 0, &[a(140_000, 1)], None).expect("a's open window");
        put(
            conn,
            1,
            &[sized(b(0, 100), 0, 60_000), sized(b(0, 100), 0, 3_600_000)],
            Some(1),
        )
        .expect("b's final minute and hour");
        put(conn, 1, &[b(3_600_000, 7)], Some(1)).expect("b's final 10-s window in hour 1");
    }

    const LEVELS: [i64; 3] = [10_000, 60_000, 3_600_000];

    fn events_of(windows: &[Window]) -> Vec<(&str, i64, i64, u64)> {
        let mut seen: Vec<_> = windows
            .iter()
            .map(|w| (w.entity.as_str(), w.len_ms, w.start_ms, w.agg.events))
            .collect();
        seen.sort_unstable();
        seen
    }

    #[test]
    fn an_open_rollup_is_rebuilt_from_the_final_rows_below_it() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        three_levels(&mut conn);
        let held = pending_rollups(&mut conn, &LEVELS, &RollupScope::partition(0), false)
            .expect("partition 0");
        assert_eq!(
            events_of(&held),
            vec![("a", 60_000, 120_000, 5), ("a", 3_600_000, 0, 15)],
            "the final minutes and the final 10-s windows after them, each counted once; the open window is not held"
        );
        let held = pending_rollups(&mut conn, &LEVELS, &RollupScope::partition(1), false)
            .expect("partition 1");
        assert_eq!(
            events_of(&held),
            vec![("b", 60_000, 3_600_000, 7), ("b", 3_600_000, 3_600_000, 7)],
            "hour 0 is final: not pending"
        );
    }

    #[test]
    fn a_rollup_shows_its_final_rows_and_the_open_ones_with_every_record_taken() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        three_levels(&mut conn);
        put(
            &mut conn,
            0,
            &[sized(delta(OsiLayer::L3, "a", 0, 999, 1), 120_000, 60_000)],
            None,
        )
        .expect("a row an earlier version left open");
        let got = rollup_windows(
            &mut conn,
            &LEVELS,
            Some(OsiLayer::L3),
            None,
            0,
            7_200_000,
            100,
        )
        .expect("hours");
        let seen: Vec<_> = got
            .iter()
            .map(|w| (w.entity.as_str(), w.start_ms, w.events, w.is_final))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("a", 0, 16, false),
                ("b", 0, 100, true),
                ("b", 3_600_000, 7, false)
            ]
        );
        let got = rollup_windows(&mut conn, &LEVELS[..2], None, None, 60_000, 180_000, 100)
            .expect("minutes");
        let seen: Vec<_> = got
            .iter()
            .map(|w| (w.entity.as_str(), w.start_ms, w.events, w.is_final))
            .collect();
        assert_eq!(
            seen,
            vec![("a", 60_000, 4, true), ("a", 120_000, 6, false)],
            "the old open row is rebuilt, not read"
        );
        let base = series_windows(&mut conn, 10_000, None, 0, 10_000, 10).expect("base");
        assert!(
            base[0].is_final && base[0].closed_at_ms == Some(1),
            "put with a close time is final"
        );
    }

    #[test]
    fn retention_deletes_the_windows_that_ended_before_its_cut() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let deltas: Vec<_> = (0..10)
            .map(|i| delta(OsiLayer::L2, "port", i * 10_000, 1, 1))
            .collect();
        put(&mut conn, 0, &deltas, None).expect("put");
        assert_eq!(
            expire(&mut conn, 10_000, 50_000).expect("expire"),
            4,
            "windows that ended before 50 s"
        );
    }

    #[test]
    fn large_batches_span_several_statements() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let deltas: Vec<_> = (0..(UPSERT_CHUNK as i64 * 2 + 7))
            .map(|i| delta(OsiLayer::L4, &format!("e{i}"), 0, 1, 1))
            .collect();
        put(&mut conn, 0, &deltas, None).expect("put");
        assert_eq!(
            total_events(&mut conn, 10_000).expect("total"),
            deltas.len() as u64
        );
        assert_eq!(
            series_windows(&mut conn, 10_000, None, 0, 10_000, 10_000)
                .expect("rows")
                .len(),
            deltas.len()
        );
    }
}
