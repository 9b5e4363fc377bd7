#!/usr/bin/env bash
# ci/readme-facts.sh BUILD — the test counts the README states, checked
# against what the runners of `make unit` just printed (BUILD/FLAVOUR/
# {unit,cxx,cxx_preload,link}.log): a count typed into the README and not
# updated when tests were added fails here, naming both numbers; and the
# bug zoo's table against zoo/ (below).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bad=0
# ci/readme-facts.sh BUILD coverage: only the figures of `make coverage`'s
# row, against the report it just wrote (BUILD/cov/{report,corpus-debug}.txt).
if [ "${2:-}" = coverage ]; then
    row=$(grep -m1 '^| `make coverage` |' README.md)
    said=$(echo "$row" | grep -oE '[0-9.]+% of lines' | grep -oE '[0-9.]+')
    said_corpus=$(echo "$row" | grep -oE 'corpus alone, debug: [0-9.]+%' | grep -oE '[0-9.]+')
    have=$(awk '/^TOTAL/ { sub(/%/, "", $10); printf "%.1f", $10 }' "$build/cov/report.txt")
    have_corpus=$(awk '/^TOTAL/ { sub(/%/, "", $10); printf "%.1f", $10 }' "$build/cov/corpus-debug.txt")
    [ "$said" = "$have" ] || { echo "readme-facts: README says ${said:-no}% of lines covered; make coverage measured $have%"; bad=1; }
    [ "$said_corpus" = "$have_corpus" ] || { echo "readme-facts: README says the corpus alone covers ${said_corpus:-no}% (debug); make coverage measured $have_corpus%"; bad=1; }
    [ $bad -eq 0 ] && echo "readme-facts: the README's coverage figures match the report"
    exit $bad
fi
# fact LOG PATTERN_IN_README DESCRIPTION: README's number (the first
# capture of the extended regex) must equal the runner's count in LOG.
fact() {
    local have=$1 re=$2 what=$3 said
    said=$(grep -oE "$re" README.md | head -1 | grep -oE '[0-9]+' | tail -1)
    if [ -z "$said" ]; then
        echo "readme-facts: README states no count of $what (looked for /$re/)"
        bad=1
    elif [ "$said" != "$have" ]; then
        echo "readme-facts: README says $said $what; the runners ran $have"
        bad=1
    fi
}
checks() { grep -oE 'Checks: [0-9]+' "$1" | tail -1 | grep -oE '[0-9]+'; }
for f in release debug; do
    d=$build/$f
    [ -f "$d/unit.log" ] || continue
    # "one per module, N tests in debug, M in release"
    if [ $f = debug ]; then re='one per module, [0-9]+ tests in debug'
    else re='tests in debug, [0-9]+ in release'; fi
    fact "$(checks "$d/unit.log")" "$re" "unit tests ($f)"
    [ -f "$d/cxx.log" ] && fact "$(checks "$d/cxx.log")" '[0-9]+ tests linked with' "C++ tests ($f)"
    [ -f "$d/cxx_preload.log" ] &&
        fact "$(checks "$d/cxx_preload.log")" '[0-9]+ in a plain C\+\+ program' "C++ preload tests ($f)"
    # (a case that needs root prints "  --" as an ordinary user: it counts)
    [ -f "$d/link.log" ] &&
        fact "$(( $(grep -oE '[0-9]+ passed' "$d/link.log" | grep -oE '[0-9]+') +
                  $(grep -c '^  --' "$d/link.log") ))" \
            'tests/link/`, [0-9]+ per flavour' "link tests ($f)"
done
# The bug zoo's table (written by `make zoo-readme`): one row per
# zoo/*.patch, in order, its "what it breaks" the patch's header line. A
# variant added, removed or re-described without a run fails here.
zoo_want=$(for p in zoo/*.patch; do
               printf '%s | %s\n' "$(basename "$p" .patch)" "$(sed -n '1s/^# *//p' "$p")"; done)
zoo_have=$(sed -n '/^<!-- zoo-table begin/,/^<!-- zoo-table end/p' README.md \
           | grep -E '^\| [0-9]+-' | awk -F' [|] ' '{ sub(/^[|] /, "", $1); print $1 " | " $2 }')
if [ "$zoo_want" != "$zoo_have" ]; then
    echo "readme-facts: the README's zoo table is not zoo/'s variants (make zoo ZOO_VARIANTS=..., then make zoo-readme):"
    diff <(echo "$zoo_have") <(echo "$zoo_want") | grep '^[<>]' | sed 's/^</  README:/; s/^>/  zoo\/:  /'
    bad=1
fi
[ $bad -eq 0 ] && echo "readme-facts: the README's test counts and zoo table match the runners and zoo/"
exit $bad
