//! Request/response envelopes as the protocol layer handles them, and the [`Serializer`]
//! trait that turns them into bytes for one mime type (GraphBinary v1, GraphSON v3, ...).
//!
//! The codecs live in `gremlin::codec`; each is plugged in here through a small adapter so the
//! protocol layer is independent of their internals. A WebSocket binary frame carries
//! `{mime_len: u8}{mime}{body}` (PROTOCOL.md section 2.1); [`split_mime`] takes it apart.

use std::sync::Arc;

use gremlin::value::{Uuid, Value};

/// A decoded RequestMessage (PROTOCOL.md section 3).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestMessage {
    pub request_id: Uuid,
    pub op: String,
    pub processor: String,
    /// `args` in wire order; keys are strings.
    pub args: Vec<(String, Value)>,
}

impl RequestMessage {
    /// The argument named `key`.
    pub fn arg(&self, key: &str) -> Option<&Value> {
        self.args.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A ResponseMessage to encode (PROTOCOL.md section 4).
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseMessage {
    /// Null only when the request could not be parsed.
    pub request_id: Option<Uuid>,
    pub code: u16,
    pub message: String,
    pub attributes: Vec<(String, Value)>,
    /// `result.data`: a List for 200/206, null otherwise.
    pub data: Option<Vec<Value>>,
}

impl ResponseMessage {
    /// A response with no data and no attributes.
    pub fn status(request_id: Option<Uuid>, code: u16, message: impl Into<String>) -> Self {
        ResponseMessage {
            request_id,
            code,
            message: message.into(),
            attributes: Vec::new(),
            data: None,
        }
    }
}

/// Why a request body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The envelope could not be parsed (498).
    Malformed(String),
    /// The envelope parsed but a value in it could not be deserialized (497); the request id is
    /// known.
    Value(Uuid, String),
}

/// One wire format.
pub trait Serializer: Send + Sync {
    /// The mime type, exactly as it appears in the frame prefix.
    fn mime(&self) -> &str;
    /// Decodes a request body (after the mime prefix).
    fn decode_request(&self, body: &[u8]) -> Result<RequestMessage, DecodeError>;
    /// Encodes a response; an error means a result value cannot be written in this format.
    fn encode_response(&self, response: &ResponseMessage) -> Result<Vec<u8>, String>;
}

/// The serializers a server speaks: looked up by mime; the first is the fallback for unknown
/// mime types (Gremlin Server falls back to GraphBinary 1.0); `text` serves text frames.
#[derive(Clone)]
pub struct Serializers {
    by_mime: Vec<Arc<dyn Serializer>>,
    text: Option<Arc<dyn Serializer>>,
}

impl Serializers {
    /// `default` answers unknown mime types; `others` are matched by mime; `text` (if any)
    /// decodes text frames.
    pub fn new(
        default: Arc<dyn Serializer>,
        others: Vec<Arc<dyn Serializer>>,
        text: Option<Arc<dyn Serializer>>,
    ) -> Serializers {
        let mut by_mime = vec![default];
        by_mime.extend(others);
        Serializers { by_mime, text }
    }

    /// The serializer for `mime`, or the default one.
    pub fn for_mime(&self, mime: &[u8]) -> &Arc<dyn Serializer> {
        let found = self.by_mime.iter().find(|s| s.mime().as_bytes() == mime);
        match found {
            Some(s) => s,
            None => self.default(),
        }
    }

    /// The fallback serializer.
    pub fn default(&self) -> &Arc<dyn Serializer> {
        // `new` always stores at least the default one.
        &self.by_mime[0]
    }

    /// The serializer for text frames.
    pub fn text(&self) -> Option<&Arc<dyn Serializer>> {
        self.text.as_ref()
    }
}

/// Splits a binary frame into `(mime, body)`; `None` if the mime length is 0 or runs past the
/// frame (Gremlin Server answers 498).
pub fn split_mime(frame: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = frame.split_first()?;
    let len = usize::from(len);
    if len == 0 || rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_prefix() {
        let mut f = vec![3u8];
        f.extend_from_slice(b"abcBODY");
        assert_eq!(split_mime(&f), Some((&b"abc"[..], &b"BODY"[..])));
        assert_eq!(split_mime(&[0, 1, 2]), None);
        assert_eq!(split_mime(&[5, b'a']), None);
        assert_eq!(split_mime(&[]), None);
    }
}
