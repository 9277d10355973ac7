/* fuzz_encode.c - libFuzzer target: the encoders (OTLP/JSON, Zipkin v2 JSON, OTLP
 * protobuf) on spans made of hostile bytes - names, keys, values, event names, status
 * messages and the service name with NULs, invalid UTF-8, control characters, NaN and
 * infinite doubles, extreme times - as any application passes them through the API.
 *
 * Input: the first byte sets the value length limit (0: none), the rest is cut at '\n'
 * into pieces: the service name, the span name, then (key, value) pairs; a value starting
 * with 'i' is an int, 'd' a double (its next 8 bytes), 't' an event at a time made of its
 * bytes, anything else a string; the last piece is the status message.
 * Invariants: every JSON output is JSON that jansson accepts (which checks UTF-8), every
 * encoder succeeds, and the protobuf output is not empty.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "dptrace/export.h"

static void quiet(dpt_log_level l, const char *m, void *u)
{
    (void)l;
    (void)m;
    (void)u;
}

/* RFC 8259 allows "\u0000" in object keys, jansson does not (it keeps keys as C strings):
 * a key with a NUL (the API takes keys with a length, so it can hold one) is valid JSON
 * that jansson refuses. Such escapes are checked as "\u0001" instead, the same length and
 * the same grammar, so that everything else is still validated. */
static void check_json(const char *s, size_t n)
{
    json_error_t err;
    char *c = malloc(n ? n : 1);
    if (!c) abort();
    memcpy(c, s, n);
    for (size_t i = 0; i + 6 <= n; i++)
        if (memcmp(c + i, "\\u0000", 6) == 0) c[i + 5] = '1';
    json_t *j = json_loadb(c, n, JSON_ALLOW_NUL, &err);
    free(c);
    if (!j) {
        fprintf(stderr, "invalid JSON: %s at %d: %.*s\n", err.text, err.position,
                (int)(n > 400 ? 400 : n), s);
        abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        dpt_log_set_handler(quiet, NULL, DPT_LOG_OFF);
        init = 1;
    }
    if (size < 2) return 0;
    const char *pieces[64];
    size_t lens[64], np = 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1, i = 0;
    while (i <= n && np < 64) {
        size_t j = i;
        while (j < n && s[j] != '\n')
            j++;
        pieces[np] = s + i;
        lens[np++] = j - i;
        i = j + 1;
    }
    if (np < 2) return 0;
    char svc[256];
    size_t sl = lens[0] < sizeof svc - 1 ? lens[0] : sizeof svc - 1;
    memcpy(svc, pieces[0], sl);
    svc[sl] = 0;
    dpt_span_limits lim;
    dpt_span_limits_default(&lim);
    lim.attr_value_len = data[0];
    dpt_exporter *mem = dpt_exporter_memory(4);
    dpt_processor *proc = dpt_processor_simple(mem);
    dpt_provider_config cfg = {0};
    cfg.service_name = svc;
    cfg.sampler = dpt_sampler_always_on();
    cfg.limits = &lim;
    cfg.processors = &proc;
    cfg.n_processors = 1;
    dpt_provider *p = dpt_provider_new(&cfg);
    if (!p) return 0;
    dpt_tracer *t = dpt_provider_get_tracer(p, svc, svc);
    dpt_span sp = dpt_span_start(t, "x", DPT_SPAN_SERVER, NULL);
    char name[512];
    size_t nl = lens[1] < sizeof name - 1 ? lens[1] : sizeof name - 1;
    memcpy(name, pieces[1], nl);
    name[nl] = 0;
    dpt_span_update_name(sp, name);
    for (size_t k = 2; k + 1 < np; k += 2) {
        const char *key = pieces[k], *v = pieces[k + 1];
        size_t kl = lens[k], vl = lens[k + 1];
        if (vl && v[0] == 'i') {
            int64_t x = 0;
            memcpy(&x, v + 1, vl - 1 < 8 ? vl - 1 : 8);
            dpt_attr a = DPT_INT("", x);
            a.key = key;
            a.key_len = (uint32_t)kl;
            dpt_span_set_attr(sp, &a);
        } else if (vl && v[0] == 'd') {
            double x = 0;
            memcpy(&x, v + 1, vl - 1 < 8 ? vl - 1 : 8);
            dpt_attr a = DPT_DOUBLE("", x);
            a.key = key;
            a.key_len = (uint32_t)kl;
            dpt_span_set_attr(sp, &a);
        } else if (vl && v[0] == 't') {
            uint64_t at = 0;
            memcpy(&at, v + 1, vl - 1 < 8 ? vl - 1 : 8);
            char ev[128];
            size_t el = kl < sizeof ev - 1 ? kl : sizeof ev - 1;
            memcpy(ev, key, el);
            ev[el] = 0;
            dpt_attr a = DPT_STRN("k", v, vl);
            dpt_span_add_event_at(sp, ev, at, &a, 1);
        } else {
            dpt_span_set_strn(sp, key, kl, v, vl);
        }
    }
    char msg[512];
    size_t ml = lens[np - 1] < sizeof msg - 1 ? lens[np - 1] : sizeof msg - 1;
    memcpy(msg, pieces[np - 1], ml);
    msg[ml] = 0;
    dpt_span_set_status(sp, DPT_STATUS_ERROR, msg);
    dpt_span_end(sp);
    if (dpt_exporter_memory_count(mem) == 1) {
        const dpt_span_data *d = dpt_exporter_memory_get(mem, 0);
        char *out = NULL;
        size_t len = 0;
        FUZZ_CHECK(dpt_otlp_json_encode(&d, 1, &out, &len) == DPT_OK);
        check_json(out, len);
        dpt_free(out);
        FUZZ_CHECK(dpt_zipkin_json_encode(&d, 1, &out, &len) == DPT_OK);
        check_json(out, len);
        dpt_free(out);
        uint8_t *pb = NULL;
        FUZZ_CHECK(dpt_otlp_proto_encode(&d, 1, &pb, &len) == DPT_OK && len > 0);
        dpt_free(pb);
        dpt_span_data_release(d);
    }
    dpt_provider_free(p);
    return 0;
}
