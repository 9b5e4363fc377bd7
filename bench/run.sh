#!/usr/bin/env bash
# bench/run.sh — hakmem against its peers, every workload under every
# allocator (LD_PRELOAD), interleaved: for each workload, run k of n goes
# A B C ... then A B C ... again, so slow drifts of a shared machine hit
# every allocator alike. Medians are reported, and every figure also as a
# ratio to mimalloc from the same invocation.
#
#   bench/run.sh                 (what `make bench` runs)
#
# Knobs (environment):
#   BENCH_RUNS=5          runs per workload and allocator
#   BENCH_QUICK=1         small counts (a smoke run, seconds per workload);
#                         results go to build/bench/results-quick/
#   BENCH_WORKLOADS=a,b   subset of workloads (names below)
#   BENCH_ALLOCS=a,b      subset of allocators (names below)
#   BENCH_TIMEOUT=60      seconds before a run is killed (30 in quick mode);
#                         reported, and that allocator's later runs of the
#                         same workload are skipped
#   BENCH_FUTEX=1         0: skip the futex count (strace) mode
#   BENCH_FUTEX_ONLY=1    only the futex count mode
#   BENCH_OUT=dir         where results go (default bench/results)
#   BENCH_SKIP_DEPS=1     do not run tools/install-deps.sh
#
# Measures per run: wall time and peak RSS from GNU time (/usr/bin/time -f
# '%e %M'), and the workload's own RESULT line (ops, ops/s, check, extras).
# A run that crashes, times out or fails its own verification is recorded
# with its status and left out of the medians.
#
# Futex mode: each allocator on the producer/consumer workload, one pair,
# one million blocks (so one million cross-thread frees), under
# `strace -f -c -e trace=futex`; the workload itself waits by spinning and
# sched_yield, so the futex calls are the allocator's (plus thread join).
#
# Output: $OUT/results.md, results.csv, raw.csv, futex.csv, chart.png.
# Progress goes to stderr.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
BIN=${BENCH_BIN:-$BUILD/bench}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
QUICK=${BENCH_QUICK:-0}
[[ $QUICK = 1 ]] && RUNS=${BENCH_RUNS:-3} || RUNS=${BENCH_RUNS:-5}
if [[ $QUICK = 1 ]]; then
    OUT=${BENCH_OUT:-$BUILD/bench/results-quick}
    TIMEOUT=${BENCH_TIMEOUT:-30}
else
    OUT=${BENCH_OUT:-$ROOT/bench/results}
    TIMEOUT=${BENCH_TIMEOUT:-60}
fi
FUTEX=${BENCH_FUTEX:-1}
FUTEX_ONLY=${BENCH_FUTEX_ONLY:-0}
FUTEX_RUNS=${BENCH_FUTEX_RUNS:-3}
FUTEX_BLOCKS=1000000

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# ---- Dependencies ------------------------------------------------------------

. "$ROOT/bench/peers.sh"
peers_deps
# strace is the futex mode's own need.
if [[ $FUTEX = 1 || $FUTEX_ONLY = 1 ]] && ! command -v strace >/dev/null 2>&1; then
    peers_apt_install strace || { say "strace unavailable: futex mode skipped"; FUTEX=0; FUTEX_ONLY=0; }
fi
command -v python3 >/dev/null || die "python3 is needed for the report"

# Build what is missing (make bench has built everything already).
if [[ ! -x $BIN/memory || ! -f $BUILD/release/libhakmem.so || ! -f $BUILD/debug/libhakmem.so ]]; then
    say "building libraries and workloads"
    make -C "$ROOT" -s BUILD="$BUILD" all bench-build >&2 || die "build failed"
fi

# Snapshot of the libraries and workloads: other work may rebuild build/
# while the benchmark runs; every run must preload the same hakmem.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/release" "$TMP/debug" "$TMP/bin"
cp "$BUILD/release/libhakmem.so" "$TMP/release/" && cp "$BUILD/debug/libhakmem.so" "$TMP/debug/" &&
    (cd "$BIN" && cp tiny window larson prodcons falseshare mid large realloc memory "$TMP/bin/") || die "cannot snapshot the build"
BIN=$TMP/bin
HAKMEM_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n $(git -C "$ROOT" status --porcelain -- src hardening include Makefile 2>/dev/null) ]] &&
    HAKMEM_COMMIT+=" (+ uncommitted changes in src/hardening/include)"

# ---- Allocators ------------------------------------------------------------------
# name=path; mimalloc first: it is the reference of every ratio.

