//! What the live analysis found: alerts (with acknowledge and silence), their history, trends,
//! forecasts and runway; and a rule's preview over the stored windows.

use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use layercast_shared::{
    Alert, AlertChange, AlertStatus, ApiErrorBody, Forecast, ForecastValue, OsiLayer, SeriesRunway,
    SeriesTrend, SeriesWindow, SilenceRequest, METRIC_NAMES,
};
use serde::{Deserialize, Serialize};

use super::audit;
use super::auth::Principal;
use super::{ApiError, ApiState};
use crate::analysis::anomaly::AnomalyConfig;
use crate::analysis::live::LiveDetectors;
use crate::analysis::{
    AlertRule, AlertState, Forecaster, Observation, RuleSet, SeriesKey, SeriesState,
};
use crate::store::analysis::{self as stored, AlertActionError};
use crate::store::{self, windows};

const MAX_ALERTS: i64 = 5_000;
const MAX_HISTORY: i64 = 10_000;
const MAX_TRENDS: i64 = 10_000;
const MAX_RUNWAYS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
/// The longest silence: a longer one is a rule to remove, not an alert to mute.
const MAX_SILENCE_MS: i64 = 30 * DAY_MS;
/// The longest forecast horizon, and the number of points of one.
const MAX_HORIZON_MS: i64 = 90 * DAY_MS;
const FORECAST_POINTS: i64 = 200;
/// What a preview reads at most: a day of the base windows of many series.
const PREVIEW_ROWS: i64 = 200_000;
const PREVIEW_SPAN_MS: i64 = DAY_MS;
/// History a forecast is built from when the series has no stored forecaster (no capacity):
/// its 1-minute roll-ups of the last two weeks.
const FORECAST_HISTORY_MS: i64 = 14 * DAY_MS;

impl From<AlertActionError> for ApiError {
    fn from(e: AlertActionError) -> Self {
        match e {
            AlertActionError::NotFound(_) => ApiError::NotFound(e.to_string()),
            AlertActionError::NotFiring { .. } => ApiError::Conflict(e.to_string()),
            AlertActionError::Db(d) => ApiError::Unavailable(d.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// `firing`, `pending`, `resolved` or `all` (the default).
    state: Option<String>,
}

/// Alerts, the most recently changed first.
#[utoipa::path(
    tag = "analysis",
    params(AlertsQuery),
    responses((status = 200, body = Vec<Alert>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/alerts")]
pub async fn alerts(
    state: web::Data<ApiState>,
    query: web::Query<AlertsQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted = match query.state.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(AlertStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "state: {s:?} is not one of firing, pending, resolved, all"
            ))
        })?),
    };
    let db = state.db.clone();
    let list = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(stored::list(&mut conn, wanted, MAX_ALERTS)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Epoch milliseconds; default a day before `to`.
    from: Option<i64>,
    /// Epoch milliseconds, exclusive; default now.
    to: Option<i64>,
}

/// Every change of every alert in `[from, to)`, newest first.
#[utoipa::path(
    tag = "analysis",
    params(HistoryQuery),
    responses((status = 200, body = Vec<AlertChange>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/alerts/history")]
pub async fn history(
    state: web::Data<ApiState>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let to = query
        .to
        .unwrap_or_else(|| Utc::now().timestamp_millis() + 1);
    let from = query.from.unwrap_or_else(|| to.saturating_sub(DAY_MS));
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    let db = state.db.clone();
    let list = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(stored::history(&mut conn, from, to, MAX_HISTORY)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// An acknowledgement or a silence: stored with its audit entry, then pushed live.
async fn change_alert(
    state: &ApiState,
    by: Principal,
    id: String,
    action: &'static str,
    change: impl FnOnce(&mut store::DbConn, &str, &Principal) -> Result<Alert, AlertActionError>
        + Send
        + 'static,
) -> Result<HttpResponse, ApiError> {
    if id.len() > 64 {
        return Err(ApiError::NotFound(format!("no alert {id:?}")));
    }
    let db = state.db.clone();
    let alert = web::block(move || {
        let mut conn = db.conn()?;
        store::write_transaction(&mut conn, |conn| {
            let before = stored::get(conn, &id)?;
            let alert = change(conn, &id, &by)?;
            audit::record(
                conn,
                &by,
                action,
                &format!("alert:{id}"),
                before.and_then(|b| serde_json::to_value(b).ok()),
                serde_json::to_value(&alert).ok(),
            )?;
            Ok::<_, ApiError>(alert)
        })
    })
    .await??;
    state
        .updates
        .publish_findings(vec![alert.clone()], vec![], vec![]);
    Ok(HttpResponse::Ok().json(alert))
}

/// Acknowledges a firing alert (until its episode ends). 409 unless it is firing.
#[utoipa::path(
    tag = "analysis",
    params(("id" = String, Path, description = "The alert's id")),
    responses((status = 200, body = Alert), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody))
)]
#[post("/api/alerts/{id}/ack")]
pub async fn acknowledge(
    state: web::Data<ApiState>,
    by: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_alert(&state, by, id.into_inner(), "alert.ack", |conn, id, by| {
        stored::acknowledge(conn, id, &by.actor())
    })
    .await
}

/// Silences an alert's notifications until `until` (epoch ms, at most 30 days ahead; a time
/// in the past lifts the silence). The alert keeps changing state and is recorded.
#[utoipa::path(
    tag = "analysis",
    params(("id" = String, Path, description = "The alert's id")),
    request_body = SilenceRequest,
    responses((status = 200, body = Alert), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody))
)]
#[post("/api/alerts/{id}/silence")]
pub async fn silence(
    state: web::Data<ApiState>,
    by: Principal,
    id: web::Path<String>,
    body: web::Json<SilenceRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now().timestamp_millis();
    let until = body.until;
    if until > now + MAX_SILENCE_MS {
        return Err(ApiError::BadRequest(format!(
            "until: at most 30 days ahead ({} ms)",
            now + MAX_SILENCE_MS
        )));
    }
    let until = (until > now).then_some(until);
    change_alert(
        &state,
        by,
        id.into_inner(),
        "alert.silence",
        move |conn, id, _| stored::silence(conn, id, until),
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// `L1` to `L7`.
    layer: Option<String>,
    entity: Option<String>,
    /// One of the metric names.
    metric: Option<String>,
    /// How far ahead (`/api/forecast`): `7d`, `12h`, ... at most 90 days; default 7 days.
    horizon: Option<String>,
}

fn layer_of(text: Option<&str>) -> Result<Option<OsiLayer>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(l) => l
            .parse()
            .map(Some)
            .map_err(|e: layercast_shared::UnknownLayer| {
                ApiError::BadRequest(format!("layer: {e}"))
            }),
    }
}

