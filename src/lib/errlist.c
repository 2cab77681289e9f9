/*
 * errlist.c - bad rows of an import, reported all at once (see errlist.h).
 */
#include "hocvu/errlist.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/util.h"

void hv_errlist_add(hv_errlist_t *e, const char *path, long line, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    hv_buf_t b;

    e->total++;
    if (e->n >= HV_ERRLIST_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    hv_buf_init(&b);
    hv_buf_printf(&b, "%s:%ld: %s", path, line, reason);
    e->items[e->n].line = line;
    e->items[e->n].msg = b.data;
    e->n++;
}

void hv_errlist_print(const hv_errlist_t *e, FILE *f)
{
    size_t order[HV_ERRLIST_MAX];

    for (size_t i = 0; i < e->n; i++)
        order[i] = i;
    /* Insertion sort by line keeps equal lines in the order they were found. */
    for (size_t i = 1; i < e->n; i++) {
        size_t k = order[i], j = i;
        while (j > 0 && e->items[order[j - 1]].line > e->items[k].line) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
    for (size_t i = 0; i < e->n; i++)
        fprintf(f, "%s\n", e->items[order[i]].msg);
    if (e->total > e->n)
        fprintf(f, "... and %zu more bad rows\n", e->total - e->n);
}

void hv_errlist_free(hv_errlist_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->items[i].msg);
    memset(e, 0, sizeof(*e));
}
