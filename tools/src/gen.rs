//! `coregraph gen`: a deterministic (seeded) generator of benchmark graphs in the Gremlin load
//! CSV format that `coregraph load` (and Neptune / Aerospike Graph) read.
//!
//! Layout written under the output directory:
//! - `vertices/part-NNNNN.csv`: header `~id,~label,name:String,age:Int,score:Double,
//!   created:Date,uid:UUID`. Ids are the decimal strings `0` .. `N-1` (ids are strings in
//!   this format); labels `person` (90 %) and `company` (10 %); about one name in 16 holds a
//!   comma and one in 64 a double quote, so the files exercise RFC 4180 quoting.
//! - `edges/part-NNNNN.csv`: header `~id,~from,~to,~label,weight:Double`; ids `e0` ..
//!   `e{E-1}`; labels `knows` (60 %), `follows` (30 %), `likes` (10 %); no self-loops when
//!   N > 1.
//!
//! Out-degree follows a power law: each edge's source has Zipf rank `r` with probability
//! proportional to `r^-s` (`s` = [`GenConfig::zipf_exponent`], default 0.7, which makes the
//! out-degree distribution `P(k) ~ k^-(1 + 1/s)`, about `k^-2.4`), drawn by inverting the
//! continuous power-law CDF; ranks are mapped to vertex ids by a fixed bijection
//! `id = (rank * m + c) mod N` so hubs are spread over the id space (and so over the shards).
//! Destinations are uniform.
//!
//! Determinism: every part file has its own random stream derived from (seed, kind, part),
//! so the bytes depend only on the [`GenConfig`] (not on the number of threads or timing).
//! Parts are written in parallel by `threads` workers through 1 MiB buffered writers; each
//! row is formatted into one reused line buffer (no per-row allocation).

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most part files per kind.
pub const PARTS_MAX: u32 = 4096;
/// Most worker threads.
pub const THREADS_MAX: usize = 256;
/// Write buffer per part file, in bytes.
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Rows between two updates of the shared progress counters.
const PROGRESS_ROWS: u64 = 4096;
/// Interval between two progress callbacks, in milliseconds.
const PROGRESS_INTERVAL_MS: u64 = 200;
/// How often the coordinating thread checks whether the workers are done, in milliseconds.
const POLL_MS: u64 = 10;

pub const VERTEX_HEADER: &str = "~id,~label,name:String,age:Int,score:Double,created:Date,uid:UUID";
pub const EDGE_HEADER: &str = "~id,~from,~to,~label,weight:Double";

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Number of vertices (default 1,000,000).
    pub vertices: u64,
    /// Number of edges (default 10,000,000).
    pub edges: u64,
    /// Random seed; same config, same bytes.
    pub seed: u64,
    /// Files per kind (default 8), so a loader can read them in parallel.
    pub parts: u32,
    /// Zipf exponent `s` of the source-vertex rank distribution (default 0.7).
    pub zipf_exponent: f64,
    /// Worker threads; 0 means the available parallelism. Does not change the output.
    pub threads: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            vertices: 1_000_000,
            edges: 10_000_000,
            seed: 42,
            parts: 8,
            zipf_exponent: 0.7,
            threads: 0,
        }
    }
}

/// Progress, reported about every 200 ms and once at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenProgress {
    pub vertices_done: u64,
    pub vertices_total: u64,
    pub edges_done: u64,
    pub edges_total: u64,
    pub bytes_written: u64,
    pub elapsed: Duration,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenSummary {
    pub vertices: u64,
    pub edges: u64,
    /// Every file written, vertex parts first.
    pub files: Vec<PathBuf>,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl fmt::Display for GenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "generated {} vertices and {} edges in {} files, {:.1} MiB in {:.2} s ({:.1} MiB/s)",
            self.vertices,
            self.edges,
            self.files.len(),
            self.bytes as f64 / (1 << 20) as f64,
            secs,
            self.bytes as f64 / (1 << 20) as f64 / secs
        )
    }
}

