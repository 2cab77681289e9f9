/*
 * dedup.c - Redis fast path (hiredis async on libevent). Every check calls back exactly once:
 * with Redis's answer, on its own timeout, or on disconnect; marks are fire-and-forget.
 * Connection loss schedules a reconnect; nothing here ever decides an answer on its own.
 * Keys live in the key space of the database identity they were made under (the writer's
 * epoch), so a mark never answers for a database that may not hold its event.
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
#include "hocvu/resolve.h"
#include "hocvu/timeutil.h"
#include "hocvu/util.h"

#define HV_DEDUP_KEY_PREFIX "hv:id:"
/* A mark's lifetime in seconds, as the SET command's argument: 90 days (redeliveries come
 * within days; PostgreSQL stays the truth). */
#define HV_DEDUP_TTL_ARG "7776000"
#define HV_DEDUP_CHECK_TIMEOUT_US 50000 /* the most a check may wait, whatever the budget */
#define HV_DEDUP_CHECK_MIN_US 1000      /* ... and the least */
#define HV_DEDUP_STALL_AFTER 4          /* consecutive timed-out checks that trip the breaker */
#define HV_DEDUP_PROBE_US 250000        /* while stalled: a PING this often */
#define HV_DEDUP_RESUME_AFTER 2         /* PINGs answered in time that close the breaker */
#define HV_DEDUP_STALL_RESET_US 3000000 /* stalled this long: drop the connection, reconnect */
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
    /* The breaker: a Redis that stops answering (stalled, or slower than the budget) is left
     * out - checks answer "not seen" at once, marks are skipped - until PINGs come back. */
    int64_t budget_us; /* how long a check may wait: about one database commit */
    int timeouts_in_a_row;
    bool stalled;             /* atomic for metrics */
    int64_t stalled_since_us; /* monotonic */
    bool probe_pending;
    int64_t probe_sent_us;
    int probes_ok;
    struct event *probe_ev;  /* while stalled */
    hv_resolve_t *resolving; /* the host name being resolved; NULL when none */
    char resolved[1024];     /* the host's addresses, space-separated; tried in order */
    int next_addr;           /* index of the next one to try after a failed connect */
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
static void connect_to(hv_dedup_t *d, const char *host);
static bool try_next_addr(hv_dedup_t *d);

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
               "dedup=%s addr=%s:%d reason=%s", d->name, d->addr.host, d->addr.port, why);
    d->logged_down = true;
}

/* Trips the breaker: from now on nothing waits for Redis. */
static void stall(hv_dedup_t *d, const char *why)
{
    struct timeval tv = {0, HV_DEDUP_PROBE_US};

    if (d->stalled)
        return;
    hv_log(HV_LOG_WARN, "redis not answering in time, using postgresql only",
           "dedup=%s reason=%s budget_us=%lld", d->name, why, (long long)d->budget_us);
    __atomic_store_n(&d->stalled, true, __ATOMIC_RELAXED);
    d->stalled_since_us = hv_mono_us();
    d->probes_ok = 0;
    evtimer_add(d->probe_ev, &tv);
}

static void unstall(hv_dedup_t *d)
{
    if (!d->stalled)
        return;
    hv_log(HV_LOG_INFO, "redis answering again", "dedup=%s", d->name);
    __atomic_store_n(&d->stalled, false, __ATOMIC_RELAXED);
    d->timeouts_in_a_row = 0;
    evtimer_del(d->probe_ev);
}

static void probe_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    hv_dedup_t *d = privdata;
    redisReply *reply = r;

    if (!d || d->closing)
        return;
    d->probe_pending = false;
    if (!reply || ac != d->ac || reply->type == REDIS_REPLY_ERROR)
        return;
    /* Hysteresis: a PING must answer within half the budget to close the breaker, so a Redis
     * about as slow as the budget (which follows the commit latency) stays out instead of
     * flapping in and out, each time costing the checks that trip it again. */
    if (hv_mono_us() - d->probe_sent_us <= d->budget_us / 2) {
        if (++d->probes_ok >= HV_DEDUP_RESUME_AFTER)
            unstall(d);
    } else {
        d->probes_ok = 0;
    }
}

/* While stalled: one PING at a time; a stall that lasts drops the connection, which also frees
 * what is still waiting on it, and reconnects. */
