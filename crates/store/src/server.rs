//! Tokens and webhook deliveries.
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub org_id: OrgId,
    pub org_slug: String,
    pub role: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLS: &str = "t.id, t.org_id, o.slug, t.role, t.name, t.prefix, t.created_at, t.revoked_at";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        org_id: OrgId(r.get(1)?),
        org_slug: r.get(2)?,
        role: r.get(3)?,
        name: r.get(4)?,
        prefix: r.get(5)?,
        created_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

pub fn add_token(w: &Writer<'_>, org: OrgId, role: &str, name: &str, hash: &[u8], prefix: &str, now: i64) -> Result<TokenRow> {
    w.c().execute(
        "INSERT INTO tokens (org_id, role, name, hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![org.0, role, name, hash, prefix, now],
    )?;
    let id = w.c().last_insert_rowid();
    Ok(w.c().query_row(&format!("SELECT {TOKEN_COLS} FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.id = ?1"), [id], token_row)?)
}

/// The live (not revoked) token with this hash.
pub fn token_by_hash(r: &Reader<'_>, hash: &[u8]) -> Result<Option<TokenRow>> {
    Ok(r.c()
        .prepare(&format!("SELECT {TOKEN_COLS} FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.hash = ?1 AND t.revoked_at IS NULL"))?
        .query_row([hash], token_row)
        .optional()?)
}

pub fn tokens(r: &Reader<'_>, org: OrgId) -> Result<Vec<TokenRow>> {
    let mut st =
        r.c().prepare(&format!("SELECT {TOKEN_COLS} FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.org_id = ?1 ORDER BY t.id"))?;
    let rows = st.query_map([org.0], token_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn revoke_token(w: &Writer<'_>, org: OrgId, id: i64, now: i64) -> Result<bool> {
    Ok(w.c().execute("UPDATE tokens SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL", params![org.0, id, now])?
        == 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub url: String,
    pub version: i64,
    pub updated_at: i64,
}

pub fn webhook(r: &Reader<'_>, org: OrgId) -> Result<Option<WebhookRow>> {
    Ok(r.c()
        .prepare("SELECT url, version, updated_at FROM webhooks WHERE org_id = ?1")?
        .query_row([org.0], |x| Ok(WebhookRow { url: x.get(0)?, version: x.get(1)?, updated_at: x.get(2)? }))
        .optional()?)
}

pub fn put_webhook(w: &Writer<'_>, org: OrgId, url: &str, now: i64) -> Result<WebhookRow> {
    w.c().execute(
        "INSERT INTO webhooks (org_id, url, version, updated_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, version = version + 1, updated_at = excluded.updated_at",
        params![org.0, url, now],
    )?;
    webhook(&w.reader(), org)?.ok_or_else(|| crate::StoreError::Corrupt("webhook vanished".into()))
}

pub fn enqueue_delivery(w: &Writer<'_>, org: OrgId, alert_id: i64, payload: &str, now: i64) -> Result<()> {
    w.c().execute(
        "INSERT INTO webhook_deliveries (org_id, alert_id, payload, next_attempt_at) VALUES (?1, ?2, ?3, ?4)",
        params![org.0, alert_id, payload, now],
    )?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub org_id: OrgId,
    pub alert_id: i64,
    pub payload: String,
    pub attempts: i64,
    pub delivered_at: Option<i64>,
    pub last_status: Option<String>,
}

const DELIVERY_COLS: &str = "id, org_id, alert_id, payload, attempts, delivered_at, last_status";

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        org_id: OrgId(r.get(1)?),
        alert_id: r.get(2)?,
        payload: r.get(3)?,
        attempts: r.get(4)?,
        delivered_at: r.get(5)?,
        last_status: r.get(6)?,
    })
}

pub fn due_deliveries(r: &Reader<'_>, now: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE delivered_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"
    ))?;
    let rows = st.query_map(params![now, limit], delivery_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn deliveries(r: &Reader<'_>, org: OrgId) -> Result<Vec<DeliveryRow>> {
    let mut st = r.c().prepare(&format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE org_id = ?1 ORDER BY id"))?;
    let rows = st.query_map([org.0], delivery_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Records one attempt: delivered, or the next attempt's time.
pub fn record_attempt(w: &Writer<'_>, id: i64, status: &str, delivered_at: Option<i64>, next_attempt_at: i64) -> Result<()> {
    w.c().execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?2, delivered_at = ?3, next_attempt_at = ?4 WHERE id = ?1",
        params![id, status, delivered_at, next_attempt_at],
    )?;
    Ok(())
}
