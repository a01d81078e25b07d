//! Summaries from the daily aggregates, and record listings.
//!
//! A range `[from, to)` is answered from the aggregates for the whole local
//! days it covers and from a scan of the records only for the partial days at
//! its edges, so a dashboard over millions of records answers at once and a
//! range that does not start at midnight is still exact.
use crate::api::{Group, Previous, RecordView, RecordsPage, Summary};
use crate::orgs::{self, Org};
use crate::{Ops, Result};
use argus_domain::analytics::{month_period, push_stored_key, stored_key, Dim, KeyParts, RecordFilter, Shape, StoredDim, Totals};
use argus_domain::time::{day_start, fmt_instant, from_nanos, local_day, parse_instant, to_nanos, Month};
use argus_domain::{FieldError, Money};
use argus_store::records::{self, Filter, StoredRecord};
use argus_store::{aggregates, Reader};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Most records one listing returns.
pub const MAX_PAGE: i64 = 10_000;

/// A period given as text: `from`/`to` as RFC 3339 or bare dates; defaults
/// to the current month in the organisation's time zone.
pub fn resolve_period(
    org: &Org,
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> std::result::Result<(DateTime<Utc>, DateTime<Utc>), FieldError> {
    // Without them, the current month; with one end only, the month it
    // falls in (or the current one, when that reaches further).
    let month_of = |t: DateTime<Utc>| Month::of_date(argus_domain::time::local_date(org.tz, t)).bounds(org.tz);
    let (m0, m1) = month_of(now);
    let from_t = from.map(|s| parse_instant("from", s, org.tz)).transpose()?;
    let to_t = to.map(|s| parse_instant("to", s, org.tz)).transpose()?;
    // Within the years times may be given in, so that the period can be
    // written and read again (exports state it).
    let (lo, hi) = argus_domain::time::accepted_range();
    let (from, to) = match (from_t, to_t) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, if f < m1 { m1 } else { month_of(f).1.min(hi - chrono::Duration::nanoseconds(1)) }),
        (None, Some(t)) => (if t > m0 { m0 } else { month_of(t - chrono::Duration::nanoseconds(1)).0.max(lo) }, t),
        (None, None) => (m0, m1),
    };
    // `[from, to)` holds nothing when `to` is not after `from`: an empty
    // period, whose totals are zero (the answer says the period it covered).
    let to = to.max(from);
    Ok((from, to))
}

/// Totals over `[from, to)` in stored dimension `dim`, grouped by `key_of`
/// (which maps a stored key and a day to a group key).
fn fold(
    r: &Reader<'_>,
    org: &Org,
    dim: StoredDim,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    key_of: &dyn Fn(&str, i32) -> String,
) -> Result<HashMap<String, Totals>> {
    let mut out: HashMap<String, Totals> = HashMap::new();
    let mut d0 = local_day(org.tz, from);
    if day_start(org.tz, d0) < from {
        d0 += 1;
    }
    let d1 = local_day(org.tz, to);
    let (scan_ranges, full) =
        if d0 < d1 { (vec![(from, day_start(org.tz, d0)), (day_start(org.tz, d1), to)], Some((d0, d1))) } else { (vec![(from, to)], None) };
    if let Some((d0, d1)) = full {
        for (day, key, t) in aggregates::rows(r, org.row.id, dim, d0, d1)? {
            out.entry(key_of(&key, day)).or_default().add(&t);
        }
    }
    for (a, b) in scan_ranges {
        if a >= b {
            continue;
        }
        let f = Filter { org: Some(org.row.id), from: Some(to_nanos(a)), to: Some(to_nanos(b)), ..Filter::default() };
        records::scan(r, &f, |rec| -> Result<()> {
            let key = stored_key(dim, &rec.key_parts());
            out.entry(key_of(&key, rec.day)).or_default().add(&Totals::of_record(&rec.tokens, rec.cost_nanos));
            Ok(())
        })?;
    }
    Ok(out)
}

fn total(r: &Reader<'_>, org: &Org, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Totals> {
    let m = fold(r, org, StoredDim::Total, from, to, &|_, _| String::new())?;
    Ok(m.into_values().fold(Totals::default(), |mut a, t| {
        a.add(&t);
        a
    }))
}

