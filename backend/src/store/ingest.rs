//! The inbox ledger (`ingest_files`) and the samples of malformed lines (`ingest_errors`).

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use layercast_shared::{IngestErrorSample, IngestFile, IngestReport};

use super::schema::{ingest_errors, ingest_files};
use super::DbConn;

/// Malformed lines kept per file: enough to show what is wrong, bounded so that a file of
/// garbage cannot fill the database.
pub const SAMPLES_PER_FILE: usize = 100;

pub const STATUS_READING: &str = "reading";
pub const STATUS_DONE: &str = "done";

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = ingest_files)]
struct FileRow {
    name: String,
    size: i64,
    records: i64,
    errors: i64,
    status: String,
    node: String,
    acked: i64,
    claimed_ms: Option<i64>,
    finished_ms: Option<i64>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = ingest_errors)]
struct ErrorRow {
    file: String,
    line: i64,
    reason: String,
}

/// A count as the ledger's BIGINT columns hold it.
fn to_db(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// The outcome of asking for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node reads the file, from its record number `from` (0, or where a node that
    /// stopped left it).
    Mine { from: u64 },
    /// Another node reads it and holds it until `until_ms` (ms since the epoch).
    Held { node: String, until_ms: Option<i64> },
    /// Read before.
    Done,
}

/// Who asks for a file, when, and for how long it will hold it (`ingest.claim_lease_ms`).
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub node: &'a str,
    pub now_ms: i64,
    pub lease_ms: i64,
}

impl Lease<'_> {
    fn until_ms(&self) -> i64 {
        self.now_ms.saturating_add(self.lease_ms)
    }
}

/// Claims a file: a new one, or one whose reader stopped renewing its claim (or is this very
/// node, restarted under the same name), which is then resumed.
pub fn claim_file(conn: &mut DbConn, name: &str, size: u64, lease: Lease) -> QueryResult<Claim> {
    let (node, now_ms) = (lease.node, lease.now_ms);
    let inserted = diesel::insert_into(ingest_files::table)
        .values((
            ingest_files::name.eq(name),
            ingest_files::size.eq(to_db(size)),
            ingest_files::records.eq(0_i64),
            ingest_files::errors.eq(0_i64),
            ingest_files::status.eq(STATUS_READING),
            ingest_files::node.eq(node),
            ingest_files::acked.eq(0_i64),
            ingest_files::lease_until_ms.eq(Some(lease.until_ms())),
            ingest_files::claimed_ms.eq(Some(now_ms)),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => return Ok(Claim::Mine { from: 0 }),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e),
    }
    // One statement, so that of two nodes taking a file over at once only one does. Rows
    // without a lease were written by versions that did not resume files: left as they are.
    let taken = diesel::update(
        ingest_files::table
            .find(name)
            .filter(ingest_files::status.eq(STATUS_READING))
            .filter(
                ingest_files::lease_until_ms
                    .lt(now_ms)
                    .or(ingest_files::node.eq(node)),
            ),
    )
    .set((
        ingest_files::node.eq(node),
        ingest_files::lease_until_ms.eq(Some(lease.until_ms())),
    ))
    .execute(conn)?;
    let (status, holder, acked, until_ms): (String, String, i64, Option<i64>) = ingest_files::table
        .find(name)
        .select((
            ingest_files::status,
            ingest_files::node,
            ingest_files::acked,
            ingest_files::lease_until_ms,
        ))
        .first(conn)?;
    Ok(if taken == 1 {
        Claim::Mine {
            from: u64::try_from(acked).unwrap_or(0),
        }
    } else if status == STATUS_DONE {
        Claim::Done
    } else {
        Claim::Held {
            node: holder,
            until_ms,
        }
    })
}

