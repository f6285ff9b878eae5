//! The per-core host: a [`Cluster`] (shared by every executor thread) that each core joins on
//! its own glommio executor. Joining opens the shards the core owns, starts their background
//! work in a low-shares task queue, joins the all-to-all channel mesh, and gives a
//! [`CoreHost`]: one query [`Executor`] per named graph over a [`RoutedKv`] that reaches every
//! core's records (local ones directly, remote ones by message to their owner).
//!
//! ```text
//! let cluster = Cluster::new(Arc::new(dir), cores, RuntimeConfig::default())?;   // any thread
//! // on executor `core` (one per core, each calls join once):
//! let host = cluster.join(core).await?;
//! let g = host.executor("g").unwrap();            // Rc<Executor<RoutedKv>>
//! g.run(&bytecode, &RunOptions::default()).await?;
//! host.shutdown().await?;                          // every core: stops, then flushes
//! ```
//!
//! Deadlock freedom with bounded channels is argued in `docs/ARCHITECTURE.md` ("Cross-core
//! requests").

pub mod oneshot;
mod routed;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use glommio::channels::channel_mesh::{Full, MeshBuilder};
use glommio::sync::Semaphore;
use glommio::{Latency, Shares, Task};
use gremlin::machine::Limits;
use shards::runtime::run_background;
use shards::{Clock, DataDir, Shard, ShardStats};

use crate::exec::Executor;
use crate::model::keys::KeySpace;
use crate::model::ops::{Model, SystemClock};
use crate::model::ModelConfig;
use gremlin::machine::services::ServiceRegistry;

pub(crate) use routed::join_all;
use routed::{Local, Msg};
pub use routed::{RouteStats, RoutedKv};

/// Default capacity of each channel of the core mesh, in messages.
pub const MESH_CAPACITY_MESSAGES_DEFAULT: usize = 128;
/// Default number of requests from other cores one core serves at once.
pub const INBOX_TASKS_MAX_DEFAULT: usize = 256;
/// Default number of requests one core may have outstanding at other cores.
pub const REMOTE_REQUESTS_IN_FLIGHT_MAX_DEFAULT: usize = 1024;
/// Default number of remote calls that may wait for an in-flight slot before calls fail.
pub const REMOTE_REQUESTS_WAITING_MAX_DEFAULT: usize = 65_536;
/// Default number of local record reads one batched read runs at once.
pub const LOCAL_READS_CONCURRENT_MAX_DEFAULT: usize = 32;
/// Default number of digests in one read message.
pub const MESSAGE_DIGESTS_MAX_DEFAULT: usize = 4096;
/// Default largest number of digests one scan may return.
pub const SCAN_DIGESTS_MAX_DEFAULT: usize = 64 << 20;
/// Default time allowed for every core to open its shards and join the mesh.
pub const JOIN_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// Default time shutdown waits for other cores before flushing anyway.
pub const SHUTDOWN_WAIT_MS_MAX_DEFAULT: u64 = 30_000;
/// Default time each shard's final flush may take at shutdown.
pub const SHUTDOWN_FLUSH_MS_MAX_DEFAULT: u64 = 60_000;
/// How often each core publishes its shard counters to the cluster.
pub const STATS_PUBLISH_MS: u64 = 1000;
/// How often waits poll a flag.
pub const POLL_MS: u64 = 5;
/// Most cores in a cluster (generated ids keep the core number in 16 bits).
pub const CORES_MAX: usize = 1024;
/// Most named graphs.
pub const GRAPHS_MAX: usize = 64;
/// The default graph's name (the `g` traversal source).
pub const DEFAULT_GRAPH: &str = "g";
/// Shares of the storage background task queue (the default queue has 1000).
pub const BACKGROUND_SHARES: usize = 100;

