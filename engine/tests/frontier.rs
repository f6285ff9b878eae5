//! The frontier path on real cores (`engine::frontier` over `engine::runtime`): answers equal
//! the attempts executor's on seeded random graphs on 1, 2 and 4 shards (default and tiny edge caches and packs, so
//! supernode paths run); `profile()` reports records read and cross-core messages per step,
//! bounded for one- and two-hop traversals; and heavy concurrent frontier traversals on 4
//! cores with mesh capacity 1 all finish (a watchdog fails the test on a deadlock).

mod common;

use common::barrier;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use engine::exec::{Executor, RunOptions, Started};
use engine::model::ModelConfig;
use engine::runtime::{Cluster, CoreHost, RoutedKv, RuntimeConfig};
use gremlin::value::{Edge, GraphData, Property, Value, Vertex, VertexProperty};
use shards::{DataDir, DirOptions, StoreConfig};

/// A test that takes longer than this is taken for a deadlock.
const WATCHDOG_S: u64 = 240;
/// Vertices of the test graph.
const N: i64 = 90;

fn opts(shards: u32) -> DirOptions {
    DirOptions {
        shard_count: Some(shards),
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

fn tight(model: ModelConfig) -> RuntimeConfig {
    RuntimeConfig {
        mesh_capacity_messages: 1,
        inbox_tasks_max: 4,
        remote_requests_in_flight_max: 64,
        local_reads_concurrent_max: 4,
        message_digests_max: 16,
        model,
        ..RuntimeConfig::default()
    }
}

fn small() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 2,
        indexed_edge_keys: Vec::new(),
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("cg-frontier-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Starts `cores` executors on one cluster over `dir`, runs `body` on each; their results,
/// or a panic when the watchdog fires.
fn run_cores<T, F, Fut>(dir: &Arc<DataDir>, cores: usize, cfg: RuntimeConfig, body: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Rc<CoreHost>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let cluster = Cluster::new(dir.clone(), cores, cfg).expect("cluster");
    common::run_cluster(cluster, cores, "fr-test", WATCHDOG_S, body)
}

/// The test graph: vertex `i` (label a or b, a name, an age on most) has edges to
/// `(7i+1) % N` (knows) and `(13i+5) % N` (likes); every 3rd vertex also points at vertex 0
/// (so it is a supernode with tiny caches); then `N` seeded random edges.
fn graph(seed: u64) -> GraphData {
    let mut g = GraphData::default();
    let label = |i: i64| -> Arc<str> { Arc::from(if i % 3 == 1 { "b" } else { "a" }) };
    for i in 0..N {
        let mut props = vec![VertexProperty {
            id: Value::Long(1_000_000 + 2 * i),
            key: Arc::from("name"),
            value: Value::String(Arc::from(format!("n{}", i % 11).as_str())),
            properties: None,
        }];
        if i % 4 != 0 {
            props.push(VertexProperty {
                id: Value::Long(1_000_001 + 2 * i),
                key: Arc::from("age"),
                value: Value::Int((i * 7 % 50) as i32),
                properties: None,
            });
        }
        g.vertices.push(Vertex {
            id: Value::Long(i),
            label: label(i),
            properties: Some(props),
        });
    }
    let mut eid = 10_000i64;
    let mut edge = |g: &mut GraphData, out: i64, in_: i64, l: &str| {
        g.edges.push(Edge {
            id: Value::Long(eid),
            label: Arc::from(l),
            out_v_id: Value::Long(out),
            out_v_label: label(out),
            in_v_id: Value::Long(in_),
            in_v_label: label(in_),
            properties: Some(vec![Property {
                key: Arc::from("w"),
                value: Value::Int((eid % 10) as i32),
            }]),
        });
        eid += 1;
    };
    for i in 0..N {
        edge(&mut g, i, (7 * i + 1) % N, "knows");
        edge(&mut g, i, (13 * i + 5) % N, "likes");
        if i % 3 == 0 {
            edge(&mut g, i, 0, "likes");
        }
    }
    // Seeded random edges on top (xorshift), self-loops and parallel edges included.
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % N as u64) as i64
    };
    for _ in 0..N {
        let (a, b) = (next(), next());
        edge(&mut g, a, b, if b % 2 == 0 { "knows" } else { "likes" });
    }
    g
}

const TRAVERSALS: &[&str] = &[
    "g.V().count()",
    "g.V(3)",
    "g.V(0).in().count()",
    "g.V(0).in().dedup().count()",
    "g.V(5).out().values('name')",
    "g.V(5).out().out().count()",
    "g.V(5).out().out().dedup().count()",
    "g.V(0).both().both().dedup().count()",
    "g.V(2).in('likes').id()",
    "g.V().hasLabel('b').out('knows').values('age')",
    "g.V().has('age', gt(30)).in().id().dedup()",
    "g.V().hasNot('age').both().label()",
    "g.V(0).inE('likes').outV().count()",
    "g.V(9).bothE().has('w', lt(5)).otherV().dedup()",
    "g.V(4).outE().inV().values('name')",
    "g.V().out().out().dedup().count()",
    "g.V(1, 2, 3).out().limit(2).count()",
    "g.E(10000, 10005, 10005, 1)",
    "g.E(10003, 10100).inV().out().values('name')",
    "g.E(10007).otherV().in().dedup().count()",
    // Streamed scans (sliced per core when started).
    "g.V().values('name')",
    "g.V().has('age', gt(20)).out('likes').id()",
    "g.E().has('w', lt(5)).id()",
];

/// Runs `text`; the values (bulk expanded, sorted as text) and the frontier counters.
async fn run(
    g: &Executor<RoutedKv>,
    text: &str,
) -> (Vec<String>, Option<engine::frontier::FrontierStats>) {
    let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
    let (r, _, fs) = g.run_with_frontier_stats(&bc, &RunOptions::default()).await;
    let trs = r.unwrap_or_else(|e| panic!("{text}: {e}"));
    (common::sorted_values(&trs), fs)
}

/// Runs `text` through [`Executor::start`]; the values as [`run`] gives them, and whether
/// they were streamed.
async fn run_started(g: &Rc<Executor<RoutedKv>>, text: &str) -> (Vec<String>, bool) {
    let (trs, streamed) = common::run_started(g, text).await;
    (common::sorted_values(&trs), streamed)
}

/// Loads the graph from core 0, then every core runs every traversal with the frontier path
/// off and on, and through `start()` (streamed where the shape allows); the answers must
/// agree (each core's own query is its coordinator).
fn equal_answers(shards: u32, cores: usize, model: ModelConfig, seed: u64) {
    let path = temp_dir(&format!("eq-{shards}-{cores}-{}-{seed}", model.pack_edges));
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(shards)).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let outs = run_cores(&dir, cores, tight(model), move |host, core| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            if core == 0 {
                g.load(&graph(seed)).await.expect("load");
            }
            barrier(&arrived, cores).await;
            let mut mismatches = Vec::new();
            let mut streamed = 0usize;
            for text in TRAVERSALS {
                g.set_frontier(false);
                let (want, none) = run(&g, text).await;
                assert!(none.is_none(), "{text}: frontier path while off");
                g.set_frontier(true);
                let (got, stats) = run(&g, text).await;
                assert!(stats.is_some(), "{text}: did not take the frontier path");
                if got != want {
                    mismatches.push(format!("{text}: frontier {got:?} attempts {want:?}"));
                }
                let (started, was_streamed) = run_started(&g, text).await;
                streamed += usize::from(was_streamed);
                if started != want {
                    mismatches.push(format!("{text}: started {started:?} attempts {want:?}"));
                }
            }
            if streamed == 0 {
                mismatches.push("no traversal was streamed".to_string());
            }
            barrier(&arrived, 2 * cores).await;
            mismatches
        }
    });
    for (core, m) in outs.into_iter().enumerate() {
        assert!(m.is_empty(), "core {core}: {m:#?}");
    }
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn answers_equal_on_one_shard() {
    equal_answers(1, 1, small(), 11);
}

