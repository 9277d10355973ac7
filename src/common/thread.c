/* thread.c - what dptrace's own threads do first (common.h, "background threads").
 *
 * The export and HTTP threads are background work: a batch exported a few milliseconds
 * later costs nothing, while an application thread preempted on every wake-up pays a
 * context switch and a colder cache each time. Linux's SCHED_BATCH keeps a thread's fair
 * share of the CPU (it is SCHED_OTHER's weight at the same nice value) but a wake-up of it
 * does not preempt the running thread: it runs at the next scheduling point or on an idle
 * CPU. Taking it needs no privilege (sched(7)); where it is refused (another system, a
 * seccomp filter) the thread keeps its policy and works as before.
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

bool dpt__background_thread(const char *name)
{
#if defined(__linux__)
    /* The policy first, then the name: whoever finds the thread by its name (a test, a
     * tool) sees it with its policy. */
    static const char *const policies[] = {"batch", "other"};
    bool batch = false;
    if (dpt__env_enum("DPTRACE_EXPORT_SCHED", policies, 2, 0) == 0) {
        struct sched_param sp;
        memset(&sp, 0, sizeof sp);
        batch = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) == 0;
    }
    prctl(PR_SET_NAME, name, 0, 0, 0);
    return batch;
#else
    (void)name;
    return false;
#endif
}
