/* first.h — the library of fork handlers registered before hakmem's. */
#ifndef FORK_FIRST_H
#define FORK_FIRST_H

enum { FIRST_PREPARE = 1, FIRST_PARENT = 2, FIRST_CHILD = 3 };

/* Arms the handlers of one kind (0: none); the child handler frees
 * *other_threads_block (if not NULL) and clears it. */
void first_arm(int kind, void **other_threads_block);
/* Failures counted in the handlers (in this process). */
int first_errors(void);
/* Frees what the prepare handler kept (in the parent and in the child). */
void first_free_kept(void);

#endif
