//! The state every handler and worker share (`App`).
use std::sync::Arc;

/// What every handler and the webhook worker share: the connections and
/// the key webhook secrets are derived from.
#[derive(Clone)]
pub struct App {
    pub pool: Arc<crate::pool::Pool>,
    pub server_key: Arc<Vec<u8>>,
    /// Failed authentications per client address.
    pub throttle: Arc<crate::throttle::AuthThrottle>,
    /// Webhooks may target internal addresses (`--allow-private-targets`).
    pub allow_private_targets: bool,
    /// Report downloads in progress.
    pub downloads: Arc<crate::pool::Downloads>,
    /// How long a download waits for a client that stopped reading.
    pub download_stall: std::time::Duration,
    /// The gateway's calls to the providers.
    pub upstream: Arc<dyn argus_ops::gateway::Upstream>,
    /// How long the gateway waits for an upstream's answer to start.
    pub upstream_timeout: std::time::Duration,
    /// The gateway's records, committed in groups.
    pub recorder: crate::recorder::Recorder,
    pub admitter: crate::recorder::Admitter,
}
