//! `coregraph import` and `coregraph export`: GraphSON 3.0 adjacency-list files (TinkerPop's
//! `g.io()` format) into and out of a data directory, offline, with a progress line, a
//! summary, and an error file listing every rejected element with its line.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::io::graphson::{
    ElementError, ExportReport, ImportOptions, ImportReport, ImportSink, NoSink,
};
use engine::io::offline::{run_offline, Job, OfflineOptions, Outcome};
use shards::{DataDir, DirOptions, StoreConfig};

/// Interval of the progress line.
pub const PROGRESS_MS: u64 = 1000;

/// Settings shared by import and export.
#[derive(clap::Args, Clone)]
pub struct IoCommon {
    /// Data directory (created if missing).
    #[arg(long, default_value = "./coregraph-data")]
    pub data_dir: PathBuf,
    /// Executors (cores); default: every CPU this process may use.
    #[arg(long)]
    pub executors: Option<usize>,
    /// Shards at creation (default: number of CPUs); fixed afterwards.
    #[arg(long)]
    pub shards: Option<u32>,
    /// Data file size per shard at creation, in MiB.
    #[arg(long, default_value_t = 256)]
    pub shard_size_mib: u64,
    /// Write block size in MiB (fixed at creation).
    #[arg(long, default_value_t = 8)]
    pub block_size_mib: u64,
    /// Graph (traversal source).
    #[arg(long, default_value = "g")]
    pub graph: String,
}

/// Settings of `coregraph import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The GraphSON 3.0 adjacency-list file (one vertex per line).
    pub file: PathBuf,
    #[command(flatten)]
    pub common: IoCommon,
    /// File listing rejected elements (`file:line: kind: message`).
    #[arg(long, default_value = "./coregraph-import-errors.txt")]
    pub errors: PathBuf,
    /// Rejected elements allowed (ids already taken, edges to missing vertices, bad lines);
    /// one more stops the import.
    #[arg(long, default_value_t = engine::io::graphson::ERRORS_MAX_DEFAULT)]
    pub errors_max: u64,
}

/// Settings of `coregraph export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The file to write (replaced when the export succeeds).
    pub file: PathBuf,
    #[command(flatten)]
    pub common: IoCommon,
}

fn open(c: &IoCommon) -> Result<(Arc<DataDir>, OfflineOptions), String> {
    let opts = DirOptions {
        shard_count: c.shards,
        shard_size_bytes: c.shard_size_mib << 20,
        store: StoreConfig {
            block_size_bytes: c.block_size_mib << 20,
            ..StoreConfig::default()
        },
    };
    let mut cpus = net::server::allowed_cpus().map_err(|e| format!("CPU affinity: {e}"))?;
    if let Some(n) = c.executors {
        cpus.truncate(n.max(1));
    }
    if cpus.is_empty() {
        return Err("no CPU to run on".to_string());
    }
    let dir = DataDir::open_or_create(&c.data_dir, &opts)
        .map_err(|e| format!("{}: {e}", c.data_dir.display()))?;
    let o = OfflineOptions {
        cores: cpus.len(),
        cpus,
        graph: c.graph.clone(),
        ..OfflineOptions::default()
    };
    Ok((Arc::new(dir), o))
}

/// Writes rejected elements to the error file and a progress line to standard error.
struct CliSink {
    file: String,
    out: std::io::BufWriter<std::fs::File>,
    write_failed: Option<String>,
    started: Instant,
    last: Instant,
}

impl ImportSink for CliSink {
    fn error(&mut self, e: &ElementError) {
        if let Err(err) = writeln!(
            self.out,
            "{}:{}: {}: {}",
            self.file, e.line, e.kind, e.message
        ) {
            self.write_failed.get_or_insert(err.to_string());
        }
    }

    fn progress(&mut self, r: &ImportReport) {
        if self.last.elapsed() < Duration::from_millis(PROGRESS_MS) {
            return;
        }
        self.last = Instant::now();
        let what = if r.pass == 1 { "vertices" } else { "edges" };
        eprintln!(
            "import: pass {} ({what}): {} lines, {} vertices, {} edges, {} rejected, {:.0} s",
            r.pass,
            r.lines,
            r.vertices_created,
            r.edges_created,
            r.errors,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// `coregraph import`.
pub fn import(a: &ImportArgs) -> Result<(), String> {
    let started = Instant::now();
    let (dir, o) = open(&a.common)?;
    let out =
        std::fs::File::create(&a.errors).map_err(|e| format!("{}: {e}", a.errors.display()))?;
    let sink = CliSink {
        file: a.file.display().to_string(),
        out: std::io::BufWriter::new(out),
        write_failed: None,
        started,
        last: started,
    };
    let job = Job::Import {
        file: a.file.clone(),
        opts: ImportOptions {
            errors_max: a.errors_max,
        },
        sink,
    };
    let (rep, mut sink) = match run_offline(dir, o, job).map_err(|e| e.to_string())? {
        Outcome::Imported(rep, sink) => (rep, sink),
        Outcome::Exported(_) => return Err("the import job exported".to_string()),
    };
    if let Err(e) = sink.out.flush() {
        sink.write_failed.get_or_insert(e.to_string());
    }
    println!(
        "import: {} in {:.1} s: {rep}",
        a.file.display(),
        started.elapsed().as_secs_f64()
    );
    if let Some(e) = sink.write_failed {
        return Err(format!("writing {}: {e}", a.errors.display()));
    }
    if rep.errors > 0 {
        for e in &rep.first_errors {
            println!("import: {}:{e}", a.file.display());
        }
        println!(
            "import: every rejected element is listed in {}",
            a.errors.display()
        );
    }
    match rep.stopped {
        Some(s) => Err(s),
        None => Ok(()),
    }
}

/// `coregraph export`.
pub fn export(a: &ExportArgs) -> Result<(), String> {
    let started = Instant::now();
    let (dir, o) = open(&a.common)?;
    let mut last = started;
    let progress = Box::new(move |r: &ExportReport| {
        if last.elapsed() >= Duration::from_millis(PROGRESS_MS) {
            last = Instant::now();
            eprintln!(
                "export: {r} so far, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    });
    let job = Job::<NoSink>::Export {
        file: a.file.clone(),
        progress,
    };
    match run_offline(dir, o, job).map_err(|e| e.to_string())? {
        Outcome::Exported(rep) => {
            println!(
                "export: {} in {:.1} s: {rep}",
                a.file.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Outcome::Imported(..) => Err("the export job imported".to_string()),
    }
}

/// The io directory of `coregraph serve`: `--io-dir`, else `io` under the data directory;
/// created if missing.
pub fn serve_io_dir(
    flag: Option<&std::path::Path>,
    data_dir: &std::path::Path,
) -> Result<PathBuf, String> {
    let dir = flag.map_or_else(|| data_dir.join("io"), std::path::Path::to_path_buf);
    std::fs::create_dir_all(&dir).map_err(|e| format!("--io-dir {}: {e}", dir.display()))?;
    Ok(dir)
}
