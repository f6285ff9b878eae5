//! The TinkerPop feature suite on the graph model (one core, in-memory store), with the
//! default settings and with edge cache 2 / pack 3 / index page 2 (every supernode path):
//! every scenario that passes on the reference graph must pass on the model too, except the
//! ones listed with a reason in `tests/conformance-model-exceptions.txt`. Then the same
//! through the query executor (`engine::exec::Executor`) over an in-memory store that yields
//! at every call and over a store split into 2 shards by partition, except the scenarios of
//! `tests/conformance-exec-exceptions.txt` too. Prints the counts and times.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::cell::Cell;
use std::rc::Rc;

use engine::exec::{Executor, RunOptions, RunStats};
use engine::model::adapter::ModelGraph;
use engine::model::keys::KeySpace;
use engine::model::kv::{Digest, Got, Kv, KvError, MemKv, Records, WriteMode};
use engine::model::ops::{Model, SystemClock};
use engine::model::ModelConfig;
use gremlin::bytecode::{Bytecode, Instruction};
use gremlin::conformance::gherkin::parse_feature;
use gremlin::conformance::{run_scenario, Backend, GraphName, Limits, Outcome, Request};
use gremlin::graph::Graph;
use gremlin::refgraph::RefGraph;
use gremlin::value::{GraphData, Value};

/// Feature directory nesting followed.
const DIR_DEPTH_MAX: usize = 8;
/// Largest graph file read, in bytes.
const GRAPH_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

fn tinkerpop_dir() -> PathBuf {
    std::env::var("COREGRAPH_TINKERPOP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/tinkerpop")
        })
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    assert!(
        depth <= DIR_DEPTH_MAX,
        "{} nested too deeply",
        dir.display()
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, depth + 1, out);
        } else if p.extension().is_some_and(|x| x == "feature") {
            out.push(p);
        }
    }
}

fn bytecode(request: &Request<'_>) -> Result<Bytecode, String> {
    let lookup = |name: &str| {
        request
            .params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut bc =
        gremlin::parser::parse(request.gremlin, &lookup).map_err(|e| format!("parse error {e}"))?;
    for (key, value) in request.side_effects.iter().rev() {
        bc.source.insert(
            0,
            Instruction::new("withSideEffect", vec![Value::str(key), value.clone()]),
        );
    }
    Ok(bc)
}

fn exec<G: Graph>(g: &mut G, request: &Request<'_>) -> Result<Vec<Value>, String> {
    let bc = bytecode(request)?;
    gremlin::machine::execute_with(
        g,
        &bc,
        gremlin::machine::Limits::default(),
        request.deadline,
    )
    .map_err(|e| e.to_string())
}

struct Reference<'a> {
    graphs: &'a HashMap<GraphName, GraphData>,
    current: Option<RefGraph>,
}

impl Backend for Reference<'_> {
    fn load(&mut self, graph: GraphName) -> Result<(), String> {
        let data = self.graphs.get(&graph).ok_or("graph not read")?;
        self.current = Some(RefGraph::from_graph_data(data).map_err(|e| e.to_string())?);
        Ok(())
    }
    fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String> {
        exec(self.current.as_mut().ok_or("no graph")?, request)
    }
}

struct OnModel<'a> {
    graphs: &'a HashMap<GraphName, GraphData>,
    cfg: ModelConfig,
    current: Option<ModelGraph>,
}

impl Backend for OnModel<'_> {
    fn load(&mut self, graph: GraphName) -> Result<(), String> {
        let data = self.graphs.get(&graph).ok_or("graph not read")?;
        let mut g = ModelGraph::in_memory(graph.name(), self.cfg.clone(), Box::new(SystemClock))
            .map_err(|e| e.to_string())?;
        g.load(data).map_err(|e| e.to_string())?;
        // The TinkerPop test server registers TinkerGraph's demo services; so do we here.
        g.set_services(gremlin::machine::services::ServiceRegistry::tinker_demo());
        self.current = Some(g);
        Ok(())
    }
    fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String> {
        exec(self.current.as_mut().ok_or("no graph")?, request)
    }
}

fn read_graphs(dir: &Path) -> HashMap<GraphName, GraphData> {
    let mut graphs = HashMap::new();
    for name in GraphName::ALL {
        let data = match name.data_file() {
            None => GraphData::default(),
            Some(f) => {
                let path = dir.join("data").join(f);
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                assert!(size <= GRAPH_FILE_BYTES_MAX, "{} too large", path.display());
                let text = std::fs::read_to_string(&path).unwrap();
                gremlin::codec::graphson::read_graph(&text).unwrap()
            }
        };
        graphs.insert(name, data);
    }
    graphs
}

