#!/usr/bin/env bash
# bench/callgrind.sh — instructions per malloc+free pair, counted by
# callgrind, for hakmem and its peers (what `make bench-callgrind` runs).
#
# Two loops: LIFO 64 B (`tiny -s 64`: malloc, write, read back, free) and
# the random window (`window`: 1000 live blocks of 8 B–1 KiB, one replaced
# per step). Each runs at N and 2N iterations under
# `valgrind --tool=callgrind` with the allocator preloaded; Ir(2N) − Ir(N)
# cancels start-up, the allocator's initialisation and the loop's fixed
# cost. The same loop without malloc/free (`-n`: static buffers, same
# payload writes and checks, same random numbers) is measured the same way
# and subtracted, so what is left is the allocator's share:
#
#   per pair = ((Ir(2N) − Ir(N)) − (Ir_n(2N) − Ir_n(N))) / N
#
# It includes the call, the PLT jump and everything malloc and free do.
#
# Knobs: CALLGRIND_N (200000), BENCH_ALLOCS (comma-separated subset),
# BENCH_OUT (bench/results), BENCH_SKIP_DEPS=1.
# Output: a markdown table on stdout and in $BENCH_OUT/callgrind.md.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
BIN=${BENCH_BIN:-$BUILD/bench}
[[ $BIN = /* ]] || BIN=$ROOT/$BIN
OUT=${BENCH_OUT:-$ROOT/bench/results}
N=${CALLGRIND_N:-200000}

say() { echo "callgrind: $*" >&2; }
die() { echo "callgrind: error: $*" >&2; exit 1; }

if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
    "$ROOT/tools/install-deps.sh" >&2 || die "tools/install-deps.sh failed"
fi
command -v valgrind >/dev/null || die "valgrind not found"
if [[ ! -x $BIN/tiny || ! -x $BIN/window || ! -f $BUILD/release/libhakmem.so ]]; then
    make -C "$ROOT" -s BUILD="$BUILD" all bench-build >&2 || die "build failed"
fi

# Snapshot of the libraries and workloads: other work may rebuild build/
# while the benchmark runs; every run must preload the same hakmem.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/release" "$TMP/debug" "$TMP/bin"
cp "$BUILD/release/libhakmem.so" "$TMP/release/" && cp "$BUILD/debug/libhakmem.so" "$TMP/debug/" &&
    (cd "$BIN" && cp tiny window "$TMP/bin/") || die "cannot snapshot the build"
BIN=$TMP/bin
HAKMEM_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n $(git -C "$ROOT" status --porcelain -- src hardening include Makefile 2>/dev/null) ]] &&
    HAKMEM_COMMIT+=" (+ uncommitted changes in src/hardening/include)"

LIBDIR=/usr/lib/x86_64-linux-gnu
scudo=$(ls -1 /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.scudo_standalone-x86_64.so 2>/dev/null |
        sort -V | tail -n 1)
ALL_ALLOCS=(
    "mimalloc=$LIBDIR/libmimalloc.so.2"
    "glibc="
    "jemalloc=$LIBDIR/libjemalloc.so.2"
    "tcmalloc=$LIBDIR/libtcmalloc_minimal.so.4"
    "scudo=$scudo"
    "hakmem-release=$TMP/release/libhakmem.so"
    "hakmem-debug=$TMP/debug/libhakmem.so"
)
ANAMES=() ; declare -A ALIB
for e in "${ALL_ALLOCS[@]}"; do
    n=${e%%=*} p=${e#*=}
    [[ -z ${BENCH_ALLOCS:-} || ",$BENCH_ALLOCS," == *",$n,"* ]] || continue
    if [[ $n != glibc && ! -f $p ]]; then
        say "warning: $n not found (${p:-no file}); skipped"; continue
    fi
    ANAMES+=("$n"); ALIB[$n]=$p
done

CASES=("lifo64|tiny -s 64" "window|window")

# ir LIB PROG ARGS... — total instructions executed (callgrind's "Collected").
ir() {
    local lib=$1; shift
    local prog=$BIN/$1; shift
    if ! LD_PRELOAD="$lib" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
            "$prog" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null ||
       ! grep -q '^RESULT ' "$TMP/out"; then
        local why; why=$(grep -v '^==' "$TMP/err" | grep -v '^$' | head -n 1)
        [[ -n $why ]] || why=$(grep -m1 'Process terminating' "$TMP/err" | sed 's/^==[0-9]*== //')
        say "failed: LD_PRELOAD=$lib $prog $*: ${why:-no RESULT line}"
        echo "${why:-no RESULT line}" >"$TMP/why"
        echo "NA"; return
    fi
    awk '/Collected :/ { print $NF; found = 1 } END { if (!found) print "NA" }' "$TMP/err"
}

delta() { # a b -> b - a, or NA
    [[ $1 = NA || $2 = NA ]] && { echo NA; return; }
    echo $(($2 - $1))
}

declare -A BASE=() PAIR=() RAW=() WHY=()
for c in "${CASES[@]}"; do
    name=${c%%|*}; read -r -a args <<<"${c#*|}"
    say "$name: loop alone (-n), N=$N and 2N"
    b1=$(ir "" "${args[@]}" -n -i "$N"); b2=$(ir "" "${args[@]}" -n -i $((2 * N)))
    BASE[$name]=$(delta "$b1" "$b2")
    for a in "${ANAMES[@]}"; do
        say "$name: $a, N=$N and 2N"
        rm -f "$TMP/why"
        i1=$(ir "${ALIB[$a]}" "${args[@]}" -i "$N"); i2=$(ir "${ALIB[$a]}" "${args[@]}" -i $((2 * N)))
        [[ -s $TMP/why ]] && WHY[$a]=$(cat "$TMP/why")
        d=$(delta "$i1" "$i2")
        RAW[$name/$a]="$i1 $i2"
        if [[ $d = NA || ${BASE[$name]} = NA ]]; then PAIR[$name/$a]=NA
        else PAIR[$name/$a]=$(awk -v d="$d" -v b="${BASE[$name]}" -v n="$N" 'BEGIN { printf "%.1f", (d - b) / n }')
        fi
        say "$name: $a: ${PAIR[$name/$a]} instructions per pair"
    done
done

ratio() { # value ref
    [[ $1 =~ ^-?[0-9.]+$ && $2 =~ ^-?[0-9.]+$ ]] || { echo "–"; return; }
    awk -v v="$1" -v r="$2" 'BEGIN { if (r == 0) print "–"; else printf "%.2f", v / r }'
}

{
    echo "# Instructions per malloc+free pair (callgrind)"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); hakmem commit $HAKMEM_COMMIT"
    echo "- Machine: $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr); $(valgrind --version)"
    echo "- Method: \`valgrind --tool=callgrind\` with the allocator in LD_PRELOAD, each loop at"
    echo "  N = $N and 2N iterations; per pair = ((Ir(2N) − Ir(N)) − (Ir_n(2N) − Ir_n(N))) / N,"
    echo "  where Ir_n is the same loop with \`-n\` (static buffers instead of malloc/free, same"
    echo "  writes, checks and random numbers). Start-up, initialisation and fixed costs cancel;"
    echo "  the figure includes the call and PLT jump of both functions."
    echo "- lifo64: \`tiny -s 64\` (malloc 64 B, write, read back, free; the same block every time"
    echo "  in most allocators). window: \`window\` (1000 live blocks of 8 B–1 KiB, a random one"
    echo "  freed and replaced per step)."
    echo
    echo "| allocator | lifo64: instructions/pair | ratio to mimalloc | window: instructions/pair | ratio to mimalloc |"
    echo "|---|---:|---:|---:|---:|"
    for a in "${ANAMES[@]}"; do
        l=${PAIR[lifo64/$a]} w=${PAIR[window/$a]}
        [[ $l = NA ]] && l="n/a¹"
        [[ $w = NA ]] && w="n/a¹"
        echo "| $a | $l | $(ratio "$l" "${PAIR[lifo64/mimalloc]:-NA}") | $w | $(ratio "$w" "${PAIR[window/mimalloc]:-NA}") |"
    done
    echo
    if ((${#WHY[@]})); then
        echo -n "¹ Did not run under valgrind:"
        for a in "${!WHY[@]}"; do echo -n " $a: \`${WHY[$a]}\`."; done
        [[ -n ${WHY[scudo]:-} ]] && echo -n " (Scudo's primary reserves one PROT_NONE region of" \
            "about 180 GiB at start-up, more address space than valgrind gives its client.)"
        echo
        echo
    fi
    echo "The loops alone (\`-n\`), instructions per iteration (subtracted above):"
    for c in "${CASES[@]}"; do
        name=${c%%|*}
        b=${BASE[$name]}
        echo "$name $( [[ $b = NA ]] && echo NA || awk -v b="$b" -v n="$N" 'BEGIN { printf "%.1f", b / n }')"
    done | awk '{ printf "%s%s: %s", (NR > 1 ? "; " : ""), $1, $2 } END { print "." }'
    echo
    echo "Raw totals, Ir(N) and Ir(2N):"
    echo
    echo "| allocator | lifo64 Ir(N) | lifo64 Ir(2N) | window Ir(N) | window Ir(2N) |"
    echo "|---|---:|---:|---:|---:|"
    for a in "${ANAMES[@]}"; do
        read -r l1 l2 <<<"${RAW[lifo64/$a]}"
        read -r w1 w2 <<<"${RAW[window/$a]}"
        echo "| $a | $l1 | $l2 | $w1 | $w2 |"
    done
} >"$TMP/callgrind.md"

mkdir -p "$OUT"
cp "$TMP/callgrind.md" "$OUT/callgrind.md"
cat "$OUT/callgrind.md"
