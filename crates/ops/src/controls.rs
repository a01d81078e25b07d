//! Controls: budgets and alerts, provider settings, admission with quotas
//! and hard limits, routing with fallback, month-end projection.
//!
//! Every check that must not race (admission, routing, alert firing) runs
//! inside one `BEGIN IMMEDIATE` transaction, so processes sharing a store
//! are serialised by SQLite and never overshoot a quota or a hard limit.
use crate::api::{Admission, AlertView, BudgetSet, BudgetStatus, BudgetView, Candidate, Forecast, HealthView, ProviderView, Route};
use crate::orgs::{self, Org};
use crate::{Ops, OpsError, Result};
use argus_domain::budget::{check_amount, check_thresholds, parse_thresholds, percent, reached, CallKeys, Scope, DEFAULT_THRESHOLDS};
use argus_domain::health::Health;
use argus_domain::projection::{project, ProjectionInput};
use argus_domain::quota::{self, QuotaCheck};
use argus_domain::slug::check_slug;
use argus_domain::time::{day_date, day_number, fmt_instant, from_nanos, local_date, to_nanos, Month};
use argus_domain::{ErrorCode, FieldError, Money};
use argus_store::controls::{self as store, AlertRow, BudgetRow, HealthRow, ProviderRow};
use argus_store::{audit, Reader, Writer};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

/// How long a reservation holds its estimated cost if no record settles it.
pub const RESERVATION_TTL: Duration = Duration::minutes(15);
/// Priority of providers seen in usage but never configured: after all configured ones.
pub const UNCONFIGURED_PRIORITY: i64 = 1000;

fn nanos(m: Money) -> i64 {
    m.nanos().unwrap_or(i64::MAX)
}

pub(crate) fn alert_view(org: &Org, a: &AlertRow) -> AlertView {
    AlertView {
        id: a.id,
        org: org.row.slug.clone(),
        scope: a.scope.clone(),
        kind: a.kind.clone(),
        day: (!a.day.is_empty()).then(|| a.day.clone()),
        crosses_on: a.crosses_on.clone(),
        month: a.month.clone(),
        threshold: a.threshold,
        fired_at: fmt_instant(from_nanos(a.fired_at)),
        spent: Money::from_nanos_i128(a.spent_nanos),
        amount: Money::from_nanos(a.amount_nanos),
        acknowledged_at: a.acknowledged_at.map(|t| fmt_instant(from_nanos(t))),
        acknowledged_by: a.acknowledged_by.clone(),
    }
}

fn budget_view(org: &Org, b: &BudgetRow) -> BudgetView {
    BudgetView {
        org: org.row.slug.clone(),
        scope: b.scope.clone(),
        spike_factor: b.spike_factor.clone(),
        month: b.month.clone(),
        currency: org.row.currency.clone(),
        amount: Money::from_nanos(b.amount_nanos),
        thresholds: b.thresholds.clone(),
        hard_limit: b.hard_limit,
        version: b.version,
        updated_at: fmt_instant(from_nanos(b.updated_at)),
    }
}

/// Local days `[first, next first)` of a month.
fn month_days(m: Month) -> (i32, i32) {
    (day_number(m.first_day()), day_number(m.next().first_day()))
}

fn month_spend(r: &Reader<'_>, org: &Org, m: Month) -> Result<i128> {
    let (a, b) = month_days(m);
    Ok(store::spend(r, org.row.id, a, b)?)
}

/// The scope a front end names (`None`: the organisation), checked.
pub(crate) fn scope_of(s: Option<&str>) -> Result<Scope> {
    Ok(s.map(|s| Scope::parse("scope", s)).transpose()?.unwrap_or(Scope::Org))
}

/// Spend of `scope` in local month `m`: the organisation's from the daily
/// aggregates, a scope's from the monthly rollups (`agg_cube`), exact.
fn scope_spend(r: &Reader<'_>, org: &Org, scope: &Scope, m: Month) -> Result<i128> {
    match scope {
        Scope::Org => month_spend(r, org, m),
        s => Ok(scope_totals(r, org, s, m)?.cost_nanos),
    }
}

/// The totals of a scope's calls in local month `m`, from the monthly
/// rollups (`agg_cube`); the organisation's and a token's from the daily
/// aggregates.
fn scope_totals(r: &Reader<'_>, org: &Org, scope: &Scope, m: Month) -> Result<argus_domain::analytics::Totals> {
    use argus_domain::analytics::{StoredDim, Totals};
    let (d0, d1) = month_days(m);
    let mut t = Totals::default();
    match scope {
        Scope::Org => {
            for (_, _, x) in argus_store::aggregates::rows(r, org.row.id, StoredDim::Total, d0, d1)? {
                t.add(&x);
            }
            return Ok(t);
        }
        Scope::Token(name) => {
            for (_, x) in argus_store::aggregates::key_rows(r, org.row.id, StoredDim::Token, name, d0, d1)? {
                t.add(&x);
            }
            return Ok(t);
        }
        _ => {}
    }
    let Some((shape, what)) = scope_rollup(scope, true) else { return Ok(Totals::default()) };
    let period = day_number(m.first_day());
    argus_store::aggregates::cube_rows(r, org.row.id, shape, period, period + 1, &what, |row| t.add(&row.totals))?;
    Ok(t)
}

/// The rollup that holds a scope's calls (by local month, or by local day)
/// and the filter that selects them; `None` for the organisation and for
/// tokens (the daily aggregates hold them).
fn scope_rollup(scope: &Scope, monthly: bool) -> Option<(argus_domain::analytics::Shape, argus_domain::analytics::RecordFilter)> {
    use argus_domain::analytics::{RecordFilter, Shape};
    let (by_inv, by_user) = if monthly { (Shape::MonthInvestigation, Shape::MonthUser) } else { (Shape::DayInvestigation, Shape::DayUser) };
    let f = RecordFilter::default();
    Some(match scope {
        Scope::Org | Scope::Token(_) => return None,
        Scope::Investigation(v) => (by_inv, RecordFilter { investigation: Some(v.clone()), ..f }),
        Scope::User(v) => (by_user, RecordFilter { user: Some(v.clone()), ..f }),
        Scope::Operation(v) => (by_inv, RecordFilter { operation: Some(v.clone()), ..f }),
        Scope::Provider(v) => (by_inv, RecordFilter { provider: Some(v.clone()), ..f }),
    })
}

