//! Delivery of the alert outbox: to the organisation's signed webhook and to
//! its channels (Slack-compatible incoming webhooks, e-mail over SMTP,
//! signed webhook channels), retried with backoff until delivered, each
//! attempt recorded. The loop ([`worker`]) is the same in `serve` and in the
//! desktop app (which delivers a solo store's alerts while it runs); each
//! reads and records through its own [`Outbox`].
use crate::webhook::{self, Attempt};
use argus_ops::channels::{Due, Target};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    match HmacSha256::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            hex::encode(m.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A webhook's signing secret: derived from the server key and the
/// webhook's label (`argus_ops::channels::secret_label`), so that it is
/// stored nowhere.
pub fn secret(server_key: &[u8], label: &str) -> String {
    hmac_hex(server_key, label.as_bytes())
}

/// The signing secret of a channel just added, for its user to see once:
/// a signed webhook's (`None` for the other kinds, which sign nothing).
pub fn channel_secret(server_key: &[u8], c: &argus_ops::channels::ChannelView) -> Option<String> {
    (c.kind == "webhook").then(|| secret(server_key, &argus_ops::channels::secret_label(&c.org, c.id)))
}

/// `ARGUS_USAGE_SERVER_KEY` (16 characters or more), which webhook secrets
/// are derived from, when this process has it: `serve` and the command
/// line that shows a channel's secret must agree on it, and so does the
/// desktop app that signs a solo store's webhooks.
pub fn server_key_from_env() -> Option<Vec<u8>> {
    std::env::var("ARGUS_USAGE_SERVER_KEY").ok().filter(|k| k.len() >= 16).map(String::into_bytes)
}

/// The `X-Argus-Signature` value of a body: `sha256=` HMAC-SHA256 hex.
pub fn signature(secret: &str, body: &str) -> String {
    format!("sha256={}", hmac_hex(secret.as_bytes(), body.as_bytes()))
}

/// Backoff after `attempts` failed attempts: 1 s, 2 s, 4 s... up to 5 minutes.
pub fn backoff(attempts: i64) -> chrono::Duration {
    chrono::Duration::seconds(1i64 << attempts.clamp(0, 8)).min(chrono::Duration::minutes(5))
}

/// What sends deliveries: the webhook client, the server key webhooks are
/// signed with, the console's address for links, the rule for private targets.
#[derive(Clone)]
pub struct Sender {
    http: webhook::Client,
    server_key: Arc<Vec<u8>>,
    console_url: Option<String>,
    allow_private: bool,
}

impl Sender {
    pub fn new(server_key: Arc<Vec<u8>>, console_url: Option<String>, allow_private: bool) -> Sender {
        Sender { http: webhook::client(allow_private), server_key, console_url, allow_private }
    }

    /// Sends one delivery once.
    pub async fn send(&self, d: &Due) -> Attempt {
        match &d.target {
            Target::Webhook { url, secret_label } => {
                let sig = signature(&secret(&self.server_key, secret_label), &d.payload);
                webhook::post(&self.http, url, d.payload.clone(), &sig, d.id).await
            }
            Target::Slack { url } => {
                let body = serde_json::json!({"text": d.message(self.console_url.as_deref()).text}).to_string();
                webhook::post_plain(&self.http, url, body, d.id).await
            }
            Target::Email { to, smtp, from, smtp_user, password_env } => {
                let m = d.message(self.console_url.as_deref());
                let mail = crate::email::Mail { to, from, subject: &m.subject, text: &m.text, delivery: d.id, org: &d.org };
                let login = smtp_user.as_deref().map(|u| (u, password_env.as_deref().unwrap_or(argus_ops::channels::PASSWORD_ENV)));
                crate::email::send(smtp, login, &mail, self.allow_private).await
            }
        }
    }
}

/// Where the worker reads due deliveries and records attempts.
pub trait Outbox: Clone + Send + Sync + 'static {
    fn due(&self, limit: i64) -> impl Future<Output = Result<Vec<Due>, String>> + Send;
    fn attempted(
        &self,
        id: i64,
        status: String,
        delivered: bool,
        retry_in: chrono::Duration,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Deliveries in flight at most, whatever the number of organisations.
const CONCURRENT: usize = 16;
/// Deliveries of one organisation taken per poll (fairness across them).
const PER_ORG: usize = 5;

/// Whether this process is the deliverer now ([`argus_ops::DelivererLock`]:
/// a file lock, or a PostgreSQL advisory lock), asked on a blocking thread.
async fn lead(mut lock: argus_ops::DelivererLock) -> (Option<argus_ops::DelivererLock>, bool) {
    match tokio::task::spawn_blocking(move || {
        let leads = lock.lead();
        (lock, leads)
    })
    .await
    {
        Ok((lock, leads)) => (Some(lock), leads),
        Err(_) => (None, false),
    }
}

/// Delivers the outbox of the store at `db`: each organisation's due
/// deliveries in order, on a task of its own, organisations side by side
/// (at most [`CONCURRENT`]), so that one organisation's silent endpoint
/// never delays another's alerts. Only while this process holds the
/// store's deliverer lock (`serve` and a desktop window open on the same
/// file, or several servers on one PostgreSQL database, would otherwise
/// each send every alert); another process holding it is asked again at
/// every poll.
pub async fn worker<O: Outbox>(
    db: &std::path::Path,
    outbox: O,
    sender: Sender,
    poll: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut lock = Some(argus_ops::DelivererLock::new(db));
    let busy: Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Default::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(poll) => {}
        }
        while tasks.try_join_next().is_some() {}
        let (kept, leads) = lead(lock.take().unwrap_or_else(|| argus_ops::DelivererLock::new(db))).await;
        lock = kept;
        if !leads {
            continue; // another process delivers this store's alerts
        }
        let due = match outbox.due(200).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alert outbox");
                continue;
            }
        };
        let mut by_org: std::collections::BTreeMap<String, Vec<Due>> = std::collections::BTreeMap::new();
        for d in due {
            let list = by_org.entry(d.org.clone()).or_default();
            if list.len() < PER_ORG {
                list.push(d);
            }
        }
        for (org, batch) in by_org {
            if !busy.lock().map(|mut b| b.insert(org.clone())).unwrap_or(false) {
                continue; // this organisation's deliveries are still under way
            }
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let (outbox, sender, busy) = (outbox.clone(), sender.clone(), busy.clone());
            tasks.spawn(async move {
                for d in batch {
                    let attempt = sender.send(&d).await;
                    let (delivered, status) = (attempt.delivered(), attempt.describe());
                    tracing::info!(org = d.org, delivery = d.id, attempt = d.attempts + 1, status, delivered, "alert delivery");
                    if let Err(e) = outbox.attempted(d.id, status, delivered, backoff(d.attempts)).await {
                        tracing::warn!(error = %e, "cannot record a delivery attempt");
                    }
                }
                if let Ok(mut b) = busy.lock() {
                    b.remove(&org);
                }
                drop(slot);
            });
        }
    }
    // Stopping: deliveries under way are abandoned unrecorded, so they are
    // attempted again after a restart (at least once, never lost).
    tasks.shutdown().await;
    drop(lock);
}
