//! The TinkerPop feature suite as a test (`harness = false`): reads every `.feature` file,
//! runs each scenario in-process against the reference backend, prints
//! `N passed, M failed, K unsupported` and a per-file table, writes failing scenarios to
//! `target/conformance-failures.txt`, and fails below the floor in `conformance-floor.txt`.
//!
//! Environment:
//! - `COREGRAPH_TINKERPOP`: the tinkerpop directory (default `<workspace>/../shared/tinkerpop`).
//! - `COREGRAPH_FEATURES`: only run files or scenarios whose path or name contains this text.
//! - `COREGRAPH_SCENARIO_TIMEOUT_MS`: hard per-scenario timeout (default 10000).
//! - `CI=true`: a missing tinkerpop directory is an error instead of a skip.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gremlin::conformance::gherkin::{parse_feature, Scenario};
use gremlin::conformance::runner::{check_notation, Failure};
use gremlin::conformance::{
    failure_report, run_scenario, Backend, Limits, Outcome, ScenarioReport, Summary,
};

#[path = "features/backend.rs"]
mod backend;

/// Hard per-scenario timeout unless `COREGRAPH_SCENARIO_TIMEOUT_MS` says otherwise.
const SCENARIO_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Feature directory nesting followed when looking for files.
const DIR_DEPTH_MAX: usize = 8;
/// Passes above the floor that earn a hint to raise it.
const FLOOR_HINT_MARGIN: usize = 10;

fn workspace_root() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(crate_dir)
}

fn collect_features(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if depth > DIR_DEPTH_MAX {
        return Err(format!("{} nested too deeply", dir.display()));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            collect_features(&path, depth + 1, out)?;
        } else if path.extension().is_some_and(|e| e == "feature") {
            out.push(path);
        }
    }
    Ok(())
}

struct Job {
    file: String,
    /// Index of the scenario in its file.
    index: usize,
    scenario: Scenario,
}

/// Environment variable that puts this binary in worker mode (set by the parent only).
const WORKER_ENV: &str = "COREGRAPH_FEATURES_WORKER";
/// Address space of one worker process (the reference graph plus one scenario need far less).
const WORKER_MEMORY_BYTES_MAX: u64 = 3 * 1024 * 1024 * 1024;
/// Answers buffered between a worker's reader thread and the runner (lockstep: one at a time).
const ANSWERS_QUEUED_MAX: usize = 1;
/// Largest feature file read, in bytes (the largest in 3.8.1 is about 100 KB).
const FEATURE_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Longest text field accepted from a worker, in bytes.
const WORKER_FIELD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A worker process: this same binary in worker mode, fed one scenario at a time on stdin,
/// answering on stdout. A scenario that times out gets its worker killed (threads cannot be
/// stopped, processes can) and the next scenario starts a fresh one.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<Result<Outcome, String>>,
}

