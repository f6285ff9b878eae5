//! Tests of the query executor: answers and writes match the one-core adapter, 1,000
//! concurrent `addE` on one vertex lose nothing, generated ids are unique across concurrent
//! queries, and deadline, cancel and the per-query limits stop a query with a clear error.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future::{block_on, zip};
use gremlin::bytecode::Bytecode;
use gremlin::machine::Limits;
use gremlin::value::Value;
use gremlin::GremlinError;

use super::{ExecLimits, Executor, RunOptions, CANCEL_MESSAGE, DEADLINE_MESSAGE};
use crate::model::keys::KeySpace;
use crate::model::kv::{Digest, Got, Kv, KvError, MemKv, Records, WriteMode};
use crate::model::ops::{Model, SystemClock};
use crate::model::ModelConfig;

fn bc(text: &str) -> Bytecode {
    match gremlin::parser::parse(text, &|_: &str| None) {
        Ok(b) => b,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn executor<R: Records>(kv: R, cfg: ModelConfig) -> Executor<R> {
    let model = Model::new(kv, KeySpace::new("g").unwrap(), cfg, Box::new(SystemClock)).unwrap();
    Executor::new(model, Limits::default())
}

fn small() -> ModelConfig {
    ModelConfig {
        edge_cache_entries: 2,
        pack_edges: 3,
        index_page_entries: 2,
        indexed_edge_keys: Vec::new(),
    }
}

fn values<R: Records>(ex: &Executor<R>, text: &str) -> Vec<Value> {
    let out = block_on(ex.run(&bc(text), &RunOptions::default()))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut v = Vec::new();
    for t in out {
        for _ in 0..t.bulk {
            v.push(t.value.clone());
        }
    }
    v
}

fn count<R: Records>(ex: &Executor<R>, text: &str) -> i64 {
    match values(ex, text).as_slice() {
        [Value::Long(n)] => *n,
        other => panic!("{text}: {other:?}"),
    }
}

/// The modern graph, built by queries through the executor.
fn modern<R: Records>(ex: &Executor<R>) {
    values(
        ex,
        "g.addV('person').property(T.id, 1).property('name','marko').property('age',29).as('marko').\
         addV('person').property(T.id, 2).property('name','vadas').property('age',27).as('vadas').\
         addV('software').property(T.id, 3).property('name','lop').property('lang','java').as('lop').\
         addV('person').property(T.id, 4).property('name','josh').property('age',32).as('josh').\
         addV('software').property(T.id, 5).property('name','ripple').property('lang','java').as('ripple').\
         addV('person').property(T.id, 6).property('name','peter').property('age',35).as('peter').\
         addE('knows').from('marko').to('vadas').property('weight',0.5d).\
         addE('knows').from('marko').to('josh').property('weight',1.0d).\
         addE('created').from('marko').to('lop').property('weight',0.4d).\
         addE('created').from('josh').to('ripple').property('weight',1.0d).\
         addE('created').from('josh').to('lop').property('weight',0.4d).\
         addE('created').from('peter').to('lop').property('weight',0.2d)",
    );
}

#[test]
fn reads_and_writes_go_through_attempts() {
    for cfg in [ModelConfig::default(), small()] {
        let ex = executor(MemKv::new(), cfg);
        modern(&ex);
        assert_eq!(count(&ex, "g.V().count()"), 6);
        assert_eq!(count(&ex, "g.E().count()"), 6);
        let mut names: Vec<String> = values(&ex, "g.V(1).out('knows').values('name')")
            .iter()
            .map(|v| format!("{v:?}"))
            .collect();
        names.sort();
        assert_eq!(names, vec!["String(\"josh\")", "String(\"vadas\")"]);
        assert_eq!(count(&ex, "g.V(1).out().out().count()"), 2);
        assert_eq!(count(&ex, "g.V().both().both().count()"), 30);
        // A read after a write in the same query sees it (the attempt's overlay).
        assert_eq!(
            count(&ex, "g.addV('x').property(T.id, 100).V().count()"),
            7 // one addV traverser, then V() over the 7 vertices
        );
        assert_eq!(count(&ex, "g.V(100).count()"), 1);
        values(&ex, "g.V(100).drop()");
        assert_eq!(count(&ex, "g.V().count()"), 6);
        // Drops of a vertex take its edges on both ends.
        values(&ex, "g.V(4).drop()");
        assert_eq!(count(&ex, "g.E().count()"), 3);
        assert_eq!(count(&ex, "g.V(1).out().count()"), 2);
        // Generated ids come from the allocator and are distinct.
        let ids = values(
            &ex,
            "g.addV('n').addV('n').addV('n').V().hasLabel('n').id()",
        );
        let distinct: HashSet<String> = ids.iter().map(|v| format!("{v:?}")).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(distinct.len(), 3);
    }
}

#[test]
fn attempts_and_fetches_are_counted() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    modern(&ex);
    let (r, stats) =
        block_on(ex.run_with_stats(&bc("g.V(1).out().values('name')"), &RunOptions::default()));
    assert_eq!(r.unwrap().len(), 3);
    // V(1), then its pack, then the neighbours (the machine reads them whole), then done:
    // a fetch per attempt but the last.
    assert_eq!(stats.attempts, 4, "{stats:?}");
    assert_eq!(stats.fetch_calls, stats.attempts - 1, "{stats:?}");
    assert!(stats.records_fetched >= 5, "{stats:?}");
    assert_eq!(stats.scans, 0);
    let (r, stats) = block_on(ex.run_with_stats(&bc("g.V().count()"), &RunOptions::default()));
    assert_eq!(r.unwrap().len(), 1);
    assert_eq!(stats.scans, 1, "{stats:?}");
    // The scan list and every scanned record come in one round.
    assert_eq!(stats.fetch_calls, 1, "{stats:?}");
    assert_eq!(stats.attempts, 2, "{stats:?}");
}

/// Polls eight futures together on this thread.
fn join8<T>(f: [std::pin::Pin<Box<dyn std::future::Future<Output = T> + '_>>; 8]) -> Vec<T> {
    let [a, b, c, d, e, g, h, i] = f;
    let (((a, b), (c, d)), ((e, g), (h, i))) =
        block_on(zip(zip(zip(a, b), zip(c, d)), zip(zip(e, g), zip(h, i))));
    vec![a, b, c, d, e, g, h, i]
}

#[test]
fn a_thousand_concurrent_add_edges_on_one_vertex_lose_nothing() {
    for cfg in [ModelConfig::default(), small()] {
        let ex = executor(MemKv::new(), cfg.clone());
        values(&ex, "g.addV('hub').property(T.id, 0)");
        for i in 1..=8 {
            values(&ex, &format!("g.addV('v').property(T.id, {i})"));
        }
        ex.model.kv.set_yield_each_call(true);
        let tasks: [_; 8] = std::array::from_fn(|t| {
            let ex = &ex;
            Box::pin(async move {
                let q = bc(&format!("g.V(0).addE('x').to(__.V({}))", t + 1));
                let mut ok = 0;
                for _ in 0..125 {
                    let r = ex.run(&q, &RunOptions::default()).await;
                    assert!(r.is_ok(), "{r:?}");
                    ok += 1;
                }
                ok
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = i32>>>
        });
        let done: i32 = join8(tasks).into_iter().sum();
        assert_eq!(done, 1000);
        let st = ex.model.kv.stats();
        assert!(
            st.conflicts > 0 || ex.model.locks().waits() > 0,
            "replays never met: test is vacuous ({st:?})"
        );
        ex.model.kv.set_yield_each_call(false);
        assert_eq!(count(&ex, "g.V(0).outE('x').count()"), 1000, "{cfg:?}");
        assert_eq!(count(&ex, "g.E().count()"), 1000);
        let hub: HashSet<String> = values(&ex, "g.V(0).outE().id()")
            .iter()
            .map(|v| format!("{v:?}"))
            .collect();
        assert_eq!(hub.len(), 1000, "generated edge ids repeat");
        let mut ends = HashSet::new();
        for i in 1..=8 {
            let ins = values(&ex, &format!("g.V({i}).inE('x').id()"));
            assert_eq!(ins.len(), 125, "vertex {i}");
            ends.extend(ins.iter().map(|v| format!("{v:?}")));
        }
        assert_eq!(ends, hub);
    }
}

#[test]
fn concurrent_adds_of_one_id_fail_one_query_cleanly() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    ex.model.kv.set_yield_each_call(true);
    let q = bc("g.addV('a').property(T.id, 42)");
    let (a, b) = block_on(zip(
        ex.run(&q, &RunOptions::default()),
        ex.run(&q, &RunOptions::default()),
    ));
    let errs: Vec<String> = [&a, &b]
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(errs.len(), 1, "{a:?} {b:?}");
    assert!(errs[0].contains("already exists"), "{errs:?}");
    ex.model.kv.set_yield_each_call(false);
    assert_eq!(count(&ex, "g.V(42).count()"), 1);
}

/// A store that runs a hook on every batched read.
struct Hooked {
    kv: MemKv,
    hook: Box<dyn Fn()>,
}

impl Kv for Hooked {
    async fn get(&self, d: &Digest) -> Result<Option<Got>, KvError> {
        self.kv.get(d).await
    }
    async fn put(&self, d: &Digest, p: &[u8], m: WriteMode) -> Result<u16, KvError> {
        self.kv.put(d, p, m).await
    }
    async fn delete(&self, d: &Digest, m: WriteMode) -> Result<bool, KvError> {
        self.kv.delete(d, m).await
    }
    fn scan(&self) -> Vec<Digest> {
        self.kv.scan()
    }
}

impl Records for Hooked {
    async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        (self.hook)();
        let mut out = Vec::new();
        for d in digests {
            out.push(self.kv.get(d).await?);
        }
        Ok(out)
    }
}

#[test]
fn cancel_and_deadline_stop_a_query_between_attempts() {
    // Cancel set while the query's first fetch is under way.
    let flag = Rc::new(Cell::new(false));
    let f2 = flag.clone();
    let ex = executor(
        Hooked {
            kv: MemKv::new(),
            hook: Box::new(move || f2.set(true)),
        },
        ModelConfig::default(),
    );
    flag.set(false);
    let r = block_on(ex.run(&bc("g.addV('a').property(T.id, 1)"), &RunOptions::default()));
    assert!(r.is_ok(), "{r:?}");
    flag.set(false);
    let opts = RunOptions {
        deadline: None,
        cancel: Some(flag.clone()),
    };
    let (r, stats) = block_on(ex.run_with_stats(&bc("g.V(1).out()"), &opts));
    assert_eq!(r, Err(GremlinError::Runtime(CANCEL_MESSAGE.to_string())));
    assert_eq!(stats.fetch_calls, 1, "stopped after the fetch under way");

    // A deadline passing during a fetch.
    let slow = executor(
        Hooked {
            kv: MemKv::new(),
            hook: Box::new(|| std::thread::sleep(Duration::from_millis(30))),
        },
        ModelConfig::default(),
    );
    let opts = RunOptions {
        deadline: Some(Instant::now() + Duration::from_millis(10)),
        cancel: None,
    };
    let r = block_on(slow.run(&bc("g.V(1).out()"), &opts));
    assert_eq!(r, Err(GremlinError::Runtime(DEADLINE_MESSAGE.to_string())));
    // Past deadline: no attempt at all.
    let opts = RunOptions {
        deadline: Some(Instant::now() - Duration::from_millis(1)),
        cancel: None,
    };
    let (r, stats) = block_on(slow.run_with_stats(&bc("g.V()"), &opts));
    assert!(matches!(r, Err(GremlinError::Runtime(ref m)) if m == DEADLINE_MESSAGE));
    assert_eq!(stats.attempts, 0);
}

#[test]
fn per_query_limits_fail_the_query_not_the_executor() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    modern(&ex);
    let mut limited = executor(MemKv::new(), ModelConfig::default());
    modern(&limited);
    limited.exec_limits = ExecLimits {
        records_max: 5,
        ..ExecLimits::default()
    };
    let r = block_on(limited.run(&bc("g.V().values('name')"), &RunOptions::default()));
    assert_eq!(
        r,
        Err(GremlinError::LimitExceeded {
            limit: "QUERY_RECORDS_MAX",
            max: 5
        })
    );
    // A small read still runs under the same limit.
    assert_eq!(count(&limited, "g.V(1).count()"), 1);
    limited.exec_limits = ExecLimits {
        attempts_max: 2,
        ..ExecLimits::default()
    };
    let r = block_on(limited.run(&bc("g.V(1).out().out()"), &RunOptions::default()));
    assert!(
        matches!(
            r,
            Err(GremlinError::LimitExceeded {
                limit: "QUERY_ATTEMPTS_MAX",
                ..
            })
        ),
        "{r:?}"
    );
    limited.exec_limits = ExecLimits {
        cache_bytes_max: 64,
        ..ExecLimits::default()
    };
    let r = block_on(limited.run(&bc("g.V().out()"), &RunOptions::default()));
    assert!(
        matches!(
            r,
            Err(GremlinError::LimitExceeded {
                limit: "QUERY_CACHE_BYTES_MAX",
                ..
            })
        ),
        "{r:?}"
    );
    limited.exec_limits = ExecLimits {
        writes_max: 3,
        ..ExecLimits::default()
    };
    let r = block_on(limited.run(&bc("g.inject(1,2,3,4,5).addV('w')"), &RunOptions::default()));
    assert!(
        matches!(
            r,
            Err(GremlinError::LimitExceeded {
                limit: "QUERY_WRITES_MAX",
                ..
            })
        ),
        "{r:?}"
    );
    // Nothing of the refused query was applied.
    assert_eq!(count(&limited, "g.V().hasLabel('w').count()"), 0);
    assert_eq!(count(&ex, "g.V().count()"), 6);
}

/// A store whose batched reads are recorded, to check that an attempt's misses come in one
/// call.
struct Counting {
    kv: MemKv,
    batches: RefCell<Vec<usize>>,
}

impl Kv for Counting {
    async fn get(&self, d: &Digest) -> Result<Option<Got>, KvError> {
        self.kv.get(d).await
    }
    async fn put(&self, d: &Digest, p: &[u8], m: WriteMode) -> Result<u16, KvError> {
        self.kv.put(d, p, m).await
    }
    async fn delete(&self, d: &Digest, m: WriteMode) -> Result<bool, KvError> {
        self.kv.delete(d, m).await
    }
    fn scan(&self) -> Vec<Digest> {
        self.kv.scan()
    }
}

impl Records for Counting {
    async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        self.batches.borrow_mut().push(digests.len());
        let mut out = Vec::new();
        for d in digests {
            out.push(self.kv.get(d).await?);
        }
        Ok(out)
    }
}