static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_dedup_t *d = arg;
    struct timeval tv = {0, HV_DEDUP_PROBE_US};

    if (!d->stalled || d->closing)
        return;
    if (d->ac && hv_mono_us() - d->stalled_since_us > HV_DEDUP_STALL_RESET_US && d->probe_pending) {
        redisAsyncContext *ac = d->ac;
        note_down(d, "stalled: reconnecting");
        d->ac = NULL;
        __atomic_store_n(&d->connected, false, __ATOMIC_RELAXED);
        d->probe_pending = false;
        d->stalled_since_us = hv_mono_us();
        redisAsyncFree(ac); /* pending checks complete with NULL replies */
        schedule_retry(d);
    } else if (d->ac && d->connected && !d->probe_pending) {
        if (redisAsyncCommand(d->ac, probe_reply_cb, d, "PING") == REDIS_OK) {
            d->probe_pending = true;
            d->probe_sent_us = hv_mono_us();
        }
    }
    evtimer_add(d->probe_ev, &tv);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    hv_dedup_t *d = ac->data;

    if (!d || ac != d->ac)
        return;
    evtimer_del(d->connect_ev);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        d->ac = NULL;
        __atomic_store_n(&d->connected, false, __ATOMIC_RELAXED);
        if (d->resolved[0] && try_next_addr(d)) /* the name has another address */
            return;
        note_down(d, ac->errstr);
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

/* The Redis host's addresses, found off the loop (hiredis would resolve on it, blocking). */
static void on_resolved(void *arg, const char *addrs, const char *err)
{
    hv_dedup_t *d = arg;

    d->resolving = NULL; /* the job ends with this callback */
    snprintf(d->resolved, sizeof(d->resolved), "%.*s", (int)strcspn(addrs, ","), addrs);
    d->next_addr = 0;
    if (!try_next_addr(d)) {
        note_down(d, err[0] ? err : "could not resolve the redis host");
        schedule_retry(d);
    }
}

/* Connects to the next resolved address; false when none is left. */
static bool try_next_addr(hv_dedup_t *d)
{
    const char *p = d->resolved;
    char one[64];

    for (int i = 0; i < d->next_addr && *p; i++) {
        p += strcspn(p, " ");
        while (*p == ' ')
            p++;
    }
    if (!*p)
        return false;
    snprintf(one, sizeof(one), "%.*s", (int)strcspn(p, " "), p);
    d->next_addr++;
    connect_to(d, one);
    return true;
}

static void dedup_connect(hv_dedup_t *d)
{
    if (d->closing || d->ac || d->resolving)
        return;
    if (!d->addr.unix_socket && hv_resolve_needed(d->addr.host)) {
        d->resolving = hv_resolve_start(d->base, d->addr.host, on_resolved, d);
        if (!d->resolving) {
            note_down(d, "could not start resolving the redis host");
            schedule_retry(d);
        }
        return;
    }
    connect_to(d, d->addr.host);
}

