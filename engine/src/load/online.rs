//! Loading into a running server: a [`LoadCoordinator`] (thread-safe; the admin endpoint
//! `POST/GET /load` and the `coregraph.load` / `coregraph.load.status` services start jobs
//! and read their status) and a per-core worker ([`spawn_load_worker`], in a low-shares task
//! queue) that runs its core's part of the loader pipeline (`pipeline::run_core`) through
//! the server's store, then flushes its shards. The server owns the data, so an online load
//! keeps no record in memory (`resident_bytes` 0): every update reads the record and writes
//! it generation-checked, like any other writer. A job is `done` once every core has flushed:
//! from then on the loaded data is durable and every read sees it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use glommio::{Latency, Shares};
use gremlin::error::GremlinError;
use gremlin::graph::Graph;
use gremlin::machine::services::{Service, ServiceItem, ServiceKind};
use gremlin::value::{Map, Value};

use crate::load::pipeline::{self, LoadOptions, LoadProgress, LoadSummary, Shared};
use crate::model::ModelConfig;
use crate::runtime::CoreHost;

/// How often an idle core checks for a new load job.
pub const LOAD_POLL_MS: u64 = 100;
/// CPU shares of the load task queue (serving queues have the default 1000).
pub const LOAD_SHARES: usize = 200;
/// A core that has not picked a job up after this long fails the job (no load worker).
pub const LOAD_PICKUP_MS_MAX: u64 = 30_000;
/// Longest input path (or error-file path) accepted from the admin endpoint or a service.
pub const LOAD_PATH_BYTES_MAX: usize = 4096;
/// Edges each core's writer gathers online (smaller than offline: the server's memory).
pub const ONLINE_WRITER_BUFFER_EDGES: usize = 1 << 20;
/// Name of the error file written into the input directory unless one is given.
pub const ERRORS_FILE_NAME: &str = "coregraph-load-errors.txt";

/// What a core is doing in a job.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CoreState {
    Pending,
    Running,
    Done,
    Failed(String),
}

struct Job {
    id: u64,
    from: PathBuf,
    errors_path: PathBuf,
    shared: Arc<Shared>,
    files: usize,
    cores: Vec<CoreState>,
    /// `None` while running.
    result: Option<Result<LoadSummary, String>>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    job: Option<Job>,
}

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadState {
    Running,
    Done,
    Failed(String),
}

/// The status of the current (or last) job.
#[derive(Clone, Debug)]
pub struct LoadStatus {
    pub id: u64,
    pub from: PathBuf,
    pub errors_path: PathBuf,
    pub state: LoadState,
    pub progress: LoadProgress,
    /// Once done: the summary (counts, phases, rejected rows by kind).
    pub summary: Option<LoadSummary>,
}

impl LoadStatus {
    /// One line: `running`, `done` or `failed`, with counts.
    pub fn status_line(&self) -> String {
        let p = &self.progress;
        let head = match &self.state {
            LoadState::Running => "running".to_string(),
            LoadState::Done => "done".to_string(),
            LoadState::Failed(e) => format!("failed ({e})"),
        };
        format!(
            "{head} load job {} from {}: {} rows read ({:.0} rows/s), {} vertices, {} edges, {} rejected (listed in {}), {:.0}% of bytes{}\n",
            self.id,
            self.from.display(),
            p.rows,
            p.rows_per_s,
            p.vertices_written,
            p.edges_written,
            p.rejected,
            self.errors_path.display(),
            p.done_fraction * 100.0,
            match (&self.state, p.eta_s) {
                (LoadState::Running, Some(e)) => format!(", ETA {e:.0} s"),
                _ => String::new(),
            }
        )
    }

