/*
 * front.c - the connection front door (see front.h).
 *
 * evhttp keeps its own bufferevent for each connection (so its writes and its close work as
 * they always do); the front sits in that bufferevent's input buffer. A callback on the buffer
 * takes every byte the socket adds out of it, into `staging`, before evhttp's read callback
 * runs; frame.c reads staging into `pending`; a complete request goes back into the input
 * buffer, and evhttp parses it. While evhttp holds a request the front reads nothing more (and
 * evhttp itself stops reading the socket); the route's on-complete callback releases it and the
 * front reads on. A request with Expect: 100-continue is handed over head first, so that evhttp
 * asks for the body the usual way, and its body follows as it arrives.
 *
 * A sweep every 100 ms cuts connections over their request deadline and drops the ones evhttp
 * has freed.
 */
#include "hocvu/front.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "hocvu/log.h"
#include "hocvu/util.h"

#define FRONT_BUCKETS 4096
#define FRONT_SWEEP_US 100000 /* also how late a closed connection's memory is released */
#define TRIM_AFTER (8u << 20) /* request bytes held that count as a burst */
#define LINGER_MS 2000        /* longest a closed connection is drained before close() */

/* What evhttp reads in place of a refused request: the router answers it with the refusal and,
 * since it asks to close, evhttp closes the connection after the answer. */
static const char STAND_IN[] = "GET / HTTP/1.1\r\nHost: -\r\nConnection: close\r\n\r\n";

typedef struct conn {
    hv_front_t *ft;
    struct bufferevent *bev;  /* evhttp's; one reference held until evhttp has freed it */
    struct evbuffer *staging; /* owned: bytes from the socket not read yet */
    struct evbuffer *pending; /* owned: the request being read, until it is complete */
    hv_frame_t frame;
    size_t reserved; /* budget bytes: pending plus the request evhttp holds */
    bool busy;       /* a request was handed to evhttp and is not answered yet */
    bool streaming;  /* its head was handed over (100-continue): hand the body as it comes */
    bool refused;    /* the stand-in was handed over: nothing more is read */
    bool handing;    /* we are adding to the input buffer ourselves */
    bool counted;    /* counts against the connection cap */
    bool watched;    /* evhttp tells us when it closes the connection */
    hv_front_refusal_t refusal;
    int64_t started_ms; /* first byte of the request being read; 0 = none */
    int64_t linger_ms;  /* evhttp let go of the connection; we drain it until then + LINGER_MS */
    bool lingering, eof;
    bool cut;
    struct conn *next_in_bucket;
    struct conn *next; /* all connections, for the sweep */
} conn_t;

struct hv_front {
    struct event_base *base;
    hv_front_limits_t *limits;
    struct event *sweep_ev;
    int64_t timeout_ms;
    size_t head_max;
    hv_frame_limit_fn limit_fn;
    void *limit_arg;
    struct evbuffer *scratch; /* owned; empty between calls */
    conn_t *buckets[FRONT_BUCKETS];
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
    return (size_t)((p >> 4) ^ (p >> 16)) % FRONT_BUCKETS;
}

static conn_t *lookup(hv_front_t *ft, const struct bufferevent *bev)
{
    for (conn_t *c = ft->buckets[bucket_of(bev)]; c; c = c->next_in_bucket)
        if (c->bev == bev)
            return c;
    return NULL;
}

static const char *code_of(int status)
{
    switch (status) {
    case 413:
        return "payload_too_large";
    case 414:
        return "uri_too_long";
    case 417:
        return "expectation_failed";
    case 431:
        return "headers_too_large";
    case 501:
        return "not_implemented";
    case 503:
        return "overloaded";
    case 505:
        return "http_version_not_supported";
    default:
        return "bad_request";
    }
}

static bool reserve(conn_t *c, size_t n)
{
    hv_front_limits_t *l = c->ft->limits;

    if (__atomic_add_fetch(&l->held, n, __ATOMIC_RELAXED) > l->budget) {
        __atomic_sub_fetch(&l->held, n, __ATOMIC_RELAXED);
        return false;
    }
    c->reserved += n;
    return true;
}

