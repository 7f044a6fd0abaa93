use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use layercast_shared::{
    ApiErrorBody, ComponentHealth, Health, IngestReport, LateReport, LayerSeriesWindow, OsiLayer,
    PartitionStatus, SeriesWindow, WindowAnomaly,
};
use rdkafka::producer::FutureProducer;
use serde::Deserialize;

use super::ApiError;
use crate::store::{self, Db};

/// Rows one `/api/windows` answer carries at most.
const MAX_WINDOW_ROWS: i64 = 10_000;
/// Default span of `/api/windows` when `from` is not given.
const DEFAULT_SPAN_MS: i64 = 3_600_000;
/// Default span of `/api/anomalies`.
const ANOMALY_SPAN_MS: i64 = 86_400_000;
/// Series listed by `/api/late`.
const LATE_SERIES: i64 = 100;
/// Malformed-line samples in `/api/ingest`.
const INGEST_SAMPLES: i64 = 50;

/// What the handlers read; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub db: Db,
    pub producer: FutureProducer,
    pub events_topic: String,
    pub owned_partitions: Arc<Mutex<BTreeSet<i32>>>,
    pub mode: &'static str,
    pub node: String,
    pub window_len_ms: i64,
    /// The base length and every roll-up: what `/api/windows?len=` accepts.
    pub window_lengths_ms: Vec<i64>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The S3 sources' status.
    pub sources: crate::ingest::SourceBoard,
    /// Pushes alerts changed through the API (acknowledged, silenced) to every node's clients.
    pub updates: crate::stream::UpdatePublisher,
}

pub async fn not_found(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("/api/{}", path.into_inner())))
}

/// The node's health: its database and broker. 503 when either is down (the body says which).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Database and broker answer", body = Health),
        (status = 503, description = "Degraded: the database or the broker does not answer", body = Health),
    )
)]
#[get("/api/health")]
pub async fn health(state: web::Data<ApiState>) -> HttpResponse {
    let db = state.db.clone();
    let database = match web::block(move || db.ping()).await {
        Ok(Ok(())) => ComponentHealth {
            ok: true,
            detail: state.db.kind().into(),
        },
        Ok(Err(e)) => ComponentHealth {
            ok: false,
            detail: e.to_string(),
        },
        Err(e) => ComponentHealth {
            ok: false,
            detail: e.to_string(),
        },
    };
    let (producer, topic) = (state.producer.clone(), state.events_topic.clone());
    let broker = match web::block(move || crate::kafka::probe(&producer, &topic)).await {
        Ok(Ok(partitions)) => ComponentHealth {
            ok: true,
            detail: format!("{partitions} partitions in the events topic"),
        },
        Ok(Err(e)) => ComponentHealth {
            ok: false,
            detail: e.to_string(),
        },
        Err(e) => ComponentHealth {
            ok: false,
            detail: e.to_string(),
        },
    };
    let partitions = state
        .owned_partitions
        .lock()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    let ok = database.ok && broker.ok;
    let body = Health {
        status: if ok { "ok" } else { "degraded" }.into(),
        mode: state.mode.into(),
        node: state.node.clone(),
        broker,
        database,
        partitions,
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WindowsQuery {
    /// `L1` to `L7`; all layers when absent.
    layer: Option<String>,
    /// One entity's windows only (`/api/windows`), on every layer it is measured on unless
    /// `layer` is given.
    entity: Option<String>,
    /// Window length: `10s`, `1m`, `1h` (humantime) or plain seconds; one of the stored lengths.
    len: Option<String>,
    /// Start of the span: RFC 3339 or epoch milliseconds.
    from: Option<String>,
    /// End of the span (exclusive): RFC 3339 or epoch milliseconds.
    to: Option<String>,
}

/// A time given as RFC 3339 text or as milliseconds since the epoch.
fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{name}={value:?} is neither RFC 3339 nor epoch milliseconds: {e}"
            ))
        })
}

