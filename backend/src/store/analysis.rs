//! What the live analysis stores: alerts and their changes, trends, runways, the trackers'
//! state per series, and the outbox of notifications (`notifications.rs` sends it).

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
use layercast_shared::{
    Alert, AlertChange, AlertPrecursor, AlertStatus, OsiLayer, SeriesRunway, SeriesTrend,
};
use serde::{Deserialize, Serialize};

use super::schema::{
    alert_changes, alerts, analysis_state, anomalies, series_runways, series_trends,
};
use super::{settings, DbConn};

/// How far back an alert's precursor may be: the anomaly's window start before the alert's.
pub const PRECURSOR_MAX_LAG_MS: i64 = 15 * 60_000;

/// One alert change to store, as the analysis made it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChange {
    pub id: String,
    pub rule: String,
    pub layer: OsiLayer,
    pub entity: String,
    pub metric: String,
    pub from: String,
    pub to: AlertStatus,
    pub at_ms: i64,
    pub since_ms: i64,
    pub value: f64,
    pub threshold: f64,
    pub signal: String,
}

/// A series' trackers as the analysis saved them.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedState {
    pub layer: OsiLayer,
    pub entity: String,
    pub last_start_ms: i64,
    pub json: String,
}

/// What one batch of windows brought, to store in one transaction.
#[derive(Debug, Clone, Default)]
pub struct StoredFindings {
    pub changes: Vec<NewChange>,
    pub trends: Vec<SeriesTrend>,
    pub runways: Vec<SeriesRunway>,
}

/// A notification as the outbox keeps it: the alert as stored after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub alert: Alert,
    pub from: String,
    pub to: AlertStatus,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: String,
    pub rule: String,
    pub layer: String,
    pub entity: String,
    pub metric: String,
    pub state: String,
    pub since_ms: i64,
    pub changed_ms: i64,
    pub value: f64,
    pub threshold: f64,
    pub signal_name: String,
    pub acknowledged: bool,
    pub acknowledged_by: Option<String>,
    pub silenced_until_ms: Option<i64>,
    pub precursor: Option<String>,
    pub partition_id: i32,
}

impl AlertRow {
    pub fn into_alert(self) -> Option<Alert> {
        Some(Alert {
            id: self.id,
            rule: self.rule,
            layer: self.layer.parse().ok()?,
            entity: self.entity,
            metric: self.metric,
            state: AlertStatus::parse(&self.state)?,
            since_ms: self.since_ms,
            changed_ms: self.changed_ms,
            value: self.value,
            threshold: self.threshold,
            signal: self.signal_name,
            acknowledged: self.acknowledged,
            acknowledged_by: self.acknowledged_by,
            silenced_until_ms: self.silenced_until_ms,
            precursor: self
                .precursor
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
        })
    }
}

fn is_mysql(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Mysql(_))
}

/// `INSERT ... ON DUPLICATE KEY UPDATE` / `ON CONFLICT DO UPDATE` setting `update` to the new
/// values.
fn upsert_sql(
    conn: &DbConn,
    table: &str,
    columns: &[&str],
    key: &[&str],
    update: &[&str],
) -> String {
    upsert_rows_sql(conn, table, columns, key, update, 1)
}

/// `upsert_sql` of `rows` rows.
fn upsert_rows_sql(
    conn: &DbConn,
    table: &str,
    columns: &[&str],
    key: &[&str],
    update: &[&str],
    rows: usize,
) -> String {
    let marks = format!("({})", vec!["?"; columns.len()].join(", "));
    let head = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![marks; rows].join(", ")
    );
    if is_mysql(conn) {
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        format!("{head} ON DUPLICATE KEY UPDATE {}", set.join(", "))
    } else {
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            "{head} ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            set.join(", ")
        )
    }
}

/// Stores a batch in one transaction: alerts (an alert never goes back to an older change; a
/// new episode clears its acknowledgement and looks for a precursor), their changes, the
/// outbox entries of every receiver for changes that are not silenced, trends and runways.
/// Returns the alerts as stored after the changes, to publish. The trackers' states go apart
/// (`save_states`), after these.
pub fn write(
    conn: &mut DbConn,
    partition: i32,
    found: &StoredFindings,
    now_ms: i64,
) -> QueryResult<Vec<Alert>> {
    conn.transaction(|conn| {
        let receivers: Vec<String> = settings::list(conn, settings::RECEIVER)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let mut stored = Vec::new();
        for change in &found.changes {
            if let Some(alert) = record_change(conn, partition, change, &receivers, now_ms)? {
                stored.push(alert);
            }
        }
        for t in &found.trends {
            upsert_trend(conn, t)?;
        }
        for r in &found.runways {
            upsert_runway(conn, r)?;
        }
        Ok(stored)
    })
}

