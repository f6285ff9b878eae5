//! The TinkerPop feature suite over the wire: a fixed list of scenarios
//! (`tests/features-wire.txt`) runs through stock gremlinpython's `Client.submit` against a
//! real engine-backed server, once with GraphBinary and once with GraphSON 3, and is judged by
//! the same conformance runner and comparator as the in-process runs. Every listed scenario
//! must pass on the reference graph in-process (else the list is stale) and over both formats.
//!
//! The server holds the suite's graphs as named graphs (`modern`, `classic`, `crew`,
//! `grateful`, `sink`, loaded on start; `empty-<format>`, cleared with `g.V().drop()` before
//! each scenario that names `empty`, the only graph scenarios write), selected per request by
//! `aliases`. The two formats run side by side, each in a thread with its own Python process
//! (`tests/drivers/gremlinpython_features.py`), which reads requests as JSON lines and answers
//! with GraphSON 3 text of what its number- and type-preserving deserializers decoded; see
//! that script for why the stock deserializers are extended.
//!
//! Needs `COREGRAPH_PYTHON` (gremlinpython 3.8); without it the test says NOT RUN, and under
//! `CI=true` fails. `COREGRAPH_WIRE_SURVEY=1` runs every scenario that passes in-process
//! instead of the list (only the feature files whose path contains one of the comma-separated
//! `COREGRAPH_FEATURES`, if set) and prints one `PASS`/`FAIL` line per scenario and format (how
//! the list was chosen; see the list file's header); `COREGRAPH_VERBOSE=1` adds the failures.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use gremlin::bytecode::Instruction;
use gremlin::codec::json::{self, Json};
use gremlin::conformance::gherkin::{parse_feature, Scenario};
use gremlin::conformance::{run_scenario, Backend, GraphName, Limits, Outcome, Request};
use gremlin::refgraph::RefGraph;
use gremlin::value::{GraphData, Value};
use net::engine_service::EngineService;
use shards::{DataDir, DirOptions, StoreConfig};

/// Feature directory nesting followed.
const DIR_DEPTH_MAX: usize = 8;
/// Largest graph file read, in bytes.
const GRAPH_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Fewest scenarios the list must hold.
const LISTED_MIN: usize = 200;
/// Longest answer line read from the driver process, in bytes.
const ANSWER_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// The scenario budget: the runner's default doubled for the shared 2-core machine (it
/// bounds the server's `evaluationTimeout` and the driver's wait as well).
const SCENARIO_MS_MAX: u64 = 20_000;

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

fn read_graphs(dir: &Path) -> HashMap<GraphName, GraphData> {
    let mut graphs = HashMap::new();
    for name in GraphName::ALL {
        let data = match name.data_file() {
            None => GraphData::default(),
            Some(f) => {
                let path = dir.join("data").join(f);
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                assert!(size <= GRAPH_FILE_BYTES_MAX, "{} too large", path.display());
                let text = std::fs::read_to_string(&path).expect("graph file");
                gremlin::codec::graphson::read_graph(&text).expect("graph file parses")
            }
        };
        graphs.insert(name, data);
    }
    graphs
}

/// The traversal of a request: its text parsed with its parameters, side effects added to
/// the source (as the in-process runners do).
fn bytecode(request: &Request<'_>) -> Result<gremlin::bytecode::Bytecode, String> {
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

/// The in-process reference: the list may only hold scenarios that pass here.
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
        let bc = bytecode(request)?;
        let g = self.current.as_mut().ok_or("no graph")?;
        gremlin::machine::execute_with(
            g,
            &bc,
            gremlin::machine::Limits::default(),
            request.deadline,
        )
        .map_err(|e| e.to_string())
    }
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

/// The wire formats, each driven by its own Python process and thread.
const FORMATS: [&str; 2] = ["graphbinary", "graphson"];

/// The server's `empty` graph of one format (the formats run side by side).
fn empty_graph(format: &str) -> String {
    format!("empty-{format}")
}

