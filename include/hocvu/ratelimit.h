/*
 * ratelimit.h - per-client token buckets for the ingest endpoints, shared by all worker threads
 * (lock-striped table keyed by client address), with a bounded memory footprint.
 */
#ifndef HOCVU_RATELIMIT_H
#define HOCVU_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hv_ratelimit hv_ratelimit_t;

/* Returns a new limiter (caller frees). Rate and burst are read per call, so a reload can
 * change them without rebuilding the table. */
hv_ratelimit_t *hv_ratelimit_new(void);
void hv_ratelimit_free(hv_ratelimit_t *rl);

/* Takes one token for `client` (borrowed NUL-terminated address) at time now_us. Returns true
 * when allowed; otherwise false and *retry_after_s holds whole seconds until a token is back.
 * rate <= 0 always allows. Thread-safe. */
bool hv_ratelimit_take(hv_ratelimit_t *rl, const char *client, int rate, int burst, int64_t now_us,
                       int *retry_after_s);

#endif
