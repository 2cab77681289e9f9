/*
 * fuzz_targets.c - libFuzzer target for the targets file of `hocvuctl targets import`
 * (targets.c, over the CSV reader). Invariants: a parse that succeeds reports no error and
 * returns only rows that obey §9 (a year in range, a known scope form, group and measure,
 * exactly one of count and share, a cohort measuring all ages, no two rows for the same key);
 * a parse that fails reports at least one "t.csv:LINE: " message and keeps at most 50; the
 * effective target of a row with a base is never below its share of the base.
 */
#include "fuzz_common.h"
#include "hocvu/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_dup_exact(data, size);
    hv_target_row_t *rows = NULL;
    size_t n = 0;
    hv_errlist_t errs = {0};
    int rc = hv_targets_parse("t.csv", in, size, &rows, &n, &errs);

    FUZZ_ASSERT((rc == 0) == (errs.total == 0));
    FUZZ_ASSERT(errs.n <= HV_ERRLIST_MAX && errs.n <= errs.total);
    for (size_t i = 0; i < errs.n; i++)
        FUZZ_ASSERT(strncmp(errs.items[i].msg, "t.csv:", 6) == 0);
    for (size_t i = 0; i < n; i++) {
        const hv_target_row_t *r = &rows[i];
        bool cohort = strncmp(r->scope, "cohort:", 7) == 0;
        FUZZ_ASSERT(r->year >= HV_TARGET_YEAR_MIN && r->year <= HV_TARGET_YEAR_MAX);
        FUZZ_ASSERT(strcmp(r->scope, "city") == 0 || strlen(r->scope) == 5 || cohort);
        FUZZ_ASSERT(strcmp(r->measure, "adults") == 0 || strcmp(r->measure, "all") == 0);
        FUZZ_ASSERT(!cohort || strcmp(r->measure, "all") == 0);
        FUZZ_ASSERT((r->target >= 0) != (r->percent[0] != '\0'));
        FUZZ_ASSERT(r->percent[0] == '\0' || r->base >= 0 || cohort);
        int64_t eff = hv_target_effective(r);
        FUZZ_ASSERT(eff >= -1);
        if (r->target < 0 && r->base >= 0) {
            double share = strtod(r->percent, NULL) / 100.0 * (double)r->base;
            FUZZ_ASSERT((double)eff + 1e-6 * (double)r->base + 1 >= share);
            FUZZ_ASSERT(eff <= r->base);
        }
        for (size_t k = 0; k < i; k++)
            FUZZ_ASSERT(!(rows[k].year == r->year && strcmp(rows[k].scope, r->scope) == 0 &&
                          strcmp(rows[k].grp, r->grp) == 0 &&
                          strcmp(rows[k].measure, r->measure) == 0));
    }
    free(rows);
    hv_errlist_free(&errs);
    free(in);
    return 0;
}