/// The server over the engine on `path`, 2 cores (on one CPU: correctness does not need
/// two, and loading the graphs across two busy CPUs took 3x longer), one named graph per suite graph (one `empty` per format), the others loaded by
/// core 0 before the server answers.
fn start_server(path: &Path, graphs: Arc<HashMap<GraphName, GraphData>>) -> net::ServerHandle {
    let dir = Arc::new(DataDir::open_or_create(path, &dir_options()).expect("data dir"));
    let cfg = engine::runtime::RuntimeConfig {
        graphs: GraphName::ALL
            .iter()
            .filter(|g| **g != GraphName::Empty)
            .map(|g| g.name().to_string())
            .chain(FORMATS.iter().map(|f| empty_graph(f)))
            .collect(),
        ..engine::runtime::RuntimeConfig::default()
    };
    let cores = 2;
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
        let cluster = cluster.clone();
        let graphs = graphs.clone();
        async move {
            let host = cluster.join(core).await.map_err(|e| e.to_string())?;
            if core == 0 {
                for name in GraphName::ALL
                    .into_iter()
                    .filter(|g| *g != GraphName::Empty)
                {
                    let (Some(data), Some(ex)) = (graphs.get(&name), host.executor(name.name()))
                    else {
                        return Err(format!("graph {} missing", name.name()));
                    };
                    ex.load(data)
                        .await
                        .map_err(|e| format!("loading {}: {e}", name.name()))?;
                }
            }
            Ok::<_, String>(EngineService::new(host))
        }
    })
    .expect("server starts")
}

/// A gremlin-lang string literal.
fn literal(s: &str) -> String {
    let mut out = String::new();
    json::write_string(&mut out, s);
    out
}

/// One gremlinpython process speaking one wire format, as a conformance backend.
struct Wire {
    format: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr_path: PathBuf,
    graph: GraphName,
    requests: u64,
}

