//! Bulk loading (issue 6): readers of the Gremlin load CSV format ([`csv`]) and the parallel
//! loader that writes their rows into the shards ([`pipeline`]), offline or into a running
//! server ([`online`]).

pub mod csv;
pub mod online;
pub mod pipeline;

pub use pipeline::{run_load, LoadError, LoadOptions, LoadSummary};