/// What calls in flight hold against `scope` in month `m`.
fn scope_reserved(r: &Reader<'_>, org: &Org, scope: &Scope, m: Month, now: DateTime<Utc>) -> Result<i128> {
    Ok(match scope.parts() {
        None => store::reserved(r, org.row.id, &m.to_string(), to_nanos(now))?,
        Some((kind, value)) => store::reserved_matching(r, org.row.id, &m.to_string(), to_nanos(now), kind, value)?,
    })
}

/// The organisation's scope, then every scope with a budget.
fn all_scopes(r: &Reader<'_>, org: &Org) -> Result<Vec<Scope>> {
    let mut out = vec![Scope::Org];
    for s in store::budget_scopes(r, org.row.id)? {
        match Scope::parse("scope", &s) {
            Ok(scope) => out.push(scope),
            Err(e) => tracing::warn!(scope = %s, error = %e, "a stored budget's scope is not valid; it is skipped"),
        }
    }
    Ok(out)
}

/// Fires every threshold the month's spend has reached and that has not
/// fired yet, of the organisation's budget and of each scope's. Runs in
/// the writer's transaction: with the UNIQUE constraint on alerts, each
/// fires exactly once whatever the path and the process.
pub(crate) fn check_alerts(w: &Writer<'_>, org: &Org, m: Month, now: i64) -> Result<Vec<AlertView>> {
    let r = w.reader();
    if argus_store::sync::is_linked(&r, org.row.id)? {
        // A linked store takes its alerts from the server, which fired them.
        return Ok(Vec::new());
    }
    let mut fired = Vec::new();
    for scope in all_scopes(&r, org)? {
        fired.extend(check_scope_alerts(w, org, &scope, m, now)?);
    }
    Ok(fired)
}

fn check_scope_alerts(w: &Writer<'_>, org: &Org, scope: &Scope, m: Month, now: i64) -> Result<Vec<AlertView>> {
    let r = w.reader();
    let key = scope.to_string();
    let Some(b) = store::budget_for(&r, org.row.id, &key, &m.to_string())? else {
        return Ok(Vec::new());
    };
    let spent = scope_spend(&r, org, scope, m)?;
    let mut fired = Vec::new();
    for t in reached(&b.thresholds, spent, i128::from(b.amount_nanos)) {
        let new = store::NewAlert {
            scope: &key,
            kind: "threshold",
            month: &m.to_string(),
            threshold: t,
            day: "",
            crosses_on: None,
            at: now,
            spent_nanos: spent,
            amount_nanos: b.amount_nanos,
        };
        if let Some(a) = store::fire_alert(w, org.row.id, &new)? {
            tracing::info!(org = %org.row.slug, scope = %key, month = %m, threshold = t, "budget alert fired");
            fired.push(deliver(w, org, &a)?);
        }
    }
    fired.extend(check_forecast_and_spike(w, org, scope, m, &b, now)?);
    Ok(fired)
}

/// An alert just fired, as shown, with its webhook delivery queued in the
/// same transaction (the outbox), when the organisation has a webhook.
fn deliver(w: &Writer<'_>, org: &Org, a: &AlertRow) -> Result<AlertView> {
    let view = alert_view(org, a);
    let payload = serde_json::json!({"type": "budget_alert", "alert": view}).to_string();
    if argus_store::server::webhook(&w.reader(), org.row.id)?.is_some() {
        argus_store::server::enqueue_delivery(w, org.row.id, a.id, None, &payload, a.fired_at)?;
    }
    crate::channels::queue(w, org.row.id, a.id, &payload, a.fired_at)?;
    Ok(view)
}

/// The forecast alert of the month `m` (once a month: the projection, with
/// enough data, first exceeds the amount while spend is still below it) and the spike alert of today
/// (once a day: today's spend exceeds the budget's spike factor times the
/// median daily spend of the 14 days before; not when that median is 0,
/// which leaves no normal day to compare with). Only for the current month:
/// both speak of "now".
fn check_forecast_and_spike(w: &Writer<'_>, org: &Org, scope: &Scope, m: Month, b: &BudgetRow, now: i64) -> Result<Vec<AlertView>> {
    let r = w.reader();
    let at = from_nanos(now);
    let today = local_date(org.tz, at);
    if Month::of_date(today) != m {
        return Ok(Vec::new());
    }
    let key = scope.to_string();
    let month = m.to_string();
    let mut fired = Vec::new();
    let f = forecast_in(&r, org, scope, m, at)?;
    let amount = Money::from_nanos(b.amount_nanos);
    // A forecast warns before the amount is reached; once spent, the 100 % threshold speaks.
    if let Some(projected) = f.projected.filter(|p| f.enough_data && *p > amount && f.spent < amount) {
        let new = store::NewAlert {
            scope: &key,
            kind: "forecast",
            month: &month,
            threshold: 0,
            day: "",
            crosses_on: f.crosses_on.as_deref(),
            at: now,
            spent_nanos: projected.nanos_i128(),
            amount_nanos: b.amount_nanos,
        };
        if let Some(a) = store::fire_alert(w, org.row.id, &new)? {
            tracing::info!(org = %org.row.slug, scope = %key, month = %m, projected = %projected, "forecast alert fired");
            fired.push(deliver(w, org, &a)?);
        }
    }
    if let Some(factor) = b.spike_factor.as_deref().and_then(|s| Decimal::from_str_exact(s).ok()) {
        let d = day_number(today);
        let mut days = vec![0i128; 15];
        for (day, n) in scope_daily(&r, org, scope, d - 14, d + 1)? {
            if let Some(slot) = days.get_mut((day - (d - 14)) as usize) {
                *slot += n;
            }
        }
        let today_spend = days[14];
        let mut before = days[..14].to_vec();
        before.sort_unstable();
        // The median of 14 days: the mean of the 7th and 8th, exactly (in halves of nano-units).
        let median_x2 = before[6] + before[7];
        let over = Decimal::from_i128_with_scale(today_spend * 2, 0) > factor * Decimal::from_i128_with_scale(median_x2, 0);
        if median_x2 > 0 && over {
            let day = argus_domain::time::day_key(today);
            let new = store::NewAlert {
                scope: &key,
                kind: "spike",
                month: &month,
                threshold: 0,
                day: &day,
                crosses_on: None,
                at: now,
                spent_nanos: today_spend,
                amount_nanos: b.amount_nanos,
            };
            if let Some(a) = store::fire_alert(w, org.row.id, &new)? {
                tracing::info!(org = %org.row.slug, scope = %key, day = %day, "spike alert fired");
                fired.push(deliver(w, org, &a)?);
            }
        }
    }
    Ok(fired)
}

