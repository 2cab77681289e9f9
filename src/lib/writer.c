/*
 * writer.c - group commit into PostgreSQL. Items queue while a batch is in flight; when it
 * completes, everything queued (up to batch_max) goes out as the next single hv_ingest call,
 * its columns as binary arrays (pgarray.c).
 * libpq runs non-blocking on the event loop; a lost connection fails what is in flight with
 * "unavailable" (nothing acknowledged) and is re-established by a timer.
 */
#include "hocvu/writer.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/log.h"
#include "hocvu/metrics.h"
#include "hocvu/pgarray.h"
#include "hocvu/resolve.h"
#include "hocvu/timeutil.h"

#define HV_WRITER_RETRY_MS 500           /* reconnect interval */
#define HV_WRITER_CANCEL_GRACE_MS 5000   /* after a cancel, how long the answer may take */
#define HV_WRITER_IDENTITY_EVERY_MS 1000 /* re-read the database identity this often */
#define HV_WRITER_IDENTITY_FRESH_MS 2500 /* the fast path trusts an identity this old at most */
#define HV_WRITER_MAX_RETRIES 5          /* deadlock / serialization retries of one batch */
#define HV_WRITER_NPARAMS 12

/* Both statements are prepared once per connection with one simple-protocol round trip. */
static const char prepare_sql[] =
    "PREPARE hv_ingest(text[], smallint[], text[], text[], text[], smallint[], bigint[], int[], "
    "boolean[], text[], real[], text[], smallint) AS "
    "SELECT n, outcome FROM hv_ingest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13); "
    "PREPARE hv_lookup(text[]) AS SELECT id FROM event_ledger WHERE id = ANY ($1); "
    /* This session's own counter shard (held until it disconnects) and the database's
     * identity, which the Redis fast path is bound to. */
    "SELECT hv_claim_shard(), hv_identity()";

typedef enum writer_state {
    W_DOWN,       /* no connection; the retry timer is pending */
    W_RESOLVING,  /* the host name is being resolved on a thread (resolve.c) */
    W_CONNECTING, /* PQconnectPoll in progress */
    W_PREPARING,  /* statement being prepared */
    W_IDLE,       /* ready, nothing in flight */
    W_BUSY,       /* one batch in flight */
} writer_state_t;

struct hv_writer {
    struct event_base *base; /* borrowed */
    char *conninfo;          /* owned */
    PQconninfoOption *opts;  /* owned: conninfo parsed once; NULL if libpq cannot parse it */
    char *name;              /* owned */
    int batch_max;
    writer_state_t state;
    PGconn *conn;             /* owned; NULL when down */
    struct event *sock_ev;    /* on PQsocket(conn); re-assigned as the socket may change */
    struct event *retry_ev;   /* reconnect timer */
    struct event *timeout_ev; /* deadline of the batch in flight, then the cancel's grace */
    hv_resolve_t *resolving;  /* the host name being resolved; NULL when none */
    int deadline_ms;          /* longest an event may wait for its commit */
    bool cancel_sent;         /* the batch in flight passed its deadline: cancel requested */
    int shard;                /* counter shard this session claimed; 0 before */
    char identity[HV_WRITER_IDENTITY_MAX]; /* hv_identity() of this connection; "" before */
    bool want_write;

    /* Waiting items: single events first, then the lines of batches, so a single event never
     * waits behind more than one transaction of a large batch. */
    struct item_queue {
        hv_write_item_t *head, *tail;
        int len;
    } queue, bulk;
    hv_write_item_t *flight; /* the batch in flight, in ordinal order */
    int flight_len;
    /* Parts of a batch that failed with a data error, each sent alone (never merged with the
     * queue) until the offending event stands alone: a stack, the top sent first. */
    struct sub_batch {
        hv_write_item_t *head; /* NULL-terminated list, writer-owned links */
        int len;
        bool lookup;
    } * isolate;
    int n_isolate, cap_isolate;
    bool flight_lookup;   /* the batch is a ledger lookup */
    bool flight_identity; /* the statement in flight is the identity check, not a batch */
    bool identity_due;    /* the identity check goes before the next batch */
    /* The Redis key space, read by every loop that submits here (hv_writer_epoch): written by
     * this writer's loop under epoch_lock, read under it from any thread. */
    pthread_mutex_t epoch_lock;
    int64_t identity_at_ms; /* monotonic: when the identity was last read */
    /* hex digest of `identity`: the Redis key space; "" = none */
    char epoch[HV_WRITER_EPOCH_LEN + 1];
    struct event *identity_ev; /* periodic identity check */
    struct event *kick_ev;     /* the send of a submission to an idle connection, deferred */
    int flight_retries;
    int64_t flight_start_us; /* monotonic */

    hv_pgarray_t params[HV_WRITER_NPARAMS]; /* the batch's columns, binary */
    char shard_param[8];
    PGresult *result; /* result of the batch in flight, until its end */
    bool prepare_failed;
    bool logged_down;
    hv_writer_stats_t stats;
    int64_t ewma_us;       /* moving average of a batch's round trip; atomic (any thread reads) */
    hv_metrics_t *metrics; /* borrowed, may be NULL */
};

