//! The bulk loader (`coregraph load`): reads a Gremlin load CSV directory with every core and
//! writes it into the shards, offline (the data directory is locked, no server runs on it).
//!
//! Pipeline (one glommio executor per core; see `docs/graph-model.md`, "Bulk loading"):
//! 1. Files, and byte ranges of big files, are planned on the calling thread and shared out
//!    across cores by size. Each core parses its ranges and sends every row, in batches, to
//!    the core that owns it.
//! 2. **Vertices**: the owner writes each vertex record whole ([`Model::load_vertex`]). Then
//!    a barrier: every core has written every vertex it owns before any edge is read.
//! 3. **Edges**: a row goes (mesh 1) to the owner of its *in* vertex, which checks the vertex
//!    and adds its label; then (mesh 2) to the owner of its *out* vertex, whose single edge
//!    writer groups a batch per out vertex, plans its packs, claims the edge ids (mesh 3:
//!    create-only locators on the edge ids' owners, answered on a oneshot), writes the
//!    packs and the vertex record once per batch ([`Model::bulk_add_out_edges`]), and sends
//!    the in entries (mesh 3) to the in vertices' owners ([`Model::bulk_add_entries`]).
//!    A row is checked completely (both endpoints, id) before its first write, so a bad row
//!    never leaves half an edge.
//!    Offline, a vertex this load created is *resident* (see `Resident`): its record stays
//!    in memory through the edge phase, its packs are planned from it and new packs are
//!    written whole without a read, and its entries are added in memory; each core writes
//!    its changed resident records once at the end of the edge phase.
//! 4. At the end every core shuts down its host, which flushes every shard to the device.
//!    (Online, `load::online` runs `run_core` on a server's cores with no resident
//!    records and flushes their shards instead.)
//!
//! Deadlock freedom: the stages form a chain (mesh 1 -> mesh 2 -> mesh 3), each mesh has its
//! own bounded channels, and the last stage's handlers never send on a mesh (they answer on
//! oneshots and read through the runtime, whose handlers only touch local shards). So every
//! send waits only on a stage further down the chain, which always drains.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::channels::local_channel;
use glommio::sync::Semaphore;
use glommio::{LocalExecutorBuilder, Placement};
use gremlin::value::{Property, Value};
use shards::index::BuildDigestHasher;
use shards::DataDir;

use crate::load::csv::{
    self, Cardinality, EdgeRow, FileKind, FilePlan, Limits, Row, RowError, VertexRow,
};
use crate::model::bulk::{plan_packs, BulkEdge, NewEntry, PackPlan, VertexLoad};
use crate::model::keys::{Dir, ElementId, IntWidth, KeySpace};
use crate::model::kv::Digest;
use crate::model::ops::{Model, SystemClock};
use crate::model::records::{earliest_void, EdgeLocator, PackEdge, VertexRecord};
use crate::model::{ModelConfig, ModelError};
use crate::runtime::{oneshot, Cluster, RoutedKv, RuntimeConfig};

/// Default rows per batch sent from one core to another.
pub const BATCH_ROWS_DEFAULT: usize = 2048;
/// Largest batch.
pub const BATCH_ROWS_MAX: usize = 1 << 16;
/// Capacity of each loader channel, in batches.
pub const LOAD_CHANNEL_BATCHES: usize = 8;
/// Generated ids (one per vertex property) a loader core reserves at a time. The default
/// block of [`crate::model::ops::ID_BLOCK_IDS`] meant a read-modify-write of the core's
/// allocator record (on whichever core owns its key) every 1024 properties.
pub const LOAD_ID_BLOCK_IDS: u64 = 1 << 20;
/// Default edges one core's edge writer gathers before it writes (so that a vertex's packs
/// and record are written once per many of its edges, not once per edge).
pub const WRITER_BUFFER_EDGES_DEFAULT: usize = 8 << 20;
/// Largest edge-writer buffer.
pub const WRITER_BUFFER_EDGES_MAX: usize = 64 << 20;
/// Batches queued for one core's edge writer.
pub const WRITER_QUEUE_BATCHES: usize = 16;
/// Default memory budget of resident vertex records (all cores together): the vertices this
/// load creates keep their record (edge cache, pack state) in memory for the whole edge
/// phase and are written once at its end, instead of read and written per batch.
pub const RESIDENT_BYTES_DEFAULT: usize = 4 << 30;
/// Estimated memory of one resident record besides its encoded size.
const RESIDENT_RECORD_BYTES: usize = 256;
/// Estimated memory of one adjacency entry in a resident record.
const RESIDENT_ENTRY_BYTES: usize = 96;
/// Files smaller than this are read by one core whole.
pub const SPLIT_BYTES_MIN: u64 = 8 << 20;
/// Distinct labels each core keeps its own copy of (past it, labels are shared as read).
pub const INTERNED_LABELS_MAX: usize = 4096;
/// Vertex labels remembered per core for the in-vertex check (then read from the store).
pub const LABEL_CACHE_ENTRIES_MAX: usize = 16 << 20;
/// Ids remembered per core to tell a duplicate in this load from a rerun.
pub const RUN_IDS_MAX: usize = 64 << 20;
/// Default error budget: rows that may fail before the load stops.
pub const ERRORS_MAX_DEFAULT: u64 = 1000;
/// Interval of the progress line.
pub const PROGRESS_MS: u64 = 1000;
/// How often waits poll a flag.
const POLL_MS: u64 = 2;
/// The store as the loader writes it: a write refused for overload (the device is slower
/// than the loader) is retried after a pause instead of failing the load.
pub type RetryKv = crate::io::retry::OverloadRetry<RoutedKv>;

/// How long the calling thread waits for a core to finish after the others did.
const CORE_WAIT_S_MAX: u64 = 24 * 3600;

/// Settings of one load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Cores (executors) to load with.
    pub cores: usize,
    /// CPUs to pin the executors to (empty: unpinned).
    pub cpus: Vec<usize>,
    /// The named graph to load into.
    pub graph: String,
    /// The graph model's settings.
    pub model: ModelConfig,
    /// Where rejected rows are written (`file:line: kind: message` per line).
    pub errors_path: PathBuf,
    /// Rows that may be rejected; one more stops the load.
    pub errors_max: u64,
    /// Rows per inter-core batch.
    pub batch_rows: usize,
    /// Edges each core's edge writer gathers before writing them grouped per out vertex.
    pub writer_buffer_edges: usize,
    /// Bytes (estimated) of vertex records all cores together keep in memory for the edge
    /// phase (see [`RESIDENT_BYTES_DEFAULT`]); 0 keeps none (every update reads the store).
    pub resident_bytes: usize,
    /// CSV reader limits.
    pub limits: Limits,
    /// Print a progress line every [`PROGRESS_MS`] (tracing, info level).
    pub progress: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            cores: 1,
            cpus: Vec::new(),
            graph: crate::runtime::DEFAULT_GRAPH.to_string(),
            model: ModelConfig::default(),
            errors_path: PathBuf::from("coregraph-load-errors.txt"),
            errors_max: ERRORS_MAX_DEFAULT,
            batch_rows: BATCH_ROWS_DEFAULT,
            writer_buffer_edges: WRITER_BUFFER_EDGES_DEFAULT,
            resident_bytes: RESIDENT_BYTES_DEFAULT,
            limits: Limits::default(),
            progress: true,
        }
    }
}

/// What a load did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub files: usize,
    pub bytes: u64,
    pub vertex_rows: u64,
    pub edge_rows: u64,
    pub vertices_created: u64,
    /// Vertices found already loaded, identical (a rerun).
    pub vertices_present: u64,
    pub edges_created: u64,
    /// Edges found already loaded, identical (a rerun).
    pub edges_present: u64,
    /// Rejected rows (and files), by kind.
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    /// Set when the error budget stopped the load.
    pub stopped: Option<String>,
    pub elapsed_ms: u64,
    /// Time of the vertex phase and of the edge phase (to the end of the flush).
    pub vertex_phase_ms: u64,
    pub edge_phase_ms: u64,
}

impl std::fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = (self.elapsed_ms as f64 / 1000.0).max(1e-3);
        let edge_secs = (self.edge_phase_ms as f64 / 1000.0).max(1e-3);
        writeln!(
            f,
            "load: {} files, {:.1} MiB in {secs:.2} s (vertices {:.2} s, edges {:.2} s incl. flush)",
            self.files,
            self.bytes as f64 / (1 << 20) as f64,
            self.vertex_phase_ms as f64 / 1000.0,
            edge_secs,
        )?;
        writeln!(
            f,
            "load: vertices: {} rows, {} created, {} already present",
            self.vertex_rows, self.vertices_created, self.vertices_present
        )?;
        writeln!(
            f,
            "load: edges: {} rows, {} created, {} already present; {:.0} edges/s in the edge phase",
            self.edge_rows,
            self.edges_created,
            self.edges_present,
            (self.edges_created + self.edges_present) as f64 / edge_secs
        )?;
        write!(f, "load: {} rejected rows", self.errors_total)?;
        for (k, n) in &self.errors {
            write!(f, ", {k}: {n}")?;
        }
        if let Some(s) = &self.stopped {
            write!(f, "\nload: STOPPED: {s}")?;
        }
        Ok(())
    }
}

/// Why a load could not run (rejected rows are not errors of the load: see the summary).
#[derive(Debug)]
pub enum LoadError {
    /// The input directory, the error file or a setting.
    Setup(String),
    /// The runtime or the store failed.
    Store(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Setup(m) => write!(f, "load: {m}"),
            LoadError::Store(m) => write!(f, "load: store: {m}"),
        }
    }
}

