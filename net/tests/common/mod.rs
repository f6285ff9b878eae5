//! Shared test harness: a raw blocking WebSocket client, a line-based test wire format and a
//! test-only Gremlin service whose results are built from the request (the real engine is not
//! wired yet).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use gremlin::value::{Uuid, Value};
use net::service::{
    status, GremlinRequest, GremlinService, Query, ResultStream, ServiceError, VecResults,
};
use net::wire::{DecodeError, RequestMessage, ResponseMessage, Serializer, Serializers};

/// Mime of the test wire format.
pub const TEST_MIME: &str = "application/x-coregraph-test";

/// Test wire format. Request: lines `uuid`, `op`, `processor`, then `key=T:value` args with T
/// `s` string, `i` int, `l` long, `b` bytecode (comma-separated step names), `m` map of
/// strings (`k>v;k>v`). Response: first line `uuid|null code count|null message`, then one
/// line per item (`T:value`), plus `@name=value` attribute lines.
pub struct TestWire;

fn parse_value(t: &str) -> Option<Value> {
    let (ty, v) = t.split_once(':')?;
    Some(match ty {
        "s" => Value::str(v),
        "i" => Value::Int(v.parse().ok()?),
        "l" => Value::Long(v.parse().ok()?),
        "b" => {
            let mut bc = gremlin::bytecode::Bytecode::default();
            for step in v.split(',').filter(|s| !s.is_empty()) {
                bc = bc.step(step, Vec::new());
            }
            Value::Bytecode(Arc::new(bc))
        }
        "m" => {
            let mut m = gremlin::value::Map::default();
            for kv in v.split(';').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('>')?;
                m.insert(Value::str(k), Value::str(v));
            }
            Value::Map(m)
        }
        _ => return None,
    })
}

fn show(v: &Value) -> String {
    match v {
        Value::Int(n) => format!("i:{n}"),
        Value::Long(n) => format!("l:{n}"),
        Value::String(s) => format!("s:{s}"),
        Value::Traverser(t) => format!("t:{}:{}", t.0, show(&t.1)),
        other => format!("?:{}", other.type_name()),
    }
}

