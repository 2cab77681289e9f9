/*
 * resolve.h - host name resolution off the event loop. getaddrinfo blocks (DNS, /etc/hosts,
 * NSS), so a loop that must connect by name hands it to a short-lived thread and is called back
 * on the loop with the addresses. The job is shared with the thread, so either side may finish
 * first.
 */
#ifndef HOCVU_RESOLVE_H
#define HOCVU_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

/* True when `host` (or any entry of a comma-separated list, as libpq takes) needs resolving:
 * not empty, not a socket directory (starts with '/'), not already a numeric address. */
bool hv_resolve_needed(const char *host);

typedef struct hv_resolve hv_resolve_t;

/* Called once on the loop with the addresses of each entry in numeric form - space-separated
 * within an entry, entries comma-separated in the same order (an entry that needs no resolving
 * is copied; a socket directory, or one that failed, is left empty and the reason put in err,
 * "" otherwise). After 10 s without an answer addrs is "" and err says so. The job is gone
 * when the callback returns. */
typedef void (*hv_resolve_cb)(void *arg, const char *addrs, const char *err);

/* Starts resolving `host` (copied) on its own thread; `cb` runs on `base` (borrowed). NULL if
 * the thread could not start (no callback then). */
hv_resolve_t *hv_resolve_start(struct event_base *base, const char *host, hv_resolve_cb cb,
                               void *arg);

/* Abandons a job whose callback has not run yet: it will not run. */
void hv_resolve_cancel(hv_resolve_t *r);

#endif
