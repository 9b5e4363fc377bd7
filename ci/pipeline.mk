# ci/pipeline.mk — the fuzz and sanitizer pipeline (included by Makefile).
#
#   make fuzz         libFuzzer on corpus/, FUZZ_SECONDS per harness and flavour
#                     (FUZZ_FLAVOURS: debug = ASan+UBSan on the debug core,
#                     release = UBSan on the release core); JOBS=N: -fork=N
#   make afl          AFL++ on the same sources and corpus, AFL_SECONDS each;
#                     JOBS=N: one main and N-1 secondary instances
#   make replay       every corpus input against both flavours (regressions)
#   make tsan-stress  the stress programs under ThreadSanitizer, both flavours
#   make valgrind     unit tests and a stress run under memcheck; a buggy
#                     program must be reported
#   make stress       STRESS_OPS (1M) crash-free operations per program, flavour
#   make zoo          each zoo/*.patch applied to a scratch copy: which stage
#                     catches it, after how many operations (ZOO_VARIANTS=)
#   make zoo-check    every zoo patch still applies and builds (fast)
#   make zoo-refresh  re-diff the zoo patches after the sources moved
#   make zoo-readme   the README's zoo table rewritten from make zoo's rows
#   make ci           the gate: all of the above, bounded, with a summary

FUZZ_SECONDS ?= 60
AFL_SECONDS  ?= 60
# processes per harness: libFuzzer -fork=JOBS, AFL++ one main + JOBS-1
# secondaries (ci/fuzz.sh)
JOBS         ?= 1
# Fresh fuzzing processes per harness and flavour before each libFuzzer
# campaign (ci/fuzz.sh), each running FRESH_INPUTS: seeds whose first
# operation forks a child that starts a thread (fuzz_attack: a wild
# pointer freed on a thread; fuzz_remote: a remote then owner double
# free, and a producer's double free).
FRESH_RUNS   ?= 100
FRESH_INPUTS := corpus/fuzz_attack/b33e3155a63cf0504079c7bc3f5f4a1fd30ab532 \
                corpus/fuzz_remote/a277c2155bc017fbbd2f12324c17ab0cd2734c2f \
                corpus/fuzz_remote/1e580562d0076705157cdbbf3771d0548431e6ef
STRESS_OPS   ?= 1000000
TSAN_OPS     ?= 200000
HARNESSES    := fuzz_alloc fuzz_remote fuzz_attack
# what the adversary harness adds (see fuzz/fuzz_attack.c)
FUZZ_FLAVOURS ?= debug release
# Link flags per harness: fuzz_attack records every mapping hakmem makes
# (it tells hakmem's memory from the fuzzer's), through these wrappers.
LDFLAGS_fuzz_attack := -Wl,--wrap=mmap,--wrap=munmap,--wrap=mremap,--wrap=mprotect
STRESS       := mpsc larson churn race
CORE_SRC_ALL := $(CORE_SRC)

FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -pthread -Iinclude -Isrc -Ihardening \
               -DHAK_DEBUG=1 -Wall -Wextra -Werror -Wno-unused-function
# The fuzzers' coverage skips the heap walk's loops (fuzz/coverage-ignore.txt).
FUZZ_COV := -fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt
FUZZ_DEPS := fuzz/harness.h fuzz/coverage-ignore.txt

# The core for the libFuzzer builds, one object per source and flavour:
# edge coverage without comparison tracing. Traced compares in the core
# (the large cache's scan, the slab and size checks) were an eighth of
# fuzz_alloc's and fuzz_attack's time, and the values they compare are
# sizes and addresses the harnesses derive from their bytes, never the
# bytes themselves, so libFuzzer cannot splice them into an input: from an
# empty corpus, 60 s reached the same edges with and without them
# (fuzz_alloc 932 and 926 against 926 and 928; fuzz_attack 974 and 961
# against 964 and 975). The harnesses keep theirs (their magic bytes).
FUZZ_CORE_FLAGS := -fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp
FUZZ_SAN_debug   := address,undefined
FUZZ_SAN_release := undefined
define fuzz_core
FUZZ_CORE_OBJ_$(1) := $$(patsubst %.c,$(BUILD)/fuzz-core/$(1)/%.o,$(CORE_SRC_ALL))
$$(FUZZ_CORE_OBJ_$(1)): $(BUILD)/fuzz-core/$(1)/%.o: %.c $(HEADERS) fuzz/coverage-ignore.txt
	@mkdir -p $$(dir $$@)
	clang $$(filter-out -DHAK_DEBUG=1,$$(FUZZ_CFLAGS)) $$(KNOBS_$(1)) $$(FUZZ_COV) \
	    $$(FUZZ_CORE_FLAGS) -fsanitize=$$(FUZZ_SAN_$(1)) -fno-sanitize-recover=undefined \
	    -c $$< -o $$@
