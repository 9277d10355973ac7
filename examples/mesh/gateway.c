/* gateway.c - the mesh demo's edge: GET /checkout?sku=..&qty=.. puts the caller's tenant
 * (header x-tenant-id) into W3C baggage, so every service downstream sees it, and asks
 * orders to place the order.
 */
#include <stdio.h>
#include <string.h>

#include "mesh.h"

static const char *orders_url;

static void get_checkout(mesh_request *req, mesh_response *resp)
{
    const char *sku = mesh_query(req, "sku");
    const char *qty = mesh_query(req, "qty");
    const char *tenant = mesh_header(req, "x-tenant-id");
    if (!tenant || !*tenant || strlen(tenant) > 32) tenant = "public";
    if (!sku || !qty) {
        resp->status = 400;
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"sku and qty wanted\"}");
        return;
    }
    dpt_span_set_str(req->span, "tenant.id", tenant);

    /* Baggage: a new context = the current one + tenant.id, current while we call on. */
    dpt_baggage *bg = NULL;
    dpt_baggage_set(req->baggage, "tenant.id", tenant, NULL, &bg);
    dpt_context *cur = dpt_context_current();
    dpt_context *with = dpt_context_with_baggage(cur, bg);
    dpt_token tok = dpt_context_attach(with);
    dpt_context_release(cur);
    dpt_baggage_release(bg);

    dpt_span_add_event(req->span, "checkout.started", NULL, 0);
    char url[512];
    snprintf(url, sizeof url, "%s/orders?sku=%.32s&qty=%.8s", orders_url, sku, qty);
    mesh_http_result r;
    mesh_http_call("POST", url, "/orders", &r);
    if (r.status == 201) {
        resp->status = 200;
        snprintf(resp->body, sizeof resp->body, "%s", r.body);
        dpt_span_add_event(req->span, "checkout.completed", NULL, 0);
    } else {
        resp->status = 502;
        if (r.status)
            snprintf(resp->error, sizeof resp->error, "order failed (HTTP %ld)", r.status);
        else
            snprintf(resp->error, sizeof resp->error, "orders unreachable (%.90s)", r.error);
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"checkout failed\"}");
    }
    dpt_context_detach(tok);
    dpt_context_release(with);
}

int main(int argc, char **argv)
{
    mesh_init("gateway", argc, argv);
    orders_url = mesh_arg("orders", "http://127.0.0.1:8081");
    static const mesh_route routes[] = {{"GET", "/checkout", get_checkout}};
    return mesh_serve(routes, 1, NULL);
}
