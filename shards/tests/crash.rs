//! Real-process crash test: the test binary re-runs itself as a child that writes under load
//! to a real direct-I/O data file (glommio), reporting every start and acknowledgement over a
//! pipe; the parent keeps the ledger, SIGKILLs the child at random moments (at least 20
//! times), reopens the file and checks: in commit-to-device mode every acknowledged write is
//! there with its value and deletes stay deleted; in buffered mode only writes acknowledged
//! inside the loss window may be missing. The file is small so that block reuse, defrag and
//! tombstone collection each happen at least 100 times over the run (asserted).
//! Replay: `CRASH_SEED=<seed> cargo test -p shards --test crash`.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shards::device::{Device, DmaDevice, SimRng};
use shards::{Clock, Digest, Durability, Shard, StoreConfig, StoreError, WriteMode};

const KILLS: u64 = 20;
const KEYS: u64 = 300;
const WRITERS: usize = 8;
const FILE_SIZE_BYTES: u64 = 4096 + 40 * 32 * 1024;
const FLUSH_MS_MAX: u64 = 50;
/// Buffered mode: writes acknowledged less than this before the kill may be lost (the
/// documented loss window `flush_ms_max`, plus the background tick and a slow fdatasync).
const LOSS_WINDOW_MS: u64 = FLUSH_MS_MAX * 2 + 300;
const CHILD_ENV: &str = "CG_CRASH_CHILD";

fn cfg(durability: Durability) -> StoreConfig {
    StoreConfig {
        block_size_bytes: 32 * 1024,
        flush_size_bytes: 8 * 1024,
        record_size_max: 2048,
        flush_ms_max: FLUSH_MS_MAX,
        durability,
        defrag_reserve_blocks: 2,
        write_queue_blocks_max: 4,
        read_cache_blocks_max: 2,
        read_cache_bytes_max: 1 << 20,
        ..StoreConfig::default()
    }
}

fn key(k: u64) -> Digest {
    Digest::of_int(b"crash", k as i64)
}

fn value(k: u64, id: u64) -> Vec<u8> {
    let mut v = format!("{k}:{id}:").into_bytes();
    v.resize(100 + (id % 700) as usize, (id % 251) as u8);
    v
}

fn parse_value(v: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(&v[..v.len().min(40)])
        .split(':')
        .nth(1)?
        .parse()
        .ok()
}

async fn open(path: &Path, durability: Durability) -> Result<Shard, StoreError> {
    if path.exists() {
        let dev = Device::Dma(DmaDevice::open(path, None).await?);
        Ok(Shard::open(0, cfg(durability), dev, Clock::System).await?.0)
    } else {
        let dev = Device::Dma(DmaDevice::open(path, Some(FILE_SIZE_BYTES)).await?);
        Shard::create(0, cfg(durability), dev, Clock::System).await
    }
}

fn durability_of(s: &str) -> Durability {
    if s == "buffered" {
        Durability::Buffered
    } else {
        Durability::CommitToDevice
    }
}

/// The child role: runs only when the parent sets `CG_CRASH_CHILD=<path>:<mode>:<seed>:<first id>`.
#[test]
fn crash_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<String> = spec.split(':').map(str::to_string).collect();
    let [path, mode, seed, first_id] = parts.as_slice() else {
        panic!("bad spec {spec}")
    };
    let path = PathBuf::from(path);
    let durability = durability_of(mode);
    let seed: u64 = seed.parse().unwrap_or(1);
    let first_id: u64 = first_id.parse().unwrap_or(1);
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let out = |line: String| {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(line.as_bytes());
                let _ = o.flush();
            };
            let shard = Rc::new(open(&path, durability).await.expect("child open"));
            out("\nREADY\n".to_string());
            let stop = Rc::new(Cell::new(false));
            let bg =
                glommio::spawn_local(shards::runtime::run_background(shard.clone(), stop.clone()))
                    .detach();
            let next_id = Rc::new(Cell::new(first_id));
            let mut tasks = Vec::new();
            for w in 0..WRITERS {
                let shard = shard.clone();
                let next_id = next_id.clone();
                tasks.push(glommio::spawn_local(async move {
                    let mut rng = SimRng::new(seed ^ ((w as u64 + 1) * 0x9E37));
                    loop {
                        let k = rng.below(KEYS);
                        let id = next_id.get();
                        next_id.set(id + 1);
                        let del = rng.below(3) == 0;
                        // Printed before the call: the append happens in the same poll, so the
                        // order of S lines is the order of records in the store.
                        let r = if del {
                            out(format!("S {k} {id} D\n"));
                            shard.delete(&key(k), WriteMode::Plain).await.map(|_| ())
                        } else {
                            out(format!("S {k} {id} P\n"));
                            shard
                                .put(&key(k), &value(k, id), WriteMode::Plain, 0)
                                .await
                                .map(|_| ())
                        };
                        match r {
                            Ok(()) => out(format!("A {id}\n")),
                            Err(_) => {
                                out(format!("E {id}\n"));
                                glommio::timer::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    }
                }));
            }
            let _keep_alive = (bg, tasks);
            loop {
                glommio::timer::sleep(Duration::from_millis(10)).await;
                let s = shard.stats();
                out(format!(
                    "C {} {} {}\n",
                    s.blocks_reused, s.defrag_blocks, s.tombstones_collected
                ));
            }
        })
        .expect("child executor")
        .join()
        .expect("child join");
}