/// Why generation failed.
#[derive(Debug)]
pub enum GenError {
    InvalidConfig(String),
    /// `vertices/` or `edges/` under the output directory already holds files.
    NotEmpty(PathBuf),
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::InvalidConfig(m) => write!(f, "invalid generator settings: {m}"),
            GenError::NotEmpty(p) => write!(
                f,
                "{} is not empty; remove it or pick another directory",
                p.display()
            ),
            GenError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for GenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GenError + '_ {
    move |source| GenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// SplitMix64: small, fast, good enough for benchmark data, and fully specified here so the
/// output never changes with a dependency's version.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Zipf-like rank sampler over `0..n` by inverting the continuous power-law CDF on `[1, n+1)`.
struct PowerLaw {
    n: u64,
    one_minus_s: f64,
    span: f64,
    mult: u64,
    offset: u64,
}

impl PowerLaw {
    fn new(n: u64, s: f64, seed: u64) -> PowerLaw {
        let one_minus_s = 1.0 - s;
        let top = (n as f64) + 1.0;
        let span = if one_minus_s.abs() < 1e-9 {
            top.ln()
        } else {
            top.powf(one_minus_s) - 1.0
        };
        // A multiplier coprime with n makes rank -> id a bijection.
        let mut mult = (0x9E37_79B9_7F4A_7C15u64 % n.max(1)) | 1;
        while gcd(mult, n) != 1 {
            mult += 1;
        }
        let offset = seed % n.max(1);
        PowerLaw {
            n,
            one_minus_s,
            span,
            mult,
            offset,
        }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let x = if self.one_minus_s.abs() < 1e-9 {
            (u * self.span).exp()
        } else {
            (u * self.span + 1.0).powf(1.0 / self.one_minus_s)
        };
        let rank = (x as u64).saturating_sub(1).min(self.n - 1);
        ((u128::from(rank) * u128::from(self.mult) + u128::from(self.offset)) % u128::from(self.n))
            as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Barbara",
    "Brian",
    "Carmen",
    "Dennis",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "Ivan",
    "Jean",
    "Ken",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Olga",
    "Peter",
    "Radia",
    "Shafi",
    "Tim",
    "Ursula",
    "Vint",
    "Whitfield",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Liskov",
    "Kernighan",
    "Ritchie",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Sutherland",
    "Sammet",
    "Thompson",
    "Lamport",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Goldwasser",
    "Berners-Lee",
    "Cerf",
    "Diffie",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Vertex,
    Edge,
}

struct Job {
    kind: Kind,
    part: u32,
    /// First and one-past-last row index.
    rows: (u64, u64),
    path: PathBuf,
}

struct Shared {
    vertices_done: AtomicU64,
    edges_done: AtomicU64,
    bytes: AtomicU64,
    next_job: AtomicUsize,
    failed: AtomicBool,
}

/// Writes the graph described by `config` under `out_dir` (creating `vertices/` and
/// `edges/`, which must not already hold files), calling `progress` about every 200 ms.
pub fn generate(
    config: GenConfig,
    out_dir: &Path,
    mut progress: impl FnMut(GenProgress),
) -> Result<GenSummary, GenError> {
    let started = Instant::now();
    if config.parts == 0 || config.parts > PARTS_MAX {
        return Err(GenError::InvalidConfig(format!(
            "parts must be 1..={PARTS_MAX}"
        )));
    }
    if config.edges > 0 && config.vertices == 0 {
        return Err(GenError::InvalidConfig(
            "edges need at least one vertex".into(),
        ));
    }
    if !(config.zipf_exponent.is_finite()
        && config.zipf_exponent > 0.0
        && config.zipf_exponent < 8.0)
    {
        return Err(GenError::InvalidConfig(
            "zipf exponent must be in (0, 8)".into(),
        ));
    }
    let mut jobs = Vec::new();
    for (kind, sub, total) in [
        (Kind::Vertex, "vertices", config.vertices),
        (Kind::Edge, "edges", config.edges),
    ] {
        let dir = out_dir.join(sub);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        if std::fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .next()
            .is_some()
        {
            return Err(GenError::NotEmpty(dir));
        }
        let parts = u64::from(config.parts);
        for part in 0..config.parts {
            let p = u64::from(part);
            let rows = (
                (u128::from(total) * u128::from(p) / u128::from(parts)) as u64,
                (u128::from(total) * u128::from(p + 1) / u128::from(parts)) as u64,
            );
            jobs.push(Job {
                kind,
                part,
                rows,
                path: dir.join(format!("part-{part:05}.csv")),
            });
        }
    }
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, THREADS_MAX)
    .min(jobs.len());
    tracing::info!(
        vertices = config.vertices,
        edges = config.edges,
        seed = config.seed,
        parts = config.parts,
        threads,
        dir = %out_dir.display(),
        "gen: start"
    );
    let shared = Shared {
        vertices_done: AtomicU64::new(0),
        edges_done: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        next_job: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    };
    let first_error: Mutex<Option<GenError>> = Mutex::new(None);
    let sampler = PowerLaw::new(config.vertices.max(1), config.zipf_exponent, config.seed);
    let snapshot = |shared: &Shared| GenProgress {
        vertices_done: shared.vertices_done.load(Ordering::Relaxed),
        vertices_total: config.vertices,
        edges_done: shared.edges_done.load(Ordering::Relaxed),
        edges_total: config.edges,
        bytes_written: shared.bytes.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    };
    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            workers.push(scope.spawn(|| loop {
                if shared.failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = shared.next_job.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if let Err(e) = write_part(&config, &sampler, job, &shared) {
                    shared.failed.store(true, Ordering::Relaxed);
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(e);
                    }
                    break;
                }
            }));
        }
        // Poll (a panicking worker also counts as finished; the scope re-raises its panic).
        let mut last = Instant::now();
        while !workers.iter().all(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(POLL_MS));
            if last.elapsed() >= Duration::from_millis(PROGRESS_INTERVAL_MS) {
                last = Instant::now();
                progress(snapshot(&shared));
            }
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        tracing::error!(error = %e, "gen: failed");
        return Err(e);
    }
    progress(snapshot(&shared));
    let summary = GenSummary {
        vertices: config.vertices,
        edges: config.edges,
        files: jobs.into_iter().map(|j| j.path).collect(),
        bytes: shared.bytes.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    };
    tracing::info!(%summary, "gen: done");
    Ok(summary)
}

