/*
 * front.h - the front door of every client connection, between the socket (or TLS) and evhttp.
 *
 * Each connection's bytes are read with frame.c before evhttp sees them; evhttp is handed one
 * complete, strictly framed request at a time, and the next is read only once the previous one
 * is answered. Bad framing, a body over its route's limit, a process over its
 * connection cap or its budget of request bytes: evhttp is handed a stand-in request instead, the
 * router answers it with the refusal (hv_front_request) and the connection closes. So memory is
 * bounded by configuration whatever clients send:
 *   - a request body is held only up to its route's limit, refused from Content-Length before
 *     it is read and from the chunk sizes as they arrive;
 *   - all request bytes held by the process (being read, or handed to a handler) stay within
 *     the budget; a connection that would go over it is refused 503;
 *   - at most HOCVU_MAX_CONNECTIONS connections are open; one more is answered 503 and closed;
 *   - a client may send at most HV_FRONT_AHEAD_MAX bytes ahead of a request it has not had the
 *     answer to (pipelining); more, and the connection is closed.
 * It also cuts any connection whose request takes longer than the request deadline to arrive
 * (evhttp only times out silence: one byte a second would hold a connection for hours).
 */
#ifndef HOCVU_FRONT_H
#define HOCVU_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/frame.h"

struct event_base;
struct bufferevent;
struct evhttp_request;

#define HV_FRONT_AHEAD_MAX (64 * 1024)

/* Limits shared by the fronts of all event loops of a process (counters are atomic). */
typedef struct hv_front_limits {
    size_t budget;                          /* request bytes held at once */
    int max_conns;                          /* open connections */
    size_t held;                            /* atomic: bytes held now */
    int conns;                              /* atomic: connections open now */
    uint64_t refused_budget, refused_conns; /* atomic: refusals for either limit */
    int burst; /* atomic: many bytes were held since the last malloc_trim */
} hv_front_limits_t;

/* Why a request was refused before reaching a handler. */
typedef struct {
    int status;
    const char *code;   /* problem code: bad_request, payload_too_large, overloaded, ... */
    const char *reason; /* static text, for the problem's detail */
} hv_front_refusal_t;

typedef struct hv_front hv_front_t;

/* A front for the connections of `base` (borrowed). limits is borrowed and outlives the front;
 * timeout_s is the request deadline; head_max bounds a request's head; limit_fn gives each
 * route's body limit. Free with hv_front_free() after the evhttp owning the connections. */
hv_front_t *hv_front_new(struct event_base *base, hv_front_limits_t *limits, int timeout_s,
                         size_t head_max, hv_frame_limit_fn limit_fn, void *limit_arg);
void hv_front_free(hv_front_t *ft);

/* Puts the front on a new connection's bufferevent (evhttp's, from its bevcb; borrowed: a
 * reference is held until evhttp has freed it). */
void hv_front_add(hv_front_t *ft, struct bufferevent *bev);

/* For every request evhttp hands the router: returns true when it is the stand-in for a refused
 * one (*out says how to answer: the connection then closes). Either way the front learns when
 * the request is answered, and only then reads the next one. */
bool hv_front_request(hv_front_t *ft, struct evhttp_request *req, hv_front_refusal_t *out);

/* Open connections, and connections cut for being too slow (for metrics; any thread). */
size_t hv_front_open(const hv_front_t *ft);
uint64_t hv_front_cut(const hv_front_t *ft);

#endif
