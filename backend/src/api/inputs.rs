//! What admins set for the live analysis: capacities (`/api/capacities`), alert rules
//! (`/api/rules`) and precursor groups (`/api/groups`). Stored in the database, where every
//! node reads them; every change is audited; an invalid one gets a 400 naming the field.

use actix_web::{delete, get, post, put, web, HttpResponse};
use layercast_shared::{ApiErrorBody, OsiLayer};
use serde::Deserialize;

use super::auth::Principal;
use super::settings::{created_or_ok, load_all, load_one, remove, save};
use super::{ApiError, ApiState};
pub use crate::analysis::Capacity;
use crate::analysis::{AlertRule, EntityGroup, METRIC_NAMES};
use crate::store::settings;

/// Entities a group holds at most, and the longest entity name or pattern.
const MAX_GROUP_ENTITIES: usize = 1_000;
const MAX_ENTITY_CHARS: usize = 255;

/// `PUT /api/capacities/{layer}/{entity}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityBody {
    pub metric: String,
    /// Above zero, in the metric's unit (bytes per second for `bytes_per_s`).
    pub capacity: f64,
}

/// `DELETE /api/capacities/{layer}/{entity}`: one metric's capacity, or all of the series'.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CapacityQuery {
    metric: Option<String>,
}

/// `PUT /api/groups/{name}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Entity names (a switch port and the service behind it).
    pub entities: Vec<String>,
}

fn check_metric(field: &str, metric: &str) -> Result<(), ApiError> {
    if METRIC_NAMES.contains(&metric) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{field}: {metric:?} is not a metric; one of {}",
            METRIC_NAMES.join(", ")
        )))
    }
}

fn check_entity(field: &str, entity: &str) -> Result<(), ApiError> {
    if entity.trim().is_empty() || entity.chars().count() > MAX_ENTITY_CHARS {
        return Err(ApiError::BadRequest(format!(
            "{field}: 1 to {MAX_ENTITY_CHARS} characters"
        )));
    }
    Ok(())
}

fn parse_layer(text: &str) -> Result<OsiLayer, ApiError> {
    text.parse()
        .map_err(|e: layercast_shared::UnknownLayer| ApiError::BadRequest(format!("layer: {e}")))
}

fn capacity_key(layer: OsiLayer, metric: &str, entity: &str) -> String {
    // The entity last: it may hold `/`.
    format!("{layer}/{metric}/{entity}")
}

// ---- capacities

#[utoipa::path(tag = "analysis", responses((status = 200, body = Vec<Capacity>)))]
#[get("/api/capacities")]
pub async fn list_capacities(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let all: Vec<Capacity> = web::block(move || load_all(&db, settings::CAPACITY)).await??;
    Ok(HttpResponse::Ok().json(all))
}

/// The capacities of one series (every metric that has one).
#[utoipa::path(
    tag = "analysis",
    params(("layer" = String, Path, description = "L1 to L7"), ("entity" = String, Path, description = "The entity (may hold `/`)")),
    responses((status = 200, body = Vec<Capacity>), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody))
)]
#[get("/api/capacities/{layer}/{entity:.+}")]
pub async fn get_capacities(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (layer, entity) = path.into_inner();
    let layer = parse_layer(&layer)?;
    let db = state.db.clone();
    let all: Vec<Capacity> = web::block(move || load_all(&db, settings::CAPACITY)).await??;
    let mine: Vec<Capacity> = all
        .into_iter()
        .filter(|c| c.layer == layer && c.entity == entity)
        .collect();
    if mine.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no capacity of {layer} {entity:?}"
        )));
    }
    Ok(HttpResponse::Ok().json(mine))
}

