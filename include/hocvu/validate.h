/*
 * validate.h - the validation step of one event: its JSON body parsed and checked (event.c),
 * its ward resolved against a ward table, its citizen id pseudonymised, and the result as a
 * write item - or the event's own problem document. Pure: no I/O, no shared state (its only
 * state is the caller's pseudonymiser); the raw
 * citizen id is wiped before it returns. Used for single events and for each batch line.
 */
#ifndef HOCVU_VALIDATE_H
#define HOCVU_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/citizen.h"
#include "hocvu/problem.h"
#include "hocvu/ward.h"
#include "hocvu/writer.h"

/* Validates body[0..len) at Unix time `now`. A single event takes its idempotency key from
 * `msg_id` (the webhook-id header); a batch line (want_id) carries its own "id", copied into
 * id_out[HV_EVENT_ID_MAX + 1] even when the line is refused later, so the error can name it.
 * `wards` is borrowed; `pseud` is the calling thread's own (its HMAC state is reused). On success
 * fills *item (its cb/arg untouched) and, when `masked` is not NULL, the masked citizen id for
 * debug logs; returns true. Otherwise fills *why and returns false. */
HV_MUST_CHECK bool hv_validate_event(const hv_wardtab_t *wards, hv_pseudonymizer_t *pseud,
                                     const char *body, size_t len, int64_t now, const char *msg_id,
                                     bool want_id, char *id_out, hv_write_item_t *item,
                                     char masked[16], hv_problem_t *why);

#endif
