//! The `partition_offsets` table: how far each events partition is reflected in `windows`.

use diesel::prelude::*;

use super::schema::partition_offsets as po;
use super::{DbConn, StoreError};

/// The offset to resume the partition from, creating its row (at offset 0) on first sight.
pub fn resume_offset(conn: &mut DbConn, topic: &str, partition: i32, owner: &str) -> QueryResult<i64> {
    let row = (
        po::topic.eq(topic),
        po::partition_id.eq(partition),
        po::next_offset.eq(0_i64),
        po::owner.eq(owner),
    );
    // `INSERT IGNORE` and `INSERT OR IGNORE` have no common spelling for diesel's multi-backend.
    match conn {
        DbConn::Mysql(c) => diesel::insert_or_ignore_into(po::table).values(row).execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_or_ignore_into(po::table).values(row).execute(c)?,
    };
    po::table
        .filter(po::topic.eq(topic))
        .filter(po::partition_id.eq(partition))
        .select(po::next_offset)
        .first(conn)
}

/// Every stored position of `topic`'s partitions: (partition, next offset, owner).
pub fn all(conn: &mut DbConn, topic: &str) -> QueryResult<Vec<(i32, i64, String)>> {
    po::table
        .filter(po::topic.eq(topic))
        .order(po::partition_id)
        .select((po::partition_id, po::next_offset, po::owner))
        .load(conn)
}

/// Forgets the positions of every partition of `topic`. For the embedded broker only: it keeps
/// its log in memory, so after a restart the topic starts again at offset 0 and the stored
/// positions point into a log that no longer exists.
pub fn forget_topic(conn: &mut DbConn, topic: &str) -> QueryResult<usize> {
    diesel::delete(po::table.filter(po::topic.eq(topic))).execute(conn)
}

/// Moves the partition from `expected` to `next`, or fails with [`StoreError::FenceLost`] when
/// the stored offset is no longer `expected`: then another node has written the partition since
/// this one read it, and the caller's transaction must roll back.
pub fn advance(
    conn: &mut DbConn,
    topic: &str,
    partition: i32,
    expected: i64,
    next: i64,
    owner: &str,
) -> Result<(), StoreError> {
    let target = po::table
        .filter(po::topic.eq(topic))
        .filter(po::partition_id.eq(partition))
        .filter(po::next_offset.eq(expected));
    let changed = diesel::update(target)
        .set((po::next_offset.eq(next), po::owner.eq(owner)))
        .execute(conn)?;
    if changed == 1 {
        return Ok(());
    }
    let found = po::table
        .filter(po::topic.eq(topic))
        .filter(po::partition_id.eq(partition))
        .select(po::next_offset)
        .first(conn)
        .optional()?;
    Err(StoreError::FenceLost { topic: topic.into(), partition, expected, found })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    #[test]
    fn a_second_writer_from_the_same_offset_is_fenced_off() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        assert_eq!(resume_offset(&mut conn, "t", 0, "a").expect("resume"), 0);
        advance(&mut conn, "t", 0, 0, 10, "a").expect("first writer");
        let err = advance(&mut conn, "t", 0, 0, 7, "b").expect_err("second writer");
        assert!(matches!(err, StoreError::FenceLost { found: Some(10), .. }), "{err}");
        assert_eq!(resume_offset(&mut conn, "t", 0, "b").expect("resume"), 10);
    }
}
