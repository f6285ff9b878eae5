//! The server: one glommio executor per CPU, each accepting on the shared `SO_REUSEPORT`
//! address and serving its own connections (WebSocket upgrade, frames, Gremlin requests), plus
//! the admin HTTP port; and the handle that stops it gracefully.

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd as _, IntoRawFd as _};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncReadExt as _};
use futures_lite::FutureExt as _;
use glommio::net::{TcpListener, TcpStream};
use glommio::timer::sleep;
use glommio::{LocalExecutorBuilder, Placement};

use crate::auth::Credentials;
use crate::config::Config;
use crate::metrics::{CoreMetrics, Metrics};
use crate::service::GremlinService;
use crate::wire::Serializers;
use crate::ws::{self};

mod admin;
mod conn;
mod request;

pub use request::validate_request;

use admin::{admin_accept, admin_connection};
use conn::connection;

/// How often blocked loops look at the stop flag.
const STOP_POLL_MS: u64 = 20;
/// Bytes read from a socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Listen backlog of each core's socket.
const LISTEN_BACKLOG: i32 = 1024;

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    Io(std::io::Error),
    /// The credentials file could not be read.
    Auth(crate::auth::AuthError),
    /// A glommio executor could not be built (CPU missing, io_uring unavailable, ...).
    Executor(String),
    /// The TLS certificate or key could not be loaded.
    Tls(crate::tls::TlsError),
    /// A core's service (engine) could not be built: the factory's error, with its core.
    Service(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Io(e) => write!(f, "listen: {e}"),
            ServeError::Auth(e) => write!(f, "authentication: {e}"),
            ServeError::Executor(e) => write!(f, "executor: {e}"),
            ServeError::Tls(e) => write!(f, "{e}"),
            ServeError::Service(e) => write!(f, "engine: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> ServeError {
        ServeError::Io(e)
    }
}

/// A `Send` switch that stops a running server (for a signal handler thread).
#[derive(Clone, Debug)]
pub struct Stopper(Arc<AtomicBool>);

