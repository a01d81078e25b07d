//! The webhook worker: delivers the outbox written with each alert, signed,
//! retried with backoff until a 2xx, each attempt recorded.
use crate::pool::App;
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

pub async fn worker(app: App, poll: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let client = webhook::client();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        let due = match app.pool.run("webhooks", |ops| ops.deliveries_due(20)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot read the webhook outbox");
                continue;
            }
        };
        for (d, org, url, version) in due {
            let sig = signature(&secret(&app.server_key, &org, version), &d.payload);
            let attempt = webhook::post(&client, &url, d.payload.clone(), &sig, d.id).await;
            let delivered = attempt.delivered();
            let status = attempt.describe();
            tracing::info!(org, delivery = d.id, attempt = d.attempts + 1, status, delivered, "webhook delivery");
            let retry = backoff(d.attempts);
            if let Err(e) = app.pool.run("webhooks", move |ops| ops.delivery_attempted(d.id, &status, delivered, retry)).await {
                tracing::warn!(error = %e.message, "cannot record a webhook attempt");
            }
        }
    }
}
