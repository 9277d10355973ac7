/* sampler.c - always on/off, trace-id ratio, consistent probability, parent-based,
 * rate-limiting and user samplers.
 *
 * Ratio and probability decisions are pure functions of the trace id (and of an explicit
 * ot=rv: randomness in tracestate), so every service of a mesh decides the same way for
 * one trace. The probability sampler follows OpenTelemetry's consistent probability
 * sampling: R = 56 random bits, T = rejection threshold, sample when R >= T, and record
 * th:<T> in the "ot" tracestate entry so downstream services and collectors know the
 * probability the span was sampled with.
 */
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX56 (1ull << 56)

/* struct dpt_sampler is in internal.h: the span start decides the common cases inline. */

static dpt_sampler *new_sampler(int type, const char *desc)
{
    dpt_sampler *s = dpt__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->type = type;
    s->desc = dpt__strndup(desc, strlen(desc));
    if (!s->desc) {
        free(s);
        return NULL;
    }
    return s;
}

dpt_sampler *dpt_sampler_always_on(void)
{
    return new_sampler(DPT__SAMPLER_ALWAYS_ON, "AlwaysOnSampler");
}
dpt_sampler *dpt_sampler_always_off(void)
{
    return new_sampler(DPT__SAMPLER_ALWAYS_OFF, "AlwaysOffSampler");
}

dpt_sampler *dpt_sampler_traceid_ratio(double ratio)
{
    if (!(ratio >= 0.0 && ratio <= 1.0)) return NULL; /* also rejects NaN */
    char d[64];
    snprintf(d, sizeof d, "TraceIdRatioBased{%g}", ratio);
    dpt_sampler *s = new_sampler(DPT__SAMPLER_RATIO, d);
    if (s) s->bound = ratio >= 1.0 ? (1ull << 63) : (uint64_t)(ratio * (double)(1ull << 63));
    return s;
}

/* Encodes T as OpenTelemetry's th value: 14 hex digits, trailing zeros removed, "0" for 0. */
static void encode_th(uint64_t t, char out[32])
{
    if (t == 0) {
        out[0] = '0';
        out[1] = 0;
        return;
    }
    snprintf(out, 32, "%014llx", (unsigned long long)(t & 0xffffffffffffffull));
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '0')
        out[--n] = 0;
}

dpt_sampler *dpt_sampler_probability(double p)
{
    if (!(p >= 0.0 && p <= 1.0)) return NULL;
    char d[64];
    snprintf(d, sizeof d, "ProbabilitySampler{%g}", p);
    dpt_sampler *s = new_sampler(DPT__SAMPLER_PROBABILITY, d);
    if (!s) return NULL;
    if (p <= 0.0) {
        s->bound = MAX56; /* no R is >= 2^56: never samples */
        s->th[0] = 0;
    } else {
        /* round((1 - p) * 2^56): long double keeps the 56 bits exact. */
        long double t = (1.0L - (long double)p) * (long double)MAX56 + 0.5L; /* no libm */
        s->bound = t >= (long double)MAX56 ? MAX56 - 1 : (uint64_t)t;
        encode_th(s->bound, s->th);
    }
    return s;
}

dpt_sampler *dpt_sampler_parent_based(dpt_sampler *root, dpt_sampler *rs, dpt_sampler *rns,
                                      dpt_sampler *ls, dpt_sampler *lns)
{
    dpt_sampler *in[5] = {root, rs, rns, ls, lns};
    dpt_sampler *s = NULL;
    if (!root) goto fail;
    for (int i = 1; i < 5; i++) {
        if (in[i]) continue;
        in[i] = (i == 1 || i == 3) ? dpt_sampler_always_on() : dpt_sampler_always_off();
        if (!in[i]) goto fail;
    }
    char d[512];
    snprintf(d, sizeof d,
             "ParentBased{root=%s,remoteParentSampled=%s,remoteParentNotSampled=%s,"
             "localParentSampled=%s,localParentNotSampled=%s}",
             in[0]->desc, in[1]->desc, in[2]->desc, in[3]->desc, in[4]->desc);
    s = new_sampler(DPT__SAMPLER_PARENT, d);
    if (!s) goto fail;
    memcpy(s->d, in, sizeof in);
    return s;
fail:
    for (int i = 0; i < 5; i++)
        dpt_sampler_free(in[i]);
    return NULL;
}