impl std::error::Error for LoadError {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An edge row on its way, with its id settled.
#[derive(Clone, Debug)]
struct EdgeMsg {
    /// Index of the file's plan in [`Shared::plans`] (not its name: an `Arc` shared by
    /// every row of a file would have its count bumped by both cores for every row).
    file: u32,
    line: u64,
    id: ElementId,
    label: Arc<str>,
    from: Arc<str>,
    to: Arc<str>,
    props: Vec<Property>,
    /// Filled by the in vertex's owner (`None` before: no allocation per row).
    in_label: Option<Arc<str>>,
    in_void_s: u32,
    /// Digests of the in and out vertices' records (computed once, where first needed).
    to_d: Digest,
    from_d: Digest,
}

enum M1 {
    /// Vertex rows with their record digests.
    Vertices(Vec<(Digest, VertexRow)>),
    Edges(Vec<EdgeMsg>),
    /// The sender has sent all its rows of this phase.
    Done,
}

enum M2 {
    Edges(Vec<EdgeMsg>),
    Done,
}

/// Claims of edge ids sent to the ids' owner: the locators to write create-only, encoded one
/// after another into one buffer (no allocation, no shared count, per edge). What a rerun
/// compares (label, in vertex, properties) stays with the writer, which has the row.
#[derive(Default)]
struct Claims {
    /// The locators' digests.
    digests: Vec<Digest>,
    /// Where each locator ends in `bytes`.
    ends: Vec<usize>,
    bytes: Vec<u8>,
}

impl Claims {
    fn push(&mut self, digest: Digest, edge: &ElementId, out: &ElementId, pack_no: u32) {
        EdgeLocator::encode_parts(edge, out, pack_no, &mut self.bytes);
        self.ends.push(self.bytes.len());
        self.digests.push(digest);
    }

    fn len(&self) -> usize {
        self.digests.len()
    }

    /// Claim `i`: its digest and encoded locator.
    fn get(&self, i: usize) -> Option<(&Digest, &[u8])> {
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)?,
        };
        let end = *self.ends.get(i)?;
        Some((self.digests.get(i)?, self.bytes.get(start..end)?))
    }
}

#[derive(Debug)]
enum Claimed {
    /// The locator is written: write the edge.
    New,
    /// A locator for this id was there already (the owner's answer; the writer compares it
    /// with its row and turns it into one of the others).
    Exists(EdgeLocator),
    /// The same edge is already loaded (a rerun), in this pack.
    Present(u32),
    /// The id appears more than once in this load.
    Repeated,
    /// The id is taken by another edge.
    Duplicate(String),
    /// The store failed.
    Failed(String),
}

enum M3 {
    Claims(Claims, oneshot::Sender<Vec<Claimed>>),
    /// In entries: (in vertex, entry, ensure), plus the rows for error reports.
    InEntries(Vec<InEntry>),
    Done,
}

/// An in entry for the in vertex's owner: (record digest, vertex, entry, ensure: add only
/// if missing).
type InEntry = (Digest, ElementId, NewEntry, bool);

/// An out vertex's share of a writer batch: (record digest, vertex id, new edges with their
/// pack numbers, entries of edges a rerun found present).
type PackWrite = (Digest, ElementId, Vec<(BulkEdge, u32)>, Vec<NewEntry>);

/// Placeholder digest before the real one is computed.
const NO_DIGEST: Digest = Digest([0; shards::digest::DIGEST_SIZE_BYTES]);

/// Maps keyed by record digests (uniformly random: the hash is 8 of their bytes).
type DigestMap<V> = HashMap<Digest, V, BuildDigestHasher>;
type DigestSet = HashSet<Digest, BuildDigestHasher>;

/// Counters shared by every core.
#[derive(Default)]
struct Counters {
    vertex_rows: AtomicU64,
    edge_rows: AtomicU64,
    vertices_created: AtomicU64,
    vertices_present: AtomicU64,
    edges_created: AtomicU64,
    edges_present: AtomicU64,
    bytes_done: AtomicU64,
    errors: AtomicU64,
}

struct ErrorSink {
    out: std::io::BufWriter<std::fs::File>,
    by_kind: BTreeMap<String, u64>,
    write_failed: Option<String>,
}

/// One core's builders of the three loader meshes.
type Meshes = (
    MeshBuilder<M1, Full>,
    MeshBuilder<M2, Full>,
    MeshBuilder<M3, Full>,
);

/// A vertex this load created, kept in memory through the edge phase (the offline loader
/// owns the data directory: nothing else writes the record).
struct Resident {
    rec: VertexRecord,
    /// Generation of the stored record.
    generation: u16,
    /// Edges this load wrote into `rec.open_pack` (0: that pack was never written).
    open_used: usize,
    /// The record in memory differs from the stored one.
    dirty: bool,
}

/// Vertex record digest -> (label, void time), for the in-vertex check.
type LabelCache = DigestMap<(Arc<str>, u32)>;

/// Everything the cores share.
pub(crate) struct Shared {
    input: PathBuf,
    opts: LoadOptions,
    plans: Vec<FilePlan>,
    /// Per core: (plan index, range index) to read, vertex files first.
    work: Vec<Vec<(usize, usize)>>,
    meshes: Mutex<Vec<Option<Meshes>>>,
    peers: Mutex<Vec<Option<usize>>>,
    counters: Counters,
    sink: Mutex<ErrorSink>,
    stop: AtomicBool,
    stopped: Mutex<Option<String>>,
    vertices_done: AtomicUsize,
    vertex_phase_end: Mutex<Option<Instant>>,
    /// Per core: claim requests sent to it, and those it has answered. A writer with
    /// unanswered claims on its own core lets them be answered before it goes on
    /// (`CoreLoad::serve_peers`): its store loops never yield, so otherwise a peer's writer
    /// waits out this writer's whole step.
    claims_sent: Vec<AtomicU64>,
    claims_answered: Vec<AtomicU64>,
    total_bytes: u64,
    /// When the load was planned.
    pub(crate) started: Instant,
}

// The mesh builders keep an `Rc` inside: they are cloned on the planning thread only and each
// clone is taken (and joined) by exactly one core.

impl Shared {
    fn reject(&self, file: &str, line: u64, kind: &str, message: &str) {
        let n = self.counters.errors.fetch_add(1, Ordering::AcqRel) + 1;
        {
            let mut s = lock(&self.sink);
            *s.by_kind.entry(kind.to_string()).or_insert(0) += 1;
            if s.write_failed.is_none() {
                if let Err(e) = writeln!(s.out, "{file}:{line}: {kind}: {message}") {
                    s.write_failed = Some(e.to_string());
                }
            }
        }
        if n > self.opts.errors_max && !self.stop.swap(true, Ordering::AcqRel) {
            *lock(&self.stopped) = Some(format!(
                "error budget exceeded: more than {} rejected rows (--errors-max); rows are listed in {}",
                self.opts.errors_max,
                self.opts.errors_path.display()
            ));
        }
    }

    /// The name of the file of plan `i` (for error reports).
    fn file_name(&self, i: u32) -> &str {
        self.plans.get(i as usize).map_or("?", |p| &p.file)
    }

