/* dptrace/instr.h - one-call instrumentation of libcurl transfers, libmicrohttpd requests
 * and SQLite statements (libdptrace-instr), following the OpenTelemetry semantic
 * conventions for HTTP and database spans. docs/instrumentation.md is the guide.
 *
 * Each part is built into libdptrace-instr when its library was found at build time, and
 * is declared here when that library's header was included BEFORE this one:
 *
 *     #include <curl/curl.h>      // dpt_curl_*
 *     #include <microhttpd.h>     // dpt_mhd_*
 *     #include <sqlite3.h>        // dpt_sqlite_*
 *     #include <dptrace/instr.h>
 *
 * The sanitizers at the top (URL redaction, SQL literal replacement and summary) need no
 * library and are always there.
 *
 * Tracers: every helper takes an optional tracer; NULL means the tracer "dptrace.instr" of
 * the global provider (dpt_provider_set_global), so a program that sets its provider once
 * needs no other wiring. The parent of a span is the calling thread's current context
 * unless an explicit parent is given.
 */
#ifndef DPTRACE_INSTR_H
#define DPTRACE_INSTR_H

#include "../dptrace.h"
#include "propagation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Sanitizers (no dependency)                                                            */
/* ------------------------------------------------------------------------------------ */

/* The marker the sanitizers write in place of a secret, as the semantic conventions say. */
#define DPT_URL_REDACTED "REDACTED"

/* Writes url (len bytes, DPT_NUL: NUL-terminated) to out as url.full may carry it:
 * credentials in the authority become REDACTED:REDACTED (or REDACTED when there is no
 * password), and the value of every query parameter that is sensitive becomes REDACTED
 * while its key stays. Sensitive: the semantic conventions' list (AWSAccessKeyId,
 * Signature, sig, X-Amz-Credential, X-Amz-Security-Token, X-Amz-Signature,
 * X-Goog-Signature; compared case-sensitively) plus any key that the process redaction
 * policy matches (dpt_redaction_matches: token, password, api_key, ...).
 * Returns the length of the full result (like snprintf); out (cap bytes) receives as much
 * as fits, always NUL-terminated when cap > 0. Thread-safe, no allocation. */
DPT_EXTERN size_t dpt_instr_redact_url(const char *url, size_t len, char *out, size_t cap);

/* Writes sql with every literal replaced by '?' (strings, numbers with their sign, hex and
 * blob literals) and comments removed. Parameters (?, ?NNN, :name, @name, $name), identifiers and
 * keywords are kept as written. This is what db.query.text carries by default, so that no data
 * reaches a trace. Returns the length of the full result; out as for dpt_instr_redact_url.
 * Thread-safe.
 */
DPT_EXTERN size_t dpt_instr_sanitize_sql(const char *sql, size_t len, char *out, size_t cap);

/* Writes the low-cardinality summary of sql that the conventions define for
 * db.query.summary: the operations and their targets in order, e.g.
 * "INSERT shipping_details SELECT orders", "CREATE TABLE t", cut to 255 bytes at a word
 * boundary. Returns its length (0 when sql has no operation we know); out as above. */
DPT_EXTERN size_t dpt_instr_summarize_sql(const char *sql, size_t len, char *out, size_t cap);

/* Counters of what the helpers could not record (monotonic, process-wide). */
typedef struct dpt_instr_stats {
    uint64_t sqlite_statements_untraced; /* more statements in flight than slots (16) */
    uint64_t curl_inject_failed;         /* headers could not be added (memory) */
} dpt_instr_stats;
DPT_EXTERN void dpt_instr_get_stats(dpt_instr_stats *out);

/* ------------------------------------------------------------------------------------ */
/* libcurl                                                                               */
/* ------------------------------------------------------------------------------------ */
#if defined(CURLINC_CURL_H) || defined(__CURL_CURL_H)

/* Options of a traced transfer; NULL or a zeroed struct gives the defaults. */
typedef struct dpt_curl_opts {
    dpt_tracer *tracer;               /* NULL: the global provider's "dptrace.instr" */
    const dpt_propagator *propagator; /* NULL: the global propagator (OTEL_PROPAGATORS) */
    const dpt_context *parent;        /* NULL: the calling thread's current context */
    /* The low-cardinality target of the span name, e.g. "/stock/{sku}": the span is named
     * "GET /stock/{sku}" instead of "GET" (and url.template is set). */
    const char *url_template;
    /* The URL and method as set on the handle (optional). With them the span starts with
     * url.full, server.address/port and the method, so a sampler sees them, and url.full
     * is the URL first asked for even when redirects were followed (as the conventions
     * want for one span per transfer); without them they are read from the handle after
     * the transfer (CURLINFO_EFFECTIVE_URL / _METHOD). */
    const char *url;
    const char *method;
} dpt_curl_opts;

