//! Running a workload: one glommio executor per given CPU (pinned, thread-per-core like the
//! server), the connections spread round-robin over them, each connection a reader task and
//! a writer task around one WebSocket; closed loop (a fixed number of requests in flight per
//! connection, the next sent as soon as one completes) or open loop (requests sent on a fixed
//! schedule, latency measured from the scheduled time so a stalled server cannot hide behind
//! a stalled generator: coordinated omission).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use glommio::{LocalExecutorBuilder, Placement};
use gremlin::codec::message::{encode_request_frame, Format};
use gremlin::value::Uuid;
use hdrhistogram::Histogram;

use super::report::{self, OpReport, WorkloadReport};
use super::workload::{Rng, Scratch, Workload};
use super::ws::{self, FrameReader, ServerMessage};

/// Most connections one run opens.
pub const CONNECTIONS_MAX: usize = 65_536;
/// Most requests in flight on one connection (closed loop), and the open loop's cap.
pub const IN_FLIGHT_PER_CONNECTION_MAX: usize = 4096;
/// Highest open-loop rate accepted, requests per second in total.
pub const RATE_PER_S_MAX: f64 = 10_000_000.0;
/// Highest latency the histograms hold, in microseconds (one hour); above it saturates.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Most distinct error kinds (status codes, ...) kept per operation; the rest count as `other`.
pub const ERROR_KINDS_MAX: usize = 64;
/// Socket read buffer of one connection.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// How often waiting loops look at the clock, in milliseconds.
const POLL_MS: u64 = 2;
/// How long the reader may take to see the server's Close answer, in milliseconds.
const CLOSE_WAIT_MS_MAX: u64 = 1000;

/// Closed or open loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// `in_flight` requests outstanding on every connection at all times.
    Closed { in_flight: usize },
    /// `in_flight` requests outstanding in total, spread evenly over the connections (at
    /// least one each).
    ClosedTotal { in_flight: usize },
    /// `rate_per_s` requests per second in total, on a fixed schedule spread over the
    /// connections; at most `RunConfig::pending_max` outstanding per connection (a
    /// connection at its cap waits, and the wait counts in the latency).
    Open { rate_per_s: f64 },
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Gremlin WebSocket address and path.
    pub addr: SocketAddr,
    pub path: String,
    /// CPUs for the generator's executors (one pinned executor each).
    pub cpus: Vec<usize>,
    pub connections: usize,
    pub mode: Mode,
    /// Open loop: most requests outstanding per connection.
    pub pending_max: usize,
    /// Admin address of the server, scraped for connections per core.
    pub admin: Option<SocketAddr>,
    /// Print a progress line to stderr once a second.
    pub progress: bool,
    pub seed: u64,
    pub connect_timeout: Duration,
    /// After the measured window, how long outstanding requests may take to finish; those
    /// still outstanding then count as `no-response` errors.
    pub drain: Duration,
    /// Largest response message accepted.
    pub message_size_bytes_max: usize,
    /// User and password answering the server's SASL PLAIN challenge (407), as
    /// gremlinpython does; without them a 407 counts as an error.
    pub credentials: Option<(String, String)>,
}

impl RunConfig {
    /// Defaults for `addr`: 8 connections on CPU 0, closed loop with 1 in flight.
    pub fn new(addr: SocketAddr) -> RunConfig {
        RunConfig {
            addr,
            path: "/gremlin".to_string(),
            cpus: vec![0],
            connections: 8,
            mode: Mode::Closed { in_flight: 1 },
            pending_max: 256,
            admin: None,
            progress: false,
            seed: 0x5eed,
            connect_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(5),
            message_size_bytes_max: 64 * 1024 * 1024,
            credentials: None,
        }
    }
}

/// A run that could not start.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// Latency and outcomes of one operation on one executor.
pub struct OpStats {
    /// Latency of successful requests (200/204), microseconds.
    pub hist: Histogram<u64>,
    pub ok: u64,
    /// Failed requests by status code, or `io` / `no-response` / `not-sent`.
    pub errors: BTreeMap<String, u64>,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            hist: latency_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    fn error(&mut self, what: &str) {
        // A server may send any status code: past the limit, new kinds share one entry.
        let key = if self.errors.len() >= ERROR_KINDS_MAX && !self.errors.contains_key(what) {
            "other"
        } else {
            what
        };
        *self.errors.entry(key.to_string()).or_insert(0) += 1;
    }
}

