/*
 * citizen.h - the 12-digit personal identification number (CCCD/VNeID): validation, masking
 * for logs, and pseudonymisation with a keyed HMAC so the raw number is never stored.
 */
#ifndef HOCVU_CITIZEN_H
#define HOCVU_CITIZEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

#define HV_CITIZEN_LEN 12
#define HV_PSEUDONYM_LEN 32 /* HMAC-SHA256 output */

/* Is `code` (3 ASCII digits) a province code of Circular 07/2016/TT-BCA Appendix I? */
bool hv_citizen_province_known(const char *code3);

/* Validates s[0..n): exactly 12 ASCII digits, known province code, and a birth year (from the
 * century digit and digits 5-6) that is not after `event_year`. On success stores the birth
 * year in *birth_year (may be NULL) and returns true. */
HV_MUST_CHECK bool hv_citizen_valid(const char *s, size_t n, int event_year, int *birth_year);

/* Birth year encoded in a 12-digit id already known to be digits (no other checks). */
int hv_citizen_birth_year(const char *id12);

/* Masks for logs: first 3 and last 2 digits kept, the rest '*': "092*******45". out[13].
 * Input that is not exactly 12 ASCII digits is masked entirely ("***"). */
void hv_citizen_mask(const char *s, size_t n, char out[16]);

/* Per-thread pseudonymiser: HMAC-SHA256 keyed by the pepper. Not thread-safe. */
typedef struct hv_pseudonymizer hv_pseudonymizer_t;

/* Returns a new pseudonymiser; the pepper is copied. Caller frees. */
hv_pseudonymizer_t *hv_pseudonymizer_new(const void *pepper, size_t pepper_len);
void hv_pseudonymizer_free(hv_pseudonymizer_t *p);
/* out = HMAC-SHA256(pepper, id[0..n)). */
void hv_pseudonymize(hv_pseudonymizer_t *p, const char *id, size_t n,
                     uint8_t out[HV_PSEUDONYM_LEN]);

#endif
