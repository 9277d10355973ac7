/* ngx_http_dptrace_module.c - distributed tracing for nginx on dptrace (a dynamic module for
 * the distribution's nginx, built with --with-compat; docs/nginx.md is the guide).
 *
 * A SERVER span per request, started in the rewrite phase (the location is known by then)
 * from the incoming W3C context, ended in the log phase before the access log is written;
 * a CLIENT span per upstream attempt, from the balancer's peer.get to its peer.free (the
 * module wraps every upstream's peer init), whose span id replaces the server span's in
 * the trace headers of the already serialised upstream request, so each retry carries its
 * own parent id. One provider per worker process, built in init_process from the OTEL_*
 * environment the master started with (nginx clears the workers' environment) with the
 * module's directives on top, and shut down (every ended span exported) in exit_process.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <dptrace.h>
#include <dptrace/propagation.h>
#ifdef DPT_NGX_HAVE_HTTP
#include <dptrace/http.h>
#endif

#include "instr_internal.h" /* dptrace's URL helpers (src/instr/url.c) */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DPT_NGX_SCOPE "ngx_http_dptrace_module"

/* Attributes with the key's length known at compile time (k is a literal): dptrace then
 * does not measure it, once per attribute per request. NSTR takes nginx's unsigned bytes. */
#define NSTR(k, p, n)                                                                              \
    ((dpt_attr){(k), sizeof(k) - 1, {DPT_VAL_STRING, (uint32_t)(n), {.s = (const char *)(p)}}})
#define KSTR(k, v) ((dpt_attr){(k), sizeof(k) - 1, {DPT_VAL_STRING, DPT_NUL, {.s = (v)}}})
#define KINT(k, v) ((dpt_attr){(k), sizeof(k) - 1, {DPT_VAL_INT, 0, {.i = (int64_t)(v)}}})

/* dptrace_context */
#define CTX_EXTRACT 1   /* continue the caller's trace, do not touch upstream headers */
#define CTX_INJECT 2    /* new trace (caller's linked), send ours upstream */
#define CTX_PROPAGATE 3 /* continue and send upstream (the default) */
#define CTX_IGNORE 4    /* new trace, upstream headers untouched */

/* dptrace_attributes: the conventions' required ones, or the recommended ones too */
#define ATTRS_REQUIRED 1
#define ATTRS_RECOMMENDED 2

/* dptrace on|off|$var */
#define EN_UNSET 0
#define EN_OFF 1
#define EN_ON 2
#define EN_VAR 3

typedef struct {
    ngx_str_t name;
    ngx_http_complex_value_t value;
} dpt_ngx_attr_t;

typedef struct {
    ngx_uint_t enable;                    /* EN_* */
    ngx_http_complex_value_t *enable_var; /* EN_VAR */
    ngx_http_complex_value_t *span_name;
    ngx_array_t *attrs;    /* of dpt_ngx_attr_t */
    ngx_uint_t context;    /* CTX_*, NGX_CONF_UNSET_UINT */
    ngx_uint_t attributes; /* ATTRS_* */
} dpt_ngx_loc_conf_t;

/* An OTEL_* / DPTRACE_* variable for the workers' environment. */
typedef struct {
    ngx_str_t name;
    ngx_str_t value;
} dpt_ngx_env_t;

typedef struct {
    ngx_http_upstream_srv_conf_t *uscf;
    ngx_http_upstream_init_peer_pt init;
} dpt_ngx_wrapped_t;

typedef struct {
    ngx_array_t *env; /* dpt_ngx_env_t: the master's OTEL_*, then the directives */
    ngx_str_t file;   /* the file exporter's path (resolved against the prefix) */
    ngx_msec_t shutdown_timeout;
    ngx_array_t *wrapped; /* dpt_ngx_wrapped_t: the upstreams whose peer init we wrap */
    ngx_flag_t used;      /* a dptrace directive enables tracing somewhere */
} dpt_ngx_main_conf_t;

/* One request's tracing state (of the main request), in a pool cleanup so that it
 * survives the context reset of internal redirects. */
typedef struct {
    dpt_span span;
    dpt_span_context sc;     /* the server span's context (for variables, after the end) */
    dpt_span_context parent; /* the incoming context (valid or not) */
    dpt_context *in;         /* the extracted context, kept for its baggage (propagate) */
    dpt_context *ctx;        /* span + accepted baggage: what is injected upstream */
    ngx_uint_t mode;         /* CTX_* */
    ngx_str_t route;         /* the location the span was named after */
    char span_hex[17];       /* the span id as it is in the upstream request now */
    /* the current upstream attempt */
    dpt_span attempt;
    uint64_t attempt_end;     /* Unix ns of its peer.free; 0 while connected */
    ngx_uint_t attempt_state; /* its index in r->upstream_states */
    ngx_uint_t attempts;
    unsigned decided : 1; /* the on/off decision was taken */
    unsigned traced : 1;  /* a span was started */
    unsigned ended : 1;
    unsigned injected : 1;
    unsigned attempt_open : 1;
} dpt_ngx_ctx_t;

/* Our wrapper of a balancer's peer data, per upstream request. */
typedef struct {
    void *data;
    ngx_event_get_peer_pt get;
    ngx_event_free_peer_pt free;
#if (NGX_HTTP_SSL || NGX_COMPAT)
    ngx_event_set_peer_session_pt set_session;
    ngx_event_save_peer_session_pt save_session;
#endif
    ngx_http_request_t *r;
    dpt_ngx_ctx_t *ctx;
} dpt_ngx_peer_t;

/* The worker's provider and tracer (one per worker process: set in init_process, after
 * the fork, read by the worker's only event thread). */
static dpt_provider *worker_provider;
static dpt_tracer *worker_tracer;

