#!/usr/bin/env bash
# ci/check-exports.sh BUILD — the libraries export exactly their API:
# the core every function include/hakmem.h declares and nothing else; the
# drop-in library that plus the standard allocation names (src/dropin.c)
# and the replaceable C++ operators new and delete (src/dropin_cxx.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
api=$(grep -oE '\bhak_[a-z_]+\(' include/hakmem.h | tr -d '(' | sort -u)
dropin=$(grep -oE '^EXPORT [^(]*\b([a-z_0-9]+)\(' src/dropin.c \
         | grep -oE '[a-z_0-9]+\($' | tr -d '(' | sort -u)
# Every replaceable global operator new/delete of C++17, mangled (Itanium
# ABI, size_t = unsigned long 'm'): new/new[] (_Znw/_Zna) plain, nothrow,
# aligned, aligned nothrow; delete/delete[] (_Zdl/_Zda) plain, nothrow,
# sized, aligned, aligned nothrow, sized aligned.
cxx=$(for o in w a; do
        for t in '' RKSt9nothrow_t St11align_val_t St11align_val_tRKSt9nothrow_t; do
            echo "_Zn${o}m$t"; done; done
      for o in l a; do
        for t in '' RKSt9nothrow_t m St11align_val_t St11align_val_tRKSt9nothrow_t mSt11align_val_t; do
            echo "_Zd${o}Pv$t"; done; done | sort -u)
dropin=$(printf '%s\n%s\n' "$dropin" "$cxx" | sort -u)
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
[ $status -eq 0 ] && echo "exports: $(echo "$api" | wc -l) hak_* functions, $(echo "$dropin" | wc -l) standard names ($(echo "$cxx" | wc -l) C++ operators), in both flavours"
exit $status
