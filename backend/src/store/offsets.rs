//! The `partition_offsets` table: how far each events partition is reflected in `windows`.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::schema::partition_offsets as po;
use super::{DbConn, StoreError};

/// Where a partition stands in the database: its next offset and its event-time clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    /// The offset after the last record the partition has taken.
    pub next_offset: i64,
    /// The first record not yet durable: the oldest record of a window still open in memory
    /// (`next_offset` when none is open). A new owner replays from here; the Kafka commit
    /// never passes it.
    pub replay_from: i64,
    /// Highest event time among the records before `next_offset`.
    pub max_event_ms: Option<i64>,
    pub watermark_ms: Option<i64>,
    /// Per source ("" for records without one), its highest event time.
    pub sources: BTreeMap<String, i64>,
    /// What the partition knows of the records' origins (`stream::origins`).
    pub origins: OriginState,
}

/// Per object whose records the partition has taken, the highest sequence number counted and
/// the offset of the record that carried it; and the offsets of the copies dropped from the
/// replay point on. Stored as JSON with the position, in the same transaction as the windows.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct OriginState {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub highest: BTreeMap<String, OriginSeen>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OriginSeen {
    pub seq: u64,
    pub offset: i64,
}

impl OriginState {
    pub fn is_empty(&self) -> bool {
        self.highest.is_empty() && self.dropped.is_empty()
    }
}

/// The offset to resume the partition from, creating its row (at offset 0) on first sight.
pub fn resume_offset(
    conn: &mut DbConn,
    topic: &str,
    partition: i32,
    owner: &str,
) -> QueryResult<i64> {
    Ok(resume(conn, topic, partition, owner)?.next_offset)
}

/// Where to resume the partition from, creating its row (at offset 0) on first sight.
pub fn resume(
    conn: &mut DbConn,
    topic: &str,
    partition: i32,
    owner: &str,
) -> QueryResult<Position> {
    let row = (
        po::topic.eq(topic),
        po::partition_id.eq(partition),
        po::next_offset.eq(0_i64),
        po::owner.eq(owner),
    );
    // `INSERT IGNORE` and `INSERT OR IGNORE` have no common spelling for diesel's multi-backend.
    match conn {
        DbConn::Mysql(c) => diesel::insert_or_ignore_into(po::table)
            .values(row)
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_or_ignore_into(po::table)
            .values(row)
            .execute(c)?,
    };
    po::table
        .filter(po::topic.eq(topic))
        .filter(po::partition_id.eq(partition))
        .select((
            po::next_offset,
            po::replay_from,
            po::max_event_ms,
            po::watermark_ms,
            po::source_clocks,
            po::origin_seqs,
        ))
        .first(conn)
        .map(
            |(next_offset, replay_from, max_event_ms, watermark_ms, sources, origins): (
                i64,
                Option<i64>,
                _,
                _,
                Option<String>,
                Option<String>,
            )| Position {
                next_offset,
                replay_from: replay_from.unwrap_or(next_offset).min(next_offset),
                max_event_ms,
                watermark_ms,
                // Rows of this table are only ever written by `advance`: text that does not parse
                // was put there by hand, and the sources then start afresh.
                sources: sources
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
                origins: origins
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
            },
        )
}

/// A partition's row, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Stored {
    pub partition: i32,
    pub next_offset: i64,
    /// The node that wrote it last.
    pub owner: String,
    pub watermark_ms: Option<i64>,
}

/// Every stored position of `topic`'s partitions.
pub fn all(conn: &mut DbConn, topic: &str) -> QueryResult<Vec<Stored>> {
    po::table
        .filter(po::topic.eq(topic))
        .order(po::partition_id)
        .select((
            po::partition_id,
            po::next_offset,
            po::owner,
            po::watermark_ms,
        ))
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
    next: &Position,
    owner: &str,
) -> Result<(), StoreError> {
    let target = po::table
        .filter(po::topic.eq(topic))
        .filter(po::partition_id.eq(partition))
        .filter(po::next_offset.eq(expected));
    let changed =
        diesel::update(target)
            .set((
                po::next_offset.eq(next.next_offset),
                po::replay_from.eq(Some(next.replay_from)),
                po::owner.eq(owner),
                po::max_event_ms.eq(next.max_event_ms),
                po::watermark_ms.eq(next.watermark_ms),
                po::source_clocks
                    .eq((!next.sources.is_empty())
                        .then(|| serde_json::json!(next.sources).to_string())),
                po::origin_seqs
                    .eq((!next.origins.is_empty())
                        .then(|| serde_json::json!(next.origins).to_string())),
            ))
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
    Err(StoreError::FenceLost {
        topic: topic.into(),
        partition,
        expected,
        found,
    })
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
        let sources = BTreeMap::from([(String::new(), 5_000), ("vpc-flow".to_owned(), 3_000)]);
        let origins = OriginState {
            highest: BTreeMap::from([(
                "inbox/a.log".to_owned(),
                OriginSeen { seq: 41, offset: 8 },
            )]),
            dropped: vec![9],
        };
        let at = |next_offset| Position {
            next_offset,
            replay_from: next_offset - 3,
            max_event_ms: Some(5_000),
            watermark_ms: Some(4_000),
            sources: sources.clone(),
            origins: origins.clone(),
        };
        advance(&mut conn, "t", 0, 0, &at(10), "a").expect("first writer");
        let err = advance(&mut conn, "t", 0, 0, &at(7), "b").expect_err("second writer");
        assert!(
            matches!(
                err,
                StoreError::FenceLost {
                    found: Some(10),
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            resume(&mut conn, "t", 0, "b").expect("resume"),
            at(10),
            "the clock, every source's too, and the origins come back with the offset"
        );
    }
}
