#!/usr/bin/env bash
# ci/zoo.sh — the bug zoo: mutation testing of the pipeline itself.
#
# Each zoo/NN-name.patch re-introduces one plausible bug (its first line,
# "# ...", says what it breaks) into a scratch copy of the tree under
# build/zoo/; the shipped sources never contain it. The stages run against
# that copy, cheapest first, until one fails:
#   unit     the Check suites, debug then release (CK_DEFAULT_TIMEOUT each test)
#   stress   stress/{larson,churn,mpsc}, debug, STRESS_OPS operations
#   replay   every corpus input through each harness, debug
#   fuzz     libFuzzer (ASan+UBSan, debug core), ZOO_FUZZ_SECONDS per harness
#   tsan     stress/{mpsc,larson,churn} under ThreadSanitizer, TSAN_OPS
#   misuse   the misuse suite's hakmem columns against tests/misuse/expected.txt
#
#   ci/zoo.sh [run]          every variant (or ZOO_VARIANTS="01 07 ..."): a
#                            table of variant, stage, operations, first report
#                            line; exit 1 if a variant is caught by no stage
#                            or a patch does not apply or build
#   ci/zoo.sh check          only: every patch applies (no fuzz) and both
#                            flavours' libraries build warning-free (fast)
#   ci/zoo.sh refresh [V..]  regenerate patches after the sources moved:
#                            apply with fuzz to a fresh copy, re-diff (-U2),
#                            keep the header line; review `git diff zoo/`
#   ci/zoo.sh readme         the README's zoo table (between its zoo-table
#                            marker comments) rewritten from the rows runs
#                            left in build/zoo/ (make zoo-readme; below)
#
# Knobs: ZOO_VARIANTS (number prefixes or names), ZOO_STAGES (subset and
# order of the stages above), ZOO_STAGE_SECONDS (bound on each program a
# stage runs, 300), ZOO_FUZZ_SECONDS (20), STRESS_OPS (1000000), TSAN_OPS
# (200000), ZOO_JOBS (make -j, 2), ZOO_PARALLEL (variants at once, 1). A stage that hits its time bound has not
# caught the variant (a hang counts only when the stage reports it itself,
# e.g. Check's per-test timeout); the log under build/zoo/<variant>/ says so.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
mode=${1:-run}
[ $# -gt 0 ] && shift
ops=${STRESS_OPS:-1000000}
tsan_ops=${TSAN_OPS:-200000}
bound=${ZOO_STAGE_SECONDS:-300}
fuzz_s=${ZOO_FUZZ_SECONDS:-20}
jobs=${ZOO_JOBS:-2}
stages=${ZOO_STAGES:-unit stress replay fuzz tsan misuse}
# Each mode its own scratch space: a check may run beside a full zoo.
case $mode in
    run|readme) Z=build/zoo ;;
    *) Z=build/zoo-$mode ;;
esac

die() { echo "zoo: $*" >&2; exit 1; }

# The variants asked for: every zoo/*.patch, or those ZOO_VARIANTS (or the
# arguments) name by number prefix or full name.
select_variants() {
    local want="${*:-${ZOO_VARIANTS:-}}" all v w
    all=$(cd zoo && ls *.patch | sed 's/\.patch$//')
    if [ -z "$want" ]; then echo "$all"; return; fi
    for w in $want; do
        v=$(echo "$all" | grep -E "^(${w}|${w}-.*)$" | head -1)
        [ -n "$v" ] || die "no variant $w in zoo/"
        echo "$v"
    done
}

header() { sed -n '1s/^# *//p' "zoo/$1.patch"; }

# A scratch copy of the working tree (sources, tests, harnesses, build
# files; the corpus linked read-only), its libraries and unit tests built
# once: each variant's copy starts from it and rebuilds what its patch made
# newer.
make_base() {
    local base=$Z/base
    rm -rf "$base" && mkdir -p "$base"
    tar -cf - --exclude=./build --exclude=./.git --exclude=./corpus . \
        | tar -xf - -C "$base" || die "cannot copy the tree"
    ln -s "$root/corpus" "$base/corpus"
    nice make -s -C "$base" -j"$jobs" build/release/libhakmem_core.a \
        build/debug/libhakmem_core.a >"$Z/base.log" 2>&1 \
        || { cat "$Z/base.log" >&2; die "the unpatched tree does not build"; }
}

