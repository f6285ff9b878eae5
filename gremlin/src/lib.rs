//! Gremlin: parser, codecs, strategies and the one step machine. Pure: no I/O, no glommio.
//!
//! Layers, each blind to the one below it: text or wire bytes -> [`bytecode::Bytecode`]
//! -> compiled traversal -> step machine over a batch-shaped graph-access trait.

pub mod bytecode;
pub mod codec;
pub mod conformance;
pub mod parser;
pub mod value;
