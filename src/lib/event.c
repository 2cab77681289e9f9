/*
 * event.c - turns one JSON event body into a validated hv_event_t, or into the first problem
 * found as (status, contract code, field, detail), in the fixed order event.h documents.
 */
#include "hocvu/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hocvu/citizen.h"

#define ADULT_AGE 18

static const char *const group_names[] = {"", "citizen", "official", "student", "worker"};

const char *hv_group_name(hv_group_t g)
{
    if (g <= HV_GROUP_NONE || g > HV_GROUP_WORKER)
        return "";
    return group_names[g];
}

hv_group_t hv_group_from_name(const char *s, size_t n)
{
    for (int g = HV_GROUP_CITIZEN; g <= HV_GROUP_WORKER; g++)
        if (strlen(group_names[g]) == n && memcmp(group_names[g], s, n) == 0)
            return (hv_group_t)g;
    return HV_GROUP_NONE;
}

void hv_event_wipe(hv_event_t *ev)
{
    explicit_bzero(ev->citizen_id, sizeof(ev->citizen_id));
}

/* Fills *err and returns false so every check can end in `return refuse(...)`. `field` and
 * `detail` must be static strings; detail never carries request values (it may be logged). */
static bool refuse(hv_event_error_t *err, int status, const char *code, const char *field,
                   const char *detail)
{
    err->status = status;
    err->code = code;
    err->field = field;
    snprintf(err->detail, sizeof(err->detail), "%s", detail);
    return false;
}

bool hv_cohort_code_valid(const char *s, size_t n)
{
    if (n == 0 || n > HV_COHORT_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return false;
    return true;
}

/* An id (the webhook-id, or a batch line's id in that role) is 1-256 printable ASCII
 * characters (CONTRACT §4, §5): it is echoed in replies and logs. */
bool hv_event_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > HV_EVENT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
            return false;
    return true;
}

/* Whole years between birth and day; a birthday not yet reached in day's year does not count.
 * Comparing (month, day) pairs makes a 29 February birthday count from 1 March in common years. */
static int age_on(hv_date_t birth, hv_date_t day)
{
    int age = day.year - birth.year;
    if (day.month < birth.month || (day.month == birth.month && day.day < birth.day))
        age--;
    return age;
}

/* --- the members of an event, as a parser saw them ----------------------------------------- */

/* One member's value: absent, JSON null, a string (bytes borrowed from the parser: the body or
 * jansson's document), a number, or anything else. */
typedef enum view_kind { V_ABSENT = 0, V_NULL, V_STRING, V_NUMBER, V_OBJECT, V_OTHER } view_kind_t;

typedef struct view_val {
    view_kind_t kind;
    const char *s; /* V_STRING: not NUL-terminated in the body */
    size_t n;
    double num; /* V_NUMBER */
} view_val_t;

/* The members hv_event_parse reads: at the top, and inside "data" (when it is an object). */
typedef struct event_view {
    view_val_t id, type, timestamp, data;
    view_val_t citizen_id, certificate_id, ward_code, group, birth_date, course_id, supporter,
        score;
} event_view_t;

/* An optional member left out, or sent as JSON null (as senders commonly serialise a missing
 * optional value). */
static bool absent_or_null(const view_val_t *v)
{
    return v->kind == V_ABSENT || v->kind == V_NULL;
}

static bool is_str(const view_val_t *v, const char *lit)
{
    size_t n = strlen(lit);
    return v->kind == V_STRING && v->n == n && memcmp(v->s, lit, n) == 0;
}

/* Copies a string value into out[v->n + 1] (the caller checked the size). */
static void copy_str(char *out, const view_val_t *v)
{
    memcpy(out, v->s, v->n);
    out[v->n] = '\0';
}

