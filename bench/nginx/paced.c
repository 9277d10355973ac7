/* paced.c - an open-loop HTTP/1.1 load at a fixed rate, for bench_nginx.sh (LOAD=paced).
 *
 * wrk sends the next request when the previous answer is back, so it measures a saturated
 * server, where a request's latency is mostly its wait behind others. This measures the
 * other case, a server with room to spare (where most servers run): request i is due at
 * start + i / RATE whether or not earlier answers came back, and its latency counts from
 * that due time, so a stall shows in every request it delays (no coordinated omission).
 * CONNS keep-alive connections carry one request at a time each; a due request waits for
 * a free one.
 *
 * Usage: paced PORT PATH RATE SECONDS CONNS
 * Prints one line: requests, errors (not 2xx, or a broken connection), the rate achieved,
 * latency percentiles in microseconds, and `late`: requests sent more than 1 ms after
 * their due time (the load generator or the server fell behind the rate).
 */
#include "bench_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define HIST_US 100000 /* 1 us buckets up to 100 ms; above: counted in the last one */

typedef struct conn {
    int fd;
    bool busy;
    uint64_t due; /* the due time of its request in flight */
    char buf[4096];
    size_t len;
} conn;

static uint64_t hist[HIST_US + 1];
static uint64_t max_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* When request i is due, RATE requests a second from start. */
static uint64_t due_of(uint64_t start, double rate, uint64_t i)
{
    return start + (uint64_t)((double)i * 1e9 / rate);
}

static void record(uint64_t ns)
{
    uint64_t us = ns / 1000;
    hist[us < HIST_US ? us : HIST_US]++;
    if (ns > max_ns) max_ns = ns;
}

static double percentile(uint64_t total, double p)
{
    if (!total) return 0;
    uint64_t want = (uint64_t)((double)total * p);
    if (want >= total) want = total - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i <= HIST_US; i++) {
        seen += hist[i];
        if (seen > want) return (double)i + 0.5;
    }
    return (double)HIST_US;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: paced PORT PATH RATE SECONDS CONNS\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int nconns = atoi(argv[5]);
    if (port <= 0 || port > 65535 || rate <= 0 || seconds <= 0 || nconns <= 0 ||
        nconns > MAX_CONNS) {
        fprintf(stderr, "paced: bad arguments\n");
        return 2;
    }
    char req[512];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (reqlen <= 0 || (size_t)reqlen >= sizeof req) return 2;

    /* Wake-ups on time: the default timer slack (50 us) would make every request late by
     * about that much, and the latency measured from its due time with it. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    static conn conns[MAX_CONNS];
    int ep = epoll_create1(0);
    for (int i = 0; i < nconns; i++) {
        int fd = bench_dial((unsigned)port);
        if (fd < 0) {
            perror("paced: connect");
            return 1;
        }
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }

    uint64_t total = (uint64_t)(rate * seconds), sent = 0, done = 0, errors = 0, late = 0;
    uint64_t start = now_ns() + 1000000; /* 1 ms to settle */
    uint64_t last_done = start;
    int idle[MAX_CONNS], nidle = nconns;
    for (int i = 0; i < nconns; i++)
        idle[i] = nconns - 1 - i;
    while (done < total) {
        uint64_t now = now_ns();
        /* Send every request due now that has a free connection. */
        while (sent < total && nidle > 0) {
            uint64_t due = due_of(start, rate, sent);
            if (due > now) break;
            conn *c = &conns[idle[--nidle]];
            if (send(c->fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
                perror("paced: send");
                return 1;
            }
            if (now - due > 1000000) late++;
            c->busy = true;
            c->due = due;
            c->len = 0;
            sent++;
        }
        /* Wait for an answer, or until the next request is due. */
        struct timespec to, *top = NULL;
        if (sent < total && nidle > 0) {
            uint64_t due = due_of(start, rate, sent);
            uint64_t wait = due > now ? due - now : 0;
            to.tv_sec = (time_t)(wait / 1000000000ull);
            to.tv_nsec = (long)(wait % 1000000000ull);
            top = &to;
        } else if (sent == total) {
            to.tv_sec = 0;
            to.tv_nsec = 100000000; /* the last answers: give up 2 s after the last one */
            top = &to;
            if (now - last_done > 2000000000ull) break;
        }
        struct epoll_event evs[64];
        int n = epoll_pwait2(ep, evs, 64, top, NULL);
        if (n < 0 && errno != EINTR) {
            perror("paced: epoll_pwait2");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = &conns[evs[i].data.u32];
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
            if (r <= 0 || !c->busy) {
                fprintf(stderr, "paced: connection %u closed or answered unasked\n",
                        evs[i].data.u32);
                return 1;
            }
            c->len += (size_t)r;
            bool ok = false;
            size_t head;
            size_t alen = bench_answer_len(c->buf, c->len, &head, &ok);
            if (!alen) {
                if (c->len == sizeof c->buf) {
                    fprintf(stderr, "paced: an answer over %zu bytes\n", sizeof c->buf);
                    return 1;
                }
                continue;
            }
            uint64_t t = now_ns();
            record(t - c->due);
            if (!ok) errors++;
            done++;
            last_done = t;
            c->busy = false;
            idle[nidle++] = (int)evs[i].data.u32;
        }
    }
    double elapsed = (double)(last_done - start) / 1e9;
    printf("paced: requests=%llu errors=%llu rate=%.0f p50=%.1f p90=%.1f p99=%.1f p999=%.1f "
           "max=%.1f late=%llu\n",
           (unsigned long long)done, (unsigned long long)(errors + (total - done)),
           elapsed > 0 ? (double)done / elapsed : 0.0, percentile(done, 0.50),
           percentile(done, 0.90), percentile(done, 0.99), percentile(done, 0.999),
           (double)max_ns / 1000.0, (unsigned long long)late);
    return done == total && errors == 0 ? 0 : 1;
}
