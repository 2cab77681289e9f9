/*
 * test_pgarray.c - unit tests for pgarray.c: the exact bytes of binary arrays (header, NULLs,
 * every element type at its limits), that text needs no escaping, and reuse after reset. The
 * integration suite sends these to a real PostgreSQL on every batch.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hocvu/pgarray.h"

/* One element to append; a case's list ends at the first E_END. */
typedef enum elem_kind {
    E_END,
    E_TEXT,
    E_INT2,
    E_INT4,
    E_INT8,
    E_BOOL,
    E_FLOAT4,
    E_NULL
} elem_kind_t;

typedef struct elem {
    elem_kind_t kind;
    const char *s; /* E_TEXT (NUL-terminated here; the module is given its length) */
    int64_t i;     /* the integer kinds and E_BOOL */
    float f;       /* E_FLOAT4 */
} elem_t;

/* clang-format off */
#define T(str) {E_TEXT, (str), 0, 0}
#define I2(v) {E_INT2, NULL, (v), 0}
#define I4(v) {E_INT4, NULL, (v), 0}
#define I8(v) {E_INT8, NULL, (v), 0}
#define B(v) {E_BOOL, NULL, (v), 0}
#define F4(v) {E_FLOAT4, NULL, 0, (v)}
#define NUL {E_NULL, NULL, 0, 0}
/* clang-format on */

/* The expected bytes are written as hex, spaces ignored, grouped by field: the header (ndim,
 * has-null flag, element oid, then length and lower bound of the one dimension), then each
 * element's int32 length and its bytes. */
static const struct {
    const char *name;
    uint32_t oid;
    elem_t elems[6];
    const char *want_hex;
} cases[] = {
    /* No elements: no dimensions, and so no dimension fields. */
    {"empty text", HV_PG_TEXT, {{E_END}}, "00000000 00000000 00000019"},
    {"empty int8", HV_PG_INT8, {{E_END}}, "00000000 00000000 00000014"},
    {"one text",
     HV_PG_TEXT,
     {T("ab")},
     "00000001 00000000 00000019 00000001 00000001  00000002 6162"},
    /* What a text literal {...} would have to quote or escape goes through byte for byte,
     * the word NULL stays a string, and UTF-8 is not touched. */
    {"text needing no escaping",
     HV_PG_TEXT,
     {T("a\"b\\c,{d}"), T("NULL"), T("Phường Bến Nghé"), T("")},
     "00000001 00000000 00000019 00000004 00000001"
     "  00000009 6122625c632c7b647d"
     "  00000004 4e554c4c"
     "  00000015 5068c6b0e1bb9d6e67 2042e1babf6e 204e6768c3a9"
     "  00000000"},
    {"text with NULLs",
     HV_PG_TEXT,
     {NUL, T("x"), NUL},
     "00000001 00000001 00000019 00000003 00000001  ffffffff  00000001 78  ffffffff"},
    {"only NULL", HV_PG_INT4, {NUL}, "00000001 00000001 00000017 00000001 00000001  ffffffff"},
    {"int2",
     HV_PG_INT2,
     {I2(0), I2(-1), I2(INT16_MIN), I2(INT16_MAX), I2(2)},
     "00000001 00000000 00000015 00000005 00000001"
     "  00000002 0000  00000002 ffff  00000002 8000  00000002 7fff  00000002 0002"},
    {"int2 with NULL",
     HV_PG_INT2,
     {I2(1), NUL, I2(-2)},
     "00000001 00000001 00000015 00000003 00000001  00000002 0001  ffffffff  00000002 fffe"},
    {"int4",
     HV_PG_INT4,
     {I4(INT32_MIN), I4(INT32_MAX), I4(-2), I4(20736)},
     "00000001 00000000 00000017 00000004 00000001"
     "  00000004 80000000  00000004 7fffffff  00000004 fffffffe  00000004 00005100"},
    {"int8",
     HV_PG_INT8,
     {I8(INT64_MAX), I8(INT64_MIN), I8(-1), I8(1791594900), NUL},
     "00000001 00000001 00000014 00000005 00000001"
     "  00000008 7fffffffffffffff  00000008 8000000000000000  00000008 ffffffffffffffff"
     "  00000008 000000006ac99194  ffffffff"},
    {"bool",
     HV_PG_BOOL,
     {B(true), B(false), NUL},
     "00000001 00000001 00000010 00000003 00000001  00000001 01  00000001 00  ffffffff"},
    /* IEEE 754 single precision, big-endian; -0.0 keeps its sign bit. */
    {"float4",
     HV_PG_FLOAT4,
     {F4(12.5f), F4(-0.0f), F4(-1.5f), F4(86.5f), F4(INFINITY), NUL},
     "00000001 00000001 000002bc 00000006 00000001"
     "  00000004 41480000  00000004 80000000  00000004 bfc00000  00000004 42ad0000"
     "  00000004 7f800000  ffffffff"},
};

/* Decodes hex with spaces into out (cap bytes at most); returns the length. */
static size_t from_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int half = -1;

    for (const char *p = hex; *p; p++) {
        int v;
        if (*p == ' ')
            continue;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else
            abort(); /* a typo in the table */
        if (half < 0) {
            half = v;
        } else {
            if (n == cap)
                abort();
            out[n++] = (unsigned char)(half << 4 | v);
            half = -1;
        }
    }
    if (half >= 0)
        abort();
    return n;
}

