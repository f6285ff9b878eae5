//! The server over the REAL engine (not the test service): a temp data directory, several
//! cores (pinned to the same CPU when the machine has few), the TinkerPop modern graph loaded
//! through Gremlin writes, then reads, errors and a restart through the wire with a raw
//! GraphBinary / GraphSON client and with gremlinpython (when `COREGRAPH_PYTHON` is set; under
//! `CI=true` it must be).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::Client;
use gremlin::codec::message::{self, Format, RequestMessage, ResponseMessage};
use gremlin::value::{Map, Uuid, Value};
use net::engine_service::EngineService;
use shards::{DataDir, DirOptions, StoreConfig};

/// The modern graph as gremlin-lang writes with explicit ids (vertex ids Int32 as TinkerGraph
/// loads them, edge ids too).
pub const MODERN: [&str; 12] = [
    "g.addV('person').property(T.id, 1).property('name', 'marko').property('age', 29)",
    "g.addV('person').property(T.id, 2).property('name', 'vadas').property('age', 27)",
    "g.addV('software').property(T.id, 3).property('name', 'lop').property('lang', 'java')",
    "g.addV('person').property(T.id, 4).property('name', 'josh').property('age', 32)",
    "g.addV('software').property(T.id, 5).property('name', 'ripple').property('lang', 'java')",
    "g.addV('person').property(T.id, 6).property('name', 'peter').property('age', 35)",
    "g.V(1).addE('knows').to(__.V(2)).property(T.id, 7).property('weight', 0.5d)",
    "g.V(1).addE('knows').to(__.V(4)).property(T.id, 8).property('weight', 1.0d)",
    "g.V(1).addE('created').to(__.V(3)).property(T.id, 9).property('weight', 0.4d)",
    "g.V(4).addE('created').to(__.V(5)).property(T.id, 10).property('weight', 1.0d)",
    "g.V(4).addE('created').to(__.V(3)).property(T.id, 11).property('weight', 0.4d)",
    "g.V(6).addE('created').to(__.V(3)).property(T.id, 12).property('weight', 0.2d)",
];

fn temp_dir(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("cg-net-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn dir_options() -> DirOptions {
    DirOptions {
        shard_count: Some(4),
        shard_size_bytes: 16 << 20,
        store: StoreConfig {
            block_size_bytes: 256 * 1024,
            flush_size_bytes: 64 * 1024,
            record_size_max: 64 * 1024,
            defrag_reserve_blocks: 2,
            ..StoreConfig::default()
        },
    }
}

/// The server over the engine on `path` with `cores` executors (all on the first allowed
/// CPU: correctness does not need distinct CPUs) and graphs `g` and `social`.
fn start_engine(path: &Path, cores: usize) -> net::ServerHandle {
    let dir = Arc::new(DataDir::open_or_create(path, &dir_options()).expect("data dir"));
    let cfg = engine::runtime::RuntimeConfig {
        graphs: vec!["g".into(), "social".into()],
        ..engine::runtime::RuntimeConfig::default()
    };
    let cluster = engine::runtime::Cluster::new(dir, cores, cfg).expect("cluster");
    let cpu = net::server::allowed_cpus()
        .expect("affinity")
        .first()
        .copied()
        .expect("a CPU");
    let config = net::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        cpus: vec![cpu; cores],
        ..net::Config::default()
    };
    net::serve_with(config, net::wire::Serializers::standard(), move |core| {
        EngineService::start(cluster.clone(), core)
    })
    .expect("server starts")
}

/// A raw client speaking one wire format.
struct Raw {
    c: Client,
    format: Format,
    next_id: u8,
}

impl Raw {
    fn connect(server: &net::ServerHandle, format: Format) -> Raw {
        Raw {
            c: Client::connect(server.local_addr()),
            format,
            next_id: 1,
        }
    }