/// A group of a summary from its keys (one a grouping) and totals (an
/// empty key is `null`).
pub fn group(keys: Vec<String>, t: &Totals) -> Group {
    let keys: Vec<Option<String>> = keys.into_iter().map(|k| (!k.is_empty()).then_some(k)).collect();
    Group {
        key: if keys.len() == 1 { keys[0].clone() } else { None },
        keys,
        requests: t.requests,
        input_tokens: t.input_tokens,
        output_tokens: t.output_tokens,
        cached_input_tokens: t.cached_input_tokens,
        cache_write_tokens: t.cache_write_tokens,
        cache_write_1h_tokens: t.cache_write_1h_tokens,
        cost: t.cost(),
        unpriced_requests: t.unpriced_requests,
    }
}

/// The totals of a group, back from its view (costs are whole nano-units).
pub fn totals_of(g: &Group) -> Totals {
    Totals {
        requests: g.requests,
        input_tokens: g.input_tokens,
        output_tokens: g.output_tokens,
        cached_input_tokens: g.cached_input_tokens,
        cache_write_tokens: g.cache_write_tokens,
        cache_write_1h_tokens: g.cache_write_1h_tokens,
        cost_nanos: g.cost.nanos_i128(),
        unpriced_requests: g.unpriced_requests,
    }
}

/// Percent change from `before` to `after`, to two decimals; `None` if `before` is zero.
pub fn change_percent(before: Money, after: Money) -> Option<String> {
    if before.is_zero() {
        return None;
    }
    let p = (after.decimal() - before.decimal()) / before.decimal() * Decimal::from(100);
    Some(p.round_dp(2).to_string())
}

/// Start of the previous period of the same length. When the range is whole
/// local days, the previous period is the same number of local days (so a
/// week across a DST change is compared with the week before, midnight to
/// midnight); otherwise it is the same duration.
pub fn previous_start(org: &Org, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let d0 = local_day(org.tz, from);
    let d1 = local_day(org.tz, to);
    if day_start(org.tz, d0) == from && day_start(org.tz, d1) == to {
        day_start(org.tz, d0 - (d1 - d0))
    } else {
        from - (to - from)
    }
}

/// Totals of the records of `[from, to)` that `what` selects, and grouped
/// by `by` (a scan of those records: what the rollups cannot answer).
fn scan_fold(
    r: &Reader<'_>,
    org: &Org,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    what: &RecordFilter,
    by: &[Dim],
    out: &mut Folded,
) -> Result<()> {
    if from >= to {
        return Ok(());
    }
    let f = Filter { org: Some(org.row.id), from: Some(to_nanos(from)), to: Some(to_nanos(to)), what: what.clone(), after_seq: None };
    records::scan(r, &f, |rec| -> Result<()> {
        out.add(by, rec.day, &rec.key_parts(), &Totals::of_record(&rec.tokens, rec.cost_nanos));
        Ok(())
    })
}

/// A total and its groups, as records or rollup rows are added. A group's
/// key is its keys joined by [`SEP`] while folding (one allocation a
/// group, not a row), split at the end.
#[derive(Default)]
struct Folded {
    total: Totals,
    groups: HashMap<String, Totals>,
    key: String,
    /// Time keys already made: `(position in by, day)` -> key.
    times: HashMap<(usize, i32), String>,
}

/// Separates the keys of a group while folding; no key holds a control
/// character (`check_text`, slugs).
const SEP: char = '\u{1f}';

impl Folded {
    /// Adds the totals `t` of a record (or rollup row) of local day `day`
    /// with attributes `parts`: the one grouping rule for both.
    fn add(&mut self, by: &[Dim], day: i32, parts: &KeyParts<'_>, t: &Totals) {
        self.total.add(t);
        if by.is_empty() {
            return;
        }
        let Folded { groups, key, times, .. } = self;
        key.clear();
        for (i, d) in by.iter().enumerate() {
            if i > 0 {
                key.push(SEP);
            }
            if d.is_time() {
                key.push_str(times.entry((i, day)).or_insert_with(|| d.time_key(day).unwrap_or_default()));
            } else {
                push_stored_key(key, d.stored(), parts);
            }
        }
        match groups.get_mut(key.as_str()) {
            Some(g) => g.add(t),
            None => {
                groups.insert(key.clone(), *t);
            }
        }
    }

    fn groups(self) -> HashMap<Vec<String>, Totals> {
        self.groups.into_iter().map(|(k, t)| (k.split(SEP).map(str::to_string).collect(), t)).collect()
    }
}

