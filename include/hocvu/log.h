/*
 * log.h - structured one-line logs (logfmt: ts=… level=… msg="…" key=value …) on stderr.
 * Lines are written with a single write(2) so threads never interleave within a line.
 */
#ifndef HOCVU_LOG_H
#define HOCVU_LOG_H

typedef enum hv_log_level {
    HV_LOG_DEBUG = 0,
    HV_LOG_INFO = 1,
    HV_LOG_WARN = 2,
    HV_LOG_ERROR = 3,
} hv_log_level_t;

/* Sets the minimum level; called once at start-up before threads exist. */
void hv_log_set_level(hv_log_level_t level);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int hv_log_level_parse(const char *s);
int hv_log_enabled(hv_log_level_t level);

/* Logs `msg` (a short constant phrase, lowercase) followed by optional logfmt fields produced by
 * `fields_fmt` (may be NULL). Callers must never pass secrets or raw citizen ids. */
void hv_log(hv_log_level_t level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
