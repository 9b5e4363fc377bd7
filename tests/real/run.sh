#!/usr/bin/env bash
# run.sh LIB FLAVOUR — real programs with and without LD_PRELOAD=LIB.
#
# Each program runs twice, concurrently, in its own scratch directory: once
# plain (the reference) and once with LIB preloaded. Their stdout (after a
# filter that removes timing lines) and exit status must be identical, the
# reference must succeed, and the preloaded run must not print a hakmem
# report ("hakmem: ..."). Before that, one run per program with
# HAKMEM_STATS=1 must print "hakmem statistics (FLAVOUR flavour)" on stderr,
# which proves the preload takes effect for that binary; the compared runs
# have HAKMEM_STATS (and any inherited LD_PRELOAD) removed.
#
# Programs:
#   python3   CPython's own regression suite on a set of modules, once with
#             pymalloc (only allocations > 512 bytes reach malloc) and once
#             with PYTHONMALLOC=malloc (every allocation reaches hakmem)
#   sqlite3   a generated 50k-row workload (sqlite_gen.awk)
#   git       init/commit/merge/log/diff/fsck/gc/repack/clone on a generated
#             tree (git_workload.sh, gen_tree.awk)
#
# Environment knobs:
#   HAKMEM_REAL_ONLY="python sqlite git"   subset to run
#   HAKMEM_PYTHON=/path/to/python3         python with the test package
#   HAKMEM_REAL_PY_MODULES="test_list ..." regression modules
#   HAKMEM_REAL_TIMEOUT=600                seconds per run
#   HAKMEM_REAL_KEEP=1                     keep the scratch directory
# Other HAKMEM_* variables (HAKMEM_LARGE_CACHE_MB, HAKMEM_STATS) pass
# through to the preloaded runs.
#
# Last line: "real programs (FLAVOUR): N passed, M failed"; exit 1 if M > 0.
set -euo pipefail

usage() { echo "usage: $0 path/to/libhakmem.so FLAVOUR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
LIB=$1
FLAVOUR=$2
[[ -f $LIB ]] || { echo "run.sh: $LIB: no such library (run make first)" >&2; exit 2; }
LIB=$(readlink -f -- "$LIB")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The reference runs must not inherit a preload (e.g. from the launcher).
unset LD_PRELOAD HAKMEM_STATS
export LC_ALL=C

TIMEOUT=${HAKMEM_REAL_TIMEOUT:-600}
ONLY=${HAKMEM_REAL_ONLY:-python sqlite git}
for w in $ONLY; do
    case $w in python | sqlite | git) ;;
    *) echo "run.sh: HAKMEM_REAL_ONLY: unknown program '$w' (python sqlite git)" >&2; exit 2 ;;
    esac
done
# Quick modules that pass on a stock CPython 3.11: containers, strings,
# regexes, JSON, arrays, sqlite3, zlib, and threads (test_thread,
# test_threading_local: blocks freed by other threads, TLS destructors).
PY_MODULES=${HAKMEM_REAL_PY_MODULES:-test_list test_dict test_set test_tuple \
test_unicode test_string test_re test_json test_collections test_deque \
test_ordered_dict test_heapq test_bisect test_sort test_struct test_functools \
test_array test_memoryview test_float test_zlib test_sqlite3 \
test_thread test_threading_local}
read -r -a PY_MODULES <<< "$PY_MODULES"

