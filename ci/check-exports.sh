#!/usr/bin/env bash
# ci/check-exports.sh BUILD — the libraries export exactly their API:
# the core every function include/hakmem.h declares and nothing else; the
# drop-in library that plus the standard allocation names (src/dropin.c)
# and the replaceable C++ operators new and delete (src/dropin_cxx.cc).
# Checked three ways: the version scripts (src/hakmem.map, src/dropin.map)
# list exactly those names; the shared libraries' dynamic symbols
# (nm -D) are exactly those; the static archives' global definitions
# (nm -g) are exactly those (their internal names are local).
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
full=$(printf '%s\n%s\n' "$api" "$dropin" | sort -u)
status=0
# same WHAT WANT GOT: reports a difference.
same() {
    if [ "$2" != "$3" ]; then
        echo "$1 differ from the API (< missing, > extra):"
        diff <(echo "$2") <(echo "$3") || true
        status=1
    fi
}
# The names a version script makes global (between "global:" and "local:").
mapped() {
    sed -e 's|/\*.*\*/||g' -e '/\/\*/,/\*\//d' "$1" |
        awk '/global:/ {g = 1; next} /local:/ {g = 0} g' | tr -d ' ;' | grep -v '^$' | sort -u
}
same "names of src/hakmem.map" "$api" "$(mapped src/hakmem.map)"
same "names of src/dropin.map" "$full" "$(mapped src/dropin.map)"
for f in release debug; do
    for lib in libhakmem_core libhakmem; do
        want=$api
        [ $lib = libhakmem ] && want=$full
        same "exports of $build/$f/$lib.so" "$want" \
            "$(nm -D --defined-only "$build/$f/$lib.so" | awk '$2 ~ /[TWi]/ {print $3}' | sort -u)"
        # Archives: every global definition (B/D/R data too, not only code)
        # but DW.ref.__gxx_personality_v0, the hidden COMDAT word every C++
        # object with exception tables carries (a link makes it local).
        same "global names of $build/$f/$lib.a" "$want" \
            "$(nm -g --defined-only "$build/$f/$lib.a" | awk 'NF == 3 && $3 !~ /^DW\.ref\./ {print $3}' | sort -u)"
    done
done
[ $status -eq 0 ] && echo "exports: $(echo "$api" | wc -l) hak_* functions, $(echo "$dropin" | wc -l) standard names ($(echo "$cxx" | wc -l) C++ operators), in both flavours, version scripts, shared libraries and archives"
exit $status
