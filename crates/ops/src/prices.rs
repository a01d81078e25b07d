//! Prices: import (CSV or JSON), listing, the built-in catalogue, reprice.
use crate::api::{PriceImportReport, PriceView, Rejected, RepriceGroup, RepriceReport};
use crate::orgs::{self, Org};
use crate::{Ops, OpsError, Result};
use argus_domain::analytics::Totals;
use argus_domain::ids::{OrgId, PriceId, Seq};
use argus_domain::price::{PriceInput, PriceVersion, RawPrice};
use argus_domain::record::join_errors;
use argus_domain::time::{fmt_instant, parse_instant, to_nanos};
use argus_domain::{ErrorCode, FieldError, Money};
use argus_store::aggregates::Delta;
use argus_store::records::{self, Filter};
use argus_store::{audit, meta, prices};
use chrono::Timelike;
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// The built-in catalogue of list prices, in the import CSV format.
pub const BUILTIN_CATALOGUE: &str = include_str!("../catalogue/prices.csv");
/// Bump when the catalogue file changes, so that open stores load it again.
pub const CATALOGUE_VERSION: &str = "2026-12-02";

/// A version as the facade shows it; `today` (UTC) says whether its model is retired.
pub(crate) fn price_view(v: &PriceVersion, org_slug: Option<&str>, today: chrono::NaiveDate) -> PriceView {
    let s = |d: &rust_decimal::Decimal| d.to_string();
    PriceView {
        id: v.id.0,
        scope: if v.org.is_some() { "org".into() } else { "global".into() },
        org: v.org.and(org_slug.map(str::to_string)),
        provider: v.provider.clone(),
        model: v.model.clone(),
        effective_from: fmt_instant(v.effective_from),
        currency: v.currency.clone(),
        input_per_mtok: s(&v.rates.input_per_mtok),
        output_per_mtok: s(&v.rates.output_per_mtok),
        cached_input_per_mtok: v.rates.cached_input_per_mtok.as_ref().map(s),
        cache_write_per_mtok: v.rates.cache_write_per_mtok.as_ref().map(s),
        cache_write_1h_per_mtok: v.rates.cache_write_1h_per_mtok.as_ref().map(s),
        service_tier: v.terms.service_tier.as_str().to_string(),
        above_input_tokens: v.terms.above_input_tokens,
        deprecation_date: v.terms.deprecation_date.map(|d| d.format("%Y-%m-%d").to_string()),
        deprecated: v.terms.deprecation_date.is_some_and(|d| d <= today),
        source: v.source.clone(),
    }
}

/// Rows of a price file: the line (or array position) and the row, or why it cannot be read.
pub type PriceRows = crate::rows::Rows<RawPrice>;

/// Parses a price file: a JSON array of objects, or CSV with a header row.
pub fn parse_price_file(content: &str) -> std::result::Result<PriceRows, OpsError> {
    crate::rows::parse(content)
}

/// How an import tells a version it already has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    /// The identical version (same effective instant) is stored.
    Identical,
    /// Or the versions of the row's model and service tier in force at its
    /// instant have the same terms and rates (a file of current prices,
    /// imported again with a later instant, adds nothing).
    InForce,
}

