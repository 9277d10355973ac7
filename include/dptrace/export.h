/* dptrace/export.h - encoders (OTLP protobuf, OTLP JSON, Zipkin v2 JSON) and the file
 * exporter. Part of libdptrace (no dependency beyond libc). See docs/export.md.
 */
#ifndef DPTRACE_EXPORT_H
#define DPTRACE_EXPORT_H

#include "../dptrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* One-shot encoders                                                                     */
/* ------------------------------------------------------------------------------------ */

/* Each encodes n finished spans (NULL entries are skipped) into a new buffer *out
 * (malloc'd: free it with dpt_free), its byte length in *len. The buffer is also
 * NUL-terminated (not counted in *len), so the JSON forms can be used as C strings.
 * Returns DPT_OK, DPT_EINVAL (NULL out/len, or NULL spans with n > 0) or DPT_ENOMEM (then
 * *out is NULL). Thread-safe: the span data is only read.
 *
 * dpt_otlp_proto_encode: an OTLP ExportTraceServiceRequest in protobuf, spans grouped into
 *   ResourceSpans by provider and ScopeSpans by tracer, strings made valid UTF-8 (each
 *   invalid byte becomes U+FFFD) as protobuf requires.
 * dpt_otlp_json_encode: the same request in the OTLP/JSON mapping (hex ids, integer enums,
 *   64-bit integers and times as decimal strings, default values omitted).
 * dpt_zipkin_json_encode: a Zipkin v2 JSON list of spans (times in microseconds, tags as
 *   strings, events as annotations, localEndpoint.serviceName from service.name). */
DPT_EXTERN dpt_err dpt_otlp_proto_encode(const dpt_span_data *const *spans, size_t n, uint8_t **out,
                                         size_t *len);
DPT_EXTERN dpt_err dpt_otlp_json_encode(const dpt_span_data *const *spans, size_t n, char **out,
                                        size_t *len);
DPT_EXTERN dpt_err dpt_zipkin_json_encode(const dpt_span_data *const *spans, size_t n, char **out,
                                          size_t *len);

/* ------------------------------------------------------------------------------------ */
/* Reusable encoders (what exporters use: no allocation once the buffers have grown)      */
/* ------------------------------------------------------------------------------------ */

typedef enum dpt_format {
    DPT_FORMAT_OTLP_PROTO = 1,
    DPT_FORMAT_OTLP_JSON = 2,
    DPT_FORMAT_ZIPKIN_JSON = 3
} dpt_format;

typedef struct dpt_encoder dpt_encoder;

/* A new encoder for one format. NULL on ENOMEM or an unknown format. */
DPT_EXTERN dpt_encoder *dpt_encoder_new(dpt_format fmt);
/* Encodes a batch like the one-shot functions. *out points into the encoder's own buffer
 * (NUL-terminated after *len bytes) and stays valid until the next encode or free. One
 * encoder must not be used by two threads at the same time; different encoders are
 * independent. */
DPT_EXTERN dpt_err dpt_encoder_encode(dpt_encoder *e, const dpt_span_data *const *spans, size_t n,
                                      const uint8_t **out, size_t *len);
DPT_EXTERN dpt_format dpt_encoder_format(const dpt_encoder *e);
DPT_EXTERN void dpt_encoder_free(dpt_encoder *e);

/* ------------------------------------------------------------------------------------ */
/* File exporter                                                                         */
/* ------------------------------------------------------------------------------------ */

/* File exporter: appends one OTLP/JSON ExportTraceServiceRequest per line (the
 * OpenTelemetry Collector file exporter's format) to path (created with mode 0644 if
 * missing, opened O_APPEND, each line written with one write() so lines from several
 * processes never interleave). An empty batch writes nothing. NULL on error (logged). */
DPT_EXTERN dpt_exporter *dpt_exporter_file(const char *path);

/* Same, with the line format chosen: DPT_FORMAT_OTLP_JSON (the default above) or
 * DPT_FORMAT_ZIPKIN_JSON (one JSON list of spans per line). */
DPT_EXTERN dpt_exporter *dpt_exporter_file_format(const char *path, dpt_format fmt);

#ifdef __cplusplus
}
#endif
#endif