static void release(conn_t *c)
{
    if (c->reserved)
        __atomic_sub_fetch(&c->ft->limits->held, c->reserved, __ATOMIC_RELAXED);
    c->reserved = 0;
}

/* Gives evhttp what `from` holds (all of it), through the input buffer it reads. A socket
 * bufferevent keeps the end of that buffer frozen except while it reads: outside its read
 * callback (when an answered request lets the next one through) the end is thawed for this. */
static void hand(conn_t *c, struct evbuffer *from)
{
    struct evbuffer *input = bufferevent_get_input(c->bev);

    c->handing = true;
    if (evbuffer_add_buffer(input, from) < 0) {
        evbuffer_unfreeze(input, 0);
        evbuffer_add_buffer(input, from);
        evbuffer_freeze(input, 0);
    }
    c->handing = false;
}

/* Hands evhttp the stand-in for a refused request; nothing more is read from the client. A
 * request whose head evhttp already has (streaming) cannot be answered any more: the
 * connection is ended instead. */
static void refuse(conn_t *c, int status, const char *reason)
{
    bool streaming = c->streaming;

    c->refused = true;
    c->busy = true;
    c->streaming = false;
    c->started_ms = 0;
    c->refusal.status = status;
    c->refusal.code = code_of(status);
    c->refusal.reason = reason;
    evbuffer_drain(c->pending, evbuffer_get_length(c->pending));
    evbuffer_drain(c->staging, evbuffer_get_length(c->staging));
    release(c);
    if (streaming) {
        hv_log(HV_LOG_INFO, "request refused after its head", "status=%d reason=%s", status,
               reason);
        bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
        return;
    }
    evbuffer_add(c->pending, STAND_IN, sizeof(STAND_IN) - 1);
    hand(c, c->pending);
}

static void refuse_budget(conn_t *c)
{
    __atomic_add_fetch(&c->ft->limits->refused_budget, 1, __ATOMIC_RELAXED);
    refuse(c, 503, "the server holds too many request bytes; retry later");
}

/* Reads staging into the request being assembled while evhttp holds none, and hands over a
 * request once it is complete (or its head, for 100-continue). */
