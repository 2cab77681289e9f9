/*
 * validate.c - one event body to one write item: parse (event.c), resolve the ward,
 * pseudonymise, fill the item the writer stores.
 */
#include "hocvu/validate.h"

#include <stdio.h>
#include <string.h>

#include "hocvu/event.h"

/* Fills the storage fields of an item from a validated event and its pseudonym. */
static void item_from_event(hv_write_item_t *it, const char *id, const hv_event_t *ev,
                            const char *ward, const uint8_t pseudonym[32])
{
    snprintf(it->id, sizeof(it->id), "%s", id);
    it->kind = ev->kind;
    snprintf(it->cert_id, sizeof(it->cert_id), "%s", ev->cert_id);
    hv_hex_encode(pseudonym, 32, it->person_hex);
    snprintf(it->ward, sizeof(it->ward), "%s", ward ? ward : "");
    it->grp = ev->kind == HV_EV_ISSUED ? (int)ev->group : 0;
    it->has_ts = ev->has_ts;
    it->ts = ev->ts;
    it->day = ev->kind == HV_EV_ISSUED ? (int32_t)hv_date_to_days(ev->day) : 0;
    it->adult = ev->adult;
    snprintf(it->course_id, sizeof(it->course_id), "%s", ev->course_id);
    it->score = ev->score;
    snprintf(it->supporter, sizeof(it->supporter), "%s", ev->supporter);
    it->lookup_only = false;
    it->next = NULL;
}

bool hv_validate_event(const hv_wardtab_t *wards, hv_pseudonymizer_t *pseud, const char *body,
                       size_t len, int64_t now, const char *msg_id, bool want_id, char *id_out,
                       hv_write_item_t *item, char masked[16], hv_problem_t *why)
{
    hv_event_t ev;
    hv_event_error_t err;
    const char *ward = NULL;
    uint8_t pseudonym[HV_PSEUDONYM_LEN];

    if (!hv_event_parse(body, len, now, want_id, id_out, &ev, &err)) {
        hv_problem_set(why, err.status, err.code, err.field, err.detail);
        return false;
    }
    if (ev.kind == HV_EV_ISSUED) {
        hv_ward_resolution_t res;
        switch (hv_wardtab_resolve(wards, ev.ward_code, strlen(ev.ward_code), &res)) {
        case HV_WARD_OK:
            ward = res.ward->code;
            break;
        case HV_WARD_MALFORMED:
        case HV_WARD_UNKNOWN:
            hv_event_wipe(&ev);
            hv_problem_set(why, 422, "unknown_ward", "data.ward_code",
                           "no such commune-level unit");
            return false;
        case HV_WARD_AMBIGUOUS:
            hv_event_wipe(&ev);
            hv_problem_set(why, 422, "ambiguous_ward", "data.ward_code",
                           "this pre-2025 unit was split between several current units; send "
                           "the current unit's code");
            why->n_candidates = res.n_candidates;
            memcpy(why->candidates, res.candidates, sizeof(why->candidates));
            return false;
        }
    }
    hv_pseudonymize(pseud, ev.citizen_id, strlen(ev.citizen_id), pseudonym);
    if (masked)
        hv_citizen_mask(ev.citizen_id, strlen(ev.citizen_id), masked);
    hv_event_wipe(&ev);
    item_from_event(item, want_id ? id_out : msg_id, &ev, ward, pseudonym);
    return true;
}
