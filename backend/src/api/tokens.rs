//! `/api/tokens`: bearer tokens for programs, for admins. Stored hashed; shown once.

use actix_web::{delete, get, post, web, HttpResponse};
use layercast_shared::{ApiErrorBody, ApiToken, CreatedToken, NewToken};

use super::audit;
use super::auth::{secret, AuthState, Principal, Via};
use super::users::check_name;
use super::ApiError;
use crate::store::{self, Db};

/// The longest a token may be valid for.
const MAX_EXPIRY_DAYS: u64 = 3_650;

/// `30d`, `12h` (humantime) as milliseconds, bounded.
pub fn parse_expiry(text: &str) -> Result<i64, ApiError> {
    let d = humantime::parse_duration(text).map_err(|e| {
        ApiError::BadRequest(format!(
            "expires_in {text:?} is not a duration such as 30d or 12h: {e}"
        ))
    })?;
    if d.is_zero() || d.as_secs() > MAX_EXPIRY_DAYS * 86_400 {
        return Err(ApiError::BadRequest(format!(
            "expires_in {text:?}: between 1 s and {MAX_EXPIRY_DAYS} days"
        )));
    }
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Creates a token: for the API and `layercast token create`. The answer is the only place
/// the token appears.
pub fn create_token(db: &Db, new: &NewToken, by: &Principal) -> Result<CreatedToken, ApiError> {
    check_name(&new.name)?;
    let expires_in = new.expires_in.as_deref().map(parse_expiry).transpose()?;
    let token = secret::new_token().map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let prefix: String = token.chars().take(8).collect();
    let created_by = by.actor();
    let mut conn = db.conn()?;
    let info = store::write_transaction(&mut conn, |conn| {
        let row = store::tokens::insert(
            conn,
            &store::tokens::NewTokenRow {
                token_hash: &secret::stored_hash(&token),
                prefix: &prefix,
                name: &new.name,
                role: new.role,
                created_by: &created_by,
                now_ms,
                expires_ms: expires_in.map(|ms| now_ms.saturating_add(ms)),
            },
        )?;
        let info = row.to_api();
        audit::record(
            conn,
            by,
            "token.create",
            &format!("token:{}", info.id),
            None,
            serde_json::to_value(&info).ok(),
        )?;
        Ok::<_, ApiError>(info)
    })?;
    Ok(CreatedToken { token, info })
}

#[utoipa::path(tag = "access", responses((status = 200, body = Vec<ApiToken>)))]
#[get("/api/tokens")]
pub async fn list_tokens(auth: web::Data<AuthState>) -> Result<HttpResponse, ApiError> {
    let db = auth.db.clone();
    let tokens = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::tokens::list(&mut conn)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Creates an API token with a role, a name and an optional expiry. The answer holds the
/// token; it cannot be shown again.
#[utoipa::path(
    tag = "access",
    request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ApiErrorBody))
)]
#[post("/api/tokens")]
pub async fn create_token_route(
    auth: web::Data<AuthState>,
    by: Principal,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let db = auth.db.clone();
    let new = body.into_inner();
    let created = web::block(move || create_token(&db, &new, &by)).await??;
    Ok(HttpResponse::Created().json(created))
}

/// Revokes a token: refused at once by every node. A token cannot revoke itself (use another
/// credential), so that a script cannot lock its own access out by mistake.
#[utoipa::path(
    tag = "access",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, body = ApiErrorBody),
        (status = 409, description = "The token of this very request", body = ApiErrorBody),
    )
)]
#[delete("/api/tokens/{id}")]
pub async fn revoke_token(
    auth: web::Data<AuthState>,
    by: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if by.via == Via::Token && by.token_id == Some(id) {
        return Err(ApiError::Conflict(
            "a token cannot revoke itself; use another token or a session".into(),
        ));
    }
    let db = auth.db.clone();
    web::block(move || {
        let mut conn = db.conn()?;
        store::write_transaction(&mut conn, |conn| {
            let before = store::tokens::get(conn, id)?
                .ok_or_else(|| ApiError::NotFound(format!("token {id}")))?
                .to_api();
            store::tokens::revoke(conn, id)?;
            let after = ApiToken {
                revoked: true,
                ..before.clone()
            };
            audit::record(
                conn,
                &by,
                "token.revoke",
                &format!("token:{id}"),
                serde_json::to_value(&before).ok(),
                serde_json::to_value(&after).ok(),
            )
        })
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}
