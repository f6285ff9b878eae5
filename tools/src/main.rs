//! The `coregraph` binary: subcommands serve, gen, load, import, export, user, backup and
//! restore.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use shards::{DataDir, DirOptions, Durability, StoreConfig};

/// mimalloc instead of glibc malloc: every core allocates rows, records and buffers that
/// another core frees, which glibc serialises on its arena locks (docs/PERF.md, "Bulk load").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Index of mimalloc's `purge_delay` option in its `mi_option_e` (mimalloc v3, the version
/// `libmimalloc-sys` builds by default; the crate has no named constant for it). A test
/// checks that it is the option holding mimalloc v3's default purge delay, 1000 ms.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells the allocator never to give freed memory back to the OS, for the one-shot bulk
/// load. mimalloc returns memory a second after it is freed; the loader frees and allocates
/// gigabytes per step, and each page given back and taken again costs a fresh page fault
/// (about 4 us per 4 KiB page on the VMs we measure on). 1 M / 10 M: 1.1 M faults with the
/// default, 9 k without purging, for 0.7-1.1 GiB more peak RSS (docs/PERF.md, session 10).
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it takes no
    // pointer, and any value is accepted for this option (-1: never purge).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[derive(Parser)]
#[command(
    name = "coregraph",
    version,
    about = "coregraph: a Gremlin graph database, thread-per-core"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open the stores on pinned executors and serve until SIGINT/SIGTERM.
    Serve(Box<ServeArgs>),
    /// Generate a seeded benchmark graph as Gremlin load CSV files (vertices/, edges/).
    Gen(coregraph::gen::GenArgs),
    /// Back up every shard: online through a running server's admin port (--admin), or
    /// offline from a data directory no server has open (--data-dir).
    Backup(coregraph::backup::BackupArgs),
    /// Restore a backup into an empty data directory, then repair half-written edges.
    Restore(coregraph::backup::RestoreArgs),
    /// Bulk-load a Gremlin load CSV directory (vertices/, edges/) into a data directory,
    /// offline (the server must not be running on it), on every core; flushed when done.
    Load(Box<LoadArgs>),
    /// Import a GraphSON 3.0 adjacency-list file (TinkerPop's `g.io()` format) into a data
    /// directory, offline; rejected elements are listed with their line.
    Import(Box<coregraph::io::ImportArgs>),
    /// Export a data directory's graph as a GraphSON 3.0 adjacency-list file, offline.
    Export(Box<coregraph::io::ExportArgs>),
    /// Manage the credentials file used when authentication is on (SASL PLAIN).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
}

/// Settings of `coregraph load`.
#[derive(clap::Args)]
struct LoadArgs {
    /// The load directory (holding vertices/ and edges/).
    input: PathBuf,
    /// Data directory (created if missing).
    #[arg(long, default_value = "./coregraph-data")]
    data_dir: PathBuf,
    /// Executors (cores) to load with; default: every CPU this process may use.
    #[arg(long)]
    executors: Option<usize>,
    /// Shards at creation (default: number of CPUs); fixed afterwards.
    #[arg(long)]
    shards: Option<u32>,
    /// Data file size per shard at creation, in MiB.
    #[arg(long, default_value_t = 256)]
    shard_size_mib: u64,
    /// Record read cache per shard, in MiB (records read from the device stay in memory
    /// up to this budget, counting their overhead; 0: off).
    #[arg(long, default_value_t = shards::READ_CACHE_BYTES_DEFAULT >> 20)]
    read_cache_mib: u64,
    /// Graph (traversal source) to load into.
    #[arg(long, default_value = "g")]
    graph: String,
    /// File listing rejected rows (`file:line: kind: message`).
    #[arg(long, default_value = "./coregraph-load-errors.txt")]
    errors: PathBuf,
    /// Rejected rows allowed; one more stops the load.
    #[arg(long, default_value_t = engine::load::pipeline::ERRORS_MAX_DEFAULT)]
    errors_max: u64,
    /// Rows per batch sent between cores.
    #[arg(long, default_value_t = engine::load::pipeline::BATCH_ROWS_DEFAULT)]
    batch_rows: usize,
    /// Edges each core gathers before writing them grouped per out vertex (memory: about
    /// 200 bytes per edge).
    #[arg(long, default_value_t = engine::load::pipeline::WRITER_BUFFER_EDGES_DEFAULT)]
    writer_buffer_edges: usize,
    /// Memory for the records of the vertices this load creates, kept through the edge
    /// phase and written once (MiB, all cores; 0: read and write the store per batch).
    #[arg(long, default_value_t = engine::load::pipeline::RESIDENT_BYTES_DEFAULT >> 20)]
    resident_mib: usize,
    /// Edge-cache entries per vertex before it becomes a supernode.
    #[arg(long, default_value_t = engine::model::EDGE_CACHE_ENTRIES_DEFAULT)]
    edge_cache_entries: usize,
    /// Edges per edge-pack record.
    #[arg(long, default_value_t = engine::model::PACK_EDGES_DEFAULT)]
    pack_edges: usize,
    /// Edge-property keys copied into supernodes' adjacency-index entries, so that
    /// `outE().has(key, P)` on a supernode skips failing edges without reading their packs
    /// (comma-separated). Chosen when the data directory is created (recorded in its
    /// `model.def`); a later open uses them (none named) or a subset, and cannot add one.
    #[arg(long, value_delimiter = ',')]
    indexed_edge_keys: Vec<String>,
}

