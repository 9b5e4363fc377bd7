# hakmem — build, test, install.
#
#   make                 both flavours: build/{release,debug}/
#   make demo            the main job: real programs under hakmem, with stats
#   make test            deps, both compilers, Check suites (both flavours),
#                        real programs under LD_PRELOAD
#   make install PREFIX=/usr/local
#   make CC=clang        the same with clang (warnings are errors in both)
#
# Flavour presets live here and only here: a flavour is a set of -D knobs
# (src/types.h documents every knob) and optimisation flags.

ifeq ($(origin CC),default)
CC      := gcc
endif
BUILD   ?= build
PREFIX  ?= /usr/local
FLAVOURS := release debug

FLAGS_release := -O2 -DHAK_DEBUG=0
FLAGS_debug   := -O1 -DHAK_DEBUG=1 -fno-omit-frame-pointer

WARN    := -Wall -Wextra -Werror -Wundef -Wshadow -Wstrict-prototypes \
           -Wpointer-arith -Wno-unused-function
# -fno-builtin-*: our own malloc must not be turned into calls to malloc
# (e.g. malloc+memset into calloc). initial-exec TLS: see src/heap.h.
CFLAGS_CORE := -std=c11 -D_GNU_SOURCE -g -fPIC -fvisibility=hidden \
           -ftls-model=initial-exec -fno-semantic-interposition \
           -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
           -fno-builtin-free -pthread -Iinclude -Isrc -Ihardening $(WARN)
EXTRA_CFLAGS ?=

