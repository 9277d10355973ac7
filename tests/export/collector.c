/* collector.c - the scriptable test collector of collector.h, on libmicrohttpd with one
 * thread per connection (so a stalled answer holds only its own connection). It decodes
 * bodies itself (zlib, a minimal protobuf walk, jansson) to count the spans it got.
 */
#include "collector.h"
#include "pb_read.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_SCRIPT 256
#define MAX_REQS 100000

struct collector {
    struct MHD_Daemon *d;
    uint16_t port;
    char *tls_cert, *tls_key; /* PEM text; NULL: plain HTTP */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; stall releases and request arrivals */
    col_action script[MAX_SCRIPT];
    size_t s_head, s_len;
    col_action dflt;
    bool release; /* stalls end at once */
    col_request *reqs;
    size_t n_reqs;
    size_t spans_accepted, spans_received;
    _Atomic uint64_t big_served; /* bytes of COL_BIG answers handed to libmicrohttpd */
};

typedef struct conn_ctx {
    char *body;
    size_t len, cap;
} conn_ctx;

uint64_t col_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- body decoding ------------------------------------------------------------------- */

/* Calls fn on each length-delimited occurrence of field `field` (the project's one wire
 * reader, src/common/pb_read.h); -1 on malformed input. */
static long pb_each(const uint8_t *p, size_t n, uint32_t field, long (*fn)(const uint8_t *, size_t))
{
    pbr_msg m = pbr_init(p, n);
    pbr_field f;
    long total = 0;
    int rc;
    while ((rc = pbr_next(&m, &f)) > 0) {
        if (f.wire != PBR_LEN || f.num != field) continue;
        long r = fn ? fn(f.data, f.len) : 1;
        if (r < 0) return -1;
        total += r;
    }
    return rc < 0 ? -1 : total;
}

static long count_spans_in_scope(const uint8_t *p, size_t n)
{
    return pb_each(p, n, 2, NULL);
}
static long count_spans_in_rs(const uint8_t *p, size_t n)
{
    return pb_each(p, n, 2, count_spans_in_scope);
}

static size_t count_json(const char *s, size_t n, bool zipkin)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    if (!j) return 0;
    size_t total = 0;
    if (zipkin) {
        total = json_array_size(j);
    } else {
        size_t i, k;
        json_t *rs, *ss;
        json_array_foreach(json_object_get(j, "resourceSpans"), i, rs)
        {
            json_array_foreach(json_object_get(rs, "scopeSpans"), k, ss)
            {
                total += json_array_size(json_object_get(ss, "spans"));
            }
        }
    }
    json_decref(j);
    return total;
}

static char *gunzip(const char *in, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return NULL;
    size_t cap = n * 4 + 1024, len = 0;
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (cap - len < 4096) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = (Bytef *)out + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *out_len = len;
    return out;
}

/* ---- request handling ---------------------------------------------------------------- */

static void copy_header(struct MHD_Connection *con, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);
    snprintf(out, cap, "%s", v ? v : "");
}

static col_action next_action(collector *c)
{
    col_action a = c->dflt;
    if (c->s_len) {
        a = c->script[c->s_head];
        c->s_head = (c->s_head + 1) % MAX_SCRIPT;
        c->s_len--;
    }
    return a;
}

