//! Server settings with Gremlin Server's defaults (PROTOCOL.md section 9); every limit named.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Extra Prometheus text appended to `/metrics` (e.g. the storage's per-shard figures); it
/// runs on the core serving the admin request, so it must be cheap and thread-safe.
#[derive(Clone)]
pub struct ExtraMetrics(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for ExtraMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtraMetrics(..)")
    }
}

/// An admin endpoint function: (method, path, raw query) -> (status line, body) or `None`.
pub type AdminFn = dyn Fn(&str, &str, &str) -> Option<(String, String)> + Send + Sync;

/// Extra admin HTTP endpoints (e.g. `POST /backup`): called with the method, the path and
/// the raw query string after authentication; `Some((status line, body))` answers, `None`
/// falls through to the built-in endpoints. Runs on the core serving the admin request, so
/// it must be cheap (start work elsewhere, answer at once) and thread-safe.
#[derive(Clone)]
pub struct AdminHandler(pub Arc<AdminFn>);

impl std::fmt::Debug for AdminHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminHandler(..)")
    }
}

/// Settings of [`crate::serve`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Gremlin WebSocket address; port 0 picks a free port (the same on every core).
    pub addr: SocketAddr,
    /// WebSocket path.
    pub path: String,
    /// Admin HTTP address (`/healthcheck`, `/metrics`); `None` disables it.
    pub admin_addr: Option<SocketAddr>,
    /// Executors, one per CPU, pinned (`Placement::Fixed`) to these CPUs in order. Empty means
    /// every online CPU.
    pub cpus: Vec<usize>,
    /// Largest payload of one incoming WebSocket frame.
    pub frame_size_bytes_max: usize,
    /// Largest incoming (reassembled) WebSocket message, i.e. request (Gremlin Server's
    /// `maxContentLength`).
    pub message_size_bytes_max: usize,
    /// Largest outgoing response frame: batches are split to stay under it (gremlinpython
    /// breaks on frames above 10 MiB).
    pub response_frame_bytes_max: usize,
    /// Requests in flight on one connection; past it the answer is 429.
    pub requests_in_flight_max: usize,
    /// Encoded frames queued for the socket writer of one connection (back-pressure); with
    /// `response_frame_bytes_max` this bounds a connection's write buffer.
    pub write_queue_frames_max: usize,
    /// Connections served by one core; past it new connections are closed at once.
    pub connections_per_core_max: usize,
    /// `resultIterationBatchSize` when the request gives no `batchSize`.
    pub batch_size_default: usize,
    /// Largest `batchSize` a request may ask for.
    pub batch_size_max: usize,
    /// `evaluationTimeout` when the request gives none (0 = none).
    pub evaluation_timeout_ms_default: u64,
    /// Time allowed for the WebSocket upgrade request to arrive.
    pub handshake_timeout_ms: u64,
    /// Authentication: the credentials file; `None` = authentication off.
    pub credentials_path: Option<PathBuf>,
    /// TLS on the Gremlin port and the admin port; `None` = plain TCP.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Requests queued on a connection while its authentication is pending.
    pub auth_pending_requests_max: usize,
    /// A request arriving this long after the first one held for authentication gets 401
    /// (Gremlin Server: 5 s).
    pub auth_pending_ms_max: u64,
    /// Appended to `/metrics` when set.
    pub extra_metrics: Option<ExtraMetrics>,
    /// Extra admin endpoints; `None`: only `/healthcheck` and `/metrics`.
    pub admin_handler: Option<AdminHandler>,
    /// On shutdown, how long in-flight requests may run before they are cancelled.
    pub shutdown_grace: Duration,
    /// How often waiting loops look at the stop flag (accepting stays woken by its socket
    /// alone; see `server::accept_loop`).
    pub stop_poll: Duration,
    /// How long an idle core polls for work before it parks (sleeps in the kernel until an
    /// I/O completion or another core wakes it); zero: it parks at once. Parking and being
    /// woken cost a `membarrier` and a thread switch each time; polling burns the core's
    /// CPU, which on pinned, dedicated cores is not taken from anyone.
    pub spin_before_park: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8182)),
            path: "/gremlin".to_string(),
            admin_addr: None,
            cpus: Vec::new(),
            frame_size_bytes_max: 10 * 1024 * 1024,
            message_size_bytes_max: 10 * 1024 * 1024,
            response_frame_bytes_max: 8 * 1024 * 1024,
            requests_in_flight_max: 16,
            write_queue_frames_max: 16,
            connections_per_core_max: 4096,
            batch_size_default: 64,
            batch_size_max: 1 << 20,
            evaluation_timeout_ms_default: 30_000,
            handshake_timeout_ms: 10_000,
            credentials_path: None,
            tls: None,
            auth_pending_requests_max: 16,
            auth_pending_ms_max: 5_000,
            extra_metrics: None,
            admin_handler: None,
            shutdown_grace: Duration::from_secs(10),
            stop_poll: Duration::from_millis(20),
            spin_before_park: Duration::ZERO,
        }
    }
}
