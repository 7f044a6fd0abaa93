//! Upserts of many rows a statement, over either database: a statement a row cost a round trip
//! each, and at a trend bucket's end thousands of rows come at once.

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};

use super::DbConn;

/// One value of a row, bound into a statement of many rows.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Text(&'a str),
    Double(f64),
    NullableDouble(Option<f64>),
    BigInt(i64),
    Integer(i32),
}

/// `INSERT ... ON DUPLICATE KEY UPDATE` / `ON CONFLICT DO UPDATE` of `rows` rows, setting
/// `update` to the new values.
pub fn upsert_sql(
    conn: &DbConn,
    table: &str,
    columns: &[&str],
    key: &[&str],
    update: &[&str],
    rows: usize,
) -> String {
    let marks = format!("({})", vec!["?"; columns.len()].join(", "));
    let head = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![marks; rows].join(", ")
    );
    if matches!(conn, DbConn::Mysql(_)) {
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        format!("{head} ON DUPLICATE KEY UPDATE {}", set.join(", "))
    } else {
        let set: Vec<String> = update
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            "{head} ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            set.join(", ")
        )
    }
}

/// What to upsert: the table, its columns (each row holds their values in this order), the key
/// and the columns a row already there takes from the new one.
pub struct Upsert<'t> {
    pub table: &'t str,
    pub columns: &'t [&'t str],
    pub key: &'t [&'t str],
    pub update: &'t [&'t str],
    /// Rows a statement: placeholders stay under both databases' limits (SQLite's 32,766, a
    /// MySQL statement's 65,535), and the statement under `max_allowed_packet`.
    pub per_statement: usize,
}

impl Upsert<'_> {
    /// Upserts every row, `per_statement` at a time. Not a transaction of its own: callers
    /// that need one hold it.
    pub fn execute(&self, conn: &mut DbConn, rows: &[Vec<Value<'_>>]) -> QueryResult<()> {
        for chunk in rows.chunks(self.per_statement.max(1)) {
            debug_assert!(chunk.iter().all(|r| r.len() == self.columns.len()));
            let sql = upsert_sql(
                conn,
                self.table,
                self.columns,
                self.key,
                self.update,
                chunk.len(),
            );
            let values: Vec<Value<'_>> = chunk.iter().flatten().copied().collect();
            match conn {
                DbConn::Mysql(c) => {
                    bind(diesel::sql_query(sql).into_boxed(), &values).execute(c)?
                }
                DbConn::Sqlite(c) => {
                    bind(diesel::sql_query(sql).into_boxed(), &values).execute(c)?
                }
            };
        }
        Ok(())
    }
}

fn bind<'a, DB>(
    mut query: BoxedSqlQuery<'a, DB, SqlQuery>,
    values: &[Value<'a>],
) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Double>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    f64: diesel::serialize::ToSql<Double, DB>,
    Option<f64>: diesel::serialize::ToSql<Nullable<Double>, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
{
    for value in values {
        query = match *value {
            Value::Text(v) => query.bind::<Text, _>(v),
            Value::Double(v) => query.bind::<Double, _>(v),
            Value::NullableDouble(v) => query.bind::<Nullable<Double>, _>(v),
            Value::BigInt(v) => query.bind::<BigInt, _>(v),
            Value::Integer(v) => query.bind::<Integer, _>(v),
        };
    }
    query
}
