#!/usr/bin/env python3
"""bench/external_report.py DIR — turns DIR/raw.csv and DIR/meta.txt
(written by bench/external.sh) into DIR/results.md and DIR/chart.dat (the
gnuplot input of bench/chart.gp).

Medians over the runs that succeeded. A row's primary figure is the
throughput the workload printed where it has one (higher is better), its
CPU time otherwise (lower is better); every allocator's median is given
as a ratio to the best peer's (hakmem is never a peer), oriented so that
above 1 is worse: time / best time, best throughput / throughput."""
import csv
import os
import sys

# The parsing and number formats of make bench's report (same folder).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt_rate, fmt_ratio, fnum, med, read_meta  # noqa: E402

PEERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc", "scudo"]

DESCR = {
    "larsonN-sized": "larson server churn, C++ sized delete; throughput (ops/s)",
    "xmalloc-testN": "producer threads allocate, consumer threads free (every free remote); frees/s",
    "alloc-test1": "random sizes, random-order frees near capacity, 1 thread; CPU s",
    "alloc-testN": "the same, N threads; CPU s",
    "sh6benchN": "MicroQuill SmartHeap benchmark, 2N threads; CPU s",
    "sh8benchN": "MicroQuill SmartHeap benchmark 8, 2N threads, cross-thread frees; CPU s",
    "glibc-simple": "glibc's malloc microbenchmark, single thread; CPU s",
    "glibc-thread": "glibc's threaded microbenchmark, fixed time; iterations",
    "rptestN": "rpmalloc's test, cross-thread frees; memory ops per CPU second",
    "cfrac": "continued-fraction factorisation (many small bignums); CPU s",
    "espresso": "logic minimiser (small blocks, long-lived program); CPU s",
    "cache-scratch1": "passive false sharing (built with -fno-allocation-dce); CPU s",
    "cache-thrash1": "active false sharing (built with -fno-allocation-dce); CPU s",
    "mstressN": "mixed sizes and lifetimes, threads; CPU s",
    "malloc-large": "large blocks 2–25 MiB; CPU s",
    "git-log-p": "git log -p of the newest commits (EXT_SUITE=real); CPU s",
    "git-blame": "git blame of one file through its whole history; CPU s",
    "git-pack": "git pack-objects --all (what git repack does) into /dev/null; CPU s",
    "sqlite": "sqlite3 queries on a generated 400 MiB database (bench/real.sql); CPU s",
}


