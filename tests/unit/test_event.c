/*
 * test_event.c - unit tests for event.c: a table of bodies → (status, code, field) covering every
 * rule of CONTRACT §4, the adult rule's edge cases, and the values copied into hv_event_t.
 * Citizen ids here are made up.
 */
#include <string.h>

#include "check.h"
#include "hocvu/event.h"

/* 2027-06-01T00:00:00Z */
#define NOW INT64_C(1811808000)

#define TS "2026-10-10T08:15:00+07:00"
#define CID "\"citizen_id\":\"092190012345\""
#define CERT "\"certificate_id\":\"BDHVS-2026-000123\""
#define WARD "\"ward_code\":\"31135\""
#define GROUP "\"group\":\"citizen\""
#define BASE CID "," WARD "," GROUP "," CERT
#define ISSUED_AT(ts, data)                                                                        \
    "{\"type\":\"certificate.issued\",\"timestamp\":\"" ts "\",\"data\":{" data "}}"
#define ISSUED(data) ISSUED_AT(TS, data)
#define REVOKED(data) "{\"type\":\"certificate.revoked\",\"data\":{" data "}}"
#define WITH_ID(id, rest)                                                                          \
    "{\"id\":" id ",\"type\":\"certificate.issued\",\"timestamp\":\"" TS "\",\"data\":{" rest "}}"

#define S16 "0123456789abcdef"
#define S64 S16 S16 S16 S16
#define S128 S64 S64
#define S256 S128 S128

typedef struct event_case {
    const char *name;
    const char *body;
    bool want_id;
    int status; /* 0 = accepted */
    const char *code;
    const char *field;
} event_case_t;