static void writer_connect(hv_writer_t *w);
static void writer_sock_cb(evutil_socket_t fd, short what, void *arg);
static void writer_kick(hv_writer_t *w);
static void drop_expired(hv_writer_t *w);

/* Sends what a loop iteration submitted to an idle connection as one batch: the kick runs
 * after the callbacks already active in this iteration (the other connections' requests,
 * the rest of a Redis reply), not on the first submission. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    writer_kick(arg);
}

static int64_t mono_ms(void)
{
    return hv_mono_us() / 1000;
}

/* Calls back every item of a detached list with one outcome. The list must no longer be
 * reachable from the writer, since callbacks may submit again. */
static void fail_list(hv_write_item_t *it, hv_outcome_t outcome)
{
    while (it) {
        hv_write_item_t *next = it->next;
        it->next = NULL;
        it->cb(it, outcome);
        it = next;
    }
}

/* Fails every part of a batch waiting to be isolated (connection lost, writer freed). */
static void fail_isolated(hv_writer_t *w)
{
    while (w->n_isolate > 0) {
        hv_write_item_t *head = w->isolate[--w->n_isolate].head;
        fail_list(head, HV_OUT_UNAVAILABLE);
    }
}

/* Pushes a part of a batch to be sent alone. */
static void push_isolated(hv_writer_t *w, hv_write_item_t *head, int len, bool lookup)
{
    if (w->n_isolate == w->cap_isolate) {
        w->cap_isolate = w->cap_isolate ? w->cap_isolate * 2 : 16;
        w->isolate = hv_xrealloc(w->isolate, sizeof(*w->isolate) * (size_t)w->cap_isolate);
    }
    w->isolate[w->n_isolate++] = (struct sub_batch){head, len, lookup};
}

/* Drops the connection: fails the batch in flight and everything queued (their senders retry),
 * then schedules a reconnect. */
static void writer_down(hv_writer_t *w, const char *why)
{
    hv_write_item_t *flight = w->flight, *queued = w->queue.head, *bulk = w->bulk.head;

    if (!w->logged_down)
        hv_log(HV_LOG_ERROR, "database unavailable", "writer=%s reason=%s", w->name, why);
    w->logged_down = true;
    event_del(w->sock_ev);
    event_del(w->timeout_ev);
    if (w->result) {
        PQclear(w->result);
        w->result = NULL;
    }
    if (w->conn) {
        PQfinish(w->conn);
        w->conn = NULL;
    }
    __atomic_store_n(&w->state, W_DOWN, __ATOMIC_RELAXED);
    hv_resolve_cancel(w->resolving);
    w->resolving = NULL;
    w->identity[0] = '\0';
    pthread_mutex_lock(&w->epoch_lock);
    w->epoch[0] = '\0';
    pthread_mutex_unlock(&w->epoch_lock);
    w->flight_identity = false;
    w->flight = NULL;
    w->flight_len = 0;
    memset(&w->queue, 0, sizeof(w->queue));
    memset(&w->bulk, 0, sizeof(w->bulk));
    if (flight || queued || bulk || w->n_isolate)
        __atomic_fetch_add(&w->stats.failures, 1, __ATOMIC_RELAXED);
    fail_isolated(w);
    fail_list(flight, HV_OUT_UNAVAILABLE);
    fail_list(queued, HV_OUT_UNAVAILABLE);
    fail_list(bulk, HV_OUT_UNAVAILABLE);
    struct timeval tv = {0, HV_WRITER_RETRY_MS * 1000};
    event_add(w->retry_ev, &tv);
}

/* First line of libpq's error message, for one-line logs. */
static const char *pq_error_line(PGconn *conn, char *buf, size_t n)
{
    const char *m = conn ? PQerrorMessage(conn) : "no connection";
    size_t len = strcspn(m, "\n");
    if (len >= n)
        len = n - 1;
    memcpy(buf, m, len);
    buf[len] = '\0';
    return buf;
}

static void watch_socket(hv_writer_t *w, short what)
{
    event_del(w->sock_ev);
    event_assign(w->sock_ev, w->base, PQsocket(w->conn), what | EV_PERSIST, writer_sock_cb, w);
    event_add(w->sock_ev, NULL);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    writer_connect(arg);
}

/* Sends a cancel request on its own thread: PQcancel opens a connection of its own and blocks,
 * which an event loop must never do. The PGcancel object is the thread's to free. */
static void *cancel_main(void *arg)
{
    PGcancel *c = arg;
    char err[256];

    if (!PQcancel(c, err, sizeof(err)))
        hv_log(HV_LOG_WARN, "cancel request failed", "error=%.*s", (int)strcspn(err, "\n"), err);
    PQfreeCancel(c);
    return NULL;
}

