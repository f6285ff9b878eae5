//! The TinkerPop feature-suite conformance runner, as pure logic (no file I/O here): a Gherkin
//! parser, the suite's value notation, a comparator with Java semantics, and a scenario runner
//! that drives any [`Backend`] (the reference graph here, the sharded engine later).
//!
//! The test target `gremlin/tests/features.rs` reads the feature files and graphs from disk
//! and calls into this module.

pub mod compare;
pub mod gherkin;
pub mod notation;
pub mod runner;

pub use runner::{
    failure_report, run_scenario, Backend, GraphName, Limits, Outcome, Request, ScenarioReport,
    Summary,
};
