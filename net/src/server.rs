//! The server: one glommio executor per CPU, each accepting on the shared `SO_REUSEPORT`
//! address and serving its own connections (WebSocket upgrade, frames, Gremlin requests), plus
//! the admin HTTP port; and the handle that stops it gracefully.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd as _, IntoRawFd as _};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use futures_lite::FutureExt as _;
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use glommio::timer::sleep;
use glommio::{LocalExecutorBuilder, Placement, Task};
use gremlin::value::{Uuid, Value};

use crate::auth::{decode_sasl_plain, Credentials};
use crate::config::Config;
use crate::metrics::{CoreMetrics, Metrics};
use crate::service::{status, GremlinRequest, GremlinService, Query, ResultStream, ServiceError};
use crate::wire::{
    arg, split_mime, status_response, DecodeError, RequestMessage, ResponseMessage, Serializer,
    Serializers,
};
use crate::ws::{self, close_code, Message, Opcode};

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
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Io(e) => write!(f, "listen: {e}"),
            ServeError::Auth(e) => write!(f, "authentication: {e}"),
            ServeError::Executor(e) => write!(f, "executor: {e}"),
            ServeError::Tls(e) => write!(f, "{e}"),
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
    let cpus: Vec<usize> = if config.cpus.is_empty() {
        glommio::CpuSet::online()
            .map_err(|e| ServeError::Executor(e.to_string()))?
            .into_iter()
            .map(|l| l.cpu)
            .collect()
    } else {
        config.cpus.clone()
    };
    let cores = cpus.len().max(1);
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
    let mut executors = Vec::with_capacity(cores);
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
        let handle = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("coregraph-net-{core}"))
            .spawn(move || async move {
                let service = factory(core);
                core_main(core, shared, service, socket, admin).await;
            })
            .map_err(|e| ServeError::Executor(e.to_string()));
        match handle {
            Ok(h) => executors.push(h),
            Err(e) => {
                stopper.stop();
                for h in executors {
                    let _ = h.join();
                }
                return Err(e);
            }
        }
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
struct Shared {
    config: Arc<Config>,
    serializers: Serializers,
    credentials: Option<Arc<Credentials>>,
    tls: Option<futures_rustls::TlsAcceptor>,
    stopper: Stopper,
    metrics: Arc<Metrics>,
}

/// One core's state.
struct Core<S> {
    index: usize,
    shared: Shared,
    service: S,
    connections: Cell<usize>,
}

impl<S> Core<S> {
    fn metrics(&self) -> &CoreMetrics {
        self.shared.metrics.core(self.index)
    }
}

/// Resolves once the server is asked to stop.
async fn stopped(stopper: &Stopper) {
    while !stopper.is_stopped() {
        sleep(Duration::from_millis(STOP_POLL_MS)).await;
    }
}

fn into_listener(socket: socket2::Socket) -> TcpListener {
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is a bound, listening TCP socket whose sole ownership was just released by
    // `into_raw_fd`; the listener takes it over and closes it on drop.
    unsafe { TcpListener::from_raw_fd(fd) }
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
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                stopped(&core.shared.stopper).await;
                None
            })
            .await;
        match accepted {
            None => break,
            Some(Ok(stream)) => {
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
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(core = index, error = %e, "accept failed");
                sleep(Duration::from_millis(STOP_POLL_MS)).await;
            }
        }
    }
    drop(listener);
    drop(admin_task);
    // Connections see the stop flag themselves; wait for them (bounded by the grace period
    // plus a little for the close handshake), then return, which drops what is left.
    let deadline = Instant::now() + core.shared.config.shutdown_grace + Duration::from_millis(500);
    while core.connections.get() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(STOP_POLL_MS)).await;
    }
}

/// What the socket writer of a connection is sent.
enum Out {
    Frame(Vec<u8>),
    /// Write this Close frame and stop.
    Close(Vec<u8>),
}

/// Authentication state of a connection.
enum AuthState {
    Authenticated(Option<String>),
    /// Waiting for an `authentication` request; the requests that arrived meanwhile.
    Pending(Vec<Pending>),
}

