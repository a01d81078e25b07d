//! A solo store's alerts delivered while the window runs: the loop of
//! `serve` (`argus_client::outbox::worker`) over a connection of its own.
//! A store linked to a server fires no alerts of its own (the server
//! delivers them), so there is nothing queued to send for it; a store that
//! `serve` serves on this machine too is delivered by one of the two (the
//! deliverer lock, `argus_ops::DelivererLock`).
//!
//! Targets on this machine or a private network are allowed: a channel got
//! into this store only by its own user (`alerts channel add` refuses them
//! without `--allow-private-targets`), unlike a server's, which any admin
//! token may set from afar.
use argus_client::outbox::{self, Outbox};
use argus_ops::channels::Due;
use argus_ops::{Ops, OpsError};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Local(Arc<Mutex<Ops>>);

impl Local {
    async fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Ops) -> Result<T, OpsError> + Send + 'static) -> Result<T, String> {
        let me = self.clone();
        tauri::async_runtime::spawn_blocking(move || {
            let mut ops = me.0.lock().map_err(|_| "the outbox's store lock is poisoned".to_string())?;
            f(&mut ops).map_err(|e| e.message)
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

impl Outbox for Local {
    async fn due(&self, limit: i64) -> Result<Vec<Due>, String> {
        self.with(move |ops| ops.deliveries_due(limit)).await
    }

    async fn attempted(&self, id: i64, status: String, delivered: bool, retry_in: chrono::Duration) -> Result<(), String> {
        self.with(move |ops| ops.delivery_attempted(id, &status, delivered, retry_in)).await
    }
}

/// Starts delivering; the loop runs until the returned sender is dropped
/// or sends `true`.
pub fn start(path: &std::path::Path) -> Option<tokio::sync::watch::Sender<bool>> {
    let ops = crate::open_ops(path).ok()?;
    // Webhook channels are signed with ARGUS_USAGE_SERVER_KEY when it is set
    // (as `alerts channel add` shows the secret), else with a key of this run.
    let key =
        outbox::server_key_from_env().unwrap_or_else(|| format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).into_bytes());
    let sender = outbox::Sender::new(Arc::new(key), None, true);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let db = path.to_path_buf();
    let local = Local(Arc::new(Mutex::new(ops)));
    tauri::async_runtime::spawn(async move { outbox::worker(&db, local, sender, std::time::Duration::from_secs(2), stop_rx).await });
    Some(stop_tx)
}
