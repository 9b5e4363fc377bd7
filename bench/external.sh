#!/usr/bin/env bash
# bench/external.sh — hakmem against its peers on workloads of
# mimalloc-bench, the suite allocator authors compare on. The suite is not
# part of hakmem and is never downloaded by it: the user checks it out
# (https://github.com/daanx/mimalloc-bench) and names the checkout.
#
#   make bench-external MIMALLOC_BENCH=/path/to/mimalloc-bench
#   MIMALLOC_BENCH=/path bench/external.sh      (the same, without make)
#
# With EXT_SUITE=real (make bench-real GIT_REPO=/path/to/a/git/repository)
# the workloads are real programs instead, the system's git and sqlite3:
#   git-log-p   git log -p of the newest EXT_GIT_COMMITS commits (2000)
#   git-blame   git blame HEAD -- EXT_GIT_BLAME (Makefile)
#   git-pack    git pack-objects --all --stdout: the object enumeration
#               and delta reuse that git repack does, into /dev/null
#               (the repository is only read)
#   sqlite      queries on a generated database of EXT_SQLITE_ROWS rows
#               (1,500,000: about 400 MiB; made once, with sqlite3 and no
#               preload, under $BUILD/bench-real/), with a 256 MiB page
#               cache and in-memory temporary tables (bench/real.sql)
# The git ones need EXT_GIT_REPO (any repository with history: hakmem's own
# is too small to say much; git's own is a good size); without it only
# sqlite runs. Outputs go to /dev/null; the figures are CPU time and peak
# RSS.
#
# Each workload is compiled from the checkout's bench/ directory with
# gcc/g++ -O2 -DNDEBUG (the suite's Release flags) into
# $BUILD/bench-external/bin, then run under every allocator (LD_PRELOAD),
# interleaved: run k of n goes A B C ... then A B C ... again, so slow
# drifts of a shared machine hit every allocator alike. Arguments are the
# suite's own (bench.sh) at its concurrency level EXT_PROCS (default: the
# number of processors).
#
# sh6bench and sh8bench are built only when the checkout holds
# bench/shbench/sh6bench-new.c and sh8bench-new.c, which the suite's
# build-bench-env.sh makes from MicroQuill's sources (not in its
# repository); without them the two are skipped with a note.
#
# Knobs (environment; make passes REPS and the rest through):
#   MIMALLOC_BENCH=dir    the checkout (required for the suite)
#   EXT_SUITE=real        real programs (above) instead of mimalloc-bench
#   EXT_GIT_REPO=dir, EXT_GIT_COMMITS=n, EXT_GIT_BLAME=path, EXT_SQLITE_ROWS=n
#   REPS=5                runs per workload and allocator
#   EXT_WORKLOADS=a,b     subset of workloads (names below)
#   EXT_ALLOCS=a,b        subset of allocators (default: every peer and
#                         hakmem-release; hakmem-debug on request)
#   EXT_PROCS=n           concurrency level (default nproc)
#   EXT_TIMEOUT=120       seconds before a run is killed
#   EXT_OUT=dir           where results go (default bench/results/external,
#                         bench/results/real for EXT_SUITE=real)
#   BENCH_SKIP_DEPS=1     do not run tools/install-deps.sh
#
# Measures per run, with GNU time: CPU time (user + system), wall time and
# peak RSS; for the workloads that run for a fixed time instead of a fixed
# amount of work (larson, xmalloc-test, glibc-thread) and for rptest, the
# throughput the program prints. The primary figure of a row is that
# throughput (higher is better) where there is one, CPU time (lower is
# better) otherwise: on a shared machine CPU time is steadier than wall
# time (the fixed-time workloads also get a table of throughput per CPU
# second). Medians; every figure also as a ratio to the best peer (glibc,
# mimalloc, jemalloc, tcmalloc, Scudo: hakmem is never its own reference).
#
# Output: $EXT_OUT/results.md, raw.csv, meta.txt, chart.dat, chart.png.
# Progress goes to stderr.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
REPS=${REPS:-5}
PROCS=${EXT_PROCS:-$(nproc)}
TIMEOUT=${EXT_TIMEOUT:-120}
SUITE=${EXT_SUITE:-mimalloc-bench}
case $SUITE in
mimalloc-bench) OUT=${EXT_OUT:-$ROOT/bench/results/external} ;;
real) OUT=${EXT_OUT:-$ROOT/bench/results/real} ;;
*) echo "bench-external: error: EXT_SUITE is mimalloc-bench or real" >&2; exit 2 ;;
esac
BIN=$BUILD/bench-external/bin
OBJ=$BUILD/bench-external/obj

