/* cxx_local.c — a C program run with LD_PRELOAD=libhakmem.so: hakmem's
 * operators need no C++ runtime, so none is mapped; then the program
 * dlopen()s a C++ library (cxx_local_lib.cc, argv[1]) into a local scope,
 * with its own libstdc++, and that library's operator new (hakmem's: the
 * preloaded library comes first) still asks the library's new handler and
 * throws std::bad_alloc when the handler gives up. Prints "cxx local ok". */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* A mapping of the process whose path has `name` in it. */
static int mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, name) != NULL;
    if (f)
        fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    if (!dlsym(RTLD_DEFAULT, "hak_malloc")) {
        puts("libhakmem.so is not preloaded");
        return 1;
    }
    if (mapped("libstdc++")) {
        puts("a C program under libhakmem.so has libstdc++ mapped");
        return 1;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    int (*probe)(void) = (int (*)(void))dlsym(lib, "cxx_local_probe");
    if (!probe) {
        puts("cxx_local_probe not found");
        return 1;
    }
    int r = probe();
    if (r != 21) {
        printf("the C++ library's failing new: handler asked %d times, "
               "bad_alloc %s\n", r / 10, r % 10 ? "caught" : "not caught");
        return 1;
    }
    puts("cxx local ok");
    return 0;
}
