//! The central server: the operations facade behind an authenticated HTTP
//! API under `/api/v1`.
//!
//! - [`run`] — the entry point: a listener, a store, a shutdown future.
//! - `pool` — a few `Ops` (store connections) shared by the handlers, each
//!   call on a blocking thread.
//! - `state` — what the handlers and workers share (`App`).
//! - `recorder` — the gateway's admissions and records, committed in groups.
//! - `error` — `{"error": {"code", "message", "field"}}` with fitting statuses.
//! - `routes` — the handlers: authorise, call the facade, answer.
//! - `openapi` — the route table and the OpenAPI 3 document made from it.
//! - `webhooks` — the delivery worker for the webhook outbox.
//! - `gateway` — the OpenAI- and Anthropic-compatible endpoints under `/v1`.
#![forbid(unsafe_code)]

mod bodies;
mod error;
mod gateway;
mod openapi;
mod pool;
mod recorder;
mod routes;
mod state;
mod static_files;
mod strict_json;
mod throttle;
mod webhooks;

pub use error::ApiError;
pub use openapi::{openapi_document, ROUTES};

use argus_domain::time::Clock;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// How the server runs.
#[derive(Clone)]
pub struct Config {
    pub db: PathBuf,
    pub clock: Arc<dyn Clock>,
    /// Key from which webhook signing secrets are derived.
    pub server_key: Vec<u8>,
    /// Connections to the store.
    pub connections: usize,
    /// How often the webhook worker looks for due deliveries.
    pub webhook_poll: std::time::Duration,
    /// The console's built UI (`ui/dist`), served at `/` for browsers.
    pub ui_dir: Option<PathBuf>,
    /// How often the WAL is checkpointed in the background.
    pub checkpoint_every: std::time::Duration,
    /// How long requests in flight may take to finish once the server stops.
    pub shutdown_grace: std::time::Duration,
    /// How long a client may take to send a request's head (also how long
    /// an idle connection is kept); a half-sent request is closed.
    pub header_read_timeout: std::time::Duration,
    /// Failed authentications in a minute after which an address is refused
    /// for a minute (30).
    pub auth_failure_limit: usize,
    /// How long the gateway waits for an upstream's answer to start before
    /// failing over.
    pub upstream_timeout: std::time::Duration,
    /// The gateway's transport to the providers (HTTP unless a test stands
    /// in another).
    pub upstream: Option<Arc<dyn argus_ops::gateway::Upstream>>,
    /// How long a request may take until its answer starts (a report's
    /// body then streams under `download_stall`); beyond it, 503 `timeout`.
    pub request_timeout: std::time::Duration,
    /// How long a report download waits for a client that stopped reading
    /// before giving up (and its store connection).
    pub download_stall: std::time::Duration,
    /// Webhooks may target this machine and private networks (an
    /// on-premises relay); off by default.
    pub allow_private_targets: bool,
    /// The console's address, for the links in Slack and e-mail alerts.
    pub console_url: Option<String>,
    /// The store's server lock when the caller took it already (to refuse
    /// before saying it serves); else `run` takes it.
    pub lock: Option<Arc<StoreLock>>,
}

