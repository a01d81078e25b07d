//! Sync: a store that follows one organisation of a central server.
//!
//! - Records are pulled after the cursor (the server's `seq`, never
//!   `occurred_at`, so late records are not skipped), page by page; each
//!   page and the new cursor are stored in one transaction, so a kill at any
//!   point resumes exactly where it stopped. Records keep the server's ids
//!   and costs.
//! - Configuration (prices, budgets, providers, alerts) and the audit log are
//!   pulled with the server's versions and ids.
//! - Local edits of a linked organisation go to an outbox with the version
//!   they were made against and are pushed with `If-Match`. A 412 is a
//!   conflict: both values are kept until someone resolves it.
//!
//! The HTTP transport is a [`Remote`] given by the caller (argus-client
//! implements it with reqwest), so this module has no network code.
//!
//! The module by what it does: [`wire`] (the server's documents and the
//! connection with its retries), [`pull`] (records, configuration and audit
//! from the server), [`push`] (the outbox to the server), [`conflicts`]
//! (resolving a refused push).
mod conflicts;
mod pull;
mod push;
pub(crate) mod wire;

use crate::api::{AlertView, AuditPage, BudgetView, OrgView, PriceView, ProviderView, RecordView, RecordsPage};
use crate::orgs::{self, Org};
use crate::{Ops, OpsError, Result};
use argus_domain::analytics::Totals;
use argus_domain::ids::{OrgId, PriceId};
use argus_domain::price::{PriceInput, Rates, ServiceTier, Terms, Tokens};
use argus_domain::record::UsageInput;
use argus_domain::time::{fmt_instant, from_nanos, local_day, to_nanos};
use argus_domain::{ErrorCode, FieldError, Money};
use argus_store::aggregates::Delta;
use argus_store::controls::{AlertRow, BudgetRow, HealthRow, ProviderRow};
use argus_store::records::{Insert, Inserter, NewRecord};
use argus_store::sync::{self as store, LinkRow, OutboxRow};
use argus_store::{audit, Writer};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::*;

/// The server API this build speaks.
pub const API: &str = "v1";
/// Records per page pulled.
pub const PAGE: i64 = 5000;

/// One answer of the server.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The transport to the server: one request under `/api/v1`, with the
/// token already attached. `Err` means no answer at all, with the reason.
pub trait Remote: Sync {
    fn server(&self) -> &str;
    fn request(&self, method: &str, path: &str, body: Option<&[u8]>, if_match: Option<i64>) -> std::result::Result<Answer, String>;
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub page: i64,
    /// Retries after a network error or a 5xx, with the delay doubling.
    pub retries: u32,
    pub first_delay: Duration,
    /// Set to stop at the next page boundary (what is stored stays stored).
    pub cancel: Arc<AtomicBool>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions { page: PAGE, retries: 4, first_delay: Duration::from_millis(500), cancel: Arc::default() }
    }
}

/// Where a sync is, reported after each step and each page.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct SyncProgress {
    /// `push`, `config`, `audit`, `records` or `done`.
    pub phase: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub pages: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cursor: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct SyncReport {
    pub server: String,
    pub org: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub pages: u64,
    #[cfg_attr(test, ts(type = "number"))]
    pub cursor: i64,
    pub pushed: usize,
    pub conflicts: usize,
    pub refused: usize,
    pub audit_entries: usize,
    /// Alerts first seen in this sync (for notifications).
    pub new_alerts: Vec<AlertView>,
    pub cancelled: bool,
    #[cfg_attr(test, ts(type = "number"))]
    pub took_ms: u64,
}

// The views of a store's link live with the other views in `crate::api`
// (the window's `AppInfo` holds one); here under their sync names too.
pub use crate::api::{ConflictView, PendingView, SyncStatus};

/// Which side a conflict resolution keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Local,
    Server,
}

impl Keep {
    pub fn parse(s: &str) -> Result<Keep> {
        match s {
            "local" => Ok(Keep::Local),
            "server" => Ok(Keep::Server),
            _ => Err(OpsError {
                field: Some("keep".into()),
                ..OpsError::new(ErrorCode::BadInput, format!("{s:?} is not a side; give local or server"))
            }),
        }
    }
}

