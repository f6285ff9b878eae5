//! Gremlin: parser, codecs, strategies and the one step machine. Pure: no I/O, no glommio.
//!
//! Layers, each blind to the one below it: text or wire bytes -> [`bytecode::Bytecode`]
//! -> compiled traversal -> step machine over a batch-shaped graph-access trait.

pub mod bytecode;
pub mod codec;
pub mod conformance;
pub mod error;
pub mod graph;
pub mod machine;
pub mod parser;
pub mod refgraph;
pub mod semantics;
pub mod value;

pub use error::GremlinError;
pub use machine::execute;
