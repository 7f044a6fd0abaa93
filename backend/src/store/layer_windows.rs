//! The layer stage's tables: `layer_windows` (totals per layer and window, summed over every
//! source partition), `layer_sources` (how far each source partition has closed windows) and
//! `layer_progress` (through which window start each layer is final).

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
use layercast_shared::{error_rate, LayerSeriesWindow, LayerWindow, OsiLayer};

use super::schema::{layer_progress, layer_sources, layer_windows};
use super::DbConn;
use crate::stream::window::Latency;
use layercast_shared::ErrorClassCounts;

/// Rows per INSERT: 14 binds a row, far below SQLite's and MySQL's placeholder limits.
const UPSERT_CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = layer_windows)]
pub struct LayerWindowRow {
    pub layer: String,
    pub window_start: i64,
    pub window_len_ms: i64,
    pub events: i64,
    pub bytes: i64,
    pub packets: i64,
    pub connections: i64,
    pub requests: i64,
    pub errors: i64,
    pub is_final: bool,
    pub closed_at_ms: Option<i64>,
    pub sources: i32,
    /// JSON object of errors per class; `NULL` when none.
    pub error_classes: Option<String>,
    /// The entities' latency sketches merged (final rows only); `NULL` without latency.
    pub latency_sketch: Option<Vec<u8>>,
}

impl LayerWindowRow {
    /// `None` for a row whose layer is not one of ours.
    pub fn into_layer_window(self) -> Option<LayerWindow> {
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let layer: OsiLayer = self.layer.parse().ok()?;
        Some(LayerWindow {
            layer,
            start_ms: self.window_start,
            end_ms: self.window_start + self.window_len_ms,
            events: count(self.events),
            bytes: count(self.bytes),
            packets: count(self.packets),
            connections: count(self.connections),
            requests: count(self.requests),
            errors: count(self.errors),
            error_rate: error_rate(
                layer,
                count(self.errors),
                count(self.packets),
                count(self.connections),
                count(self.requests),
            ),
            error_classes: self.classes(),
            latency: self.latency(),
            is_final: self.is_final,
        })
    }

    fn latency(&self) -> Option<layercast_shared::LatencySummary> {
        self.latency_sketch
            .as_deref()
            .and_then(Latency::from_bytes)
            .and_then(|l| l.summary())
    }

    fn classes(&self) -> std::collections::BTreeMap<String, u64> {
        self.error_classes
            .as_deref()
            .map(|text| ErrorClassCounts::from_json(text).to_map())
            .unwrap_or_default()
    }
}

impl LayerWindowRow {
    /// As `GET /api/layers` shows it; `None` for a row whose layer is not one of ours.
    pub fn into_series(self) -> Option<LayerSeriesWindow> {
        let secs = self.window_len_ms.max(1) as f64 / 1000.0;
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let layer: OsiLayer = self.layer.parse().ok()?;
        let error_classes = self.classes();
        Some(LayerSeriesWindow {
            layer,
            error_rate: error_rate(
                layer,
                count(self.errors),
                count(self.packets),
                count(self.connections),
                count(self.requests),
            ),
            error_classes,
            latency: self.latency(),
            start_ms: self.window_start,
            end_ms: self.window_start + self.window_len_ms,
            events: count(self.events),
            bytes: count(self.bytes),
            packets: count(self.packets),
            connections: count(self.connections),
            requests: count(self.requests),
            errors: count(self.errors),
            bytes_per_s: self.bytes as f64 / secs,
            events_per_s: self.events as f64 / secs,
            is_final: self.is_final,
            closed_at_ms: self.closed_at_ms,
            sources: u32::try_from(self.sources).unwrap_or(0),
        })
    }
}

