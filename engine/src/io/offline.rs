//! Offline GraphSON import and export (`coregraph import` / `coregraph export`): starts the
//! per-core runtime over a data directory no server has open, runs the job on core 0 (its
//! model reaches every record on the core that owns it through the runtime), keeps the other
//! cores serving until it is done, then shuts every core down, which flushes every shard.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};
use shards::DataDir;

use crate::io::graphson::{
    export_file, import_file, ExportReport, ImportOptions, ImportReport, ImportSink, IoError,
};
use crate::io::retry::OverloadRetry;
use crate::model::keys::KeySpace;
use crate::model::ops::{Model, SystemClock};
use crate::model::ModelConfig;
use crate::runtime::{Cluster, RuntimeConfig};

/// How often an idle core checks whether the job is done.
const DONE_POLL_MS: u64 = 20;
/// Longest an offline job may run before the caller gives up on it (a week).
pub const JOB_WAIT_S_MAX: u64 = 7 * 24 * 3600;

/// What to run.
pub enum Job<S> {
    /// Import the file, reporting rejected elements and progress to the sink.
    Import {
        file: PathBuf,
        opts: ImportOptions,
        sink: S,
    },
    /// Export to the file; `progress` is called after each batch of records.
    Export {
        file: PathBuf,
        progress: Box<dyn FnMut(&ExportReport) + Send>,
    },
}

/// What a job did.
pub enum Outcome<S> {
    Imported(ImportReport, S),
    Exported(ExportReport),
}

/// Settings of the runtime an offline job starts.
#[derive(Clone, Debug)]
pub struct OfflineOptions {
    /// Executors (cores).
    pub cores: usize,
    /// CPU of each core (unbound where missing).
    pub cpus: Vec<usize>,
    /// Graph (traversal source).
    pub graph: String,
    pub model: ModelConfig,
}

impl Default for OfflineOptions {
    fn default() -> Self {
        OfflineOptions {
            cores: 1,
            cpus: Vec::new(),
            graph: crate::runtime::DEFAULT_GRAPH.to_string(),
            model: ModelConfig::default(),
        }
    }
}

fn store(e: impl std::fmt::Display) -> IoError {
    IoError::Store(e.to_string())
}

type CoreResult<S> = Result<Option<Outcome<S>>, IoError>;

/// Runs `job` over `dir` with `opts.cores` executors; returns once every shard is flushed.
pub fn run_offline<S: ImportSink + Send + 'static>(
    dir: Arc<DataDir>,
    opts: OfflineOptions,
    job: Job<S>,
) -> Result<Outcome<S>, IoError> {
    let cores = opts.cores.max(1);
    KeySpace::new(&opts.graph).map_err(|e| IoError::Config(e.to_string()))?;
    let runtime = RuntimeConfig {
        graphs: vec![opts.graph.clone()],
        model: opts.model.clone(),
        ..RuntimeConfig::default()
    };
    let cluster = Cluster::new(dir, cores, runtime).map_err(|e| IoError::Store(e.to_string()))?;
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<(usize, CoreResult<S>)>();
    let mut job = Some(job);
    let mut handles = Vec::with_capacity(cores);
    for core in 0..cores {
        let cluster = cluster.clone();
        let done = done.clone();
        let tx = tx.clone();
        let graph = opts.graph.clone();
        let mine = if core == 0 { job.take() } else { None };
        let placement = match opts.cpus.get(core) {
            Some(&cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("io-{core}"))
            .spawn(move || async move {
                let r = async {
                    let host = cluster.join(core).await.map_err(store)?;
                    let out = match mine {
                        Some(job) => {
                            let r = run_job(&host, &graph, job).await;
                            done.store(true, Ordering::Release);
                            r.map(Some)
                        }
                        None => {
                            while !done.load(Ordering::Acquire) {
                                glommio::timer::sleep(Duration::from_millis(DONE_POLL_MS)).await;
                            }
                            Ok(None)
                        }
                    };
                    let flushed = host.shutdown().await;
                    match (out, flushed) {
                        (Err(e), _) => Err(e),
                        (Ok(_), Err(e)) => Err(IoError::Store(format!("flushing: {e}"))),
                        (Ok(o), Ok(_)) => Ok(o),
                    }
                }
                .await;
                if r.is_err() {
                    // Nobody waits for a job that will not finish.
                    done.store(true, Ordering::Release);
                }
                let _ = tx.send((core, r));
            })
            .map_err(|e| IoError::Config(format!("starting executor {core}: {e}")))?;
        handles.push(h);
    }
    drop(tx);
    let mut outcome = None;
    let mut first_err = None;
    for _ in 0..cores {
        match rx.recv_timeout(Duration::from_secs(JOB_WAIT_S_MAX)) {
            Ok((core, r)) => match r {
                Ok(Some(o)) => outcome = Some(o),
                Ok(None) => {}
                Err(e) => {
                    cluster.abort(&format!("core {core}: {e}"));
                    first_err.get_or_insert(e);
                }
            },
            Err(_) => {
                first_err.get_or_insert(IoError::Store("a core did not finish".into()));
                break;
            }
        }
    }
    drop(cluster);
    for h in handles {
        if h.join().is_err() {
            first_err.get_or_insert(IoError::Store("an executor panicked".into()));
        }
    }
    match (first_err, outcome) {
        (Some(e), _) => Err(e),
        (None, Some(o)) => Ok(o),
        (None, None) => Err(IoError::Store("the job reported nothing".into())),
    }
}

async fn run_job<S: ImportSink>(
    host: &crate::runtime::CoreHost,
    graph: &str,
    job: Job<S>,
) -> Result<Outcome<S>, IoError> {
    let ex = host
        .executor(graph)
        .ok_or_else(|| IoError::Config(format!("no graph {graph}")))?;
    match job {
        Job::Import {
            file,
            opts,
            mut sink,
        } => {
            let m = &ex.model;
            let model = Model::new(
                OverloadRetry(&m.kv),
                m.space.clone(),
                m.cfg.clone(),
                Box::new(SystemClock),
            )
            .map_err(|e| IoError::Config(e.to_string()))?;
            let rep = import_file(&model, &file, opts, &mut sink).await?;
            Ok(Outcome::Imported(rep, sink))
        }
        Job::Export { file, mut progress } => {
            let rep = export_file(&ex.model, &file, &mut *progress).await?;
            Ok(Outcome::Exported(rep))
        }
    }
}
