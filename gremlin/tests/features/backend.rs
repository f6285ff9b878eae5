//! The reference backend the feature suite runs against: the gremlin-lang parser, the step
//! machine and the in-memory reference graph, loaded from the suite's GraphSON files.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use gremlin::bytecode::Instruction;
use gremlin::codec::graphson::{read_graph, write_graph};
use gremlin::conformance::{Backend, GraphName, Request};
use gremlin::error::GremlinError;
use gremlin::machine::io::{IoFormat, IoHandler};
use gremlin::machine::Limits;
use gremlin::refgraph::RefGraph;
use gremlin::value::{GraphData, Value};

/// Largest graph file read, in bytes (grateful-dead.json is about 0.7 MB).
const GRAPH_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Makes backends for worker threads; the graph files are read once, here.
pub struct Factory {
    graphs: Arc<HashMap<GraphName, GraphData>>,
    io: Arc<FsIo>,
}

/// `io()` files for the suite: read relative to the TinkerPop directory (the scenarios name
/// `data/tinkerpop-modern.json`), written under the system temp directory, never into the
/// shared data.
pub struct FsIo {
    read_root: PathBuf,
    write_root: PathBuf,
}

impl FsIo {
    /// `file` under `root`, refusing absolute paths and `..`.
    fn resolve(root: &Path, file: &str) -> Result<PathBuf, GremlinError> {
        let rel = Path::new(file);
        if rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(GremlinError::runtime(format!(
                "io(): {file} must be a relative path without '..'"
            )));
        }
        Ok(root.join(rel))
    }
}

/// Gryo is Kryo-serialised Java objects; this runner (and the data dir) has no such files.
fn gryo_unsupported() -> GremlinError {
    GremlinError::runtime(
        "io(): reading Gryo (kryo) files is not supported; use GraphSON or GraphML",
    )
}

impl IoHandler for FsIo {
    fn read(&self, file: &str, format: IoFormat) -> Result<GraphData, GremlinError> {
        if format == IoFormat::Gryo {
            return Err(gryo_unsupported());
        }
        let path = Self::resolve(&self.read_root, file)?;
        let shown = path.display();
        let size = std::fs::metadata(&path)
            .map_err(|e| GremlinError::runtime(format!("io(): {shown}: {e}")))?
            .len();
        if size > GRAPH_FILE_BYTES_MAX {
            return Err(GremlinError::runtime(format!(
                "io(): {shown}: {size} bytes is too large"
            )));
        }
        match format {
            IoFormat::GraphSon => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| GremlinError::runtime(format!("io(): {shown}: {e}")))?;
                read_graph(&text).map_err(|e| GremlinError::runtime(format!("io(): {shown}: {e}")))
            }
            IoFormat::GraphMl => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| GremlinError::runtime(format!("io(): {shown}: {e}")))?;
                gremlin::codec::graphml::read_graph(&text)
                    .map_err(|e| GremlinError::runtime(format!("io(): {shown}: {e}")))
            }
            IoFormat::Gryo => Err(gryo_unsupported()),
        }
    }

    fn write(&self, file: &str, format: IoFormat, data: &GraphData) -> Result<(), GremlinError> {
        if format != IoFormat::GraphSon {
            return Err(GremlinError::runtime(format!(
                "io(): writing {format:?} is not supported (GraphSON only)"
            )));
        }
        let path = Self::resolve(&self.write_root, file)?;
        let text = write_graph(data).map_err(|e| GremlinError::runtime(format!("io(): {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| GremlinError::runtime(format!("io(): {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| GremlinError::runtime(format!("io(): {}: {e}", path.display())))
    }
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
        let read_root = data_dir.parent().unwrap_or(data_dir).to_path_buf();
        let write_root = std::env::temp_dir().join("coregraph-features-io");
        Ok(Factory {
            graphs: Arc::new(graphs),
            io: Arc::new(FsIo {
                read_root,
                write_root,
            }),
        })
    }

    /// A fresh backend.
    pub fn make(&self) -> Result<Box<dyn Backend + Send>, String> {
        Ok(Box::new(Reference {
            graphs: Arc::clone(&self.graphs),
            current: None,
            io: Arc::clone(&self.io),
        }))
    }
}

/// Parser + step machine + reference graph.
struct Reference {
    graphs: Arc<HashMap<GraphName, GraphData>>,
    current: Option<RefGraph>,
    io: Arc<FsIo>,
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
        let io: Arc<dyn IoHandler> = self.io.clone();
        gremlin::machine::execute_with_io(
            graph,
            &bytecode,
            Limits::default(),
            request.deadline,
            Some(io),
        )
        .map_err(|e| e.to_string())
    }
}