/// Saves that the broker acknowledged the file's first `acked` records and renews the claim.
/// `false`: the claim is lost (another node took the file over), stop reading.
pub fn renew(conn: &mut DbConn, name: &str, lease: Lease, acked: u64) -> QueryResult<bool> {
    let node = lease.node;
    // MySQL connections of diesel count matched rows (CLIENT_FOUND_ROWS), so a renewal that
    // changes nothing still says the row is there.
    let changed = diesel::update(
        ingest_files::table
            .find(name)
            .filter(ingest_files::node.eq(node))
            .filter(ingest_files::status.eq(STATUS_READING)),
    )
    .set((
        ingest_files::acked.eq(to_db(acked)),
        ingest_files::lease_until_ms.eq(Some(lease.until_ms())),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records the outcome of reading a file at `now_ms`: its counts and samples of malformed
/// lines, each as (line number, reason).
/// `false` when `node` no longer holds the file: then nothing is written.
pub fn finish_file(
    conn: &mut DbConn,
    name: &str,
    node: &str,
    now_ms: i64,
    records: u64,
    errors: u64,
    samples: &[(u64, &str)],
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let changed = diesel::update(
            ingest_files::table
                .find(name)
                .filter(ingest_files::node.eq(node))
                .filter(ingest_files::status.eq(STATUS_READING)),
        )
        .set((
            ingest_files::records.eq(to_db(records)),
            ingest_files::errors.eq(to_db(errors)),
            ingest_files::acked.eq(to_db(records)),
            ingest_files::status.eq(STATUS_DONE),
            ingest_files::lease_until_ms.eq(None::<i64>),
            ingest_files::finished_ms.eq(Some(now_ms)),
        ))
        .execute(conn)?;
        if changed != 1 {
            return Ok(false);
        }
        let rows: Vec<_> = samples
            .iter()
            .take(SAMPLES_PER_FILE)
            .map(|(line, reason)| {
                (
                    ingest_errors::file.eq(name),
                    ingest_errors::line.eq(to_db(*line)),
                    ingest_errors::reason.eq(*reason),
                )
            })
            .collect();
        for row in rows {
            diesel::insert_into(ingest_errors::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(true)
    })
}

/// The ledger as the API shows it: every file, and the newest `samples` malformed lines.
pub fn report(conn: &mut DbConn, samples: i64) -> QueryResult<IngestReport> {
    let files: Vec<FileRow> = ingest_files::table
        .order(ingest_files::name)
        .select(FileRow::as_select())
        .load(conn)?;
    let errors: Vec<ErrorRow> = ingest_errors::table
        .order(ingest_errors::id.desc())
        .limit(samples)
        .select(ErrorRow::as_select())
        .load(conn)?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(IngestReport {
        records_total: files.iter().map(|f| count(f.records)).sum(),
        errors_total: files.iter().map(|f| count(f.errors)).sum(),
        files: files
            .into_iter()
            .map(|f| IngestFile {
                name: f.name,
                records: count(f.records),
                errors: count(f.errors),
                status: f.status,
                node: f.node,
                acked: count(f.acked),
                size: count(f.size),
                claimed_ms: f.claimed_ms,
                finished_ms: f.finished_ms,
            })
            .collect(),
        error_samples: errors
            .into_iter()
            .map(|e| IngestErrorSample {
                file: e.file,
                line: count(e.line),
                reason: e.reason,
            })
            .collect(),
        sources: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    const LEASE_MS: i64 = 20_000;

    fn lease(node: &str, now_ms: i64) -> Lease<'_> {
        Lease {
            node,
            now_ms,
            lease_ms: LEASE_MS,
        }
    }

    #[test]
    fn a_file_is_claimed_once_and_reported_with_its_errors() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let claim = |conn: &mut DbConn, node, now_ms| {
            claim_file(conn, "a.ndjson", 10, lease(node, now_ms)).expect("claim")
        };
        assert_eq!(claim(&mut conn, "n1", 0), Claim::Mine { from: 0 });
        assert!(matches!(claim(&mut conn, "n2", 1), Claim::Held { .. }));
        assert!(
            finish_file(&mut conn, "a.ndjson", "n1", 7, 5, 1, &[(3, "not JSON")]).expect("finish")
        );
        assert_eq!(claim(&mut conn, "n2", LEASE_MS * 10), Claim::Done);
        let report = report(&mut conn, 10).expect("report");
        assert_eq!((report.records_total, report.errors_total), (5, 1));
        assert_eq!(report.files[0].status, STATUS_DONE);
        assert_eq!(report.error_samples[0].line, 3);
        let file = &report.files[0];
        assert_eq!(
            (file.size, file.claimed_ms, file.finished_ms),
            (10, Some(0), Some(7))
        );
    }

    #[test]
    fn a_file_whose_reader_stopped_renewing_is_taken_over_where_it_was_acknowledged() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        let claim = |conn: &mut DbConn, node, now_ms| {
            claim_file(conn, "b.log", 10, lease(node, now_ms)).expect("claim")
        };
        assert_eq!(claim(&mut conn, "n1", 0), Claim::Mine { from: 0 });
        assert!(renew(&mut conn, "b.log", lease("n1", 1_000), 700).expect("renew"));
        // Within the lease another node waits; after it, it resumes at record 700.
        assert!(matches!(
            claim(&mut conn, "n2", 1_000 + LEASE_MS - 1),
            Claim::Held { .. }
        ));
        assert_eq!(
            claim(&mut conn, "n2", 1_001 + LEASE_MS),
            Claim::Mine { from: 700 }
        );
        // The first reader, back, has lost it: it may neither renew nor finish.
        assert!(!renew(&mut conn, "b.log", lease("n1", 2_000 + LEASE_MS), 900).expect("renew"));
        assert!(!finish_file(&mut conn, "b.log", "n1", 3_000, 900, 0, &[]).expect("finish"));
        assert!(finish_file(&mut conn, "b.log", "n2", 3_000, 1_000, 0, &[]).expect("finish"));
        assert_eq!(report(&mut conn, 10).expect("report").records_total, 1_000);
    }

    #[test]
    fn a_node_restarted_under_its_name_resumes_its_own_file_at_once() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        assert_eq!(
            claim_file(&mut conn, "c.log", 1, lease("n1", 0)).expect("claim"),
            Claim::Mine { from: 0 }
        );
        assert!(renew(&mut conn, "c.log", lease("n1", 10), 3).expect("renew"));
        assert_eq!(
            claim_file(&mut conn, "c.log", 1, lease("n1", 20)).expect("claim"),
            Claim::Mine { from: 3 }
        );
    }
}