static ngx_int_t dpt_ngx_init_process(ngx_cycle_t *cycle);
static void dpt_ngx_exit_process(ngx_cycle_t *cycle);
static ngx_int_t dpt_ngx_init_module(ngx_cycle_t *cycle);
static ngx_int_t dpt_ngx_preconfiguration(ngx_conf_t *cf);
static ngx_int_t dpt_ngx_postconfiguration(ngx_conf_t *cf);
static void *dpt_ngx_create_main_conf(ngx_conf_t *cf);
static char *dpt_ngx_init_main_conf(ngx_conf_t *cf, void *conf);
static void *dpt_ngx_create_loc_conf(ngx_conf_t *cf);
static char *dpt_ngx_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static char *dpt_ngx_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *dpt_ngx_span_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *dpt_ngx_context(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

static ngx_conf_enum_t dpt_ngx_attributes_enum[] = {{ngx_string("required"), ATTRS_REQUIRED},
                                                    {ngx_string("recommended"), ATTRS_RECOMMENDED},
                                                    {ngx_null_string, 0}};
static char *dpt_ngx_env_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *dpt_ngx_sampler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *dpt_ngx_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* Directives that set an OpenTelemetry variable for the workers (cmd->post: its name). */
static ngx_command_t dpt_ngx_commands[] = {
    {ngx_string("dptrace"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, dpt_ngx_enable,
     NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("dptrace_span_name"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_set_complex_value_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(dpt_ngx_loc_conf_t, span_name), NULL},
    {ngx_string("dptrace_span_attr"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE2, dpt_ngx_span_attr,
     NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("dptrace_context"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, dpt_ngx_context,
     NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("dptrace_attributes"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(dpt_ngx_loc_conf_t, attributes),
     dpt_ngx_attributes_enum},
    {ngx_string("dptrace_service_name"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, dpt_ngx_env_directive,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_SERVICE_NAME"},
    {ngx_string("dptrace_resource_attributes"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_RESOURCE_ATTRIBUTES"},
    {ngx_string("dptrace_exporter"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, dpt_ngx_env_directive,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_TRACES_EXPORTER"},
    {ngx_string("dptrace_exporter_endpoint"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
    {ngx_string("dptrace_exporter_protocol"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
    {ngx_string("dptrace_exporter_headers"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
    {ngx_string("dptrace_exporter_compression"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"},
    {ngx_string("dptrace_zipkin_endpoint"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_EXPORTER_ZIPKIN_ENDPOINT"},
    {ngx_string("dptrace_exporter_file"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, dpt_ngx_file,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("dptrace_propagators"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, dpt_ngx_env_directive,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_PROPAGATORS"},
    {ngx_string("dptrace_sampler"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12, dpt_ngx_sampler,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("dptrace_batch_max_queue_size"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_BSP_MAX_QUEUE_SIZE"},
    {ngx_string("dptrace_batch_max_export_batch_size"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 0, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"},
    {ngx_string("dptrace_batch_schedule_delay"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 1, "OTEL_BSP_SCHEDULE_DELAY"},
    {ngx_string("dptrace_batch_export_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     dpt_ngx_env_directive, NGX_HTTP_MAIN_CONF_OFFSET, 1, "OTEL_BSP_EXPORT_TIMEOUT"},
    {ngx_string("dptrace_shutdown_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(dpt_ngx_main_conf_t, shutdown_timeout), NULL},
    ngx_null_command};

static ngx_http_module_t dpt_ngx_module_ctx = {
    dpt_ngx_preconfiguration,  /* preconfiguration */
    dpt_ngx_postconfiguration, /* postconfiguration */
    dpt_ngx_create_main_conf,  /* create main configuration */
    dpt_ngx_init_main_conf,    /* init main configuration */
    NULL,                      /* create server configuration */
    NULL,                      /* merge server configuration */
    dpt_ngx_create_loc_conf,   /* create location configuration */
    dpt_ngx_merge_loc_conf     /* merge location configuration */
};

ngx_module_t ngx_http_dptrace_module = {NGX_MODULE_V1,
                                        &dpt_ngx_module_ctx,  /* module context */
                                        dpt_ngx_commands,     /* module directives */
                                        NGX_HTTP_MODULE,      /* module type */
                                        NULL,                 /* init master */
                                        dpt_ngx_init_module,  /* init module */
                                        dpt_ngx_init_process, /* init process */
                                        NULL,                 /* init thread */
                                        NULL,                 /* exit thread */
                                        dpt_ngx_exit_process, /* exit process */
                                        NULL,                 /* exit master */
                                        NGX_MODULE_V1_PADDING};

/* ---- configuration ---------------------------------------------------------------- */

static void *dpt_ngx_create_main_conf(ngx_conf_t *cf)
{
    dpt_ngx_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof(dpt_ngx_main_conf_t));
    if (mcf == NULL) return NULL;
    mcf->env = ngx_array_create(cf->pool, 8, sizeof(dpt_ngx_env_t));
    mcf->wrapped = ngx_array_create(cf->pool, 4, sizeof(dpt_ngx_wrapped_t));
    if (mcf->env == NULL || mcf->wrapped == NULL) return NULL;
    mcf->shutdown_timeout = NGX_CONF_UNSET_MSEC;
    mcf->used = 0;
    return mcf;
}

static ngx_int_t env_set(ngx_conf_t *cf, dpt_ngx_main_conf_t *mcf, const char *name,
                         const u_char *value, size_t len)
{
    dpt_ngx_env_t *e = mcf->env->elts;
    for (ngx_uint_t i = 0; i < mcf->env->nelts; i++) {
        if (ngx_strcmp(e[i].name.data, name) == 0) {
            e = &e[i];
            goto set;
        }
    }
    e = ngx_array_push(mcf->env);
    if (e == NULL) return NGX_ERROR;
    e->name.len = ngx_strlen(name);
    e->name.data = ngx_pnalloc(cf->pool, e->name.len + 1);
    if (e->name.data == NULL) return NGX_ERROR;
    ngx_memcpy(e->name.data, name, e->name.len + 1);
set:
    e->value.data = ngx_pnalloc(cf->pool, len + 1);
    if (e->value.data == NULL) return NGX_ERROR;
    ngx_memcpy(e->value.data, value, len);
    e->value.data[len] = '\0';
    e->value.len = len;
    return NGX_OK;
}

/* Before the http block is parsed: the master's OTEL_* and DPTRACE_* variables, which the
 * directives then override (the workers' environment no longer has them). */
static ngx_int_t add_variables(ngx_conf_t *cf);

static ngx_int_t dpt_ngx_preconfiguration(ngx_conf_t *cf)
{
    extern char **environ;
    if (add_variables(cf) != NGX_OK) return NGX_ERROR;
    dpt_ngx_main_conf_t *mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_dptrace_module);
    for (char **e = environ; e && *e; e++) {
        if (ngx_strncmp(*e, "OTEL_", 5) != 0 && ngx_strncmp(*e, "DPTRACE_", 8) != 0) continue;
        char *eq = strchr(*e, '=');
        if (eq == NULL || eq - *e > 127) continue;
        char name[128];
        ngx_memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        if (env_set(cf, mcf, name, (u_char *)eq + 1, ngx_strlen(eq + 1)) != NGX_OK)
            return NGX_ERROR;
    }
    return NGX_OK;
}

static char *dpt_ngx_env_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    dpt_ngx_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (cmd->offset == 1) { /* a time: nginx syntax (5s, 200ms) to milliseconds */
        ngx_int_t ms = ngx_parse_time(&value[1], 0);
        if (ms == NGX_ERROR) return "has an invalid time";
        u_char buf[NGX_INT_T_LEN];
        u_char *end = ngx_sprintf(buf, "%i", ms);
        return env_set(cf, mcf, cmd->post, buf, (size_t)(end - buf)) == NGX_OK ? NGX_CONF_OK
                                                                               : NGX_CONF_ERROR;
    }
    return env_set(cf, mcf, cmd->post, value[1].data, value[1].len) == NGX_OK ? NGX_CONF_OK
                                                                              : NGX_CONF_ERROR;
}

static char *dpt_ngx_sampler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    dpt_ngx_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (env_set(cf, mcf, "OTEL_TRACES_SAMPLER", value[1].data, value[1].len) != NGX_OK)
        return NGX_CONF_ERROR;
    if (cf->args->nelts == 3 &&
        env_set(cf, mcf, "OTEL_TRACES_SAMPLER_ARG", value[2].data, value[2].len) != NGX_OK)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

static char *dpt_ngx_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    dpt_ngx_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    mcf->file = value[1];
    if (ngx_conf_full_name(cf->cycle, &mcf->file, 0) != NGX_OK) return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

static void *dpt_ngx_create_loc_conf(ngx_conf_t *cf)
{
    dpt_ngx_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof(dpt_ngx_loc_conf_t));
    if (lcf == NULL) return NULL;
    lcf->enable = EN_UNSET;
    lcf->attrs = NGX_CONF_UNSET_PTR;
    lcf->context = NGX_CONF_UNSET_UINT;
    lcf->attributes = NGX_CONF_UNSET_UINT;
    return lcf;
}

static char *dpt_ngx_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    (void)cf;
    dpt_ngx_loc_conf_t *prev = parent, *conf = child;
    if (conf->enable == EN_UNSET) {
        conf->enable = prev->enable;
        conf->enable_var = prev->enable_var;
    }
    if (conf->span_name == NULL) conf->span_name = prev->span_name;
    ngx_conf_merge_ptr_value(conf->attrs, prev->attrs, NULL);
    ngx_conf_merge_uint_value(conf->context, prev->context, CTX_PROPAGATE);
    ngx_conf_merge_uint_value(conf->attributes, prev->attributes, ATTRS_RECOMMENDED);
    return NGX_CONF_OK;
}

static char *dpt_ngx_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    dpt_ngx_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->enable != EN_UNSET) return "is duplicate";
    dpt_ngx_main_conf_t *mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_dptrace_module);
    if (ngx_strcmp(value[1].data, "off") == 0) {
        lcf->enable = EN_OFF;
        return NGX_CONF_OK;
    }
    mcf->used = 1;
    if (ngx_strcmp(value[1].data, "on") == 0) {
        lcf->enable = EN_ON;
        return NGX_CONF_OK;
    }
    ngx_http_compile_complex_value_t ccv;
    lcf->enable_var = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (lcf->enable_var == NULL) return NGX_CONF_ERROR;
    ngx_memzero(&ccv, sizeof(ccv));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = lcf->enable_var;
    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) return NGX_CONF_ERROR;
    lcf->enable = EN_VAR;
    return NGX_CONF_OK;
}

static char *dpt_ngx_span_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    dpt_ngx_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->attrs == NGX_CONF_UNSET_PTR || lcf->attrs == NULL) {
        lcf->attrs = ngx_array_create(cf->pool, 4, sizeof(dpt_ngx_attr_t));
        if (lcf->attrs == NULL) return NGX_CONF_ERROR;
    }
    dpt_ngx_attr_t *a = ngx_array_push(lcf->attrs);
    if (a == NULL) return NGX_CONF_ERROR;
    a->name = value[1]; /* NUL-terminated: configuration strings are */
    ngx_http_compile_complex_value_t ccv;
    ngx_memzero(&ccv, sizeof(ccv));
    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &a->value;
    return ngx_http_compile_complex_value(&ccv) == NGX_OK ? NGX_CONF_OK : NGX_CONF_ERROR;
}

static char *dpt_ngx_context(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    dpt_ngx_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    if (lcf->context != NGX_CONF_UNSET_UINT) return "is duplicate";
    static const char *const names[] = {NULL, "extract", "inject", "propagate", "ignore"};
    for (ngx_uint_t i = 1; i < 5; i++) {
        if (ngx_strcmp(value[1].data, names[i]) == 0) {
            lcf->context = i;
            return NGX_CONF_OK;
        }
    }
    return "wants extract, inject, propagate or ignore";
}

static char *dpt_ngx_init_main_conf(ngx_conf_t *cf, void *conf)
{
    dpt_ngx_main_conf_t *mcf = conf;
    ngx_conf_init_msec_value(mcf->shutdown_timeout, 5000);
    if (mcf->file.len == 0) {
        /* DPTRACE_EXPORT_FILE from the environment, else next to the access log
         * (NGX_HTTP_LOG_PATH, this build's default access log). */
        dpt_ngx_env_t *e = mcf->env->elts;
        for (ngx_uint_t i = 0; i < mcf->env->nelts; i++)
            if (ngx_strcmp(e[i].name.data, "DPTRACE_EXPORT_FILE") == 0) mcf->file = e[i].value;
        if (mcf->file.len == 0) {
            static u_char deflt[] = NGX_HTTP_LOG_PATH;
            u_char *slash = (u_char *)strrchr((char *)deflt, '/');
            size_t dir = slash ? (size_t)(slash - deflt + 1) : 0;
            mcf->file.len = dir + sizeof("dptrace.jsonl") - 1;
            mcf->file.data = ngx_pnalloc(cf->pool, mcf->file.len + 1);
            if (mcf->file.data == NULL) return NGX_CONF_ERROR;
            ngx_memcpy(ngx_cpymem(mcf->file.data, deflt, dir), "dptrace.jsonl",
                       sizeof("dptrace.jsonl"));
        }
        if (ngx_conf_full_name(cf->cycle, &mcf->file, 0) != NGX_OK) return NGX_CONF_ERROR;
    }
    if (env_set(cf, mcf, "DPTRACE_EXPORT_FILE", mcf->file.data, mcf->file.len) != NGX_OK)
        return NGX_CONF_ERROR;
    /* The worker shuts its provider down itself, in exit_process. */
    if (env_set(cf, mcf, "DPTRACE_SHUTDOWN_AT_EXIT", (u_char *)"false", 5) != NGX_OK)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

/* In the master (root when it starts so): create the trace file and give it to the
 * workers' user, as nginx does for its own paths; a worker cannot create files in a log
 * directory owned by root. */
static ngx_int_t dpt_ngx_init_module(ngx_cycle_t *cycle)
{
    dpt_ngx_main_conf_t *mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_dptrace_module);
    if (mcf == NULL || !mcf->used || ngx_test_config || ngx_process == NGX_PROCESS_SIGNALLER)
        return NGX_OK;
    dpt_ngx_env_t *e = mcf->env->elts;
    int file_export = 1; /* the dptrace default exporter is the file */
    for (ngx_uint_t i = 0; i < mcf->env->nelts; i++)
        if (ngx_strcmp(e[i].name.data, "OTEL_TRACES_EXPORTER") == 0)
            file_export = ngx_strstr(e[i].value.data, "file") != NULL;
    if (!file_export) return NGX_OK;
    int fd = open((char *)mcf->file.data, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno, "dptrace: cannot open \"%V\"",
                      &mcf->file);
        return NGX_OK;
    }
    ngx_core_conf_t *ccf = (ngx_core_conf_t *)ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    if (geteuid() == 0 && ccf->user != (ngx_uid_t)NGX_CONF_UNSET_UINT &&
        fchown(fd, ccf->user, (gid_t)-1) == -1)
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno, "dptrace: chown \"%V\" failed",
                      &mcf->file);
    close(fd);
    return NGX_OK;
}

static void init_trace_fields(void);

/* ---- the worker's provider ------------------------------------------------------------ */

static ngx_int_t dpt_ngx_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) return NGX_OK;
    dpt_ngx_main_conf_t *mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_dptrace_module);
    if (mcf == NULL || !mcf->used) return NGX_OK;
    /* dptrace reads its settings from the environment: give the worker the master's
     * OTEL_* variables with the directives on top. The worker has no other thread yet
     * that could read the environment while it changes. */
    dpt_ngx_env_t *e = mcf->env->elts;
    for (ngx_uint_t i = 0; i < mcf->env->nelts; i++)
        setenv((char *)e[i].name.data, (char *)e[i].value.data, 1);
#ifdef DPT_NGX_HAVE_HTTP
    dpt_http_register();
#endif
    worker_provider = dpt_provider_from_env();
    worker_tracer = dpt_provider_get_tracer(worker_provider, DPT_NGX_SCOPE, DPTRACE_VERSION_STRING);
    init_trace_fields();
    if (worker_tracer == NULL)
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0, "dptrace: no provider, requests not traced");
    return NGX_OK;
}

/* The worker is leaving (reload, shutdown, or a restart): export every ended span within
 * the timeout, and say what became of them. */
static void dpt_ngx_exit_process(ngx_cycle_t *cycle)
{
    if (worker_provider == NULL) return;
    dpt_ngx_main_conf_t *mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_dptrace_module);
    ngx_msec_t timeout = mcf ? mcf->shutdown_timeout : 5000;
    dpt_err err = dpt_provider_shutdown(worker_provider, (uint32_t)timeout);
    dpt_stats st;
    dpt_provider_get_stats(worker_provider, &st);
    ngx_uint_t level = err == DPT_OK ? NGX_LOG_NOTICE : NGX_LOG_WARN;
    ngx_log_error(level, cycle->log, 0,
                  "dptrace: worker spans ended %uL, exported %uL, failed %uL, dropped %uL: %s",
                  (uint64_t)st.spans_ended, (uint64_t)st.spans_exported,
                  (uint64_t)st.spans_export_failed, (uint64_t)st.spans_dropped_queue,
                  dpt_strerror(err));
    dpt_provider_free(worker_provider);
    worker_provider = NULL;
    worker_tracer = NULL;
}

/* ---- request state -------------------------------------------------------------------- */

static void dpt_ngx_end_attempt(ngx_http_request_t *r, dpt_ngx_ctx_t *ctx);

static void dpt_ngx_cleanup(void *data)
{
    dpt_ngx_ctx_t *ctx = data;
    /* Normally done in the log phase; this is the net under it. */
    if (ctx->attempt_open) dpt_span_end(ctx->attempt);
    ctx->attempt_open = 0;
    if (ctx->traced && !ctx->ended) dpt_span_end(ctx->span);
    ctx->ended = 1;
    dpt_context_release(ctx->ctx);
    dpt_context_release(ctx->in);
    ctx->ctx = NULL;
    ctx->in = NULL;
}

static dpt_ngx_ctx_t *dpt_ngx_get_ctx(ngx_http_request_t *r)
{
    r = r->main;
    dpt_ngx_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_dptrace_module);
    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        /* internal redirects reset module contexts; the cleanup still has it */
        for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == dpt_ngx_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_dptrace_module);
                break;
            }
        }
    }
    return ctx;
}

static dpt_ngx_ctx_t *dpt_ngx_new_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, sizeof(dpt_ngx_ctx_t));
    if (cln == NULL) return NULL;
    dpt_ngx_ctx_t *ctx = cln->data;
    ngx_memzero(ctx, sizeof(*ctx));
    cln->handler = dpt_ngx_cleanup;
    ngx_http_set_ctx(r, ctx, ngx_http_dptrace_module);
    return ctx;
}

/* ---- reading and writing request headers ----------------------------------------------- */

static const char *hdr_get(void *carrier, const char *name, size_t index, size_t *len)
{
    ngx_http_request_t *r = carrier;
    size_t nl = ngx_strlen(name);
    ngx_list_part_t *part = &r->headers_in.headers.part;
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0;; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) return NULL;
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].hash == 0 || h[i].key.len != nl || ngx_strncmp(h[i].lowcase_key, name, nl) != 0)
            continue;
        if (index-- == 0) {
            *len = h[i].value.len;
            return (const char *)h[i].value.data;
        }
    }
}

static const char *hdr_key(void *carrier, size_t index, size_t *len)
{
    ngx_http_request_t *r = carrier;
    ngx_list_part_t *part = &r->headers_in.headers.part;
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0;; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) return NULL;
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].hash != 0 && index-- == 0) {
            *len = h[i].key.len;
            return (const char *)h[i].key.data;
        }
    }
}

static const dpt_getter hdr_getter = {hdr_get, hdr_key};

/* Setter adding name: value to the request headers that the proxy modules forward (the
 * fields were removed first, see remove_fields). */
static dpt_err hdr_set(void *carrier, const char *name, const char *value, size_t len)
{
    ngx_http_request_t *r = carrier;
    size_t nl = ngx_strlen(name);
    /* A CR or LF would split the upstream request's header block (the built-in
     * propagators never write one, a registered one might). */
    if (nl == 0 || (len && (memchr(value, '\r', len) || memchr(value, '\n', len))))
        return DPT_EINVAL;
    ngx_table_elt_t *h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) return DPT_ENOMEM;
    h->key.len = nl;
    /* The name is copied: only the fixed fields are static strings; Jaeger's
     * uberctx-<key> and OpenTracing's ot-baggage-<key> are built in a buffer the
     * propagator reuses and frees when inject returns. */
    h->key.data = ngx_pnalloc(r->pool, nl);
    h->lowcase_key = ngx_pnalloc(r->pool, nl);
    h->value.data = ngx_pnalloc(r->pool, len + 1);
    if (h->key.data == NULL || h->lowcase_key == NULL || h->value.data == NULL) {
        h->hash = 0;
        h->key.len = 0;
        return DPT_ENOMEM;
    }
    ngx_memcpy(h->key.data, name, nl);
    h->hash = ngx_hash_strlow(h->lowcase_key, (u_char *)name, nl);
    ngx_memcpy(h->value.data, value, len);
    h->value.data[len] = '\0';
    h->value.len = len;
    return DPT_OK;
}

static const dpt_setter hdr_setter = {hdr_set};

static bool jaeger_prefix, ot_prefix; /* set in init_trace_fields (below) */

/* Baggage in fields named after its keys (Jaeger's uberctx-<key> and jaeger-baggage,
 * OpenTracing's ot-baggage-<key>), which dpt_propagator_fields cannot list: when our
 * context goes upstream, the caller's copies must not go with it (in the inject mode the
 * caller's baggage is dropped, docs/nginx.md), and ours replace them. */
static int prefixed_baggage(const ngx_table_elt_t *h)
{
    if ((!jaeger_prefix && !ot_prefix) || h->hash == 0) return 0;
    if (jaeger_prefix &&
        ((h->key.len > 8 && ngx_strncmp(h->lowcase_key, "uberctx-", 8) == 0) ||
         (h->key.len == 14 && ngx_strncmp(h->lowcase_key, "jaeger-baggage", 14) == 0)))
        return 1;
    return ot_prefix && h->key.len > 11 && ngx_strncmp(h->lowcase_key, "ot-baggage-", 11) == 0;
}

/* Removes every incoming header that the propagator writes (a forwarded header list keeps
 * no stale traceparent, tracestate or baggage next to ours). The proxy modules forward
 * every entry of the list, so entries are taken out of it rather than marked. */
static ngx_int_t remove_fields(ngx_http_request_t *r)
{
    const char *fields[16];
    size_t nf = dpt_propagator_fields(dpt_propagator_get_global(), fields, 16);
    if (nf > 16) nf = 16;
    ngx_list_part_t *part;
    ngx_table_elt_t *h;
    ngx_uint_t i, found = 0;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            found += prefixed_baggage(&h[i]);
            for (size_t f = 0; f < nf; f++)
                if (h[i].key.len == ngx_strlen(fields[f]) &&
                    ngx_strncmp(h[i].lowcase_key, fields[f], h[i].key.len) == 0)
                    found++;
        }
    }
    if (found == 0) return NGX_OK;
    ngx_list_t copy;
    if (ngx_list_init(&copy, r->pool, 20, sizeof(ngx_table_elt_t)) != NGX_OK) return NGX_ERROR;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            int drop = prefixed_baggage(&h[i]);
            for (size_t f = 0; f < nf && !drop; f++)
                drop = h[i].key.len == ngx_strlen(fields[f]) &&
                       ngx_strncmp(h[i].lowcase_key, fields[f], h[i].key.len) == 0;
            if (drop) continue;
            ngx_table_elt_t *n = ngx_list_push(&copy);
            if (n == NULL) return NGX_ERROR;
            *n = h[i];
        }
    }
    /* Pointers such as headers_in.host point at entries of the old list, which stay
     * valid (pool memory) and unchanged. The list's "last" may point at its own first
     * part: move it with the list. */
    r->headers_in.headers = copy;
    if (copy.last == &copy.part) r->headers_in.headers.last = &r->headers_in.headers.part;
    return NGX_OK;
}