/// The rollups that answer filter `what` and groupings `by`, by day and by
/// month: those with investigations, or with users, when the question
/// involves one of them at most; the pairs of both when it involves both
/// and nothing of the kind of call (no monthly one when it groups by day
/// or week); none when it involves both and a kind of call.
fn shapes_for(what: &RecordFilter, by: &[Dim]) -> Option<(Shape, Option<Shape>)> {
    let inv = what.investigation.is_some() || what.investigation_contains.is_some() || by.contains(&Dim::Investigation);
    let user = what.user.is_some() || what.user_contains.is_some() || by.contains(&Dim::User);
    let kind = what.provider.is_some()
        || what.model.is_some()
        || what.operation.is_some()
        || what.status.is_some()
        || by.iter().any(|d| matches!(d, Dim::Provider | Dim::Model | Dim::Operation));
    let (day, month) = match (inv, user) {
        (true, true) if kind => return None,
        (true, true) => (Shape::DayPair, Shape::MonthPair),
        (true, false) => (Shape::DayInvestigation, Shape::MonthInvestigation),
        (false, _) => (Shape::DayUser, Shape::MonthUser),
    };
    Some((day, (!by.iter().any(|d| matches!(d, Dim::Day | Dim::Week))).then_some(month)))
}

/// Totals and groups of the records of `[from, to)` that `what` selects:
/// from the monthly rollup of [`shapes_for`] for the whole local months the
/// range covers, the daily one for its other whole days, and the records for
/// the partial days at its edges (for all of it when no rollup holds the
/// question).
fn filtered_fold(r: &Reader<'_>, org: &Org, from: DateTime<Utc>, to: DateTime<Utc>, what: &RecordFilter, by: &[Dim]) -> Result<Folded> {
    let mut out = Folded::default();
    let Some((day_shape, month_shape)) = shapes_for(what, by) else {
        scan_fold(r, org, from, to, what, by, &mut out)?;
        return Ok(out);
    };
    // Whole local days [d0, d1); whole months [m0, m1) within them.
    let mut d0 = local_day(org.tz, from);
    if day_start(org.tz, d0) < from {
        d0 += 1;
    }
    let d1 = local_day(org.tz, to).max(d0);
    let m0 = if month_period(d0) == d0 { d0 } else { month_period(month_period(d0) + 31) };
    let m1 = month_period(d1).max(m0);
    let cube = |shape: Shape, p0: i32, p1: i32, out: &mut Folded| -> Result<()> {
        Ok(aggregates::cube_rows(r, org.row.id, shape, p0, p1, what, |row| {
            let parts = KeyParts {
                provider: row.provider,
                model: row.model,
                operation: row.operation,
                investigation: (!row.investigation.is_empty()).then_some(row.investigation),
                user: (!row.user.is_empty()).then_some(row.user),
                status: row.status,
                token: None,
            };
            out.add(by, row.period, &parts, &row.totals);
        })?)
    };
    // The whole days outside the whole months (all of them without those).
    let mut days = vec![(d0, d1)];
    if let Some(shape) = month_shape.filter(|_| m0 < m1) {
        cube(shape, m0, m1, &mut out)?;
        days = vec![(d0, m0), (m1, d1)];
    }
    for (a, b) in days.into_iter().filter(|(a, b)| a < b) {
        cube(day_shape, a, b, &mut out)?;
    }
    scan_fold(r, org, from, day_start(org.tz, d0).min(to), what, by, &mut out)?;
    scan_fold(r, org, day_start(org.tz, d1).max(from), to, what, by, &mut out)?;
    Ok(out)
}

