//! Tests of the frontier path without glommio: a fake cluster of 1, 2 and 4 "cores" over one
//! in-memory store, where each core may read only the records it owns (the owner-side
//! [`ReadKv`](super::owner::ReadKv) refuses the others, so a plan that needed a remote record
//! would fail). Answers must equal the attempts executor's on seeded random graphs, with
//! the default model settings and with tiny edge caches and packs (supernode paths).

use std::cell::Cell;
use std::sync::Arc;

use futures_lite::future::block_on;
use gremlin::bytecode::Bytecode;
use gremlin::machine::{Limits, Traverser};
use gremlin::value::{Edge, GraphData, Property, Value, Vertex, VertexProperty};
use gremlin::GremlinError;

use super::coord::{self, Transport};
use super::{owner, plan, Batch, CountTail, FrontierStats, Need, Query, Reply};
use crate::exec::{Executor, RunOptions};
use crate::model::keys::KeySpace;
use crate::model::kv::{Digest, Got, Kv, KvError, MemKv, WriteMode};
use crate::model::ops::{Model, SystemClock};
use crate::model::ModelConfig;

fn bc(text: &str) -> Bytecode {
    match gremlin::parser::parse(text, &|_: &str| None) {
        Ok(b) => b,
        Err(e) => panic!("{text}: {e}"),
    }
}

/// `cores` fake cores over one store: a digest belongs to core `partition % cores`.
struct Fake<'a> {
    kv: &'a MemKv,
    cores: usize,
    me: usize,
}

impl Fake<'_> {
    fn owner(&self, d: &Digest) -> usize {
        d.partition() as usize % self.cores
    }
}

/// One core's records only (so a scan lists only its own).
struct CoreKv<'a> {
    kv: &'a MemKv,
    cores: usize,
    core: usize,
}

impl Kv for CoreKv<'_> {
    async fn get(&self, d: &Digest) -> Result<Option<Got>, KvError> {
        self.kv.get(d).await
    }
    async fn put(&self, _: &Digest, _: &[u8], _: WriteMode) -> Result<u16, KvError> {
        Err(KvError::Store("read-only".into()))
    }
    async fn delete(&self, _: &Digest, _: WriteMode) -> Result<bool, KvError> {
        Err(KvError::Store("read-only".into()))
    }
    fn scan(&self) -> Vec<Digest> {
        self.kv
            .scan()
            .into_iter()
            .filter(|d| d.partition() as usize % self.cores == self.core)
            .collect()
    }
}

impl Transport for Fake<'_> {
    fn core(&self) -> usize {
        self.me
    }
    fn owner_core(&self, d: &Digest) -> usize {
        self.owner(d)
    }
    async fn process(
        &self,
        core: usize,
        q: &Arc<Query>,
        batch: Batch,
    ) -> Result<Reply, GremlinError> {
        let cores = self.cores;
        let kv = CoreKv {
            kv: self.kv,
            cores,
            core,
        };
        owner::process(kv, |d| d.partition() as usize % cores == core, q, batch).await
    }
}

/// A seeded generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A random graph: `n` vertices (labels a/b, names, ages on most), edges knows/likes with a
/// weight, and vertex 0 a supernode.
fn random_graph(seed: u64, n: i64, edges: usize) -> GraphData {
    let mut r = Rng(seed | 1);
    let mut g = GraphData::default();
    let mut pid = 10_000i64;
    for i in 0..n {
        let mut props = vec![VertexProperty {
            id: Value::Long(pid),
            key: Arc::from("name"),
            value: Value::String(Arc::from(format!("v{}", r.below(8)).as_str())),
            properties: None,
        }];
        pid += 1;
        if r.below(4) != 0 {
            props.push(VertexProperty {
                id: Value::Long(pid),
                key: Arc::from("age"),
                value: Value::Int(r.below(50) as i32),
                properties: None,
            });
            pid += 1;
        }
        g.vertices.push(Vertex {
            id: Value::Long(i),
            label: Arc::from(if r.below(3) == 0 { "b" } else { "a" }),
            properties: Some(props),
        });
    }
    let label_of = |g: &GraphData, i: i64| -> Arc<str> {
        g.vertices
            .get(i as usize)
            .map_or(Arc::from("a"), |v| v.label.clone())
    };
    for e in 0..edges {
        let out = if e % 5 == 0 {
            0
        } else {
            r.below(n as u64) as i64
        };
        let in_ = if e % 7 == 0 {
            0
        } else {
            r.below(n as u64) as i64
        };
        g.edges.push(Edge {
            id: Value::Long(100_000 + e as i64),
            label: Arc::from(if r.below(2) == 0 { "knows" } else { "likes" }),
            out_v_id: Value::Long(out),
            out_v_label: label_of(&g, out),
            in_v_id: Value::Long(in_),
            in_v_label: label_of(&g, in_),
            properties: Some(vec![Property {
                key: Arc::from("w"),
                value: Value::Int(r.below(10) as i32),
            }]),
        });
    }
    g
}

fn small() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 2,
        indexed_edge_keys: Vec::new(),
    }
}

/// The traversals both paths run (all of the frontier shape).
pub(crate) const TRAVERSALS: &[&str] = &[
    "g.V()",
    "g.V().count()",
    "g.V(0)",
    "g.V(1, 2, 2, 99999)",
    "g.V(0).out()",
    "g.V(0).out().count()",
    "g.V(0).out().limit(3).count()",
    "g.V(0).both().range(1, 4).count()",
    "g.V(0).in().count()",
    "g.V(0).both().count()",
    "g.V(3).out('knows').values('name')",
    "g.V(3).in('likes', 'knows').id()",
    "g.V(0).out().out().count()",
    "g.V(0).out().out().dedup().count()",
    "g.V(0).both().both().dedup().count()",
    "g.V(0).in().in().dedup()",
    "g.V(1).out().out().label()",
    "g.V().out().count()",
    "g.V().both('knows').dedup().count()",
    "g.V().hasLabel('b').out().values('age')",
    "g.V().has('age', gt(25)).in('knows').id()",
    "g.V().has('age').out().hasNot('age').count()",
    "g.V().hasId(within(1, 2, 3)).both().has('name', 'v3').count()",
    "g.V(0).outE()",
    "g.V(0).inE('likes').count()",
    "g.V(0).bothE().has('w', lt(5)).otherV().dedup().count()",
    "g.V(2).outE().inV().values('name')",
    "g.V(2).inE().outV().id()",
    "g.V(4).bothE().bothV().count()",
    "g.V().outE('knows').has('w', 3).inV().hasLabel('a').count()",
    "g.V(0).out().values('name').dedup()",
    "g.V(0).out().id().fold()",
    "g.V().values('age').max()",
    "g.V(0).out().out().values('age').max()",
    "g.V().hasLabel('nope').count()",
    "g.V(0).outE().label().dedup()",
    "g.V(5).out().out().out().count()",
    "g.E(100000, 100003, 100003, 5)",
    "g.V(1i, 2i).id()",
    "g.V(3i).out().id()",
    "g.V(3i, 4i).hasId(3L).id()",
    "g.E(100001, 100002).inV().values('name')",
    "g.E(100004).otherV().out().count()",
    "g.E(100000, 100007).has('w', gt(3)).bothV().id()",
    "g.V(0).outE().has('w', gt(2)).inV().values('age')",
    "g.V().has('name', 'v3').out().values('name', 'age')",
    "g.V(0).out().hasNot('age').values('name')",
    "g.V(2).bothE().values('w')",
];

