/*
 * cohortfile.c - the files of `hocvuctl cohorts import` and `cohorts members` (CONTRACT §11),
 * checked row by row without the database: every bad row is reported (up to 50), and a member
 * list leaves this module with pseudonyms only. The one check that needs the database (a
 * cohort's ward is a current ward) is the caller's.
 */
#include "hocvu/cohortfile.h"

#include <stdlib.h>
#include <string.h>

#include "hocvu/citizen.h"
#include "hocvu/csv.h"
#include "hocvu/ctl.h"
#include "hocvu/ctlutil.h"
#include "hocvu/event.h"
#include "hocvu/json.h"

static const char *const KINDS[] = {"agency", "enterprise", "school", "village", "team", "mentor"};

bool hv_cohort_kind_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(KINDS); i++)
        if (strlen(KINDS[i]) == n && memcmp(KINDS[i], s, n) == 0)
            return true;
    return false;
}

#define MEMBER_REF_MAX 64 /* characters (code points) */

/* Remembers keys of a file (codes, references, pseudonyms) with the line that first had each:
 * an open-addressing table of owned copies. */
typedef struct seen {
    struct {
        char *key;
        size_t len;
        long line;
    } * slots;
    size_t cap, n;
} seen_t;

static uint64_t key_hash(const char *k, size_t n)
{
    return hv_mix64(hv_fnv1a(HV_FNV_OFFSET, k, n));
}

/* The line that first had key, or 0 after remembering it at line. */
static long seen_add(seen_t *s, const char *key, size_t n, long line)
{
    if (2 * (s->n + 1) > s->cap) {
        seen_t bigger = {.cap = s->cap ? 2 * s->cap : 1024};
        bigger.slots = hv_xcalloc(bigger.cap, sizeof(*bigger.slots));
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i].key)
                continue;
            size_t k = key_hash(s->slots[i].key, s->slots[i].len) & (bigger.cap - 1);
            while (bigger.slots[k].key)
                k = (k + 1) & (bigger.cap - 1);
            bigger.slots[k] = s->slots[i];
        }
        free(s->slots);
        bigger.n = s->n;
        *s = bigger;
    }
    size_t k = key_hash(key, n) & (s->cap - 1);
    for (; s->slots[k].key; k = (k + 1) & (s->cap - 1))
        if (s->slots[k].len == n && memcmp(s->slots[k].key, key, n) == 0)
            return s->slots[k].line;
    s->slots[k].key = hv_xmalloc(n ? n : 1); /* keys may hold NUL bytes (pseudonyms) */
    memcpy(s->slots[k].key, key, n);
    s->slots[k].len = n;
    s->slots[k].line = line;
    s->n++;
    return 0;
}

static void seen_free(seen_t *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].key);
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

