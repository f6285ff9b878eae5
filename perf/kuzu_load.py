"""Kuzu `COPY FROM` of a `coregraph gen` directory (the files `coregraph load` reads), timed,
for the "Bulk load" comparison in docs/PERF.md (issue 6).

Usage (the venv is created by --setup, or by hand: python3 -m venv target/kuzu-venv;
target/kuzu-venv/bin/pip install kuzu==0.11.3):

    python3 perf/kuzu_load.py --setup                      # creates target/kuzu-venv
    taskset -c 0,1 target/kuzu-venv/bin/python perf/kuzu_load.py GEN_DIR WORK_DIR \
        --threads 2 --buffer-pool-mib 4096 [--expect-vertices N --expect-edges M]

What it does:
1. Conversion (timed on its own): the generated edge files are `~id,~from,~to,~label,
   weight:Double`; Kuzu's `COPY` into a relationship table takes the FROM and TO keys as
   its first two columns. Each edge file is rewritten to WORK_DIR/edges-kuzu/ as
   `from,to,id,label,weight` (the csv module, RFC 4180 quoting kept). Vertex files are
   read as they are (`~id,~label,name,age,score,created,uid`, matched by position).
2. One node table V and one rel table E (FROM V TO V) with the generated schema's columns.
3. `COPY V FROM [vertex files]`, then `COPY E FROM [converted edge files]`, each timed,
   then CHECKPOINT (data durable in the database directory), timed.
4. Check: node and rel counts; with --expect-*, the exit status is 1 when they differ.
Prints one JSON line with every figure.
"""

import argparse
import csv
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import time

KUZU_VERSION = "0.11.3"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, "target", "kuzu-venv")


def setup():
    """Create target/kuzu-venv with the pinned kuzu."""
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run(
        [os.path.join(VENV, "bin", "pip"), "install", "-q", f"kuzu=={KUZU_VERSION}"], check=True
    )


def rm_path(path):
    """Remove a file or a directory tree (Kuzu 0.11's database is one file plus a .wal)."""
    for p in (path, path + ".wal"):
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)


def convert_edges(files, out_dir):
    """Rewrite ~id,~from,~to,~label,weight as from,to,id,label,weight; returns rows written."""
    os.makedirs(out_dir, exist_ok=True)
    rows = 0
    outs = []
    for f in files:
        out = os.path.join(out_dir, os.path.basename(f))
        with open(f, newline="") as src, open(out, "w", newline="") as dst:
            reader = csv.reader(src)
            writer = csv.writer(dst, lineterminator="\n")
            header = next(reader, None)
            if header is None:
                continue
            col = {name.split(":")[0]: i for i, name in enumerate(header)}
            for need in ("~id", "~from", "~to", "~label"):
                if need not in col:
                    sys.exit(f"{f}: header lacks {need}: {header}")
            rest = [i for i, name in enumerate(header) if not name.startswith("~")]
            order = [col["~from"], col["~to"], col["~id"], col["~label"], *rest]
            writer.writerow(["from", "to", "id", "label", *(header[i].split(":")[0] for i in rest)])
            for row in reader:
                writer.writerow([row[i] for i in order])
                rows += 1
        outs.append(out)
    return outs, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gen_dir", nargs="?")
    ap.add_argument("work_dir", nargs="?", help="gets edges-kuzu/ and kuzu-db/ (both replaced)")
    ap.add_argument("--setup", action="store_true", help="create target/kuzu-venv and exit")
    ap.add_argument("--threads", type=int, default=2, help="Kuzu max_num_threads")
    ap.add_argument("--buffer-pool-mib", type=int, default=4096)
    ap.add_argument("--expect-vertices", type=int)
    ap.add_argument("--expect-edges", type=int)
    ap.add_argument("--keep", action="store_true", help="keep the database and converted files")
    args = ap.parse_args()
    if args.setup:
        setup()
        return 0
    if not args.gen_dir or not args.work_dir:
        ap.error("GEN_DIR and WORK_DIR are required")
    import kuzu  # the venv's

    vfiles = sorted(glob.glob(os.path.join(args.gen_dir, "vertices", "**", "*.csv"), recursive=True))
    efiles = sorted(glob.glob(os.path.join(args.gen_dir, "edges", "**", "*.csv"), recursive=True))
    conv_dir = os.path.join(args.work_dir, "edges-kuzu")
    db_dir = os.path.join(args.work_dir, "kuzu-db")
    rm_path(conv_dir)
    rm_path(db_dir)

    t0 = time.time()
    conv_files, conv_rows = convert_edges(efiles, conv_dir)
    t_conv = time.time() - t0

    db = kuzu.Database(
        db_dir, buffer_pool_size=args.buffer_pool_mib << 20, max_num_threads=args.threads
    )
    conn = kuzu.Connection(db, num_threads=args.threads)
    conn.execute(
        "CREATE NODE TABLE V(id STRING PRIMARY KEY, label STRING, name STRING, age INT32,"
        " score DOUBLE, created TIMESTAMP, uid UUID)"
    )
    conn.execute("CREATE REL TABLE E(FROM V TO V, id STRING, label STRING, weight DOUBLE)")
    t1 = time.time()
    conn.execute(f"COPY V FROM {vfiles!r} (header=true)")
    t2 = time.time()
    conn.execute(f"COPY E FROM {conv_files!r} (header=true)")
    t3 = time.time()
    conn.execute("CHECKPOINT")
    t4 = time.time()
    nv = conn.execute("MATCH (v:V) RETURN count(*)").get_next()[0]
    ne = conn.execute("MATCH ()-[e:E]->() RETURN count(*)").get_next()[0]
    db_bytes = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(db_dir) for f in fs
    ) if os.path.isdir(db_dir) else os.path.getsize(db_dir)
    ok = (args.expect_vertices is None or nv == args.expect_vertices) and (
        args.expect_edges is None or ne == args.expect_edges
    )
    out = {
        "kuzu": kuzu.__version__,
        "threads": args.threads,
        "buffer_pool_mib": args.buffer_pool_mib,
        "convert_s": round(t_conv, 2),
        "convert_rows": conv_rows,
        "copy_nodes_s": round(t2 - t1, 2),
        "copy_rels_s": round(t3 - t2, 2),
        "checkpoint_s": round(t4 - t3, 2),
        "load_s_without_convert": round(t4 - t1, 2),
        "edges_per_s_copy_rels": round(ne / max(t3 - t2, 1e-9)),
        "edges_per_s_load_without_convert": round(ne / max(t4 - t1, 1e-9)),
        "edges_per_s_with_convert": round(ne / max(t4 - t1 + t_conv, 1e-9)),
        "vertices": nv,
        "edges": ne,
        "expect_vertices": args.expect_vertices,
        "expect_edges": args.expect_edges,
        "counts_ok": ok,
        "db_bytes": db_bytes,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(out), flush=True)
    del conn, db
    if not args.keep:
        rm_path(conv_dir)
        rm_path(db_dir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
