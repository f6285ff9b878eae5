//! Secondary indexes and exact counters on real cores (`engine::index` over
//! `engine::runtime`), 1 and 2 shards: after seeded random mutation sequences (adds,
//! property overwrites and drops, vertex and edge drops, TTL'd vertices that expire, a
//! sweep), every indexed traversal answers as the attempts executor's full scan does, and
//! `V().count()` from the counters equals the scan; indexes are created and watched through
//! the `call()` services, built online while writes continue, rebuilt after a restart, and
//! the index path reads fewer records than the scan (frontier counters, as `profile()`).

mod common;

use common::barrier;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use engine::exec::{Executor, RunOptions};
use engine::model::keys::{ElementId, IntWidth, KeySpace};
use engine::model::ops::{Model, SystemClock};
use engine::model::ModelConfig;
use engine::runtime::{Cluster, CoreHost, RoutedKv, RuntimeConfig};
use gremlin::machine::services::ServiceRegistry;
use shards::{DataDir, DirOptions, StoreConfig};

const WATCHDOG_S: u64 = 90;

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

fn small() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 2,
        indexed_edge_keys: Vec::new(),
    }
}

fn run_cores<T, F, Fut>(dir: &Arc<DataDir>, cores: usize, body: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Rc<CoreHost>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let cfg = RuntimeConfig {
        model: small(),
        ..RuntimeConfig::default()
    };
    let cluster = Cluster::new(dir.clone(), cores, cfg).expect("cluster");
    let mut reg = ServiceRegistry::new();
    for s in cluster.index_catalog().services() {
        reg.register(s);
    }
    cluster.set_services(Arc::new(reg));
    common::run_cluster(cluster, cores, "ix-test", WATCHDOG_S, body)
}

/// Values (bulk expanded, sorted as text), and records read on the frontier path.
async fn run(g: &Executor<RoutedKv>, text: &str) -> (Vec<String>, Option<u64>) {
    let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
    let (r, _, fs) = g.run_with_frontier_stats(&bc, &RunOptions::default()).await;
    let trs = r.unwrap_or_else(|e| panic!("{text}: {e}"));
    (common::sorted_values(&trs), fs.map(|s| s.reads_total()))
}

