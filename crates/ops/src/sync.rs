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
use crate::api::{AlertView, AuditPage, BudgetView, OrgView, PriceView, ProviderView, RecordView, RecordsPage};
use crate::orgs::{self, Org};
use crate::{Ops, OpsError, Result};
use argus_domain::analytics::Totals;
use argus_domain::ids::{OrgId, PriceId};
use argus_domain::price::{PriceInput, Rates, Tokens};
use argus_domain::record::UsageInput;
use argus_domain::time::{fmt_instant, from_nanos, local_day, to_nanos};
use argus_domain::{ErrorCode, Money};
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct ConflictView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub object: String,
    /// The local edit.
    #[cfg_attr(test, ts(type = "unknown"))]
    pub local: serde_json::Value,
    /// The server's current value (`null`: it has none).
    #[cfg_attr(test, ts(type = "unknown"))]
    pub server: serde_json::Value,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub base_version: Option<i64>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub server_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct PendingView {
    #[cfg_attr(test, ts(type = "number"))]
    pub id: i64,
    pub object: String,
    /// `pending` or `refused` (the server said no; retried on each sync).
    pub state: String,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub payload: serde_json::Value,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub base_version: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct SyncStatus {
    /// `null` on a standalone store.
    pub server: Option<String>,
    pub org: Option<String>,
    #[cfg_attr(test, ts(type = "number | null"))]
    pub cursor: Option<i64>,
    pub last_synced_at: Option<String>,
    pub pending_pushes: usize,
    pub conflicts: Vec<ConflictView>,
    pub pending: Vec<PendingView>,
    pub last_error: Option<String>,
    pub server_version: Option<String>,
    pub linked_at: Option<String>,
}

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

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        OpsError::new(
            ErrorCode::Incompatible,
            format!("the server sent {field} {s:?}, which is not an RFC 3339 time ({e}); is it a compatible version?"),
        )
    })
}

fn parse_time_opt(field: &str, s: &Option<String>) -> Result<Option<i64>> {
    s.as_deref().map(|x| parse_time(field, x).map(to_nanos)).transpose()
}

fn money_nanos(m: Money) -> Result<i64> {
    m.nanos().ok_or_else(|| OpsError::new(ErrorCode::Incompatible, format!("the server sent the amount {m}, too large to store")))
}

/// The server's error message in an answer, if it sent one.
fn server_message(a: &Answer) -> String {
    serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| format!("HTTP {}", a.status))
}

/// Requests with retries, and errors that say what to do.
struct Conn<'a> {
    remote: &'a dyn Remote,
    opts: &'a SyncOptions,
    org: String,
}

impl Conn<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&[u8]>, if_match: Option<i64>) -> Result<Answer> {
        let mut delay = self.opts.first_delay;
        let mut last = String::new();
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            match self.remote.request(method, path, body, if_match) {
                Ok(a) if a.status >= 500 => last = format!("it answered {}: {}", a.status, server_message(&a)),
                Ok(a) => return Ok(a),
                Err(e) => last = e,
            }
            tracing::warn!(server = self.remote.server(), path, attempt, reason = %last, "sync request failed");
        }
        Err(OpsError::new(
            ErrorCode::Unreachable,
            format!(
                "cannot reach the server at {} ({last}; {} attempts); check the URL and the network. Nothing is lost: this store works offline and local edits wait in the outbox",
                self.remote.server(),
                self.opts.retries + 1
            ),
        ))
    }

    /// The error of a non-2xx answer, worded for the sync's user.
    fn refusal(&self, a: &Answer) -> OpsError {
        let msg = server_message(a);
        match a.status {
            401 => OpsError::new(
                ErrorCode::Unauthorized,
                format!(
                    "the server at {} refused the token ({msg}): it is wrong or was revoked. Link again with a valid token: `argus-usage sync link --server {} --org {}`, or set ARGUS_USAGE_TOKEN",
                    self.remote.server(),
                    self.remote.server(),
                    self.org
                ),
            ),
            403 => OpsError::new(ErrorCode::Forbidden, format!("the server refused: {msg}")),
            404 => OpsError::new(ErrorCode::NotFound, format!("the server answered 404: {msg}")),
            412 => OpsError::new(ErrorCode::VersionMismatch, msg),
            _ => OpsError::new(ErrorCode::BadInput, format!("the server refused ({}): {msg}", a.status)),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let a = self.call("GET", path, None, None)?;
        if a.status != 200 {
            return Err(self.refusal(&a));
        }
        decode(&a.body, path)
    }

    /// Checks that the server is an Argus Usage server speaking our API; returns its version.
    fn check_server(&self) -> Result<String> {
        let a = self.call("GET", "/health", None, None)?;
        let v: Option<serde_json::Value> = serde_json::from_slice(&a.body).ok();
        let api = v.as_ref().and_then(|v| v.get("api")).and_then(|x| x.as_str());
        match (a.status, api) {
            (200, Some(API)) => Ok(v.as_ref().and_then(|v| v.get("version")).and_then(|x| x.as_str()).unwrap_or("?").to_string()),
            (200, Some(other)) => Err(OpsError::new(
                ErrorCode::Incompatible,
                format!(
                    "the server at {} speaks API {other}; this Argus Usage {} speaks {API}. Use matching versions of the app and the server",
                    self.remote.server(),
                    env!("CARGO_PKG_VERSION")
                ),
            )),
            (status, _) => Err(OpsError::new(
                ErrorCode::Incompatible,
                format!(
                    "the server at {} does not answer as an Argus Usage server (GET /api/v1/health answered {status}); check the URL, such as http://host:8680",
                    self.remote.server()
                ),
            )),
        }
    }
}

