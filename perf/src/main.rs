//! coregraph-perf: benchmarks and the wire-protocol load generator (filled in by later issues).

fn main() {
    println!("coregraph-perf: no benchmarks yet");
}
