// cxx_local_lib.cc — a C++ shared library that cxx_local.c dlopen()s into
// a local scope. cxx_local_probe: a new handler that gives up on its
// second call, then an operator new that cannot succeed; returns 10 times
// the handler's calls plus 1 if std::bad_alloc came out (21 is right).
#include <cstdint>
#include <new>

namespace {
int calls;
void gives_up_after_2()
{
    if (++calls == 2)
        std::set_new_handler(nullptr);
}
} // namespace

extern "C" __attribute__((visibility("default"))) int cxx_local_probe()
{
    volatile std::size_t big = SIZE_MAX / 2;
    int caught = 0;
    std::set_new_handler(gives_up_after_2);
    try {
        ::operator delete(::operator new(big));
    } catch (const std::bad_alloc &) {
        caught = 1;
    }
    return calls * 10 + caught;
}