fn decode<T: DeserializeOwned>(body: &[u8], path: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        OpsError::new(
            ErrorCode::Incompatible,
            format!("the server's answer to {path} is not what this version expects ({e}); use matching versions"),
        )
    })
}

#[derive(Deserialize)]
struct PricesDoc {
    version: i64,
    prices: Vec<PriceView>,
}
#[derive(Deserialize)]
struct BudgetsDoc {
    budgets: Vec<BudgetView>,
}
#[derive(Deserialize)]
struct ProvidersDoc {
    providers: Vec<ProviderView>,
}
#[derive(Deserialize)]
struct AlertsDoc {
    alerts: Vec<AlertView>,
}

/// Everything pulled besides records, fetched before one write.
struct Config {
    prices: PricesDoc,
    budgets: Vec<BudgetView>,
    providers: Vec<ProviderView>,
    alerts: Vec<AlertView>,
}

fn budget_row(b: &BudgetView) -> Result<BudgetRow> {
    Ok(BudgetRow {
        month: b.month.clone(),
        amount_nanos: money_nanos(b.amount)?,
        thresholds: b.thresholds.clone(),
        hard_limit: b.hard_limit,
        version: b.version,
        updated_at: to_nanos(parse_time("updated_at", &b.updated_at)?),
    })
}

fn provider_row(p: &ProviderView, now: i64) -> ProviderRow {
    ProviderRow {
        provider: p.provider.clone(),
        enabled: p.enabled,
        priority: p.priority,
        hourly_limit: p.hourly_limit,
        daily_limit: p.daily_limit,
        note: p.note.clone(),
        version: p.version,
        updated_at: now,
    }
}

fn alert_row(a: &AlertView) -> Result<AlertRow> {
    Ok(AlertRow {
        id: 0,
        month: a.month.clone(),
        threshold: a.threshold,
        fired_at: to_nanos(parse_time("fired_at", &a.fired_at)?),
        spent_nanos: money_nanos(a.spent)?,
        amount_nanos: money_nanos(a.amount)?,
        acknowledged_at: parse_time_opt("acknowledged_at", &a.acknowledged_at)?,
        acknowledged_by: a.acknowledged_by.clone(),
    })
}

fn price_input(p: &PriceView) -> Result<PriceInput> {
    let dec = |field: &str, s: &str| {
        rust_decimal::Decimal::from_str_exact(s)
            .map_err(|e| OpsError::new(ErrorCode::Incompatible, format!("the server sent {field} {s:?} of price {}: {e}", p.id)))
    };
    let opt = |field: &str, s: &Option<String>| s.as_deref().map(|x| dec(field, x)).transpose();
    Ok(PriceInput {
        provider: p.provider.clone(),
        model: p.model.clone(),
        effective_from: parse_time("effective_from", &p.effective_from)?,
        currency: p.currency.clone(),
        rates: Rates {
            input_per_mtok: dec("input_per_mtok", &p.input_per_mtok)?,
            output_per_mtok: dec("output_per_mtok", &p.output_per_mtok)?,
            cached_input_per_mtok: opt("cached_input_per_mtok", &p.cached_input_per_mtok)?,
            cache_write_per_mtok: opt("cache_write_per_mtok", &p.cache_write_per_mtok)?,
        },
        source: p.source.clone(),
    })
}

