/* dropin_cxx.cc — the replaceable global operator new and delete, for the
 * drop-in libraries only (libhakmem.so and libhakmem.a; the core libraries
 * leave C++ alone, as they leave malloc alone).
 *
 * Every replaceable form of C++17: plain, array, nothrow, sized, aligned
 * (std::align_val_t), sized and aligned, and the nothrow aligned ones.
 *   new       hakmem's block, else the new handler is called and the
 *             allocation retried until the handler gives up; with no
 *             handler std::bad_alloc is thrown ([new.delete.single]).
 *             Size 0 gets a unique block (hak_malloc(0)).
 *   nothrow   the same, returning nullptr where new would throw.
 *   aligned   a non-power-of-two alignment (undefined behaviour in C++)
 *             fails like an impossible size, without asking the handler.
 *   delete    hak_free; the sized forms check the size: a size the block
 *             was not allocated with aborts ("sized free mismatch"), which
 *             catches a delete through the wrong type or of an array as a
 *             scalar (src/sized.c).
 * The C++ runtime (the new handler, std::bad_alloc, catching) is needed on
 * the failure paths only, so libhakmem.so does not depend on libstdc++: a
 * C program that preloads it does not map libstdc++, libm and libgcc_s
 * (1.2 MiB of its resident memory, and their load time). Every reference
 * to the runtime is weak (the Makefile weakens those the compiler makes:
 * catching, terminate); a program that calls operator new has the runtime
 * loaded, and it resolves them at load time when the program links it. A
 * C program that dlopen()s a C++ library has it in that library's local
 * scope only: then the two the failure paths call are looked up in the
 * loaded libstdc++.so.6 (local_cxx). (What remains without it: a new
 * handler that throws inside a nothrow new is not caught there.) A C
 * program that links the static archive never pulls this object in.
 */
#include <cstddef>
#include <cstdlib>
#include <new>

#include <dlfcn.h>
#include <unistd.h>

#include "hakmem.h"

namespace std {
[[gnu::weak]] new_handler get_new_handler() noexcept;
[[gnu::weak, noreturn]] void __throw_bad_alloc();
}

#define EXPORT __attribute__((visibility("default")))

static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ == 16,
              "plain new relies on hakmem's 16-byte alignment");

namespace {

inline bool is_pow2(std::size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

inline void *try_alloc(std::size_t n, std::size_t align)
{
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
        return hak_malloc(n);
    return hak_aligned_alloc(align, n);
}

/* The runtime's symbol `name` in a libstdc++.so.6 the process has loaded
 * (into a local scope: the weak reference did not resolve), or NULL. The
 * handle only names it: whoever loaded it keeps it loaded. */
void *local_cxx(const char *name)
{
    void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!lib)
        return nullptr;
    void *sym = dlsym(lib, name);
    dlclose(lib);
    return sym;
}

std::new_handler new_handler_now()
{
    if (std::get_new_handler)
        return std::get_new_handler();
    auto get = reinterpret_cast<std::new_handler (*)()>(
        local_cxx("_ZSt15get_new_handlerv"));
    return get ? get() : nullptr;
}

[[noreturn, gnu::noinline]] void throw_bad_alloc()
{
    if (std::__throw_bad_alloc)
        std::__throw_bad_alloc();
    if (auto raise = reinterpret_cast<void (*)()>(local_cxx("_ZSt17__throw_bad_allocv")))
        raise();
    /* No C++ runtime in the process at all (a C program calling the
     * mangled name): nothing could catch it. */
    static const char msg[] = "hakmem: operator new: out of memory, and no "
                              "C++ runtime loaded to throw std::bad_alloc\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    std::abort();
}

/* The allocation failed: ask the new handler for memory and retry until
 * it gives up ([new.delete.single]); with none, std::bad_alloc. */
[[gnu::noinline]] void *retry_or_throw(std::size_t n, std::size_t align)
{
    for (;;) {
        std::new_handler h = new_handler_now();
        if (!h)
            throw_bad_alloc();
        h();
        if (void *p = try_alloc(n, align))
            return p;
    }
}

/* libstdc++'s nothrow new catches whatever the handler throws; so do we. */
[[gnu::noinline]] void *retry_or_null(std::size_t n, std::size_t align) noexcept
{
    for (;;) {
        std::new_handler h = new_handler_now();
        if (!h)
            return nullptr;
        try {
            h();
        } catch (...) {
            return nullptr;
        }
        if (void *p = try_alloc(n, align))
            return p;
    }
}

inline void *new_or_throw(std::size_t n, std::size_t align)
{
    if (__builtin_expect(!is_pow2(align), 0))
        throw_bad_alloc();
    void *p = try_alloc(n, align);
    return __builtin_expect(p != nullptr, 1) ? p : retry_or_throw(n, align);
}

inline void *new_or_null(std::size_t n, std::size_t align) noexcept
{
    if (__builtin_expect(!is_pow2(align), 0))
        return nullptr;
    void *p = try_alloc(n, align);
    return __builtin_expect(p != nullptr, 1) ? p : retry_or_null(n, align);
}

constexpr std::size_t kPlain = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

inline std::size_t al(std::align_val_t a)
{
    return static_cast<std::size_t>(a);
}

/* A block of plain new is one of (n, default alignment): the strict check
 * of hak_free_aligned_sized. (hak_free_sized also accepts the sizes
 * hak_realloc keeps a block at, which new's blocks never meet.) */
inline void free_plain_sized(void *p, std::size_t n)
{
    hak_free_aligned_sized(p, kPlain, n);
}

} // namespace

EXPORT void *operator new(std::size_t n) { return new_or_throw(n, kPlain); }
EXPORT void *operator new[](std::size_t n) { return new_or_throw(n, kPlain); }
EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept
{
    return new_or_null(n, kPlain);
}
EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept
{
    return new_or_null(n, kPlain);
}
EXPORT void *operator new(std::size_t n, std::align_val_t a)
{
    return new_or_throw(n, al(a));
}
EXPORT void *operator new[](std::size_t n, std::align_val_t a)
{
    return new_or_throw(n, al(a));
}
EXPORT void *operator new(std::size_t n, std::align_val_t a,
                          const std::nothrow_t &) noexcept
{
    return new_or_null(n, al(a));
}
EXPORT void *operator new[](std::size_t n, std::align_val_t a,
                            const std::nothrow_t &) noexcept
{
    return new_or_null(n, al(a));
}

EXPORT void operator delete(void *p) noexcept { hak_free(p); }
EXPORT void operator delete[](void *p) noexcept { hak_free(p); }
EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept
{
    hak_free(p);
}
EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept
{
    hak_free(p);
}
EXPORT void operator delete(void *p, std::size_t n) noexcept
{
    free_plain_sized(p, n);
}
EXPORT void operator delete[](void *p, std::size_t n) noexcept
{
    free_plain_sized(p, n);
}
EXPORT void operator delete(void *p, std::align_val_t) noexcept { hak_free(p); }
EXPORT void operator delete[](void *p, std::align_val_t) noexcept
{
    hak_free(p);
}
EXPORT void operator delete(void *p, std::align_val_t,
                            const std::nothrow_t &) noexcept
{
    hak_free(p);
}
EXPORT void operator delete[](void *p, std::align_val_t,
                              const std::nothrow_t &) noexcept
{
    hak_free(p);
}
EXPORT void operator delete(void *p, std::size_t n, std::align_val_t a) noexcept
{
    hak_free_aligned_sized(p, al(a), n);
}
EXPORT void operator delete[](void *p, std::size_t n,
                              std::align_val_t a) noexcept
{
    hak_free_aligned_sized(p, al(a), n);
}
