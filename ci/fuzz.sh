#!/usr/bin/env bash
# ci/fuzz.sh ENGINE SECONDS HARNESS... — a bounded fuzzing session.
#
# ENGINE libfuzzer: for each flavour of FUZZ_FLAVOURS (default: debug),
#   the harness of that flavour (debug: build/fuzz/H, ASan+UBSan on the
#   debug core; release: build/fuzz-release/H, UBSan on the release core)
#   on corpus/H for SECONDS; new coverage is written back to corpus/H; a
#   crash is saved under build/fuzz/crashes/ with a .repro file holding the
#   commands that reproduce it.
# ENGINE afl: afl-fuzz on build/afl/H, seeded from corpus/H; what it finds
#   that adds coverage is merged back into corpus/H (through libFuzzer's
#   merge when its build exists); crashes are kept the same way.
# Prints one line per harness (and flavour, for libFuzzer): executions,
# executions per second, crashes.
set -uo pipefail
cd "$(dirname "$0")/.."
engine=$1 seconds=$2
shift 2
status=0
B=${BUILD:-build} # the build directory (make passes BUILD)
mkdir -p $B/fuzz/crashes

save_crash() { # harness file [fuzzer binary]
    local h=$1 f=$2 bin=${3:-$B/fuzz/$1}
    local dst=$B/fuzz/crashes/$(basename "$f")
    cp "$f" "$dst" 2>/dev/null || true
    {
        echo "# reproduce: the fuzzer binary, then the plain replay of each flavour"
        echo "$bin $dst"
        echo "make $B/debug/replay_$h $B/release/replay_$h"
        echo "$B/debug/replay_$h $dst"
        echo "$B/release/replay_$h $dst"
    } > "$dst.repro"
    echo "  crash saved: $dst (see $dst.repro)"
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
            "$bin" "corpus/$h" -max_total_time="$seconds" -max_len=2048 \
                -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
                -artifact_prefix="$B/fuzz/crashes/$h-$fl-" >"$log" 2>&1
            rc=$?
            execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
            rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
            execs=${execs:-0}
            rate=${rate:-$((execs / (seconds > 0 ? seconds : 1)))}
            crashes=0
            for f in $B/fuzz/crashes/$h-$fl-*; do
                case $f in *.repro|*'*') continue ;; esac
                [ -e "$f.repro" ] || { save_crash "$h" "$f" "$bin"; crashes=$((crashes + 1)); }
            done
            if [ $rc -ne 0 ] && [ $crashes -eq 0 ]; then crashes=1; tail -30 "$log"; fi
            extra=$(grep -E '^fuzz_attack: [0-9]+ forks' "$log" | tail -1 | sed 's/^fuzz_attack: /; /')
            echo "libfuzzer $h $fl: $execs executions in ${seconds}s, $rate/s, $crashes crashes, corpus $(ls "corpus/$h" | wc -l) files$extra"
            [ "$crashes" -eq 0 ] || status=1
        done
        continue
    else
        out=$B/afl/out-$h
        rm -rf "$out"
        AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
        AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=1 AFL_QUIET=1 \
            timeout $((seconds + 60)) afl-fuzz -i "corpus/$h" -o "$out" \
            -V "$seconds" -t 10000 -m none -- "$B/afl/$h" \
            >"$B/afl/$h.log" 2>&1
        stats=$out/default/fuzzer_stats
        execs=$(sed -n 's/^execs_done *: *//p' "$stats" 2>/dev/null)
        crashes=0
        for f in "$out"/default/crashes/id*; do
            [ -e "$f" ] || continue
            save_crash "$h" "$f"
            crashes=$((crashes + 1))
        done
        [ -n "$execs" ] || { echo "afl-fuzz did not run:"; tail -20 "$B/afl/$h.log"; crashes=1; }
        # Keep what AFL found, if it adds coverage.
        if [ -x "$B/fuzz/$h" ] && [ -d "$out/default/queue" ]; then
            $B/fuzz/$h -merge=1 "corpus/$h" "$out/default/queue" \
                >"$B/afl/$h.merge.log" 2>&1 || true
        fi
    fi
    execs=${execs:-0}
    echo "$engine $h: $execs executions in ${seconds}s ($((execs / (seconds > 0 ? seconds : 1)))/s), $crashes crashes, corpus $(ls "corpus/$h" | wc -l) files"
    [ "$crashes" -eq 0 ] || status=1
done
exit $status
