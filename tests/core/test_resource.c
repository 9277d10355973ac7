/* test_resource.c - resources: create, merge (precedence and schema URL), the built-in
 * detectors (process, host, os, container, service), user detectors, the provider's
 * resource precedence, and the resource and scope in the OTLP and Zipkin encodings. */
#include "test_util.h"

#include "dptrace/export.h"
#include "resource.h"

#include <ctype.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *str_of(const dpt_resource *r, const char *key)
{
    const dpt_value *v = dpt_resource_get(r, key);
    return v && v->type == DPT_VAL_STRING ? v->u.s : NULL;
}

static const char *provider_str(dpt_provider *p, const char *key)
{
    return str_of(dpt_provider_get_resource(p), key);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("DPTRACE_RESOURCE_DETECTORS");
    setenv("OTEL_TRACES_EXPORTER", "none", 1);
    setenv("DPTRACE_SHUTDOWN_AT_EXIT", "false", 1);
    return 0;
}

/* resource/sdk.md, Create: "The interface MUST provide a way to create a new resource"
 * with attributes and an optional schema_url ("If the schema_url parameter is unspecified
 * then the created resource will have an empty Schema URL"). */
static void test_create_copies_attributes_and_schema_url(void **state)
{
    (void)state;
    char key[] = "k1", val[] = "v1";
    const char *arr[] = {"a", "b"};
    int64_t ints[] = {1, 2, 3};
    dpt_attr a[] = {DPT_STR(key, val), DPT_INT("n", 7), DPT_STR_ARRAY("sa", arr, 2),
                    DPT_INT_ARRAY("ia", ints, 3), DPT_STR("", "empty key is invalid")};
    dpt_resource *r = dpt_resource_new(a, 5, "https://opentelemetry.io/schemas/1.44.0");
    assert_non_null(r);
    key[0] = 'X', val[0] = 'X'; /* the caller keeps its strings */
    size_t n = 0;
    dpt_resource_attrs(r, &n);
    assert_int_equal(n, 4);
    assert_string_equal(str_of(r, "k1"), "v1");
    assert_int_equal(dpt_resource_get(r, "n")->u.i, 7);
    const dpt_value *sa = dpt_resource_get(r, "sa");
    assert_int_equal(sa->type, DPT_VAL_STRING_ARRAY);
    assert_int_equal(sa->len, 2);
    assert_string_equal(sa->u.sa[1], "b");
    assert_int_equal(dpt_resource_get(r, "ia")->u.ia[2], 3);
    assert_string_equal(dpt_resource_schema_url(r), "https://opentelemetry.io/schemas/1.44.0");
    dpt_resource_free(r);

    /* "Create empty" and an unspecified schema URL. */
    r = dpt_resource_new(NULL, 0, NULL);
    assert_non_null(r);
    dpt_resource_attrs(r, &n);
    assert_int_equal(n, 0);
    assert_string_equal(dpt_resource_schema_url(r), "");
    dpt_resource_free(r);
    assert_null(dpt_resource_new(NULL, 3, NULL));
}

/* resource/sdk.md, Merge: "If a key exists on both the old and updating resource, the value
 * of the updating resource MUST be picked (even if the updated value is empty)." */
static void test_merge_updating_wins_even_when_empty(void **state)
{
    (void)state;
    dpt_attr a[] = {DPT_STR("service.name", "old"), DPT_STR("only.old", "1")};
    dpt_attr b[] = {DPT_STR("service.name", ""), DPT_STR("only.new", "2")};
    dpt_resource *ra = dpt_resource_new(a, 2, NULL), *rb = dpt_resource_new(b, 2, NULL);
    dpt_resource *m = dpt_resource_merge(ra, rb);
    size_t n;
    dpt_resource_attrs(m, &n);
    assert_int_equal(n, 3);
    assert_string_equal(str_of(m, "service.name"), "");
    assert_string_equal(str_of(m, "only.old"), "1");
    assert_string_equal(str_of(m, "only.new"), "2");
    dpt_resource_free(m);
    /* NULL reads as the empty resource. */
    m = dpt_resource_merge(NULL, ra);
    dpt_resource_attrs(m, &n);
    assert_int_equal(n, 2);
    dpt_resource_free(m);
    dpt_resource_free(ra);
    dpt_resource_free(rb);
}