say() { echo "bench-external: $*" >&2; }
die() { echo "bench-external: error: $*" >&2; exit 1; }

if [[ $SUITE = mimalloc-bench ]]; then
    [[ -n ${MIMALLOC_BENCH:-} ]] ||
        die "name a mimalloc-bench checkout: make bench-external MIMALLOC_BENCH=/path/to/mimalloc-bench"
    SRC=$(cd "$MIMALLOC_BENCH" 2>/dev/null && pwd)/bench
    [[ -f $SRC/larson/larson.cpp && -f $SRC/alloc-test/allocator_tester.cpp ]] ||
        die "$MIMALLOC_BENCH is not a mimalloc-bench checkout (no bench/larson/larson.cpp)"
fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"

. "$ROOT/bench/peers.sh"
peers_deps
command -v python3 >/dev/null || die "python3 is needed for the report"

# ---- Build ---------------------------------------------------------------------
# name|language|extra flags|sources (relative to bench/)|libraries
# The flags are the suite's (its CMakeLists.txt). cache-scratch and
# cache-thrash get -fno-allocation-dce: gcc 12 deletes their new/delete
# pairs at -O2, and they would measure an empty loop.

PROGS=(
    "larson-sized|c++|-DCPP=1 -DSIZED=1 -fsized-deallocation|larson/larson.cpp|-pthread"
    "xmalloc-test|c||xmalloc-test/xmalloc-test.c|-pthread"
    "alloc-test|c++|-DBENCH=4|alloc-test/test_common.cpp alloc-test/allocator_tester.cpp|-pthread"
    "sh6bench|c|-DBENCH=1 -DSYS_MULTI_THREAD=1|shbench/sh6bench-new.c|-pthread"
    "sh8bench|c|-DBENCH=1 -DSYS_MULTI_THREAD=1|shbench/sh8bench-new.c|-pthread"
    "glibc-simple|c||glibc-bench/bench-malloc-simple.c|-pthread"
    "glibc-thread|c||glibc-bench/bench-malloc-thread.c|-pthread"
    "rptest|c|-Irptest|rptest/rptest.c rptest/thread.c rptest/timer.c|-pthread -lm"
    "cfrac|c|-std=gnu89 -DNOMEMOPT=1|cfrac/cfrac.c cfrac/pops.c cfrac/pconst.c cfrac/pio.c cfrac/pabs.c cfrac/pneg.c cfrac/pcmp.c cfrac/podd.c cfrac/phalf.c cfrac/padd.c cfrac/psub.c cfrac/pmul.c cfrac/pdivmod.c cfrac/psqrt.c cfrac/ppowmod.c cfrac/atop.c cfrac/ptoa.c cfrac/itop.c cfrac/utop.c cfrac/ptou.c cfrac/errorp.c cfrac/pfloat.c cfrac/pidiv.c cfrac/pimod.c cfrac/picmp.c cfrac/primes.c cfrac/pcfrac.c cfrac/pgcd.c|-lm"
    "espresso|c|-std=gnu89|espresso/cofactor.c espresso/cols.c espresso/compl.c espresso/contain.c espresso/cubestr.c espresso/cvrin.c espresso/cvrm.c espresso/cvrmisc.c espresso/cvrout.c espresso/dominate.c espresso/equiv.c espresso/espresso.c espresso/essen.c espresso/exact.c espresso/expand.c espresso/gasp.c espresso/getopt.c espresso/gimpel.c espresso/globals.c espresso/hack.c espresso/indep.c espresso/irred.c espresso/main.c espresso/map.c espresso/matrix.c espresso/mincov.c espresso/opo.c espresso/pair.c espresso/part.c espresso/primes.c espresso/reduce.c espresso/rows.c espresso/set.c espresso/setc.c espresso/sharp.c espresso/sminterf.c espresso/solution.c espresso/sparse.c espresso/unate.c espresso/utility.c espresso/verify.c|-lm"
    "cache-scratch|c++|-fno-allocation-dce|cache-scratch/cache-scratch.cpp|-pthread"
    "cache-thrash|c++|-fno-allocation-dce|cache-thrash/cache-thrash.cpp|-pthread"
    "mstress|c||mstress/mstress.c|-pthread"
    "malloc-large|c++||malloc-large/malloc-large.cpp|-pthread"
)
# The suite's flags: Release, its warnings off (decades-old C).
CFLAGS_EXT="-O2 -DNDEBUG -w"
CXXFLAGS_EXT="-O2 -DNDEBUG -w -std=c++17"