fn load(a: LoadArgs) -> Result<(), String> {
    keep_freed_memory();
    let opts = DirOptions {
        shard_count: a.shards,
        shard_size_bytes: a.shard_size_mib << 20,
        store: StoreConfig {
            read_cache_bytes_max: a.read_cache_mib.saturating_mul(1 << 20),
            ..StoreConfig::default()
        },
    };
    let mut cpus = net::server::allowed_cpus().map_err(|e| format!("CPU affinity: {e}"))?;
    if let Some(n) = a.executors {
        cpus.truncate(n.max(1));
    }
    if cpus.is_empty() {
        return Err("no CPU to run on".to_string());
    }
    let dir = DataDir::open_or_create(&a.data_dir, &opts)
        .map_err(|e| format!("{}: {e}", a.data_dir.display()))?;
    let lopts = engine::load::LoadOptions {
        cores: cpus.len(),
        cpus,
        graph: a.graph.clone(),
        model: engine::model::ModelConfig {
            edge_cache_entries: a.edge_cache_entries,
            pack_edges: a.pack_edges,
            indexed_edge_keys: a
                .indexed_edge_keys
                .iter()
                .map(|k| Arc::from(k.as_str()))
                .collect(),
            ..engine::model::ModelConfig::default()
        },
        errors_path: a.errors.clone(),
        errors_max: a.errors_max,
        batch_rows: a.batch_rows,
        writer_buffer_edges: a.writer_buffer_edges,
        resident_bytes: a.resident_mib.saturating_mul(1 << 20),
        ..engine::load::LoadOptions::default()
    };
    let summary =
        engine::load::run_load(Arc::new(dir), &a.input, lopts).map_err(|e| e.to_string())?;
    println!("{summary}");
    if summary.errors_total > 0 {
        println!("load: rejected rows are listed in {}", a.errors.display());
    }
    match summary.stopped {
        Some(s) => Err(s),
        None => Ok(()),
    }
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user, or replace its password (salted argon2id hash).
    Add {
        /// Credentials file (created if missing).
        #[arg(long, default_value = "./coregraph-credentials")]
        credentials: PathBuf,
        /// User name.
        user: String,
        /// Password; read from the first line of standard input when absent.
        #[arg(long)]
        password: Option<String>,
    },
    /// Remove a user.
    Remove {
        /// Credentials file.
        #[arg(long, default_value = "./coregraph-credentials")]
        credentials: PathBuf,
        /// User name.
        user: String,
    },
}

