//! Fuzz target: the Gremlin load CSV reader (whole-file read, header parsing, range splitting).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    engine::load::csv::fuzz_one(data);
});