    /// Sends a request and reads responses until the final one; (codes, items, last response).
    fn call(
        &mut self,
        op: &str,
        processor: &str,
        args: Map,
    ) -> (Vec<i32>, Vec<Value>, ResponseMessage) {
        self.next_id = self.next_id.wrapping_add(1);
        let id = Uuid([self.next_id; 16]);
        let req = RequestMessage {
            request_id: id,
            op: op.into(),
            processor: processor.into(),
            args,
        };
        let frame = message::encode_request_frame(self.format, &req).expect("encode");
        self.c.send_frame(true, 2, &frame);
        let mut codes = Vec::new();
        let mut items = Vec::new();
        loop {
            let (_, _, payload) = self.c.read_frame().expect("a response frame");
            let r = message::decode_response(self.format, &payload).expect("decodes");
            assert_eq!(r.request_id, Some(id));
            codes.push(r.status_code);
            if let Value::List(l) = &r.result_data {
                items.extend(l.iter().cloned());
            }
            if r.status_code != 206 {
                return (codes, items, r);
            }
        }
    }

    fn eval(&mut self, script: &str, extra: &[(&str, Value)]) -> (i32, Vec<Value>, String) {
        let mut args = Map::default();
        args.insert(Value::str("gremlin"), Value::str(script));
        for (k, v) in extra {
            args.insert(Value::str(k), v.clone());
        }
        let (codes, items, last) = self.call("eval", "", args);
        (
            *codes.last().expect("a code"),
            items,
            last.status_message.unwrap_or_default(),
        )
    }

    fn bytecode(&mut self, text: &str, source: &str) -> (i32, Vec<Value>, ResponseMessage) {
        let bc = gremlin::parser::parse(text, &|_| None).expect("test traversal parses");
        let mut args = Map::default();
        args.insert(Value::str("gremlin"), Value::Bytecode(Arc::new(bc)));
        let mut aliases = Map::default();
        aliases.insert(Value::str("g"), Value::str(source));
        args.insert(Value::str("aliases"), Value::Map(aliases));
        let (codes, items, last) = self.call("bytecode", "traversal", args);
        (*codes.last().expect("a code"), items, last)
    }
}

/// A traverser's value (bulk 1 expected).
fn unwrap_traverser(v: &Value) -> Value {
    match v {
        Value::Traverser(t) => {
            assert_eq!(t.0, 1, "bulk");
            t.1.clone()
        }
        other => panic!("not a traverser: {other:?}"),
    }
}

fn sorted_strings(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| match i {
            Value::Traverser(t) => t.1.as_str().map(str::to_string),
            v => v.as_str().map(str::to_string),
        })
        .map(|s| s.expect("a string"))
        .collect();
    v.sort();
    v
}

fn count(items: &[Value]) -> i64 {
    match items {
        [Value::Long(n)] => *n,
        [t @ Value::Traverser(_)] => match unwrap_traverser(t) {
            Value::Long(n) => n,
            other => panic!("count is {other:?}"),
        },
        other => panic!("count answered {other:?}"),
    }
}

/// Errors that need no graph data: unknown traversal source, non-gremlin-lang scripts,
/// unsupported languages, each with its status code; the server keeps serving.
#[test]
fn engine_request_errors_have_protocol_codes() {
    let path = temp_dir("errors");
    let server = start_engine(&path, 2);
    for format in [Format::GraphBinaryV1, Format::GraphSonV3] {
        let mut c = Raw::connect(&server, format);
        let (code, _, last) = c.bytecode("g.V().count()", "nope");
        assert_eq!(code, 499, "{last:?}");
        assert!(last.status_message.unwrap_or_default().contains("nope"));
        let (code, _, msg) = c.eval("def x = 1; x + 1", &[]);
        assert_eq!(code, 597, "{msg}");
        assert!(msg.contains("gremlin-lang"), "{msg}");
        let (code, _, msg) = c.eval("g.V()", &[("language", Value::str("python"))]);
        assert_eq!(code, 499, "{msg}");
        let mut aliases = Map::default();
        aliases.insert(Value::str("g"), Value::str("missing"));
        let (code, _, msg) = c.eval("g.V()", &[("aliases", Value::Map(aliases))]);
        assert_eq!(code, 499, "{msg}");
    }
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&path);
}