fn record_change(
    conn: &mut DbConn,
    partition: i32,
    c: &NewChange,
    receivers: &[String],
    now_ms: i64,
) -> QueryResult<Option<Alert>> {
    let old = alerts::table
        .find(&c.id)
        .select(AlertRow::as_select())
        .first(conn)
        .optional()?;
    if old.as_ref().is_some_and(|o| o.changed_ms > c.at_ms) {
        // A replay of an older change after a takeover: the stored alert is newer.
        return Ok(None);
    }
    let new_episode = matches!(c.from.as_str(), "inactive" | "resolved");
    let (acknowledged, acknowledged_by) = match &old {
        Some(o) if !new_episode => (o.acknowledged, o.acknowledged_by.clone()),
        _ => (false, None),
    };
    let silenced_until_ms = old.as_ref().and_then(|o| o.silenced_until_ms);
    let notify = silenced_until_ms.is_none_or(|until| c.at_ms >= until);
    let precursor = match (&old, new_episode) {
        (_, true) => find_precursor(conn, c)?,
        (Some(o), false) => o
            .precursor
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        (None, false) => None,
    };
    let precursor_json = precursor
        .as_ref()
        .and_then(|p| serde_json::to_string(p).ok());
    diesel::delete(alerts::table.find(&c.id)).execute(conn)?;
    diesel::insert_into(alerts::table)
        .values((
            alerts::id.eq(&c.id),
            alerts::rule.eq(&c.rule),
            alerts::layer.eq(c.layer.as_str()),
            alerts::entity.eq(&c.entity),
            alerts::metric.eq(&c.metric),
            alerts::state.eq(c.to.as_str()),
            alerts::since_ms.eq(c.since_ms),
            alerts::changed_ms.eq(c.at_ms),
            alerts::value.eq(c.value),
            alerts::threshold.eq(c.threshold),
            alerts::signal_name.eq(&c.signal),
            alerts::acknowledged.eq(acknowledged),
            alerts::acknowledged_by.eq(&acknowledged_by),
            alerts::silenced_until_ms.eq(silenced_until_ms),
            alerts::precursor.eq(&precursor_json),
            alerts::partition_id.eq(partition),
        ))
        .execute(conn)?;
    let sql = upsert_sql(
        conn,
        "alert_changes",
        &[
            "alert_id",
            "at_ms",
            "to_state",
            "from_state",
            "rule",
            "layer",
            "entity",
            "metric",
            "value",
            "notify",
        ],
        &["alert_id", "at_ms", "to_state"],
        &["value", "notify"],
    );
    diesel::sql_query(sql)
        .bind::<Text, _>(&c.id)
        .bind::<BigInt, _>(c.at_ms)
        .bind::<Text, _>(c.to.as_str())
        .bind::<Text, _>(&c.from)
        .bind::<Text, _>(&c.rule)
        .bind::<Text, _>(c.layer.as_str())
        .bind::<Text, _>(&c.entity)
        .bind::<Text, _>(&c.metric)
        .bind::<Double, _>(c.value)
        .bind::<Bool, _>(notify)
        .execute(conn)?;
    let alert = Alert {
        id: c.id.clone(),
        rule: c.rule.clone(),
        layer: c.layer,
        entity: c.entity.clone(),
        metric: c.metric.clone(),
        state: c.to,
        since_ms: c.since_ms,
        changed_ms: c.at_ms,
        value: c.value,
        threshold: c.threshold,
        signal: c.signal.clone(),
        acknowledged,
        acknowledged_by,
        silenced_until_ms,
        precursor,
    };
    if notify {
        let notice = Notice {
            alert: alert.clone(),
            from: c.from.clone(),
            to: c.to,
            at_ms: c.at_ms,
        };
        let payload = serde_json::to_string(&notice).unwrap_or_default();
        for receiver in receivers {
            super::notifications::enqueue(conn, receiver, &notice, &payload, now_ms)?;
        }
    }
    Ok(Some(alert))
}