/* resource/sdk.md, Merge: the four schema URL cases. */
static void test_merge_schema_url_rules(void **state)
{
    (void)state;
    logcap cap = {0};
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_WARN);
    dpt_resource *none = dpt_resource_new(NULL, 0, NULL);
    dpt_resource *u1 = dpt_resource_new(NULL, 0, "https://example.com/1");
    dpt_resource *u2 = dpt_resource_new(NULL, 0, "https://example.com/2");
    dpt_resource *m = dpt_resource_merge(none, u1); /* old empty: updating's */
    assert_string_equal(dpt_resource_schema_url(m), "https://example.com/1");
    dpt_resource_free(m);
    m = dpt_resource_merge(u1, none); /* updating empty: old's */
    assert_string_equal(dpt_resource_schema_url(m), "https://example.com/1");
    dpt_resource_free(m);
    m = dpt_resource_merge(u1, u1); /* the same */
    assert_string_equal(dpt_resource_schema_url(m), "https://example.com/1");
    dpt_resource_free(m);
    assert_int_equal(cap.count, 0);
    /* "Else this is a merging error [...] implementation-specific": dptrace's own choice is
     * to keep the updating URL and say so. */
    m = dpt_resource_merge(u1, u2);
    assert_string_equal(dpt_resource_schema_url(m), "https://example.com/2");
    assert_int_equal(cap.count, 1);
    assert_non_null(strstr(cap.last, "schema URLs"));
    dpt_resource_free(m);
    dpt_resource_free(none);
    dpt_resource_free(u1);
    dpt_resource_free(u2);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_OFF);
}

/* sdk-environment-variables.md / resource/sdk.md: OTEL_RESOURCE_ATTRIBUTES is
 * key1=value1,key2=value2 with percent-encoded values; "In case of any error, e.g. failure
 * during the decoding process, the entire environment variable value SHOULD be discarded". */
static void test_resource_list_syntax(void **state)
{
    (void)state;
    bool bad;
    dpt_resource *r = dpt__resource_parse_list(" a = 1 ,b=x%2Cy%3Dz, c=%E2%9C%93,,d=", &bad);
    assert_non_null(r);
    assert_false(bad);
    assert_string_equal(str_of(r, "a"), "1");
    assert_string_equal(str_of(r, "b"), "x,y=z");
    assert_string_equal(str_of(r, "c"), "\xe2\x9c\x93");
    assert_string_equal(str_of(r, "d"), "");
    dpt_resource_free(r);
    assert_null(dpt__resource_parse_list("good=1,novalue", &bad));
    assert_true(bad);
    assert_null(dpt__resource_parse_list("good=1,bad=%zz", &bad));
    assert_true(bad);
    assert_null(dpt__resource_parse_list("=nokey", &bad));
    assert_true(bad);
}

#define ID64 "a3bf90e006b2a3bf90e006b2a3bf90e006b2a3bf90e006b2a3bf90e006b2abcd"

/* container.id (semantic conventions, container resource): from /proc/self/cgroup with
 * cgroup v1 (and v2 without a namespace), from /proc/self/mountinfo with cgroup v2. */
