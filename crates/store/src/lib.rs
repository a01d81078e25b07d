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
pub mod pg;
pub mod prices;
pub mod records;
pub mod server;
pub mod sql;
pub mod sync;
pub mod wide;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sql::{params, Optional, Sql};
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

/// The migrations of a PostgreSQL store, in order: a numbering of their own
/// (the first is the SQLite schema at version 15). Append only.
pub const PG_MIGRATIONS: &[(&str, &str)] = &[("0001_schema", include_str!("../../../migrations/pg/0001_schema.sql"))];

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
    #[error("{0}")]
    BadUrl(String),
    /// The database cannot be reached (PostgreSQL down, the connection
    /// lost): worth trying again later.
    #[error("{0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store error: {0}")]
    Pg(String),
    #[error("a query that expected a row found none")]
    NoRows,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database behind a store.
enum Backend {
    Lite(Connection),
    Pg(pg::Session),
}

/// An open store: a SQLite file, or a PostgreSQL database (`postgres://`).
pub struct Store {
    backend: Backend,
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
/// function of one of the table modules, so no SQL and no driver type
/// leaves argus-store.
pub struct Reader<'a>(Sql<'a>);

impl Reader<'_> {
    pub(crate) fn c(&self) -> Sql<'_> {
        self.0
    }
}

/// Prepared statements kept a SQLite connection.
const STATEMENTS: usize = 256;

/// The advisory lock every PostgreSQL write transaction takes first: the
/// writes of every instance on one database are serialised, as SQLite's
/// are, so quotas, limits and budgets are checked against committed state
/// and record numbers are allocated in commit order (the sync cursor).
const PG_WRITE_LOCK: i64 = 0x4152_4755_5301;
/// The advisory lock of migrations (instances starting at once apply them once).
const PG_MIGRATE_LOCK: i64 = 0x4152_4755_5302;
/// The advisory lock of the alert deliverer (one instance delivers).
pub const PG_DELIVERER_LOCK: i64 = 0x4152_4755_5303;

/// A write handle: an open transaction (`BEGIN IMMEDIATE` on SQLite; on
/// PostgreSQL one holding [`PG_WRITE_LOCK`]). Everything done through it
/// commits together or not at all.
pub struct Writer<'a>(Tx<'a>);

