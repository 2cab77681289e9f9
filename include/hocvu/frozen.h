/*
 * frozen.h - the frozen reports (CONTRACT §10) as the service serves them: an immutable,
 * reference-counted set loaded from the reports table by the snapshot refresher whenever a
 * report is added, with the list document pre-rendered. Each report's body is the stored
 * object, byte for byte.
 */
#ifndef HOCVU_FROZEN_H
#define HOCVU_FROZEN_H

#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

struct pg_conn;

typedef struct hv_frozen {
    char id[32];
    char as_of[11];
    int year;
    char digest[65];
    char *body; /* owned: the report object as stored (RFC 8785, digest included) */
    size_t body_len;
    char etag[24];
} hv_frozen_t;

typedef struct hv_frozenset {
    int refs; /* atomic */
    size_t n;
    hv_frozen_t *items; /* owned, by created_at then id */
    char *list;         /* owned: GET /v1/reports */
    size_t list_len;
    char list_etag[24];
} hv_frozenset_t;

/* Loads every report. Returns a set with one reference, or NULL with err set. */
hv_frozenset_t *hv_frozenset_load(struct pg_conn *conn, char *err, size_t errlen);
void hv_frozenset_retain(hv_frozenset_t *f);
void hv_frozenset_release(hv_frozenset_t *f);
const hv_frozen_t *hv_frozenset_find(const hv_frozenset_t *f, const char *id);

#endif