endef
$(eval $(call fuzz_core,debug))
$(eval $(call fuzz_core,release))

# libFuzzer: coverage on harness and core, ASan+UBSan on both.
$(BUILD)/fuzz/%: fuzz/%.c $(FUZZ_DEPS) $(FUZZ_CORE_OBJ_debug)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_COV) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $< $(FUZZ_CORE_OBJ_debug) $(LDFLAGS_$*)

# libFuzzer on the release core: UBSan only (release
# is what production preloads; its misuse runs in the fuzzing process).
$(BUILD)/fuzz-release/%: fuzz/%.c $(FUZZ_DEPS) $(FUZZ_CORE_OBJ_release)
	@mkdir -p $(dir $@)
	clang $(filter-out -DHAK_DEBUG=1,$(FUZZ_CFLAGS)) $(FUZZ_COV) -DHAK_DEBUG=0 \
	    -fsanitize=fuzzer,undefined -fno-sanitize-recover=undefined \
	    -o $@ $< $(FUZZ_CORE_OBJ_release) $(LDFLAGS_$*)
FUZZ_BUILD_debug   := $(BUILD)/fuzz
FUZZ_BUILD_release := $(BUILD)/fuzz-release

# AFL++: the same source through its libFuzzer-compatible driver. Its
# instrumentation pass takes the same ignore list, from the environment.
AFL_CC := AFL_QUIET=1 AFL_LLVM_DENYLIST=$(CURDIR)/fuzz/coverage-ignore.txt afl-clang-fast
$(BUILD)/afl/%: fuzz/%.c $(FUZZ_DEPS) $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	$(AFL_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(CORE_SRC_ALL) $(LDFLAGS_$*)
# ... and on the release core (what production preloads).
$(BUILD)/afl-release/%: fuzz/%.c $(FUZZ_DEPS) $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	$(AFL_CC) $(filter-out -DHAK_DEBUG=1,$(FUZZ_CFLAGS)) -DHAK_DEBUG=0 \
	    -fsanitize=fuzzer -o $@ $< $(CORE_SRC_ALL) $(LDFLAGS_$*)
AFL_FLAVOURS ?= debug release
AFL_BUILD_debug   := $(BUILD)/afl
AFL_BUILD_release := $(BUILD)/afl-release

# Replay drivers and stress programs: plain gcc against each flavour's core.
define pipeline_flavour
# (replay drivers reach inside the core: the archive of its plain objects)
$(BUILD)/$(1)/replay_%: fuzz/%.c fuzz/harness.h fuzz/replay.c $(BUILD)/$(1)/obj/libhakmem_internal.a
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(TEST_CFLAGS) $$(FLAGS_$(1)) $$(LDFLAGS) -o $$@ $$< fuzz/replay.c \
	    $(BUILD)/$(1)/obj/libhakmem_internal.a -pthread $$(LDFLAGS_$$*)
$(BUILD)/$(1)/stress_%: stress/%.c stress/common.h $(BUILD)/$(1)/libhakmem_core.a
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(TEST_CFLAGS) -O2 $$(LDFLAGS) -o $$@ $$< $(BUILD)/$(1)/libhakmem_core.a -pthread
# ThreadSanitizer: the core compiled with the stress program, no suppressions.
$(BUILD)/tsan/$(1)/%: stress/%.c stress/common.h $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $$(dir $$@)
	clang $$(FUZZ_CFLAGS) -U HAK_DEBUG $$(FLAGS_$(1)) $$(EXTRA_CFLAGS) -fsanitize=thread -o $$@ $$< $(CORE_SRC_ALL)
endef
$(foreach f,$(FLAVOURS),$(eval $(call pipeline_flavour,$(f))))

.PHONY: deps fuzz afl replay tsan-stress valgrind stress zoo zoo-check zoo-refresh zoo-readme ci
# Every pipeline target installs what it needs first (a no-op when present).
deps:
	@tools/install-deps.sh

fuzz: deps $(foreach f,$(FUZZ_FLAVOURS),$(addprefix $(FUZZ_BUILD_$(f))/,$(HARNESSES)))
	FUZZ_FLAVOURS="$(FUZZ_FLAVOURS)" JOBS=$(JOBS) FRESH_RUNS=$(FRESH_RUNS) \
	    FRESH_INPUTS="$(FRESH_INPUTS)" ci/fuzz.sh libfuzzer $(FUZZ_SECONDS) $(HARNESSES)

afl: deps $(foreach f,$(AFL_FLAVOURS),$(addprefix $(AFL_BUILD_$(f))/,$(HARNESSES)))
	JOBS=$(JOBS) AFL_FLAVOURS="$(AFL_FLAVOURS)" ci/fuzz.sh afl $(AFL_SECONDS) $(HARNESSES)

replay: $(foreach f,$(FLAVOURS),$(foreach h,$(HARNESSES),$(BUILD)/$(f)/replay_$(h)))
	@for f in $(FLAVOURS); do for h in $(HARNESSES); do \
	  printf '%-8s %-12s ' $$f $$h; $(BUILD)/$$f/replay_$$h corpus/$$h || exit 1; \
	done; done

# forker too, for the lock order of fork's prepare handler against the
# allocator's own nesting (its children start threads, which TSan supports
# after a multi-threaded fork only with die_after_fork=0).
tsan-stress: deps $(foreach f,$(FLAVOURS),$(foreach p,$(STRESS) forker,$(BUILD)/tsan/$(f)/$(p)))
	@for f in $(FLAVOURS); do for p in $(STRESS); do \
	  printf 'tsan %-8s ' $$f; \
	  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 STRESS_OPS=$(TSAN_OPS) \
	    STRESS_THREADS=4 $(BUILD)/tsan/$$f/$$p || exit 1; \
	done; \
	printf 'tsan %-8s ' $$f; \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0 \
	  STRESS_SECONDS=5 $(BUILD)/tsan/$$f/forker >$(BUILD)/tsan/$$f/forker.log || exit 1; \
	tail -1 $(BUILD)/tsan/$$f/forker.log; \
	done

stress: $(foreach f,$(FLAVOURS),$(foreach p,$(STRESS),$(BUILD)/$(f)/stress_$(p)))
	@for f in $(FLAVOURS); do for p in $(STRESS); do \
	  printf '%-8s ' $$f; STRESS_OPS=$(STRESS_OPS) $(BUILD)/$$f/stress_$$p || exit 1; \
	done; done

valgrind: deps $(foreach f,$(FLAVOURS),$(BUILD)/$(f)/hak_tests $(BUILD)/$(f)/stress_larson) tests/valgrind/bug.c
	ci/valgrind.sh $(BUILD)

# The bug zoo (ci/zoo.sh): patches outside the shipped sources, applied to
# copies under build/zoo/. ZOO_VARIANTS="01 07" runs a subset.
zoo: deps
	ci/zoo.sh run
zoo-check:
	ci/zoo.sh check
zoo-refresh:
	ci/zoo.sh refresh
# The README's zoo table from the rows runs left in build/zoo/ (ci/zoo.sh).
zoo-readme:
	ci/zoo.sh readme

# The README's test command and .ci/run's: installs what is missing,
# builds with both compilers, then every gate (ci/gate.sh).
ci:
	tools/install-deps.sh
	$(MAKE) all
	$(MAKE) compilers
	ci/gate.sh

# ---- Coverage of src/ and hardening/ reached by the corpus and tests ----
# clang source-based coverage of both flavours (each has lines the other
# compiles but never runs: debug's checks, release's security profile):
# every harness replaying its corpus inputs, then the unit tests (Check
# forks a child per test; the death tests' children abort in hak_report,
# which writes the profile first: src/report.c); one report over
# both. The children's profiles merge online into a few files (%4m).
COV_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O0 -pthread -Iinclude -Isrc -Ihardening \
             -fprofile-instr-generate -fcoverage-mapping
COV_FLAVOURS := debug release
COV_debug   := -DHAK_DEBUG=1
COV_release := -DHAK_DEBUG=0
define cov_flavour
$(BUILD)/cov/$(1)/replay_%: fuzz/%.c fuzz/harness.h fuzz/replay.c $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $$(dir $$@)
	clang $$(COV_FLAGS) $$(COV_$(1)) -o $$@ $$< fuzz/replay.c $(CORE_SRC_ALL) $$(LDFLAGS_$$*)
$(BUILD)/cov/$(1)/hak_tests: $(TEST_SRC) $(wildcard tests/*.h) $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $$(dir $$@)
	@# (some tests define _GNU_SOURCE themselves; the core needs it given)
	clang $$(COV_FLAGS) $$(COV_$(1)) -Wno-macro-redefined -fno-builtin-malloc -fno-builtin-free -o $$@ \
	    $(TEST_SRC) $(CORE_SRC_ALL) $$(TEST_LIBS)
endef
$(foreach f,$(COV_FLAVOURS),$(eval $(call cov_flavour,$(f))))

COV_BINS := $(foreach f,$(COV_FLAVOURS),$(foreach h,$(HARNESSES),$(BUILD)/cov/$(f)/replay_$(h)) $(BUILD)/cov/$(f)/hak_tests)
.PHONY: coverage
coverage: deps $(COV_BINS)
	@rm -f $(BUILD)/cov/*.profraw
	@for f in $(COV_FLAVOURS); do \
	  for h in $(HARNESSES); do \
	    LLVM_PROFILE_FILE=$(BUILD)/cov/$$f-$$h-%4m.profraw $(BUILD)/cov/$$f/replay_$$h corpus/$$h \
	      >$(BUILD)/cov/$$f-$$h.log 2>&1 || { tail -20 $(BUILD)/cov/$$f-$$h.log; exit 1; }; \
	  done; \
	  LLVM_PROFILE_FILE=$(BUILD)/cov/$$f-unit-%4m.profraw CK_DEFAULT_TIMEOUT=600 \
	    $(BUILD)/cov/$$f/hak_tests >$(BUILD)/cov/$$f-unit.log 2>&1 || { tail -20 $(BUILD)/cov/$$f-unit.log; exit 1; }; \
	done
	@# once more with the environment set: the knobs' parsing, a cache small
	@# enough to evict, the statistics report at exit, the security profile
	@LLVM_PROFILE_FILE=$(BUILD)/cov/env-%4m.profraw HAKMEM_STATS=1 HAKMEM_LARGE_CACHE_MB=2 \
	  HAKMEM_SECURITY=strong $(BUILD)/cov/release/replay_fuzz_alloc corpus/fuzz_alloc \
	  >$(BUILD)/cov/env.log 2>&1 || { tail -20 $(BUILD)/cov/env.log; exit 1; }
	@llvm-profdata merge -sparse $(BUILD)/cov/*.profraw -o $(BUILD)/cov/all.profdata
	@llvm-cov report $(firstword $(COV_BINS)) $(addprefix -object ,$(wordlist 2,99,$(COV_BINS))) \
	  -instr-profile=$(BUILD)/cov/all.profdata $(CORE_SRC_ALL) | tee $(BUILD)/cov/report.txt
	@# the corpus alone, debug: what the fuzzers reach without the tests
	@llvm-profdata merge -sparse $(BUILD)/cov/debug-fuzz_*.profraw -o $(BUILD)/cov/corpus-debug.profdata
	@llvm-cov report $(BUILD)/cov/debug/replay_$(firstword $(HARNESSES)) $(addprefix -object $(BUILD)/cov/debug/replay_,$(wordlist 2,9,$(HARNESSES))) \
	  -instr-profile=$(BUILD)/cov/corpus-debug.profdata $(CORE_SRC_ALL) >$(BUILD)/cov/corpus-debug.txt
	@echo "coverage: $$(awk '/^TOTAL/ { print $$10 }' $(BUILD)/cov/report.txt) of lines; the corpus alone, debug: $$(awk '/^TOTAL/ { print $$10 }' $(BUILD)/cov/corpus-debug.txt)"
	@ci/readme-facts.sh $(BUILD) coverage

# ---- ASan awareness: hakmem blocks poisoned for AddressSanitizer ----------
$(BUILD)/asan/misuse: tests/asan/misuse.c $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=address -o $@ $< $(CORE_SRC_ALL)

.PHONY: asan-check
asan-check: deps $(BUILD)/asan/misuse
	ci/asan-check.sh

# ---- Soak: long runs whose memory must stay bounded -------------------------
#   make soak SOAK_SECONDS=600   SOAK_SECONDS in all (default 10 minutes),
#   shared between both flavours' stress programs (mpsc, larson, churn, in
#   a time-bounded loop), forker, exits and soak (stress/), with mapped
#   bytes, mappings and resident memory sampled into build/soak/*.csv and
#   required to level off after warm-up; build/soak/soak.png plots them.
#   ci/soak.sh has the criterion and the other knobs (SOAK_FLAVOURS,
#   SOAK_PROGRAMS, SOAK_SLACK_MB, ...). soak_leaky is the soak program with
#   one free in 16 dropped (stress/leak.c): the check must catch it.
SOAK_SECONDS ?= 600
SOAK_PROGS   := soak forker exits

define soak_flavour
$(BUILD)/$(1)/soak_leaky: stress/soak.c stress/leak.c stress/common.h $(BUILD)/$(1)/libhakmem_core.a
	$$(CC) $$(TEST_CFLAGS) -O2 -Wl,--wrap=hak_free -o $$@ stress/soak.c stress/leak.c $(BUILD)/$(1)/libhakmem_core.a -pthread
endef
$(foreach f,$(FLAVOURS),$(eval $(call soak_flavour,$(f))))

.PHONY: soak
soak: deps $(foreach f,$(FLAVOURS),$(foreach p,$(STRESS) $(SOAK_PROGS),$(BUILD)/$(f)/stress_$(p))) \
      $(BUILD)/release/soak_leaky
	ci/soak.sh $(BUILD) $(SOAK_SECONDS)
