/* orders.c - the mesh demo's order service: POST /orders checks stock with inventory,
 * charges with payments, and queues the fulfilment as an asynchronous job. A worker
 * thread takes jobs in batches; its CONSUMER span starts a trace of its own, linked to
 * the PRODUCER span of every job in the batch (OpenTelemetry's messaging pattern).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mesh.h"

#define BATCH_MAX 8

typedef struct job {
    struct job *next;
    dpt_span_context producer; /* captured on the request thread, used on the worker */
    unsigned order;
    char sku[32];
    char tenant[64];
} job;

/* The queue: owned by this file, guarded by mu; the worker sleeps on cv. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static job *head, *tail;
static size_t queued;
static bool stopping;
static pthread_t worker;
static atomic_uint orders;
static const char *inventory_url, *payments_url;

static void enqueue(unsigned order, const char *sku, const char *tenant)
{
    job *j = calloc(1, sizeof *j);
    if (!j) return;
    char id[16];
    snprintf(id, sizeof id, "%u", order);
    dpt_attr attrs[] = {DPT_STR("messaging.system", "inproc"),
                        DPT_STR("messaging.destination.name", "orders.fulfilment"),
                        DPT_STR("messaging.operation.type", "send"),
                        DPT_STR("messaging.message.id", id)};
    dpt_span_opts o = {.attrs = attrs, .n_attrs = 4};
    dpt_span p = dpt_span_start(mesh.tracer, "send orders.fulfilment", DPT_SPAN_PRODUCER, &o);
    j->producer = dpt_span_get_context(p);
    j->order = order;
    snprintf(j->sku, sizeof j->sku, "%s", sku);
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant ? tenant : "");
    pthread_mutex_lock(&mu);
    if (tail)
        tail->next = j;
    else
        head = j;
    tail = j;
    queued++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    dpt_span_end(p);
}

static void process_batch(job *batch, size_t n)
{
    dpt_link links[BATCH_MAX];
    char ids[BATCH_MAX][16];
    dpt_attr link_attrs[BATCH_MAX][1];
    size_t k = 0;
    for (job *j = batch; j && k < n; j = j->next, k++) {
        snprintf(ids[k], sizeof ids[k], "%u", j->order);
        link_attrs[k][0] = DPT_STR("messaging.message.id", ids[k]);
        links[k] = (dpt_link){.ctx = j->producer, .attrs = link_attrs[k], .n_attrs = 1};
    }
    dpt_attr attrs[] = {DPT_STR("messaging.system", "inproc"),
                        DPT_STR("messaging.destination.name", "orders.fulfilment"),
                        DPT_STR("messaging.operation.type", "process"),
                        DPT_INT("messaging.batch.message_count", (int64_t)k)};
    /* root: the batch serves several requests, so it belongs to none of their traces;
     * the links say which producers it came from. */
    dpt_span_opts o = {.root = true, .attrs = attrs, .n_attrs = 4, .links = links, .n_links = k};
    dpt_span c = dpt_span_start(mesh.tracer, "process orders.fulfilment", DPT_SPAN_CONSUMER, &o);
    dpt_token tok = dpt_span_make_current(c);
    for (job *j = batch; j; j = j->next) {
        DPT_WITH_SPAN(mesh.tracer, "fulfil order", DPT_SPAN_INTERNAL)
        {
            dpt_span s = dpt_span_current();
            dpt_span_set_int(s, "app.order.id", j->order);
            dpt_span_set_str(s, "app.sku", j->sku);
            if (*j->tenant) dpt_span_set_str(s, "tenant.id", j->tenant);
            mesh_work_ms(0, 1);
        }
    }
    dpt_context_detach(tok);
    dpt_span_end(c);
}

