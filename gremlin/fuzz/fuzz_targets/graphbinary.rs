//! Fuzz target: the GraphBinary value, request and response decoders (and their round trips).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gremlin::codec::fuzz::graphbinary_one(data);
});
