/*
 * errlist.h - the bad rows of an import file, collected so that every one is reported (up to
 * HV_ERRLIST_MAX, CONTRACT §3), each as "FILE:LINE: message", in line order.
 */
#ifndef HOCVU_ERRLIST_H
#define HOCVU_ERRLIST_H

#include <stddef.h>
#include <stdio.h>

#define HV_ERRLIST_MAX 50

typedef struct hv_errlist {
    struct {
        long line;
        char *msg; /* owned: "FILE:LINE: message" */
    } items[HV_ERRLIST_MAX];
    size_t n;     /* kept */
    size_t total; /* found, including those past HV_ERRLIST_MAX */
} hv_errlist_t;

/* Adds "PATH:LINE: message" (printf-style). Past HV_ERRLIST_MAX only the count grows. */
void hv_errlist_add(hv_errlist_t *e, const char *path, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints the kept messages sorted by line (stable), one per line, then "... and N more" when
 * some were dropped. */
void hv_errlist_print(const hv_errlist_t *e, FILE *f);
void hv_errlist_free(hv_errlist_t *e);

#endif
