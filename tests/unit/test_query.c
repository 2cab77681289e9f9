/*
 * test_query.c - table-driven tests of the query-string parser.
 */
#include "hocvu/query.h"

#include "check.h"

typedef struct query_case {
    const char *qs;
    bool ok;
    int n;
    const char *key, *value; /* one pair to look up when ok */
} query_case_t;

static const query_case_t cases[] = {
    {"", true, 0, NULL, NULL},
    {"ward=31135", true, 1, "ward", "31135"},
    {"ward=31135&from=2026-10-01&to=2026-10-31", true, 3, "to", "2026-10-31"},
    {"a=1&&b=2&", true, 2, "b", "2"},
    {"flag", true, 1, "flag", ""},
    {"q=Ninh+Ki%E1%BB%81u", true, 1, "q", "Ninh Ki\xE1\xBB\x81u"},
    {"x=%41%62", true, 1, "x", "Ab"},
    {"x=%4", false, 0, NULL, NULL},
    {"x=%", false, 0, NULL, NULL},
    {"x=%zz", false, 0, NULL, NULL},
    {"x=%00", false, 0, NULL, NULL},
    {"x=%0A", false, 0, NULL, NULL},
    {"a=1&a=2", false, 0, NULL, NULL},
    {"k234567890123456789012345678901234=1", false, 0, NULL, NULL},
    {"a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1", true, 16, "p", "1"},
    {"a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1", false, 0, NULL, NULL},
};

int main(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        const query_case_t *c = &cases[i];
        hv_query_t q;
        const char *why = NULL;
        bool ok = hv_query_parse(c->qs, strlen(c->qs), &q, &why);
        CHECK_MSG(ok == c->ok, "case %zu \"%s\"", i, c->qs);
        if (!ok) {
            CHECK_MSG(why != NULL, "case %zu has a reason", i);
            continue;
        }
        CHECK_MSG(q.n == c->n, "case %zu: %d params", i, q.n);
        if (c->key) {
            const char *v = hv_query_get(&q, c->key);
            CHECK_MSG(v && strcmp(v, c->value) == 0, "case %zu: %s=%s", i, c->key,
                      v ? v : "(null)");
        }
    }
    /* A value exactly at the limit passes; one byte more fails. */
    char qs[HV_QUERY_MAX_VALUE + 8];
    hv_query_t q;
    const char *why;
    memcpy(qs, "v=", 2);
    memset(qs + 2, 'a', HV_QUERY_MAX_VALUE);
    qs[2 + HV_QUERY_MAX_VALUE] = '\0';
    CHECK(hv_query_parse(qs, strlen(qs), &q, &why));
    CHECK(hv_query_get(&q, "missing") == NULL);
    qs[2 + HV_QUERY_MAX_VALUE] = 'a';
    qs[3 + HV_QUERY_MAX_VALUE] = '\0';
    CHECK(!hv_query_parse(qs, strlen(qs), &q, &why));
    CHECK_DONE();
}
