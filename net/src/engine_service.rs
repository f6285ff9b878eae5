//! The engine behind the protocol: [`EngineService`] is the [`GremlinService`] of one core,
//! over that core's [`CoreHost`]. Bytecode runs on the graph its `g` alias names; `eval`
//! scripts are parsed as gremlin-lang (with bindings and a console-style terminal method) and
//! answered with plain values, traversers expanded by bulk. Engine errors become the status
//! codes of PROTOCOL.md section 4.1.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::exec::{Executor, RunOptions, Started, Streaming};
use engine::runtime::{Cluster, CoreHost, RoutedKv, RuntimeError};
use gremlin::machine::Traverser;
use gremlin::parser::{parse_request, Terminal};
use gremlin::value::Value;
use gremlin::GremlinError;

use crate::service::{
    status, GremlinRequest, GremlinService, Query, ResultStream, ServiceError, VecResults,
};

/// Most values one `eval` answer may expand to (traversers times their bulk).
pub const EVAL_RESULTS_MAX: u64 = 1 << 24;

/// The prefix of the machine's `fail()` error message.
const FAIL_STEP_PREFIX: &str = "fail() step triggered";

/// Script languages answered (both read as gremlin-lang; Groovy beyond it is refused).
const LANGUAGES: [&str; 2] = ["gremlin-lang", "gremlin-groovy"];

/// One core's engine.
pub struct EngineService {
    host: RefCell<Option<CoreHost>>,
    graphs: Vec<(String, Rc<Executor<RoutedKv>>)>,
}

/// Which request kind failed (the status codes differ).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bytecode,
    Eval,
}

impl EngineService {
    /// The service over a joined core.
    pub fn new(host: CoreHost) -> EngineService {
        let graphs = host
            .graph_names()
            .into_iter()
            .filter_map(|n| host.executor(&n).map(|e| (n, e)))
            .collect();
        EngineService {
            host: RefCell::new(Some(host)),
            graphs,
        }
    }

    /// Joins `cluster` as core `core` and serves it (the factory `net::serve_with` calls on
    /// each core).
    pub async fn start(cluster: Cluster, core: usize) -> Result<EngineService, RuntimeError> {
        Ok(EngineService::new(cluster.join(core).await?))
    }

