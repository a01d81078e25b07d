//! The one way the table modules speak to a database, SQLite or
//! PostgreSQL: statements written once, in the SQL both understand
//! (numbered parameters `?N`, rewritten to `$N` for PostgreSQL;
//! `coalesce`; `ON CONFLICT`), parameters as [`Param`] and columns read
//! with [`Row::get`] into the same Rust types on both.
//!
//! On SQLite the parameters and columns go to rusqlite as they are (no
//! conversion on the ingest and admission paths); on PostgreSQL they pass
//! through [`Value`], which adapts to the type the server infers (an
//! integer given where it expects `INT4`, a `sum` read back as `NUMERIC`).
use crate::pg::Session;
use crate::{Result, StoreError};

/// A value as the store passes it: SQLite's five storage classes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A statement parameter: what rusqlite binds, and its [`Value`] for
/// PostgreSQL.
pub trait Param: rusqlite::ToSql {
    fn value(&self) -> Value;
}

/// `params![a, b, ...]`: the parameters of a statement, in order.
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::Param] };
    ($($x:expr),+ $(,)?) => { &[$(&$x as &dyn $crate::sql::Param),+] as &[&dyn $crate::sql::Param] };
}
pub(crate) use params;

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_param!(i64, i32, u32, u16, u8);

impl Param for bool {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl Param for f64 {
    fn value(&self) -> Value {
        Value::Real(*self)
    }
}

impl Param for str {
    fn value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl Param for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl Param for [u8] {
    fn value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<const N: usize> Param for [u8; N] {
    fn value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Param for Value {
    fn value(&self) -> Value {
        self.clone()
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The parameters of one statement.
pub trait Params {
    fn list(&self) -> Vec<&dyn Param>;
}

impl Params for &[&dyn Param] {
    fn list(&self) -> Vec<&dyn Param> {
        self.to_vec()
    }
}

impl<T: Param, const N: usize> Params for [T; N] {
    fn list(&self) -> Vec<&dyn Param> {
        self.iter().map(|p| p as &dyn Param).collect()
    }
}

impl<T: Param> Params for Vec<T> {
    fn list(&self) -> Vec<&dyn Param> {
        self.iter().map(|p| p as &dyn Param).collect()
    }
}

impl<T: Param> Params for &Vec<T> {
    fn list(&self) -> Vec<&dyn Param> {
        self.iter().map(|p| p as &dyn Param).collect()
    }
}

fn lite<'p>(list: &'p [&'p dyn Param]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(list.iter().map(|p| *p as &dyn rusqlite::ToSql))
}

/// A column type the store reads: from rusqlite as it is, from a
/// PostgreSQL [`Value`] by conversion.
pub trait Get: rusqlite::types::FromSql + Sized {
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

fn wrong(v: &Value, what: &str) -> String {
    format!("a column holds {v:?} where {what} was expected")
}

impl Get for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            _ => Err(wrong(v, "an integer")),
        }
    }
}

macro_rules! narrow_get {
    ($($t:ty),*) => {$(
        impl Get for $t {
            fn from_value(v: &Value) -> std::result::Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("the integer {i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
narrow_get!(i32, u32, u64);

impl Get for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl Get for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            _ => Err(wrong(v, "a number")),
        }
    }
}

impl Get for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(wrong(v, "text")),
        }
    }
}

impl Get for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            _ => Err(wrong(v, "bytes")),
        }
    }
}

impl<T: Get> Get for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row of a result.
pub enum Row<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Pg(&'a [Value]),
}

impl Row<'_> {
    /// Column `i` (from 0) as a `T`.
    pub fn get<T: Get>(&self, i: usize) -> Result<T> {
        match self {
            Row::Lite(r) => Ok(r.get(i)?),
            Row::Pg(v) => {
                let v = v.get(i).ok_or_else(|| StoreError::Corrupt(format!("a query read column {i} of a row without it")))?;
                T::from_value(v).map_err(StoreError::Corrupt)
            }
        }
    }
}

