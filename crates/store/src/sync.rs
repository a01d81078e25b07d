//! Sync state: the link to a server, the price-id map, the outbox of local
//! edits, and writes that take the server's values exactly (its versions,
//! its ids, its times).
use crate::controls::{AlertRow, BudgetRow, ProviderRow};
use crate::sql::{params, Optional, Row};
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub server: String,
    pub org_id: OrgId,
    pub remote_org: String,
    pub cursor: i64,
    pub audit_cursor: i64,
    pub prices_version: i64,
    pub linked_at: i64,
    pub last_synced_at: Option<i64>,
    pub last_error: Option<String>,
    pub server_version: Option<String>,
}

pub fn link(r: &Reader<'_>) -> Result<Option<LinkRow>> {
    r.c().prepare(
        "SELECT server, org_id, remote_org, cursor, audit_cursor, prices_version, linked_at, last_synced_at, last_error, server_version FROM sync_link WHERE id = 1",
    )?
    .query_row(params![], |x| {
        Ok(LinkRow {
            server: x.get(0)?,
            org_id: OrgId(x.get(1)?),
            remote_org: x.get(2)?,
            cursor: x.get(3)?,
            audit_cursor: x.get(4)?,
            prices_version: x.get(5)?,
            linked_at: x.get(6)?,
            last_synced_at: x.get(7)?,
            last_error: x.get(8)?,
            server_version: x.get(9)?,
        })
    })
    .optional()
}

/// Whether `org` is the organisation this store follows.
pub fn is_linked(r: &Reader<'_>, org: OrgId) -> Result<bool> {
    r.c().prepare("SELECT 1 FROM sync_link WHERE org_id = ?1")?.exists([org.0])
}

pub fn set_link(w: &Writer<'_>, server: &str, org: OrgId, remote_org: &str, server_version: &str, now: i64) -> Result<()> {
    w.c().execute(
        "INSERT INTO sync_link (id, server, org_id, remote_org, linked_at, server_version) VALUES (1, ?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET server = excluded.server, server_version = excluded.server_version, last_error = NULL",
        params![server, org.0, remote_org, now, server_version],
    )?;
    Ok(())
}

pub fn set_cursor(w: &Writer<'_>, cursor: i64) -> Result<()> {
    w.c().prepare("UPDATE sync_link SET cursor = ?1 WHERE id = 1")?.execute([cursor])?;
    Ok(())
}

pub fn set_audit_cursor(w: &Writer<'_>, cursor: i64) -> Result<()> {
    w.c()
        .execute("UPDATE sync_link SET audit_cursor = CASE WHEN audit_cursor > ?1 THEN audit_cursor ELSE ?1 END WHERE id = 1", [cursor])?;
    Ok(())
}

pub fn set_prices_version(w: &Writer<'_>, v: i64) -> Result<()> {
    w.c().execute("UPDATE sync_link SET prices_version = ?1 WHERE id = 1", [v])?;
    Ok(())
}

/// Records the end of a sync: its time when it succeeded, else the error.
pub fn finish(w: &Writer<'_>, at: Option<i64>, error: Option<&str>, server_version: Option<&str>) -> Result<()> {
    w.c().execute(
        "UPDATE sync_link SET last_synced_at = coalesce(?1, last_synced_at), last_error = ?2, server_version = coalesce(?3, server_version) WHERE id = 1",
        params![at, error, server_version],
    )?;
    Ok(())
}

pub fn map_price(w: &Writer<'_>, org: OrgId, remote_id: i64, local_id: i64) -> Result<()> {
    w.c()
        .prepare("INSERT INTO remote_prices (org_id, remote_id, local_id) VALUES (?1, ?2, ?3) ON CONFLICT (org_id, remote_id) DO UPDATE SET local_id = excluded.local_id")?
        .execute(params![org.0, remote_id, local_id])?;
    Ok(())
}