/// The summary of the records of `[from, to)` that `what` selects, grouped
/// by the one or two groupings of `by`: from the aggregates without a
/// filter and with one grouping, else from the rollups (and the records at
/// the edges of the range). Groups
/// whose first grouping is day, week or month are in time order, others by
/// cost, largest first.
pub(crate) fn summarize(
    r: &Reader<'_>,
    org: &Org,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: &[Dim],
    what: &RecordFilter,
) -> Result<Summary> {
    let prev_from = previous_start(org, from, to);
    let (t, p, m) = if what.is_empty() && by.len() <= 1 {
        let m = match by.first() {
            Some(dim) if dim.is_time() => fold(r, org, StoredDim::Total, from, to, &|_, day| dim.time_key(day).unwrap_or_default())?,
            Some(dim) => fold(r, org, dim.stored(), from, to, &|k, _| k.to_string())?,
            None => HashMap::new(),
        };
        let m = m.into_iter().map(|(k, t)| (vec![k], t)).collect::<HashMap<_, _>>();
        (total(r, org, from, to)?, total(r, org, prev_from, from)?, m)
    } else {
        let f = filtered_fold(r, org, from, to, what, by)?;
        let p = if what.is_empty() { total(r, org, prev_from, from)? } else { filtered_fold(r, org, prev_from, from, what, &[])?.total };
        (f.total, p, f.groups())
    };
    let mut groups: Vec<Group> = m.into_iter().map(|(k, t)| group(k, &t)).collect();
    match by.first() {
        Some(d) if d.is_time() => groups.sort_by(|a, b| a.keys.cmp(&b.keys)),
        _ => groups.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.keys.cmp(&b.keys))),
    }
    Ok(Summary {
        org: org.row.slug.clone(),
        currency: org.row.currency.clone(),
        timezone: org.row.timezone.clone(),
        from: fmt_instant(from),
        to: fmt_instant(to),
        by: (!by.is_empty()).then(|| by.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(",")),
        requests: t.requests,
        input_tokens: t.input_tokens,
        output_tokens: t.output_tokens,
        cached_input_tokens: t.cached_input_tokens,
        cache_write_tokens: t.cache_write_tokens,
        cache_write_1h_tokens: t.cache_write_1h_tokens,
        cost: t.cost(),
        unpriced_requests: t.unpriced_requests,
        previous: Previous {
            from: fmt_instant(prev_from),
            to: fmt_instant(from),
            cost: p.cost(),
            requests: p.requests,
            unpriced_requests: p.unpriced_requests,
            cost_change_percent: change_percent(p.cost(), t.cost()),
        },
        groups,
        fx_rates: crate::fx::used(r, org, crate::fx::days_of(org, from, to))?,
    })
}

/// A stored record as the facade shows it.
pub(crate) fn view(org: &Org, r: &StoredRecord) -> RecordView {
    RecordView {
        seq: r.seq.0,
        id: r.id.clone(),
        org: org.row.slug.clone(),
        provider: r.provider.clone(),
        model: r.model.clone(),
        operation: r.operation.clone(),
        investigation: r.investigation.clone(),
        user: r.user.clone(),
        input_tokens: r.tokens.input,
        output_tokens: r.tokens.output,
        cached_input_tokens: r.tokens.cached_input,
        cache_write_tokens: r.tokens.cache_write,
        cache_write_1h_tokens: r.tokens.cache_write_1h,
        service_tier: r.service_tier.as_str().to_string(),
        status: r.status.clone(),
        latency_ms: r.latency_ms,
        occurred_at: fmt_instant(from_nanos(r.occurred_at)),
        cost: r.cost_nanos.map(argus_domain::Money::from_nanos),
        currency: r.currency.clone(),
        price_id: r.price_id.map(|p| p.0),
        recorded_at: fmt_instant(from_nanos(r.recorded_at)),
        upstream_model: r.detail.upstream_model.clone(),
        first_byte_ms: r.detail.first_byte_ms.map(|x| x as i64),
        estimated: r.detail.estimated,
        attempt: r.detail.attempt.map(|x| x as i64),
        source_cost: r.conversion.as_ref().map(|c| c.source_cost),
        source_currency: r.conversion.as_ref().map(|c| c.source_currency.clone()),
        fx_rate: r.conversion.as_ref().and_then(|c| c.rate).map(|(x, _)| x.normalize().to_string()),
        fx_date: r.conversion.as_ref().and_then(|c| c.rate).map(|(_, d)| d.format("%Y-%m-%d").to_string()),
        token: r.token.clone(),
    }
}