static void pump(conn_t *c)
{
    while (!c->busy) {
        struct evbuffer_iovec v;
        char line[24];
        size_t n;

        if (evbuffer_peek(c->staging, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            return;
        if (c->started_ms == 0)
            c->started_ms = now_ms(c->ft->base);
        hv_frame_step_t st = hv_frame_feed(&c->frame, v.iov_base, v.iov_len);
        if (st.keep && st.used) {
            if (!reserve(c, st.used)) {
                refuse_budget(c);
                return;
            }
            /* Copied, not moved: the socket's read chains are often mostly empty, and a
             * 16 MiB body held in them would take several times its size. */
            evbuffer_add(c->pending, v.iov_base, st.used);
        }
        evbuffer_drain(c->staging, st.used);
        switch (st.event) {
        case HV_FRAME_MORE:
            break;
        case HV_FRAME_HEAD:
            /* evhttp sends 100 Continue itself when it has the head and no body yet. */
            if (hv_frame_wants_continue(&c->frame) && evbuffer_get_length(c->staging) == 0)
                c->streaming = true;
            break;
        case HV_FRAME_CHUNK:
            n = hv_frame_chunk_line(&c->frame, line);
            if (!reserve(c, n)) {
                refuse_budget(c);
                return;
            }
            evbuffer_add(c->pending, line, n);
            break;
        case HV_FRAME_DONE:
            hand(c, c->pending);
            c->busy = true;
            c->streaming = false;
            c->started_ms = 0;
            return;
        case HV_FRAME_REFUSE:
            refuse(c, c->frame.status, c->frame.reason);
            return;
        }
        if (c->streaming)
            hand(c, c->pending);
    }
}

/* The socket added bytes to evhttp's input buffer (they are its last info->n_added bytes):
 * take them out before evhttp's read callback runs. Bytes before them are ours, handed over
 * and not parsed yet; they stay, in order. */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    conn_t *c = arg;
    hv_front_t *ft = c->ft;
    size_t len = evbuffer_get_length(buf);

    if (c->handing || info->n_added == 0)
        return;
    c->handing = true;
    if (info->n_added < len) {
        evbuffer_remove_buffer(buf, ft->scratch, len - info->n_added);
        evbuffer_add_buffer(c->staging, buf);
        evbuffer_add_buffer(buf, ft->scratch);
    } else {
        evbuffer_add_buffer(c->staging, buf);
    }
    c->handing = false;
    if (c->refused) {
        evbuffer_drain(c->staging, evbuffer_get_length(c->staging));
    } else if (c->busy && evbuffer_get_length(c->staging) > HV_FRONT_AHEAD_MAX) {
        /* More than a pipelining client needs ahead of an unanswered request. */
        evbuffer_drain(c->staging, evbuffer_get_length(c->staging));
        c->refused = true;
        hv_log(HV_LOG_INFO, "client sent too much ahead of its request", NULL);
        bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
    } else {
        pump(c);
    }
}

/* evhttp has answered the request (the response is written): release its bytes and read the
 * next one, which evhttp picks up as it starts reading again. */
static void request_complete(struct evhttp_request *req, void *arg)
{
    conn_t *c = arg;

    (void)req;
    if (c->refused)
        return;
    release(c);
    c->busy = false;
    pump(c);
}

static void unlink_bucket(hv_front_t *ft, conn_t *c)
{
    conn_t **pp = &ft->buckets[bucket_of(c->bev)];
    while (*pp != c)
        pp = &(*pp)->next_in_bucket;
    *pp = c->next_in_bucket;
}

/* The connection is closed: it stops counting against the cap and the budget. */
static void uncount(conn_t *c)
{
    evbuffer_drain(c->pending, evbuffer_get_length(c->pending));
    evbuffer_drain(c->staging, evbuffer_get_length(c->staging));
    release(c);
    if (c->counted)
        __atomic_sub_fetch(&c->ft->limits->conns, 1, __ATOMIC_RELAXED);
    c->counted = false;
}

/* evhttp closes the connection: let the cap know now rather than at the next sweep. */
static void closed_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    uncount(arg);
}

static void conn_free(hv_front_t *ft, conn_t *c)
{
    (void)ft;
    uncount(c);
    evbuffer_free(c->staging);
    evbuffer_free(c->pending);
    bufferevent_decref(c->bev);
    free(c);
}

/* After a burst of request bytes (a batch upload, an attack), give the memory malloc keeps back
 * to the system once the bytes are released, so the process returns to its usual size. */
static void trim_after_burst(hv_front_limits_t *l)
{
    size_t held = __atomic_load_n(&l->held, __ATOMIC_RELAXED);

    if (held > TRIM_AFTER)
        __atomic_store_n(&l->burst, 1, __ATOMIC_RELAXED);
    else if (held < TRIM_AFTER / 8 && __atomic_exchange_n(&l->burst, 0, __ATOMIC_RELAXED)) {
#ifdef __GLIBC__
        malloc_trim(0);
#endif
    }
}

/* A lingering connection: what the client still sends is read and dropped (input_cb, since
 * `refused` is set), until it closes its side. */
