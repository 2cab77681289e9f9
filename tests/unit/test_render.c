/*
 * test_render.c - unit tests for snapshot.c and render.c: counter rows in, document bytes out.
 * One small city covers imported and estimated targets, a ward without either, counters of a
 * ward no longer in the table (city only), ranking, daily series, JSON escaping of names and
 * CSV quoting; then the targets of §9: by year, as of a day, reached_on, the ranking and its
 * shared ranks, exact half-up percent. Every expected document is written out in full.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "hocvu/render.h"
#include "hocvu/snapshot.h"
#include "hocvu/timeutil.h"

#define AS_OF INT64_C(1796083200) /* 2026-12-01T00:00:00Z */
#define D0 20699                  /* 2026-09-03 */
#define Y 2026                    /* the current year of AS_OF */
#define AS_OF_DAY 20788           /* 2026-12-01 */

static hv_snapshot_t *build(hv_wardtab_t *t, const hv_count_row_t *rows, size_t n,
                            const hv_target_t *targets, size_t nt, int64_t city, uint64_t hash)
{
    return hv_snapshot_build(t, rows, n, targets, nt, city, Y, AS_OF, hash);
}

static const hv_view_t *now(const hv_snapshot_t *s)
{
    return hv_snapshot_year(s, Y);
}

static const hv_doc_t *progress_doc(const hv_snapshot_t *s)
{
    return &s->progress_docs[hv_snapshot_year_index(s, Y)];
}

static const hv_doc_t *wards_doc(const hv_snapshot_t *s)
{
    return &s->wards_docs[hv_snapshot_year_index(s, Y)];
}

static hv_snapshot_t *city(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    CHECK(hv_wardtab_add(t, "31001", "Phường An", "phuong", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31002", "Xã \"Bình\"", "xa", 300, -1) == 0);
    CHECK(hv_wardtab_add(t, "31003", "Thới Lai, Cần Thơ", "xa", 100, -1) == 0);
    CHECK(hv_wardtab_add(t, "31004", "Xã Đông", "xa", -1, -1) == 0);
    hv_wardtab_finish(t);
    const hv_count_row_t rows[] = {
        {"31001", 1, D0 + 3, 2, 3},   {"31001", 1, D0 + 1, 3, 3},
        {"31001", 2, D0 + 3, 5, 5},   {"31002", 1, D0 + 1, 150, 150},
        {"31003", 4, D0 + 2, 25, 25}, {"39999", 1, D0, 7, 7}, /* a ward no longer in the table */
        {"31004", 1, D0, 0, 1},                               /* no adults: no point */
    };
    return build(t, rows, HV_ARRAY_LEN(rows), NULL, 0, 1000, 42);
}

#define WARD_A                                                                                     \
    "{\"code\":\"31001\",\"name\":\"Phường An\",\"type\":\"phuong\",\"certified_adults\":10,"   \
    "\"certified_total\":11,\"target\":10,\"target_estimated\":false,\"percent\":100,"             \
    "\"reached_on\":\"2026-09-06\",\"rank\":1"
#define WARD_B                                                                                     \
    "{\"code\":\"31002\",\"name\":\"Xã \\\"Bình\\\"\",\"type\":\"xa\",\"certified_adults\":150," \
    "\"certified_total\":150,\"target\":750,\"target_estimated\":true,\"percent\":20,"             \
    "\"reached_on\":null,\"rank\":2"
#define WARD_C                                                                                         \
    "{\"code\":\"31003\",\"name\":\"Thới Lai, Cần Thơ\",\"type\":\"xa\",\"certified_adults\":25," \
    "\"certified_total\":25,\"target\":250,\"target_estimated\":true,\"percent\":10,"                  \
    "\"reached_on\":null,\"rank\":3"
#define WARD_D                                                                                     \
    "{\"code\":\"31004\",\"name\":\"Xã Đông\",\"type\":\"xa\",\"certified_adults\":0,"          \
    "\"certified_total\":1,\"target\":null,\"target_estimated\":false,\"percent\":null,"           \
    "\"reached_on\":null,\"rank\":4"

