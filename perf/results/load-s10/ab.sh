#!/bin/bash
# usage: ab.sh OUT PAIRS binA binB ...  (alternating runs of the 1M/10M load)
out=$1; pairs=$2; shift 2
for i in $(seq 1 $pairs); do
  for b in "$@"; do
    rm -rf d1m err1m.txt
    sync; echo 3 > /proc/sys/vm/drop_caches
    log=logs/$out-$b-$i.log
    RUST_LOG=engine=debug timeout 300 /usr/bin/time -f "$b wall %e user %U sys %S maxrss %M KB minflt %R" taskset -c 0,1 ./$b/coregraph load g1m --data-dir d1m --executors 2 --shards 2 --shard-size-mib 2048 --resident-mib 8192 --errors err1m.txt > $log 2>&1
    echo "rc=$? $(tail -1 $log)" | tee -a $out.txt
  done
done
rm -rf d1m