impl Worker {
    fn spawn(tinkerpop: &Path) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        // Cap the worker's address space so a runaway scenario fails (allocation abort ->
        // "worker crashed") instead of taking the machine's memory; `ulimit` via `sh` keeps
        // this free of `unsafe` (`pre_exec`).
        let mut command = if Path::new("/bin/sh").exists() {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!(
                    "ulimit -v {} 2>/dev/null; exec \"$0\"",
                    WORKER_MEMORY_BYTES_MAX / 1024
                ))
                .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let mut child = command
            .env(WORKER_ENV, "1")
            .env("COREGRAPH_TINKERPOP", tinkerpop)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let stdin = child.stdin.take().ok_or("worker has no stdin")?;
        let stdout = child.stdout.take().ok_or("worker has no stdout")?;
        let (tx, answers) = mpsc::sync_channel(ANSWERS_QUEUED_MAX);
        std::thread::Builder::new()
            .name("worker-reader".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                loop {
                    let answer = read_answer(&mut reader);
                    let stop = answer.is_err();
                    if tx.send(answer).is_err() || stop {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start a reader thread: {e}"))?;
        Ok(Worker {
            child,
            stdin,
            answers,
        })
    }

    /// Kills the worker (if still alive) and says how it ended.
    fn kill(mut self) -> String {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        }
    }
}

fn write_answer(out: &mut impl Write, outcome: &Outcome) -> std::io::Result<()> {
    let (kind, fields): (char, [&str; 3]) = match outcome {
        Outcome::Passed => ('P', ["", "", ""]),
        Outcome::Unsupported(r) => ('U', [r.as_str(), "", ""]),
        Outcome::Failed(f) => ('F', [&f.traversal, &f.expected, &f.got]),
    };
    writeln!(
        out,
        "{kind} {} {} {}",
        fields[0].len(),
        fields[1].len(),
        fields[2].len()
    )?;
    for f in fields {
        out.write_all(f.as_bytes())?;
    }
    out.flush()
}

fn read_answer(reader: &mut impl BufRead) -> Result<Outcome, String> {
    let mut header = String::new();
    match reader.read_line(&mut header) {
        Ok(0) => return Err("worker exited".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("reading from the worker: {e}")),
    }
    let mut parts = header.split_whitespace();
    let kind = parts.next().ok_or("empty answer")?;
    let mut fields: Vec<String> = Vec::with_capacity(3);
    for _ in 0..3 {
        let len: usize = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("bad answer header {header:?}"))?;
        if len > WORKER_FIELD_BYTES_MAX {
            return Err(format!("answer field of {len} bytes"));
        }
        let mut buf = vec![0u8; len];
        reader
            .read_exact(&mut buf)
            .map_err(|e| format!("reading from the worker: {e}"))?;
        fields.push(String::from_utf8_lossy(&buf).into_owned());
    }
    let mut it = fields.into_iter();
    let mut next = || it.next().unwrap_or_default();
    match kind {
        "P" => Ok(Outcome::Passed),
        "U" => Ok(Outcome::Unsupported(next())),
        "F" => Ok(Outcome::Failed(Failure {
            traversal: next(),
            expected: next(),
            got: next(),
        })),
        other => Err(format!("bad answer kind {other:?}")),
    }
}

/// Round-trips every outcome shape through the worker protocol (multi-line, non-ASCII text,
/// empty fields) and checks a truncated answer is an error, not a hang or a panic.
fn check_worker_protocol() -> Result<(), String> {
    let samples = [
        Outcome::Passed,
        Outcome::Unsupported("@GraphComputerOnly".into()),
        Outcome::Failed(Failure {
            traversal: "g.V().has(\"name\",\"josé\")\n  .out()".into(),
            expected: String::new(),
            got: "error: ✗ 3 4\nsecond line".into(),
        }),
    ];
    let mut buf: Vec<u8> = Vec::new();
    for s in &samples {
        write_answer(&mut buf, s).map_err(|e| e.to_string())?;
    }
    let mut reader = BufReader::new(buf.as_slice());
    for s in &samples {
        let back = read_answer(&mut reader)?;
        if &back != s {
            return Err(format!("{s:?} came back as {back:?}"));
        }
    }
    if read_answer(&mut reader).is_ok() {
        return Err("an answer after the end".into());
    }
    let truncated = buf.get(..buf.len().saturating_sub(3)).unwrap_or_default();
    let mut reader = BufReader::new(truncated);
    let results: Vec<bool> = (0..samples.len())
        .map(|_| read_answer(&mut reader).is_ok())
        .collect();
    if results.last() != Some(&false) {
        return Err("a truncated answer was accepted".into());
    }
    Ok(())
}

