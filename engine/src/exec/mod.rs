//! The query executor: runs a compiled Gremlin traversal over the graph model on an async
//! record store spanning every core ([`Records`]). SEAM ONLY: the body lands with issue 4's
//! executor work; the signatures here are what the server layer calls.

use std::time::Instant;

use gremlin::bytecode::Bytecode;
use gremlin::machine::{Limits, Traverser};
use gremlin::GremlinError;

use crate::model::kv::Records;
use crate::model::ops::Model;

/// Per-request options.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// When the request must give up (`evaluationTimeout`).
    pub deadline: Option<Instant>,
    /// Set by the server when the client went away: stop at the next chance.
    pub cancel: Option<std::rc::Rc<std::cell::Cell<bool>>>,
}

/// One named graph's executor on one core.
pub struct Executor<R: Records> {
    /// The graph model over the store that spans every core.
    pub model: Model<R>,
    /// Limits every query of this executor runs under.
    pub limits: Limits,
}

impl<R: Records> Executor<R> {
    /// An executor over `model`.
    pub fn new(model: Model<R>, limits: Limits) -> Executor<R> {
        Executor { model, limits }
    }

    /// Runs a traversal to completion; the finished traversers (value and bulk), in order.
    pub async fn run(
        &self,
        bytecode: &Bytecode,
        options: &RunOptions,
    ) -> Result<Vec<Traverser>, GremlinError> {
        let _ = (bytecode, options, &self.model, &self.limits);
        Err(GremlinError::Graph(
            "the sharded query executor is not built yet".to_string(),
        ))
    }
}