def main():
    d = sys.argv[1]
    meta = read_meta(d)
    rows = list(csv.DictReader(open(os.path.join(d, "raw.csv"))))
    works, allocs = [], []
    for r in rows:
        if r["workload"] not in works:
            works.append(r["workload"])
        if r["allocator"] not in allocs:
            allocs.append(r["allocator"])
    tput_of = {w: meta.get(f"args_{w}", "|").rsplit("|", 1)[1] != "" for w in works}

    def cells(w, a, field):
        return [fnum(r[field]) for r in rows
                if r["workload"] == w and r["allocator"] == a and r["status"] == "ok"]

    def runs(w, a):
        rs = [r for r in rows if r["workload"] == w and r["allocator"] == a]
        return sum(r["status"] == "ok" for r in rs), len(rs)

    prim, cpu, wall, rss = {}, {}, {}, {}
    for w in works:
        for a in allocs:
            cpu[w, a] = med(cells(w, a, "cpu_s"))
            wall[w, a] = med(cells(w, a, "wall_s"))
            rss[w, a] = med(cells(w, a, "maxrss_kb"))
            prim[w, a] = med(cells(w, a, "throughput")) if tput_of[w] else cpu[w, a]

    def best(w, table, higher):
        vals = [(table[w, a], a) for a in allocs if a in PEERS and table[w, a] is not None]
        if not vals:
            return None, None
        return (max if higher else min)(vals)

    def ratio(v, b, higher):
        if v is None or b is None or v == 0 or b == 0:
            return None
        return b / v if higher else v / b

    L = []
    real = meta.get("suite") == "real"
    if real:
        git, _, repo = meta.get("git", "?|").partition("|")
        sqlite, _, nrows = meta.get("sqlite", "?|").partition("|")
        L.append("# hakmem on real programs\n")
        what = (f"`make bench-real` (bench/external.sh, EXT_SUITE=real), {meta.get('date', '?')}; "
                f"{git}" + (f" on a repository at {repo}" if repo else "") +
                f", sqlite3 {sqlite} on {nrows}; ")
    else:
        L.append("# hakmem on mimalloc-bench workloads\n")
        what = (f"`make bench-external` (bench/external.sh), {meta.get('date', '?')}; "
                f"suite commit {meta.get('suite', '?')} built with {meta.get('compiler', '?')} -O2 -DNDEBUG; ")
    L.append(f"Written by {what}"
             f"{meta.get('nproc', '?')} processors ({meta.get('cpu', '?')}), {meta.get('kernel', '?')}; "
             f"hakmem commit {meta.get('commit', '?')}; "
             + ("" if real else f"concurrency N = {meta.get('procs', '?')}; ") +
             f"{meta.get('reps', '?')} interleaved reps; load average "
             f"{meta.get('load_start', '?')} at start, {meta.get('load_end', '?')} at end; "
             f"{meta.get('elapsed_s', '?')} s.\n")
    L.append("Each cell: the median, then its ratio to the best peer's median "
             "(glibc, mimalloc, jemalloc, tcmalloc, Scudo), where above 1 is worse "
             "(time / best time, best throughput / throughput). "
             "The figure is the workload's throughput where it runs for a fixed time "
             "(and rptest's memory operations per CPU second), CPU time (user + system) "
             "otherwise. **Bold**: the best of the row, hakmem included. "
             "A cell with fewer successful runs than reps says so (ok/runs).\n")
    L.append("| workload | figure | " + " | ".join(allocs) + " | best peer |")
    L.append("|---|---|" + "---|" * len(allocs) + "---|")
    chart = []
    for w in works:
        higher = tput_of[w]
        b, bn = best(w, prim, higher)
        allv = [(prim[w, a], a) for a in allocs if prim[w, a] is not None]
        top = (max if higher else min)(allv)[1] if allv else None
        cs, ch = [], []
        for a in allocs:
            v = prim[w, a]
            ok, n = runs(w, a)
            if v is None:
                cs.append("failed" if n else "–")
                ch.append("NaN")
                continue
            r = ratio(v, b, higher)
            s = (fmt_rate(v) if higher else f"{v:.2f} s") + f" ({fmt_ratio(r)})"
            if a == top:
                s = f"**{s}**"
            if ok < n:
                s += f" {ok}/{n}"
            cs.append(s)
            ch.append(f"{r:.4f}" if r is not None else "NaN")
        fig = "ops/s" if higher else "CPU s"
        L.append(f"| {w} | {fig} | " + " | ".join(cs) + f" | {bn or '–'} |")
        chart.append((w, ch))

    L.append("\nPeak RSS (MiB, median; ratio to the lowest peer's):\n")
    L.append("| workload | " + " | ".join(allocs) + " |")
    L.append("|---|" + "---|" * len(allocs))
    for w in works:
        b, _ = best(w, rss, False)
        cs = []
        for a in allocs:
            v = rss[w, a]
            cs.append("–" if v is None else f"{v / 1024:.1f} ({fmt_ratio(ratio(v, b, False))})")
        L.append(f"| {w} | " + " | ".join(cs) + " |")

    tw = [w for w in works if tput_of[w] and w != "rptestN"]
    if tw:
        L.append("\nThroughput per CPU second of the fixed-time workloads (median of "
                 "each run's throughput / its CPU time; ratio to the best peer's): on a "
                 "loaded machine a program that runs for a fixed wall time gets what "
                 "CPU its neighbours leave it, and this figure depends less on that "
                 "(it counts any spinning the program does as work, though).\n")
        L.append("| workload | " + " | ".join(allocs) + " |")
        L.append("|---|" + "---|" * len(allocs))
        per = {}
        for w in tw:
            for a in allocs:
                xs = [fnum(r["throughput"]) / fnum(r["cpu_s"]) for r in rows
                      if r["workload"] == w and r["allocator"] == a and r["status"] == "ok"
                      and fnum(r["throughput"]) and fnum(r["cpu_s"])]
                per[w, a] = med(xs)
            b, _ = best(w, per, True)
            L.append(f"| {w} | " + " | ".join(
                "–" if per[w, a] is None else
                f"{fmt_rate(per[w, a])} ({fmt_ratio(ratio(per[w, a], b, True))})"
                for a in allocs) + " |")

    L.append("\nWall time (s, median; a shared machine's wall time includes its neighbours):\n")
    L.append("| workload | " + " | ".join(allocs) + " |")
    L.append("|---|" + "---|" * len(allocs))
    for w in works:
        L.append(f"| {w} | " + " | ".join(
            "–" if wall[w, a] is None else f"{wall[w, a]:.2f}" for a in allocs) + " |")

    L.append("\nSpread of the primary figure (min–max over the successful runs):\n")
    L.append("| workload | " + " | ".join(allocs) + " |")
    L.append("|---|" + "---|" * len(allocs))
    for w in works:
        cs = []
        for a in allocs:
            xs = [x for x in cells(w, a, "throughput" if tput_of[w] else "cpu_s") if x is not None]
            cs.append("–" if not xs else
                      (f"{fmt_rate(min(xs))}–{fmt_rate(max(xs))}" if tput_of[w]
                       else f"{min(xs):.2f}–{max(xs):.2f}"))
        L.append(f"| {w} | " + " | ".join(cs) + " |")

    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        L.append("\nRuns that did not succeed:\n")
        for r in failed:
            L.append(f"- {r['workload']} / {r['allocator']} run {r['run']}: {r['status']} {r['note']}")

    L.append("\nWorkloads:\n" if real else
             "\nWorkloads (arguments are mimalloc-bench's bench.sh's):\n")
    for w in works:
        args = meta.get(f"args_{w}", "?|").rsplit("|", 1)[0]
        L.append(f"- **{w}** `{args}`: {DESCR.get(w, '')}")
    L.append("\nLibraries:\n")
    for a in allocs:
        lib, ver = (meta.get(f"lib_{a}", "?|").rsplit("|", 1) + [""])[:2]
        L.append(f"- {a}: {lib} {ver}")
    L.append("\n![ratio to the best peer](chart.png)\n")
    with open(os.path.join(d, "results.md"), "w") as fh:
        fh.write("\n".join(L) + "\n")

    with open(os.path.join(d, "chart.dat"), "w") as fh:
        fh.write("workload " + " ".join(allocs) + "\n")
        for w, ch in chart:
            fh.write(w + " " + " ".join(ch) + "\n")


if __name__ == "__main__":
    main()
