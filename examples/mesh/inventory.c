/* inventory.c - the mesh demo's stock service: GET /stock/{sku} answers how many items
 * are available, after a (pretend) database query traced as its own span and a cache
 * lookup recorded as an event.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mesh.h"

/* SKUs looked up before: a tiny cache, so the event says hit or miss. Every third lookup
 * "expires" the entry, so the waterfalls show database spans now and then. */
#define CACHE 64
static char cache[CACHE][32];
static unsigned n_cached, next_slot, lookups;
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static bool cache_lookup(const char *sku)
{
    pthread_mutex_lock(&cache_mu);
    bool hit = false;
    for (unsigned i = 0; i < n_cached && !hit; i++)
        hit = strcmp(cache[i], sku) == 0;
    if (hit && ++lookups % 3 == 0)
        hit = false; /* refreshed from the database, entry kept */
    else if (!hit) {
        snprintf(cache[next_slot], sizeof cache[0], "%s", sku);
        next_slot = (next_slot + 1) % CACHE;
        if (n_cached < CACHE)
            n_cached++;
    }
    pthread_mutex_unlock(&cache_mu);
    return hit;
}

static void get_stock(mesh_request *req, mesh_response *resp)
{
    const char *sku = req->param;
    dpt_span_set_str(req->span, "app.sku", sku);
    bool hit = cache_lookup(sku);
    dpt_attr ev[] = { DPT_STR("cache.key", sku) };
    dpt_span_add_event(req->span, hit ? "cache.hit" : "cache.miss", ev, 1);
    int available = 0;
    if (!hit) {
        /* A child span of the server span (it is current), ended on every way out. */
        DPT_WITH_SPAN(mesh.tracer, "SELECT stock", DPT_SPAN_INTERNAL)
        {
            dpt_span db = dpt_span_current();
            dpt_span_set_str(db, "db.system.name", "sqlite");
            dpt_span_set_str(db, "db.operation.name", "SELECT");
            dpt_span_set_str(db, "db.query.text", "SELECT qty FROM stock WHERE sku = ?");
            mesh_work_ms(1, 4);
        }
    } else {
        mesh_work_ms(0, 1);
    }
    available = 10 + (int)(strlen(sku) * 7 % 40);
    dpt_span_set_int(req->span, "app.stock.available", available);
    snprintf(resp->body, sizeof resp->body, "{\"sku\":\"%.64s\",\"available\":%d}", sku,
             available);
}

int main(int argc, char **argv)
{
    mesh_init("inventory", argc, argv);
    static const mesh_route routes[] = { { "GET", "/stock/{sku}", get_stock } };
    return mesh_serve(routes, 1, NULL);
}
