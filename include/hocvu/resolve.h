/*
 * resolve.h - host name resolution off the event loop. getaddrinfo blocks (DNS, /etc/hosts,
 * NSS), so a loop that must connect by name starts a job on a short-lived thread and polls it
 * from a timer; the job is shared, so either side may finish first.
 */
#ifndef HOCVU_RESOLVE_H
#define HOCVU_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

/* True when `host` (or any entry of a comma-separated list, as libpq takes) needs resolving:
 * not empty, not a socket directory (starts with '/'), not already a numeric address. */
bool hv_resolve_needed(const char *host);

typedef struct hv_resolve hv_resolve_t;

/* Starts resolving `host` (copied; a comma-separated list resolves entry by entry) on its own
 * thread. NULL if the thread could not start. */
hv_resolve_t *hv_resolve_start(const char *host);

/* Non-blocking: false while pending; true when done, with the addresses of each entry in
 * numeric form - space-separated within an entry, entries comma-separated in the same order -
 * in addr (an entry that needs no resolving is copied, a socket directory or one that failed is
 * left empty, the reason put in err). */
bool hv_resolve_poll(hv_resolve_t *r, char *addr, size_t addrlen, char *err, size_t errlen);

/* The caller is done with the job, finished or not; the thread frees it if it is still
 * running. */
void hv_resolve_release(hv_resolve_t *r);

#endif