/// Worker mode: read `<file>\t<index>` lines, run that scenario, answer on stdout.
/// Reads a feature file, refusing absurd sizes.
fn read_feature(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > FEATURE_FILE_BYTES_MAX {
        return Err(format!(
            "{size} bytes is larger than {FEATURE_FILE_BYTES_MAX}"
        ));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

fn worker_main(features_dir: &Path, data_dir: &Path, timeout: Duration) -> ExitCode {
    let factory = match backend::Factory::new(data_dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("worker: cannot prepare the backend: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = Limits {
        scenario_ms_max: u64::try_from(timeout.as_millis() / 2).unwrap_or(u64::MAX),
    };
    let mut features: HashMap<String, Vec<Scenario>> = HashMap::new();
    let mut backend: Option<Box<dyn Backend + Send>> = None;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else {
            break;
        };
        let Some((file, index)) = line.split_once('\t') else {
            break;
        };
        if !features.contains_key(file) {
            let parsed = read_feature(&features_dir.join(file))
                .and_then(|t| parse_feature(&t).map_err(|e| e.to_string()));
            let scenarios = parsed.map(|f| f.scenarios).unwrap_or_default();
            features.insert(file.to_string(), scenarios);
        }
        let scenario = features
            .get(file)
            .and_then(|s| index.parse::<usize>().ok().and_then(|i| s.get(i)));
        let outcome = match scenario {
            None => failed(&format!("worker: no scenario {index} in {file}")),
            Some(scenario) => {
                if backend.is_none() {
                    backend = factory.make().ok();
                }
                match backend.as_mut() {
                    Some(b) => run_guarded(b.as_mut(), scenario, limits),
                    None => failed("backend unavailable"),
                }
            }
        };
        // A panic may leave the backend in any state: start the next one fresh.
        if matches!(&outcome, Outcome::Failed(f) if f.got.starts_with("panic")) {
            backend = None;
        }
        if write_answer(&mut stdout.lock(), &outcome).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// Runs every job in worker processes, one scenario at a time, each with a hard timeout.
fn run_jobs(jobs: &[Job], tinkerpop: &Path, timeout: Duration) -> (Vec<ScenarioReport>, usize) {
    let mut reports: Vec<ScenarioReport> = Vec::with_capacity(jobs.len());
    let mut worker: Option<Worker> = None;
    let mut restarts = 0usize;
    for job in jobs {
        if worker.is_none() {
            match Worker::spawn(tinkerpop) {
                Ok(w) => worker = Some(w),
                Err(e) => {
                    reports.push(report(job, failed(&e)));
                    continue;
                }
            }
        }
        let Some(w) = worker.as_mut() else {
            continue;
        };
        if writeln!(w.stdin, "{}\t{}", job.file, job.index)
            .and_then(|()| w.stdin.flush())
            .is_err()
        {
            reports.push(report(
                job,
                failed("worker died before the scenario started"),
            ));
            if let Some(w) = worker.take() {
                w.kill();
            }
            restarts += 1;
            continue;
        }
        match w.answers.recv_timeout(timeout) {
            Ok(Ok(outcome)) => reports.push(report(job, outcome)),
            Ok(Err(e)) => {
                let status = worker.take().map(Worker::kill).unwrap_or_default();
                reports.push(report(
                    job,
                    failed(&format!(
                        "worker crashed ({e}, {status}; an abort is usually the memory cap)"
                    )),
                ));
                restarts += 1;
            }
            Err(_) => {
                reports.push(report(
                    job,
                    failed(&format!("timed out after {} ms", timeout.as_millis())),
                ));
                if let Some(w) = worker.take() {
                    w.kill();
                }
                restarts += 1;
            }
        }
    }
    if let Some(mut w) = worker {
        // Closing stdin ends the worker's loop.
        drop(w.stdin);
        let _ = w.child.wait();
    }
    (reports, restarts)
}

fn run_guarded(backend: &mut dyn Backend, scenario: &Scenario, limits: Limits) -> Outcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_scenario(backend, scenario, limits)
    }));
    match result {
        Ok(o) => o,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            failed(&format!("panic: {msg}"))
        }
    }
}

fn failed(msg: &str) -> Outcome {
    Outcome::Failed(Failure {
        traversal: String::new(),
        expected: String::new(),
        got: msg.to_string(),
    })
}

fn report(job: &Job, outcome: Outcome) -> ScenarioReport {
    let mut outcome = outcome;
    // Worker-level failures do not know the traversal; fill it in from the scenario.
    if let Outcome::Failed(f) = &mut outcome {
        if f.traversal.is_empty() {
            if let Some(doc) = job
                .scenario
                .steps
                .iter()
                .find(|s| s.text == "the traversal of")
                .and_then(|s| s.doc_string.clone())
            {
                f.traversal = doc;
            }
        }
    }
    ScenarioReport {
        file: job.file.clone(),
        scenario: job.scenario.name.clone(),
        line: job.scenario.line,
        outcome,
    }
}