static void test_container_id_from_cgroup_and_mountinfo(void **state)
{
    (void)state;
    char id[65];
    static const char *const v1[] = {
        "12:pids:/docker/" ID64 "\n11:cpu:/docker/" ID64 "\n",
        "1:name=systemd:/system.slice/docker-" ID64 ".scope\n",
        "5:cpuset:/kubepods/besteffort/pod0b1c7d6a-1234/cri-containerd-" ID64 "\n",
        "0::/system.slice/crio-" ID64 ".scope\n",
        "3:memory:/machine.slice/libpod-" ID64 ".scope/container\n" /* no: last segment */
        "2:cpu:/machine.slice/libpod-" ID64 ".scope\n",
    };
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        memset(id, 0, sizeof id);
        assert_true(dpt__container_id_parse(v1[i], NULL, id));
        assert_string_equal(id, ID64);
    }
    /* cgroup v2 with a namespace: "0::/" and the id in the bind mounts' paths. */
    const char *docker_mi =
        "610 609 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n"
        "619 610 254:1 /var/lib/docker/containers/" ID64
        "/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda1 rw\n"
        "620 610 254:1 /var/lib/docker/containers/" ID64
        "/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n";
    memset(id, 0, sizeof id);
    assert_true(dpt__container_id_parse("0::/\n", docker_mi, id));
    assert_string_equal(id, ID64);
    const char *podman_mi = "1012 1004 0:46 /containers/storage/overlay-containers/" ID64
                            "/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n";
    memset(id, 0, sizeof id);
    assert_true(dpt__container_id_parse("0::/\n", podman_mi, id));
    assert_string_equal(id, ID64);
    /* Not in a container: nothing found, which is not an error. */
    assert_false(dpt__container_id_parse("0::/user.slice/user-1000.slice/session-3.scope\n",
                                         "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", id));
    assert_false(dpt__container_id_parse(NULL, NULL, id));
    assert_false(dpt__container_id_parse("", "", id));
    /* A 63-digit or non-hex segment is not an id. */
    assert_false(
        dpt__container_id_parse("1:cpu:/docker/"
                                "a3bf90e006b2a3bf90e006b2a3bf90e006b2a3bf90e006b2a3bf90e006b2abc\n",
                                NULL, id));
    assert_false(dpt__container_id_parse(
        "1:cpu:/docker/"
        "g3bf90e006b2a3bf90e006b2a3bf90e006b2a3bf90e006b2a3bf90e006b2abcd\n",
        NULL, id));
}

/* host.arch values (semantic conventions, host attributes: amd64, arm32, arm64, ia64,
 * ppc32, ppc64, s390x, x86). */
static void test_host_arch_names(void **state)
{
    (void)state;
    assert_string_equal(dpt__host_arch_name("x86_64"), "amd64");
    assert_string_equal(dpt__host_arch_name("aarch64"), "arm64");
    assert_string_equal(dpt__host_arch_name("armv7l"), "arm32");
    assert_string_equal(dpt__host_arch_name("i686"), "x86");
    assert_string_equal(dpt__host_arch_name("ppc64le"), "ppc64");
    assert_string_equal(dpt__host_arch_name("s390x"), "s390x");
    assert_null(dpt__host_arch_name("riscv64"));
    assert_null(dpt__host_arch_name(NULL));
}

/* resource/sdk.md: "Resource detectors that populate resource attributes according to
 * OpenTelemetry semantic conventions MUST ensure that the resource has a Schema URL set to
 * a value that matches the semantic conventions." */
static void test_process_host_os_detectors(void **state)
{
    (void)state;
    dpt_resource *r = dpt_resource_detect(DPT_DETECT_PROCESS | DPT_DETECT_HOST | DPT_DETECT_OS);
    assert_non_null(r);
    assert_string_equal(dpt_resource_schema_url(r), DPT__SEMCONV_SCHEMA_URL);
    const dpt_value *pid = dpt_resource_get(r, "process.pid");
    assert_non_null(pid);
    assert_int_equal(pid->type, DPT_VAL_INT);
    assert_int_equal(pid->u.i, getpid());
    assert_string_equal(str_of(r, "process.executable.name"), "test_resource");
    assert_non_null(strstr(str_of(r, "process.executable.path"), "/test_resource"));
    assert_non_null(str_of(r, "process.command"));
    assert_non_null(str_of(r, "process.runtime.name"));
    const char *ct = str_of(r, "process.creation.time");
    assert_non_null(ct);
    assert_int_equal(strlen(ct), 30); /* 2026-11-25T20:34:23.123456789Z */
    assert_int_equal(ct[strlen(ct) - 1], 'Z');
    assert_null(dpt_resource_get(r, "process.command_args")); /* opt-in: may hold secrets */
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    assert_string_equal(str_of(r, "host.name"), host);
    assert_non_null(str_of(r, "host.arch"));
    assert_string_equal(str_of(r, "os.type"), "linux");
    assert_non_null(str_of(r, "os.description"));
    dpt_resource_free(r);
    /* Nothing asked, nothing found: an empty resource without a schema URL. */
    r = dpt_resource_detect(0);
    size_t n;
    dpt_resource_attrs(r, &n);
    assert_int_equal(n, 0);
    assert_string_equal(dpt_resource_schema_url(r), "");
    dpt_resource_free(r);
}

