#!/usr/bin/env bash
# ci/valgrind.sh BUILD — memcheck on hakmem.
# 1. The unit tests of both flavours and a stress run: no memcheck error.
# 2. A program with a use after free, an overflow and a leak, on the debug
#    core: memcheck must report each of them.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
vg="valgrind --error-exitcode=9 --quiet"
for f in release debug; do
    echo "memcheck: unit tests ($f)"
    CK_DEFAULT_TIMEOUT=600 HAK_VALGRIND_RUN=1 $vg "$build/$f/hak_tests" >"$build/$f/valgrind-unit.log" 2>&1 \
        || { tail -40 "$build/$f/valgrind-unit.log"; exit 1; }
    grep -E "^[0-9]+%: Checks" "$build/$f/valgrind-unit.log"
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
