//! Request and response envelopes shared by both wire formats, and the WebSocket frame's
//! mime-type prefix (PROTOCOL.md sections 2-4, 6.6, 6.7, 7.5).

use super::{graphbinary, graphson, DecodeError, DecodeErrorKind, EncodeError};
use crate::value::{Map, Uuid, Value};

/// Mime type of GraphBinary 1.0.
pub const MIME_GRAPHBINARY_V1: &str = "application/vnd.graphbinary-v1.0";
/// Mime type of GraphBinary 1.0 with results serialized as strings.
pub const MIME_GRAPHBINARY_V1_STRINGD: &str = "application/vnd.graphbinary-v1.0-stringd";
/// Mime type of typed GraphSON 3.0.
pub const MIME_GRAPHSON_V3: &str = "application/vnd.gremlin-v3.0+json";
/// Mime type of untyped GraphSON 3.0.
pub const MIME_GRAPHSON_V3_UNTYPED: &str = "application/vnd.gremlin-v3.0+json;types=false";
/// Plain JSON, which Gremlin Server reads as GraphSON 3.0.
pub const MIME_JSON: &str = "application/json";

/// A client request (`requestId`, `op`, `processor`, `args`).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestMessage {
    pub request_id: Uuid,
    pub op: String,
    pub processor: String,
    pub args: Map,
}

/// A server response (one per batch of results).
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseMessage {
    /// `None` only when the request could not be parsed.
    pub request_id: Option<Uuid>,
    pub status_code: i32,
    pub status_message: Option<String>,
    pub status_attributes: Map,
    pub result_meta: Map,
    /// Normally a `List` of results; `Null` for 204, 407 and errors.
    pub result_data: Value,
}

/// The serialization a request arrived in (and its responses leave in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    GraphBinaryV1,
    GraphSonV3,
}

impl Format {
    /// The format for a mime type. `None` for types we do not speak; Gremlin Server falls back
    /// to GraphBinary for those, which is the caller's decision.
    pub fn from_mime(mime: &str) -> Option<Format> {
        match mime {
            MIME_GRAPHBINARY_V1 | MIME_GRAPHBINARY_V1_STRINGD => Some(Format::GraphBinaryV1),
            MIME_GRAPHSON_V3 | MIME_GRAPHSON_V3_UNTYPED | MIME_JSON => Some(Format::GraphSonV3),
            _ => None,
        }
    }

    /// Whether `mime` asks for every result as its `toString()` (GraphBinary "stringd");
    /// [`Format::from_mime`] maps it to plain GraphBinary, the stringifying is the server's.
    pub fn results_as_strings(mime: &str) -> bool {
        mime == MIME_GRAPHBINARY_V1_STRINGD
    }

    /// The canonical mime type.
    pub fn mime(self) -> &'static str {
        match self {
            Format::GraphBinaryV1 => MIME_GRAPHBINARY_V1,
            Format::GraphSonV3 => MIME_GRAPHSON_V3,
        }
    }
}

/// Splits a binary request frame into its mime type and body
/// (`{mime_len: u8}{mime bytes}{body}`).
pub fn split_mime(frame: &[u8]) -> Result<(&str, &[u8]), DecodeError> {
    let (&len, rest) = frame
        .split_first()
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::Truncated, 0, "empty request frame"))?;
    let len = usize::from(len);
    if len == 0 {
        return Err(DecodeError::new(
            DecodeErrorKind::Invalid,
            0,
            "request frame has a zero mime-type length",
        ));
    }
    if rest.len() < len {
        return Err(DecodeError::new(
            DecodeErrorKind::Truncated,
            1,
            format!(
                "mime type claims {len} bytes but the frame has {}",
                rest.len()
            ),
        ));
    }
    let (mime, body) = rest.split_at(len);
    let mime = std::str::from_utf8(mime)
        .map_err(|_| DecodeError::new(DecodeErrorKind::Invalid, 1, "mime type is not ASCII"))?;
    Ok((mime, body))
}

/// Decodes a whole binary request frame: mime prefix, then the body in the format it names.
/// An unknown mime type falls back to GraphBinary, as Gremlin Server does.
pub fn decode_request_frame(frame: &[u8]) -> Result<(Format, RequestMessage), DecodeError> {
    let (mime, body) = split_mime(frame)?;
    let format = Format::from_mime(mime).unwrap_or(Format::GraphBinaryV1);
    let header = 1 + mime.len();
    let m = decode_request(format, body).map_err(|e| DecodeError {
        offset: e.offset + header,
        ..e
    })?;
    Ok((format, m))
}

/// Builds a request frame: mime prefix and the body in `format`.
pub fn encode_request_frame(format: Format, m: &RequestMessage) -> Result<Vec<u8>, EncodeError> {
    let mime = format.mime();
    let mut out = Vec::with_capacity(64);
    out.push(mime.len() as u8);
    out.extend_from_slice(mime.as_bytes());
    out.extend_from_slice(&encode_request(format, m)?);
    Ok(out)
}

/// Decodes a request body in `format`.
pub fn decode_request(format: Format, body: &[u8]) -> Result<RequestMessage, DecodeError> {
    match format {
        Format::GraphBinaryV1 => graphbinary::decode_request(body),
        Format::GraphSonV3 => graphson::decode_request(body),
    }
}

/// Encodes a request body in `format`.
pub fn encode_request(format: Format, m: &RequestMessage) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::GraphBinaryV1 => graphbinary::encode_request(m),
        Format::GraphSonV3 => Ok(graphson::encode_request(m)?.into_bytes()),
    }
}

/// Encodes a response in `format` (responses carry no mime prefix).
pub fn encode_response(format: Format, m: &ResponseMessage) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::GraphBinaryV1 => graphbinary::encode_response(m),
        Format::GraphSonV3 => Ok(graphson::encode_response(m)?.into_bytes()),
    }
}

/// Decodes a response in `format`.
pub fn decode_response(format: Format, body: &[u8]) -> Result<ResponseMessage, DecodeError> {
    match format {
        Format::GraphBinaryV1 => graphbinary::decode_response(body),
        Format::GraphSonV3 => graphson::decode_response(body),
    }
}
