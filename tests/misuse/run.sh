#!/usr/bin/env bash
# tests/misuse/run.sh — the heap-misuse suite: every case of
# build/misuse/misuse (tests/misuse/misuse.c) against hakmem (release and
# debug, via LD_PRELOAD) and, for comparison, glibc, mimalloc, jemalloc,
# tcmalloc and Scudo. Prints a markdown table (case x allocator) and
# writes it to build/misuse/table.md.
#
#   tests/misuse/run.sh                 every allocator (installs the peers
#                                       first with tools/install-deps.sh)
#   tests/misuse/run.sh --hakmem-only   the three hakmem columns (the test
#                                       gate); table in table-hakmem.md
#
# Cell outcomes:
#   detected (SIGABRT: <first allocator message, shortened>)
#   detected (SIGSEGV) (or another signal) — the misuse crashed the program
#   detected (exit N: ...) — the allocator ended the program some other way
#   missed          a misuse case ran to its end (exit 0)
#   not reused      write_after_free_small_reuse: malloc handed out another
#                   block than the one written after free (exit 4)
#   exploited       freelist poisoning: malloc returned the chosen address;
#                   an attack: the program's oracle saw memory handed out
#                   that it must not be (exit 42)
#   not exploited   an attack ran to its end (exit 0)
#   ok              a correct-use case exited 0
#   wrongly aborted a correct-use case did not exit 0
#   hang (timeout)  killed after MISUSE_TIMEOUT seconds
#   setup failed    the program could not set the case up (see its log)
#
# Attacks (kind attack) have a section of their own in the table,
# with per allocator the attacks exploited and the attacks detected.
#
# Only the hakmem columns are asserted, against tests/misuse/expected.txt
# (case, flavour, expectation); peer columns are information. Exits
# non-zero if a hakmem cell differs from its expectation. Last line:
# "misuse: N passed, M failed" (hakmem assertions).
#
# Knobs: BUILD (build), MISUSE_TIMEOUT (10 s per run), MISUSE_JOBS (nproc).
# Every run's stderr is kept in build/misuse/cells/<allocator>/<case>.err.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export BUILD=${BUILD:-build}
case $BUILD in /*) build_abs=$BUILD ;; *) build_abs=$ROOT/$BUILD ;; esac # BUILD may be out of tree
export MISUSE_OUT=$BUILD/misuse
export MISUSE_PROG=$MISUSE_OUT/misuse
export MISUSE_TIMEOUT=${MISUSE_TIMEOUT:-10}
JOBS=${MISUSE_JOBS:-$(nproc 2>/dev/null || echo 2)}
EXPECTED=tests/misuse/expected.txt
SELF=$ROOT/tests/misuse/run.sh

# ---- Outcomes (computed by each cell, in parallel) ------------------------
# The first line that names the problem, shortened for a table cell:
# hakmem's report up to its check name, anything else with addresses
# elided, at most 64 characters, no '|'. The program's progress notes
# ("misuse: note: ...") name no problem.
short_msg() {
    local f=$1 line
    line=$(grep -m1 '^hakmem: ' "$f")
    if [ -n "$line" ]; then
        echo "${line%%: ptr=*}"
        return
    fi
    line=$(grep -v -e '^[[:space:]]*$' -e '^timeout: ' -e '^misuse: note: ' "$f" | head -1)
    line=${line#misuse: }
    line=$(printf '%s' "$line" | sed -E 's/0x[0-9a-fA-F]+/0x…/g; s/[[:space:]]+$//; s/\|/\//g')
    if ((${#line} > 64)); then
        line="${line:0:63}…"
    fi
    echo "$line"
}

signame() {
    local s
    s=$(kill -l "$1" 2>/dev/null) || s=$1
    echo "SIG$s"
}

# outcome KIND RC ERRFILE -> the cell's text
outcome() {
    local kind=$1 rc=$2 err=$3 msg
    msg=$(short_msg "$err")
    local with=${msg:+: $msg}
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        [ "$kind" = benign ] && echo "wrongly aborted (timeout ${MISUSE_TIMEOUT}s)" ||
            echo "hang (timeout ${MISUSE_TIMEOUT}s)"
        return
    fi
    if [ "$rc" = 3 ] && grep -q '^misuse: setup: ' "$err"; then
        echo "setup failed ($msg)"
        return
    fi
    if [ "$kind" = benign ]; then
        case $rc in
        0) echo ok ;;
        134) echo "wrongly aborted (SIGABRT$with)" ;;
        *) if ((rc > 128)); then
               echo "wrongly aborted ($(signame $((rc - 128))))"
           else
               echo "wrongly aborted (exit $rc$with)"
           fi ;;
        esac
        return
    fi
    case $rc in
    0) [ "$kind" = attack ] && echo "not exploited" || echo missed ;;
    4) if [ "$kind" = misuse ] && grep -q '^misuse: not reused: ' "$err"; then
           echo "not reused"
       else
           echo "detected (exit 4$with)"
       fi ;;
    42) if [ "$kind" = poison ] || [ "$kind" = attack ]; then echo exploited; else echo "detected (exit 42$with)"; fi ;;
    134) echo "detected (SIGABRT$with)" ;;
    *) if ((rc > 128)); then
           echo "detected ($(signame $((rc - 128))))"
       else
           echo "detected (exit $rc$with)"
       fi ;;
    esac
}

# ---- One cell (run by xargs, in parallel) --------------------------------
# --cell ID LIB CASE KIND: runs the case, LIB preloaded ("-": none);
# writes cells/ID/CASE.err (stderr), CASE.rc ("<exit status>
# <milliseconds>") and CASE.cell (the outcome).
if [ "${1:-}" = --cell ]; then
    id=$2 lib=$3 name=$4 kind=$5
    dir=$MISUSE_OUT/cells/$id
    pre=()
    [ "$lib" = - ] || pre=("LD_PRELOAD=$lib")
    # The release flavour with every run-time mitigation (README).
    [ "$id" = strong ] && pre+=("HAKMEM_SECURITY=strong")
    t0=$(date +%s%N)
    # The braces' stderr is /dev/null: bash's "Aborted" notice goes there,
    # the program's own stderr to the .err file.
    {
        ulimit -c 0
        timeout -k 2 "$MISUSE_TIMEOUT" env "${pre[@]}" "$MISUSE_PROG" "$name" \
            >"$dir/$name.out" 2>"$dir/$name.err"
        rc=$?
    } 2>/dev/null
    echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$dir/$name.rc"
    outcome "$kind" "$rc" "$dir/$name.err" >"$dir/$name.cell"
    exit 0
fi

mode=all
case "${1:-}" in
"") ;;
--hakmem-only) mode=hakmem ;;
*)
    echo "usage: $0 [--hakmem-only]" >&2
    exit 2
    ;;
esac

t_start=$(date +%s%N)
if [ ! -x "$MISUSE_PROG" ]; then
    echo "misuse: $MISUSE_PROG is missing (make misuse builds it)" >&2
    exit 2
fi

# ---- Allocators ------------------------------------------------------------
ids=(release strong debug)
names=("hakmem release" "hakmem release, HAKMEM_SECURITY=strong" "hakmem debug")
libs=("$build_abs/release/libhakmem.so" "$build_abs/release/libhakmem.so"
      "$build_abs/debug/libhakmem.so")
for l in "${libs[@]}"; do
    if [ ! -f "$l" ]; then
        echo "misuse: $l is missing (make all builds it)" >&2
        exit 2
    fi
done

# The first existing match of a glob (highest version last in sort -V).
find_lib() {
    local f
    f=$(ls -1 $1 2>/dev/null | sort -V | tail -1)
    echo "${f:-}"
}

if [ "$mode" = all ]; then
    if ! tools/install-deps.sh; then
        echo "misuse: warning: tools/install-deps.sh failed; missing peers are shown as n/a" >&2
    fi
    ids+=(glibc mimalloc jemalloc tcmalloc scudo)
    names+=(glibc mimalloc jemalloc tcmalloc Scudo)
    libs+=(-
        "$(find_lib '/usr/lib/*-linux-gnu/libmimalloc.so.2')"
        "$(find_lib '/usr/lib/*-linux-gnu/libjemalloc.so.2')"
        "$(find_lib '/usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4')"
        "$(find_lib '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.scudo_standalone-x86_64.so')")
fi
nalloc=${#ids[@]}

# ---- Cases ------------------------------------------------------------------
cases=() kinds=() descs=()
while IFS=$'\t' read -r c k d; do
    cases+=("$c")
    kinds+=("$k")
    descs+=("$d")
done < <("$MISUSE_PROG" --list)
ncase=${#cases[@]}
if ((ncase == 0)); then
    echo "misuse: $MISUSE_PROG --list printed no cases" >&2
    exit 2
fi

# ---- Run every cell ------------------------------------------------------------
rm -rf "$MISUSE_OUT/cells"
for ((a = 0; a < nalloc; a++)); do
    mkdir -p "$MISUSE_OUT/cells/${ids[a]}"
done
echo "misuse: $ncase cases x $nalloc allocators, $JOBS at a time, timeout ${MISUSE_TIMEOUT}s" >&2
for ((a = 0; a < nalloc; a++)); do
    [ -n "${libs[a]}" ] || continue
    for ((i = 0; i < ncase; i++)); do
        printf '%s %s %s %s\n' "${ids[a]}" "${libs[a]}" "${cases[i]}" "${kinds[i]}"
    done
done | xargs -P "$JOBS" -n 4 "$SELF" --cell

# satisfied EXPECTATION OUTCOME RC ERRFILE
satisfied() {
    local exp=$1 out=$2 rc=$3 err=$4
    case $exp in
    ok | missed | exploited | "not reused") [ "$out" = "$exp" ] ;;
    # anything but an exploit (exit 42); a hang or a failed setup is no result
    "not exploited")
        [ "$out" = missed ] || [ "$out" = "not exploited" ] ||
            [ "$out" = "not reused" ] || [[ $out == detected* ]] ;;
    # a misuse case that was noticed, or whose write reached no live block
    "not missed") [ "$out" = "not reused" ] || [[ $out == detected* ]] ;;
    detected) [[ $out == detected* ]] ;;
    *) [ "$rc" = 134 ] && grep -qF "hakmem: $exp: " "$err" ;;
    esac
}

declare -A EXP=()
stale=()
while read -r c f e; do
    [ -z "$c" ] || [[ $c == \#* ]] && continue
    EXP["$c/$f"]=$e
done <"$EXPECTED"
declare -A KNOWN=()
for c in "${cases[@]}"; do
    KNOWN[$c]=1
done
for k in "${!EXP[@]}"; do
    c=${k%/*} f=${k#*/}
    if [ -z "${KNOWN[$c]:-}" ] || { [ "$f" != release ] && [ "$f" != strong ] && [ "$f" != debug ]; }; then
        stale+=("$k")
    fi
