/*
 * dedup.h - the Redis fast path for redeliveries: remembers message ids that are already
 * committed in PostgreSQL. Purely an optimisation: when Redis is down, slow or flushed, every
 * check answers "unknown" and PostgreSQL decides, so answers and counts never change.
 */
#ifndef HOCVU_DEDUP_H
#define HOCVU_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/config.h"

struct event_base;

typedef struct hv_dedup hv_dedup_t;

/* Called exactly once per check, from the event loop: seen = true only when Redis confirmed the
 * id was marked. May run before hv_dedup_check returns (Redis not connected). */
typedef void (*hv_dedup_cb)(void *arg, bool seen);

/* Connects (asynchronously) to Redis on `base` (borrowed). `addr` is copied. Reconnects by
 * itself after any failure. Caller frees with hv_dedup_free(). */
hv_dedup_t *hv_dedup_new(struct event_base *base, const hv_redis_addr_t *addr, const char *name);
/* Disconnects; pending checks are called back with seen = false first. */
void hv_dedup_free(hv_dedup_t *d);

/* Asks whether id[0..n) is known as committed in the database whose identity is `epoch`
 * (hv_writer_epoch; NULL = no trusted identity: answered "not seen" at once). Times out after a
 * few milliseconds. */
void hv_dedup_check(hv_dedup_t *d, const char *epoch, const char *id, size_t n, hv_dedup_cb cb,
                    void *arg);
/* Records id[0..n) as committed under `epoch` (fire and forget). Call only after the commit,
 * with the epoch of the connection that committed it. */
void hv_dedup_mark(hv_dedup_t *d, const char *epoch, const char *id, size_t n);

/* How long a check may wait for Redis (clamped to 1..50 ms): the caller sets about one
 * database commit, so a slow Redis never costs an event more than the database would. */
void hv_dedup_set_budget(hv_dedup_t *d, int64_t us);

typedef enum hv_dedup_state {
    HV_DEDUP_UP = 0,
    HV_DEDUP_STALLED, /* connected but not answering in time: left out until PINGs come back */
    HV_DEDUP_DOWN,
} hv_dedup_state_t;
/* Safe to call from any thread (metrics, readiness). */
hv_dedup_state_t hv_dedup_state(const hv_dedup_t *d);

bool hv_dedup_connected(const hv_dedup_t *d);

typedef struct hv_dedup_stats {
    uint64_t hits, misses, unknown;
} hv_dedup_stats_t;
void hv_dedup_get_stats(const hv_dedup_t *d, hv_dedup_stats_t *out);

#endif
