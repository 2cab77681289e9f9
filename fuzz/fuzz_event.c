/*
 * fuzz_event.c - libFuzzer target for the event JSON validator: every refusal is a contract
 * (status, code, field); every accepted event, re-serialised canonically, parses to the same event;
 * and the one-pass scanner, wherever it takes a body, answers exactly as jansson does.
 */
#include <inttypes.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/citizen.h"
#include "hocvu/event.h"

/* 2027-06-01T00:00:00Z, as in tests/unit/test_event.c, so the contract example is accepted. */
#define NOW INT64_C(1811808000)

static bool in_set(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s == NULL ? set[i] == NULL : set[i] != NULL && strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* Every (status, code) pair event.c may answer; the contract's §4 table plus invalid_birth_date
 * (the table names the birth-date rule without a code) and 422 invalid_event for bad values. */
static void check_error(const hv_event_error_t *err, const hv_event_t *ev)
{
    static const char *const codes400[] = {"invalid_json", "invalid_event"};
    static const char *const codes422[] = {"invalid_event",      "invalid_citizen_id",
                                           "invalid_group",      "invalid_timestamp",
                                           "invalid_birth_date", "invalid_supporter"};
    static const char *const fields[] = {
        NULL,
        "id",
        "type",
        "data",
        "timestamp",
        "data.citizen_id",
        "data.certificate_id",
        "data.ward_code",
        "data.group",
        "data.birth_date",
        "data.course_id",
        "data.score",
        "data.supporter",
    };
    FUZZ_ASSERT(err->status == 400 || err->status == 422);
    FUZZ_ASSERT(err->code != NULL);
    if (err->status == 400)
        FUZZ_ASSERT(in_set(err->code, codes400, HV_ARRAY_LEN(codes400)));
    else
        FUZZ_ASSERT(in_set(err->code, codes422, HV_ARRAY_LEN(codes422)));
    FUZZ_ASSERT(in_set(err->field, fields, HV_ARRAY_LEN(fields)));
    /* invalid_json is about the document, never one field */
    if (strcmp(err->code, "invalid_json") == 0)
        FUZZ_ASSERT(err->field == NULL);
    /* the detail may be logged: printable ASCII, terminated, never an echo of the input */
    size_t dn = strnlen(err->detail, sizeof(err->detail));
    FUZZ_ASSERT(dn > 0 && dn < sizeof(err->detail));
    for (size_t i = 0; i < dn; i++)
        FUZZ_ASSERT(err->detail[i] >= 0x20 && err->detail[i] < 0x7F);
    /* a refused event leaves no raw citizen id behind */
    for (size_t i = 0; i < sizeof(ev->citizen_id); i++)
        FUZZ_ASSERT(ev->citizen_id[i] == '\0');
}

/* What an accepted event must look like, independently of how it was parsed. */
static void check_event(const hv_event_t *ev)
{
    FUZZ_ASSERT(ev->kind == HV_EV_ISSUED || ev->kind == HV_EV_REVOKED);
    int by;
    FUZZ_ASSERT(strlen(ev->citizen_id) == HV_CITIZEN_LEN);
    FUZZ_ASSERT(hv_citizen_valid(ev->citizen_id, HV_CITIZEN_LEN, 9999, &by) &&
                by == ev->birth_year);
    size_t cn = strlen(ev->cert_id);
    FUZZ_ASSERT(cn >= 1 && cn <= HV_CERT_ID_MAX);
    for (size_t i = 0; i < cn; i++)
        FUZZ_ASSERT(ev->cert_id[i] >= 0x20 && ev->cert_id[i] < 0x7F);
    FUZZ_ASSERT(strlen(ev->ward_code) < sizeof(ev->ward_code));
    FUZZ_ASSERT(strlen(ev->course_id) <= HV_COURSE_ID_MAX);
    FUZZ_ASSERT(ev->score == -1 || (ev->score >= 0 && ev->score <= 100));
    if (ev->has_ts) {
        FUZZ_ASSERT(ev->ts >= HV_EVENT_MIN_TS && ev->ts <= NOW + HV_EVENT_MAX_FUTURE);
        hv_date_t d = hv_time_vn_date(ev->ts);
        FUZZ_ASSERT(d.year == ev->day.year && d.month == ev->day.month && d.day == ev->day.day);
        FUZZ_ASSERT(ev->birth_year <= ev->day.year);
    }
    if (ev->has_birth_date)
        FUZZ_ASSERT(ev->birth_date.year == ev->birth_year);
    if (ev->kind == HV_EV_ISSUED) {
        FUZZ_ASSERT(ev->has_ts);
        FUZZ_ASSERT(ev->group >= HV_GROUP_CITIZEN && ev->group <= HV_GROUP_WORKER);
        FUZZ_ASSERT(*hv_group_name(ev->group));
        /* the adult rule, restated: exact date with birth_date, else by years */
        int age = ev->day.year - ev->birth_year;
        if (ev->has_birth_date &&
            (ev->day.month < ev->birth_date.month ||
             (ev->day.month == ev->birth_date.month && ev->day.day < ev->birth_date.day)))
            age--;
        FUZZ_ASSERT(ev->adult == (age >= 18));
    } else {
        FUZZ_ASSERT(ev->group == HV_GROUP_NONE && ev->ward_code[0] == '\0' && !ev->adult);
    }
}

/* The accepted event as the canonical JSON a sender could have sent for it. */
static void serialise(const hv_event_t *ev, const char *id, hv_buf_t *b)
{
    char tmp[32];
    hv_buf_puts(b, "{");
    if (id) {
        hv_buf_puts(b, "\"id\":");
        hv_buf_json_str(b, id, strlen(id));
        hv_buf_puts(b, ",");
    }
    hv_buf_printf(b, "\"type\":\"%s\"",
                  ev->kind == HV_EV_ISSUED ? "certificate.issued" : "certificate.revoked");
    if (ev->has_ts) {
        hv_time_format_utc(ev->ts, tmp);
        hv_buf_printf(b, ",\"timestamp\":\"%s\"", tmp);
    }
    hv_buf_printf(b, ",\"data\":{\"citizen_id\":\"%s\",\"certificate_id\":", ev->citizen_id);
    hv_buf_json_str(b, ev->cert_id, strlen(ev->cert_id));
    if (ev->kind == HV_EV_ISSUED) {
        hv_buf_puts(b, ",\"ward_code\":");
        hv_buf_json_str(b, ev->ward_code, strlen(ev->ward_code));
        hv_buf_printf(b, ",\"group\":\"%s\"", hv_group_name(ev->group));
    }
    if (ev->has_birth_date) {
        hv_date_format(ev->birth_date, tmp);
        hv_buf_printf(b, ",\"birth_date\":\"%s\"", tmp);
    }
    if (ev->course_id[0]) {
        hv_buf_puts(b, ",\"course_id\":");
        hv_buf_json_str(b, ev->course_id, strlen(ev->course_id));
    }
    if (ev->score >= 0)
        hv_buf_printf(b, ",\"score\":%.17g", ev->score);
    if (ev->supporter[0]) {
        hv_buf_puts(b, ",\"supporter\":");
        hv_buf_json_str(b, ev->supporter, strlen(ev->supporter));
    }
    hv_buf_puts(b, "}}");
}

static bool same_event(const hv_event_t *a, const hv_event_t *b)
{
    return a->kind == b->kind && a->ts == b->ts && a->has_ts == b->has_ts &&
           strcmp(a->citizen_id, b->citizen_id) == 0 && strcmp(a->ward_code, b->ward_code) == 0 &&
           a->group == b->group && strcmp(a->cert_id, b->cert_id) == 0 &&
           a->has_birth_date == b->has_birth_date &&
           (!a->has_birth_date || (a->birth_date.year == b->birth_date.year &&
                                   a->birth_date.month == b->birth_date.month &&
                                   a->birth_date.day == b->birth_date.day)) &&
           a->birth_year == b->birth_year && strcmp(a->course_id, b->course_id) == 0 &&
           a->score == b->score && strcmp(a->supporter, b->supporter) == 0 &&
           a->adult == b->adult && a->day.year == b->day.year && a->day.month == b->day.month &&
           a->day.day == b->day.day;
}

static void run(const char *body, size_t len, bool want_id)
{
    hv_event_t ev, ev2;
    hv_event_error_t err, err2;
    char id[HV_EVENT_ID_MAX + 1], id2[HV_EVENT_ID_MAX + 1];

    bool ok = hv_event_parse(body, len, NOW, want_id, id, &ev, &err);
    if (!ok) {
        check_error(&err, &ev);
        /* deterministic: the same body is refused the same way */
        FUZZ_ASSERT(!hv_event_parse(body, len, NOW, want_id, id2, &ev2, &err2));
        FUZZ_ASSERT(err.status == err2.status && strcmp(err.code, err2.code) == 0 &&
                    err.field == err2.field);
        return;
    }
    check_event(&ev);
    if (want_id) {
        size_t n = strlen(id);
        FUZZ_ASSERT(n >= 1 && n <= HV_EVENT_ID_MAX);
    }

    hv_buf_t b;
    hv_buf_init(&b);
    serialise(&ev, want_id ? id : NULL, &b);
    char *copy = fuzz_dup_exact(b.data, b.len);
    bool ok2 = hv_event_parse(copy, b.len, NOW, want_id, id2, &ev2, &err2);
    if (!ok2)
        fprintf(stderr, "re-serialised event refused: %s %s: %.*s\n", err2.code,
                err2.field ? err2.field : "-", (int)b.len, b.data);
    FUZZ_ASSERT(ok2);
    FUZZ_ASSERT(same_event(&ev, &ev2));
    if (want_id)
        FUZZ_ASSERT(strcmp(id, id2) == 0);
    free(copy);
    hv_buf_free(&b);
    hv_event_wipe(&ev);
    FUZZ_ASSERT(ev.citizen_id[0] == '\0' && ev.citizen_id[HV_CITIZEN_LEN - 1] == '\0');
}

/* hv_event_parse (the scanner when it takes the body) against hv_event_parse_general (always
 * jansson): the same verdict, refusal, event and id, byte for byte. */
static void same_as_general(const char *body, size_t len, bool want_id)
{
    hv_event_t a, b;
    hv_event_error_t ea, eb;
    char ida[HV_EVENT_ID_MAX + 1], idb[HV_EVENT_ID_MAX + 1];

    bool oka = hv_event_parse(body, len, NOW, want_id, ida, &a, &ea);
    bool okb = hv_event_parse_general(body, len, NOW, want_id, idb, &b, &eb);
    if (oka != okb || memcmp(&a, &b, sizeof(a)) != 0)
        fprintf(stderr, "scanner and jansson disagree: %d %s / %d %s: %.*s\n", oka,
                oka ? "" : ea.code, okb, okb ? "" : eb.code, (int)len, body);
    FUZZ_ASSERT(oka == okb);
    FUZZ_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
    if (want_id)
        FUZZ_ASSERT(strcmp(ida, idb) == 0);
    if (!oka)
        FUZZ_ASSERT(ea.status == eb.status && strcmp(ea.code, eb.code) == 0 &&
                    ea.field == eb.field && strcmp(ea.detail, eb.detail) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzz_dup_exact(data, size);
    hv_event_t ev_plain, ev_id;
    hv_event_error_t e1, e2;
    char id[HV_EVENT_ID_MAX + 1];

    run(body, size, false);
    run(body, size, true);
    if (hv_event_scannable(body, size)) {
        same_as_general(body, size, false);
        same_as_general(body, size, true);
    }
    /* a batch line (want_id) is the single-event rules plus an id: never accepted where the
     * single event is refused, and when accepted it is the same event */
    bool ok_id = hv_event_parse(body, size, NOW, true, id, &ev_id, &e2);
    bool ok_plain = hv_event_parse(body, size, NOW, false, NULL, &ev_plain, &e1);
    if (ok_id) {
        FUZZ_ASSERT(ok_plain);
        FUZZ_ASSERT(same_event(&ev_id, &ev_plain));
    }
    if (!ok_plain && ok_id == false && strcmp(e1.code, "invalid_json") == 0)
        FUZZ_ASSERT(strcmp(e2.code, "invalid_json") == 0);
    free(body);
    return 0;
}