done

declare -A CELL=()
declare -a ms_sum det_n mis_n expl_n ok_n benign_n att_det_n att_expl_n
passed=0 failed=0
failures=()
for ((a = 0; a < nalloc; a++)); do
    ms_sum[a]=0 det_n[a]=0 mis_n[a]=0 expl_n[a]=0 ok_n[a]=0 benign_n[a]=0
    att_det_n[a]=0 att_expl_n[a]=0
done
nmisuse=0 nattack=0
for ((i = 0; i < ncase; i++)); do
    c=${cases[i]} k=${kinds[i]}
    case $k in
    benign) ;;
    attack) nattack=$((nattack + 1)) ;;
    *) nmisuse=$((nmisuse + 1)) ;;
    esac
    for ((a = 0; a < nalloc; a++)); do
        id=${ids[a]}
        if [ -z "${libs[a]}" ]; then
            CELL[$i/$a]="n/a (not installed)"
            continue
        fi
        base=$MISUSE_OUT/cells/$id/$c
        out="no result" rc=-1 ms=0
        if [ -f "$base.cell" ]; then
            read -r rc ms <"$base.rc"
            IFS= read -r out <"$base.cell"
        fi
        ms_sum[a]=$((ms_sum[a] + ms))
        [ "$k" = benign ] && benign_n[a]=$((benign_n[a] + 1))
        if [ "$k" = attack ]; then
            case $out in
            detected*) att_det_n[a]=$((att_det_n[a] + 1)) ;;
            exploited) att_expl_n[a]=$((att_expl_n[a] + 1)) ;;
            esac
        else
            case $out in
            ok) ok_n[a]=$((ok_n[a] + 1)) ;;
            detected*) det_n[a]=$((det_n[a] + 1)) ;;
            missed) mis_n[a]=$((mis_n[a] + 1)) ;;
            exploited) expl_n[a]=$((expl_n[a] + 1)) ;;
            esac
        fi
        if [ "$id" = release ] || [ "$id" = strong ] || [ "$id" = debug ]; then
            exp=${EXP[$c/$id]:-}
            if [ -z "$exp" ]; then
                failed=$((failed + 1))
                failures+=("FAIL $c [$id]: no expectation in $EXPECTED (got: $out)")
                out="$out **✗ no expectation**"
            elif satisfied "$exp" "$out" "$rc" "$base.err"; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                failures+=("FAIL $c [$id]: expected \"$exp\", got: $out")
                out="$out **✗ expected: $exp**"
            fi
        fi
        CELL[$i/$a]=$out
    done
