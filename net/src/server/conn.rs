//! One Gremlin WebSocket connection: the frame reader, the socket writer, authentication and
//! the dispatch of requests to their own tasks.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use futures_lite::FutureExt as _;
use glommio::channels::local_channel::{self, LocalSender};
use glommio::timer::sleep;
use glommio::Task;
use gremlin::value::{Uuid, Value};

use super::request::{op_label, run_request, validate};
use super::{read_head, stopped, Core, READ_CHUNK_BYTES, STOP_POLL_MS};
use crate::auth::decode_sasl_plain;
use crate::service::{status, GremlinService};
use crate::wire::{
    arg, split_mime, status_response, DecodeError, RequestMessage, ResponseMessage, Serializer,
};
use crate::ws::{self, close_code, Message, Opcode};

/// What the socket writer of a connection is sent.
pub(super) enum Out {
    Frame(Vec<u8>),
    /// Write this Close frame and stop.
    Close(Vec<u8>),
}

/// Authentication state of a connection.
pub(super) enum AuthState {
    Authenticated(Option<String>),
    /// Waiting for an `authentication` request; the requests that arrived meanwhile.
    Pending(Vec<Pending>),
}

/// A request held until authentication finishes.
pub(super) struct Pending {
    pub(super) serializer: Arc<dyn Serializer>,
    pub(super) text: bool,
    pub(super) message: RequestMessage,
    pub(super) received: Instant,
}

/// One WebSocket connection's shared state (request tasks hold an `Rc` to it).
pub(super) struct Conn<S> {
    pub(super) core: Rc<Core<S>>,
    pub(super) out: LocalSender<Out>,
    pub(super) peer: String,
    pub(super) in_flight: Cell<usize>,
    /// The client is a driver before TinkerPop 3.8: dates go out as `Date` (see `legacy`).
    pub(super) legacy_dates: bool,
}

impl<S: GremlinService> Conn<S> {
    /// Queues a frame; false if the writer is gone.
    pub(super) async fn send(&self, text: bool, payload: Vec<u8>) -> bool {
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        self.out
            .send(Out::Frame(ws::encode_frame(opcode, &payload)))
            .await
            .is_ok()
    }

    /// Encodes and queues one response (a 599 if it cannot be encoded).
    pub(super) async fn respond(
        &self,
        serializer: &dyn Serializer,
        text: bool,
        response: ResponseMessage,
    ) {
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
pub(super) struct InFlight<S: GremlinService>(pub(super) Rc<Conn<S>>);

impl<S: GremlinService> Drop for InFlight<S> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
    }
}

/// Counts an open connection on its core.
pub(super) struct ConnectionCount<S>(Rc<Core<S>>);

impl<S> ConnectionCount<S> {
    pub(super) fn new(core: Rc<Core<S>>) -> Self {
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

/// How long a closing connection may take to flush its last frames before it is dropped.
const CLOSE_FLUSH_MS_MAX: u64 = 5_000;

pub(super) async fn connection<S, T>(core: Rc<Core<S>>, mut stream: T, peer: String)
where
    S: GremlinService,
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
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
        legacy_dates: crate::legacy::wants_legacy_dates(head.header("User-Agent")),
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
                stopped(&core.shared.stopper, core.shared.config.stop_poll).await;
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
        sleep(Duration::from_millis(CLOSE_FLUSH_MS_MAX)).await;
    })
    .await;
}

/// The request-level state of one connection, driven by its reader.
pub(super) struct Session<S: GremlinService> {
    pub(super) conn: Rc<Conn<S>>,
    pub(super) auth: AuthState,
    /// Running request tasks (dropping one cancels it).
    pub(super) tasks: HashMap<u64, Task<()>>,
    /// Ids of finished tasks, to forget.
    pub(super) done: Rc<RefCell<Vec<u64>>>,
    pub(super) next_task: u64,
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
                        close_code::UNSUPPORTED_DATA,
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
                // With held requests, their own responses are the answer (PROTOCOL.md 5.5).
                if queued.is_empty() {
                    let r = status_response(Some(id), status::NO_CONTENT, "");
                    self.conn.respond(serializer.as_ref(), text, r).await;
                    self.core().metrics().request_done(
                        "authentication",
                        status::NO_CONTENT,
                        started.elapsed(),
                    );
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