/// Sets a series' capacity in one metric (201 when new, 200 when replaced).
#[utoipa::path(
    tag = "analysis",
    params(("layer" = String, Path, description = "L1 to L7"), ("entity" = String, Path, description = "The entity (may hold `/`)")),
    request_body = CapacityBody,
    responses((status = 200, body = Capacity), (status = 201, body = Capacity), (status = 400, body = ApiErrorBody))
)]
#[put("/api/capacities/{layer}/{entity:.+}")]
pub async fn put_capacity(
    state: web::Data<ApiState>,
    by: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<CapacityBody>,
) -> Result<HttpResponse, ApiError> {
    let (layer, entity) = path.into_inner();
    let layer = parse_layer(&layer)?;
    check_entity("entity", &entity)?;
    let CapacityBody { metric, capacity } = body.into_inner();
    check_metric("metric", &metric)?;
    if !(capacity.is_finite() && capacity > 0.0) {
        return Err(ApiError::BadRequest(format!(
            "capacity: must be a number above zero, got {capacity}"
        )));
    }
    let value = Capacity {
        layer,
        entity,
        metric,
        capacity,
    };
    let db = state.db.clone();
    let saved = value.clone();
    let created = web::block(move || {
        let key = capacity_key(saved.layer, &saved.metric, &saved.entity);
        save(&db, &by, settings::CAPACITY, &key, &saved, false)
    })
    .await??;
    Ok(created_or_ok(created, &value))
}

/// Removes a series' capacity in `metric`, or in every metric without it.
#[utoipa::path(
    tag = "analysis",
    params(("layer" = String, Path, description = "L1 to L7"), ("entity" = String, Path, description = "The entity (may hold `/`)"), CapacityQuery),
    responses((status = 204, description = "Removed"), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody))
)]
#[delete("/api/capacities/{layer}/{entity:.+}")]
pub async fn delete_capacity(
    state: web::Data<ApiState>,
    by: Principal,
    path: web::Path<(String, String)>,
    query: web::Query<CapacityQuery>,
) -> Result<HttpResponse, ApiError> {
    let (layer, entity) = path.into_inner();
    let layer = parse_layer(&layer)?;
    let metrics: Vec<String> = match &query.metric {
        Some(m) => {
            check_metric("metric", m)?;
            vec![m.clone()]
        }
        None => METRIC_NAMES.iter().map(|m| (*m).to_owned()).collect(),
    };
    let db = state.db.clone();
    web::block(move || {
        let mut removed = 0;
        for metric in &metrics {
            match remove(
                &db,
                &by,
                settings::CAPACITY,
                &capacity_key(layer, metric, &entity),
            ) {
                Ok(()) => removed += 1,
                Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if removed == 0 {
            return Err(ApiError::NotFound(format!(
                "no capacity of {layer} {entity:?}"
            )));
        }
        Ok(())
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

// ---- rules

fn check_rule(rule: &AlertRule) -> Result<(), ApiError> {
    let id_ok = !rule.id.is_empty()
        && rule.id.len() <= 128
        && rule
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !id_ok {
        return Err(ApiError::BadRequest(format!(
            "id: {:?}: 1 to 128 letters, digits or . - _",
            rule.id
        )));
    }
    rule.validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    check_entity("entity", &rule.entity)?;
    check_metric("metric", &rule.metric)
}

#[utoipa::path(tag = "analysis", responses((status = 200, body = Vec<AlertRule>)))]
#[get("/api/rules")]
pub async fn list_rules(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let all: Vec<AlertRule> = web::block(move || load_all(&db, settings::RULE)).await??;
    Ok(HttpResponse::Ok().json(all))
}

/// Adds a rule (its `id` must be new: 409 otherwise).
#[utoipa::path(
    tag = "analysis",
    request_body = AlertRule,
    responses((status = 201, body = AlertRule), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody))
)]
#[post("/api/rules")]
pub async fn create_rule(
    state: web::Data<ApiState>,
    by: Principal,
    body: web::Json<AlertRule>,
) -> Result<HttpResponse, ApiError> {
    let rule = body.into_inner();
    check_rule(&rule)?;
    let db = state.db.clone();
    let saved = rule.clone();
    web::block(move || save(&db, &by, settings::RULE, &saved.id, &saved, true)).await??;
    Ok(HttpResponse::Created().json(rule))
}

#[utoipa::path(
    tag = "analysis",
    params(("id" = String, Path, description = "The rule's id")),
    responses((status = 200, body = AlertRule), (status = 404, body = ApiErrorBody))
)]
#[get("/api/rules/{id}")]
pub async fn get_rule(
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let db = state.db.clone();
    let rule: AlertRule = web::block(move || load_one(&db, settings::RULE, &id)).await??;
    Ok(HttpResponse::Ok().json(rule))
}

