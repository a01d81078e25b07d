//! A PostgreSQL connection as the store uses it: the `postgres` driver's
//! blocking client, statements prepared once and kept, parameters and
//! columns as [`Value`]s, and errors that say whether the database went
//! away ([`StoreError::Unavailable`]).
//!
//! The driver runs a small runtime of its own in each client; a
//! [`Session`] keeps it on a thread of its own.
use crate::sql::{Param, Value};
use crate::{Result, StoreError};
use postgres::types::{IsNull, ToSql, Type};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// True when `location` names a PostgreSQL database rather than a file.
pub fn is_url(location: &str) -> bool {
    let l = location.get(..13).unwrap_or(location).to_ascii_lowercase();
    l.starts_with("postgres://") || l.starts_with("postgresql://")
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let host = host.split_once('?').map_or(host, |(h, _)| h);
    match auth {
        Some(a) => format!("{scheme}://{}@{host}", a.split_once(':').map_or(a, |(u, _)| u)),
        None => format!("{scheme}://{host}"),
    }
}

/// How long a statement may run, unless the URL sets `statement_timeout`
/// itself (`?options=-c%20statement_timeout%3D5s`).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may sit in an open transaction.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Statements kept prepared a connection.
const STATEMENTS: usize = 256;

/// A connection. The driver runs a runtime of its own in its client, which
/// must never be started or dropped inside another: the client is made,
/// and dropped, on a thread of the session's own, and a statement runs on
/// the caller's thread when no async runtime is entered there (the
/// command line, plain threads), and on the session's thread otherwise
/// (async code; also a server's blocking threads, which have their runtime
/// entered), so that a session can be used anywhere.
pub struct Session {
    client: Arc<Mutex<Option<postgres::Client>>>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    broken: Cell<bool>,
    shown: String,
}

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.jobs.take()); // the worker's loop ends, and the client with it
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Session {
    pub fn connect(url: &str) -> Result<Session> {
        let shown = redact(url);
        let unreachable = |e: String| {
            StoreError::Unavailable(format!(
                "cannot connect to {shown}: {e}; check that the database runs and that the URL (user, host, port, database) is right"
            ))
        };
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::BadUrl(format!(
                "{shown} is not a PostgreSQL URL the driver understands ({e}); write it as postgres://USER[:PASSWORD]@HOST:PORT/DATABASE"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let own_timeout = !url.contains("statement_timeout");
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let client: Arc<Mutex<Option<postgres::Client>>> = Arc::default();
        let held = client.clone();
        let (ready_tx, ready) = std::sync::mpsc::sync_channel::<std::result::Result<(), String>>(1);
        let worker = std::thread::Builder::new()
            .name("argus-pg".into())
            .spawn(move || {
                let connected = config.connect(postgres::NoTls).and_then(|mut c| {
                    let mut set = format!("SET idle_in_transaction_session_timeout = {};", IDLE_IN_TRANSACTION_TIMEOUT.as_millis());
                    if own_timeout {
                        set.push_str(&format!("SET statement_timeout = {};", STATEMENT_TIMEOUT.as_millis()));
                    }
                    c.batch_execute(&set).map(|_| c)
                });
                match connected {
                    Ok(c) => {
                        *held.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
                        let _ = ready_tx.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(describe(&e)));
                        return;
                    }
                }
                for job in queue {
                    if let Some(c) = held.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                        job(c);
                    }
                }
                // The session is gone: its client is dropped here, off any runtime.
                drop(held.lock().unwrap_or_else(|p| p.into_inner()).take());
            })
            .map_err(|e| unreachable(format!("cannot start its thread: {e}")))?;
        ready.recv().map_err(|_| unreachable("the connection attempt failed".into()))?.map_err(unreachable)?;
        Ok(Session { client, jobs: Some(jobs), worker: Some(worker), statements: RefCell::default(), broken: Cell::new(false), shown })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// True once the connection failed: it is not lent again.
    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    /// The store's error for the driver's: the connection lost (no answer,
    /// a closed socket, SQLSTATE class 08, or the server shutting down,
    /// 57P*) makes the session unusable and is `Unavailable`; so is a
    /// statement cut by `statement_timeout` (57014), the session usable.
    fn fail(&self, e: postgres::Error) -> StoreError {
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        if e.is_closed() || e.as_db_error().is_none() || code.starts_with("08") || code.starts_with("57P") {
            self.broken.set(true);
            return StoreError::Unavailable(format!("the database at {} cannot be reached: {}", self.shown, describe(&e)));
        }
        if code == "57014" {
            return StoreError::Unavailable(format!("the database at {} cut a statement short: {}", self.shown, describe(&e)));
        }
        StoreError::Pg(describe(&e))
    }

    /// Runs `f` with the client: here, or on the session's thread (and
    /// waits for it) when this thread is inside an async runtime.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T> {
        let lost = || StoreError::Unavailable(format!("the connection to {} was lost", self.shown));
        if self.broken.get() {
            return Err(lost());
        }
        if tokio::runtime::Handle::try_current().is_err() {
            let mut held = self.client.lock().unwrap_or_else(|p| p.into_inner());
            let c = held.as_mut().ok_or_else(lost)?;
            return f(c).map_err(|e| self.fail(e));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let jobs = self.jobs.as_ref().ok_or_else(lost)?;
        jobs.send(Box::new(move |c: &mut postgres::Client| {
            let _ = tx.send(f(c));
        }))
        .map_err(|_| lost())?;
        match rx.recv() {
            Ok(r) => r.map_err(|e| self.fail(e)),
            Err(_) => {
                self.broken.set(true);
                Err(lost())
            }
        }
    }

    /// The statement of `sql`, prepared on first use. PostgreSQL infers
    /// each parameter's type from where it stands (a parameter standing
    /// alone, `?2 IS NULL`, is written `CAST(?2 AS TEXT) IS NULL` in the
    /// shared queries so that it can).
    fn statement(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(st) = self.statements.borrow().get(sql) {
            return Ok(st.clone());
        }
        let text = numbered(sql);
        let st = self.with(move |c| c.prepare(&text))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENTS {
            cache.clear();
        }
        cache.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    /// Runs `sql`'s prepared statement with `params` through `run`.
    fn bound<T: Send + 'static>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        run: impl FnOnce(&mut postgres::Client, &postgres::Statement, &[&(dyn ToSql + Sync)]) -> std::result::Result<T, postgres::Error>
            + Send
            + 'static,
    ) -> Result<T> {
        let values: Vec<Value> = params.iter().map(|p| p.value()).collect();
        let st = self.statement(sql)?;
        self.with(move |c| {
            let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            run(c, &st, &refs)
        })
    }

    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<u64> {
        self.bound(sql, params, |c, st, p| c.execute(st, p))
    }

    pub fn query(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Vec<Value>>> {
        let rows = self.bound(sql, params, |c, st, p| c.query(st, p))?;
        rows.iter().map(|r| (0..r.len()).map(|i| column(r, i)).collect()).collect()
    }

    pub fn batch(&self, sql: &str) -> Result<()> {
        let sql = sql.to_string();
        self.with(move |c| c.batch_execute(&sql))
    }
}

/// Creates an empty database `name` on the server of `url` (whose own
/// database it connects to) and returns the new database's URL: for the
/// tests and benchmarks, which give each run a database of its own.
pub fn create_database(url: &str, name: &str) -> Result<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::BadUrl(format!("{name:?} is not a database name of lower-case letters, digits and _")));
    }
    Session::connect(url)?.batch(&format!("CREATE DATABASE {name}"))?;
    Ok(with_database(url, name))
}