/// A request held until authentication finishes.
struct Pending {
    serializer: Arc<dyn Serializer>,
    text: bool,
    message: RequestMessage,
    received: Instant,
}

/// One WebSocket connection's shared state (request tasks hold an `Rc` to it).
struct Conn<S> {
    core: Rc<Core<S>>,
    out: LocalSender<Out>,
    peer: String,
    in_flight: Cell<usize>,
}

impl<S: GremlinService> Conn<S> {
    /// Queues a frame; false if the writer is gone.
    async fn send(&self, text: bool, payload: Vec<u8>) -> bool {
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        self.out
            .send(Out::Frame(ws::encode_frame(opcode, &payload)))
            .await
            .is_ok()
    }

    /// Encodes and queues one response (a 599 if it cannot be encoded).
    async fn respond(&self, serializer: &dyn Serializer, text: bool, response: ResponseMessage) {
        let bytes = match serializer.encode_response(&response) {
            Ok(b) => b,
            Err(e) => {
                let fallback = status_response(
                    response.request_id,
                    status::SERVER_ERROR_SERIALIZATION,
                    format!("Error during serialization: {e}"),
                );
                match serializer.encode_response(&fallback) {
                    Ok(b) => b,
                    Err(_) => return,
                }
            }
        };
        self.send(text, bytes).await;
    }
}

/// Decrements the in-flight count when a request task ends or is cancelled.
struct InFlight<S: GremlinService>(Rc<Conn<S>>);

impl<S: GremlinService> Drop for InFlight<S> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
    }
}

/// Counts an open connection on its core.
struct ConnectionCount<S>(Rc<Core<S>>);

impl<S> ConnectionCount<S> {
    fn new(core: Rc<Core<S>>) -> Self {
        core.connections.set(core.connections.get() + 1);
        core.metrics().connection_opened();
        ConnectionCount(core)
    }
}

impl<S> Drop for ConnectionCount<S> {
    fn drop(&mut self) {
        self.0
            .connections
            .set(self.0.connections.get().saturating_sub(1));
        self.0.metrics().connection_closed();
    }
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

async fn connection<S, T>(core: Rc<Core<S>>, mut stream: T, peer: String)
where
    S: GremlinService,
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let _count = ConnectionCount::new(core.clone());
    let config = core.shared.config.clone();
    let timeout = Duration::from_millis(config.handshake_timeout_ms);
    let (head, leftover) = match read_head(&mut stream, timeout).await {
        Ok(h) => h,
        Err(answer) => {
            core.metrics().protocol_error();
            if let Some(answer) = answer {
                let _ = stream.write_all(&answer).await;
                let _ = stream.flush().await;
            }
            let _ = stream.close().await;
            return;
        }
    };
    match ws::check_upgrade(&head, &config.path) {
        ws::Upgrade::Refuse(answer) => {
            core.metrics().protocol_error();
            let _ = stream.write_all(&answer).await;
            let _ = stream.flush().await;
            let _ = stream.close().await;
            return;
        }
        ws::Upgrade::Accept(answer) => {
            if stream.write_all(&answer).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
    }
    let (mut reader, writer) = futures_lite::io::split(stream);
    let (tx, rx) = local_channel::new_bounded::<Out>(config.write_queue_frames_max.max(1));
    let writer_task = glommio::spawn_local(async move {
        let mut writer = writer;
        while let Some(out) = rx.recv().await {
            let (bytes, last) = match out {
                Out::Frame(b) => (b, false),
                Out::Close(b) => (b, true),
            };
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            if last {
                let _ = writer.close().await;
                return;
            }
        }
    });
    let conn = Rc::new(Conn {
        core: core.clone(),
        out: tx,
        peer,
        in_flight: Cell::new(0),
    });
    let mut session = Session {
        conn: conn.clone(),
        auth: if core.shared.credentials.is_some() {
            AuthState::Pending(Vec::new())
        } else {
            AuthState::Authenticated(None)
        },
        tasks: HashMap::new(),
        done: Rc::new(RefCell::new(Vec::new())),
        next_task: 0,
    };
    let mut decoder = ws::Decoder::new(ws::Limits {
        frame_size_bytes_max: config.frame_size_bytes_max,
        message_size_bytes_max: config.message_size_bytes_max,
    });
    decoder.buffer(&leftover);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let close_frame = 'read: loop {
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    if let Some(close) = session.on_message(message).await {
                        break 'read Some(close);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    core.metrics().protocol_error();
                    tracing::debug!(error = %e, "websocket protocol error");
                    break 'read Some(ws::encode_close(e.code, e.reason));
                }
            }
        }
        let read = async { Some(reader.read(&mut chunk).await) }
            .or(async {
                stopped(&core.shared.stopper).await;
                None
            })
            .await;
        match read {
            Some(Ok(n)) if n > 0 => decoder.buffer(chunk.get(..n).unwrap_or_default()),
            Some(_) => break None, // EOF or reset: nobody to answer
            None => {
                // Shutdown: let in-flight requests finish within the grace period.
                let deadline = Instant::now() + config.shutdown_grace;
                while conn.in_flight.get() > 0 && Instant::now() < deadline {
                    sleep(Duration::from_millis(STOP_POLL_MS)).await;
                }
                break Some(ws::encode_close(
                    close_code::GOING_AWAY,
                    "server shutting down",
                ));
            }
        }
    };
    // Cancel what is still running (client gone, protocol error or grace over).
    session.tasks.clear();
    if let Some(frame) = close_frame {
        let _ = conn.out.send(Out::Close(frame)).await;
    }
    drop(session);
    drop(conn);
    // The writer ends after the Close frame, or when the last sender is gone.
    let _ = async {
        writer_task.await;
    }
    .or(async {
        sleep(Duration::from_secs(5)).await;
    })
    .await;
}

