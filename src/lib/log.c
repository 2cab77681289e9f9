/*
 * log.c - structured one-line logs on stderr. Each line is formatted into a stack buffer and
 * written with one write(2), which keeps lines from different threads whole.
 */
#include "hocvu/log.h"

#include <stdarg.h>
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
    r = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[level], msg);
    n = r < 0 ? 0 : (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
    if (fields_fmt && n < sizeof(line) - 2) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fields_fmt);
        r = vsnprintf(line + n, sizeof(line) - n, fields_fmt, ap);
        va_end(ap);
        if (r > 0)
            n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    }
    /* Never let a value smuggle a newline in: one event, one line. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nothing sensible to do when stderr is gone */
    }
}
