//! Real-process crash test of cross-core edge writes: the test binary re-runs itself as a
//! child that runs a 2-core cluster over a 2-shard data directory (commit-to-device
//! durability) and, from both cores at once, adds edges between vertices owned by different
//! shards and drops some of them (Gremlin through `engine::exec::Executor`), reporting every
//! start and acknowledgement over a pipe. The parent keeps the ledger, SIGKILLs the child at
//! random moments (at least 20 times), reopens the directory and checks from both endpoints:
//! every acknowledged edge is seen by `outE` of its source, `inE` of its target and `g.E()`;
//! no acknowledged drop comes back; an edge whose add or drop was cut by the kill is seen by
//! all three or by none.
//! Replay: `CRASH_SEED=<seed> cargo test -p engine --test crash_edges`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use engine::exec::{Executor, RunOptions};
use engine::model::keys::ElementId;
use engine::model::ops::repair::edge_problems;
use engine::runtime::{Cluster, CoreHost, RoutedKv, RuntimeConfig};
use glommio::{LocalExecutorBuilder, Placement};
use gremlin::value::Value;
use shards::{DataDir, DirOptions, Durability, StoreConfig};

const KILLS: u64 = 20;
/// Vertices of the graph (created once, before the first child).
const VERTICES: i64 = 40;
/// Writer tasks per core in the child.
const WRITERS_PER_CORE: usize = 4;
/// Cores (and shards).
const CORES: usize = 2;
const CHILD_ENV: &str = "CG_CRASH_EDGES_CHILD";
/// Edge ids of one child life start at `life * LIFE_IDS`; each writer has `WRITER_IDS`.
const LIFE_IDS: i64 = 100_000_000;
const WRITER_IDS: i64 = 1_000_000;
/// Longest wait for a child to open the directory.
const READY_S_MAX: u64 = 60;

