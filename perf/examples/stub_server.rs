//! A stub Gremlin server for smoke-testing `perf gremlin` and measuring the generator's own
//! ceiling: the real protocol stack (`net::serve`, GraphBinary, WebSocket) in front of an
//! engine that answers every traversal with one traverser (Long 1) and every script with
//! Int 1, without touching any data.
//!
//! `cargo run --release -p perf --example stub_server -- 127.0.0.1:8182 127.0.0.1:8184 1`
//! (Gremlin address, admin address, CPUs to serve on as a comma list); stops on Enter or EOF.

use std::net::SocketAddr;
use std::sync::Arc;

use gremlin::value::Value;
use net::service::{GremlinRequest, GremlinService, Query, ServiceError, VecResults};

struct Stub;

impl GremlinService for Stub {
    type Results = VecResults;

    async fn submit(&self, request: GremlinRequest) -> Result<VecResults, ServiceError> {
        Ok(VecResults::new(vec![match request.query {
            Query::Bytecode(_) => Value::Traverser(Arc::new((1, Value::Long(1)))),
            Query::Eval { .. } => Value::Int(1),
        }]))
    }
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8182".into())
        .parse()
        .map_err(|e| format!("gremlin address: {e}"))?;
    let admin: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8184".into())
        .parse()
        .map_err(|e| format!("admin address: {e}"))?;
    let cpus: Vec<usize> = match args.next() {
        Some(list) => list
            .split(',')
            .map(|c| c.trim().parse().map_err(|e| format!("cpu '{c}': {e}")))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let config = net::Config {
        addr,
        admin_addr: Some(admin),
        cpus,
        ..net::Config::default()
    };
    let server = net::serve(config, net::wire::Serializers::standard(), |_| Stub)
        .map_err(|e| e.to_string())?;
    println!(
        "stub server on {} (admin {:?}); press Enter to stop",
        server.local_addr(),
        server.admin_addr()
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    server.shutdown().map_err(|e| e.to_string())
}