/// The latest anomaly on a lower layer of an entity in a group with the alert's entity, in
/// the 15 minutes before the alert started: what came first, for the planner to look at.
fn find_precursor(conn: &mut DbConn, c: &NewChange) -> QueryResult<Option<AlertPrecursor>> {
    /// A precursor group as admins set it (`/api/groups`).
    #[derive(Deserialize)]
    struct Group {
        name: String,
        entities: Vec<String>,
    }
    let groups: Vec<Group> = settings::load(conn, settings::GROUP)?;
    let mut best: Option<AlertPrecursor> = None;
    for g in groups.iter().filter(|g| g.entities.contains(&c.entity)) {
        let lower: Vec<&str> = OsiLayer::ALL
            .iter()
            .filter(|l| **l < c.layer)
            .map(|l| l.as_str())
            .collect();
        let rows: Vec<(String, String, String, i64, f64)> = anomalies::table
            .filter(anomalies::entity.eq_any(&g.entities))
            .filter(anomalies::layer.eq_any(&lower))
            .filter(anomalies::window_start.ge(c.since_ms - PRECURSOR_MAX_LAG_MS))
            .filter(anomalies::window_start.le(c.since_ms))
            .order(anomalies::window_start.desc())
            .limit(1)
            .select((
                anomalies::layer,
                anomalies::entity,
                anomalies::metric,
                anomalies::window_start,
                anomalies::score,
            ))
            .load(conn)?;
        for (layer, entity, metric, start_ms, score) in rows {
            let Ok(layer) = layer.parse() else { continue };
            if best.as_ref().is_none_or(|b| start_ms > b.start_ms) {
                best = Some(AlertPrecursor {
                    group: g.name.clone(),
                    layer,
                    entity,
                    metric,
                    start_ms,
                    score,
                    lag_ms: c.since_ms - start_ms,
                });
            }
        }
    }
    Ok(best)
}

fn upsert_trend(conn: &mut DbConn, t: &SeriesTrend) -> QueryResult<()> {
    let sql = upsert_sql(
        conn,
        "series_trends",
        &[
            "layer",
            "entity",
            "metric",
            "direction",
            "slope_per_day",
            "slope_low",
            "slope_high",
            "p_value",
            "buckets",
            "at_ms",
        ],
        &["layer", "entity", "metric"],
        &[
            "direction",
            "slope_per_day",
            "slope_low",
            "slope_high",
            "p_value",
            "buckets",
            "at_ms",
        ],
    );
    diesel::sql_query(sql)
        .bind::<Text, _>(t.layer.as_str())
        .bind::<Text, _>(&t.entity)
        .bind::<Text, _>(&t.metric)
        .bind::<Text, _>(&t.direction)
        .bind::<Double, _>(finite(t.slope_per_day))
        .bind::<Double, _>(finite(t.slope_low))
        .bind::<Double, _>(finite(t.slope_high))
        .bind::<Double, _>(finite(t.p_value))
        .bind::<Integer, _>(i32::try_from(t.buckets).unwrap_or(i32::MAX))
        .bind::<BigInt, _>(t.at_ms)
        .execute(conn)?;
    Ok(())
}

/// MySQL refuses NaN and infinities in a DOUBLE.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn upsert_runway(conn: &mut DbConn, r: &SeriesRunway) -> QueryResult<()> {
    let sql = upsert_sql(
        conn,
        "series_runways",
        &[
            "layer",
            "entity",
            "metric",
            "capacity",
            "current_value",
            "days_until_full",
            "state",
            "at_ms",
        ],
        &["layer", "entity", "metric"],
        &[
            "capacity",
            "current_value",
            "days_until_full",
            "state",
            "at_ms",
        ],
    );
    diesel::sql_query(sql)
        .bind::<Text, _>(r.layer.as_str())
        .bind::<Text, _>(&r.entity)
        .bind::<Text, _>(&r.metric)
        .bind::<Double, _>(finite(r.capacity))
        .bind::<Double, _>(finite(r.current))
        .bind::<Nullable<Double>, _>(r.days_until_full.filter(|d| d.is_finite()))
        .bind::<Text, _>(&r.state)
        .bind::<BigInt, _>(r.at_ms)
        .execute(conn)?;
    Ok(())
}

/// States per INSERT statement: a state is kilobytes of JSON, and a statement must stay well
/// under MariaDB's `max_allowed_packet` (16 MiB by default).
const STATES_CHUNK: usize = 100;

/// Stores the trackers' states of a partition's series, in one transaction, many rows a
/// statement: at a bucket's end every series has one, and a statement a row took seconds for
/// a partition's 2,500.
pub fn save_states(conn: &mut DbConn, partition: i32, states: &[SavedState]) -> QueryResult<()> {
    conn.transaction(|conn| {
        for chunk in states.chunks(STATES_CHUNK) {
            let sql = upsert_rows_sql(
                conn,
                "analysis_state",
                &["partition_id", "layer", "entity", "last_start_ms", "state"],
                &["partition_id", "layer", "entity"],
                &["last_start_ms", "state"],
                chunk.len(),
            );
            match conn {
                DbConn::Mysql(c) => {
                    bind_states(diesel::sql_query(sql).into_boxed(), partition, chunk).execute(c)?
                }
                DbConn::Sqlite(c) => {
                    bind_states(diesel::sql_query(sql).into_boxed(), partition, chunk).execute(c)?
                }
            };
        }
        Ok(())
    })
}