    fn row_error(&self, e: &RowError) {
        self.reject(&e.file, e.line, &format!("{:?}", e.kind), &e.message);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Derives the id of an edge row without `~id`: a Long from the file's path relative to
/// the load directory and the row's line, so a rerun gives the row the same id. Bit 62 is
/// set (generated ids of the running server stay below 2^58); for one file the 62 low bits
/// are a bijection of the line, across files a collision is possible (about n^2 / 2^63 for
/// n edges) and is then reported as a duplicate edge id, never applied silently.
pub fn derived_edge_id(rel_path: &str, line: u64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rel_path.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut x = h.wrapping_add(line.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ((x & ((1u64 << 62) - 1)) | (1u64 << 62)) as i64
}

/// One core's loader state.
struct CoreLoad {
    shared: Arc<Shared>,
    core: usize,
    cores: usize,
    model: Model<RetryKv>,
    kv: RoutedKv,
    peer_of_core: Vec<usize>,
    s1: Senders<M1>,
    s2: Senders<M2>,
    s3: Senders<M3>,
    /// One sender at a time per (mesh, peer).
    gates: Vec<Rc<Semaphore>>,
    labels: RefCell<LabelCache>,
    run_vertices: RefCell<DigestSet>,
    run_edges: RefCell<DigestSet>,
    /// Labels as this core's own `Arc`s (see [`CoreLoad::intern`]).
    interned: RefCell<HashSet<Arc<str>>>,
    /// Resident vertex records of this core's vertices (see [`Resident`]); an entry is
    /// taken out only under the vertex's key lock.
    residents: RefCell<DigestMap<Resident>>,
    /// Estimated bytes of `residents`, against `resident_max_bytes`.
    resident_bytes: std::cell::Cell<usize>,
    resident_max_bytes: usize,
    /// The edge writer's queue; taken (closed) when every batch is queued.
    writer_tx: RefCell<Option<Rc<local_channel::LocalSender<Vec<EdgeMsg>>>>>,
    /// Time this core's parser spent, in the current phase, handling its own rows and
    /// waiting to send rows to peers (for the debug log of the phase).
    produce_waits: std::cell::Cell<(Duration, Duration)>,
}

fn vertex_id(s: &Arc<str>) -> ElementId {
    ElementId::Str(s.clone())
}

fn store_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl CoreLoad {
    fn owner(&self, d: &Digest) -> usize {
        self.kv.owner_core(d)
    }

    async fn gate(&self, mesh: usize, core: usize) -> Option<glommio::sync::Permit<'_>> {
        let g = self.gates.get(mesh * self.cores + core)?;
        g.acquire_permit(1).await.ok()
    }

    /// Sends `m` to `core` on mesh `mesh` (`senders`), through that mesh's gate for it.
    async fn send_on<T: Send>(
        &self,
        senders: &Senders<T>,
        mesh: usize,
        core: usize,
        m: T,
        what: &str,
    ) -> Result<(), String> {
        let peer = *self.peer_of_core.get(core).ok_or("no such core")?;
        let _g = self.gate(mesh, core).await;
        senders
            .send_to(peer, m)
            .await
            .map_err(|_| format!("core {core} stopped receiving {what}"))
    }

    async fn send1(&self, core: usize, m: M1) -> Result<(), String> {
        self.send_on(&self.s1, 0, core, m, "rows").await
    }

    async fn send2(&self, core: usize, m: M2) -> Result<(), String> {
        self.send_on(&self.s2, 1, core, m, "edges").await
    }

    async fn send3(&self, core: usize, m: M3) -> Result<(), String> {
        let claims = matches!(m, M3::Claims(..));
        self.send_on(&self.s3, 2, core, m, "claims").await?;
        if claims {
            if let Some(n) = self.shared.claims_sent.get(core) {
                n.fetch_add(1, Ordering::AcqRel);
            }
        }
        Ok(())
    }

    /// Lets this core answer the claims peers have sent it before its writer goes on: the
    /// writer sleeps (so the executor runs the mesh-3 handler) until every claim request
    /// sent to this core is answered. Called between the writer's long steps and chunks.
    async fn serve_peers(&self) {
        let (Some(sent), Some(answered)) = (
            self.shared.claims_sent.get(self.core),
            self.shared.claims_answered.get(self.core),
        ) else {
            return;
        };
        while answered.load(Ordering::Acquire) < sent.load(Ordering::Acquire)
            && !self.shared.stopping()
        {
            glommio::timer::sleep(Duration::from_micros(SERVE_PEERS_SLEEP_US)).await;
        }
    }

    /// [`in_lanes`] over chunks of [`SERVE_PEERS_EVERY`] items, serving peers' claims
    /// between chunks.
    async fn in_lanes_serving<'a, T: 'a, R: 'a, F, Fut>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        F: Fn(T) -> Fut + 'a,
        Fut: std::future::Future<Output = R> + 'a,
    {
        let mut out = Vec::with_capacity(items.len());
        let mut it = items.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<T> = it.by_ref().take(SERVE_PEERS_EVERY).collect();
            out.extend(in_lanes(chunk, &f).await);
            self.serve_peers().await;
        }
        out
    }

    // ----- stage 1 -----

    async fn handle1(&self, m: M1) -> Result<(), String> {
        match m {
            M1::Vertices(rows) => {
                for (vd, r) in rows {
                    self.write_vertex(vd, r).await?;
                }
                Ok(())
            }
            M1::Edges(rows) => self.resolve_in(rows).await,
            M1::Done => Ok(()),
        }
    }

    async fn write_vertex(&self, vd: Digest, r: VertexRow) -> Result<(), String> {
        let sh = &self.shared;
        let mut props: Vec<(Arc<str>, Value)> = Vec::new();
        for p in r.properties {
            match p.cardinality {
                Cardinality::Single => {
                    // One value per single column (the reader splits only multi columns).
                    for v in p.values.into_iter().take(1) {
                        props.push((p.name.clone(), v));
                    }
                }
                Cardinality::List => {
                    props.extend(p.values.into_iter().map(|v| (p.name.clone(), v)));
                }
                Cardinality::Set => {
                    for v in p.values {
                        if !props.iter().any(|(k, x)| *k == p.name && *x == v) {
                            props.push((p.name.clone(), v));
                        }
                    }
                }
            }
        }
        let id = vertex_id(&r.id);
        let label = self.intern(&r.label);
        match self
            .model
            .load_vertex_record(id, label.clone(), props)
            .await
        {
            Ok((found, written)) => {
                let dup = {
                    let mut run = self.run_vertices.borrow_mut();
                    if run.len() < RUN_IDS_MAX {
                        !run.insert(vd)
                    } else {
                        run.contains(&vd)
                    }
                };
                if dup {
                    sh.reject(
                        &r.file,
                        r.line,
                        "DuplicateVertex",
                        &format!("vertex id {:?} appears more than once in this load", r.id),
                    );
                    return Ok(());
                }
                {
                    let mut labels = self.labels.borrow_mut();
                    if labels.len() < LABEL_CACHE_ENTRIES_MAX {
                        labels.insert(vd, (label, 0));
                    }
                }
                if let Some((rec, generation)) = written {
                    self.admit(vd, rec, generation);
                }
                match found {
                    VertexLoad::Created => &sh.counters.vertices_created,
                    VertexLoad::Identical => &sh.counters.vertices_present,
                }
                .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(ModelError::VertexExists(_)) => {
                let msg = if self.run_vertices.borrow().contains(&vd) {
                    format!("vertex id {:?} appears more than once in this load", r.id)
                } else {
                    format!(
                        "vertex id {:?} already exists with another label or other properties",
                        r.id
                    )
                };
                sh.reject(&r.file, r.line, "DuplicateVertex", &msg);
                Ok(())
            }
            Err(e @ (ModelError::Encode(_) | ModelError::Limit { .. })) => {
                sh.reject(&r.file, r.line, "BadVertex", &e.to_string());
                Ok(())
            }
            Err(e) => Err(format!("{}:{}: {e}", r.file, r.line)),
        }
    }

    /// `s` as this core's own `Arc` (labels are few and cloned for every pack, entry and
    /// claim: an `Arc` from another core would have its count bumped by both cores).
    fn intern(&self, s: &Arc<str>) -> Arc<str> {
        let mut set = self.interned.borrow_mut();
        if let Some(x) = set.get(&**s) {
            return x.clone();
        }
        if set.len() >= INTERNED_LABELS_MAX {
            return s.clone();
        }
        let own: Arc<str> = Arc::from(&**s);
        set.insert(own.clone());
        own
    }

    // ----- resident records -----

    /// Keeps a record this load just wrote (`vd` its digest) in memory, within the budget.
    fn admit(&self, vd: Digest, rec: VertexRecord, generation: u16) {
        let bytes = RESIDENT_RECORD_BYTES
            + rec.props.len() * RESIDENT_ENTRY_BYTES
            + rec.cache.len() * RESIDENT_ENTRY_BYTES;
        let total = self.resident_bytes.get().saturating_add(bytes);
        if total > self.resident_max_bytes {
            return;
        }
        self.resident_bytes.set(total);
        self.residents.borrow_mut().insert(
            vd,
            Resident {
                rec,
                generation,
                open_used: 0,
                dirty: false,
            },
        );
    }

    /// Whether vertex record `vd` is resident and the budget allows `entries` more
    /// entries for it (charging them).
    fn resident_room(&self, vd: &Digest, entries: usize) -> bool {
        if !self.residents.borrow().contains_key(vd) {
            return false;
        }
        let total = self
            .resident_bytes
            .get()
            .saturating_add(entries * RESIDENT_ENTRY_BYTES);
        if total > self.resident_max_bytes {
            return false;
        }
        self.resident_bytes.set(total);
        true
    }

    /// Writes resident record `vd` if it changed and forgets it: from now on its updates
    /// read and write the store. The caller holds the record's key lock.
    async fn write_out(&self, vd: &Digest) -> Result<(), String> {
        use crate::model::kv::{Kv, WriteMode};
        let Some(r) = self.residents.borrow_mut().remove(vd) else {
            return Ok(());
        };
        if r.dirty {
            let bytes = r.rec.encode().map_err(store_err)?;
            self.model
                .kv
                .put(vd, &bytes, WriteMode::ExpectGeneration(r.generation))
                .await
                .map_err(|e| format!("vertex {}: {e}", r.rec.id))?;
        }
        Ok(())
    }

    /// [`CoreLoad::write_out`] under the record's key lock. The residency check is made
    /// under the lock too: `resident_entries` and `resident_out` take a resident record out
    /// of the map while they hold its lock, and a check without the lock would then send a
    /// concurrent update of the same vertex to the store path, which reads the stale stored
    /// record and writes it (lost update; the resident write-back then fails on its
    /// generation: "generation mismatch", seen on 1 M / 10 M with several writer batches).
    async fn evict(&self, vd: &Digest) -> Result<(), String> {
        let _g = self
            .model
            .locks()
            .lock(*vd)
            .await
            .ok_or("key lock queue full")?;
        self.write_out(vd).await
    }

    /// Writes every changed resident record (the end of the edge phase).
    async fn write_residents(&self) -> Result<(), String> {
        let ids: Vec<Digest> = self.residents.borrow().keys().copied().collect();
        for r in in_lanes(ids, |vd| async move { self.evict(&vd).await }).await {
            r?;
        }
        Ok(())
    }

    /// Adds `entries` to resident vertex record `vd` in memory (index pages are written
    /// when it becomes a supernode). `Ok(false)`: not resident (any more); the caller uses
    /// the store path.
    async fn resident_entries(
        &self,
        vd: &Digest,
        entries: &mut Vec<NewEntry>,
    ) -> Result<bool, String> {
        // Locked before the residency check (see `evict`).
        let _g = self
            .model
            .locks()
            .lock(*vd)
            .await
            .ok_or("key lock queue full")?;
        if !self.resident_room(vd, entries.len()) {
            self.write_out(vd).await?;
            return Ok(false);
        }
        let Some(mut r) = self.residents.borrow_mut().remove(vd) else {
            return Ok(false);
        };
        let res = self
            .model
            .add_entries_to(&mut r.rec, std::mem::take(entries))
            .await;
        r.dirty = true;
        let id = r.rec.id.clone();
        self.residents.borrow_mut().insert(*vd, r);
        res.map_err(|e| format!("entries of vertex {id}: {e}"))?;
        Ok(true)
    }

    /// Writes the new out-edges of resident vertex record `vd` (`(edge, pack number)`,
    /// claimed): new packs whole without a read, then the entries and pack state in memory.
    /// `Ok(Some(edges))`: not resident; the caller uses the store path.
    #[allow(clippy::type_complexity)]
    async fn resident_out(
        &self,
        vd: &Digest,
        edges: Vec<(BulkEdge, u32)>,
    ) -> Result<Option<Vec<(BulkEdge, u32)>>, String> {
        // Locked before the residency check (see `evict`).
        let _g = self
            .model
            .locks()
            .lock(*vd)
            .await
            .ok_or("key lock queue full")?;
        if !self.resident_room(vd, edges.len()) {
            self.write_out(vd).await?;
            return Ok(Some(edges));
        }
        let Some(mut r) = self.residents.borrow_mut().remove(vd) else {
            return Ok(Some(edges));
        };
        let res = self.resident_out_locked(&mut r, vd, edges).await;
        r.dirty = true;
        let id = r.rec.id.clone();
        self.residents.borrow_mut().insert(*vd, r);
        res.map_err(|e| format!("out-edges of vertex {id}: {e}"))?;
        Ok(None)
    }

    async fn resident_out_locked(
        &self,
        r: &mut Resident,
        vd: &Digest,
        edges: Vec<(BulkEdge, u32)>,
    ) -> Result<(), ModelError> {
        let mut by_pack: Vec<(u32, Vec<PackEdge>)> = Vec::new();
        let mut entries = Vec::with_capacity(edges.len());
        for (e, p) in edges {
            let pe = PackEdge {
                void_time_s: earliest_void(&[r.rec.void_time_s, e.in_void_s]),
                in_label: e.in_label,
                id: e.id,
                label: e.label,
                in_id: e.in_id,
                props: e.props,
            };
            entries.push(NewEntry {
                dir: Dir::Out,
                label: pe.label.clone(),
                edge: pe.id.clone(),
                other: pe.in_id.clone(),
                pack_no: p,
                // Only index entries use properties (the indexed keys).
                props: if self.model.cfg.indexed_edge_keys.is_empty() {
                    Vec::new()
                } else {
                    pe.props.clone()
                },
            });
            match by_pack.last_mut() {
                Some((q, list)) if *q == p => list.push(pe),
                _ => match by_pack.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, list)) => list.push(pe),
                    None => by_pack.push((p, vec![pe])),
                },
            }
        }
        for (p, list) in by_pack {
            let n = list.len();
            // The open pack holds earlier edges of this load unless it was never written.
            let fresh = !(p == r.rec.open_pack && r.open_used > 0);
            self.model
                .write_pack(vd, &r.rec.id, &r.rec.label, p, list, fresh)
                .await?;
            if p == r.rec.open_pack {
                r.open_used += n;
            } else if p > r.rec.open_pack {
                r.rec.open_pack = p;
                r.open_used = n;
            }
            r.rec.next_pack = r.rec.next_pack.max(p.saturating_add(1));
        }
        self.model.add_entries_to(&mut r.rec, entries).await
    }

    /// On the in vertex's owner: checks the in vertex, adds its label, forwards each edge to
    /// its out vertex's owner.
    async fn resolve_in(&self, rows: Vec<EdgeMsg>) -> Result<(), String> {
        let mut per: Vec<Vec<EdgeMsg>> = (0..self.cores).map(|_| Vec::new()).collect();
        for mut e in rows {
            let cached = self.labels.borrow().get(&e.to_d).cloned();
            let found = match cached {
                Some(x) => Some(x),
                None => self
                    .model
                    .vertex(&vertex_id(&e.to))
                    .await
                    .map_err(store_err)?
                    .map(|v| (v.label, v.void_time_s)),
            };
            let Some((label, void)) = found else {
                self.shared.reject(
                    self.shared.file_name(e.file),
                    e.line,
                    "MissingVertex",
                    &format!("~to vertex {:?} does not exist", e.to),
                );
                continue;
            };
            e.in_label = Some(label);
            e.in_void_s = void;
            e.from_d = self.model.space.vertex_digest(&vertex_id(&e.from));
            let c = self.owner(&e.from_d);
            if let Some(list) = per.get_mut(c) {
                list.push(e);
            }
        }
        for (c, list) in per.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            if c == self.core {
                self.to_writer(list).await?;
            } else {
                self.send2(c, M2::Edges(list)).await?;
            }
        }
        Ok(())
    }

    // ----- stage 2: the edge writer of this core (one task) -----

    async fn to_writer(&self, list: Vec<EdgeMsg>) -> Result<(), String> {
        let tx = self
            .writer_tx
            .borrow()
            .clone()
            .ok_or("edge writer closed")?;
        tx.send(list)
            .await
            .map_err(|_| "edge writer stopped".to_string())
    }

    async fn write_edges(&self, mut rows: Vec<EdgeMsg>) -> Result<(), String> {
        let sh = &self.shared;
        let t0 = Instant::now();
        let rows_n = rows.len();
        let step = |what: &str| {
            tracing::debug!(
                core = self.core,
                rows = rows_n,
                ms = t0.elapsed().as_millis() as u64,
                rss_mib = rss_mib(),
                "load: writer batch: {what}"
            );
        };
        for e in rows.iter_mut() {
            e.label = self.intern(&e.label);
            if let Some(l) = &e.in_label {
                e.in_label = Some(self.intern(l));
            }
        }
        // Group per out vertex, in arrival order, by row index (the rows stay in place).
        let mut order: Vec<Digest> = Vec::new();
        let mut gid: DigestMap<u32> = DigestMap::default();
        let mut row_group: Vec<u32> = Vec::with_capacity(rows.len());
        for e in &rows {
            let g = *gid.entry(e.from_d).or_insert_with(|| {
                order.push(e.from_d);
                (order.len() - 1) as u32
            });
            row_group.push(g);
        }
        drop(gid);
        // Members of each group: a counting sort of the row indices.
        let mut start = vec![0usize; order.len() + 1];
        for &g in &row_group {
            if let Some(x) = start.get_mut(g as usize + 1) {
                *x += 1;
            }
        }
        for k in 1..start.len() {
            let prev = start.get(k - 1).copied().unwrap_or(0);
            if let Some(x) = start.get_mut(k) {
                *x += prev;
            }
        }
        let mut fill = start.clone();
        let mut members = vec![0u32; rows.len()];
        for (ri, &g) in row_group.iter().enumerate() {
            if let Some(f) = fill.get_mut(g as usize) {
                if let Some(m) = members.get_mut(*f) {
                    *m = ri as u32;
                }
                *f += 1;
            }
        }
        drop((row_group, fill));
        let group = |g: usize| -> &[u32] {
            let (a, b) = (
                start.get(g).copied().unwrap_or(0),
                start.get(g + 1).copied().unwrap_or(0),
            );
            members.get(a..b).unwrap_or_default()
        };
        step("grouped");
        // Plan packs (resident records in memory, others from the store).
        let sizes: Vec<(Digest, Arc<str>, usize)> = order
            .iter()
            .enumerate()
            .filter_map(|(g, d)| {
                let first = *group(g).first()?;
                let from = rows.get(first as usize)?.from.clone();
                Some((*d, from, group(g).len()))
            })
            .collect();
        let per = self.model.cfg.pack_edges;
        let plans = self
            .in_lanes_serving(sizes, |(vd, from, n)| async move {
                let planned = self.residents.borrow().get(&vd).map(|r| PackPlan {
                    pack_nos: plan_packs(r.rec.open_pack, r.open_used, r.rec.next_pack, per, n),
                    label: r.rec.label.clone(),
                    void_time_s: r.rec.void_time_s,
                });
                match planned {
                    Some(p) => Ok(Some(p)),
                    None => self.model.plan_out_edges(&vertex_id(&from), n).await,
                }
            })
            .await;
        // Pack number of each row (None: its out vertex is missing); claims per id owner.
        let mut pack_of: Vec<Option<u32>> = vec![None; rows.len()];
        // Per id owner: the rows' indexes and their claims.
        let mut claims: Vec<(Vec<u32>, Claims)> =
            (0..self.cores).map(|_| Default::default()).collect();
        for (g, plan) in plans.into_iter().enumerate() {
            let list = group(g);
            let Some(plan) = plan.map_err(store_err)? else {
                for &ri in list {
                    if let Some(e) = rows.get(ri as usize) {
                        sh.reject(
                            sh.file_name(e.file),
                            e.line,
                            "MissingVertex",
                            &format!("~from vertex {:?} does not exist", e.from),
                        );
                    }
                }
                continue;
            };
            for (&ri, p) in list.iter().zip(plan.pack_nos) {
                let Some(e) = rows.get(ri as usize) else {
                    continue;
                };
                if let Some(slot) = pack_of.get_mut(ri as usize) {
                    *slot = Some(p);
                }
                let digest = self.model.space.edge_digest(&e.id);
                if let Some((pos, cl)) = claims.get_mut(self.owner(&digest)) {
                    pos.push(ri);
                    cl.push(digest, &e.id, &vertex_id(&e.from), p);
                }
            }
        }
        step("packs planned");
        // Claim every id (all owners at once). The peers' claims are sent before this core
        // claims its own: a peer answers only while its writer waits (the store calls in
        // these loops never yield), and its writer waits right after sending its own
        // claims, so sending first lets both cores claim at once instead of one core
        // waiting out the other's whole next step.
        let mut results: Vec<Option<Claimed>> = (0..rows.len()).map(|_| None).collect();
        let mut waits = Vec::new();
        let mut local = None;
        for (c, (pos, reqs)) in claims.into_iter().enumerate() {
            if pos.is_empty() {
                continue;
            }
            if c == self.core {
                local = Some((pos, reqs));
            } else {
                let (tx, rx) = oneshot::channel();
                self.send3(c, M3::Claims(reqs, tx)).await?;
                waits.push((pos, Some(rx), None));
            }
        }
        if let Some((pos, reqs)) = local {
            let got = self.claim(reqs).await;
            waits.push((pos, None, Some(got)));
        }
        for (pos, rx, got) in waits {
            let got = match (rx, got) {
                (_, Some(g)) => g,
                (Some(rx), None) => rx.await.ok_or("a core dropped a claim request")?,
                (None, None) => Vec::new(),
            };
            if got.len() != pos.len() {
                return Err("a claim answer has the wrong length".into());
            }
            for (ri, r) in pos.into_iter().zip(got) {
                if let Some(slot) = results.get_mut(ri as usize) {
                    *slot = Some(r);
                }
            }
        }
        // Ids with a locator already (a rerun, or an id taken): compare with the row.
        let found: Vec<(usize, EdgeLocator)> = results
            .iter_mut()
            .enumerate()
            .filter_map(|(ri, r)| match r.take() {
                Some(Claimed::Exists(old)) => Some((ri, old)),
                other => {
                    *r = other;
                    None
                }
            })
            .collect();
        if !found.is_empty() {
            let rows = &rows;
            let pack_of = &pack_of;
            let settled = in_lanes(found, |(ri, old)| async move {
                let (Some(e), Some(Some(p))) = (rows.get(ri), pack_of.get(ri).copied()) else {
                    return (ri, Claimed::Failed("a claimed row is missing".into()));
                };
                (ri, self.settle_claim(e, p, old).await)
            })
            .await;
            for (ri, r) in settled {
                if let Some(slot) = results.get_mut(ri) {
                    *slot = Some(r);
                }
            }
        }
        step("ids claimed");
        self.serve_peers().await;
        // A failed claim stops the load before this batch writes anything (the packs are
        // written chunk by chunk below).
        for (ri, (r, p)) in results.iter().zip(&pack_of).enumerate() {
            if p.is_none() {
                continue;
            }
            match r {
                Some(Claimed::Failed(m)) => {
                    let (file, line) = rows
                        .get(ri)
                        .map_or(("?", 0), |e| (sh.file_name(e.file), e.line));
                    return Err(format!("{file}:{line}: {m}"));
                }
                Some(Claimed::Exists(_)) => return Err("an edge id's claim was not settled".into()),
                None => return Err("an edge id was not claimed".into()),
                Some(_) => {}
            }
        }
        // Write packs and out entries; collect in entries per in-owner core.
        let keep_props = !self.model.cfg.indexed_edge_keys.is_empty();
        // Sized up front (a list of millions grown by doubling is copied again each time).
        let mut per_core = vec![0usize; self.cores];
        for e in &rows {
            if let Some(n) = per_core.get_mut(self.owner(&e.to_d)) {
                *n += 1;
            }
        }
        let mut ins: Vec<Vec<InEntry>> = per_core.into_iter().map(Vec::with_capacity).collect();
        // Built and written a chunk of out vertices at a time: a chunk's edges are freed
        // before the next chunk's are built, so the allocator reuses their memory instead of
        // the process faulting in fresh pages for the whole batch's edges at once.
        let mut writes = Vec::with_capacity(SERVE_PEERS_EVERY.min(order.len()));
        let mut rows: Vec<Option<EdgeMsg>> = rows.into_iter().map(Some).collect();
        // Counted here, added to the shared counters once the packs are written.
        let (mut created, mut present_n) = (0u64, 0u64);
        for (g, vd) in order.iter().enumerate() {
            if writes.len() >= SERVE_PEERS_EVERY {
                self.write_packs(std::mem::take(&mut writes)).await?;
            }
            let mut new = Vec::new();
            let mut present = Vec::new();
            let mut out = None;
            for &ri in group(g) {
                let ri = ri as usize;
                let (Some(e), Some(Some(p))) = (
                    rows.get_mut(ri).and_then(Option::take),
                    pack_of.get(ri).copied(),
                ) else {
                    continue;
                };
                let r = results.get_mut(ri).and_then(Option::take);
                let out = out.get_or_insert_with(|| vertex_id(&e.from)).clone();
                let in_id = vertex_id(&e.to);
                // Entries carry the properties only for the indexed keys of index entries.
                let entry = |pack_no: u32, dir: Dir, other: &ElementId| NewEntry {
                    dir,
                    label: e.label.clone(),
                    edge: e.id.clone(),
                    other: other.clone(),
                    pack_no,
                    props: if keep_props {
                        e.props.clone()
                    } else {
                        Vec::new()
                    },
                };
                let in_core = self.owner(&e.to_d);
                match r {
                    Some(Claimed::New) => {
                        if let Some(l) = ins.get_mut(in_core) {
                            l.push((e.to_d, in_id.clone(), entry(p, Dir::In, &out), false));
                        }
                        created += 1;
                        new.push((
                            BulkEdge {
                                id: e.id,
                                label: e.label,
                                in_id,
                                in_label: e.in_label.unwrap_or_default(),
                                in_void_s: e.in_void_s,
                                props: e.props,
                            },
                            p,
                        ));
                    }
                    Some(Claimed::Present(q)) => {
                        present.push(entry(q, Dir::Out, &in_id));
                        if let Some(l) = ins.get_mut(in_core) {
                            l.push((e.to_d, in_id.clone(), entry(q, Dir::In, &out), true));
                        }
                        present_n += 1;
                    }
                    Some(Claimed::Duplicate(m)) => {
                        sh.reject(sh.file_name(e.file), e.line, "DuplicateEdge", &m);
                    }
                    Some(Claimed::Repeated) => {
                        sh.reject(
                            sh.file_name(e.file),
                            e.line,
                            "DuplicateEdge",
                            &format!("edge id {} appears more than once in this load", e.id),
                        );
                    }
                    // Ruled out by the check before the first chunk.
                    Some(Claimed::Exists(_) | Claimed::Failed(_)) | None => {
                        return Err("an edge id's claim was not settled".into())
                    }
                }
            }
            let Some(out) = out else { continue };
            if new.is_empty() && present.is_empty() {
                continue;
            }
            writes.push((*vd, out, new, present));
        }
        self.write_packs(writes).await?;
        drop(rows);
        step("entries built, packs written");
        sh.counters
            .edges_created
            .fetch_add(created, Ordering::Relaxed);
        sh.counters
            .edges_present
            .fetch_add(present_n, Ordering::Relaxed);
        for (c, list) in ins.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            if c == self.core {
                self.add_in_entries(list, true).await?;
            } else {
                self.send3(c, M3::InEntries(list)).await?;
            }
        }
        Ok(())
    }

    /// Writes the new packs and out entries of distinct out vertices, concurrently (each
    /// vertex record under its lock), then serves peers' claims.
    async fn write_packs(&self, writes: Vec<PackWrite>) -> Result<(), String> {
        for r in in_lanes(writes, |(vd, out, new, present)| async move {
            let new = if present.is_empty() {
                match self.resident_out(&vd, new).await? {
                    None => return Ok(()),
                    Some(new) => new,
                }
            } else {
                // Edges a rerun found: the store path checks the entries it has.
                self.evict(&vd).await?;
                new
            };
            self.model
                .bulk_add_out_edges(&out, new, present)
                .await
                .map_err(store_err)
        })
        .await
        {
            r?;
        }
        self.serve_peers().await;
        Ok(())
    }

    // ----- stage 3 -----

    async fn handle3(&self, m: M3) -> Result<(), String> {
        match m {
            M3::Claims(reqs, reply) => {
                tracing::debug!(
                    core = self.core,
                    claims = reqs.len(),
                    "load: claims from a peer"
                );
                let got = self.claim(reqs).await;
                tracing::debug!(core = self.core, "load: claims from a peer answered");
                reply.send(got);
                if let Some(n) = self.shared.claims_answered.get(self.core) {
                    n.fetch_add(1, Ordering::AcqRel);
                }
                Ok(())
            }
            M3::InEntries(list) => self.add_in_entries(list, false).await,
            M3::Done => Ok(()),
        }
    }

    async fn claim(&self, reqs: Claims) -> Vec<Claimed> {
        let mut out = Vec::with_capacity(reqs.len());
        for i in 0..reqs.len() {
            out.push(match reqs.get(i) {
                Some((d, loc)) => self.claim_one(d, loc).await,
                None => Claimed::Failed("a claim is cut short".into()),
            });
        }
        out
    }

    /// On the id's owner: writes the locator `loc` under `ld` create-only, answering `New`;
    /// `Exists` with the locator already there; `Repeated` for an id seen before in this
    /// load.
    async fn claim_one(&self, ld: &Digest, loc: &[u8]) -> Claimed {
        use crate::model::kv::{Kv, KvError, WriteMode};
        let first = {
            let mut run = self.run_edges.borrow_mut();
            if run.len() < RUN_IDS_MAX {
                run.insert(*ld)
            } else {
                !run.contains(ld)
            }
        };
        if !first {
            return Claimed::Repeated;
        }
        // Create-only first: a first load finds no locator, so it is written without a
        // read; a locator that is there (a rerun, or an id taken) is read and handed back.
        match self.model.kv.put(ld, loc, WriteMode::CreateOnly).await {
            Ok(_) => return Claimed::New,
            Err(KvError::Exists) => {}
            Err(e) => return Claimed::Failed(e.to_string()),
        }
        match self.model.read::<EdgeLocator>(ld).await {
            Ok(Some((old, _))) => Claimed::Exists(old),
            // Dropped between the two calls (nothing else writes offline; online, a
            // concurrent drop): create it again.
            Ok(None) => match self.model.kv.put(ld, loc, WriteMode::CreateOnly).await {
                Ok(_) => Claimed::New,
                Err(KvError::Exists) => Claimed::Repeated,
                Err(e) => Claimed::Failed(e.to_string()),
            },
            Err(e) => Claimed::Failed(e.to_string()),
        }
    }

    /// On the writer: edge row `e` (to go into pack `pack_no`) found locator `old` under its
    /// id. The same edge in its pack is `Present`; another edge there is a `Duplicate`; a
    /// locator whose edge never reached its pack (an interrupted load) is overwritten.
    async fn settle_claim(&self, e: &EdgeMsg, pack_no: u32, old: EdgeLocator) -> Claimed {
        use crate::model::kv::{Kv, KvError, WriteMode};
        let in_pack = match self.model.pack(&old.out, old.pack_no).await {
            Ok(p) => p.and_then(|p| p.edges.into_iter().find(|x| x.id == e.id)),
            Err(err) => return Claimed::Failed(err.to_string()),
        };
        match in_pack {
            Some(x)
                if old.out == vertex_id(&e.from)
                    && x.label == e.label
                    && x.in_id == vertex_id(&e.to)
                    && x.props == e.props =>
            {
                Claimed::Present(old.pack_no)
            }
            Some(_) => Claimed::Duplicate(format!(
                "edge id {} already exists with other endpoints, label or properties",
                e.id
            )),
            None => {
                let ld = self.model.space.edge_digest(&e.id);
                let mut loc = Vec::new();
                EdgeLocator::encode_parts(&e.id, &vertex_id(&e.from), pack_no, &mut loc);
                match self.model.kv.put(&ld, &loc, WriteMode::Plain).await {
                    Ok(_) => Claimed::New,
                    Err(KvError::Exists) => Claimed::Repeated,
                    Err(err) => Claimed::Failed(err.to_string()),
                }
            }
        }
    }

    /// Adds in entries to this core's vertices. `writer`: called by this core's writer,
    /// which serves peers' claims between chunks; the mesh-3 handler must not (the claims
    /// it would wait for queue behind it on its own stream).
    async fn add_in_entries(&self, list: Vec<InEntry>, writer: bool) -> Result<(), String> {
        // Group per (vertex, ensure), in arrival order.
        let mut order: Vec<(Digest, ElementId, bool, Vec<NewEntry>)> = Vec::new();
        // Group index per vertex digest: [plain, ensure] (`usize::MAX`: none yet).
        let mut gid: DigestMap<[usize; 2]> = DigestMap::default();
        for (vd, v, mut e, ensure) in list {
            e.label = self.intern(&e.label);
            let slot = gid
                .entry(vd)
                .or_insert([usize::MAX; 2])
                .get_mut(usize::from(ensure));
            match slot {
                Some(g) if *g != usize::MAX => {
                    if let Some(x) = order.get_mut(*g) {
                        x.3.push(e);
                    }
                }
                Some(g) => {
                    *g = order.len();
                    order.push((vd, v, ensure, vec![e]));
                }
                None => {}
            }
        }
        drop(gid);
        let add = |(vd, v, ensure, mut entries): (Digest, ElementId, bool, Vec<NewEntry>)| async move {
            if ensure {
                self.evict(&vd).await?;
            } else if self.resident_entries(&vd, &mut entries).await? {
                return Ok(());
            }
            self.model
                .bulk_add_entries(&v, entries, ensure)
                .await
                .map_err(|e| format!("in entries of vertex {v}: {e}"))
        };
        let done = if writer {
            self.in_lanes_serving(order, add).await
        } else {
            in_lanes(order, add).await
        };
        done.into_iter().collect::<Result<Vec<()>, String>>()?;
        Ok(())
    }

    // ----- the parser (producer) -----

    /// Reads this core's ranges of `kind` files and sends their rows to their owners.
    async fn produce(&self, kind: FileKind) -> Result<(), String> {
        let sh = self.shared.clone();
        let batch = sh.opts.batch_rows.clamp(1, BATCH_ROWS_MAX);
        let mut vbufs: Vec<Vec<(Digest, VertexRow)>> =
            (0..self.cores).map(|_| Vec::new()).collect();
        let mut ebufs: Vec<Vec<EdgeMsg>> = (0..self.cores).map(|_| Vec::new()).collect();
        let work = sh.work.get(self.core).cloned().unwrap_or_default();
        let t0 = Instant::now();
        self.produce_waits.set(Default::default());
        for (pi, ri) in work {
            let Some(plan) = sh.plans.get(pi) else {
                continue;
            };
            if plan.header.kind() != kind {
                continue;
            }
            let Some(range) = plan.ranges.get(ri).copied() else {
                continue;
            };
            let rel: String = plan
                .path
                .strip_prefix(&sh.input)
                .unwrap_or(&plan.path)
                .to_string_lossy()
                .into_owned();
            let reader = csv::open_range(plan, range, sh.opts.limits)
                .map_err(|e| format!("{}: {e}", plan.file))?;
            let mut n = 0u64;
            // Rows counted here and added to the shared counters every 1024 rows: both cores
            // adding one per row to the same cache line made it bounce between them.
            let (mut vrows, mut erows) = (0u64, 0u64);
            for row in reader {
                if sh.stopping() {
                    break;
                }
                n += 1;
                match row {
                    Err(e) => sh.row_error(&e),
                    Ok(Row::Vertex(v)) => {
                        vrows += 1;
                        let vd = self.model.space.vertex_digest(&vertex_id(&v.id));
                        let c = self.owner(&vd);
                        if let Some(b) = vbufs.get_mut(c) {
                            b.push((vd, v));
                            if b.len() >= batch {
                                let list = std::mem::take(b);
                                self.route1(c, M1::Vertices(list)).await?;
                            }
                        }
                    }
                    Ok(Row::Edge(e)) => {
                        erows += 1;
                        let mut m = edge_msg(e, &rel, pi as u32);
                        m.to_d = self.model.space.vertex_digest(&vertex_id(&m.to));
                        let c = self.owner(&m.to_d);
                        if let Some(b) = ebufs.get_mut(c) {
                            b.push(m);
                            if b.len() >= batch {
                                let list = std::mem::take(b);
                                self.route1(c, M1::Edges(list)).await?;
                            }
                        }
                    }
                }
                if n % 1024 == 0 {
                    sh.counters
                        .vertex_rows
                        .fetch_add(std::mem::take(&mut vrows), Ordering::Relaxed);
                    sh.counters
                        .edge_rows
                        .fetch_add(std::mem::take(&mut erows), Ordering::Relaxed);
                    glommio::yield_if_needed().await;
                }
            }
            sh.counters.vertex_rows.fetch_add(vrows, Ordering::Relaxed);
            sh.counters.edge_rows.fetch_add(erows, Ordering::Relaxed);
            sh.counters
                .bytes_done
                .fetch_add(range.end - range.start, Ordering::Relaxed);
        }
        for (c, b) in vbufs.into_iter().enumerate() {
            if !b.is_empty() {
                self.route1(c, M1::Vertices(b)).await?;
            }
        }
        for (c, b) in ebufs.into_iter().enumerate() {
            if !b.is_empty() {
                self.route1(c, M1::Edges(b)).await?;
            }
        }
        for c in 0..self.cores {
            if c != self.core {
                self.send1(c, M1::Done).await?;
            }
        }
        let (own, send) = self.produce_waits.get();
        tracing::debug!(
            core = self.core,
            ?kind,
            ms = t0.elapsed().as_millis() as u64,
            own_rows_ms = own.as_millis() as u64,
            send_wait_ms = send.as_millis() as u64,
            "load: rows read and routed"
        );
        Ok(())
    }

    async fn route1(&self, c: usize, m: M1) -> Result<(), String> {
        let t = Instant::now();
        let own = c == self.core;
        let r = if own {
            self.handle1(m).await
        } else {
            self.send1(c, m).await
        };
        let (o, s) = self.produce_waits.get();
        let e = t.elapsed();
        self.produce_waits
            .set(if own { (o + e, s) } else { (o, s + e) });
        r
    }
}

