//! `/api/users`: local users, for admins. Every change is in the audit log.

use actix_web::{delete, get, post, put, web, HttpResponse};
use layercast_shared::{ApiErrorBody, NewUser, Role, User, UserUpdate};

use super::audit;
use super::auth::{password, AuthState, Principal};
use super::session::MAX_NAME_CHARS;
use super::ApiError;
use crate::store::{self, Db};

/// A user name: letters, digits and `.-_@`, so that it reads the same in the log, the audit
/// and the dashboard.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "name {name:?}: 1 to {MAX_NAME_CHARS} letters, digits or . - _ @"
        )))
    }
}

fn strength(password: &str) -> Result<(), ApiError> {
    password::check_strength(password).map_err(|e| ApiError::BadRequest(format!("password: {e}")))
}

/// Adds a user: for the API and `layercast user add`. Hashes off the async threads (call it
/// from a blocking one).
pub fn add_user(db: &Db, new: &NewUser, by: &Principal) -> Result<User, ApiError> {
    check_name(&new.name)?;
    strength(&new.password)?;
    let hash = password::hash(&new.password).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut conn = db.conn()?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    crate::store::write_transaction(&mut conn, |conn| {
        match store::users::insert(conn, &new.name, new.role, &hash, now_ms) {
            Ok(()) => {}
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                return Err(ApiError::Conflict(format!(
                    "a user named {:?} exists",
                    new.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let user = User {
            name: new.name.clone(),
            role: new.role,
            created_ms: now_ms,
            last_login_ms: None,
        };
        audit::record(
            conn,
            by,
            "user.create",
            &new.name,
            None,
            serde_json::to_value(&user).ok(),
        )?;
        Ok(user)
    })
}

#[utoipa::path(
    tag = "access",
    responses((status = 200, body = Vec<User>))
)]
#[get("/api/users")]
pub async fn list_users(auth: web::Data<AuthState>) -> Result<HttpResponse, ApiError> {
    let db = auth.db.clone();
    let users = web::block(move || {
        let mut conn = db.conn()?;
        Ok::<_, ApiError>(store::users::list(&mut conn)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(users))
}

/// Adds a user. Passwords need at least 12 characters.
#[utoipa::path(
    tag = "access",
    request_body = NewUser,
    responses(
        (status = 201, body = User),
        (status = 400, body = ApiErrorBody),
        (status = 409, description = "The name is taken", body = ApiErrorBody),
    )
)]
#[post("/api/users")]
pub async fn create_user(
    auth: web::Data<AuthState>,
    by: Principal,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let db = auth.db.clone();
    let new = body.into_inner();
    let user = web::block(move || add_user(&db, &new, &by)).await??;
    Ok(HttpResponse::Created().json(user))
}

#[utoipa::path(
    tag = "access",
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 200, body = User), (status = 404, body = ApiErrorBody))
)]
#[get("/api/users/{name}")]
pub async fn get_user(
    auth: web::Data<AuthState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = auth.db.clone();
    let name = name.into_inner();
    let user = web::block(move || {
        let mut conn = db.conn()?;
        store::users::get(&mut conn, &name)?
            .map(|u| u.to_user())
            .ok_or_else(|| ApiError::NotFound(format!("user {name:?}")))
    })
    .await??;
    Ok(HttpResponse::Ok().json(user))
}

/// Changes a user's role or password. Either ends the user's sessions at once, on every node.
/// The last admin cannot be made a viewer.
#[utoipa::path(
    tag = "access",
    params(("name" = String, Path, description = "The user's name")),
    request_body = UserUpdate,
    responses(
        (status = 200, body = User),
        (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody),
        (status = 409, description = "It would leave no admin", body = ApiErrorBody),
    )
)]
#[put("/api/users/{name}")]
pub async fn update_user(
    auth: web::Data<AuthState>,
    by: Principal,
    name: web::Path<String>,
    body: web::Json<UserUpdate>,
) -> Result<HttpResponse, ApiError> {
    let update = body.into_inner();
    if let Some(p) = &update.password {
        strength(p)?;
    }
    let db = auth.db.clone();
    let name = name.into_inner();
    let user = web::block(move || {
        let hash = match &update.password {
            Some(p) => Some(password::hash(p).map_err(|e| ApiError::BadRequest(e.to_string()))?),
            None => None,
        };
        let mut conn = db.conn()?;
        crate::store::write_transaction(&mut conn, |conn| {
            let before = store::users::get(conn, &name)?
                .ok_or_else(|| ApiError::NotFound(format!("user {name:?}")))?;
            let before = before.to_user();
            if let Some(role) = update.role {
                if before.role == Role::Admin
                    && role != Role::Admin
                    && store::users::count_admins(conn)? <= 1
                {
                    return Err(ApiError::Conflict(format!(
                        "{name:?} is the last admin; make another user admin first"
                    )));
                }
                store::users::set_role(conn, &name, role)?;
            }
            if let Some(hash) = &hash {
                store::users::set_password_hash(conn, &name, hash)?;
            }
            if update.role.is_some_and(|r| r != before.role) || hash.is_some() {
                store::sessions::revoke_user(conn, &name)?;
            }
            let after = User {
                role: update.role.unwrap_or(before.role),
                ..before.clone()
            };
            let mut after_json = serde_json::to_value(&after).unwrap_or_default();
            if hash.is_some() {
                after_json["password_changed"] = serde_json::Value::Bool(true);
            }
            audit::record(
                conn,
                &by,
                "user.update",
                &name,
                serde_json::to_value(&before).ok(),
                Some(after_json),
            )?;
            Ok(after)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(user))
}

/// Deletes a user and ends its sessions. Not the last admin, and not oneself.
#[utoipa::path(
    tag = "access",
    params(("name" = String, Path, description = "The user's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ApiErrorBody),
        (status = 409, description = "The last admin, or the caller", body = ApiErrorBody),
    )
)]
#[delete("/api/users/{name}")]
pub async fn delete_user(
    auth: web::Data<AuthState>,
    by: Principal,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let db = auth.db.clone();
    let name = name.into_inner();
    if by.via == super::auth::Via::Session && by.name.as_deref() == Some(name.as_str()) {
        return Err(ApiError::Conflict(
            "you cannot delete the user you are logged in as".into(),
        ));
    }
    web::block(move || {
        let mut conn = db.conn()?;
        crate::store::write_transaction(&mut conn, |conn| {
            let before = store::users::get(conn, &name)?
                .ok_or_else(|| ApiError::NotFound(format!("user {name:?}")))?
                .to_user();
            if before.role == Role::Admin && store::users::count_admins(conn)? <= 1 {
                return Err(ApiError::Conflict(format!(
                    "{name:?} is the last admin; make another user admin first"
                )));
            }
            store::sessions::delete_user(conn, &name)?;
            store::users::delete(conn, &name)?;
            audit::record(
                conn,
                &by,
                "user.delete",
                &name,
                serde_json::to_value(&before).ok(),
                None,
            )
        })
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}
