/* listen_exec.c - starts nginx on loopback ports it cannot pick itself: binds N sockets on
 * 127.0.0.1:0, writes TEMPLATE with @PORT0@..@PORT9@ replaced by their ports to CONF,
 * writes the ports (one per line) to READY, and execs the command with the sockets
 * inherited through the NGINX variable (nginx's binary-upgrade hand-over).
 *   listen_exec N TEMPLATE CONF READY -- nginx -p PREFIX -c CONF
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "listen_exec: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 7 || strcmp(argv[5], "--") != 0) {
        fprintf(stderr, "usage: listen_exec N TEMPLATE CONF READY -- COMMAND...\n");
        return 2;
    }
    int n = atoi(argv[1]);
    if (n < 1 || n > 10) return 2;
    unsigned ports[10];
    char inherit[256] = "";
    for (int i = 0; i < n; i++) {
        /* Non-blocking, as nginx makes the sockets it opens itself: with several workers every
         * worker is woken for a new connection and all but one find none; on a blocking socket
         * those block in accept() and stop serving their other connections. */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &al) != 0)
            die("listen");
        ports[i] = ntohs(a.sin_port);
        size_t k = strlen(inherit);
        snprintf(inherit + k, sizeof inherit - k, "%d;", fd);
    }
    FILE *in = fopen(argv[2], "r");
    FILE *out = fopen(argv[3], "w");
    if (!in || !out) die("template/conf");
    int c;
    while ((c = fgetc(in)) != EOF) {
        if (c == '@') {
            char tag[8];
            if (fread(tag, 1, 6, in) == 6 && memcmp(tag, "PORT", 4) == 0 && tag[5] == '@' &&
                tag[4] >= '0' && tag[4] < '0' + n) {
                fprintf(out, "%u", ports[tag[4] - '0']);
                continue;
            }
            die("bad @PORTn@ in the template");
        }
        fputc(c, out);
    }
    fclose(in);
    if (fclose(out) != 0) die("conf");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[4]);
    FILE *r = fopen(tmp, "w");
    if (!r) die("ready");
    for (int i = 0; i < n; i++)
        fprintf(r, "%u\n", ports[i]);
    if (fclose(r) != 0 || rename(tmp, argv[4]) != 0) die("ready");
    setenv("NGINX", inherit, 1);
    execv(argv[6], argv + 6);
    die(argv[6]);
    return 1;
}
