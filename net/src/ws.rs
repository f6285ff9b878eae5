//! RFC 6455 WebSocket, server side, sans-IO: the upgrade handshake and a frame decoder that
//! reassembles fragmented messages under named size limits, plus the (unmasked) frame encoder.
//!
//! Written here rather than taken from `tungstenite`: the server needs separate read and write
//! halves on glommio's futures-io streams with many request tasks writing through one queue,
//! exact control of the HTTP answers to a bad upgrade (400/404/426) and of the close codes on
//! limit violations, and a decoder that is a pure function of its input so it can be fuzzed.
//! The protocol part is small (section 5 of the RFC); hashing and base64 come from crates.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID appended to the client key (RFC 6455 section 1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest payload of a control frame (RFC 6455 section 5.5).
pub const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;
/// Largest HTTP request head (request line and headers) accepted on the upgrade.
pub const HANDSHAKE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Most headers parsed in an HTTP request head.
pub const HANDSHAKE_HEADERS_MAX: usize = 64;

/// Frame opcodes (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Close status codes the server sends (RFC 6455 section 7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
}

/// A protocol violation by the peer: the connection is closed with `code` after sending a
/// Close frame carrying `reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsError {
    pub code: u16,
    pub reason: &'static str,
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "websocket error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for WsError {}

fn ws_error(code: u16, reason: &'static str) -> WsError {
    WsError { code, reason }
}

/// A complete message (data messages reassembled) or a control frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A Close frame: the status code (if any) and the reason.
    Close(Option<u16>, Vec<u8>),
}

/// Size limits of the decoder.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest payload of one frame.
    pub frame_size_bytes_max: usize,
    /// Largest reassembled message.
    pub message_size_bytes_max: usize,
}

/// Incremental frame decoder: feed bytes with [`Decoder::buffer`], take messages with
/// [`Decoder::next_message`].
pub struct Decoder {
    limits: Limits,
    /// Received bytes; those before `pos` are decoded already (dropped on the next `buffer`,
    /// so many small frames in one read cost one move, not one each).
    buf: Vec<u8>,
    pos: usize,
    /// Opcode and payload so far of a fragmented data message in progress.
    partial: Option<(Opcode, Vec<u8>)>,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            buf: Vec::new(),
            pos: 0,
            partial: None,
        }
    }

    /// Appends received bytes.
    pub fn buffer(&mut self, bytes: &[u8]) {
        self.buf.drain(..self.pos.min(self.buf.len()));
        self.pos = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, WsError> {
        loop {
            let Some((fin, opcode, payload)) = self.next_frame()? else {
                return Ok(None);
            };
            if opcode.is_control() {
                return Ok(Some(control_message(opcode, payload)?));
            }
            match (opcode, self.partial.take()) {
                (Opcode::Continuation, None) => {
                    return Err(ws_error(
                        close_code::PROTOCOL_ERROR,
                        "continuation frame without a message in progress",
                    ))
                }
                (Opcode::Continuation, Some((first, mut data))) => {
                    if data.len() + payload.len() > self.limits.message_size_bytes_max {
                        return Err(ws_error(close_code::TOO_BIG, "message too big"));
                    }
                    data.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(data_message(first, data)?));
                    }
                    self.partial = Some((first, data));
                }
                (_, Some(_)) => {
                    return Err(ws_error(
                        close_code::PROTOCOL_ERROR,
                        "new data frame while a fragmented message is in progress",
                    ))
                }
                (first, None) => {
                    if payload.len() > self.limits.message_size_bytes_max {
                        return Err(ws_error(close_code::TOO_BIG, "message too big"));
                    }
                    if fin {
                        return Ok(Some(data_message(first, payload)?));
                    }
                    self.partial = Some((first, payload));
                }
            }
        }
    }

    /// Decodes one frame (unmasked payload) if the buffer holds a whole one.
    fn next_frame(&mut self) -> Result<Option<(bool, Opcode, Vec<u8>)>, WsError> {
        let buf = self.buf.get(self.pos..).unwrap_or_default();
        let [b0, b1, ..] = buf[..] else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(ws_error(
                close_code::PROTOCOL_ERROR,
                "reserved bits set without a negotiated extension",
            ));
        }
        let opcode = Opcode::from_bits(b0 & 0x0F)
            .ok_or_else(|| ws_error(close_code::PROTOCOL_ERROR, "unknown opcode"))?;
        if b1 & 0x80 == 0 {
            return Err(ws_error(
                close_code::PROTOCOL_ERROR,
                "client frames must be masked",
            ));
        }
        let (len, mut at) = match b1 & 0x7F {
            126 => match buf.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
                Some(b) => (u64::from(u16::from_be_bytes(b)), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if opcode.is_control() && (!fin || len > CONTROL_PAYLOAD_BYTES_MAX as u64) {
            return Err(ws_error(
                close_code::PROTOCOL_ERROR,
                "control frames must be final and at most 125 bytes",
            ));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.limits.frame_size_bytes_max)
            .ok_or_else(|| ws_error(close_code::TOO_BIG, "frame too big"))?;
        let Some(mask) = buf
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        else {
            return Ok(None);
        };
        at += 4;
        let Some(masked) = buf.get(at..at + len) else {
            return Ok(None);
        };
        let payload: Vec<u8> = masked
            .iter()
            .zip(mask.iter().cycle())
            .map(|(b, m)| b ^ m)
            .collect();
        self.pos += at + len;
        Ok(Some((fin, opcode, payload)))
    }
}