/* ---- the server span -------------------------------------------------------------------- */

static ngx_int_t enabled(ngx_http_request_t *r, dpt_ngx_loc_conf_t *lcf)
{
    if (lcf->enable == EN_ON) return 1;
    if (lcf->enable != EN_VAR) return 0;
    ngx_str_t v;
    if (ngx_http_complex_value(r, lcf->enable_var, &v) != NGX_OK) return 0;
    return (v.len == 2 && ngx_strncasecmp(v.data, (u_char *)"on", 2) == 0) ||
           (v.len == 1 && v.data[0] == '1') ||
           (v.len == 4 && ngx_strncasecmp(v.data, (u_char *)"true", 4) == 0) ||
           (v.len == 3 && ngx_strncasecmp(v.data, (u_char *)"yes", 3) == 0);
}

static const char *method_of(ngx_http_request_t *r, size_t *len)
{
    const char *m = dpt__http_method((const char *)r->method_name.data, r->method_name.len);
    *len = ngx_strlen(m);
    return m;
}

/* The header names the propagator reads (set once per worker in init_process): a request
 * that has none of them needs no extraction (which would allocate an empty context). */
static struct {
    const char *name;
    size_t len;
} trace_fields[16];
static size_t n_trace_fields;
/* jaeger_prefix: jaeger's baggage comes in uberctx-<key> headers; ot_prefix: ottrace's in
 * ot-baggage-<key> (declared above remove_fields). */