# Copies the base to build/zoo/<v> and applies zoo/<v>.patch without fuzz
# (offsets are fine: the hunks still match their context exactly).
apply_variant() { # variant
    local d=$Z/$1
    rm -rf "$d" && cp -a "$Z/base" "$d"
    if ! patch -d "$d" -p1 -F0 -s --no-backup-if-mismatch -r - \
            <"zoo/$1.patch" >"$d/apply.log" 2>&1; then
        echo "zoo: $1: patch no longer applies (ci/zoo.sh refresh $1):" >&2
        cat "$d/apply.log" >&2
        return 1
    fi
}

zmake() { # variant targets...
    local d=$Z/$1
    shift
    nice make -s -C "$d" -j"$jobs" "$@" >>"$d/build.log" 2>&1
}

# ---- refresh ------------------------------------------------------------
if [ "$mode" = refresh ]; then
    make_base
    for v in $(select_variants "$@"); do
        d=$Z/$v
        rm -rf "$d" && mkdir -p "$d"
        cp -a "$Z/base" "$d/a" && cp -a "$Z/base" "$d/b"
        patch -d "$d/b" -p1 -F3 --no-backup-if-mismatch -r - <"zoo/$v.patch" \
            || die "$v: does not apply even with fuzz: edit it by hand"
        {
            echo "# $(header "$v")"
            for f in $(grep -E '^\+\+\+ ' "zoo/$v.patch" | sed -E 's#^\+\+\+ b/([^[:space:]]+).*#\1#'); do
                (cd "$d" && diff -U2 --label "a/$f" --label "b/$f" "a/$f" "b/$f")
            done
        } >"$d/new.patch"
        mv "$d/new.patch" "zoo/$v.patch"
        echo "zoo: refreshed $v"
    done
    exit 0
fi

# ---- check --------------------------------------------------------------
if [ "$mode" = check ]; then
    make_base
    bad=0
    for v in $(select_variants "$@"); do
        if apply_variant "$v" && zmake "$v" build/release/libhakmem_core.a \
                build/debug/libhakmem_core.a; then
            echo "zoo: $v applies and builds"
        else
            [ -f "$Z/$v/build.log" ] && tail -20 "$Z/$v/build.log" >&2
            echo "zoo: $v FAILS to apply or build" >&2
            bad=1
        fi
        rm -rf "${Z:?}/$v"
    done
    exit $bad