dpt_sampler *dpt_sampler_always_record(dpt_sampler *root)
{
    if (!root) return NULL;
    char d[512];
    snprintf(d, sizeof d, "AlwaysRecord{%s}", root->desc);
    dpt_sampler *s = new_sampler(DPT__SAMPLER_ALWAYS_RECORD, d);
    if (!s) {
        dpt_sampler_free(root);
        return NULL;
    }
    s->d[0] = root;
    return s;
}

dpt_sampler *dpt_sampler_custom(dpt_sample_fn fn, void *user, void (*free_user)(void *),
                                const char *description)
{
    dpt_sampler *s =
        fn ? new_sampler(DPT__SAMPLER_CUSTOM, description ? description : "Custom") : NULL;
    if (!s) {
        if (free_user) free_user(user);
        return NULL;
    }
    s->fn = fn;
    s->user = user;
    s->free_user = free_user;
    return s;
}

dpt_sampler *dpt_sampler_rate_limiting(double per_second)
{
    if (!(per_second >= 0.0) || isinf(per_second)) return NULL;
    char d[64];
    snprintf(d, sizeof d, "RateLimiting{%g}", per_second);
    dpt_sampler *s = new_sampler(DPT__SAMPLER_RATE, d);
    if (!s) return NULL;
    s->per_second = per_second;
    s->tokens = per_second < 1.0 ? 1.0 : per_second; /* start with a full bucket */
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void dpt_sampler_free(dpt_sampler *s)
{
    if (!s) return;
    for (int i = 0; i < 5; i++)
        dpt_sampler_free(s->d[i]);
    if (s->free_user) s->free_user(s->user);
    if (s->type == DPT__SAMPLER_RATE) pthread_mutex_destroy(&s->mu);
    free(s->desc);
    free(s);
}

const char *dpt_sampler_description(const dpt_sampler *s)
{
    return s ? s->desc : "";
}

/* ---- decisions ------------------------------------------------------------------------- */

/* Reads sub-key `sub` (e.g. "rv") of the "ot" tracestate entry into buf. */
static bool ot_subkey(const dpt_tracestate *ts, const char *sub, char *buf, size_t cap)
{
    char ot[257];
    if (!ts || dpt_tracestate_get(ts, "ot", ot, sizeof ot) != DPT_OK) return false;
    size_t sn = strlen(sub);
    for (char *p = ot; p && *p;) {
        char *semi = strchr(p, ';');
        size_t n = semi ? (size_t)(semi - p) : strlen(p);
        if (n > sn && p[sn] == ':' && memcmp(p, sub, sn) == 0) {
            size_t vn = n - sn - 1;
            if (vn + 1 > cap) return false;
            memcpy(buf, p + sn + 1, vn);
            buf[vn] = 0;
            return true;
        }
        p = semi ? semi + 1 : NULL;
    }
    return false;
}

/* A tracestate equal to ts with ot's th sub-key set to th (other sub-keys kept). */
static dpt_tracestate *with_th(const dpt_tracestate *ts, const char *th)
{
    char ot[257] = "", out[300];
    size_t o = 0;
    o += (size_t)snprintf(out, sizeof out, "th:%s", th);
    if (ts && dpt_tracestate_get(ts, "ot", ot, sizeof ot) == DPT_OK) {
        for (char *p = ot; p && *p;) {
            char *semi = strchr(p, ';');
            size_t n = semi ? (size_t)(semi - p) : strlen(p);
            if (!(n >= 3 && memcmp(p, "th:", 3) == 0) && o + n + 1 < sizeof out) {
                out[o++] = ';';
                memcpy(out + o, p, n);
                o += n;
                out[o] = 0;
            }
            p = semi ? semi + 1 : NULL;
        }
    }
    if (o > 256) return NULL; /* cannot happen with a valid ot entry; keep the old state */
    dpt_tracestate *res = NULL;
    dpt_tracestate_set(ts, "ot", out, &res);
    return res;
}

static void decide_probability(const dpt_sampler *s, const dpt_sampling_params *in,
                               dpt_sampling_result *out)
{
    uint64_t r = dpt__be_bytes(in->trace_id->b + 9, 7);
    char rv[32];
    if (ot_subkey(in->parent_tracestate, "rv", rv, sizeof rv) && strlen(rv) == 14) {
        dpt_trace_id tmp;
        /* rv is 14 hex digits = 56 bits: decode through the 7 low bytes of an id. */
        char hex[33];
        memset(hex, '0', 18);
        memcpy(hex + 18, rv, 14);
        if (dpt_trace_id_from_hex(hex, 32, &tmp) == DPT_OK) r = dpt__be_bytes(tmp.b + 9, 7);
    }
    if (r >= s->bound && s->th[0]) {
        out->decision = DPT_RECORD_AND_SAMPLE;
        out->tracestate = with_th(in->parent_tracestate, s->th);
    } else {
        out->decision = DPT_DROP;
    }
}

static bool rate_take(dpt_sampler *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    pthread_mutex_lock(&s->mu);
    double cap = s->per_second < 1.0 ? 1.0 : s->per_second;
    if (s->last_ns) s->tokens += (double)(now - s->last_ns) * 1e-9 * s->per_second;
    if (s->tokens > cap) s->tokens = cap;
    s->last_ns = now;
    bool ok = s->tokens >= 1.0;
    if (ok) s->tokens -= 1.0;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void dpt_sampler_should_sample(const dpt_sampler *s, const dpt_sampling_params *in,
                               dpt_sampling_result *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s || !in || !in->trace_id) return;
    switch (s->type) {
    case DPT__SAMPLER_ALWAYS_ON:
        out->decision = DPT_RECORD_AND_SAMPLE;
        return;
    case DPT__SAMPLER_ALWAYS_OFF:
        return;
    case DPT__SAMPLER_RATIO: {
        out->decision = dpt__ratio_keeps(s, in->trace_id) ? DPT_RECORD_AND_SAMPLE : DPT_DROP;
        return;
    }
    case DPT__SAMPLER_PROBABILITY:
        decide_probability(s, in, out);
        return;
    case DPT__SAMPLER_PARENT: {
        const dpt_span_context *p = in->parent;
        const dpt_sampler *d = s->d[0];
        if (p && dpt_span_context_is_valid(p)) {
            bool sampled = p->flags & DPT_FLAG_SAMPLED;
            d = p->remote ? s->d[sampled ? 1 : 2] : s->d[sampled ? 3 : 4];
        }
        dpt_sampler_should_sample(d, in, out);
        return;
    }
    case DPT__SAMPLER_CUSTOM:
        s->fn(s->user, in, out);
        if (out->decision > DPT_RECORD_AND_SAMPLE) out->decision = DPT_DROP;
        return;
    case DPT__SAMPLER_RATE:
        out->decision = rate_take((dpt_sampler *)s) ? DPT_RECORD_AND_SAMPLE : DPT_DROP;
        return;
    case DPT__SAMPLER_ALWAYS_RECORD:
        /* trace/sdk.md, AlwaysRecord: DROP -> RECORD_ONLY, RECORD_ONLY and
         * RECORD_AND_SAMPLE unchanged. */
        dpt_sampler_should_sample(s->d[0], in, out);
        if (out->decision == DPT_DROP) out->decision = DPT_RECORD_ONLY;
        return;
    }
}