/// A store split over 2 in-memory "shards" by partition (as the runtime splits partitions
/// over cores); counts the batched reads.
struct TwoShards {
    shards: [MemKv; 2],
    get_many_calls: Cell<u64>,
}

impl TwoShards {
    fn new() -> TwoShards {
        TwoShards {
            shards: [MemKv::new(), MemKv::new()],
            get_many_calls: Cell::new(0),
        }
    }

    fn shard(&self, d: &Digest) -> &MemKv {
        &self.shards[usize::from(d.partition() % 2)]
    }
}

impl Kv for TwoShards {
    async fn get(&self, d: &Digest) -> Result<Option<Got>, KvError> {
        self.shard(d).get(d).await
    }
    async fn put(&self, d: &Digest, p: &[u8], m: WriteMode) -> Result<u16, KvError> {
        self.shard(d).put(d, p, m).await
    }
    async fn delete(&self, d: &Digest, m: WriteMode) -> Result<bool, KvError> {
        self.shard(d).delete(d, m).await
    }
    fn scan(&self) -> Vec<Digest> {
        let mut all = self.shards[0].scan();
        all.extend(self.shards[1].scan());
        all
    }
}

impl Records for TwoShards {
    async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        self.get_many_calls.set(self.get_many_calls.get() + 1);
        // One pass per shard (as one message per owner core), answers in input order.
        let mut out = vec![None; digests.len()];
        for (s, shard) in self.shards.iter().enumerate() {
            for (i, d) in digests.iter().enumerate() {
                if usize::from(d.partition() % 2) == s {
                    out[i] = shard.get(d).await?;
                }
            }
        }
        Ok(out)
    }
}

/// Totals of the executor runs of one configuration.
#[derive(Default)]
struct ExecTotals {
    queries: u64,
    attempts: u64,
    fetch_calls: u64,
    records: u64,
}

struct OnExecutor<'a, R: Records> {
    graphs: &'a HashMap<GraphName, GraphData>,
    cfg: ModelConfig,
    store: fn() -> R,
    after_load: fn(&R),
    current: Option<Executor<R>>,
    totals: Rc<std::cell::RefCell<ExecTotals>>,
}

impl<R: Records> Backend for OnExecutor<'_, R> {
    fn load(&mut self, graph: GraphName) -> Result<(), String> {
        let data = self.graphs.get(&graph).ok_or("graph not read")?;
        let model = Model::new(
            (self.store)(),
            KeySpace::new(graph.name()).map_err(|e| e.to_string())?,
            self.cfg.clone(),
            Box::new(SystemClock),
        )
        .map_err(|e| e.to_string())?;
        let mut ex = Executor::new(model, gremlin::machine::Limits::default());
        ex.services = Some(gremlin::machine::services::ServiceRegistry::tinker_demo());
        futures_lite::future::block_on(ex.load(data)).map_err(|e| e.to_string())?;
        (self.after_load)(&ex.model.kv);
        self.current = Some(ex);
        Ok(())
    }
    fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String> {
        let bc = bytecode(request)?;
        let ex = self.current.as_ref().ok_or("no graph")?;
        let options = RunOptions {
            deadline: request.deadline,
            cancel: None,
        };
        let (r, stats): (_, RunStats) =
            futures_lite::future::block_on(ex.run_with_stats(&bc, &options));
        {
            let mut t = self.totals.borrow_mut();
            t.queries += 1;
            t.attempts += u64::from(stats.attempts);
            t.fetch_calls += u64::from(stats.fetch_calls);
            t.records += stats.records_fetched;
        }
        let limits = gremlin::machine::Limits::default();
        let mut out = Vec::new();
        for t in r.map_err(|e| e.to_string())? {
            for _ in 0..t.bulk.max(0) {
                if out.len() as u64 >= limits.traversers_max {
                    return Err(format!(
                        "traversal exceeded the limit traversers_max = {}",
                        limits.traversers_max
                    ));
                }
                out.push(t.value.clone());
            }
        }
        Ok(out)
    }
}

fn exceptions(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(" -- ").next().map(|s| s.trim().to_string()))
        .collect()
}