/// Settings of the per-core runtime. Every queue has its limit here.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Capacity of each (core -> core) channel of the mesh, in messages.
    pub mesh_capacity_messages: usize,
    /// Requests from other cores served at once by one core; the inbox stops draining
    /// (back-pressure through the bounded channel) while all are busy.
    pub inbox_tasks_max: usize,
    /// Requests one core has outstanding at other cores at once.
    pub remote_requests_in_flight_max: usize,
    /// Calls waiting for an in-flight slot; past it calls fail with an overload error.
    pub remote_requests_waiting_max: usize,
    /// Local reads one batched read runs at once.
    pub local_reads_concurrent_max: usize,
    /// Digests per read message (a larger batch for one core is sent in several).
    pub message_digests_max: usize,
    /// Digests one scan (of one core, or of all) may return; past it the scan fails.
    pub scan_digests_max: usize,
    /// Time for every core to open its shards and join the mesh.
    pub join_timeout_ms: u64,
    /// Time shutdown waits for in-flight requests and the other cores.
    pub shutdown_wait_ms_max: u64,
    /// Time shutdown allows each shard's final flush; past it the shard is reported as not
    /// flushed instead of being waited for forever.
    pub shutdown_flush_ms_max: u64,
    /// Names of the graphs (traversal sources); the first is the default. Each is its own
    /// key space.
    pub graphs: Vec<String>,
    /// The graph model's settings (every graph).
    pub model: ModelConfig,
    /// Query limits (every graph).
    pub limits: Limits,
    /// The directory `g.io(file)` reads and writes under (`None`: io() is refused).
    pub io_dir: Option<std::path::PathBuf>,
    /// Keep the in-memory secondary indexes and element counters of every shard up to date
    /// on each record write (decoding every vertex record and pack written). `false` only
    /// for a process that owns the data directory and serves no query, such as the offline
    /// loader: indexes and counters live in memory only and are rebuilt when a server opens
    /// the directory.
    pub maintain_indexes: bool,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            mesh_capacity_messages: MESH_CAPACITY_MESSAGES_DEFAULT,
            inbox_tasks_max: INBOX_TASKS_MAX_DEFAULT,
            remote_requests_in_flight_max: REMOTE_REQUESTS_IN_FLIGHT_MAX_DEFAULT,
            remote_requests_waiting_max: REMOTE_REQUESTS_WAITING_MAX_DEFAULT,
            local_reads_concurrent_max: LOCAL_READS_CONCURRENT_MAX_DEFAULT,
            message_digests_max: MESSAGE_DIGESTS_MAX_DEFAULT,
            scan_digests_max: SCAN_DIGESTS_MAX_DEFAULT,
            join_timeout_ms: JOIN_TIMEOUT_MS_DEFAULT,
            shutdown_wait_ms_max: SHUTDOWN_WAIT_MS_MAX_DEFAULT,
            shutdown_flush_ms_max: SHUTDOWN_FLUSH_MS_MAX_DEFAULT,
            graphs: vec![DEFAULT_GRAPH.to_string()],
            model: ModelConfig::default(),
            limits: Limits::default(),
            io_dir: None,
            maintain_indexes: true,
        }
    }
}

impl RuntimeConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let positive = [
            ("mesh_capacity_messages", self.mesh_capacity_messages),
            ("inbox_tasks_max", self.inbox_tasks_max),
            (
                "remote_requests_in_flight_max",
                self.remote_requests_in_flight_max,
            ),
            (
                "local_reads_concurrent_max",
                self.local_reads_concurrent_max,
            ),
            ("message_digests_max", self.message_digests_max),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(RuntimeError::Config(format!("{name} must be at least 1")));
            }
        }
        if self.graphs.is_empty() || self.graphs.len() > GRAPHS_MAX {
            return Err(RuntimeError::Config(format!(
                "{} graphs: between 1 and {GRAPHS_MAX}",
                self.graphs.len()
            )));
        }
        for (i, g) in self.graphs.iter().enumerate() {
            KeySpace::new(g).map_err(|e| RuntimeError::Config(e.to_string()))?;
            if self.graphs.iter().take(i).any(|o| o == g) {
                return Err(RuntimeError::Config(format!("graph {g:?} named twice")));
            }
        }
        self.model
            .validate()
            .map_err(|e| RuntimeError::Config(e.to_string()))
    }
}