/// The connection the table modules use, of either kind.
#[derive(Clone, Copy)]
pub(crate) enum Sql<'a> {
    /// Every statement is prepared once a connection and kept (the parse
    /// was a seventh of the gateway's time per call).
    Lite(&'a rusqlite::Connection),
    Pg(&'a Session),
}

impl<'a> Sql<'a> {
    pub(crate) fn is_pg(self) -> bool {
        matches!(self, Sql::Pg(_))
    }

    pub(crate) fn prepare(self, sql: &str) -> Result<Stmt<'a>> {
        Ok(match self {
            Sql::Lite(c) => Stmt::Lite(c.prepare_cached(sql)?),
            Sql::Pg(s) => Stmt::Pg(s, sql.to_string()),
        })
    }

    pub(crate) fn execute<P: Params>(self, sql: &str, params: P) -> Result<usize> {
        self.prepare(sql)?.execute(params)
    }

    /// The one row `sql` returns; [`StoreError::NoRows`] when none.
    pub(crate) fn query_row<T, P: Params>(self, sql: &str, params: P, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.prepare(sql)?.query_row(params, f)
    }

    /// Runs an `INSERT` and gives the key it allocated in `column` (SQLite's
    /// rowid; `RETURNING column` on PostgreSQL).
    pub(crate) fn insert_id<P: Params>(self, sql: &str, params: P, column: &str) -> Result<i64> {
        self.insert_id_if_new(sql, params, column)?.ok_or(StoreError::NoRows)
    }
}

/// A prepared statement.
pub(crate) enum Stmt<'a> {
    Lite(rusqlite::CachedStatement<'a>),
    Pg(&'a Session, String),
}

impl Stmt<'_> {
    pub(crate) fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        match self {
            Stmt::Lite(st) => Ok(st.execute(lite(&params.list()))?),
            Stmt::Pg(s, sql) => Ok(s.execute(sql, &params.list())? as usize),
        }
    }

    pub(crate) fn query_row<T, P: Params>(&mut self, params: P, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.each(params, |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok::<_, StoreError>(())
        })?;
        out.ok_or(StoreError::NoRows)
    }

    /// The rows, each read by `f`.
    pub(crate) fn query_map<T, P: Params>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut out = Vec::new();
        self.each(params, |r| {
            out.push(f(r));
            Ok::<_, StoreError>(())
        })?;
        Ok(out.into_iter())
    }

    /// Calls `f` with each row in turn (on SQLite without holding them all).
    pub(crate) fn each<P: Params, E: From<StoreError>>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        match self {
            Stmt::Lite(st) => {
                let list = params.list();
                let mut rows = st.query(lite(&list)).map_err(StoreError::from)?;
                while let Some(r) = rows.next().map_err(StoreError::from)? {
                    f(&Row::Lite(r))?;
                }
                Ok(())
            }
            Stmt::Pg(s, sql) => {
                for r in s.query(sql, &params.list())? {
                    f(&Row::Pg(&r))?;
                }
                Ok(())
            }
        }
    }
}

/// `.optional()`: no row is `None` rather than an error.
pub(crate) trait Optional<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> Optional<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::NoRows) => Ok(None),
            Err(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A stored value that does not parse as what it should be.
pub(crate) fn bad(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Row<'_> {
    /// Column `i` as text, borrowed from the row.
    pub fn str(&self, i: usize) -> Result<&str> {
        match self {
            Row::Lite(r) => r.get_ref(i)?.as_str().map_err(bad),
            Row::Pg(v) => match v.get(i) {
                Some(Value::Text(s)) => Ok(s),
                other => Err(bad(format!("column {i} holds {other:?} where text was expected"))),
            },
        }
    }
}

impl Sql<'_> {
    /// Runs an `INSERT ... ON CONFLICT DO NOTHING` and gives the key it
    /// allocated in `column`, or `None` when the row was already there.
    pub(crate) fn insert_id_if_new<P: Params>(self, sql: &str, params: P, column: &str) -> Result<Option<i64>> {
        match self {
            Sql::Lite(c) => {
                let n = c.prepare_cached(sql)?.execute(lite(&params.list()))?;
                Ok((n == 1).then(|| c.last_insert_rowid()))
            }
            Sql::Pg(s) => {
                let rows = s.query(&format!("{sql} RETURNING {column}"), &params.list())?;
                rows.first().and_then(|r| r.first()).map(|v| i64::from_value(v).map_err(StoreError::Corrupt)).transpose()
            }
        }
    }
}

impl Stmt<'_> {
    /// Whether the statement returns a row.
    pub(crate) fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        self.query_row(params, |_| Ok(())).optional().map(|r| r.is_some())
    }
}