fi
# ---- readme ---------------------------------------------------------------
# The README's table is this script's output, never typed: between the
# lines "<!-- zoo-table begin ..." and "<!-- zoo-table end -->" it holds one
# row per zoo/*.patch, in their order. A row comes from build/zoo/<v>.row
# (the last run of that variant, unless older than its patch), else it is
# kept from the table already there if its "what it breaks" is still the
# patch's (a run of a subset updates only its rows); a variant with
# neither fails the rewrite. Under the table,
# one line per run the rows come from (build/zoo/runs.log). Rows of
# variants no longer in zoo/ are dropped. ci/readme-facts.sh checks that
# the table's variants and "what it breaks" are zoo/'s.
if [ "$mode" = readme ]; then
    readme=README.md
    grep -q '^<!-- zoo-table begin' "$readme" && grep -q '^<!-- zoo-table end' "$readme" \
        || die "$readme has no zoo-table marker comments"
    old=$(sed -n '/^<!-- zoo-table begin/,/^<!-- zoo-table end/p' "$readme")
    mkdir -p "$Z"
    rows=() runs=() missing="" kept="" fresh=0
    for v in $(cd zoo && ls *.patch | sed 's/\.patch$//'); do # all, whatever ZOO_VARIANTS says
        if [ -f "$Z/$v.row" ] && [ "$Z/$v.row" -nt "zoo/$v.patch" ]; then
            rows+=("$(cat "$Z/$v.row")")
            fresh=$((fresh + 1))
            r=$(cat "$Z/$v.run" 2>/dev/null)
            r=$([ -n "$r" ] && grep -m1 -F -- "$r" "$Z/runs.log" 2>/dev/null)
            [ -n "$r" ] && runs+=("$r")
        elif row=$(echo "$old" | grep -m1 -F "| $v |") && [ -n "$row" ] \
                && [ "$(echo "$row" | cut -d'|' -f3 | sed 's/^ //; s/ $//')" = "$(header "$v")" ]; then
            rows+=("$row")
            kept="$kept ${v%%-*}"
        else
            missing="$missing $v"
        fi
    done
    [ -z "$missing" ] || die "no result for$missing (make zoo ZOO_VARIANTS=\"${missing# }\")"
    {
        echo "<!-- zoo-table begin: written by \`make zoo-readme\` (ci/zoo.sh readme) from \`make zoo\`'s rows; do not edit by hand -->"
        echo "| variant | what it breaks | caught by | operations | first report line |"
        echo "|---|---|---|---|---|"
        printf '%s\n' "${rows[@]}"
        echo
        # the runs behind the rows: the earlier ones that rows were kept
        # from (a run's line names its variants' numbers in parentheses;
        # the hand-written note of the first runs stays while any row is
        # kept), then those of this rewrite's new rows
        [ -n "$kept" ] && echo "$old" | grep -E '^- (`make zoo`|Measured)' | while read -r l; do
            case $l in
            "- Measured"*) echo "$l" ;;
            *) for n in $(echo "$l" | sed -nE 's/^[^(]*\(([0-9 ]+)\).*/\1/p'); do
                   case " $kept " in *" $n "*) echo "$l"; break ;; esac
               done ;;
            esac
        done
        [ ${#runs[@]} -gt 0 ] && printf '%s\n' "${runs[@]}"
        echo "<!-- zoo-table end -->"
    } | awk '!seen[$0]++ || $0 == ""' >"$Z/readme-block.md"
    awk -v blk="$Z/readme-block.md" '
        /^<!-- zoo-table begin/ { while ((getline l < blk) > 0) print l; skip = 1; next }
        /^<!-- zoo-table end/   { skip = 0; next }
        !skip' "$readme" >"$Z/README.new" && cat "$Z/README.new" >"$readme"
    echo "zoo: README table rewritten: ${#rows[@]} variants, $fresh rows from build/zoo/, $(echo $kept | wc -w) kept"
    exit 0
fi
[ "$mode" = run ] || die "unknown mode $mode (run, check, refresh, readme)"

# ---- run: the stages ------------------------------------------------------
# Each sets `stage`, `opsn` and `line` when it catches the variant (returns 0).

# The line that names the broken invariant: hakmem's report, a harness's
# verdict, a sanitizer's summary, a stress program's payload check, or the
# signal that ended the program.
first_report() { # log
    local line
    line=$(grep -m1 -E '^hakmem: |^fuzz_[a-z]+: |^stress: |payload' "$1")
    [ -n "$line" ] || line=$(grep -m1 -E 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:|ERROR: libFuzzer|SUMMARY: ' "$1" \
                              | sed -E 's/ \(pid=[0-9]+\)//; s/^==[0-9]+==//')
    if echo "$line" | grep -q ThreadSanitizer; then
        # where: the first frame in the allocator's sources
        line="$line in $(grep -m1 -E '^ +#[0-9]+ .*(src|hardening)/' "$1" \
              | sed -E 's/^ +#[0-9]+ ([^ ]+) .*(src|hardening)\/([^ :]+).*/\1 (\2\/\3)/')"
    fi
    [ -n "$line" ] || line=$(grep -m1 -E 'after about|Segmentation|Aborted|signal' "$1")
    [ -n "$line" ] || line=$(tail -1 "$1")
    echo "$line" | cut -c1-150 | tr '|' '/'
}

# Runs a program under the stage bound; 0 if it failed on its own.
bounded() { # log cmd...
    local log=$1
    shift
    nice timeout -k 10 "$bound" "$@" >"$log" 2>&1
    local rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "(zoo: stage time bound of ${bound}s hit: not counted as caught)" >>"$log"
        return 1
    fi
    [ $rc -ne 0 ]
}

stage_unit() { # variant
    local d=$Z/$1 f log
    for f in debug release; do
        zmake "$1" build/$f/hak_tests || { line="(unit tests did not build)"; return 1; }
        log=$d/unit-$f.log
        # Check's log file gets each test's verdict as it ends, so a suite
        # stopped at the stage bound (tests hanging one after another, each
        # ended by Check's own per-test timeout) still shows its failures.
        rm -f "$log.ck"
        if (cd "$d" && bounded "$root/$log" env CK_DEFAULT_TIMEOUT=${ZOO_CK_TIMEOUT:-30} \
                CK_LOG_FILE_NAME="$root/$log.ck" build/$f/hak_tests) \
           || grep -qE ':[EF]:' "$log.ck" 2>/dev/null; then
            grep -qE ':[EF]:' "$log" || grep -E ':[EF]:' "$log.ck" >>"$log"
            stage="unit ($f)"
            opsn=$(grep -oE 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" \
                   | sed -E 's/Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+)/\2+\3 of \1 tests failed/')
            [ -n "$opsn" ] || opsn="$(grep -cE ':[EF]:' "$log.ck") tests failed before the ${bound}s bound"
            # A report the suites did not expect reaches the log itself
            # (expected ones are captured by the death tests); else the
            # first failed test's message.
            line=$(grep -m1 -E '^hakmem: ' "$log" | cut -c1-150 | tr '|' '/')
            [ -n "$line" ] || line=$(grep -m1 -E ':[EF]:' "$log" | sed -E 's/^[^:]*:[0-9]+:[EF]://' | cut -c1-150 | tr '|' '/')
            [ -n "$line" ] || line=$(first_report "$log")
            return 0
        fi
    done
    return 1
}

stage_stress() {
    local d=$Z/$1 p log
    zmake "$1" build/debug/stress_larson build/debug/stress_churn build/debug/stress_mpsc \
        || return 1
    for p in larson churn mpsc; do
        log=$d/stress-$p.log
        if bounded "$log" env STRESS_OPS="$ops" "$d/build/debug/stress_$p"; then
            stage="stress $p (debug)"
            opsn=$(grep -oE 'after about [0-9]+' "$log" | grep -oE '[0-9]+' | head -1)
            opsn="${opsn:-<$ops} ops"
            line=$(first_report "$log")
            return 0
        fi
    done
    return 1
}

stage_replay() {
    local d=$Z/$1 h log
    for h in fuzz_alloc fuzz_remote fuzz_attack; do
        zmake "$1" build/debug/replay_$h || continue
        log=$d/replay-$h.log
        if bounded "$log" "$d/build/debug/replay_$h" "corpus/$h"; then
            stage="replay $h (debug)"
            opsn="<= $(ls "corpus/$h" | wc -l) inputs"
            line=$(first_report "$log")
            return 0
        fi
    done
    return 1
}

stage_fuzz() {
    local d=$Z/$1 h log
    for h in fuzz_alloc fuzz_remote fuzz_attack; do
        zmake "$1" build/fuzz/$h || continue
        log=$d/fuzz-$h.log
        rm -rf "$d/fuzz-new-$h" && mkdir -p "$d/fuzz-new-$h"
        # New inputs go to a scratch folder; corpus/ is only read.
        if (cd "$d" && bounded "$root/$log" build/fuzz/$h -max_total_time="$fuzz_s" \
                -timeout=10 -rss_limit_mb=4096 -artifact_prefix="fuzz-new-$h/" \
                "fuzz-new-$h" "corpus/$h"); then
            stage="fuzz $h (debug, ${fuzz_s}s)"
            opsn="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')"
            opsn="${opsn:-?} execs"
            line=$(first_report "$log")
            return 0
        fi
    done
    return 1
}

stage_tsan() {
    local d=$Z/$1 p log
    for p in mpsc larson churn; do
        zmake "$1" build/tsan/debug/$p || continue
        log=$d/tsan-$p.log
        if bounded "$log" env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
                STRESS_OPS="$tsan_ops" STRESS_THREADS=4 "$d/build/tsan/debug/$p"; then
            stage="tsan $p (debug)"
            opsn="<$tsan_ops ops"
            line=$(first_report "$log")
            return 0
        fi
    done
    return 1
}

stage_misuse() {
    local d=$Z/$1 log=$Z/$1/misuse.log
    zmake "$1" all build/misuse/misuse || return 1
    if (cd "$d" && bounded "$root/$log" env BUILD=build tests/misuse/run.sh --hakmem-only); then
        stage="misuse"
        opsn=$(grep -oE 'misuse: [0-9]+ passed, [0-9]+ failed' "$log" | sed 's/misuse: //')
        line=$(grep -m1 -iE 'differs|expected|FAIL' "$log" | cut -c1-150 | tr '|' '/')
        [ -n "$line" ] || line=$(first_report "$log")
        return 0
    fi
    return 1
}

# One variant, start to end; its table row goes to build/zoo/<v>.row.
run_variant() { # variant
    local v=$1 what row tv s
    what=$(header "$v")
    echo "== zoo $v: $what" >&2
    if ! apply_variant "$v"; then
        echo "| $v | $what | PATCH DOES NOT APPLY | | |" >"$Z/$v.row"; return
    fi
    if ! zmake "$v" build/release/libhakmem_core.a build/debug/libhakmem_core.a; then
        tail -20 "$Z/$v/build.log" >&2
        echo "| $v | $what | BUILD FAILED | | |" >"$Z/$v.row"; return
    fi
    stage="" opsn="" line=""
    tv=$(date +%s)
    for s in $stages; do
        if "stage_$s" "$v"; then break; fi
        stage=""
    done
    if [ -z "$stage" ]; then
        row="| $v | $what | NOT CAUGHT | | |"
    else
        row="| $v | $what | $stage | $opsn | \`$line\` |"
    fi
    echo "$row" >"$Z/$v.row"
    echo "$run_id" >"$Z/$v.run"
    echo "$row ($(( $(date +%s) - tv ))s)" >&2
}

mkdir -p "$Z"
t0=$(date +%s)
# This run's line in build/zoo/runs.log (each row names its run in
# <v>.run): when, where, what, and how loaded the machine was.
run_id="\`make zoo\` $(date -u '+%Y-%m-%d %H:%M') UTC"
load0=$(cut -d' ' -f1 /proc/loadavg)
make_base
variants=$(select_variants "$@")
# ZOO_PARALLEL variants at a time (each a pipeline of its own).
par=${ZOO_PARALLEL:-1}
for v in $variants; do
    rm -f "$Z/$v.row" "$Z/$v.run"
    while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do wait -n; done
    run_variant "$v" &
done
wait
rows=()
failed=0
for v in $variants; do
    row=$(cat "$Z/$v.row" 2>/dev/null || echo "| $v | $(header "$v") | (no result) | | |")
    rows+=("$row")
    case $row in *"NOT CAUGHT"*|*"DOES NOT APPLY"*|*"BUILD FAILED"*|*"(no result)"*) failed=1 ;; esac
done

{
    echo "| variant | what it breaks | caught by | operations | first report line |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$Z/table.md"
echo "- $run_id: $(echo $variants | wc -w) variants ($(echo $variants | sed -E 's/-[^ ]*//g')), stages $stages, ZOO_PARALLEL=$par ZOO_JOBS=$jobs, $(nproc) cores, load $load0 at the start and $(cut -d' ' -f1 /proc/loadavg) at the end, $(( $(date +%s) - t0 )) s" >>"$Z/runs.log"
echo "zoo: $(( $(date +%s) - t0 ))s; table in $Z/table.md (make zoo-readme puts its rows in the README)"
if [ $failed -ne 0 ]; then
    echo "zoo: a variant was not caught, or its patch no longer applies or builds"
    exit 1
fi
echo "zoo: every variant caught"
