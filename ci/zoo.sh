#!/usr/bin/env bash
# ci/zoo.sh — the bug zoo: each known bug class re-introduced, one at a time,
# into an otherwise correct build (HAK_ZOO=n, see src/types.h), and the
# debug flavour's pipeline run against it until a stage catches it:
#   1 per-block header written while carve/capacity use the bare class size
#   2 remote frees (bits, queue push and take) with relaxed orders
#   3 remote free that skips its double-free check (a second remote free
#     of the same block let through)
#   4 the drain reads remote bits without taking them (merged again later,
#     when their blocks may be live)
#   5 slab capacity off by one
#   6 a thread's queue record freed at thread exit while producers push
# Stages, cheapest first: stress programs (1M operations, payload checks),
# the remote-queue fuzz harness on its corpus, ThreadSanitizer stress, the
# unit tests. Prints a table: variant, stage, operations, the report.
# Fails if any variant goes uncaught, or if a catch names no invariant.
set -uo pipefail
cd "$(dirname "$0")/.."
ops=${STRESS_OPS:-1000000}
names=("" "header/stride mismatch" "relaxed remote-free orders"
       "remote free skips its double-free check" "drain does not take the bits it merges"
       "capacity off by one" "queue record freed at thread exit")
rows=()
failed=0

# The report that names the broken invariant: hakmem's line, a harness's
# verdict, TSan's warning, or the faulting function (from gdb).
explain() { # log binary
    local line
    line=$(grep -m1 -E '^hakmem: |fuzz_remote: |fuzz_alloc: |stress: payload' "$1")
    [ -n "$line" ] || line=$(grep -m1 -E 'WARNING: ThreadSanitizer' "$1" | sed 's/ (pid=[0-9]*)//')
    if grep -q 'ThreadSanitizer' "$1"; then
        local at
        at=$(grep -m1 -E '^ +#0 ' "$1" | sed -E 's/^ +#0 ([^ ]+) .*(src|hardening)\/([^ ]+).*/\1 \2\/\3/')
        line="$line in $at"
    fi
    if [ -z "$line" ] && [ -n "${2:-}" ]; then
        local frame
        frame=$(STRESS_OPS=$ops gdb -q -batch -ex run -ex bt "$2" 2>/dev/null \
                | grep -m1 -E '^#[0-9]+ .* at (src|hardening)/' \
                | sed -E 's/^#[0-9]+ +(0x[0-9a-f]+ in )?([^ ]+) .* at (.*)/\2 (\3)/')
        local sig
        sig=$(grep -m1 -oE 'stopped by signal [0-9]+' "$1")
        line="$sig: fault in $frame"
    fi
    echo "$line"
}

for n in ${ZOO_VARIANTS:-1 2 3 4 5 6}; do
    b=${BUILD:-build}/zoo$n
    echo "== zoo $n: ${names[$n]}" >&2
    make -s BUILD=$b EXTRA_CFLAGS=-DHAK_ZOO=$n \
        $b/debug/stress_mpsc $b/debug/stress_larson $b/debug/stress_churn \
        $b/debug/replay_fuzz_remote $b/debug/replay_fuzz_alloc >/dev/null 2>&1 || {
        rows+=("| $n | ${names[$n]} | (build failed) | | |"); failed=1; continue; }
    caught=""
    for p in larson churn mpsc; do
        log=$b/debug/stress_$p.log
        if ! STRESS_OPS=$ops timeout 300 "$b/debug/stress_$p" >"$log" 2>&1; then
            at=$(grep -oE 'after about [0-9]+' "$log" | grep -oE '[0-9]+' || echo "?")
            caught="| $n | ${names[$n]} | stress $p (debug) | $at | $(explain "$log" "$b/debug/stress_$p") |"
            break
        fi
    done
    if [ -z "$caught" ]; then
        for h in fuzz_remote fuzz_alloc; do
            log=$b/debug/replay_$h.log
            if ! timeout 600 "$b/debug/replay_$h" corpus/$h >"$log" 2>&1; then
                caught="| $n | ${names[$n]} | fuzz $h replay (debug) | $(ls corpus/$h | wc -l) inputs | $(explain "$log") |"
                break
            fi
        done
    fi
    if [ -z "$caught" ]; then
        make -s BUILD=$b EXTRA_CFLAGS=-DHAK_ZOO=$n $b/tsan/debug/larson $b/tsan/debug/mpsc >/dev/null 2>&1
        for p in mpsc larson; do
            log=$b/tsan-$p.log
            if ! TSAN_OPTIONS=halt_on_error=1 STRESS_OPS=200000 timeout 600 "$b/tsan/debug/$p" >"$log" 2>&1; then
                caught="| $n | ${names[$n]} | TSan stress $p (debug) | $(grep -oE 'after about [0-9]+' "$log" | grep -oE '[0-9]+' || echo '<200000') | $(explain "$log") |"
                break
            fi
        done
    fi
    if [ -z "$caught" ]; then
        make -s BUILD=$b EXTRA_CFLAGS=-DHAK_ZOO=$n $b/debug/hak_tests >/dev/null 2>&1
        log=$b/debug/unit.log
        if ! CK_DEFAULT_TIMEOUT=120 "$b/debug/hak_tests" >"$log" 2>&1; then
            caught="| $n | ${names[$n]} | unit tests (debug) | | $(grep -m1 -E ':[EF]:' "$log" | cut -c1-160) |"
        fi
    fi
    if [ -z "$caught" ]; then
        caught="| $n | ${names[$n]} | NOT CAUGHT | | |"
        failed=1
    fi
    rows+=("$caught")
    echo "$caught" >&2
done

echo
echo "| variant | bug class | caught by | operations | report |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ $failed -ne 0 ]; then
    echo "zoo: a variant was not caught"
    exit 1
fi
echo "zoo: every variant caught by the debug pipeline"
