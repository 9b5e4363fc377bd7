/* leak.c — a deliberate leak, to show that the soak's boundedness check
 * can fail (ci/soak.sh runs it first and requires it to be caught).
 *
 * Linked with -Wl,--wrap=hak_free into a copy of a stress program (see
 * the soak section of ci/pipeline.mk): one call of hak_free in 16 does
 * nothing, so the program's blocks of every tier leak at a steady rate
 * while it otherwise behaves. Not part of any library.
 */
#include <stdatomic.h>

void __real_hak_free(void *p);
void __wrap_hak_free(void *p);

static _Atomic unsigned long frees;

void __wrap_hak_free(void *p)
{
    if (atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed) % 16 == 15)
        return;
    __real_hak_free(p);
}