/* The checks of event.h's order, on members either parser found. */
static bool validate(const event_view_t *v, int64_t now, bool want_id, char *id_out, hv_event_t *ev,
                     hv_event_error_t *err)
{
    bool issued;

    if (want_id) {
        if (v->id.kind != V_STRING || !hv_event_id_valid(v->id.s, v->id.n))
            return refuse(err, 400, "invalid_event", "id",
                          "id must be a string of 1-256 printable ASCII characters (0x21-0x7E)");
        if (id_out)
            copy_str(id_out, &v->id);
    }

    /* --- type --- */
    if (v->type.kind != V_STRING)
        return refuse(err, 400, "invalid_event", "type",
                      v->type.kind != V_ABSENT ? "type must be a string" : "type is required");
    if (is_str(&v->type, "certificate.issued"))
        ev->kind = HV_EV_ISSUED;
    else if (is_str(&v->type, "certificate.revoked"))
        ev->kind = HV_EV_REVOKED;
    else
        return refuse(err, 400, "invalid_event", "type",
                      "type must be certificate.issued or certificate.revoked");
    issued = ev->kind == HV_EV_ISSUED;

    /* --- presence and JSON types: every 400 is found before any 422 --- */
    if (v->data.kind != V_OBJECT)
        return refuse(err, 400, "invalid_event", "data",
                      v->data.kind != V_ABSENT ? "data must be an object" : "data is required");
    /* A revocation may omit the timestamp, or send null for it. */
    const view_val_t *ts = &v->timestamp;
    bool ts_present = issued ? ts->kind != V_ABSENT : !absent_or_null(ts);
    if (ts->kind != V_STRING && (ts_present || issued))
        return refuse(err, 400, "invalid_event", "timestamp",
                      ts_present ? "timestamp must be a string" : "timestamp is required");
    if (v->citizen_id.kind != V_STRING)
        return refuse(err, 400, "invalid_event", "data.citizen_id",
                      v->citizen_id.kind != V_ABSENT ? "citizen_id must be a string"
                                                     : "citizen_id is required");
    if (v->certificate_id.kind != V_STRING)
        return refuse(err, 400, "invalid_event", "data.certificate_id",
                      v->certificate_id.kind != V_ABSENT ? "certificate_id must be a string"
                                                         : "certificate_id is required");
    if (issued) {
        if (v->ward_code.kind != V_STRING)
            return refuse(err, 400, "invalid_event", "data.ward_code",
                          v->ward_code.kind != V_ABSENT ? "ward_code must be a string"
                                                        : "ward_code is required");
        if (v->group.kind != V_STRING)
            return refuse(err, 400, "invalid_event", "data.group",
                          v->group.kind != V_ABSENT ? "group must be a string"
                                                    : "group is required");
    }
    /* Optional members: an explicit JSON null means absent. */
    if (v->birth_date.kind != V_STRING && !absent_or_null(&v->birth_date))
        return refuse(err, 400, "invalid_event", "data.birth_date", "birth_date must be a string");
    if (v->course_id.kind != V_STRING && !absent_or_null(&v->course_id))
        return refuse(err, 400, "invalid_event", "data.course_id", "course_id must be a string");
    if (v->score.kind != V_NUMBER && !absent_or_null(&v->score))
        return refuse(err, 400, "invalid_event", "data.score", "score must be a number");

    /* --- values --- */
    if (ts->kind == V_STRING) {
        if (!hv_time_parse_rfc3339(ts->s, ts->n, &ev->ts))
            return refuse(err, 422, "invalid_timestamp", "timestamp",
                          "timestamp must be an rfc 3339 date-time");
        if (ev->ts < HV_EVENT_MIN_TS)
            return refuse(err, 422, "invalid_timestamp", "timestamp",
                          "timestamp is before 2025-01-01");
        if (ev->ts > now && ev->ts - now > HV_EVENT_MAX_FUTURE)
            return refuse(err, 422, "invalid_timestamp", "timestamp",
                          "timestamp is more than 5 minutes in the future");
        ev->has_ts = true;
        ev->day = hv_time_vn_date(ev->ts);
    }
    hv_date_t event_day = ev->has_ts ? ev->day : hv_time_vn_date(now);

    if (!hv_citizen_valid(v->citizen_id.s, v->citizen_id.n, event_day.year, &ev->birth_year))
        return refuse(err, 422, "invalid_citizen_id", "data.citizen_id",
                      "citizen_id must be 12 digits with a known province code and a birth year "
                      "not after the event");
    memcpy(ev->citizen_id, v->citizen_id.s, HV_CITIZEN_LEN);
    ev->citizen_id[HV_CITIZEN_LEN] = '\0';

    if (issued) {
        ev->group = hv_group_from_name(v->group.s, v->group.n);
        if (ev->group == HV_GROUP_NONE)
            return refuse(err, 422, "invalid_group", "data.group",
                          "group must be citizen, official, student or worker");
        /* An over-long code cannot be a unit code; store a marker that ward resolution reports
         * as malformed instead of a truncation that might happen to be valid. */
        if (v->ward_code.n < sizeof(ev->ward_code))
            copy_str(ev->ward_code, &v->ward_code);
        else
            memcpy(ev->ward_code, "x", 2);
    }

    const view_val_t *cert = &v->certificate_id;
    if (cert->n == 0 || cert->n > HV_CERT_ID_MAX || !printable_ascii(cert->s, cert->n))
        return refuse(err, 422, "invalid_event", "data.certificate_id",
                      "certificate_id must be 1-64 printable ascii characters");
    copy_str(ev->cert_id, cert);

    if (v->birth_date.kind == V_STRING) {
        if (!hv_date_parse(v->birth_date.s, v->birth_date.n, &ev->birth_date))
            return refuse(err, 422, "invalid_birth_date", "data.birth_date",
                          "birth_date must be a yyyy-mm-dd date");
        if (ev->birth_date.year != ev->birth_year)
            return refuse(err, 422, "invalid_birth_date", "data.birth_date",
                          "birth_date year does not match the citizen_id");
        if (hv_date_to_days(ev->birth_date) > hv_date_to_days(event_day))
            return refuse(err, 422, "invalid_birth_date", "data.birth_date",
                          "birth_date is after the certificate date");
        ev->has_birth_date = true;
    }

    if (v->course_id.kind == V_STRING) {
        if (v->course_id.n > HV_COURSE_ID_MAX)
            return refuse(err, 422, "invalid_event", "data.course_id",
                          "course_id must be at most 128 bytes");
        copy_str(ev->course_id, &v->course_id);
    }

    if (v->score.kind == V_NUMBER) {
        double sc = v->score.num;
        if (!(sc >= 0 && sc <= 100))
            return refuse(err, 422, "invalid_event", "data.score",
                          "score must be between 0 and 100");
        ev->score = sc;
    }

    /* data.supporter: only a certificate.issued names one; anything but a cohort code is
     * refused, null included (an unknown code is not: the cohort may be imported later). */
    if (issued && v->supporter.kind != V_ABSENT) {
        if (v->supporter.kind != V_STRING || !hv_cohort_code_valid(v->supporter.s, v->supporter.n))
            return refuse(err, 422, "invalid_supporter", "data.supporter",
                          "supporter must be a cohort code: 1-64 characters of A-Z a-z 0-9 . _ -");
        copy_str(ev->supporter, &v->supporter);
    }

    if (issued) {
        int age =
            ev->has_birth_date ? age_on(ev->birth_date, ev->day) : ev->day.year - ev->birth_year;
        ev->adult = age >= ADULT_AGE;
    }
    return true;
}