impl Wire {
    fn start(python: &str, url: &str, format: &'static str, scratch: &Path) -> Wire {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/drivers/gremlinpython_features.py"
        );
        let stderr_path = scratch.join(format!("{format}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = Command::new(python)
            .arg(script)
            .arg(url)
            .arg(format)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("python starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut w = Wire {
            format,
            child,
            stdin,
            stdout,
            stderr_path,
            graph: GraphName::Empty,
            requests: 0,
        };
        let ready = w.read_line().unwrap_or_else(|e| panic!("{e}"));
        assert!(ready.contains("ready"), "{format}: {ready}");
        w
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or_default().to_string()
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        let n = (&mut self.stdout)
            .take(ANSWER_BYTES_MAX)
            .read_line(&mut line)
            .map_err(|e| format!("reading the driver: {e}"))?;
        if n == 0 {
            return Err(format!(
                "{}: the driver process ended; stderr:\n{}",
                self.format,
                self.stderr_tail()
            ));
        }
        Ok(line)
    }

    /// Sends `gremlin` with `bindings` to the current graph; the values or the error text.
    fn submit(
        &mut self,
        gremlin: &str,
        bindings: &[(String, Value)],
        timeout_ms: u64,
    ) -> Result<Vec<Value>, String> {
        self.requests += 1;
        let mut line = String::from("{\"graph\":");
        let graph = match self.graph {
            GraphName::Empty => empty_graph(self.format),
            g => g.name().to_string(),
        };
        json::write_string(&mut line, &graph);
        line.push_str(",\"gremlin\":");
        json::write_string(&mut line, gremlin);
        line.push_str(",\"bindings\":{");
        for (i, (name, value)) in bindings.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            json::write_string(&mut line, name);
            line.push(':');
            let v = gremlin::codec::graphson::encode_value(value)
                .map_err(|e| format!("binding {name} has no GraphSON: {e}"))?;
            line.push_str(&v);
        }
        line.push_str(&format!("}},\"timeout_ms\":{timeout_ms}}}\n"));
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to the driver: {e}"))?;
        let answer = self.read_line()?;
        let parsed = json::parse(&answer).map_err(|e| format!("answer {answer:?}: {e}"))?;
        if let Some(e) = parsed.get("error").and_then(Json::as_str) {
            return Err(e.to_string());
        }
        match parsed.get("ok") {
            Some(Json::Array(items)) => items
                .iter()
                .map(|j| {
                    gremlin::codec::graphson::value_from_json(j)
                        .map_err(|e| format!("answer item does not decode: {e}"))
                })
                .collect(),
            _ => Err(format!("answer without ok or error: {answer}")),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Backend for Wire {
    fn load(&mut self, graph: GraphName) -> Result<(), String> {
        self.graph = graph;
        if graph == GraphName::Empty {
            let n = self.submit("g.V().drop()", &[], SCENARIO_MS_MAX)?;
            if !n.is_empty() {
                return Err(format!("drop() answered {n:?}"));
            }
        }
        Ok(())
    }

    fn execute(&mut self, request: &Request<'_>) -> Result<Vec<Value>, String> {
        let timeout_ms = request
            .deadline
            .map(|d| {
                u64::try_from(d.saturating_duration_since(Instant::now()).as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1)
            })
            .unwrap_or(SCENARIO_MS_MAX);
        let mut bindings: Vec<(String, Value)> = request.params.to_vec();
        let mut text = request.gremlin.trim().to_string();
        if !request.side_effects.is_empty() {
            let rest = text
                .strip_prefix('g')
                .filter(|r| r.starts_with('.'))
                .ok_or("side effects need a traversal starting with g.")?;
            let mut head = String::from("g");
            for (i, (key, value)) in request.side_effects.iter().enumerate() {
                let var = format!("cg_side_effect_{i}");
                head.push_str(&format!(".withSideEffect({},{var})", literal(key)));
                bindings.push((var, value.clone()));
            }
            text = format!("{head}{rest}");
        }
        self.submit(&text, &bindings, timeout_ms)
    }
}

/// `relative/path.feature: scenario name` lines of the list (comments and blanks skipped).
fn listed() -> Vec<(String, String)> {
    include_str!("features-wire.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (file, name) = l.split_once(": ").expect("`file: scenario` line");
            (file.to_string(), name.to_string())
        })
        .collect()
}

/// Every scenario of the suite: (path relative to `features/`, scenario).
fn all_scenarios(dir: &Path) -> Vec<(String, Scenario)> {
    let features = dir.join("features");
    let mut files = Vec::new();
    collect(&features, 0, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&features)
            .expect("under features")
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&f).expect("feature file");
        let feature = parse_feature(&text).expect("feature parses");
        out.extend(feature.scenarios.into_iter().map(|s| (rel.clone(), s)));
    }
    out
}

fn driver_python() -> Option<String> {
    match std::env::var("COREGRAPH_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but COREGRAPH_PYTHON is not set: .ci/run installs gremlinpython 3.8"
            );
            eprintln!(
                "feature suite over gremlinpython NOT RUN: set COREGRAPH_PYTHON (see net/README.md)"
            );
            None
        }
    }
}

fn report(format: &str, file: &str, sc: &Scenario, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(f) => format!(
            "=== {format}: {file}: {}\n--- traversal\n{}\n--- expected\n{}\n--- got\n{}\n",
            sc.name, f.traversal, f.expected, f.got
        ),
        other => format!("=== {format}: {file}: {}: {other:?}\n", sc.name),
    }
}

