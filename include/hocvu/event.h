/*
 * event.h - parsing and validating one certificate event (CONTRACT §4) from its JSON body.
 * Ward resolution is left to the caller (it needs the ward table); everything else is here.
 */
#ifndef HOCVU_EVENT_H
#define HOCVU_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/timeutil.h"
#include "hocvu/util.h"

#define HV_CERT_ID_MAX 64
#define HV_COURSE_ID_MAX 128
#define HV_COHORT_CODE_MAX 64
#define HV_EVENT_ID_MAX 256 /* webhook-id / batch line id */

/* Earliest accepted certificate time: the start of 2025-01-01 in Vietnam time
 * (2025-01-01T00:00:00+07:00), since every day of the campaign is a Vietnam-time day. */
#define HV_EVENT_MIN_TS INT64_C(1735664400)
/* Allowed clock skew into the future. */
#define HV_EVENT_MAX_FUTURE 300

typedef enum hv_event_kind { HV_EV_ISSUED = 1, HV_EV_REVOKED = 2 } hv_event_kind_t;

typedef enum hv_group {
    HV_GROUP_NONE = 0,
    HV_GROUP_CITIZEN = 1,
    HV_GROUP_OFFICIAL = 2,
    HV_GROUP_STUDENT = 3,
    HV_GROUP_WORKER = 4,
} hv_group_t;

/* A validated event. Holds copies only (no pointers into the body). The raw citizen id lives
 * here, in request memory, until it is pseudonymised; hv_event_wipe() clears it. */
typedef struct hv_event {
    hv_event_kind_t kind;
    int64_t ts; /* Unix seconds of `timestamp`; 0 if absent (revocations may omit it) */
    bool has_ts;
    char citizen_id[16];
    char ward_code[8]; /* as sent; "" if absent (revocations) */
    hv_group_t group;  /* HV_GROUP_NONE if absent (revocations) */
    char cert_id[HV_CERT_ID_MAX + 1];
    bool has_birth_date;
    hv_date_t birth_date;
    int birth_year; /* from the citizen id */
    char course_id[HV_COURSE_ID_MAX + 1];
    double score;                           /* -1 if absent; otherwise 0..100 */
    char supporter[HV_COHORT_CODE_MAX + 1]; /* issued only: data.supporter, "" if absent */
    bool adult;    /* issued only: 18+ on the certificate's Vietnam-time date */
    hv_date_t day; /* issued only: Vietnam-time date of ts */
} hv_event_t;

/* Why an event was refused: HTTP status, contract code, the JSON path of the field at fault
 * (static string, NULL if none), and a human-readable detail (static or in detail_buf). */
typedef struct hv_event_error {
    int status;        /* 400 or 422 */
    const char *code;  /* "invalid_json", "invalid_event", "invalid_citizen_id", ... */
    const char *field; /* e.g. "data.citizen_id"; NULL if not about one field */
    char detail[160];
} hv_event_error_t;

/* Parses and validates a JSON body. `now` is Unix seconds (for the future-timestamp rule).
 * If `want_id` is true the object must also carry a string member "id" (batch lines); it is
 * copied into id_out[HV_EVENT_ID_MAX+1]. Returns true with *ev filled, or false with *err filled.
 * Order of checks (so the first problem reported is stable): JSON syntax → top-level shape and
 * types → type → required data fields present and typed → timestamp → citizen id → group →
 * certificate id → birth date → score → supporter. */
HV_MUST_CHECK bool hv_event_parse(const char *body, size_t len, int64_t now, bool want_id,
                                  char *id_out, hv_event_t *ev, hv_event_error_t *err);

/* hv_event_parse reads a body of the common shape (plain members, "data" the only nested
 * object, no escapes) in one pass and hands everything else to jansson; both feed the same
 * checks. For the tests and the fuzzer, which hold the two to the same answers:
 * hv_event_parse_general always takes the jansson path, and hv_event_scannable tells whether
 * the one-pass scanner takes a body. */
HV_MUST_CHECK bool hv_event_parse_general(const char *body, size_t len, int64_t now, bool want_id,
                                          char *id_out, hv_event_t *ev, hv_event_error_t *err);
bool hv_event_scannable(const char *body, size_t len);

/* The idempotency key rule (CONTRACT §4, §5): 1-256 printable ASCII characters, 0x21-0x7E.
 * Applies to the webhook-id header and to a batch line's "id". */
bool hv_event_id_valid(const char *s, size_t n);

/* The cohort code rule (CONTRACT §11): 1-64 characters of [A-Za-z0-9._-]. Also the syntax of
 * data.supporter. */
bool hv_cohort_code_valid(const char *s, size_t n);

const char *hv_group_name(hv_group_t g); /* "citizen", ... or "" */
hv_group_t hv_group_from_name(const char *s, size_t n);

/* Overwrites the raw citizen id in place. */
void hv_event_wipe(hv_event_t *ev);

#endif