fn bind_states<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, SqlQuery>,
    partition: i32,
    states: &'a [SavedState],
) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
{
    for s in states {
        query = query
            .bind::<Integer, _>(partition)
            .bind::<Text, _>(s.layer.as_str())
            .bind::<Text, _>(s.entity.as_str())
            .bind::<BigInt, _>(s.last_start_ms)
            .bind::<Text, _>(s.json.as_str());
    }
    query
}

/// What a node taking a partition over needs: its pending and firing alerts, and the stored
/// trackers of its series.
pub fn load(conn: &mut DbConn, partition: i32) -> QueryResult<(Vec<Alert>, Vec<SavedState>)> {
    let active: Vec<Alert> = alerts::table
        .filter(alerts::partition_id.eq(partition))
        .filter(alerts::state.eq_any(["pending", "firing"]))
        .select(AlertRow::as_select())
        .load(conn)?
        .into_iter()
        .filter_map(AlertRow::into_alert)
        .collect();
    let states: Vec<(String, String, i64, String)> = analysis_state::table
        .filter(analysis_state::partition_id.eq(partition))
        .select((
            analysis_state::layer,
            analysis_state::entity,
            analysis_state::last_start_ms,
            analysis_state::state,
        ))
        .load(conn)?;
    let states = states
        .into_iter()
        .filter_map(|(layer, entity, last_start_ms, json)| {
            Some(SavedState {
                layer: layer.parse().ok()?,
                entity,
                last_start_ms,
                json,
            })
        })
        .collect();
    Ok((active, states))
}

/// The stored trackers of one series (JSON of the analysis' `SeriesState`).
pub fn state_of(conn: &mut DbConn, layer: OsiLayer, entity: &str) -> QueryResult<Option<String>> {
    analysis_state::table
        .filter(analysis_state::layer.eq(layer.as_str()))
        .filter(analysis_state::entity.eq(entity))
        .order(analysis_state::last_start_ms.desc())
        .select(analysis_state::state)
        .first(conn)
        .optional()
}

/// Alerts in a state (`None`: all), the most recently changed first.
pub fn list(conn: &mut DbConn, state: Option<AlertStatus>, limit: i64) -> QueryResult<Vec<Alert>> {
    let mut q = alerts::table.into_boxed();
    if let Some(s) = state {
        q = q.filter(alerts::state.eq(s.as_str()));
    }
    Ok(q.order((alerts::changed_ms.desc(), alerts::id))
        .limit(limit)
        .select(AlertRow::as_select())
        .load(conn)?
        .into_iter()
        .filter_map(AlertRow::into_alert)
        .collect())
}

pub fn get(conn: &mut DbConn, id: &str) -> QueryResult<Option<Alert>> {
    Ok(alerts::table
        .find(id)
        .select(AlertRow::as_select())
        .first(conn)
        .optional()?
        .and_then(AlertRow::into_alert))
}

