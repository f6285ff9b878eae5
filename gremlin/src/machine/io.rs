//! The `io(file).read()` / `io(file).write()` steps. The machine does no I/O itself: its caller
//! hands it an [`IoHandler`] (the server's, or the feature runner's filesystem one) that turns a
//! file name and format into [`GraphData`] and back; the machine loads that data into, or dumps
//! it from, the graph through the [`Graph`] trait.

use std::sync::Arc;

use super::compile::Arg;
use super::Traverser;
use crate::error::GremlinError;
use crate::graph::{Cardinality, Graph};
use crate::value::{GraphData, Value};

/// The `with()` key that picks the reader (`IO.reader`).
pub const READER_KEY: &str = "~tinkerpop.io.reader";
/// The `with()` key that picks the writer (`IO.writer`).
pub const WRITER_KEY: &str = "~tinkerpop.io.writer";
/// Elements one `io().read()` may load (vertices plus edges).
pub const IO_ELEMENTS_MAX: usize = 10_000_000;

/// A graph file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoFormat {
    /// GraphSON (`IO.graphson`, `.json`).
    GraphSon,
    /// Gryo (`IO.gryo`, `.kryo`).
    Gryo,
    /// GraphML (`IO.graphml`, `.xml`).
    GraphMl,
}

impl IoFormat {
    /// The format a `with(IO.reader|IO.writer, name)` value names.
    pub fn from_name(name: &str) -> Option<IoFormat> {
        match name {
            "graphson" => Some(IoFormat::GraphSon),
            "gryo" => Some(IoFormat::Gryo),
            "graphml" => Some(IoFormat::GraphMl),
            _ => None,
        }
    }

    /// The format a file's extension implies, as TinkerPop's `IoStep` detects it.
    pub fn from_file(file: &str) -> Option<IoFormat> {
        let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
        match ext.as_str() {
            "json" => Some(IoFormat::GraphSon),
            "kryo" => Some(IoFormat::Gryo),
            "xml" => Some(IoFormat::GraphMl),
            _ => None,
        }
    }
}

/// Reads and writes whole graphs by file name; supplied by the machine's caller.
pub trait IoHandler: Send + Sync {
    /// The graph held by `file` in `format`.
    fn read(&self, file: &str, format: IoFormat) -> Result<GraphData, GremlinError>;
    /// Writes `data` to `file` in `format`.
    fn write(&self, file: &str, format: IoFormat, data: &GraphData) -> Result<(), GremlinError>;
}

/// Whether an `io()` step reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoAction {
    Read,
    Write,
}

/// A compiled `io(file)` step with its `with()` options and `read()`/`write()`.
#[derive(Clone, Debug)]
pub struct IoSpec {
    pub file: Arc<str>,
    pub options: Vec<(Value, Arg)>,
    pub action: Option<IoAction>,
}

fn format_of(spec: &IoSpec, key: &str, chosen: Option<Value>) -> Result<IoFormat, GremlinError> {
    match chosen {
        Some(Value::String(s)) => IoFormat::from_name(&s)
            .ok_or_else(|| GremlinError::runtime(format!("io(): {key} {s} is not a known format"))),
        Some(other) => Err(GremlinError::runtime(format!(
            "io(): {key} must be a String, got {}",
            other.type_name()
        ))),
        None => IoFormat::from_file(&spec.file).ok_or_else(|| {
            GremlinError::runtime(format!(
                "Could not detect the file format - specify the reader/writer explicitly for {}",
                spec.file
            ))
        }),
    }
}

/// Adds every vertex (with its properties and meta-properties) and edge of `data` to `g`.
pub fn load<G: Graph + ?Sized>(g: &mut G, data: &GraphData) -> Result<(), GremlinError> {
    if data.vertices.len().saturating_add(data.edges.len()) > IO_ELEMENTS_MAX {
        return Err(GremlinError::LimitExceeded {
            limit: "IO_ELEMENTS_MAX",
            max: IO_ELEMENTS_MAX as u64,
        });
    }
    for v in &data.vertices {
        g.add_vertex(Some(v.id.clone()), &v.label)?;
        for p in v.properties.iter().flatten() {
            g.set_vertex_property(
                &v.id,
                Cardinality::List,
                &p.key,
                p.value.clone(),
                Some(p.id.clone()).filter(|id| !matches!(id, Value::Null)),
                p.properties.clone().unwrap_or_default(),
            )?;
        }
    }
    for e in &data.edges {
        g.add_edge(Some(e.id.clone()), &e.label, &e.out_v_id, &e.in_v_id)?;
        for p in e.properties.iter().flatten() {
            g.set_edge_property(&e.id, &p.key, p.value.clone())?;
        }
    }
    Ok(())
}