declare -A BUILT
build_one() { # name lang flags sources libs
    local n=$1 lang=$2 flags=$3 srcs=$4 libs=$5 s objs=() newest=0 t
    for s in $srcs; do
        [[ -f $SRC/$s ]] || { say "note: $n not built: $SRC/$s missing"; return 0; }
        t=$(stat -c %Y "$SRC/$s"); ((t > newest)) && newest=$t
    done
    t=$(stat -c %Y "$ROOT/bench/external.sh"); ((t > newest)) && newest=$t
    if [[ -x $BIN/$n ]] && (($(stat -c %Y "$BIN/$n") >= newest)); then
        BUILT[$n]=1; return 0
    fi
    local cc=${CC:-gcc} fl=$CFLAGS_EXT
    [[ $lang = c++ ]] && cc=${CXX:-g++} fl=$CXXFLAGS_EXT
    mkdir -p "$OBJ/$n"
    for s in $srcs; do
        local o=$OBJ/$n/$(basename "${s%.*}").o
        # -I: the workload's own directory, as cmake's per-target include
        (cd "$SRC" && $cc $fl $flags -I"$SRC/$(dirname "$s")" -c "$s" -o "$o") >&2 ||
            { say "warning: $n: $s failed to compile; skipped"; return 0; }
        objs+=("$o")
    done
    $cc -o "$BIN/$n" "${objs[@]}" $libs >&2 || { say "warning: $n failed to link; skipped"; return 0; }
    BUILT[$n]=1
}

if [[ $SUITE = mimalloc-bench ]]; then
    mkdir -p "$BIN"
    say "building workloads from $SRC into $BIN"
    for e in "${PROGS[@]}"; do
        IFS='|' read -r n lang flags srcs libs <<<"$e"
        build_one "$n" "$lang" "$flags" "$srcs" "$libs"
    done
fi

# ---- Real programs (EXT_SUITE=real) ------------------------------------------------
# The system's git and sqlite3 (installed by tools/install-deps.sh). The
# database is generated once per row count, without a preload.
REAL=$BUILD/bench-real
GIT_REPO=${EXT_GIT_REPO:-}
GIT_COMMITS=${EXT_GIT_COMMITS:-2000}
GIT_BLAME=${EXT_GIT_BLAME:-Makefile}
SQLITE_ROWS=${EXT_SQLITE_ROWS:-1500000}
real_setup() {
    local git sqlite db
    git=$(command -v git) || die "git is not installed"
    sqlite=$(command -v sqlite3) || die "sqlite3 is not installed"
    for v in GIT_COMMITS SQLITE_ROWS; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "EXT_$v must be a positive integer"
    done
    db=$REAL/bench-$SQLITE_ROWS.db
    if [[ ! -s $db ]]; then
        mkdir -p "$REAL"
        say "generating $db ($SQLITE_ROWS rows; once)"
        rm -f "$db.tmp"
        sed "s/@ROWS@/$SQLITE_ROWS/" "$ROOT/bench/real_gen.sql" |
            env -u LD_PRELOAD "$sqlite" -batch -bail "$db.tmp" >/dev/null ||
            die "generating the database failed"
        mv "$db.tmp" "$db"
    fi
    WORKLOADS=("sqlite|$sqlite|-batch -bail -init $ROOT/bench/real.sql $db|")
    [[ -n $GIT_REPO ]] || { say "note: the git workloads need EXT_GIT_REPO (make bench-real GIT_REPO=...)"; return; }
    git -C "$GIT_REPO" rev-parse --verify -q HEAD >/dev/null ||
        die "$GIT_REPO is not a git repository with a HEAD"
    git -C "$GIT_REPO" cat-file -e "HEAD:$GIT_BLAME" 2>/dev/null ||
        die "$GIT_BLAME is not a file of $GIT_REPO's HEAD (EXT_GIT_BLAME)"
    [[ $ROOT$GIT_REPO$GIT_BLAME$db != *[[:space:]]* ]] || die "paths with spaces are not supported"
    WORKLOADS=(
        "git-log-p|$git|-C $GIT_REPO log -p --no-color -n $GIT_COMMITS|"
        "git-blame|$git|-C $GIT_REPO blame HEAD -- $GIT_BLAME|"
        "git-pack|$git|-C $GIT_REPO pack-objects --all --stdout -q|"
        "${WORKLOADS[@]}"
    )
}