/* Number of code points of valid UTF-8. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int hv_ctl_cohorts_parse(const char *path, const char *data, size_t len, hv_ctl_import_t *imp,
                         hv_errlist_t *errs)
{
    size_t bad_before = errs->total;
    int r, c_code, c_name, c_kind, c_ward;
    seen_t codes = {0};
    hv_csv_t csv;
    hv_json_t j;

    memset(imp, 0, sizeof(*imp));
    hv_buf_init(&imp->json);
    hv_json_init(&j, &imp->json);
    hv_csv_init(&csv, data, len);
    if (hv_csv_read_header(&csv) < 0) {
        hv_ctl_csv_fail(&csv, path, errs);
        goto done;
    }
    c_code = hv_ctl_required_column(&csv, path, "code", errs);
    c_name = hv_ctl_required_column(&csv, path, "name", errs);
    c_kind = hv_ctl_required_column(&csv, path, "kind", errs);
    c_ward = hv_csv_column(&csv, "ward");
    if (errs->total > bad_before)
        goto done;
    hv_json_arr(&j);
    while ((r = hv_csv_next(&csv)) == 1) {
        long line = csv.record_line, first;
        size_t cn, nn, kn, wn = 0, bad = errs->total;
        const char *code = hv_trim(hv_csv_field(&csv, c_code), &cn);
        const char *name = hv_trim(hv_csv_field(&csv, c_name), &nn);
        const char *kind = hv_trim(hv_csv_field(&csv, c_kind), &kn);
        const char *ward = c_ward >= 0 ? hv_trim(hv_csv_field(&csv, c_ward), &wn) : "";

        if (!hv_cohort_code_valid(code, cn))
            hv_ctl_row_fail(errs, path, line, "code",
                            "code must be 1-64 characters of A-Z a-z 0-9 . _ -, got \"%.*s\"",
                            (int)(cn > 40 ? 40 : cn), code);
        else if ((first = seen_add(&codes, code, cn, line)) != 0)
            hv_ctl_row_fail(errs, path, line, "code", "duplicate code %.*s, first on line %ld",
                            (int)cn, code, first);
        if (nn == 0)
            hv_ctl_row_fail(errs, path, line, "name", "name is empty");
        else if (!hv_ctl_clean_text(name, nn))
            hv_ctl_row_fail(errs, path, line, "name",
                            "name is not valid UTF-8 text or contains a control character");
        if (!hv_cohort_kind_valid(kind, kn))
            hv_ctl_row_fail(errs, path, line, "kind",
                            "kind must be agency, enterprise, school, village, team or mentor, "
                            "got \"%.*s\"",
                            (int)(kn > 40 ? 40 : kn), kind);
        if (wn > 0 && (wn != 5 || !hv_all_digits(ward, wn)))
            hv_ctl_row_fail(errs, path, line, "ward",
                            "ward must be empty or a 5-digit ward code, got \"%.*s\"",
                            (int)(wn > 40 ? 40 : wn), ward);
        if (errs->total != bad)
            continue;
        hv_json_obj(&j);
        hv_json_kint(&j, "line", line);
        hv_json_key(&j, "code");
        hv_json_strn(&j, code, cn);
        hv_json_key(&j, "name");
        hv_json_strn(&j, name, nn);
        hv_json_key(&j, "kind");
        hv_json_strn(&j, kind, kn);
        hv_json_key(&j, "ward");
        if (wn)
            hv_json_strn(&j, ward, wn);
        else
            hv_json_null(&j);
        hv_json_end(&j);
        imp->rows++;
    }
    if (r < 0)
        hv_ctl_csv_fail(&csv, path, errs);
    else if (imp->rows == 0 && errs->total == bad_before)
        hv_ctl_row_fail(errs, path, csv.line, NULL, "no records after the header");
    hv_json_end(&j);
done:
    if (errs->total > bad_before)
        hv_ctl_import_free(imp);
    seen_free(&codes);
    hv_csv_free(&csv);
    return errs->total > bad_before ? -1 : 0;
}

int hv_ctl_members_parse(const char *path, const char *data, size_t len, const char *pepper,
                         size_t pepper_len, int year, hv_ctl_import_t *imp, hv_errlist_t *errs)
{
    size_t bad_before = errs->total;
    int r, c_ref, c_cid;
    seen_t refs = {0}, persons = {0};
    hv_pseudonymizer_t *ps = hv_pseudonymizer_new(pepper, pepper_len);
    hv_csv_t csv;
    hv_json_t j;

    memset(imp, 0, sizeof(*imp));
    hv_buf_init(&imp->json);
    hv_json_init(&j, &imp->json);
    hv_csv_init(&csv, data, len);
    if (!ps) {
        hv_ctl_row_fail(errs, path, 0, NULL, "no HMAC-SHA256 from OpenSSL");
        goto done;
    }
    if (hv_csv_read_header(&csv) < 0) {
        hv_ctl_csv_fail(&csv, path, errs);
        goto done;
    }
    c_ref = hv_ctl_required_column(&csv, path, "member_ref", errs);
    c_cid = hv_ctl_required_column(&csv, path, "citizen_id", errs);
    if (errs->total > bad_before)
        goto done;
    hv_json_arr(&j);
    while ((r = hv_csv_next(&csv)) == 1) {
        long line = csv.record_line, first;
        size_t rn, in, bad = errs->total;
        const char *ref = hv_trim(hv_csv_field(&csv, c_ref), &rn);
        const char *cid = hv_trim(hv_csv_field(&csv, c_cid), &in);
        uint8_t person[HV_PSEUDONYM_LEN];
        char hex[2 * HV_PSEUDONYM_LEN + 1];

        if (rn == 0 || !hv_ctl_clean_text(ref, rn) || utf8_chars(ref, rn) > MEMBER_REF_MAX)
            hv_ctl_row_fail(errs, path, line, "member_ref",
                            "member_ref must be 1-64 printable characters");
        else if ((first = seen_add(&refs, ref, rn, line)) != 0)
            hv_ctl_row_fail(errs, path, line, "member_ref",
                            "duplicate member_ref, first on line %ld", first);
        /* The number itself is never echoed: it is personal data. */
        if (!hv_citizen_valid(cid, in, year, NULL)) {
            hv_ctl_row_fail(errs, path, line, "citizen_id",
                            "citizen_id must be 12 digits with a known province code and a "
                            "birth year not in the future");
        } else {
            hv_pseudonymize(ps, cid, in, person);
            if ((first = seen_add(&persons, (const char *)person, sizeof(person), line)) != 0)
                hv_ctl_row_fail(errs, path, line, "citizen_id", "the same citizen as line %ld",
                                first);
        }
        if (errs->total != bad)
            continue;
        hv_hex_encode(person, sizeof(person), hex);
        hv_json_obj(&j);
        hv_json_key(&j, "ref");
        hv_json_strn(&j, ref, rn);
        hv_json_kstr(&j, "person", hex);
        hv_json_end(&j);
        imp->rows++;
    }
    if (r < 0)
        hv_ctl_csv_fail(&csv, path, errs);
    hv_json_end(&j);
done:
    if (errs->total > bad_before)
        hv_ctl_import_free(imp);
    hv_pseudonymizer_free(ps);
    seen_free(&refs);
    seen_free(&persons);
    /* The file held raw citizen ids; the reader's copies of fields are gone with csv. */
    hv_csv_free(&csv);
    return errs->total > bad_before ? -1 : 0;
}
