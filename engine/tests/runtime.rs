//! The per-core runtime on a real data directory: cores joined by a mesh of capacity 1 run
//! thousands of concurrent cross-core reads, writes and deletes without deadlock (a watchdog
//! fails the test), every record lands on its owner and reads back from every core, and a
//! restart with another core count finds every record.

mod common;

use common::barrier;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use engine::model::keys::{ElementId, IntWidth};
use engine::model::kv::{Digest, Kv, Records, WriteMode};
use engine::runtime::{Cluster, CoreHost, RuntimeConfig};
use glommio::{LocalExecutorBuilder, Placement};
use shards::{DataDir, DirOptions, StoreConfig};

/// Records each core writes.
const KEYS_PER_CORE: usize = 1500;
/// A test that takes longer than this is taken for a deadlock.
const WATCHDOG_S: u64 = 240;

fn opts() -> DirOptions {
    DirOptions {
        shard_count: Some(4),
        shard_size_bytes: 16 << 20,
        store: StoreConfig {
            block_size_bytes: 256 * 1024,
            flush_size_bytes: 64 * 1024,
            record_size_max: 4096,
            defrag_reserve_blocks: 2,
            ..StoreConfig::default()
        },
    }
}

/// Small queues everywhere, so back-pressure is exercised on every path.
fn tight() -> RuntimeConfig {
    RuntimeConfig {
        mesh_capacity_messages: 1,
        inbox_tasks_max: 4,
        remote_requests_in_flight_max: 64,
        local_reads_concurrent_max: 4,
        message_digests_max: 16,
        ..RuntimeConfig::default()
    }
}

fn digest(writer: usize, i: usize) -> Digest {
    Digest::of_str(b"rt", &format!("{writer}/{i}"))
}

fn payload(writer: usize, i: usize) -> Vec<u8> {
    format!("record {i} written by core {writer} ")
        .repeat(3)
        .into_bytes()
}