fn import(
    ops: &mut Ops,
    rows: PriceRows,
    org: Option<&str>,
    if_version: Option<i64>,
    actor: &str,
    known: Known,
) -> Result<PriceImportReport> {
    if rows.is_empty() {
        return Err(FieldError::new("prices", "there is no price version in it; give at least one row (CSV) or object (JSON)").into());
    }
    let now = to_nanos(ops.now());
    let today = ops.now().date_naive();
    ops.store.write(|w| {
        let org: Option<Org> = org.map(|s| orgs::find(&w.reader(), s)).transpose()?;
        if let (Some(o), Some(expected)) = (&org, if_version) {
            // Checked in the transaction that adds: no change slips in between.
            let current = prices::version(&w.reader(), o.row.id)?;
            if current != expected {
                return Err(OpsError {
                    code: ErrorCode::VersionMismatch,
                    message: format!("the prices changed (version {current}, your change was made against {expected}); reload them and apply your change again"),
                    field: Some("version".into()),
                });
            }
        }
        let tz: Tz = org.as_ref().map(|o| o.tz).unwrap_or(chrono_tz::UTC);
        let mut report = PriceImportReport::default();
        let mut valid: Vec<PriceInput> = Vec::new();
        for (line, raw) in rows {
            match raw.map_err(|e| vec![FieldError::new("", e)]).and_then(|r| r.validate(tz)) {
                Ok(p) => valid.push(p),
                Err(errs) => report.rejected.push(Rejected {
                    line,
                    error: join_errors(&errs),
                    field: errs.first().map(|e| e.field.clone()).filter(|f| !f.is_empty()),
                }),
            }
        }
        if let Some(o) = &org {
            if let Some(l) = argus_store::sync::link(&w.reader())?.filter(|l| l.org_id == o.row.id) {
                // A linked organisation's prices are the server's: queue them for it.
                if !valid.is_empty() {
                    let body: Vec<serde_json::Value> = valid.iter().map(price_json).collect();
                    let object = format!("prices:{now}");
                    argus_store::sync::enqueue(
                        w,
                        o.row.id,
                        &object,
                        &serde_json::Value::Array(body).to_string(),
                        Some(l.prices_version),
                        now,
                    )?;
                }
                report.queued = valid.len();
                return Ok(report);
            }
        }
        let mut added = Vec::new();
        let org_id = org.as_ref().map(|o| o.row.id);
        let unchanged = if known == Known::InForce { in_force_unchanged(&w.reader(), org_id, &valid)? } else { Vec::new() };
        for (i, p) in valid.iter().enumerate() {
            if let Some(v) = unchanged.get(i).and_then(Option::as_ref) {
                report.unchanged += 1;
                report.prices.push(price_view(v, org.as_ref().map(|o| o.row.slug.as_str()), today));
                continue;
            }
            let (v, new) = prices::insert(w, org_id, p, now)?;
            if new {
                report.added += 1;
                added.push(v.id.0);
            } else {
                report.unchanged += 1;
            }
            report.prices.push(price_view(&v, org.as_ref().map(|o| o.row.slug.as_str()), today));
        }
        if !added.is_empty() {
            let after = serde_json::json!({"added": added}).to_string();
            let object = match &org {
                Some(o) => format!("org/{}/prices", o.row.slug),
                None => "prices".to_string(),
            };
            audit::add(w, org.as_ref().map(|o| o.row.id), now, actor, "prices.import", &object, None, Some(&after))?;
        }
        Ok(report)
    })
}

/// For each row, the stored version it repeats when every row of its
/// model and service tier repeats the versions in force at its instant
/// (base and long-context tiers alike, none more, none fewer); `None` for
/// rows to add. A group with any change is added whole, so that its tiers
/// keep applying with its new base.
fn in_force_unchanged(r: &argus_store::Reader<'_>, org: Option<OrgId>, valid: &[PriceInput]) -> Result<Vec<Option<PriceVersion>>> {
    let scope: Vec<PriceVersion> = prices::list(r, org, None)?.into_iter().filter(|v| v.org == org).collect();
    let mut by_currency: BTreeMap<String, argus_domain::price::PriceBook> = BTreeMap::new();
    let mut groups: BTreeMap<(&str, &str, &str, argus_domain::price::ServiceTier, i64), Vec<usize>> = BTreeMap::new();
    for (i, p) in valid.iter().enumerate() {
        groups.entry((&p.provider, &p.model, &p.currency, p.terms.service_tier, to_nanos(p.effective_from))).or_default().push(i);
    }
    let mut out = vec![None; valid.len()];
    for ((provider, model, currency, tier, at), rows) in groups {
        let book =
            by_currency.entry(currency.to_string()).or_insert_with(|| argus_domain::price::PriceBook::new(scope.iter().cloned(), currency));
        let live = book.in_force(provider, model, tier, argus_domain::time::from_nanos(at));
        let same = |p: &PriceInput, v: &PriceVersion| p.rates == v.rates && p.terms == v.terms;
        let matches: Vec<Option<&PriceVersion>> = rows.iter().map(|i| live.iter().copied().find(|v| same(&valid[*i], v))).collect();
        if live.len() == rows.len() && matches.iter().all(Option::is_some) {
            for (i, v) in rows.iter().zip(matches) {
                out[*i] = v.cloned();
            }
        }
    }
    Ok(out)
}

