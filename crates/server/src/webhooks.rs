//! The webhook worker: delivers the outbox written with each alert, signed,
//! retried with backoff until a 2xx, each attempt recorded.
use crate::state::App;
use argus_client::webhook;
use hmac::{Hmac, Mac};
use sha2::Sha256;
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

/// The signing secret of an organisation's webhook: derived from the server
/// key and the webhook's version, so that it is stored nowhere.
pub fn secret(server_key: &[u8], org: &str, version: i64) -> String {
    hmac_hex(server_key, format!("argus-usage webhook {org} {version}").as_bytes())
}

/// The `X-Argus-Signature` value of a body: `sha256=` HMAC-SHA256 hex.
pub fn signature(secret: &str, body: &str) -> String {
    format!("sha256={}", hmac_hex(secret.as_bytes(), body.as_bytes()))
}

/// Backoff after `attempts` failed attempts: 1 s, 2 s, 4 s... up to 5 minutes.
fn backoff(attempts: i64) -> chrono::Duration {
    chrono::Duration::seconds(1i64 << attempts.clamp(0, 8)).min(chrono::Duration::minutes(5))
}

/// Deliveries in flight at most, whatever the number of organisations.
const CONCURRENT: usize = 16;
/// Deliveries of one organisation taken per poll (fairness across them).
const PER_ORG: usize = 5;

/// Delivers the outbox: each organisation's due deliveries in order, on a
/// task of its own, organisations side by side (at most [`CONCURRENT`]), so
/// that one organisation's silent endpoint never delays another's alerts.
pub async fn worker(app: App, poll: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let client = webhook::client(app.allow_private_targets);
    let busy: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Default::default();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(poll) => {}
        }
        while tasks.try_join_next().is_some() {}
        let due = match app.pool.run("webhooks", |ops| ops.deliveries_due(200)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot read the webhook outbox");
                continue;
            }
        };
        let mut by_org: std::collections::BTreeMap<String, Vec<_>> = std::collections::BTreeMap::new();
        for d in due {
            let list = by_org.entry(d.1.clone()).or_default();
            if list.len() < PER_ORG {
                list.push(d);
            }
        }
        for (org, batch) in by_org {
            if !busy.lock().map(|mut b| b.insert(org.clone())).unwrap_or(false) {
                continue; // this organisation's deliveries are still under way
            }
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let (app, client, busy) = (app.clone(), client.clone(), busy.clone());
            tasks.spawn(async move {
                for (d, org, url, version) in batch {
                    let target = Target { org: &org, url: &url, version };
                    deliver(&app, &client, &target, d.id, d.attempts, d.payload).await;
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
}

/// Where an organisation's alerts go.
struct Target<'a> {
    org: &'a str,
    url: &'a str,
    version: i64,
}

/// One attempt of one delivery, recorded.
async fn deliver(app: &App, client: &webhook::Client, t: &Target<'_>, id: i64, attempts: i64, payload: String) {
    let sig = signature(&secret(&app.server_key, t.org, t.version), &payload);
    let attempt = webhook::post(client, t.url, payload, &sig, id).await;
    let delivered = attempt.delivered();
    let status = attempt.describe();
    tracing::info!(org = t.org, delivery = id, attempt = attempts + 1, status, delivered, "webhook delivery");
    let retry = backoff(attempts);
    if let Err(e) = app.pool.run("webhooks", move |ops| ops.delivery_attempted(id, &status, delivered, retry)).await {
        tracing::warn!(error = %e.message, "cannot record a webhook attempt");
    }
}
