/*
 * log.c - structured one-line logs on stderr. Each line is formatted into a stack buffer and
 * written with one write(2), which keeps lines from different threads whole.
 */
#include "hocvu/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static hv_log_level_t min_level = HV_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void hv_log_set_level(hv_log_level_t level)
{
    /* Atomic: SIGHUP may change the level while workers log. */
    __atomic_store_n(&min_level, level, __ATOMIC_RELAXED);
}

int hv_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int hv_log_enabled(hv_log_level_t level)
{
    return level >= __atomic_load_n(&min_level, __ATOMIC_RELAXED);
}

/* Appends one value as logfmt: bare when it is plain printable ASCII without spaces, '=' or
 * quotes; otherwise quoted, with quotes and backslashes escaped, and control bytes and every
 * byte outside printable ASCII as \xNN - so no value can end its field, forge another field or
 * line, or carry terminal escapes. */
static size_t put_value(char *out, size_t cap, size_t n, const char *v, size_t len, bool quote)
{
    static const char hex[] = "0123456789abcdef";
    bool bare = len > 0 && !quote;

    for (size_t i = 0; i < len && bare; i++) {
        unsigned char c = (unsigned char)v[i];
        bare = c > 0x20 && c < 0x7F && c != '"' && c != '=' && c != '\\';
    }
    if (bare) {
        for (size_t i = 0; i < len && n < cap; i++)
            out[n++] = v[i];
        return n;
    }
    if (n < cap)
        out[n++] = '"';
    for (size_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7F) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    if (n < cap)
        out[n++] = '"';
    return n;
}

/* Formats the fields: the literal text of fields_fmt (key= parts, written by our own code) is
 * copied; every %s (and %.*s) value is escaped by put_value; numeric conversions are printed by
 * snprintf one at a time. */
static size_t put_fields(char *out, size_t cap, size_t n, const char *fmt, va_list ap)
{
    for (const char *f = fmt; *f && n < cap; f++) {
        if (*f != '%') {
            out[n++] = *f;
            continue;
        }
        if (f[1] == '%') {
            out[n++] = '%';
            f++;
            continue;
        }
        /* One conversion: %[flags][width][.precision][length]type */
        char spec[32];
        size_t k = 0;
        int prec = -1;
        bool star = false;
        spec[k++] = *f++;
        while (*f && strchr("-+ #0", *f) && k < 20)
            spec[k++] = *f++;
        while (*f >= '0' && *f <= '9' && k < 20)
            spec[k++] = *f++;
        if (*f == '.') {
            spec[k++] = *f++;
            if (*f == '*') {
                star = true;
                spec[k++] = *f++;
            } else {
                prec = 0;
                while (*f >= '0' && *f <= '9' && k < 24) {
                    prec = prec * 10 + (*f - '0');
                    spec[k++] = *f++;
                }
            }
        }
        int longs = 0;
        bool size = false;
        while (*f == 'l' && k < 28) {
            longs++;
            spec[k++] = *f++;
        }
        if (*f == 'z' && k < 28) {
            size = true;
            spec[k++] = *f++;
        }
        spec[k++] = *f;
        spec[k] = '\0';
        char tmp[64];
        int w = 0;
        switch (*f) {
        case 's': {
            int p = star ? va_arg(ap, int) : prec;
            const char *v = va_arg(ap, const char *);
            if (!v)
                v = "(null)";
            size_t len = p >= 0 ? strnlen(v, (size_t)p) : strlen(v);
            n = put_value(out, cap, n, v, len, false);
            continue;
        }
        case 'd':
        case 'i':
            w = size         ? snprintf(tmp, sizeof(tmp), spec, va_arg(ap, ssize_t))
                : longs >= 2 ? snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long long))
                : longs == 1 ? snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long))
                             : snprintf(tmp, sizeof(tmp), spec, va_arg(ap, int));
            break;
        case 'u':
        case 'x':
        case 'X':
            w = size         ? snprintf(tmp, sizeof(tmp), spec, va_arg(ap, size_t))
                : longs >= 2 ? snprintf(tmp, sizeof(tmp), spec, va_arg(ap, unsigned long long))
                : longs == 1 ? snprintf(tmp, sizeof(tmp), spec, va_arg(ap, unsigned long))
                             : snprintf(tmp, sizeof(tmp), spec, va_arg(ap, unsigned int));
            break;
        case 'f':
        case 'g':
        case 'e': {
            int p = star ? va_arg(ap, int) : 0;
            double d = va_arg(ap, double);
            w = star ? snprintf(tmp, sizeof(tmp), spec, p, d) : snprintf(tmp, sizeof(tmp), spec, d);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            n = put_value(out, cap, n, &c, 1, false);
            continue;
        }
        default: /* not used by this code base: show the spec itself */
            w = snprintf(tmp, sizeof(tmp), "%s", spec);
            break;
        }
        if (!*f)
            break;
        for (int i = 0; i < w && (size_t)i < sizeof(tmp) - 1 && n < cap; i++)
            out[n++] = tmp[i];
    }
    return n;
}

void hv_log(hv_log_level_t level, const char *msg, const char *fields_fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    if (!hv_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    r = snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level]);
    n = r < 0 ? 0 : (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
    n = put_value(line, sizeof(line) - 1, n, msg, strlen(msg), true);
    if (fields_fmt && n < sizeof(line) - 2) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fields_fmt);
        n = put_fields(line, sizeof(line) - 1, n, fields_fmt, ap);
        va_end(ap);
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nothing sensible to do when stderr is gone */
    }
}