/// The request-level state of one connection, driven by its reader.
struct Session<S: GremlinService> {
    conn: Rc<Conn<S>>,
    auth: AuthState,
    /// Running request tasks (dropping one cancels it).
    tasks: HashMap<u64, Task<()>>,
    /// Ids of finished tasks, to forget.
    done: Rc<RefCell<Vec<u64>>>,
    next_task: u64,
}

/// A request validated and ready for the engine.
struct Ready {
    op: &'static str,
    request: GremlinRequest,
}

impl<S: GremlinService> Session<S> {
    fn core(&self) -> &Core<S> {
        &self.conn.core
    }

    /// Handles one WebSocket message; `Some(close frame)` ends the connection.
    async fn on_message(&mut self, message: Message) -> Option<Vec<u8>> {
        match message {
            Message::Ping(payload) => {
                let pong = ws::encode_frame(Opcode::Pong, &payload);
                let _ = self.conn.out.send(Out::Frame(pong)).await;
                None
            }
            Message::Pong(_) => None,
            Message::Close(code, _) => {
                // Echo the peer's code (RFC 6455 section 5.5.1).
                Some(ws::encode_close(code.unwrap_or(close_code::NORMAL), ""))
            }
            Message::Binary(frame) => {
                let started = Instant::now();
                let Some((mime, body)) = split_mime(&frame) else {
                    let s = self.core().shared.serializers.default().clone();
                    self.reject(&s, false, None, status::REQUEST_ERROR_MALFORMED_REQUEST,
                        "Message could not be parsed.  Check the format of the request. [the mime type length is 0 or longer than the frame]".to_string(), "other", started).await;
                    return None;
                };
                let serializer = self.core().shared.serializers.for_mime(mime).clone();
                self.on_request(serializer, false, body, started).await;
                None
            }
            Message::Text(body) => {
                let started = Instant::now();
                let Some(serializer) = self.core().shared.serializers.text().cloned() else {
                    return Some(ws::encode_close(
                        1003,
                        "text frames are not supported; send binary frames with a mime prefix",
                    ));
                };
                self.on_request(serializer, true, &body, started).await;
                None
            }
        }
    }