/// Windows of every series (layer, entity) starting in `[from, to)`, at most 10,000 rows.
#[utoipa::path(
    tag = "data",
    params(WindowsQuery),
    responses((status = 200, body = Vec<SeriesWindow>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/windows")]
pub async fn windows(
    state: web::Data<ApiState>,
    query: web::Query<WindowsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (len, layer, from, to) = len_layer_and_span(&state, &query)?;
    let entity = query.entity.clone().filter(|e| !e.is_empty());
    let db = state.db.clone();
    let base_len = state.window_len_ms;
    let lengths = state.window_lengths_ms.clone();
    let body = web::block(move || {
        let mut conn = db.conn()?;
        let entity = entity.as_deref();
        if len == base_len {
            let rows = store::windows::series_windows_of(
                &mut conn,
                len,
                layer,
                entity,
                from,
                to,
                MAX_WINDOW_ROWS,
            )?;
            return Ok::<_, ApiError>(
                rows.into_iter()
                    .filter_map(|r| r.into_series_window())
                    .collect::<Vec<SeriesWindow>>(),
            );
        }
        // The lengths up to it: shortest first, each a multiple of the one before (the
        // config's rule).
        let levels: Vec<i64> = lengths.into_iter().filter(|&l| l <= len).collect();
        Ok(store::windows::rollup_windows(
            &mut conn,
            &levels,
            layer,
            entity,
            from,
            to,
            MAX_WINDOW_ROWS,
        )?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(body))
}

/// Layer-wide windows (the layer stage's rows), with the parameters of `/api/windows`.
#[utoipa::path(
    tag = "data",
    params(WindowsQuery),
    responses((status = 200, body = Vec<LayerSeriesWindow>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/layers")]
pub async fn layers(
    state: web::Data<ApiState>,
    query: web::Query<WindowsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (len, layer, from, to) = len_layer_and_span(&state, &query)?;
    let db = state.db.clone();
    let rows = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::layer_windows::range(
            &mut conn,
            len,
            layer,
            from,
            to,
            MAX_WINDOW_ROWS,
        )?)
    })
    .await??;
    let body: Vec<LayerSeriesWindow> = rows.into_iter().filter_map(|r| r.into_series()).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// The window length, layer and span of `/api/windows` and `/api/layers`: by default the
/// base length and an hour of its windows, or as many windows of a roll-up.
fn len_layer_and_span(
    state: &ApiState,
    query: &WindowsQuery,
) -> Result<(i64, Option<OsiLayer>, i64, i64), ApiError> {
    let len = match query.len.as_deref() {
        None | Some("") => state.window_len_ms,
        Some(text) => parse_len(text, &state.window_lengths_ms)?,
    };
    let (layer, from, to) = layer_and_span(
        query,
        len,
        DEFAULT_SPAN_MS / state.window_len_ms.max(1) * len,
    )?;
    Ok((len, layer, from, to))
}

/// `layer`, `from` and `to` of a query: `to` defaults to the end of the window open now (of
/// length `len_ms`), `from` to `default_span_ms` before `to`.
fn layer_and_span(
    query: &WindowsQuery,
    len_ms: i64,
    default_span_ms: i64,
) -> Result<(Option<OsiLayer>, i64, i64), ApiError> {
    let layer = match query.layer.as_deref() {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<OsiLayer>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
    };
    let to = match &query.to {
        Some(t) => parse_time("to", t)?,
        None => Utc::now().timestamp_millis() + len_ms,
    };
    let from = match &query.from {
        Some(f) => parse_time("from", f)?,
        None => to - default_span_ms,
    };
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    Ok((layer, from, to))
}

/// A window length from the query: one of the lengths stored.
fn parse_len(text: &str, lengths_ms: &[i64]) -> Result<i64, ApiError> {
    let ms = match text.parse::<u64>() {
        Ok(secs) => secs.saturating_mul(1000),
        Err(_) => humantime::parse_duration(text)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "len={text:?} is not a duration such as 10s, 1m or 1h: {e}"
                ))
            })?,
    };
    lengths_ms
        .iter()
        .copied()
        .find(|&l| u64::try_from(l).ok() == Some(ms))
        .ok_or_else(|| {
            let stored: Vec<String> = lengths_ms
                .iter()
                .map(|l| format!("{}s", l / 1000))
                .collect();
            ApiError::BadRequest(format!(
                "len={text:?}: windows are stored at {} only",
                stored.join(", ")
            ))
        })
}

/// Anomalies the live detectors found in closed windows, newest first; same `layer`, `from`,
/// `to` as `/api/windows` (default: the last 24 hours).
#[utoipa::path(
    tag = "data",
    params(WindowsQuery),
    responses((status = 200, body = Vec<WindowAnomaly>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/anomalies")]
pub async fn anomalies(
    state: web::Data<ApiState>,
    query: web::Query<WindowsQuery>,
) -> Result<HttpResponse, ApiError> {
    if query.len.is_some() {
        return Err(ApiError::BadRequest(
            "len is not a parameter of /api/anomalies (anomalies are of base windows)".into(),
        ));
    }
    let (layer, from, to) = layer_and_span(&query, state.window_len_ms, ANOMALY_SPAN_MS)?;
    let db = state.db.clone();
    let found = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::anomalies::list(
            &mut conn,
            layer,
            from,
            to,
            MAX_WINDOW_ROWS,
        )?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(found))
}

/// Records dropped as later than their window's close: the total and the series with most.
#[utoipa::path(tag = "data", responses((status = 200, body = LateReport)))]
#[get("/api/late")]
pub async fn late(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let report = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::late::report(&mut conn, LATE_SERIES)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(report))
}

