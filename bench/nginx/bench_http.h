/* bench_http.h - what the nginx bench's own HTTP/1.1 clients (otlp_floor.c, paced.c) share:
 * a TCP connection to a loopback port, and the length of an answer in a buffer. Only for
 * answers with a Content-Length (every nginx location the bench uses sends one). */
#ifndef DPT_BENCH_HTTP_H
#define DPT_BENCH_HTTP_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected socket to 127.0.0.1:port with TCP_NODELAY, or -1. */
static inline int bench_dial(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The length of the whole answer at the start of buf[0..len) (head and Content-Length
 * body), 0 while it is incomplete; *head_len: its head's length; *ok: a 2xx status. */
static inline size_t bench_answer_len(const char *buf, size_t len, size_t *head_len, bool *ok)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4, body = 0;
    *ok = len >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '2';
    for (const char *p = buf; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            body = strtoul(p + 15, NULL, 10);
        p = eol + 2;
    }
    *head_len = head;
    return len >= head + body ? head + body : 0;
}

#endif
