/*
 * event.c - turns one JSON event body into a validated hv_event_t, or into the first problem
 * found as (status, contract code, field, detail), in the fixed order event.h documents.
 */
#include "hocvu/event.h"

#include <stdio.h>
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

/* Member `key` of obj if it is a string, else NULL; *present tells absent from mistyped. */
static json_t *get_string(json_t *obj, const char *key, bool *present)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL;
    return json_is_string(v) ? v : NULL;
}

/* Like get_string for optional members, where an explicit JSON null means absent, as senders
 * commonly serialise missing optional values. */
static json_t *get_optional_string(json_t *obj, const char *key, bool *present)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL && !json_is_null(v);
    return json_is_string(v) ? v : NULL;
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

/* The JSON document is parsed with jansson defaults plus JSON_DECODE_ANY (so a scalar body is an
 * invalid event rather than invalid JSON): invalid UTF-8, "\u0000" in strings and trailing
 * content after the value are all invalid_json. The body is borrowed; *ev receives copies.
 * With want_id, id_out[HV_EVENT_ID_MAX+1] is filled as soon as the id validates, so a batch
 * error report can name the line's id even when a later check refuses the event. */
bool hv_event_parse(const char *body, size_t len, int64_t now, bool want_id, char *id_out,
                    hv_event_t *ev, hv_event_error_t *err)
{
    json_error_t jerr;
    json_t *root = NULL;
    bool ok = false, present;
    bool issued;

    memset(ev, 0, sizeof(*ev));
    memset(err, 0, sizeof(*err));
    ev->score = -1;
    if (want_id && id_out)
        id_out[0] = '\0';

    /* A repeated member name (at any depth) is refused: a signed body must not mean two things
     * to two parsers (CONTRACT §4). */
    root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        err->status = 400;
        err->code = "invalid_json";
        snprintf(err->detail, sizeof(err->detail), "body is not valid json (line %d, column %d)",
                 jerr.line, jerr.column);
        goto failed;
    }
    if (!json_is_object(root)) {
        refuse(err, 400, "invalid_event", NULL, "event must be a json object");
        goto failed;
    }

    if (want_id) {
        json_t *id = get_string(root, "id", &present);
        if (!id || !hv_event_id_valid(json_string_value(id), json_string_length(id))) {
            refuse(err, 400, "invalid_event", "id",
                   "id must be a string of 1-256 printable ASCII characters (0x21-0x7E)");
            goto failed;
        }
        if (id_out)
            memcpy(id_out, json_string_value(id), json_string_length(id) + 1);
    }

    /* --- type --- */
    json_t *type = get_string(root, "type", &present);
    if (!type) {
        refuse(err, 400, "invalid_event", "type",
               present ? "type must be a string" : "type is required");
        goto failed;
    }
    if (strcmp(json_string_value(type), "certificate.issued") == 0) {
        ev->kind = HV_EV_ISSUED;
    } else if (strcmp(json_string_value(type), "certificate.revoked") == 0) {
        ev->kind = HV_EV_REVOKED;
    } else {
        refuse(err, 400, "invalid_event", "type",
               "type must be certificate.issued or certificate.revoked");
        goto failed;
    }
    issued = ev->kind == HV_EV_ISSUED;

    /* --- presence and JSON types: every 400 is found before any 422 --- */
    json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        refuse(err, 400, "invalid_event", "data",
               data ? "data must be an object" : "data is required");
        goto failed;
    }
    json_t *ts = issued ? get_string(root, "timestamp", &present)
                        : get_optional_string(root, "timestamp", &present);
    if (!ts && (present || issued)) {
        refuse(err, 400, "invalid_event", "timestamp",
               present ? "timestamp must be a string" : "timestamp is required");
        goto failed;
    }
    json_t *cid = get_string(data, "citizen_id", &present);
    if (!cid) {
        refuse(err, 400, "invalid_event", "data.citizen_id",
               present ? "citizen_id must be a string" : "citizen_id is required");
        goto failed;
    }
    json_t *cert = get_string(data, "certificate_id", &present);
    if (!cert) {
        refuse(err, 400, "invalid_event", "data.certificate_id",
               present ? "certificate_id must be a string" : "certificate_id is required");
        goto failed;
    }
    json_t *ward = NULL, *group = NULL;
    if (issued) {
        ward = get_string(data, "ward_code", &present);
        if (!ward) {
            refuse(err, 400, "invalid_event", "data.ward_code",
                   present ? "ward_code must be a string" : "ward_code is required");
            goto failed;
        }
        group = get_string(data, "group", &present);
        if (!group) {
            refuse(err, 400, "invalid_event", "data.group",
                   present ? "group must be a string" : "group is required");
            goto failed;
        }
    }
    json_t *bdate = get_optional_string(data, "birth_date", &present);
    if (!bdate && present) {
        refuse(err, 400, "invalid_event", "data.birth_date", "birth_date must be a string");
        goto failed;
    }
    json_t *course = get_optional_string(data, "course_id", &present);
    if (!course && present) {
        refuse(err, 400, "invalid_event", "data.course_id", "course_id must be a string");
        goto failed;
    }
    json_t *supporter = json_object_get(data, "supporter");
    json_t *score = json_object_get(data, "score");
    if (json_is_null(score))
        score = NULL;
    if (score && !json_is_number(score)) {
        refuse(err, 400, "invalid_event", "data.score", "score must be a number");
        goto failed;
    }

    /* --- values --- */
    if (ts) {
        if (!hv_time_parse_rfc3339(json_string_value(ts), json_string_length(ts), &ev->ts)) {
            refuse(err, 422, "invalid_timestamp", "timestamp",
                   "timestamp must be an rfc 3339 date-time");
            goto failed;
        }
        if (ev->ts < HV_EVENT_MIN_TS) {
            refuse(err, 422, "invalid_timestamp", "timestamp", "timestamp is before 2025-01-01");
            goto failed;
        }
        if (ev->ts > now && ev->ts - now > HV_EVENT_MAX_FUTURE) {
            refuse(err, 422, "invalid_timestamp", "timestamp",
                   "timestamp is more than 5 minutes in the future");
            goto failed;
        }
        ev->has_ts = true;
        ev->day = hv_time_vn_date(ev->ts);
    }
    hv_date_t event_day = ev->has_ts ? ev->day : hv_time_vn_date(now);

    const char *cid_s = json_string_value(cid);
    size_t cid_n = json_string_length(cid);
    if (!hv_citizen_valid(cid_s, cid_n, event_day.year, &ev->birth_year)) {
        refuse(err, 422, "invalid_citizen_id", "data.citizen_id",
               "citizen_id must be 12 digits with a known province code and a birth year not "
               "after the event");
        goto failed;
    }
    memcpy(ev->citizen_id, cid_s, HV_CITIZEN_LEN);
    ev->citizen_id[HV_CITIZEN_LEN] = '\0';

    if (issued) {
        ev->group = hv_group_from_name(json_string_value(group), json_string_length(group));
        if (ev->group == HV_GROUP_NONE) {
            refuse(err, 422, "invalid_group", "data.group",
                   "group must be citizen, official, student or worker");
            goto failed;
        }
        /* An over-long code cannot be a unit code; store a marker that ward resolution reports
         * as malformed instead of a truncation that might happen to be valid. */
        size_t wn = json_string_length(ward);
        if (wn < sizeof(ev->ward_code))
            memcpy(ev->ward_code, json_string_value(ward), wn + 1);
        else
            memcpy(ev->ward_code, "x", 2);
    }

    size_t cert_n = json_string_length(cert);
    if (cert_n == 0 || cert_n > HV_CERT_ID_MAX ||
        !printable_ascii(json_string_value(cert), cert_n)) {
        refuse(err, 422, "invalid_event", "data.certificate_id",
               "certificate_id must be 1-64 printable ascii characters");
        goto failed;
    }
    memcpy(ev->cert_id, json_string_value(cert), cert_n + 1);

    if (bdate) {
        if (!hv_date_parse(json_string_value(bdate), json_string_length(bdate), &ev->birth_date)) {
            refuse(err, 422, "invalid_birth_date", "data.birth_date",
                   "birth_date must be a yyyy-mm-dd date");
            goto failed;
        }
        if (ev->birth_date.year != ev->birth_year) {
            refuse(err, 422, "invalid_birth_date", "data.birth_date",
                   "birth_date year does not match the citizen_id");
            goto failed;
        }
        if (hv_date_to_days(ev->birth_date) > hv_date_to_days(event_day)) {
            refuse(err, 422, "invalid_birth_date", "data.birth_date",
                   "birth_date is after the certificate date");
            goto failed;
        }
        ev->has_birth_date = true;
    }

    if (course) {
        size_t cn = json_string_length(course);
        if (cn > HV_COURSE_ID_MAX) {
            refuse(err, 422, "invalid_event", "data.course_id",
                   "course_id must be at most 128 bytes");
            goto failed;
        }
        memcpy(ev->course_id, json_string_value(course), cn + 1);
    }

    if (score) {
        double s = json_number_value(score);
        if (!(s >= 0 && s <= 100)) {
            refuse(err, 422, "invalid_event", "data.score", "score must be between 0 and 100");
            goto failed;
        }
        ev->score = s;
    }

    /* data.supporter: only a certificate.issued names one; anything but a cohort code is
     * refused (an unknown code is not: the cohort may be imported later). */
    if (issued && supporter) {
        const char *sv = json_string_value(supporter);
        size_t sn = json_is_string(supporter) ? json_string_length(supporter) : 0;
        if (!json_is_string(supporter) || !hv_cohort_code_valid(sv, sn)) {
            refuse(err, 422, "invalid_supporter", "data.supporter",
                   "supporter must be a cohort code: 1-64 characters of A-Z a-z 0-9 . _ -");
            goto failed;
        }
        memcpy(ev->supporter, sv, sn + 1);
    }

    if (issued) {
        int age =
            ev->has_birth_date ? age_on(ev->birth_date, ev->day) : ev->day.year - ev->birth_year;
        ev->adult = age >= ADULT_AGE;
    }
    ok = true;

failed:
    if (!ok)
        hv_event_wipe(ev);
    json_decref(root);
    return ok;
}
