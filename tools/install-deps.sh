#!/usr/bin/env bash
# install-deps.sh — installs what hakmem's build and tests need on Debian 12.
#
# Idempotent: checks every package with dpkg -s and installs only the
# missing ones, running apt-get update once and only if something is
# missing. Non-interactive (CI): no prompts, no stdin needed. Run as root
# (or with passwordless sudo).
#
#   check libsubunit-dev pkg-config   Check unit tests (make unit)
#   valgrind                          memory checking of the test binaries
#   sqlite3 git python3               real programs (make real)
#   libpython3.X-testsuite            CPython's regression suite, only if no
#                                     python3 that tests/real/run.sh would
#                                     use already has the `test` package
#   clang make gcc g++                both compilers (make compilers); g++
#                                     for the C++ operators of the drop-in
#                                     library (src/dropin_cxx.cc)
#   libclang-rt-14-dev llvm           libFuzzer, ASan/UBSan/TSan runtimes,
#                                     llvm-cov/profdata (make fuzz, coverage)
#   afl++                             AFL++ (make afl)
#   gdb                               names the faulting function (make zoo)
#   libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 hyperfine gnuplot-nox
#                                     peers and tools of the benchmarks
#
# install-deps.sh --packaging: only what `make deb` needs instead (the
# build dependencies of debian/control and the packaging tools):
#   check libsubunit-dev pkg-config make gcc g++   make check in the build
#   dpkg-dev debhelper fakeroot                    dpkg-buildpackage, dh
#   lintian                                        the package check
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(check libsubunit-dev pkg-config valgrind sqlite3 git python3 clang make gcc g++
          libclang-rt-14-dev llvm afl++ gdb
          libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 hyperfine gnuplot-nox)
packaging=0
if [[ ${1:-} == --packaging ]]; then
    packaging=1
    PACKAGES=(check libsubunit-dev pkg-config make gcc g++ dpkg-dev debhelper fakeroot lintian)
fi

say() { echo "install-deps: $*"; }

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "dpkg/apt-get not found: this script supports Debian (12) only" >&2
    exit 1
fi

installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

# Does a python3 that tests/real/run.sh may pick have the regression suite?
# (Same candidates, same test; pyenv shims resolve to their interpreter.)
python_has_tests() {
    local c
    for c in ${HAKMEM_PYTHON:-} python3 /usr/bin/python3 /usr/local/bin/python3; do
        command -v "$c" >/dev/null 2>&1 || continue
        "$c" -c 'import test.support, test.libregrtest, test.test_list' \
            </dev/null >/dev/null 2>&1 && return 0
    done
    return 1
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done

if ((packaging == 0)) && ! python_has_tests; then
    # Debian's python3 (installed now, if missing) is the one the suite
    # package belongs to; Debian 12 ships 3.11.
    ver=3.11
    if [[ -x /usr/bin/python3 ]]; then
        ver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' </dev/null)
    fi
    installed "libpython$ver-testsuite" || missing+=("libpython$ver-testsuite")
fi

if ((${#missing[@]} == 0)); then
    if ((packaging)); then
        say "all packages present (${PACKAGES[*]})"
    else
        say "all packages present (${PACKAGES[*]}; python3 regression suite available)"
    fi
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n DEBIAN_FRONTEND=noninteractive)
    else
        say "missing: ${missing[*]}" >&2
        say "run as root (or with passwordless sudo) to install them" >&2
        exit 1
    fi
fi

say "installing: ${missing[*]}"
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null

still=()
for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
done
if ((${#still[@]})); then
    say "still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
if ((packaging == 0)) && ! python_has_tests; then
    say "warning: no python3 on PATH imports test.test_list; set HAKMEM_PYTHON for tests/real/run.sh" >&2
fi
say "installed: ${missing[*]}"