/* The batch in flight passed its deadline: ask the server to cancel it, then wait a grace
 * period for its answer (a cancelled statement rolls back: its events get 503, nothing of them
 * stored; one that committed first is answered as committed). With no answer by then the
 * connection is dropped and the events' fate is unknown to us: 503, retry (idempotent). */
static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_writer_t *w = arg;
    PGcancel *c;
    pthread_t t;
    pthread_attr_t attr;

    drop_expired(w);
    if (w->cancel_sent || !w->conn) {
        writer_down(w, "batch not answered after its cancel");
        return;
    }
    w->cancel_sent = true;
    hv_log(HV_LOG_WARN, "batch passed its deadline, cancelling",
           "writer=%s events=%d deadline_ms=%d", w->name, w->flight_len, w->deadline_ms);
    c = PQgetCancel(w->conn);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!c || pthread_create(&t, &attr, cancel_main, c) != 0) {
        pthread_attr_destroy(&attr);
        if (c)
            PQfreeCancel(c);
        writer_down(w, "batch timed out (could not send a cancel)");
        return;
    }
    pthread_attr_destroy(&attr);
    struct timeval tv = {HV_WRITER_CANCEL_GRACE_MS / 1000,
                         (HV_WRITER_CANCEL_GRACE_MS % 1000) * 1000};
    event_add(w->timeout_ev, &tv);
}

/* A setting of the parsed conninfo, or NULL when unset. */
static const char *opt_value(const PQconninfoOption *opts, const char *keyword)
{
    for (const PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0)
            return o->val;
    return NULL;
}

/* The n-th comma-separated entry of list into out (the last one when the list is shorter:
 * libpq's rule for a single port given for several hosts). */
static void list_entry(const char *list, int n, char *out, size_t outlen)
{
    const char *p = list ? list : "";
    for (int i = 0; i < n; i++) {
        const char *c = strchr(p, ',');
        if (!c)
            break;
        p = c + 1;
    }
    snprintf(out, outlen, "%.*s", (int)strcspn(p, ","), p);
}

/* Expands host/port/addresses into the parallel lists libpq takes: an entry resolved to k
 * addresses becomes k entries (libpq tries them in order, as it would have itself). */
static void expand_hosts(const char *host, const char *port, const char *resolved, hv_buf_t *hosts,
                         hv_buf_t *ports, hv_buf_t *addrs)
{
    int entries = 1;
    for (const char *p = host; *p; p++)
        entries += *p == ',';
    for (int i = 0; i < entries; i++) {
        char h[256], pt[32], a[512];
        list_entry(host, i, h, sizeof(h));
        list_entry(port, i, pt, sizeof(pt));
        list_entry(resolved, i, a, sizeof(a));
        const char *q = a;
        do {
            size_t n = strcspn(q, " ");
            hv_buf_printf(hosts, "%s%s", hosts->len ? "," : "", h);
            hv_buf_printf(ports, "%s%s", ports->len ? "," : "", pt);
            hv_buf_printf(addrs, "%s%.*s", addrs->len ? "," : "", (int)n, q);
            q += n;
            while (*q == ' ')
                q++;
        } while (*q);
    }
}

/* Starts the connection. With `resolved` (numeric addresses found off the loop) host, port and
 * hostaddr are given as parallel lists, so libpq resolves nothing while host still serves TLS
 * and pgpass. */
