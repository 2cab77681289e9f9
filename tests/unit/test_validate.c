/*
 * test_validate.c - unit tests for validate.c, the validation step of ingest: a body in, a write
 * item or the event's own problem document out. Ward resolution through a hand-built table
 * (current, merged legacy, split legacy, unknown), pseudonymisation (the HMAC of the id, never
 * the id), the idempotency key of single events and batch lines, revocations, and that the raw
 * citizen id appears nowhere in the item. Citizen ids here are made up.
 */
#include <string.h>

#include "check.h"
#include "hocvu/validate.h"

/* 2027-06-01T00:00:00Z */
#define NOW INT64_C(1811808000)
#define PEPPER "unit-test-pepper-unit-test-pepper-0123"
#define CID "092190012345"

#define ISSUED(ward, extra)                                                                        \
    "{\"type\":\"certificate.issued\",\"timestamp\":\"2026-10-10T08:15:00+07:00\",\"data\":{"      \
    "\"citizen_id\":\"" CID "\",\"ward_code\":\"" ward "\",\"group\":\"official\","                \
    "\"certificate_id\":\"C-1\"" extra "}}"

static hv_wardtab_t *table(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    const char *merged[] = {"31135"};
    const char *split[] = {"31120", "31168"};
    CHECK(hv_wardtab_add(t, "31135", "Phường Ninh Kiều", "phuong", 100, -1) == 0);
    CHECK(hv_wardtab_add(t, "31120", "Phường Cái Khế", "phuong", 100, -1) == 0);
    CHECK(hv_wardtab_add(t, "31168", "Phường Bình Thủy", "phuong", 100, -1) == 0);
    CHECK(hv_wardtab_add_legacy(t, "31123", merged, 1, false) == 0);
    CHECK(hv_wardtab_add_legacy(t, "31178", split, 2, true) == 0);
    hv_wardtab_finish(t);
    return t;
}

static bool run(const hv_wardtab_t *t, hv_pseudonymizer_t *ps, const char *body, const char *msg_id,
                char *id_out, hv_write_item_t *it, char masked[16], hv_problem_t *why)
{
    memset(it, 0x5a, sizeof(*it)); /* garbage: everything read must have been written */
    it->cb = NULL;
    it->arg = NULL;
    return hv_validate_event(t, ps, body, strlen(body), NOW, msg_id, id_out != NULL, id_out, it,
                             masked, why);
}

static void test_accepted(hv_wardtab_t *t, hv_pseudonymizer_t *ps)
{
    hv_write_item_t it;
    hv_problem_t why;
    char masked[16], want_hex[65];
    uint8_t want[HV_PSEUDONYM_LEN];

    hv_pseudonymize(ps, CID, 12, want);
    hv_hex_encode(want, sizeof(want), want_hex);

    CHECK(run(t, ps, ISSUED("31135", ",\"birth_date\":\"1990-05-17\",\"score\":86.5"), "msg_1",
              NULL, &it, masked, &why));
    CHECK_STR(it.id, "msg_1");
    CHECK(it.kind == HV_EV_ISSUED);
    CHECK_STR(it.cert_id, "C-1");
    CHECK_STR(it.ward, "31135");
    CHECK(it.grp == HV_GROUP_OFFICIAL);
    CHECK(it.has_ts && it.ts == INT64_C(1791594900));
    CHECK(it.day == 20736); /* 2026-10-10 in Vietnam time */
    CHECK(it.adult);
    CHECK(it.score > 86.4 && it.score < 86.6);
    CHECK(it.course_id[0] == '\0');
    CHECK(!it.lookup_only && it.cb == NULL && it.arg == NULL);
    CHECK_STR(it.person_hex, want_hex);
    CHECK_STR(masked, "092*******45");
    CHECK(memmem(&it, sizeof(it), CID, 12) == NULL);

    /* A pre-2025 code merged wholly into one unit resolves to it. */
    CHECK(run(t, ps, ISSUED("31123", ""), "msg_2", NULL, &it, NULL, &why));
    CHECK_STR(it.ward, "31135");
    CHECK(it.score < 0);

    /* A batch line carries its own id; the header id is not used. */
    char id[HV_EVENT_ID_MAX + 1];
    CHECK(run(t, ps,
              "{\"id\":\"line-7\",\"type\":\"certificate.issued\",\"timestamp\":"
              "\"2026-10-10T08:15:00+07:00\",\"data\":{\"citizen_id\":\"" CID "\",\"ward_code\":"
              "\"31120\",\"group\":\"citizen\",\"certificate_id\":\"C-2\"}}",
              NULL, id, &it, NULL, &why));
    CHECK_STR(id, "line-7");
    CHECK_STR(it.id, "line-7");
    CHECK_STR(it.ward, "31120");

    /* Revocations need no ward: none is stored. */
    CHECK(run(t, ps,
              "{\"type\":\"certificate.revoked\",\"data\":{\"citizen_id\":\"" CID
              "\",\"certificate_id\":\"C-1\"}}",
              "msg_3", NULL, &it, NULL, &why));
    CHECK(it.kind == HV_EV_REVOKED);
    CHECK_STR(it.ward, "");
    CHECK(it.grp == 0 && !it.has_ts);
    CHECK_STR(it.person_hex, want_hex);
}

