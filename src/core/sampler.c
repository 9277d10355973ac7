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
#include "ids.h"

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

/* T = round((1 - p) * 2^56), clamped below 2^56 (p > 0). */
static uint64_t threshold_of(double p)
{
    long double t = (1.0L - (long double)p) * (long double)MAX56 + 0.5L; /* no libm */
    return t >= (long double)MAX56 ? MAX56 - 1 : (uint64_t)t;
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
        s->bound = threshold_of(p); /* long double keeps the 56 bits exact */
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
    dpt_composable_free(s->comp);
    if (s->free_user) s->free_user(s->user);
    if (s->type == DPT__SAMPLER_RATE) pthread_mutex_destroy(&s->mu);
    free(s->desc);
    free(s);
}

const char *dpt_sampler_description(const dpt_sampler *s)
{
    return s ? s->desc : "";
}

/* ---- composite sampler ----------------------------------------------------------------- */

enum { COMP_ON, COMP_OFF, COMP_PROBABILITY, COMP_PARENT, COMP_RULES, COMP_ANNOTATING };

struct dpt_composable {
    int kind;
    uint64_t threshold;         /* PROBABILITY */
    dpt_composable *delegate;   /* PARENT: root; ANNOTATING: the delegate */
    dpt_composable_rule *rules; /* RULES (their samplers owned) */
    size_t n;                   /* RULES: rules; ANNOTATING: attributes */
    dpt_resource *attrs;        /* ANNOTATING: the attributes, copied (a resource holds them) */
    char desc[160];
};

/* GetSamplingIntent's answer. Attribute lists of annotating samplers along the way are
 * collected (at most 4 levels deep are kept). */
typedef struct intent {
    bool has_threshold;
    uint64_t threshold;
    bool reliable;
    const dpt_attr *attrs[4];
    size_t n_attrs[4];
    int n_lists;
} intent;

/* What every composable may look at, computed once (the specification allows it:
 * "Parent context, threshold, incoming trace state, and trace flag information MAY be
 * precomputed"). */
typedef struct pre {
    const dpt_sampling_params *in;
    bool has_parent, parent_sampled, has_parent_th;
    uint64_t parent_th;
} pre;

static dpt_composable *comp_new(int kind, const char *desc)
{
    dpt_composable *c = dpt__calloc(1, sizeof *c);
    if (!c) return NULL;
    c->kind = kind;
    snprintf(c->desc, sizeof c->desc, "%s", desc);
    return c;
}

dpt_composable *dpt_composable_always_on(void)
{
    return comp_new(COMP_ON, "ComposableAlwaysOn");
}

dpt_composable *dpt_composable_always_off(void)
{
    return comp_new(COMP_OFF, "ComposableAlwaysOff");
}

dpt_composable *dpt_composable_probability(double ratio)
{
    /* "A value between 2^-56 and 1.0 (inclusive) ... For the zero case a
     * ComposableAlwaysOff instance SHOULD be returned instead." */
    if (ratio == 0.0) return dpt_composable_always_off();
    if (!(ratio >= 1.0 / (double)MAX56 && ratio <= 1.0)) return NULL; /* also NaN */
    char d[64];
    snprintf(d, sizeof d, "ComposableProbability{%g}", ratio);
    dpt_composable *c = comp_new(COMP_PROBABILITY, d);
    if (c) c->threshold = threshold_of(ratio);
    return c;
}

dpt_composable *dpt_composable_parent_threshold(dpt_composable *root)
{
    if (!root) return NULL;
    char d[160];
    snprintf(d, sizeof d, "ComposableParentThreshold{%.120s}", root->desc);
    dpt_composable *c = comp_new(COMP_PARENT, d);
    if (!c) {
        dpt_composable_free(root);
        return NULL;
    }
    c->delegate = root;
    return c;
}

dpt_composable *dpt_composable_rule_based(const dpt_composable_rule *rules, size_t n)
{
    dpt_composable *c = NULL;
    bool ok = n == 0 || rules != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = rules[i].predicate && rules[i].sampler;
    if (ok) c = comp_new(COMP_RULES, "ComposableRuleBased");
    if (c && n) {
        c->rules = dpt__calloc(n, sizeof *c->rules);
        if (c->rules) {
            memcpy(c->rules, rules, n * sizeof *rules);
            c->n = n;
        } else {
            free(c);
            c = NULL;
        }
    }
    if (!c)
        for (size_t i = 0; rules && i < n; i++)
            dpt_composable_free(rules[i].sampler);
    return c;
}

