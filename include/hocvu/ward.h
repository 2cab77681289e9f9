/*
 * ward.h - commune-level units: the current (1 July 2025) units and the pre-2025 codes that map
 * onto them. Resolution turns any accepted code into a current unit, or says why it cannot.
 * The table is loaded from the database (hv_wardtab_load) or built by hand (tests, imports).
 */
#ifndef HOCVU_WARD_H
#define HOCVU_WARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

#define HV_WARD_CODE_LEN 5
#define HV_WARD_MAX_CANDIDATES 8

typedef struct hv_ward {
    char code[HV_WARD_CODE_LEN + 1];
    char *name;         /* owned, UTF-8 */
    char *type;         /* owned: "phuong", "xa", "dac_khu", ... */
    int64_t population; /* -1 if missing or flagged implausible */
    int64_t target;     /* -1 if not imported */
} hv_ward_t;

typedef struct hv_legacy_ward {
    char code[HV_WARD_CODE_LEN + 1];
    int n_new;
    char new_codes[HV_WARD_MAX_CANDIDATES][HV_WARD_CODE_LEN + 1];
    bool split; /* split between several current units: ambiguous */
} hv_legacy_ward_t;

/* Immutable after hv_wardtab_finish(); shared read-only between threads. */
typedef struct hv_wardtab {
    hv_ward_t *wards; /* sorted by code after finish */
    size_t n_wards, cap_wards;
    hv_legacy_ward_t *legacy; /* sorted by code after finish */
    size_t n_legacy, cap_legacy;
} hv_wardtab_t;

/* Returns an empty table; caller frees with hv_wardtab_free. */
hv_wardtab_t *hv_wardtab_new(void);
void hv_wardtab_free(hv_wardtab_t *t);
/* Adds a current unit (strings copied). population/target -1 = unknown. Returns -1 if the code is
 * not 5 ASCII digits. */
HV_MUST_CHECK int hv_wardtab_add(hv_wardtab_t *t, const char *code, const char *name,
                                 const char *type, int64_t population, int64_t target);
/* Adds a pre-2025 unit mapping to `n` current codes. Returns -1 on a malformed code. */
HV_MUST_CHECK int hv_wardtab_add_legacy(hv_wardtab_t *t, const char *old_code,
                                        const char *const *new_codes, int n, bool split);
/* Sorts for lookup. Call once after the last add. */
void hv_wardtab_finish(hv_wardtab_t *t);

typedef enum hv_ward_result {
    HV_WARD_OK = 0,
    HV_WARD_MALFORMED, /* not 5 ASCII digits */
    HV_WARD_UNKNOWN,
    HV_WARD_AMBIGUOUS,
} hv_ward_result_t;

typedef struct hv_ward_resolution {
    const hv_ward_t *ward; /* borrowed from the table; set when HV_WARD_OK */
    int n_candidates;      /* set when HV_WARD_AMBIGUOUS */
    char candidates[HV_WARD_MAX_CANDIDATES][HV_WARD_CODE_LEN + 1];
} hv_ward_resolution_t;

/* Resolves code[0..n). A current code maps to itself (current codes win if a code is both);
 * a legacy code merged wholly into one unit maps to it; a split legacy code is ambiguous. */
hv_ward_result_t hv_wardtab_resolve(const hv_wardtab_t *t, const char *code, size_t n,
                                    hv_ward_resolution_t *out);
/* Current unit by exact code, or NULL. */
const hv_ward_t *hv_wardtab_find(const hv_wardtab_t *t, const char *code);

/* Loads the table from the database (wards and legacy_wards) on a blocking connection and
 * finishes it. Rows the table refuses are skipped with a warning. Returns the table (caller
 * frees) or NULL with the first line of the database's error in err. */
struct pg_conn;
hv_wardtab_t *hv_wardtab_load(struct pg_conn *conn, char *err, size_t errlen);

/* A hash of every attribute documents show (code, name, type, population, target), so a
 * snapshot notices an import. */
uint64_t hv_wardtab_hash(const hv_wardtab_t *t);

#endif
