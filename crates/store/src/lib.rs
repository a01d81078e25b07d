//! The SQLite store: the only crate that touches rusqlite.
//!
//! - [`Store`]: opening, pragmas, migrations, and the two handles:
//!   [`Reader`] for queries and [`Writer`] (one `BEGIN IMMEDIATE`
//!   transaction) for changes. Every write function takes a `&Writer`, so the
//!   type system says which code may write, and every write is transactional.
//! - [`orgs`], [`prices`], [`records`], [`aggregates`], [`audit`]: one module a table.
//! - [`wide`]: money totals kept as two integers, so that no sum overflows.
#![forbid(unsafe_code)]

pub mod aggregates;
pub mod audit;
pub mod controls;
pub mod fx;
pub mod gateway;
pub mod orgs;
pub mod prices;
pub mod records;
pub mod server;
pub mod sync;
pub mod wide;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The migrations, in order. Append only: a shipped migration is never edited.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_ledger", include_str!("../../../migrations/0001_ledger.sql")),
    ("0002_controls", include_str!("../../../migrations/0002_controls.sql")),
    ("0003_server", include_str!("../../../migrations/0003_server.sql")),
    ("0004_price_usage", include_str!("../../../migrations/0004_price_usage.sql")),
    ("0005_sync", include_str!("../../../migrations/0005_sync.sql")),
    ("0006_wide_sums", include_str!("../../../migrations/0006_wide_sums.sql")),
    ("0007_gateway", include_str!("../../../migrations/0007_gateway.sql")),
    ("0008_call_detail", include_str!("../../../migrations/0008_call_detail.sql")),
    ("0009_billing_terms", include_str!("../../../migrations/0009_billing_terms.sql")),
    ("0010_fx", include_str!("../../../migrations/0010_fx.sql")),
    ("0011_cube", include_str!("../../../migrations/0011_cube.sql")),
    ("0012_pairs", include_str!("../../../migrations/0012_pairs.sql")),
    ("0013_scopes", include_str!("../../../migrations/0013_scopes.sql")),
    ("0014_channels", include_str!("../../../migrations/0014_channels.sql")),
    ("0015_record_tokens", include_str!("../../../migrations/0015_record_tokens.sql")),
];

/// The schema version this binary knows (the number of migrations).
pub fn known_schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} has schema version {found}, newer than version {known} that this program knows; update Argus Usage to open it (the store was left untouched)")]
    SchemaTooNew { path: String, found: i64, known: i64 },
    #[error("cannot open the store at {path}: {source}; check that the folder exists and is writable, or choose another with --db or ARGUS_USAGE_DB")]
    Open { path: String, source: rusqlite::Error },
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Writers of this process queue here rather than in SQLite's busy
    /// handler, which sleeps (up to 100 ms) between retries.
    write_lock: Arc<Mutex<()>>,
}

/// One write lock per store file in this process.
fn write_lock_for(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut map = LOCKS.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key).or_default().clone()
}

/// A read handle: queries only. Opaque outside this crate: every query is a
/// function of one of the table modules, so no SQL and no rusqlite type
/// leaves argus-store.
pub struct Reader<'a>(&'a Connection);

impl Reader<'_> {
    pub(crate) fn c(&self) -> Sql<'_> {
        Sql(self.0)
    }
}

/// The connection as the table modules use it: every statement is prepared
/// once a connection and kept (the parse was a seventh of the gateway's
/// time per call). The statement cache holds [`STATEMENTS`]; dynamic SQL
/// (`format!`) takes a place of its own a variant, least used first out.
#[derive(Clone, Copy)]
pub(crate) struct Sql<'a>(&'a Connection);

/// Prepared statements kept a connection.
const STATEMENTS: usize = 256;

impl<'a> Sql<'a> {
    pub(crate) fn prepare(self, sql: &str) -> rusqlite::Result<rusqlite::CachedStatement<'a>> {
        self.0.prepare_cached(sql)
    }

    pub(crate) fn execute<P: rusqlite::Params>(self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.0.prepare_cached(sql)?.execute(params)
    }

    pub(crate) fn query_row<T, P, F>(self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.0.prepare_cached(sql)?.query_row(params, f)
    }

    pub(crate) fn last_insert_rowid(self) -> i64 {
        self.0.last_insert_rowid()
    }

    /// The connection itself, for statements held across calls.
    pub(crate) fn conn(self) -> &'a Connection {
        self.0
    }
}

/// A write handle: an open `BEGIN IMMEDIATE` transaction. Everything done
/// through it commits together or not at all.
pub struct Writer<'a>(rusqlite::Transaction<'a>);