/// Adds or replaces a rule; its `id` must be the one in the path.
#[utoipa::path(
    tag = "analysis",
    params(("id" = String, Path, description = "The rule's id")),
    request_body = AlertRule,
    responses((status = 200, body = AlertRule), (status = 201, body = AlertRule), (status = 400, body = ApiErrorBody))
)]
#[put("/api/rules/{id}")]
pub async fn put_rule(
    state: web::Data<ApiState>,
    by: Principal,
    id: web::Path<String>,
    body: web::Json<AlertRule>,
) -> Result<HttpResponse, ApiError> {
    let rule = body.into_inner();
    if rule.id != *id {
        return Err(ApiError::BadRequest(format!(
            "id: {:?} in the body, {:?} in the path",
            rule.id,
            id.as_str()
        )));
    }
    check_rule(&rule)?;
    let db = state.db.clone();
    let saved = rule.clone();
    let created =
        web::block(move || save(&db, &by, settings::RULE, &saved.id, &saved, false)).await??;
    Ok(created_or_ok(created, &rule))
}

#[utoipa::path(
    tag = "analysis",
    params(("id" = String, Path, description = "The rule's id")),
    responses((status = 204, description = "Removed"), (status = 404, body = ApiErrorBody))
)]
#[delete("/api/rules/{id}")]
pub async fn delete_rule(
    state: web::Data<ApiState>,
    by: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let id = id.into_inner();
    web::block(move || remove(&db, &by, settings::RULE, &id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

// ---- groups

#[utoipa::path(tag = "analysis", responses((status = 200, body = Vec<EntityGroup>)))]
#[get("/api/groups")]
pub async fn list_groups(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let all: Vec<EntityGroup> = web::block(move || load_all(&db, settings::GROUP)).await??;
    Ok(HttpResponse::Ok().json(all))
}

#[utoipa::path(
    tag = "analysis",
    params(("name" = String, Path, description = "The group's name")),
    responses((status = 200, body = EntityGroup), (status = 404, body = ApiErrorBody))
)]
#[get("/api/groups/{name}")]
pub async fn get_group(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let db = state.db.clone();
    let group: EntityGroup = web::block(move || load_one(&db, settings::GROUP, &name)).await??;
    Ok(HttpResponse::Ok().json(group))
}

/// Sets a precursor group: entities that belong together (a switch port and the service
/// behind it), so an anomaly on a lower layer of one is linked to an alert on a higher layer
/// of another.
#[utoipa::path(
    tag = "analysis",
    params(("name" = String, Path, description = "The group's name")),
    request_body = GroupBody,
    responses((status = 200, body = EntityGroup), (status = 201, body = EntityGroup), (status = 400, body = ApiErrorBody))
)]
#[put("/api/groups/{name}")]
pub async fn put_group(
    state: web::Data<ApiState>,
    by: Principal,
    name: web::Path<String>,
    body: web::Json<GroupBody>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    check_entity("name", &name)?;
    let GroupBody { entities } = body.into_inner();
    if entities.is_empty() || entities.len() > MAX_GROUP_ENTITIES {
        return Err(ApiError::BadRequest(format!(
            "entities: 1 to {MAX_GROUP_ENTITIES} names"
        )));
    }
    for e in &entities {
        check_entity("entities", e)?;
    }
    let group = EntityGroup { name, entities };
    let db = state.db.clone();
    let saved = group.clone();
    let created =
        web::block(move || save(&db, &by, settings::GROUP, &saved.name, &saved, false)).await??;
    Ok(created_or_ok(created, &group))
}

#[utoipa::path(
    tag = "analysis",
    params(("name" = String, Path, description = "The group's name")),
    responses((status = 204, description = "Removed"), (status = 404, body = ApiErrorBody))
)]
#[delete("/api/groups/{name}")]
pub async fn delete_group(
    state: web::Data<ApiState>,
    by: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let name = name.into_inner();
    web::block(move || remove(&db, &by, settings::GROUP, &name)).await??;
    Ok(HttpResponse::NoContent().finish())
}
