/*
 * test_pgarray.c - unit tests for pgarray.c: the exact bytes of binary arrays (header, NULLs,
 * every element type at its limits), that text needs no escaping, and reuse after reset. The
 * integration suite sends these to a real PostgreSQL on every batch.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "hocvu/pgarray.h"

/* Compares the finished array with the expected bytes. */
static void expect(hv_pgarray_t *a, const char *want, int want_len, const char *what)
{
    int len;
    const char *got = hv_pgarray_finish(a, &len);
    CHECK_MSG(len == want_len, "%s: length %d, want %d", what, len, want_len);
    CHECK_MSG(len == want_len && memcmp(got, want, (size_t)len) == 0, "%s: bytes differ", what);
}

#define HDR(has_null, oid_lo, n)                                                                   \
    "\0\0\0\1"                                                                                     \
    "\0\0\0" has_null "\0\0" oid_lo "\0\0\0" n "\0\0\0\1"

static void test_text(void)
{
    hv_pgarray_t a;

    hv_pgarray_init(&a, HV_PG_TEXT);
    expect(&a, "\0\0\0\0\0\0\0\0\0\0\0\x19", 12, "empty");

    hv_pgarray_text(&a, "ab", 2);
    expect(&a, HDR("\0", "\0\x19", "\1") "\0\0\0\2ab", 26, "one text");

    /* Characters a text literal would have to quote or escape go through as they are. */
    hv_pgarray_reset(&a);
    const char tricky[] = "a\"b\\c,{d} NULL";
    hv_pgarray_text(&a, tricky, strlen(tricky));
    hv_pgarray_text(&a, "Phường", strlen("Phường"));
    hv_pgarray_text(&a, "", 0);
    expect(&a,
           HDR("\0", "\0\x19", "\3") "\0\0\0\x0e"
                                     "a\"b\\c,{d} NULL"
                                     "\0\0\0\x09"
                                     "Ph\xc6\xb0\xe1\xbb\x9dng"
                                     "\0\0\0\0",
           20 + 4 + 14 + 4 + 9 + 4, "tricky text");

    hv_pgarray_reset(&a);
    hv_pgarray_text(&a, "x", 1);
    hv_pgarray_null(&a);
    expect(&a, HDR("\1", "\0\x19", "\2") "\0\0\0\1x\xff\xff\xff\xff", 20 + 5 + 4, "null");
    CHECK(a.has_null && a.n == 2);

    /* Reset clears the null flag and the count; the element type stays. */
    hv_pgarray_reset(&a);
    CHECK(!a.has_null && a.n == 0 && a.oid == HV_PG_TEXT);
    hv_pgarray_free(&a);
}

static void test_numbers(void)
{
    hv_pgarray_t a;

    hv_pgarray_init(&a, HV_PG_INT2);
    hv_pgarray_int2(&a, 1);
    hv_pgarray_int2(&a, -2);
    hv_pgarray_int2(&a, INT16_MIN);
    expect(&a, HDR("\0", "\0\x15", "\3") "\0\0\0\2\0\1\0\0\0\2\xff\xfe\0\0\0\2\x80\0", 38, "int2");
    hv_pgarray_free(&a);

    hv_pgarray_init(&a, HV_PG_INT4);
    hv_pgarray_int4(&a, 20736);
    hv_pgarray_int4(&a, -1);
    expect(&a, HDR("\0", "\0\x17", "\2") "\0\0\0\4\0\0\x51\0\0\0\0\4\xff\xff\xff\xff", 36, "int4");
    hv_pgarray_free(&a);

    hv_pgarray_init(&a, HV_PG_INT8);
    hv_pgarray_int8(&a, INT64_MAX);
    hv_pgarray_int8(&a, INT64_C(1791594900));
    hv_pgarray_null(&a);
    expect(&a,
           HDR("\1", "\0\x14", "\3") "\0\0\0\x08\x7f\xff\xff\xff\xff\xff\xff\xff"
                                     "\0\0\0\x08\0\0\0\0\x6a\xc9\x91\x94"
                                     "\xff\xff\xff\xff",
           20 + 12 + 12 + 4, "int8");
    hv_pgarray_free(&a);

    hv_pgarray_init(&a, HV_PG_BOOL);
    hv_pgarray_bool(&a, true);
    hv_pgarray_bool(&a, false);
    expect(&a, HDR("\0", "\0\x10", "\2") "\0\0\0\1\1\0\0\0\1\0", 30, "bool");
    hv_pgarray_free(&a);

    hv_pgarray_init(&a, HV_PG_FLOAT4);
    hv_pgarray_float4(&a, 12.5f);
    hv_pgarray_float4(&a, -0.0f);
    hv_pgarray_float4(&a, 86.5f);
    expect(&a,
           HDR("\0", "\x02\xbc", "\3") "\0\0\0\4\x41\x48\0\0"
                                       "\0\0\0\4\x80\0\0\0"
                                       "\0\0\0\4\x42\xad\0\0",
           20 + 24, "float4");
    hv_pgarray_free(&a);
}

static void test_many(void)
{
    hv_pgarray_t a;
    int len;

    hv_pgarray_init(&a, HV_PG_INT4);
    for (int i = 0; i < 1000; i++)
        hv_pgarray_int4(&a, i);
    const unsigned char *p = (const unsigned char *)hv_pgarray_finish(&a, &len);
    CHECK(len == 20 + 1000 * 8);
    CHECK(p[12] == 0 && p[13] == 0 && p[14] == 0x03 && p[15] == 0xe8); /* 1000 elements */
    CHECK(p[20 + 999 * 8 + 6] == 0x03 && p[20 + 999 * 8 + 7] == 0xe7); /* the last is 999 */
    hv_pgarray_free(&a);
}

int main(void)
{
    test_text();
    test_numbers();
    test_many();
    CHECK_DONE();
}