/// Writes the rows, replacing what is stored, except that a provisional row never replaces a
/// final one (a node that lost the layer without noticing may still write provisional values).
pub fn upsert(conn: &mut DbConn, rows: &[LayerWindowRow]) -> QueryResult<()> {
    const SET: [&str; 11] = [
        "events",
        "bytes",
        "packets",
        "connections",
        "requests",
        "errors",
        "closed_at_ms",
        "sources",
        "error_classes",
        "latency_sketch",
        "is_final",
    ];
    let head = "INSERT INTO layer_windows (layer, window_start, window_len_ms, events, bytes, packets, connections, \
                requests, errors, closed_at_ms, sources, error_classes, latency_sketch, is_final) VALUES ";
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        match conn {
            DbConn::Mysql(c) => {
                // MySQL assigns left to right and later terms see earlier assignments, so
                // `is_final` comes last: every term before it reads the stored flag.
                let set: Vec<String> = SET
                    .iter()
                    .map(|f| match *f {
                        "is_final" => "is_final = is_final OR VALUES(is_final)".to_owned(),
                        f => {
                            format!("{f} = IF(is_final AND NOT VALUES(is_final), {f}, VALUES({f}))")
                        }
                    })
                    .collect();
                let sql = format!("{head}{values} ON DUPLICATE KEY UPDATE {}", set.join(", "));
                bind_rows(diesel::sql_query(sql).into_boxed(), chunk).execute(c)?;
            }
            DbConn::Sqlite(c) => {
                let set: Vec<String> = SET.iter().map(|f| format!("{f} = excluded.{f}")).collect();
                let sql = format!(
                    "{head}{values} ON CONFLICT (layer, window_start, window_len_ms) DO UPDATE SET {} \
                     WHERE excluded.is_final OR NOT layer_windows.is_final",
                    set.join(", ")
                );
                bind_rows(diesel::sql_query(sql).into_boxed(), chunk).execute(c)?;
            }
        }
    }
    Ok(())
}

fn bind_rows<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, SqlQuery>,
    rows: &'a [LayerWindowRow],
) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Bool>
        + diesel::sql_types::HasSqlType<Binary>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    bool: diesel::serialize::ToSql<Bool, DB>,
    Option<i64>: diesel::serialize::ToSql<Nullable<BigInt>, DB>,
    Option<&'a str>: diesel::serialize::ToSql<Nullable<Text>, DB>,
    Option<&'a [u8]>: diesel::serialize::ToSql<Nullable<Binary>, DB>,
{
    for r in rows {
        query = query
            .bind::<Text, _>(r.layer.as_str())
            .bind::<BigInt, _>(r.window_start)
            .bind::<BigInt, _>(r.window_len_ms)
            .bind::<BigInt, _>(r.events)
            .bind::<BigInt, _>(r.bytes)
            .bind::<BigInt, _>(r.packets)
            .bind::<BigInt, _>(r.connections)
            .bind::<BigInt, _>(r.requests)
            .bind::<BigInt, _>(r.errors)
            .bind::<Nullable<BigInt>, _>(r.closed_at_ms)
            .bind::<Integer, _>(r.sources)
            .bind::<Nullable<Text>, _>(r.error_classes.as_deref())
            .bind::<Nullable<Binary>, _>(r.latency_sketch.as_deref())
            .bind::<Bool, _>(r.is_final);
    }
    query
}

/// How far one source partition has closed the windows of one length of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceClosed {
    pub layer: OsiLayer,
    pub len_ms: i64,
    pub source_partition: i32,
    pub closed_through: i64,
}

/// Through which window start the windows of one length of one layer are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalThrough {
    pub layer: OsiLayer,
    pub len_ms: i64,
    pub final_through: i64,
}

/// What the stage remembers of its layers between owners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub sources: Vec<SourceClosed>,
    pub finals: Vec<FinalThrough>,
}