/// Why the runtime could not start or stop cleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// A setting or a call out of range (what is wrong).
    Config(String),
    /// Opening, flushing or serving a shard failed.
    Store(String),
    /// The core mesh could not be built.
    Mesh(String),
    /// Another core failed to join (its reason), or the join timed out.
    Aborted(String),
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeError::Config(m) => write!(f, "runtime settings: {m}"),
            RuntimeError::Store(m) => write!(f, "storage: {m}"),
            RuntimeError::Mesh(m) => write!(f, "core mesh: {m}"),
            RuntimeError::Aborted(m) => write!(f, "startup aborted: {m}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a plain read or write, consistent even after a panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Inner {
    dir: Arc<DataDir>,
    cores: usize,
    cfg: RuntimeConfig,
    /// One mesh builder per core, taken by its `join`. All clones are made on the thread
    /// that builds the cluster: glommio's builder keeps an `Rc` inside, so it must never be
    /// cloned concurrently (dropping the taken clones on their executors can at worst leak it).
    meshes: Mutex<Vec<Option<MeshBuilder<Msg, Full>>>>,
    /// glommio executor id of each core (the mesh orders peers by it).
    executor_ids: Mutex<Vec<Option<usize>>>,
    /// Why startup was aborted, once it was.
    failure: Mutex<Option<String>>,
    /// Last published counters of every shard.
    stats: Mutex<BTreeMap<u32, ShardStats>>,
    /// Last published routing counters of every core.
    route_stats: Mutex<BTreeMap<usize, RouteStats>>,
    /// Failures of `CoreHost::shutdown` (a shard not flushed), for the process's exit status.
    shutdown_errors: Mutex<Vec<String>>,
    /// Services `call()` reaches on every graph (see [`Cluster::set_services`]).
    services: Mutex<Option<Arc<ServiceRegistry>>>,
    /// Secondary index definitions (`crate::index::catalog`).
    indexes: crate::index::IndexCatalog,
}

