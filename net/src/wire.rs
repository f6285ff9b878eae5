//! Wire formats as the protocol layer sees them: the [`Serializer`] trait over the codec's
//! `RequestMessage`/`ResponseMessage` envelopes, its GraphBinary 1.0 and GraphSON 3.0
//! implementations over `gremlin::codec`, and the mime lookup of a request frame
//! (`{mime_len: u8}{mime}{body}`, PROTOCOL.md section 2.1).

use std::sync::Arc;

use gremlin::codec::message::{self, Format};
pub use gremlin::codec::message::{RequestMessage, ResponseMessage};
use gremlin::codec::DecodeErrorKind;
use gremlin::value::{Map, Uuid, Value};

/// The argument named `key` of a request.
pub fn arg<'a>(m: &'a RequestMessage, key: &str) -> Option<&'a Value> {
    m.args.get(&Value::str(key))
}

/// A response with a status, no data and no attributes.
pub fn status_response(
    request_id: Option<Uuid>,
    code: u16,
    message: impl Into<String>,
) -> ResponseMessage {
    ResponseMessage {
        request_id,
        status_code: i32::from(code),
        status_message: Some(message.into()),
        status_attributes: Map::default(),
        result_meta: Map::default(),
        result_data: Value::Null,
    }
}

/// Why a request body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The envelope could not be parsed (498, null request id).
    Malformed(String),
    /// The envelope parsed far enough to know the request id, but a value in it could not be
    /// deserialized (497).
    Value(Uuid, String),
}

/// One wire format.
pub trait Serializer: Send + Sync {
    /// The mime type, exactly as it appears in the frame prefix.
    fn mime(&self) -> &str;
    /// Decodes a request body (after the mime prefix).
    fn decode_request(&self, body: &[u8]) -> Result<RequestMessage, DecodeError>;
    /// Encodes a response; an error means a result cannot be written in this format.
    fn encode_response(&self, response: &ResponseMessage) -> Result<Vec<u8>, String>;
}

/// GraphBinary 1.0 (`gremlin::codec::graphbinary`).
pub struct GraphBinaryV1;

/// Offset of the first byte after `{version}{requestId}` in a GraphBinary request.
const GRAPHBINARY_ID_END: usize = 17;

impl Serializer for GraphBinaryV1 {
    fn mime(&self) -> &str {
        message::MIME_GRAPHBINARY_V1
    }

    fn decode_request(&self, body: &[u8]) -> Result<RequestMessage, DecodeError> {
        message::decode_request(Format::GraphBinaryV1, body).map_err(|e| {
            // Past the id, an unknown or unsupported type is a value the server cannot
            // deserialize (497) and the client learns which request it was.
            let value_error = matches!(
                e.kind,
                DecodeErrorKind::UnknownType | DecodeErrorKind::Unsupported
            );
            let id = body
                .get(1..GRAPHBINARY_ID_END)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .filter(|_| body.first() == Some(&0x81));
            match id {
                Some(id) if value_error && e.offset >= GRAPHBINARY_ID_END => {
                    DecodeError::Value(Uuid(id), e.to_string())
                }
                _ => DecodeError::Malformed(e.to_string()),
            }
        })
    }

    fn encode_response(&self, response: &ResponseMessage) -> Result<Vec<u8>, String> {
        message::encode_response(Format::GraphBinaryV1, response).map_err(|e| e.to_string())
    }
}

/// GraphSON 3.0 under one of its mime types (`gremlin::codec::graphson`).
pub struct GraphSonV3 {
    mime: &'static str,
}

impl GraphSonV3 {
    /// Typed GraphSON 3.0 (`application/vnd.gremlin-v3.0+json`).
    pub fn new() -> GraphSonV3 {
        GraphSonV3 {
            mime: message::MIME_GRAPHSON_V3,
        }
    }

    /// The same codec registered under another mime type (e.g. `application/json`).
    pub fn with_mime(mime: &'static str) -> GraphSonV3 {
        GraphSonV3 { mime }
    }
}

impl Default for GraphSonV3 {
    fn default() -> Self {
        GraphSonV3::new()
    }
}

impl Serializer for GraphSonV3 {
    fn mime(&self) -> &str {
        self.mime
    }

    fn decode_request(&self, body: &[u8]) -> Result<RequestMessage, DecodeError> {
        message::decode_request(Format::GraphSonV3, body)
            .map_err(|e| DecodeError::Malformed(e.to_string()))
    }

    fn encode_response(&self, response: &ResponseMessage) -> Result<Vec<u8>, String> {
        message::encode_response(Format::GraphSonV3, response).map_err(|e| e.to_string())
    }
}

/// The serializers a server speaks: looked up by mime; the first is the fallback for unknown
/// mime types (Gremlin Server falls back to GraphBinary 1.0); `text` serves text frames.
#[derive(Clone)]
pub struct Serializers {
    default: Arc<dyn Serializer>,
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
        let mut by_mime = vec![default.clone()];
        by_mime.extend(others);
        Serializers {
            default,
            by_mime,
            text,
        }
    }

    /// What Gremlin Server 3.8 speaks: GraphBinary 1.0 (also the fallback; the `-stringd`
    /// variant is answered as plain GraphBinary), GraphSON 3.0 under its typed, untyped and
    /// `application/json` mime types, and GraphSON 3.0 for text frames.
    ///
    /// Not done: `-stringd` result stringification, untyped GraphSON output, GraphSON 1/2.
    pub fn standard() -> Serializers {
        let graphson: Arc<dyn Serializer> = Arc::new(GraphSonV3::new());
        Serializers::new(
            Arc::new(GraphBinaryV1),
            vec![
                graphson.clone(),
                Arc::new(GraphSonV3::with_mime(message::MIME_GRAPHSON_V3_UNTYPED)),
                Arc::new(GraphSonV3::with_mime(message::MIME_JSON)),
            ],
            Some(graphson),
        )
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
        &self.default
    }

    /// The serializer for text frames.
    pub fn text(&self) -> Option<&Arc<dyn Serializer>> {
        self.text.as_ref()
    }
}

impl Default for Serializers {
    fn default() -> Self {
        Serializers::standard()
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

    #[test]
    fn standard_lookup_falls_back_to_graphbinary() {
        let s = Serializers::standard();
        assert_eq!(
            s.for_mime(b"application/vnd.gremlin-v3.0+json").mime(),
            message::MIME_GRAPHSON_V3
        );
        assert_eq!(s.for_mime(b"application/json").mime(), message::MIME_JSON);
        assert_eq!(
            s.for_mime(b"text/nonsense").mime(),
            message::MIME_GRAPHBINARY_V1
        );
        assert_eq!(s.text().map(|t| t.mime()), Some(message::MIME_GRAPHSON_V3));
    }

    #[test]
    fn graphbinary_value_errors_keep_the_request_id() {
        // version, id, op "eval", processor "", 1 arg: "gremlin" -> type code 0x99 (unknown).
        let mut body = vec![0x81];
        body.extend_from_slice(&[7u8; 16]);
        body.extend_from_slice(&[0, 0, 0, 4]);
        body.extend_from_slice(b"eval");
        body.extend_from_slice(&[0, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 1, 0x03, 0x00, 0, 0, 0, 7]);
        body.extend_from_slice(b"gremlin");
        body.extend_from_slice(&[0x99, 0x00]);
        assert!(
            matches!(GraphBinaryV1.decode_request(&body), Err(DecodeError::Value(Uuid(id), _)) if id == [7u8; 16])
        );
        assert!(matches!(
            GraphBinaryV1.decode_request(&[0x81, 1, 2]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