impl Stopper {
    /// Asks every core to stop accepting, let in-flight requests finish within the grace
    /// period, close connections and exit.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    stopper: Stopper,
    executors: Vec<glommio::ExecutorJoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl ServerHandle {
    /// The Gremlin address actually bound (the real port when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin address actually bound.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A switch to stop the server from another thread (e.g. on SIGTERM).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Blocks until the server has stopped (after [`Stopper::stop`]).
    pub fn join(self) -> Result<(), ServeError> {
        let mut first_error = None;
        for handle in self.executors {
            if let Err(e) = handle.join() {
                first_error.get_or_insert(ServeError::Executor(e.to_string()));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops the server gracefully and waits for it: stop accepting, let in-flight requests
    /// finish within `Config::shutdown_grace` (then cancel them), send Close frames, flush.
    pub fn shutdown(self) -> Result<(), ServeError> {
        self.stopper.stop();
        self.join()
    }
}

/// The CPUs this process may run on (its affinity mask, which containers restrict), in order.
pub fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is a plain bit set for which all-zero is valid (the empty set).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed `cpu_set_t` of the size passed; pid 0 is
    // the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let cpu_count_max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is initialised and every index is below the set's capacity in bits.
    Ok((0..cpu_count_max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// A listening socket with `SO_REUSEPORT` (and `SO_REUSEADDR`), so every core binds it.
fn listen_socket(addr: SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// One socket per core on `addr`; port 0 becomes the port the first one got.
fn listen_all(
    addr: SocketAddr,
    cores: usize,
) -> std::io::Result<(SocketAddr, Vec<socket2::Socket>)> {
    let first = listen_socket(addr)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("listening socket has no IP address"))?;
    let mut sockets = vec![first];
    for _ in 1..cores {
        sockets.push(listen_socket(bound)?);
    }
    Ok((bound, sockets))
}

/// Starts the server: one executor per CPU of `config.cpus` (all online CPUs if empty), each
/// with its own engine instance from `service_factory(core_index)`, accepting on
/// `config.addr` with `SO_REUSEPORT`. Returns once every socket is bound.
pub fn serve<S, F>(
    config: Config,
    serializers: Serializers,
    service_factory: F,
) -> Result<ServerHandle, ServeError>
where
    S: GremlinService,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    serve_with(config, serializers, move |core| {
        std::future::ready(Ok::<S, std::convert::Infallible>(service_factory(core)))
    })
}

/// [`serve`] with an async, fallible factory: each core awaits `service_factory(core_index)`
/// on its own executor (e.g. to open its shards and join the other cores) before it accepts
/// connections. Returns once every core's service is ready, or, if any factory fails, stops
/// every core and returns [`ServeError::Service`] with the first failure. When the server
/// stops, each core awaits [`GremlinService::shutdown`] after its connections have drained.
pub fn serve_with<S, F, Fut, E>(
    config: Config,
    serializers: Serializers,
    service_factory: F,
) -> Result<ServerHandle, ServeError>
where
    S: GremlinService,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<S, E>> + 'static,
    E: std::fmt::Display,
{
    let cpus: Vec<usize> = if config.cpus.is_empty() {
        allowed_cpus().map_err(|e| ServeError::Executor(format!("CPU affinity: {e}")))?
    } else {
        config.cpus.clone()
    };
    if cpus.is_empty() {
        return Err(ServeError::Executor("no CPU to run on".to_string()));
    }
    let cores = cpus.len();
    let credentials = match &config.credentials_path {
        Some(path) => Some(Arc::new(Credentials::load(path).map_err(ServeError::Auth)?)),
        None => None,
    };
    let tls = match &config.tls {
        Some(t) => Some(futures_rustls::TlsAcceptor::from(
            crate::tls::server_config(t).map_err(ServeError::Tls)?,
        )),
        None => None,
    };
    let (addr, sockets) = listen_all(config.addr, cores)?;
    let (admin_addr, mut admin_sockets) = match config.admin_addr {
        Some(a) => {
            let (a, s) = listen_all(a, cores)?;
            (Some(a), s.into_iter().map(Some).collect())
        }
        None => (None, Vec::new()),
    };
    admin_sockets.resize_with(cores, || None);
    let stopper = Stopper(Arc::new(AtomicBool::new(false)));
    let metrics = Arc::new(Metrics::new(cores));
    let config = Arc::new(config);
    let factory = Arc::new(service_factory);
    // Each core reports once whether its service started.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut executors = Vec::with_capacity(cores);
    let stop_all = |stopper: &Stopper, executors: Vec<glommio::ExecutorJoinHandle<()>>| {
        stopper.stop();
        for h in executors {
            let _ = h.join();
        }
    };
    for (core, ((cpu, socket), admin)) in cpus.iter().zip(sockets).zip(admin_sockets).enumerate() {
        let shared = Shared {
            config: config.clone(),
            serializers: serializers.clone(),
            credentials: credentials.clone(),
            tls: tls.clone(),
            stopper: stopper.clone(),
            metrics: metrics.clone(),
        };
        let factory = factory.clone();
        let ready = ready_tx.clone();
        let mut builder = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("coregraph-net-{core}"));
        if !config.spin_before_park.is_zero() {
            builder = builder.spin_before_park(config.spin_before_park);
        }
        let handle = builder
            .spawn(move || async move {
                let stopper = shared.stopper.clone();
                let stop_poll = shared.config.stop_poll;
                // A stop while the factory runs (another core failed) abandons it.
                let built = async { Some(factory(core).await) }
                    .or(async {
                        stopped(&stopper, stop_poll).await;
                        None
                    })
                    .await;
                let service = match built {
                    Some(Ok(service)) => service,
                    Some(Err(e)) => {
                        let _ = ready.send(Err(format!("core {core}: {e}")));
                        return;
                    }
                    None => {
                        let _ = ready.send(Err(format!("core {core}: stopped while starting")));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                drop(ready);
                core_main(core, shared, service, socket, admin).await;
            })
            .map_err(|e| ServeError::Executor(e.to_string()));
        match handle {
            Ok(h) => executors.push(h),
            Err(e) => {
                stop_all(&stopper, executors);
                return Err(e);
            }
        }
    }
    drop(ready_tx);
    for _ in 0..cores {
        let failure = match ready_rx.recv() {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(_) => "a core's executor ended while starting".to_string(),
        };
        stop_all(&stopper, executors);
        return Err(ServeError::Service(failure));
    }
    Ok(ServerHandle {
        addr,
        admin_addr,
        stopper,
        executors,
        metrics,
    })
}

/// What every core shares (read-only, `Send`).
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) config: Arc<Config>,
    pub(super) serializers: Serializers,
    pub(super) credentials: Option<Arc<Credentials>>,
    pub(super) tls: Option<futures_rustls::TlsAcceptor>,
    pub(super) stopper: Stopper,
    pub(super) metrics: Arc<Metrics>,
}

/// One core's state.
pub(super) struct Core<S> {
    pub(super) index: usize,
    pub(super) shared: Shared,
    pub(super) service: S,
    pub(super) connections: Cell<usize>,
}

impl<S> Core<S> {
    pub(super) fn metrics(&self) -> &CoreMetrics {
        self.shared.metrics.core(self.index)
    }
}

/// Resolves once the server is asked to stop, looking every `period`.
async fn stopped(stopper: &Stopper, period: Duration) {
    while !stopper.is_stopped() {
        sleep(period).await;
    }
}

fn into_listener(socket: socket2::Socket) -> TcpListener {
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is a bound, listening TCP socket whose sole ownership was just released by
    // `into_raw_fd`; the listener takes it over and closes it on drop.
    unsafe { TcpListener::from_raw_fd(fd) }
}

/// Accepts connections on `listener` until its task is cancelled.
///
/// Runs as a task of its own, awaiting nothing but the accept, so the accept is polled only
/// when the listener has news. glommio's accept keeps one clone of the task's waker per poll
/// until a connection arrives, and a task's reference count is an `i16`: when this loop was
/// `accept().or(stopped())`, the stop-poll timer re-polled an idle accept every STOP_POLL_MS
/// and after 32767 polls (about 11 idle minutes) the count overflowed and the core panicked.
async fn accept_loop<S: GremlinService>(core: Rc<Core<S>>, listener: TcpListener) {
    let index = core.index;
    loop {
        match listener.accept().await {
            Ok(stream) => {
                if core.connections.get() >= core.shared.config.connections_per_core_max {
                    tracing::warn!(
                        core = index,
                        "connection limit reached; closing new connection"
                    );
                    drop(stream);
                    continue;
                }
                glommio::spawn_local(start_connection(core.clone(), stream, false)).detach();
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(core = index, error = %e, "accept failed");
                sleep(Duration::from_millis(STOP_POLL_MS)).await;
            }
        }
    }
}

async fn core_main<S: GremlinService>(
    index: usize,
    shared: Shared,
    service: S,
    socket: socket2::Socket,
    admin: Option<socket2::Socket>,
) {
    let core = Rc::new(Core {
        index,
        shared,
        service,
        connections: Cell::new(0),
    });
    let listener = into_listener(socket);
    let admin_task =
        admin.map(|a| glommio::spawn_local(admin_accept(core.clone(), into_listener(a))));
    let acceptor = glommio::spawn_local(accept_loop(core.clone(), listener));
    stopped(&core.shared.stopper, core.shared.config.stop_poll).await;
    // Cancelling the acceptor drops the listener: no new connections from here on.
    acceptor.cancel().await;
    drop(admin_task);
    // Connections see the stop flag themselves; wait for them (bounded by the grace period
    // plus a little for the close handshake), then return, which drops what is left.
    let deadline = Instant::now() + core.shared.config.shutdown_grace + Duration::from_millis(500);
    while core.connections.get() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(STOP_POLL_MS)).await;
    }
    // Then the engine stops (flushes) before the executor exits.
    core.service.shutdown().await;
}

/// Reads an HTTP request head within the handshake timeout: the head and any bytes after it.
async fn read_head<T: AsyncRead + Unpin>(
    stream: &mut T,
    timeout: Duration,
) -> Result<(ws::RequestHead, Vec<u8>), Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        match ws::parse_request_head(&buf) {
            Ok((head, len)) => return Ok((head, buf.split_off(len))),
            Err(ws::HeadError::Invalid) => {
                return Err(Some(ws::http_response(
                    "400 Bad Request",
                    "",
                    "malformed HTTP request\n",
                )))
            }
            Err(ws::HeadError::Partial) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let read = async { Some(stream.read(&mut chunk).await) }
            .or(async {
                sleep(left).await;
                None
            })
            .await;
        match read {
            Some(Ok(n)) if n > 0 => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Some(_) => return Err(None),
            None => {
                return Err(Some(ws::http_response(
                    "408 Request Timeout",
                    "",
                    "request head not received in time\n",
                )))
            }
        }
    }
}

/// Takes an accepted socket through the TLS handshake (if TLS is on) and serves it as a
/// Gremlin WebSocket or an admin HTTP connection.
async fn start_connection<S: GremlinService>(core: Rc<Core<S>>, stream: TcpStream, admin: bool) {
    // Gremlin connections count from accept on (TLS handshake included) toward the core's
    // connection limit; admin connections do not.
    let _count = (!admin).then(|| conn::ConnectionCount::new(core.clone()));
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| format!("/{a}"))
        .unwrap_or_default();
    let Some(acceptor) = core.shared.tls.clone() else {
        if admin {
            admin_connection(core, stream).await;
        } else {
            connection(core, stream, peer).await;
        }
        return;
    };
    let timeout = Duration::from_millis(core.shared.config.handshake_timeout_ms);
    let handshake = async { Some(acceptor.accept(stream).await) }
        .or(async {
            sleep(timeout).await;
            None
        })
        .await;
    match handshake {
        Some(Ok(tls)) if admin => admin_connection(core, tls).await,
        Some(Ok(tls)) => connection(core, tls, peer).await,
        Some(Err(e)) => {
            core.metrics().protocol_error();
            tracing::debug!(error = %e, "TLS handshake failed");
        }
        None => core.metrics().protocol_error(),
    }
}
