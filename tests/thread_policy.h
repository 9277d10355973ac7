/* thread_policy.h - the scheduling policy of one of this process's threads, found by its
 * name (dptrace's own threads name themselves: dpt-export, dpt-http). */
#ifndef DPT_THREAD_POLICY_H
#define DPT_THREAD_POLICY_H

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SCHED_BATCH
#define SCHED_BATCH 3 /* Linux's value (sched(7)); <sched.h> names it only with _GNU_SOURCE */
#endif

/* The scheduling policy (SCHED_OTHER, SCHED_BATCH...) of the one thread of this process
 * named comm, waiting up to wait_ms for a thread that names itself after it starts; -1:
 * no such thread, -2: more than one. */
static inline int thread_policy_of(const char *comm, int wait_ms)
{
    for (int waited = 0;; waited++) {
        int found = 0, policy = -1;
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[300], name[32] = "";
            snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = '\0';
            fclose(f);
            if (strcmp(name, comm) != 0) continue;
            found++;
            policy = sched_getscheduler((pid_t)atoi(e->d_name));
        }
        if (d) closedir(d);
        if (found > 1) return -2;
        if (found == 1 || waited >= wait_ms) return found ? policy : -1;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

#endif