pub(crate) fn ensure_builtin_catalogue(ops: &mut Ops) -> Result<()> {
    if meta::get(&ops.store.reader(), "catalogue_version")?.as_deref() == Some(CATALOGUE_VERSION) {
        return Ok(());
    }
    let rows = parse_price_file(BUILTIN_CATALOGUE)?;
    let report = import(ops, rows, None, None, "argus-usage (built-in catalogue)", Known::Identical)?;
    if let Some(r) = report.rejected.first() {
        return Err(OpsError::new(ErrorCode::Internal, format!("the built-in catalogue has a bad line {}: {}", r.line, r.error)));
    }
    Ok(ops.store.write(|w| meta::set(w, "catalogue_version", CATALOGUE_VERSION))?)
}

/// A price version as the import accepts it (what a linked store pushes).
fn price_json(p: &PriceInput) -> serde_json::Value {
    let s = |d: &rust_decimal::Decimal| d.normalize().to_string();
    serde_json::json!({
        "provider": p.provider,
        "model": p.model,
        "effective_from": argus_domain::time::fmt_instant(p.effective_from),
        "currency": p.currency,
        "input_per_mtok": s(&p.rates.input_per_mtok),
        "output_per_mtok": s(&p.rates.output_per_mtok),
        "cached_input_per_mtok": p.rates.cached_input_per_mtok.as_ref().map(s),
        "cache_write_per_mtok": p.rates.cache_write_per_mtok.as_ref().map(s),
        "cache_write_1h_per_mtok": p.rates.cache_write_1h_per_mtok.as_ref().map(s),
        "service_tier": p.terms.service_tier.as_str(),
        "above_input_tokens": p.terms.above_input_tokens.map(|n| n.to_string()),
        "deprecation_date": p.terms.deprecation_date.map(|d| d.format("%Y-%m-%d").to_string()),
        "source": p.source,
    })
}

/// A record whose cost changes: the record, and its new cost and price.
type Change = (Seq, i32, records::StoredRecord, Option<i64>, Option<PriceId>, Option<argus_domain::fx::Conversion>);

#[derive(Default)]
struct Acc {
    records: i64,
    changed: i64,
    before: Money,
    after: Money,
    before_unpriced: i64,
    after_unpriced: i64,
}

impl Ops {
    /// Imports price versions (global, or the organisation's with `org`).
    /// Re-importing the same versions adds nothing.
    pub fn prices_import(&mut self, content: &str, org: Option<&str>) -> Result<PriceImportReport> {
        let actor = self.actor.clone();
        let rows = parse_price_file(content)?;
        import(self, rows, org, None, &actor, Known::Identical)
    }

    /// Imports LiteLLM's price file (`model_prices_and_context_window.json`)
    /// as global versions (or the organisation's with `org`), in force from
    /// `effective_from` (default now). A model whose versions in force are
    /// the file's adds nothing; a changed rate becomes new versions.
    pub fn prices_import_litellm(&mut self, content: &str, org: Option<&str>, effective_from: Option<&str>) -> Result<PriceImportReport> {
        let actor = self.actor.clone();
        let at = match effective_from {
            Some(s) => {
                let tz = match org {
                    Some(o) => self.store.read(|r| -> Result<Tz> { Ok(orgs::find(r, o)?.tz) })?,
                    None => chrono_tz::UTC,
                };
                fmt_instant(parse_instant("effective_from", s, tz)?)
            }
            // Whole seconds: the time of the import, as a person writes it.
            None => fmt_instant(self.now().with_nanosecond(0).unwrap_or(self.now())),
        };
        let file = crate::litellm::read(content, &at)?;
        let mut report = import(self, file.rows, org, None, &actor, Known::InForce)?;
        report.entries = Some(file.entries);
        report.skipped = file.skipped;
        Ok(report)
    }

