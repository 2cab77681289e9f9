/*
 * test_render.c - unit tests for snapshot.c and render.c: counter rows in, document bytes out.
 * One small city covers imported and estimated targets, a ward without either, counters of a
 * ward no longer in the table (city only), ranking, daily series, JSON escaping of names and
 * CSV quoting. Every expected document is written out in full.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "hocvu/render.h"
#include "hocvu/snapshot.h"

#define AS_OF INT64_C(1796083200) /* 2026-12-01T00:00:00Z */
#define D0 20699                  /* 2026-09-03 */

static hv_snapshot_t *city(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    CHECK(hv_wardtab_add(t, "31001", "Phường An", "phuong", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31002", "Xã \"Bình\"", "xa", 300, -1) == 0);
    CHECK(hv_wardtab_add(t, "31003", "Thới Lai, Cần Thơ", "xa", 100, -1) == 0);
    CHECK(hv_wardtab_add(t, "31004", "Xã Đông", "xa", -1, -1) == 0);
    hv_wardtab_finish(t);
    const hv_count_row_t rows[] = {
        {"31001", 1, HV_NO_DAY, 5, 6},
        {"31001", 2, HV_NO_DAY, 5, 5},
        {"31002", 1, HV_NO_DAY, 150, 150},
        {"31003", 4, HV_NO_DAY, 25, 25},
        {"39999", 1, HV_NO_DAY, 7, 7}, /* a ward no longer in the table */
        {"31001", 0, D0 + 1, 3, 3},
        {"31001", 0, D0 + 3, 7, 8},
        {"31002", 0, D0 + 1, 150, 150},
        {"31003", 0, D0 + 2, 25, 25},
        {"39999", 0, D0, 7, 7},
        {"31004", 0, D0, 0, 1}, /* no adults: no point */
    };
    return hv_snapshot_build(t, rows, HV_ARRAY_LEN(rows), 1000, AS_OF, 42);
}

#define WARD_A                                                                                     \
    "{\"code\":\"31001\",\"name\":\"Phường An\",\"type\":\"phuong\",\"certified_adults\":10,"   \
    "\"certified_total\":11,\"target\":10,\"target_estimated\":false,\"percent\":100,\"rank\":1"
#define WARD_B                                                                                     \
    "{\"code\":\"31002\",\"name\":\"Xã \\\"Bình\\\"\",\"type\":\"xa\",\"certified_adults\":150," \
    "\"certified_total\":150,\"target\":750,\"target_estimated\":true,\"percent\":20,\"rank\":2"
#define WARD_C                                                                                         \
    "{\"code\":\"31003\",\"name\":\"Thới Lai, Cần Thơ\",\"type\":\"xa\",\"certified_adults\":25," \
    "\"certified_total\":25,\"target\":250,\"target_estimated\":true,\"percent\":10,\"rank\":3"
#define WARD_D                                                                                     \
    "{\"code\":\"31004\",\"name\":\"Xã Đông\",\"type\":\"xa\",\"certified_adults\":0,"          \
    "\"certified_total\":0,\"target\":null,\"target_estimated\":false,\"percent\":null,\"rank\":4"

static void test_model(const hv_snapshot_t *s)
{
    CHECK(s->refs == 1 && s->data_hash == 42 && s->as_of == AS_OF);
    CHECK(s->certified_adults == 192 && s->certified_total == 193);
    CHECK(s->group_adults[1] == 162 && s->group_adults[2] == 5 && s->group_adults[4] == 25);
    CHECK(s->wards_at_target == 1);
    CHECK(hv_snapshot_find(s, "31002")->rank == 2);
    CHECK(hv_snapshot_find(s, "39999") == NULL);
    CHECK(hv_snapshot_first_day(s, NULL, 0) == D0);
    CHECK(hv_snapshot_first_day(s, "31003", 0) == D0 + 2);
    CHECK(hv_snapshot_first_day(s, "31004", -5) == -5);
    CHECK(hv_snapshot_first_day(s, "39999", -6) == -6);
}