#[derive(Clone, Copy)]
struct Op {
    key: u64,
    /// Value id; None for a delete.
    val: Option<u64>,
    acked_at: Option<Instant>,
}

fn run_parent(mode: &str) {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    let durability = durability_of(mode);
    let dir = std::env::temp_dir().join(format!("cg-crash-{mode}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.dat");
    let mut rng = SimRng::new(seed);
    // Truth per key at the start of each child life: Some(value id) or None (absent).
    let mut truth: HashMap<u64, Option<u64>> = HashMap::new();
    let mut next_id = 1u64;
    let mut sums = (0u64, 0u64, 0u64);
    let mut acked_total = 0u64;
    let exe = std::env::current_exe().unwrap();
    for kill in 0..KILLS {
        let spec = format!("{}:{mode}:{}:{next_id}", path.display(), seed ^ kill);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_entry",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<(String, Instant)>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((line, Instant::now())).is_err() {
                    break;
                }
            }
        });
        // Wait until the child has opened the store, then let it run a random while.
        let mut lines = Vec::new();
        let ready_by = Instant::now() + Duration::from_secs(30);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((l, t)) => {
                    let ready = l.ends_with("READY");
                    lines.push((l, t));
                    if ready {
                        break;
                    }
                }
                Err(_) if Instant::now() > ready_by => {
                    panic!("seed {seed}: child never opened the store")
                }
                Err(_) => {}
            }
        }
        let run_ms = 150
            + rng.below(if durability == Durability::Buffered {
                1200
            } else {
                500
            });
        std::thread::sleep(Duration::from_millis(run_ms));
        let killed_at = Instant::now();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        // Build this life's ops in store order.
        let mut ops: Vec<Op> = Vec::new();
        let mut by_id: HashMap<u64, usize> = HashMap::new();
        let mut counters = (0, 0, 0);
        for (l, t) in &lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["S", k, id, kind] => {
                    let (Ok(k), Ok(id)) = (k.parse::<u64>(), id.parse::<u64>()) else {
                        continue;
                    };
                    by_id.insert(id, ops.len());
                    ops.push(Op {
                        key: k,
                        val: (*kind == "P").then_some(id),
                        acked_at: None,
                    });
                    next_id = next_id.max(id + 1);
                }
                ["A", id] => {
                    if let Some(&i) = id.parse::<u64>().ok().and_then(|id| by_id.get(&id)) {
                        ops[i].acked_at = Some(*t);
                        acked_total += 1;
                    }
                }
                ["C", a, b, c] => {
                    counters = (
                        a.parse().unwrap_or(0),
                        b.parse().unwrap_or(0),
                        c.parse().unwrap_or(0),
                    );
                }
                _ => {}
            }
        }
        sums.0 += counters.0;
        sums.1 += counters.1;
        sums.2 += counters.2;
        // Reopen in this process and check the ledger.
        let p2 = path.clone();
        let found: HashMap<u64, Option<u64>> =
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .spawn(move || async move {
                    let shard = open(&p2, durability).await.expect("reopen");
                    let mut m = HashMap::new();
                    for k in 0..KEYS {
                        let r = shard.get(&key(k)).await.expect("read after crash");
                        m.insert(
                            k,
                            r.map(|r| parse_value(&r.payload).expect("payload of a ledger value")),
                        );
                    }
                    m
                })
                .unwrap()
                .join()
                .unwrap();
        for k in 0..KEYS {
            let got = found.get(&k).copied().flatten();
            let before = truth.get(&k).copied().flatten();
            let key_ops: Vec<&Op> = ops.iter().filter(|o| o.key == k).collect();
            // Candidates in store order: the state before this life, then each op's result.
            let mut states: Vec<(Option<u64>, Option<Instant>, bool)> = vec![(before, None, true)];
            for o in &key_ops {
                states.push((o.val, o.acked_at, false));
            }
            let last_acked = states.iter().rposition(|s| s.1.is_some()).unwrap_or(0);
            let allowed = |i: usize| -> bool {
                if i >= last_acked {
                    return true;
                }
                if durability == Durability::CommitToDevice {
                    return false;
                }
                // Buffered: an older state is allowed only if every acknowledged write after it
                // was acknowledged inside the loss window before the kill.
                states[i + 1..].iter().all(|s| {
                    s.1.is_none_or(|t| {
                        killed_at.saturating_duration_since(t)
                            < Duration::from_millis(LOSS_WINDOW_MS)
                    })
                })
            };
            let ok = states
                .iter()
                .enumerate()
                .any(|(i, s)| s.0 == got && allowed(i));
            assert!(
                ok,
                "seed {seed} ({mode}), kill {kill}: key {k} read {got:?}; before {before:?}, ops {:?}",
                key_ops.iter().map(|o| (o.val, o.acked_at.map(|t| killed_at.saturating_duration_since(t)))).collect::<Vec<_>>()
            );
            truth.insert(k, got);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "seed {seed} ({mode}): {KILLS} kills, {acked_total} acknowledged ops; blocks reused {}, defragmented {}, tombstones collected {}",
        sums.0, sums.1, sums.2
    );
    assert!(
        acked_total > 1000,
        "seed {seed}: too few acknowledged ops: {acked_total}"
    );
    assert!(
        sums.0 >= 100 && sums.1 >= 100 && sums.2 >= 100,
        "seed {seed}: reuse/defrag/tombstone counts {sums:?}"
    );
}

#[test]
fn sigkill_commit_to_device() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    run_parent("commit");
}

#[test]
fn sigkill_buffered() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    run_parent("buffered");
}
