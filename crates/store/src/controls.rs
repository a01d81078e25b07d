//! Budgets, alerts, provider settings, admissions, reservations, health.
use crate::sql::{params, Optional, Row};
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRow {
    /// `org`, or `KIND:VALUE` (`argus_domain::budget::Scope`).
    pub scope: String,
    pub month: String,
    pub amount_nanos: i64,
    pub thresholds: Vec<u32>,
    pub hard_limit: bool,
    pub version: i64,
    pub updated_at: i64,
    /// A spike alert fires when a day's spend exceeds this many times the
    /// median of the 14 days before (a decimal); `None`: off.
    pub spike_factor: Option<String>,
}

fn budget_row(r: &Row<'_>) -> Result<BudgetRow> {
    let t: String = r.get(2)?;
    Ok(BudgetRow {
        month: r.get(0)?,
        amount_nanos: r.get(1)?,
        thresholds: serde_json::from_str(&t).unwrap_or_default(),
        hard_limit: r.get(3)?,
        version: r.get(4)?,
        updated_at: r.get(5)?,
        scope: r.get(6)?,
        spike_factor: r.get(7)?,
    })
}

const BUDGET_COLS: &str = "month, amount_nanos, thresholds, hard_limit, version, updated_at, scope, spike_factor";

/// The budget of `scope` set for `month` (`YYYY-MM` or `default`).
pub fn budget(r: &Reader<'_>, org: OrgId, scope: &str, month: &str) -> Result<Option<BudgetRow>> {
    r.c()
        .prepare(&format!("SELECT {BUDGET_COLS} FROM budgets WHERE org_id = ?1 AND scope = ?2 AND month = ?3"))?
        .query_row(params![org.0, scope, month], budget_row)
        .optional()
}

/// The budget of `scope` in force for a month: its own, else the scope's default.
pub fn budget_for(r: &Reader<'_>, org: OrgId, scope: &str, month: &str) -> Result<Option<BudgetRow>> {
    match budget(r, org, scope, month)? {
        Some(b) => Ok(Some(b)),
        None => budget(r, org, scope, "default"),
    }
}

/// Every budget of the organisation: its own first, then each scope's;
/// within a scope the default, then the months.
pub fn budgets(r: &Reader<'_>, org: OrgId) -> Result<Vec<BudgetRow>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {BUDGET_COLS} FROM budgets WHERE org_id = ?1 ORDER BY scope <> 'org', scope, month = 'default' DESC, month"
    ))?;
    let rows = st.query_map([org.0], budget_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The scopes other than the organisation's that have a budget.
pub fn budget_scopes(r: &Reader<'_>, org: OrgId) -> Result<Vec<String>> {
    let mut st = r.c().prepare("SELECT DISTINCT scope FROM budgets WHERE org_id = ?1 AND scope <> 'org' ORDER BY scope")?;
    let rows = st.query_map([org.0], |x| x.get(0))?.collect::<Result<Vec<String>>>()?;
    Ok(rows)
}

/// Writes a budget, its version one more than before (1 when new).
#[allow(clippy::too_many_arguments)]
pub fn put_budget(
    w: &Writer<'_>,
    org: OrgId,
    scope: &str,
    month: &str,
    amount_nanos: i64,
    thresholds: &[u32],
    hard_limit: bool,
    spike_factor: Option<&str>,
    now: i64,
) -> Result<BudgetRow> {
    let t = serde_json::to_string(thresholds).unwrap_or_else(|_| "[]".into());
    w.c().execute(
        "INSERT INTO budgets AS t (org_id, scope, month, amount_nanos, thresholds, hard_limit, version, updated_at, spike_factor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)
         ON CONFLICT (org_id, scope, month) DO UPDATE SET amount_nanos = excluded.amount_nanos, thresholds = excluded.thresholds,
           hard_limit = excluded.hard_limit, version = t.version + 1, updated_at = excluded.updated_at, spike_factor = excluded.spike_factor",
        params![org.0, scope, month, amount_nanos, t, hard_limit, now, spike_factor],
    )?;
    budget(&w.reader(), org, scope, month)?.ok_or_else(|| crate::StoreError::Corrupt("budget vanished".into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: i64,
    /// `org`, or the `KIND:VALUE` of a scoped budget.
    pub scope: String,
    /// `threshold`, `forecast` or `spike`.
    pub kind: String,
    pub month: String,
    /// The percent of a threshold alert; 0 for the other kinds.
    pub threshold: u32,
    /// The day of a spike (`YYYY-MM-DD`); empty for the other kinds.
    pub day: String,
    /// A forecast's date the amount is reached at the current rate.
    pub crosses_on: Option<String>,
    pub fired_at: i64,
    pub spent_nanos: i128,
    pub amount_nanos: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
}

const ALERT_COLS: &str =
    "id, month, threshold, fired_at, spent_nanos, amount_nanos, acknowledged_at, acknowledged_by, spent_exa, scope, kind, day, crosses_on";

fn alert_row(r: &Row<'_>) -> Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        month: r.get(1)?,
        threshold: r.get(2)?,
        fired_at: r.get(3)?,
        spent_nanos: crate::wide::join(r.get(8)?, r.get(4)?),
        amount_nanos: r.get(5)?,
        acknowledged_at: r.get(6)?,
        acknowledged_by: r.get(7)?,
        scope: r.get(9)?,
        kind: r.get(10)?,
        day: r.get(11)?,
        crosses_on: r.get(12)?,
    })
}

/// An alert to fire: what it is and what it found.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    pub scope: &'a str,
    pub kind: &'a str,
    pub month: &'a str,
    pub threshold: u32,
    pub day: &'a str,
    pub crosses_on: Option<&'a str>,
    pub at: i64,
    pub spent_nanos: i128,
    pub amount_nanos: i64,
}

