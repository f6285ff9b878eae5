//! The bulk loader end to end on real data directories: a seeded graph written as Gremlin
//! load CSV files is loaded with 1 and 2 cores, then checked through the query executor
//! (counts, degrees from both ends, properties by type, multi-values, supernodes); bad rows
//! are counted and listed with file and line and never half-applied; the error budget stops
//! a load; a rerun changes nothing; a load cut short completes on a rerun; the budget of
//! resident vertex records (none, some, all) does not change the graph.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use engine::exec::RunOptions;
use engine::load::{run_load, LoadOptions, LoadSummary};
use engine::model::ModelConfig;
use engine::runtime::{Cluster, CoreHost, RuntimeConfig};
use glommio::{LocalExecutorBuilder, Placement};
use gremlin::value::Value;
use shards::{DataDir, DirOptions, StoreConfig};

const WATCHDOG_S: u64 = 300;

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("cg-load-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn dir_opts() -> DirOptions {
    DirOptions {
        shard_count: Some(4),
        shard_size_bytes: 32 << 20,
        store: StoreConfig {
            block_size_bytes: 256 * 1024,
            flush_size_bytes: 64 * 1024,
            record_size_max: 64 * 1024,
            defrag_reserve_blocks: 2,
            ..StoreConfig::default()
        },
    }
}

/// Small records so packs, supernodes and index pages all occur.
fn small_model() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 4,
        pack_edges: 3,
        index_page_entries: 4,
        indexed_edge_keys: Vec::new(),
    }
}

