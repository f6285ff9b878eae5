//! `Bytecode`: the one traversal form that gremlin-lang text, GraphBinary and GraphSON all
//! lower to; the step machine compiles it.
//!
//! A traversal is a list of source instructions (`withStrategies`, `withSideEffect`, ...) and a
//! list of step instructions (`V`, `out`, `has`, ...). Arguments are [`Value`]s: nested
//! traversals are `Value::Bytecode`, predicates `Value::P`, tokens `Value::Enum`, parameters
//! `Value::Binding`. Anonymous traversals (`__.out()`) have no source instructions.

use std::sync::Arc;

use crate::value::Value;

/// One instruction: an operator name (the Gremlin step or source method) and its arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    pub op: Arc<str>,
    pub args: Vec<Value>,
}

impl Instruction {
    /// An instruction with the given operator and arguments.
    pub fn new(op: &str, args: Vec<Value>) -> Instruction {
        Instruction {
            op: Arc::from(op),
            args,
        }
    }
}

/// A traversal as instructions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bytecode {
    /// Traversal-source instructions, in order (`withStrategies`, `withSack`, ...).
    pub source: Vec<Instruction>,
    /// Step instructions, in order (`V`, `out`, ...).
    pub steps: Vec<Instruction>,
}

impl Bytecode {
    /// Appends a step instruction.
    pub fn step(mut self, op: &str, args: Vec<Value>) -> Bytecode {
        self.steps.push(Instruction::new(op, args));
        self
    }
}
