/* dlopen_core.c LIB — libhakmem_core.so loaded with dlopen after the
 * program started: its initial-exec TLS (src/heap.h) must then come out
 * of glibc's static TLS surplus. Allocates and frees through dlsym in the
 * main thread and in a thread created after the dlopen (whose static TLS
 * block includes the library's), frees a block of one thread in the other,
 * and checks that the library exports none of its internal names.
 * Prints "dlopen ok" and exits 0; prints dlerror() and exits 1 if the
 * library cannot be loaded. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef size_t (*usable_fn)(const void *);
typedef size_t (*check_fn)(void);

static malloc_fn my_malloc;
static free_fn my_free;
static usable_fn my_usable;

static int use(void **keep)
{
    for (int i = 0; i < 1000; i++) {
        char *p = my_malloc((size_t)(i % 200) * 16 + 1);
        if (!p || my_usable(p) < (size_t)(i % 200) * 16 + 1)
            return 1;
        memset(p, 0x5a, (size_t)(i % 200) * 16 + 1);
        my_free(p);
    }
    *keep = my_malloc(64);
    return *keep == NULL;
}

static void *thread_main(void *arg)
{
    void *keep;
    if (use(&keep))
        return NULL;
    my_free(arg); /* the main thread's block: a remote free */
    return keep;  /* freed by the main thread */
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dlopen_core path/to/libhakmem_core.so\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen_core: %s\n", dlerror());
        return 1;
    }
    my_malloc = (malloc_fn)dlsym(h, "hak_malloc");
    my_free = (free_fn)dlsym(h, "hak_free");
    my_usable = (usable_fn)dlsym(h, "hak_malloc_usable_size");
    check_fn check = (check_fn)dlsym(h, "hak_check_heap");
    if (!my_malloc || !my_free || !my_usable || !check) {
        fprintf(stderr, "dlopen_core: the API is not exported\n");
        return 1;
    }
    static const char *const internal[] = { "hak_os_map", "hak_heap_drain", "hak_large_alloc", "hak_init",
                                            "hak_g", "hak_tls_heap" };
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++)
        if (dlsym(h, internal[i])) {
            fprintf(stderr, "dlopen_core: internal name %s is exported\n", internal[i]);
            return 1;
        }
    void *mine;
    if (use(&mine)) {
        fprintf(stderr, "dlopen_core: allocation failed in the main thread\n");
        return 1;
    }
    pthread_t t;
    void *theirs = NULL;
    if (pthread_create(&t, NULL, thread_main, mine) || pthread_join(t, &theirs) || !theirs) {
        fprintf(stderr, "dlopen_core: allocation failed in a new thread\n");
        return 1;
    }
    my_free(theirs);
    check();
    puts("dlopen ok");
    return 0;
}
