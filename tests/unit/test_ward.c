/*
 * test_ward.c - unit tests for ward.c: a hand-built table covering every resolution outcome, and
 * the real Cần Thơ 2025 unit list and pre-2025 mapping loaded from the data/ CSV files.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hocvu/ward.h"

static void test_small_table(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    CHECK(hv_wardtab_add(t, "31135", "Phường Ninh Kiều", "phuong", 119547, -1) == 0);
    CHECK(hv_wardtab_add(t, "31120", "Phường Cái Khế", "phuong", -1, 5000) == 0);
    CHECK(hv_wardtab_add(t, "31168", "Phường Bình Thủy", "phuong", -1, -1) == 0);
    CHECK(hv_wardtab_add(t, "31183", "Phường Long Tuyền", "phuong", -1, -1) == 0);
    CHECK(hv_wardtab_add(t, "3113", "short", "xa", -1, -1) == -1);
    CHECK(hv_wardtab_add(t, "311355", "long", "xa", -1, -1) == -1);
    CHECK(hv_wardtab_add(t, "3113a", "letter", "xa", -1, -1) == -1);

    const char *ninh_kieu[] = {"31135"};
    const char *cai_khe_binh_thuy[] = {"31120", "31168"};
    const char *gone[] = {"99999"};
    const char *long_tuyen[] = {"31150", "31183"};
    CHECK(hv_wardtab_add_legacy(t, "31123", ninh_kieu, 1, false) == 0);
    CHECK(hv_wardtab_add_legacy(t, "31178", cai_khe_binh_thuy, 2, true) == 0);
    CHECK(hv_wardtab_add_legacy(t, "31999", gone, 1, false) == 0);
    /* a legacy code that is also a current code: the current unit wins */
    CHECK(hv_wardtab_add_legacy(t, "31183", long_tuyen, 2, true) == 0);
    /* listed with two targets but not flagged split: still ambiguous */
    CHECK(hv_wardtab_add_legacy(t, "31190", cai_khe_binh_thuy, 2, false) == 0);
    CHECK(hv_wardtab_add_legacy(t, "3112", ninh_kieu, 1, false) == -1);
    CHECK(hv_wardtab_add_legacy(t, "31124", ninh_kieu, 0, false) == -1);
    CHECK(hv_wardtab_add_legacy(t, "31124", gone, HV_WARD_MAX_CANDIDATES + 1, false) == -1);
    const char *bad_target[] = {"3113x"};
    CHECK(hv_wardtab_add_legacy(t, "31124", bad_target, 1, false) == -1);
    hv_wardtab_finish(t);
    CHECK(t->n_wards == 4 && t->n_legacy == 5);

    static const struct {
        const char *code;
        hv_ward_result_t want;
        const char *ward; /* OK: resolved code */
        int n_candidates; /* AMBIGUOUS */
    } cases[] = {
        {"31135", HV_WARD_OK, "31135", 0},     {"31120", HV_WARD_OK, "31120", 0},
        {"31123", HV_WARD_OK, "31135", 0},     {"31183", HV_WARD_OK, "31183", 0},
        {"31178", HV_WARD_AMBIGUOUS, NULL, 2}, {"31190", HV_WARD_AMBIGUOUS, NULL, 2},
        {"31999", HV_WARD_UNKNOWN, NULL, 0},   {"00000", HV_WARD_UNKNOWN, NULL, 0},
        {"3113", HV_WARD_MALFORMED, NULL, 0},  {"311350", HV_WARD_MALFORMED, NULL, 0},
        {"3113a", HV_WARD_MALFORMED, NULL, 0}, {" 3113", HV_WARD_MALFORMED, NULL, 0},
        {"", HV_WARD_MALFORMED, NULL, 0},      {"x", HV_WARD_MALFORMED, NULL, 0},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        hv_ward_resolution_t r;
        hv_ward_result_t res = hv_wardtab_resolve(t, cases[i].code, strlen(cases[i].code), &r);
        CHECK_MSG(res == cases[i].want, "%s: got %d", cases[i].code, (int)res);
        if (res != cases[i].want)
            continue;
        if (res == HV_WARD_OK)
            CHECK(r.ward && strcmp(r.ward->code, cases[i].ward) == 0);
        else
            CHECK(r.ward == NULL);
        CHECK(r.n_candidates == cases[i].n_candidates);
    }
    hv_ward_resolution_t r;
    CHECK(hv_wardtab_resolve(t, "31178", 5, &r) == HV_WARD_AMBIGUOUS);
    CHECK_STR(r.candidates[0], "31120");
    CHECK_STR(r.candidates[1], "31168");
    /* the length bounds the code: a 5-digit prefix of a longer buffer resolves */
    CHECK(hv_wardtab_resolve(t, "31135xyz", 5, &r) == HV_WARD_OK);

    const hv_ward_t *w = hv_wardtab_find(t, "31120");
    CHECK(w && strcmp(w->name, "Phường Cái Khế") == 0 && w->target == 5000 && w->population == -1);
    w = hv_wardtab_find(t, "31135");
    CHECK(w && strcmp(w->type, "phuong") == 0 && w->population == 119547);
    CHECK(hv_wardtab_find(t, "31123") == NULL); /* legacy codes are not current units */
    CHECK(hv_wardtab_find(t, "3112") == NULL);
    hv_wardtab_free(t);

    /* an empty table resolves nothing and does not crash */
    t = hv_wardtab_new();
    hv_wardtab_finish(t);
    CHECK(hv_wardtab_resolve(t, "31135", 5, &r) == HV_WARD_UNKNOWN);
    CHECK(hv_wardtab_find(t, "31135") == NULL);
    hv_wardtab_free(t);
}

