//! `GET /api/audit`: who changed what, for admins.

use actix_web::{get, web, HttpResponse};
use layercast_shared::{ApiErrorBody, AuditEntry};
use serde::Deserialize;

use super::auth::{AuthState, Principal};
use super::ApiError;
use crate::store::{self, audit::Change, DbConn};

/// Records a change made by `by`, now, in the caller's transaction. `before` and `after` must
/// hold no secret.
pub fn record(
    conn: &mut DbConn,
    by: &Principal,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let change = Change {
        actor: &by.actor(),
        address: by.address.as_deref(),
        action,
        target,
        before,
        after,
    };
    store::audit::record(conn, &change, chrono::Utc::now().timestamp_millis())?;
    Ok(())
}

const DEFAULT_ENTRIES: i64 = 100;
const MAX_ENTRIES: i64 = 1_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id (the last id of the page before).
    before: Option<i64>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<i64>,
}

#[utoipa::path(
    tag = "access",
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ApiErrorBody))
)]
#[get("/api/audit")]
pub async fn audit_log(
    auth: web::Data<AuthState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_ENTRIES);
    if !(1..=MAX_ENTRIES).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit={limit}: between 1 and {MAX_ENTRIES}"
        )));
    }
    let (db, before) = (auth.db.clone(), query.before);
    let entries = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::audit::list(&mut conn, before, limit)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(entries))
}
