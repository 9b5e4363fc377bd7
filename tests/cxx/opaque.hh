// opaque.hh — keeps the compiler from eliding or folding an allocation in
// the C++ tests: a new-expression whose result goes nowhere may be removed.
#ifndef HAK_TESTS_CXX_OPAQUE_HH
#define HAK_TESTS_CXX_OPAQUE_HH

#include <cstddef>

template <class T> inline T *opaque(T *p)
{
    asm volatile("" : "+r"(p) : : "memory");
    return p;
}

inline std::size_t opaque_size(std::size_t n)
{
    asm volatile("" : "+r"(n));
    return n;
}

#endif