fn metric_of(text: Option<&str>) -> Result<Option<String>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(m) if METRIC_NAMES.contains(&m) => Ok(Some(m.to_owned())),
        Some(m) => Err(ApiError::BadRequest(format!(
            "metric: {m:?} is not one of {}",
            METRIC_NAMES.join(", ")
        ))),
    }
}

/// Trends of the series' metrics (a layer, entity and metric narrow it).
#[utoipa::path(
    tag = "analysis",
    params(SeriesQuery),
    responses((status = 200, body = Vec<SeriesTrend>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/trends")]
pub async fn trends(
    state: web::Data<ApiState>,
    query: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let layer = layer_of(query.layer.as_deref())?;
    let metric = metric_of(query.metric.as_deref())?;
    let entity = query.entity.clone().filter(|e| !e.is_empty());
    let db = state.db.clone();
    let list = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(stored::trends(
            &mut conn,
            layer,
            entity.as_deref(),
            metric.as_deref(),
            MAX_TRENDS,
        )?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(list))
}

/// The runway of every series with a capacity: those full now first, then the soonest to
/// fill, then those that do not fill at this trend, then those still learning.
#[utoipa::path(tag = "analysis", responses((status = 200, body = Vec<SeriesRunway>)))]
#[get("/api/runway")]
pub async fn runway(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let mut list = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(stored::runways(&mut conn, MAX_RUNWAYS)?)
    })
    .await??;
    rank_runways(&mut list);
    Ok(HttpResponse::Ok().json(list))
}

/// Full first, then by days until full, then never, then learning; ties by name.
pub fn rank_runways(list: &mut [SeriesRunway]) {
    let class = |r: &SeriesRunway| match r.state.as_str() {
        "full" => 0,
        "filling" => 1,
        "never" => 2,
        _ => 3,
    };
    list.sort_by(|a, b| {
        class(a)
            .cmp(&class(b))
            .then(
                a.days_until_full
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.days_until_full.unwrap_or(f64::INFINITY)),
            )
            .then_with(|| (a.layer, &a.entity, &a.metric).cmp(&(b.layer, &b.entity, &b.metric)))
    });
}