    /// The status as a map (for the `coregraph.load.status` service).
    pub fn to_map(&self) -> Map {
        let p = &self.progress;
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(Value::str(k), v);
        };
        put("job", Value::Long(self.id as i64));
        put("from", Value::str(&self.from.display().to_string()));
        put(
            "state",
            Value::str(match &self.state {
                LoadState::Running => "running",
                LoadState::Done => "done",
                LoadState::Failed(_) => "failed",
            }),
        );
        if let LoadState::Failed(e) = &self.state {
            put("error", Value::str(e));
        }
        put("rows", Value::Long(p.rows as i64));
        put("vertices", Value::Long(p.vertices_written as i64));
        put("edges", Value::Long(p.edges_written as i64));
        put("rejected", Value::Long(p.rejected as i64));
        put("rowsPerSecond", Value::Double(p.rows_per_s));
        put(
            "errorsFile",
            Value::str(&self.errors_path.display().to_string()),
        );
        m
    }
}

/// Starts load jobs on a running server and tracks them; shared by every core (`Send + Sync
/// + Clone`). One job at a time.
#[derive(Clone)]
pub struct LoadCoordinator {
    cores: usize,
    model: ModelConfig,
    st: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LoadCoordinator {
    /// A coordinator for a server of `cores` cores whose graphs use `model`.
    pub fn new(cores: usize, model: ModelConfig) -> LoadCoordinator {
        LoadCoordinator {
            cores: cores.max(1),
            model,
            st: Arc::default(),
        }
    }

    /// Starts loading directory `from` into graph `graph`; rejected rows go to `errors`
    /// (default: [`ERRORS_FILE_NAME`] in `from`). The cores pick the job up within
    /// [`LOAD_POLL_MS`]. Fails while another job runs or when the input cannot be planned.
    pub fn start(&self, from: &Path, graph: &str, errors: Option<&Path>) -> Result<u64, String> {
        let mut st = lock(&self.st);
        if st.job.as_ref().is_some_and(|j| j.result.is_none()) {
            return Err("a load is already running".into());
        }
        let errors_path = errors.map_or_else(|| from.join(ERRORS_FILE_NAME), Path::to_path_buf);
        let opts = LoadOptions {
            cores: self.cores,
            graph: graph.to_string(),
            model: self.model.clone(),
            errors_path: errors_path.clone(),
            writer_buffer_edges: ONLINE_WRITER_BUFFER_EDGES,
            resident_bytes: 0,
            progress: false,
            ..LoadOptions::default()
        };
        let (shared, files) = pipeline::prepare(from, opts).map_err(|e| e.to_string())?;
        st.next_id += 1;
        let id = st.next_id;
        st.job = Some(Job {
            id,
            from: from.to_path_buf(),
            errors_path,
            shared,
            files,
            cores: vec![CoreState::Pending; self.cores],
            result: None,
        });
        Ok(id)
    }

    /// The current (or last) job.
    pub fn status(&self) -> Option<LoadStatus> {
        let mut st = lock(&self.st);
        let job = st.job.as_mut()?;
        let waited = job.shared.started.elapsed().as_millis() as u64;
        if job.result.is_none() && waited > LOAD_PICKUP_MS_MAX {
            if let Some(core) = job.cores.iter().position(|c| *c == CoreState::Pending) {
                job.result = Some(Err(format!(
                    "core {core} did not start its part within {LOAD_PICKUP_MS_MAX} ms (no load worker?)"
                )));
            }
        }
        let (state, summary) = match &job.result {
            None => (LoadState::Running, None),
            Some(Ok(s)) => (LoadState::Done, Some(s.clone())),
            Some(Err(e)) => (LoadState::Failed(e.clone()), None),
        };
        Some(LoadStatus {
            id: job.id,
            from: job.from.clone(),
            errors_path: job.errors_path.clone(),
            state,
            progress: job.shared.progress(),
            summary,
        })
    }

    /// Takes core `core`'s part of the pending job, if any.
    fn take(&self, core: usize) -> Option<(u64, Arc<Shared>)> {
        let mut st = lock(&self.st);
        let job = st.job.as_mut()?;
        if job.result.is_some() {
            return None;
        }
        let c = job.cores.get_mut(core)?;
        if *c != CoreState::Pending {
            return None;
        }
        *c = CoreState::Running;
        Some((job.id, job.shared.clone()))
    }

    fn finish(&self, id: u64, core: usize, r: Result<(), String>) {
        let mut st = lock(&self.st);
        let Some(job) = st.job.as_mut().filter(|j| j.id == id) else {
            return;
        };
        if let Some(c) = job.cores.get_mut(core) {
            *c = match r {
                Ok(()) => CoreState::Done,
                Err(e) => CoreState::Failed(format!("core {core}: {e}")),
            };
        }
        if job.result.is_some() {
            return;
        }
        if job.cores.iter().all(|c| *c == CoreState::Done) {
            job.result = Some(
                pipeline::summarize(&job.shared, job.files)
                    .map_err(|e| e.to_string())
                    .and_then(|s| match &s.stopped {
                        Some(why) => Err(why.clone()),
                        None => Ok(s),
                    }),
            );
        } else if job
            .cores
            .iter()
            .all(|c| matches!(c, CoreState::Done | CoreState::Failed(_)))
        {
            let e = job
                .cores
                .iter()
                .find_map(|c| match c {
                    CoreState::Failed(e) => Some(e.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            job.result = Some(Err(e));
        }
    }

    /// The admin endpoint: `POST /load?from=DIR[&graph=G][&errors=FILE]` starts a job
    /// (paths percent-decoded, absolute), `GET /load` shows the current job. `None` for
    /// other paths.
    pub fn admin(&self, method: &str, path: &str, query: &str) -> Option<(String, String)> {
        if path != "/load" {
            return None;
        }
        let bad = |b: String| Some(("400 Bad Request".to_string(), b + "\n"));
        match method {
            "GET" => Some((
                "200 OK".to_string(),
                match self.status() {
                    Some(s) => s.status_line(),
                    None => "no load has run\n".into(),
                },
            )),
            "POST" => {
                let param = |name: &str| {
                    query
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| crate::backup::percent_decode(v))
                };
                let from = match param("from") {
                    Some(Some(f)) if f.len() <= LOAD_PATH_BYTES_MAX => PathBuf::from(f),
                    _ => return bad("POST /load?from=DIR: DIR missing or badly encoded".into()),
                };
                let errors = match param("errors") {
                    None => None,
                    Some(Some(f)) if f.len() <= LOAD_PATH_BYTES_MAX => Some(PathBuf::from(f)),
                    Some(_) => return bad("errors=FILE: badly encoded".into()),
                };
                let graph = match param("graph") {
                    None => crate::runtime::DEFAULT_GRAPH.to_string(),
                    Some(Some(g)) => g,
                    Some(None) => return bad("graph=NAME: badly encoded".into()),
                };
                if !from.is_absolute() || errors.as_ref().is_some_and(|e| !e.is_absolute()) {
                    return bad("give absolute paths".into());
                }
                match self.start(&from, &graph, errors.as_deref()) {
                    Ok(id) => Some((
                        "202 Accepted".to_string(),
                        format!("started load job {id} from {}\n", from.display()),
                    )),
                    Err(e) if e.contains("already running") => {
                        Some(("409 Conflict".to_string(), e + "\n"))
                    }
                    Err(e) => bad(e),
                }
            }
            _ => Some((
                "405 Method Not Allowed".to_string(),
                "GET or POST\n".to_string(),
            )),
        }
    }

    /// The `call()` services of this coordinator: `coregraph.load` (start; parameters
    /// `path`, optional `graph` and `errors`) and `coregraph.load.status`.
    pub fn services(&self) -> Vec<Arc<dyn Service>> {
        vec![
            Arc::new(LoadService(self.clone())),
            Arc::new(LoadStatusService(self.clone())),
        ]
    }
}

/// The per-core load worker: spawn it once per core (after `Cluster::join`); it polls for
/// jobs every [`LOAD_POLL_MS`] and runs its part in a task queue with [`LOAD_SHARES`]
/// shares, so serving keeps priority. Runs until the executor ends.
pub fn spawn_load_worker(coord: LoadCoordinator, host: &CoreHost) -> Result<(), String> {
    let core = host.core();
    let cores = host.cluster().cores();
    let kv = host.kv();
    let shards = host.shards();
    let q = glommio::executor().create_task_queue(
        Shares::Static(LOAD_SHARES),
        Latency::NotImportant,
        "load",
    );
    glommio::spawn_local_into(
        async move {
            loop {
                glommio::timer::sleep(Duration::from_millis(LOAD_POLL_MS)).await;
                let Some((id, shared)) = coord.take(core) else {
                    continue;
                };
                let mut r = pipeline::run_core(shared, core, cores, kv.clone()).await;
                // Acknowledged means durable: flush this core's shards before reporting.
                for s in &shards {
                    if let Err(e) = s.flush().await {
                        r = r.and(Err(format!("flushing shard {}: {e}", s.id())));
                    }
                }
                coord.finish(id, core, r);
            }
        },
        q,
    )
    .map_err(|e| format!("starting the load worker: {e}"))?
    .detach();
    Ok(())
}

fn param_str(params: &Map, name: &str) -> Result<Option<String>, GremlinError> {
    match params.get(&Value::str(name)) {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= LOAD_PATH_BYTES_MAX => Ok(Some(s.to_string())),
        Some(_) => Err(GremlinError::runtime(format!(
            "coregraph.load: {name} must be a string of at most {LOAD_PATH_BYTES_MAX} bytes"
        ))),
    }
}

/// `g.call('coregraph.load', [path: '/abs/dir'])`: starts a load, returns its status.
struct LoadService(LoadCoordinator);

impl Service for LoadService {
    fn name(&self) -> &str {
        "coregraph.load"
    }

    fn supports(&self, kind: ServiceKind) -> bool {
        kind == ServiceKind::Start
    }

    fn describe_params(&self) -> Map {
        let mut m = Map::new();
        m.insert(
            Value::str("path"),
            Value::str("absolute path of the load directory (vertices/, edges/)"),
        );
        m.insert(Value::str("graph"), Value::str("graph to load into"));
        m.insert(
            Value::str("errors"),
            Value::str("absolute path of the file listing rejected rows"),
        );
        m
    }

    fn start(
        &self,
        _graph: &mut dyn Graph,
        params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        let path = param_str(params, "path")?.ok_or_else(|| {
            GremlinError::runtime("coregraph.load: the path parameter is missing")
        })?;
        let from = PathBuf::from(path);
        let errors = param_str(params, "errors")?.map(PathBuf::from);
        if !from.is_absolute() || errors.as_ref().is_some_and(|e| !e.is_absolute()) {
            return Err(GremlinError::runtime("coregraph.load: give absolute paths"));
        }
        let graph =
            param_str(params, "graph")?.unwrap_or_else(|| crate::runtime::DEFAULT_GRAPH.into());
        self.0
            .start(&from, &graph, errors.as_deref())
            .map_err(|e| GremlinError::runtime(format!("coregraph.load: {e}")))?;
        let status = self
            .0
            .status()
            .ok_or_else(|| GremlinError::runtime("coregraph.load: the job vanished"))?;
        Ok(vec![ServiceItem::of(Value::Map(status.to_map()))])
    }
}

/// `g.call('coregraph.load.status')`: the current (or last) load's status, or nothing.
struct LoadStatusService(LoadCoordinator);

impl Service for LoadStatusService {
    fn name(&self) -> &str {
        "coregraph.load.status"
    }

    fn supports(&self, kind: ServiceKind) -> bool {
        kind == ServiceKind::Start
    }

    fn start(
        &self,
        _graph: &mut dyn Graph,
        _params: &Map,
    ) -> Result<Vec<ServiceItem>, GremlinError> {
        Ok(self
            .0
            .status()
            .map(|s| ServiceItem::of(Value::Map(s.to_map())))
            .into_iter()
            .collect())
    }
}