# ---- Workloads ---------------------------------------------------------------------
# name|program|arguments|throughput: how the program prints the throughput
# it reached (empty: the workload does a fixed amount of work and its CPU
# time is the figure). Arguments are bench.sh's, with procs = EXT_PROCS.

P=$PROCS P2=$((PROCS * 2)) PA=$((PROCS > 16 ? 16 : PROCS))
[[ $SUITE = real ]] || WORKLOADS=(
    "larsonN-sized|larson-sized|5 8 1000 5000 100 4141 $P|larson"
    "xmalloc-testN|xmalloc-test|-w $P -t 5 -s 64|xmalloc"
    "alloc-test1|alloc-test|1|"
    "alloc-testN|alloc-test|$PA|"
    "sh6benchN|sh6bench|$P2|"
    "sh8benchN|sh8bench|$P2|"
    "glibc-simple|glibc-simple||"
    "glibc-thread|glibc-thread|$P|glibc-thread"
    "rptestN|rptest|$P 0 1 2 500 1000 100 8 16000|rptest"
    "cfrac|cfrac|17545186520507317056371138836327483792789528|"
    "espresso|espresso|$SRC/espresso/largest.espresso|"
    "cache-scratch1|cache-scratch|1 1000 1 2000000 $P|"
    "cache-thrash1|cache-thrash|1 1000 1 2000000 $P|"
    "mstressN|mstress|$P 50 25|"
    "malloc-large|malloc-large||"
)

[[ $SUITE = real ]] && real_setup

WNAMES=() ; declare -A WPROG WARGS WTPUT
for e in "${WORKLOADS[@]}"; do
    IFS='|' read -r n prog args tput <<<"$e"
    peers_in_list "$n" "${EXT_WORKLOADS:-}" || continue
    [[ $prog = /* || -n ${BUILT[$prog]+x} ]] || { say "note: $n skipped ($prog not built)"; continue; }
    WNAMES+=("$n"); WPROG[$n]=$prog WARGS[$n]=$args WTPUT[$n]=$tput
done
((${#WNAMES[@]})) || die "no workload to run"

# The throughput a run printed, in operations per second (rptest prints
# memory operations per CPU second itself).
throughput() { # kind outfile
    case $1 in
    larson) sed -n 's/^Throughput = *\([0-9.e+]*\) operations per second.*/\1/p' "$2" | head -n 1 ;;
    xmalloc) sed -n 's/^rtime: .*, free\/sec: *\([0-9.]*\) M.*/\1/p' "$2" |
                 awk '{ printf "%.0f\n", $1 * 1e6 }' ;;
    glibc-thread) sed -n 's/^\([0-9][0-9]*\) iterations.*/\1/p' "$2" | head -n 1 ;;
    rptest) sed -n 's/.*\.\.\.\([0-9][0-9]*\) memory ops.*/\1/p' "$2" | head -n 1 ;;
    esac
}

# ---- Allocators ------------------------------------------------------------------

# Snapshot of hakmem: other work may rebuild build/ while this runs.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/release" "$TMP/debug"
[[ -f $BUILD/release/libhakmem.so ]] || make -C "$ROOT" -s BUILD="$BUILD" all >&2 || die "build failed"
cp "$BUILD/release/libhakmem.so" "$TMP/release/" || die "cannot snapshot the build"
[[ -f $BUILD/debug/libhakmem.so ]] && cp "$BUILD/debug/libhakmem.so" "$TMP/debug/"
HAKMEM_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n $(git -C "$ROOT" status --porcelain -- src hardening include Makefile 2>/dev/null) ]] &&
    HAKMEM_COMMIT+=" (+ uncommitted changes in src/hardening/include)"

peers_select "${EXT_ALLOCS:-mimalloc,glibc,jemalloc,tcmalloc,scudo,hakmem-release}" \
    < <(peers_list "$TMP")
