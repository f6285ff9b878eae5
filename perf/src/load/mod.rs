//! The Gremlin wire-protocol load generator (`perf gremlin`): GraphBinary requests byte-equal
//! to gremlinpython's over masked WebSocket frames, many connections spread over pinned
//! glommio executors, closed or open loop, HDR latency per operation, text/JSON/SVG reports.

pub mod cli;
pub mod report;
pub mod run;
pub mod workload;
pub mod ws;