/// Changes at `[from_ms, to_ms)`, newest first.
pub fn history(
    conn: &mut DbConn,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> QueryResult<Vec<AlertChange>> {
    type Row = (
        String,
        i64,
        String,
        String,
        String,
        String,
        String,
        String,
        f64,
        bool,
    );
    let rows: Vec<Row> = alert_changes::table
        .filter(alert_changes::at_ms.ge(from_ms))
        .filter(alert_changes::at_ms.lt(to_ms))
        .order((alert_changes::at_ms.desc(), alert_changes::alert_id))
        .limit(limit)
        .select((
            alert_changes::alert_id,
            alert_changes::at_ms,
            alert_changes::to_state,
            alert_changes::from_state,
            alert_changes::rule,
            alert_changes::layer,
            alert_changes::entity,
            alert_changes::metric,
            alert_changes::value,
            alert_changes::notify,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(alert_id, at_ms, to, from, rule, layer, entity, metric, value, notify)| {
                Some(AlertChange {
                    alert_id,
                    rule,
                    layer: layer.parse().ok()?,
                    entity,
                    metric,
                    from,
                    to: AlertStatus::parse(&to)?,
                    at_ms,
                    value,
                    notify,
                })
            },
        )
        .collect())
}

/// Why an acknowledgement or a silence was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlertActionError {
    #[error("no alert {0:?}")]
    NotFound(String),
    #[error("alert {id:?} is {state}; only a firing alert can be acknowledged")]
    NotFiring { id: String, state: String },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Marks a firing alert acknowledged by `by` (until its episode ends). Call inside the
/// transaction that audits it (`store::write_transaction`).
pub fn acknowledge(conn: &mut DbConn, id: &str, by: &str) -> Result<Alert, AlertActionError> {
    let alert = get(conn, id)?.ok_or_else(|| AlertActionError::NotFound(id.to_owned()))?;
    if alert.state != AlertStatus::Firing {
        return Err(AlertActionError::NotFiring {
            id: id.to_owned(),
            state: alert.state.as_str().to_owned(),
        });
    }
    diesel::update(alerts::table.find(id))
        .set((
            alerts::acknowledged.eq(true),
            alerts::acknowledged_by.eq(by),
        ))
        .execute(conn)?;
    Ok(Alert {
        acknowledged: true,
        acknowledged_by: Some(by.to_owned()),
        ..alert
    })
}

/// Silences an alert's notifications until `until_ms` (`None` lifts the silence). Call inside
/// the transaction that audits it.
pub fn silence(
    conn: &mut DbConn,
    id: &str,
    until_ms: Option<i64>,
) -> Result<Alert, AlertActionError> {
    let alert = get(conn, id)?.ok_or_else(|| AlertActionError::NotFound(id.to_owned()))?;
    diesel::update(alerts::table.find(id))
        .set(alerts::silenced_until_ms.eq(until_ms))
        .execute(conn)?;
    Ok(Alert {
        silenced_until_ms: until_ms,
        ..alert
    })
}

pub fn trends(
    conn: &mut DbConn,
    layer: Option<OsiLayer>,
    entity: Option<&str>,
    metric: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<SeriesTrend>> {
    let mut q = series_trends::table.into_boxed();
    if let Some(l) = layer {
        q = q.filter(series_trends::layer.eq(l.as_str()));
    }
    if let Some(e) = entity {
        q = q.filter(series_trends::entity.eq(e.to_owned()));
    }
    if let Some(m) = metric {
        q = q.filter(series_trends::metric.eq(m.to_owned()));
    }
    type Row = (String, String, String, String, f64, f64, f64, f64, i32, i64);
    let rows: Vec<Row> = q
        .order((
            series_trends::layer,
            series_trends::entity,
            series_trends::metric,
        ))
        .limit(limit)
        .select((
            series_trends::layer,
            series_trends::entity,
            series_trends::metric,
            series_trends::direction,
            series_trends::slope_per_day,
            series_trends::slope_low,
            series_trends::slope_high,
            series_trends::p_value,
            series_trends::buckets,
            series_trends::at_ms,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                layer,
                entity,
                metric,
                direction,
                slope_per_day,
                slope_low,
                slope_high,
                p_value,
                buckets,
                at_ms,
            )| {
                Some(SeriesTrend {
                    layer: layer.parse().ok()?,
                    entity,
                    metric,
                    direction,
                    slope_per_day,
                    slope_low,
                    slope_high,
                    p_value,
                    buckets: u32::try_from(buckets).unwrap_or(0),
                    at_ms,
                })
            },
        )
        .collect())
}

pub fn runways(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<SeriesRunway>> {
    type Row = (String, String, String, f64, f64, Option<f64>, String, i64);
    let rows: Vec<Row> = series_runways::table
        .order((
            series_runways::layer,
            series_runways::entity,
            series_runways::metric,
        ))
        .limit(limit)
        .select((
            series_runways::layer,
            series_runways::entity,
            series_runways::metric,
            series_runways::capacity,
            series_runways::current_value,
            series_runways::days_until_full,
            series_runways::state,
            series_runways::at_ms,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(layer, entity, metric, capacity, current, days_until_full, state, at_ms)| {
                Some(SeriesRunway {
                    layer: layer.parse().ok()?,
                    entity,
                    metric,
                    capacity,
                    current,
                    days_until_full,
                    state,
                    at_ms,
                })
            },
        )
        .collect())
}

/// Firing alerts per (rule, layer), for `/metrics`.
pub fn firing_counts(conn: &mut DbConn) -> QueryResult<Vec<(String, String, i64)>> {
    alerts::table
        .filter(alerts::state.eq("firing"))
        .group_by((alerts::rule, alerts::layer))
        .select((alerts::rule, alerts::layer, diesel::dsl::count_star()))
        .load(conn)
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