fn dir_options() -> DirOptions {
    DirOptions {
        shard_count: Some(CORES as u32),
        shard_size_bytes: 32 << 20,
        store: StoreConfig {
            block_size_bytes: 256 * 1024,
            flush_size_bytes: 64 * 1024,
            record_size_max: 64 * 1024,
            defrag_reserve_blocks: 2,
            durability: Durability::CommitToDevice,
            ..StoreConfig::default()
        },
    }
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn vid(v: i64) -> ElementId {
    ElementId::from_value(&Value::Long(v), "Vertex").expect("vertex id")
}

async fn run_text(g: &Executor<RoutedKv>, text: &str) -> Result<Vec<Value>, String> {
    let bc = gremlin::parser::parse(text, &|_| None).map_err(|e| format!("parse {text}: {e}"))?;
    let trs = g
        .run(&bc, &RunOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(trs
        .into_iter()
        .flat_map(|t| std::iter::repeat_n(t.value, usize::try_from(t.bulk).unwrap_or(0)))
        .collect())
}

fn longs(vs: &[Value]) -> HashSet<i64> {
    vs.iter()
        .map(|v| match v {
            Value::Long(x) => *x,
            other => panic!("edge id {other:?} is not a Long"),
        })
        .collect()
}

/// Waits (serving other cores meanwhile) until `n` cores have arrived.
async fn barrier(count: &AtomicUsize, n: usize) {
    count.fetch_add(1, Ordering::AcqRel);
    while count.load(Ordering::Acquire) < n {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
}

/// Opens `path` with `CORES` cores and runs `body` on each; returns core 0's result.
fn with_cluster<T, F, Fut>(path: &Path, body: F) -> T
where
    T: Send + 'static,
    F: Fn(Rc<CoreHost>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Option<T>> + 'static,
{
    with_cores(path, CORES, body)
}

/// Opens `path` with `cores` cores and runs `body` on each; returns the one result given.
fn with_cores<T, F, Fut>(path: &Path, cores: usize, body: F) -> T
where
    T: Send + 'static,
    F: Fn(Rc<CoreHost>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Option<T>> + 'static,
{
    let dir = Arc::new(DataDir::open_or_create(path, &dir_options()).expect("data dir"));
    let cluster = Cluster::new(dir, cores, RuntimeConfig::default()).expect("cluster");
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..cores)
        .map(|core| {
            let cluster = cluster.clone();
            let body = body.clone();
            let tx = tx.clone();
            LocalExecutorBuilder::new(Placement::Unbound)
                .name(&format!("crash-edges-{core}"))
                .spawn(move || async move {
                    let host = Rc::new(cluster.join(core).await.expect("join"));
                    let out = body(host.clone()).await;
                    let host = Rc::try_unwrap(host).ok().expect("host still shared");
                    host.shutdown().await.expect("shutdown");
                    if let Some(out) = out {
                        let _ = tx.send(out);
                    }
                })
                .expect("executor")
        })
        .collect();
    drop(cluster);
    drop(tx);
    let out = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("a core failed or hung");
    for h in handles {
        h.join().expect("executor thread");
    }
    out
}

/// Vertex `v`'s shard.
fn shard_of(dir: &DataDir, v: i64) -> u32 {
    let space = engine::model::keys::KeySpace::new("g").expect("space");
    dir.shard_of(&space.vertex_digest(&vid(v)))
}

/// The child role: runs only when the parent sets `CG_CRASH_EDGES_CHILD=<path>:<seed>:<life>`.
#[test]
fn crash_edges_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<String> = spec.split(':').map(str::to_string).collect();
    let [path, seed, life] = parts.as_slice() else {
        panic!("bad spec {spec}")
    };
    let path = PathBuf::from(path);
    let seed: u64 = seed.parse().expect("seed");
    let life: i64 = life.parse().expect("life");
    let out = |line: String| {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(line.as_bytes());
        let _ = o.flush();
    };
    let shards: Vec<u32> = {
        let dir = DataDir::open_or_create(&path, &dir_options()).expect("child dir");
        (0..VERTICES).map(|v| shard_of(&dir, v)).collect()
    };
    let shards = Arc::new(shards);
    with_cluster(&path, move |host: Rc<CoreHost>| {
        let shards = shards.clone();
        async move {
            let core = host.core();
            let g = host.executor("g").expect("graph g");
            out(format!("\nREADY {core}\n"));
            let mut tasks = Vec::new();
            for w in 0..WRITERS_PER_CORE {
                let g = g.clone();
                let shards = shards.clone();
                tasks.push(glommio::spawn_local(async move {
                    let writer = (core * WRITERS_PER_CORE + w) as i64;
                    let mut rng = Rng(seed ^ (writer as u64 + 1).wrapping_mul(0x9E37_79B9));
                    let mut mine: Vec<i64> = Vec::new();
                    let mut next = life * LIFE_IDS + writer * WRITER_IDS;
                    loop {
                        if !mine.is_empty() && rng.below(3) == 0 {
                            let e = mine.swap_remove(rng.below(mine.len() as u64) as usize);
                            out(format!("S {e} D\n"));
                            match run_text(&g, &format!("g.E({e}L).drop()")).await {
                                Ok(_) => out(format!("A {e}\n")),
                                Err(m) => out(format!("E {e} {m}\n")),
                            }
                            continue;
                        }
                        let o = rng.below(VERTICES as u64) as i64;
                        // The target lives on the other shard.
                        let i = loop {
                            let i = rng.below(VERTICES as u64) as i64;
                            if shards.get(i as usize) != shards.get(o as usize) {
                                break i;
                            }
                        };
                        let e = next;
                        next += 1;
                        out(format!("S {e} A {o} {i}\n"));
                        let t = format!("g.V({o}L).addE('x').to(__.V({i}L)).property(T.id, {e}L)");
                        match run_text(&g, &t).await {
                            Ok(r) if r.len() == 1 => {
                                mine.push(e);
                                out(format!("A {e}\n"));
                            }
                            Ok(r) => out(format!("E {e} answer {r:?}\n")),
                            Err(m) => out(format!("E {e} {m}\n")),
                        }
                    }
                }));
            }
            // Runs until killed.
            for t in tasks {
                t.await;
            }
            None::<()>
        }
    });
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Acknowledged add (and no drop started).
    Live,
    /// Acknowledged drop.
    Dropped,
    /// Add or drop started, not acknowledged: all or nothing.
    Either,
}

/// What the reopened store shows: per vertex the ids of its out and in edges, and `g.E()`.
struct Seen {
    out: Vec<HashSet<i64>>,
    inn: Vec<HashSet<i64>>,
    all: HashSet<i64>,
}

fn observe(path: &Path) -> Seen {
    let arrived = Arc::new(AtomicUsize::new(0));
    with_cluster(path, move |host: Rc<CoreHost>| {
        let arrived = arrived.clone();
        async move {
            let mut r = None;
            if host.core() == 0 {
                let g = host.executor("g").expect("g");
                let mut out = Vec::new();
                let mut inn = Vec::new();
                for v in 0..VERTICES {
                    let q = |d: &str| format!("g.V({v}L).{d}E().id()");
                    out.push(longs(&run_text(&g, &q("out")).await.expect("outE")));
                    inn.push(longs(&run_text(&g, &q("in")).await.expect("inE")));
                }
                let all = longs(&run_text(&g, "g.E().id()").await.expect("g.E()"));
                r = Some(Seen { out, inn, all });
            }
            barrier(&arrived, CORES).await;
            r
        }
    })
}

#[test]
fn sigkill_while_adding_and_dropping_cross_core_edges() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    eprintln!("crash_edges seed {seed} (replay with CRASH_SEED={seed})");
    let path = std::env::temp_dir().join(format!("cg-crash-edges-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    // The vertices, once.
    let arrived = Arc::new(AtomicUsize::new(0));
    with_cluster(&path, move |host: Rc<CoreHost>| {
        let arrived = arrived.clone();
        async move {
            let g = host.executor("g").expect("g");
            for v in (0..VERTICES).filter(|v| *v as usize % CORES == host.core()) {
                run_text(&g, &format!("g.addV('p').property(T.id, {v}L)"))
                    .await
                    .expect("addV");
            }
            barrier(&arrived, CORES).await;
            Some(())
        }
    });
    let mut rng = Rng(seed);
    // Edge id -> (out, in, state), over every life.
    let mut ledger: HashMap<i64, (i64, i64, State)> = HashMap::new();
    let (mut acked_adds, mut acked_drops, mut cut, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let exe = std::env::current_exe().expect("test binary");
    for life in 1..=KILLS as i64 {
        let spec = format!("{}:{}:{life}", path.display(), seed ^ life as u64);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_edges_child_entry",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let ready_by = Instant::now() + Duration::from_secs(READY_S_MAX);
        let mut ready = 0;
        while ready < CORES {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    ready += usize::from(l.starts_with("READY"));
                    lines.push(l);
                }
                Err(_) if Instant::now() > ready_by => {
                    let _ = child.kill();
                    panic!("seed {seed}: child never opened the directory")
                }
                Err(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(150 + rng.below(600)));
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL
        let _ = child.wait();
        reader.join().expect("reader");
        lines.extend(rx.try_iter());
        // This life's ledger, in the order the child started and acknowledged operations.
        let mut pending: HashMap<i64, bool> = HashMap::new(); // edge -> the operation is a drop
        for l in &lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["S", e, "A", o, i] => {
                    let (Ok(e), Ok(o), Ok(i)) = (e.parse(), o.parse(), i.parse()) else {
                        continue;
                    };
                    ledger.insert(e, (o, i, State::Either));
                    pending.insert(e, false);
                }
                ["S", e, "D"] => {
                    let Ok(e) = e.parse::<i64>() else { continue };
                    if let Some(x) = ledger.get_mut(&e) {
                        x.2 = State::Either;
                        pending.insert(e, true);
                    }
                }
                ["A", e] => {
                    let Ok(e) = e.parse::<i64>() else { continue };
                    let (Some(drop), Some(x)) = (pending.remove(&e), ledger.get_mut(&e)) else {
                        continue;
                    };
                    if drop {
                        x.2 = State::Dropped;
                        acked_drops += 1;
                    } else {
                        x.2 = State::Live;
                        acked_adds += 1;
                    }
                }
                ["E", e, ..] => {
                    // A failed operation leaves its edge all or nothing, like a cut one.
                    if let Ok(e) = e.parse::<i64>() {
                        pending.remove(&e);
                        failed += 1;
                    }
                }
                _ => {}
            }
        }
        cut += pending.len() as u64;
        // Reopen and check from both endpoints.
        let seen = observe(&path);
        let mut problems = Vec::new();
        for (&e, x) in ledger.iter_mut() {
            let (o, i, state) = *x;
            let from_out = seen.out[o as usize].contains(&e);
            let from_in = seen.inn[i as usize].contains(&e);
            let listed = seen.all.contains(&e);
            let present = match state {
                State::Live => from_out && from_in && listed,
                State::Dropped => from_out || from_in || listed,
                State::Either => from_out,
            };
            match state {
                State::Live if !present => problems.push(format!(
                    "acknowledged edge {e} ({o}->{i}) lost: outE {from_out}, inE {from_in}, g.E() {listed}"
                )),
                State::Dropped if present => problems.push(format!(
                    "dropped edge {e} ({o}->{i}) came back: outE {from_out}, inE {from_in}, g.E() {listed}"
                )),
                State::Either if from_out != from_in || from_out != listed => {
                    problems.push(format!(
                        "cut edge {e} ({o}->{i}) half there: outE {from_out}, inE {from_in}, g.E() {listed}"
                    ))
                }
                _ => {}
            }
            if state == State::Either {
                x.2 = if from_out {
                    State::Live
                } else {
                    State::Dropped
                };
            }
        }
        // Nothing outside the ledger, and each side lists exactly what g.E() lists.
        let outs: HashSet<i64> = seen.out.iter().flatten().copied().collect();
        let ins: HashSet<i64> = seen.inn.iter().flatten().copied().collect();
        if outs != seen.all || ins != seen.all {
            problems.push(format!(
                "edges seen from one side only: out-only {:?}, in-only {:?}, g.E()-only {:?}",
                outs.difference(&ins).collect::<Vec<_>>(),
                ins.difference(&outs).collect::<Vec<_>>(),
                seen.all.difference(&outs).collect::<Vec<_>>()
            ));
        }
        assert!(
            problems.is_empty(),
            "seed {seed}, kill {life}: {} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    // Recovery completes: leftovers of cut operations (pending slots, locators and entries
    // naming no slot) are found by the consistency check, removed by repair on one core over
    // the whole directory, and what reads see does not change.
    let before = observe(&path);
    let (leftovers, repaired, after_repair) =
        with_cores(&path, 1, |host: Rc<CoreHost>| async move {
            let g = host.executor("g").expect("g");
            let (leftovers, _) = edge_problems(&g.model).await.expect("check");
            let rep = g.model.repair_edges().await.expect("repair");
            let (after, edges) = edge_problems(&g.model).await.expect("check");
            Some((leftovers.len(), rep, (after, edges)))
        });
    eprintln!("seed {seed}: {leftovers} leftovers before repair; {repaired:?}");
    assert!(
        after_repair.0.is_empty(),
        "seed {seed}: after repair: {:?}",
        after_repair.0
    );
    assert_eq!(
        after_repair.1,
        before.all.len() as u64,
        "seed {seed}: committed edges"
    );
    let after = observe(&path);
    assert_eq!(after.all, before.all, "seed {seed}: repair changed g.E()");
    assert_eq!(after.out, before.out, "seed {seed}: repair changed outE");
    assert_eq!(after.inn, before.inn, "seed {seed}: repair changed inE");
    let _ = std::fs::remove_dir_all(&path);
    eprintln!(
        "seed {seed}: {KILLS} kills, {acked_adds} acknowledged adds, {acked_drops} acknowledged drops, {cut} operations cut by a kill, {failed} failed"
    );
    assert!(acked_adds >= 200, "seed {seed}: too few adds: {acked_adds}");
    assert!(
        acked_drops >= 50,
        "seed {seed}: too few drops: {acked_drops}"
    );
    assert!(cut >= KILLS, "seed {seed}: too few cut operations: {cut}");
}