/// One line saying why a scenario did not pass.
fn reason(outcome: &Outcome) -> String {
    let text = match outcome {
        Outcome::Passed => return String::new(),
        Outcome::Unsupported(r) => r.clone(),
        Outcome::Failed(f) => {
            let first = f.got.lines().next().unwrap_or("");
            let is_error = [
                "error: ",
                "error without",
                "panic",
                "timed out",
                "cannot",
                "no error",
                "backend",
                "binding",
                "graph initializer",
                "loading",
                "not run",
                "worker",
                "next()",
                "scenario",
                "`",
            ]
            .iter()
            .any(|p| first.starts_with(p));
            if is_error {
                first.to_string()
            } else {
                "wrong result".to_string()
            }
        }
    };
    text.replace('|', "\\|").chars().take(160).collect()
}

/// The broad kind of a failure, for the summary.
fn kind(outcome: &Outcome) -> &'static str {
    let r = reason(outcome);
    if r == "wrong result" {
        "wrong result (results differ from the expectation)"
    } else if r.starts_with("error without") {
        "raised an error, but not with the expected message"
    } else if r.starts_with("no error") {
        "expected an error, none raised"
    } else if r.contains("not supported")
        || r.contains("no services")
        || r.contains("cannot modulate")
    {
        "step, predicate or modulator not implemented yet (the error says so)"
    } else if r.starts_with('`') {
        "graph count after the traversal differs"
    } else if r.starts_with("timed out") || r.starts_with("worker") {
        "timeout or worker crash (runaway traversal)"
    } else if r.starts_with("graph initializer") {
        "graph initializer failed"
    } else if r.starts_with("binding") {
        "parameters could not be resolved"
    } else {
        "other error"
    }
}