static void *work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!head && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (!head && stopping) break;
        /* Give a batch a moment to fill up (not when stopping: drain now). */
        if (queued < BATCH_MAX && !stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 20 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (queued < BATCH_MAX && !stopping && pthread_cond_timedwait(&cv, &mu, &until) == 0)
                ;
        }
        job *batch = head, *last = head;
        size_t n = 1;
        while (last->next && n < BATCH_MAX) {
            last = last->next;
            n++;
        }
        head = last->next;
        if (!head) tail = NULL;
        last->next = NULL;
        queued -= n;
        pthread_mutex_unlock(&mu);
        process_batch(batch, n);
        while (batch) {
            job *next = batch->next;
            free(batch);
            batch = next;
        }
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void stop_worker(void)
{
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(worker, NULL); /* it drains the queue first */
}

/* Asks the Python recommendations service (examples/mesh/recommendations.py) for related
 * products, when the demo started it (MESH_RECOMMENDATIONS_URL). Best effort: the order
 * does not depend on the answer; the call shows a Python service in the same trace. */
static void recommend(const char *sku)
{
    const char *base = getenv("MESH_RECOMMENDATIONS_URL");
    if (!base || !*base) return;
    char url[512];
    snprintf(url, sizeof url, "%.400s/recommendations/%s", base, sku);
    mesh_http_result r;
    mesh_http_call("GET", url, "/recommendations/{sku}", &r);
}

static void post_orders(mesh_request *req, mesh_response *resp)
{
    const char *sku = mesh_query(req, "sku");
    const char *qty_s = mesh_query(req, "qty");
    int qty = qty_s ? atoi(qty_s) : 1;
    if (!sku || !*sku || strlen(sku) > 24 || qty < 1 || qty > 100) {
        resp->status = 400;
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"sku and qty (1..100) wanted\"}");
        return;
    }
    unsigned order = atomic_fetch_add(&orders, 1) + 1000;
    /* Baggage set by the gateway, carried in the request headers. */
    const char *tenant = dpt_baggage_get(req->baggage, "tenant.id");
    if (tenant) dpt_span_set_str(req->span, "tenant.id", tenant);
    dpt_span_set_int(req->span, "app.order.id", order);

    DPT_WITH_SPAN(mesh.tracer, "validate order", DPT_SPAN_INTERNAL)
    {
        dpt_attr a[] = {DPT_STR("app.sku", sku), DPT_INT("app.qty", qty)};
        mesh_work_ms(0, 1);
        dpt_span_add_event(dpt_span_current(), "order.validated", a, 2);
    }

    char url[512];
    mesh_http_result r;
    snprintf(url, sizeof url, "%s/stock/%s", inventory_url, sku);
    mesh_http_call("GET", url, "/stock/{sku}", &r);
    if (r.status != 200) {
        resp->status = 502;
        snprintf(resp->error, sizeof resp->error, "inventory failed (%.90s)",
                 r.status ? "HTTP error" : r.error);
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"inventory unavailable\"}");
        return;
    }
    snprintf(url, sizeof url, "%s/charge?amount=%d.%02d", payments_url, 19 * qty, 99);
    mesh_http_call("POST", url, "/charge", &r);
    if (r.status != 200) {
        dpt_attr a[] = {DPT_INT("http.response.status_code", r.status)};
        dpt_span_add_event(req->span, "payment.failed", a, 1);
        resp->status = 502;
        snprintf(resp->error, sizeof resp->error, "payment failed (HTTP %ld)", r.status);
        snprintf(resp->body, sizeof resp->body, "{\"order\":%u,\"error\":\"payment failed\"}",
                 order);
        return;
    }
    recommend(sku);
    enqueue(order, sku, tenant);
    resp->status = 201;
    snprintf(resp->body, sizeof resp->body, "{\"order\":%u,\"status\":\"confirmed\"}", order);
}

int main(int argc, char **argv)
{
    mesh_init("orders", argc, argv);
    inventory_url = mesh_arg("inventory", "http://127.0.0.1:8082");
    payments_url = mesh_arg("payments", "http://127.0.0.1:8083");
    if (pthread_create(&worker, NULL, work, NULL) != 0) {
        fprintf(stderr, "orders: cannot start the worker thread\n");
        return 1;
    }
    static const mesh_route routes[] = {{"POST", "/orders", post_orders}};
    return mesh_serve(routes, 1, stop_worker);
}
