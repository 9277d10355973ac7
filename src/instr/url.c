/* url.c - URLs for HTTP spans: url.full with credentials and sensitive query values
 * replaced by REDACTED (the HTTP conventions' rule), the host and port of a URL for
 * server.address/server.port, and the HTTP method normalisation (_OTHER). Plain string
 * work with no allocation, shared by the libcurl and libmicrohttpd helpers and the nginx
 * module.
 */
#include "instr_internal.h"

#include <string.h>

/* The conventions' list of query keys whose values are redacted (compared
 * case-sensitively, as they say). */
static const char *const sensitive_keys[] = {
    "AWSAccessKeyId",  "Signature",        "sig", "X-Amz-Credential", "X-Amz-Security-Token",
    "X-Amz-Signature", "X-Goog-Signature", NULL};

typedef struct obuf {
    char *p;
    size_t cap, len;
} obuf;

static void out_n(obuf *b, const char *s, size_t n)
{
    if (b->len + n < b->cap) {
        memcpy(b->p + b->len, s, n);
    } else {
        for (size_t i = 0; i + b->len + 1 < b->cap && i < n; i++)
            b->p[b->len + i] = s[i];
    }
    b->len += n;
}

static void out_s(obuf *b, const char *s)
{
    out_n(b, s, strlen(s));
}

static const unsigned char sensitive_lens[] = {14, 9, 3, 16, 20, 15, 16};

int dpt__query_key_sensitive(const char *key, size_t n)
{
    for (size_t k = 0; sensitive_keys[k]; k++)
        if (sensitive_lens[k] == n && memcmp(sensitive_keys[k], key, n) == 0) return 1;
    /* dptrace's own addition: the process redaction policy (token, password, ...). */
    return n > 0 && dpt_redaction_matches(key, n);
}

size_t dpt__query_redact(const char *q, size_t n, char *out, size_t cap)
{
    obuf b = {out, out ? cap : 0, 0};
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && q[end] != '&')
            end++;
        const char *eq = memchr(q + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
        if (eq && dpt__query_key_sensitive(q + i, klen)) {
            out_n(&b, q + i, klen + 1);
            out_s(&b, DPT_URL_REDACTED);
        } else {
            out_n(&b, q + i, end - i);
        }
        if (end < n) out_n(&b, "&", 1);
        i = end + 1;
    }
    if (b.cap) b.p[b.len < b.cap ? b.len : b.cap - 1] = '\0';
    return b.len;
}

/* Splits url into its parts: [scheme "://"] [userinfo "@"] host [":" port] rest. */
typedef struct url_parts {
    const char *scheme;
    size_t scheme_len;
    const char *user; /* userinfo, NULL when none */
    size_t user_len;
    const char *host; /* without brackets for an IPv6 literal */
    size_t host_len;
    const char *port; /* NULL when none */
    size_t port_len;
    const char *rest; /* path, query, fragment */
    const char *authority_end;
} url_parts;

static int split(const char *u, size_t n, url_parts *p)
{
    memset(p, 0, sizeof *p);
    const char *end = u + n;
    const char *s = u;
    /* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" - not merely the
     * first ':' anywhere, which may sit in a query of a string that is no URL. */
    const char *colon = NULL;
    if (n && ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z'))) {
        const char *c = u + 1;
        while (c < end && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                           (*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))
            c++;
        if (c < end && *c == ':') colon = c;
    }
    if (colon && colon + 2 < end && colon[1] == '/' && colon[2] == '/') {
        p->scheme = u;
        p->scheme_len = (size_t)(colon - u);
        s = colon + 3;
    } else if (n >= 2 && u[0] == '/' && u[1] == '/') {
        s = u + 2; /* "//host/path" */
    } else {
        return 0; /* no authority: nothing to redact or split */
    }
    const char *a_end = s;
    while (a_end < end && *a_end != '/' && *a_end != '?' && *a_end != '#')
        a_end++;
    p->authority_end = a_end;
    p->rest = a_end;
    const char *at = NULL;
    for (const char *c = s; c < a_end; c++)
        if (*c == '@') at = c; /* the last '@' ends the userinfo */
    const char *h = s;
    if (at) {
        p->user = s;
        p->user_len = (size_t)(at - s);
        h = at + 1;
    }
    if (h < a_end && *h == '[') {
        const char *rb = memchr(h, ']', (size_t)(a_end - h));
        if (!rb) return 0;
        p->host = h + 1;
        p->host_len = (size_t)(rb - h - 1);
        if (rb + 1 < a_end && rb[1] == ':') {
            p->port = rb + 2;
            p->port_len = (size_t)(a_end - rb - 2);
        }
    } else {
        const char *pc = NULL;
        for (const char *c = h; c < a_end; c++)
            if (*c == ':') pc = c;
        p->host = h;
        p->host_len = (size_t)((pc ? pc : a_end) - h);
        if (pc) {
            p->port = pc + 1;
            p->port_len = (size_t)(a_end - pc - 1);
        }
    }
    return 1;
}

