#!/usr/bin/env bash
# Issue 4's large-graph benchmark: on a generated graph stored on disk, lookup by id, one-hop,
# two-hop distinct count, vertex inserts and edge inserts (ops/s, p50/p99/p99.9) on 1 and on 2
# shards, one `perf gremlin` run each (the side-by-side script with --peer none, so the same
# load, serve and measuring code). Data under DIR; deleted at the end unless KEEP=1.
#
#   perf/large_graph.sh [VERTICES] [EDGES] [DIR]        (defaults 1000000 10000000
#                                                        /work/scratch-bench/large)
# Environment: SHARD_MIB_TOTAL (data file MiB over all shards, default 8192), DURATION (s,
# default 15), WARMUP (s, default 3), SHARDS ("1 2"), KEEP=1 keeps the data, LOAD_ARGS (extra
# `coregraph load` arguments, e.g. "--resident-mib 1024 --writer-buffer-edges 3145728": the
# loader's defaults took 13 GB of RSS on 1 M / 10 M), REUSE=1 passes --reuse-data (serve and
# measure DIR/cg-data-Ssh loaded earlier, marked by its .loaded file).
set -euo pipefail
cd "$(dirname "$0")/.."
V=${1:-1000000}
E=${2:-10000000}
DIR=${3:-/work/scratch-bench/large}
TOTAL=${SHARD_MIB_TOTAL:-8192}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
SHARDS=${SHARDS:-"1 2"}
mkdir -p "$DIR"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(free -g | awk '/Mem:/{print $2}') GiB RAM; load average $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$DIR" | tail -1
for S in $SHARDS; do
    EXTRA=()
    for x in ${LOAD_ARGS:-}; do EXTRA+=("--load-arg=$x"); done
    [ "${REUSE:-0}" = 1 ] && EXTRA+=(--reuse-data)
    python3 perf/side_by_side.py --peer none --vertices "$V" --edges "$E" --dir "$DIR" \
        --shards "$S" --shard-size-mib $((TOTAL / S)) --duration "$DURATION" --warmup "$WARMUP" \
        --tag "large-v$V-e$E-s$S${TAG_SUFFIX:-}" ${EXTRA[@]+"${EXTRA[@]}"}
    # only one loaded data directory at a time on this disk
    [ "${KEEP:-0}" = 1 ] || rm -rf "$DIR/cg-data-${S}sh"
done
if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$DIR"/graph-*
fi