static void test_model(const hv_snapshot_t *s)
{
    const hv_view_t *v = now(s);
    CHECK(s->refs == 1 && s->data_hash == 42 && s->as_of == AS_OF);
    CHECK(s->first_year == 2025 && s->current_year == Y && v->year == Y);
    CHECK(v->adults == 192 && v->total == 194);
    CHECK(v->group_adults[1] == 162 && v->group_adults[2] == 5 && v->group_adults[4] == 25);
    CHECK(v->wards_at_target == 1);
    CHECK(hv_view_find(s, v, "31002")->rank == 2);
    CHECK(hv_view_find(s, v, "39999") == NULL);
    /* 2025 saw nothing yet: the same wards, no counts, the default target. */
    const hv_view_t *y25 = hv_snapshot_year(s, 2025);
    CHECK(y25 && y25->adults == 0 && y25->target == 1000 && y25->wards_at_target == 0);
    CHECK(hv_snapshot_year(s, 2024) == NULL && hv_snapshot_year(s, 2027) == NULL);
    CHECK(hv_snapshot_first_day(s, NULL, 0) == D0);
    CHECK(hv_snapshot_first_day(s, "31003", 0) == D0 + 2);
    CHECK(hv_snapshot_first_day(s, "31004", -5) == -5);
    CHECK(hv_snapshot_first_day(s, "39999", -6) == -6);
}

static void test_documents(const hv_snapshot_t *s)
{
    hv_buf_t b;
    char etag[24];

    CHECK_STR(progress_doc(s)->body,
              "{\"year\":2026,\"target\":1000,\"certified_adults\":192,\"certified_total\":194,"
              "\"percent\":19.2,\"remaining\":808,\"by_group\":{\"citizen\":162,\"official\":5,"
              "\"student\":0,\"worker\":25},\"targets\":[],\"wards\":4,\"wards_at_target\":1,"
              "\"as_of\":\"2026-12-01T00:00:00Z\"}");
    hv_etag_of(progress_doc(s)->body, progress_doc(s)->len, etag);
    CHECK_STR(progress_doc(s)->etag, etag);
    CHECK(etag[0] == '"' && strlen(etag) == 18);
    CHECK_STR(wards_doc(s)->body, "{\"year\":2026,\"wards\":[" WARD_A "}," WARD_B "}," WARD_C
                                  "}," WARD_D "}],\"as_of\":\"2026-12-01T00:00:00Z\"}");

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
    CHECK(!hv_render_ward(s, now(s), "39999", D0 + 3, &b));
    CHECK(b.len == 0);
    CHECK(hv_render_ward(s, now(s), "31001", D0 + 3, &b));
    const char *prefix =
        WARD_A ",\"by_group\":{\"citizen\":5,\"official\":5,\"student\":0,"
               "\"worker\":0},\"last_30_days\":[{\"date\":\"2026-08-08\",\"new\":0,"
               "\"cumulative\":0},";
    CHECK(strncmp(b.data, prefix, strlen(prefix)) == 0);
    const char *suffix = "{\"date\":\"2026-09-04\",\"new\":3,\"cumulative\":3},"
                         "{\"date\":\"2026-09-05\",\"new\":0,\"cumulative\":3},"
                         "{\"date\":\"2026-09-06\",\"new\":7,\"cumulative\":10}],"
                         "\"year\":2026,\"as_of\":\"2026-12-01T00:00:00Z\"}";
    CHECK(b.len > strlen(suffix) && strcmp(b.data + b.len - strlen(suffix), suffix) == 0);
    int points = 0;
    for (const char *p = b.data; (p = strstr(p, "\"date\"")); p++)
        points++;
    CHECK(points == 30);

    hv_buf_reset(&b);
    hv_render_wards_csv(s, now(s), AS_OF_DAY, &b);
    CHECK_STR(b.data, "\xEF\xBB\xBF"
                      "rank,code,name,type,certified_adults,certified_total,target,"
                      "target_estimated,percent,reached_on,as_of\r\n"
                      "1,31001,Phường An,phuong,10,11,10,false,100,2026-09-06,2026-12-01\r\n"
                      "2,31002,\"Xã \"\"Bình\"\"\",xa,150,150,750,true,20,,2026-12-01\r\n"
                      "3,31003,\"Thới Lai, Cần Thơ\",xa,25,25,250,true,10,,2026-12-01\r\n"
                      "4,31004,Xã Đông,xa,0,1,,false,,,2026-12-01\r\n");
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
        {"31001", 1, D0, 5, 5},
        {"31002", 1, D0, 5, 5},
    };
    hv_snapshot_t *s = build(t, rows, HV_ARRAY_LEN(rows), NULL, 0, 100, 1);
    const hv_view_t *v = now(s);
    /* Equal percent, reached_on and adults share a rank; the code orders them. */
    CHECK(v->stats[v->ranked[0]].rank == 1 &&
          strcmp(v->stats[v->ranked[0]].ward->code, "31001") == 0);
    CHECK(v->stats[v->ranked[1]].rank == 1);
    CHECK(v->stats[v->ranked[2]].rank == 3);
    hv_snapshot_release(s);

    s = build(hv_wardtab_new(), NULL, 0, NULL, 0, 5, 0);
    CHECK_STR(wards_doc(s)->body,
              "{\"year\":2026,\"wards\":[],\"as_of\":\"2026-12-01T00:00:00Z\"}");
    CHECK(strstr(progress_doc(s)->body, "\"percent\":0,\"remaining\":5,") != NULL);
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
        hv_snapshot_t *s = build(t, NULL, 0, NULL, 0, 10, 0);
        hv_buf_t b;
        char want[128];
        hv_buf_init(&b);
        hv_render_wards_csv(s, now(s), AS_OF_DAY, &b);
        snprintf(want, sizeof(want), "\r\n1,31001,%s,\"'-xa\",0,0,,false,,,", cases[i].cell);
        CHECK_MSG(strstr(b.data, want) != NULL, "%s: %s", cases[i].name, b.data);
        hv_buf_free(&b);
        hv_snapshot_release(s);
    }
}

