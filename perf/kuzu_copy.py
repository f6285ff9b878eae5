"""Kuzu `COPY FROM` of a `coregraph gen` directory (the same CSV files `coregraph load` reads),
for the comparison in docs/PERF.md. Usage: python kuzu_copy.py GEN_DIR DB_DIR THREADS"""
import glob
import os
import sys
import time

import kuzu

gen, db_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = kuzu.Database(db_dir, max_num_threads=threads)
conn = kuzu.Connection(db, num_threads=threads)
conn.execute(
    "CREATE NODE TABLE V(id STRING PRIMARY KEY, label STRING, name STRING, age INT32,"
    " score DOUBLE, created TIMESTAMP, uid UUID)"
)
conn.execute("CREATE REL TABLE E(FROM V TO V, id STRING, label STRING, weight DOUBLE)")
t0 = time.time()
vfiles = sorted(glob.glob(os.path.join(gen, "vertices", "*.csv")))
efiles = sorted(glob.glob(os.path.join(gen, "edges", "*.csv")))
conn.execute(f"COPY V FROM {vfiles!r} (header=true)")
t1 = time.time()
# Edge files are ~id,~from,~to,~label,weight: Kuzu wants from and to first.
for f in efiles:
    conn.execute(
        f"COPY E FROM (LOAD FROM '{f}' (header=false, skip=1) "
        "RETURN column1, column2, column0, column3, cast(column4, 'DOUBLE'))"
    )
t2 = time.time()
nv = conn.execute("MATCH (v:V) RETURN count(*)").get_next()[0]
ne = conn.execute("MATCH ()-[e:E]->() RETURN count(*)").get_next()[0]
conn.execute("CHECKPOINT")
t3 = time.time()
print(
    f"kuzu {kuzu.__version__}: {nv} vertices in {t1 - t0:.2f} s, {ne} edges in {t2 - t1:.2f} s"
    f" ({ne / max(t2 - t1, 1e-9):.0f} edges/s), checkpoint {t3 - t2:.2f} s, total {t3 - t0:.2f} s"
)