/// What the connections of one executor record.
struct ThreadStats {
    ops: Vec<OpStats>,
    /// Open loop: how late each measured request was sent after its scheduled start (the
    /// generator's own lag, already included in the latencies), microseconds.
    send_lag: Histogram<u64>,
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("constant histogram bounds are valid")
}

/// Counters the progress line reads, shared by every executor.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    connected: AtomicUsize,
    connect_failed: AtomicUsize,
    threads_done: AtomicUsize,
    /// The first connection failure was printed (the others are only counted).
    connect_error_shown: AtomicBool,
}

/// Timing of the run, published by the coordinating thread once every connection is up.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    measured_from: Instant,
    end: Instant,
}

/// What one executor hands back.
struct ThreadResult {
    stats: ThreadStats,
    /// Successful measured requests per connection.
    per_connection: Vec<u64>,
    /// Connection-level failures (`connect: ...`, `unmatched-response`, `protocol`).
    other: BTreeMap<String, u64>,
}

/// One connection's state, shared by its reader, writer and driver tasks.
struct Conn {
    workload: Arc<Workload>,
    mode: Mode,
    clock: Clock,
    rng: RefCell<Rng>,
    /// Frames waiting for the writer.
    out: RefCell<Vec<u8>>,
    wake: LocalSender<()>,
    /// Outstanding requests: id -> (op index, intended start).
    pending: RefCell<HashMap<[u8; 16], (usize, Instant)>>,
    stats: Rc<RefCell<ThreadStats>>,
    other: Rc<RefCell<BTreeMap<String, u64>>>,
    completed: Cell<u64>,
    /// Open loop: free request slots.
    slots: Semaphore,
    closed: Cell<bool>,
    finishing: Cell<bool>,
    progress: Arc<Progress>,
    credentials: Option<(String, String)>,
    /// Reused buffers of request encoding.
    scratch: RefCell<Scratch>,
}

impl Conn {
    fn count_other(&self, what: &str) {
        *self.other.borrow_mut().entry(what.to_string()).or_insert(0) += 1;
    }

    fn push_frame(&self, opcode: u8, payload: &[u8]) {
        let mask = self.rng.borrow_mut().next_u64().to_le_bytes();
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        ws::encode_masked(opcode, payload, mask, &mut self.out.borrow_mut());
        let _ = self.wake.try_send(());
    }

    /// Sends one request of a randomly picked op whose latency counts from `intended`.
    fn issue(&self, intended: Instant) {
        if self.closed.get() {
            return;
        }
        let mut rng = self.rng.borrow_mut();
        let mut scratch = self.scratch.borrow_mut();
        let op = self.workload.pick(&mut rng);
        let id = rng.uuid();
        let frame = self.workload.encode_frame(op, &mut rng, id, &mut scratch);
        let mask = rng.next_u64().to_le_bytes();
        ws::encode_masked(
            0x2,
            frame,
            [mask[0], mask[1], mask[2], mask[3]],
            &mut self.out.borrow_mut(),
        );
        self.pending.borrow_mut().insert(id.0, (op, intended));
        self.progress.sent.fetch_add(1, Ordering::Relaxed);
        if matches!(self.mode, Mode::Open { .. })
            && intended >= self.clock.measured_from
            && intended < self.clock.end
        {
            let lag = Instant::now()
                .saturating_duration_since(intended)
                .as_micros();
            self.stats
                .borrow_mut()
                .send_lag
                .saturating_record(u64::try_from(lag).unwrap_or(u64::MAX).max(1));
        }
        let _ = self.wake.try_send(());
    }

    /// Answers a 407 challenge of request `id` with SASL PLAIN under the same request id
    /// (`processor=traversal`, `op=authentication`, `args={sasl}`), as gremlinpython does.
    fn authenticate(&self, id: Uuid, user: &str, password: &str) {
        let message = super::workload::authentication_request(id, user, password);
        match encode_request_frame(Format::GraphBinaryV1, &message) {
            Ok(frame) => self.push_frame(0x2, &frame),
            Err(_) => self.count_other("encode"),
        }
    }