impl<'a> Writer<'a> {
    pub fn reader(&self) -> Reader<'_> {
        Reader(&self.0)
    }

    /// Runs `f` in a savepoint of the transaction: what it wrote stays when
    /// it returns `Ok`, and is undone when it returns an error, the rest of
    /// the transaction going on (one call's failure in a group of calls
    /// sharing a transaction leaves nothing of it behind).
    pub fn atomically<T, E>(&self, f: impl FnOnce(&Writer<'a>) -> std::result::Result<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        self.c().execute("SAVEPOINT atomically", []).map_err(StoreError::from)?;
        match f(self) {
            Ok(v) => {
                self.c().execute("RELEASE atomically", []).map_err(StoreError::from)?;
                Ok(v)
            }
            Err(e) => {
                self.c().execute("ROLLBACK TO atomically", []).map_err(StoreError::from)?;
                self.c().execute("RELEASE atomically", []).map_err(StoreError::from)?;
                Err(e)
            }
        }
    }
}

impl Writer<'_> {
    pub(crate) fn c(&self) -> Sql<'_> {
        Sql(&self.0)
    }
}

/// The settings every connection to a store runs with, as SQL. Public so
/// that the ingest benchmark's plain-insert baseline runs with the same ones.
///
/// - `page_size` takes effect only on a new, empty file (before WAL is set):
///   larger pages mean fewer splits on bulk ingest.
/// - `cache_size` is 64 MiB; temporary tables stay in memory.
/// - `wal_autocheckpoint`: checkpoint the WAL every ~40 MiB rather than every
///   4 MiB: fewer, larger checkpoints during bulk ingest.
pub const SETTINGS: &str = "PRAGMA page_size = 8192;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
PRAGMA wal_autocheckpoint = 10000;";

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    conn.execute_batch(SETTINGS)
}

impl Store {
    /// Opens (creating if needed) the store at `path` and applies pending
    /// migrations in one transaction. Refuses a store with a newer schema.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                    path: path.display().to_string(),
                    source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
                })?;
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open_err = |source| StoreError::Open { path: path.display().to_string(), source };
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        configure(&conn).map_err(open_err)?;
        let mut store = Store { conn, path: path.to_path_buf(), write_lock: write_lock_for(path) };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<()> {
        // Foreign keys are off while migrations rebuild tables (SQLite's
        // way to change a table's keys; `PRAGMA foreign_keys` is a no-op
        // inside a transaction) and checked before the commit.
        self.conn.pragma_update(None, "foreign_keys", false)?;
        let result = self.migrate_in_transaction();
        self.conn.pragma_update(None, "foreign_keys", true)?;
        result
    }

    fn migrate_in_transaction(&mut self) -> Result<()> {
        let path = self.path.display().to_string();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = known_schema_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { path, found, known });
        }
        if found > 0 && (found as usize) < MIGRATIONS.len() {
            // An upgrade of a store in use: the rollups of a large one take
            // minutes to build; say so rather than seem to hang.
            let records: i64 = tx.query_row("SELECT ifnull(max(seq), 0) FROM records", [], |r| r.get(0))?;
            if records > 100_000 {
                tracing::warn!(
                    "upgrading the store at {path} (schema {found} to {}, about {records} records): this can take minutes; if interrupted, nothing changes and the upgrade starts again on the next open",
                    MIGRATIONS.len()
                );
            }
        }
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tracing::info!(migration = name, "applying migration");
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if broken > 0 {
            return Err(StoreError::Corrupt(format!(
                "the upgrade of {path} would break {broken} references between tables; nothing was changed"
            )));
        }
        tx.commit()?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn reader(&self) -> Reader<'_> {
        Reader(&self.conn)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed when `f`
    /// returns `Ok`, rolled back otherwise. Other processes writing the same
    /// store wait (busy timeout) rather than fail.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Writer<'_>) -> std::result::Result<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        let lock = self.write_lock.clone();
        let _queued = lock.lock().unwrap_or_else(|p| p.into_inner());
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
        let w = Writer(tx);
        let out = f(&w)?;
        w.0.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` inside a read transaction, so that it sees one snapshot.
    pub fn read<T, E>(&mut self, f: impl FnOnce(&Reader<'_>) -> std::result::Result<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(StoreError::from)?;
        let out = f(&Reader(&tx))?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Sets after how many WAL pages a commit checkpoints by itself; 0 turns
    /// that off, for a process that checkpoints in the background instead.
    pub fn set_autocheckpoint(&self, pages: i64) -> Result<()> {
        self.conn.pragma_update(None, "wal_autocheckpoint", pages)?;
        Ok(())
    }

    /// A passive checkpoint: copies what it can from the WAL into the
    /// database without blocking readers or writers.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

/// Store metadata (key/value).
pub mod meta {
    use super::*;
    use rusqlite::OptionalExtension;

    pub fn get(r: &Reader<'_>, key: &str) -> Result<Option<String>> {
        Ok(r.c().query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()?)
    }

    pub fn set(w: &Writer<'_>, key: &str, value: &str) -> Result<()> {
        w.c().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