/* --- the general parser: jansson ----------------------------------------------------------- */

static void view_of(json_t *j, view_val_t *out)
{
    if (!j)
        out->kind = V_ABSENT;
    else if (json_is_null(j))
        out->kind = V_NULL;
    else if (json_is_string(j)) {
        out->kind = V_STRING;
        out->s = json_string_value(j);
        out->n = json_string_length(j);
    } else if (json_is_number(j)) {
        out->kind = V_NUMBER;
        out->num = json_number_value(j);
    } else if (json_is_object(j))
        out->kind = V_OBJECT;
    else
        out->kind = V_OTHER;
}

/* Any JSON document: jansson defaults plus JSON_DECODE_ANY (so a scalar body is an invalid event
 * rather than invalid JSON): invalid UTF-8, "\u0000" in strings and trailing content after the
 * value are all invalid_json, and so is a repeated member name at any depth (a signed body must
 * not mean two things to two parsers, CONTRACT §4). */
static bool parse_general(const char *body, size_t len, int64_t now, bool want_id, char *id_out,
                          hv_event_t *ev, hv_event_error_t *err)
{
    json_error_t jerr;
    event_view_t v = {0};
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    bool ok;

    if (!root) {
        err->status = 400;
        err->code = "invalid_json";
        snprintf(err->detail, sizeof(err->detail), "body is not valid json (line %d, column %d)",
                 jerr.line, jerr.column);
        return false;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return refuse(err, 400, "invalid_event", NULL, "event must be a json object");
    }
    view_of(json_object_get(root, "id"), &v.id);
    view_of(json_object_get(root, "type"), &v.type);
    view_of(json_object_get(root, "timestamp"), &v.timestamp);
    json_t *data = json_object_get(root, "data");
    view_of(data, &v.data);
    if (json_is_object(data)) {
        view_of(json_object_get(data, "citizen_id"), &v.citizen_id);
        view_of(json_object_get(data, "certificate_id"), &v.certificate_id);
        view_of(json_object_get(data, "ward_code"), &v.ward_code);
        view_of(json_object_get(data, "group"), &v.group);
        view_of(json_object_get(data, "birth_date"), &v.birth_date);
        view_of(json_object_get(data, "course_id"), &v.course_id);
        view_of(json_object_get(data, "supporter"), &v.supporter);
        view_of(json_object_get(data, "score"), &v.score);
    }
    ok = validate(&v, now, want_id, id_out, ev, err);
    json_decref(root); /* after validate: the view's strings are jansson's */
    return ok;
}

