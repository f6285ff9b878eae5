#!/usr/bin/env bash
# Shared body of every crate's fuzz/run.sh: runs the libFuzzer targets of the fuzz workspace
# FUZZ_DIR (all of them, or the ones named) for SECONDS each (default 60), on the stable
# toolchain: coverage comes from stable `-C` codegen flags, not from cargo-fuzz's
# nightly-only sanitizer flags.
#
#   tools/fuzz.sh FUZZ_DIR [SECONDS] [TARGET...]
#
# A crash, timeout or out-of-memory input is copied into FUZZ_DIR/regressions/<target>/
# (commit it: the crate's regression test replays it forever) and the script exits non-zero.
#
# FUZZ_SEED fixes libFuzzer's random seed (default: a fresh one each run, to explore). CI
# sets it, so that a CI run replays a search a developer already ran (on a fresh corpus, the
# same seed and binary give the same inputs): a crash is found before it lands, not by the
# gate at random. Explore with random seeds; run `FUZZ_SEED=<CI's seed> ... 120` before pushing.
set -euo pipefail

here="$(cd "$1" && pwd)"
shift
seconds="${1:-60}"
[ $# -gt 0 ] && shift
cd "$here"
rel="$(basename "$(dirname "$here")")/fuzz"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
# libFuzzer's inline 8-bit counters, PC table and comparison tracing: the same
# instrumentation cargo-fuzz asks for, minus AddressSanitizer (the fuzzed code has no unsafe).
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps build scripts and proc-macros uninstrumented.
cargo build --release --target "$host" --bins

status=0
for t in "${targets[@]}"; do
  corpus="$here/target/corpus/$t"
  artifacts="$here/target/artifacts/$t"
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts" "regressions/$t"
  echo "fuzz: $t for ${seconds}s"
  # Corpus dirs after the first are read-only inputs: committed seeds and past crashes.
  seed_flag=()
  if [ -n "${FUZZ_SEED:-}" ]; then
    seed_flag=(-seed="$FUZZ_SEED")
  fi
  if ! "target/$host/release/$t" "${seed_flag[@]}" \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "$corpus" "seeds/$t" "regressions/$t"; then
    status=1
    for a in "$artifacts"/*; do
      [ -f "$a" ] || continue
      cp "$a" "regressions/$t/"
      echo "fuzz: $t failed; input saved as $rel/regressions/$t/$(basename "$a")"
    done
  fi
done
exit "$status"