/// The graph written to the files, as the test expects to read it back.
struct Graph {
    vertices: usize,
    /// (id or None, from, to, label, weight)
    edges: Vec<(Option<String>, usize, usize, &'static str, f64)>,
}

fn lcg(s: &mut u64) -> u64 {
    *s = s
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *s >> 33
}

/// Writes `vertices/` (two files, one in a label folder) and `edges/` (one file with `~id`,
/// one without) under `dir`.
fn write_graph(dir: &Path, vertices: usize, edges: usize) -> Graph {
    std::fs::create_dir_all(dir.join("vertices/person")).unwrap();
    std::fs::create_dir_all(dir.join("edges")).unwrap();
    let mut a = String::from(
        "~id,~label,name:String,age:Int,score:Double,tags:String[],nick:String(set)\n",
    );
    let mut b = String::from("~id,~label,name,age:Int:single,score:Double\n");
    for i in 0..vertices {
        if i % 2 == 0 {
            a.push_str(&format!(
                "v{i},person,\"n, {i}\",{},{}.5,t{};t{},nk{i}\n",
                i % 90,
                i,
                i % 3,
                i % 5
            ));
        } else {
            b.push_str(&format!("v{i},thing,name{i},{},{}.25\n", i % 90, i));
        }
    }
    std::fs::write(dir.join("vertices/person/a.csv"), a).unwrap();
    std::fs::write(dir.join("vertices/b.csv"), b).unwrap();
    let mut seed = 7u64;
    let mut with_id = String::from("~id,~from,~to,~label,w:Double\n");
    let mut no_id = String::from("~from,~to,~label,w:Double\n");
    let mut list = Vec::new();
    for i in 0..edges {
        // A hub (v0) gets a large share, so it becomes a supernode.
        let from = if i % 5 == 0 {
            0
        } else {
            lcg(&mut seed) as usize % vertices
        };
        let to = lcg(&mut seed) as usize % vertices;
        let label = if i % 3 == 0 { "knows" } else { "likes" };
        let w = (i % 100) as f64 / 4.0;
        if i % 2 == 0 {
            with_id.push_str(&format!("e{i},v{from},v{to},{label},{w}\n"));
            list.push((Some(format!("e{i}")), from, to, label, w));
        } else {
            no_id.push_str(&format!("v{from},v{to},{label},{w}\n"));
            list.push((None, from, to, label, w));
        }
    }
    std::fs::write(dir.join("edges/with_id.csv"), with_id).unwrap();
    std::fs::write(dir.join("edges/no_id.csv"), no_id).unwrap();
    Graph {
        vertices,
        edges: list,
    }
}

fn load(data: &Path, input: &Path, cores: usize, errors: &Path, errors_max: u64) -> LoadSummary {
    load_with(
        data,
        input,
        cores,
        errors,
        errors_max,
        LoadOptions::default().resident_bytes,
    )
}

/// [`load`] with a budget for resident vertex records.
fn load_with(
    data: &Path,
    input: &Path,
    cores: usize,
    errors: &Path,
    errors_max: u64,
    resident_bytes: usize,
) -> LoadSummary {
    let dir = Arc::new(DataDir::open_or_create(data, &dir_opts()).expect("data dir"));
    let opts = LoadOptions {
        cores,
        model: small_model(),
        errors_path: errors.to_path_buf(),
        errors_max,
        batch_rows: 64,
        writer_buffer_edges: 300,
        resident_bytes,
        progress: false,
        ..LoadOptions::default()
    };
    run_load(dir, input, opts).expect("load runs")
}

/// Runs gremlin-lang queries on one core over `data`; each answer as a `Debug` string list.
fn query(data: &Path, queries: Vec<String>) -> Vec<Vec<Value>> {
    let dir = Arc::new(DataDir::open_or_create(data, &dir_opts()).expect("data dir"));
    let cfg = RuntimeConfig {
        model: small_model(),
        ..RuntimeConfig::default()
    };
    let cluster = Cluster::new(dir, 1, cfg).expect("cluster");
    let (tx, rx) = mpsc::channel();
    let h = LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let host: Rc<CoreHost> = Rc::new(cluster.join(0).await.expect("join"));
            let g = host.executor("g").expect("graph g");
            let mut out = Vec::new();
            for q in &queries {
                let bc = gremlin::parser::parse(q, &|_: &str| None)
                    .unwrap_or_else(|e| panic!("{q}: {e}"));
                let r = g
                    .run(&bc, &RunOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("{q}: {e}"));
                out.push(r.into_iter().map(|t| t.value).collect::<Vec<_>>());
            }
            drop(g);
            let host = Rc::try_unwrap(host).ok().expect("host");
            host.shutdown().await.expect("shutdown");
            let _ = tx.send(out);
        })
        .expect("executor");
    let out = rx
        .recv_timeout(Duration::from_secs(WATCHDOG_S))
        .expect("queries did not finish");
    h.join().expect("executor exits");
    out
}

fn long(v: &[Value]) -> i64 {
    match v.first() {
        Some(Value::Long(n)) => *n,
        other => panic!("expected one Long, got {other:?}"),
    }
}