done
for k in "${stale[@]}"; do
    failed=$((failed + 1))
    failures+=("FAIL $k: expectation for no such case/flavour in $EXPECTED")
done

# ---- The table ------------------------------------------------------------------
# The header row, and one row per attack case (`case_rows attack`) or per
# case of every other kind (`case_rows other`).
case_rows() {
    local which=$1 hdr="| case |" sep="|---|" row
    for ((a = 0; a < nalloc; a++)); do
        hdr+=" ${names[a]} |"
        sep+="---|"
    done
    echo "$hdr"
    echo "$sep"
    for ((i = 0; i < ncase; i++)); do
        if [ "${kinds[i]}" = attack ]; then
            [ "$which" = attack ] || continue
        else
            [ "$which" = other ] || continue
        fi
        row="| \`${cases[i]}\` |"
        for ((a = 0; a < nalloc; a++)); do
            row+=" ${CELL[$i/$a]} |"
        done
        echo "$row"
    done
}

table() {
    case_rows other
    local r1="| *misuse detected* |" r2="| *exploited* |" r3="| *correct use ok* |" r4="| *time (sum of runs)* |"
    for ((a = 0; a < nalloc; a++)); do
        if [ -z "${libs[a]}" ]; then
            r1+=" n/a |" r2+=" n/a |" r3+=" n/a |" r4+=" n/a |"
            continue
        fi
        r1+=" ${det_n[a]}/$nmisuse |"
        r2+=" ${expl_n[a]} |"
        r3+=" ${ok_n[a]}/${benign_n[a]} |"
        r4+=" $(awk -v m="${ms_sum[a]}" 'BEGIN { printf "%.1f s", m / 1000 }') |"
    done
    printf '%s\n' "$r1" "$r2" "$r3" "$r4"
    if ((nattack > 0)); then
        echo
        echo "### Attacks"
        echo
        echo "Each attack ends in an oracle inside the program: exploited means the"
        echo "allocator handed out an address the attacker chose or memory"
        echo "overlapping a block the program held (exit 42)."
        echo
        case_rows attack
        local a1="| *attacks exploited (of $nattack)* |" a2="| *attacks detected (of $nattack)* |"
        for ((a = 0; a < nalloc; a++)); do
            if [ -z "${libs[a]}" ]; then
                a1+=" n/a |" a2+=" n/a |"
                continue
            fi
            a1+=" ${att_expl_n[a]} |"
            a2+=" ${att_det_n[a]} |"
        done
        printf '%s\n' "$a1" "$a2"
    fi
    echo
    echo "Allocators:"
    for ((a = 0; a < nalloc; a++)); do
        local l=${libs[a]}
        [ "$l" = - ] && l="no LD_PRELOAD: $(getconf GNU_LIBC_VERSION 2>/dev/null)"
        [ -z "$l" ] && l="not installed"
        echo "- ${names[a]}: \`${l#$ROOT/}\`"
    done
    echo
    echo "Cases (misuse: the program misuses the heap; poison: exploitable if"
    echo "malloc returns the chosen address; attack: exploited if the program's"
    echo "oracle sees memory handed out that must not be; benign: correct use,"
    echo "must exit 0):"
    for ((i = 0; i < ncase; i++)); do
        echo "- \`${cases[i]}\` (${kinds[i]}): ${descs[i]}"
    done
}

tablefile=$MISUSE_OUT/table.md
[ "$mode" = hakmem ] && tablefile=$MISUSE_OUT/table-hakmem.md
table | tee "$tablefile"
echo
echo "misuse: table written to $tablefile; each run's stderr in $MISUSE_OUT/cells/"
for f in "${failures[@]}"; do
    echo "$f"
done
t_total=$((($(date +%s%N) - t_start) / 1000000))
echo "misuse: $((ncase * nalloc)) runs in $(awk -v m=$t_total 'BEGIN { printf "%.1f", m / 1000 }') s (wall)"
echo "misuse: $passed passed, $failed failed"
((failed == 0))