static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn_t *c = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        c->eof = true;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_front_t *ft = arg;
    int64_t now = now_ms(ft->base);
    conn_t **pp = &ft->all;

    (void)fd;
    (void)what;
    trim_after_burst(ft->limits);
    while (*pp) {
        conn_t *c = *pp;
        bufferevent_event_cb eventcb = NULL;

        /* evhttp's error callback is set for the whole life of a connection and cleared by
         * bufferevent_free(): once it is gone, only our reference keeps the bufferevent, and
         * the socket (evhttp has shut down its sending side). Closing it while the client is
         * still sending would reset the connection, and the client could lose the answer it
         * has not read yet: drain it until the client closes, or LINGER_MS. */
        if (!c->lingering) {
            bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
            if (!eventcb) {
                uncount(c);
                c->lingering = true;
                c->refused = true;
                c->linger_ms = now;
                bufferevent_setcb(c->bev, NULL, NULL, linger_event_cb, c);
                bufferevent_enable(c->bev, EV_READ);
            }
        }
        if (c->lingering && (c->eof || now - c->linger_ms > LINGER_MS)) {
            *pp = c->next;
            unlink_bucket(ft, c);
            conn_free(ft, c);
            __atomic_sub_fetch(&ft->open, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (!c->lingering && !c->cut && c->started_ms && now - c->started_ms > ft->timeout_ms) {
            c->cut = true;
            __atomic_add_fetch(&ft->cut, 1, __ATOMIC_RELAXED);
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

hv_front_t *hv_front_new(struct event_base *base, hv_front_limits_t *limits, int timeout_s,
                         size_t head_max, hv_frame_limit_fn limit_fn, void *limit_arg)
{
    hv_front_t *ft = hv_xcalloc(1, sizeof(*ft));
    struct timeval tv = {0, FRONT_SWEEP_US};

    ft->base = base;
    ft->limits = limits;
    ft->timeout_ms = (int64_t)timeout_s * 1000;
    ft->head_max = head_max;
    ft->limit_fn = limit_fn;
    ft->limit_arg = limit_arg;
    ft->scratch = evbuffer_new();
    ft->sweep_ev = event_new(base, -1, EV_PERSIST, sweep_cb, ft);
    if (!ft->sweep_ev || !ft->scratch) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    event_add(ft->sweep_ev, &tv);
    return ft;
}

void hv_front_free(hv_front_t *ft)
{
    if (!ft)
        return;
    event_free(ft->sweep_ev);
    while (ft->all) {
        conn_t *c = ft->all;
        ft->all = c->next;
        conn_free(ft, c);
    }
    evbuffer_free(ft->scratch);
    free(ft);
}

void hv_front_add(hv_front_t *ft, struct bufferevent *bev)
{
    conn_t *c = hv_xcalloc(1, sizeof(*c));
    size_t b = bucket_of(bev);

    c->ft = ft;
    c->bev = bev;
    c->staging = evbuffer_new();
    c->pending = evbuffer_new();
    if (!c->staging || !c->pending) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    hv_frame_init(&c->frame, ft->head_max, ft->limit_fn, ft->limit_arg);
    bufferevent_incref(bev);
    c->next_in_bucket = ft->buckets[b];
    ft->buckets[b] = c;
    c->next = ft->all;
    ft->all = c;
    __atomic_add_fetch(&ft->open, 1, __ATOMIC_RELAXED);
    c->counted = true;
    if (__atomic_add_fetch(&ft->limits->conns, 1, __ATOMIC_RELAXED) > ft->limits->max_conns) {
        __atomic_add_fetch(&ft->limits->refused_conns, 1, __ATOMIC_RELAXED);
        refuse(c, 503, "the server has too many open connections; retry later");
    }
    evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c);
}

bool hv_front_request(hv_front_t *ft, struct evhttp_request *req, hv_front_refusal_t *out)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    conn_t *c = evcon ? lookup(ft, evhttp_connection_get_bufferevent(evcon)) : NULL;

    if (!c)
        return false;
    if (!c->watched) {
        evhttp_connection_set_closecb(evcon, closed_cb, c);
        c->watched = true;
    }
    evhttp_request_set_on_complete_cb(req, request_complete, c);
    if (!c->refused)
        return false;
    *out = c->refusal;
    return true;
}

size_t hv_front_open(const hv_front_t *ft)
{
    return __atomic_load_n(&ft->open, __ATOMIC_RELAXED);
}

uint64_t hv_front_cut(const hv_front_t *ft)
{
    return __atomic_load_n(&ft->cut, __ATOMIC_RELAXED);
}
