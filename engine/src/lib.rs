//! Per-core runtime, graph model over the shards, and cross-core traversal coordination.

pub mod backup;
pub mod exec;
pub mod frontier;
pub mod index;
pub mod io;
pub mod load;
pub mod model;
pub mod runtime;