/// Applies outcomes of calls (in time order) to a provider's health.
pub(crate) fn observe_health(w: &Writer<'_>, org: &Org, provider: &str, outcomes: &[(bool, DateTime<Utc>)]) -> Result<()> {
    let row = store::health(&w.reader(), org.row.id, provider)?.unwrap_or_default();
    let mut h = Health {
        consecutive_failures: row.consecutive_failures.max(0) as u32,
        cooldown_until: row.cooldown_until.map(from_nanos),
        last_outcome_at: row.last_outcome_at.map(from_nanos),
    };
    for (ok, at) in outcomes {
        h.observe(*ok, *at);
    }
    let new = HealthRow {
        consecutive_failures: i64::from(h.consecutive_failures),
        cooldown_until: h.cooldown_until.map(to_nanos),
        last_outcome_at: h.last_outcome_at.map(to_nanos),
    };
    if new != row {
        store::put_health(w, org.row.id, provider, &new)?;
    }
    Ok(())
}

fn health_view(h: Option<HealthRow>, now: DateTime<Utc>) -> HealthView {
    let h = h.unwrap_or_default();
    let cooling = h.cooldown_until.filter(|u| *u > to_nanos(now));
    HealthView {
        state: if cooling.is_some() {
            "cooling_down"
        } else if h.consecutive_failures > 0 {
            "failing"
        } else {
            "ok"
        }
        .into(),
        consecutive_failures: h.consecutive_failures,
        cooldown_until: cooling.map(|t| fmt_instant(from_nanos(t))),
        last_outcome_at: h.last_outcome_at.map(|t| fmt_instant(from_nanos(t))),
    }
}

pub(crate) fn default_settings(provider: &str) -> ProviderRow {
    ProviderRow {
        provider: provider.to_string(),
        enabled: true,
        priority: UNCONFIGURED_PRIORITY,
        hourly_limit: None,
        daily_limit: None,
        note: None,
        version: 0,
        updated_at: 0,
    }
}

/// Configured providers and those only seen in usage, by priority.
/// Why a provider may not be called now, if it may not: disabled, cooling
/// down, over a quota, or over the budget (`budget`, checked once by the
/// caller with its estimate). The one routing rule of `route` and the gateway.
pub(crate) fn candidate_block(
    r: &Reader<'_>,
    org: &Org,
    p: &ProviderRow,
    now: DateTime<Utc>,
    budget: Option<&Block>,
) -> Result<Option<Block>> {
    let health = store::health(r, org.row.id, &p.provider)?;
    let cooling = health.and_then(|h| h.cooldown_until).map(from_nanos).filter(|u| *u > now);
    Ok(if !p.enabled {
        Some(Block::Disabled)
    } else if let Some(u) = cooling {
        Some(Block::CoolingDown(u))
    } else if let Some(b) = quota_block(r, org, p, now)? {
        Some(b)
    } else {
        budget.cloned()
    })
}

/// A candidate as `route` answers it: its state, why, and until when.
pub(crate) fn candidate_view(org: &Org, p: &ProviderRow, block: Option<&Block>, now: DateTime<Utc>) -> Candidate {
    let (state, reason, until) = match block {
        None => ("available", None, None),
        Some(b) => {
            let (code, message, _) = block_message(org, &p.provider, b, now);
            let until = match b {
                Block::CoolingDown(u) | Block::RateLimited { until: u, .. } => Some(fmt_instant(*u)),
                _ => None,
            };
            let state = match code.as_str() {
                "provider_disabled" => "disabled",
                "budget_exceeded" => "budget_blocked",
                "rate_limited" => "rate_limited",
                _ => "cooling_down",
            };
            (state, Some(message), until)
        }
    };
    Candidate { provider: p.provider.clone(), state: state.into(), reason, until, priority: p.priority }
}

pub(crate) fn all_providers(r: &Reader<'_>, org: &Org) -> Result<Vec<(ProviderRow, bool)>> {
    let mut out: Vec<(ProviderRow, bool)> = store::providers(r, org.row.id)?.into_iter().map(|p| (p, true)).collect();
    for p in store::providers_seen(r, org.row.id)? {
        if !out.iter().any(|(x, _)| x.provider == p) {
            out.push((default_settings(&p), false));
        }
    }
    out.sort_by(|a, b| a.0.priority.cmp(&b.0.priority).then_with(|| a.0.provider.cmp(&b.0.provider)));
    Ok(out)
}