/// Whether record `i` of a writer is deleted by the workload.
fn deleted(i: usize) -> bool {
    i % 3 == 0
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("cg-runtime-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Starts `cores` executors that join one cluster over `dir` and run `body` on each; returns
/// their results, or panics when the watchdog fires.
fn run_cores<T, F, Fut>(dir: &Arc<DataDir>, cores: usize, cfg: RuntimeConfig, body: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Rc<CoreHost>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    let cluster = Cluster::new(dir.clone(), cores, cfg).expect("cluster");
    common::run_cluster(cluster, cores, "rt-test", WATCHDOG_S, body)
}

/// Phase 1: every core, with `KEYS_PER_CORE` concurrent tasks, writes its records (most of
/// them owned by other cores), reads them back together with other cores' records in one
/// batched read, and deletes a third. Phase 2 (after all cores are done): every core reads
/// every record of every writer and checks it.
async fn workload(host: Rc<CoreHost>, core: usize, cores: usize, arrived: Arc<AtomicUsize>) {
    let kv = host.kv();
    let mut tasks = Vec::new();
    for i in 0..KEYS_PER_CORE {
        let kv = kv.clone();
        tasks.push(glommio::spawn_local(async move {
            let d = digest(core, i);
            let g = kv
                .put(&d, &payload(core, i), WriteMode::CreateOnly)
                .await
                .expect("put");
            assert_eq!(g, 1, "first generation");
            // One batched read of this record and the same index of every other writer.
            let batch: Vec<Digest> = (0..cores).map(|w| digest(w, i)).collect();
            let got = kv.get_many(&batch).await.expect("get_many");
            assert_eq!(got.len(), cores);
            for (w, r) in got.iter().enumerate() {
                match r {
                    Some(r) => assert_eq!(r.payload, payload(w, i), "record {w}/{i}"),
                    None => assert!(w != core, "own record {w}/{i} missing right after put"),
                }
            }
            if deleted(i) {
                assert!(kv.delete(&d, WriteMode::Plain).await.expect("delete"));
                assert_eq!(kv.get(&d).await.expect("get"), None);
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    barrier(&arrived, cores).await;
    check_all(&host, cores).await;
    // Nobody shuts down (and stops answering) before everyone has checked.
    barrier(&arrived, 2 * cores).await;
}

/// Reads every record of `writers` writers from this core and checks each.
async fn check_all(host: &CoreHost, writers: usize) {
    let kv = host.kv();
    let all: Vec<(usize, usize)> = (0..writers)
        .flat_map(|w| (0..KEYS_PER_CORE).map(move |i| (w, i)))
        .collect();
    for chunk in all.chunks(500) {
        let ds: Vec<Digest> = chunk.iter().map(|&(w, i)| digest(w, i)).collect();
        let got = kv.get_many(&ds).await.expect("get_many");
        for (&(w, i), r) in chunk.iter().zip(got) {
            if deleted(i) {
                assert_eq!(r, None, "deleted record {w}/{i} is back");
            } else {
                let r = r.unwrap_or_else(|| panic!("record {w}/{i} lost"));
                assert_eq!(r.payload, payload(w, i), "record {w}/{i}");
            }
        }
    }
    let live = writers * (KEYS_PER_CORE - KEYS_PER_CORE.div_ceil(3));
    let scanned = kv.scan_all().await.expect("scan_all");
    assert_eq!(scanned.len(), live, "scan_all finds every live record once");
}

fn stress_then_reopen(name: &str, first: usize, second: usize) {
    let path = temp_dir(name);
    let dir = Arc::new(DataDir::open_or_create(&path, &opts()).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let stats = run_cores(&dir, first, tight(), {
        let arrived = arrived.clone();
        move |host, core| {
            let arrived = arrived.clone();
            async move {
                workload(host.clone(), core, first, arrived).await;
                (host.route_stats(), host.shard_stats().len())
            }
        }
    });
    // Work really crossed cores, and every shard has exactly one owner.
    for (core, (route, _)) in stats.iter().enumerate() {
        assert!(route.messages_sent > 0, "core {core} sent no message");
        assert!(route.messages_served > 0, "core {core} served no message");
    }
    assert_eq!(stats.iter().map(|s| s.1).sum::<usize>(), 4);
    drop(dir);
    // Reopen with another core count: every record is found from every core.
    let dir = Arc::new(DataDir::open_or_create(&path, &opts()).expect("reopen"));
    let arrived = Arc::new(AtomicUsize::new(0));
    run_cores(&dir, second, tight(), move |host, _core| {
        let arrived = arrived.clone();
        async move {
            check_all(&host, first).await;
            barrier(&arrived, second).await;
        }
    });
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn four_shards_on_two_cores_then_four() {
    stress_then_reopen("2-4", 2, 4);
}

#[test]
fn four_shards_on_four_cores_then_three() {
    stress_then_reopen("4-3", 4, 3);
}

/// The graph model over the routed store: vertices written on one core are read on another,
/// and generated ids differ per core.
#[test]
fn graph_written_on_one_core_reads_on_another() {
    let path = temp_dir("model");
    let dir = Arc::new(DataDir::open_or_create(&path, &opts()).expect("data dir"));
    let cfg = RuntimeConfig {
        graphs: vec!["g".into(), "other".into()],
        ..tight()
    };
    let arrived = Arc::new(AtomicUsize::new(0));
    let ids = run_cores(&dir, 2, cfg, move |host, core| {
        let arrived = arrived.clone();
        async move {
            assert!(host.executor("nope").is_none());
            let g = host.executor("g").expect("graph g");
            let other = host.executor("other").expect("graph other");
            let id = |v: usize| ElementId::Int {
                value: (core * 1000 + v) as i64,
                width: IntWidth::Long,
            };
            for v in 0..50 {
                g.model.add_vertex(id(v), "person", 0).await.expect("addV");
            }
            let generated = g.model.generate_id().await.expect("id");
            barrier(&arrived, 2).await;
            // The other core's vertices, through this core.
            let peer = 1 - core;
            for v in 0..50 {
                let pid = ElementId::Int {
                    value: (peer * 1000 + v) as i64,
                    width: IntWidth::Long,
                };
                let rec = g.model.vertex(&pid).await.expect("read").expect("vertex");
                assert_eq!(&*rec.label, "person");
                assert!(other.model.vertex(&pid).await.expect("read").is_none());
            }
            barrier(&arrived, 4).await;
            generated
        }
    });
    assert_ne!(ids[0], ids[1], "generated ids must differ per core");
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// Past `remote_requests_waiting_max` waiting calls, calls fail at once with an overload
/// error (no panic, no unbounded queue), and the core keeps working afterwards.
#[test]
fn remote_call_overload_is_an_error() {
    let path = temp_dir("overload");
    let dir = Arc::new(DataDir::open_or_create(&path, &opts()).expect("data dir"));
    let cfg = RuntimeConfig {
        remote_requests_in_flight_max: 1,
        remote_requests_waiting_max: 2,
        ..tight()
    };
    let arrived = Arc::new(AtomicUsize::new(0));
    let outcomes = run_cores(&dir, 2, cfg, move |host, core| {
        let arrived = arrived.clone();
        async move {
            let kv = host.kv();
            // Keys owned by the other core.
            let remote: Vec<Digest> = (0..10_000)
                .map(|i| digest(core, i))
                .filter(|d| kv.owner_core(d) != core)
                .take(200)
                .collect();
            let mut tasks = Vec::new();
            for d in remote.clone() {
                let kv = kv.clone();
                tasks.push(glommio::spawn_local(async move {
                    kv.put(&d, b"x", WriteMode::Plain).await
                }));
            }
            let (mut ok, mut overloaded) = (0, 0);
            for t in tasks {
                match t.await {
                    Ok(_) => ok += 1,
                    Err(e) if e.to_string().contains("overload") => overloaded += 1,
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            // Afterwards, one at a time, every call succeeds.
            for d in &remote {
                kv.put(d, b"y", WriteMode::Plain)
                    .await
                    .expect("put after overload");
            }
            barrier(&arrived, 2).await;
            (ok, overloaded, host.route_stats().overloads)
        }
    });
    for (core, (ok, overloaded, counted)) in outcomes.into_iter().enumerate() {
        assert!(ok > 0, "core {core}: nothing succeeded");
        assert!(overloaded > 0, "core {core}: no call was refused");
        assert_eq!(counted, overloaded as u64, "core {core}: overloads counted");
    }
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// A core that never joins makes the others' joins fail after `join_timeout_ms` instead of
/// hanging; `Cluster::abort` fails them at once.
#[test]
fn join_without_every_core_fails_instead_of_hanging() {
    let path = temp_dir("join");
    let dir = Arc::new(DataDir::open_or_create(&path, &opts()).expect("data dir"));
    let cfg = RuntimeConfig {
        join_timeout_ms: 300,
        ..tight()
    };
    let cluster = Cluster::new(dir.clone(), 2, cfg.clone()).expect("cluster");
    let r = LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move { cluster.join(0).await.map(|_| ()) })
        .expect("executor")
        .join()
        .expect("joined thread");
    let e = r.expect_err("join must fail");
    assert!(e.to_string().contains("join_timeout_ms"), "{e}");

    let cluster = Cluster::new(
        dir.clone(),
        2,
        RuntimeConfig {
            join_timeout_ms: 60_000,
            ..cfg
        },
    )
    .expect("cluster");
    let waiting = {
        let cluster = cluster.clone();
        LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move { cluster.join(1).await.map(|_| ()) })
            .expect("executor")
    };
    std::thread::sleep(Duration::from_millis(100));
    cluster.abort("test says stop");
    let e = waiting.join().expect("thread").expect_err("aborted");
    assert!(e.to_string().contains("test says stop"), "{e}");
    drop(cluster);
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// Runs gremlin-lang text on a graph executor; the traversers' values (bulk expanded).
async fn run_text(
    exec: &engine::exec::Executor<engine::runtime::RoutedKv>,
    text: &str,
) -> Vec<gremlin::value::Value> {
    let bc = gremlin::parser::parse(text, &|_| None).expect("parses");
    let trs = exec
        .run(&bc, &engine::exec::RunOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    trs.into_iter()
        .flat_map(|t| std::iter::repeat_n(t.value, usize::try_from(t.bulk).unwrap_or(0)))
        .collect()
}

/// Vertices of the traversal test graph; vertex `i` has edges to `(7i+1) % N` and
/// `(13i+5) % N`.
const GRAPH_VERTICES: i64 = 120;

/// Heavy cross-core traversals with mesh capacity 1 on 4 shards: every core writes part of a
/// graph through Gremlin, then runs many concurrent multi-hop traversals whose records are
/// spread over every core; all finish (watchdog) and every core gets the expected answers.
fn traversals_with_capacity_one(cores: usize) {
    use gremlin::value::Value;
    let path = temp_dir(&format!("traverse-{cores}"));
    let dir = Arc::new(DataDir::open_or_create(&path, &opts()).expect("data dir"));
    let arrived = Arc::new(AtomicUsize::new(0));
    let answers = run_cores(&dir, cores, tight(), move |host, core| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            let mine = |i: &i64| (*i as usize) % cores == core;
            for i in (0..GRAPH_VERTICES).filter(mine) {
                run_text(
                    &g,
                    &format!("g.addV('n').property(T.id, {i}L).property('k', {i})"),
                )
                .await;
            }
            barrier(&arrived, cores).await;
            for i in (0..GRAPH_VERTICES).filter(mine) {
                for j in [(7 * i + 1) % GRAPH_VERTICES, (13 * i + 5) % GRAPH_VERTICES] {
                    run_text(&g, &format!("g.V({i}L).addE('e').to(__.V({j}L))")).await;
                }
            }
            barrier(&arrived, 2 * cores).await;
            // Many concurrent traversals per core.
            let mut tasks = Vec::new();
            for i in 0..GRAPH_VERTICES {
                let g = g.clone();
                tasks.push(glommio::spawn_local(async move {
                    let two = run_text(&g, &format!("g.V({i}L).out().out().values('k')")).await;
                    let back = run_text(&g, &format!("g.V({i}L).out().in().count()")).await;
                    (two, back)
                }));
            }
            let mut per_vertex = Vec::new();
            for t in tasks {
                per_vertex.push(t.await);
            }
            let v = run_text(&g, "g.V().count()").await;
            let e = run_text(&g, "g.E().count()").await;
            barrier(&arrived, 3 * cores).await;
            (per_vertex, v, e)
        }
    });
    let n = GRAPH_VERTICES;
    let out = |i: i64| [(7 * i + 1) % n, (13 * i + 5) % n];
    let mut in_degree = vec![0i64; n as usize];
    for i in 0..n {
        for j in out(i) {
            in_degree[j as usize] += 1;
        }
    }
    for (core, (per_vertex, v, e)) in answers.into_iter().enumerate() {
        assert_eq!(v, vec![Value::Long(n)], "core {core}: vertex count");
        assert_eq!(e, vec![Value::Long(2 * n)], "core {core}: edge count");
        for (i, (two, back)) in per_vertex.into_iter().enumerate() {
            let i = i as i64;
            let mut got: Vec<i64> = two
                .iter()
                .map(|v| match v {
                    Value::Int(k) => i64::from(*k),
                    other => panic!("k is {other:?}"),
                })
                .collect();
            got.sort();
            let mut want: Vec<i64> = out(i).iter().flat_map(|&j| out(j)).collect();
            want.sort();
            assert_eq!(got, want, "core {core}: two hops from {i}");
            let want_back: i64 = out(i).iter().map(|&j| in_degree[j as usize]).sum();
            assert_eq!(
                back,
                vec![Value::Long(want_back)],
                "core {core}: out().in() of {i}"
            );
        }
    }
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn traversals_on_two_cores_with_capacity_one() {
    traversals_with_capacity_one(2);
}

#[test]
fn traversals_on_four_cores_with_capacity_one() {
    traversals_with_capacity_one(4);
}