    fn on_response(&self, body: &[u8]) {
        let (id, code) = match ws::response_header(body) {
            Ok(h) => h,
            Err(_) => {
                self.count_other("undecodable-response");
                return;
            }
        };
        if code == 206 {
            return;
        }
        if code == 407 {
            if let (Some(id), Some((user, password))) = (id, &self.credentials) {
                if self.pending.borrow().contains_key(&id) {
                    // The challenged request stays pending: its own response follows.
                    self.authenticate(Uuid(id), user, password);
                    return;
                }
            }
        }
        let Some((op, intended)) = id.and_then(|id| self.pending.borrow_mut().remove(&id)) else {
            self.count_other("unmatched-response");
            return;
        };
        let now = Instant::now();
        let ok = code == 200 || code == 204;
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.progress.errors.fetch_add(1, Ordering::Relaxed);
        }
        if intended >= self.clock.measured_from && intended < self.clock.end {
            if let Some(s) = self.stats.borrow_mut().ops.get_mut(op) {
                if ok {
                    let us = now.saturating_duration_since(intended).as_micros();
                    s.hist
                        .saturating_record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
                    s.ok += 1;
                    self.completed.set(self.completed.get() + 1);
                } else {
                    s.error(&code.to_string());
                }
            }
        }
        match self.mode {
            Mode::Closed { .. } | Mode::ClosedTotal { .. } => {
                if now < self.clock.end && !self.finishing.get() {
                    self.issue(now);
                }
            }
            Mode::Open { .. } => self.slots.signal(1),
        }
    }

    /// The connection died: every outstanding request fails with `io`.
    fn fail_all(&self, what: &str) {
        self.closed.set(true);
        // The writer may be waiting for work: let it see the connection is gone.
        let _ = self.wake.try_send(());
        let pending: Vec<(usize, Instant)> =
            self.pending.borrow_mut().drain().map(|(_, v)| v).collect();
        self.fail_pending(pending, what);
        self.slots.signal(IN_FLIGHT_PER_CONNECTION_MAX as u64);
    }

    /// Open loop: the requests scheduled every `interval` from `from` up to the end were not
    /// sent. They count as `not-sent` (those scheduled in the measured window), spread over
    /// the ops by weight (ops are picked at send time), computed rather than walked.
    fn count_unsent(&self, from: Instant, interval: Duration) {
        let step = interval.as_nanos().max(1);
        let slots_before = |t: Instant| t.saturating_duration_since(from).as_nanos().div_ceil(step);
        let all = slots_before(self.clock.end);
        let skipped = slots_before(self.clock.measured_from).min(all);
        let measured = all - skipped;
        self.progress
            .errors
            .fetch_add(u64::try_from(all).unwrap_or(u64::MAX), Ordering::Relaxed);
        if measured == 0 {
            return;
        }
        let total = u128::from(self.workload.weight_total.max(1));
        let mut stats = self.stats.borrow_mut();
        let mut given = 0u128;
        for (i, op) in self.workload.ops.iter().enumerate() {
            let share = measured * u128::from(op.weight) / total;
            given += share;
            let n = if i + 1 == self.workload.ops.len() {
                share + (measured - given.min(measured))
            } else {
                share
            };
            if n > 0 {
                if let Some(s) = stats.ops.get_mut(i) {
                    *s.errors.entry("not-sent".to_string()).or_insert(0) +=
                        u64::try_from(n).unwrap_or(u64::MAX);
                }
            }
        }
    }

    fn fail_pending(&self, pending: Vec<(usize, Instant)>, what: &str) {
        let mut stats = self.stats.borrow_mut();
        for (op, intended) in pending {
            // Done (as failures), so the progress line's in-flight figure drops too.
            self.progress.done.fetch_add(1, Ordering::Relaxed);
            self.progress.errors.fetch_add(1, Ordering::Relaxed);
            if intended >= self.clock.measured_from && intended < self.clock.end {
                if let Some(s) = stats.ops.get_mut(op) {
                    s.error(what);
                }
            }
        }
    }
}

