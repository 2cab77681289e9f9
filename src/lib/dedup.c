/*
 * dedup.c - Redis fast path (hiredis async on libevent). Every check calls back exactly once:
 * with Redis's answer, on its own timeout, or on disconnect; marks are fire-and-forget.
 * Connection loss schedules a reconnect; nothing here ever decides an answer on its own.
 */
#include "hocvu/dedup.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/log.h"

#define HV_DEDUP_KEY_PREFIX "hv:id:"
#define HV_DEDUP_TTL_SEC (90 * 24 * 3600) /* redeliveries come within days; PG stays the truth */
#define HV_DEDUP_CHECK_TIMEOUT_US 50000
#define HV_DEDUP_CONNECT_TIMEOUT_US 1000000
#define HV_DEDUP_RETRY_US 1000000

struct hv_dedup {
    struct event_base *base; /* borrowed */
    hv_redis_addr_t addr;
    char *name;
    redisAsyncContext *ac; /* owned by hiredis once attached; NULL when disconnected */
    bool connected;
    bool logged_down;
    bool closing;
    struct event *retry_ev;   /* reconnect timer */
    struct event *connect_ev; /* connect timeout */
    hv_dedup_stats_t stats;
};

/* One pending check: freed by whichever of (reply callback) runs last after done is set; the
 * reply callback always runs (hiredis calls pending callbacks with NULL on disconnect). */
typedef struct dedup_op {
    hv_dedup_t *d;
    hv_dedup_cb cb;
    void *arg;
    bool done;
    struct event *timer;
} dedup_op_t;

static void dedup_connect(hv_dedup_t *d);

static void schedule_retry(hv_dedup_t *d)
{
    struct timeval tv = {0, HV_DEDUP_RETRY_US};
    if (!d->closing)
        evtimer_add(d->retry_ev, &tv);
}

static void note_down(hv_dedup_t *d, const char *why)
{
    if (!d->logged_down)
        hv_log(HV_LOG_WARN, "redis unavailable, using postgresql only",
               "dedup=%s addr=%s:%d reason=\"%s\"", d->name, d->addr.host, d->addr.port, why);
    d->logged_down = true;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    hv_dedup_t *d = ac->data;

    if (!d || ac != d->ac)
        return;
    evtimer_del(d->connect_ev);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        note_down(d, ac->errstr);
        d->ac = NULL;
        __atomic_store_n(&d->connected, false, __ATOMIC_RELAXED);
        schedule_retry(d);
        return;
    }
    __atomic_store_n(&d->connected, true, __ATOMIC_RELAXED);
    if (d->logged_down)
        hv_log(HV_LOG_INFO, "redis available", "dedup=%s", d->name);
    d->logged_down = false;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    hv_dedup_t *d = ac->data;

    if (!d || ac != d->ac)
        return;
    note_down(d, status == REDIS_OK ? "disconnected" : ac->errstr);
    d->ac = NULL;
    __atomic_store_n(&d->connected, false, __ATOMIC_RELAXED);
    schedule_retry(d);
}

static void auth_or_select_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    hv_dedup_t *d = privdata;

    if (reply && reply->type == REDIS_REPLY_ERROR && d && ac == d->ac) {
        note_down(d, reply->str);
        __atomic_store_n(&d->connected, false,
                         __ATOMIC_RELAXED); /* wrong password or db: never trust this connection */
    }
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_dedup_t *d = arg;
    redisAsyncContext *ac = d->ac;

    if (!ac || d->connected)
        return;
    note_down(d, "connect timed out");
    d->ac = NULL; /* callbacks for this context are ignored from now on */
    redisAsyncFree(ac);
    schedule_retry(d);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    dedup_connect(arg);
}

