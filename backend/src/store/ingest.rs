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
    records: i64,
    errors: i64,
    status: String,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = ingest_errors)]
struct ErrorRow {
    file: String,
    line: i64,
    reason: String,
}

/// Claims a file for this node. `false` when the ledger already has it (read before, or being
/// read by another node that watches the same folder).
pub fn claim_file(conn: &mut DbConn, name: &str, size: u64, node: &str) -> QueryResult<bool> {
    let inserted = diesel::insert_into(ingest_files::table)
        .values((
            ingest_files::name.eq(name),
            ingest_files::size.eq(i64::try_from(size).unwrap_or(i64::MAX)),
            ingest_files::records.eq(0_i64),
            ingest_files::errors.eq(0_i64),
            ingest_files::status.eq(STATUS_READING),
            ingest_files::node.eq(node),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records the outcome of reading a file: its counts and samples of malformed lines, each as
/// (line number, reason).
pub fn finish_file(
    conn: &mut DbConn,
    name: &str,
    records: u64,
    errors: u64,
    samples: &[(u64, &str)],
) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::update(ingest_files::table.find(name))
            .set((
                ingest_files::records.eq(i64::try_from(records).unwrap_or(i64::MAX)),
                ingest_files::errors.eq(i64::try_from(errors).unwrap_or(i64::MAX)),
                ingest_files::status.eq(STATUS_DONE),
            ))
            .execute(conn)?;
        let rows: Vec<_> = samples
            .iter()
            .take(SAMPLES_PER_FILE)
            .map(|(line, reason)| {
                (
                    ingest_errors::file.eq(name),
                    ingest_errors::line.eq(i64::try_from(*line).unwrap_or(i64::MAX)),
                    ingest_errors::reason.eq(*reason),
                )
            })
            .collect();
        for row in rows {
            diesel::insert_into(ingest_errors::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(())
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::test_support::sqlite_db;

    #[test]
    fn a_file_is_claimed_once_and_reported_with_its_errors() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        assert!(claim_file(&mut conn, "a.ndjson", 10, "n1").expect("claim"));
        assert!(!claim_file(&mut conn, "a.ndjson", 10, "n2").expect("second claim"));
        finish_file(&mut conn, "a.ndjson", 5, 1, &[(3, "not JSON")]).expect("finish");
        let report = report(&mut conn, 10).expect("report");
        assert_eq!((report.records_total, report.errors_total), (5, 1));
        assert_eq!(report.files[0].status, STATUS_DONE);
        assert_eq!(report.error_samples[0].line, 3);
    }
}
