//! Who is calling: sessions (browser cookie), API tokens (Bearer, or `?token=` on `/ws`) and
//! the anonymous viewer; the guard that applies [`super::policy`] in front of every route.

pub mod password;
pub mod secret;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use layercast_shared::{Me, Role};

use super::policy::{self, Access};
use super::ApiError;
use crate::store::{self, Db};

/// The browser session's cookie.
pub const SESSION_COOKIE: &str = "layercast_session";
/// The header a browser session sends with every change, holding the session's CSRF token
/// (from the login answer or `/api/me`): a page of another site can make the browser send the
/// cookie, but cannot read the token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The file where the first start leaves the first admin's password (mode 0600).
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// The first admin's name.
pub const FIRST_ADMIN: &str = "admin";

/// What the guard and the access routes need; one per server, shared by its workers.
#[derive(Clone)]
pub struct AuthState {
    pub db: Db,
    pub throttle: Arc<throttle::LoginThrottle>,
    pub anonymous_viewer: bool,
    pub open_metrics: bool,
    pub open_health: bool,
    pub session_ms: i64,
    pub max_body_bytes: usize,
    pub allowed_origins: Arc<Vec<String>>,
}

impl AuthState {
    pub fn new(db: Db, auth: &crate::config::AuthConfig, anonymous_viewer: bool) -> Self {
        AuthState {
            db,
            throttle: Arc::new(throttle::LoginThrottle::new(
                auth.login_failures,
                Duration::from_secs(auth.login_window_secs),
            )),
            anonymous_viewer,
            open_metrics: auth.open_metrics,
            open_health: auth.open_health,
            session_ms: i64::try_from(auth.session_hours)
                .unwrap_or(24)
                .saturating_mul(3_600_000),
            max_body_bytes: auth.max_body_bytes,
            allowed_origins: Arc::new(auth.allowed_origins.clone()),
        }
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
    /// `layercast user add` and `token create`, on the database directly.
    CommandLine,
    Anonymous,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Token => "token",
            Via::CommandLine => "cli",
            Via::Anonymous => "anonymous",
        }
    }
}

/// The caller of a request, as the guard found it. Handlers take it as an extractor.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: Option<String>,
    /// `None`: no credentials (the anonymous viewer, where it is allowed, has none either).
    pub role: Option<Role>,
    pub via: Via,
    pub csrf_token: Option<String>,
    pub expires_ms: Option<i64>,
    /// The stored hash of the session id, for logout.
    pub session_hash: Option<String>,
    pub token_id: Option<i64>,
    /// The peer's address (not a forwarded header, which anyone can write).
    pub address: Option<String>,
}

impl Principal {
    fn anonymous(address: Option<String>) -> Self {
        Principal {
            name: None,
            role: None,
            via: Via::Anonymous,
            csrf_token: None,
            expires_ms: None,
            session_hash: None,
            token_id: None,
            address,
        }
    }

    pub fn command_line() -> Self {
        Principal {
            via: Via::CommandLine,
            ..Self::anonymous(None)
        }
    }

    /// Who made a change, as the audit log names it.
    pub fn actor(&self) -> String {
        let name = self.name.as_deref().unwrap_or("-");
        match self.via {
            Via::Session => format!("user:{name}"),
            Via::Token => format!("token:{name}"),
            Via::CommandLine => "cli".into(),
            Via::Anonymous => "anonymous".into(),
        }
    }

    pub fn me(&self, anonymous_viewer: bool) -> Me {
        let role = match self.role {
            Some(role) => Some(role),
            None if anonymous_viewer => Some(Role::Viewer),
            None => None,
        };
        Me {
            name: self.name.clone(),
            role,
            via: self.via.as_str().into(),
            csrf_token: self.csrf_token.clone(),
            expires_ms: self.expires_ms,
        }
    }
}

impl FromRequest for Principal {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = req.extensions().get::<Principal>().cloned();
        std::future::ready(Ok(found.unwrap_or_else(|| {
            Principal::anonymous(req.peer_addr().map(|a| a.ip().to_string()))
        })))
    }
}

/// Credentials a request carries.
enum Presented {
    Bearer(String),
    Session(String),
    Nothing,
}

fn presented(req: &ServiceRequest, path: &str) -> Result<Presented, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or("");
        return match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(Presented::Bearer(token.trim().to_owned()))
            }
            _ => Err(ApiError::Unauthorized(
                "the Authorization header must be `Bearer <token>`".into(),
            )),
        };
    }
    // Browsers cannot set headers on a WebSocket, so programs that use one from a browser
    // page pass the token in the address.
    if path == "/ws" {
        let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
        if let Some((_, token)) = query.into_iter().find(|(k, _)| k == "token") {
            return Ok(Presented::Bearer(token));
        }
    }
    match req.cookie(SESSION_COOKIE) {
        Some(cookie) if !cookie.value().is_empty() => {
            Ok(Presented::Session(cookie.value().to_owned()))
        }
        _ => Ok(Presented::Nothing),
    }
}