/// The store a test (or a benchmark) runs on: `dir/file`, or, when
/// `ARGUS_TEST_PG` names a PostgreSQL database (scripts/test.sh sets it
/// from scripts/pg.sh), a new database of its own on that server.
pub fn test_store(dir: &std::path::Path, file: &str) -> Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    match std::env::var("ARGUS_TEST_PG") {
        Ok(base) if !base.is_empty() => {
            static N: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let name = format!("t_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
            Ok(std::path::PathBuf::from(create_database(&base, &name)?))
        }
        _ => Ok(dir.join(file)),
    }
}

/// True when the tests run against PostgreSQL (`ARGUS_TEST_PG`).
pub fn testing_on_postgres() -> bool {
    std::env::var("ARGUS_TEST_PG").is_ok_and(|v| !v.is_empty())
}

/// `url` naming the database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (base, query) = rest.split_once('?').map_or((rest, None), |(b, q)| (b, Some(q)));
    let host = base.split_once('/').map_or(base, |(h, _)| h);
    match query {
        Some(q) => format!("{scheme}://{host}/{name}?{q}"),
        None => format!("{scheme}://{host}/{name}"),
    }
}

/// The driver's error with the server's detail, when there is one.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

/// `?N` (and a bare `?`, numbered in turn) as PostgreSQL's `$N`, outside
/// quoted text.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut quoted, mut next) = (false, 0usize);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            if n.is_empty() {
                next += 1;
                n = next.to_string();
            }
            out.push('$');
            out.push_str(&n);
        } else {
            out.push(c);
        }
    }
    out
}