/// Stores the server's price versions and maps their ids to this store's.
fn store_prices(w: &Writer<'_>, org: OrgId, doc: &PricesDoc, now: i64) -> Result<()> {
    for p in &doc.prices {
        let scope = (p.scope == "org").then_some(org);
        let (v, _) = argus_store::prices::insert(w, scope, &price_input(p)?, now)?;
        store::map_price(w, org, p.id, v.id.0)?;
    }
    store::set_prices_version(w, doc.version)?;
    Ok(())
}

/// Stores one page of records and the new cursor in one transaction.
fn store_page(w: &Writer<'_>, org: &Org, page: &RecordsPage, prices: &HashMap<i64, i64>, cursor: i64) -> Result<u64> {
    let mut inserter = Inserter::new(w)?;
    let mut delta = Delta::default();
    let mut stored = 0;
    for r in &page.records {
        let input = record_input(org, r)?;
        let cost_nanos = r.cost.map(money_nanos).transpose()?;
        let price_id = r.price_id.and_then(|p| prices.get(&p).copied());
        let day = local_day(org.tz, input.occurred_at);
        let hash = input.content_hash(&r.id);
        let new = NewRecord {
            org: org.row.id,
            id: &r.id,
            input: &input,
            day,
            cost_nanos,
            currency: &r.currency,
            price_id: price_id.map(PriceId),
            recorded_at: to_nanos(parse_time("recorded_at", &r.recorded_at)?),
            content_hash: &hash,
        };
        if let Insert::Inserted(_) = inserter.insert(&new)? {
            stored += 1;
            delta.add(org.row.id, day, &input.key_parts(), &Totals::of_record(&input.tokens, cost_nanos));
            delta.price(org.row.id, day, price_id, 1);
        }
    }
    drop(inserter);
    delta.apply(w)?;
    store::set_cursor(w, cursor)?;
    Ok(stored)
}

fn record_input(org: &Org, r: &RecordView) -> Result<UsageInput> {
    Ok(UsageInput {
        id: Some(r.id.clone()),
        org: org.row.slug.clone(),
        provider: r.provider.clone(),
        model: r.model.clone(),
        operation: r.operation.clone(),
        investigation: r.investigation.clone(),
        user: r.user.clone(),
        tokens: Tokens {
            input: r.input_tokens,
            output: r.output_tokens,
            cached_input: r.cached_input_tokens,
            cache_write: r.cache_write_tokens,
        },
        status: r.status.clone(),
        latency_ms: r.latency_ms.and_then(|x| u64::try_from(x).ok()),
        occurred_at: parse_time("occurred_at", &r.occurred_at)?,
        reservation_id: None,
    })
}

