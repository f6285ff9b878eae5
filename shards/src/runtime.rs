//! The thin glommio host for shards: the background loop (flush timer, defrag, expiry) that
//! runs in a low-shares task queue on the shard's executor.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement, Shares};

use crate::dir::DataDir;
use crate::store::{Clock, Shard, ShardStats};
use crate::StoreError;

/// How often an executor checks the process-wide stop flag.
pub const STOP_POLL_MS: u64 = 50;

/// Minimum pause of the background loop.
pub const BACKGROUND_TICK_MS_MIN: u64 = 1;
/// Rounds of background work per wake-up before sleeping again.
pub const MAINTAIN_ROUNDS_MAX: usize = 64;
/// How often tombstones and expired records are swept.
pub const SWEEP_INTERVAL_MS: u64 = 1000;

/// Runs a shard's background work until `stop` is set, then flushes: wakes when a writer asks
/// for a flush or every `flush_ms_max / 2`. Spawn it in a task queue with low shares, e.g.
/// `glommio::spawn_local_into(run_background(shard, stop), tq)`.
pub async fn run_background(shard: Rc<Shard>, stop: Rc<Cell<bool>>) {
    let tick = Duration::from_millis((shard.config().flush_ms_max / 2).max(BACKGROUND_TICK_MS_MIN));
    let mut last_sweep = Instant::now();
    while !stop.get() {
        shard.wait_for_work(glommio::timer::sleep(tick)).await;
        let sweep = last_sweep.elapsed() >= Duration::from_millis(SWEEP_INTERVAL_MS);
        if sweep {
            last_sweep = Instant::now();
        }
        for _ in 0..MAINTAIN_ROUNDS_MAX {
            match shard.maintain(sweep).await {
                Ok(true) if !stop.get() => glommio::yield_if_needed().await,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(shard = shard.id(), error = %e, "background work failed");
                    break;
                }
            }
        }
    }
    if let Err(e) = shard.flush().await {
        tracing::error!(shard = shard.id(), error = %e, "final flush failed");
    }
}

/// Starts one pinned executor per CPU in `cpus` (`Placement::Fixed`); executor `i` opens the
/// shards it owns ([`DataDir::shards_of_executor`]), runs their background work in a task
/// queue with low shares, waits until `stop` is set, then flushes and returns each shard's
/// stats. Errors opening a shard end that executor with the error.
pub fn serve_shards(
    dir: Arc<DataDir>,
    cpus: &[usize],
    stop: Arc<AtomicBool>,
) -> Result<Vec<(u32, ShardStats)>, StoreError> {
    let n = cpus.len().max(1);
    let mut handles = Vec::new();
    for (i, &cpu) in cpus.iter().enumerate() {
        let dir = dir.clone();
        let stop = stop.clone();
        let h = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("core-{i}"))
            .spawn(move || async move {
                let bg = glommio::executor().create_task_queue(
                    Shares::Static(100),
                    glommio::Latency::NotImportant,
                    "storage-bg",
                );
                let mut shards = Vec::new();
                for id in dir.shards_of_executor(i, n) {
                    let (shard, rep) = dir.open_shard(id, Clock::System).await?;
                    tracing::info!(shard = id, cpu, records = rep.records, "shard open");
                    let shard = Rc::new(shard);
                    let flag = Rc::new(Cell::new(false));
                    let task =
                        glommio::spawn_local_into(run_background(shard.clone(), flag.clone()), bg)
                            .map_err(|e| {
                                StoreError::Config(format!("spawning background task: {e}"))
                            })?;
                    shards.push((shard, flag, task));
                }
                while !stop.load(Ordering::Relaxed) {
                    glommio::timer::sleep(Duration::from_millis(STOP_POLL_MS)).await;
                }
                let mut out = Vec::new();
                for (shard, flag, task) in shards {
                    flag.set(true);
                    shard.wake_background();
                    task.await;
                    shard.flush().await?;
                    out.push((shard.id(), shard.stats()));
                }
                Ok::<_, StoreError>(out)
            })
            .map_err(|e| StoreError::Config(format!("starting executor on CPU {cpu}: {e}")))?;
        handles.push(h);
    }
    let mut all = Vec::new();
    for h in handles {
        let r = h
            .join()
            .map_err(|e| StoreError::Config(format!("executor failed: {e}")))?;
        all.extend(r?);
    }
    Ok(all)
}
