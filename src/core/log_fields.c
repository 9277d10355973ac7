/* log_fields.c - trace context for application log lines (the specification's "Trace
 * Context Injection", compatibility/logging_trace_context.md): trace_id, span_id and
 * trace_flags, lowercase hex, formatted for plain text (key=value), syslog RFC 5424
 * structured data, systemd-journald fields and JSON.
 */
#include "common.h"

#include <stdio.h>

bool dpt_log_fields_from(const dpt_span_context *sc, dpt_log_fields *out)
{
    if (!out) return false;
    memset(out, 0, sizeof *out);
    if (!sc || !dpt_span_context_is_valid(sc)) return false;
    dpt__hex_encode(sc->trace_id.b, 16, out->trace_id);
    dpt__hex_encode(sc->span_id.b, 8, out->span_id);
    /* W3C trace-flags format: two lowercase hex digits. */
    static const char hex[] = "0123456789abcdef";
    out->trace_flags[0] = hex[(sc->flags >> 4) & 0xf];
    out->trace_flags[1] = hex[sc->flags & 0xf];
    out->trace_flags[2] = 0;
    return true;
}

bool dpt_log_fields_current(dpt_log_fields *out)
{
    dpt_span_context sc = dpt_span_context_current();
    return dpt_log_fields_from(&sc, out);
}

size_t dpt_log_fields_format(const dpt_log_fields *f, dpt_log_style style, char *buf, size_t cap)
{
    if (!buf || cap == 0) return 0;
    buf[0] = 0;
    if (!f || !f->trace_id[0]) return 0;
    int n;
    switch (style) {
    case DPT_LOG_STYLE_SYSLOG:
        /* RFC 5424 structured data with the SD-ID the specification names. */
        n = snprintf(buf, cap, "[opentelemetry trace_id=\"%s\" span_id=\"%s\" trace_flags=\"%s\"]",
                     f->trace_id, f->span_id, f->trace_flags);
        break;
    case DPT_LOG_STYLE_JOURNALD:
        n = snprintf(buf, cap, "TRACE_ID=%s\nSPAN_ID=%s\nTRACE_FLAGS=%s", f->trace_id, f->span_id,
                     f->trace_flags);
        break;
    case DPT_LOG_STYLE_JSON:
        n = snprintf(buf, cap, "\"trace_id\":\"%s\",\"span_id\":\"%s\",\"trace_flags\":\"%s\"",
                     f->trace_id, f->span_id, f->trace_flags);
        break;
    default:
        n = snprintf(buf, cap, DPT_LOG_FIELDS_FMT, DPT_LOG_FIELDS_ARGS(f));
        break;
    }
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = 0; /* never a cut line: all or nothing */
        return 0;
    }
    return (size_t)n;
}
