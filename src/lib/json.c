/*
 * json.c - the JSON writer: tracks nesting so every comma and colon is placed by one function
 * (sep), and leaves string escaping to hv_buf_json_str.
 */
#include "hocvu/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/log.h"

void hv_json_init(hv_json_t *j, hv_buf_t *out)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
}

/* Writes the separator a new value or key needs at the current position. */
static void sep(hv_json_t *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth == 0)
        return;
    if (j->has_member[j->depth - 1])
        hv_buf_putc(j->out, ',');
    j->has_member[j->depth - 1] = true;
}

static void misuse(const char *what)
{
    hv_log(HV_LOG_ERROR, "json writer misused", "error=%s", what);
    abort();
}

static void open_container(hv_json_t *j, char open, char close)
{
    sep(j);
    if (j->depth == HV_JSON_MAX_DEPTH)
        misuse("nested too deep");
    hv_buf_putc(j->out, open);
    j->has_member[j->depth] = false;
    j->closer[j->depth++] = close;
}

void hv_json_obj(hv_json_t *j)
{
    open_container(j, '{', '}');
}

void hv_json_arr(hv_json_t *j)
{
    open_container(j, '[', ']');
}

void hv_json_end(hv_json_t *j)
{
    if (j->depth == 0 || j->after_key)
        misuse("end without an open container, or after a key");
    hv_buf_putc(j->out, j->closer[--j->depth]);
}

void hv_json_key(hv_json_t *j, const char *key)
{
    if (j->depth == 0 || j->closer[j->depth - 1] != '}' || j->after_key)
        misuse("key outside an object");
    sep(j);
    hv_buf_json_str(j->out, key, strlen(key));
    hv_buf_putc(j->out, ':');
    j->after_key = true;
}

void hv_json_strn(hv_json_t *j, const char *s, size_t n)
{
    sep(j);
    hv_buf_json_str(j->out, s, n);
}

void hv_json_str(hv_json_t *j, const char *s)
{
    if (!s) {
        hv_json_null(j);
        return;
    }
    hv_json_strn(j, s, strlen(s));
}

void hv_json_int(hv_json_t *j, int64_t v)
{
    sep(j);
    hv_buf_printf(j->out, "%lld", (long long)v);
}

void hv_json_bool(hv_json_t *j, bool v)
{
    sep(j);
    hv_buf_puts(j->out, v ? "true" : "false");
}

void hv_json_null(hv_json_t *j)
{
    sep(j);
    hv_buf_puts(j->out, "null");
}

void hv_fmt_dec2(double v, char out[32])
{
    int n;

    if (!isfinite(v))
        v = 0;
    n = snprintf(out, 32, "%.2f", round(v * 100.0) / 100.0);
    if (n < 0 || n >= 32) {
        snprintf(out, 32, "0");
        return;
    }
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
    if (strcmp(out, "-0") == 0)
        snprintf(out, 32, "0");
}

void hv_fmt_cents(int64_t hundredths, char out[32])
{
    int64_t whole = hundredths / 100, frac = hundredths % 100;

    if (hundredths < 0) {
        snprintf(out, 32, "0");
        return;
    }
    if (frac == 0)
        snprintf(out, 32, "%lld", (long long)whole);
    else if (frac % 10 == 0)
        snprintf(out, 32, "%lld.%lld", (long long)whole, (long long)(frac / 10));
    else
        snprintf(out, 32, "%lld.%02lld", (long long)whole, (long long)frac);
}

void hv_json_cents(hv_json_t *j, int64_t hundredths)
{
    char tmp[32];
    hv_fmt_cents(hundredths, tmp);
    sep(j);
    hv_buf_puts(j->out, tmp);
}

void hv_json_dec2(hv_json_t *j, double v)
{
    char tmp[32];
    hv_fmt_dec2(v, tmp);
    sep(j);
    hv_buf_puts(j->out, tmp);
}

void hv_json_raw(hv_json_t *j, const char *json, size_t n)
{
    sep(j);
    hv_buf_append(j->out, json, n);
}

void hv_json_kstr(hv_json_t *j, const char *key, const char *s)
{
    hv_json_key(j, key);
    hv_json_str(j, s);
}

void hv_json_kint(hv_json_t *j, const char *key, int64_t v)
{
    hv_json_key(j, key);
    hv_json_int(j, v);
}

void hv_json_kbool(hv_json_t *j, const char *key, bool v)
{
    hv_json_key(j, key);
    hv_json_bool(j, v);
}