/// What `usage records` lists: the one record query of every front end
/// (CLI flags, the HTTP query string, the window's argument).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct RecordQuery {
    #[cfg_attr(test, ts(optional))]
    #[schemars(pattern(argus_domain::record::patterns::TIME_OR_DATE))]
    pub from: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(pattern(argus_domain::record::patterns::TIME_OR_DATE))]
    pub to: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(max = 64), pattern(argus_domain::record::patterns::SLUG))]
    pub provider: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 128), pattern(argus_domain::record::patterns::TEXT))]
    pub model: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(max = 64), pattern(argus_domain::record::patterns::SLUG))]
    pub operation: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub investigation: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub user: Option<String>,
    /// The record's status: ok, error, timeout, rate_limited...
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(max = 64), pattern(argus_domain::record::patterns::SLUG))]
    pub status: Option<String>,
    /// A part of the investigation, ASCII letters in any case (`investigation` is the exact one).
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub investigation_contains: Option<String>,
    /// A part of the user, ASCII letters in any case.
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 256), pattern(argus_domain::record::patterns::TEXT))]
    pub user_contains: Option<String>,
    #[cfg_attr(test, ts(optional, type = "number"))]
    #[schemars(range(min = 0))]
    pub after_seq: Option<i64>,
    #[cfg_attr(test, ts(optional, type = "number"))]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<i64>,
    /// `seq` (the default: the order records were stored, paged with
    /// `after_seq`, as sync pages), `time` (oldest call first) or
    /// `time_desc` (newest first), paged with `cursor`. `after_seq` selects
    /// the records stored after it in any order.
    #[cfg_attr(test, ts(optional, type = "\"seq\" | \"time\" | \"time_desc\""))]
    #[schemars(regex(pattern = r"^(seq|time|time_desc)$"))]
    pub order: Option<String>,
    /// The `next_cursor` of the page before: only the records after that
    /// place in time order (before it with time_desc).
    #[cfg_attr(test, ts(optional))]
    #[schemars(regex(pattern = r"^-?[0-9]{1,19}:[0-9]{1,19}$"))]
    pub cursor: Option<String>,
}

impl RecordQuery {
    /// The order of the page, and the place in time order it continues
    /// after (`cursor`).
    fn page_order(&self) -> std::result::Result<(records::Order, Option<(i64, i64)>), FieldError> {
        let after = match self.cursor.as_deref() {
            None => None,
            Some(c) => {
                let bad = || {
                    FieldError::new("cursor", format!("{c:?} is not a cursor; give the next_cursor of the page before, or leave it out"))
                };
                let (a, b) = c.split_once(':').ok_or_else(bad)?;
                Some((a.parse::<i64>().map_err(|_| bad())?, b.parse::<i64>().map_err(|_| bad())?))
            }
        };
        let order = match self.order.as_deref() {
            None | Some("seq") => records::Order::Seq,
            Some("time") => records::Order::Time,
            Some("time_desc") => records::Order::TimeDesc,
            Some(o) => return Err(FieldError::new("order", format!("{o:?} is not an order; use seq, time or time_desc"))),
        };
        Ok((order, after))
    }
}

/// The store filter of a record query; bare dates are the organisation's midnight.
fn filter_of(org: &Org, q: &RecordQuery) -> Result<Filter> {
    let from = q.from.as_deref().map(|s| parse_instant("from", s, org.tz)).transpose()?;
    let to = q.to.as_deref().map(|s| parse_instant("to", s, org.tz)).transpose()?;
    Ok(Filter { org: Some(org.row.id), from: from.map(to_nanos), to: to.map(to_nanos), what: q.filter(), after_seq: q.after_seq })
}

impl RecordQuery {
    /// Refuses what no filter means: an empty value (leave the parameter
    /// out instead), a malformed slug, a negative cursor.
    pub fn check(&self) -> std::result::Result<(), FieldError> {
        for (field, v) in [("provider", &self.provider), ("operation", &self.operation), ("status", &self.status)] {
            if let Some(v) = v {
                argus_domain::slug::check_slug(field, v)?;
            }
        }
        for (field, v, max) in [
            ("model", &self.model, 128),
            ("investigation", &self.investigation, 256),
            ("user", &self.user, 256),
            ("investigation_contains", &self.investigation_contains, 256),
            ("user_contains", &self.user_contains, 256),
        ] {
            if let Some(v) = v {
                argus_domain::slug::check_text(field, v, max)?;
            }
        }
        for (field, v) in [("from", &self.from), ("to", &self.to)] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(FieldError::new(field, "is empty; give a time or a date, or leave it out"));
            }
        }
        if let Some(a) = self.after_seq.filter(|a| *a < 0) {
            return Err(FieldError::new("after_seq", format!("{a} is negative; give the last seq you saw, or leave it out")));
        }
        Ok(())
    }

    /// The dimensions this query filters on.
    pub fn filter(&self) -> RecordFilter {
        RecordFilter {
            provider: self.provider.clone(),
            model: self.model.clone(),
            operation: self.operation.clone(),
            investigation: self.investigation.clone(),
            user: self.user.clone(),
            status: self.status.clone(),
            investigation_contains: self.investigation_contains.clone(),
            user_contains: self.user_contains.clone(),
        }
    }

    /// The records of `[from, to)` that `filter` selects.
    pub fn of(from: Option<String>, to: Option<String>, filter: RecordFilter) -> RecordQuery {
        let RecordFilter { provider, model, operation, investigation, user, status, investigation_contains, user_contains } = filter;
        RecordQuery {
            from,
            to,
            provider,
            model,
            operation,
            investigation,
            user,
            status,
            investigation_contains,
            user_contains,
            after_seq: None,
            limit: None,
            order: None,
            cursor: None,
        }
    }
}

