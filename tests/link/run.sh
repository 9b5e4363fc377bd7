#!/usr/bin/env bash
# tests/link/run.sh DIR FLAVOUR — the built libraries of one flavour (DIR:
# $(BUILD)/FLAVOUR), used the way a program outside the tree uses them:
# only include/ and the library files.
#
#   soname     libhakmem{,_core}.so.MAJOR.MINOR.PATCH carries the SONAME
#              libhakmem{,_core}.so.MAJOR; .so -> .so.MAJOR -> the file
#   needed     a program linked with -lhakmem needs libhakmem.so.MAJOR,
#              runs against it, and its malloc is hakmem's, of FLAVOUR
#   own names  a program defining hak_os_map, hak_heap_drain and hak_large_alloc links
#              against libhakmem.a and against libhakmem_core.a and runs
#   version    HAKMEM_VERSION_STRING is MAJOR.MINOR.PATCH and the version
#              the Makefile named the libraries with ($VERSION)
#   dlopen     libhakmem_core.so loaded with dlopen works (initial-exec TLS
#              from the static TLS surplus), in old and new threads
#   secure     HAKMEM_STATS_FILE is honoured by a plain program and ignored
#              by a setuid one (its caller could otherwise append to any
#              file as the program's owner); the setuid half needs root
#   cxx local  libhakmem.so needs no libstdc++: a C program preloading it
#              maps none; a C++ library it then dlopen()s into a local
#              scope gets the new handler asked and std::bad_alloc thrown
#              by hakmem's operator new (its runtime found in that scope)
#
# Environment: CC, CXX, CPPFLAGS, CFLAGS, LDFLAGS (the build's), VERSION.
# Last line: "link (FLAVOUR): N passed, M failed"; exit 1 if M > 0.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD/FLAVOUR FLAVOUR" >&2; exit 2; }
dir=$1 flavour=$2
cd "$(dirname "$0")/../.."
: "${CC:=cc}" "${CXX:=c++}" "${VERSION:?VERSION must be set}"
major=${VERSION%%.*}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { echo "  ok   $1"; passed=$((passed + 1)); }
bad() { echo "  FAIL $1: $2"; failed=$((failed + 1)); }
# compile OUT SRC ARGS...: compiles a program as a user would (no src/).
compile() {
    local out=$1 src=$2
    shift 2
    # shellcheck disable=SC2086
    $CC ${CPPFLAGS:-} ${CFLAGS:-} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude \
        -o "$work/$out" "tests/link/$src" ${LDFLAGS:-} "$@" 2>"$work/$out.err"
}

echo "== link ($flavour)"
for lib in libhakmem libhakmem_core; do
    file=$dir/$lib.so.$VERSION
    soname=$(readelf -d "$file" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    if [ "$soname" != "$lib.so.$major" ]; then
        bad "soname $lib" "SONAME of $file is '${soname}', not $lib.so.$major"
    elif [ "$(readlink "$dir/$lib.so")" != "$lib.so.$major" ] ||
         [ "$(readlink "$dir/$lib.so.$major")" != "$lib.so.$VERSION" ]; then
        bad "soname $lib" "$lib.so -> $lib.so.$major -> $lib.so.$VERSION links missing"
    else
        ok "soname $lib ($soname)"
    fi
done

if ! compile needed needed.c -L"$dir" -lhakmem; then
    bad needed "does not link: $(head -3 "$work/needed.err")"
elif ! readelf -d "$work/needed" | grep -q "(NEEDED).*\[libhakmem.so.$major\]"; then
    bad needed "the program does not need libhakmem.so.$major"
elif [ "$(LD_LIBRARY_PATH=$dir "$work/needed")" != "$flavour" ]; then
    bad needed "did not run against the $flavour library"
else
    ok "needed (-lhakmem -> libhakmem.so.$major)"
fi

for a in libhakmem libhakmem_core; do
    def=
    [ $a = libhakmem ] && def=-DDROPIN
    if ! compile own_$a own_names.c $def "$dir/$a.a" -pthread; then
        bad "own names $a.a" "does not link: $(grep -m2 -E 'multiple|error' "$work/own_$a.err")"
    elif [ "$("$work/own_$a" 2>&1)" != "own names ok" ]; then
        bad "own names $a.a" "$("$work/own_$a" 2>&1 | head -2)"
    else
        ok "own names $a.a (hak_os_map, hak_heap_drain, hak_large_alloc)"
    fi
done

if ! compile version version.c; then
    bad version "does not compile: $(head -3 "$work/version.err")"
elif [ "$("$work/version")" != "$VERSION $VERSION" ]; then
    bad version "hakmem.h says '$("$work/version")', the libraries are $VERSION"
else
    ok "version ($VERSION)"
fi

if ! compile dlopen_core dlopen_core.c -ldl -pthread; then
    bad dlopen "does not compile: $(head -3 "$work/dlopen_core.err")"
elif ! out=$("$work/dlopen_core" "$(readlink -f "$dir/libhakmem_core.so")" 2>&1) ||
     [ "$out" != "dlopen ok" ]; then
    bad dlopen "$out"
else
    ok "dlopen libhakmem_core.so"
fi

if ! compile secure secure.c "$dir/libhakmem.a" -pthread; then
    bad secure "does not link: $(head -3 "$work/secure.err")"
elif ! HAKMEM_STATS=1 HAKMEM_STATS_FILE="$work/plain.out" "$work/secure" ||
     [ ! -s "$work/plain.out" ]; then
    bad secure "a plain program did not write HAKMEM_STATS_FILE"
elif [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
    echo "  --   secure: the setuid half needs root (the plain half passed)"
else
    chmod 755 "$work" && chmod 4755 "$work/secure"
    HAKMEM_STATS=1 HAKMEM_STATS_FILE="$work/setuid.out" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$work/secure"
    if [ -e "$work/setuid.out" ]; then
        bad secure "a setuid program wrote HAKMEM_STATS_FILE as root"
    else
        ok "secure (a setuid program ignores HAKMEM_ variables)"
    fi
fi

if readelf -d "$dir/libhakmem.so" | grep -q "(NEEDED).*libstdc++"; then
    bad "cxx local" "libhakmem.so needs libstdc++"
elif ! compile cxx_local cxx_local.c -ldl; then
    bad "cxx local" "does not compile: $(head -3 "$work/cxx_local.err")"
elif ! $CXX ${CPPFLAGS:-} -std=c++17 -Wall -Wextra -fPIC -shared \
         -o "$work/libcxx_local.so" tests/link/cxx_local_lib.cc ${LDFLAGS:-} \
         2>"$work/cxx_local_lib.err"; then
    bad "cxx local" "the C++ library does not build: $(head -3 "$work/cxx_local_lib.err")"
elif ! out=$(LD_PRELOAD="$(readlink -f "$dir/libhakmem.so")" \
             "$work/cxx_local" "$work/libcxx_local.so" 2>&1) ||
     [ "$out" != "cxx local ok" ]; then
    bad "cxx local" "$out"
else
    ok "cxx local (no libstdc++ in a C program; a local-scope C++ library's new)"
fi

echo "link ($flavour): $passed passed, $failed failed"
[ $failed -eq 0 ]
