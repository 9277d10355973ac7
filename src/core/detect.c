/* detect.c - the built-in resource detectors (process, host, os, container, service) and
 * the registry of user detectors, by the names the specification reserves for them
 * (resource/sdk.md, "Resource detector name").
 *
 * Detection reads a few small files (/proc, /etc/os-release) and calls uname() and
 * gethostname() once, when a provider is built. Failing to find something is not an error
 * (the attribute is left out); the semantic conventions' attributes come with their schema
 * URL. Nothing here takes command lines or environment values, which may hold secrets.
 */
#include "resource.h"
#include "ids.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

#define MAX_FILE ((size_t)256 * 1024) /* mountinfo of a busy host is a few tens of KiB */

/* Reads at most MAX_FILE bytes of path into a NUL-terminated malloc'd string; NULL when it
 * cannot be read. */
static char *read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = dpt__malloc(cap + 1);
    while (buf) {
        if (len == cap) {
            if (cap >= MAX_FILE) break;
            char *nb = dpt__realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (buf) buf[len] = 0;
    return buf;
}

/* ---- container id ------------------------------------------------------------------------ */

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

/* A path segment as a container id: "<id>", "docker-<id>.scope", "cri-containerd-<id>",
 * "crio-<id>", "libpod-<id>" (the runtimes' cgroup names). */
static bool segment_id(const char *s, size_t n, char out[65])
{
    if (n > 6 && memcmp(s + n - 6, ".scope", 6) == 0) n -= 6;
    const char *dash = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '-') dash = s + i;
    if (dash) {
        n -= (size_t)(dash + 1 - s);
        s = dash + 1;
    }
    if (!is_hex64(s, n)) return false;
    for (size_t i = 0; i < 64; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[64] = 0;
    return true;
}

/* The first segment of [p, end) (split at '/' and blanks) that is a container id. With
 * after_containers, only a segment right after one ending in "containers" counts (docker's
 * /var/lib/docker/containers/<id>/..., podman's overlay-containers/<id>/...). */
static bool line_id(const char *p, const char *end, bool after_containers, char out[65])
{
    bool prev_containers = false;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '/' && *q != ' ' && *q != '\t')
            q++;
        size_t n = (size_t)(q - p);
        if (n && (!after_containers || prev_containers) && segment_id(p, n, out)) return true;
        if (n) prev_containers = n >= 10 && memcmp(q - 10, "containers", 10) == 0;
        p = q + 1;
    }
    return false;
}

bool dpt__container_id_parse(const char *cgroup, const char *mountinfo, char out[65])
{
    /* cgroup v1 (and v2 without a cgroup namespace): "ID:controllers:/path/<id>" - the last
     * segment of a line's path. */
    for (const char *p = cgroup; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *slash = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == '/') slash = q;
        if (slash && segment_id(slash + 1, (size_t)(end - slash - 1), out)) return true;
        p = nl ? nl + 1 : end;
    }
    /* cgroup v2 with a namespace shows "0::/": the id is in the paths of the files the
     * runtime bind-mounts into the container (hostname, resolv.conf). */
    for (int pass = 0; pass < 2; pass++) {
        for (const char *p = mountinfo; p && *p;) {
            const char *nl = strchr(p, '\n');
            const char *end = nl ? nl : p + strlen(p);
            bool hostname = false;
            for (const char *q = p; q + 9 <= end && !hostname; q++)
                hostname = memcmp(q, "/hostname", 9) == 0;
            if ((pass == 1 || hostname) && line_id(p, end, true, out)) return true;
            p = nl ? nl + 1 : end;
        }
    }
    return false;
}

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct attrs {
    dpt_attr a[16];
    const dpt_attr *list[16];
    size_t n;
} attrs;

static void add_str(attrs *as, const char *key, const char *value)
{
    if (!value || !*value || as->n == 16) return;
    as->a[as->n] = DPT_STR(key, value);
    as->list[as->n] = &as->a[as->n];
    as->n++;
}

static void add_int(attrs *as, const char *key, int64_t value)
{
    if (as->n == 16) return;
    as->a[as->n] = DPT_INT(key, value);
    as->list[as->n] = &as->a[as->n];
    as->n++;
}