/// What an outbox object names, and how it is pushed.
enum Object<'a> {
    Budget(&'a str),
    Provider(&'a str),
    Prices,
    AlertAck(&'a str, u32),
}

fn object_of(s: &str) -> Option<Object<'_>> {
    let (kind, rest) = s.split_once(':')?;
    match kind {
        "budget" => Some(Object::Budget(rest)),
        "provider" => Some(Object::Provider(rest)),
        "prices" => Some(Object::Prices),
        "alert" => {
            let (m, t) = rest.split_once(':')?;
            Some(Object::AlertAck(m, t.parse().ok()?))
        }
        _ => None,
    }
}

pub(crate) fn budget_object(month: &str) -> String {
    format!("budget:{month}")
}
pub(crate) fn provider_object(provider: &str) -> String {
    format!("provider:{provider}")
}
pub(crate) fn alert_object(month: &str, threshold: u32) -> String {
    format!("alert:{month}:{threshold}")
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
        report.new_alerts = self.store.write(|w| store_config(w, &org, &config, now))?;

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

    fn pull_audit(&mut self, conn: &Conn<'_>, org: &Org, mut after: i64) -> Result<usize> {
        let slug = &conn.org;
        let mut n = 0;
        loop {
            let path = format!("/orgs/{slug}/audit?after={after}&limit=500");
            let a = conn.call("GET", &path, None, None)?;
            if a.status == 403 {
                // The token's role may not read the audit log: the rest of the sync goes on.
                return Ok(n);
            }
            if a.status != 200 {
                return Err(conn.refusal(&a));
            }
            let page: AuditPage = decode(&a.body, &path)?;
            self.store.write(|w| -> Result<()> {
                for e in &page.entries {
                    let j = |v: &Option<serde_json::Value>| v.as_ref().map(|x| x.to_string());
                    let at = to_nanos(parse_time("at", &e.at)?);
                    store::put_remote_audit(
                        w,
                        org.row.id,
                        e.id,
                        at,
                        &e.actor,
                        &e.action,
                        &e.object,
                        j(&e.before).as_deref(),
                        j(&e.after).as_deref(),
                    )?;
                }
                if let Some(next) = page.next_after {
                    store::set_audit_cursor(w, next)?;
                }
                Ok(())
            })?;
            n += page.entries.len();
            match page.next_after {
                Some(next) if page.has_more && next > after => after = next,
                _ => return Ok(n),
            }
        }
    }

    /// Pulls pages after `cursor`: one thread fetches the next page while
    /// this one stores the last, each page with its cursor in one transaction.
    fn pull_records(
        &mut self,
        conn: &Conn<'_>,
        org: &Org,
        cursor: i64,
        report: &mut SyncReport,
        progress: &mut dyn FnMut(&SyncReport),
    ) -> Result<()> {
        let slug = conn.org.clone();
        let page_size = conn.opts.page.clamp(1, crate::analytics::MAX_PAGE);
        let cancel = conn.opts.cancel.clone();
        let mut prices = store::price_map(&self.store.reader(), org.row.id)?;
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordsPage>>(2);
            let cancel_f = cancel.clone();
            s.spawn(move || {
                let mut after = cursor;
                loop {
                    if cancel_f.load(Ordering::Relaxed) {
                        return;
                    }
                    let page = conn.get::<RecordsPage>(&format!("/orgs/{slug}/records?after_seq={after}&limit={page_size}"));
                    let (more, next) = match &page {
                        Ok(p) => (p.has_more, p.next_after_seq.unwrap_or(after)),
                        Err(_) => (false, after),
                    };
                    if tx.send(page).is_err() || !more || next <= after {
                        return;
                    }
                    after = next;
                }
            });
            for page in rx {
                let page = page?;
                if page.records.iter().any(|r| r.price_id.is_some_and(|p| !prices.contains_key(&p))) {
                    // A price version newer than the last pull: fetch the list again.
                    let doc: PricesDoc = conn.get(&format!("/orgs/{}/prices", conn.org))?;
                    let now = to_nanos(self.now());
                    self.store.write(|w| store_prices(w, org.row.id, &doc, now))?;
                    prices = store::price_map(&self.store.reader(), org.row.id)?;
                }
                let next = page.next_after_seq.unwrap_or(report.cursor);
                let stored = self.store.write(|w| store_page(w, org, &page, &prices, next))?;
                report.records += stored;
                report.pages += 1;
                report.cursor = next;
                progress(report);
                if cancel.load(Ordering::Relaxed) {
                    report.cancelled = true;
                    break;
                }
            }
            Ok(())
        })
    }

    /// Pushes each edit waiting in the outbox (conflicts wait for a person).
    fn push(&mut self, conn: &Conn<'_>, org: &Org, report: &mut SyncReport) -> Result<()> {
        let items = store::outbox(&self.store.reader(), org.row.id)?;
        for item in items.into_iter().filter(|i| i.state != "conflict") {
            self.push_one(conn, org, &item, report)?;
        }
        Ok(())
    }

    fn push_one(&mut self, conn: &Conn<'_>, org: &Org, item: &OutboxRow, report: &mut SyncReport) -> Result<()> {
        let slug = &conn.org;
        let now = to_nanos(self.now());
        let Some(object) = object_of(&item.object) else {
            self.store.write(|w| store::set_refused(w, item.id, "this edit is of a kind this version cannot push", now))?;
            return Ok(());
        };
        let body = item.payload.as_bytes();
        let answer = match object {
            Object::Budget(m) => conn.call("PUT", &format!("/orgs/{slug}/budgets/{m}"), Some(body), item.base_version)?,
            Object::Provider(p) => conn.call("PUT", &format!("/orgs/{slug}/providers/{p}"), Some(body), item.base_version)?,
            Object::Prices => conn.call("POST", &format!("/orgs/{slug}/prices"), Some(body), item.base_version)?,
            Object::AlertAck(m, t) => {
                let rid: Option<i64> = self.store.read(|r| -> Result<Option<i64>> {
                    let alert = argus_store::controls::alerts(r, org.row.id, Some(m))?.into_iter().find(|a| a.threshold == t);
                    Ok(match alert {
                        Some(a) => store::alert_remote_id(r, org.row.id, a.id)?,
                        None => None,
                    })
                })?;
                match rid {
                    Some(rid) => conn.call("POST", &format!("/orgs/{slug}/alerts/{rid}/ack"), Some(b"{}"), None)?,
                    None => {
                        self.store.write(|w| store::set_refused(w, item.id, "the server does not know this alert", now))?;
                        report.refused += 1;
                        return Ok(());
                    }
                }
            }
        };
        match answer.status {
            200..=299 => {
                self.store.write(|w| -> Result<()> {
                    store::remove_edit(w, item.id)?;
                    apply_answer(w, org, &object, &answer.body, now)
                })?;
                report.pushed += 1;
            }
            401 => return Err(conn.refusal(&answer)),
            412 => {
                let (value, version) = server_value(conn, &object)?;
                self.store.write(|w| store::set_conflict(w, item.id, &value.to_string(), version, now))?;
                report.conflicts += 1;
            }
            403 => {
                let msg = format!(
                    "{}; the token linked to this store may not change configuration, so the edit stays here. Link with an admin token (`argus-usage sync link`) and sync again",
                    server_message(&answer)
                );
                self.store.write(|w| store::set_refused(w, item.id, &msg, now))?;
                report.refused += 1;
            }
            _ => {
                let msg = server_message(&answer);
                self.store.write(|w| store::set_refused(w, item.id, &msg, now))?;
                report.refused += 1;
            }
        }
        Ok(())
    }

    /// Resolves a conflict: `Local` pushes the local edit again on the next
    /// sync, now against the server's version; `Server` drops the local
    /// edit and takes the server's value.
    pub fn sync_resolve(&mut self, id: i64, keep: Keep) -> Result<SyncStatus> {
        let link = require_link(self)?;
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| -> Result<()> {
            let Some(item) = store::outbox_item(&w.reader(), link.org_id, id)? else {
                return Err(OpsError {
                    field: Some("id".into()),
                    ..OpsError::not_found(format!("there is no conflict {id}; list them with `argus-usage sync status`"))
                });
            };
            if item.state != "conflict" {
                return Err(OpsError {
                    field: Some("id".into()),
                    ..OpsError::new(
                        ErrorCode::Conflict,
                        format!("edit {id} ({}) is {}, not a conflict; nothing to resolve", item.object, item.state),
                    )
                });
            }
            match keep {
                Keep::Local => store::rebase(w, id, item.server_version, now)?,
                Keep::Server => {
                    let org = orgs::from_row(
                        argus_store::orgs::list(&w.reader())?
                            .into_iter()
                            .find(|o| o.id == link.org_id)
                            .ok_or_else(|| OpsError::new(ErrorCode::Store, "the linked organisation is missing"))?,
                    )?;
                    let value: serde_json::Value =
                        item.server_value.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
                    match object_of(&item.object) {
                        Some(Object::Budget(m)) => {
                            if value.is_null() {
                                store::delete_budget(w, org.row.id, m)?;
                            } else {
                                let b: BudgetView =
                                    serde_json::from_value(value).map_err(|e| OpsError::new(ErrorCode::Store, e.to_string()))?;
                                store::put_budget_exact(w, org.row.id, &budget_row(&b)?)?;
                            }
                        }
                        Some(Object::Provider(p)) => {
                            if value.is_null() {
                                store::delete_provider(w, org.row.id, p)?;
                            } else {
                                let v: ProviderView =
                                    serde_json::from_value(value).map_err(|e| OpsError::new(ErrorCode::Store, e.to_string()))?;
                                store::put_provider_exact(w, org.row.id, &provider_row(&v, now))?;
                            }
                        }
                        _ => {}
                    }
                    store::remove_edit(w, id)?;
                }
            }
            let keep_s = if keep == Keep::Local { "local" } else { "server" };
            audit::add(
                w,
                Some(link.org_id),
                now,
                &actor,
                "sync.resolve",
                &item.object,
                None,
                Some(&serde_json::json!({"keep": keep_s}).to_string()),
            )?;
            Ok(())
        })?;
        self.sync_status()
    }
}