pub fn price_map(r: &Reader<'_>, org: OrgId) -> Result<std::collections::HashMap<i64, i64>> {
    let mut st = r.c().prepare("SELECT remote_id, local_id FROM remote_prices WHERE org_id = ?1")?;
    let rows = st.query_map([org.0], |x| Ok((x.get(0)?, x.get(1)?)))?.collect::<Result<_>>()?;
    Ok(rows)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub object: String,
    pub payload: String,
    pub base_version: Option<i64>,
    pub state: String,
    pub server_value: Option<String>,
    pub server_version: Option<i64>,
    pub last_error: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const OUTBOX_COLS: &str =
    "id, object, payload, base_version, state, server_value, server_version, last_error, attempts, created_at, updated_at";

fn outbox_row(x: &Row<'_>) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: x.get(0)?,
        object: x.get(1)?,
        payload: x.get(2)?,
        base_version: x.get(3)?,
        state: x.get(4)?,
        server_value: x.get(5)?,
        server_version: x.get(6)?,
        last_error: x.get(7)?,
        attempts: x.get(8)?,
        created_at: x.get(9)?,
        updated_at: x.get(10)?,
    })
}

/// Queues an edit of `object`. A pending edit of the same object is
/// replaced by the new payload but keeps the version it was first made
/// against; an edit on top of a conflict stays a conflict.
pub fn enqueue(w: &Writer<'_>, org: OrgId, object: &str, payload: &str, base_version: Option<i64>, now: i64) -> Result<()> {
    w.c().execute(
        "INSERT INTO sync_outbox (org_id, object, payload, base_version, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)
         ON CONFLICT (org_id, object) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at,
           state = CASE WHEN state = 'conflict' THEN 'conflict' ELSE 'pending' END, last_error = NULL",
        params![org.0, object, payload, base_version, now],
    )?;
    Ok(())
}