/// The link of the store, or an error saying how to make one.
fn require_link(ops: &Ops) -> Result<LinkRow> {
    store::link(&ops.store.reader())?.ok_or_else(|| {
        OpsError::new(
            ErrorCode::NotFound,
            "this store is standalone (not linked to a server); link it first: `argus-usage sync link --server URL --org SLUG`",
        )
    })
}

impl Ops {
    /// Links this store to `org` on the server behind `remote`: checks the
    /// server and the token, creates the organisation here with the
    /// server's currency and time zone. A store follows one organisation,
    /// and only an organisation without records of its own can be linked.
    pub fn sync_link(&mut self, remote: &dyn Remote, org: &str) -> Result<OrgView> {
        argus_domain::slug::check_slug("org", org)?;
        let opts = SyncOptions { retries: 1, ..SyncOptions::default() };
        let conn = Conn { remote, opts: &opts, org: org.to_string() };
        let version = conn.check_server()?;
        let remote_org: OrgView = conn.get(&format!("/orgs/{org}"))?;
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        let server = remote.server().trim_end_matches('/').to_string();
        self.store.write(|w| {
            let r = w.reader();
            if let Some(l) = store::link(&r)? {
                if l.server != server || l.remote_org != org {
                    return Err(OpsError::new(
                        ErrorCode::AlreadyExists,
                        format!(
                            "this store already follows {} on {}; a store follows one organisation. Unlink it first (`argus-usage sync unlink`) or use another store (--db PATH)",
                            l.remote_org, l.server
                        ),
                    ));
                }
            }
            let local = match argus_store::orgs::by_slug(&r, org)? {
                Some(row) => {
                    if row.currency != remote_org.currency || row.timezone != remote_org.timezone {
                        return Err(OpsError::new(
                            ErrorCode::Conflict,
                            format!(
                                "organisation {org} exists here in {} / {}, but on the server in {} / {}; link a fresh store (--db PATH)",
                                row.currency, row.timezone, remote_org.currency, remote_org.timezone
                            ),
                        ));
                    }
                    let linked = store::is_linked(&r, row.id)?;
                    let n = argus_store::records::count(&r, row.id)?;
                    if !linked && n > 0 {
                        return Err(OpsError::new(
                            ErrorCode::Conflict,
                            format!(
                                "organisation {org} has {n} records of its own in this store; a linked store holds only the server's records. Link a fresh store (--db PATH), or send these records to the server first"
                            ),
                        ));
                    }
                    row
                }
                None => argus_store::orgs::insert(w, org, &remote_org.name, &remote_org.currency, &remote_org.timezone, now)?
                    .ok_or_else(|| OpsError::new(ErrorCode::Internal, "the organisation could not be created"))?,
            };
            store::set_link(w, &server, local.id, org, &version, now)?;
            audit::add(w, Some(local.id), now, &actor, "sync.link", &format!("org/{org}"), None, Some(&serde_json::json!({"server": server}).to_string()))?;
            Ok(orgs::from_row(local)?.view())
        })
    }

