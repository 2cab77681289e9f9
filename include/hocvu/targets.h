/*
 * targets.h - the targets file of `hocvuctl targets import` (CONTRACT §9), parsed and checked
 * row by row without the database: every bad row is reported, nothing is returned then. The
 * one check that needs the database (a ward scope must be a current ward) is the caller's,
 * with the lines kept here.
 *
 * Columns by header: year, scope, group required; target and/or percent (exactly one of them
 * non-empty per row); base, measure optional.
 */
#ifndef HOCVU_TARGETS_H
#define HOCVU_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/errlist.h"

#define HV_TARGET_YEAR_MIN 2020
#define HV_TARGET_YEAR_MAX 2100

typedef struct hv_target_row {
    long line;
    int year;
    char scope[72];   /* "city", a 5-digit ward code, or "cohort:CODE" */
    char grp[12];     /* "all" or a group of §4 */
    char measure[8];  /* "adults" or "all" (the default of a cohort scope) */
    int64_t target;   /* the count, or -1 for a percent row */
    char percent[24]; /* the share as written ("80", "12.5"), or "" for a count row */
    int64_t base;     /* -1 = none */
} hv_target_row_t;

/* Parses data[0..len) (borrowed; path only names it in messages) into *rows (caller frees, also
 * on failure) and *n, the rows that passed. Returns 0, or -1 with every bad row added to errs;
 * the rows that passed are still given, so that the caller's own check reports on them too. */
int hv_targets_parse(const char *path, const char *data, size_t len, hv_target_row_t **rows,
                     size_t *n, hv_errlist_t *errs);

/* The effective target of a count row, or of a percent row with a base: ceil(percent/100 x
 * base) in exact decimal. -1 when the base is a cohort's member count (not known here). */
int64_t hv_target_effective(const hv_target_row_t *row);

#endif