    /// Sends a final error response and counts it.
    #[allow(clippy::too_many_arguments)]
    async fn reject(
        &self,
        serializer: &Arc<dyn Serializer>,
        text: bool,
        request_id: Option<Uuid>,
        code: u16,
        message: String,
        op: &str,
        started: Instant,
    ) {
        let response = status_response(request_id, code, message);
        self.conn.respond(serializer.as_ref(), text, response).await;
        self.core()
            .metrics()
            .request_done(op, code, started.elapsed());
    }

    async fn on_request(
        &mut self,
        serializer: Arc<dyn Serializer>,
        text: bool,
        body: &[u8],
        started: Instant,
    ) {
        let message = match serializer.decode_request(body) {
            Ok(m) => m,
            Err(DecodeError::Malformed(e)) => {
                let msg =
                    format!("Message could not be parsed.  Check the format of the request. [{e}]");
                self.reject(
                    &serializer,
                    text,
                    None,
                    status::REQUEST_ERROR_MALFORMED_REQUEST,
                    msg,
                    "other",
                    started,
                )
                .await;
                return;
            }
            Err(DecodeError::Value(id, e)) => {
                let msg = format!("Request contains a value that could not be deserialized: {e}");
                self.reject(
                    &serializer,
                    text,
                    Some(id),
                    status::REQUEST_ERROR_SERIALIZATION,
                    msg,
                    "other",
                    started,
                )
                .await;
                return;
            }
        };
        if message.op == "authentication" {
            self.on_authentication(serializer, text, message, started)
                .await;
            return;
        }
        match &mut self.auth {
            AuthState::Authenticated(_) => self.dispatch(serializer, text, message, started).await,
            AuthState::Pending(queue) => {
                let id = message.request_id;
                let wait_ms_max = self.conn.core.shared.config.auth_pending_ms_max;
                let overdue = queue
                    .first()
                    .is_some_and(|p| p.received.elapsed() > Duration::from_millis(wait_ms_max));
                if overdue {
                    let msg = format!(
                        "Authentication did not finish in the allowed duration ({wait_ms_max} ms)"
                    );
                    self.reject(
                        &serializer,
                        text,
                        Some(id),
                        status::UNAUTHORIZED,
                        msg,
                        "authentication",
                        started,
                    )
                    .await;
                    return;
                }
                if queue.len() >= self.conn.core.shared.config.auth_pending_requests_max {
                    let msg = "Too many requests waiting for authentication on this connection"
                        .to_string();
                    self.reject(
                        &serializer,
                        text,
                        Some(id),
                        status::TOO_MANY_REQUESTS,
                        msg,
                        "other",
                        started,
                    )
                    .await;
                    return;
                }
                let first = queue.is_empty();
                queue.push(Pending {
                    serializer: serializer.clone(),
                    text,
                    message,
                    received: started,
                });
                if first {
                    let challenge = status_response(Some(id), status::AUTHENTICATE, "");
                    self.conn
                        .respond(serializer.as_ref(), text, challenge)
                        .await;
                    self.core().metrics().request_done(
                        "authentication",
                        status::AUTHENTICATE,
                        started.elapsed(),
                    );
                }
            }
        }
    }

