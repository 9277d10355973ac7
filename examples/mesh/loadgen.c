/* loadgen.c - sends the mesh demo's burst of checkout requests to the gateway from a few
 * threads, with a progress line on stderr. It is not traced itself: each request's trace
 * starts at the gateway, as it would for a browser or a partner's system.
 *   loadgen --url http://127.0.0.1:PORT/checkout [--requests N] [--concurrency C]
 * Exit 0 when every request got an answer (200, or 502 for the failed payments).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *url;
static int total = 100;
static atomic_int next_req, n_ok, n_failed, n_broken;

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

static void *client(void *arg)
{
    (void)arg;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    int i;
    while ((i = atomic_fetch_add(&next_req, 1)) < total) {
        char u[512], tenant[64];
        snprintf(u, sizeof u, "%s?sku=sku-%d&qty=%d", url, i % 7 + 1, i % 3 + 1);
        snprintf(tenant, sizeof tenant, "x-tenant-id: tenant-%d", i % 3 + 1);
        struct curl_slist *h = curl_slist_append(NULL, tenant);
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
            atomic_fetch_add(&n_ok, 1);
        else if (status == 502)
            atomic_fetch_add(&n_failed, 1);
        else
            atomic_fetch_add(&n_broken, 1);
        curl_slist_free_all(h);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void progress(bool tty, bool last)
{
    int ok = atomic_load(&n_ok), failed = atomic_load(&n_failed), broken = atomic_load(&n_broken);
    fprintf(stderr, "%srequests %d/%d  ok %d  failed %d", tty ? "\r\033[K" : "",
            ok + failed + broken, total, ok, failed);
    if (broken) fprintf(stderr, "  no answer %d", broken);
    if (!tty || last) fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    int conc = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--requests"))
            total = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--concurrency"))
            conc = atoi(argv[i + 1]);
    }
    if (!url || total < 1 || total > 1000000 || conc < 1 || conc > 64) {
        fprintf(stderr, "usage: loadgen --url URL [--requests 1..1000000] [--concurrency 1..64]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t th[64];
    int started = 0;
    for (; started < conc; started++)
        if (pthread_create(&th[started], NULL, client, NULL) != 0) break;
    if (started == 0) {
        fprintf(stderr, "loadgen: cannot start threads\n");
        return 1;
    }
    bool tty = isatty(STDERR_FILENO);
    int last_quarter = -1;
    for (;;) {
        int done = atomic_load(&n_ok) + atomic_load(&n_failed) + atomic_load(&n_broken);
        if (done >= total) break;
        if (tty) {
            progress(true, false);
        } else if (done * 4 / total != last_quarter) {
            last_quarter = done * 4 / total;
            progress(false, false);
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    progress(tty, true);
    curl_global_cleanup();
    return atomic_load(&n_broken) ? 1 : 0;
}
