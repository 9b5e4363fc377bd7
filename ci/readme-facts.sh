#!/usr/bin/env bash
# ci/readme-facts.sh BUILD — the test counts the README states, checked
# against what the runners of `make unit` just printed (BUILD/FLAVOUR/
# {unit,cxx,cxx_preload,link}.log): a count typed into the README and not
# updated when tests were added fails here, naming both numbers.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bad=0
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
[ $bad -eq 0 ] && echo "readme-facts: the README's test counts match the runners"
exit $bad