/// The answer as a multiset (the frontier path does not keep the attempts executor's
/// order, which these unordered traversals do not define): a list (from `fold`) as its
/// sorted elements too.
fn expand(trs: &[Traverser]) -> Vec<String> {
    let mut v = Vec::new();
    for t in trs {
        let s = match &t.value {
            Value::List(l) => {
                let mut e: Vec<String> = l.iter().map(|x| format!("{x:?}")).collect();
                e.sort();
                format!("List{e:?}")
            }
            other => format!("{other:?}"),
        };
        for _ in 0..t.bulk {
            v.push(s.clone());
        }
    }
    v.sort();
    v
}

async fn frontier_run(
    kv: &MemKv,
    cfg: &ModelConfig,
    cores: usize,
    me: usize,
    text: &str,
) -> Result<(Vec<Traverser>, FrontierStats), GremlinError> {
    frontier_run_at(kv, cfg, cores, me, text, None, 1).await
}

/// [`frontier_run`] at clock reading `now_s`, with the plan's random seed fixed to `seed`
/// when given.
async fn frontier_run_at(
    kv: &MemKv,
    cfg: &ModelConfig,
    cores: usize,
    me: usize,
    text: &str,
    seed: Option<u64>,
    now_s: u32,
) -> Result<(Vec<Traverser>, FrontierStats), GremlinError> {
    let b = bc(text);
    let mut p = plan::plan(&b, Limits::default()).unwrap_or_else(|| panic!("{text}: no plan"));
    if let Some(seed) = seed {
        p.seed = seed;
    }
    let q = Arc::new(Query {
        plan: p,
        space: KeySpace::new("g").unwrap(),
        model: cfg.clone(),
        now_s,
        deadline: None,
        traversers_max: Limits::default().traversers_max,
        cancelled: Default::default(),
    });
    let fake = Fake { kv, cores, me };
    coord::run(&fake, q, &b, Limits::default(), None, cores, None).await
}

fn loaded(cfg: &ModelConfig, g: &GraphData) -> Executor<MemKv> {
    let model = Model::new(
        MemKv::new(),
        KeySpace::new("g").unwrap(),
        cfg.clone(),
        Box::new(SystemClock),
    )
    .unwrap();
    let ex = Executor::new(model, Limits::default());
    block_on(ex.load(g)).unwrap();
    ex
}

#[test]
fn answers_equal_the_attempts_executor() {
    for (seed, cfg) in [(7u64, ModelConfig::default()), (11, small()), (12, small())] {
        let g = random_graph(seed, 40, 160);
        let ex = loaded(&cfg, &g);
        for text in TRAVERSALS {
            let want = block_on(ex.run(&bc(text), &RunOptions::default()))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            for cores in [1, 2, 4] {
                let (got, _) = block_on(frontier_run(&ex.model.kv, &cfg, cores, 0, text))
                    .unwrap_or_else(|e| panic!("{text} on {cores} cores: {e}"));
                assert_eq!(
                    expand(&got),
                    expand(&want),
                    "{text} on {cores} cores, seed {seed}"
                );
            }
        }
    }
}

#[test]
fn limit_answers_a_subset_of_the_full_answer() {
    let cfg = small();
    let g = random_graph(5, 30, 120);
    let ex = loaded(&cfg, &g);
    for (limited, full, n) in [
        ("g.V(0).out().limit(3)", "g.V(0).out()", 3usize),
        (
            "g.V().out().values('name').limit(7)",
            "g.V().out().values('name')",
            7,
        ),
        ("g.V().both().limit(1000)", "g.V().both()", 1000),
    ] {
        let all = expand(&block_on(ex.run(&bc(full), &RunOptions::default())).unwrap());
        for cores in [1, 2, 4] {
            let (got, _) = block_on(frontier_run(&ex.model.kv, &cfg, cores, 1 % cores, limited))
                .unwrap_or_else(|e| panic!("{limited}: {e}"));
            let got = expand(&got);
            assert_eq!(got.len(), n.min(all.len()), "{limited} on {cores} cores");
            let mut rest = all.clone();
            for v in &got {
                let i = rest
                    .iter()
                    .position(|x| x == v)
                    .unwrap_or_else(|| panic!("{limited}: {v} not in the full answer"));
                rest.swap_remove(i);
            }
        }
    }
}

#[test]
fn shapes_outside_the_plan_fall_back() {
    for text in [
        "g.V().out().path()",
        "g.V().as('a').out().select('a')",
        "g.V().order().by('name')",
        "g.V().repeat(out()).times(2)",
        "g.V().where(out())",
        "g.addV('x')",
        "g.V().property('a', 1)",
        "g.withSideEffect('x', 1).V()",
        "g.V().out().has('name', out())",
        "g.E()",
        "g.E(1).property('w', 1)",
        "g.V().outV()",
        "g.V().values('name').out()",
        "g.inject(1)",
        "g.V().group().by('name')",
        "g.V().values('age').sum()",
    ] {
        assert!(
            plan::plan(&bc(text), Limits::default()).is_none(),
            "{text} must fall back"
        );
    }
    // has(label, key, value) compiles to two plain has() filters, which the plan takes.
    assert!(plan::plan(&bc("g.V().has('person', 'name', 'x')"), Limits::default()).is_some());
    let p = plan::plan(&bc("g.V(1).out().count()"), Limits::default()).unwrap();
    assert_eq!(p.need, Need::Bulk);
    let p = plan::plan(&bc("g.V(1).out().dedup().count()"), Limits::default()).unwrap();
    assert_eq!(p.need, Need::Identity);
    // Count-only tails are answered without the coordinator's machine; anything else runs it
    // (the equivalence with the attempts executor is checked by the differential tests).
    for (text, tail) in [
        ("g.V(1).out().count()", Some(CountTail::Bulk)),
        (
            "g.V(1).out().out().dedup().count()",
            Some(CountTail::Distinct),
        ),
        (
            "g.V(1).out().out().dedup().count().profile()",
            Some(CountTail::Distinct),
        ),
        ("g.V(1).out().dedup().by('name').count()", None),
        ("g.V(1).out().limit(2).count()", None),
        ("g.V(1).out().dedup()", None),
        ("g.V(1).out().values('name').dedup().count()", None),
    ] {
        // (No plan at all also means the machine.)
        let got = plan::plan(&bc(text), Limits::default()).and_then(|p| p.count_tail);
        assert_eq!(got, tail, "{text}");
    }
    let p = plan::plan(&bc("g.V(1).out().limit(2)"), Limits::default()).unwrap();
    assert_eq!(p.stop_after, Some(2));
}

