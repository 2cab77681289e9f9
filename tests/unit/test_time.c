/*
 * test_time.c - unit tests for timeutil.c: RFC 3339 accept/reject tables, YYYY-MM-DD dates,
 * days-from-civil round trips against known values, and Vietnam-time calendar days.
 */
#include <string.h>
#include <time.h>

#include "check.h"
#include "hocvu/timeutil.h"

static const struct {
    const char *in;
    int64_t want;
} rfc3339_ok[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2026-10-10T08:15:00+07:00", 1791594900},
    {"2026-10-10T01:15:00Z", 1791594900},
    {"2026-10-10T01:15:00z", 1791594900},
    {"2026-10-10t01:15:00Z", 1791594900},
    {"2026-10-10 01:15:00Z", 1791594900},
    {"2026-10-10T01:15:00+00:00", 1791594900},
    {"2026-10-10T01:15:00-00:00", 1791594900},
    {"2026-10-09T20:45:00-04:30", 1791594900},
    {"2026-10-10T01:15:00.999999999Z", 1791594900}, /* fraction truncated */
    {"2026-10-10T01:15:00.5+00:00", 1791594900},
    {"2025-01-01T00:00:00Z", 1735689600},
    {"2025-01-01T07:00:00+07:00", 1735689600},
    {"2024-12-31T23:59:59Z", 1735689599},
    {"2026-01-01T00:00:00+23:59", 1767225600 - 86340},
    {"2026-01-01T00:00:00-23:59", 1767225600 + 86340},
    {"2028-02-29T12:00:00Z", 1835438400}, /* leap day */
    {"2000-02-29T00:00:00Z", 951782400},  /* divisible by 400: leap */
    {"2016-12-31T23:59:60Z", 1483228800}, /* leap second lands on the next second */
    {"1969-12-31T23:59:59Z", -1},
};

static const char *const rfc3339_bad[] = {
    "",
    "garbage",
    "2026-02-29T00:00:00Z", /* not a leap year */
    "1900-02-29T00:00:00Z", /* divisible by 100, not 400 */
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-01-32T00:00:00Z",
    "2026-10-10T24:00:00Z",
    "2026-10-10T23:60:00Z",
    "2026-10-10T23:59:61Z",
    "2026-10-10T08:15:00",       /* no offset */
    "2026-10-10T08:15:00+07",    /* short offset */
    "2026-10-10T08:15:00+0700",  /* offset without colon */
    "2026-10-10T08:15:00+24:00", /* offset out of range */
    "2026-10-10T08:15:00+07:60",
    "2026-10-10T08:15:00.Z", /* empty fraction */
    "2026-10-10T08:15Z",     /* no seconds */
    "2026-10-10",            /* date only */
    "2026-10-10T",
    "2026-10-10T08:15:00ZZ", /* trailing junk */
    "2026-10-10T08:15:00Z ",
    "2026-10-10T08:15:00+07:00x",
    " 2026-10-10T08:15:00Z",
    "2026-10-10X08:15:00Z",
    "26-10-10T08:15:00Z",
    "2026-1-10T08:15:00Z",
    "+2026-10-10T08:15:00Z",
    "2026-10-10T08:15:00,5Z",
    "2026/10/10T08:15:00Z",
};

static void test_rfc3339(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(rfc3339_ok); i++) {
        int64_t t = 12345;
        bool ok = hv_time_parse_rfc3339(rfc3339_ok[i].in, strlen(rfc3339_ok[i].in), &t);
        CHECK_MSG(ok, "rejected %s", rfc3339_ok[i].in);
        CHECK_MSG(t == rfc3339_ok[i].want, "%s -> %lld, want %lld", rfc3339_ok[i].in, (long long)t,
                  (long long)rfc3339_ok[i].want);
    }
    for (size_t i = 0; i < HV_ARRAY_LEN(rfc3339_bad); i++) {
        int64_t t = 0;
        CHECK_MSG(!hv_time_parse_rfc3339(rfc3339_bad[i], strlen(rfc3339_bad[i]), &t),
                  "accepted \"%s\"", rfc3339_bad[i]);
    }
    /* every truncation of a valid string is rejected (the length bounds the parse, not NUL) */
    const char *full = "2026-10-10T08:15:00.123+07:00";
    for (size_t n = 0; n < strlen(full); n++) {
        int64_t t;
        CHECK_MSG(!hv_time_parse_rfc3339(full, n, &t), "accepted prefix of length %zu", n);
    }
    int64_t t;
    CHECK(hv_time_parse_rfc3339(full, strlen(full), &t) && t == 1791594900);
}

