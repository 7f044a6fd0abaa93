//! The audit log (`audit_log`): every change of configuration, users and tokens.

use diesel::prelude::*;
use layercast_shared::AuditEntry;

use super::schema::audit_log;
use super::DbConn;

/// A change to record. `before`/`after` must hold no secret (no password, hash or token).
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub address: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub fn record(conn: &mut DbConn, change: &Change, now_ms: i64) -> QueryResult<()> {
    let text = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at_ms.eq(now_ms),
            audit_log::actor.eq(change.actor),
            audit_log::address.eq(change.address),
            audit_log::action.eq(change.action),
            audit_log::target.eq(change.target),
            audit_log::before_json.eq(text(&change.before)),
            audit_log::after_json.eq(text(&change.after)),
        ))
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: i64,
    at_ms: i64,
    actor: String,
    address: Option<String>,
    action: String,
    target: String,
    before_json: Option<String>,
    after_json: Option<String>,
}

/// Newest first, at most `limit`, those with an id below `before_id` when given (paging).
pub fn list(conn: &mut DbConn, before_id: Option<i64>, limit: i64) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(id) = before_id {
        query = query.filter(audit_log::id.lt(id));
    }
    let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
    Ok(query
        .load(conn)?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at_ms: r.at_ms,
            actor: r.actor,
            address: r.address,
            action: r.action,
            target: r.target,
            before: json(r.before_json),
            after: json(r.after_json),
        })
        .collect())
}
