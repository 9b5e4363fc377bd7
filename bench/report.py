#!/usr/bin/env python3
"""bench/report.py DIR — turns DIR/raw.csv, DIR/futex.csv and DIR/meta.txt
(written by bench/run.sh) into DIR/results.md, DIR/results.csv and
DIR/chart.dat (the gnuplot input of bench/chart.gp).

Medians over the runs that succeeded; every figure also as a ratio to
mimalloc's median of the same figure in the same invocation."""
import csv
import os
import statistics
import sys

REF = "mimalloc"

DESCR = {
    "tiny16": "LIFO malloc/free pairs, 16 B (the fast path alone)",
    "tiny64": "LIFO malloc/free pairs, 64 B",
    "tiny256": "LIFO malloc/free pairs, 256 B",
    "tiny1024": "LIFO malloc/free pairs, 1 KiB",
    "window": "1000 live blocks of 8 B–1 KiB, a random one replaced each step",
    "larson": "server churn: threads replace random blocks of 16–512 B in their arrays, one step in 8 hands the block to another thread",
    "prodcons": "producer/consumer pairs through lock-free SPSC rings, 16–256 B: every free is remote",
    "falseshare": "cache-scratch: 8 B blocks allocated side by side by the main thread, freed by the workers, then malloc/increment every byte 1000 times/free per thread",
    "mid": "64 live blocks of 1–32 KiB, a random one replaced each step, a word written every 256 B",
    "large": "4 live blocks of 64 KiB–8 MiB (log-uniform), a random one replaced each step, every page touched",
    "realloc": "grow a buffer by 1–128 B steps to 4 MiB with realloc, writing every new byte; repeated",
    "memory": "live blocks of 16–128 B, freed in random order, then malloc_trim(0); RSS before, at peak, after",
}


def read_meta(d):
    meta = {}
    p = os.path.join(d, "meta.txt")
    if os.path.exists(p):
        for line in open(p):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


