//! Local users (`users`): name, role and an argon2id hash of the password.

use diesel::prelude::*;
use layercast_shared::{Role, User};

use super::schema::users;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub created_ms: i64,
    pub last_login_ms: Option<i64>,
}

impl UserRow {
    /// A role the code does not know (written by a newer version) reads as a viewer: never
    /// more than the row says.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }

    pub fn to_user(&self) -> User {
        User {
            name: self.name.clone(),
            role: self.role(),
            created_ms: self.created_ms,
            last_login_ms: self.last_login_ms,
        }
    }
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn count_admins(conn: &mut DbConn) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)
}

/// Fails with a unique violation when the name is taken.
pub fn insert(
    conn: &mut DbConn,
    name: &str,
    role: Role,
    password_hash: &str,
    now_ms: i64,
) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((
            users::name.eq(name),
            users::role.eq(role.as_str()),
            users::password_hash.eq(password_hash),
            users::created_ms.eq(now_ms),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(name)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<User>> {
    let rows = users::table
        .order(users::name)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok(rows.iter().map(UserRow::to_user).collect())
}

pub fn set_role(conn: &mut DbConn, name: &str, role: Role) -> QueryResult<usize> {
    diesel::update(users::table.find(name))
        .set(users::role.eq(role.as_str()))
        .execute(conn)
}

pub fn set_password_hash(conn: &mut DbConn, name: &str, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(name))
        .set(users::password_hash.eq(hash))
        .execute(conn)
}

pub fn touch_login(conn: &mut DbConn, name: &str, now_ms: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(name))
        .set(users::last_login_ms.eq(Some(now_ms)))
        .execute(conn)
}

pub fn delete(conn: &mut DbConn, name: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(name)).execute(conn)
}
