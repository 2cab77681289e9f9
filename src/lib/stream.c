/*
 * stream.c - GET /v1/stream: server-sent events. Each open stream is on its worker's list;
 * once a second the worker pushes the progress document to every stream whose client has not
 * seen it (at most one event per second) and keeps idle ones alive through proxies.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/handlers.h"
#include "hocvu/snapshot.h"
#include "hocvu/snapstore.h"
#include "hocvu/timeutil.h"

#define HV_STREAM_KEEPALIVE_MS 15000

/* One open /v1/stream response. Owned by the worker's list; freed when the client goes away
 * (close callback) or when the worker ends the stream. */
struct hv_stream_client {
    hv_worker_t *w;             /* borrowed */
    struct evhttp_request *req; /* borrowed from libevent, except after a mid-reply close */
    struct evhttp_connection *evcon;
    char etag[24]; /* of the last progress document sent */
    int64_t last_sent_ms;
    struct hv_stream_client *prev, *next;
};

typedef hv_stream_client_t stream_client_t;

static void stream_unlink(stream_client_t *c)
{
    hv_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->streams = c->next;
    if (c->next)
        c->next->prev = c->prev;
    __atomic_store_n(&w->n_streams, w->n_streams - 1, __ATOMIC_RELAXED);
}

/* libevent closed the connection (client gone, or write failed): forget the client. */
static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
    stream_client_t *c = arg;
    stream_unlink(c);
    /* A client gone mid-reply leaves the request unhooked from its connection, and libevent
     * never frees an unhooked request whose reply was not finished: that is ours to do. */
    if (!evhttp_request_get_connection(c->req))
        evhttp_request_free(c->req);
    free(c);
}

static void stream_send(stream_client_t *c, const char *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        return;
    evbuffer_add(buf, text, len);
    evhttp_send_reply_chunk(c->req, buf);
    evbuffer_free(buf);
    c->last_sent_ms = hv_mono_us() / 1000;
}

/* Sends the progress document if it changed since the last one this client saw. */
static void stream_push(stream_client_t *c, const hv_snapshot_t *snap)
{
    hv_buf_t b;

    if (!snap ||
        strcmp(c->etag, snap->progress_docs[snap->current_year - snap->first_year].etag) == 0)
        return;
    hv_buf_init(&b);
    hv_buf_printf(&b, "event: progress\nid: %s\ndata: ",
                  snap->progress_docs[snap->current_year - snap->first_year].etag);
    hv_buf_append(&b, snap->progress_docs[snap->current_year - snap->first_year].body,
                  snap->progress_docs[snap->current_year - snap->first_year].len);
    hv_buf_puts(&b, "\n\n");
    stream_send(c, b.data, b.len);
    hv_buf_free(&b);
    memcpy(c->etag, snap->progress_docs[snap->current_year - snap->first_year].etag,
           sizeof(c->etag));
}

/* Ends one stream from our side (shutdown). */
static void stream_end(stream_client_t *c)
{
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    stream_unlink(c);
    evhttp_send_reply_end(c->req);
    free(c);
}

void hv_stream_end_all(hv_worker_t *w)
{
    while (w->streams)
        stream_end(w->streams);
}

void hv_stream_tick(hv_worker_t *w)
{
    hv_snapshot_t *snap;
    int64_t now = hv_mono_us() / 1000;

    if (!w->streams)
        return;
    snap = hv_snapshot_acquire(w->srv->snap);
    for (stream_client_t *c = w->streams, *next; c; c = next) {
        next = c->next;
        stream_push(c, snap);
        if (now - c->last_sent_ms >= HV_STREAM_KEEPALIVE_MS)
            stream_send(c, ": keep-alive\n\n", 14);
    }
    hv_snapshot_release(snap);
}

void hv_handle_stream(hv_req_t *r)
{
    hv_snapshot_t *snap = hv_read_gate(r);
    stream_client_t *c;

    if (!snap)
        return;
    if (r->w->draining) {
        hv_snapshot_release(snap);
        hv_http_problem(r, 503, "unavailable", NULL, "shutting down");
        return;
    }
    c = hv_xcalloc(1, sizeof(*c));
    c->w = r->w;
    c->req = r->evreq;
    c->evcon = evhttp_request_get_connection(r->evreq);
    hv_http_add_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    hv_http_add_header(r, "Cache-Control", "no-cache");
    hv_http_add_header(r, "X-Accel-Buffering", "no");
    hv_http_end_streaming(r);
    evhttp_connection_set_closecb(c->evcon, stream_closed, c);
    c->next = r->w->streams;
    if (c->next)
        c->next->prev = c;
    r->w->streams = c;
    __atomic_store_n(&r->w->n_streams, r->w->n_streams + 1, __ATOMIC_RELAXED);
    stream_send(c, "retry: 2000\n\n", 13);
    stream_push(c, snap);
    hv_snapshot_release(snap);
}
