/*
 * jcs.c - RFC 8785 canonical JSON (see jcs.h), over jansson's parse of the input.
 */
#include "hocvu/jcs.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hv_jcs_number(double v, char out[HV_JCS_NUMBER_MAX])
{
    char tmp[40], digits[20];
    int k = 0, exp10 = 0;

    if (v == 0 || !isfinite(v)) { /* -0 is "0"; non-finite values are refused by the caller */
        snprintf(out, HV_JCS_NUMBER_MAX, "0");
        return;
    }
    /* The shortest digit string that reads back as v. */
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, fabs(v));
        if (strtod(tmp, NULL) == fabs(v))
            break;
    }
    for (const char *c = tmp; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digits[k++] = *c;
    digits[k] = '\0';
    exp10 = atoi(strchr(tmp, 'e') + 1);
    while (k > 1 && digits[k - 1] == '0')
        digits[--k] = '\0';

    /* ECMAScript Number::toString, with n the position of the decimal point. */
    int n = exp10 + 1;
    char *o = out;
    size_t room;
    if (v < 0)
        *o++ = '-';
    room = HV_JCS_NUMBER_MAX - (size_t)(o - out);
    if (k <= n && n <= 21) {
        snprintf(o, room, "%s%.*s", digits, n - k, "000000000000000000000");
    } else if (0 < n && n <= 21) {
        snprintf(o, room, "%.*s.%s", n, digits, digits + n);
    } else if (-6 < n && n <= 0) {
        snprintf(o, room, "0.%.*s%s", -n, "000000", digits);
    } else {
        int e = n - 1;
        if (k > 1)
            snprintf(o, room, "%c.%se%c%d", digits[0], digits + 1, e < 0 ? '-' : '+', abs(e));
        else
            snprintf(o, room, "%ce%c%d", digits[0], e < 0 ? '-' : '+', abs(e));
    }
}

/* The next UTF-16 code unit of a UTF-8 string (jansson guarantees valid UTF-8); *pending holds
 * the low surrogate of a supplementary character between calls. Returns -1 at the end. */
static int next_unit(const unsigned char **s, int *pending)
{
    unsigned cp;
    const unsigned char *p = *s;

    if (*pending >= 0) {
        int u = *pending;
        *pending = -1;
        return u;
    }
    if (!*p)
        return -1;
    if (p[0] < 0x80) {
        cp = p[0];
        p += 1;
    } else if (p[0] < 0xE0) {
        cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
        p += 2;
    } else if (p[0] < 0xF0) {
        cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        p += 3;
    } else {
        cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
             (p[3] & 0x3Fu);
        p += 4;
    }
    *s = p;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *pending = (int)(0xDC00 + (cp & 0x3FF));
        return (int)(0xD800 + (cp >> 10));
    }
    return (int)cp;
}

static int utf16_cmp(const void *a, const void *b)
{
    const unsigned char *x = *(const unsigned char *const *)a,
                        *y = *(const unsigned char *const *)b;
    int px = -1, py = -1;

    for (;;) {
        int ux = next_unit(&x, &px), uy = next_unit(&y, &py);
        if (ux != uy)
            return ux < uy ? -1 : 1; /* the end (-1) sorts first */
        if (ux < 0)
            return 0;
    }
}

static void put_string(hv_buf_t *out, const char *s, size_t n)
{
    hv_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            hv_buf_puts(out, "\\\"");
            break;
        case '\\':
            hv_buf_puts(out, "\\\\");
            break;
        case '\b':
            hv_buf_puts(out, "\\b");
            break;
        case '\f':
            hv_buf_puts(out, "\\f");
            break;
        case '\n':
            hv_buf_puts(out, "\\n");
            break;
        case '\r':
            hv_buf_puts(out, "\\r");
            break;
        case '\t':
            hv_buf_puts(out, "\\t");
            break;
        default:
            if (c < 0x20)
                hv_buf_printf(out, "\\u%04x", c);
            else
                hv_buf_putc(out, (char)c);
        }
    }
    hv_buf_putc(out, '"');
}

static int put_value(hv_buf_t *out, const json_t *v, char *err, size_t errlen)
{
    char num[HV_JCS_NUMBER_MAX];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = hv_xcalloc(n ? n : 1, sizeof(*keys));
        const char *key;
        json_t *member;
        int rc = 0;
        json_object_foreach((json_t *)v, key, member) keys[i++] = key;
        qsort(keys, n, sizeof(*keys), utf16_cmp);
        hv_buf_putc(out, '{');
        for (i = 0; i < n && rc == 0; i++) {
            if (i)
                hv_buf_putc(out, ',');
            put_string(out, keys[i], strlen(keys[i]));
            hv_buf_putc(out, ':');
            rc = put_value(out, json_object_get(v, keys[i]), err, errlen);
        }
        hv_buf_putc(out, '}');
        free(keys);
        return rc;
    }
    case JSON_ARRAY:
        hv_buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                hv_buf_putc(out, ',');
            if (put_value(out, json_array_get(v, i), err, errlen) < 0)
                return -1;
        }
        hv_buf_putc(out, ']');
        return 0;
    case JSON_STRING:
        put_string(out, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        /* An integer is an IEEE double for JCS: written as that double prints. */
        hv_jcs_number((double)json_integer_value(v), num);
        hv_buf_puts(out, num);
        return 0;
    case JSON_REAL:
        if (!isfinite(json_real_value(v))) {
            snprintf(err, errlen, "a number is not finite");
            return -1;
        }
        hv_jcs_number(json_real_value(v), num);
        hv_buf_puts(out, num);
        return 0;
    case JSON_TRUE:
        hv_buf_puts(out, "true");
        return 0;
    case JSON_FALSE:
        hv_buf_puts(out, "false");
        return 0;
    case JSON_NULL:
        hv_buf_puts(out, "null");
        return 0;
    }
    snprintf(err, errlen, "unknown JSON value");
    return -1;
}

int hv_jcs_canonicalize(const char *json, size_t len, hv_buf_t *out, char *err, size_t errlen)
{
    /* Every number is an IEEE double in JCS: integers are read as reals too. */
    json_error_t je;
    json_t *v = json_loadb(
        json, len,
        JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    int rc;

    if (!v) {
        snprintf(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    rc = put_value(out, v, err, errlen);
    json_decref(v);
    return rc;
}

void hv_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}
