//! The outbox of alert notifications. An entry is written in the transaction that stores the
//! alert's change; any node sends it: it claims a due entry for a while (a lease, so that a
//! node that dies while sending leaves it to another), then marks it sent or due again later.
//! Delivery is at least once.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::analysis::Notice;
use super::schema::notifications as n;
use super::DbConn;

/// How long a claim holds: longer than a send's timeout.
pub const CLAIM_MS: i64 = 30_000;

/// One entry to send.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = n)]
pub struct Outgoing {
    pub receiver: String,
    pub alert_id: String,
    pub at_ms: i64,
    pub to_state: String,
    pub payload: String,
    pub attempts: i32,
}

/// Adds an entry; the same change again (a replay) changes nothing.
pub fn enqueue(
    conn: &mut DbConn,
    receiver: &str,
    notice: &Notice,
    payload: &str,
    now_ms: i64,
) -> QueryResult<()> {
    let sql = match conn {
        DbConn::Mysql(_) => "INSERT IGNORE INTO notifications (receiver, alert_id, at_ms, to_state, payload, due_ms) VALUES (?, ?, ?, ?, ?, ?)",
        DbConn::Sqlite(_) => "INSERT OR IGNORE INTO notifications (receiver, alert_id, at_ms, to_state, payload, due_ms) VALUES (?, ?, ?, ?, ?, ?)",
    };
    diesel::sql_query(sql)
        .bind::<Text, _>(receiver)
        .bind::<Text, _>(&notice.alert.id)
        .bind::<BigInt, _>(notice.at_ms)
        .bind::<Text, _>(notice.to.as_str())
        .bind::<Text, _>(payload)
        .bind::<BigInt, _>(now_ms)
        .execute(conn)?;
    Ok(())
}

/// Claims up to `limit` due entries, oldest change first, for [`CLAIM_MS`].
pub fn claim_due(conn: &mut DbConn, now_ms: i64, limit: i64) -> QueryResult<Vec<Outgoing>> {
    conn.transaction(|conn| {
        let due: Vec<Outgoing> = n::table
            .filter(n::sent_ms.is_null())
            .filter(n::due_ms.le(now_ms))
            .filter(
                n::claimed_until_ms
                    .is_null()
                    .or(n::claimed_until_ms.lt(now_ms)),
            )
            .order((n::at_ms, n::alert_id))
            .limit(limit)
            .select(Outgoing::as_select())
            .load(conn)?;
        let mut claimed = Vec::new();
        for o in due {
            // Only if nobody claimed it meanwhile: the update's count says who won.
            let won = diesel::update(
                n::table
                    .find((&o.receiver, &o.alert_id, o.at_ms, &o.to_state))
                    .filter(n::sent_ms.is_null())
                    .filter(
                        n::claimed_until_ms
                            .is_null()
                            .or(n::claimed_until_ms.lt(now_ms)),
                    ),
            )
            .set(n::claimed_until_ms.eq(now_ms + CLAIM_MS))
            .execute(conn)?;
            if won == 1 {
                claimed.push(o);
            }
        }
        Ok(claimed)
    })
}

pub fn delivered(conn: &mut DbConn, o: &Outgoing, now_ms: i64) -> QueryResult<()> {
    diesel::update(n::table.find((&o.receiver, &o.alert_id, o.at_ms, &o.to_state)))
        .set((
            n::sent_ms.eq(Some(now_ms)),
            n::attempts.eq(o.attempts + 1),
            n::claimed_until_ms.eq(None::<i64>),
            n::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// A send failed: due again at `retry_at_ms`.
pub fn failed(conn: &mut DbConn, o: &Outgoing, error: &str, retry_at_ms: i64) -> QueryResult<()> {
    let error: String = error.chars().take(500).collect();
    diesel::update(n::table.find((&o.receiver, &o.alert_id, o.at_ms, &o.to_state)))
        .set((
            n::attempts.eq(o.attempts + 1),
            n::due_ms.eq(retry_at_ms),
            n::claimed_until_ms.eq(None::<i64>),
            n::last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Entries not yet sent.
pub fn pending(conn: &mut DbConn) -> QueryResult<i64> {
    n::table
        .filter(n::sent_ms.is_null())
        .count()
        .get_result(conn)
}

/// Entries for a receiver that is gone are dropped with it.
pub fn drop_receiver(conn: &mut DbConn, receiver: &str) -> QueryResult<usize> {
    diesel::delete(
        n::table
            .filter(n::receiver.eq(receiver))
            .filter(n::sent_ms.is_null()),
    )
    .execute(conn)
}
