#!/usr/bin/env bash
# ci/soak.sh BUILD SECONDS — `make soak`: long runs that must stay bounded.
#
# For each flavour (SOAK_FLAVOURS, default "release debug") and program
# (SOAK_PROGRAMS, default "mpsc larson churn forker exits soak"), the
# program runs for its share of SECONDS while a sampler reads its
# /proc/PID/maps (bytes mapped: the sum of the ranges; mappings: the lines)
# and VmRSS from /proc/PID/status every SOAK_INTERVAL seconds (1, or less
# for short shares so every run has about 40 samples) into
# BUILD/soak/<flavour>-<program>.csv. Then:
#
#   bounded   in each run, the largest value over the second half may be at
#             most 1.5 x the largest over the first quarter (warm-up), plus
#             a slack (SOAK_SLACK_MB for bytes mapped and resident, 64;
#             SOAK_SLACK_MAPS mappings, 1024). The slack absorbs what may
#             legitimately come and go at any time: hakmem's large-span
#             cache (HAKMEM_LARGE_CACHE_MB, 64 MiB, address space only),
#             glibc's cache of thread stacks, and the large blocks in
#             flight (each its own mapping between guards: in mpsc the
#             count swings between about 130 and 500 with the timing of
#             the rings). A leak of L bytes a second
#             over a run of T seconds fails once 0.625 L T exceeds the
#             slack plus half the warm-up peak: with a 200 MiB peak, about
#             6 MiB/s in the 46 s share of SOAK_SECONDS=600, 0.5 MiB/s in
#             a 10-minute share (SOAK_PROGRAMS=soak SOAK_FLAVOURS=release).
#   cap       a run past SOAK_RSS_CAP_MB resident (512) or SOAK_MAPS_CAP
#             mappings (50000) is killed at once: it has failed, and the
#             machine is shared.
#   hang      a run still going at twice its share plus 30 s is killed.
#
# The time-bounded programs (forker, exits, soak) read STRESS_SECONDS; the
# fixed-count stress programs (mpsc, larson, churn) run in a loop, each run
# sized from the rate of the one before to fill what is left of the share,
# so one process usually spans most of it.
#
# Before anything else a deliberately leaking build of the soak program
# (BUILD/release/soak_leaky: stress/leak.c drops one free in 16) runs
# for a fifteenth of SECONDS (at least 4 s) and must be reported as
# growing: the check above can fail.
#
# Output: one line per program and flavour,
#   soak <flavour> <program>: N operations, mapped peak/final, mappings
#   peak/final, resident peak/final, and "memory bounded" or why not,
# then BUILD/soak/soak.png (gnuplot, when installed). Exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
total=${2:-${SOAK_SECONDS:-600}}
read -r -a flavours <<<"${SOAK_FLAVOURS:-release debug}"
read -r -a programs <<<"${SOAK_PROGRAMS:-mpsc larson churn forker exits soak}"
slack_mb=${SOAK_SLACK_MB:-64}
slack_maps=${SOAK_SLACK_MAPS:-1024}
rss_cap_mb=${SOAK_RSS_CAP_MB:-512}
maps_cap=${SOAK_MAPS_CAP:-50000}
out=$build/soak
mkdir -p "$out"
export STRESS_THREADS=${STRESS_THREADS:-4}
# The fixed-count programs reach the mid and large tiers too.
export STRESS_MAXSIZE=${STRESS_MAXSIZE:-65536}