static void stall(collector *c, uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (!c->release && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

static enum MHD_Result answer(struct MHD_Connection *con, int status, const char *body, size_t len,
                              const char *ctype, const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static ssize_t big_fill(void *cls, uint64_t pos, char *buf, size_t max)
{
    collector *c = cls;
    memset(buf, 0, max);
    uint64_t end = pos + max, seen = atomic_load(&c->big_served);
    while (end > seen && !atomic_compare_exchange_weak(&c->big_served, &seen, end)) {
    }
    return (ssize_t)max;
}

static enum MHD_Result answer_big(struct MHD_Connection *con, collector *c, uint64_t bytes)
{
    struct MHD_Response *r = MHD_create_response_from_callback(bytes, 64 * 1024, big_fill, c, NULL);
    MHD_add_response_header(r, "Content-Type", "application/x-protobuf");
    enum MHD_Result ret = MHD_queue_response(con, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_error(struct MHD_Connection *con, int status, const char *message,
                                    const char *retry_after)
{
    struct MHD_Response *r;
    if (status >= 300 && status < 400) {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Location", message);
    } else {
        json_t *j = json_pack("{s:i,s:s}", "code", 3, "message", message);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
    }
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)method;
    collector *c = cls;
    conn_ctx *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        *con_cls = cx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (cx->len + *upload_data_size > cx->cap) {
            cx->cap = (cx->len + *upload_data_size) * 2;
            cx->body = realloc(cx->body, cx->cap);
        }
        memcpy(cx->body + cx->len, upload_data, *upload_data_size);
        cx->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }

    col_request rq;
    memset(&rq, 0, sizeof rq);
    snprintf(rq.path, sizeof rq.path, "%s", url);
    copy_header(con, "Content-Type", rq.content_type, sizeof rq.content_type);
    copy_header(con, "x-api-key", rq.api_key, sizeof rq.api_key);
    const char *key = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "x-api-key");
    rq.api_key_len = key ? strlen(key) : 0;
    copy_header(con, "User-Agent", rq.user_agent, sizeof rq.user_agent);
    char enc[32];
    copy_header(con, "Content-Encoding", enc, sizeof enc);
    rq.gzip = strcmp(enc, "gzip") == 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        rq.client_port = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);

    char *body = cx->body;
    size_t blen = cx->len;
    char *plain = NULL;
    rq.body_hash = 1469598103934665603ull;
    for (size_t i = 0; i < cx->len; i++)
        rq.body_hash = (rq.body_hash ^ (uint8_t)cx->body[i]) * 1099511628211ull;
    rq.body_len = cx->len;
    if (rq.gzip) {
        plain = gunzip(cx->body, cx->len, &blen);
        body = plain;
    }
    bool json = strstr(rq.content_type, "json") != NULL;
    bool zipkin = strstr(url, "/api/v2/spans") != NULL;
    if (body) {
        if (json) {
            rq.spans = count_json(body, blen, zipkin);
        } else {
            long n = pb_each((const uint8_t *)body, blen, 1, count_spans_in_rs);
            rq.spans = n > 0 ? (size_t)n : 0;
        }
    }
    free(plain);
    free(cx->body);
    cx->body = NULL;
    cx->len = cx->cap = 0;

    /* The request is on record as soon as its body is in (answered 0 while it stalls),
     * so a test can wait for "the exporter is now inside a request". */
    pthread_mutex_lock(&c->mu);
    col_action a = next_action(c);
    rq.at_ms = col_now_ms();
    size_t slot = c->n_reqs < MAX_REQS ? c->n_reqs++ : MAX_REQS;
    if (slot < MAX_REQS) c->reqs[slot] = rq;
    c->spans_received += rq.spans;
    pthread_cond_broadcast(&c->cv);
    if (a.kind == COL_STALL) stall(c, a.stall_ms);
    int status = zipkin ? 202 : 200;
    if (a.kind == COL_STATUS) status = a.status;
    if (slot < MAX_REQS) c->reqs[slot].answered = status;
    /* An answer over the client's size limit is a failure for the client (OTLP: "the
     * client MUST treat the response as a non-retryable error"), whatever the server
     * meant: not counted as accepted, so that accepted == exported still holds. */
    if (status >= 200 && status < 300 && a.kind != COL_BIG) c->spans_accepted += rq.spans;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);

    if (a.kind == COL_PARTIAL) {
        if (json) {
            char buf[512];
            int n = snprintf(
                buf, sizeof buf,
                "{\"partialSuccess\":{\"rejectedSpans\":\"%lld\",\"errorMessage\":\"%s\"}}",
                (long long)a.rejected, a.message ? a.message : "");
            return answer(con, 200, buf, (size_t)n, "application/json", NULL);
        }
        uint8_t inner[300], buf[320];
        size_t k = 0;
        inner[k++] = 0x08;
        uint64_t v = (uint64_t)a.rejected;
        while (v >= 0x80) {
            inner[k++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        inner[k++] = (uint8_t)v;
        size_t ml = a.message ? strlen(a.message) : 0;
        if (ml > 200) ml = 200;
        inner[k++] = 0x12;
        inner[k++] = (uint8_t)ml;
        memcpy(inner + k, a.message, ml);
        k += ml;
        buf[0] = 0x0a;
        buf[1] = (uint8_t)k;
        memcpy(buf + 2, inner, k);
        return answer(con, 200, (const char *)buf, k + 2, "application/x-protobuf", NULL);
    }
    if (a.kind == COL_BIG) return answer_big(con, c, a.big_bytes);
    if (a.kind == COL_STATUS && a.message)
        return answer_error(con, status, a.message, a.retry_after);
    return answer(con, status, "", 0, json ? "application/json" : "application/x-protobuf",
                  a.kind == COL_STATUS ? a.retry_after : NULL);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    conn_ctx *cx = *con_cls;
    if (cx) {
        free(cx->body);
        free(cx);
        *con_cls = NULL;
    }
}

static bool listen_on(collector *c, uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (c->tls_cert)
        c->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, c,
                                MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                                (unsigned)1, MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                MHD_OPTION_HTTPS_MEM_CERT, c->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
                                c->tls_key, MHD_OPTION_END);
    else
        c->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, c, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!c->d) return false;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(c->d, MHD_DAEMON_INFO_BIND_PORT);
    c->port = di ? di->port : port;
    return c->port != 0;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf && n == 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

collector *collector_start_tls(uint16_t port, const char *cert_file, const char *key_file)
{
    collector *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->reqs = calloc(MAX_REQS, sizeof *c->reqs);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->dflt.kind = COL_OK;
    if (cert_file) {
        c->tls_cert = read_all(cert_file);
        c->tls_key = read_all(key_file);
    }
    if (!c->reqs || (cert_file && (!c->tls_cert || !c->tls_key)) || !listen_on(c, port)) {
        free(c->tls_cert);
        free(c->tls_key);
        free(c->reqs);
        free(c);
        return NULL;
    }
    return c;
}

collector *collector_start(uint16_t port)
{
    return collector_start_tls(port, NULL, NULL);
}

uint16_t collector_port(collector *c)
{
    return c->port;
}

void collector_release_stalls(collector *c)
{
    pthread_mutex_lock(&c->mu);
    c->release = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void collector_pause(collector *c)
{
    if (c->d) {
        collector_release_stalls(c);
        MHD_stop_daemon(c->d);
        c->d = NULL;
        pthread_mutex_lock(&c->mu);
        c->release = false;
        pthread_mutex_unlock(&c->mu);
    }
}

bool collector_resume(collector *c)
{
    return c->d || listen_on(c, c->port);
}

void collector_stop(collector *c)
{
    if (!c) return;
    collector_pause(c);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->reqs);
    free(c);
}

void collector_script(collector *c, const col_action *a, size_t n)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n && c->s_len < MAX_SCRIPT; i++) {
        c->script[(c->s_head + c->s_len) % MAX_SCRIPT] = a[i];
        c->s_len++;
    }
    pthread_mutex_unlock(&c->mu);
}

