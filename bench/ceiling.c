/*
 * ceiling.c - the same-run reference for hocvu-bench: a minimal libevent evhttp responder that
 * reads each request like hocvud does and answers at once, so it measures the HTTP ceiling.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hocvu/util.h"
#include "hocvu/version.h"

#define CEILING_MAX_THREADS 64
#define CEILING_MAX_BODY (16 * 1024 * 1024 + 64 * 1024)

typedef struct loop {
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
} loop_t;

typedef struct ceiling {
    char host[256];
    char port[8];
    int threads;
    loop_t *loops;
} ceiling_t;

static void reply(struct evhttp_request *req, int status, const char *reason, const char *body,
                  size_t len)
{
    struct evbuffer *out = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (out)
        evbuffer_add(out, body, len);
    evhttp_send_reply(req, status, reason, out);
    if (out)
        evbuffer_free(out);
}

/* Every request gets exactly one reply. POST bodies are made contiguous (as hocvud does before
 * verifying a signature) but not interpreted, except that batch lines are counted. */
static void route(struct evhttp_request *req, void *arg)
{
    static const char accepted[] = "{\"status\":\"accepted\"}";
    static const char ok[] = "{\"status\":\"ok\",\"ceiling\":true}";
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri, "?#");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
        reply(req, 200, "OK", ok, sizeof(ok) - 1);
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        reply(req, 405, "Method Not Allowed", "{\"code\":\"method_not_allowed\"}", 29);
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (plen == 10 && strncmp(uri, "/v1/events", 10) == 0) {
        reply(req, 200, "OK", accepted, sizeof(accepted) - 1);
        return;
    }
    if (plen == 16 && strncmp(uri, "/v1/events/batch", 16) == 0) {
        size_t lines = 0;
        for (const char *p = body; p && p < body + len;) {
            const char *nl = memchr(p, '\n', (size_t)(body + len - p));
            lines += (nl ? nl : body + len) > p;
            p = nl ? nl + 1 : NULL;
        }
        char out[128];
        int n = snprintf(out, sizeof(out),
                         "{\"accepted\":%zu,\"duplicates\":0,\"rejected\":0,\"errors\":[]}", lines);
        reply(req, 200, "OK", out, (size_t)n);
        return;
    }
    reply(req, 404, "Not Found", "{\"code\":\"not_found\"}", 20);
}

/* Opens a listening socket with SO_REUSEPORT so every loop accepts on the same port. Returns the
 * fd or -1 with a message. */
static int listen_socket(const ceiling_t *c, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    int fd = -1, one = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "could not resolve %.100s: %s", c->host, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "could not listen on %.100s:%s: %s", c->host, c->port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void *loop_main(void *arg)
{
    loop_t *l = arg;
    event_base_dispatch(l->base);
    return NULL;
}

static void stop_loops(ceiling_t *c, int n)
{
    for (int i = 0; i < n; i++)
        event_base_loopexit(c->loops[i].base, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ceiling --listen HOST:PORT [--threads N]\n"
               "\n"
               "A minimal evhttp responder used as the same-run reference for hocvu-bench:\n"
               "POST /v1/events answers 200 {\"status\":\"accepted\"} after reading the body,\n"
               "POST /v1/events/batch counts the lines, GET anything answers a small JSON body.\n"
               "It verifies nothing and stores nothing.\n");
}

/* Splits HOST:PORT (IPv6 as [addr]:port). */
static int parse_listen(ceiling_t *c, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1] || strlen(colon + 1) >= sizeof(c->port) ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    if (s[0] == '[' && colon[-1] == ']')
        snprintf(c->host, sizeof(c->host), "%.*s", (int)(colon - s - 2), s + 1);
    else
        snprintf(c->host, sizeof(c->host), "%.*s", (int)(colon - s), s);
    snprintf(c->port, sizeof(c->port), "%s", colon + 1);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    ceiling_t c = {.threads = 1};
    sigset_t sigs;
    int sig;
    char err[256];
    int opt, rc = 1, started = 0;
    const char *listen_arg = NULL;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            listen_arg = optarg;
            break;
        case 't':
            c.threads = atoi(optarg);
            if (c.threads < 1 || c.threads > CEILING_MAX_THREADS) {
                fprintf(stderr, "ceiling: --threads: expected 1 to %d\n", CEILING_MAX_THREADS);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ceiling %s\n", HOCVU_VERSION);
            return 0;
        default:
            fprintf(stderr, "ceiling: unknown or incomplete option\n");
            usage(stderr);
            return 2;
        }
    }
    if (!listen_arg || parse_listen(&c, listen_arg) < 0) {
        fprintf(stderr, "ceiling: --listen HOST:PORT is required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() < 0) {
        fprintf(stderr, "ceiling: could not enable libevent threading\n");
        return 1;
    }
    /* SIGINT/SIGTERM are taken by sigwait in the main thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    c.loops = hv_xcalloc((size_t)c.threads, sizeof(*c.loops));
    for (int i = 0; i < c.threads; i++) {
        loop_t *l = &c.loops[i];
        int fd = listen_socket(&c, err, sizeof(err));
        l->index = i;
        if (fd < 0) {
            fprintf(stderr, "ceiling: %s\n", err);
            goto done;
        }
        l->base = event_base_new();
        l->http = l->base ? evhttp_new(l->base) : NULL;
        if (!l->http || !evhttp_accept_socket_with_handle(l->http, fd)) {
            fprintf(stderr, "ceiling: could not set up the event loop\n");
            close(fd);
            goto done;
        }
        evhttp_set_max_body_size(l->http, CEILING_MAX_BODY);
        evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
        evhttp_set_gencb(l->http, route, l);
    }
    for (; started < c.threads; started++) {
        if (pthread_create(&c.loops[started].thread, NULL, loop_main, &c.loops[started]) != 0) {
            fprintf(stderr, "ceiling: could not start a thread\n");
            break;
        }
    }
    fprintf(stderr, "ceiling: listening on %s:%s with %d thread%s\n", c.host, c.port, c.threads,
            c.threads == 1 ? "" : "s");
    if (started == c.threads) {
        sigwait(&sigs, &sig);
        rc = 0;
    }
    stop_loops(&c, started);
    for (int i = 0; i < started; i++)
        pthread_join(c.loops[i].thread, NULL);

done:
    for (int i = 0; i < c.threads; i++) {
        if (c.loops[i].http)
            evhttp_free(c.loops[i].http);
        if (c.loops[i].base)
            event_base_free(c.loops[i].base);
    }
    free(c.loops);
    return rc;
}