fn column(r: &postgres::Row, i: usize) -> Result<Value> {
    let ty = r.columns()[i].type_().clone();
    let bad = |e: postgres::Error| StoreError::Corrupt(format!("cannot read column {i} ({ty}): {e}"));
    Ok(match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(bad)?.map_or(Value::Null, Value::Int),
        Type::INT4 => r.try_get::<_, Option<i32>>(i).map_err(bad)?.map_or(Value::Null, |x| Value::Int(x.into())),
        Type::INT2 => r.try_get::<_, Option<i16>>(i).map_err(bad)?.map_or(Value::Null, |x| Value::Int(x.into())),
        Type::BOOL => r.try_get::<_, Option<bool>>(i).map_err(bad)?.map_or(Value::Null, |x| Value::Int(x.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i).map_err(bad)?.map_or(Value::Null, Value::Real),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i).map_err(bad)?.map_or(Value::Null, |x| Value::Real(x.into())),
        Type::NUMERIC => match r.try_get::<_, Option<rust_decimal::Decimal>>(i).map_err(bad)? {
            None => Value::Null,
            Some(d) if d.fract().is_zero() => {
                use rust_decimal::prelude::ToPrimitive;
                d.to_i64().map(Value::Int).ok_or_else(|| StoreError::Corrupt(format!("the sum {d} is beyond a 64-bit integer")))?
            }
            Some(d) => Value::Text(d.normalize().to_string()),
        },
        Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i).map_err(bad)?.map_or(Value::Null, Value::Blob),
        Type::VOID => Value::Null,
        _ => r.try_get::<_, Option<String>>(i).map_err(bad)?.map_or(Value::Null, Value::Text),
    })
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> { format!("cannot pass {self:?} as {ty}").into() };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::NUMERIC => rust_decimal::Decimal::from(*i).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN | Type::BPCHAR => i.to_string().as_str().to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::NUMERIC => rust_decimal::Decimal::try_from(*f).map_err(|_| mismatch())?.to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Text(s) => match *ty {
                Type::NUMERIC => s.parse::<rust_decimal::Decimal>().map_err(|_| mismatch())?.to_sql(ty, out),
                Type::INT8 => s.parse::<i64>().map_err(|_| mismatch())?.to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_as_postgresql_writes_them() {
        assert_eq!(numbered("SELECT ?1, ?12 FROM t WHERE a = ? AND b = '?'"), "SELECT $1, $12 FROM t WHERE a = $1 AND b = '?'");
    }

    #[test]
    fn a_password_never_shows() {
        assert_eq!(redact("postgres://argus:s3cret@db.example:5432/usage?sslmode=disable"), "postgres://argus@db.example:5432/usage");
        assert_eq!(redact("postgresql://db/usage"), "postgresql://db/usage");
        assert!(is_url("PostgreSQL://x/y") && is_url("postgres://x") && !is_url("/var/usage.db"));
        assert_eq!(with_database("postgres://u@h:1/argus?sslmode=disable", "t_1"), "postgres://u@h:1/t_1?sslmode=disable");
        assert_eq!(with_database("postgres://u@h:1", "t_1"), "postgres://u@h:1/t_1");
    }
}

#[cfg(test)]
mod timing {
    #[test]
    #[ignore = "a measurement, run by hand with ARGUS_TEST_PG"]
    fn round_trip() {
        let Ok(url) = std::env::var("ARGUS_TEST_PG") else { return };
        let s = super::Session::connect(&url).unwrap();
        let t = std::time::Instant::now();
        for _ in 0..2000 {
            s.query("SELECT ?1::bigint", crate::sql::params![1i64]).unwrap();
        }
        eprintln!("session: {:?} a query", t.elapsed() / 2000);
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let st = c.prepare("SELECT $1::bigint").unwrap();
        let t = std::time::Instant::now();
        for _ in 0..2000 {
            c.query(&st, &[&1i64]).unwrap();
        }
        eprintln!("direct: {:?} a query", t.elapsed() / 2000);
    }
}
