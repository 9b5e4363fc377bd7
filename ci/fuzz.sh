#!/usr/bin/env bash
# ci/fuzz.sh ENGINE SECONDS HARNESS... — a bounded fuzzing session.
#
# ENGINE libfuzzer: for each flavour of FUZZ_FLAVOURS (default: debug),
#   the harness of that flavour (debug: build/fuzz/H, ASan+UBSan on the
#   debug core; release: build/fuzz-release/H, UBSan on the release core)
#   on corpus/H for SECONDS; new coverage is written back to corpus/H; a
#   crash is saved under build/fuzz/crashes/ with a .repro file holding the
#   commands that reproduce it.
# ENGINE afl: for each flavour of AFL_FLAVOURS (default: debug), afl-fuzz
#   on build/afl/H (debug core) or build/afl-release/H (release core, what
#   production preloads), seeded from corpus/H as committed (AFL_SEEDS,
#   below); what it finds
#   that adds coverage is merged back into corpus/H (through libFuzzer's
#   merge when its build exists); crashes are kept the same way.
# JOBS=N (default 1) runs N processes per harness: libFuzzer's -fork=N
#   (one corpus, N workers, a crash stops them all); AFL++ one main
#   instance (-M) and N-1 secondaries (-S) sharing one output directory.
#   (libFuzzer's -fork first runs the seeds through a worker: a build that
#   crashes on many of them saves each such seed before it stops.)
# FRESH_RUNS=N (default 0; make fuzz: 100) and FRESH_INPUTS (files under
#   corpus/, from make): before each libFuzzer campaign of a harness with
#   such inputs, N fresh processes of the fuzzer binary each run them, as
#   each of -fork's jobs starts (a fresh process, its smallest seeds
#   first). The inputs fork at their first operation, which in a fresh
#   process is beside a thread still starting: fuzz/harness.h,
#   fork_settle. JOBS of them run at a time. One line each: "fresh H FL:
#   N fresh processes, each on the K seed(s) that fork at once, C
#   crashes".
# Prints one line per harness (and flavour, for libFuzzer): executions,
# executions per second (of all JOBS together), crashes. ci/gate.sh's
# table takes its per-harness rates from these lines.
set -uo pipefail
cd "$(dirname "$0")/.."
engine=$1 seconds=$2
shift 2
jobs=${JOBS:-1}
status=0
B=${BUILD:-build} # the build directory (make passes BUILD)
mkdir -p $B/fuzz/crashes

# Saves a crash with its .repro. Only the first three of a run are named
# (a build that crashes on most seeds saves hundreds: -fork's workers
# keep going through the seeds); crashes_more counts the rest.
save_crash() { # harness file fuzzer-binary crashes-so-far
    local h=$1 f=$2 bin=$3 n=$4
    local dst=$B/fuzz/crashes/$(basename "$f")
    cp "$f" "$dst" 2>/dev/null || true
    {
        echo "# reproduce: the fuzzer binary, then the plain replay of each flavour"
        echo "$bin $dst"
        echo "make $B/debug/replay_$h $B/release/replay_$h"
        echo "$B/debug/replay_$h $dst"
        echo "$B/release/replay_$h $dst"
    } > "$dst.repro"
    [ "$n" -ge 3 ] || echo "  crash saved: $dst (see $dst.repro)"
}

crashes_more() { # crashes of the run
    [ "$1" -le 3 ] ||
        echo "  ... and $(($1 - 3)) more crashes saved in $B/fuzz/crashes/"
}

