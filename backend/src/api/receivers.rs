//! Where alert notifications go (`/api/receivers`): a generic webhook or an Alertmanager.
//! Admins only, even to read: a receiver's `authorization` is a secret, stored and sent with
//! every notification, never shown again (reads and the audit log say `(set)`).

use actix_web::{delete, get, put, web, HttpResponse};
use layercast_shared::ApiErrorBody;

use super::auth::Principal;
use super::settings::{created_or_ok, load_all, load_one, remove, save, SECRET_SHOWN};
use super::{ApiError, ApiState};
use crate::notify::{Receiver, ReceiverKind};
use crate::store::{notifications, settings};

const MAX_NAME_CHARS: usize = 100;
const MAX_URL_CHARS: usize = 2_000;
const MAX_AUTHORIZATION_CHARS: usize = 4_000;

/// `PUT /api/receivers/{name}`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverBody {
    pub kind: ReceiverKind,
    /// `http://` or `https://`. For Alertmanager its base URL (the alerts go to
    /// `{url}/api/v2/alerts`).
    pub url: String,
    /// Sent as the `Authorization` header. Absent on an update: the stored one is kept.
    #[serde(default)]
    pub authorization: Option<String>,
}

fn shown(mut r: Receiver) -> Receiver {
    if r.authorization.is_some() {
        r.authorization = Some(SECRET_SHOWN.into());
    }
    r
}

#[utoipa::path(tag = "analysis", responses((status = 200, body = Vec<Receiver>)))]
#[get("/api/receivers")]
pub async fn list_receivers(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let all: Vec<Receiver> = web::block(move || load_all(&db, settings::RECEIVER)).await??;
    Ok(HttpResponse::Ok().json(all.into_iter().map(shown).collect::<Vec<_>>()))
}

#[utoipa::path(
    tag = "analysis",
    params(("name" = String, Path, description = "The receiver's name")),
    responses((status = 200, body = Receiver), (status = 404, body = ApiErrorBody))
)]
#[get("/api/receivers/{name}")]
pub async fn get_receiver(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let name = name.into_inner();
    let r: Receiver = web::block(move || load_one(&db, settings::RECEIVER, &name)).await??;
    Ok(HttpResponse::Ok().json(shown(r)))
}

/// Creates or replaces a receiver (201 when new). Notifications of later alert changes go to
/// it.
#[utoipa::path(
    tag = "analysis",
    params(("name" = String, Path, description = "The receiver's name")),
    request_body = ReceiverBody,
    responses((status = 200, body = Receiver), (status = 201, body = Receiver), (status = 400, body = ApiErrorBody))
)]
#[put("/api/receivers/{name}")]
pub async fn put_receiver(
    state: web::Data<ApiState>,
    by: Principal,
    name: web::Path<String>,
    body: web::Json<ReceiverBody>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let body = body.into_inner();
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.contains(|c: char| c.is_control() || c == '/')
    {
        return Err(ApiError::BadRequest(format!(
            "name: 1 to {MAX_NAME_CHARS} characters, no slash"
        )));
    }
    let url = body.url.trim().to_owned();
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok
        || url.len() > MAX_URL_CHARS
        || url.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::BadRequest(format!(
            "url: an http:// or https:// URL of at most {MAX_URL_CHARS} characters"
        )));
    }
    if body
        .authorization
        .as_ref()
        .is_some_and(|a| a.len() > MAX_AUTHORIZATION_CHARS || a.contains(['\r', '\n']))
    {
        return Err(ApiError::BadRequest(format!(
            "authorization: one line of at most {MAX_AUTHORIZATION_CHARS} characters"
        )));
    }
    let db = state.db.clone();
    let (created, receiver) = web::block(move || {
        let kept = match body.authorization {
            Some(a) => Some(a),
            None => load_one::<Receiver>(&db, settings::RECEIVER, &name)
                .ok()
                .and_then(|r| r.authorization),
        };
        let receiver = Receiver {
            name: name.clone(),
            kind: body.kind,
            url,
            authorization: kept,
        };
        let created = save(&db, &by, settings::RECEIVER, &name, &receiver, false)?;
        Ok::<_, ApiError>((created, receiver))
    })
    .await??;
    Ok(created_or_ok(created, &shown(receiver)))
}

/// Removes a receiver, and what it had not been sent yet.
#[utoipa::path(
    tag = "analysis",
    params(("name" = String, Path, description = "The receiver's name")),
    responses((status = 204), (status = 404, body = ApiErrorBody))
)]
#[delete("/api/receivers/{name}")]
pub async fn delete_receiver(
    state: web::Data<ApiState>,
    by: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let name = name.into_inner();
    web::block(move || {
        remove(&db, &by, settings::RECEIVER, &name)?;
        let mut conn = db.conn()?;
        notifications::drop_receiver(&mut conn, &name)?;
        Ok::<_, ApiError>(())
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}
