//! The TinkerPop feature suite on the graph model (one core, in-memory store), with the
//! default settings and with edge cache 2 / pack 3 / index page 2 (every supernode path):
//! every scenario that passes on the reference graph must pass on the model too, except the
//! ones listed with a reason in `tests/conformance-model-exceptions.txt`. Prints the counts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use engine::model::adapter::ModelGraph;
use engine::model::ops::SystemClock;
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

fn exceptions() -> Vec<String> {
    let text = include_str!("conformance-model-exceptions.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(" -- ").next().map(|s| s.trim().to_string()))
        .collect()
}

fn suite(cfg: ModelConfig) {
    let dir = tinkerpop_dir();
    let mut files = Vec::new();
    collect(&dir.join("features"), 0, &mut files);
    if files.is_empty() {
        assert!(std::env::var("CI").is_err(), "feature files missing in CI");
        eprintln!(
            "no feature files under {}; set COREGRAPH_TINKERPOP",
            dir.display()
        );
        return;
    }
    files.sort();
    let graphs = read_graphs(&dir);
    let allowed = exceptions();
    let limits = Limits::default();
    let started = Instant::now();
    let (mut both, mut ref_only, mut unsupported) = (0usize, Vec::new(), 0usize);
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
            if std::env::var("COREGRAPH_VERBOSE").is_ok() {
                eprintln!("  {}", sc.name);
            }
            let mut reference = Reference {
                graphs: &graphs,
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
            let mut model = OnModel {
                graphs: &graphs,
                cfg: cfg.clone(),
                current: None,
            };
            match run_scenario(&mut model, sc, limits) {
                Outcome::Passed => both += 1,
                other => {
                    if !allowed.contains(&sc.name) {
                        ref_only.push(format!("{}: {other:?}", sc.name));
                    }
                }
            }
        }
    }
    eprintln!(
        "graph model {cfg:?}: {both} pass on both, {} pass only on the reference, {unsupported} unsupported, {:?}",
        ref_only.len(),
        started.elapsed()
    );
    assert!(both > 1000, "only {both} scenarios passed on the model");
    assert!(
        ref_only.is_empty(),
        "pass on the reference only:\n{}",
        ref_only.join("\n")
    );
}

/// One test, the two settings in turn (each run holds every graph in memory; running them
/// side by side doubled the peak and was once OOM-killed on the shared machine).
#[test]
fn feature_suite_on_the_graph_model() {
    suite(ModelConfig::default());
    suite(ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 2,
        indexed_edge_keys: vec!["weight".into()],
    });
}
