//! The alert outbox of the server: the delivery loop is the client's
//! (`argus_client::outbox::worker`, shared with the desktop app), reading
//! and recording through the server's pool of connections.
use crate::state::App;
use argus_client::outbox::{self, Outbox};
use argus_ops::channels::Due;

/// The signing secret of an organisation's webhook: derived from the server
/// key and the webhook's version, so that it is stored nowhere.
pub fn secret(server_key: &[u8], org: &str, version: i64) -> String {
    outbox::secret(server_key, &argus_ops::channels::webhook_secret_label(org, version))
}

impl Outbox for App {
    async fn due(&self, limit: i64) -> Result<Vec<Due>, String> {
        self.pool.run("webhooks", move |ops| ops.deliveries_due(limit)).await.map_err(|e| e.message)
    }

    async fn attempted(&self, id: i64, status: String, delivered: bool, retry_in: chrono::Duration) -> Result<(), String> {
        self.pool.run("webhooks", move |ops| ops.delivery_attempted(id, &status, delivered, retry_in)).await.map_err(|e| e.message)
    }
}
