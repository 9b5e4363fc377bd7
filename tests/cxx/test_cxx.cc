// test_cxx.cc — hakmem's operator new and delete (src/dropin_cxx.cc), and
// the sized frees behind them (src/sized.c), from a C++ program linked with
// the drop-in static library (build/<flavour>/libhakmem.a, whole), so this
// program's malloc, free and operators are hakmem's.
//
// A pointer is hakmem's when hak_malloc_usable_size accepts it (it aborts
// on any other) and the allocation and the free each move hakmem's
// counters by one.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#include "opaque.hh"

extern "C" {
// C23 (glibc 2.36 declares neither); libhakmem.a defines both.
void free_sized(void *p, size_t n);
void free_aligned_sized(void *p, size_t align, size_t n);
}

#define SIZE_MISMATCH "hakmem: sized free mismatch: "

namespace {

struct counts {
    uint64_t allocs, frees;
};

counts now()
{
    hak_stats_t s;
    hak_stats_get(&s);
    return { s.allocs, s.frees };
}

// p came from hakmem, holds n bytes aligned to `align`, and is writable.
void check_block(void *p, size_t n, size_t align, const char *what)
{
    REQ_MSG(p != nullptr, "%s(%zu): nullptr", what, n);
    REQ_MSG((uintptr_t)p % align == 0, "%s(%zu) = %p: not %zu-aligned", what,
            n, p, align);
    size_t u = hak_malloc_usable_size(p); // aborts if p is not hakmem's
    REQ_MSG(u >= n, "%s(%zu): usable %zu", what, n, u);
    if (n)
        memset(p, 0x5a, n);
}

const size_t sizes[] = { 0, 1, 16, 100, 1000, 5000, 40000, 100000, 1 << 21 };
const size_t kAligns[] = { 1, 8, 16, 32, 64, 256, 4096, 65536, 1 << 20 };

// Runs alloc(n) and free(p, n) for every size, checking that each moves
// hakmem's counters by one.
template <class A, class F> void each_size(const char *what, size_t align,
                                            A alloc, F release)
{
    for (size_t n : sizes) {
        counts a = now();
        void *p = opaque(alloc(n));
        counts b = now();
        check_block(p, n, align, what);
        REQ_MSG(b.allocs == a.allocs + 1, "%s(%zu): %ju allocations", what, n,
                (uintmax_t)(b.allocs - a.allocs));
        release(p, n);
        counts c = now();
        REQ_MSG(c.frees == b.frees + 1, "%s(%zu): %ju frees", what, n,
                (uintmax_t)(c.frees - b.frees));
    }
}

// ---- Every overload ------------------------------------------------------

START_TEST(test_plain_new_delete)
{
    const std::nothrow_t &nt = std::nothrow;
    each_size("new", 16, [](size_t n) { return ::operator new(n); },
              [](void *p, size_t) { ::operator delete(p); });
    each_size("new[]", 16, [](size_t n) { return ::operator new[](n); },
              [](void *p, size_t) { ::operator delete[](p); });
    each_size("new/sized delete", 16,
              [](size_t n) { return ::operator new(n); },
              [](void *p, size_t n) { ::operator delete(p, n); });
    each_size("new[]/sized delete[]", 16,
              [](size_t n) { return ::operator new[](n); },
              [](void *p, size_t n) { ::operator delete[](p, n); });
    each_size("new(nothrow)", 16,
              [&](size_t n) { return ::operator new(n, nt); },
              [&](void *p, size_t) { ::operator delete(p, nt); });
    each_size("new[](nothrow)", 16,
              [&](size_t n) { return ::operator new[](n, nt); },
              [&](void *p, size_t) { ::operator delete[](p, nt); });
}
END_TEST

START_TEST(test_aligned_new_delete)
{
    const std::nothrow_t &nt = std::nothrow;
    for (size_t a : kAligns) {
        std::align_val_t al{ a };
        size_t want = a < 16 ? 16 : a;
        each_size("new(align)", want,
                  [&](size_t n) { return ::operator new(n, al); },
                  [&](void *p, size_t) { ::operator delete(p, al); });
        each_size("new[](align)", want,
                  [&](size_t n) { return ::operator new[](n, al); },
                  [&](void *p, size_t) { ::operator delete[](p, al); });
        each_size("new(align)/sized delete", want,
                  [&](size_t n) { return ::operator new(n, al); },
                  [&](void *p, size_t n) { ::operator delete(p, n, al); });
        each_size("new[](align)/sized delete[]", want,
                  [&](size_t n) { return ::operator new[](n, al); },
                  [&](void *p, size_t n) { ::operator delete[](p, n, al); });
        each_size("new(align, nothrow)", want,
                  [&](size_t n) { return ::operator new(n, al, nt); },
                  [&](void *p, size_t) { ::operator delete(p, al, nt); });
        each_size("new[](align, nothrow)", want,
                  [&](size_t n) { return ::operator new[](n, al, nt); },
                  [&](void *p, size_t) { ::operator delete[](p, al, nt); });
    }
}
END_TEST

// Every power-of-two alignment to 1 MiB, several live at once.
START_TEST(test_aligned_new_every_alignment)
{
    for (size_t a = 1; a <= (1u << 20); a <<= 1) {
        const size_t ns[] = { 0, 1, a - 1, a, a + 1, 3 * a, 100000 };
        void *v[sizeof ns / sizeof ns[0]];
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            v[k] = ::operator new(ns[k], std::align_val_t{ a });
            check_block(v[k], ns[k], a < 16 ? 16 : a, "new(align)");
        }
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            ::operator delete(v[k], ns[k], std::align_val_t{ a });
    }
}
END_TEST