/* --- the fast path: the common shape in one pass ----------------------------------------------
 * What a sender normally posts: an object of plain members whose "data" is an object of plain
 * members. "Plain" is a string of printable ASCII without escapes, a number of at most 18
 * integer digits or a short decimal fraction (no exponent), true, false or null. Anything else -
 * escapes, other bytes, nested values, long numbers, repeated names, more than SCAN_MAX_KEYS
 * members, any syntax error - is declined (the scanner returns false), and the body goes to
 * jansson whole. So the scanner never judges validity: what it accepts is valid JSON that jansson
 * reads as the same members with the same values (fuzz_event checks exactly that). */

#define SCAN_MAX_KEYS 24
#define SCAN_MAX_NUMBER 32 /* characters of a number token */

typedef struct scanner {
    const char *p, *end;
} scanner_t;

static void skip_ws(scanner_t *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

/* A string token at sc->p (the opening quote): printable ASCII, no escapes. */
static bool scan_string(scanner_t *sc, const char **s, size_t *n)
{
    const char *q = ++sc->p;

    while (q < sc->end && *q != '"') {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7E || *q == '\\')
            return false;
        q++;
    }
    if (q >= sc->end)
        return false;
    *s = sc->p;
    *n = (size_t)(q - sc->p);
    sc->p = q + 1;
    return true;
}

/* A number token: -?(0|[1-9][0-9]*)(\.[0-9]+)?, short enough that jansson reads it without
 * overflow (an integer as a long long, a fraction with strtod), read the same way here. */
static bool scan_number(scanner_t *sc, double *out)
{
    const char *q = sc->p, *start = sc->p;
    char tmp[SCAN_MAX_NUMBER + 1];
    bool frac = false;
    size_t digits = 0;

    if (q < sc->end && *q == '-')
        q++;
    if (q < sc->end && *q == '0') {
        q++;
        digits = 1;
    } else {
        while (q < sc->end && *q >= '0' && *q <= '9') {
            q++;
            digits++;
        }
    }
    if (digits == 0 || digits > 18)
        return false;
    if (q < sc->end && *q == '.') {
        size_t fd = 0;
        q++;
        while (q < sc->end && *q >= '0' && *q <= '9') {
            q++;
            fd++;
        }
        if (fd == 0)
            return false;
        frac = true;
    }
    if (q < sc->end && (*q == 'e' || *q == 'E' || (*q >= '0' && *q <= '9')))
        return false;
    size_t n = (size_t)(q - start);
    if (n > SCAN_MAX_NUMBER)
        return false;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    *out = frac ? strtod(tmp, NULL) : (double)strtoll(tmp, NULL, 10);
    sc->p = q;
    return true;
}

static bool scan_literal(scanner_t *sc, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0)
        return false;
    sc->p += n;
    return true;
}

