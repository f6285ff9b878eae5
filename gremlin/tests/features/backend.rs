//! The reference backend the feature suite runs against: the gremlin-lang parser, the step
//! machine and the in-memory reference graph, loaded from the suite's GraphSON files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use gremlin::bytecode::Instruction;
use gremlin::codec::graphson::read_graph;
use gremlin::conformance::{Backend, GraphName, Request};
use gremlin::machine::{Limits, Machine};
use gremlin::refgraph::RefGraph;
use gremlin::value::{GraphData, Value};

/// Largest graph file read, in bytes (grateful-dead.json is about 0.7 MB).
const GRAPH_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Traversers alive in one frontier for a suite scenario: far above what any passing
/// scenario needs, low enough that a runaway one fails in seconds instead of timing out (a
/// timed-out worker thread cannot be stopped and keeps a core busy until the run ends).
const SUITE_TRAVERSERS_MAX: u64 = 1_000_000;
/// Items one barrier may hold in a suite scenario (same reasoning).
const SUITE_BARRIER_ITEMS_MAX: u64 = 1_000_000;
/// Results one traversal may return (bulk expanded).
const SUITE_RESULTS_MAX: u64 = 10_000_000;

/// Makes backends for worker threads; the graph files are read once, here.
pub struct Factory {
    graphs: Arc<HashMap<GraphName, GraphData>>,
}

impl Factory {
    /// Reads every graph file of `data_dir` (`tinkerpop/data`).
    pub fn new(data_dir: &Path) -> Result<Factory, String> {
        let mut graphs = HashMap::new();
        for name in GraphName::ALL {
            let Some(file) = name.data_file() else {
                graphs.insert(name, GraphData::default());
                continue;
            };
            let path = data_dir.join(file);
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            if size > GRAPH_FILE_BYTES_MAX {
                return Err(format!("{}: {size} bytes is too large", path.display()));
            }
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let data = read_graph(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            graphs.insert(name, data);
        }
        Ok(Factory {
            graphs: Arc::new(graphs),
        })
    }

    /// A fresh backend.
    pub fn make(&self) -> Result<Box<dyn Backend + Send>, String> {
        Ok(Box::new(Reference {
            graphs: Arc::clone(&self.graphs),
            current: None,
        }))
    }
}

/// Parser + step machine + reference graph.
struct Reference {
    graphs: Arc<HashMap<GraphName, GraphData>>,
    current: Option<RefGraph>,
}

impl Backend for Reference {
    fn load(&mut self, graph: GraphName) -> Result<(), String> {
        let data = self
            .graphs
            .get(&graph)
            .ok_or_else(|| format!("graph {} not loaded", graph.name()))?;
        self.current = Some(RefGraph::from_graph_data(data).map_err(|e| e.to_string())?);
        Ok(())
    }

    fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String> {
        let graph = self.current.as_mut().ok_or("no graph loaded")?;
        let lookup = |name: &str| {
            request
                .params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut bytecode = gremlin::parser::parse(request.gremlin, &lookup)
            .map_err(|e| format!("parse error {e}"))?;
        // As TinkerPop's Java runner: `withSideEffect(key, value)` right after `g`.
        for (key, value) in request.side_effects.iter().rev() {
            bytecode.source.insert(
                0,
                Instruction::new("withSideEffect", vec![Value::str(key), value.clone()]),
            );
        }
        // `gremlin::machine::execute` with the suite's tighter limits.
        let limits = Limits {
            traversers_max: SUITE_TRAVERSERS_MAX,
            barrier_items_max: SUITE_BARRIER_ITEMS_MAX,
            ..Limits::default()
        };
        let mut machine = Machine::with_limits(&bytecode, limits).map_err(|e| e.to_string())?;
        let start = machine.start();
        let out = machine.run(graph, start).map_err(|e| e.to_string())?;
        if !out.moved.is_empty() || !out.at_coordinator.is_empty() {
            return Err("traversers left the single-owner reference graph".into());
        }
        let mut results = Vec::new();
        let mut total: u64 = 0;
        for t in out.finished {
            let n = u64::try_from(t.bulk).unwrap_or(0);
            total = total.saturating_add(n);
            if total > SUITE_RESULTS_MAX {
                return Err(format!("more than {SUITE_RESULTS_MAX} results"));
            }
            for _ in 0..n {
                results.push(t.value.clone());
            }
        }
        Ok(results)
    }
}