#[test]
fn one_and_two_hop_costs_are_bounded() {
    // Vertex 0 has many neighbours; counts need no visit to out-neighbours.
    let cfg = ModelConfig::default();
    let g = random_graph(3, 60, 300);
    let ex = loaded(&cfg, &g);
    for cores in [2usize, 4] {
        let degree = |text: &str| -> u64 {
            let v = block_on(ex.run(&bc(text), &RunOptions::default())).unwrap();
            match v.first().map(|t| &t.value) {
                Some(Value::Long(n)) => *n as u64,
                other => panic!("{other:?}"),
            }
        };
        let n1 = degree("g.V(0).out().count()");
        let (_, s) = block_on(frontier_run(
            &ex.model.kv,
            &cfg,
            cores,
            cores - 1,
            "g.V(0).out().count()",
        ))
        .unwrap();
        // The vertex, its packs (at most one per neighbour): nothing else.
        assert!(
            s.reads_total() <= 1 + n1,
            "one hop read {}",
            s.reads_total()
        );
        assert!(
            s.messages_total() <= 2 * (cores as u64 - 1),
            "one hop sent {}",
            s.messages_total()
        );
        let two = "g.V(0).out().out().dedup().count()";
        let distinct1 = degree("g.V(0).out().dedup().count()");
        let n2 = degree("g.V(0).out().out().count()");
        let (_, s) = block_on(frontier_run(&ex.model.kv, &cfg, cores, 0, two)).unwrap();
        assert!(
            s.reads_total() <= 1 + n1 + distinct1 + n2,
            "two hops read {}",
            s.reads_total()
        );
        // Start + one round per hop, each one request and one reply per other core and batch.
        assert!(
            s.messages_total() <= 2 * 2 * (cores as u64 - 1),
            "two hops sent {}",
            s.messages_total()
        );
        assert!(s.rounds <= 3, "{} rounds", s.rounds);
    }
}

#[test]
fn profile_reports_reads_and_messages_per_step() {
    let cfg = ModelConfig::default();
    let g = random_graph(9, 30, 100);
    let ex = loaded(&cfg, &g);
    let (got, stats) = block_on(frontier_run(
        &ex.model.kv,
        &cfg,
        4,
        0,
        "g.V(0).out().out().count().profile()",
    ))
    .unwrap();
    let [t] = got.as_slice() else {
        panic!("{got:?}")
    };
    let Value::Metrics(m) = &t.value else {
        panic!("{:?}", t.value)
    };
    assert_eq!(m.metrics.len(), 4, "{m:?}");
    let mut reads = 0;
    let mut messages = 0;
    for s in &m.metrics {
        let get = |k: &str| {
            s.counts
                .iter()
                .find(|(n, _)| &**n == k)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{k} missing in {s:?}"))
        };
        reads += get("recordsRead");
        messages += get("crossCoreMessages");
    }
    assert_eq!(reads as u64, stats.reads_total());
    assert_eq!(messages as u64, stats.messages_total());
    assert!(reads > 0);
}

#[test]
fn deadline_and_limits_stop_the_query() {
    let cfg = ModelConfig::default();
    let g = random_graph(2, 30, 200);
    let ex = loaded(&cfg, &g);
    let b = bc("g.V().both().both().both().count()");
    let mut q = Query {
        plan: plan::plan(&b, Limits::default()).unwrap(),
        space: KeySpace::new("g").unwrap(),
        model: cfg.clone(),
        now_s: 1,
        deadline: Some(std::time::Instant::now() - std::time::Duration::from_secs(1)),
        traversers_max: 1_000_000,
        cancelled: Default::default(),
    };
    let fake = Fake {
        kv: &ex.model.kv,
        cores: 2,
        me: 0,
    };
    let r = block_on(coord::run(
        &fake,
        Arc::new(q.clone_for_test()),
        &b,
        Limits::default(),
        None,
        2,
        None,
    ));
    assert!(
        matches!(r, Err(GremlinError::Runtime(ref m)) if m.contains("time limit")),
        "{r:?}"
    );
    q.deadline = None;
    let cancel = Some(std::rc::Rc::new(Cell::new(true)));
    let r = block_on(coord::run(
        &fake,
        Arc::new(q.clone_for_test()),
        &b,
        Limits::default(),
        cancel,
        2,
        None,
    ));
    assert!(
        matches!(r, Err(GremlinError::Runtime(ref m)) if m.contains("cancelled")),
        "{r:?}"
    );
    q.traversers_max = 5;
    let r = block_on(coord::run(
        &fake,
        Arc::new(q),
        &b,
        Limits::default(),
        None,
        2,
        None,
    ));
    assert!(
        matches!(
            r,
            Err(GremlinError::LimitExceeded {
                limit: "traversers_max",
                ..
            })
        ),
        "{r:?}"
    );
}

impl Query {
    fn clone_for_test(&self) -> Query {
        Query {
            plan: self.plan.clone(),
            space: self.space.clone(),
            model: self.model.clone(),
            now_s: self.now_s,
            deadline: self.deadline,
            traversers_max: self.traversers_max,
            cancelled: Default::default(),
        }
    }
}

