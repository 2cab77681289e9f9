/*
 * janitor.h - write-side maintenance that no request waits for: folding the counter shards of
 * past days into shard 0 so the counters table (and every snapshot refresh) stays proportional
 * to days, not to writer sessions. One instance at a time does it (advisory lock).
 */
#ifndef HOCVU_JANITOR_H
#define HOCVU_JANITOR_H

#include <stdint.h>

typedef struct hv_janitor {
    const char *database_url; /* borrowed: the primary */
    int64_t last_run_ms;      /* wall clock of the last attempt; 0 = never */
} hv_janitor_t;

void hv_janitor_init(hv_janitor_t *j, const char *database_url);

/* Runs what is due at now_ms (compaction every 10 minutes). Blocks on its own short-lived
 * connection: call it from a thread that may block, never from an event loop. Failures are
 * logged and retried at the next due time. */
void hv_janitor_run(hv_janitor_t *j, int64_t now_ms);

#endif
