/* init.h — the composition root (src/init.c): process-wide set-up, and
 * the fork and exit handlers that reach every layer.
 *
 * hak_init is the one function of the root that the layers below call
 * (the lazy initialisation of the paths that may run before the
 * constructor); it is the one upward edge ci/deps.sh allows.
 */
#ifndef HAK_INIT_H
#define HAK_INIT_H

#include "types.h"

/* Parses the options and readies the process-wide state, once; cheap
 * (one acquire load) after the first call. Calls nothing that allocates. */
HAK_INTERNAL void hak_init(void);

#endif
