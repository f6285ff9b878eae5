//! `GremlinError`: every error a traversal can raise, with TinkerPop's own messages where the
//! feature suite checks them.

use std::fmt;

/// An error from compiling or running a traversal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GremlinError {
    /// The traversal is malformed or uses something the machine does not support
    /// (message says what).
    Compile(String),
    /// A runtime error raised by a step; the message is TinkerPop's where the suite checks it.
    Runtime(String),
    /// A named limit was hit (`limit` is the constant's name, `max` its value).
    LimitExceeded { limit: &'static str, max: u64 },
    /// A script lambda was given; this server never evaluates scripts.
    Lambda,
    /// A mutation under `ReadOnlyStrategy`.
    ReadOnly,
    /// The graph back end failed.
    Graph(String),
}

impl GremlinError {
    /// A runtime error with the given message.
    pub fn runtime(msg: impl Into<String>) -> GremlinError {
        GremlinError::Runtime(msg.into())
    }

    /// A compile error with the given message.
    pub fn compile(msg: impl Into<String>) -> GremlinError {
        GremlinError::Compile(msg.into())
    }
}

impl fmt::Display for GremlinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GremlinError::Compile(m) | GremlinError::Runtime(m) | GremlinError::Graph(m) => {
                f.write_str(m)
            }
            GremlinError::LimitExceeded { limit, max } => {
                write!(f, "traversal exceeded the limit {limit} = {max}")
            }
            GremlinError::Lambda => f.write_str(
                "lambdas are not supported: this server does not evaluate scripts; \
                 use anonymous traversals (__.) instead",
            ),
            GremlinError::ReadOnly => {
                f.write_str("The provided traversal has a mutating step and thus is not read only")
            }
        }
    }
}

impl std::error::Error for GremlinError {}