static dpt_resource *finish(attrs *as)
{
    return dpt__resource_build(as->list, as->n, as->n ? DPT__SEMCONV_SCHEMA_URL : NULL);
}

/* ---- process ------------------------------------------------------------------------------ */

/* process.creation.time: the start time in clock ticks after boot (/proc/self/stat field
 * 22) plus the boot time (/proc/stat btime). */
static bool process_start(char out[40])
{
    char *stat = read_small("/proc/self/stat");
    char *sys = read_small("/proc/stat");
    bool ok = false;
    const char *rp = stat ? strrchr(stat, ')') : NULL; /* comm may contain spaces */
    const char *bt = sys ? strstr(sys, "\nbtime ") : NULL;
    long hz = sysconf(_SC_CLK_TCK);
    if (rp && bt && hz > 0) {
        /* After ')' come fields 3, 4, ...: move to the blank before field 22. */
        const char *p = rp;
        for (int f = 3; f <= 22 && p; f++)
            p = strchr(p + 1, ' ');
        if (p) {
            unsigned long long ticks = strtoull(p + 1, NULL, 10);
            unsigned long long boot = strtoull(bt + 7, NULL, 10);
            uint64_t ns = boot * 1000000000ull + ticks * (1000000000ull / (unsigned long long)hz);
            dpt__format_rfc3339(ns, out);
            ok = boot != 0;
        }
    }
    free(stat);
    free(sys);
    return ok;
}

static dpt_resource *detect_process(void)
{
    attrs as = {.n = 0};
    char exe[4096], start[40], cmd[1024];
    add_int(&as, "process.pid", (int64_t)getpid());
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *base = strrchr(exe, '/');
        add_str(&as, "process.executable.name", base ? base + 1 : exe);
        add_str(&as, "process.executable.path", exe);
    }
    /* process.command is the zeroth string of /proc/self/cmdline (the arguments, which may
     * hold secrets, are opt-in in the conventions and not collected). */
    char *cl = read_small("/proc/self/cmdline");
    if (cl) {
        snprintf(cmd, sizeof cmd, "%s", cl);
        add_str(&as, "process.command", cmd);
    }
    if (process_start(start)) add_str(&as, "process.creation.time", start);
        /* A C program's runtime is its C library. */
#if defined(__GLIBC__)
    char desc[64];
    snprintf(desc, sizeof desc, "GNU C Library (%s)", gnu_get_libc_release());
    add_str(&as, "process.runtime.name", "glibc");
    add_str(&as, "process.runtime.version", gnu_get_libc_version());
    add_str(&as, "process.runtime.description", desc);
#else
    add_str(&as, "process.runtime.name", "libc");
#endif
    dpt_resource *r = finish(&as);
    free(cl);
    return r;
}

/* ---- host, os ------------------------------------------------------------------------------ */

const char *dpt__host_arch_name(const char *m)
{
    static const struct {
        const char *machine, *arch;
    } map[] = {
        {"x86_64", "amd64"}, {"amd64", "amd64"},   {"aarch64", "arm64"}, {"arm64", "arm64"},
        {"i386", "x86"},     {"i486", "x86"},      {"i586", "x86"},      {"i686", "x86"},
        {"ppc64", "ppc64"},  {"ppc64le", "ppc64"}, {"ppc", "ppc32"},     {"s390x", "s390x"},
        {"ia64", "ia64"},
    };
    if (!m) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(m, map[i].machine) == 0) return map[i].arch;
    if (strncmp(m, "arm", 3) == 0) return "arm32"; /* armv6l, armv7l, ... */
    return NULL;
}

static dpt_resource *detect_host(void)
{
    attrs as = {.n = 0};
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) == 0) add_str(&as, "host.name", host);
    struct utsname u;
    if (uname(&u) == 0) {
        const char *arch = dpt__host_arch_name(u.machine);
        add_str(&as, "host.arch", arch ? arch : u.machine);
    }
    return finish(&as);
}

/* The value of KEY= in an os-release text (quotes removed) into out. */
static bool os_release(const char *text, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t vn = n - kl - 1;
            if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) v++, vn -= 2;
            snprintf(out, cap, "%.*s", (int)vn, v);
            return vn > 0;
        }
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

