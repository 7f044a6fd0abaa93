//! What admins set through the API (`admin_settings`): S3 sources, capacities, alert rules and
//! precursor groups, each as the JSON of its settings under a kind and a name.

use diesel::prelude::*;
use serde::de::DeserializeOwned;

use super::schema::admin_settings as t;
use super::DbConn;

pub const SOURCE: &str = "source";
pub const CAPACITY: &str = "capacity";
pub const RULE: &str = "rule";
pub const GROUP: &str = "group";
/// Where alert notifications go (webhooks, Alertmanagers); admin-only even to read.
pub const RECEIVER: &str = "receiver";

/// (name, settings JSON) of every input of `kind`, by name.
pub fn list(conn: &mut DbConn, kind: &str) -> QueryResult<Vec<(String, String)>> {
    t::table
        .filter(t::kind.eq(kind))
        .order(t::name)
        .select((t::name, t::spec))
        .load(conn)
}

/// Every setting of `kind`, parsed; one that does not parse (written by a newer version) is
/// skipped with a warning rather than hiding the others.
pub fn load<T: DeserializeOwned>(conn: &mut DbConn, kind: &str) -> QueryResult<Vec<T>> {
    Ok(list(conn, kind)?
        .into_iter()
        .filter_map(|(name, spec)| match serde_json::from_str(&spec) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(kind, %name, error = %e, "a stored setting does not parse; skipped");
                None
            }
        })
        .collect())
}

/// One setting, parsed (`None` when absent or unreadable).
pub fn load_one<T: DeserializeOwned>(
    conn: &mut DbConn,
    kind: &str,
    name: &str,
) -> QueryResult<Option<T>> {
    Ok(get(conn, kind, name)?.and_then(|spec| serde_json::from_str(&spec).ok()))
}

pub fn get(conn: &mut DbConn, kind: &str, name: &str) -> QueryResult<Option<String>> {
    t::table
        .find((kind, name))
        .select(t::spec)
        .first(conn)
        .optional()
}

/// Inserts or replaces; `true` when it was new.
pub fn put(
    conn: &mut DbConn,
    kind: &str,
    name: &str,
    spec: &str,
    now_ms: i64,
) -> QueryResult<bool> {
    let updated = diesel::update(t::table.find((kind, name)))
        .set((t::spec.eq(spec), t::updated_ms.eq(now_ms)))
        .execute(conn)?;
    if updated > 0 {
        return Ok(false);
    }
    diesel::insert_into(t::table)
        .values((
            t::kind.eq(kind),
            t::name.eq(name),
            t::spec.eq(spec),
            t::updated_ms.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn delete(conn: &mut DbConn, kind: &str, name: &str) -> QueryResult<usize> {
    diesel::delete(t::table.find((kind, name))).execute(conn)
}