/// Why a provider may not be called now, in the order they are checked.
#[derive(Clone)]
pub(crate) enum Block {
    Disabled,
    CoolingDown(DateTime<Utc>),
    RateLimited { window: &'static str, limit: i64, until: DateTime<Utc> },
    Budget { scope: Scope, month: Month, amount: Money, spent: Money, reserved: Money },
}

fn quota_block(r: &Reader<'_>, org: &Org, p: &ProviderRow, now: DateTime<Utc>) -> Result<Option<Block>> {
    for (window, limit, len) in [("hourly", p.hourly_limit, Duration::hours(1)), ("daily", p.daily_limit, Duration::hours(24))] {
        let Some(limit) = limit else { continue };
        let (count, kth) = store::admissions_window(r, org.row.id, &p.provider, to_nanos(now - len), limit)?;
        if let QuotaCheck::FullUntil(until) = quota::check_count(count.max(0) as u64, kth.map(from_nanos), limit.max(0) as u64, len, now) {
            return Ok(Some(Block::RateLimited { window, limit, until }));
        }
    }
    Ok(None)
}

/// The hard limit a call with `keys` and cost `estimate` would overshoot:
/// the organisation's, or that of a scope the call matches (the first, in
/// the order of [`all_scopes`]).
pub(crate) fn budget_block(r: &Reader<'_>, org: &Org, now: DateTime<Utc>, estimate: i64, keys: &CallKeys<'_>) -> Result<Option<Block>> {
    let m = Month::of_date(local_date(org.tz, now));
    for scope in all_scopes(r, org)?.into_iter().filter(|s| s.matches(keys)) {
        let Some(b) = store::budget_for(r, org.row.id, &scope.to_string(), &m.to_string())? else { continue };
        if !b.hard_limit {
            continue;
        }
        let spent = scope_spend(r, org, &scope, m)?;
        let reserved = scope_reserved(r, org, &scope, m, now)?;
        let amount = i128::from(b.amount_nanos);
        if spent + reserved >= amount || spent + reserved + i128::from(estimate) > amount {
            return Ok(Some(Block::Budget {
                scope,
                month: m,
                amount: Money::from_nanos(b.amount_nanos),
                spent: Money::from_nanos_i128(spent),
                reserved: Money::from_nanos_i128(reserved),
            }));
        }
    }
    Ok(None)
}

pub(crate) fn block_message(org: &Org, provider: &str, b: &Block, now: DateTime<Utc>) -> (String, String, Option<u64>) {
    match b {
        Block::Disabled => (
            "provider_disabled".into(),
            format!("provider {provider} is disabled for {}; enable it with `argus-usage provider set --org {} --provider {provider} --enabled true`", org.row.slug, org.row.slug),
            None,
        ),
        Block::CoolingDown(until) => {
            ("cooling_down".into(), format!("provider {provider} is cooling down after repeated failures until {}", fmt_instant(*until)), Some(quota::retry_after_secs(now, *until)))
        }
        Block::RateLimited { window, limit, until } => (
            "rate_limited".into(),
            format!("the {window} quota of {limit} requests for {provider} is used up in the rolling window; a slot frees at {}", fmt_instant(*until)),
            Some(quota::retry_after_secs(now, *until)),
        ),
        Block::Budget { scope, month, amount, spent, reserved } => (
            "budget_exceeded".into(),
            format!(
                "the hard limit of {} for {month} is reached: budget {amount} {cur}, spent {spent} {cur}, reserved for calls in flight {reserved} {cur}",
                match scope {
                    Scope::Org => format!("organisation {}", org.row.slug),
                    s => format!("the budget of {s} in organisation {}", org.row.slug),
                },
                cur = org.row.currency
            ),
            None,
        ),
    }
}

/// A spike factor: a decimal from 1 to 9999.9999, at most 4 decimals
/// (`"5"`, `"2.5"`), as the API documents it; written back normalised.
fn check_spike_factor(s: &str) -> std::result::Result<String, FieldError> {
    let bad = || {
        FieldError::new("spike_factor", format!("{s:?} is not a spike factor; give a number from 1 to 9999.9999 such as 5 (alert when a day costs five times a normal day), or none to turn spike alerts off"))
    };
    let digits_ok = s.split_once('.').map_or(s.len() <= 4, |(i, f)| i.len() <= 4 && !f.is_empty() && f.len() <= 4);
    if !digits_ok || !argus_domain::money::is_plain_decimal(s) || s.starts_with('0') || s.starts_with('-') {
        return Err(bad());
    }
    let d = Decimal::from_str_exact(s).map_err(|_| bad())?;
    Ok(d.normalize().to_string())
}

/// The operation is a slug, the investigation and user text as a record's.
fn check_keys(keys: &CallKeys<'_>) -> std::result::Result<(), FieldError> {
    if let Some(op) = keys.operation {
        check_slug("operation", op)?;
    }
    for (field, v) in [("investigation", keys.investigation), ("user", keys.user), ("token", keys.token)] {
        if let Some(v) = v {
            argus_domain::slug::check_text(field, v, 256)?;
        }
    }
    Ok(())
}

fn parse_estimate(s: Option<&str>) -> std::result::Result<i64, FieldError> {
    match s {
        None => Ok(0),
        Some(s) => Ok(nanos(argus_domain::budget::check_estimate("estimated_cost", s)?)),
    }
}

/// Records an admission and its reservation (with the call's keys, which
/// scoped budgets match); returns the reservation id.
pub(crate) fn admit_now(
    w: &Writer<'_>,
    org: &Org,
    provider: &str,
    keys: &CallKeys<'_>,
    now: DateTime<Utc>,
    estimate: i64,
) -> Result<String> {
    let t = to_nanos(now);
    store::expire_reservations(w, org.row.id, t)?;
    store::add_admission(w, org.row.id, provider, t, to_nanos(now - Duration::hours(24)))?;
    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, now.timestamp().max(0) as u64, now.timestamp_subsec_nanos()))
        .to_string();
    let month = Month::of_date(local_date(org.tz, now));
    store::add_reservation(w, &id, org.row.id, provider, keys, &month.to_string(), estimate, t, to_nanos(now + RESERVATION_TTL))?;
    Ok(id)
}

