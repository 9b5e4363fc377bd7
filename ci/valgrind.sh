#!/usr/bin/env bash
# ci/valgrind.sh BUILD — memcheck on hakmem.
# 1. The unit tests and a stress run: no memcheck error.
# 2. A program with a use after free, an overflow and a leak, on the debug
#    core: memcheck must report each of them.
# Each suite runs in its own valgrind process, VALGRIND_JOBS (2) at a time,
# and every one runs to its end: the summary names all that failed.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
vg="valgrind --error-exitcode=9 --quiet"
# Suites to run under memcheck: VALGRIND_SUITES, a list (the CI gate runs
# the fast ones on the debug flavour, whose client requests make memcheck
# see hakmem's blocks). The default is every suite but threads and fork
# (under valgrind's one-thread-at-a-time scheduler they take many minutes,
# and races are TSan's ground: make tsan-stress) and attack (its children
# write into freed blocks on purpose and must survive, which memcheck
# rightly reports; 5 minutes here) and sizes (every size of every class,
# more than 8 minutes under memcheck; api covers the same entry points).
# "all" runs every suite.
# Flavours: debug by default — only its client requests (src/vg.h)
# show memcheck hakmem's blocks; under release memcheck sees the core's
# own accesses alone, which the debug flavour makes too. The larson stress
# runs under every flavour listed.
suites=${VALGRIND_SUITES:-size_class remote registry api align death slab large zero}
flavours=${VALGRIND_FLAVOURS:-debug}
jobs=${VALGRIND_JOBS:-2}
[ "$suites" = all ] && suites=$(grep -ohE 'suite_create\("[a-z_]+"\)' tests/*.c \
                                 | sed -E 's/.*"(.*)".*/\1/' | sort -u | tr '\n' ' ')

# one_suite FLAVOUR SUITE — prints one line; the log keeps memcheck's words
one_suite() {
    local f=$1 s=$2 log=$build/$1/valgrind-unit-$2.log t0=$SECONDS
    env CK_TIMEOUT_MULTIPLIER=20 CK_RUN_SUITE="$s" $vg "$build/$f/hak_tests" >"$log" 2>&1
    local rc=$?
    echo "memcheck: unit tests ($f, suite $s) $(grep -oE '[0-9]+%: Checks: [0-9]+.*' "$log" | tail -1) in $((SECONDS - t0))s$([ $rc -eq 0 ] || echo " FAILED (exit $rc, $log)")"
}
export -f one_suite
export build vg
t0=$SECONDS
for f in $flavours; do
    for s in $suites; do echo "$f $s"; done
done | xargs -P "$jobs" -n 2 bash -c 'one_suite "$0" "$1"' | tee "$build/valgrind-units.txt"
status=0
grep -q FAILED "$build/valgrind-units.txt" && status=1
for f in $flavours; do
    echo "memcheck: larson stress ($f)"
    STRESS_OPS=50000 STRESS_THREADS=3 $vg "$build/$f/stress_larson" || status=1
done
echo "memcheck: a buggy program must be reported"
gcc -g -O0 -Iinclude tests/valgrind/bug.c "$build/debug/libhakmem_core.a" -pthread -o "$build/debug/vg_bug"
valgrind --leak-check=full "$build/debug/vg_bug" >"$build/debug/vg_bug.log" 2>&1 || true
for want in "Invalid read of size 1" "Invalid write of size 1" "definitely lost"; do
    if grep -q "$want" "$build/debug/vg_bug.log"; then
        echo "  reported: $want"
    else
        echo "  NOT reported: $want"; cat "$build/debug/vg_bug.log"; status=1
    fi
done
if [ $status -ne 0 ]; then
    echo "valgrind: FAILED after $((SECONDS - t0))s:"
    grep FAILED "$build/valgrind-units.txt" | while read -r line; do
        log=${line##*, }; log=${log%)}
        echo "$line"; grep -m1 -A3 '^==[0-9]*== [A-Z]' "$log" | sed 's/^/   | /'
    done
    exit 1
fi
echo "valgrind: unit tests and stress clean, the buggy program reported ($((SECONDS - t0))s)"
