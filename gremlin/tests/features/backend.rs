//! The reference backend the feature suite runs against: the gremlin-lang parser, the step
//! machine and the in-memory reference graph, loaded from the suite's GraphSON files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use gremlin::bytecode::Instruction;
use gremlin::codec::graphson::read_graph;
use gremlin::conformance::{Backend, GraphName, Request};
use gremlin::machine::Limits;
use gremlin::refgraph::RefGraph;
use gremlin::value::{GraphData, Value};

/// Largest graph file read, in bytes (grateful-dead.json is about 0.7 MB).
const GRAPH_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

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
        // The machine's default limits (what the server uses) and the runner's deadline.
        gremlin::machine::execute_with(graph, &bytecode, Limits::default(), request.deadline)
            .map_err(|e| e.to_string())
    }
}
