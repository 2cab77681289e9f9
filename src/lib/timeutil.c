/*
 * timeutil.c - strict RFC 3339 date-time and YYYY-MM-DD parsing, proleptic Gregorian day
 * arithmetic (Howard Hinnant's days-from-civil), Vietnam-time (UTC+07:00) calendar days, and
 * the monotonic clock.
 */
#include "hocvu/timeutil.h"

#include <stdio.h>
#include <time.h>

#define SEC_PER_DAY INT64_C(86400)

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly `width` ASCII digits at s[*pos..] into *out and advances *pos. Returns false if
 * the input ends early or a byte is not a digit. */
static bool read_digits(const char *s, size_t n, size_t *pos, int width, int *out)
{
    int v = 0;
    if (n - *pos < (size_t)width)
        return false;
    for (int i = 0; i < width; i++) {
        char c = s[*pos + (size_t)i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *pos += (size_t)width;
    *out = v;
    return true;
}

static bool expect(const char *s, size_t n, size_t *pos, char c)
{
    if (*pos >= n || s[*pos] != c)
        return false;
    (*pos)++;
    return true;
}

/* Parses "YYYY-MM-DD" at s[*pos..], advancing *pos; validates month and day of month. */
static bool parse_full_date(const char *s, size_t n, size_t *pos, hv_date_t *d)
{
    if (!read_digits(s, n, pos, 4, &d->year) || !expect(s, n, pos, '-') ||
        !read_digits(s, n, pos, 2, &d->month) || !expect(s, n, pos, '-') ||
        !read_digits(s, n, pos, 2, &d->day))
        return false;
    if (d->month < 1 || d->month > 12)
        return false;
    return d->day >= 1 && d->day <= days_in_month(d->year, d->month);
}

bool hv_date_parse(const char *s, size_t n, hv_date_t *out)
{
    size_t pos = 0;
    hv_date_t d;
    if (n != 10 || !parse_full_date(s, n, &pos, &d))
        return false;
    *out = d;
    return true;
}

/* RFC 3339 §5.6 date-time. A leap second (:60) is accepted and lands on the next second, which
 * is what POSIX time does anyway. The fraction needs at least one digit and is dropped: the
 * fraction is non-negative, so dropping it truncates toward negative infinity. */
bool hv_time_parse_rfc3339(const char *s, size_t n, int64_t *unix_sec)
{
    size_t pos = 0;
    hv_date_t d;
    int hh, mm, ss, off_h = 0, off_m = 0, sign = 0;
    if (!s || !parse_full_date(s, n, &pos, &d))
        return false;
    if (pos >= n || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
        return false;
    pos++;
    if (!read_digits(s, n, &pos, 2, &hh) || !expect(s, n, &pos, ':') ||
        !read_digits(s, n, &pos, 2, &mm) || !expect(s, n, &pos, ':') ||
        !read_digits(s, n, &pos, 2, &ss))
        return false;
    if (hh > 23 || mm > 59 || ss > 60)
        return false;
    if (pos < n && s[pos] == '.') {
        size_t start = ++pos;
        while (pos < n && s[pos] >= '0' && s[pos] <= '9')
            pos++;
        if (pos == start)
            return false;
    }
    if (pos >= n)
        return false;
    if (s[pos] == 'Z' || s[pos] == 'z') {
        pos++;
    } else if (s[pos] == '+' || s[pos] == '-') {
        sign = s[pos] == '+' ? 1 : -1;
        pos++;
        if (!read_digits(s, n, &pos, 2, &off_h) || !expect(s, n, &pos, ':') ||
            !read_digits(s, n, &pos, 2, &off_m))
            return false;
        if (off_h > 23 || off_m > 59)
            return false;
    } else {
        return false;
    }
    if (pos != n)
        return false;
    int64_t t = hv_date_to_days(d) * SEC_PER_DAY + hh * 3600 + mm * 60 + ss;
    t -= (int64_t)sign * (off_h * 3600 + off_m * 60);
    *unix_sec = t;
    return true;
}

/* Howard Hinnant's days_from_civil: shifts the year to start in March so the leap day is last,
 * then counts 400-year eras. Valid for the whole int range of years. */
int64_t hv_date_to_days(hv_date_t d)
{
    int64_t y = (int64_t)d.year - (d.month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = d.month > 2 ? d.month - 3 : d.month + 9;
    int64_t doy = (153 * mp + 2) / 5 + d.day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of hv_date_to_days (Hinnant's civil_from_days). */
hv_date_t hv_days_to_date(int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    hv_date_t out = {(int)(yoe + era * 400 + (m <= 2)), (int)m, (int)dd};
    return out;
}

/* Floor division so instants before 1970 still land on the right day. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

hv_date_t hv_time_vn_date(int64_t unix_sec)
{
    return hv_days_to_date(floor_div(unix_sec + HV_VN_OFFSET_SEC, SEC_PER_DAY));
}

void hv_time_format_utc(int64_t unix_sec, char out[32])
{
    int64_t days = floor_div(unix_sec, SEC_PER_DAY);
    int64_t rem = unix_sec - days * SEC_PER_DAY;
    hv_date_t d = hv_days_to_date(days);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", d.year, d.month, d.day, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

void hv_date_format(hv_date_t d, char out[16])
{
    snprintf(out, 16, "%04d-%02d-%02d", d.year, d.month, d.day);
}

int64_t hv_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
