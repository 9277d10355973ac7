/* w3c_service.h - the W3C test-suite service as a library, for tests that run it in their
 * own process (for example with a propagator they registered themselves).
 *
 * Build w3c_service.c with W3C_SERVICE_NO_MAIN to get these two functions without main().
 */
#ifndef W3C_SERVICE_H
#define W3C_SERVICE_H

#include <stdint.h>

#include "dptrace.h"
#include "mini_http.h"

/* Starts the service on 127.0.0.1:port (0: a free port; *bound, when not NULL, receives the
 * port). Spans are started with t; calls are injected with the global propagator
 * (dpt_propagator_set_global). libcurl must be initialised by the caller. NULL when the
 * port cannot be bound. */
mini_http *w3c_service_start(dpt_tracer *t, uint16_t port, uint16_t *bound);
/* Stops it (waits for the connections being served). NULL does nothing. */
void w3c_service_stop(mini_http *s);

#endif /* W3C_SERVICE_H */
