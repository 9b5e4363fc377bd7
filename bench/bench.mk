# bench/bench.mk — the benchmark suite (included by the Makefile).
#
#   make bench            every workload under glibc, mimalloc, jemalloc,
#                         tcmalloc, Scudo, hakmem release and debug
#                         (LD_PRELOAD), interleaved, BENCH_RUNS runs each,
#                         medians and ratios to mimalloc, futex counts:
#                         bench/results/{results.md,results.csv,chart.png}
#   make bench BENCH_QUICK=1   small counts, 3 runs (unless BENCH_RUNS is given), results under
#                         build/bench/results-quick/ (a smoke run)
#   make bench-callgrind  instructions per malloc+free pair (callgrind):
#                         bench/results/callgrind.md
#   make bench-external MIMALLOC_BENCH=/path/to/mimalloc-bench
#                         workloads of mimalloc-bench, built from the
#                         user's checkout (never part of hakmem), against
#                         the same peers, REPS interleaved reps (5):
#                         bench/results/external/{results.md,chart.png}
#                         (bench/external.sh has the knobs)
#   make bench-real [GIT_REPO=/path/to/a/git/repository]
#                         real programs against the same peers: sqlite3 on
#                         a generated 400 MiB database and, given a
#                         repository, git log -p, blame and pack-objects;
#                         REPS reps: bench/results/real/results.md
#   make bench-host       what this host charges for a protection change
#                         (the large tier's guard): ns per page touched
#                         after mprotect, against a plain touch, a refault
#                         and a write after MADV_FREE (bench/reprotect.c):
#                         bench/results/host.txt
#
# Knobs (environment or make variables): BENCH_RUNS (5), BENCH_QUICK (0),
# BENCH_WORKLOADS / BENCH_ALLOCS (comma-separated subsets), BENCH_TIMEOUT
# (seconds per run), BENCH_OUT (results directory), BENCH_FUTEX (1),
# CALLGRIND_N (iterations; N and 2N are measured).

BENCH_QUICK ?= 0
BENCH_RUNS  ?= $(if $(filter 1,$(BENCH_QUICK)),3,5)
BENCH_DIR   := $(BUILD)/bench
BENCH_PROGS := tiny window larson prodcons falseshare mid large realloc memory \
               reprotect
BENCH_BINS  := $(addprefix $(BENCH_DIR)/,$(BENCH_PROGS))
# -fno-builtin-*: the compiler must not pair up and delete malloc/free.
BENCH_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O2 -g -pthread -Wall -Wextra -Werror \
                -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
                -fno-builtin-free

$(BENCH_BINS): $(BENCH_DIR)/%: bench/%.c bench/common.h bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -ldl

.PHONY: bench bench-build bench-callgrind bench-external bench-real bench-host
bench-build: $(BENCH_BINS)

bench: all bench-build
	BENCH_RUNS=$(BENCH_RUNS) BENCH_QUICK=$(BENCH_QUICK) BENCH_BIN=$(BENCH_DIR) \
	    BENCH_BUILD=$(BUILD) bench/run.sh

bench-host: $(BENCH_DIR)/reprotect
	@mkdir -p bench/results
	{ uname -srm && grep -m1 'model name' /proc/cpuinfo && \
	  $(BENCH_DIR)/reprotect; } > bench/results/host.txt
	@cat bench/results/host.txt

bench-callgrind: all bench-build
	BENCH_BIN=$(BENCH_DIR) BENCH_BUILD=$(BUILD) bench/callgrind.sh

REPS ?= 5
bench-external: all
	@test -n "$(MIMALLOC_BENCH)" || { echo "usage: make bench-external MIMALLOC_BENCH=/path/to/mimalloc-bench [REPS=5]" >&2; exit 2; }
	MIMALLOC_BENCH='$(MIMALLOC_BENCH)' REPS=$(REPS) BENCH_BUILD=$(BUILD) bench/external.sh

bench-real: all
	EXT_SUITE=real EXT_GIT_REPO='$(GIT_REPO)' REPS=$(REPS) BENCH_BUILD=$(BUILD) bench/external.sh