/// Items (out vertices, in vertices) a writer step handles between two checks for peers'
/// claims to answer ([`CoreLoad::serve_peers`]).
pub const SERVE_PEERS_EVERY: usize = 8192;
/// How long a writer sleeps while its core answers peers' claims.
const SERVE_PEERS_SLEEP_US: u64 = 200;

/// Record operations one core's writer keeps in flight at once (the store's reads wait on
/// the device; one at a time leaves the core idle).
pub const WRITER_LANES: usize = 32;

type Lane<'a, R> = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<(usize, R)>> + 'a>>;

/// Runs `f` over `items` in [`WRITER_LANES`] concurrent lanes on this task; results in input
/// order.
async fn in_lanes<'a, T: 'a, R: 'a, F, Fut>(items: Vec<T>, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut + 'a,
    Fut: std::future::Future<Output = R> + 'a,
{
    let n = items.len();
    let width = WRITER_LANES.clamp(1, n.max(1));
    let mut per: Vec<Vec<(usize, T)>> = (0..width).map(|_| Vec::new()).collect();
    for (i, t) in items.into_iter().enumerate() {
        if let Some(l) = per.get_mut(i % width) {
            l.push((i, t));
        }
    }
    let f = Rc::new(f);
    let lanes: Vec<Lane<'a, R>> = per
        .into_iter()
        .map(|lane| {
            let f = f.clone();
            Box::pin(async move {
                let mut out = Vec::with_capacity(lane.len());
                for (i, t) in lane {
                    out.push((i, f(t).await));
                }
                out
            }) as Lane<'a, R>
        })
        .collect();
    let mut all: Vec<(usize, R)> = JoinAll(lanes.into_iter().map(Some).collect(), Vec::new())
        .await
        .into_iter()
        .flatten()
        .collect();
    all.sort_by_key(|x| x.0);
    all.into_iter().map(|x| x.1).collect()
}

