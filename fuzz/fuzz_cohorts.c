/*
 * fuzz_cohorts.c - libFuzzer target for the cohort files of hocvuctl (cohortfile.c, over the CSV
 * reader): the first input byte picks `cohorts import` (even) or `cohorts members` (odd), the
 * rest is the file. Invariants: success and "no bad row" coincide; every message starts with
 * "c.csv:" and at most 50 are kept; a successful parse gives a JSON array of exactly `rows`
 * objects that obey §11 - cohort codes of cohort-code syntax, known kinds, no code twice; member
 * refs unique, and each person a 64-digit hex pseudonym (no citizen id leaves the parser).
 */
#include <jansson.h>

#include "fuzz_common.h"
#include "hocvu/cohortfile.h"
#include "hocvu/ctl.h"
#include "hocvu/event.h"

static const char PEPPER[] = "fuzz-pepper-fuzz-pepper-fuzz-pepper!";

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool members = data[0] & 1;
    char *in = fuzz_dup_exact(data + 1, size - 1);
    hv_ctl_import_t imp = {0};
    hv_errlist_t errs = {0};
    int rc = members ? hv_ctl_members_parse("c.csv", in, size - 1, PEPPER, sizeof(PEPPER) - 1, 2026,
                                            &imp, &errs)
                     : hv_ctl_cohorts_parse("c.csv", in, size - 1, &imp, &errs);

    FUZZ_ASSERT((rc == 0) == (errs.total == 0));
    FUZZ_ASSERT(errs.n <= HV_ERRLIST_MAX && errs.n <= errs.total);
    for (size_t i = 0; i < errs.n; i++)
        FUZZ_ASSERT(strncmp(errs.items[i].msg, "c.csv:", 6) == 0);
    if (rc == 0) {
        json_t *a = json_loadb(imp.json.data, imp.json.len, 0, NULL);
        FUZZ_ASSERT(json_is_array(a) && json_array_size(a) == imp.rows);
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *o = json_array_get(a, i);
            if (members) {
                const char *ref = json_string_value(json_object_get(o, "ref"));
                FUZZ_ASSERT(ref && ref[0]);
                FUZZ_ASSERT(hex64(json_string_value(json_object_get(o, "person"))));
                FUZZ_ASSERT(json_object_size(o) == 2);
                for (size_t k = 0; k < i; k++)
                    FUZZ_ASSERT(strcmp(ref, json_string_value(json_object_get(json_array_get(a, k),
                                                                              "ref"))) != 0);
            } else {
                const char *code = json_string_value(json_object_get(o, "code"));
                const char *kind = json_string_value(json_object_get(o, "kind"));
                FUZZ_ASSERT(code && hv_cohort_code_valid(code, strlen(code)));
                FUZZ_ASSERT(kind && hv_cohort_kind_valid(kind, strlen(kind)));
                FUZZ_ASSERT(json_string_value(json_object_get(o, "name"))[0]);
                for (size_t k = 0; k < i; k++)
                    FUZZ_ASSERT(strcmp(code, json_string_value(json_object_get(json_array_get(a, k),
                                                                               "code"))) != 0);
            }
        }
        json_decref(a);
    }
    hv_ctl_import_free(&imp);
    hv_errlist_free(&errs);
    free(in);
    return 0;
}
