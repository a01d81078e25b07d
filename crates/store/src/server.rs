//! Tokens and webhook deliveries.
use crate::sql::{params, Optional, Row};
use crate::{Reader, Result, Writer};
use argus_domain::ids::OrgId;

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

fn token_row(r: &Row<'_>) -> Result<TokenRow> {
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
    let id = w.c().insert_id(
        "INSERT INTO tokens (org_id, role, name, hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![org.0, role, name, hash, prefix, now],
        "id",
    )?;
    w.c().query_row(&format!("SELECT {TOKEN_COLS} FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.id = ?1"), [id], token_row)
}

/// The live (not revoked) token with this hash.
pub fn token_by_hash(r: &Reader<'_>, hash: &[u8]) -> Result<Option<TokenRow>> {
    r.c()
        .prepare(&format!("SELECT {TOKEN_COLS} FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.hash = ?1 AND t.revoked_at IS NULL"))?
        .query_row([hash], token_row)
        .optional()
}

pub fn tokens(r: &Reader<'_>, org: OrgId) -> Result<Vec<TokenRow>> {
    let mut st =
        r.c().prepare(&format!("SELECT {TOKEN_COLS} FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.org_id = ?1 ORDER BY t.id"))?;
    let rows = st.query_map([org.0], token_row)?.collect::<Result<Vec<_>>>()?;
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
    r.c()
        .prepare("SELECT url, version, updated_at FROM webhooks WHERE org_id = ?1")?
        .query_row([org.0], |x| Ok(WebhookRow { url: x.get(0)?, version: x.get(1)?, updated_at: x.get(2)? }))
        .optional()
}

pub fn put_webhook(w: &Writer<'_>, org: OrgId, url: &str, now: i64) -> Result<WebhookRow> {
    w.c().execute(
        "INSERT INTO webhooks AS t (org_id, url, version, updated_at) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, version = t.version + 1, updated_at = excluded.updated_at",
        params![org.0, url, now],
    )?;
    webhook(&w.reader(), org)?.ok_or_else(|| crate::StoreError::Corrupt("webhook vanished".into()))
}

/// Queues an alert for the organisation's webhook (`channel` `None`) or one
/// channel; an alert already queued for that channel is left as it is.
pub fn enqueue_delivery(w: &Writer<'_>, org: OrgId, alert_id: i64, channel: Option<i64>, payload: &str, now: i64) -> Result<()> {
    w.c().execute(
        "INSERT INTO webhook_deliveries (org_id, alert_id, channel_id, payload, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![org.0, alert_id, channel, payload, now],
    )?;
    Ok(())
}

/// Where a channel sends: what `alerts channel add` took. Only the name of
/// the variable holding an SMTP password is kept, never the password.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelTarget {
    pub kind: String,
    pub url: Option<String>,
    pub email_to: Option<String>,
    pub smtp: Option<String>,
    pub email_from: Option<String>,
    pub smtp_user: Option<String>,
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub id: i64,
    pub org_id: OrgId,
    pub target: ChannelTarget,
    pub created_at: i64,
    pub removed_at: Option<i64>,
}

const CHANNEL_COLS: &str = "id, org_id, kind, url, email_to, smtp, email_from, smtp_user, password_env, created_at, removed_at";

fn channel_row(r: &Row<'_>) -> Result<ChannelRow> {
    Ok(ChannelRow {
        id: r.get(0)?,
        org_id: OrgId(r.get(1)?),
        target: ChannelTarget {
            kind: r.get(2)?,
            url: r.get(3)?,
            email_to: r.get(4)?,
            smtp: r.get(5)?,
            email_from: r.get(6)?,
            smtp_user: r.get(7)?,
            password_env: r.get(8)?,
        },
        created_at: r.get(9)?,
        removed_at: r.get(10)?,
    })
}

pub fn add_channel(w: &Writer<'_>, org: OrgId, t: &ChannelTarget, now: i64) -> Result<ChannelRow> {
    let id = w.c().insert_id(
        "INSERT INTO alert_channels (org_id, kind, url, email_to, smtp, email_from, smtp_user, password_env, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![org.0, t.kind, t.url, t.email_to, t.smtp, t.email_from, t.smtp_user, t.password_env, now],
        "id",
    )?;
    channel(&w.reader(), id)?.ok_or_else(|| crate::StoreError::Corrupt("channel vanished".into()))
}

/// A channel by id, removed or not.
pub fn channel(r: &Reader<'_>, id: i64) -> Result<Option<ChannelRow>> {
    r.c().prepare(&format!("SELECT {CHANNEL_COLS} FROM alert_channels WHERE id = ?1"))?.query_row([id], channel_row).optional()
}

/// The organisation's channels in use, oldest first.
pub fn channels(r: &Reader<'_>, org: OrgId) -> Result<Vec<ChannelRow>> {
    let mut st =
        r.c().prepare(&format!("SELECT {CHANNEL_COLS} FROM alert_channels WHERE org_id = ?1 AND removed_at IS NULL ORDER BY id"))?;
    let rows = st.query_map([org.0], channel_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// Takes a channel out of use; its deliveries not yet made are dropped
/// with it (marked `removed`). False when the organisation has no such channel.
pub fn remove_channel(w: &Writer<'_>, org: OrgId, id: i64, now: i64) -> Result<bool> {
    let n = w.c().execute(
        "UPDATE alert_channels SET removed_at = ?3 WHERE id = ?1 AND org_id = ?2 AND removed_at IS NULL",
        params![id, org.0, now],
    )?;
    if n > 0 {
        w.c().execute(
            "UPDATE webhook_deliveries SET last_status = 'channel removed', delivered_at = NULL, next_attempt_at = 9223372036854775807
             WHERE channel_id = ?1 AND delivered_at IS NULL",
            [id],
        )?;
    }
    Ok(n > 0)
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
    /// The channel, or `None` for the organisation's webhook.
    pub channel_id: Option<i64>,
}

const DELIVERY_COLS: &str = "id, org_id, alert_id, payload, attempts, delivered_at, last_status, channel_id";

fn delivery_row(r: &Row<'_>) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        org_id: OrgId(r.get(1)?),
        alert_id: r.get(2)?,
        payload: r.get(3)?,
        attempts: r.get(4)?,
        delivered_at: r.get(5)?,
        last_status: r.get(6)?,
        channel_id: r.get(7)?,
    })
}

pub fn due_deliveries(r: &Reader<'_>, now: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
    let mut st = r.c().prepare(&format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE delivered_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"
    ))?;
    let rows = st.query_map(params![now, limit], delivery_row)?.collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn deliveries(r: &Reader<'_>, org: OrgId) -> Result<Vec<DeliveryRow>> {
    let mut st = r.c().prepare(&format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE org_id = ?1 ORDER BY id"))?;
    let rows = st.query_map([org.0], delivery_row)?.collect::<Result<Vec<_>>>()?;
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