work=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-real.XXXXXX")
cleanup() {
    # Runs still going (interrupted): timeout leads its own process group
    # and passes the signal on to the whole group.
    local f
    for f in "$work"/*/*.pid; do
        [[ -f $f && ! -f ${f%.pid}.rc ]] && kill -TERM "$(cat "$f")" 2>/dev/null
    done
    wait 2>/dev/null
    if [[ ${HAKMEM_REAL_KEEP:-0} == 1 ]]; then
        echo "run.sh: scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
t_start=$(date +%s%N)

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
secs() { printf '%d.%d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }
indent() { awk '{ print "    | " $0 }'; }

pass() { passed=$((passed + 1)); echo "$1"; }
fail() { failed=$((failed + 1)); echo "$1"; }

describe_rc() {
    local rc=$1
    if ((rc == 124)); then echo "timed out after ${TIMEOUT}s"
    elif ((rc > 128)); then echo "killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
    else echo "exit status $rc"; fi
}

# check_preload NAME CMD... — one HAKMEM_STATS=1 run must report the stats
# table of the expected flavour on stderr.
check_preload() {
    local name=$1; shift
    local err=$work/$name.preload.err rc=0
    local want="hakmem statistics ($FLAVOUR flavour)"
    case $FLAVOUR in release | debug) ;; *) want="hakmem statistics" ;; esac
    (cd "$work" && HAKMEM_STATS=1 LD_PRELOAD=$LIB timeout -k 5 60 "$@") \
        >/dev/null 2>"$err" </dev/null || rc=$?
    if grep -aqF "$want" "$err"; then
        return 0
    fi
    {
        echo "$name: the preload did not take effect: no \"$want\" on stderr"
        echo "    command: HAKMEM_STATS=1 LD_PRELOAD=$LIB $* ($(describe_rc $rc))"
        head -n 20 "$err" | indent
    } >&2
    return 1
}

# run_one ref|hak DIR STDIN CMD... — runs CMD in DIR (created) with stdin
# from STDIN and TMPDIR=DIR/tmp; leaves DIR.out, DIR.err and DIR.rc
# ("status milliseconds").
run_one() {
    local mode=$1 dir=$2 in=$3; shift 3
    local -a pre=()
    [[ $mode == hak ]] && pre=(env "LD_PRELOAD=$LIB")
    mkdir -p "$dir/tmp"
    local t0 rc=0
    t0=$(date +%s%N)
    (
        cd "$dir" && export TMPDIR=$dir/tmp
        timeout -k 10 "$TIMEOUT" "${pre[@]}" "$@" >"$dir.out" 2>"$dir.err" <"$in" &
        echo $! > "$dir.pid"
        wait $!
    ) || rc=$?
    echo "$rc $(ms_since "$t0")" > "$dir.rc"
}

# run_pair NAME FILTER STDIN CMD... — the reference and the preloaded run,
# concurrently; then compares them. FILTER DIR reads the run's stdout on
# stdin and writes what is compared (no_filter: stdout as is). Sets
# PAIR_DETAIL; returns 0 when identical.
run_pair() {
    local name=$1 filter=$2 in=$3; shift 3
    local ref=$work/$name/ref hak=$work/$name/hak
    run_one ref "$ref" "$in" "$@" &
    local p1=$!
    run_one hak "$hak" "$in" "$@" &
    local p2=$!
    wait $p1 $p2
    local ref_rc ref_ms hak_rc hak_ms
    read -r ref_rc ref_ms < "$ref.rc"
    read -r hak_rc hak_ms < "$hak.rc"
    PAIR_DETAIL="plain $(secs "$ref_ms"), hakmem $(secs "$hak_ms")"
    "$filter" "$ref" < "$ref.out" > "$ref.cmp"
    "$filter" "$hak" < "$hak.out" > "$hak.cmp"
    local ok=1
    if [[ $ref_rc != 0 ]]; then
        {
            echo "$name: the reference run (without hakmem) failed: $(describe_rc "$ref_rc")"
            echo "    (an environment problem, not a hakmem result; see tools/install-deps.sh)"
            echo "    command: $*"
            echo "    stderr (last 15 lines):"; tail -n 15 "$ref.err" | indent
            echo "    stdout (last 15 lines):"; tail -n 15 "$ref.out" | indent
        } >&2
        PAIR_DETAIL="reference run failed, $(describe_rc "$ref_rc")"
        return 1
    fi
    if [[ $hak_rc != "$ref_rc" ]]; then
        echo "$name: under hakmem: $(describe_rc "$hak_rc"), plain: $(describe_rc "$ref_rc")" >&2
        PAIR_DETAIL="under hakmem: $(describe_rc "$hak_rc")"
        ok=0
    fi
    if ! cmp -s "$ref.cmp" "$hak.cmp"; then
        local lines=80
        [[ $ok == 0 ]] && lines=30   # crashed: the diff is mostly missing output
        {
            echo "$name: stdout differs (--- plain, +++ LD_PRELOAD=$LIB):"
            diff -u --label plain --label hakmem "$ref.cmp" "$hak.cmp" | sed -n "1,${lines}p" | indent
        } >&2
        [[ $ok == 1 ]] && PAIR_DETAIL="stdout differs"
        ok=0
    fi
    if grep -aq '^hakmem: ' "$hak.err"; then
        {
            echo "$name: hakmem reported misuse or corruption:"
            grep -a '^hakmem: ' "$hak.err" | head -n 10 | indent
        } >&2
        [[ $ok == 1 ]] && PAIR_DETAIL="hakmem report on stderr"
        ok=0
    fi
    if [[ $ok == 0 ]]; then
        {
            echo "    stderr under hakmem (last 25 lines):"
            tail -n 25 "$hak.err" | indent
            echo "    command: (cd <scratch> && LD_PRELOAD=$LIB $*)"
            echo "    rerun with HAKMEM_REAL_KEEP=1 to keep $work"
        } >&2
        return 1
    fi
    return 0
}

no_filter() { cat; }

wants() { [[ " $ONLY " == *" $1 "* ]]; }

# ---- python3 -------------------------------------------------------------
# A python whose standard library includes the regression suite; prints
# the real executable (pyenv shims are shell scripts).
find_python() {
    local c exe
    for c in ${HAKMEM_PYTHON:-} python3 /usr/bin/python3 /usr/local/bin/python3; do
        command -v "$c" >/dev/null 2>&1 || continue
        exe=$("$c" -c 'import sys, test.support, test.libregrtest, test.test_list; print(sys.executable)' \
              2>/dev/null) || continue
        [[ -x $exe ]] && { echo "$exe"; return 0; }
    done
    return 1
}

# py_filter DIR: regrtest's stdout minus what depends on time, load and
# pid, then the per-test results from DIR/junit.xml (parsed by the plain
# python). Verbose output is not compared: threaded tests interleave it.
py_filter() {
    sed -E -e 's/^[0-9]+:[0-9]{2}:[0-9]{2} (load avg: [0-9.]+ )?//' \
        -e '/^== cwd: /d' -e '/^Total duration: /d' \
        -e 's/^(Ran [0-9]+ tests?) in [0-9.]+s$/\1/' \
        -e 's/([0-9]+ hour )?([0-9]+ min )?[0-9.]+ (ms|sec)/<time>/g'
    echo "== per-test results (junit xml)"
    "$PY" "$here/junit_results.py" "$1/junit.xml"
}

run_python() {
    local variant=$1 py=$2 label name
    local -a envs=(env -u PYTHONMALLOC -u PYTHONDEVMODE -u PYTHONWARNINGS -u PYTHONSTARTUP
                   PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1)
    if [[ $variant == malloc ]]; then
        envs+=(PYTHONMALLOC=malloc); label="PYTHONMALLOC=malloc"; name=python-malloc
    else
        label="pymalloc"; name=python-pymalloc
    fi
    label="python3 regression (${#PY_MODULES[@]} modules, $label)"
    if run_pair "$name" py_filter /dev/null "${envs[@]}" \
            "$py" -m test --randseed 20240607 --junit-xml junit.xml "${PY_MODULES[@]}"; then
        local cases
        cases=$(sed -n 's/^\([0-9]*\) test cases$/\1/p' "$work/$name/hak.cmp")
        pass "$label: identical (${cases:-?} test cases; $PAIR_DETAIL)"
    else
        fail "$label: $PAIR_DETAIL"
    fi
}

if wants python; then
    if ! PY=$(find_python); then
        fail "python3 regression: no python3 with the regression suite (import test.test_list failed); run tools/install-deps.sh or set HAKMEM_PYTHON"
        fail "python3 regression (PYTHONMALLOC=malloc): skipped, no suitable python3"
    elif ! check_preload python "$PY" -c 'pass'; then
        fail "python3 regression: preload check failed for $PY (see above)"
        fail "python3 regression (PYTHONMALLOC=malloc): preload check failed for $PY"
    else
        echo "python3: $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
        # Distributions may leave some test modules out (Debian has no
        # test_sqlite3): run those present, say which are not.
        read -r -a present <<< "$("$PY" -c 'import sys, importlib.util as u
print(" ".join(m for m in sys.argv[1:] if u.find_spec("test." + m)))' "${PY_MODULES[@]}")"
        if ((${#present[@]} != ${#PY_MODULES[@]})); then
            echo "python3: not in this python's test package, left out: $(comm -23 \
                <(printf '%s\n' "${PY_MODULES[@]}" | sort) <(printf '%s\n' "${present[@]}" | sort) | tr '\n' ' ')"
            PY_MODULES=("${present[@]}")
        fi
        run_python pymalloc "$PY"
        run_python malloc "$PY"
    fi
fi

# ---- sqlite3 -------------------------------------------------------------
if wants sqlite; then
    label="sqlite3 workload (50k rows)"
    if ! command -v sqlite3 >/dev/null; then
        fail "$label: sqlite3 not installed (tools/install-deps.sh)"
    elif ! check_preload sqlite3 sqlite3 -batch :memory: 'select 1;'; then
        fail "$label: preload check failed for $(command -v sqlite3) (see above)"
    else
        mkdir -p "$work/sqlite"
        awk -f "$here/sqlite_gen.awk" > "$work/sqlite/workload.sql"
        mb=$(( $(wc -c < "$work/sqlite/workload.sql") / 1048576 ))
        label="sqlite3 workload (50k rows, $mb MB of SQL)"
        if run_pair sqlite no_filter "$work/sqlite/workload.sql" \
                sqlite3 -batch -bail -init /dev/null test.db; then
            pass "$label: identical ($(wc -l < "$work/sqlite/hak.out") lines; $PAIR_DETAIL)"
        else
            fail "$label: $PAIR_DETAIL"
        fi
    fi
fi

# ---- git -----------------------------------------------------------------
if wants git; then
    label="git workload (320 files, 4 commits, log/diff/fsck/gc/repack/clone)"
    if ! command -v git >/dev/null; then
        fail "$label: git not installed (tools/install-deps.sh)"
    elif ! check_preload git git --version || ! check_preload bash bash -c ':'; then
        fail "$label: preload check failed for git or bash (see above)"
    else
        if run_pair git no_filter /dev/null bash "$here/git_workload.sh"; then
            pass "$label: identical ($(wc -l < "$work/git/hak.out") lines; $PAIR_DETAIL)"
        else
            fail "$label: $PAIR_DETAIL"
        fi
    fi
fi

echo "(total $(secs "$(ms_since "$t_start")"))"
echo "real programs ($FLAVOUR): $passed passed, $failed failed"
((failed == 0))