/// One configuration of the suite: a name, a fresh backend per scenario, the scenarios it
/// may fail, and a check after the run.
struct Config<'g> {
    name: String,
    backend: Box<dyn Fn() -> Box<dyn Backend + 'g> + 'g>,
    allowed: Vec<String>,
    /// Runs scenario number n (counted over the whole suite) when `n % every == offset`.
    every: usize,
    offset: usize,
    /// The scenario budget handed to the backend.
    limits: Limits,
}

/// Runs every scenario passing on the reference through each configuration (the ones of
/// its subset).
fn suite(configs: Vec<Config<'_>>) -> bool {
    let dir = tinkerpop_dir();
    let mut files = Vec::new();
    collect(&dir.join("features"), 0, &mut files);
    if files.is_empty() {
        assert!(std::env::var("CI").is_err(), "feature files missing in CI");
        eprintln!(
            "no feature files under {}; set COREGRAPH_TINKERPOP",
            dir.display()
        );
        return false;
    }
    files.sort();
    let limits = Limits::default();
    let started = Instant::now();
    let mut both = vec![0usize; configs.len()];
    let mut ref_only: Vec<Vec<String>> = vec![Vec::new(); configs.len()];
    let mut spent = vec![std::time::Duration::ZERO; configs.len()];
    let mut unsupported = 0usize;
    let mut seen = 0usize;
    let only = std::env::var("COREGRAPH_FEATURES").ok();
    for f in &files {
        if only
            .as_ref()
            .is_some_and(|o| !f.to_string_lossy().contains(o.as_str()))
        {
            continue;
        }
        if std::env::var("COREGRAPH_VERBOSE").is_ok() {
            eprintln!("{}", f.display());
        }
        let text = std::fs::read_to_string(f).unwrap();
        let feature = parse_feature(&text).unwrap();
        for sc in &feature.scenarios {
            seen += 1;
            let wanted: Vec<bool> = configs.iter().map(|c| seen % c.every == c.offset).collect();
            if !wanted.contains(&true) {
                continue;
            }
            if std::env::var("COREGRAPH_VERBOSE").is_ok() {
                eprintln!("  {}", sc.name);
            }
            let graphs = graphs();
            let mut reference = Reference {
                graphs,
                current: None,
            };
            match run_scenario(&mut reference, sc, limits) {
                Outcome::Passed => {}
                Outcome::Unsupported(_) => {
                    unsupported += 1;
                    continue;
                }
                Outcome::Failed(_) => continue,
            }
            for (i, c) in configs.iter().enumerate() {
                if !wanted[i] {
                    continue;
                }
                let t = Instant::now();
                let mut b = (c.backend)();
                let outcome = run_scenario(&mut *b, sc, c.limits);
                if std::env::var("COREGRAPH_SLOW").is_ok() && t.elapsed().as_millis() > 500 {
                    eprintln!("{}: {} took {:?}", c.name, sc.name, t.elapsed());
                }
                spent[i] += t.elapsed();
                match outcome {
                    Outcome::Passed => both[i] += 1,
                    other => {
                        if !c.allowed.contains(&sc.name) {
                            ref_only[i].push(format!("{}: {other:?}", sc.name));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{unsupported} unsupported on the reference; {:?} in all",
        started.elapsed()
    );
    for (i, c) in configs.iter().enumerate() {
        eprintln!(
            "{}: {} pass on both, {} pass only on the reference, {:?}",
            c.name,
            both[i],
            ref_only[i].len(),
            spent[i]
        );
    }
    for (i, c) in configs.iter().enumerate() {
        assert!(
            both[i] * c.every > 1000,
            "{}: only {} scenarios passed",
            c.name,
            both[i]
        );
        assert!(
            ref_only[i].is_empty(),
            "{}: pass on the reference only:\n{}",
            c.name,
            ref_only[i].join("\n")
        );
    }
    true
}

/// The graphs of the suite, read once per test binary.
fn graphs() -> &'static HashMap<GraphName, GraphData> {
    static GRAPHS: std::sync::OnceLock<HashMap<GraphName, GraphData>> = std::sync::OnceLock::new();
    GRAPHS.get_or_init(|| read_graphs(&tinkerpop_dir()))
}

/// The scenario budget of the model and executor runs: 3x the runner's default, so that
/// load on the shared 2-core machine does not fail the slowest scenarios (match() over
/// grateful-dead: 1-5 s each on a quiet machine, on the model as through the executor; with
/// the default 10 s, two of them ran out of time at a load average of 9).
fn budget() -> Limits {
    Limits {
        scenario_ms_max: 3 * Limits::default().scenario_ms_max,
    }
}

fn small() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 2,
        indexed_edge_keys: vec!["weight".into()],
    }
}

fn model_config(name: &str, cfg: ModelConfig) -> Config<'static> {
    let (every, offset) = (1, 0);
    Config {
        name: format!("graph model {name}"),
        backend: Box::new(move || {
            Box::new(OnModel {
                graphs: graphs(),
                cfg: cfg.clone(),
                current: None,
            })
        }),
        allowed: exceptions(include_str!("conformance-model-exceptions.txt")),
        every,
        offset,
        limits: budget(),
    }
}

fn exec_config<R: Records + 'static>(
    name: &str,
    cfg: ModelConfig,
    store: fn() -> R,
    after_load: fn(&R),
    totals: Rc<std::cell::RefCell<ExecTotals>>,
    (every, offset): (usize, usize),
) -> Config<'static> {
    let mut allowed = exceptions(include_str!("conformance-model-exceptions.txt"));
    allowed.extend(exceptions(include_str!("conformance-exec-exceptions.txt")));
    Config {
        name: format!("executor {name}"),
        backend: Box::new(move || {
            Box::new(OnExecutor {
                graphs: graphs(),
                cfg: cfg.clone(),
                store,
                after_load,
                current: None,
                totals: totals.clone(),
            })
        }),
        allowed,
        every,
        offset,
        limits: budget(),
    }
}

