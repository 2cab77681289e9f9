/*
 * query.h - URL query-string parsing for the read APIs: "a=1&b=x%20y" into decoded key/value
 * pairs with strict limits, so malformed input is refused instead of guessed at.
 */
#ifndef HOCVU_QUERY_H
#define HOCVU_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "hocvu/util.h"

#define HV_QUERY_MAX_PARAMS 16
#define HV_QUERY_MAX_KEY 32
#define HV_QUERY_MAX_VALUE 256

typedef struct hv_query {
    int n;
    char key[HV_QUERY_MAX_PARAMS][HV_QUERY_MAX_KEY + 1];
    char value[HV_QUERY_MAX_PARAMS][HV_QUERY_MAX_VALUE + 1];
} hv_query_t;

/* Parses qs[0..n) (without the leading '?'); '+' is a space, %XX is decoded. Empty segments
 * ("a=1&&b=2") are skipped; a key without '=' has an empty value. Refuses (returns false with
 * *bad_key pointing at a static description) bad percent escapes, decoded NUL or control bytes,
 * over-long keys or values, too many parameters, and a key given twice. */
HV_MUST_CHECK bool hv_query_parse(const char *qs, size_t n, hv_query_t *out, const char **why);

/* Value of `key`, or NULL if absent. Borrowed from q. */
const char *hv_query_get(const hv_query_t *q, const char *key);
/* ?year=: dflt when absent, the year when it is 4 digits, else -1. */
int hv_query_year(const hv_query_t *q, int dflt);

#endif
