/*
 * wlink.h - an event loop's link to a batch writer, which may run on another loop. Every loop
 * runs a writer, but the single events of all loops go to fewer of them (HOCVU_EVENT_WRITERS,
 * default 1), so that one transaction carries the events of several loops: PostgreSQL's fixed
 * cost per transaction (bench/PROFILE.md) is then shared by more events. A link on the
 * writer's own loop submits directly; a link on another loop hands a copy of each item to the
 * writer's loop through the writer's hub, and the outcome comes back to the submitting loop,
 * where the item's own callback runs. Every submitted item is called back exactly once, on
 * its own loop.
 */
#ifndef HOCVU_WLINK_H
#define HOCVU_WLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "hocvu/writer.h"

struct event_base;

/* The shared side of one writer: the inbox of items handed over by other loops, and the
 * count of those loops' links. Created before any worker runs, owned by the server, freed
 * after every thread has ended. */
typedef struct hv_wlink_hub hv_wlink_hub_t;
/* One loop's link to one hub. Owned by that loop's worker; used from its thread only. */
typedef struct hv_wlink hv_wlink_t;

hv_wlink_hub_t *hv_wlink_hub_new(void);
/* Frees the hub. Every link must be freed and the hub closed first. */
void hv_wlink_hub_free(hv_wlink_hub_t *hub);

/* Binds the hub to its writer (borrowed; owned by the worker of `base`, the writer's loop).
 * `on_link_closed(arg)` then runs on that loop whenever another loop's link is freed, so the
 * writer's loop can tell when it may finish draining. Call once, before any link is made. */
void hv_wlink_hub_bind(hv_wlink_hub_t *hub, hv_writer_t *writer, struct event_base *base,
                       void (*on_link_closed)(void *arg), void *arg);

/* How many links of other loops are still open: the writer's loop keeps running until none
 * is, since each may still submit. Any thread. */
int hv_wlink_hub_remote_links(hv_wlink_hub_t *hub);

/* Called on the writer's loop before the writer is freed: items handed over but not yet
 * given to the writer are called back HV_OUT_UNAVAILABLE, and later submissions through any
 * link are answered so at once. The writer's own hv_writer_free then answers the rest. */
void hv_wlink_hub_close(hv_wlink_hub_t *hub);

/* Makes `base`'s link to the hub's writer (the hub must be bound). */
hv_wlink_t *hv_wlink_new(hv_wlink_hub_t *hub, struct event_base *base);
/* Frees the link: every item submitted through it and not yet called back is called back now,
 * with its outcome if the writer gave one, else HV_OUT_UNAVAILABLE (the database may still
 * commit it: a retry is answered "duplicate"). Loop thread only; NULL is a no-op. */
void hv_wlink_free(hv_wlink_t *l);

/* As hv_writer_submit: the callback runs exactly once, on this link's loop, possibly before
 * this returns (the database known to be down, or the hub closed). The link keeps a copy while
 * the item is on another loop; `it` itself is only touched on this loop. */
void hv_wlink_submit(hv_wlink_t *l, hv_write_item_t *it, bool bulk);

/* True when every item submitted through this link has been called back. */
bool hv_wlink_idle(const hv_wlink_t *l);

/* The writer's state, read from any loop: hv_writer_available_relaxed, hv_writer_epoch and
 * hv_writer_latency_us of the hub's writer; not available / NULL / 0 once the hub is closed. */
bool hv_wlink_available(hv_wlink_t *l);
const char *hv_wlink_epoch(hv_wlink_t *l, char out[HV_WRITER_EPOCH_LEN + 1]);
int64_t hv_wlink_latency_us(hv_wlink_t *l);

#endif