((${#ANAMES[@]})) || die "no allocator to run"

# ---- Runs ---------------------------------------------------------------------------
# raw.csv: workload,allocator,run,status,cpu_s,wall_s,maxrss_kb,throughput,note

mkdir -p "$OUT"
RAW=$OUT/raw.csv
csvq() { local s=${1//\"/\'}; printf '"%s"' "$s"; }

declare -A TIMED_OUT
run_one() { # workload allocator k
    local w=$1 a=$2 k=$3 rc=0
    if [[ -n ${TIMED_OUT[$w/$a]+x} ]]; then
        echo "$w,$a,$k,skipped,,,,,\"after a timeout in run ${TIMED_OUT[$w/$a]}\"" >>"$RAW"
        return
    fi
    local -a args
    read -r -a args <<<"${WARGS[$w]}"
    rm -f "$TMP/time"
    # The suite's programs read their input files relative to their own
    # directory at most; stdin is empty, as under bench.sh. What a program
    # prints is kept only when its throughput is read from it (git log -p
    # prints hundreds of MiB).
    local prog=${WPROG[$w]} out=/dev/null
    [[ $prog = /* ]] || prog=$BIN/$prog
    [[ -n ${WTPUT[$w]} ]] && out=$TMP/out
    ( cd "$TMP" && timeout -s KILL "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$TMP/time" \
        env LD_PRELOAD="${ALIB[$a]}" "$prog" "${args[@]}" \
        >"$out" 2>"$TMP/err" </dev/null ) 2>/dev/null || rc=$?
    local status=ok wall='' usr='' sys='' rss='' cpu='' tput='' note=''
    [[ -s $TMP/time ]] && read -r wall usr sys rss < <(tail -n 1 "$TMP/time")
    if ((rc == 137)) && ! grep -q 'terminated by signal' "$TMP/time" 2>/dev/null; then
        status=timeout note="killed after ${TIMEOUT}s"; TIMED_OUT[$w/$a]=$k
    elif grep -q 'terminated by signal' "$TMP/time" 2>/dev/null; then
        status="signal-$(grep -o 'terminated by signal [0-9]*' "$TMP/time" | awk '{print $4}')"
        note=$(grep -m1 -v '^$' "$TMP/err" || true)
    elif ((rc != 0)); then
        status="exit-$rc" note=$(grep -m1 -v '^$' "$TMP/err" || true)
    fi
    if [[ $status = ok ]]; then
        cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
        if [[ -n ${WTPUT[$w]} ]]; then
            tput=$(throughput "${WTPUT[$w]}" "$TMP/out")
            [[ -n $tput ]] || { status=no-result note="no throughput in the output"; }
        fi
    fi
    [[ $status = ok ]] || { wall='' cpu='' rss=''; }
    echo "$w,$a,$k,$status,$cpu,$wall,$rss,$tput,$(csvq "${note:0:300}")" >>"$RAW"
    local msg=$status
    [[ $status = ok ]] && msg=$(awk -v c="$cpu" -v w="$wall" -v r="$rss" -v t="$tput" \
        'BEGIN { printf "cpu %6.2f s  wall %6.2f s  %7.1f MiB", c, w, r / 1024;
                 if (t != "") printf "  %.3g /s", t }')
    [[ $status = ok ]] || msg+=" ${note:0:160}"
    say "$(printf '[%d/%d] %-14s %-14s run %d of %d: %s' "$DONE" "$TOTAL" "$w" "$a" "$k" "$REPS" "$msg")"
}

T_START=$(date +%s)
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc=$(nproc)"
    echo "procs=$PROCS"
    echo "cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "kernel=$(uname -sr)"
    echo "compiler=$(${CC:-gcc} --version | head -n 1)"
    if [[ $SUITE = real ]]; then
        echo "suite=real"
        echo "git=$(git --version)|$( [[ -n $GIT_REPO ]] && git -C "$GIT_REPO" rev-parse --short HEAD)"
        echo "sqlite=$(sqlite3 -version | cut -d' ' -f1)|$SQLITE_ROWS rows"
    else
        echo "suite=$(git -C "$MIMALLOC_BENCH" rev-parse --short HEAD 2>/dev/null || echo 'not a git work tree')"
    fi
    echo "commit=$HAKMEM_COMMIT"
    echo "reps=$REPS"
    echo "timeout=$TIMEOUT"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    for n in "${ANAMES[@]}"; do
        echo "lib_$n=${ALIB[$n]:-(none: glibc)}|$(peers_version "$n")"
    done
    for n in "${WNAMES[@]}"; do echo "args_$n=${WPROG[$n]} ${WARGS[$n]}|${WTPUT[$n]}"; done
} >"$OUT/meta.txt"

echo "workload,allocator,run,status,cpu_s,wall_s,maxrss_kb,throughput,note" >"$RAW"
TOTAL=$(( ${#WNAMES[@]} * REPS * ${#ANAMES[@]} ))
say "$TOTAL runs: ${#WNAMES[@]} workloads x ${#ANAMES[@]} allocators x $REPS reps"
peers_interleave "$REPS"

peers_finish external_report.py 'the best peer'
