/* dpy_tls.h - forced into every file of the module's own build of libdptrace (-include).
 *
 * libdptrace marks its thread-locals tls_model("initial-exec"). In an object loaded with
 * dlopen() (a Python extension) that model draws on a small static TLS surplus that glibc
 * reserves, and libdptrace needs more than it (about 4.7 KiB), so the import would fail
 * with "cannot allocate memory in static TLS block". This turns the attribute into the
 * global-dynamic model, which any dlopen'ed object may use (through TLS descriptors with
 * -mtls-dialect=gnu2: about a nanosecond per access).
 */
#ifndef DPY_TLS_H
#define DPY_TLS_H
#define tls_model(m) tls_model("global-dynamic")
#endif
