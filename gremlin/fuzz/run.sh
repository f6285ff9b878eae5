#!/usr/bin/env bash
# Runs every gremlin fuzz target (or the ones named) under libFuzzer for SECONDS each
# (default 60); see tools/fuzz.sh. Crash inputs land in regressions/<target>/ and
# `cargo test -p gremlin --lib codec::tests::fuzz_regressions_stay_fixed` replays them forever.
#
#   gremlin/fuzz/run.sh [SECONDS] [TARGET...]
exec "$(dirname "$0")/../../tools/fuzz.sh" "$(dirname "$0")" "$@"