/// The runtime shared by every core: `Send + Sync + Clone`. Build one per process start;
/// each core joins it once.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl Cluster {
    /// A cluster of `cores` cores over `dir`. Call on the thread that starts the executors.
    pub fn new(
        dir: Arc<DataDir>,
        cores: usize,
        cfg: RuntimeConfig,
    ) -> Result<Cluster, RuntimeError> {
        if cores == 0 || cores > CORES_MAX {
            return Err(RuntimeError::Config(format!(
                "{cores} cores: between 1 and {CORES_MAX}"
            )));
        }
        cfg.validate()?;
        // The indexed edge keys are the data directory's (crate::model::settings).
        let mut cfg = cfg;
        cfg.model.indexed_edge_keys = crate::model::settings::resolve_indexed_edge_keys(
            dir.path(),
            dir.created(),
            &cfg.model.indexed_edge_keys,
        )
        .map_err(RuntimeError::Config)?;
        let indexes = crate::index::IndexCatalog::open(Some(dir.path()), cores)
            .map_err(RuntimeError::Store)?;
        let root = MeshBuilder::<Msg, Full>::full(cores, cfg.mesh_capacity_messages);
        let meshes = (0..cores).map(|_| Some(root.clone())).collect();
        drop(root);
        Ok(Cluster {
            inner: Arc::new(Inner {
                dir,
                cores,
                cfg,
                meshes: Mutex::new(meshes),
                executor_ids: Mutex::new(vec![None; cores]),
                failure: Mutex::new(None),
                stats: Mutex::new(BTreeMap::new()),
                route_stats: Mutex::new(BTreeMap::new()),
                shutdown_errors: Mutex::new(Vec::new()),
                services: Mutex::new(None),
                indexes,
            }),
        })
    }

    /// Sets the services `call()` reaches on every graph of the cores that join after this
    /// (call it before starting the cores).
    pub fn set_services(&self, services: Arc<ServiceRegistry>) {
        *lock(&self.inner.services) = Some(services);
    }

    /// The secondary index definitions (register its `services()` and serve its `admin`).
    pub fn index_catalog(&self) -> crate::index::IndexCatalog {
        self.inner.indexes.clone()
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.inner.cores
    }

    /// The settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.cfg
    }

    /// The data directory.
    pub fn dir(&self) -> &Arc<DataDir> {
        &self.inner.dir
    }

    /// What went wrong in the cores' shutdowns so far (empty: every shard flushed).
    pub fn shutdown_errors(&self) -> Vec<String> {
        lock(&self.inner.shutdown_errors).clone()
    }

    /// Makes every `join` still in progress (and every later one) fail with `why`.
    pub fn abort(&self, why: &str) {
        lock(&self.inner.failure).get_or_insert_with(|| why.to_string());
    }

    fn failure(&self) -> Option<String> {
        lock(&self.inner.failure).clone()
    }

    /// The counters of every shard as last published by its core (every
    /// [`STATS_PUBLISH_MS`] and at shutdown), in shard order.
    pub fn shard_stats(&self) -> Vec<(u32, ShardStats)> {
        lock(&self.inner.stats)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// Joins the cluster as core `core`; call once on that core's executor. Opens the shards
    /// the core owns, starts their background work, then waits for every core in the mesh.
    /// A failure here aborts the other cores' joins.
    pub async fn join(&self, core: usize) -> Result<CoreHost, RuntimeError> {
        let r = self.join_inner(core).await;
        if let Err(e) = &r {
            self.abort(&format!("core {core}: {e}"));
        }
        r
    }

    async fn join_inner(&self, core: usize) -> Result<CoreHost, RuntimeError> {
        let inner = &*self.inner;
        let cores = inner.cores;
        let mesh = lock(&inner.meshes)
            .get_mut(core)
            .and_then(Option::take)
            .ok_or_else(|| {
                RuntimeError::Config(format!(
                    "core {core}: no such core of {cores}, or it joined already"
                ))
            })?;
        if let Some(slot) = lock(&inner.executor_ids).get_mut(core) {
            *slot = Some(glommio::executor().id());
        }
        let bg = glommio::executor().create_task_queue(
            Shares::Static(BACKGROUND_SHARES),
            Latency::NotImportant,
            "storage-bg",
        );
        let mut shards: Vec<Option<Rc<Shard>>> = vec![None; inner.dir.shard_count() as usize];
        let spaces = inner
            .cfg
            .graphs
            .iter()
            .map(|g| KeySpace::new(g).map_err(|e| RuntimeError::Config(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let indexes = crate::index::CoreIndexes::new(spaces, Some(inner.indexes.clone()), core);
        let mut background = Vec::new();
        for id in inner.dir.shards_of_executor(core, cores) {
            if let Some(why) = self.failure() {
                return Err(RuntimeError::Aborted(why));
            }
            let (shard, rep) = inner
                .dir
                .open_shard(id, Clock::System)
                .await
                .map_err(|e| RuntimeError::Store(format!("opening shard {id}: {e}")))?;
            tracing::info!(shard = id, core, records = rep.records, "shard open");
            let shard = Rc::new(shard);
            if inner.cfg.maintain_indexes {
                indexes.attach(&shard);
            }
            let flag = Rc::new(Cell::new(false));
            let task =
                glommio::spawn_local_into(run_background(shard.clone(), flag.clone()), bg)
                    .map_err(|e| RuntimeError::Store(format!("starting background work: {e}")))?;
            background.push((flag, task));
            if let Some(slot) = shards.get_mut(id as usize) {
                *slot = Some(shard);
            }
        }
        let deadline = Instant::now() + Duration::from_millis(inner.cfg.join_timeout_ms);
        let joined = async { Ok(mesh.join().await) }
            .or(async {
                loop {
                    if let Some(why) = self.failure() {
                        return Err(RuntimeError::Aborted(why));
                    }
                    if Instant::now() >= deadline {
                        return Err(RuntimeError::Aborted(format!(
                            "not every core joined within join_timeout_ms ({})",
                            inner.cfg.join_timeout_ms
                        )));
                    }
                    glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
                }
            })
            .await?;
        let (senders, mut receivers) =
            joined.map_err(|e| RuntimeError::Mesh(format!("joining: {e}")))?;
        // The mesh numbers peers in glommio executor-id order; every core registered its id
        // before joining, so all are known now.
        let ids: Vec<usize> = lock(&inner.executor_ids)
            .iter()
            .copied()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RuntimeError::Mesh("a core joined without its id".into()))?;
        let mut order: Vec<usize> = (0..cores).collect();
        order.sort_by_key(|&c| ids.get(c).copied().unwrap_or(usize::MAX));
        let mut peer_of_core = vec![0; cores];
        for (peer, &c) in order.iter().enumerate() {
            if let Some(slot) = peer_of_core.get_mut(c) {
                *slot = peer;
            }
        }
        if peer_of_core.get(core) != Some(&senders.peer_id()) {
            return Err(RuntimeError::Mesh(format!(
                "core {core} is peer {} in the mesh, expected {:?}",
                senders.peer_id(),
                peer_of_core.get(core)
            )));
        }
        let cfg = inner.cfg.clone();
        let local = Rc::new(Local {
            core,
            cores,
            dir: inner.dir.clone(),
            shards,
            senders,
            peer_of_core,
            outgoing: Rc::new(Semaphore::new(cfg.remote_requests_in_flight_max as u64)),
            peer_send: (0..cores).map(|_| Rc::new(Semaphore::new(1))).collect(),
            waiting: Cell::new(0),
            in_flight: Cell::new(0),
            closing: Cell::new(false),
            stats: Cell::new(RouteStats::default()),
            cfg,
            indexes: indexes.clone(),
        });
        crate::index::catalog::spawn_index_worker(
            inner.indexes.clone(),
            indexes,
            local.shards.iter().flatten().cloned().collect(),
        )
        .map_err(RuntimeError::Store)?;
        let inbox = Rc::new(Semaphore::new(local.cfg.inbox_tasks_max as u64));
        let mut drains = Vec::new();
        for (_peer, rx) in receivers.streams() {
            let local = local.clone();
            let inbox = inbox.clone();
            drains.push(glommio::spawn_local(async move {
                // Never waits on another core: only for a local handler slot, and handlers
                // touch local shards only.
                while let Some(msg) = rx.recv().await {
                    let Ok(permit) = inbox.acquire_static_permit(1).await else {
                        break;
                    };
                    let local = local.clone();
                    glommio::spawn_local(async move {
                        local.serve(msg).await;
                        drop(permit);
                    })
                    .detach();
                }
            }));
        }
        let kv = RoutedKv {
            local: local.clone(),
        };
        let mut graphs = Vec::new();
        for name in &local.cfg.graphs {
            let space = KeySpace::new(name).map_err(|e| RuntimeError::Config(e.to_string()))?;
            let model = Model::new(
                kv.clone(),
                space,
                local.cfg.model.clone(),
                Box::new(SystemClock),
            )
            .map_err(|e| RuntimeError::Config(e.to_string()))?
            .with_core(u16::try_from(core).unwrap_or(u16::MAX));
            let mut ex = Executor::new(model, local.cfg.limits);
            ex.io_dir = local.cfg.io_dir.clone();
            ex.services = lock(&self.inner.services).clone();
            graphs.push((name.clone(), Rc::new(ex)));
        }
        let publish_stop = Rc::new(Cell::new(false));
        let publisher = {
            let cluster = self.clone();
            let local = local.clone();
            let stop = publish_stop.clone();
            glommio::spawn_local_into(
                async move {
                    while !stop.get() {
                        cluster.publish(&local);
                        glommio::timer::sleep(Duration::from_millis(STATS_PUBLISH_MS)).await;
                    }
                },
                bg,
            )
            .map_err(|e| RuntimeError::Store(format!("starting the stats task: {e}")))?
        };
        Ok(CoreHost {
            cluster: self.clone(),
            local,
            graphs,
            background,
            drains,
            inbox,
            publisher: (publish_stop, publisher),
        })
    }

    fn publish(&self, local: &Local) {
        let mut st = lock(&self.inner.stats);
        for s in local.shards.iter().flatten() {
            st.insert(s.id(), s.stats());
        }
        drop(st);
        lock(&self.inner.route_stats).insert(local.core, local.stats.get());
    }

    /// The routing counters of every core as last published by it (as often as
    /// [`Cluster::shard_stats`]).
    pub fn route_stats(&self) -> Vec<(usize, RouteStats)> {
        lock(&self.inner.route_stats)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// One core's share of the cluster: its shards, its end of the mesh, and an executor per
/// named graph. Not `Send`; lives on its core.
pub struct CoreHost {
    cluster: Cluster,
    local: Rc<Local>,
    graphs: Vec<(String, Rc<Executor<RoutedKv>>)>,
    background: Vec<(Rc<Cell<bool>>, Task<()>)>,
    drains: Vec<Task<()>>,
    inbox: Rc<Semaphore>,
    publisher: (Rc<Cell<bool>>, Task<()>),
}

impl CoreHost {
    /// This core's number.
    pub fn core(&self) -> usize {
        self.local.core
    }

    /// The cluster this core belongs to.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The executor of graph `name` (the traversal source name, e.g. `g`).
    pub fn executor(&self, name: &str) -> Option<Rc<Executor<RoutedKv>>> {
        self.graphs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
    }

    /// The graph names, default first.
    pub fn graph_names(&self) -> Vec<String> {
        self.graphs.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The store spanning every core, as seen from this one.
    pub fn kv(&self) -> RoutedKv {
        RoutedKv {
            local: self.local.clone(),
        }
    }

    /// Counters of this core's shards, in shard order.
    pub fn shard_stats(&self) -> Vec<(u32, ShardStats)> {
        self.local
            .shards
            .iter()
            .flatten()
            .map(|s| (s.id(), s.stats()))
            .collect()
    }

    /// The shards this core owns (for backup and inspection; use them on this core only).
    pub fn shards(&self) -> Vec<Rc<Shard>> {
        self.local.shards.iter().flatten().cloned().collect()
    }

    /// This core's routing counters.
    pub fn route_stats(&self) -> RouteStats {
        self.local.stats.get()
    }

    /// Stops this core: waits (at most `shutdown_wait_ms_max`) for its outstanding remote
    /// requests, closes its side of the mesh, keeps serving other cores until each of them
    /// has closed its side too, then stops the background work and flushes every shard.
    /// Call on every core (each core's requests stay answerable until all have stopped).
    pub async fn shutdown(self) -> Result<Vec<(u32, ShardStats)>, RuntimeError> {
        let l = &*self.local;
        let wait = Duration::from_millis(l.cfg.shutdown_wait_ms_max);
        let deadline = Instant::now() + wait;
        while l.in_flight.get() + l.waiting.get() > 0 && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(POLL_MS)).await;
        }
        l.closing.set(true);
        l.outgoing.close();
        l.senders.close();
        // Each drain ends when its peer closes its senders; a peer that never does (crashed)
        // is given up on at the deadline.
        for drain in self.drains {
            let left = deadline.saturating_duration_since(Instant::now());
            let ended = async {
                drain.await;
                true
            }
            .or(async {
                glommio::timer::sleep(left).await;
                false
            })
            .await;
            if !ended {
                tracing::warn!(
                    core = l.core,
                    "a peer did not close its mesh channel in time"
                );
            }
        }
        // Handlers still running hold inbox slots; wait for all of them.
        let all = l.cfg.inbox_tasks_max as u64;
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = async { self.inbox.acquire(all).await.is_ok() }
            .or(async {
                glommio::timer::sleep(left).await;
                false
            })
            .await;
        let mut first_error = None;
        // Stop the background work (its last act is a flush) and flush once more, each step
        // bounded: a flush that never completes is reported, not waited for forever.
        let flush_limit = Duration::from_millis(l.cfg.shutdown_flush_ms_max);
        for ((flag, task), s) in self.background.into_iter().zip(l.shards.iter().flatten()) {
            flag.set(true);
            s.wake_background();
            let done = async {
                task.await;
                s.flush().await.map_err(|e| e.to_string())
            }
            .or(async {
                glommio::timer::sleep(flush_limit).await;
                Err(format!(
                    "did not finish within shutdown_flush_ms_max ({} ms)",
                    l.cfg.shutdown_flush_ms_max
                ))
            })
            .await;
            if let Err(e) = done {
                tracing::error!(core = l.core, shard = s.id(), error = %e, "final flush failed");
                first_error.get_or_insert(RuntimeError::Store(format!(
                    "flushing shard {}: {e}",
                    s.id()
                )));
            }
        }
        self.publisher.0.set(true);
        drop(self.publisher.1);
        self.cluster.publish(l);
        match first_error {
            Some(e) => {
                lock(&self.cluster.inner.shutdown_errors).push(format!("core {}: {e}", l.core));
                Err(e)
            }
            None => Ok(l
                .shards
                .iter()
                .flatten()
                .map(|s| (s.id(), s.stats()))
                .collect()),
        }
    }
}
