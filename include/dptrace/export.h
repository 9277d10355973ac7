/* dptrace/export.h - encoders (OTLP protobuf, OTLP JSON, Zipkin v2 JSON) and the file
 * exporter. Part of libdptrace (no dependency beyond libc).
 */
#ifndef DPTRACE_EXPORT_H
#define DPTRACE_EXPORT_H

#include "../dptrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File exporter: appends one OTLP/JSON ExportTraceServiceRequest per line (the
 * OpenTelemetry Collector file exporter's format) to path (created if missing, opened
 * O_APPEND so lines from one process never interleave). NULL on error (logged). */
DPT_EXTERN dpt_exporter *dpt_file_exporter_new(const char *path);

#ifdef __cplusplus
}
#endif
#endif