/// The forecast of one metric of one series, with its 95% band, and its runway when it has a
/// capacity. From the live analysis' stored forecaster when the series has one (a capacity is
/// set), else from the series' 1-minute roll-ups of the last two weeks.
#[utoipa::path(
    tag = "analysis",
    params(SeriesQuery),
    responses((status = 200, body = Forecast), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody))
)]
#[get("/api/forecast")]
pub async fn forecast(
    state: web::Data<ApiState>,
    query: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let layer = layer_of(query.layer.as_deref())?
        .ok_or_else(|| ApiError::BadRequest("layer is required".into()))?;
    let entity = query
        .entity
        .clone()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::BadRequest("entity is required".into()))?;
    let metric = metric_of(query.metric.as_deref())?.unwrap_or_else(|| "bytes_per_s".into());
    let horizon_ms = match query.horizon.as_deref() {
        None | Some("") => 7 * DAY_MS,
        Some(text) => humantime::parse_duration(text)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .filter(|ms| (1..=MAX_HORIZON_MS).contains(ms))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "horizon: {text:?} is not a duration of 1 ms to 90 days such as 7d"
                ))
            })?,
    };
    let db = state.db.clone();
    let minute = state
        .window_lengths_ms
        .iter()
        .copied()
        .find(|&l| l >= 60_000)
        .unwrap_or(state.window_len_ms);
    let body = web::block(move || {
        let mut conn = db.conn()?;
        let forecaster = stored_forecaster(&mut conn, layer, &entity, &metric)?;
        let forecaster = match forecaster {
            Some(f) => f,
            None => {
                let to = Utc::now().timestamp_millis();
                let rows = windows::series_windows_of(
                    &mut conn,
                    minute,
                    Some(layer),
                    Some(&entity),
                    to - FORECAST_HISTORY_MS,
                    to,
                    30_000,
                )?;
                let mut f = Forecaster::new(Default::default())
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
                for w in rows.into_iter().filter_map(|r| r.into_series_window()) {
                    if let Some(v) = w.metric(&metric) {
                        f.push(w.start_ms, v);
                    }
                }
                f
            }
        };
        let step = (horizon_ms / FORECAST_POINTS).max(1);
        let points: Vec<ForecastValue> = (1..=FORECAST_POINTS)
            .filter_map(|i| forecaster.forecast(i * step))
            .map(|p| ForecastValue {
                ts_ms: p.at_ms,
                value: p.value,
                lower: p.lower,
                upper: p.upper,
            })
            .collect();
        if points.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no forecast of {layer} {entity:?} {metric} yet: it needs at least an hour of history"
            )));
        }
        let its_runway = stored::runways(&mut conn, MAX_RUNWAYS)?
            .into_iter()
            .find(|r| r.layer == layer && r.entity == entity && r.metric == metric);
        Ok::<_, ApiError>(Forecast {
            layer,
            entity,
            metric,
            points,
            runway: its_runway,
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(body))
}

/// The live analysis' forecaster of a series' metric, as last stored.
fn stored_forecaster(
    conn: &mut store::DbConn,
    layer: OsiLayer,
    entity: &str,
    metric: &str,
) -> Result<Option<Forecaster>, ApiError> {
    let json = stored::state_of(conn, layer, entity)?;
    Ok(json
        .and_then(|j| serde_json::from_str::<SeriesState>(&j).ok())
        .and_then(|mut s| s.forecasts.remove(metric)))
}

/// One period a previewed rule would have fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewAlert {
    pub entity: String,
    /// When it started firing (window end, epoch ms).
    pub since_ms: i64,
    /// When it resolved; absent while still firing at the end of the stored windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// The signal's value when it fired.
    pub value: f64,
}

/// `POST /api/rules/preview`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RulePreview {
    /// Windows the rule was tried on.
    pub windows: usize,
    pub alerts: Vec<PreviewAlert>,
    /// What the preview could not do (a `runway_days` rule needs the live forecast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a rule would have fired on over the last 24 hours of stored windows; nothing is
/// stored.
#[utoipa::path(
    tag = "analysis",
    request_body = AlertRule,
    responses((status = 200, body = RulePreview), (status = 400, body = ApiErrorBody))
)]
#[post("/api/rules/preview")]
pub async fn preview_rule(
    state: web::Data<ApiState>,
    body: web::Json<AlertRule>,
) -> Result<HttpResponse, ApiError> {
    let rule = body.into_inner();
    rule.validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !METRIC_NAMES.contains(&rule.metric.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "metric: {:?} is not one of {}",
            rule.metric,
            METRIC_NAMES.join(", ")
        )));
    }
    let db = state.db.clone();
    let len_ms = state.window_len_ms;
    let rows = web::block(move || {
        let mut conn = db.conn()?;
        let to = Utc::now().timestamp_millis();
        Ok::<_, ApiError>(windows::series_windows_of(
            &mut conn,
            len_ms,
            Some(rule.layer),
            None,
            to - PREVIEW_SPAN_MS,
            to,
            PREVIEW_ROWS,
        )?)
    })
    .await??;
    let windows: Vec<SeriesWindow> = rows
        .into_iter()
        .filter_map(|r| r.into_series_window())
        .filter(|w| w.is_final)
        .collect();
    let preview = web::block(move || preview(&rule, &windows, len_ms)).await??;
    Ok(HttpResponse::Ok().json(preview))
}

