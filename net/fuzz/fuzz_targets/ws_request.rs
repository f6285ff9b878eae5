//! Fuzz target: arbitrary bytes through WebSocket decoding, the mime prefix, GraphBinary /
//! GraphSON request decoding, request validation and response encoding (`net::fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    net::fuzz::fuzz_input(data);
});