/// Polls every lane until all are done.
struct JoinAll<'a, R>(Vec<Option<Lane<'a, R>>>, Vec<Vec<(usize, R)>>);

// Only the boxed lanes are polled through `Pin`; the outputs are never pinned.
impl<R> Unpin for JoinAll<'_, R> {}

impl<R> std::future::Future for JoinAll<'_, R> {
    type Output = Vec<Vec<(usize, R)>>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let mut pending = false;
        for slot in this.0.iter_mut() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        this.1.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(std::mem::take(&mut this.1))
        }
    }
}

fn edge_msg(e: EdgeRow, rel: &str, file: u32) -> EdgeMsg {
    let id = match &e.id {
        Some(s) => ElementId::Str(s.clone()),
        None => ElementId::Int {
            value: derived_edge_id(rel, e.line),
            width: IntWidth::Long,
        },
    };
    let props = e
        .properties
        .into_iter()
        .filter_map(|p| {
            let v = p.values.into_iter().next()?;
            Some(Property {
                key: p.name,
                value: v,
            })
        })
        .collect();
    EdgeMsg {
        file,
        line: e.line,
        id,
        label: e.label,
        from: e.from,
        to: e.to,
        props,
        in_label: None,
        in_void_s: 0,
        to_d: NO_DIGEST,
        from_d: NO_DIGEST,
    }
}

