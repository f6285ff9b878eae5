#!/usr/bin/env python3
"""Issue 7's benchmark: each frontier strategy's effect, and an indexed has() against a scan.

Against a running `coregraph serve` holding a `coregraph gen` graph (string ids "0".."N-1"):
1. per strategy, a traversal that exercises it, run with the strategy and with
   `g.withoutStrategies(Name)`: records read (summed over `--samples` start ids from the
   traversal's `profile()`, recordsRead of every step) and latency/throughput from
   `perf gremlin` (closed loop, `--connections`, the same traversal as a script);
2. `g.V().has('uid', <uuid>)` (one match) timed as a full scan, then again after
   `POST /index?name=...&kind=vertex&keys=uid` on the admin port is `ready`, with records
   read from `profile()` both times;
   (and, with `--edge-key K`, `g.V(hub).outE().has(K, gt(x)).count()` on the `--hubs`
   supernodes with and without SupernodePredicatePushdownStrategy: the server must run with
   `--indexed-edge-keys K`; PropertyOmissionStrategy's row reports property bytes decoded);
3. with that index ready, `g.V(hub).out().has('uid', <a neighbour's uid>).id()` on the
   `--hubs` vertices of highest out-degree in the first edge file (supernodes), with and
   without SupernodePredicatePushdownStrategy (index candidates vs an adjacency scan):
   records read and the median of `--mid-runs` sequential runs.
Prints a table and writes `--json`. Needs gremlinpython (COREGRAPH_PYTHON's, e.g.
target/ci-drivers/py/bin/python) and the `perf` binary.

  python: target/ci-drivers/py/bin/python perf/strategies.py --addr 127.0.0.1:28182 \\
      --admin 127.0.0.1:28184 --ids 100000 --graph-dir DIR --perf-bin target/release/perf
"""

import argparse
import csv
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

from gremlin_python.driver import client, serializer

# (strategy, traversal with {vid}): the traversal the strategy changes.
CASES = [
    ("VertexStepFusionStrategy", "g.V({vid}).out().out().dedup().count()"),
    ("VertexStepFusionStrategy", "g.V({vid}).out().id()"),
    ("HasPushdownStrategy", "g.V({vid}).out().hasLabel('person').id()"),
    ("LimitPushdownStrategy", "g.V({vid}).out().limit(2)"),
    ("LimitPushdownStrategy", "g.V({vid}).out().sample(2)"),
    ("LocalCountStrategy", "g.V({vid}).out().count()"),
    ("LocalCountStrategy", "g.V({vid}).both().count()"),
    ("PropertyOmissionStrategy", "g.V({vid}).out().values('name')"),
]


def log(msg):
    print(msg, flush=True)


def profile_count(metrics, name):
    """Sum of the count `name` over the steps of a profile() result (dict or object)."""
    total = 0
    steps = metrics.get("metrics", []) if isinstance(metrics, dict) else []
    for m in steps:
        counts = m.get("counts", {}) if isinstance(m, dict) else {}
        total += int(counts.get(name, 0))
    return total


def records_read(metrics):
    return profile_count(metrics, "recordsRead")


def profile_reads(cl, script, vids):
    """Records read and property bytes decoded, summed over the start ids."""
    total = 0
    prop = 0
    for v in vids:
        res = cl.submit(script.format(vid=repr(str(v))) + ".profile()").all().result()
        if not res:
            # Both paths answer exactly one profile() result, even when no traverser
            # reaches it; none means the server is older or broken.
            raise SystemExit(f"no profile() result for {script} with vid {v!r}")
        total += records_read(res[0])
        prop += profile_count(res[0], "propertyBytesDecoded")
    return total, prop


def perf_run(args, name, script_template):
    """Closed-loop latency of one script (ids uniform) with `perf gremlin`; its JSON row."""
    with tempfile.TemporaryDirectory() as d:
        wl = os.path.join(d, "w.workload")
        with open(wl, "w") as f:
            f.write(f"workload {name}\nwarmup {args.warmup}s\nduration {args.duration}s\n")
            f.write(f"param vid uniform 0 {args.ids - 1} as string\n")
            f.write(f"op q 1 eval {script_template.format(vid='vid')}\n")
        js = os.path.join(d, "r.json")
        cmd = [args.perf_bin, "gremlin", "--addr", args.addr, "--workload", wl,
               "--connections", str(args.connections), "--json", js, "--quiet"]
        if args.cpus:
            cmd = ["taskset", "-c", args.cpus] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(js) as f:
            report = json.load(f)
    return find_op(report)


