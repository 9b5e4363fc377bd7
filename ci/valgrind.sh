#!/usr/bin/env bash
# ci/valgrind.sh BUILD — memcheck on hakmem.
# 1. The unit tests of both flavours and a stress run: no memcheck error.
# 2. A program with a use after free, an overflow and a leak, on the debug
#    core: memcheck must report each of them.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
vg="valgrind --error-exitcode=9 --quiet"
# Suites to run under memcheck: VALGRIND_SUITES="all" (make valgrind) or a
# list (the CI gate runs the fast ones on the debug flavour, whose client
# requests make memcheck see hakmem's blocks; threads, fork, remote and
# registry take many minutes under valgrind's serialised threads, and are
# TSan's ground anyway).
suites=${VALGRIND_SUITES:-all}
flavours=${VALGRIND_FLAVOURS:-release debug}
for f in $flavours; do
    for s in $suites; do
        [ "$s" = all ] && run="" || run=$s
        echo "memcheck: unit tests ($f${run:+, suite $run})"
        log=$build/$f/valgrind-unit${run:+-$run}.log
        env CK_TIMEOUT_MULTIPLIER=20 ${run:+CK_RUN_SUITE=$run} $vg "$build/$f/hak_tests" >"$log" 2>&1 \
            || { tail -40 "$log"; exit 1; }
        grep -E "^[0-9]+%: Checks" "$log"
    done
    echo "memcheck: larson stress ($f)"
    STRESS_OPS=50000 STRESS_THREADS=3 $vg "$build/$f/stress_larson"
done
echo "memcheck: a buggy program must be reported"
gcc -g -O0 -Iinclude tests/valgrind/bug.c "$build/debug/libhakmem_core.a" -pthread -o "$build/debug/vg_bug"
valgrind --leak-check=full "$build/debug/vg_bug" >"$build/debug/vg_bug.log" 2>&1 || true
for want in "Invalid read of size 1" "Invalid write of size 1" "definitely lost"; do
    if grep -q "$want" "$build/debug/vg_bug.log"; then
        echo "  reported: $want"
    else
        echo "  NOT reported: $want"; cat "$build/debug/vg_bug.log"; exit 1
    fi
done
echo "valgrind: unit tests and stress clean, the buggy program reported"
