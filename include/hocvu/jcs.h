/*
 * jcs.h - RFC 8785 JSON Canonicalization Scheme: one byte sequence for one JSON value, so that
 * a digest over it identifies the value whoever serialised it (CONTRACT §10: the digest of a
 * frozen report). Objects' members sorted by their names' UTF-16 code units, no whitespace,
 * strings with the minimal escapes of ECMAScript's JSON.stringify, numbers in ECMAScript's
 * shortest round-trip form (Number.prototype.toString).
 */
#ifndef HOCVU_JCS_H
#define HOCVU_JCS_H

#include <stddef.h>

#include "hocvu/util.h"

/* Canonicalises the JSON text json[0..len) into out. Returns 0, or -1 with err set (not JSON,
 * a repeated member name, a number that is not finite). */
int hv_jcs_canonicalize(const char *json, size_t len, hv_buf_t *out, char *err, size_t errlen);

#define HV_JCS_NUMBER_MAX 40

/* ECMAScript's Number.prototype.toString of a finite double, into out. */
void hv_jcs_number(double v, char out[HV_JCS_NUMBER_MAX]);

/* Lowercase hex SHA-256 of data[0..len), into hex[65]. */
void hv_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
