# bench/peers.sh — sourced by bench/run.sh and bench/external.sh: the
# peer allocators (one list for both), installing what the runners need,
# and the version line of each library.
#
#   peers_deps             tools/install-deps.sh (unless BENCH_SKIP_DEPS=1)
#                          and GNU time
#   peers_list HAKDIR      prints name=path lines, mimalloc first; hakmem's
#                          libraries are read from HAKDIR/{release,debug}
#   peers_select LIST      fills ANAMES (order kept) and ALIB[name] from
#                          peers_list's lines on stdin: those in the comma
#                          LIST (all when empty) whose library exists
#   peers_version NAME     the package version (or commit) of NAME
#   peers_interleave REPS  the caller's run_one WORKLOAD ALLOCATOR K for
#                          every workload of WNAMES: REPS rounds, each of
#                          every allocator of ANAMES in turn (A B C ...
#                          A B C ...), DONE counting the runs made
#   peers_finish REPORT [REFERENCE]
#                          the end of a run: elapsed time and load into
#                          $OUT/meta.txt, bench/REPORT (the runner's
#                          report script) on $OUT, chart.png from
#                          chart.dat when gnuplot is there (bars as ratios
#                          to REFERENCE; chart.gp's default without one)
# The caller defines say and die, HAKMEM_COMMIT for peers_version,
# run_one for peers_interleave, and ROOT, OUT and T_START (the run's
# start, date +%s) for peers_finish.

PEERS_LIBDIR=/usr/lib/x86_64-linux-gnu

peers_interleave() { # reps
    local w a k
    DONE=0
    for w in "${WNAMES[@]}"; do
        for ((k = 1; k <= $1; k++)); do
            for a in "${ANAMES[@]}"; do
                DONE=$((DONE + 1))
                run_one "$w" "$a" "$k"
            done
        done
    done
}

peers_finish() { # report [reference]
    local t_end ref=
    t_end=$(date +%s)
    {
        echo "elapsed_s=$((t_end - T_START))"
        echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    } >>"$OUT/meta.txt"
    python3 "$ROOT/bench/$1" "$OUT" || die "report failed"
    [[ -n ${2:-} ]] && ref="; reference='$2'"
    if command -v gnuplot >/dev/null 2>&1 && [[ -s $OUT/chart.dat ]]; then
        gnuplot -e "datafile='$OUT/chart.dat'; outfile='$OUT/chart.png'$ref" \
            "$ROOT/bench/chart.gp" || say "warning: gnuplot failed"
    fi
    say "done in $((t_end - T_START)) s: $OUT/results.md"
}

peers_as_root() {
    if ((EUID == 0)); then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

peers_apt_install() { # package...
    say "installing $*"
    peers_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$@" </dev/null >&2 ||
    { peers_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2 &&
      peers_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$@" </dev/null >&2; }
}

peers_deps() {
    if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
        "$ROOT/tools/install-deps.sh" >&2 || die "tools/install-deps.sh failed"
    fi
    # GNU time is the runners' own need (not in tools/).
    [[ -x /usr/bin/time ]] || peers_apt_install time ||
        die "/usr/bin/time missing and could not install 'time'"
}

peers_scudo() {
    ls -1 /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.scudo_standalone-x86_64.so 2>/dev/null |
        sort -V | tail -n 1
}

peers_list() { # HAKDIR
    echo "mimalloc=$PEERS_LIBDIR/libmimalloc.so.2"
    echo "glibc="
    echo "jemalloc=$PEERS_LIBDIR/libjemalloc.so.2"
    echo "tcmalloc=$PEERS_LIBDIR/libtcmalloc_minimal.so.4"
    echo "scudo=$(peers_scudo)"
    echo "hakmem-release=$1/release/libhakmem.so"
    echo "hakmem-debug=$1/debug/libhakmem.so"
}

peers_in_list() { # item comma-list
    [[ -z $2 ]] && return 0
    [[ ",$2," == *",$1,"* ]]
}

peers_select() { # comma-list; reads name=path lines
    ANAMES=()
    declare -gA ALIB=()
    local e n p
    while IFS= read -r e; do
        n=${e%%=*} p=${e#*=}
        peers_in_list "$n" "$1" || continue
        if [[ $n != glibc && ! -f $p ]]; then
            say "warning: $n not found (${p:-no file}); skipped"
            continue
        fi
        ANAMES+=("$n"); ALIB[$n]=$p
    done
}

peers_version() { # name
    case $1 in
    mimalloc) dpkg-query -W -f='${Version}' libmimalloc2.0 2>/dev/null ;;
    jemalloc) dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null ;;
    tcmalloc) dpkg-query -W -f='${Version}' libtcmalloc-minimal4 2>/dev/null ;;
    glibc) dpkg-query -W -f='${Version}' libc6 2>/dev/null ;;
    scudo) echo "compiler-rt $(basename "$(dirname "$(dirname "$(dirname "$(peers_scudo)")")")")" ;;
    hakmem-*) echo "commit $HAKMEM_COMMIT" ;;
    esac
}
