/*
 * resolve.c - getaddrinfo on a detached thread, the result handed back through a job both the
 * thread and the loop hold a reference to. The loop side polls it from a timer it owns, so the
 * thread never touches an event base that may be gone by the time it finishes.
 */
#include "hocvu/resolve.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hocvu/util.h"

#define HV_RESOLVE_POLL_US 5000
#define HV_RESOLVE_MAX_POLLS 2000 /* 10 s */

struct hv_resolve {
    int refs;  /* atomic: the thread and the loop side */
    bool done; /* atomic: addr/err are final */
    char *host;
    char addr[1024];
    char err[160];
    /* Loop side only. */
    struct event *poll_ev; /* owned */
    int polls;
    hv_resolve_cb cb;
    void *arg;
};

/* Does one entry (host[0..n)) need resolving? */
static bool entry_needed(const char *host, size_t n)
{
    char h[256];
    struct in6_addr a6;
    struct in_addr a4;

    if (n == 0 || host[0] == '/' || n >= sizeof(h))
        return false;
    memcpy(h, host, n);
    h[n] = '\0';
    return inet_pton(AF_INET, h, &a4) != 1 && inet_pton(AF_INET6, h, &a6) != 1;
}

bool hv_resolve_needed(const char *host)
{
    if (!host)
        return false;
    for (const char *p = host;;) {
        size_t n = strcspn(p, ",");
        if (entry_needed(p, n))
            return true;
        if (!p[n])
            return false;
        p += n + 1;
    }
}

/* Resolves one entry into out[outlen]: its addresses in numeric form, space-separated, in the
 * resolver's order; empty (and r->err set) when it has none. */
static void resolve_entry(hv_resolve_t *r, const char *host, size_t n, char *out, size_t outlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char h[256];
    int rc;

    out[0] = '\0';
    if (n >= sizeof(h))
        n = sizeof(h) - 1;
    memcpy(h, host, n);
    h[n] = '\0';
    if (!entry_needed(h, n)) {
        snprintf(out, outlen, "%s", h[0] == '/' ? "" : h);
        return;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(h, NULL, &hints, &ai);
    if (rc != 0 || !ai)
        snprintf(r->err, sizeof(r->err), "could not resolve %.64s: %.48s", h,
                 rc ? gai_strerror(rc) : "no address");
    size_t len = 0;
    for (struct addrinfo *a = ai; a && rc == 0; a = a->ai_next) {
        char one[64];
        if (getnameinfo(a->ai_addr, a->ai_addrlen, one, sizeof(one), NULL, 0, NI_NUMERICHOST) !=
                0 ||
            strstr(out, one))
            continue;
        int w = snprintf(out + len, outlen - len, "%s%s", len ? " " : "", one);
        if (w < 0 || (size_t)w >= outlen - len)
            break;
        len += (size_t)w;
    }
    if (ai)
        freeaddrinfo(ai);
}

static void unref(hv_resolve_t *r)
{
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(r->host);
        free(r);
    }
}

static void *resolve_main(void *arg)
{
    hv_resolve_t *r = arg;
    size_t len = 0;

    for (const char *p = r->host;;) {
        size_t n = strcspn(p, ",");
        char one[512];
        resolve_entry(r, p, n, one, sizeof(one));
        int w =
            snprintf(r->addr + len, sizeof(r->addr) - len, "%s%s", p == r->host ? "" : ",", one);
        if (w > 0 && (size_t)w < sizeof(r->addr) - len)
            len += (size_t)w;
        if (!p[n])
            break;
        p += n + 1;
    }
    __atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
    unref(r);
    return NULL;
}

/* The loop side: waits for the thread, then calls back once and lets go of the job. */
static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_resolve_t *r = arg;
    struct timeval tv = {0, HV_RESOLVE_POLL_US};

    if (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
        if (++r->polls < HV_RESOLVE_MAX_POLLS) {
            evtimer_add(r->poll_ev, &tv);
            return;
        }
        r->cb(r->arg, "", "host name resolution timed out");
    } else {
        r->cb(r->arg, r->addr, r->err);
    }
    /* The timer is the loop's: freed here, never by the thread (its base may be gone). */
    event_free(r->poll_ev);
    r->poll_ev = NULL;
    unref(r);
}

hv_resolve_t *hv_resolve_start(struct event_base *base, const char *host, hv_resolve_cb cb,
                               void *arg)
{
    hv_resolve_t *r = hv_xcalloc(1, sizeof(*r));
    pthread_attr_t attr;
    pthread_t t;
    struct timeval tv = {0, HV_RESOLVE_POLL_US};
    int rc;

    r->refs = 2;
    r->host = hv_xstrdup(host);
    r->cb = cb;
    r->arg = arg;
    r->poll_ev = evtimer_new(base, poll_cb, r);
    if (!r->poll_ev) {
        free(r->host);
        free(r);
        return NULL;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, resolve_main, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        event_free(r->poll_ev);
        free(r->host);
        free(r);
        return NULL;
    }
    evtimer_add(r->poll_ev, &tv);
    return r;
}

void hv_resolve_cancel(hv_resolve_t *r)
{
    if (!r)
        return;
    event_free(r->poll_ev);
    r->poll_ev = NULL;
    unref(r);
}
