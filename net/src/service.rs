//! The query-engine interface the protocol layer is generic over: a decoded, validated
//! request in, a stream of result batches or a typed error with its Gremlin status out.
//!
//! The engine (issue 4) implements [`GremlinService`]; one instance runs on each core (the
//! server asks a factory for it on that core), so implementations need not be `Send`.

use std::future::Future;

use gremlin::bytecode::Bytecode;
use gremlin::value::{Map, Uuid, Value};

/// Gremlin Server status codes (PROTOCOL.md section 4.1).
pub mod status {
    pub const SUCCESS: u16 = 200;
    pub const NO_CONTENT: u16 = 204;
    pub const PARTIAL_CONTENT: u16 = 206;
    pub const UNAUTHORIZED: u16 = 401;
    pub const FORBIDDEN: u16 = 403;
    pub const AUTHENTICATE: u16 = 407;
    pub const TOO_MANY_REQUESTS: u16 = 429;
    pub const REQUEST_ERROR_SERIALIZATION: u16 = 497;
    pub const REQUEST_ERROR_MALFORMED_REQUEST: u16 = 498;
    pub const REQUEST_ERROR_INVALID_REQUEST_ARGUMENTS: u16 = 499;
    pub const SERVER_ERROR: u16 = 500;
    pub const SERVER_ERROR_FAIL_STEP: u16 = 595;
    pub const SERVER_ERROR_TEMPORARY: u16 = 596;
    pub const SERVER_ERROR_EVALUATION: u16 = 597;
    pub const SERVER_ERROR_TIMEOUT: u16 = 598;
    pub const SERVER_ERROR_SERIALIZATION: u16 = 599;

    /// Every code the server sends, for metrics.
    pub const ALL: [u16; 16] = [
        SUCCESS,
        NO_CONTENT,
        PARTIAL_CONTENT,
        UNAUTHORIZED,
        FORBIDDEN,
        AUTHENTICATE,
        TOO_MANY_REQUESTS,
        REQUEST_ERROR_SERIALIZATION,
        REQUEST_ERROR_MALFORMED_REQUEST,
        REQUEST_ERROR_INVALID_REQUEST_ARGUMENTS,
        SERVER_ERROR,
        SERVER_ERROR_FAIL_STEP,
        SERVER_ERROR_TEMPORARY,
        SERVER_ERROR_EVALUATION,
        SERVER_ERROR_TIMEOUT,
        SERVER_ERROR_SERIALIZATION,
    ];
}

/// What to run.
#[derive(Clone, Debug)]
pub enum Query {
    /// `op=bytecode`: a traversal.
    Bytecode(Bytecode),
    /// `op=eval`: Gremlin text with its bindings and the requested language (if any).
    Eval {
        script: String,
        bindings: Map,
        language: Option<String>,
    },
}

/// A validated request as the engine sees it.
#[derive(Clone, Debug)]
pub struct GremlinRequest {
    pub request_id: Uuid,
    pub query: Query,
    /// `aliases`: for bytecode exactly one entry `("g", source)`; for eval each entry binds a
    /// script variable (key) to a traversal source (value).
    pub aliases: Vec<(String, String)>,
    /// The effective `evaluationTimeout` in ms (0 = none); the server enforces it, the
    /// engine may use it to stop early.
    pub evaluation_timeout_ms: u64,
    /// The effective `batchSize`.
    pub batch_size: usize,
    /// `materializeProperties` (`all` or `tokens`), if given.
    pub materialize_properties: Option<String>,
    /// The authenticated user, when authentication is on.
    pub user: Option<String>,
    /// The core serving the request.
    pub core: usize,
}

/// A failure with the Gremlin status code to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    /// One of [`status`]'s error codes (e.g. 500, 595, 597, 599, 429).
    pub code: u16,
    /// `status.message`: what the drivers show the user.
    pub message: String,
    /// For 595: the `fail()` step's message (`failStepMessage` attribute).
    pub fail_step_message: Option<String>,
}

impl ServiceError {
    /// An error with a code and message.
    pub fn new(code: u16, message: impl Into<String>) -> ServiceError {
        ServiceError {
            code,
            message: message.into(),
            fail_step_message: None,
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServiceError {}

/// The results of one request, pulled by the server batch by batch.
pub trait ResultStream {
    /// The next results: at most `items_max` of them (the server never keeps more than
    /// `items_max + batch_size` buffered), `Ok(None)` when exhausted. For bytecode the items
    /// are `Value::Traverser`s. An `Err` ends the stream after what was already sent.
    fn next_batch(
        &mut self,
        items_max: usize,
    ) -> impl Future<Output = Result<Option<Vec<Value>>, ServiceError>>;
}

/// The query engine, one instance per core.
pub trait GremlinService: 'static {
    type Results: ResultStream + 'static;

    /// Starts a request. Errors here (unknown traversal source -> 499, parse or compile
    /// failure -> 597 for eval / 500 or 599 for bytecode, overload -> 429) end it.
    fn submit(
        &self,
        request: GremlinRequest,
    ) -> impl Future<Output = Result<Self::Results, ServiceError>>;

    /// Called once on the service's core when the server stops, after its connections have
    /// drained (or the grace period ran out) and before the core's executor exits: flush,
    /// stop background work. The default does nothing.
    fn shutdown(&self) -> impl Future<Output = ()> {
        async {}
    }
}

/// A [`ResultStream`] over results already in memory.
pub struct VecResults {
    items: std::vec::IntoIter<Value>,
}

impl VecResults {
    pub fn new(items: Vec<Value>) -> VecResults {
        VecResults {
            items: items.into_iter(),
        }
    }
}

impl ResultStream for VecResults {
    async fn next_batch(&mut self, items_max: usize) -> Result<Option<Vec<Value>>, ServiceError> {
        let batch: Vec<Value> = self.items.by_ref().take(items_max.max(1)).collect();
        Ok(if batch.is_empty() { None } else { Some(batch) })
    }
}