    /// Adds the organisation's price versions from an editor (the window,
    /// `POST /prices`): with `if_version`, only when the prices are still at
    /// that [`Ops::prices_version`], else `version_mismatch`.
    pub fn prices_add(&mut self, org: &str, content: &str, if_version: Option<i64>) -> Result<PriceImportReport> {
        let actor = self.actor.clone();
        let rows = parse_price_file(content)?;
        import(self, rows, Some(org), if_version, &actor, Known::Identical)
    }

    /// The version of the prices an organisation sees: it changes with every
    /// price version added (the `ETag` of `GET /prices`, the `If-Match` of
    /// [`Ops::prices_add`]).
    pub fn prices_version(&mut self, org: &str) -> Result<i64> {
        self.store.read(|r| Ok(prices::version(r, orgs::find(r, org)?.row.id)?))
    }

    /// Versions visible to an organisation (global and its own), or the global catalogue.
    pub fn prices_list(&mut self, org: Option<&str>, provider: Option<&str>) -> Result<Vec<PriceView>> {
        let today = self.now().date_naive();
        self.store.read(|r| {
            let org = org.map(|s| orgs::find(r, s)).transpose()?;
            let list = prices::list(r, org.as_ref().map(|o| o.row.id), provider)?;
            Ok(list.iter().map(|v| price_view(v, org.as_ref().map(|o| o.row.slug.as_str()), today)).collect())
        })
    }