static const event_case_t cases[] = {
    /* accepted */
    {"contract example",
     ISSUED(CID "," WARD "," GROUP "," CERT ",\"birth_date\":\"1990-05-17\","
                "\"course_id\":\"kns-co-ban\",\"score\":86"),
     false, 0, NULL, NULL},
    {"minimal issued", ISSUED(BASE), false, 0, NULL, NULL},
    {"revoked minimal", REVOKED(CID "," CERT), false, 0, NULL, NULL},
    {"revoked with timestamp",
     "{\"type\":\"certificate.revoked\",\"timestamp\":\"" TS "\",\"data\":{" CID "," CERT "}}",
     false, 0, NULL, NULL},
    {"revoked ignores ward and group", REVOKED(CID "," CERT ",\"ward_code\":1,\"group\":[]"), false,
     0, NULL, NULL},
    {"unknown fields ignored",
     "{\"type\":\"certificate.issued\",\"extra\":{\"a\":[1,2]},\"timestamp\":\"" TS "\","
     "\"data\":{" BASE ",\"note\":\"x\",\"n\":null}}",
     false, 0, NULL, NULL},
    {"score 0", ISSUED(BASE ",\"score\":0"), false, 0, NULL, NULL},
    {"score 100.0", ISSUED(BASE ",\"score\":100.0"), false, 0, NULL, NULL},
    {"course id 128 bytes", ISSUED(BASE ",\"course_id\":\"" S128 "\""), false, 0, NULL, NULL},
    {"certificate id 64 bytes", ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":\"" S64 "\""),
     false, 0, NULL, NULL},
    {"timestamp Z and fraction", ISSUED_AT("2026-10-10T01:15:00.123Z", BASE), false, 0, NULL, NULL},
    {"timestamp 2025-01-01", ISSUED_AT("2025-01-01T00:00:00Z", BASE), false, 0, NULL, NULL},
    {"timestamp now+300", ISSUED_AT("2027-06-01T00:05:00Z", BASE), false, 0, NULL, NULL},
    {"unknown ward is the caller's business", ISSUED(CID ",\"ward_code\":\"99\"," GROUP "," CERT),
     false, 0, NULL, NULL},

    /* 400 invalid_json */
    {"empty body", "", false, 400, "invalid_json", NULL},
    {"truncated", "{\"type\":", false, 400, "invalid_json", NULL},
    {"not json", "type=certificate.issued", false, 400, "invalid_json", NULL},
    {"trailing content", ISSUED(BASE) " {}", false, 400, "invalid_json", NULL},
    {"invalid utf-8", ISSUED(BASE ",\"note\":\"\xff\""), false, 400, "invalid_json", NULL},
    {"nul in string", ISSUED(BASE ",\"note\":\"a\\u0000b\""), false, 400, "invalid_json", NULL},

    /* 400 invalid_event: shape */
    {"array", "[]", false, 400, "invalid_event", NULL},
    {"number", "42", false, 400, "invalid_event", NULL},
    {"string", "\"certificate.issued\"", false, 400, "invalid_event", NULL},
    {"null", "null", false, 400, "invalid_event", NULL},
    {"type missing", "{\"timestamp\":\"" TS "\",\"data\":{" BASE "}}", false, 400, "invalid_event",
     "type"},
    {"type not string", "{\"type\":1,\"data\":{" BASE "}}", false, 400, "invalid_event", "type"},
    {"type unknown", "{\"type\":\"certificate.updated\",\"data\":{" BASE "}}", false, 400,
     "invalid_event", "type"},
    {"type wrong case", "{\"type\":\"Certificate.Issued\",\"data\":{" BASE "}}", false, 400,
     "invalid_event", "type"},
    {"data missing", "{\"type\":\"certificate.issued\",\"timestamp\":\"" TS "\"}", false, 400,
     "invalid_event", "data"},
    {"data array", "{\"type\":\"certificate.issued\",\"timestamp\":\"" TS "\",\"data\":[]}", false,
     400, "invalid_event", "data"},
    {"data null", "{\"type\":\"certificate.revoked\",\"data\":null}", false, 400, "invalid_event",
     "data"},
    {"issued without timestamp", "{\"type\":\"certificate.issued\",\"data\":{" BASE "}}", false,
     400, "invalid_event", "timestamp"},
    {"timestamp number",
     "{\"type\":\"certificate.issued\",\"timestamp\":1791594900,\"data\":{" BASE "}}", false, 400,
     "invalid_event", "timestamp"},
    /* An explicit null on an optional member means absent. */
    {"revoked timestamp null",
     "{\"type\":\"certificate.revoked\",\"timestamp\":null,\"data\":{" CID "," CERT "}}", false, 0,
     NULL, NULL},
    {"issued timestamp null",
     "{\"type\":\"certificate.issued\",\"timestamp\":null,\"data\":{" BASE "}}", false, 400,
     "invalid_event", "timestamp"},
    {"birth date null", ISSUED(BASE ",\"birth_date\":null"), false, 0, NULL, NULL},
    {"course id null", ISSUED(BASE ",\"course_id\":null"), false, 0, NULL, NULL},

    /* 400 invalid_event: data fields */
    {"citizen id missing", ISSUED(WARD "," GROUP "," CERT), false, 400, "invalid_event",
     "data.citizen_id"},
    {"citizen id number", ISSUED("\"citizen_id\":92190012345," WARD "," GROUP "," CERT), false, 400,
     "invalid_event", "data.citizen_id"},
    {"revoked citizen id missing", REVOKED(CERT), false, 400, "invalid_event", "data.citizen_id"},
    {"certificate id missing", ISSUED(CID "," WARD "," GROUP), false, 400, "invalid_event",
     "data.certificate_id"},
    {"certificate id number", ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":123"), false, 400,
     "invalid_event", "data.certificate_id"},
    {"revoked certificate id missing", REVOKED(CID), false, 400, "invalid_event",
     "data.certificate_id"},
    {"ward missing", ISSUED(CID "," GROUP "," CERT), false, 400, "invalid_event", "data.ward_code"},
    {"ward number", ISSUED(CID ",\"ward_code\":31135," GROUP "," CERT), false, 400, "invalid_event",
     "data.ward_code"},
    {"group missing", ISSUED(CID "," WARD "," CERT), false, 400, "invalid_event", "data.group"},
    {"group number", ISSUED(CID "," WARD ",\"group\":1," CERT), false, 400, "invalid_event",
     "data.group"},
    {"birth date number", ISSUED(BASE ",\"birth_date\":19900517"), false, 400, "invalid_event",
     "data.birth_date"},
    {"course id number", ISSUED(BASE ",\"course_id\":7"), false, 400, "invalid_event",
     "data.course_id"},
    {"score string", ISSUED(BASE ",\"score\":\"86\""), false, 400, "invalid_event", "data.score"},
    {"score bool", ISSUED(BASE ",\"score\":true"), false, 400, "invalid_event", "data.score"},
    {"score null", ISSUED(BASE ",\"score\":null"), false, 0, NULL, NULL},

    /* 422 invalid_timestamp */
    {"timestamp date only", ISSUED_AT("2026-10-10", BASE), false, 422, "invalid_timestamp",
     "timestamp"},
    {"timestamp no offset", ISSUED_AT("2026-10-10T08:15:00", BASE), false, 422, "invalid_timestamp",
     "timestamp"},
    {"timestamp not a day", ISSUED_AT("2026-02-29T08:15:00Z", BASE), false, 422,
     "invalid_timestamp", "timestamp"},
    {"timestamp garbage", ISSUED_AT("yesterday", BASE), false, 422, "invalid_timestamp",
     "timestamp"},
    /* 2024-12-31T23:59:59Z is already 2025-01-01 in Vietnam. */
    {"timestamp 2025 in Vietnam, 2024 in UTC", ISSUED_AT("2024-12-31T23:59:59Z", BASE), false, 0,
     NULL, NULL},
    {"timestamp before 2025 in Vietnam", ISSUED_AT("2024-12-31T16:59:59Z", BASE), false, 422,
     "invalid_timestamp", "timestamp"},
    {"timestamp 2025-01-01 midnight in Vietnam", ISSUED_AT("2025-01-01T00:00:00+07:00", BASE),
     false, 0, NULL, NULL},
    {"timestamp 2024-12-31 late in Vietnam", ISSUED_AT("2024-12-31T23:59:59+07:00", BASE), false,
     422, "invalid_timestamp", "timestamp"},
    {"timestamp now+301", ISSUED_AT("2027-06-01T00:05:01Z", BASE), false, 422, "invalid_timestamp",
     "timestamp"},
    {"revoked bad timestamp",
     "{\"type\":\"certificate.revoked\",\"timestamp\":\"soon\",\"data\":{" CID "," CERT "}}", false,
     422, "invalid_timestamp", "timestamp"},

    /* 422 invalid_citizen_id */
    {"citizen id 11 digits", ISSUED("\"citizen_id\":\"09219001234\"," WARD "," GROUP "," CERT),
     false, 422, "invalid_citizen_id", "data.citizen_id"},
    {"citizen id letter", ISSUED("\"citizen_id\":\"09219001234x\"," WARD "," GROUP "," CERT), false,
     422, "invalid_citizen_id", "data.citizen_id"},
    {"citizen id unknown province",
     ISSUED("\"citizen_id\":\"003190012345\"," WARD "," GROUP "," CERT), false, 422,
     "invalid_citizen_id", "data.citizen_id"},
    {"citizen born after the event year",
     ISSUED("\"citizen_id\":\"092327012345\"," WARD "," GROUP "," CERT), false, 422,
     "invalid_citizen_id", "data.citizen_id"},
    {"revoked without timestamp uses now's year", REVOKED("\"citizen_id\":\"092327012345\"," CERT),
     false, 0, NULL, NULL},
    {"revoked without timestamp, born after now's year",
     REVOKED("\"citizen_id\":\"092328012345\"," CERT), false, 422, "invalid_citizen_id",
     "data.citizen_id"},

    /* 422 invalid_group */
    {"group unknown", ISSUED(CID "," WARD ",\"group\":\"teacher\"," CERT), false, 422,
     "invalid_group", "data.group"},
    {"group wrong case", ISSUED(CID "," WARD ",\"group\":\"Citizen\"," CERT), false, 422,
     "invalid_group", "data.group"},
    {"group empty", ISSUED(CID "," WARD ",\"group\":\"\"," CERT), false, 422, "invalid_group",
     "data.group"},

    /* 422 invalid_event: certificate id */
    {"certificate id empty", ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":\"\""), false, 422,
     "invalid_event", "data.certificate_id"},
    {"certificate id 65 bytes", ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":\"" S64 "x\""),
     false, 422, "invalid_event", "data.certificate_id"},
    {"certificate id tab", ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":\"A\\tB\""), false,
     422, "invalid_event", "data.certificate_id"},
    {"certificate id non-ascii",
     ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":\"Chứng-chỉ-1\""), false, 422,
     "invalid_event", "data.certificate_id"},
    {"revoked certificate id empty", REVOKED(CID ",\"certificate_id\":\"\""), false, 422,
     "invalid_event", "data.certificate_id"},

    /* 422 invalid_birth_date */
    {"birth date malformed", ISSUED(BASE ",\"birth_date\":\"1990-5-17\""), false, 422,
     "invalid_birth_date", "data.birth_date"},
    {"birth date impossible", ISSUED(BASE ",\"birth_date\":\"1990-02-30\""), false, 422,
     "invalid_birth_date", "data.birth_date"},
    {"birth date with time", ISSUED(BASE ",\"birth_date\":\"1990-05-17T00:00:00Z\""), false, 422,
     "invalid_birth_date", "data.birth_date"},
    {"birth year disagrees with id", ISSUED(BASE ",\"birth_date\":\"1991-05-17\""), false, 422,
     "invalid_birth_date", "data.birth_date"},
    {"birth date after certificate",
     ISSUED("\"citizen_id\":\"092326012345\"," WARD "," GROUP "," CERT
            ",\"birth_date\":\"2026-10-11\""),
     false, 422, "invalid_birth_date", "data.birth_date"},
    {"birth date on certificate day",
     ISSUED("\"citizen_id\":\"092326012345\"," WARD "," GROUP "," CERT
            ",\"birth_date\":\"2026-10-10\""),
     false, 0, NULL, NULL},

    /* 422 invalid_event: course id and score */
    {"course id 129 bytes", ISSUED(BASE ",\"course_id\":\"" S128 "x\""), false, 422,
     "invalid_event", "data.course_id"},
    {"score negative", ISSUED(BASE ",\"score\":-1"), false, 422, "invalid_event", "data.score"},
    {"score above 100", ISSUED(BASE ",\"score\":100.5"), false, 422, "invalid_event", "data.score"},
    {"score exponent", ISSUED(BASE ",\"score\":1e3"), false, 422, "invalid_event", "data.score"},

    /* order: every 400 before any 422, then the documented 422 order */
    {"missing group beats bad timestamp", ISSUED_AT("garbage", CID "," WARD "," CERT), false, 400,
     "invalid_event", "data.group"},
    {"bad timestamp beats bad citizen id",
     ISSUED_AT("garbage", "\"citizen_id\":\"1\"," WARD "," GROUP "," CERT), false, 422,
     "invalid_timestamp", "timestamp"},
    {"bad citizen id beats bad group",
     ISSUED("\"citizen_id\":\"1\"," WARD ",\"group\":\"x\"," CERT), false, 422,
     "invalid_citizen_id", "data.citizen_id"},
    {"bad group beats bad certificate id",
     ISSUED(CID "," WARD ",\"group\":\"x\",\"certificate_id\":\"\""), false, 422, "invalid_group",
     "data.group"},
    {"bad certificate id beats bad birth date",
     ISSUED(CID "," WARD "," GROUP ",\"certificate_id\":\"\",\"birth_date\":\"x\""), false, 422,
     "invalid_event", "data.certificate_id"},
    {"bad birth date beats bad score", ISSUED(BASE ",\"birth_date\":\"x\",\"score\":101"), false,
     422, "invalid_birth_date", "data.birth_date"},

    /* want_id (batch lines) */
    {"id ok", WITH_ID("\"evt-1\"", BASE), true, 0, NULL, NULL},
    {"id printable ascii", WITH_ID("\"!\\\"#{},~\"", BASE), true, 0, NULL, NULL},
    {"id 256 bytes", WITH_ID("\"" S256 "\"", BASE), true, 0, NULL, NULL},
    {"id ignored without want_id", WITH_ID("5", BASE), false, 0, NULL, NULL},
    {"id missing", ISSUED(BASE), true, 400, "invalid_event", "id"},
    {"id empty", WITH_ID("\"\"", BASE), true, 400, "invalid_event", "id"},
    {"id number", WITH_ID("5", BASE), true, 400, "invalid_event", "id"},
    {"id control character", WITH_ID("\"a\\nb\"", BASE), true, 400, "invalid_event", "id"},
    {"id del character", WITH_ID("\"a\\u007fb\"", BASE), true, 400, "invalid_event", "id"},
    {"id 257 bytes", WITH_ID("\"" S256 "x\"", BASE), true, 400, "invalid_event", "id"},
    /* CONTRACT §5: a line id follows the webhook-id rule, 0x21-0x7E only */
    {"id unicode", WITH_ID("\"sự-kiện-1\"", BASE), true, 400, "invalid_event", "id"},
    {"id space", WITH_ID("\"a b\"", BASE), true, 400, "invalid_event", "id"},
    {"id nbsp", WITH_ID("\"a\\u00a0b\"", BASE), true, 400, "invalid_event", "id"},
    {"invalid json with want_id", "{", true, 400, "invalid_json", NULL},
    /* CONTRACT §4: a repeated member name, at any depth, is invalid_json */
    {"duplicate top-level key",
     "{\"type\":\"certificate.revoked\",\"type\":\"certificate.issued\",\"timestamp\":\"" TS
     "\",\"data\":{" BASE "}}",
     false, 400, "invalid_json", NULL},
    {"duplicate data key", ISSUED(BASE ",\"ward_code\":\"31120\""), false, 400, "invalid_json",
     NULL},
    {"duplicate key deep inside an ignored member",
     "{\"type\":\"certificate.issued\",\"extra\":{\"a\":1,\"a\":2},\"timestamp\":\"" TS
     "\",\"data\":{" BASE "}}",
     false, 400, "invalid_json", NULL},
    {"duplicate id in a batch line", WITH_ID("\"a\",\"id\":\"b\"", BASE), true, 400, "invalid_json",
     NULL},
};