static void test_refused(hv_wardtab_t *t, hv_pseudonymizer_t *ps)
{
    static const struct {
        const char *body;
        int status;
        const char *code, *field;
        int n_candidates;
    } cases[] = {
        {ISSUED("99999", ""), 422, "unknown_ward", "data.ward_code", 0},
        {ISSUED("3113", ""), 422, "unknown_ward", "data.ward_code", 0},
        {ISSUED("31178", ""), 422, "ambiguous_ward", "data.ward_code", 2},
        {"{\"type\":", 400, "invalid_json", NULL, 0},
        {"[]", 400, "invalid_event", NULL, 0},
        {ISSUED("31135", ",\"birth_date\":\"1991-01-01\""), 422, "invalid_birth_date",
         "data.birth_date", 0},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        hv_write_item_t it;
        hv_problem_t why;
        memset(&why, 0, sizeof(why));
        bool ok = run(t, ps, cases[i].body, "m", NULL, &it, NULL, &why);
        CHECK_MSG(!ok, "case %zu accepted", i);
        if (ok)
            continue;
        CHECK_MSG(why.status == cases[i].status, "case %zu: status %d", i, why.status);
        CHECK_STR(why.code, cases[i].code);
        CHECK_MSG((why.field == NULL) == (cases[i].field == NULL) &&
                      (!why.field || strcmp(why.field, cases[i].field) == 0),
                  "case %zu: field %s", i, why.field ? why.field : "(null)");
        CHECK(why.n_candidates == cases[i].n_candidates);
        CHECK(why.detail[0] != '\0');
    }
    hv_problem_t why;
    hv_write_item_t it;
    CHECK(!run(t, ps, ISSUED("31178", ""), "m", NULL, &it, NULL, &why));
    CHECK_STR(why.candidates[0], "31120");
    CHECK_STR(why.candidates[1], "31168");

    /* A refused batch line still names its id. */
    char id[HV_EVENT_ID_MAX + 1];
    CHECK(!run(t, ps,
               "{\"id\":\"bad-1\",\"type\":\"certificate.issued\",\"timestamp\":"
               "\"2026-10-10T08:15:00+07:00\",\"data\":{\"citizen_id\":\"" CID "\",\"ward_code\":"
               "\"00000\",\"group\":\"citizen\",\"certificate_id\":\"C-3\"}}",
               NULL, id, &it, NULL, &why));
    CHECK_STR(id, "bad-1");
    CHECK_STR(why.code, "unknown_ward");
}

int main(void)
{
    hv_wardtab_t *t = table();
    hv_pseudonymizer_t *ps = hv_pseudonymizer_new(PEPPER, strlen(PEPPER));
    test_accepted(t, ps);
    test_refused(t, ps);
    hv_pseudonymizer_free(ps);
    hv_wardtab_free(t);
    CHECK_DONE();
}