#[test]
fn feature_suite_through_gremlinpython() {
    let Some(python) = driver_python() else {
        return;
    };
    let dir = tinkerpop_dir();
    let scenarios = all_scenarios(&dir);
    if scenarios.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no feature files under {}",
            dir.display()
        );
        eprintln!(
            "feature suite over gremlinpython NOT RUN: no feature files under {}; set COREGRAPH_TINKERPOP",
            dir.display()
        );
        return;
    }
    let survey = std::env::var("COREGRAPH_WIRE_SURVEY").is_ok();
    let chosen: Vec<&(String, Scenario)> = if survey {
        let only = std::env::var("COREGRAPH_FEATURES").unwrap_or_default();
        scenarios
            .iter()
            .filter(|(f, _)| only.split(',').any(|o| f.contains(o)))
            .collect()
    } else {
        let list = listed();
        assert!(
            list.len() >= LISTED_MIN,
            "only {} scenarios listed",
            list.len()
        );
        list.iter()
            .map(|(file, name)| {
                scenarios
                    .iter()
                    .find(|(f, s)| f == file && &s.name == name)
                    .unwrap_or_else(|| panic!("listed scenario not in the suite: {file}: {name}"))
            })
            .collect()
    };
    let started = Instant::now();
    let graphs = Arc::new(read_graphs(&dir));
    let scratch = std::env::temp_dir().join(format!("cg-net-features-wire-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let server = start_server(&scratch.join("data"), graphs.clone());
    let loaded = started.elapsed();
    let url = format!("ws://{}/gremlin", server.local_addr());
    let limits = Limits {
        scenario_ms_max: SCENARIO_MS_MAX,
    };
    let mut failures = Vec::new();
    let mut runnable = Vec::new();
    for (file, sc) in chosen {
        let mut reference = Reference {
            graphs: &graphs,
            current: None,
        };
        match run_scenario(&mut reference, sc, limits) {
            Outcome::Passed => runnable.push((file, sc)),
            _ if survey => {}
            other => failures.push(format!(
                "listed but fails in-process (the list is stale):\n{}",
                report("reference", file, sc, &other)
            )),
        }
    }
    let ran = runnable.len();
    let verbose = std::env::var("COREGRAPH_VERBOSE").is_ok();
    // The two formats side by side, each on its own connection and empty graph.
    let results: Vec<(usize, Vec<String>, u64)> = std::thread::scope(|scope| {
        let threads: Vec<_> = FORMATS
            .iter()
            .map(|format| {
                let (python, url, scratch, runnable) = (&python, &url, &scratch, &runnable);
                scope.spawn(move || {
                    let mut wire = Wire::start(python, url, format, scratch);
                    let mut passed = 0usize;
                    let mut failed = Vec::new();
                    for (file, sc) in runnable {
                        let t = Instant::now();
                        let outcome = run_scenario(&mut wire, sc, limits);
                        if survey {
                            let verdict = if outcome == Outcome::Passed {
                                "PASS"
                            } else {
                                "FAIL"
                            };
                            println!(
                                "{verdict} {format} {:>5}ms {file}: {}",
                                t.elapsed().as_millis(),
                                sc.name
                            );
                            if outcome != Outcome::Passed && verbose {
                                println!("{}", report(format, file, sc, &outcome));
                            }
                        }
                        match outcome {
                            Outcome::Passed => passed += 1,
                            other => failed.push(report(format, file, sc, &other)),
                        }
                    }
                    (passed, failed, wire.requests)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("format thread"))
            .collect()
    });
    let passed: Vec<usize> = results.iter().map(|r| r.0).collect();
    let requests: u64 = results.iter().map(|r| r.2).sum();
    for r in results {
        failures.extend(r.1);
    }
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!(
        "feature suite over gremlinpython: {ran} scenarios, passed GraphBinary {} / GraphSON {}, \
         {requests} requests, {:?} in all ({loaded:?} to start the server and load the graphs)",
        passed[0],
        passed[1],
        started.elapsed()
    );
    if survey {
        return;
    }
    assert!(
        failures.is_empty(),
        "{} failures over the wire:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, [ran, ran]);
    assert!(ran >= LISTED_MIN, "only {ran} scenarios ran");
}
