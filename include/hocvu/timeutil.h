/*
 * timeutil.h - RFC 3339 parsing, Vietnam-time calendar days (UTC+07:00, no DST), and the
 * monotonic clock every timer and deadline of the service is measured on.
 */
#ifndef HOCVU_TIMEUTIL_H
#define HOCVU_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

#define HV_VN_OFFSET_SEC (7 * 3600)

/* Microseconds of CLOCK_MONOTONIC: for durations and deadlines, never for dates. */
int64_t hv_mono_us(void);

/* Civil date. */
typedef struct hv_date {
    int year, month, day;
} hv_date_t;

/* Parses an RFC 3339 date-time ("2026-10-10T08:15:00+07:00", "…Z", optional fraction, 'T' or
 * 't' or ' ' separator) from s[0..n). On success stores Unix seconds (fraction truncated toward
 * negative infinity) and returns true. Validates ranges, including the day of month. */
HV_MUST_CHECK bool hv_time_parse_rfc3339(const char *s, size_t n, int64_t *unix_sec);

/* Parses "YYYY-MM-DD" (exactly 10 bytes) with range checks. */
HV_MUST_CHECK bool hv_date_parse(const char *s, size_t n, hv_date_t *out);

/* Days since 1970-01-01 of a civil date, and back. */
int64_t hv_date_to_days(hv_date_t d);
hv_date_t hv_days_to_date(int64_t days);

/* The calendar day in Vietnam time of a Unix timestamp. */
hv_date_t hv_time_vn_date(int64_t unix_sec);

/* Formats a Unix time as RFC 3339 UTC with 'Z' ("2026-10-10T01:15:00Z") into out[21+]. */
void hv_time_format_utc(int64_t unix_sec, char out[32]);
/* Formats a date as "YYYY-MM-DD" into out[11+]. */
void hv_date_format(hv_date_t d, char out[16]);

#endif
