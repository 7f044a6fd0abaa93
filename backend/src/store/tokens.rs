//! API tokens (`api_tokens`), by the SHA-256 of the token.

use diesel::prelude::*;
use layercast_shared::{ApiToken, Role};

use super::schema::api_tokens;
use super::DbConn;

/// How stale `last_used_ms` may be: without it every request would write a row.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub prefix: String,
    pub name: String,
    pub role: String,
    pub created_by: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
    pub last_used_ms: Option<i64>,
}

impl TokenRow {
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }

    pub fn to_api(&self) -> ApiToken {
        ApiToken {
            id: self.id,
            name: self.name.clone(),
            role: self.role(),
            prefix: self.prefix.clone(),
            created_by: self.created_by.clone(),
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            revoked: self.revoked,
            last_used_ms: self.last_used_ms,
        }
    }
}

pub struct NewTokenRow<'a> {
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub created_by: &'a str,
    pub now_ms: i64,
    pub expires_ms: Option<i64>,
}

/// Inserts and reads the row back (its id).
pub fn insert(conn: &mut DbConn, t: &NewTokenRow) -> QueryResult<TokenRow> {
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::token_hash.eq(t.token_hash),
            api_tokens::prefix.eq(t.prefix),
            api_tokens::name.eq(t.name),
            api_tokens::role.eq(t.role.as_str()),
            api_tokens::created_by.eq(t.created_by),
            api_tokens::created_ms.eq(t.now_ms),
            api_tokens::expires_ms.eq(t.expires_ms),
            api_tokens::revoked.eq(false),
        ))
        .execute(conn)?;
    api_tokens::table
        .filter(api_tokens::token_hash.eq(t.token_hash))
        .select(TokenRow::as_select())
        .first(conn)
}

/// The token if it is known, not revoked and not expired; notes its use.
pub fn live(conn: &mut DbConn, token_hash: &str, now_ms: i64) -> QueryResult<Option<TokenRow>> {
    let row: Option<TokenRow> = api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked.eq(false))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row.filter(|r| r.expires_ms.is_none_or(|e| e > now_ms)) else {
        return Ok(None);
    };
    if row
        .last_used_ms
        .is_none_or(|t| now_ms - t > LAST_USED_RESOLUTION_MS)
    {
        diesel::update(api_tokens::table.find(row.id))
            .set(api_tokens::last_used_ms.eq(Some(now_ms)))
            .execute(conn)?;
    }
    Ok(Some(row))
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ApiToken>> {
    let rows = api_tokens::table
        .order(api_tokens::id)
        .select(TokenRow::as_select())
        .load(conn)?;
    Ok(rows.iter().map(TokenRow::to_api).collect())
}

pub fn get(conn: &mut DbConn, id: i64) -> QueryResult<Option<TokenRow>> {
    api_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::revoked.eq(true))
        .execute(conn)
}