fn control_message(opcode: Opcode, payload: Vec<u8>) -> Result<Message, WsError> {
    Ok(match opcode {
        Opcode::Ping => Message::Ping(payload),
        Opcode::Pong => Message::Pong(payload),
        _ => match payload.as_slice() {
            [] => Message::Close(None, Vec::new()),
            [_] => {
                return Err(ws_error(
                    close_code::PROTOCOL_ERROR,
                    "close payload of one byte",
                ))
            }
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
                if !valid {
                    return Err(ws_error(close_code::PROTOCOL_ERROR, "invalid close code"));
                }
                if std::str::from_utf8(reason).is_err() {
                    return Err(ws_error(
                        close_code::INVALID_PAYLOAD,
                        "close reason is not UTF-8",
                    ));
                }
                Message::Close(Some(code), reason.to_vec())
            }
        },
    })
}

fn data_message(opcode: Opcode, payload: Vec<u8>) -> Result<Message, WsError> {
    if opcode == Opcode::Text {
        if std::str::from_utf8(&payload).is_err() {
            return Err(ws_error(
                close_code::INVALID_PAYLOAD,
                "text message is not UTF-8",
            ));
        }
        return Ok(Message::Text(payload));
    }
    Ok(Message::Binary(payload))
}

/// Encodes one final, unmasked server frame.
pub fn encode_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode.bits());
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Encodes a Close frame with a status code and a reason (truncated to fit a control frame).
pub fn encode_close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(CONTROL_PAYLOAD_BYTES_MAX - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(reason.as_bytes().get(..end).unwrap_or_default());
    encode_frame(Opcode::Close, &payload)
}

/// The value of `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(client_key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(client_key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A parsed HTTP/1.1 request head.
#[derive(Debug, Default)]
pub struct RequestHead {
    pub method: String,
    /// The request target without its query string.
    pub path: String,
    /// The query string (after `?`, not decoded; empty when none).
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why an HTTP request head could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// More bytes are needed.
    Partial,
    /// Not a valid HTTP/1.1 request head, or one past the limits.
    Invalid,
}

/// Parses an HTTP request head from the start of `buf`: the head and its length in bytes.
pub fn parse_request_head(buf: &[u8]) -> Result<(RequestHead, usize), HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; HANDSHAKE_HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let head = RequestHead {
                method: req.method.unwrap_or("").to_string(),
                path: path.to_string(),
                query: query.to_string(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect(),
            };
            Ok((head, len))
        }
        Ok(httparse::Status::Partial) if buf.len() < HANDSHAKE_HEAD_BYTES_MAX => {
            Err(HeadError::Partial)
        }
        _ => Err(HeadError::Invalid),
    }
}

