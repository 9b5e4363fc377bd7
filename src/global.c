/* global.c — the state every layer reads and the layers above write.
 *
 * Defined here, at the bottom, so that reading it ties no object to the
 * one that writes it: the composition root (src/init.c) fills hak_g and
 * hak_opt once and marks the forking thread (src/lock.h); the heap layer
 * (src/heap.c) binds each thread's heap. Nothing here has code.
 */
#include "lock.h"
#include "options.h"

/* Process-wide: the mitigations, knobs and readiness (types.h). */
hak_global_t hak_g;

/* Every HAKMEM_ variable, parsed once by hak_init (src/options.h). */
hak_options_t hak_opt;

/* The calling thread's heap (types.h); bound by src/heap.c. */
__thread hak_heap_t *hak_tls_heap __attribute__((tls_model("initial-exec")));

/* The thread that forks, while hakmem's fork handlers hold every lock
 * (src/lock.h, src/init.c). */
__thread int hak_tls_fork_holder __attribute__((tls_model("initial-exec")));
