/*
 * cohortfile.h - the cohort files of hocvuctl (CONTRACT §11). The parsers themselves are
 * declared with the other import parsers in ctl.h (hv_ctl_cohorts_parse, hv_ctl_members_parse)
 * and defined in cohortfile.c, which needs no database.
 */
#ifndef HOCVU_COHORTFILE_H
#define HOCVU_COHORTFILE_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..n) is one of §11's cohort kinds: agency, enterprise, school, village, team,
 * mentor. */
bool hv_cohort_kind_valid(const char *s, size_t n);

#endif