static void test_documents(const hv_snapshot_t *s)
{
    hv_buf_t b;
    char etag[24];

    CHECK_STR(s->progress.body,
              "{\"target\":1000,\"certified_adults\":192,\"certified_total\":193,\"percent\":19.2,"
              "\"remaining\":808,\"by_group\":{\"citizen\":162,\"official\":5,\"student\":0,"
              "\"worker\":25},\"wards\":4,\"wards_at_target\":1,"
              "\"as_of\":\"2026-12-01T00:00:00Z\"}");
    hv_etag_of(s->progress.body, s->progress.len, etag);
    CHECK_STR(s->progress.etag, etag);
    CHECK(etag[0] == '"' && strlen(etag) == 18);
    CHECK_STR(s->wards_doc.body, "{\"wards\":[" WARD_A "}," WARD_B "}," WARD_C "}," WARD_D
                                 "}],\"as_of\":\"2026-12-01T00:00:00Z\"}");

    hv_buf_init(&b);
    hv_render_timeseries(s, NULL, D0, D0 + 3, &b);
    CHECK_STR(b.data, "{\"ward\":null,\"from\":\"2026-09-03\",\"to\":\"2026-09-06\",\"points\":["
                      "{\"date\":\"2026-09-03\",\"new\":7,\"cumulative\":7},"
                      "{\"date\":\"2026-09-04\",\"new\":153,\"cumulative\":160},"
                      "{\"date\":\"2026-09-05\",\"new\":25,\"cumulative\":185},"
                      "{\"date\":\"2026-09-06\",\"new\":7,\"cumulative\":192}],"
                      "\"as_of\":\"2026-12-01T00:00:00Z\"}");
    hv_buf_reset(&b);
    hv_render_timeseries(s, "31001", D0 + 2, D0 + 3, &b);
    CHECK_STR(b.data,
              "{\"ward\":\"31001\",\"from\":\"2026-09-05\",\"to\":\"2026-09-06\",\"points\":["
              "{\"date\":\"2026-09-05\",\"new\":0,\"cumulative\":3},"
              "{\"date\":\"2026-09-06\",\"new\":7,\"cumulative\":10}],"
              "\"as_of\":\"2026-12-01T00:00:00Z\"}");

    hv_buf_reset(&b);
    CHECK(!hv_render_ward(s, "39999", D0 + 3, &b));
    CHECK(b.len == 0);
    CHECK(hv_render_ward(s, "31001", D0 + 3, &b));
    const char *prefix =
        WARD_A ",\"by_group\":{\"citizen\":5,\"official\":5,\"student\":0,"
               "\"worker\":0},\"last_30_days\":[{\"date\":\"2026-08-08\",\"new\":0,"
               "\"cumulative\":0},";
    CHECK(strncmp(b.data, prefix, strlen(prefix)) == 0);
    const char *suffix = "{\"date\":\"2026-09-04\",\"new\":3,\"cumulative\":3},"
                         "{\"date\":\"2026-09-05\",\"new\":0,\"cumulative\":3},"
                         "{\"date\":\"2026-09-06\",\"new\":7,\"cumulative\":10}],"
                         "\"as_of\":\"2026-12-01T00:00:00Z\"}";
    CHECK(b.len > strlen(suffix) && strcmp(b.data + b.len - strlen(suffix), suffix) == 0);
    int points = 0;
    for (const char *p = b.data; (p = strstr(p, "\"date\"")); p++)
        points++;
    CHECK(points == 30);

    hv_buf_reset(&b);
    hv_render_wards_csv(s, &b);
    CHECK_STR(b.data, "\xEF\xBB\xBF"
                      "rank,code,name,type,certified_adults,certified_total,target,"
                      "target_estimated,percent,as_of\r\n"
                      "1,31001,Phường An,phuong,10,11,10,false,100,2026-12-01T00:00:00Z\r\n"
                      "2,31002,\"Xã \"\"Bình\"\"\",xa,150,150,750,true,20,2026-12-01T00:00:00Z\r\n"
                      "3,31003,\"Thới Lai, Cần Thơ\",xa,25,25,250,true,10,2026-12-01T00:00:00Z\r\n"
                      "4,31004,Xã Đông,xa,0,0,,false,,2026-12-01T00:00:00Z\r\n");
    hv_buf_free(&b);
}

static void test_ties_and_empty(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    CHECK(hv_wardtab_add(t, "31002", "B", "xa", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31001", "A", "xa", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31003", "C", "xa", -1, 10) == 0);
    hv_wardtab_finish(t);
    const hv_count_row_t rows[] = {
        {"31001", 1, HV_NO_DAY, 5, 5},
        {"31002", 1, HV_NO_DAY, 5, 5},
    };
    hv_snapshot_t *s = hv_snapshot_build(t, rows, HV_ARRAY_LEN(rows), 100, AS_OF, 1);
    /* Equal percent and adults share a rank; the code orders them. */
    CHECK(s->stats[s->ranked[0]].rank == 1 &&
          strcmp(s->stats[s->ranked[0]].ward->code, "31001") == 0);
    CHECK(s->stats[s->ranked[1]].rank == 1);
    CHECK(s->stats[s->ranked[2]].rank == 3);
    hv_snapshot_release(s);

    s = hv_snapshot_build(hv_wardtab_new(), NULL, 0, 5, AS_OF, 0);
    CHECK_STR(s->wards_doc.body, "{\"wards\":[],\"as_of\":\"2026-12-01T00:00:00Z\"}");
    CHECK(strstr(s->progress.body, "\"percent\":0,\"remaining\":5,") != NULL);
    hv_snapshot_release(s);
}

/* Names from an import that start like a formula reach a spreadsheet as text. */
static void test_csv_formulas(void)
{
    static const struct {
        const char *name, *cell;
    } cases[] = {
        {"=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\""},
        {"+1", "\"'+1\""},
        {"-2", "\"'-2\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"\tx", "\"'\tx\""},
        {"=a,\"b\"", "\"'=a,\"\"b\"\"\""},
        {"Phường 1", "Phường 1"},
        {"a=b", "a=b"},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        hv_wardtab_t *t = hv_wardtab_new();
        CHECK(hv_wardtab_add(t, "31001", cases[i].name, "-xa", -1, -1) == 0);
        hv_wardtab_finish(t);
        hv_snapshot_t *s = hv_snapshot_build(t, NULL, 0, 10, AS_OF, 0);
        hv_buf_t b;
        char want[128];
        hv_buf_init(&b);
        hv_render_wards_csv(s, &b);
        snprintf(want, sizeof(want), "\r\n1,31001,%s,\"'-xa\",0,0,,false,,", cases[i].cell);
        CHECK_MSG(strstr(b.data, want) != NULL, "%s: %s", cases[i].name, b.data);
        hv_buf_free(&b);
        hv_snapshot_release(s);
    }
}

int main(void)
{
    test_csv_formulas();
    hv_snapshot_t *s = city();
    test_model(s);
    test_documents(s);
    hv_snapshot_release(s);
    test_ties_and_empty();
    CHECK_DONE();
}