/// Stores the progress (upserts on the natural keys). Values only ever grow, and the caller's
/// fence on its position makes it the only writer of these layers.
pub fn save_progress(conn: &mut DbConn, progress: &Progress) -> QueryResult<()> {
    for s in &progress.sources {
        let row = (
            layer_sources::layer.eq(s.layer.as_str()),
            layer_sources::window_len_ms.eq(s.len_ms),
            layer_sources::source_partition.eq(s.source_partition),
            layer_sources::closed_through.eq(s.closed_through),
        );
        let target = layer_sources::table
            .filter(layer_sources::layer.eq(s.layer.as_str()))
            .filter(layer_sources::window_len_ms.eq(s.len_ms))
            .filter(layer_sources::source_partition.eq(s.source_partition));
        // Update first: the row exists for every source after its first message, and an
        // update that matches a row with the same value is fine here (no fence on it).
        if diesel::update(target)
            .set(layer_sources::closed_through.eq(s.closed_through))
            .execute(conn)?
            == 0
            && !exists(conn, s)?
        {
            diesel::insert_into(layer_sources::table)
                .values(row)
                .execute(conn)?;
        }
    }
    for f in &progress.finals {
        let target = layer_progress::table
            .filter(layer_progress::layer.eq(f.layer.as_str()))
            .filter(layer_progress::window_len_ms.eq(f.len_ms));
        let found: Option<i64> = target
            .select(layer_progress::final_through)
            .first(conn)
            .optional()?;
        match found {
            Some(_) => diesel::update(target)
                .set(layer_progress::final_through.eq(f.final_through))
                .execute(conn)?,
            None => diesel::insert_into(layer_progress::table)
                .values((
                    layer_progress::layer.eq(f.layer.as_str()),
                    layer_progress::window_len_ms.eq(f.len_ms),
                    layer_progress::final_through.eq(f.final_through),
                ))
                .execute(conn)?,
        };
    }
    Ok(())
}

