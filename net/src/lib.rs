//! Network front end: the Gremlin Server WebSocket protocol and the admin HTTP port.
//!
//! Layers: [`ws`] (RFC 6455 handshake and frames, sans-IO) -> [`wire`] (mime prefix,
//! RequestMessage/ResponseMessage, pluggable serializers) -> [`server`] (executors per core,
//! connections, auth, batching, timeouts) -> [`service::GremlinService`] (the engine).
//! Entry point: [`serve`].

pub mod auth;
pub mod config;
pub mod fuzz;
pub mod metrics;
pub mod server;
pub mod service;
pub mod tls;
pub mod wire;
pub mod ws;

pub use config::Config;
pub use server::{serve, ServeError, ServerHandle, Stopper};
pub use service::{GremlinRequest, GremlinService, Query, ResultStream, ServiceError};