// new-expressions: the compiler picks the overloads (sized delete with
// -fsized-deallocation, aligned new for over-aligned types).
struct alignas(64) line {
    char b[100];
};
struct alignas(4096) page {
    char b[5000];
};
struct tracked {
    static int live;
    char b[40];
    tracked() { live++; }
    ~tracked() { live--; }
};
int tracked::live;

START_TEST(test_new_expressions)
{
    counts a = now();
    int *i = opaque(new int(7));
    char *s = opaque(new char[1000]);
    line *l = opaque(new line);
    line *la = opaque(new line[7]);
    page *pg = opaque(new page);
    page *pa = opaque(new page[3]);
    tracked *t = opaque(new tracked[5]); // with an array cookie
    counts b = now();
    REQ_UINT_EQ(b.allocs - a.allocs, 7);
    check_block(i, sizeof *i, 16, "new int");
    check_block(s, 1000, 16, "new char[]");
    check_block(l, sizeof *l, 64, "new line");
    check_block(la, 7 * sizeof *la, 64, "new line[]");
    check_block(pg, sizeof *pg, 4096, "new page");
    check_block(pa, 3 * sizeof *pa, 4096, "new page[]");
    REQ_INT_EQ(tracked::live, 5);
    delete i;
    delete[] s;
    delete l;
    delete[] la;
    delete pg;
    delete[] pa;
    delete[] t;
    REQ_INT_EQ(tracked::live, 0);
    REQ_UINT_EQ(now().frees - b.frees, 7);
}
END_TEST

// Size 0: distinct, freeable blocks.
START_TEST(test_new_zero_unique)
{
    void *v[64];
    for (int k = 0; k < 64; k++) {
        v[k] = k % 2 ? ::operator new(0) : ::operator new[](0);
        check_block(v[k], 0, 16, "new(0)");
        for (int j = 0; j < k; j++)
            REQ_PTR_NE(v[k], v[j]);
    }
    for (int k = 0; k < 64; k++)
        ::operator delete(v[k], (size_t)0);
}
END_TEST

// The library's own allocations (libstdc++'s, here a runtime_error's
// message, copied inside libstdc++.so) reach hakmem too, and so do libc's.
START_TEST(test_runtime_allocations_reach_hakmem)
{
    std::string msg(300, 'm');
    counts a = now();
    {
        std::runtime_error e(msg);
        REQ(strlen(e.what()) == 300);
    }
    REQ_UINT_GE(now().allocs - a.allocs, 1);
    char *d = strdup("hakmem");
    check_block(d, 7, 16, "strdup");
    free(d);
}
END_TEST