static bool is_uuid_v4(const char *s)
{
    if (!s || strlen(s) != 36) return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Semantic conventions, service.instance.id: "Implementations, such as SDKs, are
 * recommended to generate a random Version 1 or Version 4 RFC 4122 UUID"; and each
 * worker process is its own instance ("each division [...] to have its own instance.id"). */
static void test_service_instance_id_is_a_uuid_per_process(void **state)
{
    (void)state;
    dpt_resource *a = dpt_resource_detect(DPT_DETECT_SERVICE);
    dpt_resource *b = dpt_resource_detect(DPT_DETECT_SERVICE);
    const char *ida = str_of(a, "service.instance.id");
    assert_true(is_uuid_v4(ida));
    assert_string_equal(ida, str_of(b, "service.instance.id")); /* one per process */
    assert_null(dpt_resource_get(a, "service.name"));           /* OTEL_SERVICE_NAME unset */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dpt_resource *c = dpt_resource_detect(DPT_DETECT_SERVICE);
        const char *idc = str_of(c, "service.instance.id");
        ssize_t w = write(fds[1], idc, 36);
        _exit(w == 36 ? 0 : 1);
    }
    char child[37] = "";
    assert_int_equal(read(fds[0], child, 36), 36);
    int status;
    waitpid(pid, &status, 0);
    assert_true(is_uuid_v4(child));
    assert_string_not_equal(child, ida);
    close(fds[0]);
    close(fds[1]);
    setenv("OTEL_SERVICE_NAME", "svc-from-env", 1);
    dpt_resource *c = dpt_resource_detect(DPT_DETECT_SERVICE);
    assert_string_equal(str_of(c, "service.name"), "svc-from-env");
    unsetenv("OTEL_SERVICE_NAME");
    dpt_resource_free(a);
    dpt_resource_free(b);
    dpt_resource_free(c);
}

static dpt_resource *team_detector(void *user)
{
    dpt_attr a[] = {DPT_STR("team", (const char *)user),
                    DPT_STR("host.name", "from-user-detector")};
    return dpt_resource_new(a, 2, NULL);
}

/* resource/sdk.md, "Resource detector name": built-in names are reserved; user detectors
 * are named and listed like the built-in ones. */
static void test_user_detectors_by_name(void **state)
{
    (void)state;
    logcap cap = {0};
    dpt_log_set_handler(logcap_fn, &cap, DPT_LOG_WARN);
    assert_int_equal(dpt_resource_detector_register("host", team_detector, NULL), DPT_EINVAL);
    assert_int_equal(dpt_resource_detector_register("", team_detector, NULL), DPT_EINVAL);
    assert_int_equal(dpt_resource_detector_register("team_info", team_detector, "payments"),
                     DPT_OK);
    dpt_resource *r = NULL;
    assert_int_equal(dpt_resource_detect_names("team_info, host", &r), DPT_OK);
    assert_string_equal(str_of(r, "team"), "payments");
    /* User detectors run after the built-ins and win for a key in both. */
    assert_string_equal(str_of(r, "host.name"), "from-user-detector");
    assert_non_null(str_of(r, "os.type")); /* "host" is host.* and os.* */
    dpt_resource_free(r);
    assert_int_equal(dpt_resource_detect_names("process,bogus", &r), DPT_ENOTFOUND);
    assert_non_null(r);
    assert_non_null(dpt_resource_get(r, "process.pid"));
    assert_non_null(strstr(cap.last, "bogus"));
    dpt_resource_free(r);
    assert_int_equal(dpt_resource_detect_names("none", &r), DPT_OK);
    size_t n;
    dpt_resource_attrs(r, &n);
    assert_int_equal(n, 0);
    dpt_resource_free(r);
    dpt_log_set_handler(NULL, NULL, DPT_LOG_OFF);
}

