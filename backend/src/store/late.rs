//! The `late_drops` table: records that arrived after their window had closed, per series.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use layercast_shared::{LateReport, LateSeries, OsiLayer};

use super::schema::late_drops;
use super::DbConn;

/// Late records of one series since the partition's last write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateDrop {
    pub layer: OsiLayer,
    pub entity: String,
    pub dropped: u64,
    pub last_event_ms: i64,
}

/// Adds the drops to their series' counts. Call it inside the transaction that advances the
/// partition offset, so that a replayed partition does not count its late records twice.
pub fn add(conn: &mut DbConn, drops: &[LateDrop]) -> QueryResult<()> {
    for d in drops {
        let dropped = i64::try_from(d.dropped).unwrap_or(i64::MAX);
        let sql = match conn {
            DbConn::Mysql(_) => {
                "INSERT INTO late_drops (layer, entity, dropped, last_event_ms) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE dropped = dropped + VALUES(dropped), last_event_ms = GREATEST(last_event_ms, VALUES(last_event_ms))"
            }
            DbConn::Sqlite(_) => {
                "INSERT INTO late_drops (layer, entity, dropped, last_event_ms) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (layer, entity) DO UPDATE SET dropped = dropped + excluded.dropped, last_event_ms = max(last_event_ms, excluded.last_event_ms)"
            }
        };
        diesel::sql_query(sql)
            .bind::<Text, _>(d.layer.as_str())
            .bind::<Text, _>(&d.entity)
            .bind::<BigInt, _>(dropped)
            .bind::<BigInt, _>(d.last_event_ms)
            .execute(conn)?;
    }
    Ok(())
}

/// The total, and the `limit` series with the most drops.
pub fn report(conn: &mut DbConn, limit: i64) -> QueryResult<LateReport> {
    let total: Option<i64> = match conn {
        // SUM of BIGINT is DECIMAL in MySQL.
        DbConn::Mysql(_) => late_drops::table
            .select(diesel::dsl::sql::<diesel::sql_types::Nullable<BigInt>>(
                "CAST(SUM(dropped) AS SIGNED)",
            ))
            .first(conn)?,
        DbConn::Sqlite(_) => late_drops::table
            .select(diesel::dsl::sql::<diesel::sql_types::Nullable<BigInt>>(
                "SUM(dropped)",
            ))
            .first(conn)?,
    };
    let rows: Vec<(String, String, i64, i64)> = late_drops::table
        .order((
            late_drops::dropped.desc(),
            late_drops::layer,
            late_drops::entity,
        ))
        .limit(limit)
        .select((
            late_drops::layer,
            late_drops::entity,
            late_drops::dropped,
            late_drops::last_event_ms,
        ))
        .load(conn)?;
    let series = rows
        .into_iter()
        .filter_map(|(layer, entity, dropped, last_event_ms)| {
            Some(LateSeries {
                layer: layer.parse().ok()?,
                entity,
                dropped: u64::try_from(dropped).ok()?,
                last_event_ms,
            })
        })
        .collect();
    Ok(LateReport {
        total: total.and_then(|t| u64::try_from(t).ok()).unwrap_or(0),
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    #[test]
    fn drops_add_up_per_series_and_keep_the_newest_event_time() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        assert_eq!(
            report(&mut conn, 10).expect("empty"),
            LateReport {
                total: 0,
                series: vec![]
            }
        );
        let drop = |entity: &str, dropped, last_event_ms| LateDrop {
            layer: OsiLayer::L3,
            entity: entity.into(),
            dropped,
            last_event_ms,
        };
        add(&mut conn, &[drop("a", 2, 500), drop("b", 1, 100)]).expect("first");
        add(&mut conn, &[drop("a", 3, 400)]).expect("second");
        let r = report(&mut conn, 10).expect("report");
        assert_eq!(r.total, 6);
        assert_eq!(
            (
                r.series[0].entity.as_str(),
                r.series[0].dropped,
                r.series[0].last_event_ms
            ),
            ("a", 5, 500)
        );
        assert_eq!(report(&mut conn, 1).expect("limited").series.len(), 1);
    }
}