fn check_graph(data: &Path, g: &Graph) {
    let mut outd: BTreeMap<usize, i64> = BTreeMap::new();
    let mut ind: BTreeMap<usize, i64> = BTreeMap::new();
    for (_, f, t, _, _) in &g.edges {
        *outd.entry(*f).or_insert(0) += 1;
        *ind.entry(*t).or_insert(0) += 1;
    }
    let probe: Vec<usize> = vec![0, 1, 2, 3, 7, g.vertices - 1];
    let mut qs = vec!["g.V().count()".to_string(), "g.E().count()".to_string()];
    for v in &probe {
        qs.push(format!("g.V('v{v}').outE().count()"));
        qs.push(format!("g.V('v{v}').inE().count()"));
        qs.push(format!("g.V('v{v}').out().count()"));
        qs.push(format!("g.V('v{v}').in().count()"));
    }
    qs.push("g.V('v2').values('age')".into());
    qs.push("g.V('v2').values('score')".into());
    qs.push("g.V('v2').values('tags')".into());
    qs.push("g.V('v2').values('name')".into());
    qs.push("g.V('v3').values('name')".into());
    qs.push("g.V('v3').label()".into());
    qs.push("g.E('e0').values('w')".into());
    qs.push("g.E('e0').outV().id()".into());
    qs.push("g.E('e0').inV().id()".into());
    qs.push("g.V('v0').outE('knows').count()".into());
    let r = query(data, qs);
    assert_eq!(long(&r[0]), g.vertices as i64, "vertex count");
    assert_eq!(long(&r[1]), g.edges.len() as i64, "edge count");
    for (k, v) in probe.iter().enumerate() {
        let o = outd.get(v).copied().unwrap_or(0);
        let i = ind.get(v).copied().unwrap_or(0);
        assert_eq!(long(&r[2 + 4 * k]), o, "out degree of v{v}");
        assert_eq!(long(&r[3 + 4 * k]), i, "in degree of v{v}");
        assert_eq!(long(&r[4 + 4 * k]), o, "out neighbours of v{v}");
        assert_eq!(long(&r[5 + 4 * k]), i, "in neighbours of v{v}");
    }
    let base = 2 + 4 * probe.len();
    assert_eq!(r[base], vec![Value::Int(2)], "v2 age is an Int");
    assert_eq!(
        r[base + 1],
        vec![Value::Double(2.5)],
        "v2 score is a Double"
    );
    // tags t{2%3};t{2%5} = t2;t2: a set column keeps one.
    assert_eq!(r[base + 2], vec![Value::str("t2")], "v2 tags (set)");
    assert_eq!(r[base + 3], vec![Value::str("n, 2")], "quoted comma");
    assert_eq!(r[base + 4], vec![Value::str("name3")]);
    assert_eq!(r[base + 5], vec![Value::str("thing")]);
    let (_, f0, t0, _, w0) = &g.edges[0];
    assert_eq!(r[base + 6], vec![Value::Double(*w0)]);
    assert_eq!(r[base + 7], vec![Value::str(&format!("v{f0}"))]);
    assert_eq!(r[base + 8], vec![Value::str(&format!("v{t0}"))]);
    let knows0 = g
        .edges
        .iter()
        .filter(|e| e.1 == 0 && e.3 == "knows")
        .count() as i64;
    assert!(outd[&0] > 4, "the hub must exceed the edge cache");
    assert_eq!(long(&r[base + 9]), knows0, "supernode label filter");
}