#[test]
fn a_scan_larger_than_the_traverser_limit_still_counts() {
    let cfg = ModelConfig::default();
    let g = random_graph(4, 40, 60);
    let ex = loaded(&cfg, &g);
    let fake = Fake {
        kv: &ex.model.kv,
        cores: 2,
        me: 0,
    };
    for (text, ok) in [("g.V().count()", true), ("g.V()", false)] {
        let b = bc(text);
        let q = Query {
            plan: plan::plan(&b, Limits::default()).unwrap(),
            space: KeySpace::new("g").unwrap(),
            model: cfg.clone(),
            now_s: 1,
            deadline: None,
            traversers_max: 5,
            cancelled: Default::default(),
        };
        let r = block_on(coord::run(
            &fake,
            Arc::new(q),
            &b,
            Limits::default(),
            None,
            2,
            None,
        ));
        match r {
            Ok((trs, _)) if ok => assert_eq!(
                trs.first().map(|t| t.value.clone()),
                Some(Value::Long(40)),
                "{text}"
            ),
            Err(GremlinError::LimitExceeded { .. }) if !ok => {}
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// The frontier answer (as a multiset) and the records it read, on `cores` cores at `now_s`.
fn answer_and_reads(
    kv: &MemKv,
    cfg: &ModelConfig,
    cores: usize,
    now_s: u32,
    text: &str,
) -> (Vec<String>, u64) {
    let b = bc(text);
    let p = plan::plan(&b, Limits::default()).unwrap_or_else(|| panic!("{text}: no plan"));
    let q = Arc::new(Query {
        plan: p,
        space: KeySpace::new("g").unwrap(),
        model: cfg.clone(),
        now_s,
        deadline: None,
        traversers_max: Limits::default().traversers_max,
        cancelled: Default::default(),
    });
    let fake = Fake { kv, cores, me: 0 };
    let (trs, stats) = block_on(coord::run(
        &fake,
        q,
        &b,
        Limits::default(),
        None,
        cores,
        None,
    ))
    .unwrap_or_else(|e| panic!("{text} on {cores} cores: {e}"));
    (expand(&trs), stats.reads_total())
}

/// Whether `got` is `n` values out of the multiset `all` (what a `limit(n)` may answer:
/// the frontier path does not promise the attempts executor's pick).
fn limited_subset(got: &[String], all: &[String], n: usize) -> bool {
    let mut rest = all.to_vec();
    got.len() == n.min(all.len())
        && got.iter().all(|v| match rest.iter().position(|x| x == v) {
            Some(i) => {
                rest.swap_remove(i);
                true
            }
            None => false,
        })
}

/// `text` with and without `strategy`: the same answer as the attempts executor (for a
/// `limit(n)`: n values of the unlimited answer), and fewer records read with it on every
/// core count.
fn fewer_reads_with(ex: &Executor<MemKv>, cfg: &ModelConfig, strategy: &str, text: &str) {
    let without = text.replacen("g.", &format!("g.withoutStrategies({strategy})."), 1);
    let limited = text.rsplit_once(".limit(").and_then(|(full, n)| {
        Some((
            full.to_string(),
            n.strip_suffix(')')?.parse::<usize>().ok()?,
        ))
    });
    let want = match &limited {
        Some((full, _)) => expand(&block_on(ex.run(&bc(full), &RunOptions::default())).unwrap()),
        None => expand(&block_on(ex.run(&bc(text), &RunOptions::default())).unwrap()),
    };
    for cores in [1usize, 2, 4] {
        let (with_ans, with_reads) = answer_and_reads(&ex.model.kv, cfg, cores, 1, text);
        let (without_ans, without_reads) = answer_and_reads(&ex.model.kv, cfg, cores, 1, &without);
        if let Some((_, n)) = limited {
            assert!(
                limited_subset(&with_ans, &want, n),
                "{text} on {cores} cores: {with_ans:?}"
            );
            assert!(
                limited_subset(&without_ans, &want, n),
                "{without} on {cores} cores: {without_ans:?}"
            );
        } else {
            assert_eq!(with_ans, want, "{text} on {cores} cores");
            assert_eq!(without_ans, want, "{without} on {cores} cores");
        }
        assert!(
            with_reads < without_reads,
            "{strategy}: {text} read {with_reads} records, {without_reads} without it ({cores} cores)"
        );
    }
}

#[test]
fn each_strategy_reads_fewer_records_for_the_same_answer() {
    let g = random_graph(21, 50, 260);
    let mut indexed = small();
    indexed.indexed_edge_keys = vec![Arc::from("w")];
    for cfg in [ModelConfig::default(), small(), indexed.clone()] {
        let ex = loaded(&cfg, &g);
        for (strategy, text) in [
            ("VertexStepFusionStrategy", "g.V(0).out().id()"),
            ("VertexStepFusionStrategy", "g.V(0).in().id()"),
            ("LocalCountStrategy", "g.V(0).out().out().dedup().count()"),
            ("VertexStepFusionStrategy", "g.V(0).both().label()"),
            ("HasPushdownStrategy", "g.V(0).out().hasLabel('b').id()"),
            (
                "HasPushdownStrategy",
                "g.V(3).outE().inV().hasLabel('a').count()",
            ),
            ("LimitPushdownStrategy", "g.V(0).out().limit(2)"),
            ("LimitPushdownStrategy", "g.V(0).outE('knows').limit(1)"),
            ("LocalCountStrategy", "g.V(0).out().count()"),
            ("LocalCountStrategy", "g.V(0).both().count()"),
            ("LocalCountStrategy", "g.V(0).in('likes').count()"),
            ("LocalCountStrategy", "g.V(0).out().out().count()"),
        ] {
            fewer_reads_with(&ex, &cfg, strategy, text);
        }
    }
    // Supernode predicate pushdown needs an indexed edge key and a supernode (vertex 0
    // with tiny edge caches).
    let ex = loaded(&indexed, &g);
    for text in [
        "g.V(0).outE('knows').has('w', gt(6)).count()",
        "g.V(0).outE().has('w', 3).inV().id()",
    ] {
        fewer_reads_with(&ex, &indexed, "SupernodePredicatePushdownStrategy", text);
    }
}

#[test]
fn local_counts_skip_expired_edges_and_count_self_loops_twice() {
    use crate::model::keys::ElementId;
    use crate::model::ops::ManualClock;
    let kv = MemKv::new();
    let cfg = small();
    let id = |n: i64| ElementId::from_value(&Value::Long(n), "Vertex").unwrap();
    {
        let m = Model::new(
            &kv,
            KeySpace::new("g").unwrap(),
            cfg.clone(),
            Box::new(ManualClock(Cell::new(10))),
        )
        .unwrap();
        block_on(async {
            for v in 1..=4 {
                m.add_vertex(id(v), "a", 0).await.unwrap();
            }
            // (edge id, out, in, void time): void 100 expires between the two readings.
            for (e, o, i, void) in [
                (10, 1, 2, 0),
                (11, 1, 3, 100),
                (12, 3, 1, 100),
                (13, 1, 1, 0),
                (14, 4, 1, 0),
                (15, 1, 1, 100),
                (16, 2, 1, 0),
            ] {
                m.add_edge(id(e), "x", &id(o), &id(i), void).await.unwrap();
            }
        });
    }
    // Counted from the table above: live out-edges of 1 and live in-edges of 1 (a
    // self-loop is both, so both() meets it twice).
    let live = |now: u32| -> (usize, usize) {
        let edges = [
            (1, 2, 0),
            (1, 3, 100),
            (3, 1, 100),
            (1, 1, 0),
            (4, 1, 0),
            (1, 1, 100),
            (2, 1, 0),
        ];
        let alive: Vec<_> = edges.iter().filter(|e| e.2 == 0 || e.2 > now).collect();
        (
            alive.iter().filter(|e| e.0 == 1).count(),
            alive.iter().filter(|e| e.1 == 1).count(),
        )
    };
    for now in [50u32, 150] {
        let (outs, ins) = live(now);
        for (text, n) in [
            ("g.V(1).both().count()", outs + ins),
            ("g.V(1).bothE().count()", outs + ins),
            ("g.V(1).out().count()", outs),
            ("g.V(1).inE().count()", ins),
            ("g.V(1).in('x').count()", ins),
        ] {
            let want = vec![format!("{:?}", Value::Long(n as i64))];
            let without = text.replacen("g.", "g.withoutStrategies(LocalCountStrategy).", 1);
            for cores in [1usize, 2, 4] {
                let (got, _) = answer_and_reads(&kv, &cfg, cores, now, text);
                assert_eq!(got, want, "{text} at {now} on {cores} cores");
                let (got, _) = answer_and_reads(&kv, &cfg, cores, now, &without);
                assert_eq!(got, want, "{without} at {now} on {cores} cores");
            }
        }
    }
}

#[test]
fn explain_lists_the_applied_strategies_and_without_strategies_removes_one() {
    // gremlin-lang's explain() is a terminal; bytecode carries it as a last `explain` step.
    let explained = |text: &str| {
        let mut b = bc(text);
        b.steps
            .push(gremlin::bytecode::Instruction::new("explain", Vec::new()));
        b
    };
    let p = plan::plan(&explained("g.V(0).out().count()"), Limits::default()).unwrap();
    assert!(p.explain);
    let text = p.explain(&["start: scan".to_string()]);
    assert!(text.starts_with("Traversal Explanation\n"), "{text}");
    assert!(text.contains("Original Traversal"), "{text}");
    assert!(text.contains("VertexStepFusionStrategy"), "{text}");
    assert!(text.contains("LocalCountStrategy"), "{text}");
    assert!(text.contains("Final Traversal"), "{text}");
    assert!(text.ends_with("\nstart: scan"), "{text}");
    let p = plan::plan(
        &explained("g.withoutStrategies(LocalCountStrategy).V(0).out().count()"),
        Limits::default(),
    )
    .unwrap();
    let text = p.explain(&[]);
    assert!(!text.contains("LocalCountStrategy"), "{text}");
    assert!(text.contains("VertexStepFusionStrategy"), "{text}");
    // Through the coordinator: one string, the traversal not run.
    let ex = loaded(&ModelConfig::default(), &random_graph(3, 10, 20));
    let b = explained("g.V(0).out().limit(2)");
    let q = Arc::new(Query {
        plan: plan::plan(&b, Limits::default()).unwrap(),
        space: KeySpace::new("g").unwrap(),
        model: ModelConfig::default(),
        now_s: 1,
        deadline: None,
        traversers_max: 1000,
        cancelled: Default::default(),
    });
    let fake = Fake {
        kv: &ex.model.kv,
        cores: 2,
        me: 0,
    };
    let (got, stats) =
        block_on(coord::run(&fake, q, &b, Limits::default(), None, 2, None)).unwrap();
    assert_eq!(stats.reads_total(), 0);
    match got.first().map(|t| &t.value) {
        Some(Value::String(s)) => assert!(s.contains("LimitPushdownStrategy"), "{s}"),
        other => panic!("{other:?}"),
    }
    // Unknown strategies and other source instructions still fall back.
    for text in [
        "g.withoutStrategies(CountStrategy).V(0).out()",
        "g.withStrategies(ReadOnlyStrategy).V(0).out()",
    ] {
        assert!(plan::plan(&bc(text), Limits::default()).is_none(), "{text}");
    }
}

#[test]
fn profile_counts_traversers_elements_and_bytes_per_step() {
    let cfg = ModelConfig::default();
    let g = random_graph(9, 40, 200);
    let ex = loaded(&cfg, &g);
    let degree = match block_on(ex.run(&bc("g.V(0).out().count()"), &RunOptions::default()))
        .unwrap()
        .first()
        .map(|t| t.value.clone())
    {
        Some(Value::Long(n)) => n,
        other => panic!("{other:?}"),
    };
    let (got, stats) = block_on(frontier_run(
        &ex.model.kv,
        &cfg,
        2,
        0,
        "g.withoutStrategies(LocalCountStrategy).V(0).out().count().profile()",
    ))
    .unwrap();
    let Some(Value::Metrics(m)) = got.first().map(|t| t.value.clone()) else {
        panic!("{got:?}")
    };
    let count = |step: usize, key: &str| -> i64 {
        let s = m
            .metrics
            .get(step)
            .unwrap_or_else(|| panic!("no step {step}"));
        s.counts
            .iter()
            .find(|(n, _)| &**n == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{key} missing in {s:?}"))
    };
    assert_eq!(count(0, "traverserCount"), 1);
    assert_eq!(count(1, "elementCount"), degree);
    assert_eq!(count(2, "traverserCount"), 1);
    assert_eq!(count(2, "elementCount"), 1);
    assert!((0..3).map(|i| count(i, "recordBytesRead")).sum::<i64>() > 0);
    assert_eq!(
        (0..3).map(|i| count(i, "recordsRead")).sum::<i64>() as u64,
        stats.reads_total()
    );
}

/// The frontier answer (as a multiset), the property bytes decoded and the profile's
/// `propertyBytesDecoded` total of `text` on `cores` cores.
fn answer_and_prop_bytes(
    kv: &MemKv,
    cfg: &ModelConfig,
    cores: usize,
    text: &str,
) -> (Vec<String>, u64, i64) {
    let (trs, stats) = block_on(frontier_run(kv, cfg, cores, 0, text))
        .unwrap_or_else(|e| panic!("{text} on {cores} cores: {e}"));
    let profiled = format!("{text}.profile()");
    let (got, _) = block_on(frontier_run(kv, cfg, cores, 0, &profiled))
        .unwrap_or_else(|e| panic!("{profiled} on {cores} cores: {e}"));
    let Some(Value::Metrics(m)) = got.first().map(|t| t.value.clone()) else {
        panic!("{profiled}: {got:?}")
    };
    let decoded: i64 = m
        .metrics
        .iter()
        .map(|s| {
            s.counts
                .iter()
                .find(|(n, _)| &**n == "propertyBytesDecoded")
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{profiled}: no propertyBytesDecoded in {s:?}"))
        })
        .sum();
    (expand(&trs), stats.prop_bytes_total(), decoded)
}

#[test]
fn property_omission_decodes_only_the_properties_read() {
    let g = random_graph(31, 50, 260);
    for cfg in [ModelConfig::default(), small()] {
        let ex = loaded(&cfg, &g);
        // (traversal, whether it reads any property at all)
        for (text, reads_props) in [
            ("g.V(0).out().out().dedup().count()", false),
            ("g.V(0).out().id()", false),
            ("g.V(3).both().both().label()", false),
            ("g.V(0).outE().inV().id()", false),
            ("g.V(0).out().values('name')", true),
            ("g.V(0).out().has('age', gt(20)).id()", true),
            ("g.V(0).outE().has('w', gt(4)).inV().values('name')", true),
        ] {
            let want = expand(&block_on(ex.run(&bc(text), &RunOptions::default())).unwrap());
            let without = text.replacen("g.", "g.withoutStrategies(PropertyOmissionStrategy).", 1);
            for cores in [1usize, 2, 4] {
                let (with_ans, with_bytes, with_prof) =
                    answer_and_prop_bytes(&ex.model.kv, &cfg, cores, text);
                let (without_ans, without_bytes, without_prof) =
                    answer_and_prop_bytes(&ex.model.kv, &cfg, cores, &without);
                assert_eq!(with_ans, want, "{text} on {cores} cores");
                assert_eq!(without_ans, want, "{without} on {cores} cores");
                assert_eq!(
                    with_prof as u64, with_bytes,
                    "{text}: profile and stats differ"
                );
                assert_eq!(
                    without_prof as u64, without_bytes,
                    "{without}: profile and stats"
                );
                assert!(
                    with_bytes < without_bytes,
                    "{text} decoded {with_bytes} property bytes, {without_bytes} without \
                     the strategy ({cores} cores)"
                );
                if !reads_props {
                    assert_eq!(with_bytes, 0, "{text} decoded properties ({cores} cores)");
                } else {
                    assert!(with_bytes > 0, "{text} decoded no property ({cores} cores)");
                }
            }
        }
    }
    // explain() names the strategy and what it keeps; withoutStrategies removes it.
    let explained = |text: &str| {
        let mut b = bc(text);
        b.steps
            .push(gremlin::bytecode::Instruction::new("explain", Vec::new()));
        plan::plan(&b, Limits::default()).unwrap().explain(&[])
    };
    let text = explained("g.V(0).out().values('name')");
    assert!(text.contains("PropertyOmissionStrategy"), "{text}");
    assert!(text.contains("{properties=[\"name\"]}"), "{text}");
    let text = explained("g.withoutStrategies(PropertyOmissionStrategy).V(0).out().values('name')");
    assert!(!text.contains("PropertyOmissionStrategy"), "{text}");
}

/// Runs `text` on the frontier path with the plan's random seed fixed to `seed`.
fn run_seeded(
    kv: &MemKv,
    cfg: &ModelConfig,
    cores: usize,
    text: &str,
    seed: u64,
    now_s: u32,
) -> (Vec<Traverser>, FrontierStats) {
    block_on(frontier_run_at(kv, cfg, cores, 0, text, Some(seed), now_s))
        .unwrap_or_else(|e| panic!("{text} on {cores} cores: {e}"))
}

/// Vertex 0 with out-edges to 1..=`degree` (edge ids 1000 + i) and in-edges from 1..=3
/// (edge ids 2000 + i), which `out()` must never draw.
fn star(degree: i64) -> GraphData {
    let mut g = GraphData::default();
    for i in 0..=degree {
        g.vertices.push(Vertex {
            id: Value::Long(i),
            label: Arc::from("a"),
            properties: Some(vec![VertexProperty {
                id: Value::Long(10_000 + i),
                key: Arc::from("name"),
                value: Value::String(Arc::from(format!("n{i}").as_str())),
                properties: None,
            }]),
        });
    }
    for i in 1..=degree {
        let mut edges = vec![(1000 + i, 0, i)];
        if i <= 3 {
            edges.push((2000 + i, i, 0));
        }
        for (id, out, in_) in edges {
            g.edges.push(Edge {
                id: Value::Long(id),
                label: Arc::from("knows"),
                out_v_id: Value::Long(out),
                out_v_label: Arc::from("a"),
                in_v_id: Value::Long(in_),
                in_v_label: Arc::from("a"),
                properties: None,
            });
        }
    }
    g
}

#[test]
fn sample_after_out_draws_uniformly_and_reads_fewer_records() {
    const DEGREE: i64 = 60;
    const N: usize = 3;
    const RUNS: u64 = 400;
    // 60 out-edges: 6 packs of the default 10, so 3 draws read at most 3 of them. 63
    // entries fit the default edge cache (64); with small() vertex 0 is a supernode whose
    // adjacency comes from the adjacency index.
    let g = star(DEGREE);
    for cfg in [ModelConfig::default(), small()] {
        let ex = loaded(&cfg, &g);
        let kv = &ex.model.kv;
        for (text, key) in [
            ("g.V(0).out().sample(3)", "vertex"),
            ("g.V(0).out().id().sample(3)", "id"),
            ("g.V(0).outE().sample(3)", "edge"),
        ] {
            for cores in [1usize, 2, 4] {
                let mut drawn = vec![0u64; DEGREE as usize + 1];
                for seed in 0..RUNS {
                    let (got, _) = run_seeded(kv, &cfg, cores, text, seed, 1);
                    let mut seen: Vec<i64> = Vec::new();
                    for t in &got {
                        assert_eq!(t.bulk, 1, "{text}: {got:?}");
                        let n = match (&t.value, key) {
                            (Value::Vertex(v), "vertex") => v.id.clone(),
                            (Value::Long(_), "id") => t.value.clone(),
                            (Value::Edge(e), "edge") => {
                                assert_eq!(e.out_v_id, Value::Long(0), "{text}: {e:?}");
                                match &e.id {
                                    Value::Long(id) => Value::Long(id - 1000),
                                    other => panic!("{text}: edge id {other:?}"),
                                }
                            }
                            other => panic!("{text}: {other:?}"),
                        };
                        let Value::Long(n) = n else {
                            panic!("{text}: {n:?}")
                        };
                        // A real out-neighbour (an in-edge's other end is never drawn).
                        assert!((1..=DEGREE).contains(&n), "{text}: {n}");
                        seen.push(n);
                        drawn[n as usize] += 1;
                    }
                    seen.sort_unstable();
                    seen.dedup();
                    assert_eq!(
                        seen.len(),
                        N,
                        "{text} seed {seed} on {cores} cores: {got:?}"
                    );
                }
                // Uniform: each of the 60 neighbours is expected RUNS * 3 / 60 = 20 times.
                // The seeds are fixed, so this cannot flake; the bound (a quarter to twice
                // the expectation) catches a biased or stuck draw.
                let expected = RUNS * N as u64 / DEGREE as u64;
                for (n, c) in drawn.iter().enumerate().skip(1) {
                    assert!(
                        *c >= expected / 4 && *c <= expected * 2,
                        "{text} on {cores} cores: neighbour {n} drawn {c} times of {RUNS}: {drawn:?}"
                    );
                }
            }
            // Fewer records read than sampling at the coordinator, and explain() says so.
            let without = text.replacen("g.", "g.withoutStrategies(LimitPushdownStrategy).", 1);
            for cores in [1usize, 2, 4] {
                let (with_ans, with_stats) = run_seeded(kv, &cfg, cores, text, 5, 1);
                let (without_ans, without_stats) = run_seeded(kv, &cfg, cores, &without, 5, 1);
                assert_eq!(with_ans.len(), N);
                assert_eq!(without_ans.len(), N, "{without}");
                assert!(
                    with_stats.reads_total() < without_stats.reads_total(),
                    "{text} read {} records, {} without the pushdown ({cores} cores)",
                    with_stats.reads_total(),
                    without_stats.reads_total()
                );
            }
        }
    }
    let explained = |text: &str| {
        let mut b = bc(text);
        b.steps
            .push(gremlin::bytecode::Instruction::new("explain", Vec::new()));
        plan::plan(&b, Limits::default()).unwrap().explain(&[])
    };
    let text = explained("g.V(0).out().sample(2)");
    assert!(text.contains("sample=2"), "{text}");
    assert!(text.contains("LimitPushdownStrategy"), "{text}");
    let text = explained("g.withoutStrategies(LimitPushdownStrategy).V(0).out().sample(2)");
    assert!(!text.contains("sample="), "{text}");
    // Not pushed down where a dead in-edge could not be replaced, nor from several starts.
    for text in [
        "g.V(0).in().sample(2)",
        "g.V(0).both().sample(2)",
        "g.V(0, 1).out().sample(2)",
    ] {
        assert!(!explained(text).contains("sample="), "{text}");
    }
}

#[test]
fn sampled_edges_are_live_ones() {
    use crate::model::keys::ElementId;
    use crate::model::ops::ManualClock;
    let kv = MemKv::new();
    let cfg = small();
    let id = |n: i64| ElementId::from_value(&Value::Long(n), "Vertex").unwrap();
    let m = Model::new(
        &kv,
        KeySpace::new("g").unwrap(),
        cfg.clone(),
        Box::new(ManualClock(Cell::new(10))),
    )
    .unwrap();
    block_on(async {
        for v in 0..=8 {
            m.add_vertex(id(v), "a", 0).await.unwrap();
        }
        // Out-edges of 0 to 1..=8; those to even vertices expire at 100 (read at 150).
        for v in 1..=8 {
            let void = if v % 2 == 0 { 100 } else { 0 };
            m.add_edge(id(100 + v), "x", &id(0), &id(v), void)
                .await
                .unwrap();
        }
    });
    for cores in [1usize, 2, 4] {
        for seed in 0..50 {
            // Asking for more than are live: all four live ones, never a dead one.
            let (got, _) = run_seeded(&kv, &cfg, cores, "g.V(0).out().id().sample(6)", seed, 150);
            let mut ids = expand(&got);
            ids.dedup();
            let want: Vec<String> = [1i64, 3, 5, 7]
                .iter()
                .map(|n| format!("{:?}", Value::Long(*n)))
                .collect();
            assert_eq!(ids, want, "seed {seed} on {cores} cores");
        }
    }
}

/// Counts the batches a [`Fake`] evaluated; core `stalled` (if any) never answers.
struct Counting<'a> {
    fake: Fake<'a>,
    batches: Cell<usize>,
    stalled: Option<usize>,
}

impl Transport for Counting<'_> {
    fn core(&self) -> usize {
        self.fake.core()
    }
    fn owner_core(&self, d: &Digest) -> usize {
        self.fake.owner_core(d)
    }
    async fn process(
        &self,
        core: usize,
        q: &Arc<Query>,
        batch: Batch,
    ) -> Result<Reply, GremlinError> {
        if self.stalled == Some(core) {
            futures_lite::future::pending::<()>().await;
        }
        self.batches.set(self.batches.get() + 1);
        self.fake.process(core, q, batch).await
    }
}

fn query(b: &Bytecode, cfg: &ModelConfig) -> Arc<Query> {
    Arc::new(Query {
        plan: plan::plan(b, Limits::default()).unwrap(),
        space: KeySpace::new("g").unwrap(),
        model: cfg.clone(),
        now_s: 1,
        deadline: None,
        traversers_max: 1_000_000,
        cancelled: Default::default(),
    })
}

/// `b` run to its end on 2 cores over `tp` (results gathered).
fn gathered<T: Transport>(tp: &T, b: &Bytecode, cfg: &ModelConfig) -> Vec<Traverser> {
    block_on(coord::run(
        tp,
        query(b, cfg),
        b,
        Limits::default(),
        None,
        2,
        None,
    ))
    .unwrap()
    .0
}

/// Everything a stream's reader gets until the stream ends: the traversers and the number
/// of result batches.
async fn read_all(
    rx: &glommio::channels::local_channel::LocalReceiver<coord::StreamItem>,
) -> (Vec<Traverser>, usize) {
    let mut got = Vec::new();
    let mut items = 0;
    while let Some(item) = rx.recv().await {
        got.extend(item.unwrap());
        items += 1;
    }
    (got, items)
}

#[test]
fn streamed_results_follow_the_reader_and_equal_the_gathered_ones() {
    let cfg = ModelConfig::default();
    // 20 batches of FRONTIER_BATCH_MAX on 2 cores: more than the 3 waves (of
    // FRONTIER_BATCHES_IN_FLIGHT_PER_CORE_MAX per core) that can be evaluated before the
    // coordinator blocks on a full result channel.
    let n = 20_000i64;
    let g = random_graph(5, n, 10);
    let ex = loaded(&cfg, &g);
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let b = bc(&format!("g.V({}).values('name')", ids.join(",")));
    let counting = || Counting {
        fake: Fake {
            kv: &ex.model.kv,
            cores: 2,
            me: 0,
        },
        batches: Cell::new(0),
        stalled: None,
    };
    // Gathered: every batch answered before anything is returned.
    let tp = counting();
    let want = gathered(&tp, &b, &cfg);
    let total = tp.batches.get();
    assert!(total >= 19, "{total} batches");
    assert!(coord::streamable(
        &plan::plan(&b, Limits::default()).unwrap()
    ));
    // Streamed, the reader holding off: the coordinator stops sending work once the
    // channel is full, long before every batch is evaluated.
    let tp = counting();
    let (tx, rx) =
        glommio::channels::local_channel::new_bounded(coord::STREAM_BATCHES_BUFFERED_MAX);
    let (tpr, br, q) = (&tp, &b, query(&b, &cfg));
    let mut run = Box::pin(async move {
        let r = coord::run(tpr, q, br, Limits::default(), None, 2, Some(&tx)).await;
        // The end of the stream.
        drop(tx);
        r
    });
    for _ in 0..100 {
        assert!(block_on(futures_lite::future::poll_once(run.as_mut())).is_none());
    }
    let held = tp.batches.get();
    assert!(
        held < total,
        "{held} of {total} batches evaluated with nobody reading"
    );
    // Reading lets it finish; the results are the gathered ones, none returned at the end.
    let (r, (got, items)) = block_on(futures_lite::future::zip(run, read_all(&rx)));
    let (rest, _) = r.unwrap();
    assert!(rest.is_empty());
    assert!(items > 1, "{items} result batches");
    let (mut got, mut want) = (expand(&got), expand(&want));
    got.sort();
    want.sort();
    assert_eq!(got.len(), n as usize);
    assert_eq!(got, want);
    assert_eq!(tp.batches.get(), total);
    // A barrier after the local part is not streamed.
    let counted = bc("g.V().values('name').count()");
    assert!(!coord::streamable(
        &plan::plan(&counted, Limits::default()).unwrap()
    ));
}

#[test]
fn a_dropped_coordinator_gives_its_query_up_and_owners_stop() {
    let cfg = ModelConfig::default();
    let g = random_graph(6, 200, 600);
    let ex = loaded(&cfg, &g);
    let b = bc("g.V().out().out().values('name')");
    let q = query(&b, &cfg);
    // Core 1 never answers: the coordinator waits; dropping it (the client went away)
    // gives the query up.
    let tp = Counting {
        fake: Fake {
            kv: &ex.model.kv,
            cores: 2,
            me: 0,
        },
        batches: Cell::new(0),
        stalled: Some(1),
    };
    let mut run = Box::pin(coord::run(
        &tp,
        q.clone(),
        &b,
        Limits::default(),
        None,
        2,
        None,
    ));
    assert!(block_on(futures_lite::future::poll_once(run.as_mut())).is_none());
    assert!(!q.cancelled.load(std::sync::atomic::Ordering::Relaxed));
    drop(run);
    assert!(q.cancelled.load(std::sync::atomic::Ordering::Relaxed));
    // An owner handed a batch of a given-up query stops before reading anything.
    let before = ex.model.kv.stats().gets;
    let kv = CoreKv {
        kv: &ex.model.kv,
        cores: 2,
        core: 1,
    };
    let batch = Batch {
        scan: true,
        scan_ord: 1,
        slice: super::ScanSlice::ALL,
        trs: Vec::new(),
    };
    let r = block_on(owner::process(kv, |d| d.partition() % 2 == 1, &q, batch));
    assert!(
        matches!(r, Err(GremlinError::Runtime(ref m)) if m.contains("cancelled")),
        "{r:?}"
    );
    assert_eq!(ex.model.kv.stats().gets, before);
}

#[test]
fn the_coordinator_draws_per_query() {
    let cfg = ModelConfig::default();
    let g = random_graph(7, 40, 100);
    let ex = loaded(&cfg, &g);
    let b = bc("g.V().id().sample(3).fold()");
    let fake = Fake {
        kv: &ex.model.kv,
        cores: 2,
        me: 0,
    };
    let runs: std::collections::HashSet<Vec<String>> = (0..30)
        .map(|_| expand(&gathered(&fake, &b, &cfg)))
        .collect();
    assert!(runs.len() > 1, "every query drew {runs:?}");
}

#[test]
fn scan_slices_cover_every_partition_once() {
    for n in [1usize, 2, 3, 8, 4095, 4096, 5000] {
        let slices: Vec<super::ScanSlice> = (0..n).map(|i| super::ScanSlice::nth(i, n)).collect();
        let mut covered = vec![0u32; shards::PARTITION_COUNT];
        for s in &slices {
            for p in s.lo..s.hi {
                covered[usize::from(p)] += 1;
            }
        }
        assert!(covered.iter().all(|c| *c == 1), "{n} slices");
        assert_eq!(super::ScanSlice::nth(0, 1), super::ScanSlice::ALL);
    }
}

#[test]
fn a_streamed_scan_answers_per_slice() {
    let cfg = ModelConfig::default();
    let g = random_graph(8, 300, 900);
    let ex = loaded(&cfg, &g);
    let fake = Fake {
        kv: &ex.model.kv,
        cores: 2,
        me: 0,
    };
    for text in [
        "g.V().values('name')",
        "g.V().has('age', gt(20)).out().id()",
        "g.E().has('w', lt(5)).id()",
    ] {
        let b = bc(text);
        let want = gathered(&fake, &b, &cfg);
        let (tx, rx) =
            glommio::channels::local_channel::new_bounded(coord::STREAM_BATCHES_BUFFERED_MAX);
        let (fr, br, q) = (&fake, &b, query(&b, &cfg));
        let run = async move {
            let r = coord::run(fr, q, br, Limits::default(), None, 2, Some(&tx)).await;
            drop(tx);
            r
        };
        let (r, (got, items)) = block_on(futures_lite::future::zip(run, read_all(&rx)));
        assert!(r.unwrap().0.is_empty());
        let (mut got, mut want) = (expand(&got), expand(&want));
        got.sort();
        want.sort();
        assert_eq!(got, want, "{text}");
        // 2 cores x SCAN_SLICES_STREAMED slices: more answers than one per core.
        assert!(items > 2, "{text}: {items} result batches");
    }
}