/* curl_easy_perform(c) inside a CLIENT span (child of the current span):
 *  - the span's context (traceparent, tracestate, baggage: the propagator's fields) is sent
 *    in the request headers together with `headers`, the caller's own header list (what it
 *    would have given CURLOPT_HTTPHEADER; NULL: none). The caller's list is neither
 *    changed nor freed; trace fields already in it are replaced for this transfer only.
 *    When the call returns, CURLOPT_HTTPHEADER of c is `headers` again.
 *  - attributes: http.request.method (_OTHER + http.request.method_original for a method
 *    the conventions do not know), url.full (redacted, see dpt_instr_redact_url),
 *    server.address, server.port, network.peer.address/port, network.protocol.version,
 *    http.response.status_code, http.request.resend_count (redirects followed),
 *    http.request.body.size, http.response.body.size, url.template.
 *  - status: ERROR for a 4xx/5xx answer (error.type = the code) and for a transport error
 *    (error.type = "timeout" or the CURLE_* name, description = curl_easy_strerror);
 *    CURLE_ABORTED_BY_CALLBACK is the caller's cancellation and is not an error.
 * Returns what curl_easy_perform returned. Thread-safe as curl is (one handle, one thread
 * at a time); no allocation in the common case. */
DPT_EXTERN CURLcode dpt_curl_perform(CURL *c, struct curl_slist *headers,
                                     const dpt_curl_opts *opts);

/* The same in two steps, for the multi interface: start before curl_multi_add_handle,
 * end when curl_multi_info_read reports the transfer done (with its result). Between the
 * two, CURLOPT_HTTPHEADER of c points into the returned object: do not free it. start
 * returns NULL only when memory is exhausted (c is then left as it was: perform it
 * untraced). end ends the span, puts `headers` back on c and frees the object (NULL is a
 * no-op). One transfer per object; each call on the handle's thread. */
typedef struct dpt_curl_span dpt_curl_span;
DPT_EXTERN dpt_curl_span *dpt_curl_span_start(CURL *c, struct curl_slist *headers,
                                              const dpt_curl_opts *opts);
DPT_EXTERN void dpt_curl_span_end(dpt_curl_span *s, CURLcode result);
/* The CLIENT span of s (add attributes or events to it); DPT_SPAN_NONE for NULL. */
DPT_EXTERN dpt_span dpt_curl_span_get(const dpt_curl_span *s);

#endif /* libcurl */

/* ------------------------------------------------------------------------------------ */
/* libmicrohttpd                                                                         */
/* ------------------------------------------------------------------------------------ */
#ifdef MHD_MICROHTTPD_H

typedef struct dpt_mhd_opts {
    dpt_tracer *tracer;               /* NULL: the global provider's "dptrace.instr" */
    const dpt_propagator *propagator; /* NULL: the global propagator */
    /* At the edge of the mesh: start a new trace linked to the caller's, drop its baggage
     * (see dpt_server_opts.untrusted_edge). */
    bool untrusted_edge;
    bool https; /* url.scheme "https" (the daemon serves TLS) */
} dpt_mhd_opts;

/* One traced request. Owned by the caller from start until dpt_mhd_request_end. */
typedef struct dpt_mhd_request dpt_mhd_request;

/* Starts the SERVER span of a request: call it on the first call of the access handler
 * for the request (url, method and version are that handler's arguments). The incoming
 * context is extracted from the request headers (W3C Trace Context and Baggage, or what
 * the propagator reads); attributes: http.request.method (+ _original), url.path,
 * url.scheme, server.address/server.port (from Host), client.address,
 * network.peer.address/port, network.protocol.version, user_agent.original,
 * http.request.body.size (Content-Length). The span is named after the method until
 * dpt_mhd_request_set_route names the route. Returns NULL only when memory is exhausted
 * (trace nothing then: every dpt_mhd_request_* call accepts NULL). */
DPT_EXTERN dpt_mhd_request *dpt_mhd_request_start(struct MHD_Connection *conn, const char *url,
                                                  const char *method, const char *version,
                                                  const dpt_mhd_opts *opts);

/* The context to attach while handling the request (the span and the accepted baggage):
 *   dpt_token t = dpt_context_attach(dpt_mhd_request_context(r)); ... dpt_context_detach(t);
 * Valid until dpt_mhd_request_end. NULL for NULL r. */