leak_share=$((total / 15 > 4 ? total / 15 : 4))
share=$(((total - leak_share) / (${#flavours[@]} * ${#programs[@]})))
((share >= 2)) || share=2
interval=${SOAK_INTERVAL:-$(awk -v s="$share" 'BEGIN { i = s / 40; if (i > 1) i = 1; if (i < 0.1) i = 0.1; printf "%.2f", i }')}
# Times in microseconds (bash's clock: no process per sample beyond awk
# and sleep, so the sampler takes little from the run it watches).
now() { echo "${EPOCHREALTIME/./}"; }

# sample PID: "bytes mappings rss_kb" of the process, or nothing if it is
# gone. One awk reads both files (hex by hand: mawk has no strtonum;
# addresses below 2^47 are exact in its doubles).
sample() {
    [ -r "/proc/$1/maps" ] || return 1
    awk 'function hex(s,  i, n) {
             n = 0
             for (i = 1; i <= length(s); i++)
                 n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
             return n
         }
         FNR == NR { split($1, a, "-"); sum += hex(a[2]) - hex(a[1]); n++; next }
         /^VmRSS:/ { rss = $2 }
         END { if (n && rss != "") printf "%.0f %d %d\n", sum, n, rss; else exit 1 }' \
        "/proc/$1/maps" "/proc/$1/status" 2>/dev/null
}

# watch CSV RUN T0 LIMIT LOG PROGRAM... — runs the program, samples it
# into CSV (times from T0), kills it past a cap or LIMIT seconds; returns
# its exit status (124 for a hang, 125 for a cap).
watch() {
    local csv=$1 run=$2 t0=$3 limit=$4 log=$5
    shift 5
    "$@" >>"$log" 2>&1 &
    local pid=$! start s t why=
    start=$(now)
    while kill -0 "$pid" 2>/dev/null; do
        t=${EPOCHREALTIME/./}
        if s=$(sample "$pid"); then
            set -- $s
            printf '%s,%d.%03d,%s,%s,%s\n' "$run" $(((t - t0) / 1000000)) \
                $((((t - t0) % 1000000) / 1000)) "$1" "$2" "$3" >>"$csv"
            if (($3 > rss_cap_mb * 1024 || $2 > maps_cap)); then
                why="cap: $(($3 >> 10)) MiB resident, $2 mappings"
            fi
        fi
        if [ -z "$why" ] && ((t - start > limit * 1000000)); then
            why="hang: still running after $limit s"
        fi
        if [ -n "$why" ]; then
            # SIGTERM first: the soak programs say how far they got.
            kill -TERM "$pid" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -9 "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            echo "soak: killed, $why" >>"$log"
            [[ $why == cap* ]] && return 125 || return 124
        fi
        sleep "$interval"
    done
    wait "$pid"
}

# judge CSV — per run with at least 8 samples: "ok" or what grew; then the
# summary fields. Prints: verdict|peak_mapped|final_mapped|peak_maps|
# final_maps|peak_rss_kb|final_rss_kb
judge() {
    awk -F, -v smb="$slack_mb" -v smaps="$slack_maps" '
    NR > 1 {
        r = $1; n[r]++; t[r, n[r]] = $2; v[r, n[r], 1] = $3; v[r, n[r], 2] = $4
        v[r, n[r], 3] = $5 * 1024
        if ($3 > pk1) pk1 = $3; if ($4 > pk2) pk2 = $4; if ($5 > pk3) pk3 = $5
        f1 = $3; f2 = $4; f3 = $5
        if (!(r in seen)) { seen[r] = 1; order[++nr] = r }
    }
    END {
        split("mapped mappings resident", name, " ")
        slack[1] = smb * 1048576; slack[2] = smaps; slack[3] = smb * 1048576
        verdict = ""; judged = 0
        for (k = 1; k <= nr; k++) {
            r = order[k]
            if (n[r] < 8) continue
            judged++
            t0 = t[r, 1]; T = t[r, n[r]] - t0
            for (m = 1; m <= 3; m++) {
                early = 0; late = 0
                for (i = 1; i <= n[r]; i++) {
                    x = t[r, i] - t0
                    if (x <= T / 4 && v[r, i, m] > early) early = v[r, i, m]
                    if (x >= T / 2 && v[r, i, m] > late) late = v[r, i, m]
                }
                lim = 1.5 * early + slack[m]
                if (late > lim) {
                    u = m == 2 ? 1 : 1048576; un = m == 2 ? "" : " MiB"
                    verdict = verdict sprintf("%s%s grew: %.0f%s late > 1.5 x %.0f%s + %.0f%s (run %d)",
                        verdict == "" ? "" : "; ", name[m], late / u, un, early / u, un,
                        slack[m] / u, un, r)
                }
            }
        }
        if (!judged) verdict = "too short to judge (fewer than 8 samples in every run)"
        if (verdict == "") verdict = "memory bounded"
        printf "%s|%.0f|%.0f|%.0f|%.0f|%.0f|%.0f\n", verdict, pk1, f1, pk2, f2, pk3, f3
    }' "$1"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# soak_one FLAVOUR PROGRAM BINARY SECONDS — runs and reports one program.
failed=0
soak_one() {
    local f=$1 p=$2 bin=$3 secs=$4
    local csv=$out/$f-$p.csv log=$out/$f-$p.log rc=0 run=0 limit=$((2 * secs + 30))
    echo "run,t,mapped_bytes,mappings,rss_kb" >"$csv"
    : >"$log"
    local t0
    t0=$(now)
    case $p in
    mpsc | larson | churn)
        # Runs sized from the last run's rate to fill the share.
        local ops=50000 ts te left
        while :; do
            run=$((run + 1))
            ts=$(now)
            STRESS_OPS=$ops watch "$csv" "$run" "$t0" "$limit" "$log" "$bin" || { rc=$?; break; }
            te=$(now)
            left=$((secs * 1000000 - (te - t0))) # microseconds
            ((left >= 1000000)) || break
            ops=$(awk -v o="$ops" -v d=$((te - ts)) -v l=$left \
                'BEGIN { if (d < 10000) d = 10000; n = o / d * l * 0.9; if (n > o * 64) n = o * 64
                         if (n < 50000) n = 50000; printf "%d", n }')
        done
        ;;
    *)
        run=1
        STRESS_SECONDS=$secs watch "$csv" 1 "$t0" "$limit" "$log" "$bin" || rc=$?
        ;;
    esac
    local ops_done verdict pm fm pk fk pr fr
    # Closing lines, or how far a stopped run got.
    ops_done=$(grep -oE '^[a-z_]+: [0-9]+ operations|after about [0-9]+ operations' "$log" |
        grep -oE '[0-9]+' | awk '{ s += $1 } END { print s + 0 }')
    IFS='|' read -r verdict pm fm pk fk pr fr < <(judge "$csv")
    if ((rc == 124 || rc == 125)); then
        verdict="$(grep -o 'killed, .*' "$log" | tail -1); $verdict"
    elif ((rc != 0)); then
        verdict="exit $rc: $(tail -2 "$log" | paste -sd '|' | sed 's/|/ \/ /'); $verdict"
    fi
    printf 'soak %-7s %-6s: %s operations in %d run(s), mapped peak %s MiB final %s MiB, mappings peak %s final %s, resident peak %s MiB final %s MiB: %s\n' \
        "$f" "$p" "$ops_done" "$run" "$(mib "$pm")" "$(mib "$fm")" "$pk" "$fk" \
        "$(mib $((pr * 1024)))" "$(mib $((fr * 1024)))" "$verdict"
    LAST_VERDICT=$verdict
    [[ $rc == 0 && $verdict == "memory bounded" ]]
}

echo "soak: $total s in all: ${share} s per program and flavour, ${leak_share} s for the leak check; samples every ${interval} s"

# The check must be able to fail: a build that leaks on purpose.
if soak_one release leaky "$build/release/soak_leaky" "$leak_share" >"$out/leaky.summary"; then
    sed 's/^soak /soak-check /' "$out/leaky.summary"
    echo "soak-check FAILED: the leaking build was judged bounded"
    failed=$((failed + 1))
else
    sed 's/^soak /soak-check /' "$out/leaky.summary"
    if [[ $LAST_VERDICT == *grew* || $LAST_VERDICT == *cap:* ]]; then
        echo "soak-check: the leaking build was caught"
    else
        echo "soak-check FAILED: the leaking build failed otherwise"
        failed=$((failed + 1))
    fi
fi

for f in "${flavours[@]}"; do
    for p in "${programs[@]}"; do
        soak_one "$f" "$p" "$build/$f/stress_$p" "$share" || failed=$((failed + 1))
    done
done

# One panel per program: bytes mapped over time, each flavour a line.
if command -v gnuplot >/dev/null 2>&1; then
    {
        echo "set terminal pngcairo size 1500,900 font ',9' noenhanced"
        echo "set output '$out/soak.png'"
        echo "set datafile separator ','"
        echo "set multiplot layout 2,$(((${#programs[@]} + 1) / 2)) title 'hakmem soak: mapped MiB (lines), mappings (points, right axis); $total s'"
        echo "set xlabel 'seconds'; set ylabel 'MiB'; set y2label 'mappings'; set ytics nomirror; set y2tics; set key bottom right"
        for p in "${programs[@]}"; do
            plots=()
            for f in "${flavours[@]}"; do
                plots+=("'$out/$f-$p.csv' every ::1 using 2:(\$3/1048576) with lines title '$f mapped'")
                plots+=("'$out/$f-$p.csv' every ::1 using 2:4 axes x1y2 with points pt 7 ps 0.3 title '$f maps'")
            done
            echo "set title '$p'"
            (IFS=,; echo "plot ${plots[*]}")
        done
        echo "unset multiplot"
    } >"$out/soak.gp"
    if gnuplot "$out/soak.gp" 2>"$out/gnuplot.log"; then
        echo "soak: plot in $out/soak.png"
    else
        echo "soak: gnuplot failed (see $out/gnuplot.log); no plot"
    fi
else
    echo "soak: gnuplot not installed; no plot"
fi

echo "soak: $failed failed"
[ $failed -eq 0 ]