// ---- Failure -------------------------------------------------------------

int handler_calls;
void handler_gives_up_after_3()
{
    if (++handler_calls == 3)
        std::set_new_handler(nullptr);
}
void handler_throws()
{
    handler_calls++;
    throw std::bad_alloc();
}

// Calls alloc(SIZE_MAX / 2) with handler h installed; returns whether it
// threw std::bad_alloc (and any result it returned in *out).
template <class A> bool throws_bad_alloc(A alloc, std::new_handler h,
                                         void **out)
{
    handler_calls = 0;
    std::set_new_handler(h);
    *out = reinterpret_cast<void *>(1);
    bool threw = false;
    try {
        *out = alloc(opaque_size(SIZE_MAX / 2));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    std::set_new_handler(nullptr);
    return threw;
}

START_TEST(test_new_handler_then_bad_alloc)
{
    void *out;
    std::align_val_t al{ 64 };
    // No handler: bad_alloc at once.
    REQ(throws_bad_alloc([](size_t n) { return ::operator new(n); }, nullptr,
                         &out));
    REQ_INT_EQ(handler_calls, 0);
    // A handler is asked until it uninstalls itself, then bad_alloc.
    REQ(throws_bad_alloc([](size_t n) { return ::operator new(n); },
                         handler_gives_up_after_3, &out));
    REQ_INT_EQ(handler_calls, 3);
    REQ(throws_bad_alloc([](size_t n) { return ::operator new[](n); },
                         handler_gives_up_after_3, &out));
    REQ_INT_EQ(handler_calls, 3);
    REQ(throws_bad_alloc([&](size_t n) { return ::operator new(n, al); },
                         handler_gives_up_after_3, &out));
    REQ_INT_EQ(handler_calls, 3);
    REQ(throws_bad_alloc([&](size_t n) { return ::operator new[](n, al); },
                         handler_gives_up_after_3, &out));
    REQ_INT_EQ(handler_calls, 3);
    // A handler's bad_alloc goes through.
    REQ(throws_bad_alloc([](size_t n) { return ::operator new(n); },
                         handler_throws, &out));
    REQ_INT_EQ(handler_calls, 1);
    // Impossible alignments: 2^63 is a power of two (ENOMEM underneath).
    REQ(throws_bad_alloc(
        [](size_t) {
            return ::operator new(1, std::align_val_t{ opaque_size(SIZE_MAX / 2 + 1) });
        },
        handler_gives_up_after_3, &out));
    REQ_INT_EQ(handler_calls, 3);
    // A new-expression too.
    REQ(throws_bad_alloc([](size_t n) { return (void *)opaque(new char[n]); },
                         nullptr, &out));
}
END_TEST

START_TEST(test_nothrow_returns_null)
{
    const std::nothrow_t &nt = std::nothrow;
    std::align_val_t al{ 4096 };
    void *out;
    const size_t big = opaque_size(SIZE_MAX / 2);
    REQ_NULL(::operator new(big, nt));
    REQ_NULL(::operator new[](big, nt));
    REQ_NULL(::operator new(big, al, nt));
    REQ_NULL(::operator new[](big, al, nt));
    REQ_NULL(::operator new(opaque_size(SIZE_MAX), nt));
    // The handler is asked, and nullptr comes back when it gives up...
    REQ(!throws_bad_alloc([&](size_t n) { return ::operator new(n, nt); },
                          handler_gives_up_after_3, &out));
    REQ_NULL(out);
    REQ_INT_EQ(handler_calls, 3);
    REQ(!throws_bad_alloc([&](size_t n) { return ::operator new[](n, al, nt); },
                          handler_gives_up_after_3, &out));
    REQ_NULL(out);
    REQ_INT_EQ(handler_calls, 3);
    // ...or throws.
    REQ(!throws_bad_alloc([&](size_t n) { return ::operator new(n, nt); },
                          handler_throws, &out));
    REQ_NULL(out);
    REQ_INT_EQ(handler_calls, 1);
}
END_TEST

// A non-power-of-two alignment (undefined behaviour) fails cleanly, without
// asking the handler; so do sizes near SIZE_MAX with large alignments.
START_TEST(test_bad_alignment_fails)
{
    const size_t bad[] = { 0, 3, 24, 48, 4097, (size_t)1 << 40 | 1,
                           SIZE_MAX };
    void *out;
    for (size_t a : bad) {
        std::align_val_t al{ a };
        REQ_MSG(throws_bad_alloc(
                    [&](size_t) { return ::operator new(16, al); },
                    handler_gives_up_after_3, &out),
                "new(16, align %zu) did not throw", a);
        REQ_INT_EQ(handler_calls, 0);
        REQ(throws_bad_alloc([&](size_t) { return ::operator new[](16, al); },
                             nullptr, &out));
        REQ_NULL(::operator new(16, al, std::nothrow));
        REQ_NULL(::operator new[](16, al, std::nothrow));
    }
    const size_t huge[][2] = {
        { (size_t)1 << 47, (size_t)0 - ((size_t)1 << 47) + (1 << 20) },
        { (size_t)1 << 63, ((size_t)1 << 63) + 4096 },
        { 1 << 20, SIZE_MAX - 4095 },
    };
    for (auto &h : huge) {
        REQ_NULL(::operator new(opaque_size(h[1]), std::align_val_t{ h[0] },
                                std::nothrow));
        REQ(throws_bad_alloc(
            [&](size_t) { return ::operator new(opaque_size(h[1]),
                                                std::align_val_t{ h[0] }); },
            nullptr, &out));
    }
}
END_TEST

// ---- Misuse: one report line and SIGABRT ----------------------------------

// Runs fn in a child with stderr captured; returns the wait status.
int run_child_cxx(void (*fn)(), char *buf, size_t cap)
{
    int fds[2];
    REQ(pipe(fds) == 0);
    pid_t pid = fork();
    REQ(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn();
        _exit(0);
    }
    close(fds[1]);
    read_all_close(fds[0], buf, cap);
    int status = 0;
    REQ(waitpid(pid, &status, 0) == pid);
    return status;
}

// fn must die of SIGABRT with one line: the mismatch naming `given`.
void expect_mismatch(void (*fn)(), const char *name, size_t given)
{
    char buf[2048], want[64];
    snprintf(want, sizeof want, "(given size=%zu", given);
    int st = run_child_cxx(fn, buf, sizeof buf);
    REQ_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
            "%s: expected SIGABRT, status %#x, stderr: %s", name, st, buf);
    REQ_MSG(strncmp(buf, SIZE_MISMATCH, strlen(SIZE_MISMATCH)) == 0,
            "%s: expected \"%s\", got: %s", name, SIZE_MISMATCH, buf);
    REQ_MSG(strstr(buf, want) != nullptr, "%s: expected \"%s\", got: %s",
            name, want, buf);
    const char *nl = strchr(buf, '\n');
    REQ_MSG(nl && nl[1] == '\0', "%s: not one line: %s", name, buf);
}

