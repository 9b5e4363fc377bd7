#!/usr/bin/env bash
# ci/gate.sh — `make ci`: every gate of the pipeline, bounded to under 20
# minutes on 2 cores, then a summary table. Fails if any stage
# fails. Time knobs: FUZZ_SECONDS, AFL_SECONDS (15 each here), STRESS_OPS,
# SOAK_SECONDS (60); FUZZ_JOBS (libFuzzer -fork workers) and AFL_JOBS
# (AFL++ instances), each by default the processors.
set -uo pipefail
cd "$(dirname "$0")/.."
export FUZZ_SECONDS=${FUZZ_SECONDS:-15} AFL_SECONDS=${AFL_SECONDS:-15}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)} AFL_JOBS=${AFL_JOBS:-$(nproc)}
export STRESS_OPS=${STRESS_OPS:-1000000}
# The soak stage: 60 s shared by every program and flavour (ci/soak.sh).
export SOAK_SECONDS=${SOAK_SECONDS:-60}
mkdir -p "${BUILD:-build}/ci"
rows=()
failed=0
passed=0

# stage NAME COMMAND... — runs it, logs to $BUILD/ci/NAME.log, records a row
# from the numbers the command printed (via the `count_*` helpers below).
stage() {
    local name=$1
    shift
    local log=${BUILD:-build}/ci/$name.log t0=$SECONDS
    echo "== $name"
    "$@" >"$log" 2>&1
    local rc=$? dt=$((SECONDS - t0))
    local runs ops crashes
    read -r runs ops crashes < <(count_"${name//-/_}" "$log")
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        [ "${crashes:-0}" != 0 ] || crashes=1
        echo "   FAILED (exit $rc) — last lines of $log:"
        tail -25 "$log" | sed 's/^/   | /'
    else
        passed=$((passed + 1))
    fi
    rows+=("$(printf '| %-13s | %-4s | %8s | %18s | %7s | %5ss |' \
        "$name" "$([ $rc -eq 0 ] && echo ok || echo FAIL)" "$runs" "$ops" "${crashes:-0}" "$dt")")
    tail -3 "$log" | sed 's/^/   /'
}

sum() { awk '{s += $1} END {print s + 0}'; }
count_unit() { # Check: "100%: Checks: 98, Failures: 0, Errors: 0"
    local checks fails
    checks=$(grep -oE 'Checks: [0-9]+' "$1" | grep -oE '[0-9]+' | sum)
    fails=$(grep -oE '(Failures|Errors): [0-9]+' "$1" | grep -oE '[0-9]+' | sum)
    echo "$(grep -c 'Checks:' "$1") ${checks}_tests $fails"
}
count_misuse() { count_real "$1"; }
count_knobs() { count_unit "$1"; }
count_real() {
    local p f
    p=$(grep -oE '[0-9]+ passed' "$1" | grep -oE '[0-9]+' | sum)
    f=$(grep -oE '[0-9]+ failed' "$1" | grep -oE '[0-9]+' | sum)
    echo "$((p + f)) ${p}_programs $f"
}
count_replay() {
    echo "$(grep -c replayed "$1") $(grep -oE 'replayed [0-9]+' "$1" | grep -oE '[0-9]+' | sum)_inputs 0"
}
count_fuzz() {
    echo "$(grep -cE '^(libfuzzer|afl) ' "$1") $(grep -oE '[0-9]+ executions' "$1" | grep -oE '[0-9]+' | sum)_execs $(grep -oE '[0-9]+ crashes' "$1" | grep -oE '[0-9]+' | sum)"
}
count_afl() { count_fuzz "$1"; }
# fuzz_rates LOG... — executions per second per harness, engine and
# flavour, from ci/fuzz.sh's lines ("libfuzzer H FL: E executions in Ts,
# R/s, J jobs, C crashes, ..." and "afl H FL: ..." alike).
fuzz_rates() {
    echo "| engine    | harness      | flavour | jobs | executions |  exec/s | crashes |"
    echo "|-----------|--------------|---------|------|------------|---------|---------|"
    sed -nE 's/^(libfuzzer|afl) ([a-z_]+) ?([a-z]*): ([0-9]+) executions in [0-9]+s, ([0-9]+)\/s, ([0-9]+) jobs, ([0-9]+) crashes.*/\1 \2 \3 \6 \4 \5 \7/p' "$@" |
        while read -r e h f j n r c; do
            printf '| %-9s | %-12s | %-7s | %4s | %10s | %7s | %7s |\n' "$e" "$h" "$f" "$j" "$n" "$r" "$c"
        done
}
count_asan() {
    echo "$(grep -c '^asan ' "$1") $(grep -c 'reported at' "$1")_reports $(grep -c 'NOT reported' "$1")"
}
count_tsan_stress() {
    echo "$(grep -cE 'operations' "$1") $(grep -oE '[0-9]+ operations' "$1" | grep -oE '[0-9]+' | sum)_ops $(grep -c 'ThreadSanitizer' "$1")"
}
count_stress() { count_tsan_stress "$1"; }
count_zoo_check() { # "zoo: NN-name applies and builds" / "... FAILS ..."
    echo "$(grep -cE '^zoo: [0-9]+-' "$1") $(grep -c 'applies and builds' "$1")_patches $(grep -c 'FAILS' "$1")"
}
count_soak() { # "soak <flavour> <program>: N operations ..., <verdict>"
    echo "$(grep -c '^soak ' "$1") $(grep -E '^soak ' "$1" | grep -oE '[0-9]+ operations' | grep -oE '[0-9]+' | sum)_ops $(grep -E '^soak(-check)? ' "$1" | grep -cvE ': memory bounded$|leaky .*(grew|cap:)')"
}
count_valgrind() {
    echo "$(grep -c '^memcheck:' "$1") $(grep -oE 'Checks: [0-9]+' "$1" | grep -oE '[0-9]+' | sum)_tests $(grep -c 'ERROR SUMMARY: [1-9]' "$1")"
}

stage unit      make -s unit
stage misuse    make -s misuse-hakmem
stage knobs     make -s knobs KNOB_SET=CANARY
stage real      make -s real
stage replay    make -s replay
stage asan      make -s asan-check
# Both engines as a campaign on this machine runs them: one process a
# core (libFuzzer's -fork workers on one corpus; AFL++'s main and
# secondary instances on one output directory); exec/s is their sum.
stage fuzz      make -s fuzz FUZZ_SECONDS="$FUZZ_SECONDS" JOBS="$FUZZ_JOBS"
stage afl       make -s afl AFL_SECONDS="$AFL_SECONDS" JOBS="$AFL_JOBS"
stage tsan-stress make -s tsan-stress
stage valgrind  make -s valgrind VALGRIND_FLAVOURS=debug VALGRIND_SUITES="size_class align death"
stage stress    make -s stress STRESS_OPS="$STRESS_OPS"
stage soak      make -s soak SOAK_SECONDS="$SOAK_SECONDS"
# every zoo patch still applies and builds (the full zoo is `make zoo`)
stage zoo-check make -s zoo-check

echo
echo "| stage         | ok   |     runs | operations/execs   | crashes |  time |"
echo "|---------------|------|----------|--------------------|---------|-------|"
printf '%s\n' "${rows[@]}" | sed 's/_/ /g'
echo
fuzz_rates build/ci/fuzz.log build/ci/afl.log 2>/dev/null
echo
echo "ci: $passed passed, $failed failed"
[ $failed -eq 0 ]
