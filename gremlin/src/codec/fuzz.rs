//! Fuzzing support shared by the fuzz targets (`gremlin/fuzz/`), the crash-regression replay
//! test and the randomized unit test: feed one input to a decoder and check its invariants.
//!
//! These functions exist to find bugs, so unlike the codecs they **panic** when an invariant
//! breaks (that is the fuzzer's crash signal). Decoding errors are fine; panics inside the
//! decoders and the checks below are not.

use super::message;
use super::{graphbinary as gb, graphson as gs};

/// GraphBinary: every decoder entry point on `data`; a decoded value must re-encode, and
/// decoding that encoding must give the same value with the same bytes again.
pub fn graphbinary_one(data: &[u8]) {
    if let Ok(v) = gb::decode_value(data) {
        let bytes = match gb::encode_value(&v) {
            Ok(b) => b,
            Err(e) => panic!("decoded GraphBinary value does not re-encode: {e}: {v:?}"),
        };
        match gb::decode_value(&bytes) {
            Ok(again) => {
                assert_eq!(
                    format!("{v:?}"),
                    format!("{again:?}"),
                    "GraphBinary round trip"
                );
            }
            Err(e) => panic!("re-encoded GraphBinary value does not decode: {e}: {v:?}"),
        }
    }
    if let Ok(req) = gb::decode_request(data) {
        let bytes = gb::encode_request(&req).unwrap_or_else(|e| panic!("request re-encode: {e}"));
        let again = gb::decode_request(&bytes).unwrap_or_else(|e| panic!("request decode: {e}"));
        assert_eq!(
            format!("{req:?}"),
            format!("{again:?}"),
            "request round trip"
        );
    }
    if let Ok(resp) = gb::decode_response(data) {
        let bytes =
            gb::encode_response(&resp).unwrap_or_else(|e| panic!("response re-encode: {e}"));
        let again = gb::decode_response(&bytes).unwrap_or_else(|e| panic!("response decode: {e}"));
        assert_eq!(
            format!("{resp:?}"),
            format!("{again:?}"),
            "response round trip"
        );
    }
    let _ = message::decode_request_frame(data);
}

/// GraphSON: every decoder entry point on `data`. GraphSON normalises a few shapes on the
/// first trip (an empty `properties` object reads as "no properties"), so the check is that
/// encoding is stable from the second trip on.
pub fn graphson_one(data: &[u8]) {
    let _ = gs::decode_request(data);
    let _ = gs::decode_response(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = gs::decode_value(text) {
        let first = match gs::encode_value(&v) {
            Ok(t) => t,
            Err(e) => panic!("decoded GraphSON value does not re-encode: {e}: {v:?}"),
        };
        let again = gs::decode_value(&first)
            .unwrap_or_else(|e| panic!("re-encoded GraphSON does not decode: {e}: {first}"));
        let second = gs::encode_value(&again)
            .unwrap_or_else(|e| panic!("GraphSON value does not re-encode: {e}: {again:?}"));
        assert_eq!(first, second, "GraphSON encoding is not stable");
    }
    if let Ok(g) = gs::read_graph(text) {
        if let Ok(first) = gs::write_graph(&g) {
            let again = gs::read_graph(&first)
                .unwrap_or_else(|e| panic!("written graph does not read back: {e}: {first}"));
            let second =
                gs::write_graph(&again).unwrap_or_else(|e| panic!("graph does not re-write: {e}"));
            assert_eq!(first, second, "graph writing is not stable");
        }
    }
}