/// The server's current value of an object and its version (a 412 answer).
fn server_value(conn: &Conn<'_>, object: &Object<'_>) -> Result<(serde_json::Value, Option<i64>)> {
    let slug = &conn.org;
    match object {
        Object::Budget(m) => {
            let a = conn.call("GET", &format!("/orgs/{slug}/budgets/{m}"), None, None)?;
            match a.status {
                200 => {
                    let b: BudgetView = decode(&a.body, "budget")?;
                    let v = b.version;
                    Ok((serde_json::to_value(b).unwrap_or_default(), Some(v)))
                }
                404 => Ok((serde_json::Value::Null, Some(0))),
                _ => Err(conn.refusal(&a)),
            }
        }
        Object::Provider(p) => {
            let doc: ProvidersDoc = conn.get(&format!("/orgs/{slug}/providers"))?;
            match doc.providers.into_iter().find(|x| x.provider == *p && x.configured) {
                Some(x) => {
                    let v = x.version;
                    Ok((serde_json::to_value(x).unwrap_or_default(), Some(v)))
                }
                None => Ok((serde_json::Value::Null, Some(0))),
            }
        }
        Object::Prices => {
            let doc: PricesDoc = conn.get(&format!("/orgs/{slug}/prices"))?;
            let org_versions: Vec<&PriceView> = doc.prices.iter().filter(|p| p.scope == "org").collect();
            Ok((serde_json::json!({"version": doc.version, "org_prices": org_versions}), Some(doc.version)))
        }
        Object::AlertAck(..) => Ok((serde_json::Value::Null, None)),
    }
}

