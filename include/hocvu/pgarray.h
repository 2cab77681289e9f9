/*
 * pgarray.h - one-dimensional PostgreSQL arrays in the binary wire format (what array_recv
 * reads), for parameters sent with paramFormats = 1: no quoting or escaping of any element,
 * NULL as a length of -1. The writer sends every batch through these.
 */
#ifndef HOCVU_PGARRAY_H
#define HOCVU_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

/* Element type OIDs (pg_type.oid); the statement's declared array type must match. */
#define HV_PG_BOOL 16
#define HV_PG_INT8 20
#define HV_PG_INT2 21
#define HV_PG_INT4 23
#define HV_PG_TEXT 25
#define HV_PG_FLOAT4 700

/* An array being built. Owns `buf`; reusable after hv_pgarray_reset. */
typedef struct hv_pgarray {
    hv_buf_t buf;
    uint32_t oid;
    int32_t n;
    bool has_null;
} hv_pgarray_t;

void hv_pgarray_init(hv_pgarray_t *a, uint32_t oid);
/* Empties the array, keeping its element type and its allocation. */
void hv_pgarray_reset(hv_pgarray_t *a);
void hv_pgarray_free(hv_pgarray_t *a);

/* Appends one element. The caller picks the function of the array's element type. */
void hv_pgarray_text(hv_pgarray_t *a, const char *s, size_t len);
void hv_pgarray_int2(hv_pgarray_t *a, int16_t v);
void hv_pgarray_int4(hv_pgarray_t *a, int32_t v);
void hv_pgarray_int8(hv_pgarray_t *a, int64_t v);
void hv_pgarray_bool(hv_pgarray_t *a, bool v);
void hv_pgarray_float4(hv_pgarray_t *a, float v);
void hv_pgarray_null(hv_pgarray_t *a);

/* Completes the header and returns the bytes (borrowed from `a`, valid until its next change)
 * and their length, ready for PQsendQueryPrepared with format 1. */
const char *hv_pgarray_finish(hv_pgarray_t *a, int *len);

#endif