static void init_trace_fields(void)
{
    const char *f[16];
    size_t n = dpt_propagator_fields(dpt_propagator_get_global(), f, 16);
    n_trace_fields = n > 16 ? 16 : n;
    for (size_t i = 0; i < n_trace_fields; i++) {
        trace_fields[i].name = f[i];
        trace_fields[i].len = ngx_strlen(f[i]);
        if (ngx_strcmp(f[i], "uber-trace-id") == 0) jaeger_prefix = true;
        if (ngx_strcmp(f[i], "ot-tracer-traceid") == 0) ot_prefix = true;
    }
}

static bool has_trace_fields(ngx_http_request_t *r)
{
    ngx_list_part_t *part = &r->headers_in.headers.part;
    for (; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            /* The length and the first byte before a call: most headers differ there
             * (user-agent and tracestate have the same length). */
            for (size_t f = 0; f < n_trace_fields; f++)
                if (h[i].key.len == trace_fields[f].len &&
                    h[i].lowcase_key[0] == (u_char)trace_fields[f].name[0] &&
                    ngx_strncmp(h[i].lowcase_key, trace_fields[f].name, h[i].key.len) == 0)
                    return true;
            if (prefixed_baggage(&h[i])) return true;
        }
    }
    return false;
}

/* The attributes and the name of a recording server span. */
static void describe_span(ngx_http_request_t *r, dpt_ngx_ctx_t *ctx, dpt_ngx_loc_conf_t *lcf,
                          ngx_http_core_loc_conf_t *clcf)
{
    dpt_attr attrs[16];
    size_t n = 0;
    size_t ml;
    const char *method = method_of(r, &ml);
    attrs[n++] = NSTR("http.request.method", method, ml);
    if (method[0] == '_')
        attrs[n++] = NSTR("http.request.method_original", r->method_name.data, r->method_name.len);
    size_t path_len = r->unparsed_uri.data ? r->unparsed_uri.len : 0;
    u_char *q =
        path_len ? ngx_strlchr(r->unparsed_uri.data, r->unparsed_uri.data + path_len, '?') : NULL;
    if (q) path_len = (size_t)(q - r->unparsed_uri.data);
    attrs[n++] = NSTR("url.path", path_len ? (const char *)r->unparsed_uri.data : "", path_len);
#if (NGX_HTTP_SSL)
    attrs[n++] = KSTR("url.scheme", r->connection->ssl ? "https" : "http");
#else
    attrs[n++] = KSTR("url.scheme", "http");
#endif
    if (clcf->name.len) attrs[n++] = NSTR("http.route", clcf->name.data, clcf->name.len);
    long port = -1;
    bool more = lcf->attributes == ATTRS_RECOMMENDED;
    if (more && r->headers_in.server.len) {
        attrs[n++] = NSTR("server.address", r->headers_in.server.data, r->headers_in.server.len);
        const char *host;
        size_t host_len;
        if (r->headers_in.host)
            dpt__host_header((const char *)r->headers_in.host->value.data,
                             r->headers_in.host->value.len, &host, &host_len, &port);
        if (port < 0 && r->connection->local_sockaddr)
            port = ngx_inet_get_port(r->connection->local_sockaddr);
        if (port > 0) attrs[n++] = KINT("server.port", port);
    }
    if (more)
        attrs[n++] =
            NSTR("client.address", r->connection->addr_text.data, r->connection->addr_text.len);
    const char *ver = r->http_version == NGX_HTTP_VERSION_11   ? "1.1"
                      : r->http_version == NGX_HTTP_VERSION_10 ? "1.0"
                      : r->http_version == NGX_HTTP_VERSION_20 ? "2"
                      : r->http_version == NGX_HTTP_VERSION_9  ? "0.9"
                                                               : NULL;
    if (more && ver) attrs[n++] = KSTR("network.protocol.version", ver);
    if (more && r->headers_in.user_agent)
        attrs[n++] = NSTR("user_agent.original", r->headers_in.user_agent->value.data,
                          r->headers_in.user_agent->value.len);
    u_char qbuf[512];
    if (r->args.len) {
        size_t need =
            dpt__query_redact((const char *)r->args.data, r->args.len, (char *)qbuf, sizeof qbuf);
        u_char *q = qbuf;
        if (need >= sizeof qbuf && (q = ngx_pnalloc(r->pool, need + 1)) != NULL)
            dpt__query_redact((const char *)r->args.data, r->args.len, (char *)q, need + 1);
        /* A long query (tracking parameters) used to be left out silently; the span's
         * limits (OTEL_*_VALUE_LENGTH_LIMIT, its byte budget) apply to it as to any value. */
        if (q) attrs[n++] = NSTR("url.query", q, need);
    }
    dpt_span_set_attrs(ctx->span, attrs, n);

    /* The name: dptrace_span_name, else "{method} {location}" (http-spans.md: the route
     * for a server span; "HTTP" for a method the conventions do not know). */
    char name[256];
    ngx_str_t custom;
    if (lcf->span_name && ngx_http_complex_value(r, lcf->span_name, &custom) == NGX_OK) {
        size_t l = custom.len < sizeof name - 1 ? custom.len : sizeof name - 1;
        ngx_memcpy(name, custom.data, l);
        name[l] = '\0';
    } else {
        const char *m = method[0] == '_' ? "HTTP" : method;
        size_t mlen = ngx_strlen(m), rl = clcf->name.len;
        if (mlen + 1 + rl >= sizeof name) rl = sizeof name - 2 - mlen;
        ngx_memcpy(name, m, mlen);
        name[mlen] = ' ';
        ngx_memcpy(name + mlen + 1, clcf->name.data, rl);
        name[mlen + (rl ? 1 + rl : 0)] = '\0';
    }
    dpt_span_update_name(ctx->span, name);
}

