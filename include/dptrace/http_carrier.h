/* dptrace/http_carrier.h - a propagation carrier over libcurl header lists.
 *
 * Part of libdptrace-http (needs libcurl). Use it to put traceparent & co. on an outgoing
 * request built with CURLOPT_HTTPHEADER, or to read them back from a list of
 * "Name: value" lines.
 */
#ifndef DPTRACE_HTTP_CARRIER_H
#define DPTRACE_HTTP_CARRIER_H

#include <curl/curl.h>

#include "propagation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Setter over a `struct curl_slist **` carrier: removes every "name:" line of the list
 * (case-insensitive) and appends "name: value". The list may start NULL; free it with
 * curl_slist_free_all. DPT_ENOMEM when curl cannot allocate (the list is then unchanged
 * except for removed lines), DPT_EINVAL for a NULL carrier or a value with CR / LF. */
DPT_EXTERN extern const dpt_setter dpt_curl_setter;

/* Getter over a `const struct curl_slist *` carrier (pass the list itself, not its
 * address): lines "Name: value", names matched case-insensitively, surrounding spaces of
 * the value not returned. Lines without ':' are skipped. */
DPT_EXTERN extern const dpt_getter dpt_curl_getter;

/* Injects ctx (NULL: the current context) with p (NULL: the global propagator) into *list,
 * ready for CURLOPT_HTTPHEADER. Same errors as dpt_propagator_inject. */
DPT_EXTERN dpt_err dpt_curl_inject(const dpt_propagator *p, const dpt_context *ctx,
                                   struct curl_slist **list);

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_HTTP_CARRIER_H */
