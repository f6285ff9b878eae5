#!/usr/bin/env python3
"""Machine fact for docs/PERF.md: what a fresh anonymous page costs the process.

Maps GIB GiB of anonymous memory, writes one byte per 4 KiB page (so the kernel faults in
and zeroes every page), unmaps it, and repeats REPS times; prints seconds and microseconds
per 4 KiB page for each repetition. With --huge the mapping is madvise(MADV_HUGEPAGE)d
first (transparent huge pages in "madvise" mode). Python's loop adds about 0.05 s per GiB.

On a VM whose host backs guest memory lazily (and takes freed pages back), a fresh page
can cost several microseconds instead of a fraction of one: the bulk loader's peak heap
is then paid for mostly in page faults (docs/PERF.md, "Bulk load").

    python3 perf/fresh_pages.py [--gib 4] [--reps 3] [--huge]
"""

import argparse
import mmap
import time

PAGE = 4096


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=int, default=4, help="GiB mapped per repetition")
    ap.add_argument("--reps", type=int, default=3, help="repetitions")
    ap.add_argument("--huge", action="store_true", help="madvise(MADV_HUGEPAGE) the mapping")
    a = ap.parse_args()
    n = a.gib << 30
    times = []
    for rep in range(a.reps):
        t = time.perf_counter()
        m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if a.huge:
            m.madvise(mmap.MADV_HUGEPAGE)
        for i in range(0, n, PAGE):
            m[i] = 1
        dt = time.perf_counter() - t
        m.close()
        times.append(dt)
        print(
            f"rep {rep}: {a.gib} GiB ({n // PAGE} pages{', MADV_HUGEPAGE' if a.huge else ''}) "
            f"in {dt:.2f} s: {dt / (n // PAGE) * 1e6:.2f} us per 4 KiB page",
            flush=True,
        )
    times.sort()
    med = times[len(times) // 2]
    print(f"median: {med:.2f} s, {med / (n // PAGE) * 1e6:.2f} us per 4 KiB page")


if __name__ == "__main__":
    main()
