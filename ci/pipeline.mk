# ci/pipeline.mk — the fuzz and sanitizer pipeline (included by Makefile).
#
#   make fuzz         libFuzzer on corpus/, FUZZ_SECONDS per harness and flavour
#                     (FUZZ_FLAVOURS: debug = ASan+UBSan on the debug core,
#                     release = UBSan on the release core)
#   make afl          AFL++ on the same sources and corpus, AFL_SECONDS each
#   make replay       every corpus input against both flavours (regressions)
#   make tsan-stress  the stress programs under ThreadSanitizer, both flavours
#   make valgrind     unit tests and a stress run under memcheck; a buggy
#                     program must be reported
#   make stress       STRESS_OPS (1M) crash-free operations per program, flavour
#   make zoo          re-introduce each known bug class; show what catches it
#   make ci           the gate: all of the above, bounded, with a summary

FUZZ_SECONDS ?= 60
AFL_SECONDS  ?= 60
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

# libFuzzer: coverage on harness and core, ASan+UBSan on both.
$(BUILD)/fuzz/%: fuzz/%.c fuzz/harness.h $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $< $(CORE_SRC_ALL) $(LDFLAGS_$*)

# libFuzzer on the release core: UBSan only (release
# is what production preloads; its misuse runs in the fuzzing process).
$(BUILD)/fuzz-release/%: fuzz/%.c fuzz/harness.h $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(filter-out -DHAK_DEBUG=1,$(FUZZ_CFLAGS)) -DHAK_DEBUG=0 \
	    -fsanitize=fuzzer,undefined -fno-sanitize-recover=undefined \
	    -o $@ $< $(CORE_SRC_ALL) $(LDFLAGS_$*)
FUZZ_BUILD_debug   := $(BUILD)/fuzz
FUZZ_BUILD_release := $(BUILD)/fuzz-release

# AFL++: the same source through its libFuzzer-compatible driver.
$(BUILD)/afl/%: fuzz/%.c fuzz/harness.h $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	AFL_QUIET=1 afl-clang-fast $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(CORE_SRC_ALL) $(LDFLAGS_$*)

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

.PHONY: deps fuzz afl replay tsan-stress valgrind stress zoo ci
# Every pipeline target installs what it needs first (a no-op when present).
deps:
	@tools/install-deps.sh

fuzz: deps $(foreach f,$(FUZZ_FLAVOURS),$(addprefix $(FUZZ_BUILD_$(f))/,$(HARNESSES)))
	FUZZ_FLAVOURS="$(FUZZ_FLAVOURS)" ci/fuzz.sh libfuzzer $(FUZZ_SECONDS) $(HARNESSES)

afl: deps $(addprefix $(BUILD)/afl/,$(HARNESSES))
	ci/fuzz.sh afl $(AFL_SECONDS) $(HARNESSES)

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

zoo: deps all
	ci/zoo.sh

# The README's test command and .ci/run's: installs what is missing,
# builds with both compilers, then every gate (ci/gate.sh).
ci:
	tools/install-deps.sh
	$(MAKE) all
	$(MAKE) compilers
	ci/gate.sh

# ---- Coverage of src/ and hardening/ reached by the corpus ----------------
# clang source-based coverage of the debug core (the flavour the fuzzers
# drive) under every harness replaying its corpus inputs. Forked children
# that abort by design (fuzz_remote's damage checks) write no profile, so
# the reporters count as unreached.
COV_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O0 -pthread -Iinclude -Isrc -Ihardening \
             -fprofile-instr-generate -fcoverage-mapping -DHAK_DEBUG=1
$(BUILD)/cov/replay_%: fuzz/%.c fuzz/harness.h fuzz/replay.c $(CORE_SRC_ALL) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(COV_FLAGS) -o $@ $< fuzz/replay.c $(CORE_SRC_ALL) $(LDFLAGS_$*)

COV_BINS := $(foreach h,$(HARNESSES),$(BUILD)/cov/replay_$(h))
.PHONY: coverage
coverage: deps $(COV_BINS)
	@rm -f $(BUILD)/cov/*.profraw
	@for h in $(HARNESSES); do \
	  LLVM_PROFILE_FILE=$(BUILD)/cov/$$h-%p.profraw $(BUILD)/cov/replay_$$h corpus/$$h >/dev/null || exit 1; \
	done
	@llvm-profdata merge -sparse $(BUILD)/cov/*.profraw -o $(BUILD)/cov/all.profdata
	@llvm-cov report $(firstword $(COV_BINS)) $(addprefix -object ,$(wordlist 2,99,$(COV_BINS))) \
	  -instr-profile=$(BUILD)/cov/all.profdata $(CORE_SRC_ALL) | tee $(BUILD)/cov/report.txt

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
