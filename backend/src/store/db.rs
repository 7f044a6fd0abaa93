use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/mysql");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// How long a caller waits for a pooled connection before the request fails.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the health check waits for a connection. Much shorter than `POOL_TIMEOUT`: while
/// the database is down the check must still answer (degraded) before the prober gives up
/// (load balancers and Kubernetes probes wait 1 to 5 s), and a pool that yields no working
/// connection within it is not healthy, whatever the reason.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// SQLite waits this long on a locked database instead of failing at once: the HTTP handlers
/// read while the aggregator writes.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// One connection to whichever database is configured. Queries written once with diesel's DSL
/// run on both; the few that differ (upserts) match on the variant in the table's file.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Mysql(MysqlConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} must start with mysql:// or sqlite://")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("no database connection free within {POOL_TIMEOUT:?}: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// The partition's stored offset is not the one this writer started from: another node
    /// wrote it since. Nothing of the batch was written.
    #[error("partition {partition} of {topic} was written by another node (expected offset {expected}, found {found:?})")]
    FenceLost {
        topic: String,
        partition: i32,
        expected: i64,
        found: Option<i64>,
    },
    /// Records that had to be on Kafka before the batch were not delivered: nothing of the
    /// batch was written.
    #[error("the batch's Kafka deliveries failed; rolled back")]
    NotDelivered,
}

impl StoreError {
    /// Whether the same call can succeed later (the database may come back); a lost fence or a
    /// bad URL will not heal by retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect(_)
                | StoreError::Pool(_)
                | StoreError::Query(_)
                | StoreError::NotDelivered
        )
    }
}

/// Where the database is. Parsed once at start so that a typo is refused there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Mysql(String),
    Sqlite(PathBuf),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("mysql://") {
            Ok(DbUrl::Mysql(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(DbUrl::Sqlite(PathBuf::from(path)))
        } else {
            Err(StoreError::BadUrl(url.to_owned()))
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DbUrl::Mysql(_) => "mysql",
            DbUrl::Sqlite(_) => "sqlite",
        }
    }

    fn connect(&self) -> Result<DbConn, StoreError> {
        match self {
            DbUrl::Mysql(url) => {
                let mut conn = MysqlConnection::establish(url)
                    .map_err(|e| StoreError::Connect(e.to_string()))?;
                // Partitions write disjoint rows, and the compare-and-set on each partition's
                // offset is what orders their writers. InnoDB's default (repeatable read) adds
                // gap locks on the range reads of closing windows, which deadlocked writers
                // of different partitions (11 in 30 s in the end-to-end benchmark).
                conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .map_err(|e| StoreError::Connect(e.to_string()))?;
                Ok(DbConn::Mysql(conn))
            }
            DbUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(|e| StoreError::Connect(e.to_string()))?;
                // WAL lets readers go on while the aggregator writes.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};"
                ))
                .map_err(|e| StoreError::Connect(e.to_string()))?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// Opens connections of the configured kind. Written here rather than diesel's
/// `ConnectionManager` because that one tries every backend in turn, and SQLite accepts any
/// string as a file name: a MySQL URL with the server down would quietly become a local file.
#[derive(Debug)]
pub struct Manager(DbUrl);

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(StoreError::Query)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// A pool of connections, cheap to clone. Calls on it block: use it from `web::block`, a
/// `SyncArbiter` actor or `spawn_blocking`, never directly on an async thread.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    url: DbUrl,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("kind", &self.url.kind())
            .finish()
    }
}

pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The InnoDB buffer pool docs/operations.md ("Database") asks for
/// [`RECOMMENDED_FOR_SERIES`] series (and more in proportion): with less, the pages every close
/// writes to may not stay in memory. `scripts/setup --test` gives the test machine as much.
pub const RECOMMENDED_BUFFER_POOL_BYTES: u64 = 1 << 30;
pub const RECOMMENDED_FOR_SERIES: u64 = 10_000;

