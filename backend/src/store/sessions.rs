//! Browser sessions (`sessions`), by the SHA-256 of their cookie's random id.

use diesel::prelude::*;

use super::schema::{sessions, users};
use super::DbConn;

/// A session that is live now, with its user's current role (a role change applies at once).
#[derive(Debug, Clone, Queryable)]
pub struct LiveSession {
    pub user_name: String,
    pub role: String,
    pub csrf_token: String,
    pub expires_ms: i64,
}

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_name: &'a str,
    pub csrf_token: &'a str,
    pub now_ms: i64,
    pub expires_ms: i64,
    pub address: Option<&'a str>,
}

pub fn insert(conn: &mut DbConn, s: &NewSession) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(s.id_hash),
            sessions::user_name.eq(s.user_name),
            sessions::csrf_token.eq(s.csrf_token),
            sessions::created_ms.eq(s.now_ms),
            sessions::expires_ms.eq(s.expires_ms),
            sessions::revoked.eq(false),
            sessions::address.eq(s.address),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The session if it exists, is not revoked, has not expired and its user still exists.
pub fn live(conn: &mut DbConn, id_hash: &str, now_ms: i64) -> QueryResult<Option<LiveSession>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .filter(sessions::revoked.eq(false))
        .filter(sessions::expires_ms.gt(now_ms))
        .select((
            sessions::user_name,
            users::role,
            sessions::csrf_token,
            sessions::expires_ms,
        ))
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, id_hash: &str) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::revoked.eq(true))
        .execute(conn)
}

/// Every session of a user: at a role or password change, and when the user is deleted.
pub fn revoke_user(conn: &mut DbConn, user_name: &str) -> QueryResult<usize> {
    diesel::update(sessions::table.filter(sessions::user_name.eq(user_name)))
        .set(sessions::revoked.eq(true))
        .execute(conn)
}

pub fn delete_user(conn: &mut DbConn, user_name: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_name.eq(user_name))).execute(conn)
}

/// Sessions past their expiry (kept a day, so that a late request still reads as expired
/// rather than unknown, which says the same).
pub fn purge(conn: &mut DbConn, before_ms: i64) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_ms.lt(before_ms))).execute(conn)
}