/// Command-line arguments of `coregraph gen` (a `clap::Args` for `main.rs` to embed).
#[derive(Clone, Debug, clap::Args)]
pub struct GenArgs {
    /// Output directory; `vertices/` and `edges/` are created in it and must be empty.
    pub out_dir: PathBuf,
    /// Number of vertices.
    #[arg(long, default_value_t = 1_000_000)]
    pub vertices: u64,
    /// Number of edges.
    #[arg(long, default_value_t = 10_000_000)]
    pub edges: u64,
    /// Random seed (same seed and sizes, same bytes).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Files per kind, so the loader can read them in parallel.
    #[arg(long, default_value_t = 8)]
    pub parts: u32,
    /// Zipf exponent of the out-degree distribution.
    #[arg(long, default_value_t = 0.7)]
    pub zipf_exponent: f64,
    /// Worker threads (0: all available cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl GenArgs {
    /// The generator settings these arguments describe.
    pub fn config(&self) -> GenConfig {
        GenConfig {
            vertices: self.vertices,
            edges: self.edges,
            seed: self.seed,
            parts: self.parts,
            zipf_exponent: self.zipf_exponent,
            threads: self.threads,
        }
    }
}

/// Runs `coregraph gen` as the CLI does: a progress line on stderr (rows, rate, ETA), then
/// the summary on stdout.
pub fn run(args: &GenArgs) -> Result<GenSummary, GenError> {
    let mut stderr = io::stderr();
    let summary = generate(args.config(), &args.out_dir, |p| {
        let done = p.vertices_done + p.edges_done;
        let total = (p.vertices_total + p.edges_total).max(1);
        let secs = p.elapsed.as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        let _ = write!(
            stderr,
            "\rgen: {done}/{total} rows ({:.0}%), {:.0} rows/s, {:.1} MiB, ETA {eta:.0} s   ",
            done as f64 * 100.0 / total as f64,
            rate,
            p.bytes_written as f64 / (1 << 20) as f64,
        );
        let _ = stderr.flush();
    })?;
    let _ = writeln!(stderr);
    println!("{summary}");
    Ok(summary)
}

