//! One Gremlin request: argument validation (PROTOCOL.md section 3), the evaluation timeout,
//! batching into 206 ... 200 / 204 and splitting under the response frame limit.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use glommio::timer::sleep;
use gremlin::value::{Uuid, Value};

use super::conn::Conn;
use crate::config::Config;
use crate::service::{status, GremlinRequest, GremlinService, Query, ResultStream, ServiceError};
use crate::wire::{arg, status_response, RequestMessage, ResponseMessage, Serializer};

/// A request validated and ready for the engine.
pub(super) struct Ready {
    pub(super) op: &'static str,
    pub(super) request: GremlinRequest,
}

pub(super) fn op_label(op: &str) -> &'static str {
    match op {
        "bytecode" => "bytecode",
        "eval" => "eval",
        "authentication" => "authentication",
        _ => "other",
    }
}

/// A non-negative integer argument.
pub(super) fn int_arg(v: &Value) -> Option<i64> {
    match v {
        Value::Byte(n) => Some(i64::from(*n)),
        Value::Short(n) => Some(i64::from(*n)),
        Value::Int(n) => Some(i64::from(*n)),
        Value::Long(n) => Some(*n),
        _ => None,
    }
}

/// A map of strings to strings.
pub(super) fn string_map(v: &Value) -> Option<Vec<(String, String)>> {
    let Value::Map(m) = v else { return None };
    m.iter()
        .map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

/// PROTOCOL.md section 3: op/processor pairs, required and typed args.
/// Checks a decoded request as the server does before it reaches the engine (PROTOCOL.md
/// section 3: op/processor pairs, required and typed arguments, defaults from `config`):
/// the engine's request, or the status code and message the server answers with.
pub fn validate_request(
    m: &RequestMessage,
    config: &Config,
) -> Result<GremlinRequest, (u16, String)> {
    validate(m, config, None, 0).map(|r| r.request)
}

pub(super) fn validate(
    m: &RequestMessage,
    config: &Config,
    user: Option<String>,
    core: usize,
) -> Result<Ready, (u16, String)> {
    let invalid = |msg: String| (status::REQUEST_ERROR_INVALID_REQUEST_ARGUMENTS, msg);
    let op = match (m.processor.as_str(), m.op.as_str()) {
        ("session", _) => {
            return Err(invalid(
                "The session processor is not supported by coregraph: send requests without a session (processor \"\" for scripts, \"traversal\" for bytecode); each request runs on its own".to_string(),
            ))
        }
        ("traversal", "bytecode") => "bytecode",
        ("", "eval") => "eval",
        ("" | "traversal", op) => {
            return Err((
                status::REQUEST_ERROR_MALFORMED_REQUEST,
                format!("Message with op code [{op}] is not recognized."),
            ))
        }
        (p, _) => return Err(invalid(format!("Invalid OpProcessor requested [{p}]"))),
    };
    let batch_size = match arg(m, "batchSize") {
        None => config.batch_size_default,
        Some(v) => match int_arg(v) {
            Some(n) if n > 0 && n as u64 <= config.batch_size_max as u64 => n as usize,
            _ => {
                return Err(invalid(format!(
                    "The [batchSize] argument must be an integer from 1 to {}",
                    config.batch_size_max
                )))
            }
        },
    };
    let timeout = arg(m, "evaluationTimeout").or_else(|| arg(m, "scriptEvaluationTimeout"));
    let evaluation_timeout_ms = match timeout {
        None => config.evaluation_timeout_ms_default,
        Some(v) => match int_arg(v) {
            Some(n) if n >= 0 => n as u64,
            _ => {
                return Err(invalid(
                    "The [evaluationTimeout] argument must be a non-negative integer (ms)"
                        .to_string(),
                ))
            }
        },
    };
    let aliases = match arg(m, "aliases") {
        None => None,
        Some(v) => Some(string_map(v).ok_or_else(|| {
            invalid("The [aliases] argument must be a Map of String to String".to_string())
        })?),
    };
    let materialize_properties = match arg(m, "materializeProperties") {
        None => None,
        Some(Value::String(s)) if matches!(&**s, "all" | "tokens") => Some(s.to_string()),
        Some(_) => {
            return Err(invalid(
                "The [materializeProperties] argument must be 'all' or 'tokens'".to_string(),
            ))
        }
    };
    let (query, aliases) = if op == "bytecode" {
        let Some(Value::Bytecode(bc)) = arg(m, "gremlin") else {
            return Err(invalid(
                "A message with [bytecode] op code requires the [gremlin] argument to be Bytecode"
                    .to_string(),
            ));
        };
        let aliases = match aliases {
            Some(a) if a.len() == 1 && a.first().is_some_and(|(k, _)| k == "g") => a,
            _ => return Err(invalid("A message with [bytecode] op code requires the [aliases] argument to be a Map containing one alias assignment named 'g'.".to_string())),
        };
        (Query::Bytecode((**bc).clone()), aliases)
    } else {
        let Some(Value::String(script)) = arg(m, "gremlin") else {
            return Err(invalid(
                "A message with an [eval] op code requires a [gremlin] argument that is a String"
                    .to_string(),
            ));
        };
        let bindings = match arg(m, "bindings") {
            None | Some(Value::Null) => Default::default(),
            Some(Value::Map(b)) if b.keys().all(|k| k.as_str().is_some()) => b.clone(),
            Some(_) => {
                return Err(invalid(
                    "The [bindings] argument must be a Map with String keys".to_string(),
                ))
            }
        };
        let language = match arg(m, "language") {
            None | Some(Value::Null) => None,
            Some(Value::String(l)) => Some(l.to_string()),
            Some(_) => {
                return Err(invalid(
                    "The [language] argument must be a String".to_string(),
                ))
            }
        };
        let query = Query::Eval {
            script: script.to_string(),
            bindings,
            language,
        };
        (query, aliases.unwrap_or_default())
    };
    Ok(Ready {
        op,
        request: GremlinRequest {
            request_id: m.request_id,
            query,
            aliases,
            evaluation_timeout_ms,
            batch_size,
            materialize_properties,
            user,
            core,
        },
    })
}

/// Runs one request to its final response, bounded by its evaluation timeout.
pub(super) async fn run_request<S: GremlinService>(
    conn: Rc<Conn<S>>,
    serializer: Arc<dyn Serializer>,
    text: bool,
    ready: Ready,
    started: Instant,
) {
    let id = ready.request.request_id;
    let op = ready.op;
    let timeout_ms = ready.request.evaluation_timeout_ms;
    let work = AssertUnwindSafe(stream_results(
        &conn,
        serializer.as_ref(),
        text,
        ready.request,
    ))
    .catch_unwind();
    let work = async {
        match work.await {
            Ok(code) => code,
            Err(_) => {
                tracing::error!(request = %id, "request panicked");
                let r = status_response(
                    Some(id),
                    status::SERVER_ERROR,
                    "Internal error while processing the request",
                );
                conn.respond(serializer.as_ref(), text, r).await;
                status::SERVER_ERROR
            }
        }
    };
    let code = if timeout_ms == 0 {
        work.await
    } else {
        let timed = async { Some(work.await) }
            .or(async {
                sleep(Duration::from_millis(timeout_ms)).await;
                None
            })
            .await;
        match timed {
            Some(code) => code,
            None => {
                let msg = format!("A timeout occurred during traversal evaluation of [RequestMessage{{, requestId={id}, op='{op}'}}] - consider increasing the limit given to evaluationTimeout ({timeout_ms} ms)");
                let r = status_response(Some(id), status::SERVER_ERROR_TIMEOUT, msg);
                conn.respond(serializer.as_ref(), text, r).await;
                status::SERVER_ERROR_TIMEOUT
            }
        }
    };
    conn.core
        .metrics()
        .request_done(op, code, started.elapsed());
}

pub(super) fn error_response(id: Uuid, e: &ServiceError) -> ResponseMessage {
    let mut r = status_response(Some(id), e.code, e.message.clone());
    if let Some(m) = &e.fail_step_message {
        r.status_attributes
            .insert(Value::str("failStepMessage"), Value::str(m));
    }
    r
}

/// Pulls results and sends them as 206 ... 206, 200 (or one 204); the final code sent.
pub(super) async fn stream_results<S: GremlinService>(
    conn: &Conn<S>,
    serializer: &dyn Serializer,
    text: bool,
    request: GremlinRequest,
) -> u16 {
    let id = request.request_id;
    let batch_size = request.batch_size.max(1);
    let frame_max = conn.core.shared.config.response_frame_bytes_max;
    let mut results = match conn.core.service.submit(request).await {
        Ok(r) => r,
        Err(e) => {
            conn.respond(serializer, text, error_response(id, &e)).await;
            return e.code;
        }
    };
    let mut buffered: VecDeque<Value> = VecDeque::new();
    let mut ended = false;
    let mut sent_any = false;
    loop {
        // Fill past one batch so the 206/200 choice knows whether more follow.
        while !ended && buffered.len() <= batch_size {
            match results.next_batch(batch_size).await {
                Ok(Some(items)) => buffered.extend(items),
                Ok(None) => ended = true,
                Err(e) => {
                    conn.respond(serializer, text, error_response(id, &e)).await;
                    return e.code;
                }
            }
            glommio::yield_if_needed().await;
        }
        if buffered.is_empty() {
            if !sent_any {
                let r = status_response(Some(id), status::NO_CONTENT, "");
                conn.respond(serializer, text, r).await;
                return status::NO_CONTENT;
            }
            return status::SUCCESS;
        }
        let n = batch_size.min(buffered.len());
        let mut items: Vec<Value> = buffered.drain(..n).collect();
        if conn.legacy_dates {
            items = items.into_iter().map(crate::legacy::legacy_dates).collect();
        }
        let last = ended && buffered.is_empty();
        let frames = match encode_batch(serializer, id, items, last, &conn.peer, frame_max) {
            Ok(f) => f,
            Err(e) => {
                conn.respond(serializer, text, error_response(id, &e)).await;
                return e.code;
            }
        };
        for frame in frames {
            if !conn.send(text, frame).await {
                // The connection is gone; nobody to answer.
                return status::SERVER_ERROR;
            }
        }
        sent_any = true;
        if last {
            return status::SUCCESS;
        }
    }
}

/// Encodes a batch as one or more responses, halving it until each fits `frame_max` bytes.
pub(super) fn encode_batch(
    serializer: &dyn Serializer,
    id: Uuid,
    items: Vec<Value>,
    last: bool,
    peer: &str,
    frame_max: usize,
) -> Result<Vec<Vec<u8>>, ServiceError> {
    let mut out = Vec::new();
    // Stack of (items, is the stream's final message); processed left to right.
    let mut stack = vec![(items, last)];
    while let Some((items, final_message)) = stack.pop() {
        let count = items.len();
        let code = if final_message {
            status::SUCCESS
        } else {
            status::PARTIAL_CONTENT
        };
        let mut response = status_response(Some(id), code, "");
        response.result_data = Value::List(items);
        if final_message {
            response
                .status_attributes
                .insert(Value::str("host"), Value::str(peer));
        }
        let bytes = serializer.encode_response(&response).map_err(|e| {
            ServiceError::new(
                status::SERVER_ERROR_SERIALIZATION,
                format!("Error during serialization: {e}"),
            )
        })?;
        if bytes.len() <= frame_max {
            out.push(bytes);
            continue;
        }
        if count <= 1 {
            return Err(ServiceError::new(
                status::SERVER_ERROR_SERIALIZATION,
                format!(
                    "A result of {} bytes exceeds the response frame limit of {frame_max} bytes",
                    bytes.len()
                ),
            ));
        }
        let Value::List(mut left) = std::mem::take(&mut response.result_data) else {
            return Err(ServiceError::new(
                status::SERVER_ERROR,
                "batch lost its items",
            ));
        };
        let right = left.split_off(count / 2);
        stack.push((right, final_message));
        stack.push((left, false));
    }
    Ok(out)
}
