/*
 * conntrack.c - request deadlines. Each tracked bufferevent has an input-buffer callback that
 * starts the clock at a request's first byte; a complete request (evhttp's callback) stops it.
 * A sweep every 100 ms reports the end of the stream to evhttp for any connection over its
 * deadline - evhttp then fails the request and frees the connection itself - and drops the
 * connections evhttp freed.
 */
#include "hocvu/conntrack.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hocvu/log.h"
#include "hocvu/util.h"

#define CT_BUCKETS 4096
#define CT_SWEEP_US 100000 /* also how late a closed connection's descriptor is released */

typedef struct conn {
    struct bufferevent *bev; /* one reference held */
    int64_t started_ms;      /* first byte of the unfinished request; 0 = idle */
    bool cut;
    struct conn *next_in_bucket;
    struct conn *next; /* all connections, for the sweep */
} conn_t;

struct hv_conntrack {
    struct event_base *base;
    struct event *sweep_ev;
    int64_t timeout_ms;
    conn_t *buckets[CT_BUCKETS];
    conn_t *all;
    size_t open;  /* atomic */
    uint64_t cut; /* atomic */
};

static int64_t now_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static size_t bucket_of(const struct bufferevent *bev)
{
    uintptr_t p = (uintptr_t)bev;
    return (size_t)((p >> 4) ^ (p >> 16)) % CT_BUCKETS;
}

static conn_t *lookup(hv_conntrack_t *ct, const struct bufferevent *bev)
{
    for (conn_t *c = ct->buckets[bucket_of(bev)]; c; c = c->next_in_bucket)
        if (c->bev == bev)
            return c;
    return NULL;
}

/* Bytes arrived: the first byte of a request starts its clock. */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    conn_t *c = arg;
    if (info->n_added > 0 && c->started_ms == 0) {
        struct bufferevent *bev = c->bev;
        c->started_ms = now_ms(bufferevent_get_base(bev));
    }
}

static void unlink_bucket(hv_conntrack_t *ct, conn_t *c)
{
    conn_t **pp = &ct->buckets[bucket_of(c->bev)];
    while (*pp != c)
        pp = &(*pp)->next_in_bucket;
    *pp = c->next_in_bucket;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_conntrack_t *ct = arg;
    int64_t now = now_ms(ct->base);
    conn_t **pp = &ct->all;

    while (*pp) {
        conn_t *c = *pp;
        bufferevent_event_cb eventcb = NULL;

        /* evhttp's error callback is set for the whole life of a connection and cleared by
         * bufferevent_free(): once it is gone, only our reference keeps the bufferevent. */
        bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
        if (!eventcb) {
            *pp = c->next;
            unlink_bucket(ct, c);
            bufferevent_decref(c->bev);
            free(c);
            __atomic_sub_fetch(&ct->open, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (!c->cut && c->started_ms && now - c->started_ms > ct->timeout_ms) {
            c->cut = true;
            __atomic_add_fetch(&ct->cut, 1, __ATOMIC_RELAXED);
            hv_log(HV_LOG_INFO, "slow client cut off", "after_ms=%lld",
                   (long long)(now - c->started_ms));
            /* Tell evhttp the stream ended: it fails the request and frees the connection
             * through its own path. (Never touch the descriptor: evhttp may have closed and
             * the kernel reused its number.) */
            bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
        }
        pp = &c->next;
    }
}

hv_conntrack_t *hv_conntrack_new(struct event_base *base, int timeout_s)
{
    hv_conntrack_t *ct = hv_xcalloc(1, sizeof(*ct));
    struct timeval tv = {0, CT_SWEEP_US};

    ct->base = base;
    ct->timeout_ms = (int64_t)timeout_s * 1000;
    ct->sweep_ev = event_new(base, -1, EV_PERSIST, sweep_cb, ct);
    if (!ct->sweep_ev) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    event_add(ct->sweep_ev, &tv);
    return ct;
}

void hv_conntrack_free(hv_conntrack_t *ct)
{
    if (!ct)
        return;
    event_free(ct->sweep_ev);
    while (ct->all) {
        conn_t *c = ct->all;
        ct->all = c->next;
        bufferevent_decref(c->bev);
        free(c);
    }
    free(ct);
}

void hv_conntrack_add(hv_conntrack_t *ct, struct bufferevent *bev)
{
    conn_t *c = hv_xcalloc(1, sizeof(*c));
    size_t b = bucket_of(bev);

    c->bev = bev;
    bufferevent_incref(bev);
    evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c);
    c->next_in_bucket = ct->buckets[b];
    ct->buckets[b] = c;
    c->next = ct->all;
    ct->all = c;
    __atomic_add_fetch(&ct->open, 1, __ATOMIC_RELAXED);
}

void hv_conntrack_request_done(hv_conntrack_t *ct, struct bufferevent *bev)
{
    conn_t *c = bev ? lookup(ct, bev) : NULL;

    if (!c)
        return;
    /* Bytes already buffered belong to a pipelined next request: its clock starts now. */
    c->started_ms = evbuffer_get_length(bufferevent_get_input(bev)) ? now_ms(ct->base) : 0;
}

size_t hv_conntrack_open(const hv_conntrack_t *ct)
{
    return __atomic_load_n(&ct->open, __ATOMIC_RELAXED);
}

uint64_t hv_conntrack_cut(const hv_conntrack_t *ct)
{
    return __atomic_load_n(&ct->cut, __ATOMIC_RELAXED);
}