/// Looks the credentials up. A bad token is an error (a program should hear that its token is
/// wrong); a stale session cookie is only no session (the browser then shows the login).
async fn resolve(
    state: &AuthState,
    creds: Presented,
    address: Option<String>,
) -> Result<Principal, ApiError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let db = state.db.clone();
    match creds {
        Presented::Nothing => Ok(Principal::anonymous(address)),
        Presented::Bearer(token) => {
            if token.len() > 256 {
                return Err(ApiError::Unauthorized(
                    "unknown or revoked API token".into(),
                ));
            }
            let hash = secret::stored_hash(&token);
            let row = web::block(move || {
                let mut conn = db.conn()?;
                Ok::<_, ApiError>(store::tokens::live(&mut conn, &hash, now_ms)?)
            })
            .await??;
            let row = row.ok_or_else(|| {
                ApiError::Unauthorized("unknown, expired or revoked API token".into())
            })?;
            Ok(Principal {
                name: Some(row.name.clone()),
                role: Some(row.role()),
                via: Via::Token,
                expires_ms: row.expires_ms,
                token_id: Some(row.id),
                ..Principal::anonymous(address)
            })
        }
        Presented::Session(id) => {
            if id.len() > 128 {
                return Ok(Principal::anonymous(address));
            }
            let hash = secret::stored_hash(&id);
            let found = {
                let hash = hash.clone();
                web::block(move || {
                    let mut conn = db.conn()?;
                    Ok::<_, ApiError>(store::sessions::live(&mut conn, &hash, now_ms)?)
                })
                .await??
            };
            Ok(match found {
                Some(session) => Principal {
                    role: Some(session.role.parse().unwrap_or(Role::Viewer)),
                    name: Some(session.user_name),
                    via: Via::Session,
                    csrf_token: Some(session.csrf_token),
                    expires_ms: Some(session.expires_ms),
                    session_hash: Some(hash),
                    ..Principal::anonymous(address)
                },
                None => Principal::anonymous(address),
            })
        }
    }
}

/// Whether a page at `origin` may open this server's WebSocket: its own origin, or one the
/// settings allow.
fn origin_allowed(req: &ServiceRequest, origin: &str, allowed: &[String]) -> bool {
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    origin.eq_ignore_ascii_case(&own) || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// Decides a request before any handler sees it.
async fn admit(req: &ServiceRequest, state: &AuthState) -> Result<Principal, ApiError> {
    let too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > u64::try_from(state.max_body_bytes).unwrap_or(u64::MAX));
    if too_large {
        return Err(ApiError::TooLarge(state.max_body_bytes));
    }
    // The path the router matches: percent-decoded, so `/api/%75sers` is `/api/users` here too.
    let path = req.match_info().unprocessed().to_owned();
    if path == "/ws" {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !origin_allowed(req, origin, &state.allowed_origins) {
                return Err(ApiError::Forbidden(format!(
                    "a page at {origin:?} may not open this WebSocket (auth.allowed_origins)"
                )));
            }
        }
    }
    let address = req.peer_addr().map(|a| a.ip().to_string());
    let method = req.method();
    let needs = policy::access(method, &path);
    // The dashboard's files are open and the browser sends the cookie with each: no lookup.
    if needs == Access::Open && !path.starts_with("/api/") {
        return Ok(Principal::anonymous(address));
    }
    let principal = resolve(state, presented(req, &path)?, address).await?;
    let viewer = principal.role.is_some() || state.anonymous_viewer;
    let allowed = match needs {
        Access::Open => true,
        Access::Health => state.open_health || viewer,
        Access::Metrics => state.open_metrics || viewer,
        Access::Viewer => viewer,
        Access::Admin => principal.role == Some(Role::Admin),
    };
    if !allowed {
        return Err(match principal.role {
            None => ApiError::Unauthorized(format!(
                "{method} {path} needs {} (log in, or send an API token as `Authorization: Bearer`)",
                needs.who()
            )),
            Some(role) => ApiError::Forbidden(format!(
                "{method} {path} needs {}; this {} has the {role} role",
                needs.who(),
                principal.via.as_str()
            )),
        });
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    // Logging in again from a browser that still has a session needs no token of the old
    // one (and SameSite=Strict keeps other sites' pages from sending the cookie anyway).
    if principal.via == Via::Session && !safe && path != "/api/login" {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let expected = principal.csrf_token.as_deref().unwrap_or("");
        if expected.is_empty() || !secret::same_secret(sent, expected) {
            return Err(ApiError::Forbidden(format!(
                "a change from a browser session needs the session's {CSRF_HEADER} header"
            )));
        }
    }
    Ok(principal)
}

/// The middleware in front of every route (`from_fn`).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AuthState>>().cloned() else {
        // A server built without access control would be open: refuse instead.
        let error = ApiError::Unavailable("access control is not configured".into());
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    };
    match admit(&req, &state).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitialAdminError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    #[error(transparent)]
    Random(#[from] secret::NoRandomness),
    #[error("cannot write {path}: {error}")]
    File { path: String, error: std::io::Error },
}

/// On a database without users: creates `admin` with a random password, writes it to
/// `<data_dir>/initial-admin-password` (0600) and returns it, once. Several nodes starting
/// together race on the insert; only the winner writes the file and gets the password.
pub fn create_initial_admin(
    db: &Db,
    data_dir: &std::path::Path,
) -> Result<Option<(String, std::path::PathBuf)>, InitialAdminError> {
    let mut conn = db.conn()?;
    if store::users::count(&mut conn)? > 0 {
        return Ok(None);
    }
    let password = secret::random_secret()?
        .chars()
        .take(24)
        .collect::<String>();
    let hash = password::hash(&password)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    match store::users::insert(&mut conn, FIRST_ADMIN, Role::Admin, &hash, now_ms) {
        Ok(()) => {}
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    store::audit::record(
        &mut conn,
        &store::audit::Change {
            actor: "system",
            address: None,
            action: "user.create",
            target: FIRST_ADMIN,
            before: None,
            after: Some(serde_json::json!({"name": FIRST_ADMIN, "role": "admin", "initial": true})),
        },
        now_ms,
    )?;
    let path = data_dir.join(INITIAL_PASSWORD_FILE);
    write_private(&path, &format!("{password}\n")).map_err(|error| InitialAdminError::File {
        path: path.display().to_string(),
        error,
    })?;
    Ok(Some((password, path)))
}

/// Writes a file only its owner can read, created so from the start (no moment of 0644).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}