/// Takes the server's answer to a push as the local value.
fn apply_answer(w: &Writer<'_>, org: &Org, object: &Object<'_>, body: &[u8], now: i64) -> Result<()> {
    match object {
        Object::Budget(_) => store::put_budget_exact(w, org.row.id, &budget_row(&decode::<BudgetView>(body, "budget")?)?)?,
        Object::Provider(_) => store::put_provider_exact(w, org.row.id, &provider_row(&decode::<ProviderView>(body, "provider")?, now))?,
        Object::Prices => {
            let report: crate::api::PriceImportReport = decode(body, "prices")?;
            for p in &report.prices {
                let scope = (p.scope == "org").then_some(org.row.id);
                let (v, _) = argus_store::prices::insert(w, scope, &price_input(p)?, now)?;
                store::map_price(w, org.row.id, p.id, v.id.0)?;
            }
        }
        Object::AlertAck(..) => {
            let a: AlertView = decode(body, "alert")?;
            store::put_alert_exact(w, org.row.id, &alert_row(&a)?, a.id)?;
        }
    }
    Ok(())
}

/// Stores pulled configuration, leaving alone objects with a local edit
/// waiting. Returns the alerts not seen here before.
fn store_config(w: &Writer<'_>, org: &Org, c: &Config, now: i64) -> Result<Vec<AlertView>> {
    let id = org.row.id;
    store_prices(w, id, &c.prices, now)?;
    let r = w.reader();
    for b in &c.budgets {
        if !store::has_edit(&r, id, &budget_object(&b.month))? {
            store::put_budget_exact(w, id, &budget_row(b)?)?;
        }
    }
    for p in c.providers.iter().filter(|p| p.configured) {
        if !store::has_edit(&r, id, &provider_object(&p.provider))? {
            store::put_provider_exact(w, id, &provider_row(p, now))?;
        }
        let h = HealthRow {
            consecutive_failures: p.health.consecutive_failures,
            cooldown_until: parse_time_opt("cooldown_until", &p.health.cooldown_until)?,
            last_outcome_at: parse_time_opt("last_outcome_at", &p.health.last_outcome_at)?,
        };
        argus_store::controls::put_health(w, id, &p.provider, &h)?;
    }
    let known = argus_store::controls::alerts(&r, id, None)?;
    let mut new = Vec::new();
    for a in &c.alerts {
        if store::has_edit(&r, id, &alert_object(&a.month, a.threshold))? {
            continue;
        }
        if !known.iter().any(|k| k.month == a.month && k.threshold == a.threshold) {
            new.push(a.clone());
        }
        store::put_alert_exact(w, id, &alert_row(a)?, a.id)?;
    }
    Ok(new)
}