    /// Re-costs the organisation's records in `[from, to)` (all when not
    /// given) with the price versions now known. A preview changes nothing;
    /// with `apply` the records and aggregates change in one transaction,
    /// with an audit entry.
    pub fn reprice(&mut self, org: &str, from: Option<&str>, to: Option<&str>, apply: bool) -> Result<RepriceReport> {
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        let run = |w: &argus_store::Reader<'_>, changes: &mut Vec<Change>| -> Result<RepriceReport> {
            let org = orgs::find(w, org)?;
            let f_from = from.map(|s| parse_instant("from", s, org.tz)).transpose()?;
            let f_to = to.map(|s| parse_instant("to", s, org.tz)).transpose()?;
            let book = prices::book(w, org.row.id, &org.row.currency)?;
            let fx = argus_store::fx::book(w, org.row.id, &org.row.currency)?;
            let filter = Filter { org: Some(org.row.id), from: f_from.map(to_nanos), to: f_to.map(to_nanos), ..Filter::default() };
            let mut groups: BTreeMap<(String, String), Acc> = BTreeMap::new();
            records::scan(w, &filter, |rec| -> Result<()> {
                let at = argus_domain::time::from_nanos(rec.occurred_at);
                let priced = book.price(&rec.provider, &rec.model, rec.service_tier, &rec.tokens, at);
                let price = priced.as_ref().map(|p| p.version);
                // A price that makes a stored call cost more than any call
                // could is a mistaken price (or absurd token counts):
                // refused as a whole, nothing changes.
                if let Some(p) = priced.as_ref().filter(|p| argus_domain::budget::over_call_bound(p.cost)) {
                    return Err(OpsError::new(
                        ErrorCode::BadInput,
                        format!(
                            "the price of {}/{} in force at {} would make record {} cost {} {}, more than any one call (at most {}); correct that price (a new version) and reprice again",
                            rec.provider,
                            rec.model,
                            fmt_instant(at),
                            rec.id,
                            p.cost,
                            p.version.currency,
                            argus_domain::budget::MAX_CALL_COST
                        ),
                    ));
                }
                let (cost, conversion) = match &priced {
                    Some(p) => argus_domain::fx::in_currency(
                        p.cost,
                        &p.version.currency,
                        &org.row.currency,
                        &fx,
                        argus_domain::time::day_date(rec.day),
                    ),
                    None => (None, None),
                };
                let new_cost = cost.and_then(|c| c.nanos());
                let new_id = price.map(|p| p.id);
                let g = groups.entry((rec.provider.clone(), rec.model.clone())).or_default();
                g.records += 1;
                g.before += rec.cost_nanos.map(Money::from_nanos).unwrap_or(Money::ZERO);
                g.after += new_cost.map(Money::from_nanos).unwrap_or(Money::ZERO);
                g.before_unpriced += i64::from(rec.cost_nanos.is_none());
                g.after_unpriced += i64::from(new_cost.is_none());
                if new_cost != rec.cost_nanos || new_id != rec.price_id || conversion != rec.conversion {
                    g.changed += 1;
                    changes.push((rec.seq, rec.day, rec, new_cost, new_id, conversion));
                }
                Ok(())
            })?;
            let mut report = RepriceReport {
                org: org.row.slug.clone(),
                currency: org.row.currency.clone(),
                from: f_from.map(fmt_instant),
                to: f_to.map(fmt_instant),
                applied: false,
                records: 0,
                changed: 0,
                before_cost: Money::ZERO,
                after_cost: Money::ZERO,
                difference: Money::ZERO,
                before_unpriced: 0,
                after_unpriced: 0,
                groups: Vec::new(),
            };
            for ((provider, model), a) in groups {
                report.records += a.records;
                report.changed += a.changed;
                report.before_cost += a.before;
                report.after_cost += a.after;
                report.before_unpriced += a.before_unpriced;
                report.after_unpriced += a.after_unpriced;
                report.groups.push(RepriceGroup {
                    provider,
                    model,
                    records: a.records,
                    changed: a.changed,
                    before_cost: a.before,
                    after_cost: a.after,
                    difference: a.after - a.before,
                    before_unpriced: a.before_unpriced,
                    after_unpriced: a.after_unpriced,
                });
            }
            report.difference = report.after_cost - report.before_cost;
            report.groups.sort_by(|a, b| b.changed.cmp(&a.changed).then(a.provider.cmp(&b.provider)).then(a.model.cmp(&b.model)));
            Ok(report)
        };
        if !apply {
            return self.store.read(|r| run(r, &mut Vec::new()));
        }
        self.store.write(|w| {
            let mut changes = Vec::new();
            let mut report = run(&w.reader(), &mut changes)?;
            let org_id: OrgId = orgs::find(&w.reader(), org)?.row.id;
            if let Some(l) = argus_store::sync::link(&w.reader())?.filter(|l| l.org_id == org_id) {
                return Err(OpsError::new(
                    ErrorCode::Conflict,
                    format!("{org} on this store keeps the costs the server {} computed; reprice there (POST /api/v1/orgs/{org}/reprice with \"apply\": true) and sync", l.server),
                ));
            }
            let mut delta = Delta::default();
            for (seq, day, rec, cost, price_id, conversion) in &changes {
                records::set_cost(w, *seq, *cost, *price_id, conversion.as_ref())?;
                delta.rate(org_id, *day, rec.conversion.as_ref(), -1);
                delta.rate(org_id, *day, conversion.as_ref(), 1);
                delta.sub(org_id, *day, &rec.key_parts(), &Totals::of_record(&rec.tokens, rec.cost_nanos));
                delta.add(org_id, *day, &rec.key_parts(), &Totals::of_record(&rec.tokens, *cost));
                delta.price(org_id, *day, rec.price_id.map(|p| p.0), -1);
                delta.price(org_id, *day, price_id.map(|p| p.0), 1);
            }
            let touched = delta.days();
            delta.apply(w)?;
            report.applied = true;
            let org_full = orgs::find(&w.reader(), org)?;
            let mut months: Vec<_> = touched.iter().map(|(_, d)| crate::controls::month_of_day(*d)).collect();
            months.dedup();
            for m in months {
                crate::controls::check_alerts(w, &org_full, m, now)?;
            }
            if report.changed > 0 {
                let before = serde_json::json!({"cost": report.before_cost, "unpriced": report.before_unpriced}).to_string();
                let after = serde_json::json!({"cost": report.after_cost, "unpriced": report.after_unpriced, "changed_records": report.changed, "from": report.from, "to": report.to}).to_string();
                audit::add(w, Some(org_id), now, &actor, "reprice.apply", &format!("org/{org}/records"), Some(&before), Some(&after))?;
            }
            Ok(report)
        })
    }

    /// The price versions with these ids (for reports).
    pub fn prices_by_ids(&mut self, ids: &[i64]) -> Result<Vec<PriceView>> {
        let ids: Vec<PriceId> = ids.iter().map(|i| PriceId(*i)).collect();
        let list = prices::by_ids(&self.store.reader(), &ids)?;
        let today = self.now().date_naive();
        Ok(list.iter().map(|v| price_view(v, None, today)).collect())
    }
}