/* The provider's resource: SDK defaults < cfg.resource < resource_attrs < service_name, and
 * cfg.resource's schema URL (resource/sdk.md: user-provided information has priority over
 * defaults; OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES). */
static void test_provider_resource_precedence(void **state)
{
    (void)state;
    dpt_attr base_attrs[] = {DPT_STR("service.name", "from-resource"), DPT_STR("host.name", "h1"),
                             DPT_STR("telemetry.sdk.language", "c-custom")};
    dpt_resource *base = dpt_resource_new(base_attrs, 3, "https://example.com/s");
    dpt_attr user[] = {DPT_STR("host.name", "h2")};
    dpt_provider_config cfg = {0};
    cfg.resource = base;
    cfg.resource_attrs = user;
    cfg.n_resource_attrs = 1;
    dpt_provider *p = dpt_provider_new(&cfg);
    assert_string_equal(provider_str(p, "service.name"), "from-resource");
    assert_string_equal(provider_str(p, "host.name"), "h2");
    assert_string_equal(provider_str(p, "telemetry.sdk.language"), "c-custom");
    assert_string_equal(provider_str(p, "telemetry.sdk.name"), "dptrace");
    assert_string_equal(dpt_resource_schema_url(dpt_provider_get_resource(p)),
                        "https://example.com/s");
    size_t n;
    const dpt_attr *a = dpt_provider_resource(p, &n);
    assert_string_equal(a[0].key, "service.name"); /* kept first */
    dpt_provider_free(p);
    cfg.service_name = "named";
    p = dpt_provider_new(&cfg);
    dpt_resource_free(base); /* the provider keeps a copy */
    assert_string_equal(provider_str(p, "service.name"), "named");
    assert_string_equal(provider_str(p, "host.name"), "h2");
    dpt_provider_free(p);
}

/* DPTRACE_RESOURCE_DETECTORS selects the detectors (dptrace's own variable); "OTEL_RESOURCE_
 * ATTRIBUTES wins over detectors" (resource/sdk.md: the user's information has priority). */
static void test_env_detectors_rank_below_resource_attributes(void **state)
{
    (void)state;
    dpt_provider *p = dpt_provider_from_env(); /* default: all */
    assert_non_null(dpt_resource_get(dpt_provider_get_resource(p), "process.pid"));
    assert_true(is_uuid_v4(provider_str(p, "service.instance.id")));
    assert_non_null(provider_str(p, "host.name"));
    assert_string_equal(dpt_resource_schema_url(dpt_provider_get_resource(p)),
                        DPT__SEMCONV_SCHEMA_URL);
    dpt_provider_free(p);

    setenv("DPTRACE_RESOURCE_DETECTORS", "host", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "host.name=overridden", 1);
    p = dpt_provider_from_env();
    assert_string_equal(provider_str(p, "host.name"), "overridden");
    assert_non_null(provider_str(p, "os.type"));
    assert_null(dpt_resource_get(dpt_provider_get_resource(p), "process.pid"));
    dpt_provider_free(p);

    setenv("DPTRACE_RESOURCE_DETECTORS", "none", 1);
    p = dpt_provider_from_env();
    assert_null(dpt_resource_get(dpt_provider_get_resource(p), "os.type"));
    assert_string_equal(dpt_resource_schema_url(dpt_provider_get_resource(p)), "");
    dpt_provider_free(p);
    unsetenv("DPTRACE_RESOURCE_DETECTORS");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}