#[test]
fn answers_equal_on_two_shards() {
    equal_answers(2, 2, ModelConfig::default(), 12);
    equal_answers(2, 2, small(), 13);
}

#[test]
fn answers_equal_on_four_shards() {
    equal_answers(4, 4, small(), 14);
    equal_answers(4, 2, ModelConfig::default(), 15);
}

/// The counters of one profile() answer: (step name, records read, messages) per step.
fn profile_counts(v: &Value) -> Vec<(String, i64, i64)> {
    let Value::Metrics(m) = v else {
        panic!("not metrics: {v:?}")
    };
    m.metrics
        .iter()
        .map(|s| {
            let get = |k: &str| {
                s.counts
                    .iter()
                    .find(|(n, _)| &**n == k)
                    .map(|(_, v)| *v)
                    .unwrap_or_else(|| panic!("{k} missing in {s:?}"))
            };
            (
                s.name.to_string(),
                get("recordsRead"),
                get("crossCoreMessages"),
            )
        })
        .collect()
}

/// One- and two-hop costs through `profile()` on 2 and 4 cores: a one-hop count reads the
/// start vertex and its packs (at most 1 + neighbours records) and sends at most one request
/// and one reply per other core; a two-hop distinct count adds at most one round.
fn bounded(cores: usize) {
    let path = temp_dir(&format!("bounds-{cores}"));
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(cores as u32)).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    run_cores(
        &dir,
        cores,
        tight(ModelConfig::default()),
        move |host, core| {
            let arrived = arrived.clone();
            async move {
                let g = host.executor("g").expect("g");
                if core == 0 {
                    g.load(&graph(1)).await.expect("load");
                }
                barrier(&arrived, cores).await;
                if core == cores - 1 {
                    let other = (cores - 1) as i64;
                    for v in [0i64, 5, 17] {
                        let (n1, _) = run(&g, &format!("g.V({v}).out().count()")).await;
                        let n1: i64 = n1[0]
                            .trim_start_matches("Long(")
                            .trim_end_matches(')')
                            .parse()
                            .unwrap();
                        let bc = gremlin::parser::parse(
                            &format!("g.V({v}).out().count().profile()"),
                            &|_| None,
                        )
                        .unwrap();
                        let trs = g.run(&bc, &RunOptions::default()).await.unwrap();
                        let steps = profile_counts(&trs[0].value);
                        let reads: i64 = steps.iter().map(|s| s.1).sum();
                        let msgs: i64 = steps.iter().map(|s| s.2).sum();
                        assert_eq!(steps.len(), 3, "{steps:?}");
                        assert!(
                            reads <= 1 + n1,
                            "one hop from {v}: {reads} reads, {steps:?}"
                        );
                        assert!(
                            msgs <= 2 * other,
                            "one hop from {v}: {msgs} messages, {steps:?}"
                        );
                        let (n2, _) = run(&g, &format!("g.V({v}).out().out().count()")).await;
                        let n2: i64 = n2[0]
                            .trim_start_matches("Long(")
                            .trim_end_matches(')')
                            .parse()
                            .unwrap();
                        let bc = gremlin::parser::parse(
                            &format!("g.V({v}).out().out().dedup().count().profile()"),
                            &|_| None,
                        )
                        .unwrap();
                        let trs = g.run(&bc, &RunOptions::default()).await.unwrap();
                        let steps = profile_counts(&trs[0].value);
                        let reads: i64 = steps.iter().map(|s| s.1).sum();
                        let msgs: i64 = steps.iter().map(|s| s.2).sum();
                        // Start vertex, its packs, each neighbour and its packs.
                        assert!(
                            reads <= 1 + n1 + n1 + n2,
                            "two hops from {v}: {reads}, {steps:?}"
                        );
                        assert!(
                            msgs <= 2 * 2 * other,
                            "two hops from {v}: {msgs}, {steps:?}"
                        );
                        let out_step = steps.get(1).expect("out step");
                        assert_eq!(out_step.0, "Adj", "{steps:?}");
                    }
                }
                barrier(&arrived, 2 * cores).await;
            }
        },
    );
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn one_and_two_hop_costs_on_two_cores() {
    bounded(2);
}

