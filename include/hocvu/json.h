/*
 * json.h - the one JSON writer: every document hocvu prints (API bodies, problem documents,
 * import payloads for PostgreSQL) is built with it, so commas, nesting and string escaping are
 * decided in one place. Appends compact JSON to a caller-owned hv_buf_t.
 */
#ifndef HOCVU_JSON_H
#define HOCVU_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

#define HV_JSON_MAX_DEPTH 16

/* Writer state. `out` is borrowed; the writer owns nothing and needs no free. Nesting deeper
 * than HV_JSON_MAX_DEPTH, or closing more than was opened, is a programming error (abort). */
typedef struct hv_json {
    hv_buf_t *out;
    int depth;
    bool after_key;                     /* a key was written: the next value needs no comma */
    bool has_member[HV_JSON_MAX_DEPTH]; /* something was written at this level already */
    char closer[HV_JSON_MAX_DEPTH];     /* '}' or ']' */
} hv_json_t;

void hv_json_init(hv_json_t *j, hv_buf_t *out);

/* Containers. hv_json_end closes the innermost one. */
void hv_json_obj(hv_json_t *j);
void hv_json_arr(hv_json_t *j);
void hv_json_end(hv_json_t *j);

/* An object member's key; the next call writes its value. */
void hv_json_key(hv_json_t *j, const char *key);

/* Values. Strings are escaped as RFC 8259 requires (invalid UTF-8 becomes U+FFFD); a NULL
 * string is written as null. */
void hv_json_str(hv_json_t *j, const char *s);
void hv_json_strn(hv_json_t *j, const char *s, size_t n);
void hv_json_int(hv_json_t *j, int64_t v);
void hv_json_bool(hv_json_t *j, bool v);
void hv_json_null(hv_json_t *j);
/* A number rounded to two decimals, without trailing zeros: 12.5, 0, 33.33. */
void hv_json_dec2(hv_json_t *j, double v);
/* A non-negative number given in hundredths, in its shortest form: 9167 -> 91.67, 14000 -> 140,
 * 50 -> 0.5 (exact: no floating point). */
void hv_json_cents(hv_json_t *j, int64_t hundredths);
/* A value that is already valid JSON (e.g. a pre-rendered document), copied as is. */
void hv_json_raw(hv_json_t *j, const char *json, size_t n);

/* Member shorthands: key + value. */
void hv_json_kstr(hv_json_t *j, const char *key, const char *s);
void hv_json_kint(hv_json_t *j, const char *key, int64_t v);
void hv_json_kbool(hv_json_t *j, const char *key, bool v);

/* Formats v rounded to two decimals without trailing zeros into out (also used by CSV). */
void hv_fmt_dec2(double v, char out[32]);
void hv_fmt_cents(int64_t hundredths, char out[32]);

#endif