/// Every element the graph's local owner holds, with properties.
pub fn dump<G: Graph + ?Sized>(g: &G) -> Result<GraphData, GremlinError> {
    let vids = g.scan_vertex_ids()?;
    let eids = g.scan_edge_ids()?;
    Ok(GraphData {
        vertices: g
            .vertices(&vids)?
            .into_iter()
            .flatten()
            .map(|v| (*v).clone())
            .collect(),
        edges: g
            .edges(&eids)?
            .into_iter()
            .flatten()
            .map(|e| (*e).clone())
            .collect(),
    })
}

impl<G: Graph> super::exec::Ctx<'_, G> {
    /// Runs `io(file).read()` / `.write()`: yields nothing.
    pub(crate) fn io_step(
        &mut self,
        spec: &IoSpec,
        trs: Vec<Traverser>,
    ) -> Result<Vec<Traverser>, GremlinError> {
        let Some(action) = spec.action else {
            return Err(GremlinError::compile(
                "io() must be followed by read() or write()",
            ));
        };
        for t in &trs {
            let key = match action {
                IoAction::Read => READER_KEY,
                IoAction::Write => WRITER_KEY,
            };
            let mut chosen = None;
            for (k, a) in &spec.options {
                if matches!(k, Value::String(s) if &**s == key) {
                    chosen = Some(self.arg_value(a, t)?);
                }
            }
            let name = if action == IoAction::Read {
                "reader"
            } else {
                "writer"
            };
            let format = format_of(spec, name, chosen)?;
            let handler = self.m.io.clone().ok_or_else(|| {
                GremlinError::runtime("io(): this server does not read or write graph files")
            })?;
            match action {
                IoAction::Read => {
                    self.mutating()?;
                    let data = handler.read(&spec.file, format)?;
                    load(&mut *self.g, &data)?;
                }
                IoAction::Write => {
                    let data = dump(&*self.g)?;
                    handler.write(&spec.file, format, &data)?;
                }
            }
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::bytecode::Bytecode;
    use crate::machine::tests::modern;
    use crate::machine::{execute, execute_with_io, Limits};
    use crate::refgraph::RefGraph;

    /// Files kept in memory, by name.
    #[derive(Default)]
    struct MemIo(Mutex<Vec<(String, IoFormat, GraphData)>>);

    impl IoHandler for MemIo {
        fn read(&self, file: &str, format: IoFormat) -> Result<GraphData, GremlinError> {
            let files = self
                .0
                .lock()
                .map_err(|_| GremlinError::runtime("poisoned"))?;
            files
                .iter()
                .find(|(f, fmt, _)| f == file && *fmt == format)
                .map(|x| x.2.clone())
                .ok_or_else(|| GremlinError::runtime(format!("no file {file}")))
        }
        fn write(
            &self,
            file: &str,
            format: IoFormat,
            data: &GraphData,
        ) -> Result<(), GremlinError> {
            let mut files = self
                .0
                .lock()
                .map_err(|_| GremlinError::runtime("poisoned"))?;
            files.push((file.to_string(), format, data.clone()));
            Ok(())
        }
    }

    fn io(file: &str, action: &str, with: Option<(&str, &str)>) -> Bytecode {
        let mut bc = Bytecode::default().step("io", vec![Value::str(file)]);
        if let Some((k, v)) = with {
            bc = bc.step("with", vec![Value::str(k), Value::str(v)]);
        }
        bc.step(action, vec![])
    }

    #[test]
    fn write_then_read_round_trips_through_the_handler() {
        let handler: Arc<dyn IoHandler> = Arc::new(MemIo::default());
        let mut g = modern();
        let out = execute_with_io(
            &mut g,
            &io("out.json", "write", None),
            Limits::default(),
            None,
            Some(handler.clone()),
        );
        assert_eq!(out.ok(), Some(Vec::new()));
        let mut empty = RefGraph::new();
        // an explicit reader overrides detection by extension
        let bc = io("out.json", "read", Some((READER_KEY, "graphson")));
        let out = execute_with_io(&mut empty, &bc, Limits::default(), None, Some(handler));
        assert_eq!(out.ok(), Some(Vec::new()));
        assert_eq!(empty.vertex_count(), 6);
        assert_eq!(empty.edge_count(), 6);
    }

    #[test]
    fn format_detection_and_missing_handler_are_errors() {
        let mut g = RefGraph::new();
        let err = execute(&mut g, &io("x.json", "read", None)).err();
        assert!(err.is_some_and(|e| e.to_string().contains("does not read or write")));
        let handler: Arc<dyn IoHandler> = Arc::new(MemIo::default());
        let err = execute_with_io(
            &mut g,
            &io("x.unknown", "read", None),
            Limits::default(),
            None,
            Some(handler),
        )
        .err();
        assert!(err.is_some_and(|e| e.to_string().contains("Could not detect the file format")));
        assert_eq!(IoFormat::from_file("a/b.KRYO"), Some(IoFormat::Gryo));
        assert_eq!(IoFormat::from_file("a/b.xml"), Some(IoFormat::GraphMl));
    }
}
