/* util.c - helpers of the dptrace CLI: memory that cannot fail, arena, string buffer, id
 * decoding, human formatting and terminal-safe output.
 */
#include "util.h"

#include "base64.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "dptrace: out of memory (allocating %zu bytes)\n", n);
    exit(CLI_FAIL);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

/* ---- arena ---------------------------------------------------------------------------- */

struct arena_block {
    arena_block *next;
    max_align_t data[]; /* keeps every allocation suitably aligned */
};

#define ARENA_BLOCK 65536u

void *arena_alloc(arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!a->head || a->cap - a->used < n) {
        /* Big requests get a block of their own so the common small ones stay packed. */
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        arena_block *b = xmalloc(sizeof(*b) + cap);
        if (a->head && n > ARENA_BLOCK / 4) {
            /* Slip it behind the head: the head keeps its free space for small ones. */
            b->next = a->head->next;
            a->head->next = b;
            a->total += n;
            return b->data;
        }
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap = cap;
    }
    void *p = (char *)a->head->data + a->used;
    a->used += n;
    a->total += n;
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    memset(a, 0, sizeof(*a));
}

/* ---- sbuf ----------------------------------------------------------------------------- */

static void sb_grow(sbuf *b, size_t extra)
{
    if (b->cap - b->len > extra) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2) oom(SIZE_MAX);
        cap *= 2;
    }
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void sb_putn(sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

void sb_putc(sbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    sb_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_free(sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- ids ------------------------------------------------------------------------------ */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool id_decode(const char *s, size_t len, uint8_t *out, size_t n_bytes)
{
    if (len == 2 * n_bytes) {
        for (size_t i = 0; i < n_bytes; i++) {
            int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
            if (hi < 0 || lo < 0) return false;
            out[i] = (uint8_t)(hi << 4 | lo);
        }
        return true;
    }
    /* base64: 16 bytes -> 24 chars ("==" padding), 8 bytes -> 12 chars ("=" padding); the
     * padding may be missing. Exactly n_bytes: a longer text does not fit, a shorter one
     * falls short. */
    size_t got = 0;
    return dpt__b64_decode(s, len, out, n_bytes, &got) && got == n_bytes;
}

void id_hex(const uint8_t *id, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * n] = '\0';
}

bool id_is_zero(const uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (id[i]) return false;
    return true;
}

/* ---- formatting ----------------------------------------------------------------------- */

void fmt_duration(uint64_t ns, bool ascii, char *out, size_t cap)
{
    const char *us = ascii ? "us" : "\xc2\xb5s";
    if (ns < 1000)
        snprintf(out, cap, "%u ns", (unsigned)ns);
    else if (ns < 1000000)
        snprintf(out, cap, "%.*f %s", ns < 100000 ? 1 : 0, (double)ns / 1e3, us);
    else if (ns < 1000000000)
        snprintf(out, cap, "%.*f ms", ns < 100000000 ? 1 : 0, (double)ns / 1e6);
    else if (ns < 60000000000ull)
        snprintf(out, cap, "%.2f s", (double)ns / 1e9);
    else {
        uint64_t s = ns / 1000000000ull;
        if (s < 3600)
            snprintf(out, cap, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
        else
            snprintf(out, cap, "%lluh%02um", (unsigned long long)(s / 3600),
                     (unsigned)(s % 3600 / 60));
    }
}

void fmt_count(uint64_t n, char *out, size_t cap)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is invalid (overlong forms,
 * surrogates and code points past U+10FFFF included). *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

/* Terminal columns of a printable code point: 2 for East Asian Wide and Fullwidth
 * characters and emoji presentation (Unicode UAX #11 and the emoji ranges terminals draw
 * two cells wide), 0 for combining marks, zero-width joiners and variation selectors, 1
 * for the rest. Our own table rather than wcwidth(3), whose answer depends on the locale
 * (in the C locale it knows no wide character at all). */
static int cp_width(uint32_t cp)
{
    static const uint32_t zero[][2] = {
        {0x0300, 0x036f},   {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a},
        {0x064b, 0x065f},   {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x0e47, 0x0e4e},
        {0x1ab0, 0x1aff},   {0x1dc0, 0x1dff}, {0x200b, 0x200f}, {0x20d0, 0x20ff},
        {0xfe00, 0xfe0f},   {0xfe20, 0xfe2f}, {0xfeff, 0xfeff}, {0x1f3fb, 0x1f3ff},
        {0xe0100, 0xe01ef},
    };
    static const uint32_t wide[][2] = {
        {0x1100, 0x115f},   {0x231a, 0x231b},   {0x2329, 0x232a},   {0x23e9, 0x23ec},
        {0x23f0, 0x23f0},   {0x23f3, 0x23f3},   {0x25fd, 0x25fe},   {0x2614, 0x2615},
        {0x2648, 0x2653},   {0x267f, 0x267f},   {0x2693, 0x2693},   {0x26a1, 0x26a1},
        {0x26aa, 0x26ab},   {0x26bd, 0x26be},   {0x26c4, 0x26c5},   {0x26ce, 0x26ce},
        {0x26d4, 0x26d4},   {0x26ea, 0x26ea},   {0x26f2, 0x26f3},   {0x26f5, 0x26f5},
        {0x26fa, 0x26fa},   {0x26fd, 0x26fd},   {0x2705, 0x2705},   {0x270a, 0x270b},
        {0x2728, 0x2728},   {0x274c, 0x274c},   {0x274e, 0x274e},   {0x2753, 0x2755},
        {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27b0, 0x27b0},   {0x27bf, 0x27bf},
        {0x2b1b, 0x2b1c},   {0x2b50, 0x2b50},   {0x2b55, 0x2b55},   {0x2e80, 0x303e},
        {0x3041, 0x33ff},   {0x3400, 0x4dbf},   {0x4e00, 0x9fff},   {0xa000, 0xa4cf},
        {0xa960, 0xa97f},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},   {0xfe10, 0xfe19},
        {0xfe30, 0xfe6f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x16fe0, 0x16fe4},
        {0x17000, 0x18cff}, {0x1b000, 0x1b2ff}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf},
        {0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f251}, {0x1f300, 0x1f320},
        {0x1f32d, 0x1f335}, {0x1f337, 0x1f37c}, {0x1f37e, 0x1f393}, {0x1f3a0, 0x1f3ca},
        {0x1f3cf, 0x1f3d3}, {0x1f3e0, 0x1f3f0}, {0x1f3f4, 0x1f3f4}, {0x1f3f8, 0x1f43e},
        {0x1f440, 0x1f440}, {0x1f442, 0x1f4fc}, {0x1f4ff, 0x1f53d}, {0x1f54b, 0x1f54e},
        {0x1f550, 0x1f567}, {0x1f57a, 0x1f57a}, {0x1f595, 0x1f596}, {0x1f5a4, 0x1f5a4},
        {0x1f5fb, 0x1f64f}, {0x1f680, 0x1f6c5}, {0x1f6cc, 0x1f6cc}, {0x1f6d0, 0x1f6d2},
        {0x1f6d5, 0x1f6d7}, {0x1f6dc, 0x1f6df}, {0x1f6eb, 0x1f6ec}, {0x1f6f4, 0x1f6fc},
        {0x1f7e0, 0x1f7eb}, {0x1f7f0, 0x1f7f0}, {0x1f90c, 0x1f93a}, {0x1f93c, 0x1f945},
        {0x1f947, 0x1f9ff}, {0x1fa70, 0x1faff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
    };
    if (cp < 0x300) return 1;
    for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
        if (cp >= zero[i][0] && cp <= zero[i][1]) return 0;
    if (cp < 0x1100) return 1;
    size_t lo = 0, hi = sizeof wide / sizeof *wide;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp > wide[mid][1])
            lo = mid + 1;
        else if (cp < wide[mid][0])
            hi = mid;
        else
            return 2;
    }
    return 1;
}

