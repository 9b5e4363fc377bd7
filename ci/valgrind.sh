#!/usr/bin/env bash
# ci/valgrind.sh BUILD — memcheck on hakmem.
# 1. The unit tests and a stress run: no memcheck error.
# 2. A program with a use after free, an overflow and a leak, on the debug
#    core: memcheck must report each of them.
# Every piece (a suite, the stress run, the buggy program) runs in its own
# valgrind process, VALGRIND_JOBS (2) at a time, the longest first, and
# every one runs to its end: the summary names all that failed, and each
# line says how long its piece took (build/valgrind-units.txt).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
vg="valgrind --error-exitcode=9 --quiet"
# Suites to run under memcheck: VALGRIND_SUITES, a list (the CI gate runs
# the fast ones on the debug flavour, whose client requests make memcheck
# see hakmem's blocks), longest first so that the last to start are short.
# The default is every suite but:
# - threads, fork and footprint: under valgrind's one-thread-at-a-time
#   scheduler they take many minutes (footprint's threads overflow
#   valgrind's thread table), and races are TSan's ground (tsan-stress);
# - attack: its children write into freed blocks on purpose and must
#   survive, which memcheck rightly reports (5 minutes here);
# - sizes: every size of every class, more than 8 minutes under memcheck;
#   api covers the same entry points;
# - death and zoo_gaps: every death test (in debug) and four of zoo_gaps'
#   five are a forked child that misuses the heap and aborts in hakmem's
#   report; memcheck's findings in a child killed by a signal change no
#   exit status, so under memcheck they only cost time (death: 60 s at
#   load 3, 130 s at load 8): the plain runs check them;
# - exit: 2,000 threads started and ended in forked children (226 s for
#   its two tests, load 8), threads again being TSan's and the plain runs'.
# Cases tagged native (tests/util.h: seccomp filters, a 128 GiB
# reservation, forked probes of kernel faults) are left out: they cannot
# run under memcheck, and every plain run runs them.
# "all" runs every suite.
# Flavours: debug by default — only its client requests (src/vg.h)
# show memcheck hakmem's blocks; under release memcheck sees the core's
# own accesses alone, which the debug flavour makes too. The larson stress
# runs under every flavour listed.
suites=${VALGRIND_SUITES:-api large zero slab align options size_class}
flavours=${VALGRIND_FLAVOURS:-debug}
jobs=${VALGRIND_JOBS:-2}
[ "$suites" = all ] && suites=$(grep -ohE 'suite_create\("[a-z_]+"\)' tests/*.c \
                                 | sed -E 's/.*"(.*)".*/\1/' | sort -u | tr '\n' ' ')

# piece KIND FLAVOUR [SUITE] — runs one piece, prints one line; its log
# keeps memcheck's words
piece() {
    local kind=$1 f=$2 s=${3:-} t0=$SECONDS log rc
    case $kind in
    unit)
        log=$build/$f/valgrind-unit-$s.log
        env CK_TIMEOUT_MULTIPLIER=20 CK_RUN_SUITE="$s" CK_EXCLUDE_TAGS=native $vg "$build/$f/hak_tests" >"$log" 2>&1
        rc=$?
        echo "memcheck: unit tests ($f, suite $s) $(grep -oE '[0-9]+%: Checks: [0-9]+.*' "$log" | tail -1) in $((SECONDS - t0))s$([ $rc -eq 0 ] || echo " FAILED (exit $rc, $log)")"
        ;;
    larson)
        log=$build/$f/valgrind-larson.log
        STRESS_OPS=50000 STRESS_THREADS=3 $vg "$build/$f/stress_larson" >"$log" 2>&1
        rc=$?
        echo "memcheck: larson stress ($f) $(grep -m1 '^larson:' "$log") in $((SECONDS - t0))s$([ $rc -eq 0 ] || echo " FAILED (exit $rc, $log)")"
        ;;
    bug)
        # The buggy program must be reported: no --error-exitcode (its
        # errors are wanted), each report looked for by name.
        log=$build/debug/vg_bug.log
        if ! gcc -g -O0 -Iinclude tests/valgrind/bug.c "$build/debug/libhakmem_core.a" \
                -pthread -o "$build/debug/vg_bug" >"$log" 2>&1; then
            echo "memcheck: the buggy program did not build FAILED (exit 1, $log)"; return
        fi
        valgrind --leak-check=full "$build/debug/vg_bug" >"$log" 2>&1
        local want missing=""
        for want in "Invalid read of size 1" "Invalid write of size 1" "definitely lost"; do
            grep -q "$want" "$log" || missing="$missing, $want"
        done
        if [ -z "$missing" ]; then
            echo "memcheck: a buggy program reported (use after free, overflow, leak) in $((SECONDS - t0))s"
        else
            echo "memcheck: a buggy program NOT reported:${missing#,} FAILED (exit 1, $log)"
        fi
        ;;
    esac
}
export -f piece
export build vg
t0=$SECONDS
# larson first (a minute under load), the buggy program last (seconds)
{
    for f in $flavours; do echo "larson $f -"; done
    for f in $flavours; do
        for s in $suites; do echo "unit $f $s"; done
    done
    echo "bug debug -"
} | xargs -P "$jobs" -n 3 bash -c 'piece "$0" "$1" "$2"' | tee "$build/valgrind-units.txt"
if grep -q FAILED "$build/valgrind-units.txt"; then
    echo "valgrind: FAILED after $((SECONDS - t0))s:"
    grep FAILED "$build/valgrind-units.txt" | while read -r line; do
        log=${line##*, }; log=${log%)}
        echo "$line"
        # memcheck's first error (not its banner), else the log's end
        { grep -m1 -A3 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and|Process terminating|[0-9,]+ bytes in)' "$log" \
          || tail -3 "$log"; } | sed 's/^/   | /'
    done
    exit 1
fi
echo "valgrind: unit tests and stress clean, the buggy program reported ($((SECONDS - t0))s)"
