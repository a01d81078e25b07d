//! Recording usage: one record, or a JSON Lines stream in batches.
//!
//! Each batch of lines is validated, costed and written in one transaction
//! together with its aggregates, so a kill at any moment leaves whole
//! batches or nothing; re-running the same input then stores exactly what
//! is missing, because records are idempotent by id.
use crate::analytics::view;
use crate::api::{IngestProgress, IngestReport, RecordView, Rejected};
use crate::orgs::{self, Org};
use crate::{Ops, OpsError, Result};
use argus_domain::analytics::Totals;
use argus_domain::ids::Seq;
use argus_domain::price::PriceBook;
use argus_domain::record::{is_failure, join_errors, UsageInput};
use argus_domain::time::{day_date, fmt_instant, from_nanos, local_day, to_nanos};
use argus_domain::{ErrorCode, FieldError};
use argus_store::aggregates::Delta;
use argus_store::records::{self, Insert, Inserter, NewRecord};
use argus_store::{prices, Writer};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::BufRead;

/// Lines per transaction.
pub const BATCH_LINES: usize = 20_000;
/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One input item: its position, its parsed content (or why not), and the
/// id it gets if it names none.
pub struct Item {
    pub line: usize,
    pub parsed: std::result::Result<UsageInput, Vec<FieldError>>,
    pub fallback_id: String,
}

/// Call outcomes (success, when) of one provider in a batch, for its health.
type Outcomes = Vec<(bool, chrono::DateTime<chrono::Utc>)>;

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted(Seq),
    Duplicate(Seq),
    Rejected(Rejected),
}

/// An id for a line that names none, derived from its position and bytes so
/// that re-running the same input gives the same id.
pub fn derived_id(line: usize, raw: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update((line as u64).to_le_bytes());
    h.update(raw);
    format!("line-{}", &hex::encode(h.finalize())[..32])
}

/// The id of the `index`-th record of a request with this idempotency key.
fn keyed_id(org: &str, key: &str, index: usize) -> String {
    let mut h = Sha256::new();
    h.update(org.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.update([0]);
    h.update((index as u64).to_le_bytes());
    format!("idem-{}", &hex::encode(h.finalize())[..32])
}

/// An idempotency key: 1 to 255 visible ASCII characters (a UUID is usual).
fn check_idempotency_key(k: &str) -> Result<()> {
    if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OpsError {
            field: Some("Idempotency-Key".into()),
            ..OpsError::new(
                ErrorCode::BadInput,
                format!("{:?} is not an idempotency key; send 1 to 255 visible ASCII characters, such as a UUID made once per request and sent again with its retries", k.chars().take(40).collect::<String>()),
            )
        });
    }
    Ok(())
}

fn reject(line: usize, errs: &[FieldError]) -> Rejected {
    Rejected { line, error: join_errors(errs), field: errs.first().map(|e| e.field.clone()).filter(|f| !f.is_empty()) }
}