/// One test, the two settings side by side per scenario (each backend holds one graph at a
/// time).
/// The two suites run one after the other: side by side on CI's 2 cores (with other test
/// binaries) the slowest scenarios ran out of their time budget.
static ONE_SUITE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn feature_suite_on_the_graph_model() {
    let _one = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    suite(vec![
        model_config("default", ModelConfig::default()),
        model_config("cache 2 / pack 3 / page 2", small()),
    ]);
}

static TWO_SHARD_GET_MANY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn two_shards() -> TwoShards {
    TwoShards::new()
}

fn two_shards_loaded(s: &TwoShards) {
    // Calls made while loading are not the executor's.
    s.get_many_calls.set(0);
}

impl Drop for TwoShards {
    fn drop(&mut self) {
        TWO_SHARD_GET_MANY.fetch_add(
            self.get_many_calls.get(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// The suite through the executor: over a yielding in-memory store and over 2 shards with
/// default settings (every scenario), and with the small settings on a fixed quarter of the
/// scenarios each (numbers 1 and 3 mod 4), to keep the test's time within CI's budget.
#[test]
fn feature_suite_through_the_executor() {
    let _one = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let yielding = Rc::new(std::cell::RefCell::new(ExecTotals::default()));
    let sharded = Rc::new(std::cell::RefCell::new(ExecTotals::default()));
    let ran = suite(vec![
        exec_config(
            "MemKv (yield at every call), default",
            ModelConfig::default(),
            MemKv::new,
            |kv| kv.set_yield_each_call(true),
            yielding.clone(),
            (1, 0),
        ),
        exec_config(
            "2 shards, default",
            ModelConfig::default(),
            two_shards,
            two_shards_loaded,
            sharded.clone(),
            (1, 0),
        ),
        exec_config(
            "MemKv (yield at every call), cache 2 / pack 3 / page 2, scenarios 1 mod 4",
            small(),
            MemKv::new,
            |kv| kv.set_yield_each_call(true),
            yielding.clone(),
            (4, 1),
        ),
        exec_config(
            "2 shards, cache 2 / pack 3 / page 2, scenarios 3 mod 4",
            small(),
            two_shards,
            two_shards_loaded,
            sharded.clone(),
            (4, 3),
        ),
    ]);
    if !ran {
        return;
    }
    for (name, t) in [("yielding", &yielding), ("2 shards", &sharded)] {
        let t = t.borrow();
        eprintln!(
            "executor {name}: {} queries, {} attempts, {} get_many calls, {} records fetched",
            t.queries, t.attempts, t.fetch_calls, t.records
        );
        assert!(t.queries > 1000 && t.attempts > t.queries);
        // Every attempt but a query's last fetches once; never more.
        assert!(t.fetch_calls <= t.attempts - t.queries);
    }
    // The store saw exactly the executor's batched reads: one get_many per fetch round.
    assert_eq!(
        TWO_SHARD_GET_MANY.load(std::sync::atomic::Ordering::Relaxed),
        sharded.borrow().fetch_calls
    );
}
