//! `perf gremlin`: the command line of the load generator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::report;
use super::run::{self, Mode, RunConfig};
use super::workload::{self, Workload};

/// Load generator settings.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Gremlin server address.
    #[arg(long, default_value = "127.0.0.1:8182")]
    pub addr: SocketAddr,
    /// WebSocket path.
    #[arg(long, default_value = "/gremlin")]
    pub path: String,
    /// A built-in workload (lookup, one-hop, two-hop, has-after-out, vertex-insert,
    /// edge-insert, read-mostly) or a workload file; repeat to run several, one after another.
    #[arg(long, default_value = "read-mostly")]
    pub workload: Vec<String>,
    /// Built-in workloads: ids are 0..ids (`coregraph gen --vertices`).
    #[arg(long, default_value_t = 1_000_000)]
    pub ids: u64,
    /// Built-in workloads: id distribution, uniform or zipf (theta 0.99, id 0 hottest).
    #[arg(long, default_value = "uniform")]
    pub id_dist: String,
    /// Built-in workloads: ids sent as string (`coregraph gen` ids), long or int.
    #[arg(long, default_value = "string")]
    pub id_type: String,
    /// Warm-up (e.g. 2s, 500ms); overrides the workload's.
    #[arg(long)]
    pub warmup: Option<String>,
    /// Measured duration (e.g. 10s); overrides the workload's.
    #[arg(long)]
    pub duration: Option<String>,
    /// After the measured window, how long outstanding requests may take before they count
    /// as `no-response` (e.g. 5s).
    #[arg(long, default_value = "5s")]
    pub drain: String,
    /// Traversal source name (aliases {g: SOURCE}); overrides the workload's.
    #[arg(long)]
    pub source: Option<String>,
    /// Connections in total, spread round-robin over the CPUs.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// CPUs for the generator (one pinned executor each), e.g. 0,1; default all allowed.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Closed loop: requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Closed loop: requests in flight in total, spread over the connections (instead of
    /// --in-flight).
    #[arg(long)]
    pub in_flight_total: Option<usize>,
    /// Open loop at this many requests per second in total (latency from the intended start).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: most requests outstanding per connection.
    #[arg(long, default_value_t = 256)]
    pub pending_max: usize,
    /// The server's admin address, scraped (/metrics) for connections per core.
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// User for the server's SASL PLAIN authentication (with --password).
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    /// Password for --user.
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the SVG latency-percentile plot here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Random seed (ids, op picks, request ids, masks).
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

fn load_workload(a: &Args, name: &str) -> Result<Workload, String> {
    let warmup = a.warmup.as_deref().unwrap_or("1s");
    let duration = a.duration.as_deref().unwrap_or("10s");
    let mut w = if workload::BUILTINS.contains(&name) {
        workload::builtin(name, a.ids, &a.id_dist, &a.id_type, warmup, duration).map_err(|e| e.0)?
    } else {
        let mut w = Workload::load(std::path::Path::new(name)).map_err(|e| e.0)?;
        let parse =
            |s: &str| workload::parse_duration(s).ok_or_else(|| format!("bad duration '{s}'"));
        if let Some(s) = &a.warmup {
            w.warmup = parse(s)?;
        }
        if let Some(s) = &a.duration {
            w.duration = parse(s)?;
        }
        w
    };
    if let Some(s) = &a.source {
        w.source = s.clone();
    }
    Ok(w)
}

/// Runs `perf gremlin`; prints the text report to stdout.
pub fn main(a: Args) -> Result<(), String> {
    let cpus = if a.cpus.is_empty() {
        net::server::allowed_cpus().map_err(|e| format!("CPU affinity: {e}"))?
    } else {
        a.cpus.clone()
    };
    let mut cfg = RunConfig::new(a.addr);
    cfg.path = a.path.clone();
    cfg.cpus = cpus;
    cfg.connections = a.connections;
    cfg.mode = match (a.rate, a.in_flight_total) {
        (Some(_), Some(_)) => {
            return Err(
                "--rate (open loop) and --in-flight-total (closed loop) exclude each other".into(),
            )
        }
        (Some(rate_per_s), None) => Mode::Open { rate_per_s },
        (None, Some(in_flight)) => Mode::ClosedTotal { in_flight },
        (None, None) => Mode::Closed {
            in_flight: a.in_flight,
        },
    };
    cfg.pending_max = a.pending_max;
    cfg.drain = workload::parse_duration(&a.drain)
        .ok_or_else(|| format!("bad --drain duration '{}'", a.drain))?;
    cfg.admin = a.admin;
    cfg.progress = !a.quiet;
    cfg.seed = a.seed;
    cfg.credentials = a.user.clone().zip(a.password.clone());
    let workloads: Vec<Workload> = a
        .workload
        .iter()
        .map(|name| load_workload(&a, name))
        .collect::<Result<_, _>>()?;
    let mut reports = Vec::new();
    for w in workloads {
        if !a.quiet {
            eprintln!("running workload {} ...", w.name);
        }
        let r = run::run(&cfg, Arc::new(w)).map_err(|e| e.0)?;
        reports.push(r);
    }
    print!("{}", report::to_text(&reports));
    if let Some(p) = &a.json {
        std::fs::write(p, report::to_json(&reports))
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &a.svg {
        std::fs::write(p, report::to_svg(&reports)).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}