#[test]
fn a_frontier_is_fetched_in_one_batch() {
    let ex = executor(
        Counting {
            kv: MemKv::new(),
            batches: RefCell::new(Vec::new()),
        },
        ModelConfig::default(),
    );
    modern(&ex);
    ex.model.kv.batches.borrow_mut().clear();
    let gets_before = ex.model.kv.kv.stats().gets;
    // marko's out-neighbours (3 vertices) are read in one batch, not one by one.
    let (r, stats) = block_on(ex.run_with_stats(
        &bc("g.V(1).out().out().values('name')"),
        &RunOptions::default(),
    ));
    assert_eq!(r.unwrap().len(), 2);
    let batches = ex.model.kv.batches.borrow().clone();
    assert_eq!(batches.len() as u32, stats.fetch_calls);
    assert!(
        batches.contains(&3),
        "neighbour vertices not batched: {batches:?}"
    );
    // Every record read came through a batch (no read outside get_many).
    let gets = ex.model.kv.kv.stats().gets - gets_before;
    assert_eq!(gets, batches.iter().sum::<usize>() as u64);
}

/// A store shared with a second model, running a hook once, after the reads of the next
/// batched read.
struct Shared {
    kv: Rc<MemKv>,
    hook: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl Kv for Shared {
    async fn get(&self, d: &Digest) -> Result<Option<Got>, KvError> {
        self.kv.get(d).await
    }
    async fn put(&self, d: &Digest, p: &[u8], m: WriteMode) -> Result<u16, KvError> {
        self.kv.put(d, p, m).await
    }
    async fn delete(&self, d: &Digest, m: WriteMode) -> Result<bool, KvError> {
        self.kv.delete(d, m).await
    }
    fn scan(&self) -> Vec<Digest> {
        self.kv.scan()
    }
}

impl Records for Shared {
    async fn get_many(&self, digests: &[Digest]) -> Result<Vec<Option<Got>>, KvError> {
        let mut out = Vec::new();
        for d in digests {
            out.push(self.kv.get(d).await?);
        }
        let hook = self.hook.borrow_mut().take();
        if let Some(h) = hook {
            h();
        }
        Ok(out)
    }
}

#[test]
fn a_replayed_write_that_fails_fails_the_query_and_earlier_writes_stay() {
    let kv = Rc::new(MemKv::new());
    let ex = executor(
        Shared {
            kv: kv.clone(),
            hook: RefCell::new(None),
        },
        ModelConfig::default(),
    );
    values(&ex, "g.addV('v').property(T.id, 7)");
    // Another writer drops vertex 7 right after the query fetched it (still live).
    let other = Model::new(
        Shared {
            kv,
            hook: RefCell::new(None),
        },
        KeySpace::new("g").unwrap(),
        ModelConfig::default(),
        Box::new(SystemClock),
    )
    .unwrap();
    *ex.model.kv.hook.borrow_mut() = Some(Box::new(move || {
        let seven = crate::model::keys::ElementId::from_value(&Value::Int(7), "Vertex").unwrap();
        block_on(other.drop_vertex(&seven)).unwrap();
    }));
    let r = block_on(ex.run(
        &bc("g.addV('a').property(T.id, 50).V(7).property('x', 1)"),
        &RunOptions::default(),
    ));
    let Err(GremlinError::Runtime(m)) = r else {
        panic!("{r:?}")
    };
    assert!(m.contains("Vertex with id 7 does not exist"), "{m}");
    assert!(m.contains("write 2 of 2"), "{m}");
    // The first write stays (non-transactional, as TinkerGraph without transactions).
    assert_eq!(count(&ex, "g.V(50).count()"), 1);
    assert_eq!(count(&ex, "g.V(7).count()"), 0);
}

#[test]
fn concurrent_queries_never_share_a_generated_id() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    ex.model.kv.set_yield_each_call(true);
    let tasks: [_; 8] = std::array::from_fn(|_| {
        let ex = &ex;
        Box::pin(async move {
            let q = bc("g.addV('n').property('p', 1)");
            for _ in 0..40 {
                let r = ex.run(&q, &RunOptions::default()).await;
                assert!(r.is_ok(), "{r:?}");
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
    });
    join8(tasks);
    ex.model.kv.set_yield_each_call(false);
    let ids = values(&ex, "g.V().hasLabel('n').id()");
    assert_eq!(ids.len(), 320);
    let distinct: HashSet<String> = ids.iter().map(|v| format!("{v:?}")).collect();
    assert_eq!(distinct.len(), 320);
    // Vertex-property ids are generated ids too.
    let pids = values(&ex, "g.V().hasLabel('n').properties('p').id()");
    let all: HashSet<String> = pids
        .iter()
        .chain(ids.iter())
        .map(|v| format!("{v:?}"))
        .collect();
    assert_eq!(all.len(), 640);
    // Generated ids are the allocator's Longs.
    assert!(ids.iter().all(|v| matches!(v, Value::Long(_))));
}

/// `text`'s values on `ex` and on the reference graph `reference`.
fn ours_and_reference(
    ex: &Executor<MemKv>,
    text: &str,
    reference: &mut gremlin::refgraph::RefGraph,
) -> (Vec<Value>, Vec<Value>) {
    let ours = values(ex, text);
    let theirs = gremlin::execute(reference, &bc(text)).unwrap_or_else(|e| panic!("{text}: {e}"));
    (ours, theirs)
}

/// `addV().property()...` stores the vertex with its properties in one write (one durable
/// write in commit-to-device mode, not one per property), with the same result as the
/// reference graph: cardinalities, meta-properties and value types included.
#[test]
fn an_added_vertex_and_its_properties_are_one_write() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    let mut reference = gremlin::refgraph::RefGraph::new();
    let both = |text: &str, reference: &mut gremlin::refgraph::RefGraph| {
        ours_and_reference(&ex, text, reference)
    };
    // The first generated property ids reserve a range of ids (a write of its own).
    both(
        "g.addV('warm').property(T.id, 6).property('k', 0)",
        &mut reference,
    );
    let puts_before = ex.model.kv.stats().puts;
    both(
        "g.addV('person').property(T.id, 7).property('name','ann').property('age',41).\
         property(list,'nick','a').property(list,'nick','a').property(set,'tag','x').\
         property(set,'tag','x').property(single,'name','anne').property('city','rome','since',2001)",
        &mut reference,
    );
    let puts = ex.model.kv.stats().puts - puts_before;
    assert_eq!(
        puts, 1,
        "one record write for the vertex and its properties"
    );
    for read in [
        "g.V(7).properties().value()",
        "g.V(7).properties().key()",
        "g.V(7).properties('city').values('since')",
        "g.V(7).label()",
    ] {
        let (mut ours, mut theirs) = both(read, &mut reference);
        ours.sort_by_key(|v| format!("{v:?}"));
        theirs.sort_by_key(|v| format!("{v:?}"));
        assert_eq!(ours, theirs, "{read}");
    }
    assert_eq!(count(&ex, "g.V(7).properties('tag').count()"), 1);
    // The same query on an existing id still fails cleanly and writes nothing.
    let puts_before = ex.model.kv.stats().puts;
    let r = block_on(ex.run(
        &bc("g.addV('person').property(T.id, 7).property('name','bob')"),
        &RunOptions::default(),
    ));
    assert!(r.is_err(), "an existing id is refused: {r:?}");
    assert_eq!(ex.model.kv.stats().puts, puts_before);
    // Properties set on a vertex after another step are still written on their own.
    values(
        &ex,
        "g.addV('x').property(T.id, 8).as('a').addV('y').property(T.id, 9).select('a').property('k', 1)",
    );
    assert_eq!(values(&ex, "g.V(8).values('k')"), vec![Value::Int(1)]);
}

/// `addE().property()...` is replayed as one edge add with the properties in its pending
/// slot: the property costs no record write of its own, and reads see it like the
/// reference graph does.
#[test]
fn an_added_edge_and_its_properties_are_one_add() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    let mut reference = gremlin::refgraph::RefGraph::new();
    let both = |text: &str, reference: &mut gremlin::refgraph::RefGraph| {
        ours_and_reference(&ex, text, reference)
    };
    both(
        "g.addV('person').property(T.id, 1).addV('person').property(T.id, 2)",
        &mut reference,
    );
    let puts_before = ex.model.kv.stats().puts;
    both(
        "g.V(1).addE('knows').to(__.V(2)).property(T.id, 10)",
        &mut reference,
    );
    let bare = ex.model.kv.stats().puts - puts_before;
    let puts_before = ex.model.kv.stats().puts;
    both(
        "g.V(1).addE('knows').to(__.V(2)).property(T.id, 11).property('weight', 0.5d).\
         property('since', 2001).property('weight', 0.75d)",
        &mut reference,
    );
    let with_props = ex.model.kv.stats().puts - puts_before;
    assert!(
        bare >= 4,
        "an edge add writes at least locator, slot and two entries"
    );
    assert_eq!(
        with_props, bare,
        "the properties of an added edge cost no record write of their own"
    );
    for read in [
        "g.E(11).properties().key()",
        "g.E(11).properties().value()",
        "g.V(1).outE('knows').has('weight', 0.75d).id()",
        "g.V(2).inE('knows').values('since')",
        "g.E(10).properties().count()",
    ] {
        let (mut ours, mut theirs) = both(read, &mut reference);
        ours.sort_by_key(|v| format!("{v:?}"));
        theirs.sort_by_key(|v| format!("{v:?}"));
        assert_eq!(ours, theirs, "{read}");
    }
    // Properties set on an edge after another step are still written on their own.
    values(
        &ex,
        "g.V(1).addE('x').to(__.V(2)).property(T.id, 12).as('e').V(2).select('e').property('k', 1)",
    );
    assert_eq!(values(&ex, "g.E(12).values('k')"), vec![Value::Int(1)]);
    // An add refused (an existing id) writes nothing and fails cleanly.
    let r = block_on(ex.run(
        &bc("g.V(1).addE('knows').to(__.V(2)).property(T.id, 11).property('weight', 1.0d)"),
        &RunOptions::default(),
    ));
    assert!(r.is_err(), "an existing edge id is refused: {r:?}");
    assert_eq!(
        values(&ex, "g.E(11).values('weight')"),
        vec![Value::Double(0.75)]
    );
}

#[test]
fn profile_and_explain_answer_once_when_nothing_reaches_them() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    modern(&ex);
    for text in [
        "g.V('missing').out().profile()",
        "g.V(1).hasLabel('nope').out().path().profile()",
        "g.V(1).out().profile()",
    ] {
        match values(&ex, text).as_slice() {
            [Value::Metrics(m)] => assert!(!m.metrics.is_empty(), "{text}: {m:?}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // gremlin-lang's explain() is a terminal; bytecode carries it as a last step.
    for text in [
        "g.V('missing').out()",
        "g.V(1).hasLabel('nope').out().path()",
    ] {
        let mut b = bc(text);
        b.steps
            .push(gremlin::bytecode::Instruction::new("explain", Vec::new()));
        let out =
            block_on(ex.run(&b, &RunOptions::default())).unwrap_or_else(|e| panic!("{text}: {e}"));
        match out
            .iter()
            .map(|t| (&t.value, t.bulk))
            .collect::<Vec<_>>()
            .as_slice()
        {
            [(Value::String(s), 1)] => assert!(s.starts_with("Traversal Explanation"), "{s}"),
            other => panic!("{text}.explain(): {other:?}"),
        }
    }
}

/// Each query draws its own random numbers (`sample()`, `coin()` on the attempts executor and
/// at the frontier coordinator), unless it fixes a seed with `SeedStrategy`: then every run
/// draws the same.
#[test]
fn random_draws_differ_between_queries_unless_seeded() {
    let ex = executor(MemKv::new(), ModelConfig::default());
    modern(&ex);
    let texts = [
        // The attempts executor (a path step keeps it off the frontier path).
        "g.V().as('a').sample(2).select('a').id().fold()",
        "g.V().coin(0.5).id().fold()",
        // A coordinator step after the frontier part.
        "g.V().id().sample(2).fold()",
    ];
    for text in texts {
        let runs: std::collections::HashSet<String> = (0..40)
            .map(|_| format!("{:?}", values(&ex, text)))
            .collect();
        assert!(runs.len() > 1, "{text}: every run drew {runs:?}");
        let seeded = format!("g.withStrategies(SeedStrategy(seed: 7)).{}", &text[2..]);
        let runs: std::collections::HashSet<String> = (0..10)
            .map(|_| format!("{:?}", values(&ex, &seeded)))
            .collect();
        assert_eq!(runs.len(), 1, "{seeded}: {runs:?}");
    }
}
