/*
 * ward.c - the table of current commune-level units and pre-2025 codes: loaded from the
 * database, then read-only; resolution maps any accepted code to a current unit or says why
 * it cannot.
 */
#include "hocvu/ward.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/log.h"

static bool code_ok(const char *s, size_t n)
{
    if (n != HV_WARD_CODE_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool cstr_code_ok(const char *s)
{
    return s && code_ok(s, strnlen(s, HV_WARD_CODE_LEN + 1));
}

hv_wardtab_t *hv_wardtab_new(void)
{
    return hv_xcalloc(1, sizeof(hv_wardtab_t));
}

/* Frees the table and every name/type string it owns. Pointers from hv_wardtab_find or a
 * resolution become invalid. */
void hv_wardtab_free(hv_wardtab_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_wards; i++) {
        free(t->wards[i].name);
        free(t->wards[i].type);
    }
    free(t->wards);
    free(t->legacy);
    free(t);
}

/* Copies name and type (NULL is stored as ""). Adding the same code twice is a caller error:
 * which copy lookups find is then unspecified. */
int hv_wardtab_add(hv_wardtab_t *t, const char *code, const char *name, const char *type,
                   int64_t population, int64_t target)
{
    if (!cstr_code_ok(code))
        return -1;
    if (t->n_wards == t->cap_wards) {
        t->cap_wards = t->cap_wards ? t->cap_wards * 2 : 64;
        t->wards = hv_xrealloc(t->wards, t->cap_wards * sizeof(*t->wards));
    }
    hv_ward_t *w = &t->wards[t->n_wards++];
    memcpy(w->code, code, HV_WARD_CODE_LEN + 1);
    w->name = hv_xstrdup(name ? name : "");
    w->type = hv_xstrdup(type ? type : "");
    w->population = population;
    w->target = target;
    return 0;
}

/* Returns -1 if the old code or any new code is not 5 digits, or n is outside
 * 1..HV_WARD_MAX_CANDIDATES. */
int hv_wardtab_add_legacy(hv_wardtab_t *t, const char *old_code, const char *const *new_codes,
                          int n, bool split)
{
    if (!cstr_code_ok(old_code) || n < 1 || n > HV_WARD_MAX_CANDIDATES)
        return -1;
    for (int i = 0; i < n; i++)
        if (!cstr_code_ok(new_codes[i]))
            return -1;
    if (t->n_legacy == t->cap_legacy) {
        t->cap_legacy = t->cap_legacy ? t->cap_legacy * 2 : 64;
        t->legacy = hv_xrealloc(t->legacy, t->cap_legacy * sizeof(*t->legacy));
    }
    hv_legacy_ward_t *l = &t->legacy[t->n_legacy++];
    memset(l, 0, sizeof(*l));
    memcpy(l->code, old_code, HV_WARD_CODE_LEN + 1);
    l->n_new = n;
    for (int i = 0; i < n; i++)
        memcpy(l->new_codes[i], new_codes[i], HV_WARD_CODE_LEN + 1);
    l->split = split;
    return 0;
}

/* Both record types start with their NUL-terminated code, so one comparator serves both the
 * sort and the bsearch (where the key is a code string). */
static int cmp_code(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

void hv_wardtab_finish(hv_wardtab_t *t)
{
    if (t->n_wards)
        qsort(t->wards, t->n_wards, sizeof(*t->wards), cmp_code);
    if (t->n_legacy)
        qsort(t->legacy, t->n_legacy, sizeof(*t->legacy), cmp_code);
}

/* Returns the current unit with this code, borrowed from the table, or NULL. */
const hv_ward_t *hv_wardtab_find(const hv_wardtab_t *t, const char *code)
{
    if (!cstr_code_ok(code) || t->n_wards == 0)
        return NULL;
    return bsearch(code, t->wards, t->n_wards, sizeof(*t->wards), cmp_code);
}

static const hv_legacy_ward_t *find_legacy(const hv_wardtab_t *t, const char *code)
{
    if (t->n_legacy == 0)
        return NULL;
    return bsearch(code, t->legacy, t->n_legacy, sizeof(*t->legacy), cmp_code);
}

/* Current codes win over legacy ones: several pre-2025 units gave their code to the new unit
 * (e.g. 31183 Long Tuyền), and the sender means the unit that exists today. A legacy unit
 * mapped to a code missing from the current table is reported unknown rather than guessed. */
hv_ward_result_t hv_wardtab_resolve(const hv_wardtab_t *t, const char *code, size_t n,
                                    hv_ward_resolution_t *out)
{
    char key[HV_WARD_CODE_LEN + 1];
    memset(out, 0, sizeof(*out));
    if (!code || !code_ok(code, n))
        return HV_WARD_MALFORMED;
    memcpy(key, code, HV_WARD_CODE_LEN);
    key[HV_WARD_CODE_LEN] = '\0';

    const hv_ward_t *w = hv_wardtab_find(t, key);
    if (w) {
        out->ward = w;
        return HV_WARD_OK;
    }
    const hv_legacy_ward_t *l = find_legacy(t, key);
    if (!l || l->n_new < 1)
        return HV_WARD_UNKNOWN;
    if (!l->split && l->n_new == 1) {
        out->ward = hv_wardtab_find(t, l->new_codes[0]);
        return out->ward ? HV_WARD_OK : HV_WARD_UNKNOWN;
    }
    out->n_candidates = l->n_new;
    for (int i = 0; i < l->n_new; i++)
        memcpy(out->candidates[i], l->new_codes[i], HV_WARD_CODE_LEN + 1);
    return HV_WARD_AMBIGUOUS;
}

/* Runs a query that returns rows; NULL with the error's first line in err. */
static PGresult *fetch(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorMessage(res);
        snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t int_or(const PGresult *res, int r, int c, int64_t dflt)
{
    return PQgetisnull(res, r, c) ? dflt : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

hv_wardtab_t *hv_wardtab_load(PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = fetch(conn,
                          "SELECT code, name, type, population, coalesce(population_flag, ''),"
                          " target FROM wards ORDER BY code",
                          err, errlen);
    hv_wardtab_t *t;

    if (!res)
        return NULL;
    t = hv_wardtab_new();
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t pop = int_or(res, r, 3, -1);
        if (PQgetvalue(res, r, 4)[0])
            pop = -1; /* flagged as implausible: no estimate from it */
        if (hv_wardtab_add(t, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                           pop, int_or(res, r, 5, -1)) < 0)
            hv_log(HV_LOG_WARN, "ward skipped", "code=%s", PQgetvalue(res, r, 0));
    }
    PQclear(res);

    /* new_codes is a text[] of 5-digit codes: joined with commas, nothing needs quoting. */
    res = fetch(conn, "SELECT old_code, array_to_string(new_codes, ','), split FROM legacy_wards",
                err, errlen);
    if (!res) {
        hv_wardtab_free(t);
        return NULL;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        char codes[HV_WARD_MAX_CANDIDATES][HV_WARD_CODE_LEN + 1];
        const char *ptrs[HV_WARD_MAX_CANDIDATES];
        int n = 0;
        const char *p = PQgetvalue(res, r, 1);
        while (*p && n < HV_WARD_MAX_CANDIDATES) {
            size_t len = strcspn(p, ",");
            snprintf(codes[n], sizeof(codes[n]), "%.*s", (int)len, p);
            ptrs[n] = codes[n];
            n++;
            p += len;
            if (*p == ',')
                p++;
        }
        if (hv_wardtab_add_legacy(t, PQgetvalue(res, r, 0), ptrs, n,
                                  PQgetvalue(res, r, 2)[0] == 't') < 0)
            hv_log(HV_LOG_WARN, "legacy ward skipped", "code=%s", PQgetvalue(res, r, 0));
    }
    PQclear(res);
    hv_wardtab_finish(t);
    return t;
}

uint64_t hv_wardtab_hash(const hv_wardtab_t *t)
{
    uint64_t h = HV_FNV_OFFSET;
    for (size_t i = 0; i < t->n_wards; i++) {
        const hv_ward_t *w = &t->wards[i];
        h = hv_fnv1a(h, w->code, strlen(w->code) + 1);
        h = hv_fnv1a(h, w->name, strlen(w->name) + 1);
        h = hv_fnv1a(h, w->type, strlen(w->type) + 1);
        h = hv_fnv1a(h, &w->population, sizeof(w->population));
        h = hv_fnv1a(h, &w->target, sizeof(w->target));
    }
    return h;
}
