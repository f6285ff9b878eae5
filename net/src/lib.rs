//! Network front end: the Gremlin Server WebSocket protocol and the admin HTTP port.
//!
//! Layers: [`ws`] (RFC 6455 handshake and frames, sans-IO) -> [`wire`] (mime prefix,
//! RequestMessage/ResponseMessage, pluggable serializers) -> [`server`] (executors per core,
//! connections, auth, batching, timeouts) -> [`service::GremlinService`] (the engine).
//! Entry point: [`serve`], which binds, starts one executor per CPU and returns a
//! [`ServerHandle`]; stop it with [`ServerHandle::shutdown`] or, from a signal handler thread,
//! [`ServerHandle::stopper`] + [`ServerHandle::join`].
//!
//! ```no_run
//! use gremlin::value::Value;
//! use net::service::{GremlinRequest, GremlinService, ServiceError, VecResults};
//!
//! struct Engine;
//! impl GremlinService for Engine {
//!     type Results = VecResults;
//!     async fn submit(&self, _request: GremlinRequest) -> Result<VecResults, ServiceError> {
//!         Ok(VecResults::new(vec![Value::Long(6)]))
//!     }
//! }
//!
//! let server = net::serve(net::Config::default(), net::wire::Serializers::standard(), |_core| Engine)
//!     .expect("bind 127.0.0.1:8182");
//! println!("listening on {}", server.local_addr());
//! server.shutdown().expect("clean stop");
//! ```

pub mod auth;
pub mod config;
pub mod engine_service;
pub mod fuzz;
pub mod metrics;
pub mod server;
pub mod service;
pub mod signals;
pub mod tls;
pub mod wire;
pub mod ws;

pub use config::Config;
pub use server::{serve, serve_with, ServeError, ServerHandle, Stopper};
pub use service::{GremlinRequest, GremlinService, Query, ResultStream, ServiceError};
