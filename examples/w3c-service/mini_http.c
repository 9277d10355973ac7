/* mini_http.c - a small HTTP/1.1 server: one thread accepts, one thread per connection
 * serves a single request and closes. See mini_http.h for why it exists.
 *
 * Every input is bounded (64 KiB of request head, 1 MiB of body, 10 s per socket
 * operation), and anything outside RFC 9112's request grammar that this service could
 * misread gets a 4xx/5xx answer instead of a guess.
 */
#define _GNU_SOURCE
#include "mini_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX (64u * 1024)
#define BODY_MAX (1u << 20)
#define IO_TIMEOUT_S 10

struct mini_http {
    int lfd;
    int wake[2]; /* written by stop: ends the accept loop */
    pthread_t acceptor;
    mini_http_handler h;
    void *user;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int active; /* connections being served (guarded by mu) */
};

typedef struct conn {
    mini_http *s;
    int fd;
} conn;

static const char *reason(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    default:
        return "Error";
    }
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void respond(int fd, unsigned status, const char *text)
{
    if (!text) text = "";
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason(status), strlen(text));
    if (n > 0 && write_all(fd, head, (size_t)n)) write_all(fd, text, strlen(text));
}

static bool tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool name_is(const char *p, size_t n, const char *lower)
{
    if (strlen(lower) != n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != lower[i]) return false;
    }
    return true;
}

/* Parses the head [buf, buf + len) (ending with the blank line). Fills h and the content
 * length; returns 0 or the status to answer with. */
static unsigned parse_head(char *buf, size_t len, char **method, char **target, dpt_headers *h,
                           size_t *content_length)
{
    char *end = buf + len, *line = buf;
    char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (!eol) return 400;
    /* request-line = method SP request-target SP HTTP-version */
    *eol = 0;
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        memchr(line, 0, (size_t)(eol - line)) != NULL)
        return 400;
    *sp1 = *sp2 = 0;
    *method = line;
    *target = sp1 + 1;
    bool have_cl = false;
    *content_length = 0;
    for (line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol) return 400;
        if (eol == line) break;                        /* the blank line */
        if (*line == ' ' || *line == '\t') return 400; /* obs-fold: RFC 9112 allows a 400 */
        char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line) return 400;
        for (char *p = line; p < colon; p++)
            if (!tchar((unsigned char)*p)) return 400; /* also: no space before the colon */
        char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        /* RFC 9110 5.5: "a recipient of CR, LF, or NUL within a field value MUST either
         * reject the message or replace each of those characters with SP". Rejecting is the
         * choice that can neither cut a value short nor make an invalid one look valid. */
        for (char *p = v; p < ve; p++)
            if (*p == 0 || *p == '\r' || *p == '\n') return 400;
        size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
        if (name_is(line, nl, "transfer-encoding")) return 501;
        if (name_is(line, nl, "content-length")) {
            size_t cl = 0;
            if (vl == 0 || vl > 9) return 400;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9') return 400;
                cl = cl * 10 + (size_t)(v[i] - '0');
            }
            if (have_cl && cl != *content_length) return 400;
            have_cl = true;
            *content_length = cl;
        }
        if (dpt_headers_add(h, line, nl, v, vl) != DPT_OK) return 500;
    }
    return *content_length > BODY_MAX ? 413 : 0;
}

static void serve(conn *c)
{
    int fd = c->fd;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char *buf = malloc(HEAD_MAX + 1);
    char *body = NULL;
    dpt_headers h = DPT_HEADERS_INIT;
    if (!buf) goto out;
    size_t got = 0, head_len = 0;
    while (!head_len) {
        if (got == HEAD_MAX) {
            respond(fd, 431, "request head too large\n");
            goto out;
        }
        ssize_t r = recv(fd, buf + got, HEAD_MAX - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) goto out; /* closed or timed out before a full head */
        got += (size_t)r;
        char *e = memmem(buf, got, "\r\n\r\n", 4);
        if (e) head_len = (size_t)(e - buf) + 4;
    }
    char *method = NULL, *target = NULL;
    size_t cl = 0;
    unsigned st = parse_head(buf, head_len, &method, &target, &h, &cl);
    if (st) {
        respond(fd, st, st == 400 ? "malformed request (RFC 9112 / RFC 9110 5.5)\n" : NULL);
        goto out;
    }
    body = malloc(cl + 1);
    if (!body) goto out;
    size_t have = got - head_len < cl ? got - head_len : cl;
    memcpy(body, buf + head_len, have);
    while (have < cl) {
        ssize_t r = recv(fd, body + have, cl - have, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) goto out;
        have += (size_t)r;
    }
    body[cl] = 0;
    mini_http_request req = {method, target, &h, body, cl};
    const char *text = NULL;
    unsigned status = c->s->h(c->s->user, &req, &text);
    respond(fd, status, text);
out:
    shutdown(fd, SHUT_WR);
    close(fd);
    free(buf);
    free(body);
    dpt_headers_free(&h);
    mini_http *s = c->s;
    free(c);
    pthread_mutex_lock(&s->mu);
    if (--s->active == 0) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

static void *conn_main(void *arg)
{
    serve(arg);
    return NULL;
}

static void *accept_main(void *arg)
{
    mini_http *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        if (!(p[0].revents & POLLIN)) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        conn *c = malloc(sizeof *c);
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&s->mu);
        s->active++;
        pthread_mutex_unlock(&s->mu);
        if (c) {
            c->s = s;
            c->fd = fd;
        }
        if (!c || pthread_create(&t, &a, conn_main, c) != 0) {
            close(fd);
            free(c);
            pthread_mutex_lock(&s->mu);
            if (--s->active == 0) pthread_cond_broadcast(&s->idle);
            pthread_mutex_unlock(&s->mu);
        }
        pthread_attr_destroy(&a);
    }
    return NULL;
}

mini_http *mini_http_start(uint16_t port, mini_http_handler h, void *user, uint16_t *bound)
{
    mini_http *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->h = h;
    s->user = user;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int one = 1;
    if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 64) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0 || pipe2(s->wake, O_CLOEXEC) != 0 ||
        pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        int e = errno;
        if (s->lfd >= 0) close(s->lfd);
        if (s->wake[0] >= 0) close(s->wake[0]), close(s->wake[1]);
        free(s);
        errno = e;
        return NULL;
    }
    if (bound) *bound = ntohs(a.sin_port);
    return s;
}

void mini_http_stop(mini_http *s)
{
    if (!s) return;
    char x = 1;
    while (write(s->wake[1], &x, 1) < 0 && errno == EINTR) {
    }
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    /* Requests in flight finish within their socket timeouts; wait for them, bounded. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += IO_TIMEOUT_S;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->active && rc == 0)
        rc = pthread_cond_timedwait(&s->idle, &s->mu, &until);
    bool idle = s->active == 0;
    pthread_mutex_unlock(&s->mu);
    close(s->wake[0]);
    close(s->wake[1]);
    if (!idle) {
        fprintf(stderr, "mini_http: connections still open after %d s; server left allocated\n",
                IO_TIMEOUT_S);
        return; /* their threads still point at s */
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s);
}