/// Runs one rule over windows (oldest first) as the live analysis would, with the anomaly
/// detectors for a rule on the score.
pub fn preview(
    rule: &AlertRule,
    windows: &[SeriesWindow],
    len_ms: i64,
) -> Result<RulePreview, ApiError> {
    let rules =
        RuleSet::new(vec![rule.clone()]).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut detectors = LiveDetectors::new(AnomalyConfig::default(), len_ms);
    let mut states: std::collections::HashMap<String, crate::analysis::SeriesAlerts> =
        Default::default();
    let mut out: Vec<PreviewAlert> = Vec::new();
    let mut tried = 0;
    for w in windows {
        let key = SeriesKey {
            layer: w.layer,
            entity: w.entity.clone(),
            metric: rule.metric.clone(),
        };
        if !rule.applies_to(&key) {
            continue;
        }
        let (_, scores) = detectors.observe_scored(w);
        let Some(value) = w.metric(&rule.metric) else {
            continue;
        };
        tried += 1;
        let series_alerts = states
            .entry(w.entity.clone())
            .or_insert_with(|| rules.for_series(key));
        let obs = Observation {
            ts_ms: w.end_ms,
            value,
            anomaly_score: scores.of_metric(&rule.metric),
            runway_days: None,
        };
        for t in series_alerts.evaluate(&obs) {
            match t.to {
                AlertState::Firing => out.push(PreviewAlert {
                    entity: w.entity.clone(),
                    since_ms: t.at_ms,
                    until_ms: None,
                    value: t.value,
                }),
                AlertState::Resolved => {
                    if let Some(open) = out
                        .iter_mut()
                        .rev()
                        .find(|a| a.entity == w.entity && a.until_ms.is_none())
                    {
                        open.until_ms = Some(t.at_ms);
                    }
                }
                _ => {}
            }
        }
    }
    let note = (rule.condition.signal == crate::analysis::Signal::RunwayDays).then(|| {
        "a runway_days rule reads the live forecast; the stored windows of a day cannot show it"
            .to_owned()
    });
    Ok(RulePreview {
        windows: tried,
        alerts: out,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Condition, Op, Signal};

    fn window(entity: &str, start_ms: i64, bytes_per_s: f64) -> SeriesWindow {
        SeriesWindow {
            layer: OsiLayer::L3,
            entity: entity.into(),
            start_ms,
            end_ms: start_ms + 10_000,
            events: 1,
            bytes: (bytes_per_s * 10.0) as u64,
            packets: 1,
            connections: 0,
            requests: 0,
            errors: 0,
            bytes_min: 0,
            bytes_max: 0,
            bytes_per_s,
            events_per_s: 0.1,
            latency: None,
            error_rate: Some(0.0),
            error_classes: Default::default(),
            is_final: true,
            closed_at_ms: None,
        }
    }

    #[test]
    fn a_preview_lists_the_periods_a_rule_would_have_fired_per_entity() {
        let rule = AlertRule {
            id: "busy".into(),
            layer: OsiLayer::L3,
            entity: "link-*".into(),
            metric: "bytes_per_s".into(),
            condition: Condition {
                signal: Signal::Value,
                op: Op::Above,
                fire: 100.0,
                resolve: Some(50.0),
            },
            for_ms: 0,
        };
        let values = [10.0, 200.0, 80.0, 40.0, 300.0];
        let mut windows = Vec::new();
        for (i, v) in values.iter().enumerate() {
            windows.push(window("link-a", i as i64 * 10_000, *v));
            windows.push(window("other", i as i64 * 10_000, 1e9));
        }
        let p = preview(&rule, &windows, 10_000).expect("preview");
        assert_eq!(p.windows, 5, "only the matching entity's windows");
        assert_eq!(
            p.alerts,
            vec![
                PreviewAlert {
                    entity: "link-a".into(),
                    since_ms: 20_000,
                    until_ms: Some(40_000),
                    value: 200.0
                },
                PreviewAlert {
                    entity: "link-a".into(),
                    since_ms: 50_000,
                    until_ms: None,
                    value: 300.0
                },
            ]
        );
    }

    #[test]
    fn runways_rank_full_then_soonest_then_never_then_learning() {
        let r = |entity: &str, state: &str, days: Option<f64>| SeriesRunway {
            layer: OsiLayer::L3,
            entity: entity.into(),
            metric: "bytes_per_s".into(),
            capacity: 1.0,
            current: 0.5,
            days_until_full: days,
            state: state.into(),
            at_ms: 0,
        };
        let mut list = vec![
            r("learning", "learning", None),
            r("later", "filling", Some(30.0)),
            r("never", "never", None),
            r("full", "full", Some(0.0)),
            r("soon", "filling", Some(2.0)),
        ];
        rank_runways(&mut list);
        let order: Vec<&str> = list.iter().map(|r| r.entity.as_str()).collect();
        assert_eq!(order, ["full", "soon", "later", "never", "learning"]);
    }
}