static void append(hv_pgarray_t *a, const elem_t *e)
{
    switch (e->kind) {
    case E_TEXT:
        hv_pgarray_text(a, e->s, strlen(e->s));
        break;
    case E_INT2:
        hv_pgarray_int2(a, (int16_t)e->i);
        break;
    case E_INT4:
        hv_pgarray_int4(a, (int32_t)e->i);
        break;
    case E_INT8:
        hv_pgarray_int8(a, e->i);
        break;
    case E_BOOL:
        hv_pgarray_bool(a, e->i != 0);
        break;
    case E_FLOAT4:
        hv_pgarray_float4(a, e->f);
        break;
    case E_NULL:
        hv_pgarray_null(a);
        break;
    case E_END:
        break;
    }
}

/* Builds case i into `a` (empty, of the case's type) and compares the finished bytes; also
 * checks the count and the null flag the struct reports. */
static void run_case(hv_pgarray_t *a, size_t i, const char *pass)
{
    unsigned char want[512];
    size_t want_len = from_hex(cases[i].want_hex, want, sizeof(want));
    int n = 0, len = -1;
    bool any_null = false;

    for (const elem_t *e = cases[i].elems; e < cases[i].elems + 6 && e->kind != E_END; e++) {
        append(a, e);
        n++;
        any_null |= e->kind == E_NULL;
    }
    const char *got = hv_pgarray_finish(a, &len);
    CHECK_MSG(len == (int)want_len, "%s, %s: length %d, want %zu", pass, cases[i].name, len,
              want_len);
    CHECK_MSG(len == (int)want_len && memcmp(got, want, want_len) == 0, "%s, %s: bytes differ",
              pass, cases[i].name);
    CHECK_MSG(a->n == n && a->has_null == any_null, "%s, %s: n=%d has_null=%d", pass, cases[i].name,
              a->n, a->has_null);
    /* finish is idempotent: asking twice gives the same bytes */
    int len2 = -1;
    const char *again = hv_pgarray_finish(a, &len2);
    CHECK_MSG(len2 == len && memcmp(again, got, (size_t)len) == 0, "%s, %s: second finish", pass,
              cases[i].name);
}

/* Every case from a fresh array. */
static void test_fresh(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        hv_pgarray_t a;
        hv_pgarray_init(&a, cases[i].oid);
        run_case(&a, i, "fresh");
        hv_pgarray_free(&a);
    }
}

/* Every case again from one array per element type, reused through reset after other
 * contents (including NULLs and more elements than the case has): nothing of them remains. */
static void test_reuse(void)
{
    static const uint32_t oids[] = {HV_PG_BOOL, HV_PG_INT8, HV_PG_INT2,
                                    HV_PG_INT4, HV_PG_TEXT, HV_PG_FLOAT4};
    hv_pgarray_t arrays[HV_ARRAY_LEN(oids)];

    for (size_t k = 0; k < HV_ARRAY_LEN(oids); k++)
        hv_pgarray_init(&arrays[k], oids[k]);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
            hv_pgarray_t *a = NULL;
            int len;
            for (size_t k = 0; k < HV_ARRAY_LEN(oids); k++)
                if (oids[k] == cases[i].oid)
                    a = &arrays[k];
            CHECK(a != NULL);
            if (!a)
                continue;
            for (int j = 0; j < 9; j++)
                hv_pgarray_null(a);
            (void)hv_pgarray_finish(a, &len);
            hv_pgarray_reset(a);
            CHECK(a->n == 0 && !a->has_null && a->oid == cases[i].oid);
            run_case(a, i, round ? "reused, second round" : "reused");
            hv_pgarray_reset(a);
        }
    }
    for (size_t k = 0; k < HV_ARRAY_LEN(oids); k++)
        hv_pgarray_free(&arrays[k]);
}

/* Sizes past one byte: 1000 elements, and a text element longer than 65535 bytes. */
static void test_large(void)
{
    hv_pgarray_t a;
    int len;

    hv_pgarray_init(&a, HV_PG_INT4);
    for (int i = 0; i < 1000; i++)
        hv_pgarray_int4(&a, i - 500);
    const unsigned char *p = (const unsigned char *)hv_pgarray_finish(&a, &len);
    CHECK(len == 20 + 1000 * 8);
    CHECK(p[12] == 0 && p[13] == 0 && p[14] == 0x03 && p[15] == 0xe8);   /* 1000 elements */
    const unsigned char first[8] = {0, 0, 0, 4, 0xff, 0xff, 0xfe, 0x0c}; /* -500 */
    const unsigned char last[8] = {0, 0, 0, 4, 0, 0, 0x01, 0xf3};        /* 499 */
    CHECK(memcmp(p + 20, first, 8) == 0);
    CHECK(memcmp(p + 20 + 999 * 8, last, 8) == 0);
    hv_pgarray_free(&a);

    size_t big = 70000; /* 0x00011170 */
    char *s = hv_xmalloc(big);
    memset(s, 'q', big);
    hv_pgarray_init(&a, HV_PG_TEXT);
    hv_pgarray_text(&a, s, big);
    p = (const unsigned char *)hv_pgarray_finish(&a, &len);
    CHECK(len == (int)(20 + 4 + big));
    CHECK(p[20] == 0x00 && p[21] == 0x01 && p[22] == 0x11 && p[23] == 0x70);
    CHECK(len == (int)(20 + 4 + big) && memcmp(p + 24, s, big) == 0);
    hv_pgarray_free(&a);
    free(s);
}

int main(void)
{
    test_fresh();
    test_reuse();
    test_large();
    CHECK_DONE();
}