# N fresh processes of bin on FRESH_INPUTS' files under corpus/H; the
# output of one that failed is kept in $B/fuzz/H-FL.fresh-failed.log.
fresh() { # harness flavour fuzzer-binary failures-file
    local h=$1 fl=$2 bin=$3 fails=$4 n=${FRESH_RUNS:-0} bad=0 i f
    local inputs=()
    for f in ${FRESH_INPUTS:-}; do
        case $f in corpus/$h/*) inputs+=("$f") ;; esac
    done
    [ "$n" -gt 0 ] && [ ${#inputs[@]} -gt 0 ] || return 0
    # JOBS processes at a time, each with its own log (a fresh process
    # spends most of its time starting up, in system calls).
    local out=$B/fuzz/$h-$fl.fresh j pids
    for ((i = 0; i < n; i += jobs)); do
        pids=()
        for ((j = 0; j < jobs && i + j < n; j++)); do
            FUZZ_ATTACK_FAILURES=$fails "$bin" -rss_limit_mb=4096 -timeout=60 \
                "${inputs[@]}" >"$out.$j.log" 2>&1 &
            pids+=($!)
        done
        for ((j = 0; j < ${#pids[@]}; j++)); do
            wait "${pids[j]}" ||
                { bad=$((bad + 1)); cp "$out.$j.log" "$B/fuzz/$h-$fl.fresh-failed.log"; }
        done
    done
    echo "fresh $h $fl: $n fresh processes, each on the ${#inputs[@]} seed(s) that fork at once, $bad crashes"
    if [ $bad -gt 0 ]; then
        tail -20 "$B/fuzz/$h-$fl.fresh-failed.log"
        [ -s "$fails" ] && head -20 "$fails"
        status=1
    fi
}

rate() { # executions seconds
    echo $(($1 / ($2 > 0 ? $2 : 1)))
}

for h in "$@"; do
    mkdir -p "corpus/$h"
    if [ "$engine" = libfuzzer ]; then
        # one run per flavour, each with its own line
        for fl in ${FUZZ_FLAVOURS:-debug}; do
            case $fl in
                debug) bin=$B/fuzz/$h ;;
                release) bin=$B/fuzz-release/$h ;;
                *) echo "ci/fuzz.sh: unknown flavour $fl"; exit 2 ;;
            esac
            log=$B/fuzz/$h-$fl.log
            par=()
            [ "$jobs" -gt 1 ] && par=(-fork="$jobs")
            # fuzz_attack's failed children, kept apart: -fork loses the
            # log of a worker that fails after the time is up
            fails=$B/fuzz/$h-$fl.failures
            rm -f "$fails"
            fresh "$h" "$fl" "$bin" "$fails"
            t0=$SECONDS
            FUZZ_ATTACK_FAILURES=$fails \
            "$bin" "corpus/$h" "${par[@]}" -max_total_time="$seconds" -max_len=2048 \
                -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
                -artifact_prefix="$B/fuzz/crashes/$h-$fl-" >"$log" 2>&1
            rc=$?
            took=$((SECONDS - t0))
            if [ "$jobs" -gt 1 ]; then
                # fork mode: the parent's last "#N: cov: ..." line counts
                # the executions of all workers
                execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
                execs=${execs:-0}
                r=$(rate "$execs" "$took")
            else
                execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
                r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
                execs=${execs:-0}
                r=${r:-$(rate "$execs" "$took")}
            fi
            crashes=0
            for f in $B/fuzz/crashes/$h-$fl-*; do
                case $f in *.repro|*'*') continue ;; esac
                [ -e "$f.repro" ] || { save_crash "$h" "$f" "$bin" $crashes; crashes=$((crashes + 1)); }
            done
            crashes_more $crashes
            if [ $crashes -gt 0 ] && [ -s "$fails" ]; then
                echo "  what the failed children said ($fails):"
                head -40 "$fails" | sed 's/^/    /'
            fi
            if [ $rc -ne 0 ] && [ $crashes -eq 0 ]; then crashes=1; tail -30 "$log"; fi
            extra=$(grep -E '^fuzz_attack: [0-9]+ forks' "$log" | tail -1 | sed 's/^fuzz_attack: /; /')
            echo "libfuzzer $h $fl: $execs executions in ${took}s, $r/s, $jobs jobs, $crashes crashes, corpus $(ls "corpus/$h" | wc -l) files$extra"
            [ "$crashes" -eq 0 ] || status=1
        done
        continue
    fi
    # AFL++'s seeds: the corpus as committed (AFL_SEEDS=committed, the
    # default in a git checkout), not what a libFuzzer run just added to
    # it. Those inputs are the largest and slowest (libFuzzer grows them
    # toward -max_len) and AFL++ spends a short run calibrating them: its
    # rate on fuzz_alloc (release, two instances, 30 s) was 3,497-4,299
    # executions/s from the corpus a `make ci` fuzz stage had grown (733
    # files; 3,926-4,425 from that corpus minimized to 496) and
    # 7,830-9,598 from the committed one (304). So each engine starts from
    # the same seeds and its rate does not depend on the stage before it;
    # what it finds is merged into corpus/ as before. AFL_SEEDS=all seeds
    # it from the whole directory.
    seeds=corpus/$h
    if [ "${AFL_SEEDS:-committed}" = committed ] &&
        tracked=$(git ls-files -- "corpus/$h" 2>/dev/null) && [ -n "$tracked" ]; then
        seeds=$B/afl/seeds-$h
        rm -rf "$seeds"
        mkdir -p "$seeds"
        echo "$tracked" | xargs cp -t "$seeds"
    fi
    for fl in ${AFL_FLAVOURS:-debug}; do
        case $fl in
            debug) bin=$B/afl/$h ;;
            release) bin=$B/afl-release/$h ;;
            *) echo "ci/fuzz.sh: unknown flavour $fl"; exit 2 ;;
        esac
        out=$B/afl/out-$h-$fl
        rm -rf "$out"
        t0=$SECONDS
        pids=()
        for ((i = 0; i < jobs; i++)); do
            if [ "$i" -eq 0 ]; then role=(-M main); else role=(-S "sec$i"); fi
            [ "$jobs" -gt 1 ] || role=()
            AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
            AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_QUIET=1 \
                timeout $((seconds + 60)) afl-fuzz -i "$seeds" -o "$out" "${role[@]}" \
                -V "$seconds" -t 10000 -m none -- "$bin" \
                >"$B/afl/$h-$fl.$i.log" 2>&1 &
            pids+=($!)
        done
        wait "${pids[@]}"
        took=$((SECONDS - t0))
        execs=0 r=0 ran=0 crashes=0
        for stats in "$out"/*/fuzzer_stats; do
            [ -e "$stats" ] || continue
            e=$(sed -n 's/^execs_done *: *//p' "$stats")
            s=$(sed -n 's/^execs_per_sec *: *\([0-9]*\).*/\1/p' "$stats")
            execs=$((execs + ${e:-0}))
            r=$((r + ${s:-0}))
            ran=$((ran + 1))
        done
        for f in "$out"/*/crashes/id*; do
            [ -e "$f" ] || continue
            save_crash "$h" "$f" "$bin" $crashes
            crashes=$((crashes + 1))
        done
        crashes_more $crashes
        [ "$ran" -gt 0 ] || { echo "afl-fuzz did not run:"; tail -20 "$B/afl/$h-$fl.0.log"; crashes=1; }
        # Keep what AFL found, if it adds coverage.
        if [ -x "$B/fuzz/$h" ]; then
            for q in "$out"/*/queue; do
                [ -d "$q" ] || continue
                $B/fuzz/$h -merge=1 "corpus/$h" "$q" \
                    >>"$B/afl/$h.merge.log" 2>&1 || true
            done
        fi
        # the rate: AFL's own (over its fuzzing time), summed over instances
        echo "afl $h $fl: $execs executions in ${took}s, $r/s, $ran jobs, $crashes crashes, corpus $(ls "corpus/$h" | wc -l) files"
        [ "$crashes" -eq 0 ] || status=1
    done
done
exit $status
