# hakmem — build, test, install.
#
#   make                 both flavours: $(BUILD)/{release,debug}/
#   make check           the tests that need no network, no root and no
#                        other allocator: unit suites (both flavours), C++
#                        operators, exports, linking and dlopen, misuse
#                        (hakmem columns), corpus replay. Installs nothing.
#   make test            installs what is missing (tools/install-deps.sh),
#                        both compilers, `make check`, real programs
#   make demo            the main job: real programs under hakmem, with stats
#   make install         PREFIX, LIBDIR, INCLUDEDIR, BINDIR, MANDIR, DESTDIR
#   make uninstall       the same variables: removes what install put there
#   make deb             the Debian packages (debian/), into $(BUILD)/deb
#   make CC=clang        the same with clang
#
# Packagers' variables: CFLAGS, CPPFLAGS, CXXFLAGS and LDFLAGS are used on
# every compile and link line, before the flags hakmem cannot do without
# (which therefore win); a flavour's optimisation level comes before them
# (so theirs wins). WERROR=1 makes warnings errors (make ci, make test,
# make unit and make compilers set it; a distribution build does not, so
# a newer compiler's new warning does not break it). BUILD=dir builds out
# of the source tree; V=1 shows every command line.
#
# Flavour presets live here and only here: a flavour is a set of -D knobs
# (src/types.h documents every knob) and optimisation flags.

.DEFAULT_GOAL := all

ifeq ($(origin CC),default)
CC      := gcc
endif
ifeq ($(origin CXX),default)
CXX     := g++
endif
OBJCOPY ?= objcopy
AR      ?= ar
BUILD   ?= build
# The pipeline's scripts (ci/*.sh, tests/misuse/run.sh) read it too.
export BUILD
FLAVOURS := release debug

# Developer and CI goals make warnings errors unless WERROR is given.
ifneq ($(filter ci test unit compilers,$(MAKECMDGOALS)),)
WERROR  ?= 1
endif
WERROR  ?= 0
export WERROR
WERROR_FLAGS := $(if $(filter 1,$(WERROR)),-Werror)

ifeq ($(V),1)
say     :=
else
# Short progress line; the command itself is shown with V=1.
say      = @printf '  %-12s %s\n' '$(1)' '$(2)';
endif