async fn read_loop(
    conn: Rc<Conn>,
    mut reader: impl futures_lite::AsyncRead + Unpin,
    mut fr: FrameReader,
) {
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    loop {
        loop {
            match fr.next_message() {
                Ok(Some(ServerMessage::Data(b))) => conn.on_response(&b),
                Ok(Some(ServerMessage::Ping(p))) => conn.push_frame(0xA, &p),
                Ok(Some(ServerMessage::Pong)) => {}
                Ok(Some(ServerMessage::Close(_))) => {
                    if !conn.finishing.get() {
                        conn.count_other("closed-by-server");
                    }
                    conn.fail_all("io");
                    return;
                }
                Ok(None) => break,
                Err(_) => {
                    conn.count_other("protocol");
                    conn.fail_all("io");
                    return;
                }
            }
        }
        match reader.read(&mut buf).await {
            Ok(n) if n > 0 => fr.buffer(buf.get(..n).unwrap_or_default()),
            _ => {
                if !conn.finishing.get() {
                    conn.count_other("connection-lost");
                }
                conn.fail_all("io");
                return;
            }
        }
    }
}

async fn write_loop(
    conn: Rc<Conn>,
    mut writer: impl futures_lite::AsyncWrite + Unpin,
    wake: LocalReceiver<()>,
) {
    let mut chunk = Vec::new();
    loop {
        std::mem::swap(&mut chunk, &mut *conn.out.borrow_mut());
        if chunk.is_empty() {
            if conn.closed.get() || (conn.finishing.get() && conn.pending.borrow().is_empty()) {
                break;
            }
            if wake.recv().await.is_none() {
                break;
            }
            continue;
        }
        if writer.write_all(&chunk).await.is_err() {
            conn.fail_all("io");
            break;
        }
        chunk.clear();
    }
    let _ = writer.flush().await;
}

/// Connects and upgrades; returns the stream and the bytes read past the 101 answer.
async fn connect(cfg: &RunConfig, rng: &mut Rng) -> Result<(TcpStream, Vec<u8>), String> {
    use base64::Engine as _;
    let mut stream = TcpStream::connect_timeout(cfg.addr, cfg.connect_timeout)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let key_bytes: Vec<u8> = rng
        .next_u64()
        .to_le_bytes()
        .into_iter()
        .chain(rng.next_u64().to_le_bytes())
        .collect();
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
    let host = cfg.addr.to_string();
    stream
        .write_all(&ws::handshake_request(&host, &cfg.path, &key))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        if n == 0 {
            return Err("handshake: connection closed".to_string());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(len) =
            ws::check_handshake_response(&buf, &key).map_err(|e| format!("handshake: {e}"))?
        {
            return Ok((stream, buf.split_off(len)));
        }
    }
}

async fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        glommio::timer::sleep(t - now).await;
    }
}