/* Starts the server span (start_ns 0: now). An unsampled request costs the extraction
 * (only when it carries trace headers) and a non-recording span: attributes and the name
 * are built only for a span that records (nginx's samplers do not read attributes). */
static void start_span(ngx_http_request_t *r, dpt_ngx_ctx_t *ctx, dpt_ngx_loc_conf_t *lcf,
                       uint64_t start_ns)
{
    ngx_http_core_loc_conf_t *clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    ctx->mode = lcf->context;
    ctx->route = clcf->name;

    dpt_context *in = NULL;
    if (ctx->mode != CTX_IGNORE && has_trace_fields(r)) {
        dpt_propagator_extract(NULL, &hdr_getter, r, &in);
        ctx->parent = dpt_context_span_context(in);
    }
    dpt_span_opts o = {.start_ns = start_ns};
    dpt_link link;
    if (ctx->mode == CTX_INJECT) {
        dpt_span_opts_from_incoming(in, true, &o, &link); /* untrusted: new trace, a link */
    } else if (ctx->mode == CTX_IGNORE) {
        o.root = true;
    } else {
        o.parent = in;
    }
    ctx->span = dpt_span_start(worker_tracer, "", DPT_SPAN_SERVER, &o);
    ctx->sc = dpt_span_get_context(ctx->span);
    ctx->traced = 1;
    /* Kept for the injection: the caller's baggage goes on with our span. */
    if (ctx->mode == CTX_PROPAGATE)
        ctx->in = in;
    else
        dpt_context_release(in);
    if (dpt_span_is_recording(ctx->span)) describe_span(r, ctx, lcf, clcf);
}

