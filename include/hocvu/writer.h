/*
 * writer.h - the batch writer: group commit of validated events into PostgreSQL over one
 * non-blocking libpq connection driven by an event loop. One transaction (one hv_ingest call)
 * per batch; every submitted item is called back exactly once with its outcome. A data error
 * the database raises for one event is isolated by bisecting the batch: the offender gets
 * HV_OUT_INVALID, every other event commits.
 */
#ifndef HOCVU_WRITER_H
#define HOCVU_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "hocvu/event.h"
#include "hocvu/util.h"

struct event_base;

typedef enum hv_outcome {
    HV_OUT_ACCEPTED = 0,
    HV_OUT_DUPLICATE = 1,
    HV_OUT_CONFLICT = 2,
    HV_OUT_UNAVAILABLE = 3, /* nothing was stored: PostgreSQL unreachable or failing */
    HV_OUT_NOT_FOUND = 4,   /* lookup only: the id is not in the ledger */
    HV_OUT_INVALID = 5,     /* PostgreSQL refused this event's own data; nothing of it stored */
    HV_OUT_OVERLOADED = 6,  /* waited past its deadline in the queue; never sent, not stored */
} hv_outcome_t;

typedef struct hv_write_item hv_write_item_t;
typedef void (*hv_write_cb)(hv_write_item_t *item, hv_outcome_t outcome);

/* One event ready to store. Embedded in the submitter's request state; the submitter owns it
 * and keeps it alive until `cb` runs. Holds no raw citizen id, only its pseudonym. */
struct hv_write_item {
    char id[HV_EVENT_ID_MAX + 1];
    hv_event_kind_t kind;
    char cert_id[HV_CERT_ID_MAX + 1];
    char person_hex[65];
    char ward[8]; /* resolved current ward; "" for revocations */
    int grp;      /* 1..4; 0 for revocations */
    bool has_ts;
    int64_t ts;  /* Unix seconds */
    int32_t day; /* Vietnam-time day, days since 1970-01-01 */
    bool adult;
    char course_id[HV_COURSE_ID_MAX + 1];   /* "" if absent */
    double score;                           /* < 0 if absent */
    char supporter[HV_COHORT_CODE_MAX + 1]; /* data.supporter; "" if absent */
    bool lookup_only; /* only ask whether `id` was accepted: DUPLICATE or NOT_FOUND */
    hv_write_cb cb;
    void *arg;
    int64_t expires_ms;    /* writer-owned: monotonic ms after which a queued item is dropped */
    hv_write_item_t *next; /* writer-owned link while queued or in flight */
};

typedef struct hv_writer hv_writer_t;

typedef struct hv_writer_stats {
    uint64_t batches, events, retries, failures;
    uint64_t commit_us_total; /* sum of batch round-trip times */
} hv_writer_stats_t;

/* Creates a writer on `base` (borrowed; must outlive the writer) and starts connecting.
 * `conninfo` is copied. `name` labels log lines. Each connection claims a counter shard of its
 * own from the database (hv_claim_shard), so writers of any number of instances never wait on
 * each other's counter rows. A batch still running `deadline_ms` after it was sent is
 * cancelled. `metrics` (borrowed, may be NULL) receives batch sizes and commit latencies.
 * Caller frees with hv_writer_free(). */
struct hv_metrics;
hv_writer_t *hv_writer_new(struct event_base *base, const char *conninfo, int batch_max,
                           int deadline_ms, const char *name, struct hv_metrics *metrics);

/* Frees the writer; every queued or in-flight item is called back with HV_OUT_UNAVAILABLE
 * first. Must be called from the loop's thread, not from inside an item callback. */
void hv_writer_free(hv_writer_t *w);

/* Queues an item: a single event, or with `bulk` a line of a batch (sent after the waiting
 * single events, so those never wait behind a whole large batch). The callback runs exactly
 * once, from the event loop - possibly before this function returns when the database is known
 * to be down (HV_OUT_UNAVAILABLE). */
void hv_writer_submit(hv_writer_t *w, hv_write_item_t *it, bool bulk);

/* True when the connection is up and prepared. */
bool hv_writer_available(const hv_writer_t *w);
/* Same, safe to call from any thread (for metrics and readiness). */
bool hv_writer_available_relaxed(const hv_writer_t *w);
/* True when nothing is queued or in flight. */
bool hv_writer_idle(const hv_writer_t *w);
void hv_writer_get_stats(const hv_writer_t *w, hv_writer_stats_t *out);

/* hv_identity() of the connection (cluster, timeline, database and ledger table) is read at
 * connect and every second; at most HV_WRITER_IDENTITY_MAX bytes. */
#define HV_WRITER_IDENTITY_MAX 160
/* The Redis key space bound to that identity (HV_WRITER_EPOCH_LEN hex digits), copied into
 * `out` and returned, or NULL when the fast path must not answer: not connected, or the
 * identity not confirmed within the last 2.5 s (it is re-read every second, between batches).
 * A restore, point-in-time recovery or failover changes the identity, so marks made before it
 * are never consulted again. Safe to call from any thread while the writer lives. */
#define HV_WRITER_EPOCH_LEN 16
const char *hv_writer_epoch(hv_writer_t *w, char out[HV_WRITER_EPOCH_LEN + 1]);
/* A moving average of a batch's round trip (microseconds): what a commit costs now. Safe to
 * call from any thread while the writer lives. */
int64_t hv_writer_latency_us(const hv_writer_t *w);

#endif
