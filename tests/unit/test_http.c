/*
 * test_http.c - unit tests for http.c's pure part: If-None-Match as RFC 9110 13.1.2 reads it.
 */
#include <string.h>

#include "check.h"
#include "hocvu/http.h"

int main(void)
{
    static const struct {
        const char *field;
        int want;
    } cases[] = {
        {"\"abc\"", 1},
        {"W/\"abc\"", 1}, /* weak comparison */
        {"\"x\", \"abc\"", 1},
        {"\"x\",W/\"abc\" ,\"y\"", 1},
        {"  \"abc\"  ", 1},
        {"*", 1},
        {" * ", 1},
        {"\"x\"", 0},
        {"\"abcd\"", 0},
        {"\"ab\"", 0},
        {"*garbage", -1}, /* "*" only alone */
        {"*, \"abc\"", -1},
        {"abc", -1},          /* not quoted */
        {"\"abc", -1},        /* unterminated */
        {"\"abc\" junk", -1}, /* trailing garbage */
        {"w/\"abc\"", -1},    /* W is case-sensitive */
        {"\"a b\"", -1},      /* no space inside an entity tag */
        {"", -1},
        {",,", -1},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        int got = hv_etag_list_match(cases[i].field, "\"abc\"");
        CHECK_MSG(got == cases[i].want, "[%s]: got %d want %d", cases[i].field, got, cases[i].want);
    }
    CHECK_DONE();
}
