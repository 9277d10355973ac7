/* names.c - names and texts of the public enums (errors, span kinds, status codes), and
 * dpt_free. Error values are part of the ABI: they are never renumbered, and a new one
 * takes the next free number.
 */
#include "common.h"

#include <stdlib.h>

const char *dpt_strerror(dpt_err err)
{
    switch (err) {
    case DPT_OK:
        return "success";
    case DPT_EINVAL:
        return "invalid argument";
    case DPT_ENOMEM:
        return "out of memory";
    case DPT_ESTATE:
        return "invalid state (ended, stale or shut down)";
    case DPT_ETIMEDOUT:
        return "timed out";
    case DPT_EFULL:
        return "queue or store full";
    case DPT_EIO:
        return "input/output error";
    case DPT_ENOTFOUND:
        return "not found";
    case DPT_ETOOBIG:
        return "exceeds a limit";
    case DPT_EPARSE:
        return "malformed input";
    case DPT_EUNSUPPORTED:
        return "not supported";
    case DPT_EEXPORT:
        return "export failed";
    case DPT_EBUSY:
        return "busy";
    }
    return "unknown error";
}

const char *dpt_err_name(dpt_err err)
{
    switch (err) {
    case DPT_OK:
        return "DPT_OK";
    case DPT_EINVAL:
        return "DPT_EINVAL";
    case DPT_ENOMEM:
        return "DPT_ENOMEM";
    case DPT_ESTATE:
        return "DPT_ESTATE";
    case DPT_ETIMEDOUT:
        return "DPT_ETIMEDOUT";
    case DPT_EFULL:
        return "DPT_EFULL";
    case DPT_EIO:
        return "DPT_EIO";
    case DPT_ENOTFOUND:
        return "DPT_ENOTFOUND";
    case DPT_ETOOBIG:
        return "DPT_ETOOBIG";
    case DPT_EPARSE:
        return "DPT_EPARSE";
    case DPT_EUNSUPPORTED:
        return "DPT_EUNSUPPORTED";
    case DPT_EEXPORT:
        return "DPT_EEXPORT";
    case DPT_EBUSY:
        return "DPT_EBUSY";
    }
    return "DPT_E?";
}

const char *dpt_span_kind_name(dpt_span_kind kind)
{
    static const char *const names[] = {"unspecified", "internal", "server",
                                        "client",      "producer", "consumer"};
    return (unsigned)kind <= 5 ? names[kind] : "unspecified";
}

const char *dpt_status_code_name(dpt_status_code code)
{
    return code == DPT_STATUS_OK ? "OK" : code == DPT_STATUS_ERROR ? "ERROR" : "UNSET";
}

void dpt_free(void *ptr)
{
    free(ptr);
}
