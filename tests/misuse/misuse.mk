# tests/misuse/misuse.mk — the heap-misuse suite (included by Makefile).
#
#   make misuse          every case against hakmem release and debug and the
#                        peers (glibc, mimalloc, jemalloc, tcmalloc, Scudo);
#                        table in build/misuse/table.md; fails if a hakmem
#                        cell differs from tests/misuse/expected.txt
#   make misuse-hakmem   the two hakmem columns only (fast; the test gate)
#
# The program uses only the standard names, so one binary serves every
# allocator through LD_PRELOAD. -O0 -fno-builtin: the misuse must reach
# the allocator, not be folded away or diagnosed by the compiler. The
# -Wno-* options name gcc's diagnostics of the misuses themselves; clang
# does not know some of them (-Wno-unknown-warning-option, which gcc
# ignores), so the program builds with -Werror under both (MISUSE_CC).

MISUSE_CC ?= gcc
MISUSE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O0 -g -fno-builtin -pthread \
                 -Wall -Wextra $(WERROR_FLAGS) -Wno-unknown-warning-option \
                 -Wno-free-nonheap-object -Wno-use-after-free \
                 -Wno-mismatched-dealloc -Wno-array-bounds -Wno-stringop-overflow

$(BUILD)/misuse/misuse: tests/misuse/misuse.c tests/misuse/misuse.mk
	@mkdir -p $(dir $@)
	$(MISUSE_CC) $(CPPFLAGS) $(CFLAGS) $(MISUSE_CFLAGS) $(LDFLAGS) -o $@ $< -pthread

.PHONY: misuse misuse-hakmem
misuse: all $(BUILD)/misuse/misuse
	BUILD=$(BUILD) tests/misuse/run.sh

misuse-hakmem: all $(BUILD)/misuse/misuse
	BUILD=$(BUILD) tests/misuse/run.sh --hakmem-only