dpt_composable *dpt_composable_annotating(dpt_composable *delegate, const dpt_attr *attrs, size_t n)
{
    dpt_composable *c = NULL;
    if (delegate && (attrs || !n)) {
        char d[160];
        snprintf(d, sizeof d, "ComposableAnnotating{%.120s}", delegate->desc);
        c = comp_new(COMP_ANNOTATING, d);
    }
    if (c && n) {
        c->attrs = dpt_resource_new(attrs, n, NULL); /* copies; invalid ones left out (logged) */
        if (c->attrs)
            (void)dpt_resource_attrs(c->attrs, &c->n);
        else {
            free(c);
            c = NULL;
        }
    }
    if (!c) {
        dpt_composable_free(delegate);
        return NULL;
    }
    c->delegate = delegate;
    return c;
}

void dpt_composable_free(dpt_composable *c)
{
    if (!c) return;
    dpt_composable_free(c->delegate);
    for (size_t i = 0; c->rules && i < c->n; i++)
        dpt_composable_free(c->rules[i].sampler);
    free(c->rules);
    dpt_resource_free(c->attrs);
    free(c);
}

dpt_sampler *dpt_sampler_composite(dpt_composable *root)
{
    if (!root) return NULL;
    char d[200];
    snprintf(d, sizeof d, "CompositeSampler{%s}", root->desc);
    dpt_sampler *s = new_sampler(DPT__SAMPLER_COMPOSITE, d);
    if (!s) {
        dpt_composable_free(root);
        return NULL;
    }
    s->comp = root;
    return s;
}

static void get_intent(const dpt_composable *c, const pre *p, intent *out)
{
    switch (c->kind) {
    case COMP_ON:
        out->has_threshold = true, out->threshold = 0, out->reliable = true;
        return;
    case COMP_OFF:
        return; /* no threshold, not reliable */
    case COMP_PROBABILITY:
        out->has_threshold = true, out->threshold = c->threshold, out->reliable = true;
        return;
    case COMP_PARENT:
        if (!p->has_parent) {
            get_intent(c->delegate, p, out);
        } else if (p->has_parent_th) {
            out->has_threshold = true, out->threshold = p->parent_th, out->reliable = true;
        } else if (p->parent_sampled) {
            out->has_threshold = true, out->threshold = 0, out->reliable = false;
        }
        return;
    case COMP_RULES:
        for (size_t i = 0; i < c->n; i++)
            if (c->rules[i].predicate(c->rules[i].user, p->in)) {
                get_intent(c->rules[i].sampler, p, out);
                return;
            }
        return; /* "If no rules match, returns a non-sampling intent" */
    case COMP_ANNOTATING:
        get_intent(c->delegate, p, out);
        if (c->n && out->n_lists < 4) {
            out->attrs[out->n_lists] = dpt_resource_attrs(c->attrs, NULL);
            out->n_attrs[out->n_lists++] = c->n;
        }
        return;
    }
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
/* ts's ot entry with its th sub-key set to th (NULL: removed) and the other sub-keys kept,
 * into out (NUL-terminated); its length (over 256: too long for a tracestate value, which
 * a valid ot entry cannot make). *had_th: the entry had a th sub-key. */
static size_t ot_with_th(const dpt_tracestate *ts, const char *th, char out[300], bool *had_th)
{
    char ot[257] = "";
    size_t o = th ? (size_t)snprintf(out, 300, "th:%s", th) : 0;
    out[o] = 0;
    *had_th = false;
    if (!ts || dpt_tracestate_get(ts, "ot", ot, sizeof ot) != DPT_OK) return o;
    for (char *p = ot; p && *p;) {
        char *semi = strchr(p, ';');
        size_t n = semi ? (size_t)(semi - p) : strlen(p);
        if (n >= 3 && memcmp(p, "th:", 3) == 0) {
            *had_th = true;
        } else if (o + n + 1 < 300) {
            if (o) out[o++] = ';';
            memcpy(out + o, p, n);
            o += n;
            out[o] = 0;
        }
        p = semi ? semi + 1 : NULL;
    }
    return o;
}

/* A tracestate equal to ts with ot's th sub-key set to th (other sub-keys kept). */
static dpt_tracestate *with_th(const dpt_tracestate *ts, const char *th)
{
    char out[300];
    bool had;
    if (ot_with_th(ts, th, out, &had) > 256) return NULL; /* keep the old state */
    dpt_tracestate *res = NULL;
    dpt_tracestate_set(ts, "ot", out, &res);
    return res;
}

/* The randomness R of consistent probability sampling: the trace id's right-most 56 bits,
 * or the explicit ot=rv:<14 hex digits> of the parent's tracestate. */
static uint64_t randomness(const dpt_sampling_params *in)
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
    return r;
}

static void decide_probability(const dpt_sampler *s, const dpt_sampling_params *in,
                               dpt_sampling_result *out)
{
    uint64_t r = randomness(in);
    if (r >= s->bound && s->th[0]) {
        out->decision = DPT_RECORD_AND_SAMPLE;
        out->tracestate = with_th(in->parent_tracestate, s->th);
    } else {
        out->decision = DPT_DROP;
    }
}

