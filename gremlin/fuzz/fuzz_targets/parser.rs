//! Fuzz target: the gremlin-lang parser, and print -> re-parse stability of what it accepts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gremlin::parser::fuzz_one(data);
});