/// Fires an alert unless one of its scope, kind, month, threshold and day
/// has fired already; returns it when new.
pub fn fire_alert(w: &Writer<'_>, org: OrgId, a: &NewAlert<'_>) -> Result<Option<AlertRow>> {
    let (exa, spent) = crate::wide::split(a.spent_nanos).ok_or_else(|| crate::wide::too_large("an alert's spend"))?;
    let Some(id) = w.c().insert_id_if_new(
        "INSERT INTO alerts (org_id, scope, kind, month, threshold, day, crosses_on, fired_at, spent_nanos, amount_nanos, spent_exa) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (org_id, scope, kind, month, threshold, day) DO NOTHING",
        params![org.0, a.scope, a.kind, a.month, a.threshold, a.day, a.crosses_on, a.at, spent, a.amount_nanos, exa],
        "id",
    )?
    else {
        return Ok(None);
    };
    w.c().query_row(&format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"), [id], alert_row).optional()
}

pub fn alerts(r: &Reader<'_>, org: OrgId, month: Option<&str>) -> Result<Vec<AlertRow>> {
    let mut st = r
        .c()
        .prepare(&format!("SELECT {ALERT_COLS} FROM alerts WHERE org_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR month = ?2) ORDER BY id"))?;
    let rows = st.query_map(params![org.0, month], alert_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn alert(r: &Reader<'_>, org: OrgId, id: i64) -> Result<Option<AlertRow>> {
    r.c().query_row(&format!("SELECT {ALERT_COLS} FROM alerts WHERE org_id = ?1 AND id = ?2"), params![org.0, id], alert_row).optional()
}

pub fn ack_alert(w: &Writer<'_>, org: OrgId, id: i64, at: i64, by: &str) -> Result<bool> {
    Ok(w.c().execute(
        "UPDATE alerts SET acknowledged_at = ?3, acknowledged_by = ?4 WHERE org_id = ?1 AND id = ?2 AND acknowledged_at IS NULL",
        params![org.0, id, at, by],
    )? == 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRow {
    pub provider: String,
    pub enabled: bool,
    pub priority: i64,
    pub hourly_limit: Option<i64>,
    pub daily_limit: Option<i64>,
    pub note: Option<String>,
    pub version: i64,
    pub updated_at: i64,
}

const PROVIDER_COLS: &str = "provider, enabled, priority, hourly_limit, daily_limit, note, version, updated_at";

fn provider_row(r: &Row<'_>) -> Result<ProviderRow> {
    Ok(ProviderRow {
        provider: r.get(0)?,
        enabled: r.get(1)?,
        priority: r.get(2)?,
        hourly_limit: r.get(3)?,
        daily_limit: r.get(4)?,
        note: r.get(5)?,
        version: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn provider(r: &Reader<'_>, org: OrgId, provider: &str) -> Result<Option<ProviderRow>> {
    r.c()
        .prepare(&format!("SELECT {PROVIDER_COLS} FROM provider_settings WHERE org_id = ?1 AND provider = ?2"))?
        .query_row(params![org.0, provider], provider_row)
        .optional()
}

pub fn providers(r: &Reader<'_>, org: OrgId) -> Result<Vec<ProviderRow>> {
    let mut st = r.c().prepare(&format!("SELECT {PROVIDER_COLS} FROM provider_settings WHERE org_id = ?1 ORDER BY priority, provider"))?;
    let rows = st.query_map([org.0], provider_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Providers that appear in the organisation's usage.
pub fn providers_seen(r: &Reader<'_>, org: OrgId) -> Result<Vec<String>> {
    let mut st = r.c().prepare("SELECT DISTINCT key FROM agg_daily WHERE org_id = ?1 AND dim = 1 ORDER BY key")?;
    let rows = st.query_map([org.0], |x| x.get(0))?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Writes a provider's settings, its version one more than before.
pub fn put_provider(w: &Writer<'_>, org: OrgId, p: &ProviderRow, now: i64) -> Result<ProviderRow> {
    w.c().execute(
        "INSERT INTO provider_settings AS t (org_id, provider, enabled, priority, hourly_limit, daily_limit, note, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8)
         ON CONFLICT (org_id, provider) DO UPDATE SET enabled = excluded.enabled, priority = excluded.priority, hourly_limit = excluded.hourly_limit,
           daily_limit = excluded.daily_limit, note = excluded.note, version = t.version + 1, updated_at = excluded.updated_at",
        params![org.0, p.provider, p.enabled, p.priority, p.hourly_limit, p.daily_limit, p.note, now],
    )?;
    provider(&w.reader(), org, &p.provider)?.ok_or_else(|| crate::StoreError::Corrupt("provider settings vanished".into()))
}

/// The newest admission of a provider: `(n, at)`.
fn newest_admission(r: &Reader<'_>, org: OrgId, provider: &str) -> Result<Option<(i64, i64)>> {
    r.c()
        .prepare("SELECT n, at FROM admissions WHERE org_id = ?1 AND provider = ?2 ORDER BY n DESC LIMIT 1")?
        .query_row(params![org.0, provider], |x| Ok((x.get(0)?, x.get(1)?)))
        .optional()
}

/// Admissions of a provider after `since` (exclusive): how many, and the
/// time of the `k`-th newest of them (1-based) when there are that many.
/// Two index lookups, whatever the traffic.
pub fn admissions_window(r: &Reader<'_>, org: OrgId, provider: &str, since: i64, k: i64) -> Result<(i64, Option<i64>)> {
    let Some((newest, _)) = newest_admission(r, org, provider)? else { return Ok((0, None)) };
    let first: Option<i64> = r
        .c()
        .prepare("SELECT n FROM admissions WHERE org_id = ?1 AND provider = ?2 AND at > ?3 ORDER BY at, n LIMIT 1")?
        .query_row(params![org.0, provider, since], |x| x.get(0))
        .optional()?;
    let Some(first) = first else { return Ok((0, None)) };
    let count = newest - first + 1;
    let kth = if k >= 1 && count >= k {
        r.c()
            .prepare("SELECT at FROM admissions WHERE org_id = ?1 AND provider = ?2 AND n = ?3")?
            .query_row(params![org.0, provider, newest - k + 1], |x| x.get(0))
            .optional()?
    } else {
        None
    };
    Ok((count, kth))
}

/// Records an admission at `at` (never before the previous one, so that
/// `n` and `at` order alike) and forgets those older than `forget_before`.
pub fn add_admission(w: &Writer<'_>, org: OrgId, provider: &str, at: i64, forget_before: i64) -> Result<()> {
    let (n, at) = match newest_admission(&w.reader(), org, provider)? {
        Some((n, last)) => (n + 1, at.max(last)),
        None => (1, at),
    };
    w.c().prepare("INSERT INTO admissions (org_id, provider, n, at) VALUES (?1, ?2, ?3, ?4)")?.execute(params![org.0, provider, n, at])?;
    w.c().prepare("DELETE FROM admissions WHERE org_id = ?1 AND provider = ?2 AND at <= ?3 AND n < ?4")?.execute(params![
        org.0,
        provider,
        forget_before,
        n
    ])?;
    Ok(())
}

fn add_open(w: &Writer<'_>, org: OrgId, month: &str, delta: i64) -> Result<()> {
    // Two parts (crate::wide): the month's open total can never overflow.
    let (exa, nanos) = crate::wide::split(i128::from(delta)).ok_or_else(|| crate::wide::too_large("a reservation"))?;
    w.c()
        .prepare(
            "INSERT INTO reservation_totals AS t (org_id, month, open_nanos, open_exa) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org_id, month) DO UPDATE SET
           open_nanos = (t.open_nanos + excluded.open_nanos) % 1000000000000000000,
           open_exa = t.open_exa + excluded.open_exa + (t.open_nanos + excluded.open_nanos) / 1000000000000000000",
        )?
        .execute(params![org.0, month, nanos, exa])?;
    Ok(())
}

/// Sum of the open, unexpired reservations of a month: the kept total less
/// the reservations already past their expiry.
pub fn reserved(r: &Reader<'_>, org: OrgId, month: &str, now: i64) -> Result<i128> {
    let total: i128 = r
        .c()
        .prepare("SELECT open_exa, open_nanos FROM reservation_totals WHERE org_id = ?1 AND month = ?2")?
        .query_row(params![org.0, month], |x| Ok(crate::wide::join(x.get(0)?, x.get(1)?)))
        .optional()?
        .unwrap_or(0);
    // Summed in two parts (whole units, and the nano-units below one), each
    // far from 2^63 whatever the number of reservations.
    let due: i128 = r.c()
        .prepare("SELECT coalesce(sum(amount_nanos / 1000000000), 0), coalesce(sum(amount_nanos % 1000000000), 0) FROM reservations WHERE org_id = ?1 AND month = ?2 AND settled_at IS NULL AND expires_at <= ?3")?
        .query_row(params![org.0, month, now], |x| Ok(i128::from(x.get::<i64>(0)?) * 1_000_000_000 + i128::from(x.get::<i64>(1)?)))?;
    Ok(total - due)
}

#[allow(clippy::too_many_arguments)]
pub fn add_reservation(
    w: &Writer<'_>,
    id: &str,
    org: OrgId,
    provider: &str,
    keys: &argus_domain::budget::CallKeys<'_>,
    month: &str,
    amount_nanos: i64,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    w.c().prepare(
        "INSERT INTO reservations (id, org_id, provider, month, amount_nanos, created_at, expires_at, operation, investigation, user_id, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![id, org.0, provider, month, amount_nanos, now, expires_at, keys.operation, keys.investigation, keys.user, keys.token])?;
    add_open(w, org, month, amount_nanos)
}

/// Sum of the open, unexpired reservations of a month whose call has
/// `value` in `key` (`provider`, `operation`, `investigation`, `user` or `token`):
/// what a scoped budget holds for calls in flight. Open reservations are
/// the calls in flight, few; they are summed in two parts as in [`reserved`].
pub fn reserved_matching(r: &Reader<'_>, org: OrgId, month: &str, now: i64, key: &str, value: &str) -> Result<i128> {
    let col = match key {
        "provider" => "provider",
        "operation" => "operation",
        "investigation" => "investigation",
        "user" => "user_id",
        "token" => "token",
        other => return Err(crate::StoreError::Corrupt(format!("{other:?} is not a key of a reservation"))),
    };
    let sql = format!(
        "SELECT coalesce(sum(amount_nanos / 1000000000), 0), coalesce(sum(amount_nanos % 1000000000), 0) FROM reservations
         WHERE org_id = ?1 AND month = ?2 AND settled_at IS NULL AND expires_at > ?3 AND {col} = ?4"
    );
    r.c()
        .prepare(&sql)?
        .query_row(params![org.0, month, now, value], |x| Ok(i128::from(x.get::<i64>(0)?) * 1_000_000_000 + i128::from(x.get::<i64>(1)?)))
}

/// Closes the organisation's reservations past their expiry (without a record).
pub fn expire_reservations(w: &Writer<'_>, org: OrgId, now: i64) -> Result<()> {
    let due: Vec<(String, String, i64)> = w
        .c()
        .prepare("SELECT id, month, amount_nanos FROM reservations WHERE org_id = ?1 AND settled_at IS NULL AND expires_at <= ?2")?
        .query_map(params![org.0, now], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))?
        .collect::<Result<_>>()?;
    for (id, month, amount) in due {
        w.c().prepare("UPDATE reservations SET settled_at = expires_at WHERE id = ?1")?.execute([&id])?;
        add_open(w, org, &month, -amount)?;
    }
    Ok(())
}

/// Settles an open reservation of the organisation with a record; false if
/// there is none (unknown, another organisation's, or closed already).
pub fn settle_reservation(w: &Writer<'_>, org: OrgId, id: &str, seq: i64, at: i64) -> Result<bool> {
    close_reservation(w, org, id, Some(seq), at)
}

/// Closes an open reservation of the organisation, with the record that
/// settles it or none; false if there is none open.
pub(crate) fn close_reservation(w: &Writer<'_>, org: OrgId, id: &str, seq: Option<i64>, at: i64) -> Result<bool> {
    let open: Option<(String, i64)> = w
        .c()
        .prepare("SELECT month, amount_nanos FROM reservations WHERE id = ?1 AND org_id = ?2 AND settled_at IS NULL")?
        .query_row(params![id, org.0], |x| Ok((x.get(0)?, x.get(1)?)))
        .optional()?;
    let Some((month, amount)) = open else { return Ok(false) };
    w.c().prepare("UPDATE reservations SET settled_at = ?3, record_seq = ?2 WHERE id = ?1")?.execute(params![id, seq, at])?;
    add_open(w, org, &month, -amount)?;
    Ok(true)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthRow {
    pub consecutive_failures: i64,
    pub cooldown_until: Option<i64>,
    pub last_outcome_at: Option<i64>,
}

pub fn health(r: &Reader<'_>, org: OrgId, provider: &str) -> Result<Option<HealthRow>> {
    r.c()
        .prepare("SELECT consecutive_failures, cooldown_until, last_outcome_at FROM provider_health WHERE org_id = ?1 AND provider = ?2")?
        .query_row(params![org.0, provider], |x| {
            Ok(HealthRow { consecutive_failures: x.get(0)?, cooldown_until: x.get(1)?, last_outcome_at: x.get(2)? })
        })
        .optional()
}

pub fn put_health(w: &Writer<'_>, org: OrgId, provider: &str, h: &HealthRow) -> Result<()> {
    w.c().prepare(
        "INSERT INTO provider_health (org_id, provider, consecutive_failures, cooldown_until, last_outcome_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (org_id, provider) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,
           cooldown_until = excluded.cooldown_until, last_outcome_at = excluded.last_outcome_at",
    )?
    .execute(params![org.0, provider, h.consecutive_failures, h.cooldown_until, h.last_outcome_at])?;
    Ok(())
}

/// Total spend (nano-units) of local days `[from, to)`, summed exactly in
/// i128 (one row a day).
pub fn spend(r: &Reader<'_>, org: OrgId, from_day: i32, to_day: i32) -> Result<i128> {
    Ok(daily_spend(r, org, from_day, to_day)?.iter().map(|x| x.1).sum())
}

/// Spend per local day of `[from, to)`, as `(day, nanos)`, days without spend left out.
pub fn daily_spend(r: &Reader<'_>, org: OrgId, from_day: i32, to_day: i32) -> Result<Vec<(i32, i128)>> {
    let mut st = r
        .c()
        .prepare("SELECT day, cost_exa, cost_nanos FROM agg_daily WHERE org_id = ?1 AND dim = 0 AND day >= ?2 AND day < ?3 ORDER BY day")?;
    let rows = st
        .query_map(params![org.0, from_day, to_day], |x| Ok((x.get(0)?, crate::wide::join(x.get(1)?, x.get(2)?))))?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}