/// Writes a batch of items in the caller's transaction. Bad items are
/// reported, good ones stored; aggregates follow in the same transaction.
pub(crate) fn write_items(w: &Writer<'_>, items: &[Item], now: i64, report: &mut IngestReport) -> Result<Vec<Outcome>> {
    let mut orgs: HashMap<String, std::result::Result<(Org, PriceBook, argus_domain::fx::FxBook), OpsError>> = HashMap::new();
    let mut delta = Delta::default();
    let mut outcomes: HashMap<(String, String), Outcomes> = HashMap::new();
    let mut inserter = Inserter::new(w)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let input = match &item.parsed {
            Ok(i) => i,
            Err(errs) => {
                let r = reject(item.line, errs);
                report.rejected.push(r.clone());
                out.push(Outcome::Rejected(r));
                continue;
            }
        };
        let entry = orgs.entry(input.org.clone()).or_insert_with(|| {
            let org = orgs::find(&w.reader(), &input.org)?;
            if let Some(l) = argus_store::sync::link(&w.reader())?.filter(|l| l.org_id == org.row.id) {
                return Err(OpsError::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} on this store follows the server {}, which records its usage; record it there (POST /api/v1/orgs/{}/records) and sync",
                        org.row.slug, l.server, org.row.slug
                    ),
                ));
            }
            let book = prices::book(&w.reader(), org.row.id, &org.row.currency)?;
            let fx = argus_store::fx::book(&w.reader(), org.row.id, &org.row.currency)?;
            Ok((org, book, fx))
        });
        let (org, book, fx) = match entry {
            Ok(x) => x,
            Err(e) => {
                let r = Rejected { line: item.line, error: format!("field `org`: {}", e.message), field: Some("org".into()) };
                report.rejected.push(r.clone());
                out.push(Outcome::Rejected(r));
                continue;
            }
        };
        let id = input.id.as_deref().unwrap_or(&item.fallback_id);
        let priced = book.price(&input.provider, &input.model, input.service_tier, &input.tokens, input.occurred_at);
        let price = priced.as_ref().map(|p| p.version);
        let cost = priced.as_ref().map(|p| p.cost);
        if let Some(c) = cost.filter(|c| argus_domain::budget::over_call_bound(*c)) {
            // No real call costs this much: token counts gone wrong, and
            // totals that could overflow. Refused, naming what to check.
            let r = Rejected {
                line: item.line,
                error: format!(
                    "field `input_tokens`: this call would cost {c} {cur} at the price of {}/{}, more than any one call (at most {} {cur}); check the token counts",
                    input.provider,
                    input.model,
                    argus_domain::budget::MAX_CALL_COST,
                    cur = org.row.currency
                ),
                field: Some("input_tokens".into()),
            };
            report.rejected.push(r.clone());
            out.push(Outcome::Rejected(r));
            continue;
        }
        let day = local_day(org.tz, input.occurred_at);
        let (cost, conversion) = match &priced {
            Some(p) => argus_domain::fx::in_currency(p.cost, &p.version.currency, &org.row.currency, fx, day_date(day)),
            None => (None, None),
        };
        let cost_nanos = cost.and_then(|c| c.nanos());
        let hash = input.content_hash(id);
        let new = NewRecord {
            org: org.row.id,
            id,
            input,
            day,
            cost_nanos,
            currency: &org.row.currency,
            price_id: price.map(|p| p.id),
            recorded_at: now,
            content_hash: &hash,
            conversion: conversion.as_ref(),
        };
        match inserter.insert(&new)? {
            Insert::Inserted(seq) => {
                report.accepted += 1;
                if cost_nanos.is_none() {
                    report.unpriced += 1;
                    report.unconverted += usize::from(conversion.is_some());
                }
                delta.add(org.row.id, day, &input.key_parts(), &Totals::of_record(&input.tokens, cost_nanos));
                delta.price(org.row.id, day, price.map(|p| p.id.0), 1);
                delta.rate(org.row.id, day, conversion.as_ref(), 1);
                outcomes
                    .entry((org.row.slug.clone(), input.provider.clone()))
                    .or_default()
                    .push((!is_failure(&input.status), input.occurred_at));
                if let Some(res) = &input.reservation_id {
                    argus_store::controls::settle_reservation(w, org.row.id, res, seq.0, now)?;
                }
                out.push(Outcome::Accepted(seq));
            }
            Insert::Duplicate(seq) => {
                report.duplicates += 1;
                out.push(Outcome::Duplicate(seq));
            }
            Insert::Conflict(_) => {
                report.conflicts += 1;
                let r = Rejected {
                    line: item.line,
                    error: format!("field `id`: {id:?} is already stored with different content; the stored record was kept. Give this call a new id if it is a different call"),
                    field: Some("id".into()),
                };
                report.rejected.push(r.clone());
                out.push(Outcome::Rejected(r));
            }
        }
    }
    let touched = delta.days();
    delta.apply(w)?;
    for ((org_slug, provider), mut list) in outcomes {
        if let Some(Ok((org, _, _))) = orgs.get(&org_slug) {
            list.sort_by_key(|x| x.1);
            crate::controls::observe_health(w, org, &provider, &list)?;
        }
    }
    let mut months: Vec<(argus_domain::ids::OrgId, argus_domain::time::Month)> =
        touched.iter().map(|(o, d)| (*o, crate::controls::month_of_day(*d))).collect();
    months.sort();
    months.dedup();
    for (org_id, m) in months {
        if let Some((org, _, _)) = orgs.values().flatten().find(|(o, _, _)| o.row.id == org_id) {
            report.alerts_fired.extend(crate::controls::check_alerts(w, org, m, now)?);
        }
    }
    Ok(out)
}