/// Every partition of the events topic: who made it durable last, where it stands against
/// the log end. Answers from the database and the broker, so any node gives the whole picture;
/// a broker that does not answer leaves the log end and lag empty rather than failing.
#[utoipa::path(tag = "data", responses((status = 200, body = Vec<PartitionStatus>)))]
#[get("/api/partitions")]
pub async fn partition_status(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let (db, topic) = (state.db.clone(), state.events_topic.clone());
    let stored = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::offsets::all(&mut conn, &topic)?)
    })
    .await??;
    let (producer, topic) = (state.producer.clone(), state.events_topic.clone());
    let ends = web::block(move || crate::kafka::log_ends(&producer, &topic))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "no log end offsets from the broker");
            Vec::new()
        });
    let owned = state
        .owned_partitions
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    let ids: BTreeSet<i32> = stored
        .iter()
        .map(|s| s.partition)
        .chain(ends.iter().map(|e| e.0))
        .collect();
    let body: Vec<PartitionStatus> = ids
        .into_iter()
        .map(|partition| {
            let row = stored.iter().find(|s| s.partition == partition);
            let log_end_offset = ends.iter().find(|e| e.0 == partition).map(|e| e.1);
            let durable_offset = row.map(|r| r.next_offset);
            PartitionStatus {
                partition,
                owner: row.map(|r| r.owner.clone()),
                owned_here: owned.contains(&partition),
                durable_offset,
                log_end_offset,
                lag: log_end_offset.map(|end| end - durable_offset.unwrap_or(0)),
                watermark_ms: row.and_then(|r| r.watermark_ms),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// The node's metrics in the OpenMetrics text format, which Prometheus scrapes.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The metrics: OpenMetrics text when asked for (Accept: application/openmetrics-text, as Prometheus does), else the Prometheus text format 0.0.4", content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(req: actix_web::HttpRequest, state: web::Data<ApiState>) -> HttpResponse {
    // The analysis' gauges come from the database: a stale figure is better than none, so a
    // failed read keeps the last one, and the read waits no longer for a connection than the
    // health check does: Prometheus gives up on a scrape after 10 s by default, and a scrape
    // that times out loses every other metric too, the database's failure counts among them.
    let (db, metrics) = (state.db.clone(), state.metrics.clone());
    let _ = web::block(move || refresh_analysis_gauges(&db, &metrics)).await;
    // Prometheus asks for OpenMetrics; other clients get the classic text format.
    let open_metrics = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if open_metrics {
        HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(state.metrics.render())
    } else {
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(state.metrics.render_classic())
    }
}

/// Prometheus' base unit of time: the runway goes out in seconds, not the API's days.
const SECONDS_PER_DAY: f64 = 86_400.0;

fn refresh_analysis_gauges(db: &Db, m: &crate::metrics::Metrics) -> Result<(), ApiError> {
    use crate::metrics::{RuleLabel, SeriesMetricLabel};
    let mut conn = db.conn_within(store::PING_TIMEOUT)?;
    let runways = store::analysis::runways(&mut conn, 100_000)?;
    let firing = store::analysis::firing_counts(&mut conn)?;
    let pending = store::notifications::pending(&mut conn)?;
    m.series_runway_seconds.clear();
    for r in runways {
        let days = match r.state.as_str() {
            "full" => 0.0,
            "filling" => r.days_until_full.unwrap_or(f64::INFINITY),
            "never" => f64::INFINITY,
            _ => continue,
        };
        m.series_runway_seconds
            .get_or_create(&SeriesMetricLabel {
                layer: r.layer.as_str().to_owned(),
                entity: r.entity,
                metric: r.metric,
            })
            .set(days * SECONDS_PER_DAY);
    }
    m.alerts_firing.clear();
    for (rule, layer, count) in firing {
        m.alerts_firing
            .get_or_create(&RuleLabel { rule, layer })
            .set(count);
    }
    m.notifications_pending.set(pending);
    Ok(())
}

/// What the inbox and the S3 sources read: the ledger's objects, malformed-line samples, and
/// each source's state.
#[utoipa::path(tag = "data", responses((status = 200, body = IngestReport)))]
#[get("/api/ingest")]
pub async fn ingest(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let report = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::ingest::report(&mut conn, INGEST_SAMPLES)?)
    })
    .await??;
    let sources = crate::ingest::stats::report(&state.sources, &state.metrics);
    Ok(HttpResponse::Ok().json(IngestReport { sources, ..report }))
}
