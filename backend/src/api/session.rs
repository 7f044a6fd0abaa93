//! Logging in and out, and who the caller is.

use std::time::Instant;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use layercast_shared::{ApiErrorBody, LoginRequest, Me};

use super::auth::{password, secret, AuthState, Principal, SESSION_COOKIE};
use super::ApiError;
use crate::store;

/// Longest user name accepted anywhere.
pub const MAX_NAME_CHARS: usize = 64;

/// Logs in with a user name and password: sets the session cookie (HttpOnly, SameSite=Strict,
/// Secure over TLS) and answers who is logged in, with the CSRF token to send with changes.
#[utoipa::path(
    tag = "access",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = Me),
        (status = 401, description = "Wrong user name or password", body = ApiErrorBody),
        (status = 429, description = "Too many failed logins for this user or address; see Retry-After", body = ApiErrorBody),
    )
)]
#[post("/api/login")]
pub async fn login(
    req: HttpRequest,
    auth: web::Data<AuthState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { name, password } = body.into_inner();
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let user_key = format!("user:{}", name.to_lowercase());
    let keys = [user_key.clone(), format!("addr:{address}")];
    if let Err(wait) = auth.throttle.check(&keys, Instant::now()) {
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    if name.chars().count() > MAX_NAME_CHARS || password.len() > password::MAX_PASSWORD_CHARS * 4 {
        auth.throttle.failed(&keys, Instant::now());
        return Err(ApiError::BadCredentials);
    }
    let db = auth.db.clone();
    let session_ms = auth.session_ms;
    let found = web::block({
        let (name, address) = (name.clone(), address.clone());
        move || {
            let mut conn = db.conn()?;
            let Some(user) = store::users::get(&mut conn, &name)? else {
                password::verify_nothing(&password);
                return Ok::<_, ApiError>(None);
            };
            if !password::verify(&password, &user.password_hash) {
                return Ok(None);
            }
            let id = secret::random_secret().map_err(|e| ApiError::Unavailable(e.to_string()))?;
            let csrf = secret::random_secret().map_err(|e| ApiError::Unavailable(e.to_string()))?;
            let now_ms = chrono::Utc::now().timestamp_millis();
            let expires_ms = now_ms.saturating_add(session_ms);
            store::sessions::insert(
                &mut conn,
                &store::sessions::NewSession {
                    id_hash: &secret::stored_hash(&id),
                    user_name: &user.name,
                    csrf_token: &csrf,
                    now_ms,
                    expires_ms,
                    address: Some(&address),
                },
            )?;
            store::users::touch_login(&mut conn, &user.name, now_ms)?;
            // Expired sessions go at logins, which are rare, rather than on a timer.
            store::sessions::purge(&mut conn, now_ms - 86_400_000)?;
            Ok(Some((user, id, csrf, expires_ms)))
        }
    })
    .await??;
    let Some((user, id, csrf, expires_ms)) = found else {
        auth.throttle.failed(&keys, Instant::now());
        tracing::info!(user = %name, %address, "failed login");
        return Err(ApiError::BadCredentials);
    };
    auth.throttle.succeeded(&user_key);
    tracing::info!(user = %user.name, %address, "login");
    let cookie = Cookie::build(SESSION_COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(actix_web::cookie::time::Duration::milliseconds(session_ms))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(Me {
        name: Some(user.name.clone()),
        role: Some(user.role()),
        via: "session".into(),
        csrf_token: Some(csrf),
        expires_ms: Some(expires_ms),
    }))
}

/// Ends the caller's browser session (on every node at once: sessions live in the database).
#[utoipa::path(
    tag = "access",
    responses((status = 204, description = "Logged out; the cookie is cleared"))
)]
#[post("/api/logout")]
pub async fn logout(
    auth: web::Data<AuthState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    if let Some(hash) = principal.session_hash.clone() {
        let db = auth.db.clone();
        web::block(move || {
            let mut conn = db.conn()?;
            Ok::<_, ApiError>(store::sessions::revoke(&mut conn, &hash)?)
        })
        .await??;
        tracing::info!(user = principal.name.as_deref().unwrap_or("-"), "logout");
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// Who the caller is: user or token name, role, and for a session its CSRF token. `role` is
/// absent when the caller is not logged in and anonymous viewing is off.
#[utoipa::path(tag = "access", responses((status = 200, body = Me)))]
#[get("/api/me")]
pub async fn me(auth: web::Data<AuthState>, principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(principal.me(auth.anonymous_viewer))
}
