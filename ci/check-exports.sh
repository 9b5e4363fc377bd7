#!/usr/bin/env bash
# ci/check-exports.sh BUILD — the libraries export exactly their API:
# the core every function include/hakmem.h declares and nothing else; the
# drop-in library that plus the standard allocation names (src/dropin.c).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
api=$(grep -oE '\bhak_[a-z_]+\(' include/hakmem.h | tr -d '(' | sort -u)
dropin=$(grep -oE '^EXPORT [^(]*\b([a-z_0-9]+)\(' src/dropin.c \
         | grep -oE '[a-z_0-9]+\($' | tr -d '(' | sort -u)
status=0
for f in release debug; do
    for lib in libhakmem_core libhakmem; do
        got=$(nm -D --defined-only "$build/$f/$lib.so" | awk '$2 ~ /[TWi]/ {print $3}' | sort -u)
        want=$api
        [ $lib = libhakmem ] && want=$(printf '%s\n%s\n' "$api" "$dropin" | sort -u)
        if [ "$got" != "$want" ]; then
            echo "exports of $build/$f/$lib.so differ from the API (< missing, > extra):"
            diff <(echo "$want") <(echo "$got") || true
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "exports: $(echo "$api" | wc -l) hak_* functions, $(echo "$dropin" | wc -l) standard names, in both flavours"
exit $status