#[test]
fn one_and_two_hop_costs_on_four_cores() {
    bounded(4);
}

/// Every core runs many concurrent frontier traversals (two and three hops, scans) with
/// mesh capacity 1 on 4 shards; all finish and agree with the attempts executor's answers
/// computed before.
#[test]
fn heavy_concurrent_frontier_traversals_with_capacity_one() {
    let cores = 4;
    let path = temp_dir("heavy");
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(4)).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let outs = run_cores(&dir, cores, tight(small()), move |host, core| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            if core == 0 {
                g.load(&graph(1)).await.expect("load");
            }
            barrier(&arrived, cores).await;
            let texts: Vec<String> = (0..N)
                .filter(|i| (*i as usize) % cores == core)
                .flat_map(|i| {
                    [
                        format!("g.V({i}).out().out().values('name')"),
                        format!("g.V({i}).both().both().both().dedup().count()"),
                        format!("g.V({i}).in().out().count()"),
                    ]
                })
                .chain(["g.V().both().both().count()".to_string()])
                .collect();
            g.set_frontier(false);
            let mut want = Vec::new();
            for t in &texts {
                want.push(run(&g, t).await.0);
            }
            barrier(&arrived, 2 * cores).await;
            g.set_frontier(true);
            let mut tasks = Vec::new();
            let mut streamed = Vec::new();
            for t in texts.clone() {
                let (g1, g2, t2) = (g.clone(), g.clone(), t.clone());
                tasks.push(glommio::spawn_local(async move { run(&g1, &t).await }));
                streamed.push(glommio::spawn_local(
                    async move { run_started(&g2, &t2).await },
                ));
            }
            let mut bad = Vec::new();
            for (((t, task), s), w) in texts.iter().zip(tasks).zip(streamed).zip(want) {
                let (got, stats) = task.await;
                if stats.is_none() || got != w {
                    bad.push(t.clone());
                }
                if s.await.0 != w {
                    bad.push(format!("{t} (started)"));
                }
            }
            barrier(&arrived, 3 * cores).await;
            bad
        }
    });
    for (core, bad) in outs.into_iter().enumerate() {
        assert!(bad.is_empty(), "core {core}: {bad:?}");
    }
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// Streaming on real cores: a traversal of 20 batches (of `FRONTIER_BATCH_MAX` start ids)
/// streamed to a reader that takes everything costs 20 batches; the same traversal whose
/// reader takes one result batch and drops the stream (a client going away) stops early on
/// both cores: fewer batches are ever evaluated, and later queries run normally.
#[test]
fn a_dropped_stream_stops_the_query_on_every_core() {
    let cores = 2;
    let n = 20_000i64;
    let path = temp_dir("stream-drop");
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(2)).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let batches: Arc<[std::sync::atomic::AtomicU64; 2]> = Arc::default();
    let outs = run_cores(&dir, cores, RuntimeConfig::default(), move |host, core| {
        let (arrived, batches) = (arrived.clone(), batches.clone());
        async move {
            use std::sync::atomic::Ordering::SeqCst;
            let g = host.executor("g").expect("g");
            // Every core at a barrier, then each publishes its batch count, then every
            // core at a second one (so reads see every core's count after the phase).
            let phase = std::cell::Cell::new(0);
            let sync = || async {
                phase.set(phase.get() + 1);
                barrier(&arrived, phase.get() * cores).await;
                batches[core].store(host.route_stats().frontier_batches, SeqCst);
                phase.set(phase.get() + 1);
                barrier(&arrived, phase.get() * cores).await;
            };
            if core == 0 {
                let mut data = GraphData::default();
                for i in 0..n {
                    data.vertices.push(Vertex {
                        id: Value::Long(i),
                        label: Arc::from("a"),
                        properties: Some(vec![VertexProperty {
                            id: Value::Long(n + i),
                            key: Arc::from("name"),
                            value: Value::String(Arc::from(format!("v{i}").as_str())),
                            properties: None,
                        }]),
                    });
                }
                g.load(&data).await.expect("load");
            }
            sync().await;
            let total = |b: &[std::sync::atomic::AtomicU64; 2]| {
                b.iter().map(|x| x.load(SeqCst)).sum::<u64>()
            };
            let before = total(&batches);
            let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let text = format!("g.V({}).values('name')", ids.join(","));
            let bc = gremlin::parser::parse(&text, &|_| None).expect("parses");
            let mut out = (0u64, 0u64, 0usize, 0usize);
            if core == 0 {
                let Started::Streaming(mut s) = g.start(&bc, &RunOptions::default()).await else {
                    panic!("not streamed");
                };
                let mut got = 0usize;
                while let Some(item) = s.next().await {
                    got += item.expect("streamed").len();
                }
                out.2 = got;
            }
            sync().await;
            let full = total(&batches) - before;
            if core == 0 {
                let Started::Streaming(mut s) = g.start(&bc, &RunOptions::default()).await else {
                    panic!("not streamed");
                };
                let first = s.next().await.expect("a first batch").expect("ok");
                assert!(!first.is_empty());
                drop(s);
                // Batches already sent finish or stop; nothing new is sent.
                glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
                let again = run(&g, "g.V(1, 2).values('name')").await.0;
                out.3 = again.len();
            }
            sync().await;
            let dropped = total(&batches) - before - full;
            out.0 = full;
            out.1 = dropped;
            out
        }
    });
    let (full, dropped, got, again) = outs[0];
    assert_eq!(got, n as usize, "every result streamed");
    assert!(full >= 19, "{full} batches for the whole traversal");
    assert!(
        dropped < full,
        "dropping the stream after one batch: {dropped} batches evaluated, {full} for all"
    );
    assert_eq!(again, 2);
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// `profile()`'s `deviceBytesRead`: reads the device served count their bytes (after a
/// reopen, nothing is in memory), the same reads served by the record cache count none.
#[test]
fn profile_counts_device_bytes_of_cold_reads_only() {
    let path = temp_dir("device-bytes");
    let text = "g.V(5).out().out().values('name').profile()";
    let device_bytes = |v: &Value| -> i64 {
        let Value::Metrics(m) = v else {
            panic!("not metrics: {v:?}")
        };
        m.metrics
            .iter()
            .flat_map(|s| s.counts.iter())
            .filter(|(n, _)| &**n == "deviceBytesRead")
            .map(|(_, c)| *c)
            .sum()
    };
    {
        let dir = Arc::new(DataDir::open_or_create(&path, &opts(1)).expect("data dir"));
        run_cores(&dir, 1, RuntimeConfig::default(), |host, _| async move {
            let g = host.executor("g").expect("g");
            g.load(&graph(3)).await.expect("load");
        });
    }
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(1)).expect("data dir"));
    let outs = run_cores(
        &dir,
        1,
        RuntimeConfig::default(),
        move |host, _| async move {
            let g = host.executor("g").expect("g");
            let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
            let cold = g.run(&bc, &RunOptions::default()).await.expect("runs");
            let warm = g.run(&bc, &RunOptions::default()).await.expect("runs");
            (device_bytes(&cold[0].value), device_bytes(&warm[0].value))
        },
    );
    let (cold, warm) = outs[0];
    assert!(cold >= 4096, "cold: {cold} device bytes");
    assert_eq!(warm, 0, "warm reads came from the record cache");
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// `profile()` of a traversal the attempts executor runs (the frontier path off), on two
/// cores after a reopen: every step reports its time and what it cost the store. The records
/// read add up to what the query fetched, the cold reads took bytes from the device, the
/// other core's records took messages, and a warm run reads no device bytes.
#[test]
fn attempts_profile_reports_reads_device_bytes_and_messages_per_step() {
    let cores = 2;
    let path = temp_dir("attempts-profile");
    let text = "g.V(5).out().out().values('name').profile()";
    {
        let dir = Arc::new(DataDir::open_or_create(&path, &opts(2)).expect("data dir"));
        let arrived = Arc::new(AtomicUsize::new(0));
        run_cores(&dir, cores, RuntimeConfig::default(), move |host, core| {
            let arrived = arrived.clone();
            async move {
                if core == 0 {
                    let g = host.executor("g").expect("g");
                    g.load(&graph(3)).await.expect("load");
                }
                barrier(&arrived, cores).await;
            }
        });
    }
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(2)).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let outs = run_cores(&dir, cores, RuntimeConfig::default(), move |host, core| {
        let arrived = arrived.clone();
        async move {
            let mut out = Vec::new();
            if core == 0 {
                let g = host.executor("g").expect("g");
                g.set_frontier(false);
                let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
                for _ in 0..2 {
                    let (r, stats) = g.run_with_stats(&bc, &RunOptions::default()).await;
                    let trs = r.expect("runs");
                    let Value::Metrics(m) = &trs[0].value else {
                        panic!("not metrics: {:?}", trs[0].value)
                    };
                    out.push(((**m).clone(), stats.records_fetched));
                }
            }
            barrier(&arrived, cores).await;
            out
        }
    });
    let count = |s: &gremlin::value::Metrics, k: &str| -> i64 {
        s.counts
            .iter()
            .find(|(n, _)| &**n == k)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{k} missing in {s:?}"))
    };
    let sum = |m: &gremlin::value::TraversalMetrics, k: &str| -> i64 {
        m.metrics.iter().map(|s| count(s, k)).sum()
    };
    let [(cold, fetched), (warm, _)] = outs[0].as_slice() else {
        panic!("two runs: {:?}", outs[0])
    };
    let names: Vec<&str> = cold.metrics.iter().map(|s| &*s.name).collect();
    assert_eq!(cold.metrics.len(), 4, "{names:?}");
    assert_eq!(sum(cold, "recordsRead") as u64, *fetched, "{cold:?}");
    for (i, s) in cold.metrics.iter().take(3).enumerate() {
        // V(5) reads its vertex, each out() its edges' far ends.
        assert!(count(s, "recordsRead") > 0, "step {i} read nothing: {s:?}");
        assert!(count(s, "recordBytesRead") > 0, "step {i}: {s:?}");
    }
    assert!(sum(cold, "deviceBytesRead") >= 4096, "cold: {cold:?}");
    assert_eq!(sum(warm, "deviceBytesRead"), 0, "warm: {warm:?}");
    let messages = sum(cold, "crossCoreMessages");
    assert!(
        messages > 0 && messages % 2 == 0,
        "requests and replies to the other core: {messages}"
    );
    assert!(cold.duration_nanos > 0);
    assert_eq!(
        cold.duration_nanos,
        cold.metrics.iter().map(|s| s.duration_nanos).sum::<i64>()
    );
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}
