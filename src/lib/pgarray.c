/*
 * pgarray.c - binary one-dimensional arrays: a fixed 20-byte header written as a placeholder
 * at reset and completed at finish, then each element as a big-endian int32 length and its
 * bytes.
 */
#include "hocvu/pgarray.h"

#include <string.h>

#define HEADER_LEN 20 /* ndim, has-null flag, element oid, dimension length, lower bound */

static void put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static void append_be32(hv_buf_t *b, uint32_t v)
{
    char tmp[4];
    put_be32(tmp, v);
    hv_buf_append(b, tmp, 4);
}

void hv_pgarray_init(hv_pgarray_t *a, uint32_t oid)
{
    hv_buf_init(&a->buf);
    a->oid = oid;
    hv_pgarray_reset(a);
}

void hv_pgarray_reset(hv_pgarray_t *a)
{
    static const char zeros[HEADER_LEN];
    hv_buf_reset(&a->buf);
    hv_buf_append(&a->buf, zeros, HEADER_LEN);
    a->n = 0;
    a->has_null = false;
}

void hv_pgarray_free(hv_pgarray_t *a)
{
    hv_buf_free(&a->buf);
}

/* One element: its length, then its bytes. */
static void element(hv_pgarray_t *a, const void *p, uint32_t len)
{
    append_be32(&a->buf, len);
    hv_buf_append(&a->buf, p, len);
    a->n++;
}

void hv_pgarray_text(hv_pgarray_t *a, const char *s, size_t len)
{
    element(a, s, (uint32_t)len);
}

void hv_pgarray_int2(hv_pgarray_t *a, int16_t v)
{
    uint16_t u = (uint16_t)v;
    char b[2] = {(char)(u >> 8), (char)u};
    element(a, b, 2);
}

void hv_pgarray_int4(hv_pgarray_t *a, int32_t v)
{
    char b[4];
    put_be32(b, (uint32_t)v);
    element(a, b, 4);
}

void hv_pgarray_int8(hv_pgarray_t *a, int64_t v)
{
    uint64_t u = (uint64_t)v;
    char b[8];
    put_be32(b, (uint32_t)(u >> 32));
    put_be32(b + 4, (uint32_t)u);
    element(a, b, 8);
}

void hv_pgarray_bool(hv_pgarray_t *a, bool v)
{
    char b = v ? 1 : 0;
    element(a, &b, 1);
}

void hv_pgarray_float4(hv_pgarray_t *a, float v)
{
    uint32_t u;
    char b[4];
    memcpy(&u, &v, 4); /* IEEE 754 single, sent big-endian */
    put_be32(b, u);
    element(a, b, 4);
}

void hv_pgarray_null(hv_pgarray_t *a)
{
    append_be32(&a->buf, 0xFFFFFFFFu); /* length -1 */
    a->n++;
    a->has_null = true;
}

const char *hv_pgarray_finish(hv_pgarray_t *a, int *len)
{
    char *h = a->buf.data;

    if (a->n == 0) {
        /* An empty array has no dimensions: ndim 0, no dimension fields. */
        put_be32(h, 0);
        put_be32(h + 4, 0);
        put_be32(h + 8, a->oid);
        *len = 12;
        return h;
    }
    put_be32(h, 1);
    put_be32(h + 4, a->has_null ? 1 : 0);
    put_be32(h + 8, a->oid);
    put_be32(h + 12, (uint32_t)a->n);
    put_be32(h + 16, 1);
    *len = (int)a->buf.len;
    return h;
}
