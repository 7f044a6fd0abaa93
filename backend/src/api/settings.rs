//! What admins store through the API (sources, capacities, rules, groups): loaded, and saved or
//! removed in one transaction with its audit entry (before and after).

use actix_web::HttpResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::audit;
use super::auth::Principal;
use super::ApiError;
use crate::store::{self, settings, Db};

/// Every stored setting of `kind` (call from a blocking thread).
pub fn load_all<T: DeserializeOwned>(db: &Db, kind: &str) -> Result<Vec<T>, ApiError> {
    let mut conn = db.conn()?;
    Ok(settings::load(&mut conn, kind)?)
}

/// One stored setting; 404 when there is none.
pub fn load_one<T: DeserializeOwned>(db: &Db, kind: &str, name: &str) -> Result<T, ApiError> {
    let mut conn = db.conn()?;
    settings::load_one(&mut conn, kind, name)?
        .ok_or_else(|| ApiError::NotFound(format!("{kind} {name:?}")))
}

/// Stores `value` under (kind, name) and audits it; `true` when it was new. With `must_be_new`,
/// an existing one is a 409.
pub fn save<T: Serialize>(
    db: &Db,
    by: &Principal,
    kind: &str,
    name: &str,
    value: &T,
    must_be_new: bool,
) -> Result<bool, ApiError> {
    let spec = serde_json::to_string(value).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut conn = db.conn()?;
    store::write_transaction(&mut conn, |conn| {
        let before = settings::get(conn, kind, name)?;
        if must_be_new && before.is_some() {
            return Err(ApiError::Conflict(format!("a {kind} {name:?} exists")));
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let created = settings::put(conn, kind, name, &spec, now_ms)?;
        let action = format!("{kind}.{}", if created { "create" } else { "update" });
        audit::record(
            conn,
            by,
            &action,
            &format!("{kind}:{name}"),
            before
                .and_then(|b| serde_json::from_str(&b).ok())
                .map(redact),
            serde_json::to_value(value).ok().map(redact),
        )?;
        Ok(created)
    })
}

/// Removes (kind, name) and audits it; 404 when there is none.
pub fn remove(db: &Db, by: &Principal, kind: &str, name: &str) -> Result<(), ApiError> {
    let mut conn = db.conn()?;
    store::write_transaction(&mut conn, |conn| {
        let before = settings::get(conn, kind, name)?
            .ok_or_else(|| ApiError::NotFound(format!("{kind} {name:?}")))?;
        settings::delete(conn, kind, name)?;
        audit::record(
            conn,
            by,
            &format!("{kind}.delete"),
            &format!("{kind}:{name}"),
            serde_json::from_str(&before).ok().map(redact),
            None,
        )
    })
}

/// Fields that hold a secret: stored, used, never shown again (reads and the audit log say
/// `(set)`).
pub const SECRET_FIELDS: [&str; 1] = ["authorization"];
pub const SECRET_SHOWN: &str = "(set)";

/// A setting as the audit log and reads show it.
pub fn redact(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        for field in SECRET_FIELDS {
            if let Some(v) = object.get_mut(field) {
                if !v.is_null() {
                    *v = serde_json::Value::String(SECRET_SHOWN.into());
                }
            }
        }
    }
    value
}

pub fn created_or_ok<T: Serialize>(created: bool, body: &T) -> HttpResponse {
    if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}
