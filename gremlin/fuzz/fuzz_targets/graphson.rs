//! Fuzz target: the GraphSON value, envelope and adjacency-graph decoders (and their round trips).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gremlin::codec::fuzz::graphson_one(data);
});