pub fn outbox(r: &Reader<'_>, org: OrgId) -> Result<Vec<OutboxRow>> {
    let mut st = r.c().prepare(&format!("SELECT {OUTBOX_COLS} FROM sync_outbox WHERE org_id = ?1 ORDER BY id"))?;
    let rows = st.query_map([org.0], outbox_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn outbox_item(r: &Reader<'_>, org: OrgId, id: i64) -> Result<Option<OutboxRow>> {
    r.c()
        .query_row(&format!("SELECT {OUTBOX_COLS} FROM sync_outbox WHERE org_id = ?1 AND id = ?2"), params![org.0, id], outbox_row)
        .optional()
}

/// Whether an edit of `object` waits in the outbox (then a pull leaves the local value alone).
pub fn has_edit(r: &Reader<'_>, org: OrgId, object: &str) -> Result<bool> {
    r.c().prepare("SELECT 1 FROM sync_outbox WHERE org_id = ?1 AND object = ?2")?.exists(params![org.0, object])
}

pub fn remove_edit(w: &Writer<'_>, id: i64) -> Result<()> {
    w.c().execute("DELETE FROM sync_outbox WHERE id = ?1", [id])?;
    Ok(())
}

/// Marks an edit as a conflict with the server's current value.
pub fn set_conflict(w: &Writer<'_>, id: i64, server_value: &str, server_version: Option<i64>, now: i64) -> Result<()> {
    w.c().execute(
        "UPDATE sync_outbox SET state = 'conflict', server_value = ?2, server_version = ?3, attempts = attempts + 1, last_error = NULL, updated_at = ?4 WHERE id = ?1",
        params![id, server_value, server_version, now],
    )?;
    Ok(())
}

pub fn set_refused(w: &Writer<'_>, id: i64, error: &str, now: i64) -> Result<()> {
    w.c().execute(
        "UPDATE sync_outbox SET state = 'refused', last_error = ?2, attempts = attempts + 1, updated_at = ?3 WHERE id = ?1",
        params![id, error, now],
    )?;
    Ok(())
}

/// Makes a conflicting edit pending again, now against `base_version`.
pub fn rebase(w: &Writer<'_>, id: i64, base_version: Option<i64>, now: i64) -> Result<()> {
    w.c().execute(
        "UPDATE sync_outbox SET state = 'pending', base_version = ?2, server_value = NULL, server_version = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, base_version, now],
    )?;
    Ok(())
}

/// Writes a budget exactly as the server has it (its version and time).
pub fn put_budget_exact(w: &Writer<'_>, org: OrgId, b: &BudgetRow) -> Result<()> {
    let t = serde_json::to_string(&b.thresholds).unwrap_or_else(|_| "[]".into());
    w.c().execute(
        "INSERT INTO budgets (org_id, scope, month, amount_nanos, thresholds, hard_limit, version, updated_at, spike_factor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (org_id, scope, month) DO UPDATE SET amount_nanos = excluded.amount_nanos, thresholds = excluded.thresholds, hard_limit = excluded.hard_limit,
           version = excluded.version, updated_at = excluded.updated_at, spike_factor = excluded.spike_factor",
        params![org.0, b.scope, b.month, b.amount_nanos, t, b.hard_limit, b.version, b.updated_at, b.spike_factor],
    )?;
    Ok(())
}

/// Writes a provider's settings exactly as the server has them.
pub fn put_provider_exact(w: &Writer<'_>, org: OrgId, p: &ProviderRow) -> Result<()> {
    w.c().execute(
        "INSERT INTO provider_settings (org_id, provider, enabled, priority, hourly_limit, daily_limit, note, version, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (org_id, provider) DO UPDATE SET enabled = excluded.enabled, priority = excluded.priority, hourly_limit = excluded.hourly_limit,
           daily_limit = excluded.daily_limit, note = excluded.note, version = excluded.version, updated_at = excluded.updated_at",
        params![org.0, p.provider, p.enabled, p.priority, p.hourly_limit, p.daily_limit, p.note, p.version, p.updated_at],
    )?;
    Ok(())
}

/// Writes an alert as the server has it, keyed by scope, kind, month and threshold.
pub fn put_alert_exact(w: &Writer<'_>, org: OrgId, a: &AlertRow, remote_id: i64) -> Result<()> {
    let (exa, spent) = crate::wide::split(a.spent_nanos).ok_or_else(|| crate::wide::too_large("an alert's spend"))?;
    w.c().execute(
        "INSERT INTO alerts (org_id, month, threshold, fired_at, spent_nanos, amount_nanos, acknowledged_at, acknowledged_by, remote_id, spent_exa, scope, kind, day, crosses_on) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (org_id, scope, kind, month, threshold, day) DO UPDATE SET fired_at = excluded.fired_at, spent_nanos = excluded.spent_nanos, spent_exa = excluded.spent_exa,
           amount_nanos = excluded.amount_nanos, acknowledged_at = excluded.acknowledged_at, acknowledged_by = excluded.acknowledged_by,
           remote_id = excluded.remote_id",
        params![org.0, a.month, a.threshold, a.fired_at, spent, a.amount_nanos, a.acknowledged_at, a.acknowledged_by, remote_id, exa, a.scope, a.kind, a.day, a.crosses_on],
    )?;
    Ok(())
}

pub fn alert_remote_id(r: &Reader<'_>, org: OrgId, id: i64) -> Result<Option<i64>> {
    Ok(r.c()
        .query_row("SELECT remote_id FROM alerts WHERE org_id = ?1 AND id = ?2", params![org.0, id], |x| x.get(0))
        .optional()?
        .flatten())
}

/// Stores an audit entry pulled from the server (once: keyed by its id there).
#[allow(clippy::too_many_arguments)]
pub fn put_remote_audit(
    w: &Writer<'_>,
    org: OrgId,
    remote_id: i64,
    at: i64,
    actor: &str,
    action: &str,
    object: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<()> {
    w.c()
        .prepare(
            "INSERT INTO audit (org_id, at, actor, action, object, before, after, remote_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (org_id, remote_id) WHERE remote_id IS NOT NULL DO NOTHING",
        )?
        .execute(params![org.0, at, actor, action, object, before, after, remote_id])?;
    Ok(())
}

pub fn delete_budget(w: &Writer<'_>, org: OrgId, scope: &str, month: &str) -> Result<()> {
    w.c().execute("DELETE FROM budgets WHERE org_id = ?1 AND scope = ?2 AND month = ?3", params![org.0, scope, month])?;
    Ok(())
}

pub fn delete_provider(w: &Writer<'_>, org: OrgId, provider: &str) -> Result<()> {
    w.c().execute("DELETE FROM provider_settings WHERE org_id = ?1 AND provider = ?2", params![org.0, provider])?;
    Ok(())
}

/// Forgets the link and the outbox; the data stays.
pub fn unlink(w: &Writer<'_>) -> Result<()> {
    w.c().execute("DELETE FROM sync_outbox", params![])?;
    w.c().execute("DELETE FROM sync_link", params![])?;
    Ok(())
}