/// What `prices check` finds about the models in an organisation's ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct PriceCheck {
    pub org: String,
    /// Records looked at: all of the organisation's.
    #[cfg_attr(test, ts(type = "number"))]
    pub records: i64,
    /// Nothing to fix when empty.
    pub findings: Vec<PriceFinding>,
}

/// Records of one model that need a price looked at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct PriceFinding {
    pub provider: String,
    pub model: String,
    pub service_tier: String,
    /// `unpriced` (no price in force), `deprecated` (priced by the row of a
    /// retired model), `service_tier_fallback` (no version of the record's
    /// service tier: the standard rates priced it), `fallback_rate` (a token
    /// kind priced at another kind's rate: the version lacks its rate).
    pub problem: String,
    #[cfg_attr(test, ts(type = "number"))]
    pub records: i64,
    /// The version that priced them.
    #[cfg_attr(test, ts(type = "number | null"))]
    pub price_id: Option<i64>,
    /// The last of these records.
    pub last_occurred_at: String,
    /// What it means and what to do.
    pub detail: String,
}

impl Ops {
    /// The models in the organisation's ledger that have no price, are
    /// priced by a deprecated row, or are priced through a fallback rate.
    pub fn prices_check(&mut self, org: &str) -> Result<PriceCheck> {
        let today = self.now().date_naive();
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let groups = records::pricing_groups(r, org.row.id)?;
            let ids: Vec<PriceId> = groups.iter().filter_map(|g| g.3).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let versions: BTreeMap<PriceId, PriceVersion> = prices::by_ids(r, &ids)?.into_iter().map(|v| (v.id, v)).collect();
            let mut check = PriceCheck { org: org.row.slug.clone(), records: 0, findings: Vec::new() };
            let slug = &org.row.slug;
            for (provider, model, tier, price_id, n, cached, write, write_1h, last) in groups {
                check.records += n;
                let mut find = |problem: &str, records: i64, detail: String| {
                    check.findings.push(PriceFinding {
                        provider: provider.clone(),
                        model: model.clone(),
                        service_tier: tier.as_str().to_string(),
                        problem: problem.to_string(),
                        records,
                        price_id: price_id.map(|p| p.0),
                        last_occurred_at: fmt_instant(argus_domain::time::from_nanos(last)),
                        detail,
                    })
                };
                let Some(v) = price_id.and_then(|p| versions.get(&p)) else {
                    find("unpriced", n, format!("no price of {provider}/{model} was in force for them: import one (`argus-usage prices import FILE --org {slug}`), then `argus-usage reprice --org {slug} --apply`"));
                    continue;
                };
                if let Some(d) = v.terms.deprecation_date.filter(|d| *d <= today) {
                    find("deprecated", n, format!("{provider} retired {model} on {d} (price {}): move its callers to a current model", v.id.0));
                }
                if v.terms.service_tier != tier {
                    find("service_tier_fallback", n, format!("no {tier} price of {provider}/{model}: the {} rates of price {} priced them; import a {tier} version and reprice", v.terms.service_tier, v.id.0));
                }
                for (with, rate, kind, at) in [
                    (cached, &v.rates.cached_input_per_mtok, "cached input", "the input rate"),
                    (write, &v.rates.cache_write_per_mtok, "cache writes", "the input rate"),
                    (write_1h, &v.rates.cache_write_1h_per_mtok, "1-hour cache writes", "the 5-minute cache-write rate (or the input rate)"),
                ] {
                    if with > 0 && rate.is_none() {
                        find("fallback_rate", with, format!("price {} has no rate for {kind}: {with} records had them priced at {at}; import a version with the rate and reprice", v.id.0));
                    }
                }
            }
            Ok(check)
        })
    }
}