# ---- Version: include/hakmem.h is the one place it is written -------------
hak_version_part = $(shell sed -n 's/^.define HAKMEM_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/hakmem.h)
VERSION_MAJOR := $(call hak_version_part,MAJOR)
VERSION_MINOR := $(call hak_version_part,MINOR)
VERSION_PATCH := $(call hak_version_part,PATCH)
VERSION  := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
ifneq ($(words $(VERSION_MAJOR) $(VERSION_MINOR) $(VERSION_PATCH)),3)
$(error include/hakmem.h: cannot read HAKMEM_VERSION_MAJOR/MINOR/PATCH)
endif

# ---- Flags ------------------------------------------------------------------
OPT_release := -O2 -g
OPT_debug   := -O1 -g -fno-omit-frame-pointer
KNOBS_release := -DHAK_DEBUG=0
KNOBS_debug   := -DHAK_DEBUG=1
# Both, for the pipeline's rules (ci/pipeline.mk).
FLAGS_release := $(OPT_release) $(KNOBS_release)
FLAGS_debug   := $(OPT_debug) $(KNOBS_debug)

WARN    := -Wall -Wextra -Wundef -Wshadow -Wstrict-prototypes \
           -Wpointer-arith -Wno-unused-function $(WERROR_FLAGS)
# -fno-builtin-*: our own malloc must not be turned into calls to malloc
# (e.g. malloc+memset into calloc). initial-exec TLS: see src/heap.h.
CFLAGS_CORE := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden \
           -ftls-model=initial-exec -fno-semantic-interposition \
           -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
           -fno-builtin-free -pthread -Iinclude -Isrc -Ihardening $(WARN)
EXTRA_CFLAGS ?=
EXTRA_CXXFLAGS ?=

CORE_SRC := $(filter-out src/dropin.c,$(wildcard src/*.c)) $(wildcard hardening/*.c)
DROPIN_SRC := src/dropin.c
HEADERS  := $(wildcard include/*.h src/*.h hardening/*.h)

# Every object depends on this file, rewritten only when the compilers or
# the packager's flags change, so `make CFLAGS=...` after a plain `make`
# rebuilds. (WERROR is left out: it changes whether a warning stops the
# build, not what is built.)
FLAGS_STAMP := $(BUILD)/flags.txt
flags_now := $(CC) | $(CXX) | $(CPPFLAGS) | $(CFLAGS) | $(CXXFLAGS) | $(LDFLAGS) | \
             $(EXTRA_CFLAGS) | $(EXTRA_CXXFLAGS) | $(KNOBS_release) | $(KNOBS_debug)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(subst ','\'',$(flags_now))' | cmp -s - $@ || \
	  printf '%s\n' '$(subst ','\'',$(flags_now))' > $@
.PHONY: FORCE
FORCE:

# ---- Libraries --------------------------------------------------------------
# libNAME.so.MAJOR.MINOR.PATCH with SONAME libNAME.so.MAJOR; the two
# symlinks libNAME.so.MAJOR (what ldconfig would make) and libNAME.so (the
# link-time name). The exported names are exactly those of the version
# scripts (src/hakmem.map, src/dropin.map; ci/check-exports.sh).
SO_core   := libhakmem_core.so
SO_dropin := libhakmem.so
sofile  = $(1).$(VERSION)
soname  = $(1).$(VERSION_MAJOR)
LIB_NAMES := $(SO_dropin) $(call soname,$(SO_dropin)) $(call sofile,$(SO_dropin)) \
             $(SO_core) $(call soname,$(SO_core)) $(call sofile,$(SO_core)) \
             libhakmem.a libhakmem_core.a
LIBS = $(foreach f,$(FLAVOURS),$(addprefix $(BUILD)/$(f)/,$(LIB_NAMES)))

.PHONY: all check test unit real install uninstall clean compilers demo deb
all: $(LIBS)

define flavour_rules
$(BUILD)/$(1)/obj/%.o: %.c $(HEADERS) Makefile $(FLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(call say,CC [$(1)],$$<)$$(CC) $$(CPPFLAGS) $$(OPT_$(1)) $$(CFLAGS) $$(CFLAGS_CORE) \
	    $$(KNOBS_$(1)) $$(EXTRA_CFLAGS) -c $$< -o $$@

$(1)_CORE_OBJ := $$(patsubst %.c,$(BUILD)/$(1)/obj/%.o,$(CORE_SRC))
$(1)_DROPIN_OBJ := $(BUILD)/$(1)/obj/src/dropin.o $(BUILD)/$(1)/obj/src/dropin_cxx.o
$(1)_DROPIN_SO_OBJ := $(BUILD)/$(1)/obj/src/dropin_so.o $(BUILD)/$(1)/obj/src/dropin_cxx.o

$(BUILD)/$(1)/obj/src/dropin_so.o: src/dropin.c $(HEADERS) Makefile $(FLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(call say,CC [$(1)],$$< (shared))$$(CC) $$(CPPFLAGS) $$(OPT_$(1)) $$(CFLAGS) $$(CFLAGS_CORE) \
	    $$(KNOBS_$(1)) $$(EXTRA_CFLAGS) -DHAK_DROPIN_DEFSYM=1 -c $$< -o $$@

# The archives hide the core's internal names (hak_os_map, hak_heap_drain, ...):
# the core objects are linked into one relocatable object whose hidden
# symbols objcopy makes local, so a program may define its own. The
# tests, which reach inside, link the plain archive of the objects
# (obj/libhakmem_internal.a). The drop-in objects stay separate members:
# a C program that links libhakmem.a never pulls in the C++ operators.
$(BUILD)/$(1)/obj/hakmem_core.o: $$($(1)_CORE_OBJ)
	$$(call say,LD -r [$(1)],$$@)$$(CC) $$(OPT_$(1)) $$(CFLAGS) $$(LDFLAGS) -r -nostdlib -o $$@.tmp $$^ && \
	    $$(OBJCOPY) --localize-hidden $$@.tmp $$@ && rm -f $$@.tmp
$(BUILD)/$(1)/obj/libhakmem_internal.a: $$($(1)_CORE_OBJ)
	$$(call say,AR [$(1)],$$@)rm -f $$@ && $$(AR) rcs $$@ $$^
$(BUILD)/$(1)/libhakmem_core.a: $(BUILD)/$(1)/obj/hakmem_core.o
	$$(call say,AR [$(1)],$$@)rm -f $$@ && $$(AR) rcs $$@ $$^
$(BUILD)/$(1)/libhakmem.a: $(BUILD)/$(1)/obj/hakmem_core.o $$($(1)_DROPIN_OBJ)
	$$(call say,AR [$(1)],$$@)rm -f $$@ && $$(AR) rcs $$@ $$^

# -Bsymbolic-functions: calls inside the library bind directly, never
# through the PLT; -z nodelete: an allocator is never unloaded while blocks
# it handed out are alive; --defsym: malloc and free are the fast paths
# themselves (src/dropin.c). libhakmem.so holds the C++ operators but is
# linked by the C driver: it does not depend on libstdc++ (src/dropin_cxx.cc
# says why and how).
$(BUILD)/$(1)/$(call sofile,$(SO_core)): $$($(1)_CORE_OBJ) src/hakmem.map
	$$(call say,LD [$(1)],$$@)$$(CC) $$(OPT_$(1)) $$(CFLAGS) $$(LDFLAGS) -shared -pthread \
	    -Wl,-soname,$(call soname,$(SO_core)) -Wl,--version-script=src/hakmem.map \
	    -Wl,-Bsymbolic-functions -Wl,-z,nodelete -o $$@ $$($(1)_CORE_OBJ)
$(BUILD)/$(1)/$(call sofile,$(SO_dropin)): $$($(1)_CORE_OBJ) $$($(1)_DROPIN_SO_OBJ) src/dropin.map
	$$(call say,LD [$(1)],$$@)$$(CC) $$(OPT_$(1)) $$(CFLAGS) $$(LDFLAGS) -shared -pthread \
	    -Wl,-soname,$(call soname,$(SO_dropin)) -Wl,--version-script=src/dropin.map \
	    -Wl,-Bsymbolic-functions -Wl,-z,nodelete \
	    -Wl,--defsym=malloc=hak_malloc -Wl,--defsym=free=hak_free \
	    -o $$@ $$($(1)_CORE_OBJ) $$($(1)_DROPIN_SO_OBJ)
$(BUILD)/$(1)/%.so.$(VERSION_MAJOR): $(BUILD)/$(1)/%.so.$(VERSION)
	$$(call say,LN [$(1)],$$@)ln -sf $$(notdir $$<) $$@
$(BUILD)/$(1)/%.so: $(BUILD)/$(1)/%.so.$(VERSION_MAJOR)
	$$(call say,LN [$(1)],$$@)ln -sf $$(notdir $$<) $$@
endef
$(foreach f,$(FLAVOURS),$(eval $(call flavour_rules,$(f))))

# ---- Tests ----------------------------------------------------------------
TEST_SRC := $(wildcard tests/*.c)
TEST_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt) -pthread
TEST_CFLAGS := -std=gnu11 -g -O1 -pthread -Iinclude -Isrc -Ihardening \
               -Wall -Wextra -Wno-unused-function $(WERROR_FLAGS) \
               -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc

define test_rules
$(BUILD)/$(1)/hak_tests: $(TEST_SRC) $(wildcard tests/*.h) $(BUILD)/$(1)/obj/libhakmem_internal.a
	$$(call say,CCLD [$(1)],$$@)$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(TEST_CFLAGS) $$(KNOBS_$(1)) \
	    $$(LDFLAGS) -o $$@ $(TEST_SRC) $(BUILD)/$(1)/obj/libhakmem_internal.a $$(TEST_LIBS)
endef
$(foreach f,$(FLAVOURS),$(eval $(call test_rules,$(f))))

unit: $(LIBS) $(foreach f,$(FLAVOURS),$(BUILD)/$(f)/hak_tests)
	@ci/check-exports.sh $(BUILD)
	@ci/deps.sh $(BUILD)
	@for f in $(FLAVOURS); do echo "== unit tests ($$f)"; \
	  CK_DEFAULT_TIMEOUT=120 ci/logged.sh $(BUILD)/$$f/unit.log $(BUILD)/$$f/hak_tests \
	    || exit 1; done
	@ci/readme-facts.sh $(BUILD)

# ---- C++: operator new/delete in the drop-in libraries --------------------
# src/dropin_cxx.cc goes into libhakmem.a and libhakmem.so only (the core
# libraries stay C); its references to the C++ runtime are weak, so
# libhakmem.so needs no libstdc++.so.6 (tcmalloc's and jemalloc's do); a C
# program linking the archive never pulls the C++ object in. Tests (tests/cxx/): cxx_tests links
# libhakmem.a; cxx_preload is a plain C++ program run under LD_PRELOAD of
# libhakmem.so. `make unit` runs them (cxx-test), both flavours, and the
# link tests below.
CXXWARN := -Wall -Wextra -Wundef -Wshadow -Wpointer-arith -Wno-unused-function $(WERROR_FLAGS)
CXXFLAGS_CORE := -std=c++17 -D_GNU_SOURCE -fPIC -fvisibility=hidden \
           -fvisibility-inlines-hidden -fno-semantic-interposition -pthread \
           -Iinclude $(CXXWARN)
# -fsized-deallocation: clang++ 14 does not pass sizes to delete by default.
CXXTEST_FLAGS := -std=gnu++17 -g -O1 -pthread -Iinclude -Itests -fsized-deallocation \
           -fno-builtin-malloc -fno-builtin-free $(CXXWARN)

define cxx_rules
$(BUILD)/$(1)/obj/%.o: %.cc $(HEADERS) Makefile $(FLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(call say,CXX [$(1)],$$<)$$(CXX) $$(CPPFLAGS) $$(OPT_$(1)) $$(CXXFLAGS) $$(CXXFLAGS_CORE) \
	    $$(KNOBS_$(1)) $$(EXTRA_CXXFLAGS) -c $$< -o $$@
	@# the C++ runtime's references the compiler made, weak (see the file)
	$$(OBJCOPY) $$$$(nm -u $$@ | awk '$$$$2 ~ /^(_Z|__cxa_|__gxx_|_Unwind_)/ \
	    { printf " --weaken-symbol=%s", $$$$2 }') $$@
$(BUILD)/$(1)/cxx_tests: tests/cxx/test_cxx.cc tests/cxx/opaque.hh tests/util.h $(BUILD)/$(1)/libhakmem.a
	$$(call say,CXXLD [$(1)],$$@)$$(CXX) $$(CPPFLAGS) $$(CXXFLAGS) $$(CXXTEST_FLAGS) $$(KNOBS_$(1)) \
	    $$(LDFLAGS) -o $$@ $$< \
	    -Wl,--whole-archive $(BUILD)/$(1)/libhakmem.a -Wl,--no-whole-archive $$(TEST_LIBS)
$(BUILD)/$(1)/cxx_preload: tests/cxx/preload.cc tests/cxx/opaque.hh tests/util.h
	@mkdir -p $$(@D)
	$$(call say,CXXLD [$(1)],$$@)$$(CXX) $$(CPPFLAGS) $$(CXXFLAGS) $$(CXXTEST_FLAGS) $$(KNOBS_$(1)) \
	    $$(LDFLAGS) -o $$@ $$< $$(TEST_LIBS)
endef
$(foreach f,$(FLAVOURS),$(eval $(call cxx_rules,$(f))))

.PHONY: cxx-test
cxx-test: $(LIBS) $(foreach f,$(FLAVOURS),$(BUILD)/$(f)/cxx_tests $(BUILD)/$(f)/cxx_preload)
	@for f in $(FLAVOURS); do echo "== C++ tests ($$f)"; \
	  CK_DEFAULT_TIMEOUT=120 ci/logged.sh $(BUILD)/$$f/cxx.log $(BUILD)/$$f/cxx_tests \
	    || exit 1; \
	  echo "== C++ under LD_PRELOAD ($$f)"; \
	  CK_DEFAULT_TIMEOUT=120 ci/logged.sh $(BUILD)/$$f/cxx_preload.log \
	    env LD_PRELOAD=$(abspath $(BUILD))/$$f/libhakmem.so $(BUILD)/$$f/cxx_preload || exit 1; done
unit: cxx-test link-test
# ---- end of C++ -------------------------------------------------------------

# ---- fork handlers registered before hakmem's, under LD_PRELOAD ----------
# tests/fork_first/: a program whose own library (initialised before the
# preloaded libhakmem.so) registers fork handlers that allocate.
FORK_FIRST := $(BUILD)/fork_first
$(FORK_FIRST)/libfork_first.so: tests/fork_first/first.c tests/fork_first/first.h
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -shared -fPIC -O1 -g -pthread $(WARN) \
	    $(LDFLAGS) -o $@ $<
$(FORK_FIRST)/fork_first: tests/fork_first/main.c tests/fork_first/first.h $(FORK_FIRST)/libfork_first.so
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -O1 -g -pthread $(WARN) $(LDFLAGS) -o $@ $< \
	    -L$(FORK_FIRST) -lfork_first -Wl,-rpath,'$$ORIGIN'
.PHONY: fork-first-test
fork-first-test: $(LIBS) $(FORK_FIRST)/fork_first
	@for f in $(FLAVOURS); do echo "== fork handlers before hakmem's ($$f)"; \
	  LD_PRELOAD=$(abspath $(BUILD))/$$f/libhakmem.so $(FORK_FIRST)/fork_first || exit 1; done
unit: fork-first-test

# ---- Linking, the ABI and dlopen (tests/link/) --------------------------------
# tests/link/run.sh builds small programs against the built libraries the
# way a user would (only include/ and the library files): SONAME and
# symlinks, -lhakmem resolving to libhakmem.so.MAJOR, a program with its
# own hak_os_map/hak_heap_drain/hak_large_alloc linked against both archives, the
# version macros, dlopen of libhakmem_core.so, libhakmem.so without
# libstdc++ (and a C++ library dlopen()ed into a local scope).
.PHONY: link-test
link-test: $(LIBS)
	@for f in $(FLAVOURS); do \
	  CC="$(CC)" CXX="$(CXX)" CPPFLAGS="$(CPPFLAGS)" CFLAGS="$(CFLAGS) $(WERROR_FLAGS)" LDFLAGS="$(LDFLAGS)" \
	    VERSION=$(VERSION) ci/logged.sh $(BUILD)/$$f/link.log tests/link/run.sh $(BUILD)/$$f $$f \
	    || exit 1; done

# The tests of a distribution build: no network, no root, no other
# allocator, nothing installed.
# Each check knob of src/types.h set alone on a release build, which then
# passes the Check suites (their expectations follow the knobs they are
# compiled with): a release build with canaries is one -D.
KNOB_SET ?= CANARY POISON BOUNDS SLOTSTATE
.PHONY: knobs
knobs:
	@for k in $(KNOB_SET); do echo "== release with HAK_$$k=1 alone"; \
	  $(MAKE) --no-print-directory BUILD=$(BUILD)/knob-$$k FLAVOURS=release \
	    KNOBS_release="-DHAK_DEBUG=0 -DHAK_$$k=1" $(BUILD)/knob-$$k/release/hak_tests \
	    || exit 1; \
	  CK_DEFAULT_TIMEOUT=120 ci/logged.sh $(BUILD)/knob-$$k/unit.log \
	    $(BUILD)/knob-$$k/release/hak_tests || exit 1; done

check: unit misuse-hakmem replay

real: all
	@for f in $(FLAVOURS); do tests/real/run.sh $(BUILD)/$$f/libhakmem.so $$f || exit 1; done

# The README's test command for a fresh machine: installs what is
# missing, then both compilers, every offline check and real programs.
test:
	tools/install-deps.sh
	$(MAKE) all
	$(MAKE) compilers
	$(MAKE) check
	$(MAKE) real

# The README's main job: build, run real programs under hakmem, show stats.
demo:
	tools/demo.sh

# The second compiler (gcc is the default): libraries and tests must build
# warning-free under clang too.
compilers:
	$(MAKE) BUILD=$(BUILD)/clang CC=clang CXX=clang++ all \
	    $(foreach f,$(FLAVOURS),$(addprefix $(BUILD)/clang/$(f)/,hak_tests cxx_tests cxx_preload))

# ---- Install ----------------------------------------------------------------
# GNU directory variables (upper case). The debug flavour's libraries go
# to a directory of their own with the same names (hakmem --debug and
# -L$(DEBUGLIBDIR) use them). Nothing is built or run as root here.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DEBUGLIBDIR  ?= $(LIBDIR)/hakmem/debug
INSTALL    ?= install

# The files generated from templates with the directories above.
subst_dirs = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
                 -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@DEBUGLIBDIR@|$(DEBUGLIBDIR)|g' \
                 -e 's|@VERSION@|$(VERSION)|g' -e 's|@SOMAJOR@|$(VERSION_MAJOR)|g'
$(BUILD)/hakmem.pc: tools/hakmem.pc.in include/hakmem.h FORCE
	@mkdir -p $(@D)
	@$(subst_dirs) $< > $@.tmp && mv $@.tmp $@
$(BUILD)/hakmem: tools/hakmem.in include/hakmem.h FORCE
	@mkdir -p $(@D)
	@$(subst_dirs) $< > $@.tmp && chmod 755 $@.tmp && mv $@.tmp $@

$(BUILD)/man/%: man/% include/hakmem.h FORCE
	@mkdir -p $(@D)
	@$(subst_dirs) $< > $@.tmp && mv $@.tmp $@
# install_libs FLAVOUR DIR: the shared libraries (file and both links) and
# the archives of one flavour.
define install_libs
	$(INSTALL) -d $(DESTDIR)$(2)
	$(INSTALL) -m 644 $(BUILD)/$(1)/$(call sofile,$(SO_dropin)) $(BUILD)/$(1)/$(call sofile,$(SO_core)) \
	    $(BUILD)/$(1)/libhakmem.a $(BUILD)/$(1)/libhakmem_core.a $(DESTDIR)$(2)/
	ln -sf $(call sofile,$(SO_dropin)) $(DESTDIR)$(2)/$(call soname,$(SO_dropin))
	ln -sf $(call soname,$(SO_dropin)) $(DESTDIR)$(2)/$(SO_dropin)
	ln -sf $(call sofile,$(SO_core)) $(DESTDIR)$(2)/$(call soname,$(SO_core))
	ln -sf $(call soname,$(SO_core)) $(DESTDIR)$(2)/$(SO_core)
endef
INSTALLED_LIBS = $(LIB_NAMES)

install: all $(BUILD)/hakmem.pc $(BUILD)/hakmem $(BUILD)/man/hakmem.1 $(BUILD)/man/hakmem.3
	$(call install_libs,release,$(LIBDIR))
	$(call install_libs,debug,$(DEBUGLIBDIR))
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 644 include/hakmem.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(BUILD)/hakmem.pc $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 755 $(BUILD)/hakmem $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(BUILD)/man/hakmem.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(BUILD)/man/hakmem.3 $(DESTDIR)$(MANDIR)/man3/

# Removes exactly what install put there, then the debug directory (ours)
# if empty. The standard directories stay, except in a staging tree
# (DESTDIR given), where every directory install made is removed when
# empty, up to DESTDIR itself.
INSTALL_DIRS = $(DEBUGLIBDIR) $(LIBDIR) $(INCLUDEDIR) $(PKGCONFIGDIR) $(BINDIR) \
               $(MANDIR)/man1 $(MANDIR)/man3
uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,$(INSTALLED_LIBS)) \
	      $(addprefix $(DESTDIR)$(DEBUGLIBDIR)/,$(INSTALLED_LIBS)) \
	      $(DESTDIR)$(INCLUDEDIR)/hakmem.h $(DESTDIR)$(PKGCONFIGDIR)/hakmem.pc \
	      $(DESTDIR)$(BINDIR)/hakmem $(DESTDIR)$(MANDIR)/man1/hakmem.1 \
	      $(DESTDIR)$(MANDIR)/man3/hakmem.3
	-@rmdir $(DESTDIR)$(DEBUGLIBDIR) $(DESTDIR)$(patsubst %/,%,$(dir $(DEBUGLIBDIR))) 2>/dev/null
ifneq ($(DESTDIR),)
	@for d in $(INSTALL_DIRS); do \
	  while [ "$$d" != / ] && [ "$$d" != . ] && rmdir "$(DESTDIR)$$d" 2>/dev/null; do \
	    d=$$(dirname "$$d"); done; done
	-@rmdir "$(DESTDIR)" 2>/dev/null
endif

# ---- Debian packages ----------------------------------------------------------
# dpkg-buildpackage on a copy of the sources (without $(BUILD)), so the
# packages and the build's own files land in $(BUILD)/deb, never next to
# the source tree. tools/install-deps.sh --packaging installs debhelper
# and lintian when missing.
DEB_DIR := $(BUILD)/deb
deb:
	tools/install-deps.sh --packaging
	@changelog=$$(dpkg-parsechangelog -S Version); \
	  [ "$${changelog%%-*}" = "$(VERSION)" ] || \
	  { echo "debian/changelog ($$changelog) is not include/hakmem.h's version $(VERSION)"; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -c --exclude=./.git --exclude='./$(BUILD)' --exclude=./build . | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	lintian $(DEB_DIR)/*.changes
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD)
include ci/pipeline.mk
-include tests/misuse/misuse.mk
-include bench/bench.mk