impl Config {
    pub fn new(db: PathBuf, clock: Arc<dyn Clock>, server_key: Vec<u8>) -> Config {
        Config {
            db,
            clock,
            server_key,
            connections: 8,
            webhook_poll: std::time::Duration::from_millis(200),
            ui_dir: None,
            checkpoint_every: std::time::Duration::from_millis(50),
            lock: None,
            allow_private_targets: false,
            console_url: None,
            download_stall: std::time::Duration::from_secs(30),
            shutdown_grace: std::time::Duration::from_secs(10),
            header_read_timeout: std::time::Duration::from_secs(30),
            request_timeout: std::time::Duration::from_secs(120),
            upstream_timeout: std::time::Duration::from_secs(60),
            auth_failure_limit: throttle::LIMIT,
            upstream: None,
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes
/// the requests in flight (every accepted record is committed before its
/// answer is sent) and returns.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ApiError> {
    // One server a store: a second would deliver every webhook twice.
    let _held = match &config.lock {
        Some(l) => l.clone(),
        None => Arc::new(lock_store(&config.db)?),
    };
    let pool = Arc::new(pool::Pool::open(&config)?);
    let state = routes::App {
        pool: pool.clone(),
        server_key: Arc::new(config.server_key.clone()),
        throttle: Arc::new(throttle::AuthThrottle::with_limit(config.auth_failure_limit)),
        allow_private_targets: config.allow_private_targets,
        downloads: Arc::new(pool::Downloads::new(config.connections)),
        download_stall: config.download_stall,
        upstream: config
            .upstream
            .clone()
            .unwrap_or_else(|| Arc::new(argus_client::upstream::HttpUpstream::new(config.allow_private_targets))),
        upstream_timeout: config.upstream_timeout,
        recorder: recorder::Recorder::start(pool.clone()),
        admitter: recorder::Admitter::start(pool.clone()),
    };
    let mut app = routes::router(state.clone(), gateway::router());
    if let Some(dir) = &config.ui_dir {
        // The console in a browser: the UI's files, and the API beside them (same origin).
        // Canonical, so that what a symlink leads to can be checked against it.
        let root = std::fs::canonicalize(dir).map_err(|e| {
            ApiError::internal(format!("the UI folder {} cannot be opened: {e}; give --ui the built UI (ui/dist)", dir.display()))
        })?;
        app = app.fallback(move |uri: axum::http::Uri| static_files::serve(root.clone(), uri));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sender = argus_client::outbox::Sender::new(state.server_key.clone(), config.console_url.clone(), config.allow_private_targets);
    let db = config.db.clone();
    let poll = config.webhook_poll;
    let outbox_stop = stop_rx.clone();
    let worker = tokio::spawn(async move { argus_client::outbox::worker(&db, state, sender, poll, outbox_stop).await });
    let checkpoints = tokio::spawn(pool::checkpointer(config.clone(), config.checkpoint_every, stop_rx));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, db = %config.db.display(), "argus-usage server listening");
    }
    let app = app.layer(axum::middleware::from_fn_with_state(config.request_timeout, routes::time_limit));
    let served = serve_connections(listener, app, &config, shutdown).await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = checkpoints.await;
    served
}

/// Accepts connections until `shutdown`, each served by hyper's HTTP/1 with
/// a header-read timeout (a half-sent request, or an idle connection, is
/// closed), the client's address given to the handlers (failed
/// authentications are counted per address). On shutdown, requests in
/// flight finish (every accepted record is committed before its answer);
/// a connection still open after the grace period (a client that stopped
/// reading) is closed.
async fn serve_connections(
    listener: TcpListener,
    app: axum::Router,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = config.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace_s = grace.as_secs(), "connections still open after the grace period were closed");
    }
    Ok(())
}

/// Takes the store's server lock (`DB.serve.lock`, an OS file lock released
/// when the process ends, however it ends) and writes this process's id
/// into it; refuses, naming the process that holds it, when another server
/// serves the store.
///
/// A PostgreSQL store takes no such lock: several instances serve it by
/// design (its writers serialise on an advisory lock, one instance at a
/// time delivers the alerts).
pub fn lock_store(db: &std::path::Path) -> Result<StoreLock, ApiError> {
    use std::io::{Read, Seek, Write};
    if argus_ops::is_postgres(db) {
        return Ok(StoreLock(None));
    }
    let path = PathBuf::from(format!("{}.serve.lock", db.display()));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| ApiError::internal(format!("cannot open {}: {e}; check that the store's folder is writable", path.display())))?;
    if f.try_lock().is_err() {
        let mut holder = String::new();
        let _ = f.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") };
        return Err(ApiError::new(
            argus_domain::ErrorCode::Conflict,
            format!(
                "another argus-usage serve ({who}) already serves the store at {}; stop it first, or serve another store with --db (two servers on one store would deliver every webhook twice)",
                db.display()
            ),
        ));
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = write!(f, "{}", std::process::id());
    let _ = f.flush();
    Ok(StoreLock(Some(f)))
}

/// The lock of a store served by this process (see [`lock_store`]).
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] Option<std::fs::File>);
