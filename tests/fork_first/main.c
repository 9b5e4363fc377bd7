/* main.c — fork with handlers registered before hakmem's, under
 * LD_PRELOAD of the drop-in libhakmem.so (`make unit`, both flavours).
 *
 * libfork_first.so (first.c) registers its handlers from its constructor,
 * before hakmem's. A thread holding blocks of every tier is alive during
 * each fork. For each handler kind: the handlers allocate while hakmem's
 * locks are held; the child frees the other thread's blocks (the child
 * handler one of them), allocates in every tier and passes hakmem's heap
 * check; the parent does the same after the child exits. A deadlock ends
 * in SIGALRM. Exit status 0 when all is well. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "first.h"

/* From the preloaded hakmem (weak: this program does not link it). */
extern size_t hak_check_heap(void) __attribute__((weak));

#define NBLK 60
static void *blk[NBLK];
static sem_t ready, release;

static size_t size_of(unsigned i)
{
    static const size_t s[4] = { 24, 3000, 100 << 10, 0 };
    return s[i % 4];
}

static void *holder(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < NBLK; i++) {
        blk[i] = malloc(size_of(i));
        if (size_of(i))
            memset(blk[i], (int)i, size_of(i));
    }
    sem_post(&ready);
    while (sem_wait(&release) != 0)
        ;
    return NULL;
}

static int check_and_free_all(void)
{
    int bad = 0;
    for (unsigned i = 0; i < NBLK; i++) {
        if (!blk[i])
            continue;
        if (size_of(i) && ((unsigned char *)blk[i])[size_of(i) - 1] != i)
            bad++;
        free(blk[i]);
        blk[i] = NULL;
    }
    return bad;
}

static int churn(void)
{
    int bad = 0;
    void *p[64];
    for (unsigned i = 0; i < 64; i++)
        if (!(p[i] = malloc(size_of(i) + i)))
            bad++;
    for (unsigned i = 0; i < 64; i++)
        free(p[i]);
    return bad;
}

static int one_fork(int kind)
{
    pthread_t t;
    sem_init(&ready, 0, 0);
    sem_init(&release, 0, 0);
    if (pthread_create(&t, NULL, holder, NULL) != 0)
        return 1;
    while (sem_wait(&ready) != 0)
        ;
    first_arm(kind, &blk[1]);
    alarm(20);
    pid_t pid = fork();
    if (pid == 0) {
        first_arm(0, NULL);
        int bad = first_errors() + check_and_free_all() + churn();
        first_free_kept();
        hak_check_heap();
        _exit(bad ? 3 : 0);
    }
    first_arm(0, NULL);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    alarm(0);
    int bad = first_errors();
    first_free_kept();
    sem_post(&release);
    pthread_join(t, NULL);
    bad += check_and_free_all() + churn();
    hak_check_heap();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fork_first: kind %d: child status 0x%x\n", kind,
                status);
        return 1;
    }
    if (bad)
        fprintf(stderr, "fork_first: kind %d: %d failures\n", kind, bad);
    return bad != 0;
}

int main(void)
{
    if (!hak_check_heap) {
        fprintf(stderr, "fork_first: run me under LD_PRELOAD=libhakmem.so\n");
        return 2;
    }
    int bad = 0;
    for (int kind = FIRST_PREPARE; kind <= FIRST_CHILD; kind++)
        bad += one_fork(kind);
    return bad != 0;
}