/* Rewrite phase (before the rewrite module's handlers, so before a "return"): decide, and
 * start the span of the main request. */
static ngx_int_t dpt_ngx_rewrite_handler(ngx_http_request_t *r)
{
    if (r != r->main || worker_tracer == NULL) return NGX_DECLINED;
    dpt_ngx_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_dptrace_module);
    if (lcf->enable == EN_OFF || lcf->enable == EN_UNSET) {
        /* off here: remember it only when a redirect could land where it is on */
        return NGX_DECLINED;
    }
    dpt_ngx_ctx_t *ctx = dpt_ngx_get_ctx(r);
    if (ctx && ctx->decided) return NGX_DECLINED;
    if (ctx == NULL && (ctx = dpt_ngx_new_ctx(r)) == NULL) return NGX_DECLINED;
    ctx->decided = 1;
    if (enabled(r, lcf)) start_span(r, ctx, lcf, 0);
    return NGX_DECLINED;
}

/* Precontent phase: the request is about to be served by a content handler (a proxy):
 * put the span's context into the headers that will be forwarded. */
static ngx_int_t dpt_ngx_precontent_handler(ngx_http_request_t *r)
{
    if (r != r->main) return NGX_DECLINED;
    dpt_ngx_ctx_t *ctx = dpt_ngx_get_ctx(r);
    if (ctx == NULL || !ctx->traced || ctx->injected) return NGX_DECLINED;
    if (ctx->mode != CTX_INJECT && ctx->mode != CTX_PROPAGATE) return NGX_DECLINED;
    ctx->injected = 1;
    dpt_span_id_to_hex(&ctx->sc.span_id, ctx->span_hex); /* what patch_request looks for */
    ctx->ctx = dpt_context_with_span(ctx->in, ctx->span);
    if (remove_fields(r) != NGX_OK) return NGX_DECLINED;
    dpt_err e = dpt_propagator_inject(NULL, ctx->ctx, &hdr_setter, r);
    if (e != DPT_OK)
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "dptrace: trace context not sent upstream: %s", dpt_strerror(e));
    return NGX_DECLINED;
}

static ngx_uint_t status_of(ngx_http_request_t *r)
{
    if (r->err_status) return r->err_status;
    return r->headers_out.status;
}

/* Log phase (first of its handlers, before the access log): end the upstream attempt and
 * the server span. A request finished before the rewrite phase (a 400, a server-level
 * return) gets its span here, from the request's start time. */
static ngx_int_t dpt_ngx_log_handler(ngx_http_request_t *r)
{
    if (worker_tracer == NULL || r != r->main) return NGX_OK; /* log_subrequest: not ours */
    dpt_ngx_ctx_t *ctx = dpt_ngx_get_ctx(r);
    if (ctx == NULL) {
        dpt_ngx_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_dptrace_module);
        if (lcf->enable != EN_ON && lcf->enable != EN_VAR) return NGX_OK;
        if ((ctx = dpt_ngx_new_ctx(r)) == NULL) return NGX_OK;
        ctx->decided = 1;
        if (!enabled(r, lcf)) return NGX_OK;
        uint64_t start =
            (uint64_t)r->start_sec * 1000000000ull + (uint64_t)r->start_msec * 1000000ull;
        start_span(r, ctx, lcf, start);
    }
    if (!ctx->traced || ctx->ended) return NGX_OK;
    dpt_ngx_end_attempt(r, ctx);
    dpt_span s = ctx->span;
    if (dpt_span_is_recording(s)) {
        ngx_uint_t status = status_of(r);
        dpt_attr attrs[4];
        size_t n = 0;
        if (status) attrs[n++] = KINT("http.response.status_code", status);
        dpt_ngx_loc_conf_t *elcf = ngx_http_get_module_loc_conf(r, ngx_http_dptrace_module);
        if (elcf->attributes == ATTRS_RECOMMENDED) {
            off_t body = r->connection->sent - (off_t)r->header_size;
            if (body >= 0 && status) attrs[n++] = KINT("http.response.body.size", body);
            if (r->headers_in.content_length_n >= 0)
                attrs[n++] = KINT("http.request.body.size", r->headers_in.content_length_n);
        }
        dpt_span_set_attrs(s, attrs, n);
        if (status >= 500 && status < 600) {
            /* Server spans: only 5xx are errors; the code says why. */
            u_char code[NGX_INT_T_LEN + 1];
            u_char *e = ngx_sprintf(code, "%ui", status);
            *e = '\0';
            dpt_span_set_str(s, "error.type", (char *)code);
            dpt_span_set_status(s, DPT_STATUS_ERROR, NULL);
        }
        /* The location that served the request, after internal redirects. */
        ngx_http_core_loc_conf_t *clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        dpt_ngx_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_http_dptrace_module);
        if (clcf->name.len &&
            (clcf->name.len != ctx->route.len ||
             ngx_strncmp(clcf->name.data, ctx->route.data, ctx->route.len) != 0)) {
            dpt_span_set_strn(s, "http.route", DPT_NUL, (const char *)clcf->name.data,
                              clcf->name.len);
            if (lcf->span_name == NULL) {
                size_t ml;
                const char *m = method_of(r, &ml);
                char name[256];
                u_char *e = ngx_snprintf((u_char *)name, sizeof name - 1, "%s %V",
                                         m[0] == '_' ? "HTTP" : m, &clcf->name);
                *e = '\0';
                dpt_span_update_name(s, name);
            }
        }
        /* dptrace_span_attr: evaluated now, so response variables ($status,
         * $upstream_addr, ...) can be used. */
        if (lcf->attrs) {
            dpt_ngx_attr_t *a = lcf->attrs->elts;
            for (ngx_uint_t i = 0; i < lcf->attrs->nelts; i++) {
                ngx_str_t v;
                if (ngx_http_complex_value(r, &a[i].value, &v) != NGX_OK) continue;
                dpt_span_set_strn(s, (const char *)a[i].name.data, a[i].name.len,
                                  (const char *)v.data, v.len);
            }
        }
    }
    dpt_span_end(s);
    ctx->ended = 1;
    return NGX_OK;
}