/// Loads the modern graph through eval writes, reads it back through bytecode and eval in both
/// formats, keeps graphs apart, then restarts the server on the same data with another core
/// count and finds everything.
#[test]
fn modern_graph_through_the_wire_survives_a_restart() {
    let path = temp_dir("modern");
    let server = start_engine(&path, 2);
    let mut c = Raw::connect(&server, Format::GraphBinaryV1);
    for w in MODERN {
        let (code, items, msg) = c.eval(w, &[]);
        assert_eq!(code, 200, "{w}: {msg}");
        assert_eq!(items.len(), 1, "{w}: one element written");
    }
    for format in [Format::GraphBinaryV1, Format::GraphSonV3] {
        let mut c = Raw::connect(&server, format);
        let (_, items, _) = c.bytecode("g.V().count()", "g");
        assert_eq!(count(&items), 6);
        let (_, items, _) = c.bytecode("g.E().count()", "g");
        assert_eq!(count(&items), 6);
        let (_, items, _) = c.bytecode("g.V(1).out('knows').values('name')", "g");
        assert_eq!(sorted_strings(&items), ["josh", "vadas"]);
        let (_, items, _) = c.bytecode(
            "g.V().hasLabel('software').in('created').values('name').dedup()",
            "g",
        );
        assert_eq!(sorted_strings(&items), ["josh", "marko", "peter"]);
        let (code, items, msg) = c.eval(
            "g.V().has('name', n).values('age')",
            &[("bindings", {
                let mut b = Map::default();
                b.insert(Value::str("n"), Value::str("josh"));
                Value::Map(b)
            })],
        );
        assert_eq!((code, items), (200, vec![Value::Int(32)]), "{msg}");
        let (_, items, _) = c.bytecode("g.V().count()", "social");
        assert_eq!(count(&items), 0, "graphs are separate key spaces");
        let (code, _, last) = c.bytecode("g.V(1).fail('stop here')", "g");
        assert_eq!(code, 595, "{last:?}");
        assert_eq!(
            last.status_attributes
                .get(&Value::str("failStepMessage"))
                .and_then(Value::as_str),
            Some("stop here")
        );
        // An eval alias names the graph a script variable stands for.
        for (source, want) in [("g", 6), ("social", 0)] {
            let mut aliases = Map::default();
            aliases.insert(Value::str("s"), Value::str(source));
            let (code, items, msg) = c.eval("s.V().count()", &[("aliases", Value::Map(aliases))]);
            assert_eq!(
                (code, items),
                (200, vec![Value::Long(want)]),
                "{source}: {msg}"
            );
        }
        let (code, items, _) = c.eval("g.V().hasLabel('nothing')", &[]);
        assert_eq!((code, items.len()), (204, 0));
        let (code, items, _) = c.eval("g.V().values('name').next()", &[]);
        assert_eq!((code, items.len()), (200, 1));
    }
    server.shutdown().expect("shutdown flushes");
    // Same data, three cores now.
    let server = start_engine(&path, 3);
    let mut c = Raw::connect(&server, Format::GraphBinaryV1);
    let (_, items, _) = c.bytecode("g.V().count()", "g");
    assert_eq!(count(&items), 6, "vertices after restart");
    let (_, items, _) = c.bytecode("g.V(4).outE('created').inV().values('name')", "g");
    assert_eq!(sorted_strings(&items), ["lop", "ripple"]);
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&path);
}

/// gremlinpython (GraphBinary and GraphSON): loads the modern graph with traversal-API writes
/// and checks vertices, edges, valueMap, path, count and error codes.
#[test]
fn gremlinpython_on_the_engine() {
    let python = match std::env::var("COREGRAPH_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but COREGRAPH_PYTHON is not set: .ci/run installs gremlinpython"
            );
            eprintln!(
                "gremlinpython engine test NOT RUN: set COREGRAPH_PYTHON (see net/README.md)"
            );
            return;
        }
    };
    let path = temp_dir("python");
    let server = start_engine(&path, 2);
    let url = format!("ws://{}/gremlin", server.local_addr());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/drivers/gremlinpython_engine.py"
    );
    let out = Command::new(python)
        .arg(script)
        .arg(&url)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&path);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all ok"), "{stdout}");
}