/// One connection's whole life: connect, wait for the start, drive requests, drain, close.
#[allow(clippy::too_many_arguments)]
async fn run_connection(
    cfg: Arc<RunConfig>,
    workload: Arc<Workload>,
    index: usize,
    start: Arc<OnceLock<Clock>>,
    stats: Rc<RefCell<ThreadStats>>,
    other: Rc<RefCell<BTreeMap<String, u64>>>,
    progress: Arc<Progress>,
) -> u64 {
    let mut rng = Rng::new(cfg.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let connected = glommio::timer::timeout(cfg.connect_timeout, async {
        Ok(connect(&cfg, &mut rng).await)
    })
    .await
    .unwrap_or_else(|_| Err("connect: timed out (TCP connect and WebSocket upgrade)".to_string()));
    let (stream, leftover) = match connected {
        Ok(s) => {
            progress.connected.fetch_add(1, Ordering::Relaxed);
            s
        }
        Err(e) => {
            if !progress.connect_error_shown.swap(true, Ordering::Relaxed) {
                eprintln!("coregraph-perf: connection {index} to {}: {e}", cfg.addr);
            }
            let what = e.split(':').next().unwrap_or("connect").to_string();
            *other
                .borrow_mut()
                .entry(format!("{what}-failed"))
                .or_insert(0) += 1;
            progress.connect_failed.fetch_add(1, Ordering::Relaxed);
            return 0;
        }
    };
    let clock = loop {
        if let Some(c) = start.get() {
            break *c;
        }
        glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
    };
    let (reader, writer) = futures_lite::io::split(stream);
    let (wake_tx, wake_rx) = local_channel::new_bounded(1);
    let mut fr = FrameReader::new(cfg.message_size_bytes_max);
    fr.buffer(&leftover);
    let pending_max = cfg.pending_max.clamp(1, IN_FLIGHT_PER_CONNECTION_MAX);
    let conn = Rc::new(Conn {
        workload,
        mode: cfg.mode,
        clock,
        rng: RefCell::new(rng),
        out: RefCell::new(Vec::new()),
        wake: wake_tx,
        pending: RefCell::new(HashMap::new()),
        stats,
        other,
        completed: Cell::new(0),
        slots: Semaphore::new(pending_max as u64),
        closed: Cell::new(false),
        finishing: Cell::new(false),
        progress,
        credentials: cfg.credentials.clone(),
        scratch: RefCell::new(Scratch::default()),
    });
    let reader_task = glommio::spawn_local(read_loop(conn.clone(), reader, fr));
    let writer_task = glommio::spawn_local(write_loop(conn.clone(), writer, wake_rx));
    sleep_until(clock.start).await;
    match cfg.mode {
        Mode::Closed { .. } | Mode::ClosedTotal { .. } => {
            let n = match cfg.mode {
                Mode::ClosedTotal { in_flight } => {
                    let conns = cfg.connections.max(1);
                    in_flight / conns + usize::from(index < in_flight % conns)
                }
                Mode::Closed { in_flight } => in_flight,
                Mode::Open { .. } => 0,
            };
            for _ in 0..n.clamp(1, IN_FLIGHT_PER_CONNECTION_MAX) {
                conn.issue(Instant::now());
            }
            sleep_until(clock.end).await;
        }
        Mode::Open { rate_per_s } => {
            let per_conn = rate_per_s / cfg.connections.max(1) as f64;
            let interval = Duration::from_secs_f64(1.0 / per_conn.max(1e-6));
            // The connections' schedules are staggered over one interval, so the total
            // rate is smooth rather than bursts of one request per connection.
            let offset = interval.mul_f64(index as f64 / cfg.connections.max(1) as f64);
            let mut i: u32 = 0;
            loop {
                let intended = clock.start + offset + interval * i;
                if intended >= clock.end || conn.closed.get() {
                    break;
                }
                sleep_until(intended).await;
                let left = clock.end.saturating_duration_since(Instant::now());
                if glommio::timer::timeout(left, async { conn.slots.acquire(1).await })
                    .await
                    .is_err()
                    || conn.closed.get()
                {
                    // The rest of the schedule was never sent (the connection stayed at its
                    // cap, or died): each scheduled request counts as `not-sent`, so a
                    // stalled server cannot shrink the denominator.
                    conn.count_unsent(intended, interval);
                    break;
                }
                conn.issue(intended);
                i = i.saturating_add(1);
            }
        }
    }
    conn.finishing.set(true);
    let drain_end = clock.end + cfg.drain;
    while !conn.pending.borrow().is_empty() && !conn.closed.get() && Instant::now() < drain_end {
        glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
    }
    let left: Vec<(usize, Instant)> = conn.pending.borrow_mut().drain().map(|(_, v)| v).collect();
    conn.fail_pending(left, "no-response");
    if !conn.closed.get() {
        conn.push_frame(0x8, &1000u16.to_be_bytes());
    }
    writer_task.await;
    let _ = glommio::timer::timeout(Duration::from_millis(CLOSE_WAIT_MS_MAX), async {
        reader_task.await;
        Ok(())
    })
    .await;
    conn.completed.get()
}

/// Connections per core from the server's `/metrics` (`coregraph_connections_total`).
pub fn scrape_connections_total(admin: SocketAddr) -> Result<Vec<u64>, String> {
    let text = report::http_get(admin, "/metrics")?;
    let mut per_core: BTreeMap<usize, u64> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("coregraph_connections_total{core=\"") else {
            continue;
        };
        let Some((core, value)) = rest.split_once("\"}") else {
            continue;
        };
        if let (Ok(core), Ok(v)) = (core.parse::<usize>(), value.trim().parse::<u64>()) {
            per_core.insert(core, v);
        }
    }
    if per_core.is_empty() {
        return Err("no coregraph_connections_total in /metrics".to_string());
    }
    let cores = per_core.keys().max().map_or(0, |m| m + 1);
    Ok((0..cores)
        .map(|c| per_core.get(&c).copied().unwrap_or(0))
        .collect())
}