    fn graph(&self, source: &str) -> Result<&Rc<Executor<RoutedKv>>, ServiceError> {
        self.graphs
            .iter()
            .find(|(n, _)| n == source)
            .map(|(_, e)| e)
            .ok_or_else(|| {
                ServiceError::new(
                    status::REQUEST_ERROR_INVALID_REQUEST_ARGUMENTS,
                    format!(
                        "Could not alias [g] to [{source}] as [{source}] not in the Graph or TraversalSource global bindings (graphs: {})",
                        self.graphs
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Starts `bytecode` on `graph`: its results, or a stream of them while it runs (see
    /// [`Executor::start`]).
    async fn begin(
        &self,
        graph: &Rc<Executor<RoutedKv>>,
        bytecode: &gremlin::bytecode::Bytecode,
        timeout_ms: u64,
        kind: Kind,
    ) -> Result<EngineResults, ServiceError> {
        let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
        let options = RunOptions {
            deadline,
            cancel: None,
        };
        match graph.start(bytecode, &options).await {
            Started::Done(r) => {
                let traversers = r.map_err(|e| service_error(&e, kind, deadline, timeout_ms))?;
                Ok(EngineResults::Done(traversers.into_iter()))
            }
            Started::Streaming(stream) => Ok(EngineResults::Streaming {
                stream,
                buffered: Vec::new().into_iter(),
                kind,
                deadline,
                timeout_ms,
            }),
        }
    }

    async fn eval(
        &self,
        script: &str,
        bindings: &gremlin::value::Map,
        language: Option<&str>,
        aliases: &[(String, String)],
        timeout_ms: u64,
    ) -> Result<Answer, ServiceError> {
        if let Some(l) = language.filter(|l| !LANGUAGES.contains(l)) {
            return Err(ServiceError::new(
                status::REQUEST_ERROR_INVALID_REQUEST_ARGUMENTS,
                format!(
                    "Language [{l}] is not supported: coregraph evaluates gremlin-lang (send language gremlin-lang or gremlin-groovy, or none)"
                ),
            ));
        }
        // The script's traversal source variable: `g` unless an alias names another one.
        let trimmed = script.trim_start();
        let (text, source) = match aliases.iter().find(|(var, _)| {
            trimmed
                .strip_prefix(var.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with('.'))
        }) {
            Some((var, source)) => (
                format!("g{}", trimmed.get(var.len()..).unwrap_or_default()),
                source.as_str(),
            ),
            None => (trimmed.to_string(), self.default_graph()),
        };
        let graph = self.graph(source)?.clone();
        let params = |name: &str| bindings.get(&Value::str(name)).cloned();
        let (bytecode, terminal) = parse_request(&text, &params).map_err(|e| {
            ServiceError::new(
                status::SERVER_ERROR_EVALUATION,
                format!(
                    "coregraph evaluates gremlin-lang only (a Gremlin traversal, no Groovy or other script code); this script is not gremlin-lang: {e}"
                ),
            )
        })?;
        // explain() answers the traversal's explanation (one string) instead of running it.
        let bytecode = if terminal == Some(Terminal::Explain) {
            let mut b = bytecode;
            b.steps
                .push(gremlin::bytecode::Instruction::new("explain", Vec::new()));
            b
        } else {
            bytecode
        };
        let results = self
            .begin(&graph, &bytecode, timeout_ms, Kind::Eval)
            .await?;
        match (terminal, results) {
            // A plain script's values stream as the traversal's results come.
            (None | Some(Terminal::ToList), results) => Ok(Answer::Expanded {
                results,
                value: None,
                left: 0,
                total: 0,
            }),
            (terminal, results) => {
                let traversers = results.collect_all().await?;
                Ok(Answer::Values(VecResults::new(expand(
                    traversers, terminal,
                )?)))
            }
        }
    }

    fn default_graph(&self) -> &str {
        self.graphs.first().map_or("g", |(n, _)| n.as_str())
    }
}

/// A traversal's traversers: all of them, or as the engine streams them.
pub enum EngineResults {
    Done(std::vec::IntoIter<Traverser>),
    Streaming {
        stream: Streaming,
        buffered: std::vec::IntoIter<Traverser>,
        kind: Kind,
        deadline: Option<Instant>,
        timeout_ms: u64,
    },
}

impl EngineResults {
    /// The next traverser, `Ok(None)` at the end.
    async fn next(&mut self) -> Result<Option<Traverser>, ServiceError> {
        match self {
            EngineResults::Done(it) => Ok(it.next()),
            EngineResults::Streaming {
                stream,
                buffered,
                kind,
                deadline,
                timeout_ms,
            } => loop {
                if let Some(t) = buffered.next() {
                    return Ok(Some(t));
                }
                match stream.next().await {
                    None => return Ok(None),
                    Some(Ok(trs)) => *buffered = trs.into_iter(),
                    Some(Err(e)) => return Err(service_error(&e, *kind, *deadline, *timeout_ms)),
                }
            },
        }
    }

    /// Every traverser (for answers that need all of them at once).
    async fn collect_all(mut self) -> Result<Vec<Traverser>, ServiceError> {
        let mut out = Vec::new();
        while let Some(t) = self.next().await? {
            out.push(t);
        }
        Ok(out)
    }
}

/// What a request answers, pulled batch by batch by the server.
pub enum Answer {
    /// Bytecode: the traversers themselves (value and bulk).
    Traversers(EngineResults),
    /// `eval` with no terminal (or `toList()`): each traverser's value `bulk` times, at most
    /// [`EVAL_RESULTS_MAX`] in all.
    Expanded {
        results: EngineResults,
        /// The value being repeated, `left` more times.
        value: Option<Value>,
        left: u64,
        total: u64,
    },
    /// Values already computed (an `eval` terminal that needs every result).
    Values(VecResults),
}

impl ResultStream for Answer {
    async fn next_batch(&mut self, items_max: usize) -> Result<Option<Vec<Value>>, ServiceError> {
        let items_max = items_max.max(1);
        let mut batch = Vec::new();
        match self {
            Answer::Values(v) => return v.next_batch(items_max).await,
            Answer::Traversers(results) => {
                while batch.len() < items_max {
                    match results.next().await? {
                        Some(t) => batch.push(Value::Traverser(Arc::new((t.bulk, t.value)))),
                        None => break,
                    }
                }
            }
            Answer::Expanded {
                results,
                value,
                left,
                total,
            } => {
                while batch.len() < items_max {
                    if *left == 0 {
                        match results.next().await? {
                            Some(t) => {
                                *left = u64::try_from(t.bulk).unwrap_or(0);
                                *value = Some(t.value);
                                continue;
                            }
                            None => break,
                        }
                    }
                    *total += 1;
                    if *total > EVAL_RESULTS_MAX {
                        return Err(ServiceError::new(
                            status::SERVER_ERROR_EVALUATION,
                            format!("the answer exceeds the limit EVAL_RESULTS_MAX = {EVAL_RESULTS_MAX} values"),
                        ));
                    }
                    *left -= 1;
                    if let Some(v) = value {
                        batch.push(v.clone());
                    }
                }
            }
        }
        Ok(if batch.is_empty() { None } else { Some(batch) })
    }
}

/// Plain values of an `eval` answer: each traverser's value `bulk` times, cut or shaped by
/// the terminal method.
fn expand(
    traversers: Vec<Traverser>,
    terminal: Option<Terminal>,
) -> Result<Vec<Value>, ServiceError> {
    let take = match terminal {
        Some(Terminal::Iterate) => return Ok(Vec::new()),
        Some(Terminal::HasNext) => {
            return Ok(vec![Value::Bool(traversers.iter().any(|t| t.bulk > 0))])
        }
        Some(Terminal::Next(None) | Terminal::TryNext) => 1,
        Some(Terminal::Next(Some(n))) => u64::from(n),
        _ => u64::MAX,
    };
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for t in traversers {
        let n = u64::try_from(t.bulk).unwrap_or(0);
        for _ in 0..n {
            if total >= take {
                return Ok(out);
            }
            total += 1;
            if total > EVAL_RESULTS_MAX {
                return Err(ServiceError::new(
                    status::SERVER_ERROR_EVALUATION,
                    format!(
                        "the answer exceeds the limit EVAL_RESULTS_MAX = {EVAL_RESULTS_MAX} values"
                    ),
                ));
            }
            out.push(t.value.clone());
        }
    }
    if terminal == Some(Terminal::ToSet) {
        let mut seen = std::collections::HashSet::new();
        out.retain(|v| seen.insert(v.clone()));
    }
    Ok(out)
}

/// The status code and message of an engine error (PROTOCOL.md 4.1).
fn service_error(
    e: &GremlinError,
    kind: Kind,
    deadline: Option<Instant>,
    timeout_ms: u64,
) -> ServiceError {
    let message = e.to_string();
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return ServiceError::new(
            status::SERVER_ERROR_TIMEOUT,
            format!("A timeout occurred during traversal evaluation - consider increasing the limit given to evaluationTimeout ({timeout_ms} ms): {message}"),
        );
    }
    if let GremlinError::Runtime(m) = e {
        if let Some(rest) = m.strip_prefix(FAIL_STEP_PREFIX) {
            let fail = rest.trim_start_matches(':').trim_start();
            return ServiceError {
                code: status::SERVER_ERROR_FAIL_STEP,
                message: m.clone(),
                fail_step_message: Some(fail.to_string()),
            };
        }
    }
    let code = match (e, kind) {
        (GremlinError::Graph(m), _) if m.contains("overload") => status::TOO_MANY_REQUESTS,
        (GremlinError::Lambda, _) | (_, Kind::Eval) => status::SERVER_ERROR_EVALUATION,
        (_, Kind::Bytecode) => status::SERVER_ERROR,
    };
    ServiceError::new(code, message)
}

impl GremlinService for EngineService {
    type Results = Answer;

    async fn submit(&self, request: GremlinRequest) -> Result<Answer, ServiceError> {
        let timeout_ms = request.evaluation_timeout_ms;
        match &request.query {
            Query::Bytecode(bytecode) => {
                let source = request
                    .aliases
                    .iter()
                    .find(|(k, _)| k == "g")
                    .map_or(self.default_graph(), |(_, v)| v.as_str());
                let graph = self.graph(source)?.clone();
                let results = self
                    .begin(&graph, bytecode, timeout_ms, Kind::Bytecode)
                    .await?;
                Ok(Answer::Traversers(results))
            }
            Query::Eval {
                script,
                bindings,
                language,
            } => {
                self.eval(
                    script,
                    bindings,
                    language.as_deref(),
                    &request.aliases,
                    timeout_ms,
                )
                .await
            }
        }
    }

    async fn shutdown(&self) {
        let host = self.host.borrow_mut().take();
        if let Some(host) = host {
            let core = host.core();
            match host.shutdown().await {
                Ok(stats) => {
                    tracing::info!(core, shards = stats.len(), "engine stopped, shards flushed")
                }
                Err(e) => tracing::error!(core, error = %e, "engine shutdown failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(v: i64, bulk: i64) -> Traverser {
        let mut t = Traverser::new(Value::Long(v));
        t.bulk = bulk;
        t
    }

    #[test]
    fn eval_answers_expand_bulk_and_follow_the_terminal() {
        let ts = || vec![tr(1, 2), tr(2, 1), tr(1, 1)];
        let longs = |v: Vec<Value>| {
            v.into_iter()
                .map(|v| match v {
                    Value::Long(n) => n,
                    _ => -1,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(longs(expand(ts(), None).unwrap()), vec![1, 1, 2, 1]);
        assert_eq!(
            longs(expand(ts(), Some(Terminal::ToList)).unwrap()),
            vec![1, 1, 2, 1]
        );
        assert_eq!(
            longs(expand(ts(), Some(Terminal::Next(None))).unwrap()),
            vec![1]
        );
        assert_eq!(
            longs(expand(ts(), Some(Terminal::Next(Some(3)))).unwrap()),
            vec![1, 1, 2]
        );
        assert_eq!(
            longs(expand(ts(), Some(Terminal::ToSet)).unwrap()),
            vec![1, 2]
        );
        assert!(expand(ts(), Some(Terminal::Iterate)).unwrap().is_empty());
        assert_eq!(
            expand(Vec::new(), Some(Terminal::HasNext)).unwrap(),
            vec![Value::Bool(false)]
        );
    }

    #[test]
    fn errors_map_to_protocol_codes() {
        let fail = GremlinError::Runtime("fail() step triggered: nope".into());
        let e = service_error(&fail, Kind::Bytecode, None, 0);
        assert_eq!(e.code, 595);
        assert_eq!(e.fail_step_message.as_deref(), Some("nope"));
        let limit = GremlinError::LimitExceeded { limit: "X", max: 1 };
        assert_eq!(service_error(&limit, Kind::Bytecode, None, 0).code, 500);
        assert_eq!(service_error(&limit, Kind::Eval, None, 0).code, 597);
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(
            service_error(&limit, Kind::Bytecode, Some(past), 5).code,
            598
        );
        assert_eq!(
            service_error(&GremlinError::Lambda, Kind::Bytecode, None, 0).code,
            597
        );
    }
}