impl Ops {
    /// Records one call. Without an id it gets a new UUIDv7. The same id with
    /// the same content returns the stored record; with different content it
    /// is a conflict and nothing changes.
    pub fn record(&mut self, value: &serde_json::Value) -> Result<RecordView> {
        let parsed = UsageInput::from_json(value).map_err(|errs| OpsError {
            code: ErrorCode::BadInput,
            message: join_errors(&errs),
            field: errs.first().map(|e| e.field.clone()),
        })?;
        let now = self.now();
        let fallback_id =
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, now.timestamp().max(0) as u64, now.timestamp_subsec_nanos()))
                .to_string();
        let item = Item { line: 1, parsed: Ok(parsed), fallback_id };
        let mut report = IngestReport::default();
        let now_ns = to_nanos(now);
        self.store.write(|w| {
            let outcome = write_items(w, std::slice::from_ref(&item), now_ns, &mut report)?;
            match outcome.first() {
                Some(Outcome::Accepted(seq)) | Some(Outcome::Duplicate(seq)) => {
                    let rec = records::by_seq(&w.reader(), *seq)?.ok_or_else(|| OpsError::new(ErrorCode::Internal, "record vanished"))?;
                    let org = orgs::find(&w.reader(), item.parsed.as_ref().map(|p| p.org.as_str()).unwrap_or(""))?;
                    Ok(view(&org, &rec))
                }
                Some(Outcome::Rejected(r)) => Err(OpsError {
                    code: if report.conflicts > 0 { ErrorCode::Conflict } else { ErrorCode::BadInput },
                    message: r.error.clone(),
                    field: r.field.clone(),
                }),
                None => Err(OpsError::new(ErrorCode::Internal, "no outcome")),
            }
        })
    }

    /// Ingests JSON Lines from `input`. Blank lines are skipped. Returns the
    /// report; `progress` is called after each committed batch.
    pub fn ingest(&mut self, mut input: impl BufRead, mut progress: impl FnMut(&IngestProgress)) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut p = IngestProgress::default();
        let mut line_no = 0usize;
        let mut buf = Vec::with_capacity(512);
        let mut items = Vec::with_capacity(BATCH_LINES);
        loop {
            buf.clear();
            let n = input
                .read_until(b'\n', &mut buf)
                .map_err(|e| OpsError::new(ErrorCode::Io, format!("cannot read the input after line {line_no}: {e}")))?;
            if n > 0 {
                line_no += 1;
                p.bytes += n as u64;
                if let Some(item) = parse_line(line_no, &buf) {
                    items.push(item);
                }
            }
            if items.len() >= BATCH_LINES || (n == 0 && !items.is_empty()) {
                let now = to_nanos(self.now());
                self.store.write(|w| write_items(w, &items, now, &mut report))?;
                items.clear();
                p.lines = line_no;
                p.accepted = report.accepted;
                p.duplicates = report.duplicates;
                p.rejected = report.rejected.len();
                progress(&p);
            }
            if n == 0 {
                break;
            }
        }
        tracing::info!(accepted = report.accepted, duplicates = report.duplicates, rejected = report.rejected.len(), "ingest done");
        Ok(report)
    }

    /// Writes already-built items (the demo, the server's batches).
    pub fn write_items(&mut self, items: &[Item]) -> Result<(IngestReport, Vec<Outcome>)> {
        let now = to_nanos(self.now());
        let mut report = IngestReport::default();
        let out = self.store.write(|w| write_items(w, items, now, &mut report))?;
        Ok((report, out))
    }
}