/* Tracer with scope attributes and schema URL (trace/api.md, Get a Tracer: name, version,
 * schema_url, attributes); the same scope gives the same tracer. */
static void test_tracer_scope_identity(void **state)
{
    (void)state;
    dpt_provider *p = dpt_provider_new(NULL);
    dpt_attr a1[] = {DPT_STR("lib.kind", "db"), DPT_INT("lib.shard", 3)};
    dpt_attr a2[] = {DPT_INT("lib.shard", 3), DPT_STR("lib.kind", "db")};
    dpt_tracer_opts o1 = {"1.0", "https://opentelemetry.io/schemas/1.44.0", a1, 2};
    dpt_tracer_opts o2 = {"1.0", "https://opentelemetry.io/schemas/1.44.0", a2, 2};
    dpt_tracer *t1 = dpt_provider_get_tracer_opts(p, "db", &o1);
    dpt_tracer *t2 = dpt_provider_get_tracer_opts(p, "db", &o2);
    assert_non_null(t1);
    assert_ptr_equal(t1, t2); /* attributes compare as a set */
    dpt_tracer_opts o3 = o1;
    o3.schema_url = NULL;
    assert_ptr_not_equal(dpt_provider_get_tracer_opts(p, "db", &o3), t1);
    dpt_attr a4[] = {DPT_STR("lib.kind", "cache"), DPT_INT("lib.shard", 3)};
    dpt_tracer_opts o4 = {"1.0", o1.schema_url, a4, 2};
    assert_ptr_not_equal(dpt_provider_get_tracer_opts(p, "db", &o4), t1);
    assert_ptr_equal(dpt_provider_get_tracer(p, "db", "1.0"),
                     dpt_provider_get_tracer_opts(p, "db", &(dpt_tracer_opts){.version = "1.0"}));
    assert_string_equal(dpt_tracer_schema_url(t1), "https://opentelemetry.io/schemas/1.44.0");
    size_t n;
    const dpt_attr *sa = dpt_tracer_attrs(t1, &n);
    assert_int_equal(n, 2);
    assert_string_equal(sa[0].key, "lib.kind");
    assert_string_equal(dpt_tracer_schema_url(dpt_provider_get_tracer(p, "x", NULL)), "");
    dpt_provider_free(p);
}

/* One exported span of a provider with a schema URL and a scoped tracer. */
static const dpt_span_data *one_span(dpt_provider **pp, dpt_exporter **mem)
{
    *mem = dpt_exporter_memory(10);
    dpt_processor *proc = dpt_processor_simple(*mem);
    dpt_attr ra[] = {DPT_STR("service.namespace", "shop"), DPT_STR("service.name", "cart")};
    dpt_resource *res = dpt_resource_new(ra, 2, "https://opentelemetry.io/schemas/1.44.0");
    dpt_provider_config cfg = {.processors = &proc, .n_processors = 1, .resource = res};
    *pp = dpt_provider_new(&cfg);
    dpt_resource_free(res);
    dpt_attr sa[] = {DPT_STR("lib.kind", "db")};
    dpt_tracer_opts o = {"2.0", "https://opentelemetry.io/schemas/1.21.0", sa, 1};
    dpt_tracer *t = dpt_provider_get_tracer_opts(*pp, "scoped", &o);
    dpt_span s = dpt_span_start(t, "op", DPT_SPAN_SERVER, NULL);
    dpt_span_set_str(s, "service.namespace", "span-wins");
    dpt_span_end(s);
    return dpt_exporter_memory_get(*mem, 0);
}

/* OTLP (trace.proto): ResourceSpans.schema_url, ScopeSpans.schema_url and
 * InstrumentationScope.attributes carry the resource's and the scope's schema URL and
 * attributes. */
