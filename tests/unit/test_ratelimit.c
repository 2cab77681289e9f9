/*
 * test_ratelimit.c - token buckets: burst, refill over time, Retry-After, independence of
 * clients, and bounded memory under many addresses.
 */
#include "hocvu/ratelimit.h"

#include <stdio.h>

#include "check.h"

int main(void)
{
    hv_ratelimit_t *rl = hv_ratelimit_new();
    int retry = 0, allowed = 0;
    int64_t t = 1000000000;

    /* Off: everything passes. */
    for (int i = 0; i < 1000; i++)
        CHECK(hv_ratelimit_take(rl, "10.0.0.1", 0, 0, t, &retry));

    /* 10/s with a burst of 5: five at once, then refused with a Retry-After. */
    for (int i = 0; i < 8; i++)
        allowed += hv_ratelimit_take(rl, "10.0.0.2", 10, 5, t, &retry);
    CHECK_MSG(allowed == 5, "allowed %d", allowed);
    CHECK(!hv_ratelimit_take(rl, "10.0.0.2", 10, 5, t, &retry));
    CHECK(retry >= 1);
    /* 100 ms later one token is back. */
    CHECK(hv_ratelimit_take(rl, "10.0.0.2", 10, 5, t + 100000, &retry));
    CHECK(!hv_ratelimit_take(rl, "10.0.0.2", 10, 5, t + 100000, &retry));
    /* Another client is unaffected. */
    CHECK(hv_ratelimit_take(rl, "10.0.0.3", 10, 5, t, &retry));

    /* A sustained rate over 10 s admits about rate x time + burst. */
    allowed = 0;
    for (int ms = 0; ms < 10000; ms++)
        allowed += hv_ratelimit_take(rl, "10.0.0.4", 100, 100, t + ms * 1000, &retry);
    CHECK_MSG(allowed >= 1090 && allowed <= 1101, "sustained %d", allowed);

    /* Many distinct addresses: no crash, memory is the fixed table. */
    char addr[48];
    for (int i = 0; i < 200000; i++) {
        snprintf(addr, sizeof(addr), "2001:db8::%x", i);
        (void)hv_ratelimit_take(rl, addr, 1, 1, t, &retry);
    }
    hv_ratelimit_free(rl);
    CHECK_DONE();
}
