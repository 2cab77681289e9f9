/*
 * query.c - strict query-string parsing: percent-decoding with limits; anything malformed is
 * an error the caller turns into 400, never a silently truncated value.
 */
#include "hocvu/query.h"

#include <stdlib.h>
#include <string.h>

#include "hocvu/util.h"

/* Decodes s[0..n) into out[0..cap] (NUL-terminated). Returns false on a bad escape, a control
 * byte, or overflow. */
static bool decode(const char *s, size_t n, char *out, size_t cap, const char **why)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n) {
                *why = "incomplete percent escape";
                return false;
            }
            hi = hv_hex_value(s[i + 1]);
            lo = hv_hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) {
                *why = "bad percent escape";
                return false;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7F) {
            *why = "control character";
            return false;
        }
        if (k >= cap) {
            *why = "too long";
            return false;
        }
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return true;
}

bool hv_query_parse(const char *qs, size_t n, hv_query_t *out, const char **why)
{
    size_t i = 0;

    out->n = 0;
    while (i < n) {
        size_t end = i, eq;
        while (end < n && qs[end] != '&')
            end++;
        if (end == i) {
            i++;
            continue;
        }
        eq = i;
        while (eq < end && qs[eq] != '=')
            eq++;
        if (out->n == HV_QUERY_MAX_PARAMS) {
            *why = "too many parameters";
            return false;
        }
        int k = out->n;
        if (!decode(qs + i, eq - i, out->key[k], HV_QUERY_MAX_KEY, why))
            return false;
        out->value[k][0] = '\0';
        if (eq < end && !decode(qs + eq + 1, end - eq - 1, out->value[k], HV_QUERY_MAX_VALUE, why))
            return false;
        for (int j = 0; j < k; j++) {
            if (strcmp(out->key[j], out->key[k]) == 0) {
                *why = "parameter given twice";
                return false;
            }
        }
        out->n++;
        i = end + 1;
    }
    return true;
}

const char *hv_query_get(const hv_query_t *q, const char *key)
{
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->value[i];
    return NULL;
}

int hv_query_year(const hv_query_t *q, int dflt)
{
    const char *v = hv_query_get(q, "year");

    if (!v)
        return dflt;
    if (strlen(v) != 4)
        return -1;
    for (int i = 0; i < 4; i++)
        if (v[i] < '0' || v[i] > '9')
            return -1;
    return atoi(v);
}