static void test_otlp_exports_schema_urls_and_scope_attributes(void **state)
{
    (void)state;
    dpt_provider *p;
    dpt_exporter *mem;
    const dpt_span_data *d = one_span(&p, &mem);
    char *json;
    size_t len;
    assert_int_equal(dpt_otlp_json_encode(&d, 1, &json, &len), DPT_OK);
    assert_non_null(strstr(
        json,
        "\"scope\":{\"name\":\"scoped\",\"version\":\"2.0\",\"attributes\":[{\"key\":\"lib.kind\","
        "\"value\":{\"stringValue\":\"db\"}}]},\"schemaUrl\":\"https://opentelemetry.io/schemas/"
        "1.21.0\""));
    assert_non_null(strstr(json, "],\"schemaUrl\":\"https://opentelemetry.io/schemas/1.44.0\"}]}"));
    dpt_free(json);
    uint8_t *pb;
    assert_int_equal(dpt_otlp_proto_encode(&d, 1, &pb, &len), DPT_OK);
    /* ScopeSpans field 3 and ResourceSpans field 3: tag 0x1a, then the length. */
    static const char u1[] = "https://opentelemetry.io/schemas/1.21.0",
                      u2[] = "https://opentelemetry.io/schemas/1.44.0";
    bool f1 = false, f2 = false;
    for (size_t i = 2; i + sizeof u1 - 1 <= len; i++) {
        if (pb[i - 2] == 0x1a && pb[i - 1] == sizeof u1 - 1 &&
            memcmp(pb + i, u1, sizeof u1 - 1) == 0)
            f1 = true;
        if (pb[i - 2] == 0x1a && pb[i - 1] == sizeof u2 - 1 &&
            memcmp(pb + i, u2, sizeof u2 - 1) == 0)
            f2 = true;
    }
    assert_true(f1);
    assert_true(f2);
    dpt_free(pb);
    dpt_span_data_release(d);
    dpt_provider_free(p);
}

/* Zipkin mapping (sdk_exporters/zipkin.md): service.name is the serviceName, and
 * "service.namespace [...] should be sent as a Zipkin tag"; dptrace sends every other
 * resource attribute as a tag too, with a span attribute of the same key winning. */
static void test_zipkin_exports_resource_as_tags(void **state)
{
    (void)state;
    dpt_provider *p;
    dpt_exporter *mem;
    const dpt_span_data *d = one_span(&p, &mem);
    char *json;
    size_t len;
    assert_int_equal(dpt_zipkin_json_encode(&d, 1, &json, &len), DPT_OK);
    assert_non_null(strstr(json, "\"serviceName\":\"cart\""));
    assert_non_null(strstr(json, "\"telemetry.sdk.name\":\"dptrace\""));
    assert_non_null(strstr(json, "\"service.namespace\":\"span-wins\""));
    assert_null(strstr(json, "\"service.namespace\":\"shop\""));
    assert_null(strstr(json, "\"service.name\":"));
    dpt_free(json);
    dpt_span_data_release(d);
    dpt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_create_copies_attributes_and_schema_url, setup),
        cmocka_unit_test_setup(test_merge_updating_wins_even_when_empty, setup),
        cmocka_unit_test_setup(test_merge_schema_url_rules, setup),
        cmocka_unit_test_setup(test_resource_list_syntax, setup),
        cmocka_unit_test_setup(test_container_id_from_cgroup_and_mountinfo, setup),
        cmocka_unit_test_setup(test_host_arch_names, setup),
        cmocka_unit_test_setup(test_process_host_os_detectors, setup),
        cmocka_unit_test_setup(test_service_instance_id_is_a_uuid_per_process, setup),
        cmocka_unit_test_setup(test_user_detectors_by_name, setup),
        cmocka_unit_test_setup(test_provider_resource_precedence, setup),
        cmocka_unit_test_setup(test_env_detectors_rank_below_resource_attributes, setup),
        cmocka_unit_test_setup(test_tracer_scope_identity, setup),
        cmocka_unit_test_setup(test_otlp_exports_schema_urls_and_scope_attributes, setup),
        cmocka_unit_test_setup(test_zipkin_exports_resource_as_tags, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
