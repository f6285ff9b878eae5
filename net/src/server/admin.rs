//! The admin HTTP port: `GET /healthcheck`, `GET /metrics` (Prometheus text) and the endpoints of
//! [`crate::config::AdminHandler`] (e.g. `POST /backup`), with HTTP
//! Basic authentication against the same credentials when authentication is on.

#![allow(unused_imports)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd as _, IntoRawFd as _};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use futures_lite::FutureExt as _;
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use glommio::timer::sleep;
use glommio::{LocalExecutorBuilder, Placement, Task};
use gremlin::value::{Uuid, Value};

use super::{read_head, start_connection, Core, STOP_POLL_MS};
use crate::auth::{decode_sasl_plain, Credentials};
use crate::config::Config;
use crate::metrics::{CoreMetrics, Metrics};
use crate::service::{status, GremlinRequest, GremlinService, Query, ResultStream, ServiceError};
use crate::wire::{
    arg, split_mime, status_response, DecodeError, RequestMessage, ResponseMessage, Serializer,
    Serializers,
};
use crate::ws::{self, close_code, Message, Opcode};

/// Accepts admin HTTP connections on this core.
pub(super) async fn admin_accept<S: GremlinService>(core: Rc<Core<S>>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(start_connection(core.clone(), stream, true)).detach();
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                sleep(Duration::from_millis(STOP_POLL_MS)).await;
            }
        }
    }
}

/// One admin HTTP request: `GET /healthcheck`, `GET /metrics`; Basic auth when auth is on.
pub(super) async fn admin_connection<S, T>(core: Rc<Core<S>>, mut stream: T)
where
    S: GremlinService,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = Duration::from_millis(core.shared.config.handshake_timeout_ms);
    let answer = match read_head(&mut stream, timeout).await {
        Err(None) => return,
        Err(Some(answer)) => answer,
        Ok((head, _)) => admin_answer(&core, &head).await,
    };
    let _ = stream.write_all(&answer).await;
    let _ = stream.flush().await;
    let _ = stream.close().await;
}

pub(super) async fn admin_answer<S: GremlinService>(
    core: &Core<S>,
    head: &ws::RequestHead,
) -> Vec<u8> {
    let handler = core.shared.config.admin_handler.clone();
    // POST and DELETE only reach the embedder's handler (`/load`, `/index`).
    let handled = matches!(head.method.as_str(), "POST" | "DELETE") && handler.is_some();
    if head.method != "GET" && !handled {
        return ws::http_response("405 Method Not Allowed", "Allow: GET\r\n", "only GET\n");
    }
    if let Some(credentials) = core.shared.credentials.clone() {
        let given = head
            .header("Authorization")
            .and_then(crate::auth::decode_basic);
        let ok = match given {
            None => false,
            Some((user, password)) => {
                glommio::executor()
                    .spawn_blocking(move || credentials.verify(&user, &password))
                    .await
            }
        };
        if !ok {
            return ws::http_response(
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"coregraph\"\r\n",
                "authentication required\n",
            );
        }
    }
    if let Some(h) = handler {
        if let Some((status, body)) = (h.0)(&head.method, &head.path, &head.query) {
            return ws::http_response(&status, "", &body);
        }
    }
    if head.method != "GET" {
        return ws::http_response("405 Method Not Allowed", "Allow: GET\r\n", "only GET\n");
    }
    match head.path.as_str() {
        "/healthcheck" => ws::http_response("200 OK", "", "OK\n"),
        "/metrics" => {
            let mut body = core.shared.metrics.render();
            if let Some(extra) = &core.shared.config.extra_metrics {
                body.push_str(&(extra.0)());
            }
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        _ => ws::http_response("404 Not Found", "", "not found\n"),
    }
}
