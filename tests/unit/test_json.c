/*
 * test_json.c - unit tests for json.c (the one JSON writer) and problem.c (problem documents):
 * exact bytes for nesting, separators, escaping, nulls, numbers and the two-decimal format.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "hocvu/json.h"
#include "hocvu/problem.h"

static void test_writer(void)
{
    hv_buf_t b;
    hv_json_t j;

    hv_buf_init(&b);
    hv_json_init(&j, &b);
    hv_json_obj(&j);
    hv_json_end(&j);
    CHECK_STR(b.data, "{}");

    hv_buf_reset(&b);
    hv_json_init(&j, &b);
    hv_json_arr(&j);
    hv_json_end(&j);
    CHECK_STR(b.data, "[]");

    hv_buf_reset(&b);
    hv_json_init(&j, &b);
    hv_json_obj(&j);
    hv_json_kstr(&j, "a", "x");
    hv_json_kint(&j, "b", -42);
    hv_json_kbool(&j, "c", true);
    hv_json_kbool(&j, "d", false);
    hv_json_kstr(&j, "e", NULL);
    hv_json_key(&j, "f");
    hv_json_arr(&j);
    hv_json_int(&j, INT64_MAX);
    hv_json_int(&j, INT64_MIN);
    hv_json_obj(&j);
    hv_json_end(&j);
    hv_json_arr(&j);
    hv_json_null(&j);
    hv_json_end(&j);
    hv_json_strn(&j, "ab\0c", 4);
    hv_json_end(&j);
    hv_json_key(&j, "g");
    hv_json_raw(&j, "{\"pre\":1}", 9);
    hv_json_key(&j, "quote\"key");
    hv_json_dec2(&j, 12.5);
    hv_json_end(&j);
    CHECK_STR(b.data, "{\"a\":\"x\",\"b\":-42,\"c\":true,\"d\":false,\"e\":null,"
                      "\"f\":[9223372036854775807,-9223372036854775808,{},[null],\"ab\\u0000c\"],"
                      "\"g\":{\"pre\":1},\"quote\\\"key\":12.5}");
    CHECK(j.depth == 0);

    /* Escaping is hv_buf_json_str's: control characters, quotes, invalid UTF-8. */
    hv_buf_reset(&b);
    hv_json_init(&j, &b);
    hv_json_arr(&j);
    hv_json_str(&j, "Phường \"Ninh\" Kiều\n\t\\");
    hv_json_strn(&j, "\xff\xfe", 2);
    hv_json_str(&j, "");
    hv_json_end(&j);
    CHECK_STR(b.data, "[\"Phường \\\"Ninh\\\" Kiều\\n\\t\\\\\",\"\xEF\xBF\xBD\xEF\xBF\xBD\",\"\"]");

    /* Top-level scalars. */
    hv_buf_reset(&b);
    hv_json_init(&j, &b);
    hv_json_int(&j, 7);
    CHECK_STR(b.data, "7");
    hv_buf_free(&b);
}

static void test_dec2(void)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {12.5, "12.5"},
        {100, "100"},
        {33.333333, "33.33"},
        {66.666666, "66.67"},
        {0.004, "0"},
        {0.005, "0.01"},
        {99.999, "100"},
        {-0.001, "0"},
        {-12.345, "-12.35"},
        {1e9, "1000000000"},
        {0.1, "0.1"},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        char out[32];
        hv_fmt_dec2(cases[i].v, out);
        CHECK_MSG(strcmp(out, cases[i].want) == 0, "%g: got %s want %s", cases[i].v, out,
                  cases[i].want);
    }
}

static void test_problem(void)
{
    hv_buf_t b;
    hv_problem_t p;

    hv_buf_init(&b);
    hv_problem_set(&p, 401, "invalid_signature", NULL, "no signature matches");
    hv_problem_render(&p, &b);
    CHECK_STR(b.data, "{\"type\":\"about:blank\",\"title\":\"Unauthorized\",\"status\":401,"
                      "\"code\":\"invalid_signature\",\"detail\":\"no signature matches\"}");

    hv_buf_reset(&b);
    hv_problem_set(&p, 422, "ambiguous_ward", "data.ward_code", "split");
    p.n_candidates = 2;
    memcpy(p.candidates[0], "31120", 6);
    memcpy(p.candidates[1], "31168", 6);
    hv_problem_render(&p, &b);
    CHECK_STR(b.data,
              "{\"type\":\"about:blank\",\"title\":\"Unprocessable Content\",\"status\":422,"
              "\"code\":\"ambiguous_ward\",\"detail\":\"split\",\"field\":"
              "\"data.ward_code\",\"candidates\":[\"31120\",\"31168\"]}");

    /* No detail: the member is left out; a detail with quotes is escaped. */
    hv_buf_reset(&b);
    hv_problem_set(&p, 503, "unavailable", NULL, NULL);
    hv_problem_render(&p, &b);
    CHECK_STR(b.data, "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
                      "\"code\":\"unavailable\"}");
    hv_buf_reset(&b);
    hv_problem_set(&p, 400, "invalid_json", NULL, "bad \"x\"");
    hv_problem_render(&p, &b);
    CHECK(strstr(b.data, "\"detail\":\"bad \\\"x\\\"\"") != NULL);

    CHECK_STR(hv_status_text(413), "Content Too Large");
    CHECK_STR(hv_status_text(500), "Internal Server Error");
    CHECK_STR(hv_status_text(299), "Error");
    hv_buf_free(&b);
}

int main(void)
{
    test_writer();
    test_dec2();
    test_problem();
    CHECK_DONE();
}
