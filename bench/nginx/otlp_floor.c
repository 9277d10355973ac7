/* otlp_floor.c - the transport floor of bench_nginx.sh: what it costs to move a traced
 * worker's OTLP bytes to the collector and nothing else. While wrk drives an nginx with
 * tracing off, this process (pinned to the worker's CPU by the bench) watches that nginx's
 * request count (stub_status) and, for every BATCH requests served, sends one OTLP/HTTP
 * request of BATCH * BYTES_PER_SPAN bytes to the sink over one kept-alive connection: the
 * head and the body with one writev, then the answer read - the fewest system calls any
 * OTLP/HTTP exporter can make, with no span made and nothing encoded. The bytes per span
 * are measured by the bench from the module's own requests, so the floor moves the same
 * bytes at the same rate as the traced worker does.
 *   otlp_floor STATUS_PORT SINK_PORT BATCH BYTES_PER_SPAN
 * Runs until SIGTERM, then prints "floor: batches N spans M bytes B".
 */
#include "bench_http.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Reads one HTTP answer (bench_http.h); its body (up to cap - 1 bytes) is left
 * NUL-terminated in buf. -1 on error. */
static int read_answer(int fd, char *buf, size_t cap)
{
    size_t have = 0, head, whole;
    bool ok;
    while ((whole = bench_answer_len(buf, have, &head, &ok)) == 0) {
        if (have + 1 >= cap) return -1;
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            return -1;
        }
        have += (size_t)r;
    }
    memmove(buf, buf + head, whole - head);
    buf[whole - head] = '\0';
    return 0;
}

/* The status location's request count (nginx stub_status: "... accepts handled requests\n
 * A H R"). */
static long requests(int fd)
{
    static const char q[] = "GET /dpt_status HTTP/1.1\r\nHost: floor\r\n\r\n";
    struct iovec v = {(void *)q, sizeof q - 1};
    char buf[1024];
    if (write_all(fd, &v, 1) != 0 || read_answer(fd, buf, sizeof buf) != 0) return -1;
    char *p = strstr(buf, "requests");
    long a, h, r;
    if (!p || sscanf(p + 8, " %ld %ld %ld", &a, &h, &r) != 3) return -1;
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: otlp_floor STATUS_PORT SINK_PORT BATCH BYTES_PER_SPAN\n");
        return 2;
    }
    unsigned status_port = (unsigned)atoi(argv[1]), sink_port = (unsigned)atoi(argv[2]);
    long batch = atol(argv[3]), per_span = atol(argv[4]);
    if (batch < 1 || batch > 1000000 || per_span < 1 || per_span > 100000) return 2;
    prctl(PR_SET_NAME, "otlp-floor", 0, 0, 0);
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    size_t body_len = (size_t)(batch * per_span);
    char *body = malloc(body_len);
    if (!body) return 1;
    for (size_t i = 0; i < body_len; i++)
        body[i] = (char)('a' + i % 26);
    int st = bench_dial(status_port), sink = bench_dial(sink_port);
    if (st < 0 || sink < 0) {
        perror("otlp_floor: connect");
        return 1;
    }
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                      "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                      sink_port, body_len);
    long last = requests(st);
    long batches = 0;
    char ans[4096];
    while (!stop && last >= 0) {
        struct timespec nap = {0, 5 * 1000 * 1000}; /* 5 ms: 200 status requests a second */
        nanosleep(&nap, NULL);
        long now = requests(st);
        if (now < 0) break;
        while (now - last >= batch) {
            struct iovec v[2] = {{head, (size_t)hl}, {body, body_len}};
            if (write_all(sink, v, 2) != 0 || read_answer(sink, ans, sizeof ans) != 0) {
                /* the sink closes a connection after keepalive_requests answers */
                close(sink);
                if ((sink = bench_dial(sink_port)) < 0) {
                    perror("otlp_floor: reconnect");
                    return 1;
                }
                continue;
            }
            last += batch;
            batches++;
        }
    }
    printf("floor: batches %ld spans %ld bytes %ld\n", batches, batches * batch,
           batches * batch * per_span);
    free(body);
    return 0;
}