/// The outcome of checking an upgrade request.
#[derive(Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// Accept: the full `101 Switching Protocols` response to send.
    Accept(Vec<u8>),
    /// Refuse: the full HTTP error response to send before closing.
    Refuse(Vec<u8>),
}

/// A minimal HTTP/1.1 response with a text body that closes the connection.
pub fn http_response(status: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Checks a WebSocket upgrade request for `path` (RFC 6455 section 4.2.1).
pub fn check_upgrade(head: &RequestHead, path: &str) -> Upgrade {
    if head.path != path {
        return Upgrade::Refuse(http_response("404 Not Found", "", "not found\n"));
    }
    if head.method != "GET" {
        return Upgrade::Refuse(http_response(
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "WebSocket upgrade needs GET\n",
        ));
    }
    if !head.header_has_token("Upgrade", "websocket")
        || !head.header_has_token("Connection", "upgrade")
    {
        return Upgrade::Refuse(http_response(
            "400 Bad Request",
            "",
            "expected a WebSocket upgrade request\n",
        ));
    }
    if head.header("Sec-WebSocket-Version") != Some("13") {
        return Upgrade::Refuse(http_response(
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
            "only WebSocket version 13 is supported\n",
        ));
    }
    let key = head.header("Sec-WebSocket-Key").unwrap_or("");
    let key_ok = base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|k| k.len() == 16);
    if !key_ok {
        return Upgrade::Refuse(http_response(
            "400 Bad Request",
            "",
            "missing or invalid Sec-WebSocket-Key\n",
        ));
    }
    Upgrade::Accept(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key)
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![first];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    fn limits() -> Limits {
        Limits {
            frame_size_bytes_max: 1000,
            message_size_bytes_max: 1500,
        }
    }

    #[test]
    fn rfc_accept_key_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn decodes_byte_by_byte_and_reassembles_fragments() {
        let mut wire = masked(0x01, b"Hel");
        wire.extend(masked(0x89, b"p")); // ping between fragments
        wire.extend(masked(0x80, b"lo"));
        let mut d = Decoder::new(limits());
        let mut got = Vec::new();
        for b in wire {
            d.buffer(&[b]);
            while let Some(m) = d.next_message().expect("valid") {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                Message::Ping(b"p".to_vec()),
                Message::Text(b"Hello".to_vec())
            ]
        );
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn many_frames_in_one_buffer() {
        let mut d = Decoder::new(limits());
        let wire: Vec<u8> = (0..1000u16)
            .flat_map(|i| masked(0x82, &i.to_be_bytes()))
            .collect();
        d.buffer(&wire);
        for i in 0..1000u16 {
            assert_eq!(
                d.next_message(),
                Ok(Some(Message::Binary(i.to_be_bytes().to_vec())))
            );
        }
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.buffered_bytes(), 0);
        d.buffer(&masked(0x82, b"z"));
        assert_eq!(d.next_message(), Ok(Some(Message::Binary(b"z".to_vec()))));
    }

    #[test]
    fn rejects_protocol_violations() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x82, 0x01, 0x00], close_code::PROTOCOL_ERROR), // unmasked
            (masked(0xC2, b"x"), close_code::PROTOCOL_ERROR),     // RSV1
            (masked(0x83, b"x"), close_code::PROTOCOL_ERROR),     // opcode 3
            (masked(0x80, b"x"), close_code::PROTOCOL_ERROR),     // lone continuation
            (masked(0x09, b"x"), close_code::PROTOCOL_ERROR),     // fragmented ping
            (masked(0x81, &[0xff, 0xfe]), close_code::INVALID_PAYLOAD),
            (masked(0x82, &[0u8; 1001]), close_code::TOO_BIG),
            (masked(0x88, &[0x03, 0xe8 + 4]), close_code::PROTOCOL_ERROR), // 1004
        ];
        for (wire, code) in cases {
            let mut d = Decoder::new(limits());
            d.buffer(&wire);
            assert_eq!(d.next_message().map_err(|e| e.code), Err(code), "{wire:x?}");
        }
        // Message limit across fragments.
        let mut d = Decoder::new(limits());
        d.buffer(&masked(0x02, &[0u8; 800]));
        d.buffer(&masked(0x80, &[0u8; 800]));
        assert_eq!(
            d.next_message().map_err(|e| e.code),
            Err(close_code::TOO_BIG)
        );
        // A new data frame inside a fragmented message.
        let mut d = Decoder::new(limits());
        d.buffer(&masked(0x02, b"a"));
        d.buffer(&masked(0x82, b"b"));
        assert!(d.next_message().is_err());
    }

    #[test]
    fn encodes_lengths() {
        assert_eq!(
            encode_frame(Opcode::Binary, b"ab"),
            vec![0x82, 2, b'a', b'b']
        );
        let f = encode_frame(Opcode::Text, &[0u8; 300]);
        assert_eq!(&f[..4], &[0x81, 126, 1, 44]);
        let f = encode_frame(Opcode::Binary, &vec![0u8; 70_000]);
        assert_eq!(&f[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(encode_close(1000, "")[..], [0x88, 2, 0x03, 0xe8]);
    }

    #[test]
    fn upgrade_checks() {
        let req = b"GET /gremlin?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nrest";
        let (head, len) = parse_request_head(req).expect("complete");
        assert_eq!(&req[len..], b"rest");
        let Upgrade::Accept(resp) = check_upgrade(&head, "/gremlin") else {
            panic!("refused")
        };
        let resp = String::from_utf8(resp).expect("ascii");
        assert!(resp.starts_with("HTTP/1.1 101 "));
        assert!(resp.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(
            matches!(check_upgrade(&head, "/other"), Upgrade::Refuse(r) if r.starts_with(b"HTTP/1.1 404"))
        );
        assert_eq!(
            parse_request_head(b"GET / HTTP/1.1\r\n").err(),
            Some(HeadError::Partial)
        );
        assert_eq!(
            parse_request_head(b"\x00\x01garbage\r\n\r\n").err(),
            Some(HeadError::Invalid)
        );
        let (head, _) =
            parse_request_head(b"GET /gremlin HTTP/1.1\r\nHost: a\r\n\r\n").expect("ok");
        assert!(
            matches!(check_upgrade(&head, "/gremlin"), Upgrade::Refuse(r) if r.starts_with(b"HTTP/1.1 400"))
        );
    }

    /// xorshift64*: deterministic pseudo-random bytes for the robustness tests.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed.max(1);
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics_and_stays_bounded() {
        let mut next = rng(0x5eed);
        let valid: Vec<u8> = [
            masked(0x01, b"Hel"),
            masked(0x89, b"ping"),
            masked(0x80, b"lo"),
            masked(0x82, &[7u8; 300]),
            masked(0x88, &[0x03, 0xe8]),
        ]
        .concat();
        for round in 0..3000 {
            let mut input = if round % 2 == 0 {
                let mut v = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % v.len();
                    v[at] = next() as u8;
                }
                v
            } else {
                (0..next() % 400).map(|_| next() as u8).collect()
            };
            let mut d = Decoder::new(limits());
            // Feed in random chunks; stop at the first error like the server does.
            'feed: while !input.is_empty() {
                let n = 1 + (next() as usize) % input.len();
                let chunk: Vec<u8> = input.drain(..n).collect();
                d.buffer(&chunk);
                loop {
                    match d.next_message() {
                        Ok(Some(Message::Text(t))) => assert!(std::str::from_utf8(&t).is_ok()),
                        Ok(Some(Message::Binary(b))) => assert!(b.len() <= 1500),
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
                assert!(d.buffered_bytes() <= 1000 + 14 + 400, "buffer bounded");
            }
        }
    }
}