static void connect_with(hv_writer_t *w, const char *resolved)
{
    char err[256];

    w->prepare_failed = false;
    w->shard = 0;
    w->identity[0] = '\0';
    if (!resolved) {
        w->conn = PQconnectStart(w->conninfo);
    } else {
        const char *kw[64], *val[64], *host = opt_value(w->opts, "host"),
                                      *port = opt_value(w->opts, "port");
        hv_buf_t hosts, ports, addrs;
        int n = 0;

        hv_buf_init(&hosts);
        hv_buf_init(&ports);
        hv_buf_init(&addrs);
        expand_hosts(host ? host : "", port ? port : "", resolved, &hosts, &ports, &addrs);
        for (PQconninfoOption *o = w->opts; o && o->keyword && n < 60; o++) {
            if (o->val && strcmp(o->keyword, "hostaddr") != 0 && strcmp(o->keyword, "host") != 0 &&
                strcmp(o->keyword, "port") != 0) {
                kw[n] = o->keyword;
                val[n++] = o->val;
            }
        }
        kw[n] = "host";
        val[n++] = hosts.data ? hosts.data : "";
        kw[n] = "hostaddr";
        val[n++] = addrs.data ? addrs.data : "";
        if (port && port[0]) {
            kw[n] = "port";
            val[n++] = ports.data;
        }
        kw[n] = NULL;
        val[n] = NULL;
        w->conn = PQconnectStartParams(kw, val, 0);
        hv_buf_free(&hosts);
        hv_buf_free(&ports);
        hv_buf_free(&addrs);
    }
    if (!w->conn || PQstatus(w->conn) == CONNECTION_BAD) {
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    PQsetnonblocking(w->conn, 1);
    __atomic_store_n(&w->state, W_CONNECTING, __ATOMIC_RELAXED);
    watch_socket(w, EV_WRITE);
}

/* The database host's addresses, found off the loop. */
static void on_resolved(void *arg, const char *addrs, const char *err)
{
    hv_writer_t *w = arg;

    w->resolving = NULL;                        /* the job ends with this callback */
    if (strspn(addrs, ", ") == strlen(addrs)) { /* no address at all */
        writer_down(w, err[0] ? err : "could not resolve the database host");
        return;
    }
    connect_with(w, addrs);
}

/* Connects; a host given by name is first resolved on a thread, never on the loop. */
static void writer_connect(hv_writer_t *w)
{
    const char *host = opt_value(w->opts, "host"), *hostaddr = opt_value(w->opts, "hostaddr");

    if (w->opts && (!hostaddr || !hostaddr[0]) && hv_resolve_needed(host)) {
        w->resolving = hv_resolve_start(w->base, host, on_resolved, w);
        if (!w->resolving) {
            writer_down(w, "could not start resolving the database host");
            return;
        }
        __atomic_store_n(&w->state, W_RESOLVING, __ATOMIC_RELAXED);
        return;
    }
    connect_with(w, NULL);
}

/* Element types of hv_ingest's array parameters, in order (see prepare_sql). */
static const uint32_t param_oids[HV_WRITER_NPARAMS] = {
    HV_PG_TEXT, HV_PG_INT2, HV_PG_TEXT, HV_PG_TEXT, HV_PG_TEXT,   HV_PG_INT2,
    HV_PG_INT8, HV_PG_INT4, HV_PG_BOOL, HV_PG_TEXT, HV_PG_FLOAT4, HV_PG_TEXT,
};

/* Builds the array parameters of the batch in flight (binary: nothing is quoted or escaped)
 * and sends it. */
static void send_batch(hv_writer_t *w)
{
    const char *values[HV_WRITER_NPARAMS + 1];
    int lengths[HV_WRITER_NPARAMS + 1], formats[HV_WRITER_NPARAMS + 1];
    hv_pgarray_t *p = w->params;
    const char *stmt = "hv_ingest";
    int nparams = HV_WRITER_NPARAMS + 1;

    for (int i = 0; i < HV_WRITER_NPARAMS; i++)
        hv_pgarray_reset(&p[i]);
    if (w->flight_lookup) {
        for (hv_write_item_t *it = w->flight; it; it = it->next)
            hv_pgarray_text(&p[0], it->id, strlen(it->id));
        stmt = "hv_lookup";
        nparams = 1;
    } else {
        for (hv_write_item_t *it = w->flight; it; it = it->next) {
            bool issued = it->kind == HV_EV_ISSUED;

            hv_pgarray_text(&p[0], it->id, strlen(it->id));
            hv_pgarray_int2(&p[1], issued ? 1 : 2);
            hv_pgarray_text(&p[2], it->cert_id, strlen(it->cert_id));
            hv_pgarray_text(&p[3], it->person_hex, strlen(it->person_hex));
            if (issued) {
                hv_pgarray_text(&p[4], it->ward, strlen(it->ward));
                hv_pgarray_int2(&p[5], (int16_t)it->grp);
            } else {
                hv_pgarray_null(&p[4]);
                hv_pgarray_null(&p[5]);
            }
            if (it->has_ts)
                hv_pgarray_int8(&p[6], it->ts);
            else
                hv_pgarray_null(&p[6]);
            if (issued) {
                hv_pgarray_int4(&p[7], it->day);
                hv_pgarray_bool(&p[8], it->adult);
            } else {
                hv_pgarray_null(&p[7]);
                hv_pgarray_null(&p[8]);
            }
            if (it->course_id[0])
                hv_pgarray_text(&p[9], it->course_id, strlen(it->course_id));
            else
                hv_pgarray_null(&p[9]);
            if (it->score >= 0)
                hv_pgarray_float4(&p[10], (float)(round(it->score * 1000.0) / 1000.0));
            else
                hv_pgarray_null(&p[10]);
            if (it->supporter[0])
                hv_pgarray_text(&p[11], it->supporter, strlen(it->supporter));
            else
                hv_pgarray_null(&p[11]);
        }
    }
    for (int i = 0; i < nparams && i < HV_WRITER_NPARAMS; i++) {
        values[i] = hv_pgarray_finish(&p[i], &lengths[i]);
        formats[i] = 1;
    }
    values[HV_WRITER_NPARAMS] = w->shard_param; /* text */
    lengths[HV_WRITER_NPARAMS] = 0;
    formats[HV_WRITER_NPARAMS] = 0;

    w->flight_start_us = hv_mono_us();
    if (!PQsendQueryPrepared(w->conn, stmt, nparams, values, lengths, formats, 0)) {
        char err[256];
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    __atomic_store_n(&w->state, W_BUSY, __ATOMIC_RELAXED);
    w->cancel_sent = false;
    struct timeval tv = {w->deadline_ms / 1000, (w->deadline_ms % 1000) * 1000};
    event_add(w->timeout_ev, &tv);
    int f = PQflush(w->conn);
    if (f < 0) {
        char err[256];
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    w->want_write = f == 1;
    watch_socket(w, EV_READ | (w->want_write ? EV_WRITE : 0));
}

/* Sets the identity of this connection and the Redis key space derived from it. */
static void set_identity(hv_writer_t *w, const char *identity)
{
    uint8_t md[SHA256_DIGEST_LENGTH];

    if (w->identity[0] && strcmp(w->identity, identity) != 0)
        hv_log(HV_LOG_WARN, "database identity changed: earlier Redis marks are no longer trusted",
               "writer=%s", w->name);
    snprintf(w->identity, sizeof(w->identity), "%s", identity);
    SHA256((const unsigned char *)identity, strlen(identity), md);
    pthread_mutex_lock(&w->epoch_lock);
    hv_hex_encode(md, 8, w->epoch);
    w->identity_at_ms = mono_ms();
    pthread_mutex_unlock(&w->epoch_lock);
}

/* Sends the identity check in place of a batch (the connection is idle). */
static void send_identity_check(hv_writer_t *w)
{
    char err[256];

    w->identity_due = false;
    if (!PQsendQuery(w->conn, "SELECT hv_identity()")) {
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    w->flight_identity = true;
    __atomic_store_n(&w->state, W_BUSY, __ATOMIC_RELAXED);
    w->cancel_sent = false;
    struct timeval tv = {w->deadline_ms / 1000, (w->deadline_ms % 1000) * 1000};
    event_add(w->timeout_ev, &tv);
    watch_socket(w, EV_READ | EV_WRITE);
}

static void identity_tick(evutil_socket_t fd, short what, void *arg)
{
    hv_writer_t *w = arg;

    w->identity_due = true;
    writer_kick(w);
}

/* Detaches the expired items at the head of a queue onto *tail (its items are in the order
 * they came, so the oldest are first). Returns how many. */
static int take_expired(struct item_queue *q, int64_t now, hv_write_item_t ***tail)
{
    int n = 0;

    while (q->head && q->head->expires_ms <= now) {
        hv_write_item_t *it = q->head;
        q->head = it->next;
        q->len--;
        it->next = NULL;
        **tail = it;
        *tail = &it->next;
        n++;
    }
    if (!q->head)
        q->tail = NULL;
    return n;
}

/* Answers the items that waited past their deadline: never sent, so certainly not stored. */
static void drop_expired(hv_writer_t *w)
{
    int64_t now = mono_ms();
    hv_write_item_t *expired = NULL, **tail = &expired;
    int n = take_expired(&w->queue, now, &tail) + take_expired(&w->bulk, now, &tail);

    if (n) {
        hv_log(HV_LOG_WARN, "events dropped after waiting past their deadline",
               "writer=%s events=%d", w->name, n);
        fail_list(expired, HV_OUT_OVERLOADED);
    }
}

/* Moves up to `room` consecutive items of one kind from the head of q to the flight's tail. */
static void take_flight(hv_writer_t *w, struct item_queue *q, hv_write_item_t ***tail)
{
    while (q->head && w->flight_len < w->batch_max && q->head->lookup_only == w->flight_lookup) {
        hv_write_item_t *it = q->head;
        q->head = it->next;
        q->len--;
        it->next = NULL;
        **tail = it;
        *tail = &it->next;
        w->flight_len++;
    }
    if (!q->head)
        q->tail = NULL;
}

/* Starts the next batch if the connection is idle and items are waiting. */
static void writer_kick(hv_writer_t *w)
{
    hv_write_item_t **tail;

    if (w->state != W_IDLE)
        return;
    w->flight_retries = 0;
    if (w->identity_due) {
        send_identity_check(w);
        return;
    }
    if (w->n_isolate > 0) {
        struct sub_batch *sb = &w->isolate[--w->n_isolate];
        w->flight = sb->head;
        w->flight_len = sb->len;
        w->flight_lookup = sb->lookup;
        send_batch(w);
        return;
    }
    drop_expired(w);
    if (!w->queue.head && !w->bulk.head)
        return;
    /* A batch holds items of one kind (lookups, or events) from one queue: waiting single
     * events go first and alone, so a single event waits for at most the transaction in
     * flight, never for one filled up with batch lines. */
    w->flight = NULL;
    w->flight_len = 0;
    tail = &w->flight;
    if (w->queue.head) {
        w->flight_lookup = w->queue.head->lookup_only;
        take_flight(w, &w->queue, &tail);
    } else {
        w->flight_lookup = w->bulk.head->lookup_only;
        take_flight(w, &w->bulk, &tail);
    }
    send_batch(w);
}

/* Completes the batch in flight with the rows hv_ingest returned. The next batch is sent
 * before the items are called back: the replies and Redis marks of this one then overlap the
 * database's work on the next. */
static void finish_batch(hv_writer_t *w, PGresult *res)
{
    int nrows = PQntuples(res);
    hv_write_item_t **by_ordinal = hv_xmalloc(sizeof(*by_ordinal) * (size_t)w->flight_len);
    hv_outcome_t *outcome = hv_xmalloc(sizeof(*outcome) * (size_t)w->flight_len);
    hv_write_item_t *it;
    int k = 0, len = w->flight_len;

    for (it = w->flight; it; it = it->next) {
        by_ordinal[k] = it;
        outcome[k++] = HV_OUT_UNAVAILABLE; /* a row missing from the result is not acknowledged */
    }
    if (w->flight_lookup) {
        /* Rows are the ids found in the ledger; everything else is unknown. */
        for (k = 0; k < len; k++) {
            outcome[k] = HV_OUT_NOT_FOUND;
            for (int r = 0; r < nrows; r++)
                if (strcmp(PQgetvalue(res, r, 0), by_ordinal[k]->id) == 0)
                    outcome[k] = HV_OUT_DUPLICATE;
        }
        nrows = 0;
    }
    for (int r = 0; r < nrows; r++) {
        int n = atoi(PQgetvalue(res, r, 0)), o = atoi(PQgetvalue(res, r, 1));
        if (n >= 1 && n <= len && o >= 0 && o <= 2)
            outcome[n - 1] = (hv_outcome_t)o;
    }
    __atomic_fetch_add(&w->stats.batches, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&w->stats.events, (uint64_t)len, __ATOMIC_RELAXED);
    int64_t us = hv_mono_us() - w->flight_start_us;
    __atomic_fetch_add(&w->stats.commit_us_total, (uint64_t)us, __ATOMIC_RELAXED);
    __atomic_store_n(&w->ewma_us, w->ewma_us + (us - w->ewma_us) / 8, __ATOMIC_RELAXED);
    if (w->metrics && !w->flight_lookup)
        hv_metrics_commit(w->metrics, len, us);
    w->flight = NULL;
    w->flight_len = 0;
    writer_kick(w);
    for (k = 0; k < len; k++) {
        by_ordinal[k]->next = NULL;
        by_ordinal[k]->cb(by_ordinal[k], outcome[k]);
    }
    free(by_ordinal);
    free(outcome);
}

/* A data error is about the values sent, so about one event of the batch (or a few): data
 * exceptions (class 22: bad encoding, out of range, ...), integrity violations (23) and
 * program limits (54, e.g. an index row too large). Anything else (connection, cancel,
 * resources, server state) is the database's, answered 503 for the whole batch. */
static bool is_data_error(const char *sqlstate)
{
    return sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
                        strncmp(sqlstate, "54", 2) == 0);
}

/* The batch in flight failed for its data: a lone event is the offender (HV_OUT_INVALID, only
 * it); a larger batch is split in halves, each sent alone next, so the offender is found in
 * log2(n) rounds while every other event commits. */
static void isolate_flight(hv_writer_t *w)
{
    hv_write_item_t *head = w->flight, *mid = head;
    int len = w->flight_len, half = len / 2;
    bool lookup = w->flight_lookup;

    w->flight = NULL;
    w->flight_len = 0;
    if (len == 1) {
        head->next = NULL;
        head->cb(head, HV_OUT_INVALID);
        return;
    }
    for (int i = 1; i < half; i++)
        mid = mid->next;
    hv_write_item_t *second = mid->next;
    mid->next = NULL;
    push_isolated(w, second, len - half, lookup);
    push_isolated(w, head, half, lookup); /* the top: sent first */
}

/* Handles the end of a batch statement once libpq has returned its last result: completes the
 * batch, retries it after a deadlock or serialization failure, or fails it. */
static void batch_done(hv_writer_t *w)
{
    PGresult *res = w->result;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    w->result = NULL;
    __atomic_store_n(&w->state, W_IDLE, __ATOMIC_RELAXED);
    event_del(w->timeout_ev);
    if (w->flight_identity) {
        w->flight_identity = false;
        if (st != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
            PQclear(res);
            writer_down(w, "could not read the database identity");
            return;
        }
        set_identity(w, PQgetvalue(res, 0, 0));
        PQclear(res);
        writer_kick(w);
        return;
    }
    if (st == PGRES_TUPLES_OK) {
        finish_batch(w, res);
        PQclear(res);
        writer_kick(w);
        return;
    }
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *m = res ? PQresultErrorMessage(res) : "no result";
    bool retry = code && (strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0);
    if (retry && w->flight_retries < HV_WRITER_MAX_RETRIES) {
        w->flight_retries++;
        __atomic_fetch_add(&w->stats.retries, 1, __ATOMIC_RELAXED);
        hv_log(HV_LOG_WARN, "batch retried", "writer=%s sqlstate=%s events=%d", w->name, code,
               w->flight_len);
        PQclear(res);
        send_batch(w);
        return;
    }
    if (is_data_error(code) && PQstatus(w->conn) == CONNECTION_OK) {
        hv_log(HV_LOG_WARN, "batch refused for its data, isolating",
               "writer=%s sqlstate=%s events=%d", w->name, code, w->flight_len);
        PQclear(res);
        isolate_flight(w);
        writer_kick(w);
        return;
    }
    hv_log(HV_LOG_ERROR, "batch failed", "writer=%s sqlstate=%s events=%d error=%.*s", w->name,
           code ? code : "?", w->flight_len, (int)strcspn(m, "\n"), m);
    PQclear(res);
    hv_write_item_t *flight = w->flight;
    w->flight = NULL;
    w->flight_len = 0;
    __atomic_fetch_add(&w->stats.failures, 1, __ATOMIC_RELAXED);
    fail_list(flight, HV_OUT_UNAVAILABLE);
    if (w->state == W_IDLE && PQstatus(w->conn) == CONNECTION_BAD) {
        writer_down(w, "connection lost");
        return;
    }
    writer_kick(w);
}

/* The session's row of the preparing step: its counter shard and the database identity. */
static void take_session(hv_writer_t *w, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
        return;
    w->shard = atoi(PQgetvalue(res, 0, 0));
    snprintf(w->shard_param, sizeof(w->shard_param), "%d", w->shard);
    w->identity[0] = '\0'; /* a new connection: no change to report */
    set_identity(w, PQgetvalue(res, 0, 1));
}

/* Reads the results of the statement in flight; returns when libpq would block. The next
 * statement may only be sent after PQgetResult has returned NULL. */
static void handle_results(hv_writer_t *w)
{
    char err[256];

    if (!PQconsumeInput(w->conn)) {
        writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
        return;
    }
    while (!PQisBusy(w->conn)) {
        PGresult *res = PQgetResult(w->conn);
        if (!res) {
            if (w->state == W_PREPARING) {
                if (!w->prepare_failed && (w->shard <= 0 || !w->identity[0])) {
                    hv_log(HV_LOG_ERROR, "no counter shard or identity for this session",
                           "writer=%s", w->name);
                    w->prepare_failed = true;
                }
                if (w->prepare_failed) {
                    writer_down(w, "could not prepare statements (has hocvuctl migrate run?)");
                    return;
                }
                __atomic_store_n(&w->state, W_IDLE, __ATOMIC_RELAXED);
                if (w->logged_down)
                    hv_log(HV_LOG_INFO, "database available", "writer=%s", w->name);
                w->logged_down = false;
                watch_socket(w, EV_READ);
                writer_kick(w);
            } else if (w->state == W_BUSY) {
                batch_done(w);
            }
            return;
        }
        if (w->state == W_PREPARING) {
            if (PQresultStatus(res) == PGRES_TUPLES_OK) {
                take_session(w, res);
            } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                const char *m = PQresultErrorMessage(res);
                hv_log(HV_LOG_ERROR, "could not prepare statement", "writer=%s error=%.*s", w->name,
                       (int)strcspn(m, "\n"), m);
                w->prepare_failed = true;
            }
            PQclear(res);
        } else if (w->state == W_BUSY) {
            /* Keep the first result (rows or error); hv_ingest returns exactly one. */
            if (!w->result)
                w->result = res;
            else
                PQclear(res);
        } else {
            PQclear(res);
        }
    }
}

static void writer_sock_cb(evutil_socket_t fd, short what, void *arg)
{
    hv_writer_t *w = arg;
    char err[256];

    switch (w->state) {
    case W_CONNECTING:
        switch (PQconnectPoll(w->conn)) {
        case PGRES_POLLING_READING:
            watch_socket(w, EV_READ);
            return;
        case PGRES_POLLING_WRITING:
            watch_socket(w, EV_WRITE);
            return;
        case PGRES_POLLING_FAILED:
            writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
            return;
        case PGRES_POLLING_OK:
            if (!PQsendQuery(w->conn, prepare_sql)) {
                writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
                return;
            }
            __atomic_store_n(&w->state, W_PREPARING, __ATOMIC_RELAXED);
            watch_socket(w, EV_READ | EV_WRITE);
            return;
        default:
            return;
        }
    case W_PREPARING:
    case W_BUSY:
        if (what & EV_WRITE) {
            int f = PQflush(w->conn);
            if (f < 0) {
                writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
                return;
            }
            if (f == 0)
                watch_socket(w, EV_READ);
        }
        if (what & EV_READ)
            handle_results(w);
        return;
    case W_IDLE:
        /* Unsolicited input while idle: a notice, or the server closing the connection. */
        if (!PQconsumeInput(w->conn) || PQstatus(w->conn) == CONNECTION_BAD) {
            writer_down(w, pq_error_line(w->conn, err, sizeof(err)));
            return;
        }
        return;
    case W_DOWN:
    case W_RESOLVING:
        return;
    }
}

hv_writer_t *hv_writer_new(struct event_base *base, const char *conninfo, int batch_max,
                           int deadline_ms, const char *name, hv_metrics_t *metrics)
{
    hv_writer_t *w = hv_xcalloc(1, sizeof(*w));

    w->deadline_ms = deadline_ms > 0 ? deadline_ms : 10000;
    w->ewma_us = 10000; /* until measured */
    pthread_mutex_init(&w->epoch_lock, NULL);
    w->metrics = metrics;
    w->base = base;
    w->conninfo = hv_xstrdup(conninfo);
    w->opts = PQconninfoParse(conninfo, NULL);
    w->name = hv_xstrdup(name);
    w->batch_max = batch_max;
    w->sock_ev = event_new(base, -1, 0, writer_sock_cb, w);
    w->retry_ev = evtimer_new(base, retry_cb, w);
    w->timeout_ev = evtimer_new(base, timeout_cb, w);
    w->identity_ev = event_new(base, -1, EV_PERSIST, identity_tick, w);
    w->kick_ev = event_new(base, -1, 0, kick_cb, w);
    if (!w->sock_ev || !w->retry_ev || !w->timeout_ev || !w->identity_ev || !w->kick_ev) {
        hv_log(HV_LOG_ERROR, "out of memory", NULL);
        abort();
    }
    for (int i = 0; i < HV_WRITER_NPARAMS; i++)
        hv_pgarray_init(&w->params[i], param_oids[i]);
    struct timeval every = {HV_WRITER_IDENTITY_EVERY_MS / 1000,
                            (HV_WRITER_IDENTITY_EVERY_MS % 1000) * 1000};
    event_add(w->identity_ev, &every);
    writer_connect(w);
    return w;
}

void hv_writer_free(hv_writer_t *w)
{
    if (!w)
        return;
    hv_write_item_t *flight = w->flight, *queued = w->queue.head, *bulk = w->bulk.head;
    w->flight = NULL;
    memset(&w->queue, 0, sizeof(w->queue));
    memset(&w->bulk, 0, sizeof(w->bulk));
    fail_isolated(w);
    fail_list(flight, HV_OUT_UNAVAILABLE);
    fail_list(queued, HV_OUT_UNAVAILABLE);
    fail_list(bulk, HV_OUT_UNAVAILABLE);
    free(w->isolate);
    event_free(w->sock_ev);
    event_free(w->retry_ev);
    event_free(w->timeout_ev);
    event_free(w->identity_ev);
    event_free(w->kick_ev);
    hv_resolve_cancel(w->resolving);
    if (w->conn)
        PQfinish(w->conn);
    for (int i = 0; i < HV_WRITER_NPARAMS; i++)
        hv_pgarray_free(&w->params[i]);
    PQconninfoFree(w->opts);
    pthread_mutex_destroy(&w->epoch_lock);
    free(w->conninfo);
    free(w->name);
    free(w);
}

void hv_writer_submit(hv_writer_t *w, hv_write_item_t *it, bool bulk)
{
    struct item_queue *q = bulk ? &w->bulk : &w->queue;

    if (w->state == W_DOWN || w->state == W_RESOLVING || w->state == W_CONNECTING ||
        w->state == W_PREPARING) {
        it->next = NULL;
        it->cb(it, HV_OUT_UNAVAILABLE);
        return;
    }
    it->next = NULL;
    it->expires_ms = mono_ms() + w->deadline_ms;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->len++;
    if (w->state == W_IDLE)
        event_active(w->kick_ev, EV_TIMEOUT, 0); /* (a no-op when already active) */
}

bool hv_writer_available(const hv_writer_t *w)
{
    return w->state == W_IDLE || w->state == W_BUSY;
}

bool hv_writer_available_relaxed(const hv_writer_t *w)
{
    writer_state_t st = __atomic_load_n(&w->state, __ATOMIC_RELAXED);
    return st == W_IDLE || st == W_BUSY;
}

bool hv_writer_idle(const hv_writer_t *w)
{
    return !w->flight && !w->queue.head && !w->bulk.head && w->n_isolate == 0;
}

void hv_writer_get_stats(const hv_writer_t *w, hv_writer_stats_t *out)
{
    /* May be called from another thread (metrics): relaxed atomic reads of each counter. */
    out->batches = __atomic_load_n(&w->stats.batches, __ATOMIC_RELAXED);
    out->events = __atomic_load_n(&w->stats.events, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&w->stats.retries, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&w->stats.failures, __ATOMIC_RELAXED);
    out->commit_us_total = __atomic_load_n(&w->stats.commit_us_total, __ATOMIC_RELAXED);
}

const char *hv_writer_epoch(hv_writer_t *w, char out[HV_WRITER_EPOCH_LEN + 1])
{
    bool ok;

    if (!hv_writer_available_relaxed(w))
        return NULL;
    pthread_mutex_lock(&w->epoch_lock);
    ok = w->epoch[0] && mono_ms() - w->identity_at_ms <= HV_WRITER_IDENTITY_FRESH_MS;
    if (ok)
        memcpy(out, w->epoch, HV_WRITER_EPOCH_LEN + 1);
    pthread_mutex_unlock(&w->epoch_lock);
    return ok ? out : NULL;
}

int64_t hv_writer_latency_us(const hv_writer_t *w)
{
    return __atomic_load_n(&w->ewma_us, __ATOMIC_RELAXED);
}
