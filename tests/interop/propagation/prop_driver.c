/* prop_driver.c - the dptrace side of the differential propagation test.
 *
 * Reads cases from stdin, one per line: id TAB propagator TAB (name TAB x<hex(value)>)* and,
 * for each, extracts with that propagator and injects the result into an empty carrier.
 * Writes one line per case: id TAB "ok" TAB (name=hex(value) TAB)* with the injected
 * headers sorted by name. Values are hex so that any byte survives the line format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrace.h"
#include "dptrace/propagation.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes hex in place; returns the byte length. */
static size_t unhex(char *s)
{
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s[o++] = (char)(hexval(s[i]) << 4 | hexval(s[i + 1]));
    s[o] = 0;
    return o;
}

static const dpt_propagator *by_name(const char *n)
{
    if (!strcmp(n, "tracecontext")) return dpt_propagator_tracecontext();
    if (!strcmp(n, "baggage")) return dpt_propagator_baggage();
    if (!strcmp(n, "b3")) return dpt_propagator_b3();
    if (!strcmp(n, "b3multi")) return dpt_propagator_b3multi();
    if (!strcmp(n, "jaeger")) return dpt_propagator_jaeger();
    if (!strcmp(n, "ottrace")) return dpt_propagator_ottrace();
    return NULL;
}

static int cmp_hdr(const void *a, const void *b)
{
    const dpt_header *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int main(void)
{
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *save = NULL;
        char *id = strtok_r(line, "\t", &save);
        char *pn = strtok_r(NULL, "\t", &save);
        if (!id || !pn) continue;
        const dpt_propagator *p = by_name(pn);
        if (!p) {
            printf("%s\tbad-propagator\n", id);
            continue;
        }
        dpt_headers in = DPT_HEADERS_INIT, out = DPT_HEADERS_INIT;
        char *name, *val;
        while ((name = strtok_r(NULL, "\t", &save)) && (val = strtok_r(NULL, "\t", &save))) {
            if (*val == 'x') val++; /* the 'x' keeps empty values from vanishing in strtok */
            size_t vl = unhex(val);
            dpt_headers_add(&in, name, DPT_NUL, val, vl);
        }
        dpt_context *c = NULL;
        dpt_err e = dpt_propagator_extract(p, &dpt_headers_getter, &in, &c);
        if (!c) {
            printf("%s\terror-%d\n", id, (int)e);
        } else {
            dpt_err ie = dpt_propagator_inject(p, c, &dpt_headers_setter, &out);
            if (ie != DPT_OK) {
                printf("%s\tinject-error-%d\n", id, (int)ie);
            } else {
                if (out.n) qsort(out.v, out.n, sizeof *out.v, cmp_hdr); /* v is NULL when empty */
                printf("%s\tok", id);
                for (size_t i = 0; i < out.n; i++) {
                    printf("\t%s=", out.v[i].name);
                    for (size_t k = 0; k < out.v[i].value_len; k++)
                        printf("%02x", (unsigned char)out.v[i].value[k]);
                }
                printf("\n");
            }
        }
        dpt_context_release(c);
        dpt_headers_free(&in);
        dpt_headers_free(&out);
    }
    return 0;
}