def find_op(report):
    """The single op's row of a `perf gremlin --json` report: ops/s and latency in ms."""
    for w in report.get("workloads", []):
        for op in w.get("ops", []):
            lat = op.get("latency_us", {})
            return {"ops_per_s": op.get("throughput_per_s"),
                    "p50_ms": lat.get("p50", 0) / 1000, "p99_ms": lat.get("p99", 0) / 1000,
                    "p999_ms": lat.get("p99_9", 0) / 1000, "errors": op.get("errors", {})}
    raise SystemExit("no op row in the perf gremlin report")


def hubs(args):
    """The `--hubs` ids of highest out-degree in the first edge file."""
    if args.hubs <= 0:
        return []
    first = sorted(glob.glob(os.path.join(args.graph_dir, "edges", "**", "*.csv"), recursive=True))[0]
    deg = {}
    with open(first, newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        col = header.index("~from")
        for r in rd:
            deg[r[col]] = deg.get(r[col], 0) + 1
    return sorted(deg, key=lambda v: -deg[v])[:args.hubs]


def with_and_without(args, cl, trav):
    """Runs `trav` `args.mid_runs` times with SupernodePredicatePushdownStrategy and as many
    without; per mode: (mode, median latency in ms, last answer, records read by profile())."""
    for mode, script in (("with", trav), ("without", trav.replace(
            "g.", "g.withoutStrategies(SupernodePredicatePushdownStrategy).", 1))):
        lat = []
        for _ in range(args.mid_runs):
            t = time.perf_counter()
            res = cl.submit(script).all().result()
            lat.append((time.perf_counter() - t) * 1000)
        prof = cl.submit(script + ".profile()").all().result()
        lat.sort()
        yield mode, lat[len(lat) // 2], res, records_read(prof[0])


def mid_index(args, cl):
    """out().has(uid) on supernodes with and without the index candidates (uid index ready)."""
    out = []
    for hub in hubs(args):
        degree = cl.submit(f"g.V('{hub}').outE().count()").all().result()[0]
        uid = cl.submit(f"g.V('{hub}').out().limit(1).values('uid')").all().result()[0]
        trav = f"g.V('{hub}').out().has('uid', UUID(\"{uid}\")).id()"
        for mode, median_ms, res, reads in with_and_without(args, cl, trav):
            if len(res) < 1:
                raise SystemExit(f"{trav} ({mode}): no result")
            row = {"hub": hub, "out_degree": degree, "mode": mode, "median_ms": median_ms,
                   "records_read": reads}
            out.append(row)
            log(f"supernode out().has(uid) {json.dumps(row)}")
    return out


def edge_key_pushdown(args, cl):
    """outE().has(edge_key, gt(x)).count() on supernodes, with and without
    SupernodePredicatePushdownStrategy (the server must run with --indexed-edge-keys KEY)."""
    out = []
    for hub in hubs(args):
        degree = cl.submit(f"g.V('{hub}').outE().count()").all().result()[0]
        trav = f"g.V('{hub}').outE().has('{args.edge_key}', gt({args.edge_key_above})).count()"
        answers = {}
        for mode, median_ms, res, reads in with_and_without(args, cl, trav):
            answers[mode] = res
            row = {"hub": hub, "out_degree": degree, "mode": mode, "traversal": trav,
                   "answer": res[0] if res else None, "median_ms": median_ms,
                   "records_read": reads}
            out.append(row)
            log(f"supernode outE().has({args.edge_key}) {json.dumps(row)}")
        if answers.get("with") != answers.get("without"):
            raise SystemExit(f"{trav}: answers differ {answers}")
    return out


def admin(args, method, path):
    req = urllib.request.Request(f"http://{args.admin}{path}", method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addr", default="127.0.0.1:8182")
    ap.add_argument("--admin", default="127.0.0.1:8184")
    ap.add_argument("--ids", type=int, required=True, help="vertices of the generated graph")
    ap.add_argument("--graph-dir", required=True, help="the `coregraph gen` directory (for a uid)")
    ap.add_argument("--perf-bin", default="target/release/perf")
    ap.add_argument("--samples", type=int, default=50, help="start ids profiled per traversal")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--cpus", default="", help="taskset CPUs for the load generator")
    ap.add_argument("--lookups", type=int, default=20, help="has() lookups timed per mode")
    ap.add_argument("--scan-timeout-ms", type=int, default=0,
                    help="evaluationTimeout of each full-scan has() (0: the server's)")
    ap.add_argument("--skip-strategies", action="store_true", help="only the has() and supernode parts")
    ap.add_argument("--mid-runs", type=int, default=10, help="runs timed per supernode and mode")
    ap.add_argument("--hubs", type=int, default=3, help="supernodes tried for the mid-traversal index")
    ap.add_argument("--edge-key", default="",
                    help="an indexed edge key (serve --indexed-edge-keys): outE().has(key, gt(x)) on the hubs")
    ap.add_argument("--edge-key-above", default="0.9", help="the x of that filter")
    ap.add_argument("--only-edge-key", action="store_true",
                    help="stop after the strategies and the edge-key part (no has(uid) part)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    cl = client.Client(f"ws://{args.addr}/gremlin", "g",
                       message_serializer=serializer.GraphSONSerializersV3d0())
    rng = random.Random(7)
    vids = [rng.randrange(args.ids) for _ in range(args.samples)]
    rows = []
    log(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average {os.getloadavg()}")
    for strategy, trav in ([] if args.skip_strategies else CASES):
        without = trav.replace("g.", f"g.withoutStrategies({strategy}).", 1)
        for mode, script in (("with", trav), ("without", without)):
            reads, prop = profile_reads(cl, script, vids)
            row = perf_run(args, f"{strategy}-{mode}", script)
            rows.append({"strategy": strategy, "traversal": trav, "mode": mode,
                         "records_read_per_query": reads / len(vids),
                         "property_bytes_decoded_per_query": prop / len(vids), "perf": row})
            log(f"{strategy:36} {mode:8} {trav:48} reads/query {reads / len(vids):8.1f} "
                f"property bytes/query {prop / len(vids):9.1f}  {json.dumps(row)}")
    edge_key = edge_key_pushdown(args, cl) if args.edge_key else []
    if args.only_edge_key:
        cl.close()
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"strategies": rows, "edge_key": edge_key}, f, indent=1)
        return

    # Indexed has() against a scan: a uid of the generated graph (one match).
    first = sorted(glob.glob(os.path.join(args.graph_dir, "vertices", "**", "*.csv"), recursive=True))[0]
    with open(first, newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        uid_col = next(i for i, h in enumerate(header) if h.startswith("uid:"))
        uids = [r[uid_col] for _, r in zip(range(args.lookups), rd)]
    q = "g.V().has('uid', UUID(\"{u}\")).id()"
    try:
        admin(args, "DELETE", "/index?name=bench_uid")
    except Exception:
        pass

    def time_lookups(timeout_ms=0):
        lat = []
        reads = 0
        opts = {"evaluationTimeout": timeout_ms} if timeout_ms else None
        for u in uids:
            t = time.perf_counter()
            try:
                res = cl.submit(q.format(u=u), request_options=opts).all().result()
            except Exception as e:  # the server's evaluationTimeout: the scan is slower
                if "timeout" not in str(e).lower():
                    raise
                return {"timed_out_after_ms": timeout_ms or "server default", "elapsed_ms":
                        (time.perf_counter() - t) * 1000}
            lat.append((time.perf_counter() - t) * 1000)
            if len(res) != 1:
                raise SystemExit(f"uid {u}: {len(res)} results")
            prof = cl.submit(q.format(u=u) + ".profile()", request_options=opts).all().result()
            reads += records_read(prof[0])
        lat.sort()
        return {"median_ms": lat[len(lat) // 2], "max_ms": lat[-1],
                "records_read_per_query": reads / len(uids)}

    scan = time_lookups(args.scan_timeout_ms)
    log(f"has(uid) full scan:  {json.dumps(scan)}")
    admin(args, "POST", "/index?name=bench_uid&kind=vertex&keys=uid")
    for _ in range(600):
        st = admin(args, "GET", "/index")
        if "bench_uid" in st and "ready" in st and "building" not in st:
            break
        time.sleep(1)
    log(f"index status: {st.strip()[:300]}")
    indexed = time_lookups()
    log(f"has(uid) indexed:    {json.dumps(indexed)}")
    mid = mid_index(args, cl)
    admin(args, "DELETE", "/index?name=bench_uid")
    cl.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"strategies": rows, "has_scan": scan, "has_indexed": indexed,
                       "mid_index": mid}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