fn user(cmd: UserCmd) -> Result<(), String> {
    match cmd {
        UserCmd::Add {
            credentials,
            user,
            password,
        } => {
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|e| format!("reading the password from stdin: {e}"))?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            net::auth::add_user(&credentials, &user, &password)
                .map_err(|e| format!("{}: {e}", credentials.display()))?;
            println!("coregraph: user {user} saved in {}", credentials.display());
            Ok(())
        }
        UserCmd::Remove { credentials, user } => {
            let existed = net::auth::remove_user(&credentials, &user)
                .map_err(|e| format!("{}: {e}", credentials.display()))?;
            if existed {
                println!(
                    "coregraph: user {user} removed from {}",
                    credentials.display()
                );
                Ok(())
            } else {
                Err(format!("no user {user} in {}", credentials.display()))
            }
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum DurabilityArg {
    /// Acknowledge in the write buffer (loss window: --flush-ms-max).
    Buffered,
    /// Acknowledge after the flush unit is written and fdatasync'ed (group commit).
    Commit,
    /// Data in memory only, no files.
    Memory,
}

/// Settings of `coregraph serve`. Every flag can also be given in the file named by
/// `--config`, one `name = value` per line (`#` starts a comment), e.g. `durability = commit`;
/// flags on the command line win over the file.
#[derive(clap::Args)]
#[command(args_override_self = true)]
struct ServeArgs {
    /// A settings file: `name = value` lines with the long flag names (without `--`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Gremlin WebSocket address (every core accepts on it with SO_REUSEPORT).
    #[arg(long, default_value = "127.0.0.1:8182")]
    addr: std::net::SocketAddr,
    /// WebSocket path.
    #[arg(long, default_value = "/gremlin")]
    path: String,
    /// Admin HTTP address (`GET /healthcheck`, `GET /metrics`); off when absent.
    #[arg(long)]
    admin_addr: Option<std::net::SocketAddr>,
    /// CPUs to run on, one pinned executor each (e.g. `0,2,3`); default: every CPU this
    /// process may use (limited by --executors).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Executors: the first N CPUs of --cpus (or of the allowed CPUs); default: all of them.
    #[arg(long)]
    executors: Option<usize>,
    /// Data directory (created if missing); relative paths are under the current directory.
    #[arg(long, default_value = "./coregraph-data")]
    data_dir: PathBuf,
    /// Shards at creation (default: number of CPUs); fixed afterwards.
    #[arg(long)]
    shards: Option<u32>,
    /// Data file size per shard at creation, in MiB.
    #[arg(long, default_value_t = 256)]
    shard_size_mib: u64,
    /// Record read cache per shard, in MiB (records read from the device stay in memory
    /// up to this budget, counting their overhead; 0: off).
    #[arg(long, default_value_t = shards::READ_CACHE_BYTES_DEFAULT >> 20)]
    read_cache_mib: u64,
    /// Write block size in MiB (fixed at creation).
    #[arg(long, default_value_t = 8)]
    block_size_mib: u64,
    /// Flush unit in KiB (fixed at creation).
    #[arg(long, default_value_t = 1024)]
    flush_size_kib: u64,
    /// Durability mode.
    #[arg(long, value_enum, default_value = "buffered")]
    durability: DurabilityArg,
    /// Write an idle, partly filled buffer after this many ms.
    #[arg(long, default_value_t = 1000)]
    flush_ms_max: u64,
    /// Graphs (traversal sources), comma-separated; the first is the default one, each its
    /// own key space. Requests select one with the `g` alias (e.g. `g.with_remote(..., "social")`).
    #[arg(long, value_delimiter = ',', default_value = "g")]
    graphs: Vec<String>,
    /// Authentication: a credentials file (`coregraph user add`); SASL PLAIN is then required.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// TLS on the Gremlin and admin ports: the certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// `evaluationTimeout` (ms) of requests that give none; 0 = none.
    #[arg(long, default_value_t = 30_000)]
    evaluation_timeout_ms: u64,
    /// In-flight requests per connection (then 429).
    #[arg(long, default_value_t = 16)]
    requests_in_flight_max: usize,
    /// Microseconds an idle core polls for work before it parks in the kernel (0: parks at
    /// once). Polling saves the wake-up cost of every request on dedicated cores and takes
    /// CPU from anything else running on them.
    #[arg(long, default_value_t = 0)]
    spin_before_park_us: u64,
    /// Capacity of each core-to-core channel, in messages.
    #[arg(long, default_value_t = engine::runtime::MESH_CAPACITY_MESSAGES_DEFAULT)]
    mesh_capacity_messages: usize,
    /// Edge-cache entries per vertex before it becomes a supernode.
    #[arg(long, default_value_t = engine::model::EDGE_CACHE_ENTRIES_DEFAULT)]
    edge_cache_entries: usize,
    /// Edges per edge-pack record.
    #[arg(long, default_value_t = engine::model::PACK_EDGES_DEFAULT)]
    pack_edges: usize,
    /// Edge-property keys copied into supernodes' adjacency-index entries, so that
    /// `outE().has(key, P)` on a supernode skips failing edges without reading their packs
    /// (comma-separated). Chosen when the data directory is created (recorded in its
    /// `model.def`); a later open uses them (none named) or a subset, and cannot add one.
    #[arg(long, value_delimiter = ',')]
    indexed_edge_keys: Vec<String>,
    /// Directory `g.io(file).read()` / `.write()` files are confined to (created if
    /// missing); default: `io` under the data directory.
    #[arg(long)]
    io_dir: Option<PathBuf>,
}

/// Most bytes of a `--config` file.
const CONFIG_FILE_BYTES_MAX: u64 = 1 << 20;

/// The `--config` file as command-line arguments (`--name value` pairs).
fn config_file_args(path: &std::path::Path) -> Result<Vec<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > CONFIG_FILE_BYTES_MAX {
        return Err(format!(
            "{}: larger than {CONFIG_FILE_BYTES_MAX} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut args = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| {
            format!(
                "{}:{}: expected `name = value`, found {line:?}",
                path.display(),
                n + 1
            )
        })?;
        let (k, v) = (k.trim(), v.trim().trim_matches('"'));
        if k == "config" {
            return Err(format!(
                "{}:{}: a config file cannot name another",
                path.display(),
                n + 1
            ));
        }
        args.push(format!("--{}", k.replace('_', "-")));
        args.push(v.to_string());
    }
    Ok(args)
}

/// Re-reads the serve flags with the config file's settings first (flags win).
fn with_config_file(a: ServeArgs) -> Result<ServeArgs, String> {
    let Some(path) = a.config.clone() else {
        return Ok(a);
    };
    #[derive(Parser)]
    struct ServeOnly {
        #[command(flatten)]
        args: ServeArgs,
    }
    let mut argv = vec!["coregraph-serve".to_string()];
    argv.extend(config_file_args(&path)?);
    let mut cli = std::env::args().skip_while(|a| a != "serve");
    let _ = cli.next();
    argv.extend(cli);
    ServeOnly::try_parse_from(argv)
        .map(|s| s.args)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A Prometheus series of shard counters: name, help, value.
type Series = (&'static str, &'static str, fn(&shards::ShardStats) -> u64);

/// Prometheus text of every shard's counters (as last published by its core).
fn shard_metrics(cluster: &engine::runtime::Cluster) -> String {
    let mut out = String::new();
    let stats = cluster.shard_stats();
    let series: [Series; 12] = [
        (
            "coregraph_shard_index_entries",
            "Records in the shard's index (live, tombstones, expired).",
            |s| s.index_entries,
        ),
        (
            "coregraph_shard_live_bytes",
            "Live bytes on the device.",
            |s| s.live_bytes,
        ),
        ("coregraph_shard_blocks_free", "Free blocks.", |s| {
            s.blocks_free
        }),
        (
            "coregraph_shard_writes_total",
            "Acknowledged puts and deletes.",
            |s| s.writes,
        ),
        ("coregraph_shard_reads_total", "Reads.", |s| s.reads),
        (
            "coregraph_shard_device_reads_total",
            "Reads served from the device.",
            |s| s.device_reads,
        ),
        (
            "coregraph_shard_read_cache_hits_total",
            "Reads served by the record read cache.",
            |s| s.record_cache_hits,
        ),
        (
            "coregraph_shard_read_cache_misses_total",
            "Reads the record read cache could not serve.",
            |s| s.record_cache_misses,
        ),
        (
            "coregraph_shard_read_cache_evictions_total",
            "Records evicted from the record read cache (budget).",
            |s| s.record_cache_evictions,
        ),
        (
            "coregraph_shard_read_cache_bytes",
            "Bytes the record read cache holds (payloads, overhead, tables).",
            |s| s.record_cache_bytes,
        ),
        ("coregraph_shard_flushes_total", "Flushes.", |s| s.flushes),
        (
            "coregraph_shard_overload_errors_total",
            "Writes refused for overload.",
            |s| s.overload_errors,
        ),
    ];
    for (name, help, get) in series {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {}\n",
            if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            }
        ));
        for (id, s) in &stats {
            out.push_str(&format!("{name}{{shard=\"{id}\"}} {}\n", get(s)));
        }
    }
    let routes = cluster.route_stats();
    let series: [RouteSeries; 4] = [
        (
            "coregraph_core_messages_sent_total",
            "Requests this core sent to other cores.",
            |s| s.messages_sent,
        ),
        (
            "coregraph_core_overloads_total",
            "Cross-core calls refused because too many were waiting.",
            |s| s.overloads,
        ),
        (
            "coregraph_core_frontier_batches_total",
            "Frontier batches this core evaluated.",
            |s| s.frontier_batches,
        ),
        (
            "coregraph_core_frontier_batches_given_up_total",
            "Frontier batches stopped or never started because their query was given up (client gone, timeout, failure).",
            |s| s.frontier_batches_given_up,
        ),
    ];
    for (name, help, get) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for (core, s) in &routes {
            out.push_str(&format!("{name}{{core=\"{core}\"}} {}\n", get(s)));
        }
    }
    out
}