static dpt_resource *detect_os(void)
{
    attrs as = {.n = 0};
    struct utsname u;
    char type[64] = "", desc[1024] = "", name[128] = "", version[80] = "", pretty[256] = "";
    bool have_u = uname(&u) == 0;
    if (have_u) {
        for (size_t i = 0; u.sysname[i] && i + 1 < sizeof type; i++)
            type[i] = (char)tolower((unsigned char)u.sysname[i]);
        add_str(&as, "os.type", type);
    }
    char *rel = read_small("/etc/os-release");
    if (!rel) rel = read_small("/usr/lib/os-release");
    bool have_pretty = rel && os_release(rel, "PRETTY_NAME", pretty, sizeof pretty);
    if (rel && os_release(rel, "NAME", name, sizeof name)) add_str(&as, "os.name", name);
    if (!(rel && os_release(rel, "VERSION_ID", version, sizeof version)) && have_u)
        snprintf(version, sizeof version, "%.64s", u.release);
    add_str(&as, "os.version", version);
    if (have_u)
        snprintf(desc, sizeof desc, "%.256s%s%.65s %.65s %.65s%s", have_pretty ? pretty : "",
                 have_pretty ? " (" : "", u.sysname, u.release, u.machine, have_pretty ? ")" : "");
    else if (have_pretty)
        snprintf(desc, sizeof desc, "%s", pretty);
    add_str(&as, "os.description", desc);
    free(rel);
    return finish(&as);
}

/* ---- container ----------------------------------------------------------------------------- */

static dpt_resource *detect_container(void)
{
    attrs as = {.n = 0};
    char id[65];
    char *cg = read_small("/proc/self/cgroup");
    char *mi = read_small("/proc/self/mountinfo");
    if (dpt__container_id_parse(cg, mi, id)) add_str(&as, "container.id", id);
    free(cg);
    free(mi);
    return finish(&as);
}

/* ---- service -------------------------------------------------------------------------------- */

/* service.instance.id: "recommended to generate a random Version 1 or Version 4 [RFC 4122]
 * UUID" (semantic conventions, service attributes), one per process. A forked child is
 * another instance ("each division (e.g. a worker thread in unicorn) to have its own
 * instance.id"), so the id is remembered with the pid it was made for. Guarded by id_mu. */
static pthread_mutex_t id_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t id_pid;
static char id_text[37];

const char *dpt__service_instance_id(char out[37])
{
    pthread_mutex_lock(&id_mu);
    if (id_pid != getpid()) {
        uint8_t b[16];
        uint64_t x = dpt__rand64(), y = dpt__rand64();
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        char hex[33];
        dpt__hex_encode(b, 16, hex);
        snprintf(id_text, sizeof id_text, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                 hex + 16, hex + 20);
        id_pid = getpid();
    }
    memcpy(out, id_text, 37);
    pthread_mutex_unlock(&id_mu);
    return out;
}

static dpt_resource *detect_service(void)
{
    attrs as = {.n = 0};
    char id[37];
    /* The specification's "service" detector: service.name from OTEL_SERVICE_NAME and
     * service.instance.id. */
    add_str(&as, "service.name", dpt__env("OTEL_SERVICE_NAME"));
    add_str(&as, "service.instance.id", dpt__service_instance_id(id));
    return finish(&as);
}

/* ---- public: detectors by flag and by name -----------------------------------------------------
 */

static dpt_resource *merge_into(dpt_resource *acc, dpt_resource *more)
{
    if (!acc || !more) {
        dpt_resource_free(acc);
        dpt_resource_free(more);
        return NULL;
    }
    dpt_resource *m = dpt_resource_merge(acc, more);
    dpt_resource_free(acc);
    dpt_resource_free(more);
    return m;
}

dpt_resource *dpt_resource_detect(uint32_t which)
{
    static dpt_resource *(*const fns[])(void) = {detect_process, detect_host, detect_os,
                                                 detect_container, detect_service};
    dpt_resource *r = dpt__resource_build(NULL, 0, NULL);
    for (size_t i = 0; r && i < sizeof fns / sizeof fns[0]; i++)
        if (which & (1u << i)) r = merge_into(r, fns[i]());
    if (!r) dpt__log(DPT_LOG_ERROR, "dpt_resource_detect: %s", dpt_strerror(DPT_ENOMEM));
    return r;
}

