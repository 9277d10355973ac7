/* thread.c - what dptrace's own threads do first (common.h, "background threads").
 *
 * The export and HTTP threads are background work: a batch exported a few milliseconds
 * later costs nothing, while an application thread preempted on every wake-up pays a
 * context switch and a colder cache each time. Linux's SCHED_BATCH keeps a thread's fair
 * share of the CPU (it is SCHED_OTHER's weight at the same nice value) but a wake-up of it
 * does not preempt the running thread: it runs at the next scheduling point or on an idle
 * CPU. Taking it needs no privilege (sched(7)); where it is refused (another system, a
 * seccomp filter) the thread keeps its policy and works as before.
 *
 * A background thread never reads the environment. POSIX does not require getenv() to be
 * thread-safe against setenv()/unsetenv(), and with glibc a getenv() racing a setenv() can
 * read a freed array and crash; only the application's own threads can agree on when its
 * environment changes. So what a background thread needs from the environment is read by
 * dpt__background_prepare(), in the call that creates the component, on the caller's
 * thread (tests/export/test_env_threads.c checks it for the whole pipeline).
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

bool dpt__background_prepare(void)
{
    dpt__log_prime();
#if defined(__linux__)
    static const char *const policies[] = {"batch", "other"};
    return dpt__env_enum("DPTRACE_EXPORT_SCHED", policies, 2, 0) == 0;
#else
    return false;
#endif
}

bool dpt__background_thread(const char *name, bool sched_batch)
{
#if defined(__linux__)
    /* The policy first, then the name: whoever finds the thread by its name (a test, a
     * tool) sees it with its policy. */
    bool batch = false;
    if (sched_batch) {
        struct sched_param sp;
        memset(&sp, 0, sizeof sp);
        batch = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) == 0;
    }
    prctl(PR_SET_NAME, name, 0, 0, 0);
    return batch;
#else
    (void)name;
    (void)sched_batch;
    return false;
#endif
}
