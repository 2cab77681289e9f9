/*
 * ratelimit.c - token buckets in a fixed-size, lock-striped open-addressing table. When a probe
 * window is full the least recently used bucket is recycled, so memory stays bounded however
 * many addresses appear (a recycled client simply starts with a full bucket).
 */
#include "hocvu/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/util.h"

#define RL_STRIPES 16
#define RL_SLOTS 1024 /* per stripe */
#define RL_PROBE 8
#define RL_KEY 48 /* an IPv6 address in text fits */

typedef struct rl_bucket {
    char key[RL_KEY];
    double tokens;
    int64_t last_us;
} rl_bucket_t;

typedef struct rl_stripe {
    pthread_mutex_t lock;
    rl_bucket_t slots[RL_SLOTS];
} rl_stripe_t;

struct hv_ratelimit {
    rl_stripe_t stripes[RL_STRIPES];
};

hv_ratelimit_t *hv_ratelimit_new(void)
{
    hv_ratelimit_t *rl = hv_xcalloc(1, sizeof(*rl));
    for (int i = 0; i < RL_STRIPES; i++)
        pthread_mutex_init(&rl->stripes[i].lock, NULL);
    return rl;
}

void hv_ratelimit_free(hv_ratelimit_t *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < RL_STRIPES; i++)
        pthread_mutex_destroy(&rl->stripes[i].lock);
    free(rl);
}

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

bool hv_ratelimit_take(hv_ratelimit_t *rl, const char *client, int rate, int burst, int64_t now_us,
                       int *retry_after_s)
{
    uint64_t h;
    rl_stripe_t *st;
    rl_bucket_t *b = NULL, *empty = NULL, *oldest = NULL;
    bool ok;

    if (rate <= 0)
        return true;
    if (burst < 1)
        burst = rate;
    h = hash_key(client);
    st = &rl->stripes[h % RL_STRIPES];
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < RL_PROBE; i++) {
        rl_bucket_t *c = &st->slots[(h / RL_STRIPES + (uint64_t)i) % RL_SLOTS];
        if (c->key[0] && strcmp(c->key, client) == 0) {
            b = c;
            break;
        }
        if (!c->key[0]) {
            if (!empty)
                empty = c;
        } else if (!oldest || c->last_us < oldest->last_us) {
            oldest = c;
        }
    }
    if (!b) {
        b = empty ? empty : oldest;
        snprintf(b->key, sizeof(b->key), "%s", client);
        b->tokens = burst;
        b->last_us = now_us;
    }
    b->tokens += (double)(now_us - b->last_us) * rate / 1e6;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_us = now_us;
    ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else if (retry_after_s) {
        double wait = (1.0 - b->tokens) / rate;
        *retry_after_s = (int)wait + 1;
    }
    pthread_mutex_unlock(&st->lock);
    return ok;
}