def fnum(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_ratio(r):
    if r is None:
        return "–"
    return f"{r:.2f}" if r < 10 else f"{r:.1f}"


def fmt_time(s):
    if s is None:
        return "–"
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def fmt_rate(x):
    if x is None:
        return "–"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def fmt_mib(kb):
    if kb is None:
        return "–"
    mib = kb / 1024
    return f"{mib:.1f}" if mib < 100 else f"{mib:.0f}"


def main():
    d = sys.argv[1]
    meta = read_meta(d)
    allocs = [k[4:] for k in meta if k.startswith("lib_")]
    workloads = [k[5:] for k in meta if k.startswith("args_")]

    rows = []
    rawp = os.path.join(d, "raw.csv")
    if os.path.exists(rawp):
        rows = list(csv.DictReader(open(rawp)))
    for r in rows:  # runs of a previous invocation (futex-only mode)
        if r["allocator"] not in allocs:
            allocs.append(r["allocator"])
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    if REF in allocs:  # reference first
        allocs.remove(REF)
        allocs.insert(0, REF)
    workloads = [w for w in workloads if any(r["workload"] == w for r in rows)]

    def extra(r):
        out = {}
        for kv in (r.get("extra") or "").split(";"):
            if "=" in kv:
                k, v = kv.split("=", 1)
                out[k] = v
        return out

    # cell[(w, a)] = {"runs": n, "ok": [...rows], "bad": [...rows]}
    cells = {}
    for r in rows:
        c = cells.setdefault((r["workload"], r["allocator"]), {"ok": [], "bad": []})
        (c["ok"] if r["status"] == "ok" else c["bad"]).append(r)

    metrics = [("wall_s", "s", lambda r: fnum(r["wall_s"])),
               ("maxrss_kb", "KiB", lambda r: fnum(r["maxrss_kb"])),
               ("ops_per_sec", "ops/s", lambda r: fnum(r["ops_per_sec"])),
               ("inner_s", "s", lambda r: fnum(r["inner_s"]))]
    mem_metrics = [("rss_start_kb", "KiB"), ("rss_peak_kb", "KiB"),
                   ("rss_free_kb", "KiB"), ("hwm_kb", "KiB")]

    stats = {}  # (w, a, metric) -> (median, min, max, n_ok, n)
    for (w, a), c in cells.items():
        n = len(c["ok"]) + len(c["bad"])
        ms = [(m, u, f) for m, u, f in metrics]
        if w == "memory":
            ms += [(m, u, (lambda r, m=m: fnum(extra(r).get(m)))) for m, u in mem_metrics]
        for m, u, f in ms:
            xs = [f(r) for r in c["ok"]]
            xs = [x for x in xs if x is not None]
            stats[(w, a, m)] = (med(xs), min(xs) if xs else None,
                                max(xs) if xs else None, len(c["ok"]), n, u)

    def ratio(w, a, m):
        s, ref = stats.get((w, a, m)), stats.get((w, REF, m))
        if not s or not ref or s[0] is None or not ref[0]:
            return None
        return s[0] / ref[0]

    # ---- futex ----
    futex = {}
    fp = os.path.join(d, "futex.csv")
    if os.path.exists(fp):
        for r in csv.DictReader(open(fp)):
            f = futex.setdefault(r["allocator"], {"calls": [], "errors": [], "secs": [], "bad": 0})
            if r["status"] == "ok":
                f["calls"].append(int(r["futex_calls"]))
                f["errors"].append(int(r["futex_errors"]))
                f["secs"].append(float(r["secs"]))
            else:
                f["bad"] += 1

    # ---- results.csv ----
    with open(os.path.join(d, "results.csv"), "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["workload", "allocator", "metric", "unit", "median", "min", "max",
                     "runs_ok", "runs", "ratio_to_mimalloc"])
        for w in workloads:
            for a in allocs:
                for (ww, aa, m), (md, lo, hi, nok, n, u) in stats.items():
                    if ww == w and aa == a:
                        r = ratio(w, a, m)
                        wr.writerow([w, a, m, u, "" if md is None else f"{md:.6g}",
                                     "" if lo is None else f"{lo:.6g}",
                                     "" if hi is None else f"{hi:.6g}", nok, n,
                                     "" if r is None else f"{r:.4f}"])
        ref = med(futex.get(REF, {}).get("calls", []))
        for a in allocs:
            f = futex.get(a)
            if not f:
                continue
            md = med(f["calls"])
            r = md / ref if (md is not None and ref) else None
            wr.writerow(["prodcons-futex", a, "futex_calls", "calls",
                         "" if md is None else f"{md:g}",
                         min(f["calls"]) if f["calls"] else "",
                         max(f["calls"]) if f["calls"] else "",
                         len(f["calls"]), len(f["calls"]) + f["bad"],
                         "" if r is None else f"{r:.4f}"])

    # ---- chart.dat: time ratio per workload, one column per allocator ----
    with open(os.path.join(d, "chart.dat"), "w") as fh:
        fh.write("workload " + " ".join(allocs) + "\n")
        for w in workloads:
            vals = []
            for a in allocs:
                r = ratio(w, a, "wall_s")
                vals.append("NaN" if r is None else f"{r:.4f}")
            fh.write(w + " " + " ".join(vals) + "\n")

    # ---- results.md ----
    L = []
    L.append("# hakmem benchmarks\n")
    quick = meta.get("quick") == "1"
    L.append(("**Quick (smoke) run: small counts, not for comparison.**\n" if quick else ""))
    L.append(f"- Date: {meta.get('date', '?')}; hakmem commit {meta.get('commit', '?')}")
    L.append(f"- Machine: {meta.get('nproc', '?')} CPUs, {meta.get('cpu', '?')}, "
             f"{meta.get('kernel', '?')}, glibc {meta.get('glibc', '?')}")
    L.append(f"- Load average (1/5/15 min) at start {meta.get('load_start', '?')}, "
             f"at end {meta.get('load_end', '?')}: the machine is shared, figures are medians")
    L.append(f"- {meta.get('runs', '?')} runs per workload and allocator, allocators "
             f"interleaved within each workload (A B C … A B C …); wall time and "
             f"peak RSS from GNU time (`/usr/bin/time -f '%e %M'`, 10 ms resolution); "
             f"the whole run took {meta.get('elapsed_s', '?')} s")
    L.append(f"- Ratios: the allocator's median divided by mimalloc's median of the "
             f"same figure in this run; a run that crashed, timed out or failed its "
             f"own verification is left out of the medians and listed below\n")

    L.append("| allocator | library | version |")
    L.append("|---|---|---|")
    for a in allocs:
        v = meta.get("lib_" + a, "|")
        lib, _, ver = v.partition("|")
        L.append(f"| {a} | `{lib}` | {ver} |")
    L.append("")

    def cell_status(w, a):
        c = cells.get((w, a))
        if not c:
            return None
        if not c["ok"]:
            kinds = sorted({r["status"] for r in c["bad"]})
            if set(kinds) <= {"timeout", "skipped"}:
                return f"> {meta.get('timeout', '?')} s (timeout)"
            return "FAILED (" + ", ".join(kinds) + ")"
        return None

    def mark(w, a):
        c = cells.get((w, a))
        return "" if not c or not c["bad"] else f" †{len(c['bad'])}"

    hdr = "| workload | " + " | ".join(allocs) + " |"
    sep = "|---|" + "---:|" * len(allocs)

    L.append("## Wall time, ratio to mimalloc (lower is better)\n")
    L.append("Each cell: median wall time ÷ mimalloc's, and the median wall time. "
             "† n: n runs of that cell failed (see Failures).\n")
    L.append(hdr)
    L.append(sep)
    for w in workloads:
        cs = []
        for a in allocs:
            st = cell_status(w, a)
            if st:
                cs.append(st)
                continue
            s = stats.get((w, a, "wall_s"))
            cs.append(f"{fmt_ratio(ratio(w, a, 'wall_s'))} ({fmt_time(s[0] if s else None)}){mark(w, a)}")
        L.append(f"| {w} | " + " | ".join(cs) + " |")
    L.append("")
    short = [f"{w}/{a} ({stats[(w, a, 'wall_s')][0]:.2f} s)" for w in workloads for a in allocs
             if (w, a, "wall_s") in stats and stats[(w, a, "wall_s")][0] is not None
             and stats[(w, a, "wall_s")][0] < 0.2]
    if short:
        L.append("Medians under 0.2 s, where GNU time's 10 ms resolution makes the ratio "
                 "coarse (the workload's own timer is in results.csv as inner_s): "
                 + ", ".join(short) + ".\n")
    L.append("![time ratio to mimalloc](chart.png)\n")

    mt = [w for w in workloads if meta.get("args_" + w, "|0").endswith("|1")]
    if mt:
        L.append("## Throughput of the multi-threaded workloads (higher is better)\n")
        L.append("Each cell: median ops/s reported by the workload (its own timer; "
                 "ops = blocks allocated and freed), and the ratio to mimalloc.\n")
        L.append(hdr)
        L.append(sep)
        for w in mt:
            cs = []
            for a in allocs:
                st = cell_status(w, a)
                if st:
                    cs.append(st)
                    continue
                s = stats.get((w, a, "ops_per_sec"))
                cs.append(f"{fmt_rate(s[0] if s else None)} ({fmt_ratio(ratio(w, a, 'ops_per_sec'))})")
            L.append(f"| {w} | " + " | ".join(cs) + " |")
        L.append("")

    L.append("## Peak RSS (GNU time's maximum resident set size)\n")
    L.append("Each cell: median peak RSS in MiB, and the ratio to mimalloc.\n")
    L.append(hdr)
    L.append(sep)
    for w in workloads:
        cs = []
        for a in allocs:
            st = cell_status(w, a)
            if st:
                cs.append("–")
                continue
            s = stats.get((w, a, "maxrss_kb"))
            cs.append(f"{fmt_mib(s[0] if s else None)} ({fmt_ratio(ratio(w, a, 'maxrss_kb'))})")
        L.append(f"| {w} | " + " | ".join(cs) + " |")
    L.append("")

    if "memory" in workloads:
        L.append("## Memory workload: resident set before, at peak, after free + malloc_trim(0)\n")
        args = meta.get("args_memory", "").split("|")[0]
        L.append(f"`{args}`: the blocks are freed in random order; `malloc_trim` is "
                 "looked up with dlsym, so it is the preloaded allocator's if it "
                 "exports one, glibc's otherwise (which then trims only glibc's own "
                 "arena). The mmap'ed pointer array (about 12 B per block) counts in "
                 "the peak and is unmapped before the after-free figure. MiB, medians; "
                 "ratio to mimalloc in parentheses.\n")
        L.append("| allocator | RSS at start | RSS at peak | peak ratio | RSS after free+trim | after-free ratio | after − start | malloc_trim from |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for a in allocs:
            st = cell_status("memory", a)
            if st:
                L.append(f"| {a} | {st} | | | | | | |")
                continue
            g = lambda m: (stats.get(("memory", a, m)) or (None,))[0]
            s0, pk, fr = g("rss_start_kb"), g("rss_peak_kb"), g("rss_free_kb")
            trims = sorted({extra(r).get("trim", "?") + (" (returned " + extra(r).get("trim_ret", "?") + ")")
                            for r in cells[("memory", a)]["ok"]})
            diff = None if fr is None or s0 is None else fr - s0
            L.append(f"| {a} | {fmt_mib(s0)} | {fmt_mib(pk)} | {fmt_ratio(ratio('memory', a, 'rss_peak_kb'))} "
                     f"| {fmt_mib(fr)} | {fmt_ratio(ratio('memory', a, 'rss_free_kb'))} "
                     f"| {fmt_mib(diff)} | {', '.join(trims)} |")
        L.append("")

    if futex:
        L.append("## Futex calls during one million cross-thread frees\n")
        L.append("`strace -f -c -e trace=futex` (with `--seccomp-bpf`, so only futex "
                 "calls stop the tracee) around `prodcons -t 1 -i 1000000`: one "
                 "producer, one consumer, every free remote. The workload waits by "
                 "spinning and `sched_yield`, so the calls are the allocator's, plus "
                 "at most a few for thread start and join (see glibc's row).\n")
        L.append("| allocator | futex calls (median) | min – max | errors (median) | wall s under strace (median) | runs |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for a in allocs:
            f = futex.get(a)
            if not f:
                continue
            c = f["calls"]
            runs = f"{len(c)}" + (f" (+{f['bad']} failed)" if f["bad"] else "")
            if not c:
                L.append(f"| {a} | FAILED | | | | {runs} |")
                continue
            L.append(f"| {a} | {med(c):g} | {min(c)} – {max(c)} | {med(f['errors']):g} "
                     f"| {med(f['secs']):.2f} | {runs} |")
        L.append("")

    # Noise: how far apart the fastest and slowest runs of each cell are.
    L.append("## Spread of the runs\n")
    L.append("(slowest − fastest) ÷ median wall time, in %, per cell: how noisy the "
             "machine was; a ratio to mimalloc below this spread is not a difference.\n")
    L.append(hdr)
    L.append(sep)
    for w in workloads:
        cs = []
        for a in allocs:
            s = stats.get((w, a, "wall_s"))
            if not s or not s[0] or s[3] < 2:
                cs.append("–")
            else:
                cs.append(f"{100 * (s[2] - s[1]) / s[0]:.0f} %")
        L.append(f"| {w} | " + " | ".join(cs) + " |")
    L.append("")

    # Failures and verification.
    L.append("## Failures and checks\n")
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        L.append("| workload | allocator | run | status | first line of stderr |")
        L.append("|---|---|---:|---|---|")
        for r in bad:
            note = (r.get("note") or "").replace("|", "\\|")
            L.append(f"| {r['workload']} | {r['allocator']} | {r['run']} | {r['status']} | `{note}` |")
    else:
        L.append("Every run finished and passed its own verification.")
    mism = []
    for w in workloads:
        checks = {}
        for r in rows:
            if r["workload"] == w and r["status"] == "ok":
                checks.setdefault(r["check"], set()).add(r["allocator"])
        if len(checks) > 1:
            mism.append(f"{w}: " + "; ".join(f"{k} from {', '.join(sorted(v))}" for k, v in checks.items()))
    L.append("")
    if mism:
        L.append("Checksums differ between allocators (they must not): " + " / ".join(mism))
    else:
        L.append("Each workload's checksum (a function of the seed and the counts "
                 "only) is the same under every allocator.")
    L.append("")

    L.append("## Workloads\n")
    L.append("Sources in `bench/*.c`; each verifies the payload of every block "
             "before freeing it. Arguments as run:\n")
    L.append("| workload | what | arguments | threads |")
    L.append("|---|---|---|---|")
    for w in workloads:
        args, _, m = meta.get("args_" + w, "|").partition("|")
        L.append(f"| {w} | {DESCR.get(w, '')} | `{args}` | {'yes' if m == '1' else 'no'} |")
    L.append("")
    with open(os.path.join(d, "results.md"), "w") as fh:
        fh.write("\n".join(L))


if __name__ == "__main__":
    main()