/// Parses one raw line; `None` for a blank line.
pub fn parse_line(line: usize, raw: &[u8]) -> Option<Item> {
    let bad = |msg: String| Some(Item { line, parsed: Err(vec![FieldError::new("", msg)]), fallback_id: String::new() });
    let Ok(text) = std::str::from_utf8(raw) else {
        return bad("the line is not valid UTF-8; save the file as UTF-8".into());
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if raw.len() > MAX_LINE_BYTES {
        return bad(format!("the line is {} bytes long; the limit is {MAX_LINE_BYTES}", raw.len()));
    }
    let parsed = UsageInput::from_json_text(text);
    // Only a line that names no id needs one derived from its position and bytes.
    let fallback_id = match &parsed {
        Ok(p) if p.id.is_none() => derived_id(line, raw),
        _ => String::new(),
    };
    Some(Item { line, parsed, fallback_id })
}

impl Ops {
    /// Records a batch of JSON objects for one organisation (an HTTP POST).
    /// An element without `org` belongs to `org`; one naming another is refused.
    /// Records a batch (`POST /records`). A record without an `id` gets one:
    /// with `idempotency_key`, derived from the key and its place in the
    /// batch, so that the same request sent again is recognised as a
    /// duplicate; without, a fresh one (the answer says a retry is not safe).
    /// `token` names the token that sent them (each record keeps it: what
    /// `token:NAME` budgets count).
    pub fn record_batch(
        &mut self,
        org: &str,
        token: Option<&str>,
        values: Vec<serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<crate::api::BatchReport> {
        self.record_values(org, token, values, idempotency_key, true)
    }

    /// Records the gateway's calls, each with its id: as [`Ops::record_batch`],
    /// without reading the stored records back for the answer (`records`
    /// stays empty; the counts and the rejections are there).
    pub fn record_calls(&mut self, org: &str, token: &str, values: Vec<serde_json::Value>) -> Result<crate::api::BatchReport> {
        self.record_values(org, Some(token), values, None, false)
    }

    fn record_values(
        &mut self,
        org: &str,
        token: Option<&str>,
        values: Vec<serde_json::Value>,
        idempotency_key: Option<&str>,
        with_views: bool,
    ) -> Result<crate::api::BatchReport> {
        use crate::api::{BatchReport, RejectedIndex};
        if let Some(k) = idempotency_key {
            check_idempotency_key(k)?;
        }
        if values.is_empty() {
            return Err(OpsError::new(ErrorCode::BadInput, "the batch is empty; send one record object or an array of at least one"));
        }
        let retry_safe = idempotency_key.is_some() || values.iter().all(|v| v.get("id").is_some_and(|id| !id.is_null()));
        let now = self.now();
        let items: Vec<Item> = values
            .into_iter()
            .enumerate()
            .map(|(i, mut v)| {
                let parsed = match v.as_object_mut() {
                    Some(m) => match m.get("org") {
                        None | Some(serde_json::Value::Null) => {
                            m.insert("org".into(), serde_json::Value::String(org.to_string()));
                            UsageInput::from_json(&v)
                        }
                        Some(serde_json::Value::String(o)) if o == org => UsageInput::from_json(&v),
                        Some(other) => Err(vec![FieldError::new(
                            "org",
                            format!("{other} does not match the organisation of the path ({org}); leave it out or make it match"),
                        )]),
                    },
                    None => UsageInput::from_json(&v),
                };
                let parsed = parsed.map(|p| UsageInput { token: token.map(str::to_string), ..p });
                let fallback_id = match idempotency_key {
                    Some(k) => keyed_id(org, k, i),
                    None => uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
                        uuid::NoContext,
                        now.timestamp().max(0) as u64,
                        now.timestamp_subsec_nanos(),
                    ))
                    .to_string(),
                };
                Item { line: i, parsed, fallback_id }
            })
            .collect();
        let now_ns = to_nanos(now);
        self.store.write(|w| {
            let mut report = IngestReport::default();
            let outcomes = write_items(w, &items, now_ns, &mut report)?;
            let org_row = orgs::find(&w.reader(), org)?;
            let mut out = BatchReport { alerts_fired: report.alerts_fired.clone(), retry_safe, ..BatchReport::default() };
            for (item, o) in items.iter().zip(outcomes) {
                match o {
                    Outcome::Accepted(seq) | Outcome::Duplicate(seq) => {
                        if matches!(o, Outcome::Accepted(_)) {
                            out.accepted += 1;
                        } else {
                            out.duplicates += 1;
                        }
                        if !with_views {
                            continue;
                        }
                        if let Some(r) = records::by_seq(&w.reader(), seq)? {
                            out.records.push(view(&org_row, &r));
                        }
                    }
                    Outcome::Rejected(r) => out.rejected.push(RejectedIndex {
                        index: item.line,
                        code: if r.field.as_deref() == Some("id") && r.error.contains("already stored") {
                            "conflict".into()
                        } else {
                            "bad_input".into()
                        },
                        error: r.error,
                        field: r.field,
                    }),
                }
            }
            Ok(out)
        })
    }

    /// The audit log of an organisation after entry `after`.
    pub fn audit_list(&mut self, org: &str, after: i64, limit: i64) -> Result<crate::api::AuditPage> {
        self.audit_query(org, &crate::api::AuditQuery { after: Some(after), limit: Some(limit), ..Default::default() })
    }

    /// The audit log entries `q` selects, a page.
    pub fn audit_query(&mut self, org: &str, q: &crate::api::AuditQuery) -> Result<crate::api::AuditPage> {
        let limit = q.limit.unwrap_or(500);
        if !(1..=10_000).contains(&limit) {
            return Err(FieldError::new("limit", format!("{limit} is out of range; give a number from 1 to 10000")).into());
        }
        for (field, v) in [("after", q.after), ("before", q.before)] {
            if let Some(x) = v.filter(|x| *x < 0) {
                return Err(FieldError::new(field, format!("{x} is negative; give an entry id you saw, or leave it out")).into());
            }
        }
        for (field, v) in [("actor", &q.actor), ("action", &q.action), ("object", &q.object)] {
            if let Some(v) = v {
                argus_domain::slug::check_text(field, v, 256)?;
            }
        }
        let newest_first = match q.order.as_deref() {
            None | Some("oldest") => false,
            Some("newest") => true,
            Some(o) => return Err(FieldError::new("order", format!("{o:?} is not an order; use oldest or newest")).into()),
        };
        let limit = limit.min(1000);
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let instant =
                |field: &str, v: &Option<String>| v.as_deref().map(|s| argus_domain::time::parse_instant(field, s, org.tz)).transpose();
            let f = argus_store::audit::AuditFilter {
                actor: q.actor.clone(),
                action: q.action.clone(),
                object: q.object.clone(),
                from: instant("from", &q.from)?.map(to_nanos),
                to: instant("to", &q.to)?.map(to_nanos),
            };
            let cursor = if newest_first { q.before } else { Some(q.after.unwrap_or(0)) };
            let mut rows = argus_store::audit::list_filtered(r, org.row.id, &f, newest_first, cursor, limit + 1)?;
            let has_more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let json = |s: &Option<String>| s.as_ref().map(|x| serde_json::from_str(x).unwrap_or(serde_json::Value::String(x.clone())));
            let entries: Vec<crate::api::AuditView> = rows
                .iter()
                .map(|a| crate::api::AuditView {
                    id: a.id,
                    at: fmt_instant(from_nanos(a.at)),
                    actor: a.actor.clone(),
                    action: a.action.clone(),
                    object: a.object.clone(),
                    before: json(&a.before),
                    after: json(&a.after),
                })
                .collect();
            let next_after = entries.last().map(|e| e.id).or(if newest_first { q.before } else { Some(q.after.unwrap_or(0)) });
            Ok(crate::api::AuditPage { next_after, entries, has_more })
        })
    }
}
