//! S3 sources added through the API (`sources`), as the JSON of their settings.

use diesel::prelude::*;

use super::schema::sources;
use super::DbConn;

/// Every stored source: (name, settings JSON), by name.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<(String, String)>> {
    sources::table
        .order(sources::name)
        .select((sources::name, sources::spec))
        .load(conn)
}

pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    sources::table
        .find(name)
        .select(sources::spec)
        .first(conn)
        .optional()
}

/// Inserts or replaces; `true` when it was new.
pub fn put(conn: &mut DbConn, name: &str, spec: &str, now_ms: i64) -> QueryResult<bool> {
    let updated = diesel::update(sources::table.find(name))
        .set((sources::spec.eq(spec), sources::updated_ms.eq(now_ms)))
        .execute(conn)?;
    if updated > 0 {
        return Ok(false);
    }
    diesel::insert_into(sources::table)
        .values((
            sources::name.eq(name),
            sources::spec.eq(spec),
            sources::updated_ms.eq(now_ms),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn delete(conn: &mut DbConn, name: &str) -> QueryResult<usize> {
    diesel::delete(sources::table.find(name)).execute(conn)
}
