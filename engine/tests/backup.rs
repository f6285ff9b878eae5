//! Online backup under write load on a real data directory: two cores add vertices and
//! edges across cores through the graph model while the backup coordinator backs up every
//! shard; the backup is restored into a fresh directory and repaired, then checked: every
//! vertex and edge acknowledged before the backup began is there (edges from both
//! endpoints), nothing restored was never acknowledged, and no edge is present at one
//! endpoint and missing at the other.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use engine::backup::{restore_and_repair, spawn_backup_worker, BackupCoordinator};
use engine::model::keys::{Dir, ElementId, IntWidth, KeySpace};
use engine::model::ops::repair::edge_problems;
use engine::model::ops::{Model, SystemClock};
use engine::model::ModelConfig;
use engine::runtime::{Cluster, RuntimeConfig};
use glommio::{LocalExecutorBuilder, Placement};
use shards::{DataDir, DirOptions, StoreConfig};

const CORES: usize = 2;
const VERTICES_BEFORE: i64 = 200;
const EDGES_BEFORE: i64 = 400;
/// Writes each core keeps doing after the backup started (at least; more until it ends).
const WRITES_DURING_MIN: i64 = 300;
/// Upper bound on writes during the backup, so a stuck backup fails instead of filling disk.
const WRITES_DURING_MAX: i64 = 200_000;
const WATCHDOG_S: u64 = 300;

