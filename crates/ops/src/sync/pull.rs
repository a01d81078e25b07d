//! Pulling from the server: records after the cursor, page by page, the
//! configuration, and the audit log.
use super::*;

/// Stores the server's price versions and maps their ids to this store's.
pub(super) fn store_prices(w: &Writer<'_>, org: OrgId, doc: &PricesDoc, now: i64) -> Result<()> {
    for p in &doc.prices {
        let scope = (p.scope == "org").then_some(org);
        let (v, _) = argus_store::prices::insert(w, scope, &price_input(p)?, now)?;
        store::map_price(w, org, p.id, v.id.0)?;
    }
    store::set_prices_version(w, doc.version)?;
    Ok(())
}

/// Stores one page of records and the new cursor in one transaction.
pub(super) fn store_page(w: &Writer<'_>, org: &Org, page: &RecordsPage, prices: &HashMap<i64, i64>, cursor: i64) -> Result<u64> {
    let mut inserter = Inserter::new(w)?;
    let mut delta = Delta::default();
    let mut stored = 0;
    for r in &page.records {
        let input = record_input(org, r)?;
        let cost_nanos = r.cost.map(money_nanos).transpose()?;
        let price_id = r.price_id.and_then(|p| prices.get(&p).copied());
        let day = local_day(org.tz, input.occurred_at);
        let hash = input.content_hash(&r.id);
        let conversion = record_conversion(r)?;
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
            conversion: conversion.as_ref(),
        };
        if let Insert::Inserted(_) = inserter.insert(&new)? {
            stored += 1;
            delta.add(org.row.id, day, &input.key_parts(), &Totals::of_record(&input.tokens, cost_nanos));
            delta.price(org.row.id, day, price_id, 1);
            delta.rate(org.row.id, day, conversion.as_ref(), 1);
        }
    }
    drop(inserter);
    delta.apply(w)?;
    store::set_cursor(w, cursor)?;
    Ok(stored)
}

/// The conversion of a record the server costed in another currency.
fn record_conversion(r: &RecordView) -> Result<Option<argus_domain::fx::Conversion>> {
    let bad = |what: &str, e: String| OpsError::new(ErrorCode::Incompatible, format!("the server sent record {} with {what}: {e}", r.id));
    let (Some(cost), Some(currency)) = (r.source_cost, &r.source_currency) else { return Ok(None) };
    let rate = match (&r.fx_rate, &r.fx_date) {
        (Some(x), Some(d)) => Some((
            rust_decimal::Decimal::from_str_exact(x).map_err(|e| bad("fx_rate", e.to_string()))?,
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|e| bad("fx_date", e.to_string()))?,
        )),
        _ => None,
    };
    Ok(Some(argus_domain::fx::Conversion { source_cost: cost, source_currency: currency.clone(), rate }))
}

pub(super) fn record_input(org: &Org, r: &RecordView) -> Result<UsageInput> {
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
            cache_write_1h: r.cache_write_1h_tokens,
        },
        status: r.status.clone(),
        latency_ms: r.latency_ms.and_then(|x| u64::try_from(x).ok()),
        occurred_at: parse_time("occurred_at", &r.occurred_at)?,
        reservation_id: None,
        detail: argus_domain::record::CallDetail {
            upstream_model: r.upstream_model.clone(),
            first_byte_ms: r.first_byte_ms.and_then(|x| u64::try_from(x).ok()),
            estimated: r.estimated,
            attempt: r.attempt.and_then(|x| u64::try_from(x).ok()),
        },
        service_tier: ServiceTier::parse("service_tier", &r.service_tier)
            .map_err(|e| OpsError::new(ErrorCode::Incompatible, format!("the server sent record {}: {e}", r.id)))?,
        token: r.token.clone(),
    })
}

impl Ops {
    pub(super) fn pull_audit(&mut self, conn: &Conn<'_>, org: &Org, mut after: i64) -> Result<usize> {
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
    pub(super) fn pull_records(
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
}

/// Stores pulled configuration, leaving alone objects with a local edit
/// waiting. Returns the alerts not seen here before.
pub(super) fn store_config(w: &Writer<'_>, org: &Org, c: &Config, now: i64) -> Result<Vec<AlertView>> {
    let id = org.row.id;
    store_prices(w, id, &c.prices, now)?;
    let r = w.reader();
    for b in &c.budgets {
        if !store::has_edit(&r, id, &budget_object(&b.scope, &b.month))? {
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