/* ---- upstream attempts ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Ends the current attempt's span once its outcome is in r->upstream_states (the
 * upstream module writes the status of a failed attempt after it released the peer). */
static void dpt_ngx_end_attempt(ngx_http_request_t *r, dpt_ngx_ctx_t *ctx)
{
    if (!ctx->attempt_open) return;
    ctx->attempt_open = 0;
    dpt_span s = ctx->attempt;
    if (dpt_span_is_recording(s) && r->upstream_states &&
        ctx->attempt_state < r->upstream_states->nelts) {
        ngx_http_upstream_state_t *st = r->upstream_states->elts;
        st = &st[ctx->attempt_state];
        int answered = st->header_time != (ngx_msec_t)-1;
        if (answered && st->status) {
            dpt_span_set_int(s, "http.response.status_code", (int64_t)st->status);
            if (st->status >= 400) { /* client spans: 4xx and 5xx are errors */
                u_char code[NGX_INT_T_LEN + 1];
                u_char *e = ngx_sprintf(code, "%ui", st->status);
                *e = '\0';
                dpt_span_set_str(s, "error.type", (char *)code);
                dpt_span_set_status(s, DPT_STATUS_ERROR, NULL);
            }
        } else if (st->status) {
            /* No answer: nginx gave up (504: timed out; else connection or protocol). */
            dpt_span_set_str(s, "error.type",
                             st->status == NGX_HTTP_GATEWAY_TIME_OUT ? "timeout"
                                                                     : "upstream_error");
            dpt_span_set_status(s, DPT_STATUS_ERROR,
                                st->status == NGX_HTTP_GATEWAY_TIME_OUT ? "upstream timed out"
                                                                        : "upstream failed");
        }
        if (st->bytes_received > 0 && answered)
            dpt_span_set_int(s, "http.response.body.size", st->response_length);
    }
    if (ctx->attempt_end)
        dpt_span_end_at(s, ctx->attempt_end);
    else
        dpt_span_end(s);
}

/* Replaces the span id in the serialised upstream request (the header buffer) by the
 * attempt's: same length, so nothing moves. Headers compressed with HPACK (grpc) are not
 * found and keep the server span's id. */
static void patch_request(ngx_http_request_t *r, dpt_ngx_ctx_t *ctx, const char *hex)
{
    ngx_http_upstream_t *u = r->upstream;
    if (u == NULL || u->request_bufs == NULL || u->request_bufs->buf == NULL) return;
    ngx_buf_t *b = u->request_bufs->buf;
    if (!ngx_buf_in_memory(b) || b->start == NULL) return;
    u_char *p = b->start, *end = b->last;
    while (p + 16 <= end) {
        u_char *hit = memmem(p, (size_t)(end - p), ctx->span_hex, 16);
        if (hit == NULL) break;
        ngx_memcpy(hit, hex, 16);
        p = hit + 16;
    }
    ngx_memcpy(ctx->span_hex, hex, 17);
}

/* The attributes of a recording attempt span. */
static void describe_attempt(ngx_http_request_t *r, dpt_ngx_ctx_t *ctx, ngx_peer_connection_t *pc,
                             const char *method, size_t ml)
{
    ngx_http_upstream_t *u = r->upstream;
    dpt_attr attrs[10];
    size_t n = 0;
    attrs[n++] = NSTR("http.request.method", method, ml);
    if (u && u->upstream) {
        attrs[n++] = NSTR("server.address", u->upstream->host.data, u->upstream->host.len);
        if (u->upstream->port) attrs[n++] = KINT("server.port", u->upstream->port);
    }
    u_char peer[NGX_SOCKADDR_STRLEN];
    if (pc->sockaddr) {
        size_t pl = ngx_sock_ntop(pc->sockaddr, pc->socklen, peer, sizeof peer, 0);
        attrs[n++] = NSTR("network.peer.address", peer, pl);
        attrs[n++] = KINT("network.peer.port", ngx_inet_get_port(pc->sockaddr));
    }
    if (ctx->attempts > 0) attrs[n++] = KINT("http.request.resend_count", (int64_t)ctx->attempts);
    /* url.full: the upstream's scheme and host, and the request target the proxy wrote
     * ("GET /path?query HTTP/1.1" at the start of the request buffer). */
    u_char url[1024];
    if (u && u->upstream && u->request_bufs && u->request_bufs->buf &&
        ngx_buf_in_memory(u->request_bufs->buf)) {
        ngx_buf_t *b = u->request_bufs->buf;
        u_char *sp = ngx_strlchr(b->start, b->last, ' ');
        u_char *sp2 = sp ? ngx_strlchr(sp + 1, b->last, ' ') : NULL;
        if (sp2 && sp2 - sp > 1 && sp[1] == '/') {
            u_char *e = ngx_snprintf(url, sizeof url - 1, "%V%V", &u->schema, &u->upstream->host);
            if (u->upstream->port)
                e = ngx_snprintf(e, (size_t)(url + sizeof url - 1 - e), ":%d", u->upstream->port);
            size_t room = (size_t)(url + sizeof url - 1 - e);
            size_t need = dpt_instr_redact_url((const char *)sp + 1, (size_t)(sp2 - sp - 1),
                                               (char *)e, room + 1);
            u_char *full = url;
            if (need > room) { /* a long target: in the request pool, not left out */
                size_t pre = (size_t)(e - url);
                full = ngx_pnalloc(r->pool, pre + need + 1);
                if (full) {
                    ngx_memcpy(full, url, pre);
                    dpt_instr_redact_url((const char *)sp + 1, (size_t)(sp2 - sp - 1),
                                         (char *)full + pre, need + 1);
                    e = full + pre;
                }
            }
            if (full) attrs[n++] = NSTR("url.full", full, (size_t)(e - full) + need);
        }
    }
    dpt_span_set_attrs(ctx->attempt, attrs, n);
}

static ngx_int_t dpt_ngx_peer_get(ngx_peer_connection_t *pc, void *data)
{
    dpt_ngx_peer_t *pd = data;
    ngx_http_request_t *r = pd->r;
    dpt_ngx_ctx_t *ctx = pd->ctx;
    dpt_ngx_end_attempt(r, ctx); /* the previous attempt, whose status is known now */
    ngx_int_t rc = pd->get(pc, pd->data);
    if ((rc != NGX_OK && rc != NGX_DONE) || ctx->ended || !ctx->traced) return rc;

    size_t ml;
    const char *method = method_of(r, &ml);
    /* Named and described only when it records: an unsampled attempt costs its id. */
    dpt_span_opts o = {.parent_span = ctx->span};
    ctx->attempt =
        dpt_span_start(worker_tracer, method[0] == '_' ? "HTTP" : method, DPT_SPAN_CLIENT, &o);
    if (dpt_span_is_recording(ctx->attempt)) describe_attempt(r, ctx, pc, method, ml);
    ctx->attempt_open = 1;
    ctx->attempt_end = 0;
    ctx->attempt_state = r->upstream_states ? r->upstream_states->nelts - 1 : 0;
    ctx->attempts++;
    if (ctx->injected) {
        dpt_span_context asc = dpt_span_get_context(ctx->attempt);
        if (dpt_span_context_is_valid(&asc)) {
            char hex[17];
            dpt_span_id_to_hex(&asc.span_id, hex);
            patch_request(r, ctx, hex);
        }
    }
    return rc;
}

