//! coregraph-perf: benchmarks (storage, index memory) and the Gremlin wire-protocol load
//! generator (`perf gremlin`, in the library's `load` module).

mod alloc;
mod storage;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

#[derive(Parser)]
#[command(name = "coregraph-perf", about = "coregraph benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One shard on a direct-I/O file: inserts, random reads, overwrites, 50/50 mix, against a
    /// plain direct-I/O baseline on the same file.
    Storage(storage::Args),
    /// Primary index memory per record, measured with a counting allocator.
    IndexMemory {
        /// Records to insert.
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
    },
    /// Gremlin wire-protocol load generator: GraphBinary over WebSocket, many connections,
    /// closed or open loop, HDR latency per operation (text, --json, --svg).
    Gremlin(Box<perf::load::cli::Args>),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Storage(a) => {
            if let Err(e) = storage::run(a) {
                eprintln!("coregraph-perf: {e}");
                std::process::exit(1);
            }
        }
        Cmd::IndexMemory { records } => {
            let r = storage::index_memory(records, &ALLOC);
            println!("{r}");
        }
        Cmd::Gremlin(a) => {
            if let Err(e) = perf::load::cli::main(*a) {
                eprintln!("coregraph-perf gremlin: {e}");
                std::process::exit(1);
            }
        }
    }
}
