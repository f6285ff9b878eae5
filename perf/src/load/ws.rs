//! The client side of RFC 6455 for the load generator, sans-IO: the upgrade request and the
//! check of the server's 101 answer, a masked frame encoder (clients MUST mask, section 5.3)
//! and a decoder of the server's unmasked frames that reassembles fragmented messages.
//!
//! `net::ws` is the server side (its decoder rejects unmasked frames and its encoder does not
//! mask), so the two directions a client needs live here; the accept-key hash is `net`'s.

/// Largest HTTP response head accepted from the server on the upgrade.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest payload of a control frame (RFC 6455 section 5.5).
const CONTROL_PAYLOAD_BYTES_MAX: u64 = 125;

/// A protocol failure on the client side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsClientError(pub String);

impl std::fmt::Display for WsClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WsClientError {}

fn err(m: impl Into<String>) -> WsClientError {
    WsClientError(m.into())
}

/// The `GET` upgrade request for `path` on `host` with the base64 `key`.
pub fn handshake_request(host: &str, path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         User-Agent: coregraph-perf\r\n\r\n"
    )
    .into_bytes()
}

/// Checks the server's answer to the upgrade: `Ok(None)` if the head is incomplete,
/// `Ok(Some(len))` with the head's length once a valid `101` with the right
/// `Sec-WebSocket-Accept` arrived (bytes after it are WebSocket frames).
pub fn check_handshake_response(buf: &[u8], key: &str) -> Result<Option<usize>, WsClientError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > RESPONSE_HEAD_BYTES_MAX {
            return Err(err("upgrade response head too long"));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| err("upgrade response is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "101" {
        return Err(err(format!("upgrade refused: {status}")));
    }
    let expected = net::ws::accept_key(key);
    let accepted = lines.any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == expected
        })
    });
    if !accepted {
        return Err(err("upgrade response lacks the right Sec-WebSocket-Accept"));
    }
    Ok(Some(end + 4))
}

/// Appends one final, masked frame with `opcode` (0x1 text, 0x2 binary, 0x8 close, 0x9 ping,
/// 0xA pong) and `payload` masked with `mask` to `out`.
pub fn encode_masked(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | (opcode & 0x0F));
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// A message from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    /// A reassembled text or binary message.
    Data(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// A Close frame with its status code, if any.
    Close(Option<u16>),
}

/// Incremental decoder of server frames (unmasked), reassembling fragments.
pub struct FrameReader {
    buf: Vec<u8>,
    pos: usize,
    partial: Option<Vec<u8>>,
    message_size_bytes_max: usize,
}

impl FrameReader {
    /// A decoder refusing messages above `message_size_bytes_max`.
    pub fn new(message_size_bytes_max: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            pos: 0,
            partial: None,
            message_size_bytes_max,
        }
    }

    /// Appends received bytes.
    pub fn buffer(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<ServerMessage>, WsClientError> {
        loop {
            let buf = self.buf.get(self.pos..).unwrap_or_default();
            let [b0, b1, ..] = buf[..] else {
                return Ok(None);
            };
            if b0 & 0x70 != 0 {
                return Err(err("reserved bits set without a negotiated extension"));
            }
            if b1 & 0x80 != 0 {
                return Err(err("server frames must not be masked"));
            }
            let fin = b0 & 0x80 != 0;
            let opcode = b0 & 0x0F;
            let (len, at) = match b1 & 0x7F {
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
            let is_control = opcode & 0x8 != 0;
            if is_control && (!fin || len > CONTROL_PAYLOAD_BYTES_MAX) {
                return Err(err("control frames must be final and at most 125 bytes"));
            }
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= self.message_size_bytes_max)
                .ok_or_else(|| err("frame too big"))?;
            let Some(payload) = buf.get(at..at + len) else {
                return Ok(None);
            };
            let payload = payload.to_vec();
            self.pos += at + len;
            match opcode {
                0x8 => {
                    let code = payload
                        .get(..2)
                        .and_then(|b| <[u8; 2]>::try_from(b).ok())
                        .map(u16::from_be_bytes);
                    return Ok(Some(ServerMessage::Close(code)));
                }
                0x9 => return Ok(Some(ServerMessage::Ping(payload))),
                0xA => return Ok(Some(ServerMessage::Pong)),
                0x1 | 0x2 => {
                    if self.partial.is_some() {
                        return Err(err("new data frame inside a fragmented message"));
                    }
                    if fin {
                        return Ok(Some(ServerMessage::Data(payload)));
                    }
                    self.partial = Some(payload);
                }
                0x0 => {
                    let Some(mut data) = self.partial.take() else {
                        return Err(err("continuation frame without a message"));
                    };
                    if data.len() + payload.len() > self.message_size_bytes_max {
                        return Err(err("message too big"));
                    }
                    data.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(ServerMessage::Data(data)));
                    }
                    self.partial = Some(data);
                }
                _ => return Err(err("unknown opcode")),
            }
        }
    }
}