CORE_SRC := $(filter-out src/dropin.c,$(wildcard src/*.c)) $(wildcard hardening/*.c)
DROPIN_SRC := src/dropin.c
HEADERS  := $(wildcard include/*.h src/*.h hardening/*.h)

LIBS = $(foreach f,$(FLAVOURS),$(BUILD)/$(f)/libhakmem.so $(BUILD)/$(f)/libhakmem.a \
         $(BUILD)/$(f)/libhakmem_core.so $(BUILD)/$(f)/libhakmem_core.a)

.PHONY: all test unit real install clean compilers demo
all: $(LIBS)

define flavour_rules
$(BUILD)/$(1)/obj/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	@echo "  CC [$(1)] $$<"
	@$$(CC) $$(CFLAGS_CORE) $$(FLAGS_$(1)) $$(EXTRA_CFLAGS) -c $$< -o $$@

$(1)_CORE_OBJ := $$(patsubst %.c,$(BUILD)/$(1)/obj/%.o,$(CORE_SRC))
$(1)_DROPIN_OBJ := $$(patsubst %.c,$(BUILD)/$(1)/obj/%.o,$(DROPIN_SRC))
$(1)_DROPIN_SO_OBJ := $(BUILD)/$(1)/obj/src/dropin_so.o

$(BUILD)/$(1)/obj/src/dropin_so.o: src/dropin.c $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	@echo "  CC [$(1)] $$< (shared)"
	@$$(CC) $$(CFLAGS_CORE) $$(FLAGS_$(1)) $$(EXTRA_CFLAGS) -DHAK_DROPIN_DEFSYM=1 -c $$< -o $$@

$(BUILD)/$(1)/libhakmem_core.a: $$($(1)_CORE_OBJ)
	rm -f $$@ && ar rcs $$@ $$^
$(BUILD)/$(1)/libhakmem.a: $$($(1)_CORE_OBJ) $$($(1)_DROPIN_OBJ)
	rm -f $$@ && ar rcs $$@ $$^
# -Bsymbolic-functions: calls inside the library bind directly, never
# through the PLT; -z nodelete: an allocator is never unloaded while blocks
# it handed out are alive; --defsym: malloc and free are the fast paths
# themselves (src/dropin.c).
$(BUILD)/$(1)/libhakmem_core.so: $$($(1)_CORE_OBJ)
	$$(CC) -shared -pthread -Wl,-Bsymbolic-functions -Wl,-z,nodelete -o $$@ $$^
$(BUILD)/$(1)/libhakmem.so: $$($(1)_CORE_OBJ) $$($(1)_DROPIN_SO_OBJ)
	$$(DROPIN_LD) -shared -pthread -Wl,-Bsymbolic-functions -Wl,-z,nodelete \
	    -Wl,--defsym=malloc=hak_malloc -Wl,--defsym=free=hak_free -o $$@ $$^
endef
$(foreach f,$(FLAVOURS),$(eval $(call flavour_rules,$(f))))

# ---- Tests ----------------------------------------------------------------
TEST_SRC := $(wildcard tests/*.c)
TEST_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt) -pthread
TEST_CFLAGS := -std=gnu11 -g -O1 -pthread -Iinclude -Isrc -Ihardening \
               -Wall -Wextra -Werror -Wno-unused-function \
               -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc

define test_rules
$(BUILD)/$(1)/hak_tests: $(TEST_SRC) $(wildcard tests/*.h) $(BUILD)/$(1)/libhakmem_core.a
	$$(CC) $$(TEST_CFLAGS) $$(FLAGS_$(1)) -o $$@ $(TEST_SRC) $(BUILD)/$(1)/libhakmem_core.a $$(TEST_LIBS)
endef
$(foreach f,$(FLAVOURS),$(eval $(call test_rules,$(f))))

unit: $(LIBS) $(foreach f,$(FLAVOURS),$(BUILD)/$(f)/hak_tests)
	@ci/check-exports.sh $(BUILD)
	@for f in $(FLAVOURS); do echo "== unit tests ($$f)"; \
	  CK_DEFAULT_TIMEOUT=120 $(BUILD)/$$f/hak_tests || exit 1; done

# ---- C++: operator new/delete in the drop-in libraries --------------------
# src/dropin_cxx.cc goes into libhakmem.a and libhakmem.so only (the core
# libraries stay C): libhakmem.so is linked by the C++ driver, so it needs
# libstdc++.so.6 (as tcmalloc and jemalloc do); a C program linking the
# archive never pulls the C++ object in. Tests (tests/cxx/): cxx_tests links
# libhakmem.a; cxx_preload is a plain C++ program run under LD_PRELOAD of
# libhakmem.so. `make unit` runs them (cxx-test), both flavours.
ifeq ($(origin CXX),default)
CXX     := g++
endif
DROPIN_LD = $(CXX)
EXTRA_CXXFLAGS ?=
CXXWARN := -Wall -Wextra -Werror -Wundef -Wshadow -Wpointer-arith -Wno-unused-function
CXXFLAGS_CORE := -std=c++17 -D_GNU_SOURCE -g -fPIC -fvisibility=hidden \
           -fvisibility-inlines-hidden -fno-semantic-interposition -pthread \
           -Iinclude $(CXXWARN)
# -fsized-deallocation: clang++ 14 does not pass sizes to delete by default.
CXXTEST_FLAGS := -std=gnu++17 -g -O1 -pthread -Iinclude -Itests -fsized-deallocation \
           -fno-builtin-malloc -fno-builtin-free $(CXXWARN)

define cxx_rules
$(BUILD)/$(1)/obj/%.o: %.cc $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	@echo "  CXX [$(1)] $$<"
	@$$(CXX) $$(CXXFLAGS_CORE) $$(FLAGS_$(1)) $$(EXTRA_CXXFLAGS) -c $$< -o $$@
$(BUILD)/$(1)/libhakmem.a $(BUILD)/$(1)/libhakmem.so: $(BUILD)/$(1)/obj/src/dropin_cxx.o
$(BUILD)/$(1)/cxx_tests: tests/cxx/test_cxx.cc tests/cxx/opaque.hh tests/util.h $(BUILD)/$(1)/libhakmem.a
	$$(CXX) $$(CXXTEST_FLAGS) $$(FLAGS_$(1)) -o $$@ $$< \
	    -Wl,--whole-archive $(BUILD)/$(1)/libhakmem.a -Wl,--no-whole-archive $$(TEST_LIBS)
$(BUILD)/$(1)/cxx_preload: tests/cxx/preload.cc tests/cxx/opaque.hh tests/util.h
	$$(CXX) $$(CXXTEST_FLAGS) $$(FLAGS_$(1)) -o $$@ $$< $$(TEST_LIBS)
endef
$(foreach f,$(FLAVOURS),$(eval $(call cxx_rules,$(f))))

.PHONY: cxx-test
cxx-test: $(LIBS) $(foreach f,$(FLAVOURS),$(BUILD)/$(f)/cxx_tests $(BUILD)/$(f)/cxx_preload)
	@for f in $(FLAVOURS); do echo "== C++ tests ($$f)"; \
	  CK_DEFAULT_TIMEOUT=120 $(BUILD)/$$f/cxx_tests || exit 1; \
	  echo "== C++ under LD_PRELOAD ($$f)"; \
	  LD_PRELOAD=$(abspath $(BUILD))/$$f/libhakmem.so CK_DEFAULT_TIMEOUT=120 \
	    $(BUILD)/$$f/cxx_preload || exit 1; done
unit: cxx-test
# ---- end of C++ -------------------------------------------------------------

# ---- fork handlers registered before hakmem's, under LD_PRELOAD ----------
# tests/fork_first/: a program whose own library (initialised before the
# preloaded libhakmem.so) registers fork handlers that allocate.
FORK_FIRST := $(BUILD)/fork_first
$(FORK_FIRST)/libfork_first.so: tests/fork_first/first.c tests/fork_first/first.h
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g -pthread $(WARN) -o $@ $<
$(FORK_FIRST)/fork_first: tests/fork_first/main.c tests/fork_first/first.h $(FORK_FIRST)/libfork_first.so
	$(CC) -O1 -g -pthread $(WARN) -o $@ $< -L$(FORK_FIRST) -lfork_first -Wl,-rpath,'$$ORIGIN'
.PHONY: fork-first-test
fork-first-test: $(LIBS) $(FORK_FIRST)/fork_first
	@for f in $(FLAVOURS); do echo "== fork handlers before hakmem's ($$f)"; \
	  LD_PRELOAD=$(abspath $(BUILD))/$$f/libhakmem.so $(FORK_FIRST)/fork_first || exit 1; done
unit: fork-first-test

real: all
	@for f in $(FLAVOURS); do tests/real/run.sh $(BUILD)/$$f/libhakmem.so $$f || exit 1; done

# The README's test command: installs what is missing, then every gate.
test:
	tools/install-deps.sh
	$(MAKE) all
	$(MAKE) compilers
	$(MAKE) unit
	$(MAKE) real

# The README's main job: build, run real programs under hakmem, show stats.
demo:
	tools/demo.sh

# The second compiler (gcc is the default): libraries and tests must build
# warning-free under clang too.
compilers:
	$(MAKE) BUILD=build/clang CC=clang CXX=clang++ all build/clang/release/hak_tests build/clang/debug/hak_tests \
	    build/clang/release/cxx_tests build/clang/debug/cxx_tests \
	    build/clang/release/cxx_preload build/clang/debug/cxx_preload

# ---- Install --------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/hakmem/debug $(DESTDIR)$(PREFIX)/include \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/release/libhakmem.so $(BUILD)/release/libhakmem.a \
	           $(BUILD)/release/libhakmem_core.so $(BUILD)/release/libhakmem_core.a \
	           $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/debug/libhakmem.so $(BUILD)/debug/libhakmem.a \
	           $(BUILD)/debug/libhakmem_core.so $(BUILD)/debug/libhakmem_core.a \
	           $(DESTDIR)$(PREFIX)/lib/hakmem/debug/
	install -m 644 include/hakmem.h $(DESTDIR)$(PREFIX)/include/
	sed 's|@PREFIX@|$(PREFIX)|g' tools/hakmem.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hakmem.pc
	sed 's|@PREFIX@|$(PREFIX)|g' tools/hakmem.in > $(DESTDIR)$(PREFIX)/bin/hakmem
	chmod 755 $(DESTDIR)$(PREFIX)/bin/hakmem

clean:
	rm -rf build
include ci/pipeline.mk
-include tests/misuse/misuse.mk
-include bench/bench.mk