static bool same_field(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The one-pass scanner and jansson must give the same answer for every body the scanner takes:
 * the same verdict, the same refusal (to the detail), the same event and id. */
static int scanned;

static void check_both_paths(const event_case_t *c)
{
    hv_event_t a, b;
    hv_event_error_t ea, eb;
    char ida[HV_EVENT_ID_MAX + 1], idb[HV_EVENT_ID_MAX + 1];
    size_t len = strlen(c->body);

    if (hv_event_scannable(c->body, len))
        scanned++;
    bool oka = hv_event_parse(c->body, len, NOW, c->want_id, ida, &a, &ea);
    bool okb = hv_event_parse_general(c->body, len, NOW, c->want_id, idb, &b, &eb);
    CHECK_MSG(oka == okb, "%s: scanner %d, jansson %d", c->name, oka, okb);
    if (oka != okb)
        return;
    CHECK_MSG(memcmp(&a, &b, sizeof(a)) == 0, "%s: the two paths made different events", c->name);
    if (c->want_id)
        CHECK_MSG(strcmp(ida, idb) == 0, "%s: ids differ", c->name);
    if (!oka)
        CHECK_MSG(ea.status == eb.status && strcmp(ea.code, eb.code) == 0 &&
                      same_field(ea.field, eb.field) && strcmp(ea.detail, eb.detail) == 0,
                  "%s: scanner %d %s %s, jansson %d %s %s", c->name, ea.status, ea.code, ea.detail,
                  eb.status, eb.code, eb.detail);
}

static void test_table(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        const event_case_t *c = &cases[i];
        hv_event_t ev;
        hv_event_error_t err;
        char id[HV_EVENT_ID_MAX + 1];
        check_both_paths(c);
        bool ok = hv_event_parse(c->body, strlen(c->body), NOW, c->want_id, id, &ev, &err);
        if (c->status == 0) {
            CHECK_MSG(ok, "%s: refused %d %s %s: %s", c->name, err.status, err.code,
                      err.field ? err.field : "-", err.detail);
            continue;
        }
        CHECK_MSG(!ok, "%s: accepted", c->name);
        if (ok)
            continue;
        CHECK_MSG(err.status == c->status && strcmp(err.code, c->code) == 0 &&
                      same_field(err.field, c->field),
                  "%s: got %d %s %s (%s), want %d %s %s", c->name, err.status, err.code,
                  err.field ? err.field : "-", err.detail, c->status, c->code,
                  c->field ? c->field : "-");
        CHECK_MSG(err.detail[0] != '\0', "%s: empty detail", c->name);
        CHECK_MSG(strstr(err.detail, "092190012345") == NULL, "%s: detail leaks the id", c->name);
        CHECK_MSG(ev.citizen_id[0] == '\0', "%s: citizen id left behind", c->name);
    }
}

