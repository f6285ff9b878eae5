//! The `coregraph` binary: subcommands serve, gen, user (load, import, export, backup and
//! restore arrive with their issues).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use shards::{DataDir, DirOptions, Durability, StoreConfig};

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
    Serve(ServeArgs),
    /// Generate a seeded benchmark graph as Gremlin load CSV files (vertices/, edges/).
    Gen(coregraph::gen::GenArgs),
    /// Manage the credentials file used when authentication is on (SASL PLAIN).
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
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

#[derive(clap::Args)]
struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = "./coregraph-data")]
    data_dir: PathBuf,
    /// Shards at creation (default: number of CPUs); fixed afterwards.
    #[arg(long)]
    shards: Option<u32>,
    /// Data file size per shard at creation, in MiB.
    #[arg(long, default_value_t = 256)]
    shard_size_mib: u64,
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
    /// Executors (pinned to CPUs 0..N); default: number of CPUs.
    #[arg(long)]
    executors: Option<usize>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // function pointer has the C ABI `signal` expects.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

fn serve(a: ServeArgs) -> Result<(), String> {
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
    let dir =
        DataDir::open_or_create(&path, &opts).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "coregraph: data in {} ({}, {} shards, {} MiB per shard)",
        dir.path().display(),
        if dir.created() { "created" } else { "existing" },
        dir.shard_count(),
        dir.meta().shard_size_bytes >> 20
    );
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let executors = a.executors.unwrap_or(cpus).clamp(1, cpus);
    let cpu_list: Vec<usize> = (0..executors).collect();
    install_signal_handlers();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !STOP.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    println!(
        "coregraph: {executors} executors own the stores (Gremlin on 127.0.0.1:8182 is not wired \
         yet: it needs the engine of issue 4); stop with SIGINT or SIGTERM"
    );
    let stats =
        shards::runtime::serve_shards(Arc::new(dir), &cpu_list, stop).map_err(|e| e.to_string());
    STOP.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    let stats = stats?;
    for (id, s) in stats {
        tracing::info!(
            shard = id,
            records = s.index_entries,
            live_bytes = s.live_bytes,
            "shard flushed and closed"
        );
    }
    println!("coregraph: stores flushed; bye");
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Serve(a) => serve(a),
        Cmd::Gen(a) => coregraph::gen::run(&a)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Cmd::User { cmd } => user(cmd),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coregraph: {e}");
            ExitCode::FAILURE
        }
    }
}