DPT_EXTERN const dpt_context *dpt_mhd_request_context(const dpt_mhd_request *r);
/* The SERVER span (to add attributes, events, errors); DPT_SPAN_NONE for NULL. */
DPT_EXTERN dpt_span dpt_mhd_request_span(const dpt_mhd_request *r);
/* Sets http.route (a low-cardinality template such as "/stock/{sku}", copied) and renames
 * the span "{method} {route}". */
DPT_EXTERN void dpt_mhd_request_set_route(dpt_mhd_request *r, const char *route);

/* MHD_queue_response(conn, status, response), recording http.response.status_code and,
 * for a 5xx, the ERROR status with error.type = the code (a 4xx is the client's error
 * and leaves the server span's status unset). Returns what MHD_queue_response returned. */
DPT_EXTERN enum MHD_Result dpt_mhd_queue_response(dpt_mhd_request *r, unsigned int status,
                                                  struct MHD_Response *response);

/* Ends the span and frees r: call it from the daemon's MHD_OPTION_NOTIFY_COMPLETED
 * callback with its termination code. A request that did not complete normally (timeout,
 * client gone, read error, daemon shutdown) gets the ERROR status and error.type
 * "timeout", "client_abort", "read_error", "shutdown" or "connection_error". NULL is a
 * no-op. */
DPT_EXTERN void dpt_mhd_request_end(dpt_mhd_request *r, enum MHD_RequestTerminationCode toe);

/* A ready MHD_OPTION_NOTIFY_COMPLETED callback for servers that keep the
 * dpt_mhd_request itself in *con_cls: ends it and sets *con_cls to NULL. */
DPT_EXTERN void dpt_mhd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                  enum MHD_RequestTerminationCode toe);

#endif /* libmicrohttpd */

/* ------------------------------------------------------------------------------------ */
/* SQLite                                                                                */
/* ------------------------------------------------------------------------------------ */
#ifdef SQLITE3_H

typedef struct dpt_sqlite_opts {
    dpt_tracer *tracer; /* NULL: the global provider's "dptrace.instr" */
    /* db.query.text as written instead of sanitized (literals kept). Only for programs
     * whose SQL holds no data (every value bound as a parameter). */
    bool raw_query_text;
    bool no_query_text;       /* no db.query.text at all */
    const char *db_namespace; /* db.namespace (copied); NULL: none */
} dpt_sqlite_opts;

/* Traces every statement run on db from now on through sqlite3_trace_v2 (it replaces any
 * trace callback the program set): a CLIENT span per execution, from the first
 * sqlite3_step to the end of the statement, child of the stepping thread's current span.
 * Name: db.query.summary ("SELECT stock"), else "sqlite". Attributes: db.system.name
 * "sqlite", db.query.text (sanitized by default, see dpt_instr_sanitize_sql), db.query.summary,
 * db.namespace, db.response.returned_rows (statements that return rows),
 * dptrace.db.rows_affected (INSERT, UPDATE, DELETE: sqlite3_changes64; no semantic
 * convention exists for it).
 * Errors: sqlite3_trace_v2 does not tell whether a statement failed, so a failure is
 * recorded (ERROR status, db.response.status_code and error.type = the extended result
 * code, description = sqlite3_errmsg) when the statement is stepped through
 * dpt_sqlite_step or dpt_sqlite_exec below; with plain sqlite3_step the span carries no
 * error. The per-connection state is freed when db is closed (sqlite3_close) or by
 * dpt_sqlite_uninstrument. Call it on the thread that owns db, with no statement running.
 * Returns DPT_OK, DPT_EINVAL (NULL db), DPT_ENOMEM, DPT_EIO (sqlite3_trace_v2 failed). */
DPT_EXTERN dpt_err dpt_sqlite_instrument(sqlite3 *db, const dpt_sqlite_opts *opts);
/* Stops tracing db: ends the spans of statements still running (without an error) and
 * removes the trace callback. DPT_ENOTFOUND when db was not instrumented. */
DPT_EXTERN dpt_err dpt_sqlite_uninstrument(sqlite3 *db);

/* sqlite3_step(stmt), recording an error result on the statement's span. Same return. */
DPT_EXTERN int dpt_sqlite_step(sqlite3_stmt *stmt);
/* sqlite3_exec with the same arguments and result, recording an error on the span of the
 * statement that failed. */
DPT_EXTERN int dpt_sqlite_exec(sqlite3 *db, const char *sql,
                               int (*callback)(void *, int, char **, char **), void *arg,
                               char **errmsg);

#endif /* SQLite */

#ifdef __cplusplus
}
#endif
#endif /* DPTRACE_INSTR_H */