#[test]
fn loads_a_graph_with_one_two_and_three_cores_and_a_rerun_changes_nothing() {
    // Three cores on the two-CPU machines: each writer claims ids on two peers and answers
    // two peers' claims between its steps.
    for cores in [1, 2, 3] {
        let root = temp(&format!("graph{cores}"));
        let input = root.join("in");
        let g = write_graph(&input, 300, 2000);
        let data = root.join("data");
        let errs = root.join("errors.txt");
        let s = load(&data, &input, cores, &errs, 0);
        assert_eq!(s.errors_total, 0, "{s}");
        assert_eq!(s.vertices_created, 300, "{s}");
        assert_eq!(s.edges_created, 2000, "{s}");
        check_graph(&data, &g);
        // Rerun: everything is found, nothing is added.
        let s2 = load(&data, &input, cores, &errs, 0);
        assert_eq!(s2.errors_total, 0, "{s2}");
        assert_eq!((s2.vertices_created, s2.vertices_present), (0, 300), "{s2}");
        assert_eq!((s2.edges_created, s2.edges_present), (0, 2000), "{s2}");
        check_graph(&data, &g);
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn every_resident_budget_gives_the_same_graph() {
    // 0: no record in memory (every update reads the store); 24 KiB: some vertices stay in
    // memory, the others are written out when the budget runs out mid-load.
    for budget in [0usize, 24 << 10] {
        let root = temp(&format!("budget{budget}"));
        let input = root.join("in");
        let g = write_graph(&input, 300, 2000);
        let data = root.join("data");
        let errs = root.join("errors.txt");
        let s = load_with(&data, &input, 2, &errs, 0, budget);
        assert_eq!(s.errors_total, 0, "{s}");
        assert_eq!((s.vertices_created, s.edges_created), (300, 2000), "{s}");
        check_graph(&data, &g);
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn dense_graph_with_resident_records_over_many_writer_batches() {
    // Few vertices, many edges each, writer batches of 300 edges: a vertex's out-edges and
    // in-entries of later batches update its resident record concurrently on its core
    // (each waiting on pack writes). Residency was checked without the key lock, so one
    // update could go to the store path while the other held the record out of the map:
    // a lost update, and the write-back at the end failed with "generation mismatch" (seen
    // on the 1 M / 10 M graph). Three cores: every writer batch claims ids on two peers
    // while answering theirs.
    for cores in [1, 2, 3] {
        let root = temp(&format!("dense{cores}"));
        let input = root.join("in");
        let g = write_graph(&input, 24, 4000);
        let data = root.join("data");
        let errs = root.join("errors.txt");
        let s = load(&data, &input, cores, &errs, 0);
        assert_eq!(s.errors_total, 0, "{s}");
        assert_eq!((s.vertices_created, s.edges_created), (24, 4000), "{s}");
        check_graph(&data, &g);
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn a_load_cut_short_completes_on_a_rerun() {
    // The first run sees only one of the two edge files (as if interrupted after it); the
    // rerun with both finds the first file's edges present and adds the rest to the same
    // vertices, whose records are no longer in memory.
    let root = temp("cut");
    let input = root.join("in");
    let g = write_graph(&input, 300, 2000);
    let held = root.join("held.csv");
    std::fs::rename(input.join("edges/no_id.csv"), &held).unwrap();
    let data = root.join("data");
    let errs = root.join("errors.txt");
    let s = load(&data, &input, 2, &errs, 0);
    assert_eq!(s.errors_total, 0, "{s}");
    let first = s.edges_created;
    assert!(first > 0 && first < 2000, "{s}");
    std::fs::rename(&held, input.join("edges/no_id.csv")).unwrap();
    let s = load(&data, &input, 2, &errs, 0);
    assert_eq!(s.errors_total, 0, "{s}");
    assert_eq!((s.vertices_created, s.vertices_present), (0, 300), "{s}");
    assert_eq!(
        (s.edges_created, s.edges_present),
        (2000 - first, first),
        "{s}"
    );
    check_graph(&data, &g);
    let _ = std::fs::remove_dir_all(&root);
}

fn write_bad(dir: &Path) {
    std::fs::create_dir_all(dir.join("vertices")).unwrap();
    std::fs::create_dir_all(dir.join("edges")).unwrap();
    std::fs::write(
        dir.join("vertices/v.csv"),
        "~id,~label,age:Int\n\
         a,p,1\n\
         b,p,2\n\
         a,p,1\n\
         c,p,notanint\n\
         d,p,\"4\n\
         e,p,5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("edges/e.csv"),
        "~id,~from,~to,~label\n\
         x1,a,b,knows\n\
         x2,a,zz,knows\n\
         x3,zz,b,knows\n\
         x1,a,b,likes\n\
         x4,b,e,knows\n",
    )
    .unwrap();
}

#[test]
fn bad_rows_are_counted_listed_and_never_half_applied() {
    for cores in [1, 2] {
        let root = temp(&format!("bad{cores}"));
        let input = root.join("in");
        write_bad(&input);
        let data = root.join("data");
        let errs = root.join("errors.txt");
        let s = load(&data, &input, cores, &errs, 100);
        assert!(s.stopped.is_none(), "{s}");
        let text = std::fs::read_to_string(&errs).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        let v = input.join("vertices/v.csv").display().to_string();
        let e = input.join("edges/e.csv").display().to_string();
        let want_prefixes = [
            format!("{e}:3: MissingVertex"),
            format!("{e}:4: MissingVertex"),
            format!("{e}:5: DuplicateEdge"),
            format!("{e}:6: MissingVertex"),
            format!("{v}:4: DuplicateVertex"),
            format!("{v}:5: BadValue"),
        ];
        for w in &want_prefixes {
            assert!(
                lines.iter().any(|l| l.starts_with(w.as_str())),
                "missing {w:?} in {lines:?}"
            );
        }
        // The unterminated quote swallows the rest of the file: one error at line 6.
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{v}:6:"))),
            "{lines:?}"
        );
        assert_eq!(s.errors_total, lines.len() as u64, "{s}");
        assert_eq!(s.errors_total, 7, "{s}: {lines:?}");
        assert_eq!(s.vertices_created, 2, "{s}");
        assert_eq!(s.edges_created, 1, "{s}");
        let r = query(
            &data,
            vec![
                "g.V().count()".into(),
                "g.E().count()".into(),
                "g.V('a').outE().count()".into(),
                "g.V('b').outE().count()".into(),
                "g.V('b').inE().count()".into(),
                "g.V('a').values('age')".into(),
                "g.E('x1').inV().id()".into(),
            ],
        );
        assert_eq!(long(&r[0]), 2);
        assert_eq!(long(&r[1]), 1);
        assert_eq!(long(&r[2]), 1, "a -> b only; a -> zz left nothing");
        assert_eq!(
            long(&r[3]),
            0,
            "x4 (to a vertex lost to a bad row) left nothing"
        );
        assert_eq!(long(&r[4]), 1);
        assert_eq!(r[5], vec![Value::Int(1)]);
        assert_eq!(r[6], vec![Value::str("b")], "the first x1 stays");
        let r = query(&data, vec!["g.E('x1').label()".into()]);
        assert_eq!(
            r[0],
            vec![Value::str("knows")],
            "the duplicate x1 was not applied"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[test]
fn the_error_budget_stops_the_load() {
    let root = temp("budget");
    let input = root.join("in");
    write_bad(&input);
    let data = root.join("data");
    let errs = root.join("errors.txt");
    let s = load(&data, &input, 2, &errs, 1);
    let stopped = s.stopped.clone().expect("stopped");
    assert!(stopped.contains("error budget"), "{stopped}");
    assert!(s.errors_total >= 2, "{s}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_edge_id_taken_by_another_edge_is_rejected_by_a_later_load() {
    for cores in [1, 2] {
        let root = temp(&format!("taken{cores}"));
        let (first, second) = (root.join("in1"), root.join("in2"));
        for (dir, edges) in [
            (&first, "~id,~from,~to,~label,w:Int\nx1,a,b,knows,1\n"),
            // x1 again with another in vertex; x3 new.
            (
                &second,
                "~id,~from,~to,~label,w:Int\nx1,a,c,knows,1\nx3,b,c,knows,3\n",
            ),
        ] {
            std::fs::create_dir_all(dir.join("vertices")).unwrap();
            std::fs::create_dir_all(dir.join("edges")).unwrap();
            std::fs::write(dir.join("vertices/v.csv"), "~id,~label\na,p\nb,p\nc,p\n").unwrap();
            std::fs::write(dir.join("edges/e.csv"), edges).unwrap();
        }
        let data = root.join("data");
        let errs = root.join("errors.txt");
        let s = load(&data, &first, cores, &errs, 10);
        assert_eq!((s.edges_created, s.errors_total), (1, 0), "{s}");
        let s = load(&data, &second, cores, &errs, 10);
        assert_eq!((s.edges_created, s.edges_present), (1, 0), "{s}");
        assert_eq!(s.errors_total, 1, "{s}");
        let text = std::fs::read_to_string(&errs).unwrap();
        assert!(
            text.contains(":2: DuplicateEdge") && text.contains("already exists with other"),
            "{text}"
        );
        let r = query(
            &data,
            vec![
                "g.E('x1').inV().id()".into(),
                "g.E().count()".into(),
                "g.V('c').inE().id()".into(),
            ],
        );
        assert_eq!(r[0], vec![Value::str("b")], "x1 keeps its first endpoints");
        assert_eq!(long(&r[1]), 2);
        assert_eq!(r[2], vec![Value::str("x3")]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