pub fn uuid_text(u: &Uuid) -> String {
    u.0.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn uuid(n: u8) -> Uuid {
    Uuid([n; 16])
}

impl Serializer for TestWire {
    fn mime(&self) -> &str {
        TEST_MIME
    }

    fn decode_request(&self, body: &[u8]) -> Result<RequestMessage, DecodeError> {
        let text =
            std::str::from_utf8(body).map_err(|_| DecodeError::Malformed("not UTF-8".into()))?;
        let mut lines = text.split('\n');
        let bad = |w: &str| DecodeError::Malformed(w.to_string());
        let id = lines.next().ok_or_else(|| bad("no id"))?;
        let bytes: Vec<u8> = (0..16)
            .map(|i| {
                id.get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(|| bad("bad id"))?;
        let request_id = Uuid(bytes.try_into().map_err(|_| bad("bad id"))?);
        let op = lines.next().ok_or_else(|| bad("no op"))?.to_string();
        let processor = lines.next().ok_or_else(|| bad("no processor"))?.to_string();
        let mut args = gremlin::value::Map::default();
        for line in lines {
            let (k, v) = line.split_once('=').ok_or_else(|| bad("bad arg"))?;
            let v = parse_value(v)
                .ok_or_else(|| DecodeError::Value(request_id, format!("bad value {v}")))?;
            args.insert(Value::str(k), v);
        }
        Ok(RequestMessage {
            request_id,
            op,
            processor,
            args,
        })
    }

    fn encode_response(&self, r: &ResponseMessage) -> Result<Vec<u8>, String> {
        let id = r.request_id.as_ref().map_or("null".to_string(), uuid_text);
        let items = match &r.result_data {
            Value::List(items) => Some(items),
            Value::Null => None,
            other => {
                return Err(format!(
                    "data must be a list or null, not {}",
                    other.type_name()
                ))
            }
        };
        let count = items.map_or("null".to_string(), |d| d.len().to_string());
        let message = r.status_message.as_deref().unwrap_or("").replace('\n', " ");
        let mut out = format!("{id} {} {count} {message}", r.status_code);
        for (k, v) in &r.status_attributes {
            out.push_str(&format!("\n@{}={}", k.as_str().unwrap_or("?"), show(v)));
        }
        for item in items.into_iter().flatten() {
            out.push('\n');
            out.push_str(&show(item));
        }
        Ok(out.into_bytes())
    }
}

pub fn serializers() -> Serializers {
    let s: Arc<dyn Serializer> = Arc::new(TestWire);
    Serializers::new(s.clone(), Vec::new(), Some(s))
}

/// Test service. Eval scripts: `range N` (N ints), `empty`, `sleep MS` (then one int),
/// `fail` (597), `failstep` (595), `big N BYTES` (N strings), `panic`, `then-error N` (N ints
/// then 500), `user` (the authenticated user), `core` (the serving core). Bytecode: the step names as
/// strings in traversers of bulk 1.
pub struct TestService;

pub enum TestResults {
    Items(VecResults),
    ThenError(VecResults),
}

impl ResultStream for TestResults {
    async fn next_batch(&mut self, items_max: usize) -> Result<Option<Vec<Value>>, ServiceError> {
        match self {
            TestResults::Items(r) => r.next_batch(items_max).await,
            TestResults::ThenError(r) => match r.next_batch(items_max).await? {
                Some(b) => Ok(Some(b)),
                None => Err(ServiceError::new(status::SERVER_ERROR, "iteration failed")),
            },
        }
    }
}

impl GremlinService for TestService {
    type Results = TestResults;

    async fn submit(&self, request: GremlinRequest) -> Result<TestResults, ServiceError> {
        let script = match &request.query {
            Query::Bytecode(bc) => {
                let steps = bc
                    .steps
                    .iter()
                    .map(|i| Value::Traverser(Arc::new((1, Value::str(&i.op)))))
                    .collect();
                return Ok(TestResults::Items(VecResults::new(steps)));
            }
            Query::Eval { script, .. } => script.clone(),
        };
        let words: Vec<&str> = script.split_whitespace().collect();
        let num = |i: usize| {
            words
                .get(i)
                .and_then(|w| w.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let items = match words.first().copied() {
            Some("range") => (0..num(1)).map(|i| Value::Int(i as i32)).collect(),
            Some("empty") => Vec::new(),
            Some("sleep") => {
                glommio::timer::sleep(Duration::from_millis(num(1) as u64)).await;
                vec![Value::Int(1)]
            }
            Some("fail") => return Err(ServiceError::new(status::SERVER_ERROR_EVALUATION, "boom")),
            Some("failstep") => {
                let mut e =
                    ServiceError::new(status::SERVER_ERROR_FAIL_STEP, "fail() step triggered");
                e.fail_step_message = Some("stop here".into());
                return Err(e);
            }
            Some("big") => (0..num(1))
                .map(|_| Value::str(&"x".repeat(num(2))))
                .collect(),
            Some("panic") => panic!("test service panic"),
            Some("then-error") => {
                let items = (0..num(1)).map(|i| Value::Int(i as i32)).collect();
                return Ok(TestResults::ThenError(VecResults::new(items)));
            }
            Some("user") => vec![Value::str(request.user.as_deref().unwrap_or("-"))],
            Some("core") => vec![Value::Int(request.core as i32)],
            _ => {
                return Err(ServiceError::new(
                    status::SERVER_ERROR_EVALUATION,
                    format!("unknown script {script}"),
                ))
            }
        };
        Ok(TestResults::Items(VecResults::new(items)))
    }
}

/// Starts a test server on ephemeral ports, two cores.
pub fn start(config: net::Config) -> net::ServerHandle {
    start_with(config, serializers())
}

/// Starts a test server with the given wire formats.
pub fn start_with(mut config: net::Config, serializers: Serializers) -> net::ServerHandle {
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.admin_addr = Some("127.0.0.1:0".parse().expect("addr"));
    if config.cpus.is_empty() {
        // At most two cores per test server, among the CPUs this process may use.
        config.cpus = net::server::allowed_cpus().expect("affinity");
        config.cpus.truncate(2);
    }
    net::serve(config, serializers, |_core| TestService).expect("server starts")
}

/// A decoded test-wire response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub id: String,
    pub code: u16,
    pub count: Option<usize>,
    pub message: String,
    pub items: Vec<String>,
    pub attributes: Vec<String>,
}

pub fn parse_resp(payload: &[u8]) -> Resp {
    let text = String::from_utf8(payload.to_vec()).expect("utf8 response");
    let mut lines = text.lines();
    let head = lines.next().expect("head line");
    let mut parts = head.splitn(4, ' ');
    let id = parts.next().expect("id").to_string();
    let code = parts.next().expect("code").parse().expect("code number");
    let count = parts.next().expect("count").parse().ok();
    let message = parts.next().unwrap_or("").to_string();
    let (attributes, items): (Vec<String>, Vec<String>) =
        lines.map(str::to_string).partition(|l| l.starts_with('@'));
    Resp {
        id,
        code,
        count,
        message,
        items,
        attributes,
    }
}

/// A blocking byte stream (plain TCP or TLS).
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A raw, blocking WebSocket client.
pub struct Client {
    pub stream: Box<dyn ReadWrite>,
    buf: Vec<u8>,
}

/// A frame from the server: (fin, opcode, payload).
pub type Frame = (bool, u8, Vec<u8>);

/// A plain TCP connection with a read timeout.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::connect_path(addr, "/gremlin").expect("upgrade accepted")
    }

    /// Connects and upgrades; Err(status line + headers) if the server refuses.
    pub fn connect_path(addr: SocketAddr, path: &str) -> Result<Client, String> {
        Client::upgrade(Box::new(tcp(addr)), path)
    }

    /// Upgrades an open stream to a WebSocket on `path`.
    pub fn upgrade(mut stream: Box<dyn ReadWrite>, path: &str) -> Result<Client, String> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUser-Agent: net-tests\r\n\r\n"
        );
        stream
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(0) | Err(_) => break,
                Ok(_) => head.push(byte[0]),
            }
        }
        let head = String::from_utf8_lossy(&head).to_string();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(head);
        }
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends one masked frame.
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let bytes = masked_frame(fin, opcode, payload);
        self.stream.write_all(&bytes).expect("send frame");
    }

    /// Sends a binary request with a mime prefix.
    pub fn send_request(&mut self, mime: &str, body: &[u8]) {
        let mut payload = vec![mime.len() as u8];
        payload.extend_from_slice(mime.as_bytes());
        payload.extend_from_slice(body);
        self.send_frame(true, 2, &payload);
    }

    /// Sends a test-wire request.
    pub fn request(&mut self, id: &Uuid, op: &str, processor: &str, args: &[&str]) {
        let mut body = format!("{}\n{op}\n{processor}", uuid_text(id));
        for a in args {
            body.push('\n');
            body.push_str(a);
        }
        self.send_request(TEST_MIME, body.as_bytes());
    }

    /// An eval request with optional extra args.
    pub fn eval(&mut self, id: &Uuid, script: &str, extra: &[&str]) {
        let g = format!("gremlin=s:{script}");
        let mut args = vec![g.as_str()];
        args.extend_from_slice(extra);
        self.request(id, "eval", "", &args);
    }

    /// Reads one frame; None on EOF.
    pub fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads the next data frame as a response (skipping pongs).
    pub fn response(&mut self) -> Resp {
        loop {
            let (fin, op, payload) = self.read_frame().expect("a frame");
            assert!(fin, "server frames are final");
            match op {
                1 | 2 => return parse_resp(&payload),
                0xA => continue,
                other => panic!("unexpected opcode {other}: {payload:?}"),
            }
        }
    }

    /// Reads responses for one request until a final code.
    pub fn responses_until_final(&mut self) -> Vec<Resp> {
        let mut out = Vec::new();
        loop {
            let r = self.response();
            let code = r.code;
            out.push(r);
            if code != 206 && code != 407 {
                return out;
            }
        }
    }
}

pub fn masked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Parses one unmasked server frame: (frame, bytes used).
pub fn parse_server_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    let (len, at) = match buf[1] & 0x7F {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some(((buf[0] & 0x80 != 0, buf[0] & 0x0F, payload), at + len))
}

/// A plain HTTP GET on the admin port: (status line, body).
pub fn http_get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (String, String) {
    http_request(addr, "GET", path, auth)
}

/// A plain HTTP request with an empty body: (status line, body).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
    let length = if method == "GET" {
        ""
    } else {
        "Content-Length: 0\r\n"
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{length}\r\n"
    )
    .expect("send");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}