static void dedup_connect(hv_dedup_t *d)
{
    redisAsyncContext *ac;

    if (d->closing || d->ac)
        return;
    ac = d->addr.unix_socket ? redisAsyncConnectUnix(d->addr.host)
                             : redisAsyncConnect(d->addr.host, d->addr.port);
    if (!ac) {
        note_down(d, "out of memory");
        schedule_retry(d);
        return;
    }
    if (ac->err) {
        note_down(d, ac->errstr);
        redisAsyncFree(ac);
        schedule_retry(d);
        return;
    }
    ac->data = d;
    d->ac = ac;
    if (redisLibeventAttach(ac, d->base) != REDIS_OK) {
        d->ac = NULL;
        redisAsyncFree(ac);
        schedule_retry(d);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued now, sent once connected, so they precede any check. */
    if (d->addr.password[0])
        redisAsyncCommand(ac, auth_or_select_cb, d, "AUTH %s", d->addr.password);
    if (d->addr.db)
        redisAsyncCommand(ac, auth_or_select_cb, d, "SELECT %d", d->addr.db);
    struct timeval tv = {0, HV_DEDUP_CONNECT_TIMEOUT_US};
    evtimer_add(d->connect_ev, &tv);
}

hv_dedup_t *hv_dedup_new(struct event_base *base, const hv_redis_addr_t *addr, const char *name)
{
    hv_dedup_t *d = hv_xcalloc(1, sizeof(*d));

    d->base = base;
    d->addr = *addr;
    d->name = hv_xstrdup(name);
    d->retry_ev = evtimer_new(base, retry_cb, d);
    d->connect_ev = evtimer_new(base, connect_timeout_cb, d);
    if (!d->retry_ev || !d->connect_ev) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    dedup_connect(d);
    return d;
}

void hv_dedup_free(hv_dedup_t *d)
{
    if (!d)
        return;
    d->closing = true;
    evtimer_del(d->retry_ev);
    evtimer_del(d->connect_ev);
    if (d->ac) {
        redisAsyncContext *ac = d->ac;
        d->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* calls pending replies with NULL: their ops complete */
    }
    event_free(d->retry_ev);
    event_free(d->connect_ev);
    free(d->name);
    free(d);
}

bool hv_dedup_connected(const hv_dedup_t *d)
{
    return d->connected && d->ac;
}

static void op_finish(dedup_op_t *op, bool seen)
{
    if (op->done)
        return;
    op->done = true;
    evtimer_del(op->timer);
    op->cb(op->arg, seen);
}

static void op_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    dedup_op_t *op = arg;
    if (op->d)
        __atomic_fetch_add(&op->d->stats.unknown, 1, __ATOMIC_RELAXED);
    op_finish(op, false);
}

static void op_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    dedup_op_t *op = privdata;
    redisReply *reply = r;
    bool seen = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;

    if (!op->done && op->d) {
        if (!reply || reply->type != REDIS_REPLY_INTEGER)
            __atomic_fetch_add(&op->d->stats.unknown, 1, __ATOMIC_RELAXED);
        else if (seen)
            __atomic_fetch_add(&op->d->stats.hits, 1, __ATOMIC_RELAXED);
        else
            __atomic_fetch_add(&op->d->stats.misses, 1, __ATOMIC_RELAXED);
    }
    op_finish(op, seen);
    event_free(op->timer);
    free(op);
}

void hv_dedup_check(hv_dedup_t *d, const char *id, size_t n, hv_dedup_cb cb, void *arg)
{
    dedup_op_t *op;

    if (!hv_dedup_connected(d)) {
        __atomic_fetch_add(&d->stats.unknown, 1, __ATOMIC_RELAXED);
        cb(arg, false);
        return;
    }
    op = hv_xcalloc(1, sizeof(*op));
    op->d = d;
    op->cb = cb;
    op->arg = arg;
    op->timer = evtimer_new(d->base, op_timeout_cb, op);
    if (!op->timer) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    if (redisAsyncCommand(d->ac, op_reply_cb, op, "EXISTS " HV_DEDUP_KEY_PREFIX "%b", id, n) !=
        REDIS_OK) {
        event_free(op->timer);
        free(op);
        __atomic_fetch_add(&d->stats.unknown, 1, __ATOMIC_RELAXED);
        cb(arg, false);
        return;
    }
    struct timeval tv = {0, HV_DEDUP_CHECK_TIMEOUT_US};
    evtimer_add(op->timer, &tv);
}

void hv_dedup_mark(hv_dedup_t *d, const char *id, size_t n)
{
    if (!hv_dedup_connected(d))
        return;
    (void)redisAsyncCommand(d->ac, NULL, NULL, "SET " HV_DEDUP_KEY_PREFIX "%b 1 EX %d", id, n,
                            HV_DEDUP_TTL_SEC);
}

void hv_dedup_get_stats(const hv_dedup_t *d, hv_dedup_stats_t *out)
{
    out->hits = __atomic_load_n(&d->stats.hits, __ATOMIC_RELAXED);
    out->misses = __atomic_load_n(&d->stats.misses, __ATOMIC_RELAXED);
    out->unknown = __atomic_load_n(&d->stats.unknown, __ATOMIC_RELAXED);
}

bool hv_dedup_connected_relaxed(const hv_dedup_t *d)
{
    return __atomic_load_n(&d->connected, __ATOMIC_RELAXED);
}