/// Status code and request id of a GraphBinary `ResponseMessage`, read from its header only
/// (PROTOCOL.md 6.7: version `0x81`, nullable UUID, Int status): the generator does not
/// spend its CPU decoding result values.
pub fn response_header(body: &[u8]) -> Result<(Option<[u8; 16]>, i32), WsClientError> {
    let bad = || err("response shorter than its header or not GraphBinary 1.0");
    if body.first() != Some(&0x81) {
        return Err(bad());
    }
    let (id, at) = match body.get(1) {
        Some(0x00) => {
            let id = body
                .get(2..18)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(bad)?;
            (Some(id), 18)
        }
        Some(0x01) => (None, 2),
        _ => return Err(bad()),
    };
    let code = body
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_be_bytes)
        .ok_or_else(bad)?;
    Ok((id, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames we mask decode with the server's decoder (which requires masking) to the same
    /// payload, for each of the three length encodings.
    #[test]
    fn masked_frames_decode_on_the_server_side() {
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut frame = Vec::new();
            encode_masked(0x2, &payload, [1, 2, 3, 4], &mut frame);
            let mut d = net::ws::Decoder::new(net::ws::Limits {
                frame_size_bytes_max: 1 << 20,
                message_size_bytes_max: 1 << 20,
            });
            d.buffer(&frame);
            assert_eq!(
                d.next_message().expect("valid"),
                Some(net::ws::Message::Binary(payload))
            );
        }
    }

    /// Server frames (net's unmasked encoder) decode, byte by byte too, and fragments join.
    #[test]
    fn server_frames_decode_incrementally() {
        let big: Vec<u8> = (0..70_000).map(|i| i as u8).collect();
        let mut stream = net::ws::encode_frame(net::ws::Opcode::Binary, &big);
        stream.extend(net::ws::encode_frame(net::ws::Opcode::Ping, b"hi"));
        // A fragmented message: first frame not final (opcode 2), then a final continuation.
        stream.extend([0x02, 0x02, b'a', b'b', 0x80, 0x01, b'c']);
        stream.extend(net::ws::encode_close(1000, "bye"));
        let mut r = FrameReader::new(1 << 20);
        let mut got = Vec::new();
        for b in &stream {
            r.buffer(std::slice::from_ref(b));
            while let Some(m) = r.next_message().expect("valid") {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                ServerMessage::Data(big),
                ServerMessage::Ping(b"hi".to_vec()),
                ServerMessage::Data(b"abc".to_vec()),
                ServerMessage::Close(Some(1000)),
            ]
        );
        let mut r = FrameReader::new(10);
        r.buffer(&net::ws::encode_frame(net::ws::Opcode::Binary, &[0; 11]));
        assert!(r.next_message().is_err());
    }

    #[test]
    fn handshake_answer_is_checked() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nrest";
        assert_eq!(
            check_handshake_response(ok.as_bytes(), key),
            Ok(Some(ok.len() - 4))
        );
        assert_eq!(
            check_handshake_response(&ok.as_bytes()[..20], key),
            Ok(None)
        );
        let wrong = ok.replace("s3pP", "AAAA");
        assert!(check_handshake_response(wrong.as_bytes(), key).is_err());
        let refused = "HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(check_handshake_response(refused.as_bytes(), key).is_err());
    }

    #[test]
    fn response_header_reads_id_and_status() {
        let mut b = vec![0x81, 0x00];
        b.extend([7u8; 16]);
        b.extend(597i32.to_be_bytes());
        assert_eq!(response_header(&b), Ok((Some([7; 16]), 597)));
        assert_eq!(
            response_header(&[0x81, 0x01, 0, 0, 0, 200]),
            Ok((None, 200))
        );
        assert!(response_header(&[0x81, 0x00, 1, 2]).is_err());
        assert!(response_header(&[]).is_err());
    }
}
