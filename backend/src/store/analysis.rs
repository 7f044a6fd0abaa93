//! What the live analysis stores: alerts and their changes, trends, runways, the trackers'
//! state per series, and the outbox of notifications (`notifications.rs` sends it).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Text};
use layercast_shared::{
    Alert, AlertChange, AlertPrecursor, AlertStatus, OsiLayer, SeriesRunway, SeriesTrend,
    WindowAnomaly,
};
use serde::{Deserialize, Serialize};

use super::rows::{self, Upsert, Value};
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

/// What a close brought that an alert's reader needs with it, stored in one transaction: the
/// anomalies (an alert's precursor is looked up among them) and the alert changes.
#[derive(Debug, Clone, Default)]
pub struct StoredFindings {
    pub anomalies: Vec<WindowAnomaly>,
    pub changes: Vec<NewChange>,
}

/// What the trackers made of a close, stored after its alerts in a transaction of its own:
/// at a bucket's end every series has a trend and a state (thousands of rows), which must not
/// hold up the alerts.
#[derive(Debug, Clone, Default)]
pub struct TrackerRows {
    pub trends: Vec<SeriesTrend>,
    pub runways: Vec<SeriesRunway>,
    pub states: Vec<SavedState>,
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

/// An upsert of one row.
fn upsert_sql(
    conn: &DbConn,
    table: &str,
    columns: &[&str],
    key: &[&str],
    update: &[&str],
) -> String {
    rows::upsert_sql(conn, table, columns, key, update, 1)
}

/// Stores a close's anomalies and alert changes in one transaction: alerts (an alert never
/// goes back to an older change; a new episode clears its acknowledgement and looks for a
/// precursor), their changes, and the outbox entries of every receiver for changes that are
/// not silenced. Returns the alerts as stored after the changes, to publish. What the trackers
/// made of the same close goes apart (`save_trackers`), after these.
pub fn write(
    conn: &mut DbConn,
    partition: i32,
    found: &StoredFindings,
    now_ms: i64,
) -> QueryResult<Vec<Alert>> {
    conn.transaction(|conn| {
        super::anomalies::upsert(conn, &found.anomalies)?;
        if found.changes.is_empty() {
            return Ok(Vec::new());
        }
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

/// MySQL refuses NaN and infinities in a DOUBLE.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// States a statement: a state is kilobytes of JSON, and a statement must stay well under
/// MariaDB's `max_allowed_packet` (16 MiB by default).
const STATES_PER_STATEMENT: usize = 100;
/// Trends and runways a statement: a few hundred bytes each.
const RESULTS_PER_STATEMENT: usize = 500;

/// Stores what the trackers of a partition's series made of a close, in one transaction, many
/// rows a statement: the trends and runways that changed, and the states of the series that
/// completed a bucket (at a bucket's end every series has one; a statement a row took seconds
/// for a partition's 2,500).
pub fn save_trackers(conn: &mut DbConn, partition: i32, rows: &TrackerRows) -> QueryResult<()> {
    let trends: Vec<Vec<Value<'_>>> = rows
        .trends
        .iter()
        .map(|t| {
            vec![
                Value::Text(t.layer.as_str()),
                Value::Text(&t.entity),
                Value::Text(&t.metric),
                Value::Text(&t.direction),
                Value::Double(finite(t.slope_per_day)),
                Value::Double(finite(t.slope_low)),
                Value::Double(finite(t.slope_high)),
                Value::Double(finite(t.p_value)),
                Value::Integer(i32::try_from(t.buckets).unwrap_or(i32::MAX)),
                Value::BigInt(t.at_ms),
            ]
        })
        .collect();
    let runways: Vec<Vec<Value<'_>>> = rows
        .runways
        .iter()
        .map(|r| {
            vec![
                Value::Text(r.layer.as_str()),
                Value::Text(&r.entity),
                Value::Text(&r.metric),
                Value::Double(finite(r.capacity)),
                Value::Double(finite(r.current)),
                Value::NullableDouble(r.days_until_full.filter(|d| d.is_finite())),
                Value::Text(&r.state),
                Value::BigInt(r.at_ms),
            ]
        })
        .collect();
    let states: Vec<Vec<Value<'_>>> = rows
        .states
        .iter()
        .map(|s| {
            vec![
                Value::Integer(partition),
                Value::Text(s.layer.as_str()),
                Value::Text(&s.entity),
                Value::BigInt(s.last_start_ms),
                Value::Text(&s.json),
            ]
        })
        .collect();
    conn.transaction(|conn| {
        Upsert {
            table: "series_trends",
            columns: &[
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
            key: &["layer", "entity", "metric"],
            update: &[
                "direction",
                "slope_per_day",
                "slope_low",
                "slope_high",
                "p_value",
                "buckets",
                "at_ms",
            ],
            per_statement: RESULTS_PER_STATEMENT,
        }
        .execute(conn, &trends)?;
        Upsert {
            table: "series_runways",
            columns: &[
                "layer",
                "entity",
                "metric",
                "capacity",
                "current_value",
                "days_until_full",
                "state",
                "at_ms",
            ],
            key: &["layer", "entity", "metric"],
            update: &[
                "capacity",
                "current_value",
                "days_until_full",
                "state",
                "at_ms",
            ],
            per_statement: RESULTS_PER_STATEMENT,
        }
        .execute(conn, &runways)?;
        Upsert {
            table: "analysis_state",
            columns: &["partition_id", "layer", "entity", "last_start_ms", "state"],
            key: &["partition_id", "layer", "entity"],
            update: &["last_start_ms", "state"],
            per_statement: STATES_PER_STATEMENT,
        }
        .execute(conn, &states)
    })
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