fn version_check(field: &str, current: Option<i64>, expected: Option<i64>) -> Result<()> {
    match (expected, current) {
        (Some(e), Some(c)) if e != c => Err(OpsError {
            code: ErrorCode::VersionMismatch,
            message: format!("the {field} was changed by someone else (it is at version {c}, the change was made against version {e}); reload it and apply your change again"),
            field: Some("version".into()),
        }),
        (Some(e), None) if e != 0 => Err(OpsError {
            code: ErrorCode::VersionMismatch,
            message: format!("the {field} does not exist any more (the change was made against version {e}); reload and apply your change again"),
            field: Some("version".into()),
        }),
        _ => Ok(()),
    }
}

/// What `budget set` changes; fields left `None` keep their value. As JSON
/// (the HTTP body and the window's): `{"amount", "thresholds", "hard_limit"}`.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct BudgetChange {
    #[cfg_attr(test, ts(optional))]
    #[schemars(pattern(argus_domain::record::patterns::MONEY))]
    pub amount: Option<String>,
    #[cfg_attr(test, ts(optional))]
    #[schemars(length(min = 1, max = 20), inner(range(min = 1, max = 1000)))]
    pub thresholds: Option<Vec<u32>>,
    #[serde(skip)]
    pub thresholds_text: Option<String>,
    #[cfg_attr(test, ts(optional))]
    pub hard_limit: Option<bool>,
    /// Spike alerts: a day's spend above this many times the median of the
    /// 14 days before (1 to 9999.9999); `null` turns them off, absent keeps.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>", regex(pattern = r"^[1-9][0-9]{0,3}(\.[0-9]{1,4})?$"))]
    #[cfg_attr(test, ts(optional, type = "string | null"))]
    pub spike_factor: Option<Option<String>>,
    /// Refuse unless the budget is at this version (0: must not exist).
    /// Over HTTP it is the `If-Match` header, never the body.
    #[serde(skip)]
    pub if_version: Option<i64>,
    /// The budget's scope (`None`: the organisation's): `KIND:VALUE`. Over
    /// HTTP it is the `scope` query parameter, never the body.
    #[serde(skip)]
    pub scope: Option<String>,
}

/// What `provider set` changes; `Some(None)` for a quota means none. As
/// JSON: `{"enabled", "priority", "hourly_limit", "daily_limit", "note"}`,
/// where an absent key keeps the value and `null` clears a quota or note.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export, export_to = "../../../ui/src/generated/"))]
pub struct ProviderChange {
    #[cfg_attr(test, ts(optional))]
    pub enabled: Option<bool>,
    #[cfg_attr(test, ts(optional, type = "number"))]
    #[schemars(range(min = 1, max = 999))]
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<i64>", range(min = 1, max = 100_000_000))]
    #[cfg_attr(test, ts(optional, type = "number | null"))]
    pub hourly_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<i64>", range(min = 1, max = 100_000_000))]
    #[cfg_attr(test, ts(optional, type = "number | null"))]
    pub daily_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    #[cfg_attr(test, ts(optional, type = "string | null"))]
    pub note: Option<Option<String>>,
    #[serde(skip)]
    pub if_version: Option<i64>,
}

