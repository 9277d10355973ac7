/* payments.c - the mesh demo's fake payment provider: POST /charge succeeds, except every
 * tenth request, which fails with 503 and an exception event, so the demo always has
 * failed traces to look at (exactly one in ten, whatever the concurrency).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "mesh.h"

static atomic_uint charges;

static void post_charge(mesh_request *req, mesh_response *resp)
{
    unsigned n = atomic_fetch_add(&charges, 1) + 1;
    const char *amount = mesh_query(req, "amount");
    dpt_span_set_double(req->span, "app.payment.amount", amount ? atof(amount) : 0.0);
    const char *tenant = dpt_baggage_get(req->baggage, "tenant.id");
    if (tenant) dpt_span_set_str(req->span, "tenant.id", tenant);
    mesh_work_ms(2, 6);
    if (n % 10 == 0) {
        /* exception event + ERROR status; mesh.c adds http.response.status_code 503 */
        dpt_span_record_error(req->span, "PaymentProviderTimeout",
                              "the card network did not answer in time");
        resp->status = 503;
        snprintf(resp->error, sizeof resp->error, "payment provider timeout");
        snprintf(resp->body, sizeof resp->body, "{\"error\":\"payment provider timeout\"}");
        return;
    }
    dpt_span_add_event(req->span, "payment.authorized", NULL, 0);
    snprintf(resp->body, sizeof resp->body, "{\"charge\":%u,\"status\":\"authorized\"}", n);
}

int main(int argc, char **argv)
{
    mesh_init("payments", argc, argv);
    static const mesh_route routes[] = {{"POST", "/charge", post_charge}};
    return mesh_serve(routes, 1, NULL);
}