peers_select "${BENCH_ALLOCS:-}" < <(peers_list "$TMP")
((${#ANAMES[@]})) || die "no allocator to run"
[[ -n ${ALIB[mimalloc]+x} ]] || say "warning: mimalloc not run: no ratios"

# ---- Workloads -----------------------------------------------------------------
# name|mt|full arguments|quick arguments (program first). mt=1: multi-threaded,
# its ops/s is a headline figure. Full sizes take about 1–2 s each under
# glibc on a 2-core machine.

WORKLOADS=(
    "tiny16|0|tiny -s 16 -i 40e6|tiny -s 16 -i 2e6"
    "tiny64|0|tiny -s 64 -i 40e6|tiny -s 64 -i 2e6"
    "tiny256|0|tiny -s 256 -i 30e6|tiny -s 256 -i 2e6"
    "tiny1024|0|tiny -s 1024 -i 20e6|tiny -s 1024 -i 1e6"
    "window|0|window -i 15e6|window -i 1e6"
    "larson|1|larson -t 4 -i 3e6|larson -t 4 -i 2e5"
    "prodcons|1|prodcons -i 5e6|prodcons -i 1e6"
    "falseshare|1|falseshare -i 240000|falseshare -i 10000"
    "mid|0|mid -i 3e6|mid -i 2e5"
    "large|0|large -i 6000|large -i 300"
    "realloc|0|realloc -r 120|realloc -r 10"
    "memory|0|memory -i 2e6|memory -i 2e5"
)

WNAMES=() ; declare -A WARGS WMT
for e in "${WORKLOADS[@]}"; do
    IFS='|' read -r n mt full quick <<<"$e"
    peers_in_list "$n" "${BENCH_WORKLOADS:-}" || continue
    WNAMES+=("$n"); WMT[$n]=$mt
    [[ $QUICK = 1 ]] && WARGS[$n]=$quick || WARGS[$n]=$full
done

mkdir -p "$OUT"

# ---- One run ---------------------------------------------------------------------
# Appends a row to raw.csv:
# workload,allocator,run,status,wall_s,maxrss_kb,inner_s,ops,ops_per_sec,check,extra,note

RAW=$OUT/raw.csv
csvq() { local s=${1//\"/\'}; printf '"%s"' "$s"; }

declare -A TIMED_OUT
run_one() { # workload allocator k
    local w=$1 a=$2 k=$3 lib=${ALIB[$2]} rc=0
    if [[ -n ${TIMED_OUT[$w/$a]+x} ]]; then
        echo "$w,$a,$k,skipped,,,,,,,\"\",\"after a timeout in run ${TIMED_OUT[$w/$a]}\"" >>"$RAW"
        say "$(printf '[%d/%d] %-10s %-14s run %d of %d: skipped (timed out before)' "$DONE" "$TOTAL" "$w" "$a" "$k" "$RUNS")"
        return
    fi
    local -a cmd
    read -r -a cmd <<<"${WARGS[$w]}"
    cmd[0]=$BIN/${cmd[0]}
    rm -f "$TMP/time"
    # timeout signals its whole process group (itself included): the
    # subshell keeps bash's "Killed" notice off the terminal.
    ( timeout -s KILL "$TIMEOUT" /usr/bin/time -f '%e %M' -o "$TMP/time" \
        env LD_PRELOAD="$lib" "${cmd[@]}" >"$TMP/out" 2>"$TMP/err" </dev/null ) 2>/dev/null || rc=$?
    local status=ok wall='' rss='' note=''
    local line; line=$(grep -m1 '^RESULT ' "$TMP/out" || true)
    if [[ -s $TMP/time ]]; then
        read -r wall rss < <(tail -n 1 "$TMP/time")
    fi
    if ((rc == 137)) && ! grep -q 'terminated by signal' "$TMP/time" 2>/dev/null; then
        status=timeout note="killed after ${TIMEOUT}s"
        TIMED_OUT[$w/$a]=$k
    elif grep -q '^FAIL: ' "$TMP/err"; then
        status=verify-failed note=$(grep -m1 '^FAIL: ' "$TMP/err")
    elif grep -q 'terminated by signal' "$TMP/time" 2>/dev/null; then
        status="signal-$(grep -o 'terminated by signal [0-9]*' "$TMP/time" | awk '{print $4}')"
        note=$(grep -m1 -v '^$' "$TMP/err" || true)
    elif ((rc != 0)); then
        status="exit-$rc" note=$(grep -m1 -v '^$' "$TMP/err" || true)
    elif [[ -z $line ]]; then
        status=no-result note=$(grep -m1 -v '^$' "$TMP/err" || true)
    fi
    local inner='' ops='' ops_s='' check='' extra=''
    if [[ -n $line ]]; then
        local kv
        for kv in ${line#RESULT }; do
            case $kv in
            secs=*) inner=${kv#*=} ;;
            ops=*) ops=${kv#*=} ;;
            ops_per_sec=*) ops_s=${kv#*=} ;;
            check=*) check=${kv#*=} ;;
            workload=*) ;;
            *) extra+="${extra:+;}$kv" ;;
            esac
        done
    fi
    [[ $status = ok ]] || { wall='' ; }
    echo "$w,$a,$k,$status,$wall,$rss,$inner,$ops,$ops_s,$check,$(csvq "$extra"),$(csvq "${note:0:300}")" >>"$RAW"
    local msg="$status"
    if [[ $status = ok ]]; then
        msg="$(printf '%6.2f s %8.1f MiB' "$wall" "$(awk -v r="$rss" 'BEGIN{print r/1024}')")"
        [[ ${WMT[$w]} = 1 ]] && msg+="$(awk -v o="$ops_s" 'BEGIN{printf "  %.3g ops/s", o}')"
    else
        msg+=" ${note:0:160}"
    fi
    say "$(printf '[%d/%d] %-10s %-14s run %d of %d: %s' "$DONE" "$TOTAL" "$w" "$a" "$k" "$RUNS" "$msg")"
}

# ---- Futex counts --------------------------------------------------------------------

futex_one() { # allocator k
    local a=$1 k=$2 lib=${ALIB[$1]} rc=0 calls='' errors='' status=ok
    local -a sopt=(-f -c -e trace=futex)
    strace --help 2>&1 | grep -q seccomp-bpf && sopt+=(--seccomp-bpf)
    local t0=$EPOCHREALTIME
    timeout -s KILL "$TIMEOUT" strace "${sopt[@]}" -o "$TMP/strace" \
        env LD_PRELOAD="$lib" "$BIN/prodcons" -t 1 -i "$FUTEX_BLOCKS" \
        >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
    local t1=$EPOCHREALTIME
    if ((rc != 0)) || ! grep -q '^RESULT ' "$TMP/out"; then
        status="failed-$rc"
    else
        # "% time seconds usecs/call calls [errors] syscall": calls is the
        # 4th field; errors, when present, the 5th.
        read -r calls errors < <(awk '$NF == "futex" { print $4, (NF == 6 ? $5 : 0) }' "$TMP/strace")
        calls=${calls:-0} errors=${errors:-0}
    fi
    local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
    echo "$a,$k,$status,$calls,$errors,$secs" >>"$OUT/futex.csv"
    say "$(printf 'futex %-14s run %d of %d: %s calls (%s errors) in %s s%s' "$a" "$k" "$FUTEX_RUNS" \
        "${calls:-?}" "${errors:-?}" "$secs" "$([[ $status = ok ]] || echo " [$status]")")"
}

# ---- Main ----------------------------------------------------------------------------

T_START=$(date +%s)
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc=$(nproc)"
    echo "cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "kernel=$(uname -sr)"
    echo "glibc=$(ldd --version 2>/dev/null | head -n 1 | awk '{print $NF}')"
    echo "commit=$HAKMEM_COMMIT"
    echo "runs=$RUNS"
    echo "quick=$QUICK"
    echo "timeout=$TIMEOUT"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    for n in "${ANAMES[@]}"; do
        v=$(peers_version "$n")
        lib=${ALIB[$n]:-(none: glibc)}
        [[ $n = hakmem-* ]] && lib="$BUILD/${n#hakmem-}/libhakmem.so (copied at start)"
        echo "lib_$n=$lib|$v"
    done
    for n in "${WNAMES[@]}"; do echo "args_$n=${WARGS[$n]}|${WMT[$n]}"; done
} >"$OUT/meta.txt"

if [[ $FUTEX_ONLY != 1 ]]; then
    echo "workload,allocator,run,status,wall_s,maxrss_kb,inner_s,ops,ops_per_sec,check,extra,note" >"$RAW"
    TOTAL=$(( ${#WNAMES[@]} * RUNS * ${#ANAMES[@]} ))
    say "$TOTAL runs: ${#WNAMES[@]} workloads x ${#ANAMES[@]} allocators x $RUNS runs$([[ $QUICK = 1 ]] && echo ' (quick)')"
    peers_interleave "$RUNS"
fi

if [[ $FUTEX = 1 || $FUTEX_ONLY = 1 ]]; then
    echo "allocator,run,status,futex_calls,futex_errors,secs" >"$OUT/futex.csv"
    say "futex mode: prodcons, 1 pair, $FUTEX_BLOCKS cross-thread frees, strace -f -c -e trace=futex"
    for ((k = 1; k <= FUTEX_RUNS; k++)); do
        for a in "${ANAMES[@]}"; do futex_one "$a" "$k"; done
    done
fi

peers_finish report.py