void collector_set_default(collector *c, col_action a)
{
    pthread_mutex_lock(&c->mu);
    c->dflt = a;
    pthread_mutex_unlock(&c->mu);
}

size_t collector_requests(collector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n_reqs;
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t collector_big_bytes_served(collector *c)
{
    return atomic_load(&c->big_served);
}

size_t collector_spans_accepted(collector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->spans_accepted;
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t collector_spans_received(collector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->spans_received;
    pthread_mutex_unlock(&c->mu);
    return n;
}

bool collector_request(collector *c, size_t i, col_request *out)
{
    pthread_mutex_lock(&c->mu);
    bool ok = i < c->n_reqs;
    if (ok) *out = c->reqs[i];
    pthread_mutex_unlock(&c->mu);
    return ok;
}

bool collector_wait_requests(collector *c, size_t n, uint32_t timeout_ms)
{
    uint64_t end = col_now_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (c->n_reqs < n) {
        uint64_t now = col_now_ms();
        if (now >= end) break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ms = end - now < 50 ? end - now : 50;
        ts.tv_nsec += (long)ms * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    bool ok = c->n_reqs >= n;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

uint16_t col_closed_port(void)
{
    collector *c = collector_start(0);
    uint16_t p = c ? collector_port(c) : 0;
    if (c) collector_stop(c);
    return p;
}

/* ---- in a child process ------------------------------------------------------------------ */

static bool read_fd(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r <= 0) return false;
        c += r;
        n -= (size_t)r;
    }
    return true;
}

bool col_remote_start(col_remote *r, const col_action *dflt, const char *cert, const char *key)
{
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0) return false;
    if (pipe(from_child) != 0) return false;
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        collector *col = collector_start(0);
        if (!col) _exit(2);
        if (dflt) collector_set_default(col, *dflt);
        collector *tls = cert ? collector_start_tls(0, cert, key) : NULL;
        if (cert && !tls) _exit(2);
        uint16_t ports[2] = {collector_port(col), tls ? collector_port(tls) : 0};
        if (write(from_child[1], ports, sizeof ports) != (ssize_t)sizeof ports) _exit(3);
        char b;
        if (read(to_child[0], &b, 1) != 1) _exit(4);
        collector_release_stalls(col);
        uint64_t accepted = collector_spans_accepted(col);
        if (write(from_child[1], &accepted, sizeof accepted) != (ssize_t)sizeof accepted) _exit(5);
        collector_stop(col);
        if (tls) collector_stop(tls);
        _exit(0);
    }
    close(to_child[0]);
    close(from_child[1]);
    r->pid = pid;
    r->cmd = to_child[1];
    r->reply = from_child[0];
    uint16_t ports[2];
    if (!read_fd(r->reply, ports, sizeof ports)) return false;
    r->port = ports[0];
    r->tls_port = ports[1];
    return true;
}

uint64_t col_remote_stop(col_remote *r)
{
    uint64_t accepted = UINT64_MAX;
    char b = 'q';
    if (write(r->cmd, &b, 1) == 1 && !read_fd(r->reply, &accepted, sizeof accepted))
        accepted = UINT64_MAX;
    int status = 0;
    waitpid(r->pid, &status, 0);
    close(r->cmd);
    close(r->reply);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return UINT64_MAX;
    return accepted;
}

bool col_make_cert(const char *dir, char *cert, char *key, size_t cap)
{
    snprintf(cert, cap, "%s/cert.pem", dir);
    snprintf(key, cap, "%s/key.pem", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
             ">/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0;
}
