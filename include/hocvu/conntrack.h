/*
 * conntrack.h - per-connection request deadlines for the HTTP front. libevent's evhttp only
 * times out silence; a client trickling one byte a second would hold its connection for hours.
 * This tracks every connection's bufferevent and cuts those whose request takes too long.
 */
#ifndef HOCVU_CONNTRACK_H
#define HOCVU_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bufferevent;

typedef struct hv_conntrack hv_conntrack_t;

/* Creates a tracker on `base` (borrowed) that cuts any connection whose current request has been
 * arriving for longer than timeout_s seconds, checked ten times a second. Caller frees with
 * hv_conntrack_free() after the evhttp that owns the connections has been freed. */
hv_conntrack_t *hv_conntrack_new(struct event_base *base, int timeout_s);
void hv_conntrack_free(hv_conntrack_t *ct);

/* Starts tracking a new connection's bufferevent (from the evhttp bevcb). Takes a reference on
 * it so the pointer stays valid until the tracker sees evhttp let go of it. */
void hv_conntrack_add(hv_conntrack_t *ct, struct bufferevent *bev);

/* Called when a whole request was read on the connection of `bev` (borrowed): the clock stops
 * until the next request's first byte. */
void hv_conntrack_request_done(hv_conntrack_t *ct, struct bufferevent *bev);

/* Open connections, and connections cut for being too slow (for metrics; any thread). */
size_t hv_conntrack_open(const hv_conntrack_t *ct);
uint64_t hv_conntrack_cut(const hv_conntrack_t *ct);

#endif
