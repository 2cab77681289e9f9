/*
 * fuzz_ward.c - libFuzzer target for ward-code resolution over the table built from the real
 * data/ CSVs (read with the project's CSV reader, as hocvuctl imports them).
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/csv.h"
#include "hocvu/ward.h"

static hv_wardtab_t *table;
/* Reference sets indexed by the 5-digit code, kept apart from the table under test. */
static bool current[100000];
static int legacy_n[100000]; /* number of new codes, 0 if not a legacy code */
static bool legacy_split[100000];
static char legacy_first[100000][HV_WARD_CODE_LEN + 1];

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    FUZZ_ASSERT(fp != NULL);
    FUZZ_ASSERT(fseek(fp, 0, SEEK_END) == 0);
    long n = ftell(fp);
    FUZZ_ASSERT(n > 0);
    rewind(fp);
    char *buf = malloc((size_t)n);
    FUZZ_ASSERT(buf != NULL && fread(buf, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static int code_index(const char *s)
{
    FUZZ_ASSERT(strlen(s) == 5 && strspn(s, "0123456789") == 5);
    return atoi(s);
}

static void load_current(void)
{
    size_t len;
    char *buf = slurp(HOCVU_SOURCE_DIR "/data/cantho_wards_2025.csv", &len);
    hv_csv_t csv;
    hv_csv_init(&csv, buf, len);
    FUZZ_ASSERT(hv_csv_read_header(&csv) == 0);
    int c_code = hv_csv_column(&csv, "code"), c_name = hv_csv_column(&csv, "name"),
        c_type = hv_csv_column(&csv, "type");
    int rc;
    while ((rc = hv_csv_next(&csv)) == 1) {
        const char *code = hv_csv_field(&csv, c_code);
        FUZZ_ASSERT(hv_wardtab_add(table, code, hv_csv_field(&csv, c_name),
                                   hv_csv_field(&csv, c_type), -1, -1) == 0);
        current[code_index(code)] = true;
    }
    FUZZ_ASSERT(rc == 0);
    hv_csv_free(&csv);
    free(buf);
}

static void load_legacy(void)
{
    size_t len;
    char *buf = slurp(HOCVU_SOURCE_DIR "/data/cantho_old_units_pre2025.csv", &len);
    hv_csv_t csv;
    hv_csv_init(&csv, buf, len);
    FUZZ_ASSERT(hv_csv_read_header(&csv) == 0);
    int c_old = hv_csv_column(&csv, "old_code"), c_new = hv_csv_column(&csv, "new_codes"),
        c_split = hv_csv_column(&csv, "split");
    int rc;
    while ((rc = hv_csv_next(&csv)) == 1) {
        char codes[HV_WARD_MAX_CANDIDATES][HV_WARD_CODE_LEN + 1];
        const char *ptrs[HV_WARD_MAX_CANDIDATES];
        const char *p = hv_csv_field(&csv, c_new);
        int n = 0;
        while (*p) {
            size_t k = strcspn(p, "|");
            FUZZ_ASSERT(k == HV_WARD_CODE_LEN && n < HV_WARD_MAX_CANDIDATES);
            memcpy(codes[n], p, k);
            codes[n][k] = '\0';
            ptrs[n] = codes[n];
            n++;
            p += k + (p[k] == '|');
        }
        bool split = strcmp(hv_csv_field(&csv, c_split), "partial") == 0;
        const char *old = hv_csv_field(&csv, c_old);
        FUZZ_ASSERT(hv_wardtab_add_legacy(table, old, ptrs, n, split) == 0);
        int i = code_index(old);
        legacy_n[i] = n;
        legacy_split[i] = split;
        memcpy(legacy_first[i], codes[0], HV_WARD_CODE_LEN + 1);
    }
    FUZZ_ASSERT(rc == 0);
    hv_csv_free(&csv);
    free(buf);
}

/* The invariants for one resolution of code[0..n). */
static void check(const char *code, size_t n)
{
    hv_ward_resolution_t r;
    hv_ward_result_t res = hv_wardtab_resolve(table, code, n, &r);
    bool well_formed = n == HV_WARD_CODE_LEN;
    for (size_t k = 0; well_formed && k < n; k++)
        well_formed = code[k] >= '0' && code[k] <= '9';

    FUZZ_ASSERT((res == HV_WARD_MALFORMED) == !well_formed);
    if (res != HV_WARD_OK)
        FUZZ_ASSERT(r.ward == NULL);
    if (res != HV_WARD_AMBIGUOUS)
        FUZZ_ASSERT(r.n_candidates == 0);
    if (!well_formed)
        return;
    char key[HV_WARD_CODE_LEN + 1];
    memcpy(key, code, HV_WARD_CODE_LEN);
    key[HV_WARD_CODE_LEN] = '\0';
    int i = atoi(key);

    switch (res) {
    case HV_WARD_OK:
        /* OK names a current unit: the code itself, or the one unit a legacy code merged into */
        FUZZ_ASSERT(r.ward >= table->wards && r.ward < table->wards + table->n_wards);
        FUZZ_ASSERT(current[code_index(r.ward->code)]);
        if (current[i])
            FUZZ_ASSERT(strcmp(r.ward->code, key) == 0);
        else
            FUZZ_ASSERT(legacy_n[i] == 1 && !legacy_split[i] &&
                        strcmp(r.ward->code, legacy_first[i]) == 0);
        FUZZ_ASSERT(hv_wardtab_find(table, r.ward->code) == r.ward);
        break;
    case HV_WARD_AMBIGUOUS:
        FUZZ_ASSERT(!current[i] && legacy_n[i] >= 2);
        FUZZ_ASSERT(r.n_candidates >= 2 && r.n_candidates == legacy_n[i]);
        for (int k = 0; k < r.n_candidates; k++) {
            FUZZ_ASSERT(current[code_index(r.candidates[k])]);
            for (int j = 0; j < k; j++)
                FUZZ_ASSERT(strcmp(r.candidates[j], r.candidates[k]) != 0);
        }
        break;
    case HV_WARD_UNKNOWN:
        FUZZ_ASSERT(!current[i]);
        FUZZ_ASSERT(legacy_n[i] == 0 ||
                    (legacy_n[i] == 1 && !current[code_index(legacy_first[i])]));
        break;
    default:
        FUZZ_ASSERT(0);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    table = hv_wardtab_new();
    load_current();
    load_legacy();
    hv_wardtab_finish(table);
    FUZZ_ASSERT(table->n_wards == 103 && table->n_legacy == 263);
    /* the code space is small: check every well-formed code once, then fuzz the rest */
    char code[8];
    for (int i = 0; i < 100000; i++) {
        snprintf(code, sizeof(code), "%05d", i);
        check(code, 5);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy: resolve must not read past n */
    char *code = fuzz_dup_exact(data, size);
    check(code, size);
    free(code);
    return 0;
}
