/*
 * fuzz_time.c - libFuzzer target for RFC 3339 and YYYY-MM-DD parsing: parse → format → parse
 * keeps the instant, the value agrees with glibc's timegm, and day arithmetic round-trips.
 */
#include <stdbool.h>
#include <time.h>

#include "fuzz_common.h"
#include "hocvu/timeutil.h"

/* hv_time_format_utc writes four-digit years, so only 0000-01-01 .. 9999-12-31 UTC round-trips. */
#define FORMAT_MIN INT64_C(-62167219200)
#define FORMAT_MAX INT64_C(253402300799)

/* The instant by glibc, from the fields read independently here ("YYYY-MM-DDTHH:MM:SS" start,
 * offset at the end); timegm normalises a :60 leap second to the next minute, as the parser does.
 */
static int64_t reference_instant(const char *s, size_t n)
{
    struct tm tm = {0};
    tm.tm_year = atoi((char[]){s[0], s[1], s[2], s[3], 0}) - 1900;
    tm.tm_mon = atoi((char[]){s[5], s[6], 0}) - 1;
    tm.tm_mday = atoi((char[]){s[8], s[9], 0});
    tm.tm_hour = atoi((char[]){s[11], s[12], 0});
    tm.tm_min = atoi((char[]){s[14], s[15], 0});
    tm.tm_sec = atoi((char[]){s[17], s[18], 0});
    int64_t t = (int64_t)timegm(&tm);
    char z = s[n - 1];
    if (z != 'Z' && z != 'z') {
        int sign = s[n - 6] == '+' ? 1 : -1;
        int oh = atoi((char[]){s[n - 5], s[n - 4], 0}), om = atoi((char[]){s[n - 2], s[n - 1], 0});
        FUZZ_ASSERT(s[n - 6] == '+' || s[n - 6] == '-');
        t -= sign * (oh * 3600 + om * 60);
    }
    return t;
}

static void check_datetime(const char *s, size_t n)
{
    int64_t t, t2;
    char out[32];
    if (!hv_time_parse_rfc3339(s, n, &t))
        return;
    FUZZ_ASSERT(n >= 20);
    FUZZ_ASSERT(t == reference_instant(s, n));
    if (t < FORMAT_MIN || t > FORMAT_MAX)
        return;
    hv_time_format_utc(t, out);
    FUZZ_ASSERT(strlen(out) == 20 && out[10] == 'T' && out[19] == 'Z');
    FUZZ_ASSERT(hv_time_parse_rfc3339(out, strlen(out), &t2));
    FUZZ_ASSERT(t2 == t);
    /* the Vietnam-time day is the UTC day of t + 7 h */
    hv_date_t vn = hv_time_vn_date(t);
    hv_time_format_utc(t + HV_VN_OFFSET_SEC, out);
    char day[16];
    hv_date_format(vn, day);
    if (t + HV_VN_OFFSET_SEC <= FORMAT_MAX)
        FUZZ_ASSERT(memcmp(out, day, 10) == 0);
}

static void check_date(const char *s, size_t n)
{
    hv_date_t d;
    char out[16];
    if (!hv_date_parse(s, n, &d))
        return;
    FUZZ_ASSERT(n == 10);
    hv_date_format(d, out);
    FUZZ_ASSERT(strlen(out) == 10 && memcmp(out, s, 10) == 0);
    int64_t days = hv_date_to_days(d);
    hv_date_t back = hv_days_to_date(days);
    FUZZ_ASSERT(back.year == d.year && back.month == d.month && back.day == d.day);
    hv_date_t next = hv_days_to_date(days + 1);
    FUZZ_ASSERT(hv_date_to_days(next) == days + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_dup_exact(data, size);
    check_datetime(s, size);
    check_date(s, size);
    /* a date-time's first ten bytes are its date */
    if (size >= 10)
        check_date(s, 10);
    free(s);
    return 0;
}