/* A plain value (no object or array) into *v. */
static bool scan_plain(scanner_t *sc, view_val_t *v)
{
    if (sc->p >= sc->end)
        return false;
    switch (*sc->p) {
    case '"':
        v->kind = V_STRING;
        return scan_string(sc, &v->s, &v->n);
    case 't':
        v->kind = V_OTHER;
        return scan_literal(sc, "true");
    case 'f':
        v->kind = V_OTHER;
        return scan_literal(sc, "false");
    case 'n':
        v->kind = V_NULL;
        return scan_literal(sc, "null");
    default:
        v->kind = V_NUMBER;
        return (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9')) && scan_number(sc, &v->num);
    }
}

typedef struct member_slot {
    const char *name;
    view_val_t *val;
} member_slot_t;

/* An object at sc->p ('{'). Each member named in slots[] is stored there; "data" at the top
 * (nested == NULL) descends once, into `nested`. Returns false to decline. */
static bool scan_object(scanner_t *sc, const member_slot_t *slots, size_t n_slots, view_val_t *data,
                        const member_slot_t *nested, size_t n_nested)
{
    const char *keys[SCAN_MAX_KEYS];
    size_t key_len[SCAN_MAX_KEYS], n_keys = 0;

    sc->p++; /* '{' */
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == '}') {
        sc->p++;
        return true;
    }
    for (;;) {
        const char *k;
        size_t kn;
        view_val_t scratch, *dest = &scratch;

        if (sc->p >= sc->end || *sc->p != '"' || !scan_string(sc, &k, &kn))
            return false;
        for (size_t i = 0; i < n_keys; i++)
            if (key_len[i] == kn && memcmp(keys[i], k, kn) == 0)
                return false; /* a repeated name: jansson's to refuse */
        if (n_keys == SCAN_MAX_KEYS)
            return false;
        keys[n_keys] = k;
        key_len[n_keys++] = kn;
        skip_ws(sc);
        if (sc->p >= sc->end || *sc->p != ':')
            return false;
        sc->p++;
        skip_ws(sc);
        for (size_t i = 0; i < n_slots; i++)
            if (strlen(slots[i].name) == kn && memcmp(slots[i].name, k, kn) == 0)
                dest = slots[i].val;
        if (sc->p < sc->end && *sc->p == '{') {
            if (!data || kn != 4 || memcmp(k, "data", 4) != 0)
                return false;
            data->kind = V_OBJECT;
            if (!scan_object(sc, nested, n_nested, NULL, NULL, 0))
                return false;
        } else if (!scan_plain(sc, dest)) {
            return false;
        }
        skip_ws(sc);
        if (sc->p >= sc->end)
            return false;
        if (*sc->p == '}') {
            sc->p++;
            return true;
        }
        if (*sc->p != ',')
            return false;
        sc->p++;
        skip_ws(sc);
    }
}

/* Fills *v from a body of the common shape; false when the body is anything else. */
static bool scan_event(const char *body, size_t len, event_view_t *v)
{
    scanner_t sc = {body, body + len};
    const member_slot_t top[] = {
        {"id", &v->id},
        {"type", &v->type},
        {"timestamp", &v->timestamp},
        {"data", &v->data}, /* (when it is not an object: its kind is still reported) */
    };
    const member_slot_t data[] = {
        {"citizen_id", &v->citizen_id}, {"certificate_id", &v->certificate_id},
        {"ward_code", &v->ward_code},   {"group", &v->group},
        {"birth_date", &v->birth_date}, {"course_id", &v->course_id},
        {"supporter", &v->supporter},   {"score", &v->score},
    };

    memset(v, 0, sizeof(*v));
    skip_ws(&sc);
    if (sc.p >= sc.end || *sc.p != '{')
        return false;
    if (!scan_object(&sc, top, HV_ARRAY_LEN(top), &v->data, data, HV_ARRAY_LEN(data)))
        return false;
    skip_ws(&sc);
    return sc.p == sc.end;
}

/* --- entry points ---------------------------------------------------------------------------- */

static void parse_begin(hv_event_t *ev, hv_event_error_t *err, bool want_id, char *id_out)
{
    memset(ev, 0, sizeof(*ev));
    memset(err, 0, sizeof(*err));
    ev->score = -1;
    if (want_id && id_out)
        id_out[0] = '\0';
}

/* The body is borrowed; *ev receives copies. With want_id, id_out[HV_EVENT_ID_MAX+1] is filled
 * as soon as the id validates, so a batch error report can name the line's id even when a later
 * check refuses the event. */
bool hv_event_parse(const char *body, size_t len, int64_t now, bool want_id, char *id_out,
                    hv_event_t *ev, hv_event_error_t *err)
{
    event_view_t v;
    bool ok;

    parse_begin(ev, err, want_id, id_out);
    if (scan_event(body, len, &v))
        ok = validate(&v, now, want_id, id_out, ev, err);
    else
        ok = parse_general(body, len, now, want_id, id_out, ev, err);
    if (!ok)
        hv_event_wipe(ev);
    return ok;
}

bool hv_event_parse_general(const char *body, size_t len, int64_t now, bool want_id, char *id_out,
                            hv_event_t *ev, hv_event_error_t *err)
{
    parse_begin(ev, err, want_id, id_out);
    bool ok = parse_general(body, len, now, want_id, id_out, ev, err);
    if (!ok)
        hv_event_wipe(ev);
    return ok;
}

bool hv_event_scannable(const char *body, size_t len)
{
    event_view_t v;
    return scan_event(body, len, &v);
}