static void test_values(void)
{
    static const char body[] =
        ISSUED(CID "," WARD ",\"group\":\"student\"," CERT ",\"birth_date\":\"1990-05-17\","
                   "\"course_id\":\"kns-co-ban\",\"score\":86.5");
    hv_event_t ev;
    hv_event_error_t err;
    CHECK(hv_event_parse(body, sizeof(body) - 1, NOW, false, NULL, &ev, &err));
    CHECK(ev.kind == HV_EV_ISSUED);
    CHECK(ev.has_ts && ev.ts == 1791594900);
    CHECK_STR(ev.citizen_id, "092190012345");
    CHECK_STR(ev.ward_code, "31135");
    CHECK(ev.group == HV_GROUP_STUDENT);
    CHECK_STR(ev.cert_id, "BDHVS-2026-000123");
    CHECK(ev.has_birth_date && ev.birth_date.year == 1990 && ev.birth_date.month == 5 &&
          ev.birth_date.day == 17);
    CHECK(ev.birth_year == 1990);
    CHECK_STR(ev.course_id, "kns-co-ban");
    CHECK(ev.score == 86.5);
    CHECK(ev.adult);
    CHECK(ev.day.year == 2026 && ev.day.month == 10 && ev.day.day == 10);
    hv_event_wipe(&ev);
    CHECK(memcmp(ev.citizen_id, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);

    static const char rev[] = REVOKED(CID "," CERT ",\"ward_code\":\"31135\"");
    CHECK(hv_event_parse(rev, sizeof(rev) - 1, NOW, false, NULL, &ev, &err));
    CHECK(ev.kind == HV_EV_REVOKED && !ev.has_ts && ev.ts == 0);
    CHECK_STR(ev.ward_code, "");
    CHECK(ev.group == HV_GROUP_NONE);
    CHECK(ev.score == -1);
    CHECK(!ev.has_birth_date && ev.course_id[0] == '\0');
    CHECK(!ev.adult);

    /* ward codes are passed on as sent; over-long ones become a marker resolution rejects */
    static const char w_short[] = ISSUED(CID ",\"ward_code\":\"3113\"," GROUP "," CERT);
    CHECK(hv_event_parse(w_short, sizeof(w_short) - 1, NOW, false, NULL, &ev, &err));
    CHECK_STR(ev.ward_code, "3113");
    static const char w_seven[] = ISSUED(CID ",\"ward_code\":\"1234567\"," GROUP "," CERT);
    CHECK(hv_event_parse(w_seven, sizeof(w_seven) - 1, NOW, false, NULL, &ev, &err));
    CHECK_STR(ev.ward_code, "1234567");
    static const char w_long[] = ISSUED(CID ",\"ward_code\":\"31135000\"," GROUP "," CERT);
    CHECK(hv_event_parse(w_long, sizeof(w_long) - 1, NOW, false, NULL, &ev, &err));
    CHECK_STR(ev.ward_code, "x");

    /* the id is copied out, and stays available when a later check fails */
    char id[HV_EVENT_ID_MAX + 1];
    static const char with_id[] = WITH_ID("\"evt-42\"", BASE);
    CHECK(hv_event_parse(with_id, sizeof(with_id) - 1, NOW, true, id, &ev, &err));
    CHECK_STR(id, "evt-42");
    static const char bad_later[] = WITH_ID("\"evt-43\"", CID "," WARD ",\"group\":\"x\"," CERT);
    CHECK(!hv_event_parse(bad_later, sizeof(bad_later) - 1, NOW, true, id, &ev, &err));
    CHECK_STR(id, "evt-43");
    CHECK(strcmp(err.code, "invalid_group") == 0);

    /* the body is bounded by len, not by a NUL */
    static const char prefix[] = ISSUED(BASE) "garbage";
    CHECK(hv_event_parse(prefix, sizeof(prefix) - 1 - 7, NOW, false, NULL, &ev, &err));
}

/* Parses an issued event at ts for a made-up citizen id, with an optional birth date, and
 * reports whether it counts as an adult. */
static bool adult_at(const char *ts, const char *cid, const char *birth_date, bool *adult)
{
    char body[512];
    hv_event_t ev;
    hv_event_error_t err;
    if (birth_date)
        snprintf(body, sizeof(body),
                 "{\"type\":\"certificate.issued\",\"timestamp\":\"%s\",\"data\":{"
                 "\"citizen_id\":\"%s\",\"ward_code\":\"31135\",\"group\":\"worker\","
                 "\"certificate_id\":\"C-1\",\"birth_date\":\"%s\"}}",
                 ts, cid, birth_date);
    else
        snprintf(body, sizeof(body),
                 "{\"type\":\"certificate.issued\",\"timestamp\":\"%s\",\"data\":{"
                 "\"citizen_id\":\"%s\",\"ward_code\":\"31135\",\"group\":\"worker\","
                 "\"certificate_id\":\"C-1\"}}",
                 ts, cid);
    if (!hv_event_parse(body, strlen(body), NOW, false, NULL, &ev, &err)) {
        fprintf(stderr, "refused: %s %s\n", err.code, err.detail);
        return false;
    }
    *adult = ev.adult;
    return true;
}

static void test_adult(void)
{
    static const struct {
        const char *name;
        const char *ts;
        const char *cid;
        const char *birth_date;
        bool adult;
    } adult_cases[] = {
        {"18th birthday exactly", "2026-05-17T09:00:00+07:00", "092208012345", "2008-05-17", true},
        {"17 years 364 days", "2026-05-16T23:59:59+07:00", "092208012345", "2008-05-17", false},
        /* 2026-05-16T17:30Z is already 17 May in Vietnam */
        {"birthday reached in vietnam time", "2026-05-16T17:30:00Z", "092208012345", "2008-05-17",
         true},
        {"birthday not reached in vietnam time", "2026-05-16T16:59:59Z", "092208012345",
         "2008-05-17", false},
        {"later month", "2026-01-01T12:00:00+07:00", "092208012345", "2008-12-31", false},
        {"earlier month", "2026-12-31T12:00:00+07:00", "092208012345", "2008-01-01", true},
        {"29 february birthday on 28 february", "2026-02-28T12:00:00+07:00", "092208012345",
         "2008-02-29", false},
        {"29 february birthday on 1 march", "2026-03-01T12:00:00+07:00", "092208012345",
         "2008-02-29", true},
        {"29 february birthday in a leap year", "2026-02-28T12:00:00+07:00", "092208012345",
         "2008-02-28", true},
        {"much older", "2026-10-10T12:00:00+07:00", "092190012345", "1990-05-17", true},
        {"child", "2026-10-10T12:00:00+07:00", "092315012345", "2015-05-17", false},
        /* without a birth date: certificate year - birth year >= 18 */
        {"year rule 18", "2026-01-01T00:00:00+07:00", "092208012345", NULL, true},
        {"year rule 17", "2026-12-31T23:59:59+07:00", "092209012345", NULL, false},
        /* 2026-12-31T17:00Z is 2027-01-01 in Vietnam: the year rule uses Vietnam's year */
        {"year rule in vietnam time", "2026-12-31T17:00:00Z", "092209012345", NULL, true},
        {"year rule utc year", "2026-12-31T16:59:59Z", "092209012345", NULL, false},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(adult_cases); i++) {
        bool adult = !adult_cases[i].adult;
        bool ok =
            adult_at(adult_cases[i].ts, adult_cases[i].cid, adult_cases[i].birth_date, &adult);
        CHECK_MSG(ok, "%s: refused", adult_cases[i].name);
        CHECK_MSG(!ok || adult == adult_cases[i].adult, "%s: adult=%d", adult_cases[i].name, adult);
    }
}

static void test_groups(void)
{
    CHECK_STR(hv_group_name(HV_GROUP_CITIZEN), "citizen");
    CHECK_STR(hv_group_name(HV_GROUP_OFFICIAL), "official");
    CHECK_STR(hv_group_name(HV_GROUP_STUDENT), "student");
    CHECK_STR(hv_group_name(HV_GROUP_WORKER), "worker");
    CHECK_STR(hv_group_name(HV_GROUP_NONE), "");
    CHECK_STR(hv_group_name((hv_group_t)99), "");
    CHECK(hv_group_from_name("worker", 6) == HV_GROUP_WORKER);
    CHECK(hv_group_from_name("official", 8) == HV_GROUP_OFFICIAL);
    CHECK(hv_group_from_name("workers", 7) == HV_GROUP_NONE);
    CHECK(hv_group_from_name("work", 4) == HV_GROUP_NONE);
    CHECK(hv_group_from_name("", 0) == HV_GROUP_NONE);
}

/* What the scanner takes and what it leaves to jansson. */
static void test_scanner_scope(void)
{
    static const char plain[] = ISSUED(BASE ",\"score\":85.5,\"course_id\":null,\"x\":true");
    CHECK(hv_event_scannable(plain, sizeof(plain) - 1));
    static const char spaced[] =
        " \n{ \"type\" : \"certificate.revoked\" , \"data\" : { " CID " , " CERT " } }\r\n";
    CHECK(hv_event_scannable(spaced, sizeof(spaced) - 1));
    static const char *const declined[] = {
        ISSUED(BASE ",\"course_id\":\"Tin h\u1ecdc\""), /* an escape */
        ISSUED(BASE ",\"course_id\":\"Tin h\xe1\xbb\x8d"
                    "c\""),                            /* non-ASCII */
        ISSUED(BASE ",\"meta\":{\"a\":1}"),            /* a second level */
        ISSUED(BASE ",\"tags\":[1,2]"),                /* an array */
        ISSUED(BASE ",\"score\":1e2"),                 /* an exponent */
        ISSUED(BASE ",\"score\":1234567890123456789"), /* 19 digits */
        ISSUED(BASE ",\"score\":01"),                  /* not JSON */
        ISSUED(BASE) " x",                             /* trailing content */
        "[" ISSUED(BASE) "]",                          /* not an object */
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(declined); i++)
        CHECK_MSG(!hv_event_scannable(declined[i], strlen(declined[i])), "declined[%zu] taken", i);
    /* Most of the table is in the common shape; the rest exercises the jansson path. */
    CHECK_MSG(scanned >= (int)HV_ARRAY_LEN(cases) / 2, "the scanner took %d of %zu cases", scanned,
              HV_ARRAY_LEN(cases));
}

int main(void)
{
    test_table();
    test_scanner_scope();
    test_values();
    test_adult();
    test_groups();
    CHECK_DONE();
}