    /// Forgets the link; the data stays, and the store becomes standalone.
    pub fn sync_unlink(&mut self) -> Result<()> {
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            if let Some(l) = store::link(&w.reader())? {
                store::unlink(w)?;
                audit::add(w, Some(l.org_id), now, &actor, "sync.unlink", &format!("org/{}", l.remote_org), None, None)?;
            }
            Ok(())
        })
    }

    /// The link, the cursor, what waits to be pushed and the conflicts.
    pub fn sync_status(&mut self) -> Result<SyncStatus> {
        let r = self.store.reader();
        let Some(l) = store::link(&r)? else {
            return Ok(SyncStatus {
                server: None,
                org: None,
                cursor: None,
                last_synced_at: None,
                pending_pushes: 0,
                conflicts: Vec::new(),
                pending: Vec::new(),
                last_error: None,
                server_version: None,
                linked_at: None,
            });
        };
        let items = store::outbox(&r, l.org_id)?;
        let json = |s: &Option<String>| s.as_deref().and_then(|x| serde_json::from_str(x).ok()).unwrap_or(serde_json::Value::Null);
        let conflicts = items
            .iter()
            .filter(|i| i.state == "conflict")
            .map(|i| ConflictView {
                id: i.id,
                object: i.object.clone(),
                local: json(&Some(i.payload.clone())),
                server: json(&i.server_value),
                base_version: i.base_version,
                server_version: i.server_version,
            })
            .collect();
        let pending: Vec<PendingView> = items
            .iter()
            .filter(|i| i.state != "conflict")
            .map(|i| PendingView {
                id: i.id,
                object: i.object.clone(),
                state: i.state.clone(),
                payload: json(&Some(i.payload.clone())),
                base_version: i.base_version,
                last_error: i.last_error.clone(),
                updated_at: fmt_instant(from_nanos(i.updated_at)),
            })
            .collect();
        Ok(SyncStatus {
            server: Some(l.server),
            org: Some(l.remote_org),
            cursor: Some(l.cursor),
            last_synced_at: l.last_synced_at.map(|t| fmt_instant(from_nanos(t))),
            pending_pushes: pending.len(),
            conflicts,
            pending,
            last_error: l.last_error,
            server_version: l.server_version,
            linked_at: Some(fmt_instant(from_nanos(l.linked_at))),
        })
    }

    /// Pushes the outbox, then pulls configuration, the audit log and the
    /// records after the cursor. Resumable at any point.
    pub fn sync(&mut self, remote: &dyn Remote, opts: &SyncOptions, progress: &mut dyn FnMut(&SyncProgress)) -> Result<SyncReport> {
        let link = require_link(self)?;
        let started = Instant::now();
        let conn = Conn { remote, opts, org: link.remote_org.clone() };
        let result = self.sync_inner(&conn, &link, progress);
        let now = to_nanos(self.now());
        let (at, err) = match &result {
            Ok(r) if !r.cancelled => (Some(now), None),
            Ok(_) => (None, None),
            Err(e) => (None, Some(e.message.clone())),
        };
        self.store.write(|w| store::finish(w, at, err.as_deref(), None))?;
        let mut report = result?;
        report.took_ms = started.elapsed().as_millis() as u64;
        progress(&SyncProgress { phase: "done".into(), records: report.records, pages: report.pages, cursor: report.cursor });
        Ok(report)
    }

    fn sync_inner(&mut self, conn: &Conn<'_>, link: &LinkRow, progress: &mut dyn FnMut(&SyncProgress)) -> Result<SyncReport> {
        let slug = link.remote_org.clone();
        let version = conn.check_server()?;
        self.store.write(|w| store::finish(w, None, None, Some(&version)))?;
        let org = orgs::from_row(
            argus_store::orgs::list(&self.store.reader())?
                .into_iter()
                .find(|o| o.id == link.org_id)
                .ok_or_else(|| OpsError::new(ErrorCode::Store, "the linked organisation is missing from the store"))?,
        )?;
        let mut report = SyncReport { server: link.server.clone(), org: slug.clone(), cursor: link.cursor, ..SyncReport::default() };
        let mut p = SyncProgress { phase: "push".into(), cursor: link.cursor, ..SyncProgress::default() };
        progress(&p);
        self.push(conn, &org, &mut report)?;

        p.phase = "config".into();
        progress(&p);
        let config = Config {
            prices: conn.get(&format!("/orgs/{slug}/prices"))?,
            budgets: conn.get::<BudgetsDoc>(&format!("/orgs/{slug}/budgets"))?.budgets,
            providers: conn.get::<ProvidersDoc>(&format!("/orgs/{slug}/providers"))?.providers,
            alerts: conn.get::<AlertsDoc>(&format!("/orgs/{slug}/alerts"))?.alerts,
        };
        let now = to_nanos(self.now());
        report.new_alerts = self.store.write(|w| pull::store_config(w, &org, &config, now))?;

        p.phase = "audit".into();
        progress(&p);
        report.audit_entries = self.pull_audit(conn, &org, link.audit_cursor)?;

        p.phase = "records".into();
        progress(&p);
        self.pull_records(conn, &org, link.cursor, &mut report, &mut |r| {
            p.records = r.records;
            p.pages = r.pages;
            p.cursor = r.cursor;
            progress(&p)
        })?;
        Ok(report)
    }
}