/// Polls until `count` reaches `n` (without blocking the executor).
async fn wait_for(count: &AtomicUsize, n: usize) {
    while count.load(Ordering::Acquire) < n {
        glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

/// The load on one core (`core` of `cores`, writing through `kv`), from joining the meshes
/// to the end of the edge phase (not flushed).
pub(crate) async fn run_core(
    shared: Arc<Shared>,
    core: usize,
    cores: usize,
    kv: RoutedKv,
) -> Result<(), String> {
    let (b1, b2, b3) = lock(&shared.meshes)
        .get_mut(core)
        .and_then(Option::take)
        .ok_or("loader mesh taken twice")?;
    let (s1, mut r1) = b1.join().await.map_err(|_| "joining mesh 1")?;
    let (s2, mut r2) = b2.join().await.map_err(|_| "joining mesh 2")?;
    let (s3, mut r3) = b3.join().await.map_err(|_| "joining mesh 3")?;
    if let Some(slot) = lock(&shared.peers).get_mut(core) {
        *slot = Some(s1.peer_id());
    }
    let peer_of_core = loop {
        let p: Option<Vec<usize>> = lock(&shared.peers).iter().copied().collect();
        if let Some(p) = p {
            break p;
        }
        glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
    };
    let space = KeySpace::new(&shared.opts.graph).map_err(store_err)?;
    let model = Model::new(
        crate::io::retry::OverloadRetry(kv.clone()),
        space,
        shared.opts.model.clone(),
        Box::new(SystemClock),
    )
    .map_err(store_err)?
    .with_core(u16::try_from(core).unwrap_or(u16::MAX))
    .with_id_block(LOAD_ID_BLOCK_IDS);
    let (writer_tx, writer_rx) = local_channel::new_bounded(WRITER_QUEUE_BATCHES);
    let me = Rc::new(CoreLoad {
        shared: shared.clone(),
        core,
        cores,
        model,
        kv,
        peer_of_core,
        s1,
        s2,
        s3,
        gates: (0..3 * cores).map(|_| Rc::new(Semaphore::new(1))).collect(),
        labels: RefCell::new(DigestMap::default()),
        run_vertices: RefCell::new(DigestSet::default()),
        run_edges: RefCell::new(DigestSet::default()),
        residents: RefCell::new(DigestMap::default()),
        interned: RefCell::new(HashSet::new()),
        resident_bytes: std::cell::Cell::new(0),
        resident_max_bytes: shared.opts.resident_bytes / cores.max(1),
        writer_tx: RefCell::new(Some(Rc::new(writer_tx))),
        produce_waits: Default::default(),
    });
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let fail = {
        let shared = shared.clone();
        let first_error = first_error.clone();
        move |e: String| {
            tracing::error!(core, "load: {e}");
            first_error.borrow_mut().get_or_insert(e);
            if !shared.stop.swap(true, Ordering::AcqRel) {
                *lock(&shared.stopped) = Some("a store error stopped the load".into());
            }
        }
    };
    // Stage 3 receivers (never send on a mesh).
    let mut t3 = Vec::new();
    for (_, rx) in r3.streams() {
        let me = me.clone();
        let fail = fail.clone();
        t3.push(glommio::spawn_local(async move {
            while let Some(m) = rx.recv().await {
                if matches!(m, M3::Done) {
                    break;
                }
                if let Err(e) = me.handle3(m).await {
                    fail(e);
                }
            }
        }));
    }
    // The edge writer: one per core, fed by this core's stage 1 and by mesh 2.
    let writer = {
        let me = me.clone();
        let fail = fail.clone();
        let max = shared
            .opts
            .writer_buffer_edges
            .clamp(1, WRITER_BUFFER_EDGES_MAX);
        glommio::spawn_local(async move {
            let mut buf: Vec<EdgeMsg> = Vec::new();
            loop {
                let next = writer_rx.recv().await;
                let end = next.is_none();
                if let Some(batch) = next {
                    if buf.is_empty() {
                        buf = batch;
                    } else {
                        buf.extend(batch);
                    }
                }
                if (end || buf.len() >= max) && !buf.is_empty() {
                    if let Err(e) = me.write_edges(std::mem::take(&mut buf)).await {
                        fail(e);
                    }
                }
                if end {
                    break;
                }
            }
        })
    };
    let mut t2 = Vec::new();
    for (_, rx) in r2.streams() {
        let me = me.clone();
        let fail = fail.clone();
        t2.push(glommio::spawn_local(async move {
            while let Some(m) = rx.recv().await {
                match m {
                    M2::Done => break,
                    M2::Edges(list) => {
                        if let Err(e) = me.to_writer(list).await {
                            fail(e);
                        }
                    }
                }
            }
        }));
    }
    // Stage 1 receivers: a stream ends after the vertex phase's Done and the edge phase's
    // Done; the vertex barrier counts the first.
    let vdone = Rc::new(std::cell::Cell::new(0usize));
    let mut t1 = Vec::new();
    for (_, rx) in r1.streams() {
        let me = me.clone();
        let fail = fail.clone();
        let vdone = vdone.clone();
        t1.push(glommio::spawn_local(async move {
            let mut dones = 0;
            while let Some(m) = rx.recv().await {
                if matches!(m, M1::Done) {
                    dones += 1;
                    if dones == 1 {
                        vdone.set(vdone.get() + 1);
                        continue;
                    }
                    break;
                }
                if let Err(e) = me.handle1(m).await {
                    fail(e);
                }
            }
        }));
    }
    if core == 0 {
        use std::mem::size_of;
        tracing::debug!(
            edge_msg = size_of::<EdgeMsg>(),
            in_entry = size_of::<InEntry>(),
            bulk_edge = size_of::<BulkEdge>(),
            claimed = size_of::<Claimed>(),
            "load: per-edge structure sizes (bytes)"
        );
    }
    let started = Instant::now();
    let phase = |what: &str| {
        tracing::debug!(
            core,
            ms = started.elapsed().as_millis() as u64,
            rss_mib = rss_mib(),
            "load: {what}"
        );
    };
    // Vertex phase.
    if let Err(e) = me.produce(FileKind::Vertex).await {
        fail(e);
    }
    while vdone.get() < cores - 1 {
        glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
    }
    shared.vertices_done.fetch_add(1, Ordering::AcqRel);
    wait_for(&shared.vertices_done, cores).await;
    {
        let mut end = lock(&shared.vertex_phase_end);
        if end.is_none() {
            *end = Some(Instant::now());
        }
    }
    phase("vertex phase done");
    // Edge phase.
    if let Err(e) = me.produce(FileKind::Edge).await {
        fail(e);
    }
    phase("edge files read");
    for t in t1 {
        t.await;
    }
    for c in 0..cores {
        if c != core {
            if let Err(e) = me.send2(c, M2::Done).await {
                fail(e);
            }
        }
    }
    for t in t2 {
        t.await;
    }
    // Every batch for this core's writer is queued: close the queue and let it drain.
    me.writer_tx.borrow_mut().take();
    phase("edge rows routed");
    writer.await;
    phase("edge writer done");
    for c in 0..cores {
        if c != core {
            if let Err(e) = me.send3(c, M3::Done).await {
                fail(e);
            }
        }
    }
    for t in t3 {
        t.await;
    }
    phase("in entries added");
    // Every entry of this core's vertices is in: write the resident records once.
    if let Err(e) = me.write_residents().await {
        fail(e);
    }
    phase("resident records written");
    let e = first_error.borrow_mut().take();
    match e {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The process's resident set in MiB, for the debug logs (0 where `/proc` has no answer).
fn rss_mib() -> u64 {
    // statm: size resident shared ... in pages; 4 KiB pages on the machines we run on.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| (pages * 4096) >> 20)
}

/// Plans the files of `input` and shares their ranges out across `cores` by size.
#[allow(clippy::type_complexity)]
fn plan(
    input: &Path,
    cores: usize,
    limits: Limits,
    header_errors: &mut Vec<RowError>,
) -> Result<(Vec<FilePlan>, Vec<Vec<(usize, usize)>>, u64), LoadError> {
    let files = csv::discover(input).map_err(|e| LoadError::Setup(e.to_string()))?;
    let mut plans = Vec::new();
    for f in files {
        let len = std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
        let parts = if len >= SPLIT_BYTES_MIN { cores } else { 1 };
        match csv::plan_file(&f.path, f.kind, parts, limits) {
            Ok(p) => plans.push(p),
            Err(e) => header_errors.push(e),
        }
    }
    let mut work: Vec<Vec<(usize, usize)>> = (0..cores).map(|_| Vec::new()).collect();
    let mut total = 0u64;
    for kind in [FileKind::Vertex, FileKind::Edge] {
        let mut items: Vec<(u64, usize, usize)> = Vec::new();
        for (pi, p) in plans.iter().enumerate() {
            if p.header.kind() != kind {
                continue;
            }
            for (ri, r) in p.ranges.iter().enumerate() {
                items.push((r.end - r.start, pi, ri));
            }
        }
        items.sort_by_key(|x| std::cmp::Reverse(x.0));
        let mut load = vec![0u64; cores];
        for (size, pi, ri) in items {
            total += size;
            let (c, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| **l)
                .unwrap_or((0, &0));
            if let (Some(l), Some(w)) = (load.get_mut(c), work.get_mut(c)) {
                *l += size;
                w.push((pi, ri));
            }
        }
    }
    Ok((plans, work, total))
}

/// Plans a load of `input` and builds what its cores share; also the number of files.
pub(crate) fn prepare(input: &Path, opts: LoadOptions) -> Result<(Arc<Shared>, usize), LoadError> {
    let cores = opts.cores.max(1);
    KeySpace::new(&opts.graph).map_err(|e| LoadError::Setup(e.to_string()))?;
    let mut header_errors = Vec::new();
    let (plans, work, total_bytes) = plan(input, cores, opts.limits, &mut header_errors)?;
    let errors_file = std::fs::File::create(&opts.errors_path)
        .map_err(|e| LoadError::Setup(format!("{}: {e}", opts.errors_path.display())))?;
    let b1 = MeshBuilder::<M1, Full>::full(cores, LOAD_CHANNEL_BATCHES);
    let b2 = MeshBuilder::<M2, Full>::full(cores, LOAD_CHANNEL_BATCHES);
    let b3 = MeshBuilder::<M3, Full>::full(cores, LOAD_CHANNEL_BATCHES);
    let meshes = (0..cores)
        .map(|_| Some((b1.clone(), b2.clone(), b3.clone())))
        .collect();
    drop((b1, b2, b3));
    let files = plans.len() + header_errors.len();
    let shared = Arc::new(Shared {
        input: input.to_path_buf(),
        opts,
        plans,
        work,
        meshes: Mutex::new(meshes),
        peers: Mutex::new(vec![None; cores]),
        counters: Counters::default(),
        sink: Mutex::new(ErrorSink {
            out: std::io::BufWriter::new(errors_file),
            by_kind: BTreeMap::new(),
            write_failed: None,
        }),
        stop: AtomicBool::new(false),
        stopped: Mutex::new(None),
        vertices_done: AtomicUsize::new(0),
        vertex_phase_end: Mutex::new(None),
        claims_sent: (0..cores).map(|_| AtomicU64::new(0)).collect(),
        claims_answered: (0..cores).map(|_| AtomicU64::new(0)).collect(),
        total_bytes,
        started: Instant::now(),
    });
    for e in &header_errors {
        shared.row_error(e);
    }
    Ok((shared, files))
}

/// The summary of a load whose cores all finished (flushes the error file).
pub(crate) fn summarize(shared: &Shared, files: usize) -> Result<LoadSummary, LoadError> {
    let mut summary = LoadSummary {
        files,
        bytes: shared.total_bytes,
        ..LoadSummary::default()
    };
    let c = &shared.counters;
    summary.vertex_rows = c.vertex_rows.load(Ordering::Acquire);
    summary.edge_rows = c.edge_rows.load(Ordering::Acquire);
    summary.vertices_created = c.vertices_created.load(Ordering::Acquire);
    summary.vertices_present = c.vertices_present.load(Ordering::Acquire);
    summary.edges_created = c.edges_created.load(Ordering::Acquire);
    summary.edges_present = c.edges_present.load(Ordering::Acquire);
    summary.errors_total = c.errors.load(Ordering::Acquire);
    {
        let mut s = lock(&shared.sink);
        summary.errors = s.by_kind.clone();
        if let Err(e) = s.out.flush() {
            s.write_failed.get_or_insert(e.to_string());
        }
        if let Some(e) = &s.write_failed {
            return Err(LoadError::Setup(format!(
                "writing {}: {e}",
                shared.opts.errors_path.display()
            )));
        }
    }
    summary.stopped = lock(&shared.stopped).clone();
    let started = shared.started;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    let vend = lock(&shared.vertex_phase_end).unwrap_or(started);
    summary.vertex_phase_ms = vend.duration_since(started).as_millis() as u64;
    summary.edge_phase_ms = vend.elapsed().as_millis() as u64;
    Ok(summary)
}

/// Loads the Gremlin load CSV directory `input` into `dir` with `opts.cores` executors and
/// returns the summary once every shard is flushed to the device. Rejected rows are in the
/// summary and the error file; an `Err` means the load itself could not run.
pub fn run_load(
    dir: Arc<DataDir>,
    input: &Path,
    opts: LoadOptions,
) -> Result<LoadSummary, LoadError> {
    let cores = opts.cores.max(1);
    let (shared, files) = prepare(input, opts.clone())?;
    let started = shared.started;
    let runtime = RuntimeConfig {
        graphs: vec![opts.graph.clone()],
        model: opts.model.clone(),
        // Offline: nothing queries these shards; a server rebuilds indexes and counters at
        // open (decoding every record written here cost CPU and held every edge id).
        maintain_indexes: false,
        ..RuntimeConfig::default()
    };
    let cluster = Cluster::new(dir, cores, runtime).map_err(|e| LoadError::Store(e.to_string()))?;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<(), String>)>();
    let mut handles = Vec::with_capacity(cores);
    for core in 0..cores {
        let cluster = cluster.clone();
        let shared = shared.clone();
        let tx = tx.clone();
        let placement = match opts.cpus.get(core) {
            Some(&cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("load-{core}"))
            // glommio's default 100 ms preemption timer, though a 5 ms one balanced the
            // cores' parsing: the one run that hung (before its shards opened) had 5 ms, as
            // session 8's hangs came with a short-latency task queue (docs/PERF.md,
            // session 10).
            .spawn(move || async move {
                // Reports a panic of this executor (its task unwinds, dropping this): the
                // other cores would wait for its messages forever otherwise.
                let mut report = Report { core, tx: Some(tx) };
                let r = async {
                    let host = cluster.join(core).await.map_err(store_err)?;
                    let r = run_core(shared, core, cores, host.kv()).await;
                    let t = Instant::now();
                    let flushed = host.shutdown().await.map_err(store_err);
                    tracing::debug!(
                        core,
                        ms = t.elapsed().as_millis() as u64,
                        "load: shards flushed"
                    );
                    r.and(flushed.map(|_| ()))
                }
                .await;
                if let Some(tx) = report.tx.take() {
                    let _ = tx.send((core, r));
                }
            })
            .map_err(|e| LoadError::Setup(format!("starting executor {core}: {e}")))?;
        handles.push(h);
    }
    drop(tx);
    let mut first_err = None;
    let mut done = 0;
    let mut last_progress = Instant::now();
    while done < cores {
        match rx.recv_timeout(Duration::from_millis(PROGRESS_MS.min(200))) {
            Ok((core, r)) => {
                done += 1;
                if let Err(e) = r {
                    first_err.get_or_insert(format!("core {core}: {e}"));
                    cluster.abort(&e);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if started.elapsed() > Duration::from_secs(CORE_WAIT_S_MAX) {
                    return Err(LoadError::Store("a core did not finish".into()));
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if opts.progress && last_progress.elapsed() >= Duration::from_millis(PROGRESS_MS) {
            last_progress = Instant::now();
            progress(&shared, started);
        }
    }
    drop(cluster);
    // The executors hold the data directory (and its lock) until they exit.
    for h in handles {
        if h.join().is_err() {
            first_err.get_or_insert("a load executor panicked".into());
        }
    }
    let summary = summarize(&shared, files)?;
    match first_err {
        Some(e) => Err(LoadError::Store(e)),
        None => Ok(summary),
    }
}

/// A load executor's result channel; dropped unsent (a panic), it reports the panic.
struct Report {
    core: usize,
    tx: Option<std::sync::mpsc::Sender<(usize, Result<(), String>)>>,
}

impl Drop for Report {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((
                self.core,
                Err("the core's executor panicked (its message is in the log)".into()),
            ));
        }
    }
}

/// A load's counters so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadProgress {
    /// Rows read (vertices and edges).
    pub rows: u64,
    pub vertices_written: u64,
    pub edges_written: u64,
    pub rejected: u64,
    /// Rows read per second since the start.
    pub rows_per_s: f64,
    /// Share of the input bytes read, 0 to 1.
    pub done_fraction: f64,
    /// Seconds left at the rate so far (`None` before the first bytes).
    pub eta_s: Option<f64>,
}

impl Shared {
    /// The counters so far.
    pub(crate) fn progress(&self) -> LoadProgress {
        let c = &self.counters;
        let rows = c.vertex_rows.load(Ordering::Relaxed) + c.edge_rows.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let done = c.bytes_done.load(Ordering::Relaxed);
        let byte_rate = done as f64 / secs;
        LoadProgress {
            rows,
            vertices_written: c.vertices_created.load(Ordering::Relaxed)
                + c.vertices_present.load(Ordering::Relaxed),
            edges_written: c.edges_created.load(Ordering::Relaxed)
                + c.edges_present.load(Ordering::Relaxed),
            rejected: c.errors.load(Ordering::Relaxed),
            rows_per_s: rows as f64 / secs,
            done_fraction: done as f64 / self.total_bytes.max(1) as f64,
            eta_s: (byte_rate > 0.0)
                .then(|| self.total_bytes.saturating_sub(done) as f64 / byte_rate),
        }
    }
}

fn progress(shared: &Shared, started: Instant) {
    let c = &shared.counters;
    let rows = c.vertex_rows.load(Ordering::Relaxed) + c.edge_rows.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let done = c.bytes_done.load(Ordering::Relaxed);
    let rate = rows as f64 / secs;
    let byte_rate = done as f64 / secs;
    let eta = if byte_rate > 0.0 {
        shared.total_bytes.saturating_sub(done) as f64 / byte_rate
    } else {
        f64::NAN
    };
    tracing::info!(
        "load: {rows} rows read ({:.0} rows/s), {} vertices, {} edges written, {} rejected, {:.0}% of bytes, ETA {eta:.0} s",
        rate,
        c.vertices_created.load(Ordering::Relaxed) + c.vertices_present.load(Ordering::Relaxed),
        c.edges_created.load(Ordering::Relaxed) + c.edges_present.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed),
        done as f64 * 100.0 / shared.total_bytes.max(1) as f64,
    );
}