    async fn on_authentication(
        &mut self,
        serializer: Arc<dyn Serializer>,
        text: bool,
        message: RequestMessage,
        started: Instant,
    ) {
        let id = message.request_id;
        let Some(credentials) = self.core().shared.credentials.clone() else {
            // Authentication is off: nothing to do.
            let r = status_response(Some(id), status::NO_CONTENT, "");
            self.conn.respond(serializer.as_ref(), text, r).await;
            self.core().metrics().request_done(
                "authentication",
                status::NO_CONTENT,
                started.elapsed(),
            );
            return;
        };
        let outcome = match arg(&message, "sasl") {
            None => Err("Failed to authenticate".to_string()),
            Some(Value::String(sasl)) => match decode_sasl_plain(sasl) {
                Err(e) => Err(format!("Failed to authenticate: {e}")),
                Ok((user, password)) => {
                    let checked = user.clone();
                    let ok = glommio::executor()
                        .spawn_blocking(move || credentials.verify(&checked, &password))
                        .await;
                    if ok {
                        Ok(user)
                    } else {
                        Err("Username and/or password are incorrect".to_string())
                    }
                }
            },
            Some(_) => {
                let msg =
                    "The [sasl] argument of an authentication request must be a String".to_string();
                self.reject(
                    &serializer,
                    text,
                    Some(id),
                    status::REQUEST_ERROR_MALFORMED_REQUEST,
                    msg,
                    "authentication",
                    started,
                )
                .await;
                return;
            }
        };
        let queued = match std::mem::replace(&mut self.auth, AuthState::Pending(Vec::new())) {
            AuthState::Pending(q) => q,
            AuthState::Authenticated(user) => {
                self.auth = AuthState::Authenticated(user);
                Vec::new()
            }
        };
        match outcome {
            Ok(user) => {
                self.auth = AuthState::Authenticated(Some(user));
                self.core().metrics().request_done(
                    "authentication",
                    status::SUCCESS,
                    started.elapsed(),
                );
                if queued.is_empty() {
                    let r = status_response(Some(id), status::NO_CONTENT, "");
                    self.conn.respond(serializer.as_ref(), text, r).await;
                }
                for p in queued {
                    self.dispatch(p.serializer, p.text, p.message, p.received)
                        .await;
                }
            }
            Err(msg) => {
                if queued.is_empty() {
                    self.reject(
                        &serializer,
                        text,
                        Some(id),
                        status::UNAUTHORIZED,
                        msg.clone(),
                        "authentication",
                        started,
                    )
                    .await;
                }
                for p in queued {
                    let pid = Some(p.message.request_id);
                    self.reject(
                        &p.serializer,
                        p.text,
                        pid,
                        status::UNAUTHORIZED,
                        msg.clone(),
                        "authentication",
                        p.received,
                    )
                    .await;
                }
            }
        }
    }

    /// Validates an authenticated request and starts it as its own task.
    async fn dispatch(
        &mut self,
        serializer: Arc<dyn Serializer>,
        text: bool,
        message: RequestMessage,
        started: Instant,
    ) {
        let id = message.request_id;
        let user = match &self.auth {
            AuthState::Authenticated(u) => u.clone(),
            AuthState::Pending(_) => None,
        };
        let ready = match validate(
            &message,
            &self.core().shared.config,
            user,
            self.core().index,
        ) {
            Ok(r) => r,
            Err((code, msg)) => {
                self.reject(
                    &serializer,
                    text,
                    Some(id),
                    code,
                    msg,
                    op_label(&message.op),
                    started,
                )
                .await;
                return;
            }
        };
        let max = self.core().shared.config.requests_in_flight_max;
        if self.conn.in_flight.get() >= max {
            let msg =
                format!("Rate limiting: at most {max} requests may be in flight on one connection");
            self.reject(
                &serializer,
                text,
                Some(id),
                status::TOO_MANY_REQUESTS,
                msg,
                ready.op,
                started,
            )
            .await;
            return;
        }
        for done in self.done.borrow_mut().drain(..) {
            self.tasks.remove(&done);
        }
        self.conn.in_flight.set(self.conn.in_flight.get() + 1);
        let guard = InFlight(self.conn.clone());
        let task_id = self.next_task;
        self.next_task += 1;
        let done = self.done.clone();
        let task = glommio::spawn_local(async move {
            let conn = guard.0.clone();
            run_request(conn, serializer, text, ready, started).await;
            drop(guard);
            done.borrow_mut().push(task_id);
        });
        self.tasks.insert(task_id, task);
    }
}

fn op_label(op: &str) -> &'static str {
    match op {
        "bytecode" => "bytecode",
        "eval" => "eval",
        "authentication" => "authentication",
        _ => "other",
    }
}

/// A non-negative integer argument.
fn int_arg(v: &Value) -> Option<i64> {
    match v {
        Value::Byte(n) => Some(i64::from(*n)),
        Value::Short(n) => Some(i64::from(*n)),
        Value::Int(n) => Some(i64::from(*n)),
        Value::Long(n) => Some(*n),
        _ => None,
    }
}

