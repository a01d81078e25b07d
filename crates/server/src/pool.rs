//! A few `Ops`, each its own SQLite connection, lent to one call at a time
//! on a blocking thread. SQLite serialises the writers (busy timeout), WAL
//! lets readers run beside them.
use crate::{ApiError, Config};
use argus_domain::time::Clock;
use argus_ops::{Ops, OpsError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// What every handler and the webhook worker share: the connections and
/// the key webhook secrets are derived from.
#[derive(Clone)]
pub struct App {
    pub pool: Arc<Pool>,
    pub server_key: Arc<Vec<u8>>,
}

pub struct Pool {
    free: Mutex<Vec<Ops>>,
    permits: Semaphore,
    db: PathBuf,
    clock: Arc<dyn Clock>,
}

impl Pool {
    pub fn open(c: &Config) -> Result<Pool, ApiError> {
        let mut free = Vec::new();
        for _ in 0..c.connections.max(1) {
            let ops = Ops::open(&c.db, c.clock.clone(), "server").map_err(ApiError::from)?;
            // Requests never pay for a checkpoint: `checkpointer` does them in the background.
            ops.checkpoint_in_background().map_err(ApiError::from)?;
            free.push(ops);
        }
        Ok(Pool { permits: Semaphore::new(free.len()), free: Mutex::new(free), db: c.db.clone(), clock: c.clock.clone() })
    }

    /// Runs `f` with a connection, changes made under `actor`.
    pub async fn run<T, F>(&self, actor: &str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ops) -> Result<T, OpsError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| ApiError::internal("the server is shutting down".into()))?;
        let taken = self.free.lock().map_err(|_| ApiError::internal("pool lock poisoned".into()))?.pop();
        let mut ops = match taken {
            Some(o) => o,
            None => Ops::open(&self.db, self.clock.clone(), "server")?,
        };
        ops.set_actor(actor);
        let joined = tokio::task::spawn_blocking(move || {
            let out = f(&mut ops);
            (ops, out)
        })
        .await;
        match joined {
            Ok((ops, out)) => {
                if let Ok(mut free) = self.free.lock() {
                    free.push(ops);
                }
                out.map_err(ApiError::from)
            }
            // The connection is lost with the panicked task; the next call opens a new one.
            Err(_) => Err(ApiError::internal("the operation failed unexpectedly".into())),
        }
    }
}

/// Checkpoints the WAL every `every`, off the request path, until `stop`.
pub async fn checkpointer(c: Config, every: std::time::Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Ok(ops) = Ops::open(&c.db, c.clock.clone(), "checkpoint") else { return };
    let ops = Arc::new(Mutex::new(ops));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let ops = ops.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(o) = ops.lock() {
                if let Err(e) = o.checkpoint() {
                    tracing::warn!(error = %e, "checkpoint failed");
                }
            }
        })
        .await;
    }
}