/* --- minimal CSV reading for the reference files (no quoted fields in them) --- */

#define MAX_FIELDS 32

/* Splits line in place on ','; returns the number of fields. */
static int split_csv(char *line, char **fields)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    fields[n++] = line;
    for (char *p = line; *p && n < MAX_FIELDS; p++) {
        if (*p == ',') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

static int column(char **header, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(header[i], name) == 0)
            return i;
    return -1;
}

static bool load_wards(hv_wardtab_t *t, const char *path)
{
    char line[4096], hline[4096];
    char *header[MAX_FIELDS], *f[MAX_FIELDS];
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        return false;
    }
    bool ok = false;
    if (!fgets(hline, sizeof(hline), fp))
        goto failed;
    int nh = split_csv(hline, header);
    int c_code = column(header, nh, "code"), c_name = column(header, nh, "name"),
        c_type = column(header, nh, "type"), c_pop = column(header, nh, "population"),
        c_flag = column(header, nh, "population_flag");
    if (c_code < 0 || c_name < 0 || c_type < 0 || c_pop < 0)
        goto failed;
    while (fgets(line, sizeof(line), fp)) {
        if (strchr(line, '"'))
            goto failed;
        int n = split_csv(line, f);
        if (n != nh)
            goto failed;
        int64_t pop = *f[c_pop] ? strtoll(f[c_pop], NULL, 10) : -1;
        if (c_flag >= 0 && *f[c_flag])
            pop = -1;
        if (hv_wardtab_add(t, f[c_code], f[c_name], f[c_type], pop, -1) != 0)
            goto failed;
    }
    ok = true;
failed:
    fclose(fp);
    return ok;
}

static bool load_legacy(hv_wardtab_t *t, const char *path)
{
    char line[4096], hline[4096];
    char *header[MAX_FIELDS], *f[MAX_FIELDS];
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        return false;
    }
    bool ok = false;
    if (!fgets(hline, sizeof(hline), fp))
        goto failed;
    int nh = split_csv(hline, header);
    int c_old = column(header, nh, "old_code"), c_new = column(header, nh, "new_codes"),
        c_split = column(header, nh, "split");
    if (c_old < 0 || c_new < 0 || c_split < 0)
        goto failed;
    while (fgets(line, sizeof(line), fp)) {
        if (strchr(line, '"'))
            goto failed;
        int n = split_csv(line, f);
        if (n != nh)
            goto failed;
        const char *codes[HV_WARD_MAX_CANDIDATES];
        int nc = 0;
        for (char *tok = strtok(f[c_new], "|"); tok && nc < HV_WARD_MAX_CANDIDATES;
             tok = strtok(NULL, "|"))
            codes[nc++] = tok;
        bool split;
        if (strcmp(f[c_split], "partial") == 0)
            split = true;
        else if (strcmp(f[c_split], "full") == 0)
            split = false;
        else
            goto failed;
        if (hv_wardtab_add_legacy(t, f[c_old], codes, nc, split) != 0)
            goto failed;
    }
    ok = true;