fn opts() -> DirOptions {
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

fn model_cfg() -> ModelConfig {
    // Small caches and packs: supernodes with index pages and many packs get backed up too.
    ModelConfig {
        edge_cache_entries: 4,
        pack_edges: 3,
        index_page_entries: 8,
        indexed_edge_keys: vec![],
    }
}

fn rt() -> RuntimeConfig {
    RuntimeConfig {
        graphs: vec!["g".into()],
        model: model_cfg(),
        ..RuntimeConfig::default()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("cg-engine-backup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn int(v: i64) -> ElementId {
    ElementId::Int {
        value: v,
        width: IntWidth::Long,
    }
}

fn vid(core: usize, i: i64) -> i64 {
    core as i64 * 1_000_000 + i
}

fn eid(core: usize, i: i64) -> i64 {
    core as i64 * 1_000_000 + 500_000 + i
}

#[derive(Default)]
struct Acks {
    /// (id, acknowledged before the backup started)
    vertices: Vec<(i64, bool)>,
    edges: Vec<(i64, i64, i64, bool)>,
}

async fn barrier(count: &AtomicUsize, n: usize) {
    count.fetch_add(1, Ordering::AcqRel);
    while count.load(Ordering::Acquire) < n {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn backup_under_cross_core_edge_writes_restores_consistently() {
    let (data, bk, restored) = (temp_dir("data"), temp_dir("bk"), temp_dir("restored"));
    let dir = Arc::new(DataDir::open_or_create(&data, &opts()).expect("data dir"));
    let cluster = Cluster::new(dir, CORES, rt()).expect("cluster");
    let coord = BackupCoordinator::new(&cluster);
    let acks = Arc::new(Mutex::new(Acks::default()));
    let started = Arc::new(AtomicBool::new(false));
    let (phase1, phase2) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (tx, rx) = mpsc::channel();
    for core in 0..CORES {
        let (cluster, coord, acks, started) = (
            cluster.clone(),
            coord.clone(),
            acks.clone(),
            started.clone(),
        );
        let (phase1, phase2, bk, tx) = (phase1.clone(), phase2.clone(), bk.clone(), tx.clone());
        LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("backup-test-{core}"))
            .spawn(move || async move {
                let host = cluster.join(core).await.expect("join");
                spawn_backup_worker(coord.clone(), &host).expect("worker");
                let m = Model::new(
                    host.kv(),
                    KeySpace::new("g").expect("space"),
                    model_cfg(),
                    Box::new(SystemClock),
                )
                .expect("model");
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ core as u64;
                let mut next = |n: i64| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % n as u64) as i64
                };
                for i in 0..VERTICES_BEFORE {
                    m.add_vertex(int(vid(core, i)), "v", 0)
                        .await
                        .expect("add vertex");
                    let before = !started.load(Ordering::Acquire);
                    acks.lock().unwrap().vertices.push((vid(core, i), before));
                }
                barrier(&phase1, CORES).await;
                let mut edge_no = 0i64;
                let mut vert_no = VERTICES_BEFORE;
                let mut during = 0i64;
                loop {
                    if edge_no >= EDGES_BEFORE && core == 0 && !started.load(Ordering::Acquire) {
                        started.store(true, Ordering::Release);
                        coord.start(&bk).expect("start backup");
                    }
                    if started.load(Ordering::Acquire) {
                        during += 1;
                        let finished = coord.job().is_some_and(|j| j.result.is_some());
                        if (finished && during >= WRITES_DURING_MIN) || during >= WRITES_DURING_MAX
                        {
                            break;
                        }
                    }
                    if edge_no % 4 == 3 {
                        // A new vertex now and then, written during the backup too.
                        m.add_vertex(int(vid(core, vert_no)), "v", 0)
                            .await
                            .expect("add vertex");
                        let before = !started.load(Ordering::Acquire);
                        acks.lock()
                            .unwrap()
                            .vertices
                            .push((vid(core, vert_no), before));
                        vert_no += 1;
                    }
                    // Out from this core's vertex to any vertex of either core; vertex 0 of
                    // each core is hot (a supernode).
                    let out = vid(
                        core,
                        if next(5) == 0 {
                            0
                        } else {
                            next(VERTICES_BEFORE)
                        },
                    );
                    let other = next(CORES as i64) as usize;
                    let inn = vid(
                        other,
                        if next(5) == 0 {
                            0
                        } else {
                            next(VERTICES_BEFORE)
                        },
                    );
                    let id = eid(core, edge_no);
                    m.add_edge(int(id), "e", &int(out), &int(inn), 0)
                        .await
                        .expect("add edge");
                    let before = !started.load(Ordering::Acquire);
                    acks.lock().unwrap().edges.push((id, out, inn, before));
                    edge_no += 1;
                    if edge_no % 16 == 0 {
                        glommio::yield_if_needed().await;
                    }
                }
                barrier(&phase2, CORES).await;
                host.shutdown().await.expect("shutdown");
                let _ = tx.send(core);
            })
            .expect("executor");
    }
    drop(tx);
    for _ in 0..CORES {
        rx.recv_timeout(Duration::from_secs(WATCHDOG_S))
            .expect("core finished in time");
    }
    let job = coord.job().expect("a job ran");
    let backed_up = job
        .result
        .clone()
        .expect("finished")
        .expect("backup succeeded");
    eprintln!("{}", job.status_line().trim());
    drop(cluster);
    drop(coord);

    let report = restore_and_repair(&bk, &restored, &opts().store, rt()).expect("restore");
    assert_eq!(report.records, backed_up);
    eprintln!("restore: {report:?}");
    let e = restore_and_repair(&bk, &restored, &opts().store, rt()).expect_err("non-empty");
    assert!(e.contains("not empty"), "{e}");

    let acks = Arc::try_unwrap(acks)
        .ok()
        .expect("acks")
        .into_inner()
        .unwrap();
    let during = acks.edges.iter().filter(|e| !e.3).count();
    assert!(
        during >= WRITES_DURING_MIN as usize,
        "{during} edges written during the backup"
    );
    let dir = Arc::new(DataDir::open_or_create(&restored, &opts()).expect("restored dir"));
    let cluster = Cluster::new(dir, 1, rt()).expect("cluster");
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let host = cluster.join(0).await.expect("join restored");
            let m = Model::new(
                host.kv(),
                KeySpace::new("g").unwrap(),
                model_cfg(),
                Box::new(SystemClock),
            )
            .expect("model");
            let all_v: HashSet<i64> = acks.vertices.iter().map(|v| v.0).collect();
            let all_e: HashSet<i64> = acks.edges.iter().map(|e| e.0).collect();
            for (v, before) in &acks.vertices {
                if *before {
                    assert!(
                        m.vertex(&int(*v)).await.unwrap().is_some(),
                        "vertex {v} acknowledged before the backup is missing"
                    );
                }
            }
            let mut checked = 0;
            for (e, out, inn, before) in &acks.edges {
                if !*before {
                    continue;
                }
                let view = m.edge(&int(*e)).await.unwrap();
                assert!(
                    view.is_some(),
                    "edge {e} acknowledged before the backup is missing"
                );
                for (v, dir) in [(*out, Dir::Out), (*inn, Dir::In)] {
                    let seen = m
                        .incident(&int(v), &[dir], &[], &[])
                        .await
                        .unwrap()
                        .iter()
                        .any(|(_, x)| x.id == int(*e));
                    assert!(seen, "edge {e} not listed at its {dir:?} endpoint {v}");
                }
                checked += 1;
            }
            assert_eq!(checked, acks.edges.iter().filter(|e| e.3).count());
            for v in m.scan_vertex_ids().await.unwrap() {
                let ElementId::Int { value, .. } = v else {
                    panic!("unexpected id {v:?}")
                };
                assert!(
                    all_v.contains(&value),
                    "restored vertex {value} was never acknowledged"
                );
            }
            let restored_edges = m.scan_edge_ids().await.unwrap();
            for e in &restored_edges {
                let ElementId::Int { value, .. } = e else {
                    panic!("unexpected id {e:?}")
                };
                assert!(
                    all_e.contains(value),
                    "restored edge {value} was never acknowledged"
                );
            }
            let (problems, edges) = edge_problems(&m).await.unwrap();
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(edges as usize, restored_edges.len());
            eprintln!(
                "restored {} edges ({} acknowledged before the backup, {} written during it)",
                edges, checked, during
            );
            host.shutdown().await.expect("shutdown");
        })
        .expect("executor")
        .join()
        .expect("checks");
    for p in [data, bk, restored] {
        let _ = std::fs::remove_dir_all(p);
    }
}
