//! Tests of the streaming GraphSON import/export over the graph model (in-memory store,
//! small records so packs and supernodes occur): TinkerPop's data files and a graph of every
//! id and value type survive export then import element by element; bad lines and id clashes
//! are reported with their line and counted against the budget; `g.io()` runs through the
//! executor under its io directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_lite::future::block_on;
use gremlin::codec::graphson as gs;
use gremlin::machine::Limits;
use gremlin::value::{Edge, GraphData, Property, Value, Vertex, VertexProperty};

use super::graphson::{
    element_lines, export, import_file, ElementError, ImportOptions, ImportReport, ImportSink,
    NoSink,
};
use crate::exec::{Executor, RunOptions};
use crate::model::keys::KeySpace;
use crate::model::kv::MemKv;
use crate::model::ops::{Model, SystemClock};
use crate::model::ModelConfig;

fn model() -> Model<MemKv> {
    let cfg = ModelConfig {
        edge_cache_entries: 3,
        pack_edges: 2,
        index_page_entries: 4,
        indexed_edge_keys: Vec::new(),
    };
    Model::new(
        MemKv::new(),
        KeySpace::new("g").unwrap(),
        cfg,
        Box::new(SystemClock),
    )
    .unwrap()
}

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("cg-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn tinkerpop_data() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("COREGRAPH_TINKERPOP") {
        Some(d) => root.join(PathBuf::from(d)),
        None => root.join("../shared/tinkerpop"),
    };
    if dir.join("data").is_dir() {
        return Some(dir.join("data"));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "TinkerPop data not found at {} (set COREGRAPH_TINKERPOP)",
        dir.display()
    );
    eprintln!(
        "!!!!! SKIPPED: TinkerPop data not found at {} (set COREGRAPH_TINKERPOP)",
        dir.display()
    );
    None
}

/// Collects every rejected element.
#[derive(Default)]
struct Collect(Vec<ElementError>);

impl ImportSink for Collect {
    fn error(&mut self, e: &ElementError) {
        self.0.push(e.clone());
    }
}

fn import(m: &Model<MemKv>, path: &Path) -> ImportReport {
    block_on(import_file(m, path, ImportOptions::default(), &mut NoSink)).unwrap()
}

fn export_text(m: &Model<MemKv>) -> String {
    let mut out = Vec::new();
    block_on(export(m, &mut out, &mut |_| {})).unwrap();
    String::from_utf8(out).unwrap()
}

/// Imports `path` into a fresh store, exports it, imports the export into another fresh
/// store and exports that: both exports hold exactly the graph of `path`.
fn assert_round_trip(path: &Path, expected: &GraphData) {
    let want = element_lines(expected);
    let a = model();
    let rep = import(&a, path);
    assert_eq!(rep.errors, 0, "{}: {:?}", path.display(), rep.first_errors);
    assert_eq!(rep.vertices_created, expected.vertices.len() as u64);
    assert_eq!(rep.edges_created, expected.edges.len() as u64);
    let first = export_text(&a);
    let got = gs::read_graph(&first).unwrap();
    assert_eq!(
        element_lines(&got),
        want,
        "{}: first export",
        path.display()
    );
    let again = path.with_extension("again.json");
    std::fs::write(&again, &first).unwrap();
    let b = model();
    let rep = import(&b, &again);
    assert_eq!(rep.errors, 0, "{:?}", rep.first_errors);
    let second = gs::read_graph(&export_text(&b)).unwrap();
    assert_eq!(
        element_lines(&second),
        want,
        "{}: second trip",
        path.display()
    );
}