size_t dpt_instr_redact_url(const char *url, size_t len, char *out, size_t cap)
{
    obuf b = {out, out ? cap : 0, 0};
    if (!url) {
        if (b.cap) b.p[0] = '\0';
        return 0;
    }
    size_t n = len == DPT_NUL ? strlen(url) : len;
    url_parts p;
    const char *rest = url;
    if (split(url, n, &p) && p.user) {
        out_n(&b, url, (size_t)(p.user - url));
        const char *colon = memchr(p.user, ':', p.user_len);
        out_s(&b, colon ? DPT_URL_REDACTED ":" DPT_URL_REDACTED "@" : DPT_URL_REDACTED "@");
        rest = p.user + p.user_len + 1;
    }
    /* Copy up to the query; redact the query; copy the fragment. */
    const char *end = url + n;
    const char *q = memchr(rest, '?', (size_t)(end - rest));
    const char *frag = memchr(rest, '#', (size_t)(end - rest));
    if (q && frag && frag < q) q = NULL; /* a '?' inside the fragment */
    if (!q) {
        out_n(&b, rest, (size_t)(end - rest));
    } else {
        out_n(&b, rest, (size_t)(q + 1 - rest));
        const char *qend = frag ? frag : end;
        size_t need = dpt__query_redact(q + 1, (size_t)(qend - q - 1), NULL, 0);
        size_t room = b.len < b.cap ? b.cap - b.len : 0;
        dpt__query_redact(q + 1, (size_t)(qend - q - 1), room ? b.p + b.len : NULL, room);
        b.len += need;
        out_n(&b, qend, (size_t)(end - qend));
    }
    if (b.cap) b.p[b.len < b.cap ? b.len : b.cap - 1] = '\0';
    return b.len;
}

int dpt__url_host_port(const char *url, size_t n, const char **host, size_t *host_len, long *port)
{
    url_parts p;
    if (!url || !split(url, n, &p) || p.host_len == 0) return 0;
    *host = p.host;
    *host_len = p.host_len;
    *port = -1; /* also for a port that is not a number (the early return below) */
    long v = -1;
    if (p.port && p.port_len > 0 && p.port_len <= 5) {
        v = 0;
        for (size_t i = 0; i < p.port_len; i++) {
            if (p.port[i] < '0' || p.port[i] > '9') return 1; /* host only */
            v = v * 10 + (p.port[i] - '0');
        }
        if (v > 65535) v = -1;
    }
    if (v < 0 && p.scheme) { /* the scheme's default port */
        if (p.scheme_len == 4 && strncasecmp_ascii(p.scheme, "http", 4) == 0)
            v = 80;
        else if (p.scheme_len == 5 && strncasecmp_ascii(p.scheme, "https", 5) == 0)
            v = 443;
    }
    *port = v;
    return 1;
}

int dpt__host_header(const char *h, size_t n, const char **host, size_t *host_len, long *port)
{
    /* "host", "host:port", "[v6]", "[v6]:port" */
    *port = -1;
    if (!h || n == 0) return 0;
    const char *end = h + n;
    if (*h == '[') {
        const char *rb = memchr(h, ']', n);
        if (!rb) return 0;
        *host = h + 1;
        *host_len = (size_t)(rb - h - 1);
        h = rb + 1;
        if (h < end && *h != ':') return 0;
    } else {
        const char *c = memchr(h, ':', n);
        *host = h;
        *host_len = (size_t)((c ? c : end) - h);
        h = c ? c : end;
    }
    if (h < end) { /* ":port" */
        long v = 0;
        size_t digits = 0;
        for (const char *c = h + 1; c < end; c++, digits++) {
            if (*c < '0' || *c > '9' || digits == 5) return *host_len > 0; /* the host alone */
            v = v * 10 + (*c - '0');
        }
        if (digits && v <= 65535) *port = v;
    }
    return *host_len > 0;
}

/* The methods the conventions call known (RFC 9110, PATCH, QUERY). */
static const char *const known_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY", NULL};

const char *dpt__http_method(const char *m, size_t n)
{
    if (!m) return "_OTHER";
    for (const char *const *k = known_methods; *k; k++)
        if (strlen(*k) == n && memcmp(*k, m, n) == 0) return *k;
    return "_OTHER";
}