enum Tx<'a> {
    Lite(rusqlite::Transaction<'a>),
    Pg(&'a pg::Session),
}

impl<'a> Writer<'a> {
    pub fn reader(&self) -> Reader<'_> {
        Reader(self.c())
    }

    /// Runs `f` in a savepoint of the transaction: what it wrote stays when
    /// it returns `Ok`, and is undone when it returns an error, the rest of
    /// the transaction going on (one call's failure in a group of calls
    /// sharing a transaction leaves nothing of it behind).
    pub fn atomically<T, E>(&self, f: impl FnOnce(&Writer<'a>) -> std::result::Result<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        self.c().execute("SAVEPOINT atomically", params![])?;
        match f(self) {
            Ok(v) => {
                self.c().execute("RELEASE SAVEPOINT atomically", params![])?;
                Ok(v)
            }
            Err(e) => {
                self.c().execute("ROLLBACK TO SAVEPOINT atomically", params![])?;
                self.c().execute("RELEASE SAVEPOINT atomically", params![])?;
                Err(e)
            }
        }
    }
}

impl Writer<'_> {
    pub(crate) fn c(&self) -> Sql<'_> {
        match &self.0 {
            Tx::Lite(t) => Sql::Lite(t),
            Tx::Pg(s) => Sql::Pg(s),
        }
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

/// True when `location` (a `--db`) names a PostgreSQL database.
pub fn is_postgres(location: &Path) -> bool {
    pg::is_url(&location.to_string_lossy())
}

impl Store {
    /// Opens (creating if needed) the store at `path` and applies pending
    /// migrations in one transaction. Refuses a store with a newer schema.
    /// A `postgres://` URL opens a PostgreSQL database (which must exist).
    pub fn open(path: &Path) -> Result<Store> {
        if is_postgres(path) {
            return Store::open_pg(path);
        }
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
        let mut store = Store { backend: Backend::Lite(conn), path: path.to_path_buf(), write_lock: write_lock_for(path) };
        store.migrate()?;
        Ok(store)
    }

    fn open_pg(url: &Path) -> Result<Store> {
        let session = pg::Session::connect(&url.to_string_lossy())?;
        let shown = PathBuf::from(session.shown());
        let store = Store { backend: Backend::Pg(session), write_lock: write_lock_for(&shown), path: shown };
        store.migrate_pg()?;
        Ok(store)
    }

    /// Where the store is: its file, or its URL without the password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True for a PostgreSQL store (shared by several server instances).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Pg(_))
    }

    /// False once a PostgreSQL connection was lost (the server opens another).
    pub fn is_usable(&self) -> bool {
        match &self.backend {
            Backend::Lite(_) => true,
            Backend::Pg(s) => !s.is_broken(),
        }
    }

    fn sql(&self) -> Sql<'_> {
        match &self.backend {
            Backend::Lite(c) => Sql::Lite(c),
            Backend::Pg(s) => Sql::Pg(s),
        }
    }

    fn lite(&mut self) -> Option<&mut Connection> {
        match &mut self.backend {
            Backend::Lite(c) => Some(c),
            Backend::Pg(_) => None,
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let Some(conn) = self.lite() else { return Ok(()) }; // PostgreSQL: `migrate_pg`
                                                             // Foreign keys are off while migrations rebuild tables (SQLite's
                                                             // way to change a table's keys; `PRAGMA foreign_keys` is a no-op
                                                             // inside a transaction) and checked before the commit.
        conn.pragma_update(None, "foreign_keys", false)?;
        let result = self.migrate_in_transaction();
        if let Some(conn) = self.lite() {
            conn.pragma_update(None, "foreign_keys", true)?;
        }
        result
    }

    fn migrate_in_transaction(&mut self) -> Result<()> {
        let path = self.path.display().to_string();
        let Some(conn) = self.lite() else { return Ok(()) };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = known_schema_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { path, found, known });
        }
        if found > 0 && (found as usize) < MIGRATIONS.len() {
            // An upgrade of a store in use: the rollups of a large one take
            // minutes to build; say so rather than seem to hang.
            let records: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM records", [], |r| r.get(0))?;
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

    /// PostgreSQL: the migrations of `migrations/pg/` in one transaction,
    /// under an advisory lock, the version kept in `argus_schema`.
    fn migrate_pg(&self) -> Result<()> {
        let path = self.path.display().to_string();
        let Backend::Pg(s) = &self.backend else { return Ok(()) };
        let known = PG_MIGRATIONS.len() as i64;
        s.batch("BEGIN")?;
        let run = || -> Result<()> {
            s.query("SELECT pg_advisory_xact_lock(?1)", params![PG_MIGRATE_LOCK])?;
            s.batch("CREATE TABLE IF NOT EXISTS argus_schema (version BIGINT NOT NULL)")?;
            let found = match s.query("SELECT version FROM argus_schema", params![])?.first().and_then(|r| r.first()) {
                Some(v) => <i64 as sql::Get>::from_value(v).map_err(StoreError::Corrupt)?,
                None => {
                    s.execute("INSERT INTO argus_schema (version) VALUES (0)", params![])?;
                    0
                }
            };
            if found > known {
                return Err(StoreError::SchemaTooNew { path: path.clone(), found, known });
            }
            for (i, (name, sql)) in PG_MIGRATIONS.iter().enumerate().skip(found as usize) {
                tracing::info!(migration = name, "applying migration");
                s.batch(sql)?;
                s.execute("UPDATE argus_schema SET version = ?1", params![(i + 1) as i64])?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => s.batch("COMMIT"),
            Err(e) => {
                let _ = s.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    pub fn schema_version(&self) -> Result<i64> {
        match &self.backend {
            Backend::Lite(c) => Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?),
            Backend::Pg(_) => self.sql().query_row("SELECT version FROM argus_schema", params![], |r| r.get(0)),
        }
    }

    pub fn reader(&self) -> Reader<'_> {
        Reader(self.sql())
    }

    /// Runs `f` in one write transaction, committed when `f` returns `Ok`,
    /// rolled back otherwise. Other processes writing the same store wait
    /// (SQLite's busy timeout; PostgreSQL's advisory lock) rather than fail.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Writer<'_>) -> std::result::Result<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        let lock = self.write_lock.clone();
        let _queued = lock.lock().unwrap_or_else(|p| p.into_inner());
        match &mut self.backend {
            Backend::Lite(conn) => {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
                let w = Writer(Tx::Lite(tx));
                let out = f(&w)?;
                let Tx::Lite(tx) = w.0 else { return Err(StoreError::Corrupt("a SQLite store's transaction changed kind".into()).into()) };
                tx.commit().map_err(StoreError::from)?;
                Ok(out)
            }
            Backend::Pg(s) => {
                // One round trip: the transaction and its lock.
                s.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"))?;
                let out = f(&Writer(Tx::Pg(s)));
                match out {
                    Ok(v) => {
                        s.batch("COMMIT")?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = s.batch("ROLLBACK");
                        Err(e)
                    }
                }
            }
        }
    }

    /// Runs `f` inside a read transaction, so that it sees one snapshot.
    pub fn read<T, E>(&mut self, f: impl FnOnce(&Reader<'_>) -> std::result::Result<T, E>) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        match &mut self.backend {
            Backend::Lite(conn) => {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(StoreError::from)?;
                let out = f(&Reader(Sql::Lite(&tx)))?;
                tx.commit().map_err(StoreError::from)?;
                Ok(out)
            }
            Backend::Pg(s) => {
                s.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
                let out = f(&Reader(Sql::Pg(s)));
                let _ = s.batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" });
                out
            }
        }
    }

    /// Sets after how many WAL pages a commit checkpoints by itself; 0 turns
    /// that off, for a process that checkpoints in the background instead.
    /// Nothing on PostgreSQL.
    pub fn set_autocheckpoint(&self, pages: i64) -> Result<()> {
        if let Backend::Lite(c) = &self.backend {
            c.pragma_update(None, "wal_autocheckpoint", pages)?;
        }
        Ok(())
    }

    /// A passive checkpoint: copies what it can from the WAL into the
    /// database without blocking readers or writers. Nothing on PostgreSQL.
    pub fn checkpoint(&self) -> Result<()> {
        if let Backend::Lite(c) = &self.backend {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound (PostgreSQL
    /// keeps its own: "ok" when a query answers).
    pub fn integrity_check(&self) -> Result<String> {
        match &self.backend {
            Backend::Lite(c) => Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?),
            Backend::Pg(_) => self.sql().query_row("SELECT 'ok'", params![], |r| r.get(0)),
        }
    }
}

/// The lock that makes one process at a time the deliverer of a store's
/// alerts: an OS lock on `DB.outbox.lock` for a file (released when the
/// process ends, however it ends), a session advisory lock on a connection
/// of its own for PostgreSQL (released when that session ends). One a
/// process, asked at every poll ([`DelivererLock::lead`]).
pub struct DelivererLock {
    location: PathBuf,
    lease: Lease,
}

enum Lease {
    None,
    /// The file, locked (kept open: closing it would release the lock).
    File(#[allow(dead_code)] std::fs::File),
    /// Connected; `true` once the advisory lock is held.
    Pg(pg::Session, bool),
}

impl DelivererLock {
    pub fn new(location: &Path) -> DelivererLock {
        DelivererLock { location: location.to_path_buf(), lease: Lease::None }
    }

    /// Whether this process is the deliverer now, taking the lock if it is
    /// free (and finding out whether a PostgreSQL session that held it is
    /// still there). Blocking: call it from a blocking thread.
    pub fn lead(&mut self) -> bool {
        if !is_postgres(&self.location) {
            if matches!(self.lease, Lease::None) {
                let path = PathBuf::from(format!("{}.outbox.lock", self.location.display()));
                let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path);
                if let Ok(f) = f {
                    if f.try_lock().is_ok() {
                        self.lease = Lease::File(f);
                    }
                }
            }
            return matches!(self.lease, Lease::File(_));
        }
        if matches!(self.lease, Lease::None) {
            match pg::Session::connect(&self.location.to_string_lossy()) {
                Ok(s) => self.lease = Lease::Pg(s, false),
                Err(_) => return false,
            }
        }
        let Lease::Pg(s, held) = &mut self.lease else { return false };
        let asked = if *held {
            s.query("SELECT 1", params![]).map(|_| true)
        } else {
            s.query("SELECT pg_try_advisory_lock(?1)", params![PG_DELIVERER_LOCK])
                .map(|rows| rows.first().and_then(|r| r.first()).is_some_and(|v| *v == sql::Value::Int(1)))
        };
        match asked {
            Ok(now) => {
                *held = now;
                now
            }
            Err(_) => {
                // The session is gone, and the lock with it: a new one next time.
                self.lease = Lease::None;
                false
            }
        }
    }
}

/// Store metadata (key/value).
pub mod meta {
    use super::*;

    pub fn get(r: &Reader<'_>, key: &str) -> Result<Option<String>> {
        r.c().query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()
    }

    pub fn set(w: &Writer<'_>, key: &str, value: &str) -> Result<()> {
        w.c().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