failed:
    fclose(fp);
    return ok;
}

static void test_cantho(void)
{
    hv_wardtab_t *t = hv_wardtab_new();
    CHECK(load_wards(t, "data/cantho_wards_2025.csv"));
    CHECK(load_legacy(t, "data/cantho_old_units_pre2025.csv"));
    hv_wardtab_finish(t);
    CHECK_MSG(t->n_wards == 103, "%zu wards", t->n_wards);
    CHECK_MSG(t->n_legacy == 263, "%zu legacy units", t->n_legacy);

    size_t phuong = 0, xa = 0;
    for (size_t i = 0; i < t->n_wards; i++) {
        phuong += strcmp(t->wards[i].type, "phuong") == 0;
        xa += strcmp(t->wards[i].type, "xa") == 0;
        if (i > 0)
            CHECK(strcmp(t->wards[i - 1].code, t->wards[i].code) < 0); /* sorted, unique */
    }
    CHECK(phuong == 31 && xa == 72);

    hv_ward_resolution_t r;
    CHECK(hv_wardtab_resolve(t, "31135", 5, &r) == HV_WARD_OK && r.ward &&
          strcmp(r.ward->code, "31135") == 0 && strcmp(r.ward->name, "Phường Ninh Kiều") == 0);
    /* old phường Thới Bình merged wholly into Ninh Kiều */
    CHECK(hv_wardtab_resolve(t, "31123", 5, &r) == HV_WARD_OK && r.ward &&
          strcmp(r.ward->code, "31135") == 0);

    /* the three splits stated by NQ 1668: Bùi Hữu Nghĩa, Long Tuyền, Thốt Nốt */
    static const struct {
        const char *old;
        const char *a, *b;
    } splits[] = {
        {"31178", "31120", "31168"},
        {"31183", "31150", "31183"},
        {"31207", "31207", "31228"},
    };
    size_t n_split = 0;
    for (size_t i = 0; i < t->n_legacy; i++)
        n_split += t->legacy[i].split;
    CHECK(n_split == 3);
    for (size_t i = 0; i < HV_ARRAY_LEN(splits); i++) {
        const hv_legacy_ward_t *l = NULL;
        for (size_t j = 0; j < t->n_legacy; j++)
            if (strcmp(t->legacy[j].code, splits[i].old) == 0)
                l = &t->legacy[j];
        CHECK_MSG(l && l->split && l->n_new == 2 && strcmp(l->new_codes[0], splits[i].a) == 0 &&
                      strcmp(l->new_codes[1], splits[i].b) == 0,
                  "legacy %s", splits[i].old);
    }
    /* Bùi Hữu Nghĩa's code was not reused: ambiguous between its two successors */
    CHECK(hv_wardtab_resolve(t, "31178", 5, &r) == HV_WARD_AMBIGUOUS);
    CHECK(r.n_candidates == 2 && strcmp(r.candidates[0], "31120") == 0 &&
          strcmp(r.candidates[1], "31168") == 0);
    /* Long Tuyền and Thốt Nốt passed their codes to current units, which win */
    CHECK(hv_wardtab_resolve(t, "31183", 5, &r) == HV_WARD_OK && r.ward &&
          strcmp(r.ward->code, "31183") == 0);
    CHECK(hv_wardtab_resolve(t, "31207", 5, &r) == HV_WARD_OK && r.ward &&
          strcmp(r.ward->code, "31207") == 0);

    /* every legacy unit resolves to OK or AMBIGUOUS, never UNKNOWN */
    size_t n_ok = 0, n_amb = 0;
    for (size_t i = 0; i < t->n_legacy; i++) {
        hv_ward_result_t res = hv_wardtab_resolve(t, t->legacy[i].code, 5, &r);
        n_ok += res == HV_WARD_OK;
        n_amb += res == HV_WARD_AMBIGUOUS;
        CHECK_MSG(res == HV_WARD_OK || res == HV_WARD_AMBIGUOUS, "legacy %s", t->legacy[i].code);
    }
    CHECK(n_ok == 262 && n_amb == 1);
    CHECK(hv_wardtab_resolve(t, "01001", 5, &r) == HV_WARD_UNKNOWN);
    hv_wardtab_free(t);
}

int main(void)
{
    test_small_table();
    test_cantho();
    CHECK_DONE();
}