impl Ops {
    pub fn usage_summary(&mut self, org: &str, from: Option<&str>, to: Option<&str>, by: Option<&str>) -> Result<Summary> {
        self.usage_summary_of(org, &RecordQuery::of(from.map(str::to_string), to.map(str::to_string), RecordFilter::default()), by)
    }

    /// The summary of the records `q` selects (its period and filters;
    /// its cursor and limit do not apply), grouped by `by` when given.
    pub fn usage_summary_of(&mut self, org: &str, q: &RecordQuery, by: Option<&str>) -> Result<Summary> {
        q.check()?;
        let now = self.now();
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let (from, to) = resolve_period(&org, q.from.as_deref(), q.to.as_deref(), now)?;
            let by = by.map(|b| Dim::parse_list("by", b)).transpose()?.unwrap_or_default();
            summarize(r, &org, from, to, &by, &q.filter())
        })
    }

    /// Records in `seq` order after `after_seq`, filtered; the time range
    /// applies only when given.
    pub fn usage_records(&mut self, org: &str, q: &RecordQuery) -> Result<RecordsPage> {
        q.check()?;
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(FieldError::new("limit", format!("{limit} is out of range; give a number from 1 to {MAX_PAGE}")).into());
        }
        let order = q.page_order()?;
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let f = filter_of(&org, q)?;
            let (order, after) = order;
            let mut rows = records::list_ordered(r, &f, order, after, limit + 1)?;
            let has_more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let (next_after_seq, next_cursor) = match order {
                records::Order::Seq => (rows.last().map(|x| x.seq.0).or(q.after_seq), None),
                _ => (None, rows.last().map(|x| format!("{}:{}", x.occurred_at, x.seq.0)).or(q.cursor.clone())),
            };
            Ok(RecordsPage { records: rows.iter().map(|x| view(&org, x)).collect(), next_after_seq, next_cursor, has_more })
        })
    }
}

impl Ops {
    /// Streams the records of `q` (time order) to `each`, `passes` times over
    /// one snapshot of the store, so that a first pass can compute totals
    /// and a checksum that the second pass's output then matches exactly.
    pub fn scan_records(
        &mut self,
        org: &str,
        q: &RecordQuery,
        passes: usize,
        mut each: impl FnMut(usize, &crate::api::RecordView) -> Result<()>,
    ) -> Result<()> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let f = Filter { after_seq: None, ..filter_of(&org, q)? };
            for pass in 0..passes {
                records::scan(r, &f, |rec| each(pass, &view(&org, &rec)))?;
            }
            Ok(())
        })
    }

    /// Distinct price versions of the organisation's records in `[from, to)`:
    /// from the daily price aggregates for whole days, from the records at
    /// the partial days of the edges.
    pub fn price_ids_used(&mut self, org: &str, from: Option<&str>, to: Option<&str>) -> Result<Vec<i64>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let from = from.map(|s| parse_instant("from", s, org.tz)).transpose()?;
            let to = to.map(|s| parse_instant("to", s, org.tz)).transpose()?;
            let (Some(from), Some(to)) = (from, to) else {
                return Ok(records::price_ids(
                    r,
                    org.row.id,
                    from.map(to_nanos).unwrap_or(i64::MIN),
                    to.map(to_nanos).unwrap_or(i64::MAX),
                )?);
            };
            let mut d0 = local_day(org.tz, from);
            if day_start(org.tz, d0) < from {
                d0 += 1;
            }
            let d1 = local_day(org.tz, to);
            let mut ids: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
            if d0 < d1 {
                ids.extend(aggregates::price_ids(r, org.row.id, d0, d1)?);
                ids.extend(records::price_ids(r, org.row.id, to_nanos(from), to_nanos(day_start(org.tz, d0)))?);
                ids.extend(records::price_ids(r, org.row.id, to_nanos(day_start(org.tz, d1)), to_nanos(to))?);
            } else {
                ids.extend(records::price_ids(r, org.row.id, to_nanos(from), to_nanos(to))?);
            }
            Ok(ids.into_iter().collect())
        })
    }
}
