//! A few `Ops`, each its own store connection (SQLite or PostgreSQL), lent
//! to one call at a time on a blocking thread; one whose PostgreSQL
//! connection was lost is dropped and replaced. SQLite serialises the
//! writers (busy timeout), WAL lets readers run beside them; PostgreSQL's
//! writers serialise on an advisory lock (`argus_store::Store::write`).
use crate::{ApiError, Config};
use argus_domain::time::Clock;
use argus_ops::{Ops, OpsError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Report downloads in progress: at most `PER_TOKEN` a token, `PER_ADDRESS`
/// an address, and `total` in all (half the pool, so that downloads never
/// take every store connection).
pub struct Downloads {
    total: usize,
    by: Mutex<InFlight>,
}

/// Downloads under way: in all, by token id, by address.
type InFlight = (usize, std::collections::HashMap<i64, usize>, std::collections::HashMap<std::net::IpAddr, usize>);

/// A download's place; given back when dropped.
pub struct DownloadSlot {
    downloads: Arc<Downloads>,
    token: i64,
    ip: std::net::IpAddr,
}

impl Downloads {
    pub const PER_TOKEN: usize = 2;
    pub const PER_ADDRESS: usize = 4;

    pub fn new(connections: usize) -> Downloads {
        Downloads { total: (connections / 2).max(1), by: Mutex::default() }
    }

    pub fn acquire(self: &Arc<Self>, token: i64, ip: std::net::IpAddr) -> Result<DownloadSlot, String> {
        let mut g = self.by.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_token, by_ip) = &mut *g;
        if by_token.get(&token).copied().unwrap_or(0) >= Self::PER_TOKEN {
            return Err(format!("this token has {} downloads under way already", Self::PER_TOKEN));
        }
        if by_ip.get(&ip).copied().unwrap_or(0) >= Self::PER_ADDRESS {
            return Err(format!("this address has {} downloads under way already", Self::PER_ADDRESS));
        }
        if *all >= self.total {
            return Err(format!("the server has {} downloads under way, its most", self.total));
        }
        *all += 1;
        *by_token.entry(token).or_default() += 1;
        *by_ip.entry(ip).or_default() += 1;
        Ok(DownloadSlot { downloads: self.clone(), token, ip })
    }
}

impl Drop for DownloadSlot {
    fn drop(&mut self) {
        let mut g = self.downloads.by.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_token, by_ip) = &mut *g;
        *all = all.saturating_sub(1);
        if let Some(n) = by_token.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                by_token.remove(&self.token);
            }
        }
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
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
    /// The server's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub async fn run<T, F>(&self, actor: &str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ops) -> Result<T, OpsError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| ApiError::internal("the server is shutting down".into()))?;
        let taken = self.free.lock().map_err(|_| ApiError::internal("pool lock poisoned".into()))?.pop();
        let (db, clock, actor) = (self.db.clone(), self.clock.clone(), actor.to_string());
        let joined = tokio::task::spawn_blocking(move || {
            // A connection lost (PostgreSQL restarted, the network) is
            // replaced by a new one; while the database is away that fails
            // fast, and the request with it (503 `unavailable`).
            let mut ops = match taken {
                Some(o) => o,
                None => Ops::open(&db, clock, "server")?,
            };
            ops.set_actor(&actor);
            let out = f(&mut ops);
            Ok::<_, OpsError>((ops, out))
        })
        .await;
        match joined {
            Ok(Ok((ops, out))) => {
                if ops.is_usable() {
                    if let Ok(mut free) = self.free.lock() {
                        free.push(ops);
                    }
                }
                out.map_err(ApiError::from)
            }
            Ok(Err(e)) => Err(ApiError::from(e)),
            // The connection is lost with the panicked task; the next call opens a new one.
            Err(_) => Err(ApiError::internal("the operation failed unexpectedly".into())),
        }
    }
}

/// Checkpoints the WAL every `every`, off the request path, until `stop`.
pub async fn checkpointer(c: Config, every: std::time::Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    if argus_ops::is_postgres(&c.db) {
        return; // PostgreSQL checkpoints by itself
    }
    let Ok(ops) = Ops::open(&c.db, c.clock.clone(), "checkpoint") else { return };
    let ops = Arc::new(Mutex::new(ops));
    let mut warn = Repeated::default();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let ops = ops.clone();
        let result = tokio::task::spawn_blocking(move || ops.lock().map(|o| o.checkpoint()).unwrap_or(Ok(()))).await;
        match result {
            Ok(Err(e)) => {
                warn.failed(&e.message, std::time::Instant::now());
            }
            Ok(Ok(())) => warn.succeeded(),
            Err(_) => {}
        }
    }
}

/// Warnings of a failure that repeats (a full disk makes every checkpoint
/// fail, 20 times a second): the first is logged, then one a minute with
/// how many were left out, and the recovery.
#[derive(Default)]
struct Repeated {
    failing_since: Option<std::time::Instant>,
    last_logged: Option<std::time::Instant>,
    left_out: u64,
}

impl Repeated {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    /// Records a failure; true when it was logged.
    fn failed(&mut self, error: &str, now: std::time::Instant) -> bool {
        self.failing_since.get_or_insert(now);
        if self.last_logged.is_some_and(|t| now.duration_since(t) < Self::EVERY) {
            self.left_out += 1;
            return false;
        }
        tracing::warn!(
            error,
            repeated_since_last_warning = self.left_out,
            "checkpoint failed; it is retried every few milliseconds and this warning repeats once a minute while it fails"
        );
        self.last_logged = Some(now);
        self.left_out = 0;
        true
    }

    fn succeeded(&mut self) {
        if let Some(since) = self.failing_since.take() {
            tracing::info!(failed_for_s = since.elapsed().as_secs(), "checkpoints succeed again");
        }
        self.last_logged = None;
        self.left_out = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Repeated;
    use std::time::{Duration, Instant};

    #[test]
    fn a_repeated_failure_is_logged_once_a_minute() {
        let t0 = Instant::now();
        let mut r = Repeated::default();
        let logged: Vec<bool> = (0..2400).map(|i| r.failed("disk full", t0 + Duration::from_millis(50 * i))).collect();
        assert_eq!(logged.iter().filter(|l| **l).count(), 2, "two minutes of failures every 50 ms: two warnings");
        r.succeeded();
        assert!(r.failed("disk full", t0 + Duration::from_secs(200)), "a new failure after a recovery is logged at once");
    }
}