impl Db {
    /// Opens the pool and brings the schema up to date.
    pub fn open(url: DbUrl, max_connections: u32) -> Result<Self, StoreError> {
        if let DbUrl::Sqlite(path) = &url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Connect(format!("{}: {e}", dir.display())))?;
            }
        }
        // Fail fast with the real reason (bad password, unknown database) instead of the
        // pool's generic timeout.
        let mut first = url.connect()?;
        migrate(&mut first)?;
        let pool = r2d2::Pool::builder()
            .max_size(max_connections)
            .connection_timeout(POOL_TIMEOUT)
            .build(Manager(url.clone()))?;
        Ok(Db { pool, url })
    }

    pub fn kind(&self) -> &'static str {
        self.url.kind()
    }

    /// InnoDB's buffer pool in bytes; `None` on SQLite. See [`RECOMMENDED_BUFFER_POOL_BYTES`].
    pub fn buffer_pool_bytes(&self) -> Result<Option<u64>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Pool {
            #[diesel(sql_type = diesel::sql_types::Unsigned<diesel::sql_types::BigInt>)]
            bytes: u64,
        }
        match &mut *self.conn()? {
            DbConn::Mysql(c) => Ok(Some(
                diesel::sql_query("SELECT @@innodb_buffer_pool_size AS bytes")
                    .get_result::<Pool>(c)?
                    .bytes,
            )),
            DbConn::Sqlite(_) => Ok(None),
        }
    }

    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// A connection outside the pool, for an actor that keeps one for its whole life.
    pub fn dedicated(&self) -> Result<DbConn, StoreError> {
        self.url.connect()
    }

    /// A pooled connection, waiting at most `timeout` for one: for readers that must answer
    /// promptly even while the database is away (health checks, metric scrapes).
    pub fn conn_within(&self, timeout: Duration) -> Result<PooledConn, StoreError> {
        self.pool.get_timeout(timeout).map_err(|e| {
            StoreError::Connect(format!("no working connection within {timeout:?}: {e}"))
        })
    }

    pub fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn_within(PING_TIMEOUT)?;
        diesel::sql_query("SELECT 1").execute(&mut *conn)?;
        Ok(())
    }
}

/// Runs `f` in a transaction that writes. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads before it writes cannot wait for another writer to finish (SQLite
/// answers "database is locked" at once to avoid a deadlock), while an immediate one takes the
/// write lock first and waits for it (the busy timeout).
pub(crate) fn write_transaction<T, E: From<diesel::result::Error>>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    if matches!(conn, DbConn::Mysql(_)) {
        return conn.transaction(f);
    }
    conn.batch_execute("BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(value) => {
            conn.batch_execute("COMMIT")?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = conn.batch_execute("ROLLBACK") {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Runs the pending migrations of the connection's backend. On MySQL several nodes may start
/// at once, so a named lock makes them take turns instead of racing on the schema table.
pub fn migrate(conn: &mut DbConn) -> Result<(), StoreError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        DbConn::Mysql(c) => {
            c.batch_execute("DO GET_LOCK('layercast_migrations', 60)")?;
            let result = c
                .run_pending_migrations(MYSQL_MIGRATIONS)
                .map(|_| ())
                .map_err(err);
            c.batch_execute("DO RELEASE_LOCK('layercast_migrations')")?;
            result
        }
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|_| ())
            .map_err(err),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A fresh SQLite database in a temporary folder, migrated.
    pub fn sqlite_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DbUrl::Sqlite(dir.path().join("test.sqlite"));
        let db = Db::open(url, 2).expect("open sqlite");
        (dir, db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_urls_of_unknown_databases() {
        assert!(matches!(
            DbUrl::parse("postgres://x"),
            Err(StoreError::BadUrl(_))
        ));
        assert_eq!(
            DbUrl::parse("sqlite://a/b.db").ok(),
            Some(DbUrl::Sqlite("a/b.db".into()))
        );
    }

    #[test]
    fn migrations_run_twice_without_harm() {
        let (_dir, db) = test_support::sqlite_db();
        let mut conn = db.dedicated().expect("conn");
        migrate(&mut conn).expect("second run is a no-op");
        db.ping().expect("ping");
    }
}
