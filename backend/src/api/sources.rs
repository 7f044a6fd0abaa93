//! `/api/sources`: the S3 sources, those of the configuration file (read-only here) and those
//! admins add, change and remove. Every node picks a change up within a second. No
//! credentials pass here: sources take them from aws-config's default chain.

use actix_web::{delete, get, put, web, HttpResponse};
use layercast_shared::ApiErrorBody;
use serde::Serialize;

use super::auth::Principal;
use super::settings::{created_or_ok, remove, save};
use super::{ApiError, ApiState};
use crate::config::S3SourceConfig;
use crate::store::settings;

/// The configuration file's `[[sources]]`.
#[derive(Clone)]
pub struct FileSources(pub std::sync::Arc<Vec<S3SourceConfig>>);

/// A source and where it is defined.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceEntry {
    #[serde(flatten)]
    pub source: S3SourceConfig,
    /// `config` (the configuration file: change it there) or `api`.
    pub defined_in: String,
}

fn entries(file: &[S3SourceConfig], stored: Vec<S3SourceConfig>) -> Vec<SourceEntry> {
    let mut all: Vec<SourceEntry> = file
        .iter()
        .map(|s| SourceEntry {
            source: s.clone(),
            defined_in: "config".into(),
        })
        .collect();
    all.extend(
        stored
            .into_iter()
            .filter(|s| !file.iter().any(|f| f.name == s.name))
            .map(|s| SourceEntry {
                source: s,
                defined_in: "api".into(),
            }),
    );
    all
}

#[utoipa::path(tag = "data", responses((status = 200, body = Vec<SourceEntry>)))]
#[get("/api/sources")]
pub async fn list_sources(
    state: web::Data<ApiState>,
    file: web::Data<FileSources>,
) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let stored = web::block(move || crate::ingest::keeper::stored_sources(&db)).await??;
    Ok(HttpResponse::Ok().json(entries(&file.0, stored)))
}

#[utoipa::path(
    tag = "data",
    params(("name" = String, Path, description = "The source's name")),
    responses((status = 200, body = SourceEntry), (status = 404, body = ApiErrorBody))
)]
#[get("/api/sources/{name}")]
pub async fn get_source(
    state: web::Data<ApiState>,
    file: web::Data<FileSources>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let name = name.into_inner();
    let stored = web::block(move || crate::ingest::keeper::stored_sources(&db)).await??;
    entries(&file.0, stored)
        .into_iter()
        .find(|e| e.source.name == name)
        .map(|e| HttpResponse::Ok().json(e))
        .ok_or_else(|| ApiError::NotFound(format!("source {name:?}")))
}

/// Adds or replaces a source. Its `name` must be the one in the path. 400 names the field that
/// is wrong; 409 for a source of the configuration file.
#[utoipa::path(
    tag = "data",
    params(("name" = String, Path, description = "The source's name")),
    request_body = S3SourceConfig,
    responses(
        (status = 200, description = "Replaced", body = SourceEntry),
        (status = 201, description = "Added", body = SourceEntry),
        (status = 400, body = ApiErrorBody),
        (status = 409, description = "Defined in the configuration file", body = ApiErrorBody),
    )
)]
#[put("/api/sources/{name}")]
pub async fn put_source(
    state: web::Data<ApiState>,
    file: web::Data<FileSources>,
    by: Principal,
    name: web::Path<String>,
    body: web::Json<S3SourceConfig>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let source = body.into_inner();
    if source.name != name {
        return Err(ApiError::BadRequest(format!(
            "name: {:?} in the body, {name:?} in the path",
            source.name
        )));
    }
    source
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if file.0.iter().any(|f| f.name == name) {
        return Err(ApiError::Conflict(format!(
            "source {name:?} is defined in the configuration file: change it there"
        )));
    }
    let db = state.db.clone();
    let saved = source.clone();
    let created =
        web::block(move || save(&db, &by, settings::SOURCE, &name, &saved, false)).await??;
    let entry = SourceEntry {
        source,
        defined_in: "api".into(),
    };
    Ok(created_or_ok(created, &entry))
}

/// Removes a source added through the API: its reader stops on every node within a second
/// (what it read stays; the ledger remembers the objects).
#[utoipa::path(
    tag = "data",
    params(("name" = String, Path, description = "The source's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ApiErrorBody),
        (status = 409, description = "Defined in the configuration file", body = ApiErrorBody),
    )
)]
#[delete("/api/sources/{name}")]
pub async fn delete_source(
    state: web::Data<ApiState>,
    file: web::Data<FileSources>,
    by: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if file.0.iter().any(|f| f.name == name) {
        return Err(ApiError::Conflict(format!(
            "source {name:?} is defined in the configuration file: remove it there"
        )));
    }
    let db = state.db.clone();
    web::block(move || remove(&db, &by, settings::SOURCE, &name)).await??;
    Ok(HttpResponse::NoContent().finish())
}