/* One code point as sanitize_cols shows it: its bytes (or "?") and its columns. */
static size_t show_cp(const unsigned char *u, size_t len, bool ascii, size_t *n, int *w)
{
    uint32_t cp = 0;
    size_t k = utf8_seq(u, len, &cp);
    bool bad = k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
               (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
               (ascii && cp >= 0x80);
    *n = k ? k : 1; /* bytes consumed */
    *w = bad ? 1 : cp_width(cp);
    return bad ? 0 : k; /* bytes to copy; 0 means print '?' */
}

size_t sanitize_cols(const char *s, size_t len, size_t max_cols, bool ascii, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    /* Measure first, and only as far as needed, so a cut is made only when the text does
     * not fit, and a long text costs no more than what is shown. At most max_cols code
     * points are kept (zero-width ones included), which bounds the bytes written. */
    size_t cols = 0, cps = 0, i = 0;
    bool fits = true;
    while (i < len) {
        size_t n;
        int w;
        show_cp(u + i, len - i, ascii, &n, &w);
        cols += (size_t)w;
        cps++;
        i += n;
        if (cols > max_cols || cps > max_cols) {
            fits = false;
            break;
        }
    }
    size_t room = fits ? max_cols : (max_cols ? max_cols - 1 : 0); /* the cut mark: 1 col */
    size_t o = 0;
    cols = cps = i = 0;
    while (i < len && cps < room) {
        size_t n;
        int w;
        size_t copy = show_cp(u + i, len - i, ascii, &n, &w);
        if (cols + (size_t)w > room) break;
        if (copy) {
            memcpy(out + o, u + i, copy);
            o += copy;
        } else {
            out[o++] = '?';
        }
        cols += (size_t)w;
        cps++;
        i += n;
    }
    if (!fits && max_cols > 0) {
        if (ascii) {
            out[o++] = '~';
        } else {
            memcpy(out + o, "\xe2\x80\xa6", 3);
            o += 3;
        }
        cols++;
    }
    out[o] = '\0';
    return cols;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

void json_str(sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    sb_putc(b, '"');
    size_t i = 0, run = 0; /* run: start of bytes that need no escaping */
    while (i < len) {
        uint32_t cp = 0;
        size_t n = utf8_seq(u + i, len - i, &cp);
        const char *esc = NULL;
        char ubuf[8];
        if (n == 0) {
            esc = "\\ufffd";
            n = 1;
        } else if (cp == '"') {
            esc = "\\\"";
        } else if (cp == '\\') {
            esc = "\\\\";
        } else if (cp == '\n') {
            esc = "\\n";
        } else if (cp == '\t') {
            esc = "\\t";
        } else if (cp < 0x20 || cp == 0x7f || cp == '<' || cp == '>' || cp == '&' || cp == '\'' ||
                   cp == 0x2028 || cp == 0x2029) {
            ubuf[0] = '\\', ubuf[1] = 'u';
            ubuf[2] = hex[(cp >> 12) & 15], ubuf[3] = hex[(cp >> 8) & 15];
            ubuf[4] = hex[(cp >> 4) & 15], ubuf[5] = hex[cp & 15];
            ubuf[6] = '\0';
            esc = ubuf;
        }
        if (esc) {
            sb_putn(b, s + run, i - run);
            sb_puts(b, esc);
            run = i + n;
        }
        i += n;
    }
    sb_putn(b, s + run, len - run);
    sb_putc(b, '"');
}

bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool parse_int_arg(const char *s, int min, int max, int *out)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v > (uint64_t)INT_MAX || (int)v < min || (int)v > max) return false;
    *out = (int)v;
    return true;
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dptrace: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *cli_one_file(const char *cmd, int argc, char **argv, int optind, void (*usage)(FILE *))
{
    if (optind >= argc) {
        cli_err("%s: missing FILE", cmd);
        usage(stderr);
        return NULL;
    }
    if (argc - optind > 1) {
        cli_err("%s: one FILE only (got '%s' too)", cmd, argv[optind + 1]);
        return NULL;
    }
    return argv[optind];
}
