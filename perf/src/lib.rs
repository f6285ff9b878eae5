//! coregraph-perf as a library: the Gremlin wire-protocol load generator ([`load`]), so its
//! tests can drive it against an in-process server.

pub mod load;
