//! The storage benchmark: one shard on a direct-I/O file, measured against a plain direct-I/O
//! baseline (4 KiB random reads, 1 MiB sequential writes) at the same queue depth on the same
//! file; and the index memory measurement.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use shards::device::{BlockDevice, Device, DmaDevice, SimRng, SECTOR_SIZE_BYTES};
use shards::index::{Entry, Index};
use shards::{Clock, Digest, Durability, Shard, ShardStats, StoreConfig, StoreError, WriteMode};

use crate::alloc::Counting;

/// Largest queue depth accepted.
const QD_MAX: usize = 1024;
/// Sequential-write baseline write size.
const SEQ_WRITE_SIZE_BYTES: usize = 1 << 20;
/// Sequential-write baseline queue depth (at most `--qd`).
const SEQ_WRITE_QD: usize = 4;

/// Storage benchmark settings.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// Directory for the data file (removed afterwards unless --keep).
    #[arg(long, default_value = "./coregraph-bench")]
    dir: PathBuf,
    /// Data file size in MiB (the full run uses 6144: >= 4 GiB of records at 75%).
    #[arg(long, default_value_t = 512)]
    file_mib: u64,
    /// Record payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Concurrent operations (queue depth).
    #[arg(long, default_value_t = 32)]
    qd: usize,
    /// Seconds per timed phase.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Fill level for the insert phase, percent of the file.
    #[arg(long, default_value_t = 75)]
    fill_pct: u64,
    /// Defrag low-water mark, percent live (a file 70% full needs about 65 or more; docs/PERF.md).
    #[arg(long, default_value_t = 85)]
    defrag_lwm_pct: u32,
    /// Record read cache budget in MiB (default 0: the random-read phase measures the
    /// device, so its cache hit rate stays under 1%).
    #[arg(long, default_value_t = 0)]
    read_cache_mib: u64,
    /// CPU to pin the executor to.
    #[arg(long, default_value_t = 0)]
    cpu: usize,
    /// Keep the data file.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone)]
struct Phase {
    name: &'static str,
    ops: u64,
    secs: f64,
    hist: Histogram<u64>,
    bytes: u64,
    /// On-CPU and runnable-but-waiting time of the executor thread during the phase,
    /// seconds (None: not measurable).
    cpu_s: Option<(f64, f64)>,
}

/// On-CPU time and time spent runnable waiting for a CPU (other processes had it) of the
/// calling thread in seconds, from /proc/thread-self/schedstat (Linux).
fn thread_cpu_s() -> Option<(f64, f64)> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut f = s.split_whitespace();
    let run: u64 = f.next()?.parse().ok()?;
    let wait: u64 = f.next()?.parse().ok()?;
    Some((run as f64 / 1e9, wait as f64 / 1e9))
}

impl Phase {
    fn ops_s(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }
    fn line(&self) -> String {
        format!(
            "{:<22} {:>10.0} ops/s {:>9.1} MiB/s  p50 {:>7} us  p99 {:>7} us  p99.9 {:>7} us  ({} ops, cpu {})",
            self.name,
            self.ops_s(),
            self.bytes as f64 / self.secs.max(1e-9) / (1 << 20) as f64,
            self.hist.value_at_quantile(0.5),
            self.hist.value_at_quantile(0.99),
            self.hist.value_at_quantile(0.999),
            self.ops,
            self.cpu_s.map_or("?".to_string(), |(run, wait)| format!(
                "{:.0}% = {:.2} us/op, waiting for a cpu {:.0}%",
                100.0 * run / self.secs.max(1e-9),
                run * 1e6 / self.ops.max(1) as f64,
                100.0 * wait / self.secs.max(1e-9)
            ))
        )
    }
}

