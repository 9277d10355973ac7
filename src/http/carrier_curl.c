/* carrier_curl.c - propagation carrier over libcurl's struct curl_slist (header lines).
 *
 * curl_slist is a public singly linked list of malloc'd "Name: value" strings, so lines
 * are removed by unlinking the node and freeing it with curl_slist_free_all.
 */
#include "dptrace/http_carrier.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Length of the name of line s when it is "name:...", else 0. */
static size_t line_name_len(const char *s)
{
    const char *c = strchr(s, ':');
    return c ? (size_t)(c - s) : 0;
}

static dpt_err curl_set(void *carrier, const char *name, const char *value, size_t len)
{
    struct curl_slist **list = carrier;
    if (!list || !name || !value) return DPT_EINVAL;
    size_t nl = strlen(name);
    /* A CR or LF in a value would split the request's header block. */
    if (memchr(value, '\r', len) || memchr(value, '\n', len) || nl == 0) return DPT_EINVAL;
    for (struct curl_slist **pp = list; *pp;) {
        struct curl_slist *n = *pp;
        if (line_name_len(n->data) == nl && strncasecmp(n->data, name, nl) == 0) {
            *pp = n->next;
            n->next = NULL;
            curl_slist_free_all(n);
        } else {
            pp = &n->next;
        }
    }
    char *line = malloc(nl + 2 + len + 1);
    if (!line) return DPT_ENOMEM;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, len);
    line[nl + 2 + len] = 0;
    struct curl_slist *nl2 = curl_slist_append(*list, line); /* copies line */
    free(line);
    if (!nl2) return DPT_ENOMEM;
    *list = nl2;
    return DPT_OK;
}

static const char *curl_get(void *carrier, const char *name, size_t index, size_t *len)
{
    size_t nl = strlen(name);
    for (const struct curl_slist *n = carrier; n; n = n->next) {
        if (line_name_len(n->data) != nl || strncasecmp(n->data, name, nl) != 0) continue;
        if (index-- != 0) continue;
        const char *v = n->data + nl + 1;
        size_t vl = strlen(v);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        *len = vl;
        return v;
    }
    return NULL;
}

static const char *curl_key(void *carrier, size_t index, size_t *len)
{
    for (const struct curl_slist *n = carrier; n; n = n->next) {
        size_t nl = line_name_len(n->data);
        if (nl == 0) continue;
        if (index-- == 0) {
            *len = nl;
            return n->data;
        }
    }
    return NULL;
}

const dpt_setter dpt_curl_setter = {curl_set};
const dpt_getter dpt_curl_getter = {curl_get, curl_key};

dpt_err dpt_curl_inject(const dpt_propagator *p, const dpt_context *ctx, struct curl_slist **list)
{
    if (!list) return DPT_EINVAL;
    return dpt_propagator_inject(p, ctx, &dpt_curl_setter, list);
}