static void dpt_ngx_peer_free(ngx_peer_connection_t *pc, void *data, ngx_uint_t state)
{
    dpt_ngx_peer_t *pd = data;
    if (pd->ctx->attempt_open && pd->ctx->attempt_end == 0) pd->ctx->attempt_end = now_ns();
    pd->free(pc, pd->data, state);
}

#if (NGX_HTTP_SSL || NGX_COMPAT)
static ngx_int_t dpt_ngx_set_session(ngx_peer_connection_t *pc, void *data)
{
    dpt_ngx_peer_t *pd = data;
    return pd->set_session(pc, pd->data);
}

static void dpt_ngx_save_session(ngx_peer_connection_t *pc, void *data)
{
    dpt_ngx_peer_t *pd = data;
    pd->save_session(pc, pd->data);
}
#endif

/* Wraps an upstream's peer init: after the balancer set the request's peer, put our
 * get/free around its own. */
static ngx_int_t dpt_ngx_peer_init(ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us)
{
    dpt_ngx_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_http_dptrace_module);
    dpt_ngx_wrapped_t *w = mcf->wrapped->elts;
    ngx_http_upstream_init_peer_pt init = NULL;
    for (ngx_uint_t i = 0; i < mcf->wrapped->nelts; i++)
        if (w[i].uscf == us) init = w[i].init;
    if (init == NULL) return NGX_ERROR; /* cannot happen: only wrapped ones get here */
    if (init(r, us) != NGX_OK) return NGX_ERROR;
    /* Attempts of the main request only: subrequests (auth_request, mirror, SSI) may run
     * their upstreams at the same time as the main one, and share its context. */
    if (r != r->main) return NGX_OK;
    dpt_ngx_ctx_t *ctx = dpt_ngx_get_ctx(r);
    if (ctx == NULL || !ctx->traced || ctx->ended || r->upstream == NULL) return NGX_OK;
    dpt_ngx_peer_t *pd = ngx_palloc(r->pool, sizeof(dpt_ngx_peer_t));
    if (pd == NULL) return NGX_OK; /* untraced attempts rather than a failed request */
    ngx_peer_connection_t *pc = &r->upstream->peer;
    pd->data = pc->data;
    pd->get = pc->get;
    pd->free = pc->free;
    pd->r = r;
    pd->ctx = ctx;
    pc->data = pd;
    pc->get = dpt_ngx_peer_get;
    pc->free = dpt_ngx_peer_free;
#if (NGX_HTTP_SSL || NGX_COMPAT)
    pd->set_session = pc->set_session;
    pd->save_session = pc->save_session;
    if (pc->set_session) pc->set_session = dpt_ngx_set_session;
    if (pc->save_session) pc->save_session = dpt_ngx_save_session;
#endif
    return NGX_OK;
}

/* ---- variables -------------------------------------------------------------------------- */

enum { VAR_TRACE_ID, VAR_SPAN_ID, VAR_TRACEPARENT, VAR_PARENT_ID, VAR_PARENT_SAMPLED };

static ngx_int_t dpt_ngx_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                                  uintptr_t data)
{
    dpt_ngx_ctx_t *ctx = dpt_ngx_get_ctx(r);
    v->not_found = 1;
    if (ctx == NULL || !ctx->traced) return NGX_OK;
    u_char *p;
    size_t len;
    switch (data) {
    case VAR_TRACE_ID:
        len = 32;
        break;
    case VAR_SPAN_ID:
        len = 16;
        break;
    case VAR_TRACEPARENT:
        len = DPT_TRACEPARENT_LEN;
        break;
    case VAR_PARENT_ID:
        if (!dpt_span_context_is_valid(&ctx->parent)) return NGX_OK;
        len = 16;
        break;
    default:
        if (!dpt_span_context_is_valid(&ctx->parent)) return NGX_OK;
        len = 1;
        break;
    }
    if (!dpt_span_context_is_valid(&ctx->sc) && data <= VAR_TRACEPARENT) return NGX_OK;
    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) return NGX_ERROR;
    switch (data) {
    case VAR_TRACE_ID:
        dpt_trace_id_to_hex(&ctx->sc.trace_id, (char *)p);
        break;
    case VAR_SPAN_ID:
        dpt_span_id_to_hex(&ctx->sc.span_id, (char *)p);
        break;
    case VAR_TRACEPARENT:
        dpt_traceparent_format(&ctx->sc, (char *)p);
        break;
    case VAR_PARENT_ID:
        dpt_span_id_to_hex(&ctx->parent.span_id, (char *)p);
        break;
    default:
        p[0] = (ctx->parent.flags & DPT_FLAG_SAMPLED) ? '1' : '0';
        break;
    }
    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_int_t add_variables(ngx_conf_t *cf)
{
    static ngx_str_t names[] = {ngx_string("dptrace_trace_id"), ngx_string("dptrace_span_id"),
                                ngx_string("dptrace_traceparent"), ngx_string("dptrace_parent_id"),
                                ngx_string("dptrace_parent_sampled")};
    for (ngx_uint_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) return NGX_ERROR;
        var->get_handler = dpt_ngx_variable;
        var->data = i;
    }
    return NGX_OK;
}

/* ---- wiring ---------------------------------------------------------------------------- */

static ngx_int_t dpt_ngx_postconfiguration(ngx_conf_t *cf)
{
    dpt_ngx_main_conf_t *mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_dptrace_module);
    if (!mcf->used) return NGX_OK; /* nothing traced: no handler on the request path */
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) return NGX_ERROR;
    *h = dpt_ngx_rewrite_handler;
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) return NGX_ERROR;
    *h = dpt_ngx_precontent_handler;
    /* Log handlers run in the order they were added: ours goes first, so the span is
     * ended (and exists, for early-finished requests) when the access log is written. */
    ngx_array_t *log = &cmcf->phases[NGX_HTTP_LOG_PHASE].handlers;
    h = ngx_array_push(log);
    if (h == NULL) return NGX_ERROR;
    ngx_http_handler_pt *first = log->elts;
    ngx_memmove(first + 1, first, (log->nelts - 1) * sizeof(ngx_http_handler_pt));
    first[0] = dpt_ngx_log_handler;

    /* Every upstream's peer init (implicit proxy_pass upstreams included) is wrapped. */
    ngx_http_upstream_main_conf_t *umcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    ngx_http_upstream_srv_conf_t **us = umcf->upstreams.elts;
    for (ngx_uint_t i = 0; i < umcf->upstreams.nelts; i++) {
        if (us[i]->peer.init == NULL) continue;
        dpt_ngx_wrapped_t *w = ngx_array_push(mcf->wrapped);
        if (w == NULL) return NGX_ERROR;
        w->uscf = us[i];
        w->init = us[i]->peer.init;
        us[i]->peer.init = dpt_ngx_peer_init;
    }
    return NGX_OK;
}