/// A Prometheus series of per-core routing counters: name, help, value.
type RouteSeries = (
    &'static str,
    &'static str,
    fn(&engine::runtime::RouteStats) -> u64,
);

/// Prints a status line; a closed standard output (the operator's pipe went away) is no
/// reason to fail.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn serve(a: ServeArgs) -> Result<(), String> {
    // Before any thread starts (every executor inherits the mask): SIGINT/SIGTERM then reach
    // only the signal thread, which stops the server gracefully.
    net::signals::block_termination_signals()
        .map_err(|e| format!("blocking termination signals: {e}"))?;
    let a = with_config_file(a)?;
    let durability = match a.durability {
        DurabilityArg::Buffered => Durability::Buffered,
        DurabilityArg::Commit => Durability::CommitToDevice,
        DurabilityArg::Memory => Durability::InMemory,
    };
    let opts = DirOptions {
        shard_count: a.shards,
        shard_size_bytes: a.shard_size_mib << 20,
        store: StoreConfig {
            block_size_bytes: a.block_size_mib << 20,
            flush_size_bytes: a.flush_size_kib << 10,
            flush_ms_max: a.flush_ms_max,
            durability,
            read_cache_bytes_max: a.read_cache_mib.saturating_mul(1 << 20),
            ..StoreConfig::default()
        },
    };
    let path = if a.data_dir.is_absolute() {
        a.data_dir.clone()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(&a.data_dir)
            .components()
            .collect()
    };
    let mut cpus = if a.cpus.is_empty() {
        net::server::allowed_cpus().map_err(|e| format!("CPU affinity: {e}"))?
    } else {
        a.cpus.clone()
    };
    if let Some(n) = a.executors {
        cpus.truncate(n.max(1));
    }
    if cpus.is_empty() {
        return Err("no CPU to run on".to_string());
    }
    let dir =
        DataDir::open_or_create(&path, &opts).map_err(|e| format!("{}: {e}", path.display()))?;
    say(&format!(
        "coregraph: data in {} ({}, {} shards, {} MiB per shard)",
        dir.path().display(),
        if dir.created() { "created" } else { "existing" },
        dir.shard_count(),
        dir.meta().shard_size_bytes >> 20
    ));
    let io_dir = coregraph::io::serve_io_dir(a.io_dir.as_deref(), dir.path())?;
    let runtime = engine::runtime::RuntimeConfig {
        io_dir: Some(io_dir),
        mesh_capacity_messages: a.mesh_capacity_messages,
        graphs: a.graphs.clone(),
        model: engine::model::ModelConfig {
            edge_cache_entries: a.edge_cache_entries,
            pack_edges: a.pack_edges,
            indexed_edge_keys: a
                .indexed_edge_keys
                .iter()
                .map(|k| Arc::from(k.as_str()))
                .collect(),
            ..engine::model::ModelConfig::default()
        },
        ..engine::runtime::RuntimeConfig::default()
    };
    let cluster = engine::runtime::Cluster::new(Arc::new(dir), cpus.len(), runtime)
        .map_err(|e| e.to_string())?;
    let metrics_cluster = cluster.clone();
    let backups = engine::backup::BackupCoordinator::new(&cluster);
    let admin_backups = backups.clone();
    let loads =
        engine::load::online::LoadCoordinator::new(cpus.len(), cluster.config().model.clone());
    let admin_loads = loads.clone();
    let mut services = gremlin::machine::services::ServiceRegistry::new();
    for s in loads.services() {
        services.register(s);
    }
    let admin_indexes = cluster.index_catalog();
    for s in admin_indexes.services() {
        services.register(s);
    }
    cluster.set_services(Arc::new(services));
    let status_cluster = cluster.clone();
    let config = net::Config {
        addr: a.addr,
        path: a.path.clone(),
        admin_addr: a.admin_addr,
        cpus: cpus.clone(),
        credentials_path: a.credentials.clone(),
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => Some(net::tls::TlsConfig {
                cert_chain_path: c.clone(),
                private_key_path: k.clone(),
            }),
            _ => None,
        },
        evaluation_timeout_ms_default: a.evaluation_timeout_ms,
        requests_in_flight_max: a.requests_in_flight_max,
        spin_before_park: std::time::Duration::from_micros(a.spin_before_park_us),
        extra_metrics: Some(net::config::ExtraMetrics(Arc::new(move || {
            shard_metrics(&metrics_cluster)
        }))),
        admin_handler: Some(net::config::AdminHandler(Arc::new(move |m, p, q| {
            admin_backups
                .admin(m, p, q)
                .or_else(|| admin_loads.admin(m, p, q))
                .or_else(|| admin_indexes.admin(m, p, q))
        }))),
        ..net::Config::default()
    };
    let server = net::serve_with(config, net::wire::Serializers::standard(), move |core| {
        let (cluster, backups, loads) = (cluster.clone(), backups.clone(), loads.clone());
        async move {
            let host = cluster.join(core).await?;
            if let Err(e) = engine::backup::spawn_backup_worker(backups, &host) {
                tracing::warn!(core, error = %e, "no backup worker on this core");
            }
            if let Err(e) = engine::load::online::spawn_load_worker(loads, &host) {
                tracing::warn!(core, error = %e, "no load worker on this core");
            }
            Ok::<_, engine::runtime::RuntimeError>(net::engine_service::EngineService::new(host))
        }
    })
    .map_err(|e| e.to_string())?;
    let scheme = if a.tls_cert.is_some() { "wss" } else { "ws" };
    say(&format!(
        "coregraph: serving Gremlin on {scheme}://{}{} with {} executors (graphs: {}); stop with SIGINT or SIGTERM",
        server.local_addr(),
        a.path,
        cpus.len(),
        a.graphs.join(", ")
    ));
    if let Some(admin) = server.admin_addr() {
        say(&format!(
            "coregraph: admin on http://{admin} (/healthcheck, /metrics, /backup, /load)"
        ));
    }
    let waiter = net::signals::stop_on_termination_signal(server.stopper())
        .map_err(|e| format!("signal thread: {e}"))?;
    server.join().map_err(|e| e.to_string())?;
    drop(waiter);
    let failures = status_cluster.shutdown_errors();
    if !failures.is_empty() {
        return Err(format!("shutdown: {}", failures.join("; ")));
    }
    say("coregraph: stores flushed; bye");
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A failed write (stderr closed: the parent that read it exited) is dropped quietly;
        // by default the subscriber reports it with `eprintln!`, which panics on a closed
        // stderr, and a panic in the signal thread left `serve` hanging on SIGTERM.
        .log_internal_errors(false)
        .init();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Serve(a) => serve(*a),
        Cmd::Gen(a) => coregraph::gen::run(&a)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Cmd::User { cmd } => user(cmd),
        Cmd::Backup(a) => coregraph::backup::backup(&a),
        Cmd::Restore(a) => coregraph::backup::restore(&a),
        Cmd::Load(a) => load(*a),
        Cmd::Import(a) => coregraph::io::import(&a),
        Cmd::Export(a) => coregraph::io::export(&a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write as _;
            // Not eprintln!: it panics when stderr is closed.
            let _ = writeln!(std::io::stderr(), "coregraph: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_option_index_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            eprintln!("MIMALLOC_PURGE_DELAY is set: the default cannot be checked");
            return;
        }
        // SAFETY: reads an integer from mimalloc's option table.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            default, 1000,
            "option {MI_OPTION_PURGE_DELAY} is not purge_delay"
        );
        keep_freed_memory();
        // SAFETY: as above.
        let set = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(set, -1);
    }
}
