// preload.cc — an ordinary C++ program, linked against nothing of hakmem,
// run with LD_PRELOAD=build/<flavour>/libhakmem.so (make cxx-test): the
// shared drop-in library's operators must take over the program's and
// libstdc++'s allocations, throw and return as the standard says, and
// catch a sized delete of the wrong size. hakmem's API is reached through
// dlsym, so the program fails plainly when the library is not preloaded.
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "util.h"

#include "opaque.hh"

namespace {

decltype(&hak_stats_get) stats_get;
decltype(&hak_malloc_usable_size) usable_size;

template <class F> void find(F &f, const char *name)
{
    f = reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
    REQ_MSG(f != nullptr, "%s not found: is libhakmem.so preloaded?", name);
}

void setup()
{
    find(stats_get, "hak_stats_get");
    find(usable_size, "hak_malloc_usable_size");
}

uint64_t allocs()
{
    hak_stats_t s;
    stats_get(&s);
    return s.allocs;
}

uint64_t frees()
{
    hak_stats_t s;
    stats_get(&s);
    return s.frees;
}

START_TEST(test_operators_are_hakmem)
{
    setup();
    const size_t sizes[] = { 0, 8, 100, 3000, 40000, 1 << 20 };
    for (size_t n : sizes) {
        uint64_t a = allocs();
        char *p = opaque(new char[n]);
        REQ_UINT_EQ(allocs() - a, 1);
        REQ_UINT_GE(usable_size(p), n);
        uint64_t f = frees();
        delete[] p;
        REQ_UINT_EQ(frees() - f, 1);
        a = allocs();
        void *q = opaque(::operator new(n, std::align_val_t{ 4096 }));
        REQ_UINT_EQ(allocs() - a, 1);
        REQ((uintptr_t)q % 4096 == 0);
        REQ_UINT_GE(usable_size(q), n);
        ::operator delete(q, n, std::align_val_t{ 4096 });
    }
    // Containers, and libstdc++'s own allocations (inside libstdc++.so).
    uint64_t a = allocs();
    std::vector<std::string> v;
    for (int i = 0; i < 100; i++)
        v.push_back(std::string(100 + i, 'x'));
    std::runtime_error e(v.back());
    REQ_UINT_GE(allocs() - a, 101);
    REQ_UINT_GE(usable_size(v[50].data()), 151);
}
END_TEST

START_TEST(test_failure)
{
    setup();
    bool threw = false;
    try {
        void *p = ::operator new(opaque_size(SIZE_MAX / 2));
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    REQ(threw);
    REQ_NULL(::operator new(opaque_size(SIZE_MAX / 2), std::nothrow));
    REQ_NULL(::operator new(16, std::align_val_t{ opaque_size(48) }, std::nothrow));
}
END_TEST

// The new handler, set through the program's libstdc++, is seen by the
// preloaded library (which does not link libstdc++: its references are
// weak, resolved at load) and asked until it gives up; a bad_alloc it
// throws comes out of new, and nothrow new turns it into nullptr.
int handler_calls;
void handler_gives_up_after_2()
{
    if (++handler_calls == 2)
        std::set_new_handler(nullptr);
}
void handler_throws()
{
    ++handler_calls;
    throw std::bad_alloc();
}

START_TEST(test_new_handler)
{
    setup();
    const size_t big = opaque_size(SIZE_MAX / 2);
    bool threw = false;
    std::set_new_handler(handler_gives_up_after_2);
    try {
        ::operator delete(::operator new(big));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    REQ(threw);
    REQ_INT_EQ(handler_calls, 2);
    handler_calls = 0;
    std::set_new_handler(handler_gives_up_after_2);
    REQ_NULL(::operator new[](big, std::nothrow));
    REQ_INT_EQ(handler_calls, 2);
    handler_calls = 0;
    std::set_new_handler(handler_throws);
    REQ_NULL(::operator new(big, std::nothrow));
    REQ_INT_EQ(handler_calls, 1);
    std::set_new_handler(nullptr);
}
END_TEST

struct elem {
    uint64_t v;
};
[[gnu::noinline]] void delete_scalar(elem *e)
{
    delete opaque(e);
}

void array_as_scalar() { delete_scalar(opaque(new elem[100])); }

START_TEST(test_sized_delete_mismatch)
{
    setup();
    int fds[2];
    REQ(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        array_as_scalar();
        _exit(0);
    }
    close(fds[1]);
    char buf[1024];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    int st = 0;
    waitpid(pid, &st, 0);
    REQ_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
                strncmp(buf, "hakmem: sized free mismatch: ", 29) == 0 &&
                strstr(buf, "(given size=8"),
            "status %#x, stderr: %s", st, buf);
}
END_TEST

} // namespace

int main()
{
    Suite *s = suite_create("cxx_preload");
    TCase *tc = tcase_create("preload");
    tcase_add_test(tc, test_operators_are_hakmem);
    tcase_add_test(tc, test_failure);
    tcase_add_test(tc, test_new_handler);
    tcase_add_test(tc, test_sized_delete_mismatch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    printf("C++ program under LD_PRELOAD=%s\n",
           getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "(nothing)");
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