/* Connects to `host` (a socket path, or a numeric address: nothing to resolve). */
static void connect_to(hv_dedup_t *d, const char *host)
{
    redisAsyncContext *ac;

    if (d->closing || d->ac)
        return;
    ac = d->addr.unix_socket ? redisAsyncConnectUnix(host) : redisAsyncConnect(host, d->addr.port);
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
    d->probe_ev = evtimer_new(base, probe_cb, d);
    d->budget_us = HV_DEDUP_CHECK_TIMEOUT_US;
    if (!d->retry_ev || !d->connect_ev || !d->probe_ev) {
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
    evtimer_del(d->probe_ev);
    hv_resolve_cancel(d->resolving);
    d->resolving = NULL;
    if (d->ac) {
        redisAsyncContext *ac = d->ac;
        d->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* calls pending replies with NULL: their ops complete */
    }
    event_free(d->retry_ev);
    event_free(d->connect_ev);
    event_free(d->probe_ev);
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
    hv_dedup_t *d = op->d;

    if (d) {
        __atomic_fetch_add(&d->stats.unknown, 1, __ATOMIC_RELAXED);
        if (++d->timeouts_in_a_row >= HV_DEDUP_STALL_AFTER)
            stall(d, "checks timed out");
    }
    op_finish(op, false);
}

static void op_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    dedup_op_t *op = privdata;
    redisReply *reply = r;
    bool seen = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;

    if (!op->done && op->d) {
        op->d->timeouts_in_a_row = 0;
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

/* Commands are written in RESP by hand and sent with redisAsyncFormattedCommand: hiredis's
 * printf-style formatting was most of the fast path's CPU (bench/PROFILE.md). */

/* Writes the decimal digits of v at out; returns how many. */
static size_t put_uint(char *out, size_t v)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Appends one RESP bulk string ("$<len>\r\n<bytes>\r\n"); returns the new end. */
static char *put_bulk(char *out, const char *a, size_t n)
{
    *out++ = '$';
    out += put_uint(out, n);
    *out++ = '\r';
    *out++ = '\n';
    memcpy(out, a, n);
    out += n;
    *out++ = '\r';
    *out++ = '\n';
    return out;
}

/* Sends `verb` on the key of id[0..n) under epoch, followed by the `extra` arguments (NULL-
 * terminated), in one formatted command. Returns hiredis's status. */
static int send_keyed(hv_dedup_t *d, redisCallbackFn *fn, void *privdata, const char *verb,
                      const char *epoch, const char *id, size_t n, const char *const *extra)
{
    size_t plen = sizeof(HV_DEDUP_KEY_PREFIX) - 1, elen = strlen(epoch);
    size_t klen = plen + elen + 1 + n, need = 64 + strlen(verb) + klen;
    size_t argc = 2;
    char stack[1024], *buf, *p;
    int rc;

    for (size_t i = 0; extra[i]; i++) {
        need += 32 + strlen(extra[i]);
        argc++;
    }
    buf = need <= sizeof(stack) ? stack : hv_xmalloc(need);
    p = buf;
    *p++ = '*';
    p += put_uint(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    p = put_bulk(p, verb, strlen(verb));
    *p++ = '$';
    p += put_uint(p, klen);
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, HV_DEDUP_KEY_PREFIX, plen);
    p += plen;
    memcpy(p, epoch, elen);
    p += elen;
    *p++ = ':';
    memcpy(p, id, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    for (size_t i = 0; extra[i]; i++)
        p = put_bulk(p, extra[i], strlen(extra[i]));
    rc = redisAsyncFormattedCommand(d->ac, fn, privdata, buf, (size_t)(p - buf));
    if (buf != stack)
        free(buf);
    return rc;
}

void hv_dedup_check(hv_dedup_t *d, const char *epoch, const char *id, size_t n, hv_dedup_cb cb,
                    void *arg)
{
    dedup_op_t *op;

    if (!hv_dedup_connected(d) || !epoch || d->stalled) {
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
    static const char *const no_args[] = {NULL};
    if (send_keyed(d, op_reply_cb, op, "EXISTS", epoch, id, n, no_args) != REDIS_OK) {
        event_free(op->timer);
        free(op);
        __atomic_fetch_add(&d->stats.unknown, 1, __ATOMIC_RELAXED);
        cb(arg, false);
        return;
    }
    struct timeval tv = {0, (suseconds_t)d->budget_us};
    evtimer_add(op->timer, &tv);
}

void hv_dedup_set_budget(hv_dedup_t *d, int64_t us)
{
    if (us < HV_DEDUP_CHECK_MIN_US)
        us = HV_DEDUP_CHECK_MIN_US;
    if (us > HV_DEDUP_CHECK_TIMEOUT_US)
        us = HV_DEDUP_CHECK_TIMEOUT_US;
    d->budget_us = us;
}

hv_dedup_state_t hv_dedup_state(const hv_dedup_t *d)
{
    if (!__atomic_load_n(&d->connected, __ATOMIC_RELAXED))
        return HV_DEDUP_DOWN;
    return __atomic_load_n(&d->stalled, __ATOMIC_RELAXED) ? HV_DEDUP_STALLED : HV_DEDUP_UP;
}

void hv_dedup_mark(hv_dedup_t *d, const char *epoch, const char *id, size_t n)
{
    if (!hv_dedup_connected(d) || !epoch || d->stalled)
        return;
    static const char *const value_ttl[] = {"1", "EX", HV_DEDUP_TTL_ARG, NULL};
    (void)send_keyed(d, NULL, NULL, "SET", epoch, id, n, value_ttl);
}

void hv_dedup_get_stats(const hv_dedup_t *d, hv_dedup_stats_t *out)
{
    out->hits = __atomic_load_n(&d->stats.hits, __ATOMIC_RELAXED);
    out->misses = __atomic_load_n(&d->stats.misses, __ATOMIC_RELAXED);
    out->unknown = __atomic_load_n(&d->stats.unknown, __ATOMIC_RELAXED);
}