/// MySQL counts an update that changes nothing as no row: tell that from a missing row.
fn exists(conn: &mut DbConn, s: &SourceClosed) -> QueryResult<bool> {
    let found: Option<i32> = layer_sources::table
        .filter(layer_sources::layer.eq(s.layer.as_str()))
        .filter(layer_sources::window_len_ms.eq(s.len_ms))
        .filter(layer_sources::source_partition.eq(s.source_partition))
        .select(layer_sources::source_partition)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The stored progress of these layers.
pub fn load_progress(conn: &mut DbConn, layers: &[OsiLayer]) -> QueryResult<Progress> {
    let names: Vec<&str> = layers.iter().map(|l| l.as_str()).collect();
    let sources: Vec<(String, i64, i32, i64)> = layer_sources::table
        .filter(layer_sources::layer.eq_any(&names))
        .select((
            layer_sources::layer,
            layer_sources::window_len_ms,
            layer_sources::source_partition,
            layer_sources::closed_through,
        ))
        .load(conn)?;
    let finals: Vec<(String, i64, i64)> = layer_progress::table
        .filter(layer_progress::layer.eq_any(&names))
        .select((
            layer_progress::layer,
            layer_progress::window_len_ms,
            layer_progress::final_through,
        ))
        .load(conn)?;
    Ok(Progress {
        sources: sources
            .into_iter()
            .filter_map(|(layer, len_ms, source_partition, closed_through)| {
                Some(SourceClosed {
                    layer: layer.parse().ok()?,
                    len_ms,
                    source_partition,
                    closed_through,
                })
            })
            .collect(),
        finals: finals
            .into_iter()
            .filter_map(|(layer, len_ms, final_through)| {
                Some(FinalThrough {
                    layer: layer.parse().ok()?,
                    len_ms,
                    final_through,
                })
            })
            .collect(),
    })
}

/// Forgets every source's and layer's progress. For the embedded broker only: its topics
/// start afresh after a restart, and with them every partition's watermark.
pub fn forget_progress(conn: &mut DbConn) -> QueryResult<usize> {
    Ok(diesel::delete(layer_sources::table).execute(conn)?
        + diesel::delete(layer_progress::table).execute(conn)?)
}

/// The newest `count` windows of length `len_ms` of every layer, measured back from the
/// newest stored, oldest first.
pub fn latest(conn: &mut DbConn, len_ms: i64, count: i64) -> QueryResult<Vec<LayerWindow>> {
    let newest: Option<i64> = layer_windows::table
        .filter(layer_windows::window_len_ms.eq(len_ms))
        .select(diesel::dsl::max(layer_windows::window_start))
        .first(conn)?;
    let Some(newest) = newest else {
        return Ok(Vec::new());
    };
    let rows = range(
        conn,
        len_ms,
        None,
        newest - (count - 1) * len_ms,
        i64::MAX,
        i64::MAX,
    )?;
    Ok(rows
        .into_iter()
        .filter_map(LayerWindowRow::into_layer_window)
        .collect())
}

/// Rows of length `len_ms` (of one layer, or all) whose window starts in `[from_ms, to_ms)`,
/// oldest first.
pub fn range(
    conn: &mut DbConn,
    len_ms: i64,
    layer: Option<OsiLayer>,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> QueryResult<Vec<LayerWindowRow>> {
    let mut query = layer_windows::table
        .filter(layer_windows::window_len_ms.eq(len_ms))
        .filter(layer_windows::window_start.ge(from_ms))
        .filter(layer_windows::window_start.lt(to_ms))
        .into_boxed();
    if let Some(layer) = layer {
        query = query.filter(layer_windows::layer.eq(layer.as_str()));
    }
    query
        .order((layer_windows::window_start, layer_windows::layer))
        .limit(limit)
        .select(LayerWindowRow::as_select())
        .load(conn)
}

/// Deletes the rows of length `len_ms` that ended before `before_ms`: retention.
pub fn expire(conn: &mut DbConn, len_ms: i64, before_ms: i64) -> QueryResult<usize> {
    diesel::delete(
        layer_windows::table
            .filter(layer_windows::window_len_ms.eq(len_ms))
            .filter(layer_windows::window_start.lt(before_ms - len_ms)),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    fn row(start: i64, events: i64, is_final: bool) -> LayerWindowRow {
        LayerWindowRow {
            layer: "L3".into(),
            window_start: start,
            window_len_ms: 10_000,
            events,
            bytes: events * 10,
            packets: 0,
            connections: 0,
            requests: 0,
            errors: 0,
            is_final,
            closed_at_ms: is_final.then_some(99),
            sources: 2,
            error_classes: Some(r#"{"rejected":3}"#.into()),
            latency_sketch: None,
        }
    }

    #[test]
    fn a_provisional_row_never_replaces_a_final_one() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        upsert(&mut conn, &[row(0, 1, false), row(10_000, 1, false)]).expect("provisional");
        upsert(&mut conn, &[row(0, 5, true), row(10_000, 2, false)]).expect("final and newer");
        upsert(&mut conn, &[row(0, 3, false)]).expect("stale provisional");
        let rows = range(&mut conn, 10_000, None, 0, i64::MAX, 10).expect("rows");
        assert_eq!(rows, vec![row(0, 5, true), row(10_000, 2, false)]);
        let latest = latest(&mut conn, 10_000, 1).expect("latest");
        assert_eq!(latest.len(), 1);
        assert_eq!((latest[0].start_ms, latest[0].is_final), (10_000, false));
        assert_eq!(expire(&mut conn, 10_000, 15_000).expect("expire"), 1);
    }

    #[test]
    fn progress_comes_back_as_saved() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let mut progress = Progress {
            sources: vec![SourceClosed {
                layer: OsiLayer::L2,
                len_ms: 10_000,
                source_partition: 1,
                closed_through: 50_000,
            }],
            finals: vec![FinalThrough {
                layer: OsiLayer::L2,
                len_ms: 10_000,
                final_through: 40_000,
            }],
        };
        save_progress(&mut conn, &progress).expect("save");
        save_progress(&mut conn, &progress).expect("the same again");
        progress.sources[0].closed_through = 60_000;
        progress.finals[0].final_through = 50_000;
        save_progress(&mut conn, &progress).expect("advance");
        assert_eq!(
            load_progress(&mut conn, &[OsiLayer::L2]).expect("load"),
            progress
        );
        assert_eq!(
            load_progress(&mut conn, &[OsiLayer::L3]).expect("load"),
            Progress::default()
        );
        assert_eq!(forget_progress(&mut conn).expect("forget"), 2);
    }
}