/* §9: targets by year and group, as of a day, reached_on, ranking and exact percent. */
static void test_targets(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    CHECK(hv_wardtab_add(t, "31001", "A", "phuong", 100, 5) == 0); /* ward-table target 5 */
    CHECK(hv_wardtab_add(t, "31002", "B", "xa", 300, -1) == 0);
    CHECK(hv_wardtab_add(t, "31003", "C", "xa", 100, -1) == 0);
    hv_wardtab_finish(t);
    int32_t d25 = (int32_t)hv_date_to_days((hv_date_t){2025, 10, 1});
    const hv_count_row_t rows[] = {
        {"31001", 1, d25, 4, 4},       /* 2025 */
        {"31001", 2, d25 + 100, 2, 3}, /* 2026-01-09 */
        {"31002", 1, d25 + 10, 3, 3},  /* 2025 */
        {"31002", 3, d25 + 200, 0, 6}, /* pupils, not adults */
        {"31003", 1, d25 + 120, 6, 6}, /* 2026-01-29 */
    };
    const hv_target_t targets[] = {
        {2026, "city", 0, false, 40},                                /* city, all groups, adults */
        {2025, "city", 0, false, 8},    {2026, "city", 3, true, 12}, /* pupils of any age */
        {2026, "city", 2, false, 3},                                 /* officials */
        {2026, "31003", 0, false, 6},   /* imported for the year: wins over the estimate */
        {2025, "31001", 0, false, 4},   /* imported for 2025: wins over the ward table's 5 */
        {2026, "cohort:X", 0, true, -1} /* a cohort share: not the city's */
    };
    hv_snapshot_t *s = build(t, rows, HV_ARRAY_LEN(rows), targets, HV_ARRAY_LEN(targets), 1000, 7);
    const hv_view_t *v26 = hv_snapshot_year(s, 2026), *v25 = hv_snapshot_year(s, 2025);

    /* 2026: city target 40 (imported; not HOCVU_TARGET's 1000). */
    CHECK(v26->target == 40 && v26->adults == 15 && v26->total == 22);
    const hv_ward_stats_t *a = hv_view_find(s, v26, "31001"), *b = hv_view_find(s, v26, "31002"),
                          *c = hv_view_find(s, v26, "31003");
    CHECK(a->target == 5 && !a->target_estimated && a->adults == 6 && a->pct100 == 12000);
    CHECK(a->reached_on == d25 + 100); /* 4 by 2025-10-01, 6 on 2026-01-09 */
    CHECK(b->target == 24 && b->target_estimated && b->pct100 == 1250); /* 40 x 300/500 */
    CHECK(c->target == 6 && !c->target_estimated && c->pct100 == 10000 &&
          c->reached_on == d25 + 120);
    /* Ranking: 120 %, then 100 %, then 10 %. */
    CHECK(a->rank == 1 && c->rank == 2 && b->rank == 3);
    CHECK(v26->wards_at_target == 2);
    /* The city-scope targets of 2026, by group then measure. */
    CHECK(v26->n_targets == 3);
    CHECK(v26->targets[0].grp == 0 && v26->targets[0].certified == 15 &&
          v26->targets[0].pct100 == 3750);
    CHECK(v26->targets[1].grp == 2 && !v26->targets[1].all_ages && v26->targets[1].certified == 2 &&
          v26->targets[1].pct100 == 6667); /* 2/3 = 66.666... -> 66.67 */
    CHECK(v26->targets[2].grp == 3 && v26->targets[2].all_ages && v26->targets[2].certified == 6 &&
          v26->targets[2].pct100 == 5000);
    const char *want26 = "\"targets\":[{\"scope\":\"city\",\"group\":\"all\",\"measure\":"
                         "\"adults\",\"target\":40,\"certified\":15,\"percent\":37.5},{\"scope\":"
                         "\"city\",\"group\":\"official\",\"measure\":\"adults\",\"target\":3,"
                         "\"certified\":2,\"percent\":66.67},{\"scope\":\"city\",\"group\":"
                         "\"student\",\"measure\":\"all\",\"target\":12,\"certified\":6,"
                         "\"percent\":50}]";
    CHECK_MSG(strstr(s->progress_docs[1].body, want26) != NULL, "%s", s->progress_docs[1].body);
    CHECK(strstr(s->progress_docs[1].body, "\"year\":2026,\"target\":40,") != NULL);

    /* 2025, as of its 31 December: only what was attributed to 2025. */
    CHECK(v25->target == 8 && v25->adults == 7 && v25->total == 7);
    a = hv_view_find(s, v25, "31001");
    b = hv_view_find(s, v25, "31002");
    c = hv_view_find(s, v25, "31003");
    CHECK(a->target == 4 && a->adults == 4 && a->pct100 == 10000 && a->reached_on == d25);
    CHECK(b->target == 5 && b->target_estimated && b->pct100 == 6000); /* 8 x 300/500 = 4.8 */
    CHECK(c->adults == 0 && c->target == 2 && c->pct100 == 0 && c->reached_on == HV_NO_DAY);
    CHECK(strstr(s->progress_docs[0].body, "\"targets\":[{\"scope\":\"city\",\"group\":"
                                           "\"all\",\"measure\":\"adults\",\"target\":8,"
                                           "\"certified\":7,\"percent\":87.5}]") != NULL);

    /* As of a day: 2026-01-10 against 2026's targets. */
    hv_view_t *mid = hv_view_build(s, 2026, d25 + 101);
    CHECK(mid->adults == 9 && mid->total == 10);
    CHECK(hv_view_find(s, mid, "31003")->adults == 0);
    CHECK(hv_view_find(s, mid, "31001")->reached_on == d25 + 100);
    hv_view_free(mid);
    hv_snapshot_release(s);

    /* Percent rounds half up, exactly; shared ranks skip (1, 2, 2, 4). */
    CHECK(hv_pct100(1, 3) == 3333 && hv_pct100(2, 3) == 6667 && hv_pct100(1, 8) == 1250);
    CHECK(hv_pct100(1, 20000) == 1 && hv_pct100(1, 20001) == 0 && hv_pct100(5, 0) == -1);
    CHECK(hv_pct100(1000000000, 1) == INT64_C(10000000000000));
    t = hv_wardtab_new();
    CHECK(hv_wardtab_add(t, "31001", "A", "xa", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31002", "B", "xa", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31003", "C", "xa", -1, 10) == 0);
    CHECK(hv_wardtab_add(t, "31004", "D", "xa", -1, 10) == 0);
    hv_wardtab_finish(t);
    const hv_count_row_t tie[] = {
        {"31001", 1, D0, 10, 10},                                   /* 100 %, reached D0 */
        {"31002", 1, D0 - 5, 4, 4},                                 /* 100 %, reached D0: 4 + 6 */
        {"31002", 1, D0, 6, 6},       {"31003", 1, D0 + 1, 10, 10}, /* 100 %, reached a day later */
        {"31004", 1, D0 - 1, 10, 10},                               /* 100 %, reached first */
    };
    s = build(t, tie, HV_ARRAY_LEN(tie), NULL, 0, 100, 3);
    v26 = now(s);
    CHECK(hv_view_find(s, v26, "31004")->rank == 1);
    CHECK(hv_view_find(s, v26, "31001")->rank == 2 && hv_view_find(s, v26, "31002")->rank == 2);
    CHECK(hv_view_find(s, v26, "31003")->rank == 4);
    CHECK(strcmp(v26->stats[v26->ranked[1]].ward->code, "31001") == 0);
    hv_snapshot_release(s);
}

int main(void)
{
    test_targets();
    test_csv_formulas();
    hv_snapshot_t *s = city();
    test_model(s);
    test_documents(s);
    hv_snapshot_release(s);
    test_ties_and_empty();
    CHECK_DONE();
}