/// Runs `workload` and reports it.
pub fn run(cfg: &RunConfig, workload: Arc<Workload>) -> Result<WorkloadReport, RunError> {
    if cfg.cpus.is_empty() {
        return Err(RunError("no CPU given".to_string()));
    }
    if cfg.connections == 0 || cfg.connections > CONNECTIONS_MAX {
        return Err(RunError(format!(
            "{} connections: must be 1..={CONNECTIONS_MAX}",
            cfg.connections
        )));
    }
    match cfg.mode {
        Mode::Open { rate_per_s }
            if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= RATE_PER_S_MAX) =>
        {
            return Err(RunError(format!(
                "rate {rate_per_s}: must be above 0 and at most {RATE_PER_S_MAX}"
            )));
        }
        Mode::Closed { in_flight }
            if in_flight == 0 || in_flight > IN_FLIGHT_PER_CONNECTION_MAX =>
        {
            return Err(RunError(format!(
                "{in_flight} in flight per connection: must be 1..={IN_FLIGHT_PER_CONNECTION_MAX}"
            )));
        }
        Mode::ClosedTotal { in_flight }
            if in_flight < cfg.connections
                || in_flight > IN_FLIGHT_PER_CONNECTION_MAX.saturating_mul(cfg.connections) =>
        {
            return Err(RunError(format!(
                "{in_flight} in flight in total: at least one per connection ({}) and at most {IN_FLIGHT_PER_CONNECTION_MAX} per connection",
                cfg.connections
            )));
        }
        _ => {}
    }
    let before = cfg.admin.map(scrape_connections_total);
    let cfg_arc = Arc::new(cfg.clone());
    let progress = Arc::new(Progress::default());
    let start: Arc<OnceLock<Clock>> = Arc::new(OnceLock::new());
    let threads = cfg.cpus.len().min(cfg.connections);
    let mut handles = Vec::with_capacity(threads);
    for (t, &cpu) in cfg.cpus.iter().take(threads).enumerate() {
        let cfg = cfg_arc.clone();
        let workload = workload.clone();
        let progress = progress.clone();
        let start = start.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("perf-gremlin-{t}"))
            .spawn(move || async move {
                let stats = Rc::new(RefCell::new(ThreadStats {
                    ops: (0..workload.ops.len()).map(|_| OpStats::new()).collect(),
                    send_lag: latency_histogram(),
                }));
                let other = Rc::new(RefCell::new(BTreeMap::new()));
                let tasks: Vec<_> = (t..cfg.connections)
                    .step_by(threads)
                    .map(|i| {
                        glommio::spawn_local(run_connection(
                            cfg.clone(),
                            workload.clone(),
                            i,
                            start.clone(),
                            stats.clone(),
                            other.clone(),
                            progress.clone(),
                        ))
                    })
                    .collect();
                let mut per_connection = Vec::with_capacity(tasks.len());
                for task in tasks {
                    per_connection.push(task.await);
                }
                progress.threads_done.fetch_add(1, Ordering::Relaxed);
                ThreadResult {
                    stats: stats.replace(ThreadStats {
                        ops: Vec::new(),
                        send_lag: latency_histogram(),
                    }),
                    per_connection,
                    other: other.take(),
                }
            })
            .map_err(|e| RunError(format!("executor on CPU {cpu}: {e}")))?;
        handles.push(handle);
    }
    // Every connection up (or failed), then the clock starts.
    let connect_deadline = Instant::now() + cfg.connect_timeout + Duration::from_secs(1);
    while progress.connected.load(Ordering::Relaxed)
        + progress.connect_failed.load(Ordering::Relaxed)
        < cfg.connections
        && Instant::now() < connect_deadline
    {
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
    let after = cfg.admin.map(scrape_connections_total);
    let t0 = Instant::now() + Duration::from_millis(20);
    let clock = Clock {
        start: t0,
        measured_from: t0 + workload.warmup,
        end: t0 + workload.warmup + workload.duration,
    };
    let _ = start.set(clock);
    let mut last = (Instant::now(), 0u64);
    while progress.threads_done.load(Ordering::Relaxed) < threads {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if cfg.progress && now.duration_since(last.0) >= Duration::from_secs(1) {
            let done = progress.done.load(Ordering::Relaxed);
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            let phase = if now < clock.measured_from {
                "warm-up"
            } else if now < clock.end {
                "measure"
            } else {
                "drain"
            };
            eprintln!(
                "[{:>6.1}s] {:<7} {:>10.0} req/s  done {:>10}  errors {:>8}  in flight {:>6}  connections {}/{}",
                now.saturating_duration_since(t0).as_secs_f64(),
                phase,
                rate,
                done,
                progress.errors.load(Ordering::Relaxed),
                progress.sent.load(Ordering::Relaxed).saturating_sub(done),
                progress.connected.load(Ordering::Relaxed),
                cfg.connections,
            );
            last = (now, done);
        }
    }
    if cfg.progress {
        let done = progress.done.load(Ordering::Relaxed);
        eprintln!(
            "[{:>6.1}s] end     done {done} requests, errors {}, connections {}/{}",
            Instant::now().saturating_duration_since(t0).as_secs_f64(),
            progress.errors.load(Ordering::Relaxed),
            progress.connected.load(Ordering::Relaxed),
            cfg.connections,
        );
    }
    let mut ops: Vec<OpStats> = (0..workload.ops.len()).map(|_| OpStats::new()).collect();
    let mut send_lag = latency_histogram();
    let mut per_connection = Vec::with_capacity(cfg.connections);
    let mut other: BTreeMap<String, u64> = BTreeMap::new();
    for h in handles {
        let r = h
            .join()
            .map_err(|e| RunError(format!("generator executor failed: {e}")))?;
        let _ = send_lag.add(&r.stats.send_lag);
        for (acc, s) in ops.iter_mut().zip(r.stats.ops) {
            let _ = acc.hist.add(&s.hist);
            acc.ok += s.ok;
            for (k, v) in s.errors {
                *acc.errors.entry(k).or_insert(0) += v;
            }
        }
        per_connection.extend(r.per_connection);
        for (k, v) in r.other {
            *other.entry(k).or_insert(0) += v;
        }
    }
    let server_cores = match (before, after) {
        (Some(Ok(b)), Some(Ok(a))) => Some(
            a.iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(b.get(i).copied().unwrap_or(0)))
                .collect(),
        ),
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            *other.entry(format!("admin-scrape: {e}")).or_insert(0) += 1;
            None
        }
        _ => None,
    };
    let secs = workload.duration.as_secs_f64();
    let op_reports = workload
        .ops
        .iter()
        .zip(&ops)
        .map(|(op, s)| OpReport::from_histogram(&op.name, &op.text, &s.hist, s.ok, &s.errors, secs))
        .collect();
    Ok(WorkloadReport {
        workload: workload.name.clone(),
        mode: match cfg.mode {
            Mode::ClosedTotal { in_flight } => format!(
                "closed loop, {} in flight in total over {} connections",
                in_flight.max(cfg.connections),
                cfg.connections
            ),
            Mode::Closed { in_flight } => format!(
                "closed loop, {in_flight} in flight per connection ({} total)",
                in_flight * cfg.connections
            ),
            Mode::Open { rate_per_s } => format!("open loop, {rate_per_s} req/s target"),
        },
        connections: cfg.connections,
        connected: progress.connected.load(Ordering::Relaxed),
        cpus: cfg.cpus.clone(),
        warmup_s: workload.warmup.as_secs_f64(),
        duration_s: secs,
        ops: op_reports,
        send_lag_us: (matches!(cfg.mode, Mode::Open { .. }) && !send_lag.is_empty())
            .then(|| [0.5, 0.99, 1.0].map(|q| send_lag.value_at_quantile(q))),
        per_connection_rps: per_connection
            .iter()
            .map(|&n| n as f64 / secs.max(1e-9))
            .collect(),
        server_connections_per_core: server_cores,
        other_errors: other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many distinct codes a server sends, an op keeps at most ERROR_KINDS_MAX kinds.
    #[test]
    fn error_kinds_are_bounded() {
        let mut s = OpStats::new();
        for code in 0..1000 {
            s.error(&code.to_string());
        }
        s.error("0");
        assert_eq!(s.errors.len(), ERROR_KINDS_MAX + 1);
        assert_eq!(s.errors.get("0"), Some(&2));
        assert_eq!(
            s.errors.get("other"),
            Some(&(1000 - ERROR_KINDS_MAX as u64))
        );
        assert_eq!(s.errors.values().sum::<u64>(), 1001);
    }
}
