//! The operations facade: the one surface that the CLI, the HTTP server and
//! the desktop window call. Inputs and outputs are plain serializable data
//! ([`api`]); errors are [`OpsError`] with a code front ends branch on.
//!
//! - [`access`] — tokens and roles, webhooks.
//! - [`orgs`] — organisations.
//! - [`prices`] — price import and listing, the built-in catalogue, reprice.
//! - [`ingest`] — recording usage, one record or a JSON Lines stream.
//! - [`controls`] — budgets, alerts, providers, admission, routing, forecast.
//! - [`analytics`] — summaries and record listings.
//! - [`gateway`] — upstreams, aliases, the gateway's choice and admission of a provider, and its `Upstream` transport trait.
//! - [`demo`] — the demo organisation.
#![forbid(unsafe_code)]

pub mod access;
pub mod analytics;
pub mod api;
pub mod channels;
pub mod controls;
pub mod demo;
pub mod fx;
pub mod gateway;
pub mod ingest;
pub mod litellm;
pub mod orgs;
pub mod prices;
pub mod rows;
pub mod sync;

use argus_domain::time::Clock;
use argus_domain::{ErrorCode, FieldError};
pub use argus_store::{is_postgres, DelivererLock};
use argus_store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The error of every operation: a code to branch on, a message that says
/// what to do, and the field at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, thiserror::Error)]
#[error("{message}")]
pub struct OpsError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
}

impl OpsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> OpsError {
        OpsError { code, message: message.into(), field: None }
    }

    pub fn bad_input(e: FieldError) -> OpsError {
        OpsError { code: ErrorCode::BadInput, message: e.to_string(), field: Some(e.field) }
    }

    pub fn not_found(message: impl Into<String>) -> OpsError {
        OpsError::new(ErrorCode::NotFound, message)
    }
}

impl From<FieldError> for OpsError {
    fn from(e: FieldError) -> OpsError {
        OpsError::bad_input(e)
    }
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> OpsError {
        let code = match &e {
            StoreError::SchemaTooNew { .. } => ErrorCode::SchemaTooNew,
            StoreError::Unavailable(_) => ErrorCode::Unavailable,
            StoreError::BadUrl(_) => ErrorCode::BadInput,
            _ => ErrorCode::Store,
        };
        OpsError::new(code, e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;

/// The system clock, for production use.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The default store location, shared by the CLI and the desktop app:
/// `<platform data dir>/argus-usage/usage.db` (on Linux
/// `~/.local/share/argus-usage/usage.db`).
pub fn default_db_path() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("argus-usage").join("usage.db")
}

/// A store is a SQLite file or a PostgreSQL URL: another URL (`file://`,
/// `mysql://`) would otherwise become a folder named after its scheme with
/// a new store in it.
fn check_store_path(path: &Path) -> Result<()> {
    if argus_store::is_postgres(path) {
        return Ok(());
    }
    let s = path.to_string_lossy();
    let Some((scheme, _)) = s.split_once("://") else { return Ok(()) };
    if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return Err(OpsError {
            code: ErrorCode::BadInput,
            message: format!(
                "the store {s:?} is a URL of a kind this version cannot open; give the path of a SQLite file (created if missing) or a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE) with --db or ARGUS_USAGE_DB"
            ),
            field: Some("db".into()),
        });
    }
    Ok(())
}

/// An open store with its clock and the name changes are made under.
pub struct Ops {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) actor: String,
}

impl Ops {
    /// Opens the store (applying migrations) and makes sure the built-in
    /// price catalogue is loaded.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, actor: impl Into<String>) -> Result<Ops> {
        check_store_path(path)?;
        let store = Store::open(path)?;
        let mut ops = Ops { store, clock, actor: actor.into() };
        prices::ensure_builtin_catalogue(&mut ops)?;
        Ok(ops)
    }

    /// The schema version of the open store (migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.store.schema_version()?)
    }

    /// For a process that checkpoints in the background (the server, with
    /// [`Ops::checkpoint`]): its commits stop checkpointing by themselves.
    pub fn checkpoint_in_background(&self) -> Result<()> {
        Ok(self.store.set_autocheckpoint(0)?)
    }

    /// A passive checkpoint of the store's write-ahead log: copies what it
    /// can without blocking readers or writers.
    pub fn checkpoint(&self) -> Result<()> {
        Ok(self.store.checkpoint()?)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The store's file, or its URL without the password.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// True for a PostgreSQL store, which several servers may share.
    pub fn is_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// False once the store's connection was lost (a server opens another).
    pub fn is_usable(&self) -> bool {
        self.store.is_usable()
    }
}