/* User detectors: registered rarely (start-up), read when a provider is built; det_mu. */
#define MAX_DETECTORS 16
static pthread_mutex_t det_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    dpt_resource_detector_fn fn;
    void *user;
} detectors[MAX_DETECTORS];

static bool builtin_flag(const char *name, size_t n, uint32_t *flag)
{
    static const struct {
        const char *name;
        uint32_t flag;
    } names[] = {
        {"process", DPT_DETECT_PROCESS},
        /* The specification's "host" detector "Populates host.* and os.* attributes". */
        {"host", DPT_DETECT_HOST | DPT_DETECT_OS},
        {"os", DPT_DETECT_OS},
        {"container", DPT_DETECT_CONTAINER},
        {"service", DPT_DETECT_SERVICE},
        {"all", DPT_DETECT_ALL},
        {"none", 0},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0) {
            *flag = names[i].flag;
            return true;
        }
    }
    return false;
}

dpt_err dpt_resource_detector_register(const char *name, dpt_resource_detector_fn fn, void *user)
{
    uint32_t flag;
    if (!name || !*name || strlen(name) >= sizeof detectors[0].name || !fn) return DPT_EINVAL;
    if (builtin_flag(name, strlen(name), &flag)) return DPT_EINVAL; /* reserved names */
    dpt_err e = DPT_EFULL;
    pthread_mutex_lock(&det_mu);
    for (int i = 0; i < MAX_DETECTORS; i++) {
        if (!detectors[i].fn || strcmp(detectors[i].name, name) == 0) {
            snprintf(detectors[i].name, sizeof detectors[i].name, "%s", name);
            detectors[i].fn = fn;
            detectors[i].user = user;
            e = DPT_OK;
            break;
        }
    }
    pthread_mutex_unlock(&det_mu);
    return e;
}

/* A registered user detector, or false. */
static bool find_user(const char *name, size_t n, dpt_resource_detector_fn *fn, void **user)
{
    bool found = false;
    pthread_mutex_lock(&det_mu);
    for (int i = 0; i < MAX_DETECTORS && !found; i++) {
        if (detectors[i].fn && strlen(detectors[i].name) == n &&
            memcmp(detectors[i].name, name, n) == 0) {
            *fn = detectors[i].fn;
            *user = detectors[i].user;
            found = true;
        }
    }
    pthread_mutex_unlock(&det_mu);
    return found;
}

dpt_err dpt_resource_detect_names(const char *list, dpt_resource **out)
{
    if (!out) return DPT_EINVAL;
    *out = NULL;
    uint32_t flags = 0;
    dpt_err err = DPT_OK;
    /* Built-ins first (in their fixed order), then user detectors in list order: a user
     * detector can refine what a built-in found. */
    for (int pass = 0; pass < 2; pass++) {
        dpt_resource *acc = pass == 0 ? NULL : dpt_resource_detect(flags);
        if (pass == 1 && !acc) return DPT_ENOMEM;
        size_t pos = 0, n;
        const char *name;
        while (dpt__list_next(list ? list : "", list ? strlen(list) : 0, &pos, &name, &n)) {
            uint32_t f;
            dpt_resource_detector_fn fn;
            void *user;
            if (builtin_flag(name, n, &f)) {
                if (pass == 0) flags |= f;
            } else if (find_user(name, n, &fn, &user)) {
                if (pass == 1) {
                    dpt_resource *r = fn(user);
                    if (r) acc = merge_into(acc, r);
                    if (!acc) return DPT_ENOMEM;
                }
            } else if (pass == 0) {
                dpt__log(DPT_LOG_WARN,
                         "resource detector '%.*s' is not known (built in: process, host, os, "
                         "container, service, all, none); ignored",
                         (int)n, name);
                err = DPT_ENOTFOUND;
            }
        }
        if (pass == 1) *out = acc;
    }
    return err;
}