/// A map of strings to strings.
fn string_map(v: &Value) -> Option<Vec<(String, String)>> {
    let Value::Map(m) = v else { return None };
    m.iter()
        .map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

/// PROTOCOL.md section 3: op/processor pairs, required and typed args.
fn validate(
    m: &RequestMessage,
    config: &Config,
    user: Option<String>,
    core: usize,
) -> Result<Ready, (u16, String)> {
    let invalid = |msg: String| (status::REQUEST_ERROR_INVALID_REQUEST_ARGUMENTS, msg);
    let op = match (m.processor.as_str(), m.op.as_str()) {
        ("session", _) => {
            return Err(invalid(
                "The session processor is not supported by coregraph: send requests without a session (processor \"\" for scripts, \"traversal\" for bytecode); each request runs on its own".to_string(),
            ))
        }
        ("traversal", "bytecode") => "bytecode",
        ("", "eval") => "eval",
        ("" | "traversal", op) => {
            return Err((
                status::REQUEST_ERROR_MALFORMED_REQUEST,
                format!("Message with op code [{op}] is not recognized."),
            ))
        }
        (p, _) => return Err(invalid(format!("Invalid OpProcessor requested [{p}]"))),
    };
    let batch_size = match arg(m, "batchSize") {
        None => config.batch_size_default,
        Some(v) => match int_arg(v) {
            Some(n) if n > 0 && n as u64 <= config.batch_size_max as u64 => n as usize,
            _ => {
                return Err(invalid(format!(
                    "The [batchSize] argument must be an integer from 1 to {}",
                    config.batch_size_max
                )))
            }
        },
    };
    let timeout = arg(m, "evaluationTimeout").or_else(|| arg(m, "scriptEvaluationTimeout"));
    let evaluation_timeout_ms = match timeout {
        None => config.evaluation_timeout_ms_default,
        Some(v) => match int_arg(v) {
            Some(n) if n >= 0 => n as u64,
            _ => {
                return Err(invalid(
                    "The [evaluationTimeout] argument must be a non-negative integer (ms)"
                        .to_string(),
                ))
            }
        },
    };
    let aliases = match arg(m, "aliases") {
        None => None,
        Some(v) => Some(string_map(v).ok_or_else(|| {
            invalid("The [aliases] argument must be a Map of String to String".to_string())
        })?),
    };
    let materialize_properties = match arg(m, "materializeProperties") {
        None => None,
        Some(Value::String(s)) if matches!(&**s, "all" | "tokens") => Some(s.to_string()),
        Some(_) => {
            return Err(invalid(
                "The [materializeProperties] argument must be 'all' or 'tokens'".to_string(),
            ))
        }
    };
    let (query, aliases) = if op == "bytecode" {
        let Some(Value::Bytecode(bc)) = arg(m, "gremlin") else {
            return Err(invalid(
                "A message with [bytecode] op code requires the [gremlin] argument to be Bytecode"
                    .to_string(),
            ));
        };
        let aliases = match aliases {
            Some(a) if a.len() == 1 && a.first().is_some_and(|(k, _)| k == "g") => a,
            _ => return Err(invalid("A message with [bytecode] op code requires the [aliases] argument to be a Map containing one alias assignment named 'g'.".to_string())),
        };
        (Query::Bytecode((**bc).clone()), aliases)
    } else {
        let Some(Value::String(script)) = arg(m, "gremlin") else {
            return Err(invalid(
                "A message with an [eval] op code requires a [gremlin] argument that is a String"
                    .to_string(),
            ));
        };
        let bindings = match arg(m, "bindings") {
            None | Some(Value::Null) => Default::default(),
            Some(Value::Map(b)) if b.keys().all(|k| k.as_str().is_some()) => b.clone(),
            Some(_) => {
                return Err(invalid(
                    "The [bindings] argument must be a Map with String keys".to_string(),
                ))
            }
        };
        let language = match arg(m, "language") {
            None | Some(Value::Null) => None,
            Some(Value::String(l)) => Some(l.to_string()),
            Some(_) => {
                return Err(invalid(
                    "The [language] argument must be a String".to_string(),
                ))
            }
        };
        let query = Query::Eval {
            script: script.to_string(),
            bindings,
            language,
        };
        (query, aliases.unwrap_or_default())
    };
    Ok(Ready {
        op,
        request: GremlinRequest {
            request_id: m.request_id,
            query,
            aliases,
            evaluation_timeout_ms,
            batch_size,
            materialize_properties,
            user,
            core,
        },
    })
}

/// Runs one request to its final response, bounded by its evaluation timeout.
async fn run_request<S: GremlinService>(
    conn: Rc<Conn<S>>,
    serializer: Arc<dyn Serializer>,
    text: bool,
    ready: Ready,
    started: Instant,
) {
    let id = ready.request.request_id;
    let op = ready.op;
    let timeout_ms = ready.request.evaluation_timeout_ms;
    let work = AssertUnwindSafe(stream_results(
        &conn,
        serializer.as_ref(),
        text,
        ready.request,
    ))
    .catch_unwind();
    let work = async {
        match work.await {
            Ok(code) => code,
            Err(_) => {
                tracing::error!(request = %id, "request panicked");
                let r = status_response(
                    Some(id),
                    status::SERVER_ERROR,
                    "Internal error while processing the request",
                );
                conn.respond(serializer.as_ref(), text, r).await;
                status::SERVER_ERROR
            }
        }
    };
    let code = if timeout_ms == 0 {
        work.await
    } else {
        let timed = async { Some(work.await) }
            .or(async {
                sleep(Duration::from_millis(timeout_ms)).await;
                None
            })
            .await;
        match timed {
            Some(code) => code,
            None => {
                let msg = format!("A timeout occurred during traversal evaluation of [RequestMessage{{, requestId={id}, op='{op}'}}] - consider increasing the limit given to evaluationTimeout ({timeout_ms} ms)");
                let r = status_response(Some(id), status::SERVER_ERROR_TIMEOUT, msg);
                conn.respond(serializer.as_ref(), text, r).await;
                status::SERVER_ERROR_TIMEOUT
            }
        }
    };
    conn.core
        .metrics()
        .request_done(op, code, started.elapsed());
}

fn error_response(id: Uuid, e: &ServiceError) -> ResponseMessage {
    let mut r = status_response(Some(id), e.code, e.message.clone());
    if let Some(m) = &e.fail_step_message {
        r.status_attributes
            .insert(Value::str("failStepMessage"), Value::str(m));
    }
    r
}

/// Pulls results and sends them as 206 ... 206, 200 (or one 204); the final code sent.
async fn stream_results<S: GremlinService>(
    conn: &Conn<S>,
    serializer: &dyn Serializer,
    text: bool,
    request: GremlinRequest,
) -> u16 {
    let id = request.request_id;
    let batch_size = request.batch_size.max(1);
    let frame_max = conn.core.shared.config.response_frame_bytes_max;
    let mut results = match conn.core.service.submit(request).await {
        Ok(r) => r,
        Err(e) => {
            conn.respond(serializer, text, error_response(id, &e)).await;
            return e.code;
        }
    };
    let mut buffered: VecDeque<Value> = VecDeque::new();
    let mut ended = false;
    let mut sent_any = false;
    loop {
        // Fill past one batch so the 206/200 choice knows whether more follow.
        while !ended && buffered.len() <= batch_size {
            match results.next_batch(batch_size).await {
                Ok(Some(items)) => buffered.extend(items),
                Ok(None) => ended = true,
                Err(e) => {
                    conn.respond(serializer, text, error_response(id, &e)).await;
                    return e.code;
                }
            }
            glommio::yield_if_needed().await;
        }
        if buffered.is_empty() {
            if !sent_any {
                let r = status_response(Some(id), status::NO_CONTENT, "");
                conn.respond(serializer, text, r).await;
                return status::NO_CONTENT;
            }
            return status::SUCCESS;
        }
        let n = batch_size.min(buffered.len());
        let items: Vec<Value> = buffered.drain(..n).collect();
        let last = ended && buffered.is_empty();
        let frames = match encode_batch(serializer, id, items, last, &conn.peer, frame_max) {
            Ok(f) => f,
            Err(e) => {
                conn.respond(serializer, text, error_response(id, &e)).await;
                return e.code;
            }
        };
        for frame in frames {
            if !conn.send(text, frame).await {
                // The connection is gone; nobody to answer.
                return status::SERVER_ERROR;
            }
        }
        sent_any = true;
        if last {
            return status::SUCCESS;
        }
    }
}

/// Encodes a batch as one or more responses, halving it until each fits `frame_max` bytes.
fn encode_batch(
    serializer: &dyn Serializer,
    id: Uuid,
    items: Vec<Value>,
    last: bool,
    peer: &str,
    frame_max: usize,
) -> Result<Vec<Vec<u8>>, ServiceError> {
    let mut out = Vec::new();
    // Stack of (items, is the stream's final message); processed left to right.
    let mut stack = vec![(items, last)];
    while let Some((items, final_message)) = stack.pop() {
        let count = items.len();
        let code = if final_message {
            status::SUCCESS
        } else {
            status::PARTIAL_CONTENT
        };
        let mut response = status_response(Some(id), code, "");
        response.result_data = Value::List(items);
        if final_message {
            response
                .status_attributes
                .insert(Value::str("host"), Value::str(peer));
        }
        let bytes = serializer.encode_response(&response).map_err(|e| {
            ServiceError::new(
                status::SERVER_ERROR_SERIALIZATION,
                format!("Error during serialization: {e}"),
            )
        })?;
        if bytes.len() <= frame_max {
            out.push(bytes);
            continue;
        }
        if count <= 1 {
            return Err(ServiceError::new(
                status::SERVER_ERROR_SERIALIZATION,
                format!(
                    "A result of {} bytes exceeds the response frame limit of {frame_max} bytes",
                    bytes.len()
                ),
            ));
        }
        let Value::List(mut left) = std::mem::take(&mut response.result_data) else {
            return Err(ServiceError::new(
                status::SERVER_ERROR,
                "batch lost its items",
            ));
        };
        let right = left.split_off(count / 2);
        stack.push((right, final_message));
        stack.push((left, false));
    }
    Ok(out)
}

/// Accepts admin HTTP connections on this core.
async fn admin_accept<S: GremlinService>(core: Rc<Core<S>>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(start_connection(core.clone(), stream, true)).detach();
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                sleep(Duration::from_millis(STOP_POLL_MS)).await;
            }
        }
    }
}