// delete of an array as a scalar: the size is one element's.
struct elem {
    uint64_t v;
};
[[gnu::noinline]] void delete_scalar(elem *e)
{
    delete opaque(e);
}
void array_as_scalar_small() { delete_scalar(opaque(new elem[100])); }
void array_as_scalar_large() { delete_scalar(opaque(new elem[20000])); }

// delete through a base without a virtual destructor.
struct base {
    uint64_t a;
};
struct derived : base {
    char more[3000];
};
[[gnu::noinline]] void delete_base(base *b)
{
    delete opaque(b);
}
void wrong_type_delete() { delete_base(opaque(new derived)); }

void sized_delete_small() { ::operator delete(opaque(::operator new(100)), 24); }
void sized_delete_large()
{
    ::operator delete(opaque(::operator new(200000)), 199999);
}
void sized_delete_array()
{
    ::operator delete[](opaque(::operator new[](800)), 8);
}
void sized_aligned_delete_small()
{
    std::align_val_t al{ 64 };
    ::operator delete(opaque(::operator new(100, al)), 24, al);
}
void sized_aligned_delete_large()
{
    std::align_val_t al{ 4096 };
    ::operator delete(opaque(::operator new(200000, al)), 4096, al);
}
void free_sized_small() { free_sized(opaque(malloc(100)), 24); }
void free_sized_large() { free_sized(opaque(malloc(200000)), 200001); }
void free_aligned_sized_small()
{
    free_aligned_sized(opaque(aligned_alloc(64, 100)), 64, 24);
}
void free_aligned_sized_large()
{
    free_aligned_sized(opaque(aligned_alloc(4096, 200000)), 4096, 100000);
}