#[test]
fn tinkerpop_files_round_trip_exactly() {
    let Some(data) = tinkerpop_data() else { return };
    let tmp = temp("tp");
    for file in [
        "tinkerpop-modern.json",
        "tinkerpop-crew.json",
        "tinkerpop-classic.json",
        "tinkerpop-sink.json",
        "grateful-dead.json",
    ] {
        let text = std::fs::read_to_string(data.join(file)).unwrap();
        let expected = gs::read_graph(&text).unwrap();
        assert!(!expected.vertices.is_empty());
        let copy = tmp.join(file);
        std::fs::write(&copy, &text).unwrap();
        assert_round_trip(&copy, &expected);
    }
    // crew: multi-properties (several `location`s) with meta-properties survived.
    let m = model();
    import(&m, &tmp.join("tinkerpop-crew.json"));
    let back = gs::read_graph(&export_text(&m)).unwrap();
    let marko = back
        .vertices
        .iter()
        .find(|v| v.id == Value::Int(1))
        .unwrap();
    let locations: Vec<&VertexProperty> = marko
        .properties
        .iter()
        .flatten()
        .filter(|p| &*p.key == "location")
        .collect();
    assert_eq!(locations.len(), 4);
    assert!(locations
        .iter()
        .all(|p| p.properties.as_ref().is_some_and(|m| !m.is_empty())));
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn typed(json: &str) -> Value {
    gs::decode_value(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// Vertices with Int, Long, String and UUID ids; one property of every value type, a
/// multi-property with meta-properties; edges with each id type, a self-loop, properties.
fn every_type_graph() -> GraphData {
    let uuid = typed(r#"{"@type":"g:UUID","@value":"41d2e28a-20a4-4ab0-b379-d810dede3786"}"#);
    let values = [
        Value::Bool(true),
        typed(r#"{"@type":"gx:Byte","@value":-7}"#),
        typed(r#"{"@type":"gx:Int16","@value":300}"#),
        Value::Int(-5),
        Value::Long(1 << 40),
        typed(r#"{"@type":"gx:BigInteger","@value":123456789012345678901234567890}"#),
        typed(r#"{"@type":"gx:BigDecimal","@value":"3.14159265358979323846"}"#),
        Value::Float(1.5),
        Value::Double(-2.25e100),
        typed(r#"{"@type":"gx:Char","@value":"x"}"#),
        Value::str("text with \"quotes\" and ünïcode"),
        uuid.clone(),
        typed(r#"{"@type":"g:Date","@value":1481750076295}"#),
        typed(r#"{"@type":"gx:OffsetDateTime","@value":"2007-12-03T10:15:30+01:00"}"#),
        typed(r#"{"@type":"gx:Duration","@value":"PT5M"}"#),
        typed(r#"{"@type":"gx:ByteBuffer","@value":"AQID"}"#),
        Value::List(vec![Value::Int(1), Value::str("a")]),
        typed(r#"{"@type":"g:Set","@value":[{"@type":"g:Int32","@value":1},"b"]}"#),
        typed(r#"{"@type":"g:Map","@value":["k",{"@type":"g:Int64","@value":2}]}"#),
    ];
    let vp = |id: i64, key: &str, value: Value, meta: Vec<Property>| VertexProperty {
        id: Value::Long(id),
        key: Arc::from(key),
        value,
        properties: Some(meta),
    };
    let mut props: Vec<VertexProperty> = values
        .iter()
        .enumerate()
        .map(|(i, v)| vp(i as i64, &format!("p{i}"), v.clone(), Vec::new()))
        .collect();
    let meta = |k: &str, v: Value| Property {
        key: Arc::from(k),
        value: v,
    };
    props.push(vp(
        100,
        "place",
        Value::str("a"),
        vec![
            meta("since", Value::Int(2000)),
            meta("until", Value::Long(2005)),
        ],
    ));
    props.push(vp(
        101,
        "place",
        Value::str("b"),
        vec![meta("since", Value::Int(2005))],
    ));
    let ids = [
        Value::Int(1),
        Value::Long(2),
        Value::str("three"),
        uuid.clone(),
    ];
    let vertices: Vec<Vertex> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Vertex {
            id: id.clone(),
            label: Arc::from(if i % 2 == 0 { "person" } else { "thing" }),
            properties: Some(if i == 0 { props.clone() } else { Vec::new() }),
        })
        .collect();
    let edge = |id: Value, label: &str, o: usize, i: usize, props: Vec<Property>| Edge {
        id,
        label: Arc::from(label),
        out_v_id: vertices[o].id.clone(),
        out_v_label: vertices[o].label.clone(),
        in_v_id: vertices[i].id.clone(),
        in_v_label: vertices[i].label.clone(),
        properties: Some(props),
    };
    let edges = vec![
        edge(
            Value::Int(10),
            "knows",
            0,
            1,
            vec![meta("w", Value::Double(0.5))],
        ),
        edge(Value::Long(11), "knows", 1, 2, Vec::new()),
        edge(
            Value::str("e12"),
            "likes",
            2,
            3,
            values
                .iter()
                .take(5)
                .enumerate()
                .map(|(i, v)| meta(&format!("q{i}"), v.clone()))
                .collect(),
        ),
        edge(
            typed(r#"{"@type":"g:UUID","@value":"00000000-0000-0000-0000-00000000000d"}"#),
            "self",
            3,
            3,
            Vec::new(),
        ),
        edge(Value::Int(14), "knows", 0, 2, Vec::new()),
    ];
    GraphData { vertices, edges }
}

#[test]
fn every_id_and_value_type_round_trips() {
    let tmp = temp("types");
    let g = every_type_graph();
    let path = tmp.join("types.json");
    std::fs::write(&path, gs::write_graph(&g).unwrap()).unwrap();
    assert_round_trip(&path, &g);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn bad_lines_and_id_clashes_are_reported_with_their_line() {
    let tmp = temp("bad");
    let g = every_type_graph();
    let good = gs::write_graph(&g).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    // Line 3 is broken JSON; the edges of its vertex and to it cannot be added either.
    lines.insert(2, r#"{"id":{"@type":"g:Int32","@value":77},"label":"#);
    let path = tmp.join("bad.json");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let m = model();
    let mut sink = Collect::default();
    let rep = block_on(import_file(&m, &path, ImportOptions::default(), &mut sink)).unwrap();
    assert_eq!(rep.errors, 1, "{:?}", sink.0);
    assert_eq!(sink.0[0].line, 3);
    assert_eq!(sink.0[0].kind, "parse");
    assert!(sink.0[0].to_string().starts_with("line 3: parse: "));
    assert_eq!(rep.vertices_created, g.vertices.len() as u64);
    assert_eq!(rep.edges_created, g.edges.len() as u64);

    // The same file again into the now non-empty graph: every vertex clashes (one error
    // each, at its line) and every edge is skipped (its vertex was not imported); nothing
    // changes.
    let before = element_lines(&gs::read_graph(&export_text(&m)).unwrap());
    let mut sink = Collect::default();
    let rep = block_on(import_file(&m, &path, ImportOptions::default(), &mut sink)).unwrap();
    let clashes: Vec<&ElementError> = sink.0.iter().filter(|e| e.kind == "vertex").collect();
    assert_eq!(clashes.len(), g.vertices.len());
    assert!(clashes
        .iter()
        .all(|e| e.message.contains("Vertex with id already exists")));
    assert_eq!(clashes[0].line, 1);
    assert_eq!(
        sink.0.iter().filter(|e| e.kind == "edge").count(),
        g.edges.len()
    );
    assert_eq!(rep.vertices_created + rep.edges_created, 0);
    assert_eq!(rep.errors, (1 + g.vertices.len() + g.edges.len()) as u64);
    assert_eq!(
        element_lines(&gs::read_graph(&export_text(&m)).unwrap()),
        before
    );

    // A small budget stops the import with a clear reason.
    let rep = block_on(import_file(
        &m,
        &path,
        ImportOptions { errors_max: 2 },
        &mut NoSink,
    ))
    .unwrap();
    assert_eq!(rep.errors, 3);
    assert!(rep.stopped.is_some_and(|s| s.contains("error budget")));
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn run(ex: &Executor<MemKv>, text: &str) -> Result<Vec<Value>, String> {
    let bc = gremlin::parser::parse(text, &|_: &str| None).map_err(|e| e.to_string())?;
    block_on(ex.run(&bc, &RunOptions::default()))
        .map(|ts| ts.into_iter().map(|t| t.value).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn io_steps_run_through_the_executor_under_its_io_directory() {
    let tmp = temp("exec");
    let dir = tmp.join("io");
    std::fs::create_dir_all(&dir).unwrap();
    let g = every_type_graph();
    std::fs::write(dir.join("in.json"), gs::write_graph(&g).unwrap()).unwrap();
    let mut ex = Executor::new(model(), Limits::default());
    ex.io_dir = Some(dir.clone());
    assert_eq!(run(&ex, "g.io('in.json').read()"), Ok(Vec::new()));
    assert_eq!(run(&ex, "g.V().count()"), Ok(vec![Value::Long(4)]));
    assert_eq!(run(&ex, "g.E().count()"), Ok(vec![Value::Long(5)]));
    assert_eq!(
        run(&ex, "g.io('out.data').with(IO.writer, IO.graphson).write()"),
        Ok(Vec::new())
    );
    let out = std::fs::read_to_string(dir.join("out.data")).unwrap();
    assert_eq!(
        element_lines(&gs::read_graph(&out).unwrap()),
        element_lines(&g)
    );
    // Refused: names outside the directory, other formats, a clash.
    let e = run(&ex, "g.io('../in.json').read()").unwrap_err();
    assert!(e.contains("outside the io directory"), "{e}");
    let e = run(&ex, "g.io('/etc/hosts.json').read()").unwrap_err();
    assert!(e.contains("absolute path"), "{e}");
    let e = run(&ex, "g.io('in.json').with(IO.reader, IO.gryo).read()").unwrap_err();
    assert!(e.contains("unsupported format gryo"), "{e}");
    let e = run(&ex, "g.io('in.json').read()").unwrap_err();
    assert!(e.contains("Vertex with id already exists"), "{e}");
    assert!(e.contains("line 1"), "{e}");
    // Without an io directory the executor does not touch files.
    let plain = Executor::new(model(), Limits::default());
    let e = run(&plain, "g.io('in.json').read()").unwrap_err();
    assert!(e.contains("does not read or write"), "{e}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