/// One admin HTTP request: `GET /healthcheck`, `GET /metrics`; Basic auth when auth is on.
async fn admin_connection<S, T>(core: Rc<Core<S>>, mut stream: T)
where
    S: GremlinService,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = Duration::from_millis(core.shared.config.handshake_timeout_ms);
    let answer = match read_head(&mut stream, timeout).await {
        Err(None) => return,
        Err(Some(answer)) => answer,
        Ok((head, _)) => admin_answer(&core, &head).await,
    };
    let _ = stream.write_all(&answer).await;
    let _ = stream.flush().await;
    let _ = stream.close().await;
}

async fn admin_answer<S: GremlinService>(core: &Core<S>, head: &ws::RequestHead) -> Vec<u8> {
    if head.method != "GET" {
        return ws::http_response("405 Method Not Allowed", "Allow: GET\r\n", "only GET\n");
    }
    if let Some(credentials) = core.shared.credentials.clone() {
        let given = head
            .header("Authorization")
            .and_then(crate::auth::decode_basic);
        let ok = match given {
            None => false,
            Some((user, password)) => {
                glommio::executor()
                    .spawn_blocking(move || credentials.verify(&user, &password))
                    .await
            }
        };
        if !ok {
            return ws::http_response(
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"coregraph\"\r\n",
                "authentication required\n",
            );
        }
    }
    match head.path.as_str() {
        "/healthcheck" => ws::http_response("200 OK", "", "OK\n"),
        "/metrics" => {
            let body = core.shared.metrics.render();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        _ => ws::http_response("404 Not Found", "", "not found\n"),
    }
}
