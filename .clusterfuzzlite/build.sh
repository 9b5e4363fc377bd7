#!/bin/bash -eu
# .clusterfuzzlite/build.sh — the fuzz targets, built the way OSS-Fuzz and
# ClusterFuzzLite build projects: with their $CC, $CFLAGS (sanitizer and
# coverage flags), $LIB_FUZZING_ENGINE (the engine: libFuzzer, AFL++, ...),
# into $OUT, each with <target>_seed_corpus.zip (corpus/<harness>/) and
# <target>.options. The same file serves as projects/hakmem/build.sh in
# the oss-fuzz repository. Test it locally as their helper runs it, e.g.
#   CC=clang CXX=clang++ CFLAGS='-fsanitize=address,fuzzer-no-link' \
#   CXXFLAGS="$CFLAGS" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#   OUT=/tmp/out SRC=$PWD/.. WORK=/tmp/work .clusterfuzzlite/build.sh
#
# Targets: every harness on the debug core (every check; ASan sees its
# blocks) and, as <harness>_release, on the release core (what production
# preloads) — except under ASan: the release core keeps no requested size,
# so its realloc copies a block's whole usable size, past the requested
# bytes that ASan's poisoning (src/vg.h) leaves open; as in
# ci/pipeline.mk the release core is fuzzed with UBSan.
# From the repository's .clusterfuzzlite/, or as $SRC/build.sh with the
# working directory in the sources (the Dockerfile's WORKDIR).
here=$(dirname "$0")/..
[ -f "$here/src/types.h" ] && cd "$here"
[ -f src/types.h ] || { echo "build.sh: run it in the hakmem sources" >&2; exit 1; }
: "${CC:=clang}" "${CXX:=clang++}" "${CFLAGS:=}" "${CXXFLAGS:=}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}" "${OUT:?set OUT}"
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK/obj"

common="-std=gnu11 -D_GNU_SOURCE -g -O1 -pthread -Iinclude -Isrc -Ihardening"
# The heap walk's loops guide nothing (fuzz/coverage-ignore.txt); only
# clang's own coverage (libFuzzer builds) takes the list.
# The core's own comparisons are not traced (as in ci/pipeline.mk): the
# values it compares are sizes and addresses the harness derives from its
# bytes, which libFuzzer cannot splice back into an input, and tracing
# them cost a sixth of fuzz_alloc's time; the harnesses keep theirs.
corecov=
case "$CFLAGS" in
    *fuzzer-no-link*) common="$common -fsanitize-coverage-ignorelist=$PWD/fuzz/coverage-ignore.txt"
                      corecov=-fno-sanitize-coverage=trace-cmp ;;
esac
core=$(ls src/*.c hardening/*.c | grep -v '^src/dropin')

flavours="debug release"
case "$CFLAGS" in *-fsanitize=*address*) flavours=debug ;; esac
for flavour in $flavours; do
    d=1 suffix=
    [ $flavour = release ] && d=0 suffix=_release
    objs=()
    for f in $core; do
        o=$WORK/obj/$flavour-$(basename "$f" .c).o
        # shellcheck disable=SC2086 # flag lists split on purpose
        $CC $CFLAGS $common $corecov -DHAK_DEBUG=$d -c "$f" -o "$o"
        objs+=("$o")
    done
    for src in fuzz/fuzz_*.c; do
        h=$(basename "$src" .c)
        extra=
        # fuzz_attack tells hakmem's mappings from the rest (ci/pipeline.mk)
        [ "$h" = fuzz_attack ] && extra=-Wl,--wrap=mmap,--wrap=munmap,--wrap=mremap,--wrap=mprotect
        # shellcheck disable=SC2086
        $CC $CFLAGS $common -DHAK_DEBUG=$d -c "$src" -o "$WORK/obj/$flavour-$h.o"
        # shellcheck disable=SC2086
        $CXX $CXXFLAGS "$WORK/obj/$flavour-$h.o" "${objs[@]}" $LIB_FUZZING_ENGINE \
            -pthread $extra -o "$OUT/$h$suffix"
        rm -f "$OUT/$h${suffix}_seed_corpus.zip"
        (cd "corpus/$h" && zip -q -j "$OUT/$h${suffix}_seed_corpus.zip" ./*)
        # The inputs' size the harnesses decode (ci/fuzz.sh uses the same);
        # fuzz_remote and fuzz_attack fork to see aborts, which need time.
        cat > "$OUT/$h$suffix.options" <<OPTS
[libfuzzer]
max_len = 2048
timeout = 60
rss_limit_mb = 4096
OPTS
    done
done
ls "$OUT"
