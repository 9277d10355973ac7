/* demo_check.c - checks the mesh demo run with nginx in front (scripts/demo.sh,
 * DEMO_NGINX=1): every checkout is one trace whose root is nginx's SERVER span and which
 * reaches inventory's SQLite query through the gateway and orders (W3C Trace Context:
 * each hop continues the trace as a child of the previous span), and nginx's access log
 * names every trace.
 *   demo_check TRACES ACCESS_LOG N
 */
#include "ngx_harness.h"

static h_spans sp;

static const h_span *child(const h_span *p, const char *service, int kind, const char *name)
{
    for (size_t i = 0; i < sp.n; i++) {
        const h_span *s = &sp.v[i];
        if (!strcmp(s->trace, p->trace) && !strcmp(s->parent, p->id) &&
            !strcmp(s->service, service) && s->kind == kind && (!*name || !strcmp(s->name, name)))
            return s;
    }
    return NULL;
}

#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "demo_check: " __VA_ARGS__);                                           \
            fprintf(stderr, "\n");                                                                 \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: demo_check TRACES ACCESS_LOG N\n");
        return 2;
    }
    sp = h_load(argv[1]);
    long want = atol(argv[3]), roots = 0, complete = 0;
    for (size_t i = 0; i < sp.n; i++) {
        const h_span *s = &sp.v[i];
        if (s->kind == 2 && !strcmp(s->service, "gateway"))
            CHECK(*s->parent, "trace %s: the gateway started a trace behind nginx", s->trace);
        if (strcmp(s->service, "nginx") || s->kind != 2) continue;
        CHECK(!*s->parent, "trace %s: nginx's span has a parent", s->trace);
        CHECK(!strcmp(s->name, "GET /checkout"), "nginx span named %s", s->name);
        roots++;
        const h_span *c = child(s, "nginx", 3, "GET");
        CHECK(c, "trace %s: no nginx client span", s->trace);
        const h_span *g = child(c, "gateway", 2, "GET /checkout");
        CHECK(g, "trace %s: the gateway did not continue nginx's trace", s->trace);
        const h_span *gc = child(g, "gateway", 3, "POST /orders");
        const h_span *os = gc ? child(gc, "orders", 2, "POST /orders") : NULL;
        const h_span *oi = os ? child(os, "orders", 3, "GET /stock/{sku}") : NULL;
        const h_span *is = oi ? child(oi, "inventory", 2, "GET /stock/{sku}") : NULL;
        const h_span *db = is ? child(is, "inventory", 3, "SELECT stock") : NULL;
        CHECK(db, "trace %s: does not reach inventory's SQLite span", s->trace);
        complete++;
    }
    CHECK(roots == want, "%ld nginx traces, wanted %ld", roots, want);
    /* the access log: one line per request, naming a trace that exists */
    FILE *f = fopen(argv[2], "r");
    CHECK(f, "cannot read %s", argv[2]);
    char line[1024];
    long lines = 0;
    while (fgets(line, sizeof line, f)) {
        const char *t = strstr(line, "trace=");
        CHECK(t && strlen(t) >= 6 + 32, "access log line without a trace id: %s", line);
        bool known = false;
        for (size_t i = 0; i < sp.n && !known; i++)
            known = !strncmp(sp.v[i].trace, t + 6, 32) && !strcmp(sp.v[i].service, "nginx");
        CHECK(known, "access log names an unknown trace: %s", line);
        lines++;
    }
    fclose(f);
    CHECK(lines == want, "%ld access log lines, wanted %ld", lines, want);
    printf("demo_check: %ld traces from nginx to inventory's SQLite span, %ld access log lines\n",
           complete, lines);
    h_spans_free(&sp);
    return 0;
}