/// A key that is present: `Some(None)` for an explicit null (`None` when absent, by `default`).
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl Ops {
    /// Sets the budget of `month` (`YYYY-MM`, or `None`/`default` for the
    /// default monthly amount). Written to the audit log; thresholds the new
    /// amount has already crossed fire at once.
    /// Sets a budget (`month` `YYYY-MM`, or the default amount); the
    /// thresholds the month's spend has already crossed fire at once, and
    /// are returned as `alerts_fired` (the window raises them as notifications).
    pub fn budget_set(&mut self, org: &str, month: Option<&str>, change: &BudgetChange) -> Result<BudgetSet> {
        let month_key = match month {
            None | Some("default") => "default".to_string(),
            Some(m) => Month::parse("month", m)?.to_string(),
        };
        let amount = change.amount.as_deref().map(|a| check_amount("amount", a)).transpose()?;
        let thresholds = match (&change.thresholds, &change.thresholds_text) {
            (Some(t), _) => Some(check_thresholds("thresholds", t.clone())?),
            (None, Some(s)) => Some(parse_thresholds("thresholds", s)?),
            _ => None,
        };
        let scope = scope_of(change.scope.as_deref())?;
        let scope_key = scope.to_string();
        let spike = change.spike_factor.clone().map(|f| f.map(|f| check_spike_factor(&f)).transpose()).transpose()?;
        let now = self.now();
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let before = store::budget(&w.reader(), org.row.id, &scope_key, &month_key)?;
            version_check("budget", before.as_ref().map(|b| b.version), change.if_version)?;
            let amount = match (amount, &before) {
                (Some(a), _) => a,
                (None, Some(b)) => Money::from_nanos(b.amount_nanos),
                // A conflict with the store's state, not bad input: the same
                // change is valid once the budget exists.
                (None, None) => {
                    return Err(OpsError {
                        field: Some("amount".into()),
                        ..OpsError::new(
                            ErrorCode::Conflict,
                            format!("field `amount`: is required, as no budget of {scope_key} is set for {month_key} yet; give it like --amount 1500"),
                        )
                    })
                }
            };
            let thresholds =
                thresholds.clone().or_else(|| before.as_ref().map(|b| b.thresholds.clone())).unwrap_or_else(|| DEFAULT_THRESHOLDS.to_vec());
            let hard = change.hard_limit.or(before.as_ref().map(|b| b.hard_limit)).unwrap_or(false);
            let spike = spike.clone().unwrap_or_else(|| before.as_ref().and_then(|b| b.spike_factor.clone()));
            let after =
                store::put_budget(w, org.row.id, &scope_key, &month_key, nanos(amount), &thresholds, hard, spike.as_deref(), to_nanos(now))?;
            let view = budget_view(&org, &after);
            if argus_store::sync::is_linked(&w.reader(), org.row.id)? {
                let body = serde_json::json!({"amount": view.amount, "thresholds": view.thresholds, "hard_limit": view.hard_limit, "spike_factor": view.spike_factor});
                let object = crate::sync::wire::budget_object(&scope_key, &month_key);
                argus_store::sync::enqueue(
                    w,
                    org.row.id,
                    &object,
                    &body.to_string(),
                    Some(before.as_ref().map_or(0, |b| b.version)),
                    to_nanos(now),
                )?;
            }
            let before_json = before.as_ref().map(|b| serde_json::to_string(&budget_view(&org, b)).unwrap_or_default());
            let after_json = serde_json::to_string(&view).unwrap_or_default();
            audit::add(
                w,
                Some(org.row.id),
                to_nanos(now),
                &actor,
                "budget.set",
                &match &scope {
                    Scope::Org => format!("org/{}/budgets/{month_key}", org.row.slug),
                    s => format!("org/{}/budgets/{s}/{month_key}", org.row.slug),
                },
                before_json.as_deref(),
                Some(&after_json),
            )?;
            let m = if month_key == "default" { Month::of_date(local_date(org.tz, now)) } else { Month::parse("month", &month_key)? };
            let alerts_fired = if argus_store::sync::is_linked(&w.reader(), org.row.id)? {
                Vec::new()
            } else {
                check_scope_alerts(w, &org, &scope, m, to_nanos(now))?
            };
            Ok(BudgetSet { budget: view, alerts_fired })
        })
    }

    pub fn budgets(&mut self, org: &str) -> Result<Vec<BudgetView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(store::budgets(r, org.row.id)?.iter().map(|b| budget_view(&org, b)).collect())
        })
    }

    /// The budget of one month (`YYYY-MM` or `default`) as stored, if any.
    pub fn budget_get(&mut self, org: &str, scope: Option<&str>, month: &str) -> Result<Option<BudgetView>> {
        let key = if month == "default" { "default".to_string() } else { Month::parse("month", month)?.to_string() };
        let scope = scope_of(scope)?.to_string();
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(store::budget(r, org.row.id, &scope, &key)?.map(|b| budget_view(&org, &b)))
        })
    }

    /// Month-to-date spend against the budget (default: the current month).
    pub fn budget_status(&mut self, org: &str, month: Option<&str>) -> Result<BudgetStatus> {
        self.budget_status_of(org, None, month)
    }

    /// [`Ops::budget_status`] of a scope's budget (`None`: the organisation's).
    pub fn budget_status_of(&mut self, org: &str, scope: Option<&str>, month: Option<&str>) -> Result<BudgetStatus> {
        let now = self.now();
        let scope = scope_of(scope)?;
        let key = scope.to_string();
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let m = match month {
                Some(s) => Month::parse("month", s)?,
                None => Month::of_date(local_date(org.tz, now)),
            };
            let own = store::budget(r, org.row.id, &key, &m.to_string())?;
            let (b, source) = match own {
                Some(b) => (Some(b), Some("month")),
                None => (store::budget(r, org.row.id, &key, "default")?, Some("default")),
            };
            let source = b.as_ref().and(source);
            let spent = Money::from_nanos_i128(scope_spend(r, &org, &scope, m)?);
            let reserved = Money::from_nanos_i128(scope_reserved(r, &org, &scope, m, now)?);
            let amount = b.as_ref().map(|b| Money::from_nanos(b.amount_nanos));
            let hard = b.as_ref().is_some_and(|b| b.hard_limit);
            let (d0, d1) = month_days(m);
            let unpriced = scope_totals(r, &org, &scope, m)?.unpriced_requests;
            Ok(BudgetStatus {
                org: org.row.slug.clone(),
                scope: key.clone(),
                month: m.to_string(),
                currency: org.row.currency.clone(),
                amount,
                budget_source: source.map(str::to_string),
                spent,
                reserved,
                remaining: amount.map(|a| a - spent),
                percent: amount.and_then(|a| percent(spent, a)).map(|p| p.to_string()),
                hard_limit: hard,
                blocked: hard && amount.is_some_and(|a| spent + reserved >= a),
                thresholds: b.as_ref().map(|b| b.thresholds.clone()).unwrap_or_default(),
                alerts: store::alerts(r, org.row.id, Some(&m.to_string()))?
                    .iter()
                    .filter(|a| a.scope == key)
                    .map(|a| alert_view(&org, a))
                    .collect(),
                unpriced_requests: unpriced,
                fx_rates: crate::fx::used(r, &org, (d0, d1))?,
            })
        })
    }

    pub fn alerts_list(&mut self, org: &str) -> Result<Vec<AlertView>> {
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            Ok(store::alerts(r, org.row.id, None)?.iter().map(|a| alert_view(&org, a)).collect())
        })
    }

    pub fn alerts_ack(&mut self, org: &str, id: i64) -> Result<AlertView> {
        let now = to_nanos(self.now());
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let Some(before) = store::alert(&w.reader(), org.row.id, id)? else {
                return Err(OpsError {
                    code: ErrorCode::NotFound,
                    message: format!(
                        "alert {id} does not exist in {}; list them with `argus-usage alerts list --org {}`",
                        org.row.slug, org.row.slug
                    ),
                    field: Some("id".into()),
                });
            };
            if store::ack_alert(w, org.row.id, id, now, &actor)? {
                audit::add(w, Some(org.row.id), now, &actor, "alert.ack", &format!("org/{}/alerts/{id}", org.row.slug), None, None)?;
                if argus_store::sync::is_linked(&w.reader(), org.row.id)? {
                    let object = crate::sync::wire::alert_object(&before.month, before.threshold);
                    argus_store::sync::enqueue(w, org.row.id, &object, "{}", None, now)?;
                }
            }
            let after = store::alert(&w.reader(), org.row.id, id)?.unwrap_or(before);
            Ok(alert_view(&org, &after))
        })
    }

    pub fn provider_set(&mut self, org: &str, provider: &str, change: &ProviderChange) -> Result<ProviderView> {
        check_slug("provider", provider)?;
        if let Some(p) = change.priority {
            if !(1..=999).contains(&p) {
                return Err(FieldError::new("priority", format!("{p} is out of range; 1 is tried first, up to 999")).into());
            }
        }
        for (field, v) in [("hourly_limit", change.hourly_limit), ("daily_limit", change.daily_limit)] {
            if let Some(Some(n)) = v {
                if !(1..=100_000_000).contains(&n) {
                    return Err(FieldError::new(
                        field,
                        format!("{n} is out of range; give a number of requests from 1 to 100000000, or none"),
                    )
                    .into());
                }
            }
        }
        let now = self.now();
        let actor = self.actor.clone();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let before = store::provider(&w.reader(), org.row.id, provider)?;
            version_check("provider settings", before.as_ref().map(|b| b.version), change.if_version)?;
            let next_priority = store::providers(&w.reader(), org.row.id)?.iter().map(|p| p.priority).max().unwrap_or(0) + 1;
            let mut row = before.clone().unwrap_or_else(|| ProviderRow { priority: next_priority.min(999), ..default_settings(provider) });
            if let Some(e) = change.enabled {
                row.enabled = e;
            }
            if let Some(p) = change.priority {
                row.priority = p;
            }
            if let Some(h) = change.hourly_limit {
                row.hourly_limit = h;
            }
            if let Some(d) = change.daily_limit {
                row.daily_limit = d;
            }
            if let Some(n) = &change.note {
                row.note = n.clone();
            }
            let after = store::put_provider(w, org.row.id, &row, to_nanos(now))?;
            if argus_store::sync::is_linked(&w.reader(), org.row.id)? {
                let body = serde_json::json!({"enabled": after.enabled, "priority": after.priority, "hourly_limit": after.hourly_limit, "daily_limit": after.daily_limit, "note": after.note});
                let object = crate::sync::wire::provider_object(provider);
                argus_store::sync::enqueue(w, org.row.id, &object, &body.to_string(), Some(before.as_ref().map_or(0, |b| b.version)), to_nanos(now))?;
            }
            let view = provider_view(&w.reader(), &org, &after, true, now)?;
            let json = |p: &ProviderRow| serde_json::json!({"enabled": p.enabled, "priority": p.priority, "hourly_limit": p.hourly_limit, "daily_limit": p.daily_limit, "note": p.note, "version": p.version}).to_string();
            audit::add(w, Some(org.row.id), to_nanos(now), &actor, "provider.set", &format!("org/{}/providers/{provider}", org.row.slug), before.as_ref().map(json).as_deref(), Some(&json(&after)))?;
            Ok(view)
        })
    }

    /// Configured providers and those seen in usage, with quota use and health.
    pub fn provider_list(&mut self, org: &str) -> Result<Vec<ProviderView>> {
        let now = self.now();
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            all_providers(r, &org)?.iter().map(|(p, configured)| provider_view(r, &org, p, *configured, now)).collect()
        })
    }

    /// May the organisation call `provider` now? Allowed answers carry a
    /// reservation holding `estimated_cost` against the budget until a
    /// record naming it settles it, or it expires.
    pub fn admit(&mut self, org: &str, provider: &str, estimated_cost: Option<&str>) -> Result<Admission> {
        self.admit_call(org, provider, estimated_cost, &CallKeys::default())
    }

    /// [`Ops::admit`] of a call with its operation, investigation and user
    /// (`keys`; its provider is `provider`): every budget that applies to it
    /// is checked, the organisation's and each matching scope's, in one
    /// transaction with the reservation.
    pub fn admit_call(&mut self, org: &str, provider: &str, estimated_cost: Option<&str>, keys: &CallKeys<'_>) -> Result<Admission> {
        check_slug("provider", provider)?;
        check_keys(keys)?;
        let keys = CallKeys { provider: Some(provider), ..*keys };
        let estimate = parse_estimate(estimated_cost)?;
        let now = self.now();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let r = w.reader();
            let p = store::provider(&r, org.row.id, provider)?.unwrap_or_else(|| default_settings(provider));
            let block = if !p.enabled {
                Some(Block::Disabled)
            } else if let Some(b) = quota_block(&r, &org, &p, now)? {
                Some(b)
            } else {
                budget_block(&r, &org, now, estimate, &keys)?
            };
            let mut a = Admission {
                allowed: block.is_none(),
                reservation_id: None,
                code: None,
                message: None,
                retry_after_s: None,
                org: org.row.slug.clone(),
                provider: provider.to_string(),
                month: None,
                amount: None,
                spent: None,
                scope: None,
            };
            match block {
                None => a.reservation_id = Some(admit_now(w, &org, provider, &keys, now, estimate)?),
                Some(b) => {
                    let (code, message, retry) = block_message(&org, provider, &b, now);
                    if let Block::Budget { scope, month, amount, spent, .. } = &b {
                        a.scope = Some(scope.to_string());
                        a.month = Some(month.to_string());
                        a.amount = Some(*amount);
                        a.spent = Some(*spent);
                    }
                    a.code = Some(code);
                    a.message = Some(message);
                    a.retry_after_s = retry;
                }
            }
            Ok(a)
        })
    }

    /// Chooses the first available provider by priority and admits it in
    /// the same step (unless `dry_run`); lists every candidate with its state.
    pub fn route(&mut self, org: &str, operation: Option<&str>, dry_run: bool, estimated_cost: Option<&str>) -> Result<Route> {
        self.route_call(org, &CallKeys { operation, ..Default::default() }, dry_run, estimated_cost)
    }

    /// [`Ops::route`] of a call with its operation, investigation and user:
    /// each candidate is checked against every budget the call would count
    /// against with that provider.
    pub fn route_call(&mut self, org: &str, keys: &CallKeys<'_>, dry_run: bool, estimated_cost: Option<&str>) -> Result<Route> {
        check_keys(keys)?;
        let operation = keys.operation;
        let estimate = parse_estimate(estimated_cost)?;
        let now = self.now();
        self.store.write(|w| {
            let org = orgs::find(&w.reader(), org)?;
            let r = w.reader();
            let mut candidates = Vec::new();
            let mut chosen: Option<String> = None;
            for (p, _) in all_providers(&r, &org)? {
                let budget = budget_block(&r, &org, now, estimate, &CallKeys { provider: Some(&p.provider), ..*keys })?;
                let block = candidate_block(&r, &org, &p, now, budget.as_ref())?;
                let c = candidate_view(&org, &p, block.as_ref(), now);
                if c.state == "available" && chosen.is_none() {
                    chosen = Some(p.provider.clone());
                }
                candidates.push(c);
            }
            let reservation_id = match (&chosen, dry_run) {
                (Some(p), false) => Some(admit_now(w, &org, p, &CallKeys { provider: Some(p), ..*keys }, now, estimate)?),
                _ => None,
            };
            Ok(Route { org: org.row.slug.clone(), operation: operation.map(str::to_string), chosen, reservation_id, dry_run, candidates })
        })
    }

    /// Month-end projection (default: the current month).
    pub fn forecast(&mut self, org: &str, month: Option<&str>) -> Result<Forecast> {
        self.forecast_of(org, None, month)
    }

    /// [`Ops::forecast`] of a scope's budget (`None`: the organisation's).
    pub fn forecast_of(&mut self, org: &str, scope: Option<&str>, month: Option<&str>) -> Result<Forecast> {
        let now = self.now();
        let scope = scope_of(scope)?;
        self.store.read(|r| {
            let org = orgs::find(r, org)?;
            let m = match month {
                Some(s) => Month::parse("month", s)?,
                None => Month::of_date(local_date(org.tz, now)),
            };
            forecast_in(r, &org, &scope, m, now)
        })
    }
}