START_TEST(test_sized_delete_mismatch)
{
    expect_mismatch(array_as_scalar_small, "delete of new elem[100]", 8);
    expect_mismatch(array_as_scalar_large, "delete of new elem[20000]", 8);
    expect_mismatch(wrong_type_delete, "delete through base", sizeof(base));
    expect_mismatch(sized_delete_small, "sized delete, small", 24);
    expect_mismatch(sized_delete_large, "sized delete, large", 199999);
    expect_mismatch(sized_delete_array, "sized delete[]", 8);
    expect_mismatch(sized_aligned_delete_small, "sized aligned delete, small",
                    24);
    expect_mismatch(sized_aligned_delete_large, "sized aligned delete, large",
                    4096);
}
END_TEST

START_TEST(test_free_sized_mismatch)
{
    expect_mismatch(free_sized_small, "free_sized, small", 24);
    expect_mismatch(free_sized_large, "free_sized, large", 200001);
    expect_mismatch(free_aligned_sized_small, "free_aligned_sized, small", 24);
    expect_mismatch(free_aligned_sized_large, "free_aligned_sized, large",
                    100000);
}
END_TEST

// And the right sizes pass, through the C names too.
START_TEST(test_sized_frees_right)
{
    for (size_t n = 0; n < 40000; n += n < 1100 ? 1 : 97) {
        free_sized(malloc(n), n);
        void *p = calloc(1, n);
        free_sized(p, n);
        p = malloc(n + 1);
        p = realloc(p, n ? n : 1);
        free_sized(p, n ? n : 1);
        ::operator delete(::operator new(n), n);
        ::operator delete[](::operator new[](n), n);
    }
    for (size_t a = 1; a <= (1u << 20); a <<= 1)
        for (size_t n : sizes) {
            free_aligned_sized(aligned_alloc(a, n), a, n);
            std::align_val_t al{ a };
            ::operator delete(::operator new(n, al), n, al);
        }
    free_sized(nullptr, 5);
    free_aligned_sized(nullptr, 3, 5);
    ::operator delete(nullptr, (size_t)5);
    ::operator delete(nullptr, (size_t)5, std::align_val_t{ 64 });
}
END_TEST

Suite *cxx_suite()
{
    Suite *s = suite_create("cxx");
    TCase *tc = tcase_create("operators");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_plain_new_delete);
    tcase_add_test(tc, test_aligned_new_delete);
    tcase_add_test(tc, test_aligned_new_every_alignment);
    tcase_add_test(tc, test_new_expressions);
    tcase_add_test(tc, test_new_zero_unique);
    tcase_add_test(tc, test_runtime_allocations_reach_hakmem);
    tcase_add_test(tc, test_new_handler_then_bad_alloc);
    tcase_add_test(tc, test_nothrow_returns_null);
    tcase_add_test(tc, test_bad_alignment_fails);
    suite_add_tcase(s, tc);
    tc = tcase_create("sized");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sized_delete_mismatch);
    tcase_add_test(tc, test_free_sized_mismatch);
    tcase_add_test(tc, test_sized_frees_right);
    suite_add_tcase(s, tc);
    return s;
}

} // namespace

int main()
{
    SRunner *sr = srunner_create(cxx_suite());
    printf("hakmem %s flavour, C++ operators (libhakmem.a)\n",
           hak_is_debug() ? "debug" : "release");
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