/// Writes `s` as a CSV field, quoted when it holds a comma, quote or line break.
fn push_field(line: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        line.push('"');
        for c in s.chars() {
            if c == '"' {
                line.push('"');
            }
            line.push(c);
        }
        line.push('"');
    } else {
        line.push_str(s);
    }
}

fn write_part(
    config: &GenConfig,
    sampler: &PowerLaw,
    job: &Job,
    shared: &Shared,
) -> Result<(), GenError> {
    let file = File::create(&job.path).map_err(io_err(&job.path))?;
    let mut w = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
    let stream = (u64::from(job.kind == Kind::Edge) << 32) | u64::from(job.part);
    let mut rng = Rng::new(config.seed, stream + 1);
    let mut line = String::with_capacity(256);
    let mut name = String::with_capacity(64);
    let mut bytes = 0u64;
    let mut pending_rows = 0u64;
    let header = match job.kind {
        Kind::Vertex => VERTEX_HEADER,
        Kind::Edge => EDGE_HEADER,
    };
    line.push_str(header);
    line.push('\n');
    for i in job.rows.0..job.rows.1 {
        match job.kind {
            Kind::Vertex => vertex_row(&mut rng, i, &mut line, &mut name),
            Kind::Edge => edge_row(&mut rng, sampler, config.vertices, i, &mut line),
        }
        pending_rows += 1;
        if pending_rows == PROGRESS_ROWS || line.len() >= WRITE_BUFFER_BYTES / 4 {
            w.write_all(line.as_bytes()).map_err(io_err(&job.path))?;
            bytes += line.len() as u64;
            shared.bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
            line.clear();
            let counter = if job.kind == Kind::Vertex {
                &shared.vertices_done
            } else {
                &shared.edges_done
            };
            counter.fetch_add(pending_rows, Ordering::Relaxed);
            pending_rows = 0;
            if shared.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
    }
    w.write_all(line.as_bytes()).map_err(io_err(&job.path))?;
    bytes += line.len() as u64;
    shared.bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
    let counter = if job.kind == Kind::Vertex {
        &shared.vertices_done
    } else {
        &shared.edges_done
    };
    counter.fetch_add(pending_rows, Ordering::Relaxed);
    w.flush().map_err(io_err(&job.path))?;
    tracing::debug!(path = %job.path.display(), rows = job.rows.1 - job.rows.0, bytes, "gen: part written");
    Ok(())
}

// `write!` into a `String` cannot fail; the results are ignored on purpose.
fn vertex_row(rng: &mut Rng, id: u64, line: &mut String, name: &mut String) {
    let label = if rng.below(10) == 0 {
        "company"
    } else {
        "person"
    };
    name.clear();
    let first = FIRST
        .get(rng.below(FIRST.len() as u64) as usize)
        .copied()
        .unwrap_or("A");
    let last = LAST
        .get(rng.below(LAST.len() as u64) as usize)
        .copied()
        .unwrap_or("B");
    match rng.below(64) {
        0 => {
            let _ = write!(
                name,
                "{first} \"{}\" {last}",
                first.chars().next().unwrap_or('X')
            );
        }
        1..=4 => {
            let _ = write!(name, "{first} {last}, Jr.");
        }
        _ => {
            let _ = write!(name, "{first} {last}");
        }
    }
    let age = 18 + rng.below(73);
    let score = rng.below(1_000_000) as f64 / 10_000.0;
    let year = 2000 + rng.below(25);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    let secs = rng.below(86_400);
    let (a, b) = (rng.next(), rng.next());
    // A version-4, variant-1 UUID.
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    let _ = write!(line, "{id},{label},");
    push_field(line, name);
    let _ = writeln!(
        line,
        ",{age},{score},{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z,{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    );
}

fn edge_row(rng: &mut Rng, sampler: &PowerLaw, vertices: u64, i: u64, line: &mut String) {
    let from = sampler.sample(rng);
    let mut to = rng.below(vertices);
    if to == from && vertices > 1 {
        to = (to + 1) % vertices;
    }
    let label = match rng.below(10) {
        0..=5 => "knows",
        6..=8 => "follows",
        _ => "likes",
    };
    let weight = rng.below(10_000) as f64 / 10_000.0;
    let _ = writeln!(line, "e{i},{from},{to},{label},{weight}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::load::csv::{discover, plan_file, CsvReader, FileKind, Limits, Row};
    use std::collections::{HashMap, HashSet};
    use std::io::BufReader;
    use std::sync::Arc;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("coregraph-gen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn small(seed: u64, threads: usize) -> GenConfig {
        GenConfig {
            vertices: 1000,
            edges: 20_000,
            seed,
            parts: 3,
            zipf_exponent: 0.7,
            threads,
        }
    }

    fn gen(config: GenConfig, dir: &Path) -> (GenSummary, Vec<GenProgress>) {
        let mut seen = Vec::new();
        let s = generate(config, dir, |p| seen.push(p)).unwrap_or_else(|e| panic!("{e}"));
        (s, seen)
    }

    fn contents(files: &[PathBuf]) -> Vec<Vec<u8>> {
        files
            .iter()
            .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
            .collect()
    }

    #[test]
    fn same_seed_same_bytes_any_thread_count() {
        let (a, b, c) = (temp_dir("det-a"), temp_dir("det-b"), temp_dir("det-c"));
        let (sa, _) = gen(small(7, 1), &a);
        let (sb, _) = gen(small(7, 3), &b);
        let (sc, _) = gen(small(8, 2), &c);
        assert_eq!(sa.files.len(), 6);
        let (ca, cb, cc) = (
            contents(&sa.files),
            contents(&sb.files),
            contents(&sc.files),
        );
        assert_eq!(ca, cb, "same seed, different threads, different bytes");
        assert_ne!(ca, cc, "different seeds gave the same bytes");
        assert_eq!(sa.bytes, ca.iter().map(|f| f.len() as u64).sum::<u64>());
        for d in [a, b, c] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn reader_reads_generated_graph_back() {
        let dir = temp_dir("read");
        let config = small(11, 2);
        let (summary, progress) = gen(config.clone(), &dir);
        let last = progress
            .last()
            .copied()
            .unwrap_or_else(|| panic!("no progress reported"));
        assert_eq!(
            (last.vertices_done, last.edges_done, last.bytes_written),
            (1000, 20_000, summary.bytes)
        );
        let files = discover(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(files.len(), 6);
        let mut ids = HashSet::new();
        let mut edge_ids = HashSet::new();
        let mut out_degree: HashMap<Arc<str>, u64> = HashMap::new();
        let mut edges = Vec::new();
        let mut quoted_names = 0;
        for f in &files {
            let file = std::fs::File::open(&f.path).unwrap_or_else(|e| panic!("{e}"));
            let reader = CsvReader::open(
                Arc::from(f.path.display().to_string()),
                f.kind,
                BufReader::new(file),
                Limits::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            for row in reader {
                match row {
                    Ok(Row::Vertex(v)) => {
                        assert_eq!(v.properties.len(), 5, "{v:?}");
                        let name = v
                            .properties
                            .iter()
                            .find(|p| &*p.name == "name")
                            .and_then(|p| p.values[0].as_str().map(str::to_owned));
                        if name.is_some_and(|n| n.contains(',') || n.contains('"')) {
                            quoted_names += 1;
                        }
                        assert!(ids.insert(v.id.clone()), "duplicate vertex id {}", v.id);
                    }
                    Ok(Row::Edge(e)) => {
                        assert_eq!(e.properties.len(), 1);
                        let id = e.id.clone().unwrap_or_else(|| panic!("edge without id"));
                        assert!(edge_ids.insert(id));
                        *out_degree.entry(e.from.clone()).or_default() += 1;
                        edges.push((e.from, e.to));
                    }
                    Err(e) => panic!("generated file has a bad row: {e}"),
                }
            }
        }
        assert_eq!(ids.len(), 1000);
        assert_eq!(edges.len(), 20_000);
        assert!(quoted_names > 0, "no name needed quoting");
        for (from, to) in &edges {
            assert!(
                ids.contains(from) && ids.contains(to),
                "edge {from} -> {to} to a missing vertex"
            );
            assert_ne!(from, to);
        }
        // Power law: the busiest source has far more than the mean out-degree (20).
        let max = out_degree.values().copied().max().unwrap_or(0);
        assert!(max >= 200, "max out-degree {max}, expected a hub");
        // ... and the typical vertex has fewer than the mean (right-skewed distribution).
        let mut degrees: Vec<u64> = ids
            .iter()
            .map(|id| out_degree.get(id).copied().unwrap_or(0))
            .collect();
        degrees.sort_unstable();
        let median = degrees[degrees.len() / 2];
        assert!(median <= 15, "median out-degree {median}, mean is 20");
        // The splitter accepts the files (one of them in 4 ranges).
        let plan = plan_file(&files[0].path, FileKind::Vertex, 4, Limits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.ranges.len() > 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_bad_config_and_non_empty_dir() {
        let dir = temp_dir("bad");
        let bad = [
            GenConfig {
                parts: 0,
                ..small(1, 1)
            },
            GenConfig {
                vertices: 0,
                ..small(1, 1)
            },
            GenConfig {
                zipf_exponent: f64::NAN,
                ..small(1, 1)
            },
        ];
        for c in bad {
            assert!(matches!(
                generate(c, &dir, |_| {}),
                Err(GenError::InvalidConfig(_))
            ));
        }
        gen(
            GenConfig {
                vertices: 10,
                edges: 10,
                ..small(1, 1)
            },
            &dir,
        );
        assert!(matches!(
            generate(small(1, 1), &dir, |_| {}),
            Err(GenError::NotEmpty(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cli_args_defaults_match_config_defaults() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            gen: GenArgs,
        }
        let cli = Cli::try_parse_from(["gen", "/tmp/x"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.gen.config(), GenConfig::default());
        let cli = Cli::try_parse_from(["gen", "/tmp/x", "--vertices", "5", "--parts", "2"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((cli.gen.config().vertices, cli.gen.config().parts), (5, 2));
    }

    /// Rough throughput of the generator and of the CSV reader on one core; prints figures,
    /// asserts nothing about speed. `cargo test -p coregraph --release --lib gen::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        let dir = temp_dir("throughput");
        let config = GenConfig {
            vertices: 100_000,
            edges: 1_000_000,
            parts: 2,
            ..GenConfig::default()
        };
        let (summary, _) = gen(config, &dir);
        println!("{summary}");
        let started = Instant::now();
        let mut rows = 0u64;
        for f in discover(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let file = std::fs::File::open(&f.path).unwrap_or_else(|e| panic!("{e}"));
            let reader = CsvReader::open(
                Arc::from(f.path.display().to_string()),
                f.kind,
                BufReader::with_capacity(1 << 20, file),
                Limits::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            for row in reader {
                assert!(row.is_ok());
                rows += 1;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "read {rows} rows in {secs:.2} s: {:.0} rows/s on one thread",
            rows as f64 / secs
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn power_law_sampler_covers_range_and_is_a_bijection() {
        for n in [1u64, 2, 7, 1000, 1 << 20] {
            let s = PowerLaw::new(n, 0.7, 99);
            assert_eq!(gcd(s.mult, n), 1);
            let mut rng = Rng::new(1, 2);
            for _ in 0..1000 {
                assert!(s.sample(&mut rng) < n);
            }
        }
        let s = PowerLaw::new(10, 1.0, 3);
        let mut rng = Rng::new(1, 2);
        assert!((0..1000).all(|_| s.sample(&mut rng) < 10));
    }
}