fn hist() -> Histogram<u64> {
    // 1 us .. 60 s, 3 significant digits: cannot fail for these constant bounds.
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn key(i: u64) -> Digest {
    Digest::of_int(b"bench", i as i64)
}

/// Longest wait for a flush before a refused write is retried anyway.
const RETRY_WAIT_MS_MAX: u64 = 5;

/// Runs `qd` tasks calling `op(task, i)` until `deadline` or `limit` ops; latency in us.
/// A write refused with overload or device full waits for `shard`'s next flush (at most
/// `RETRY_WAIT_MS_MAX`) and is retried.
async fn drive<F, Fut>(
    name: &'static str,
    shard: Option<Rc<Shard>>,
    qd: usize,
    dur: Duration,
    limit: u64,
    bytes_per_op: u64,
    op: F,
) -> Phase
where
    F: Fn(u64) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(), StoreError>> + 'static,
{
    let h = Rc::new(RefCell::new(hist()));
    let next = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    let op = Rc::new(op);
    let retry_wait = Duration::from_millis(RETRY_WAIT_MS_MAX);
    let cpu0 = thread_cpu_s();
    let start = Instant::now();
    let deadline = start + dur;
    let mut tasks = Vec::new();
    for _ in 0..qd.clamp(1, QD_MAX) {
        let (h, next, op, errors) = (h.clone(), next.clone(), op.clone(), errors.clone());
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            loop {
                let i = next.get();
                if i >= limit || Instant::now() >= deadline {
                    break;
                }
                next.set(i + 1);
                let t = Instant::now();
                loop {
                    match op(i).await {
                        Ok(()) => break,
                        // Backpressure: wait for the flusher or defrag, then retry.
                        Err(StoreError::Overload) | Err(StoreError::DeviceFull)
                            if Instant::now() < deadline =>
                        {
                            let sleep = glommio::timer::sleep(retry_wait);
                            match &shard {
                                Some(s) => {
                                    futures_lite::future::or(s.wait_for_flush(), async {
                                        sleep.await;
                                    })
                                    .await
                                }
                                None => {
                                    sleep.await;
                                }
                            }
                        }
                        Err(_) => {
                            errors.set(errors.get() + 1);
                            break;
                        }
                    }
                }
                let us = t.elapsed().as_micros() as u64;
                let _ = h.borrow_mut().record(us.max(1));
                // A real client awaits its socket between requests; without this a task whose
                // operations complete at once would never let the flusher run.
                glommio::yield_if_needed().await;
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_s = thread_cpu_s()
        .zip(cpu0)
        .map(|(b, a)| (b.0 - a.0, b.1 - a.1));
    if errors.get() > 0 {
        eprintln!("{name}: {} operations failed", errors.get());
    }
    let hist = h.borrow().clone();
    let ops = hist.len();
    Phase {
        name,
        ops,
        secs,
        hist,
        bytes: ops * bytes_per_op,
        cpu_s,
    }
}

/// Runs the storage benchmark and prints the report.
pub fn run(a: Args) -> Result<(), String> {
    std::fs::create_dir_all(&a.dir).map_err(|e| e.to_string())?;
    let path = a.dir.join("bench-shard.dat");
    let _ = std::fs::remove_file(&path);
    let a2 = a.clone();
    let p2 = path.clone();
    let out = LocalExecutorBuilder::new(Placement::Fixed(a.cpu))
        .spawn(move || async move { bench(a2, p2).await })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|e| e.to_string())?;
    if !a.keep {
        let _ = std::fs::remove_file(&path);
    }
    out.map_err(|e| e.to_string())
}

async fn bench(a: Args, path: PathBuf) -> Result<(), StoreError> {
    let file_bytes = a.file_mib << 20;
    let dur = Duration::from_secs(a.seconds);
    println!(
        "coregraph-perf storage: file {} MiB at {}, records {} B, queue depth {}, {} s per phase, defrag lwm {}%",
        a.file_mib,
        path.display(),
        a.record_bytes,
        a.qd,
        a.seconds,
        a.defrag_lwm_pct
    );
    let t = Instant::now();
    let dev = Rc::new(DmaDevice::open(&path, Some(file_bytes)).await?);
    println!(
        "created (preallocated, zero-filled) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Baseline: plain direct I/O on the same file.
    let sectors = dev.size_bytes() / SECTOR_SIZE_BYTES as u64;
    let d = dev.clone();
    let base_read = drive(
        "device 4K random read",
        None,
        a.qd,
        dur,
        u64::MAX,
        SECTOR_SIZE_BYTES as u64,
        move |i| {
            let d = d.clone();
            async move {
                let mut r = SimRng::new(i.wrapping_mul(0x9E37_79B9) ^ 0xABCD);
                let off = r.below(sectors) * SECTOR_SIZE_BYTES as u64;
                d.read_at(off, SECTOR_SIZE_BYTES)
                    .await
                    .map(|_| ())
                    .map_err(StoreError::Io)
            }
        },
    )
    .await;
    // As many bytes as the insert phase will write, so a host cache in front of the disk
    // cannot absorb the whole pattern; timed both without and with the final fdatasync.
    let chunks = dev.size_bytes() * a.fill_pct.min(100) / 100 / SEQ_WRITE_SIZE_BYTES as u64;
    let d = dev.clone();
    let buf = Rc::new(vec![0x5Au8; SEQ_WRITE_SIZE_BYTES]);
    let base_write = drive(
        "device 1M seq write",
        None,
        a.qd.min(SEQ_WRITE_QD),
        Duration::from_secs(3600),
        chunks,
        SEQ_WRITE_SIZE_BYTES as u64,
        move |i| {
            let (d, buf) = (d.clone(), buf.clone());
            async move {
                d.write_at(i * SEQ_WRITE_SIZE_BYTES as u64, &buf)
                    .await
                    .map_err(StoreError::Io)
            }
        },
    )
    .await;
    let t = Instant::now();
    dev.sync().await?;
    let base_write_synced = Phase {
        name: "  same + fdatasync",
        secs: base_write.secs + t.elapsed().as_secs_f64(),
        ..base_write.clone()
    };
    let dev = Rc::try_unwrap(dev).map_err(|_| StoreError::Config("device still shared".into()))?;

    // The store on the same file (formatted afresh).
    let cfg = StoreConfig {
        durability: Durability::Buffered,
        defrag_lwm_pct: a.defrag_lwm_pct,
        read_cache_bytes_max: a.read_cache_mib.saturating_mul(1 << 20),
        ..StoreConfig::default()
    };
    let shard = Rc::new(Shard::create(0, cfg, Device::Dma(dev), Clock::System).await?);
    let stop = Rc::new(Cell::new(false));
    let bg_tq = glommio::executor().create_task_queue(
        glommio::Shares::Static(100),
        glommio::Latency::NotImportant,
        "bench-bg",
    );
    let bg = glommio::spawn_local_into(
        shards::runtime::run_background(shard.clone(), stop.clone()),
        bg_tq,
    )
    .map_err(|e| StoreError::Config(e.to_string()))?;
    let stored = shards::record::stored_len(a.record_bytes) as u64;
    let n = file_bytes * a.fill_pct / 100 / stored;
    let payload = Rc::new(vec![0xC3u8; a.record_bytes]);

    let s0 = shard.stats();
    let (s, p) = (shard.clone(), payload.clone());
    let inserts = drive(
        "insert",
        Some(shard.clone()),
        a.qd,
        Duration::from_secs(3600),
        n,
        a.record_bytes as u64,
        move |i| {
            let (s, p) = (s.clone(), p.clone());
            async move { s.put(&key(i), &p, WriteMode::Plain, 0).await.map(|_| ()) }
        },
    )
    .await;
    let t = Instant::now();
    shard.flush().await?;
    let inserts_synced = Phase {
        name: "  same + final flush",
        secs: inserts.secs + t.elapsed().as_secs_f64(),
        ..inserts.clone()
    };
    let s1 = shard.stats();
    let inserted = inserts.ops;

    let s = shard.clone();
    let reads = drive(
        "random read",
        Some(shard.clone()),
        a.qd,
        dur,
        u64::MAX,
        a.record_bytes as u64,
        move |i| {
            let s = s.clone();
            async move {
                let mut r = SimRng::new(i.wrapping_mul(0x2545_F491) ^ 0x77);
                s.get(&key(r.below(inserted))).await.map(|_| ())
            }
        },
    )
    .await;
    let s2 = shard.stats();

    let (s, p) = (shard.clone(), payload.clone());
    let overwrites = drive(
        "overwrite",
        Some(shard.clone()),
        a.qd,
        dur,
        u64::MAX,
        a.record_bytes as u64,
        move |i| {
            let (s, p) = (s.clone(), p.clone());
            async move {
                let mut r = SimRng::new(i.wrapping_mul(0x6A09_E667) ^ 0x99);
                s.put(&key(r.below(inserted)), &p, WriteMode::Plain, 0)
                    .await
                    .map(|_| ())
            }
        },
    )
    .await;
    shard.flush().await?;
    let s3 = shard.stats();

    let (s, p) = (shard.clone(), payload.clone());
    let mix = drive(
        "50/50 read/overwrite",
        Some(shard.clone()),
        a.qd,
        dur,
        u64::MAX,
        a.record_bytes as u64,
        move |i| {
            let (s, p) = (s.clone(), p.clone());
            async move {
                let mut r = SimRng::new(i.wrapping_mul(0xBB67_AE85) ^ 0x55);
                let k = key(r.below(inserted));
                if r.below(2) == 0 {
                    s.get(&k).await.map(|_| ())
                } else {
                    s.put(&k, &p, WriteMode::Plain, 0).await.map(|_| ())
                }
            }
        },
    )
    .await;
    stop.set(true);
    bg.await;
    let s4 = shard.stats();

    println!();
    println!("{}", base_read.line());
    println!("{}", base_write.line());
    println!("{}", base_write_synced.line());
    for p in [&inserts, &inserts_synced, &reads, &overwrites, &mix] {
        println!("{}", p.line());
    }
    let wa = |a: &ShardStats, b: &ShardStats| {
        (b.device_bytes_written - a.device_bytes_written) as f64
            / (b.user_bytes_written - a.user_bytes_written).max(1) as f64
    };
    println!();
    println!(
        "records inserted {inserted} ({:.2} GiB of records), file {:.0}% full",
        (inserted * stored) as f64 / (1u64 << 30) as f64,
        (inserted * stored) as f64 * 100.0 / file_bytes as f64
    );
    println!(
        "random read: {:.2} of device 4K random-read IOPS at queue depth {}; cache hit rate {:.2}%",
        reads.ops_s() / base_read.ops_s().max(1e-9),
        a.qd,
        100.0
            * ((s2.cache_hits - s1.cache_hits) + (s2.record_cache_hits - s1.record_cache_hits))
                as f64
            / (s2.reads - s1.reads).max(1) as f64
    );
    println!(
        "insert: {:.2} of device sequential write bandwidth (record bytes; write amplification {:.2}); with the final flush / fdatasync on both sides: {:.2}",
        (inserts.bytes as f64 / inserts.secs) / (base_write.bytes as f64 / base_write.secs).max(1e-9),
        wa(&s0, &s1),
        (inserts.bytes as f64 / inserts_synced.secs)
            / (base_write.bytes as f64 / base_write_synced.secs).max(1e-9),
    );
    println!(
        "overwrite: write amplification {:.2} (device bytes / record bytes), defragmented blocks {}",
        wa(&s2, &s3),
        s3.defrag_blocks - s2.defrag_blocks
    );
    println!("50/50 mix: write amplification {:.2}", wa(&s3, &s4));
    println!(
        "insert phase: {} flushes, {} overload refusals (the writer waited for the flusher)",
        s1.flushes - s0.flushes,
        s1.overload_errors - s0.overload_errors
    );
    Ok(())
}

/// Record count from which the worst figure right after a resize is reported (below it,
/// fixed per-table overheads dominate and the limit is about large indexes).
const INDEX_RESIZE_REPORT_FROM_RECORDS: u64 = 1_000_000;

/// Inserts `records` entries into a primary index and reports bytes per record from the
/// counting allocator: at the end, right after the last table resize, and the worst right
/// after any resize from `INDEX_RESIZE_REPORT_FROM_RECORDS` records on.
pub fn index_memory(records: u64, alloc: &Counting) -> String {
    let base = alloc.allocated();
    let mut ix = Index::default();
    let mut cap = ix.capacity();
    let mut after_resize = (0u64, 0usize);
    let mut worst = (0u64, 0.0f64);
    let mut resizes = 0u64;
    for i in 0..records {
        ix.insert(
            key(i),
            Entry::new((i % 1000) as u32, 64, 1088, 1, 0, false, 0),
        );
        if ix.capacity() != cap {
            cap = ix.capacity();
            resizes += 1;
            let bytes = alloc.allocated() - base;
            after_resize = (i + 1, bytes);
            let per = bytes as f64 / (i + 1) as f64;
            if i + 1 >= INDEX_RESIZE_REPORT_FROM_RECORDS && per > worst.1 {
                worst = (i + 1, per);
            }
        }
    }
    let total = alloc.allocated() - base;
    format!(
        "index: {records} records, {} bytes = {:.1} B/record (capacity {}, {} tables); right after the last resize: {} records, {:.1} B/record; worst right after any of {} resizes from {} records: {:.1} B/record at {} records",
        total,
        total as f64 / records.max(1) as f64,
        ix.capacity(),
        shards::index::INDEX_SEGMENTS,
        after_resize.0,
        after_resize.1 as f64 / after_resize.0.max(1) as f64,
        resizes,
        INDEX_RESIZE_REPORT_FROM_RECORDS,
        worst.1,
        worst.0
    )
}