static void test_date_parse(void)
{
    hv_date_t d;
    CHECK(hv_date_parse("1990-05-17", 10, &d) && d.year == 1990 && d.month == 5 && d.day == 17);
    CHECK(hv_date_parse("2028-02-29", 10, &d) && d.month == 2 && d.day == 29);
    CHECK(!hv_date_parse("2026-02-29", 10, &d));
    CHECK(!hv_date_parse("2026-06-31", 10, &d));
    CHECK(!hv_date_parse("1990-5-17", 9, &d));
    CHECK(!hv_date_parse("1990-05-17T", 11, &d));
    CHECK(!hv_date_parse("1990-05-1x", 10, &d));
    CHECK(!hv_date_parse("1990-05-17", 9, &d));
    CHECK(!hv_date_parse("19900517", 8, &d));
}

static void test_days(void)
{
    static const struct {
        hv_date_t d;
        int64_t days;
    } known[] = {
        {{1970, 1, 1}, 0},       {{1969, 12, 31}, -1},     {{2000, 1, 1}, 10957},
        {{2000, 3, 1}, 11017},   {{2025, 1, 1}, 20089},    {{2028, 2, 29}, 21243},
        {{1600, 1, 1}, -135140}, {{2400, 12, 31}, 157419},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(known); i++) {
        CHECK(hv_date_to_days(known[i].d) == known[i].days);
        hv_date_t back = hv_days_to_date(known[i].days);
        CHECK(back.year == known[i].d.year && back.month == known[i].d.month &&
              back.day == known[i].d.day);
    }
    /* round trip and agreement with the C library over a wide range */
    for (int64_t days = -800000; days <= 800000; days += 97) {
        hv_date_t d = hv_days_to_date(days);
        CHECK_MSG(hv_date_to_days(d) == days, "round trip of day %lld", (long long)days);
        time_t t = (time_t)(days * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        if (d.year != tm.tm_year + 1900 || d.month != tm.tm_mon + 1 || d.day != tm.tm_mday)
            CHECK_MSG(0, "day %lld disagrees with gmtime", (long long)days);
    }
}

static void test_vn_date(void)
{
    /* 2026-10-09T16:59:59Z is still 23:59:59 on the 9th in Vietnam; one second later it is the
     * 10th */
    int64_t t;
    CHECK(hv_time_parse_rfc3339("2026-10-09T16:59:59Z", 20, &t));
    hv_date_t d = hv_time_vn_date(t);
    CHECK(d.year == 2026 && d.month == 10 && d.day == 9);
    d = hv_time_vn_date(t + 1);
    CHECK(d.year == 2026 && d.month == 10 && d.day == 10);
    /* new year arrives in Vietnam at 17:00 UTC on 31 December */
    CHECK(hv_time_parse_rfc3339("2025-12-31T17:00:00Z", 20, &t));
    d = hv_time_vn_date(t);
    CHECK(d.year == 2026 && d.month == 1 && d.day == 1);
    d = hv_time_vn_date(-7 * 3600 - 1);
    CHECK(d.year == 1969 && d.month == 12 && d.day == 31);
}

static void test_format(void)
{
    char buf[32], dbuf[16];
    hv_time_format_utc(1791594900, buf);
    CHECK_STR(buf, "2026-10-10T01:15:00Z");
    hv_time_format_utc(0, buf);
    CHECK_STR(buf, "1970-01-01T00:00:00Z");
    hv_time_format_utc(-1, buf);
    CHECK_STR(buf, "1969-12-31T23:59:59Z");
    hv_date_t d = {2028, 2, 29};
    hv_date_format(d, dbuf);
    CHECK_STR(dbuf, "2028-02-29");
    /* format → parse round trip */
    int64_t t;
    hv_time_format_utc(1835438400 + 3661, buf);
    CHECK(hv_time_parse_rfc3339(buf, strlen(buf), &t) && t == 1835438400 + 3661);
}

int main(void)
{
    test_rfc3339();
    test_date_parse();
    test_days();
    test_vn_date();
    test_format();
    CHECK_DONE();
}
