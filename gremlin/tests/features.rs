//! The TinkerPop feature suite as a test (`harness = false`): reads every `.feature` file,
//! runs each scenario in-process against the reference backend, prints
//! `N passed, M failed, K unsupported` and a per-file table, writes failing scenarios to
//! `target/conformance-failures.txt`, and fails below the floor in `conformance-floor.txt`.
//!
//! Environment:
//! - `COREGRAPH_TINKERPOP`: the tinkerpop directory (default `<workspace>/../shared/tinkerpop`).
//! - `COREGRAPH_FEATURES`: only run files or scenarios whose path or name contains this text.
//! - `COREGRAPH_SCENARIO_TIMEOUT_MS`: hard per-scenario timeout (default 20000).
//! - `CI=true`: a missing tinkerpop directory is an error instead of a skip.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gremlin::conformance::gherkin::{parse_feature, Scenario};
use gremlin::conformance::runner::{check_notation, Failure};
use gremlin::conformance::{
    failure_report, run_scenario, Backend, Limits, Outcome, ScenarioReport, Summary,
};

#[path = "features/backend.rs"]
mod backend;

/// Hard per-scenario timeout unless `COREGRAPH_SCENARIO_TIMEOUT_MS` says otherwise.
const SCENARIO_TIMEOUT_MS_DEFAULT: u64 = 20_000;
/// Worker threads abandoned after a timeout before the run gives up on the rest.
const ABANDONED_WORKERS_MAX: usize = 8;
/// Feature directory nesting followed when looking for files.
const DIR_DEPTH_MAX: usize = 8;
/// Passes above the floor that earn a hint to raise it.
const FLOOR_HINT_MARGIN: usize = 10;
/// Stack of a worker thread (deep traversals recurse).
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

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
    scenario: Scenario,
}

/// Runs jobs on a worker thread, one at a time, with a hard timeout each. A worker that times
/// out is abandoned (a thread cannot be killed) and a fresh one with a fresh backend takes over.
fn run_jobs(
    jobs: Vec<Job>,
    factory: Arc<backend::Factory>,
    timeout: Duration,
) -> Vec<ScenarioReport> {
    let limits = Limits {
        scenario_ms_max: u64::try_from(timeout.as_millis() / 2).unwrap_or(u64::MAX),
    };
    let jobs: Vec<Arc<Job>> = jobs.into_iter().map(Arc::new).collect();
    let mut reports: Vec<ScenarioReport> = Vec::with_capacity(jobs.len());
    let mut abandoned = 0usize;
    let mut next = 0usize;
    while next < jobs.len() {
        if abandoned > ABANDONED_WORKERS_MAX {
            for job in jobs.iter().skip(next) {
                reports.push(report(job, failed("not run: too many scenarios timed out")));
            }
            break;
        }
        let (job_tx, job_rx) = mpsc::channel::<Arc<Job>>();
        let (out_tx, out_rx) = mpsc::channel::<Outcome>();
        let factory = Arc::clone(&factory);
        let spawned = std::thread::Builder::new()
            .name("conformance-worker".into())
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                let mut backend: Option<Box<dyn Backend + Send>> = None;
                while let Ok(job) = job_rx.recv() {
                    if backend.is_none() {
                        match factory.make() {
                            Ok(b) => backend = Some(b),
                            Err(e) => {
                                let o = failed(&format!("backend unavailable: {e}"));
                                if out_tx.send(o).is_err() {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                    let outcome = match backend.as_mut() {
                        Some(b) => run_guarded(b.as_mut(), &job.scenario, limits),
                        None => failed("backend unavailable"),
                    };
                    // A panic may leave the backend in any state: start the next one fresh.
                    if matches!(&outcome, Outcome::Failed(f) if f.got.starts_with("panic")) {
                        backend = None;
                    }
                    if out_tx.send(outcome).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            for job in jobs.iter().skip(next) {
                reports.push(report(job, failed(&format!("cannot spawn worker: {e}"))));
            }
            break;
        }
        // Feed this worker until it times out or the jobs run out.
        while let Some(job) = jobs.get(next) {
            next += 1;
            if job_tx.send(Arc::clone(job)).is_err() {
                reports.push(report(job, failed("worker died")));
                break;
            }
            match out_rx.recv_timeout(timeout) {
                Ok(outcome) => reports.push(report(job, outcome)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    reports.push(report(
                        job,
                        failed(&format!("timed out after {} ms", timeout.as_millis())),
                    ));
                    abandoned += 1;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    reports.push(report(job, failed("worker died")));
                    break;
                }
            }
        }
    }
    reports
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
    let _ = writeln!(
        out,
        "## Failure categories\n\n| count | reason (digits masked) |\n|---:|---|"
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
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_feature(&text).map_err(|e| e.to_string()));
        let feature = match parsed {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{rel}: {e}");
                parse_errors += 1;
                continue;
            }
        };
        for scenario in feature.scenarios {
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
                    scenario,
                });
            }
        }
    }
    let timeout_ms = std::env::var("COREGRAPH_SCENARIO_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCENARIO_TIMEOUT_MS_DEFAULT);
    let factory = match backend::Factory::new(&tinkerpop.join("data")) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            eprintln!("cannot prepare the backend: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let total = jobs.len();
    let reports = run_jobs(jobs, factory, Duration::from_millis(timeout_ms));
    let summary = Summary::of(&reports);
    println!(
        "\nTinkerPop feature suite ({} files, {total} scenarios selected, {:.1}s)\n",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", summary.table());
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