/// Failure kinds, most frequent first.
fn kinds(reports: &[ScenarioReport]) -> Vec<(&'static str, usize)> {
    let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for r in reports {
        if let Outcome::Failed(_) = r.outcome {
            *counts.entry(kind(&r.outcome)).or_default() += 1;
        }
    }
    let mut v: Vec<(&'static str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v
}

/// Groups failure reasons with digits masked, most frequent first.
fn categories(reports: &[ScenarioReport]) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for r in reports {
        if let Outcome::Failed(_) = r.outcome {
            let key: String = reason(&r.outcome)
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .take(90)
                .collect();
            *counts.entry(key).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Markdown: the status of every scenario that did not pass, with its reason.
fn status_markdown(summary: &Summary, reports: &[ScenarioReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Feature-suite status\n\nGenerated by `cargo test -p gremlin --test features` \
         (`gremlin/tests/features.rs`); do not edit by hand.\n"
    );
    let _ = writeln!(
        out,
        "**{}** of {} scenarios.\n",
        summary.headline(),
        reports.len()
    );
    let _ = writeln!(out, "## Failure kinds\n\n| count | kind |\n|---:|---|");
    for (k, n) in kinds(reports) {
        let _ = writeln!(out, "| {n} | {k} |");
    }
    let _ = writeln!(
        out,
        "\n## Failure reasons\n\n| count | reason (digits masked) |\n|---:|---|"
    );
    for (key, n) in categories(reports) {
        let _ = writeln!(out, "| {n} | {key} |");
    }
    let _ = writeln!(out, "\n## Per file\n\n```\n{}```\n", summary.table());
    let _ = writeln!(
        out,
        "## Every scenario that does not pass\n\n| file:line | scenario | status | reason |\n|---|---|---|---|"
    );
    for r in reports {
        let status = match r.outcome {
            Outcome::Passed => continue,
            Outcome::Failed(_) => "failed",
            Outcome::Unsupported(_) => "unsupported",
        };
        let _ = writeln!(
            out,
            "| {}:{} | {} | {} | {} |",
            r.file,
            r.line,
            r.scenario,
            status,
            reason(&r.outcome)
        );
    }
    out
}

fn read_floor(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format!("{}: no number", path.display()))?
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    // `cargo test` may pass harness flags (`--nocapture`, ...): ignored. A plain argument is
    // a filter, like COREGRAPH_FEATURES.
    let arg_filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let filter = std::env::var("COREGRAPH_FEATURES")
        .ok()
        .filter(|f| !f.is_empty())
        .or(arg_filter);
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let root = workspace_root();
    let tinkerpop = std::env::var_os("COREGRAPH_TINKERPOP")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/tinkerpop"));
    let features_dir = tinkerpop.join("features");
    let timeout_ms = std::env::var("COREGRAPH_SCENARIO_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCENARIO_TIMEOUT_MS_DEFAULT);
    let timeout = Duration::from_millis(timeout_ms);
    if std::env::var_os(WORKER_ENV).is_some() {
        return worker_main(&features_dir, &tinkerpop.join("data"), timeout);
    }
    if let Err(e) = check_worker_protocol() {
        eprintln!("FAIL: worker protocol self-check: {e}");
        return ExitCode::FAILURE;
    }
    if !features_dir.is_dir() {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             SKIP: TinkerPop feature suite not found at {}\n\
             (set COREGRAPH_TINKERPOP to the tinkerpop directory)\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            features_dir.display()
        );
        return if in_ci {
            eprintln!("CI=true: a missing feature suite is an error");
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let mut files = Vec::new();
    if let Err(e) = collect_features(&features_dir, 0, &mut files) {
        eprintln!("cannot list feature files: {e}");
        return ExitCode::FAILURE;
    }
    files.sort();
    let mut jobs = Vec::new();
    let mut parse_errors = 0usize;
    for path in &files {
        let rel = path
            .strip_prefix(&features_dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let parsed =
            read_feature(path).and_then(|text| parse_feature(&text).map_err(|e| e.to_string()));
        let feature = match parsed {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{rel}: {e}");
                parse_errors += 1;
                continue;
            }
        };
        for (index, scenario) in feature.scenarios.into_iter().enumerate() {
            // Self-check: every step is understood and every notation value parses.
            if let Err(e) = check_notation(&scenario) {
                eprintln!("{rel}:{}: {e}", scenario.line);
                parse_errors += 1;
            }
            let selected = filter
                .as_deref()
                .is_none_or(|f| rel.contains(f) || scenario.name.contains(f));
            if selected {
                jobs.push(Job {
                    file: rel.clone(),
                    index,
                    scenario,
                });
            }
        }
    }
    // Fail fast (and once) when the backend cannot even be prepared.
    if let Err(e) = backend::Factory::new(&tinkerpop.join("data")) {
        eprintln!("cannot prepare the backend: {e}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let total = jobs.len();
    let (reports, restarts) = run_jobs(&jobs, &tinkerpop, timeout);
    let summary = Summary::of(&reports);
    println!(
        "\nTinkerPop feature suite ({} files, {total} scenarios selected, {:.1}s, \
         {restarts} worker restarts)\n",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", summary.table());
    println!("Failure kinds:");
    for (k, n) in kinds(&reports) {
        println!("  {n:>5}  {k}");
    }
    println!("Top failure reasons:");
    for (key, n) in categories(&reports).into_iter().take(15) {
        println!("  {n:>5}  {key}");
    }
    println!("\n{}", summary.headline());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let _ = std::fs::create_dir_all(&target);
    let failures_path = target.join("conformance-failures.txt");
    match std::fs::write(&failures_path, failure_report(&reports)) {
        Ok(()) => println!("failing scenarios written to {}", failures_path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", failures_path.display()),
    }
    let status_path = target.join("conformance-status.md");
    match std::fs::write(&status_path, status_markdown(&summary, &reports)) {
        Ok(()) => println!(
            "every non-passing scenario with its reason written to {}",
            status_path.display()
        ),
        Err(e) => eprintln!("cannot write {}: {e}", status_path.display()),
    }
    if parse_errors > 0 {
        eprintln!("FAIL: {parse_errors} feature files or scenarios could not be read, parsed or understood");
        return ExitCode::FAILURE;
    }
    if filter.is_some() {
        println!("(filtered run: floor not checked)");
        return ExitCode::SUCCESS;
    }
    let floor_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-floor.txt");
    let floor = match read_floor(&floor_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot read the floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    if summary.passed < floor {
        eprintln!(
            "FAIL: {} scenarios passed, below the floor of {floor} ({})",
            summary.passed,
            floor_path.display()
        );
        return ExitCode::FAILURE;
    }
    if summary.passed >= floor + FLOOR_HINT_MARGIN {
        println!(
            "hint: {} passed, {} above the floor; raise {} to {} (the floor only rises)",
            summary.passed,
            summary.passed - floor,
            floor_path.display(),
            summary.passed
        );
    }
    println!("floor {floor}: ok");
    ExitCode::SUCCESS
}
