/* dl_tls.h - force-included into the nginx module's private copy of libdptrace: turns
 * the library's initial-exec thread-locals into global-dynamic ones. A module is loaded
 * with dlopen(), and initial-exec TLS in a dlopen()ed object must fit the small static TLS
 * surplus glibc keeps (a few hundred bytes to spare once other libraries took theirs);
 * libdptrace's does not (the redaction verdict cache alone is 4.6 KB), and dlopen() would
 * fail with "cannot allocate memory in static TLS block". The cost is a __tls_get_addr
 * call per thread-local access, in this copy only.
 */
#define tls_model(m) tls_model("global-dynamic")