/// Cross-core messages of `text` on the frontier path.
async fn messages(g: &Executor<RoutedKv>, text: &str) -> Option<u64> {
    let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
    let (r, _, fs) = g.run_with_frontier_stats(&bc, &RunOptions::default()).await;
    r.unwrap_or_else(|e| panic!("{text}: {e}"));
    fs.map(|s| s.messages_total())
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const V_MAX: u64 = 120;

/// One random mutation as Gremlin text.
fn mutation(r: &mut Rng) -> String {
    let v = r.next(V_MAX);
    match r.next(10) {
        0..=2 => format!(
            "g.addV('{}').property(id, {v}).property('age', {}).property('name', 'n{}')",
            if v % 3 == 0 { "b" } else { "a" },
            r.next(40),
            r.next(6)
        ),
        3 => format!("g.V({v}).property(single, 'age', {}.5)", r.next(40)),
        4 => format!("g.V({v}).property(single, 'age', {})", r.next(40)),
        5 => format!("g.V({v}).properties('age').drop()"),
        6 => format!("g.V({v}).drop()"),
        7 | 8 => format!(
            "g.V({v}).as('a').V({}).addE('{}').from('a').property('w', {})",
            r.next(V_MAX),
            if r.next(2) == 0 { "knows" } else { "likes" },
            r.next(8)
        ),
        _ => format!("g.V({v}).outE().limit(1).drop()"),
    }
}

const QUERIES: &[&str] = &[
    "g.V().has('age', 7).id()",
    "g.V().has('age', 7L).id()",
    "g.V().has('age', 7.0).id()",
    "g.V().has('age', within(1, 2, 3, 12.5)).id()",
    "g.V().has('age', gt(30)).id()",
    "g.V().has('age', lte(5)).values('age')",
    "g.V().has('age', between(10, 20)).id()",
    "g.V().has('age', inside(10, 20.5)).id()",
    "g.V().has('age', '7').id()",
    "g.V().hasLabel('b').has('age', lt(20)).id()",
    "g.V().hasLabel('b').id()",
    "g.V().has('name', 'n3').has('age', 9).id()",
    "g.V().has('name', 'n2').id()",
    "g.V().has('name', 'n2').count()",
    "g.V().count()",
    "g.V().hasLabel('a').count()",
    "g.V().hasLabel('zz').count()",
    "g.E().has('w', 3).id()",
    "g.E().has('w', gt(5)).count()",
    "g.E().has('w', within(1, 2)).inV().id()",
    "g.E().has('zz', 1).count()",
    "g.E().count()",
    "g.E().hasLabel('knows').count()",
];

/// Every query with the frontier path (indexes, counters) against the attempts executor's
/// full scan; mismatches listed.
async fn compare(g: &std::rc::Rc<Executor<RoutedKv>>, tag: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for q in QUERIES {
        g.set_frontier(false);
        let (want, _) = run(g, q).await;
        g.set_frontier(true);
        let (got, _) = run(g, q).await;
        if got != want {
            bad.push(format!("{tag} {q}: indexed {got:?} scan {want:?}"));
        }
        // Started as the server starts it: streamed where the shape allows, the start's
        // index candidates (or scan) split per core into slices.
        let streamed = common::sorted_values(&common::run_started(g, q).await.0);
        if streamed != want {
            bad.push(format!("{tag} {q}: started {streamed:?} scan {want:?}"));
        }
    }
    bad
}

/// `explain()` of `text` as drivers send it (a bytecode step; gremlin-lang makes it a
/// terminal that the server refuses).
async fn explain(g: &Executor<RoutedKv>, text: &str) -> String {
    let mut bc = gremlin::parser::parse(text, &|_| None).expect("parses");
    bc.steps.push(gremlin::bytecode::Instruction {
        op: Arc::from("explain"),
        args: Vec::new(),
    });
    let trs = g
        .run(&bc, &RunOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    trs.iter()
        .map(|t| format!("{:?}", t.value))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn call(g: &Executor<RoutedKv>, text: &str) -> Vec<String> {
    run(g, text).await.0
}

async fn wait_ready(host: &CoreHost) {
    let cat = host.cluster().index_catalog();
    for _ in 0..5000 {
        let all = cat
            .defs()
            .iter()
            .all(|d| cat.status(&d.name).is_some_and(|s| s.0 == "ready"));
        if all {
            return;
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    panic!("indexes not ready in time");
}

fn create_all() -> &'static [&'static str] {
    &[
        "g.call('coregraph.index.create').with('name', 'age').with('kind', 'vertex').with('keys', 'age')",
        "g.call('aerospike.graph.admin.index.create').with('element_type', 'vertex').with('property_key', '~label')",
        "g.call('coregraph.index.create').with('name', 'name_age').with('kind', 'vertex').with('keys', 'name,age')",
        "g.call('coregraph.index.create').with('name', 'name').with('keys', 'name')",
        "g.call('coregraph.index.create').with('name', 'w').with('kind', 'edge').with('keys', 'w')",
    ]
}

/// Mutations, TTL, sweep and comparisons on `shards` shards (as many cores).
fn random_mutations(shards: u32, seed: u64) {
    let path = std::env::temp_dir().join(format!("cg-ix-{shards}-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(shards)).expect("data dir"));
    let cores = shards as usize;
    let arrived = Arc::new(AtomicUsize::new(0));
    let outs = run_cores(&dir, cores, move |host, core| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            let mut bad = Vec::new();
            let mut reads = (0u64, 0u64);
            if core == 0 {
                let mut r = Rng(seed | 1);
                for _ in 0..150 {
                    let _ = g
                        .run(
                            &gremlin::parser::parse(&mutation(&mut r), &|_| None).expect("parses"),
                            &RunOptions::default(),
                        )
                        .await;
                }
                g.set_frontier(true);
                reads.0 = run(&g, "g.V().has('age', 7).id()")
                    .await
                    .1
                    .expect("frontier");
                // Created over existing data through the services, while writes continue.
                for c in create_all() {
                    let out = call(&g, c).await;
                    assert_eq!(out.len(), 1, "{c}: {out:?}");
                }
                let listed = call(&g, "g.call('coregraph.index.list')").await;
                assert_eq!(listed.len(), create_all().len(), "{listed:?}");
                let dup = gremlin::parser::parse(create_all()[0], &|_| None).expect("parses");
                assert!(
                    g.run(&dup, &RunOptions::default()).await.is_err(),
                    "duplicate accepted"
                );
                for _ in 0..150 {
                    let _ = g
                        .run(
                            &gremlin::parser::parse(&mutation(&mut r), &|_| None).expect("parses"),
                            &RunOptions::default(),
                        )
                        .await;
                }
                wait_ready(&host).await;
                let st = call(&g, "g.call('coregraph.index.status').with('name', 'age')").await;
                assert!(st.iter().any(|s| s.contains("ready")), "{st:?}");
                reads.1 = run(&g, "g.V().has('age', 7).id()")
                    .await
                    .1
                    .expect("frontier");
                bad.extend(compare(&g, "after build").await);
                // explain() names the start chosen on this core's shards.
                let ex = explain(&g, "g.V().has('age', gt(1000)).count()").await;
                assert!(ex.contains("index age ("), "{ex}");
                let ex = explain(&g, "g.V().count()").await;
                assert!(ex.contains("counters ("), "{ex}");
                call(
                    &g,
                    "g.addV('a').property(id, 900).as('x').addE('knows').to('x').property('w', 77)",
                )
                .await;
                let ex = explain(&g, "g.E().has('w', 78).count()").await;
                let st = call(&g, "g.call('coregraph.index.status').with('name', 'w')").await;
                let ids = call(&g, "g.E().has('w', 77).id()").await;
                assert!(ex.contains("index w ("), "{ex} {st:?} {ids:?}");
                let ex = explain(&g, "g.V().has('name', neq('q')).count()").await;
                assert!(ex.contains("full scan"), "{ex}");
                for round in 0..4 {
                    for _ in 0..60 {
                        let _ = g
                            .run(
                                &gremlin::parser::parse(&mutation(&mut r), &|_| None)
                                    .expect("parses"),
                                &RunOptions::default(),
                            )
                            .await;
                    }
                    bad.extend(compare(&g, &format!("round {round}")).await);
                }
                // TTL: vertices that expire in 2 s, counted until then and not after
                // (before and after the sweep).
                let model = Model::new(
                    host.kv(),
                    KeySpace::new("g").expect("ks"),
                    small(),
                    Box::new(SystemClock),
                )
                .expect("model");
                let now = model.now_s();
                for i in 0..10i64 {
                    let id = ElementId::Int {
                        value: 500 + i,
                        width: IntWidth::Long,
                    };
                    model
                        .add_vertex(id.clone(), "a", now + 2)
                        .await
                        .expect("ttl vertex");
                    model
                        .set_vertex_property(
                            &id,
                            gremlin::graph::Cardinality::Single,
                            "age",
                            gremlin::value::Value::Int(7),
                            gremlin::value::Value::Long(9_000 + i),
                            Vec::new(),
                        )
                        .await
                        .expect("ttl property");
                }
                bad.extend(compare(&g, "ttl live").await);
                let (n, _) = run(&g, "g.V().count()").await;
                glommio::timer::sleep(Duration::from_millis(3100)).await;
                bad.extend(compare(&g, "ttl expired").await);
                let (n2, reads_count) = run(&g, "g.V().count()").await;
                assert_ne!(n, n2, "expired vertices still counted");
                assert_eq!(reads_count, Some(0), "count read records: counters unused");
                let (_, e_reads) = run(&g, "g.E().count()").await;
                assert_eq!(
                    e_reads,
                    Some(0),
                    "E().count() read records: counters unused"
                );
                model.expire().await.expect("sweep");
                bad.extend(compare(&g, "ttl swept").await);
            }
            barrier(&arrived, cores).await;
            (bad, reads)
        }
    });
    let mut all = Vec::new();
    for (bad, reads) in &outs {
        all.extend(bad.iter().cloned());
        let _ = reads;
    }
    let (scan, indexed) = outs[0].1;
    assert!(
        indexed < scan,
        "index path read {indexed} records, scan {scan}"
    );
    assert!(all.is_empty(), "{all:#?}");
    // Restart: definitions persist, contents are rebuilt at open.
    let arrived = Arc::new(AtomicUsize::new(0));
    let outs = run_cores(&dir, cores, move |host, core| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            let mut bad = Vec::new();
            if core == 0 {
                wait_ready(&host).await;
                let listed = call(&g, "g.call('coregraph.index.list')").await;
                assert_eq!(listed.len(), create_all().len(), "{listed:?}");
                bad.extend(compare(&g, "after restart").await);
                let d = call(&g, "g.call('coregraph.index.drop').with('name', 'age')").await;
                assert_eq!(d.len(), 1);
                bad.extend(compare(&g, "after drop").await);
            }
            barrier(&arrived, cores).await;
            bad
        }
    });
    let all: Vec<String> = outs.into_iter().flatten().collect();
    assert!(all.is_empty(), "{all:#?}");
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn indexes_equal_scans_on_one_shard() {
    random_mutations(1, 21);
    random_mutations(1, 31);
}

#[test]
fn indexes_equal_scans_on_two_shards() {
    random_mutations(2, 22);
    random_mutations(2, 32);
}

/// `out().has(k, v)` / `outE().has(k, v)` on a supernode use a ready secondary index on the
/// neighbours (or edges): the same answer as the scan and as the attempts executor, fewer
/// records read, and explain() names the choice.
#[test]
fn supernode_has_after_a_vertex_step_uses_an_index() {
    let path = std::env::temp_dir().join(format!("cg-ix-mid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let dir = Arc::new(DataDir::open_or_create(&path, &opts(2)).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let outs = run_cores(&dir, 2, move |host, core| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            let mut bad = Vec::new();
            if core == 0 {
                call(&g, "g.addV('a').property(id, 1)").await;
                // 60 neighbours (a supernode with small(): 2 edge cache entries), names
                // n0..n9 and edge weights 0..9, and 20 other vertices named n3.
                for i in 0..60 {
                    call(
                        &g,
                        &format!(
                            "g.addV('a').property(id, {}).property('name', 'n{}').as('x').\
                             V(1).addE('knows').to('x').property('w', {})",
                            100 + i,
                            i % 10,
                            i % 10
                        ),
                    )
                    .await;
                }
                for i in 0..20 {
                    call(
                        &g,
                        &format!(
                            "g.addV('a').property(id, {}).property('name', 'n3')",
                            500 + i
                        ),
                    )
                    .await;
                }
                // No index yet: the strategy must not add the coordinator's probe round.
                let text = "g.V(1).out().has('name', 'n3').id()";
                let without = text.replacen(
                    "g.",
                    "g.withoutStrategies(SupernodePredicatePushdownStrategy).",
                    1,
                );
                let (with_msgs, without_msgs) =
                    (messages(&g, text).await, messages(&g, &without).await);
                if with_msgs != without_msgs {
                    bad.push(format!(
                        "{text} without an index: {with_msgs:?} cross-core messages, {without_msgs:?} without the strategy"
                    ));
                }
                call(
                    &g,
                    "g.call('coregraph.index.create').with('name', 'name').with('keys', 'name')",
                )
                .await;
                call(&g, "g.call('coregraph.index.create').with('name', 'w').with('kind', 'edge').with('keys', 'w')").await;
                wait_ready(&host).await;
                for text in [
                    "g.V(1).out().has('name', 'n3').id()",
                    "g.V(1).out().has('name', within('n1', 'n2')).values('name')",
                    "g.V(1).outE().has('w', 3).id()",
                    "g.V(1).both().has('name', 'n7').count()",
                ] {
                    let without = text.replacen(
                        "g.",
                        "g.withoutStrategies(SupernodePredicatePushdownStrategy).",
                        1,
                    );
                    let (with_ans, with_reads) = run(&g, text).await;
                    let (without_ans, without_reads) = run(&g, &without).await;
                    g.set_frontier(false);
                    let (want, _) = run(&g, text).await;
                    g.set_frontier(true);
                    if with_ans != want || without_ans != want || with_ans.is_empty() {
                        bad.push(format!(
                            "{text}: with {with_ans:?} without {without_ans:?} attempts {want:?}"
                        ));
                    }
                    match (with_reads, without_reads) {
                        (Some(a), Some(b)) if a < b => {}
                        other => bad.push(format!("{text}: records read {other:?}")),
                    }
                }
                let ex = explain(&g, "g.V(1).out().has('name', 'n3').id()").await;
                if !ex.contains("supernode:indexCandidates(name)") {
                    bad.push(format!("explain: {ex}"));
                }
                let ex = explain(
                    &g,
                    "g.withoutStrategies(SupernodePredicatePushdownStrategy).V(1).out().has('name', 'n3').id()",
                )
                .await;
                if ex.contains("indexCandidates") {
                    bad.push(format!("explain without: {ex}"));
                }
            }
            barrier(&arrived, 2).await;
            bad
        }
    });
    let all: Vec<String> = outs.into_iter().flatten().collect();
    assert!(all.is_empty(), "{all:#?}");
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}