/* A th value: 1 to 14 lowercase hex digits, trailing zeros left out (tracestate-probability-
 * sampling.md, "Threshold value"). */
static bool parse_th(const char *th, uint64_t *out)
{
    size_t n = strlen(th);
    if (n < 1 || n > 14) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        /* NOLINTNEXTLINE(bugprone-signed-char-misuse,cert-str34-c): an int8_t table, -1 bad */
        int d = dpt__lhex[(unsigned char)th[i]];
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v << (4 * (14 - n));
    return true;
}

/* out's tracestate: the parent's without ot's th sub-key. Left NULL when the parent's has
 * none (the parent's is kept as it is); tracestate_empty when th was its only content. */
static void without_th(const dpt_tracestate *ts, dpt_sampling_result *res)
{
    char out[300];
    bool had;
    size_t o = ot_with_th(ts, NULL, out, &had);
    if (!had || o > 256) return;
    dpt_tracestate *next = NULL;
    if (dpt_tracestate_set(ts, "ot", o ? out : NULL, &next) != DPT_OK) return; /* ENOMEM */
    res->tracestate = next;
    res->tracestate_empty = next == NULL;
}

/* Attributes of a sampled span's annotating samplers. One list (the usual case) is given
 * as the sampler holds it. Several (annotating samplers nested) are joined in a per-thread
 * buffer, valid until this thread's next decision, which is after the span copied them:
 * found through a key, not static TLS, so that the library stays loadable with dlopen. */
#define COMP_MAX_ATTRS 64
static pthread_key_t comp_key;
static pthread_once_t comp_once = PTHREAD_ONCE_INIT;
static void comp_key_init(void)
{
    pthread_key_create(&comp_key, free);
}

static const dpt_attr *intent_attrs(const intent *it, size_t *n_out)
{
    *n_out = 0;
    if (it->n_lists == 0) return NULL;
    if (it->n_lists == 1) {
        *n_out = it->n_attrs[0];
        return it->attrs[0];
    }
    pthread_once(&comp_once, comp_key_init);
    dpt_attr *buf = pthread_getspecific(comp_key);
    if (!buf) {
        buf = dpt__calloc(COMP_MAX_ATTRS, sizeof *buf);
        if (!buf || pthread_setspecific(comp_key, buf) != 0) {
            free(buf);
            *n_out = it->n_attrs[0]; /* out of memory: the innermost list only */
            return it->attrs[0];
        }
    }
    size_t n = 0;
    for (int l = 0; l < it->n_lists; l++)
        for (size_t i = 0; i < it->n_attrs[l] && n < COMP_MAX_ATTRS; i++)
            buf[n++] = it->attrs[l][i];
    *n_out = n;
    return buf;
}

/* CompositeSampler (trace/sdk.md): the intent of the tree, then the decision. */
static void decide_composite(const dpt_sampler *s, const dpt_sampling_params *in,
                             dpt_sampling_result *out)
{
    pre p = {.in = in};
    const dpt_span_context *par = in->parent;
    p.has_parent = par && dpt_span_context_is_valid(par);
    if (p.has_parent) {
        char th[32];
        p.parent_sampled = (par->flags & DPT_FLAG_SAMPLED) != 0;
        p.has_parent_th =
            ot_subkey(in->parent_tracestate, "th", th, sizeof th) && parse_th(th, &p.parent_th);
    }
    intent it = {0};
    get_intent(s->comp, &p, &it);
    /* "If the received THRESHOLD value is null, the sampling decision is DROP"; R from the
     * trace (reliable) or "a new random 56-bit number" (not reliable). */
    bool sampled = it.has_threshold &&
                   (it.reliable ? randomness(in) : (dpt__rand64() & (MAX56 - 1))) >= it.threshold;
    if (!sampled) {
        out->decision = DPT_DROP;
        without_th(in->parent_tracestate, out);
        return;
    }
    out->decision = DPT_RECORD_AND_SAMPLE;
    out->attrs = intent_attrs(&it, &out->n_attrs);
    if (it.reliable) {
        char th[32];
        encode_th(it.threshold, th);
        out->tracestate = with_th(in->parent_tracestate, th);
    } else {
        without_th(in->parent_tracestate, out);
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
    case DPT__SAMPLER_COMPOSITE:
        decide_composite(s, in, out);
        return;
    case DPT__SAMPLER_ALWAYS_RECORD:
        /* trace/sdk.md, AlwaysRecord: DROP -> RECORD_ONLY, RECORD_ONLY and
         * RECORD_AND_SAMPLE unchanged. */
        dpt_sampler_should_sample(s->d[0], in, out);
        if (out->decision == DPT_DROP) out->decision = DPT_RECORD_ONLY;
        return;
    }
}