/// Daily spend of `scope` over local days `[d0, d1)`: `(day, nano-units)`.
fn scope_daily(r: &Reader<'_>, org: &Org, scope: &Scope, d0: i32, d1: i32) -> Result<Vec<(i32, i128)>> {
    match scope {
        Scope::Org => return Ok(store::daily_spend(r, org.row.id, d0, d1)?),
        Scope::Token(name) => {
            let rows = argus_store::aggregates::key_rows(r, org.row.id, argus_domain::analytics::StoredDim::Token, name, d0, d1)?;
            return Ok(rows.into_iter().map(|(d, t)| (d, t.cost_nanos)).collect());
        }
        _ => {}
    }
    let Some((shape, what)) = scope_rollup(scope, false) else { return Ok(Vec::new()) };
    let mut by_day: std::collections::BTreeMap<i32, i128> = Default::default();
    argus_store::aggregates::cube_rows(r, org.row.id, shape, d0, d1, &what, |row| {
        *by_day.entry(row.period).or_default() += row.totals.cost_nanos
    })?;
    Ok(by_day.into_iter().collect())
}

/// The month-end projection of `scope`'s spend in month `m`, at `now`.
fn forecast_in(r: &Reader<'_>, org: &Org, scope: &Scope, m: Month, now: DateTime<Utc>) -> Result<Forecast> {
    let today = local_date(org.tz, now);
    let (d0, d1) = month_days(m);
    let today_n = day_number(today);
    // Days of the month so far: all of a past month, none of a future one.
    let last = today_n.min(d1 - 1);
    let mut daily = vec![Money::ZERO; (last - d0 + 1).max(0) as usize];
    for (day, n) in scope_daily(r, org, scope, d0, d1)? {
        if let Some(slot) = daily.get_mut((day - d0) as usize) {
            *slot += Money::from_nanos_i128(n);
        }
    }
    let frac = if today_n >= d1 {
        Decimal::ONE
    } else {
        let start = argus_domain::time::day_start(org.tz, today_n);
        let end = argus_domain::time::day_start(org.tz, today_n + 1);
        Decimal::from((now - start).num_seconds().max(0)) / Decimal::from((end - start).num_seconds().max(1))
    };
    let b = store::budget_for(r, org.row.id, &scope.to_string(), &m.to_string())?;
    let amount = b.map(|b| Money::from_nanos(b.amount_nanos));
    let p = project(&ProjectionInput { days_in_month: m.days(), daily, today_fraction: frac, amount });
    Ok(Forecast {
        org: org.row.slug.clone(),
        scope: scope.to_string(),
        month: m.to_string(),
        currency: org.row.currency.clone(),
        spent: p.spent,
        projected: p.projected,
        low: p.low,
        high: p.high,
        amount,
        crosses_on: p.crosses_on_day.map(|d| argus_domain::time::day_key(day_date(d0 + d as i32 - 1))),
        days_left: p.days_left.map(|d| d.to_string()),
        daily_rate: p.daily_rate,
        enough_data: p.enough_data,
    })
}

fn provider_view(r: &Reader<'_>, org: &Org, p: &ProviderRow, configured: bool, now: DateTime<Utc>) -> Result<ProviderView> {
    let hour = store::admissions_window(r, org.row.id, &p.provider, to_nanos(now - Duration::hours(1)), 0)?.0;
    let day = store::admissions_window(r, org.row.id, &p.provider, to_nanos(now - Duration::hours(24)), 0)?.0;
    Ok(ProviderView {
        provider: p.provider.clone(),
        configured,
        enabled: p.enabled,
        priority: p.priority,
        hourly_limit: p.hourly_limit,
        daily_limit: p.daily_limit,
        hourly_used: hour,
        daily_used: day,
        note: p.note.clone(),
        version: p.version,
        health: health_view(store::health(r, org.row.id, &p.provider)?, now),
    })
}

/// The local month of a day number.
pub(crate) fn month_of_day(day: i32) -> Month {
    Month::of_date(day_date(day))
}
