/*
 * ctl_cohorts.c - `hocvuctl cohorts import` and `cohorts members` (CONTRACT §11): the cohort
 * list and one cohort's member list, each checked row by row (every bad row reported, up to 50)
 * and loaded all or nothing. Citizen ids are checked as the service checks them and
 * pseudonymised with HOCVU_ID_PEPPER in this process; only the pseudonym is sent.
 */
#include "hocvu/ctl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/citizen.h"
#include "hocvu/cohorts.h"
#include "hocvu/csv.h"
#include "hocvu/ctlutil.h"
#include "hocvu/event.h"
#include "hocvu/json.h"
#include "hocvu/timeutil.h"

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
    s->slots[k].key = hv_xstrndup(key, n);
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

/* The column's index, or -1 after reporting it missing. */
static int need_column(const hv_csv_t *csv, const char *path, const char *name, hv_errlist_t *errs)
{
    int col = hv_csv_column(csv, name);
    if (col < 0)
        hv_ctl_row_fail(errs, path, csv->record_line, name, "required column is missing");
    return col;
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
        hv_ctl_row_fail(errs, path, csv.err_line, NULL, "%s", csv.errstr);
        goto done;
    }
    c_code = need_column(&csv, path, "code", errs);
    c_name = need_column(&csv, path, "name", errs);
    c_kind = need_column(&csv, path, "kind", errs);
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
        hv_ctl_row_fail(errs, path, csv.err_line, NULL, "%s", csv.errstr);
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
        hv_ctl_row_fail(errs, path, csv.err_line, NULL, "%s", csv.errstr);
        goto done;
    }
    c_ref = need_column(&csv, path, "member_ref", errs);
    c_cid = need_column(&csv, path, "citizen_id", errs);
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
        hv_ctl_row_fail(errs, path, csv.err_line, NULL, "%s", csv.errstr);
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

int hv_ctl_cohorts_import(PGconn *conn, const char *path, FILE *out, FILE *errf)
{
    static const char check_sql[] =
        "SELECT s.line, 'ward ' || s.ward || ' is not a current ward (column ward)' "
        "FROM json_to_recordset($1::json) AS s(line int, ward text) "
        "WHERE s.ward IS NOT NULL AND NOT EXISTS (SELECT 1 FROM wards w WHERE w.code = s.ward) "
        "ORDER BY s.line LIMIT 51";
    static const char upsert_sql[] =
        "WITH src AS (SELECT * FROM json_to_recordset($1::json) "
        "  AS s(code text, name text, kind text, ward text)), "
        "up AS (INSERT INTO cohorts AS c (code, name, kind, ward) "
        "  SELECT code, name, kind, ward FROM src ORDER BY code "
        "  ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
        "    ward = EXCLUDED.ward, updated_at = now() "
        "  WHERE (c.name, c.kind, c.ward) IS DISTINCT FROM "
        "    (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.ward) "
        "  RETURNING (c.xmax = 0) AS inserted), "
        "bump AS (INSERT INTO cohort_versions AS v (shard, version) "
        "  SELECT 0, 1 WHERE EXISTS (SELECT 1 FROM up) "
        "  ON CONFLICT (shard) DO UPDATE SET version = v.version + 1) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";
    int status = HV_CTL_FAILED;
    hv_errlist_t errs = {0};
    hv_buf_t file;
    hv_ctl_import_t imp = {0};

    hv_buf_init(&file);
    if (hv_ctl_read_file(path, &file, errf) < 0)
        goto failed;
    if (hv_ctl_cohorts_parse(path, file.data, file.len, &imp, &errs) < 0) {
        hv_errlist_print(&errs, errf);
        goto failed;
    }
    status = hv_ctl_import_send(conn, path, &imp, check_sql, upsert_sql, "cohorts", out, errf);
failed:
    hv_errlist_free(&errs);
    hv_ctl_import_free(&imp);
    hv_buf_free(&file);
    return status;
}

int hv_ctl_cohorts_members(PGconn *conn, const char *code, const char *path, FILE *out, FILE *errf)
{
    static const char diff_sql[] =
        "WITH src AS (SELECT ref, decode(person, 'hex') AS person "
        "  FROM json_to_recordset($2::json) AS s(ref text, person text)) "
        "SELECT (SELECT count(*) FROM src WHERE NOT EXISTS (SELECT 1 FROM cohort_members m "
        "          WHERE m.cohort = $1 AND m.member_ref = src.ref AND m.person = src.person)), "
        "       (SELECT count(*) FROM cohort_members m WHERE m.cohort = $1 AND NOT EXISTS "
        "          (SELECT 1 FROM src WHERE src.ref = m.member_ref AND src.person = m.person))";
    static const char insert_sql[] =
        "INSERT INTO cohort_members (cohort, member_ref, person) "
        "SELECT $1, ref, decode(person, 'hex') FROM json_to_recordset($2::json) "
        "  AS s(ref text, person text) ORDER BY ref";
    const char *pepper = getenv("HOCVU_ID_PEPPER");
    int status = HV_CTL_FAILED;
    hv_errlist_t errs = {0};
    hv_buf_t file;
    hv_ctl_import_t imp = {0};
    PGresult *res = NULL;
    int year = hv_time_vn_date((int64_t)time(NULL)).year;

    hv_buf_init(&file);
    if (!hv_cohort_code_valid(code, strlen(code))) {
        fprintf(errf,
                "hocvuctl: \"%s\" is not a cohort code (1-64 characters of A-Z a-z 0-9 . _ "
                "-)\n",
                code);
        status = HV_CTL_USAGE;
        goto failed;
    }
    if (!pepper || strlen(pepper) < 32) {
        fprintf(errf, "hocvuctl: cohorts members needs HOCVU_ID_PEPPER (at least 32 bytes), the "
                      "same as the service's, to pseudonymise the citizen ids\n");
        goto failed;
    }
    if (hv_ctl_read_file(path, &file, errf) < 0)
        goto failed;
    if (hv_ctl_members_parse(path, file.data, file.len, pepper, strlen(pepper), year, &imp, &errs) <
        0) {
        hv_errlist_print(&errs, errf);
        goto failed;
    }
    explicit_bzero(file.data, file.len); /* the raw ids are not needed any more */
    const char *p[2] = {code, imp.json.data};
    if (hv_ctl_exec_command(conn, "BEGIN", "could not import the members", errf) < 0)
        goto failed;
    /* The membership lock first: writers in flight finish, new ones wait for the commit. */
    if (hv_ctl_exec_command(conn, "SELECT pg_advisory_xact_lock(1752590340, 0)",
                            "could not import the members", errf) < 0)
        goto failed;
    res = hv_ctl_exec(conn, "SELECT 1 FROM cohorts WHERE code = $1", 1, p, PGRES_TUPLES_OK,
                      "could not import the members", errf);
    if (!res)
        goto failed;
    if (PQntuples(res) == 0) {
        fprintf(errf, "hocvuctl: no cohort %s: import it first with hocvuctl cohorts import\n",
                code);
        goto failed;
    }
    PQclear(res);
    res = hv_ctl_exec(conn, diff_sql, 2, p, PGRES_TUPLES_OK, "could not import the members", errf);
    if (!res)
        goto failed;
    long long added = atoll(PQgetvalue(res, 0, 0)), removed = atoll(PQgetvalue(res, 0, 1));
    PQclear(res);
    res = hv_ctl_exec(conn, "DELETE FROM cohort_members WHERE cohort = $1", 1, p, PGRES_COMMAND_OK,
                      "could not import the members", errf);
    if (!res)
        goto failed;
    PQclear(res);
    res =
        hv_ctl_exec(conn, insert_sql, 2, p, PGRES_COMMAND_OK, "could not import the members", errf);
    if (!res)
        goto failed;
    PQclear(res);
    res = hv_ctl_exec(conn, "SELECT hv_cohort_recount($1)", 1, p, PGRES_TUPLES_OK,
                      "could not count the members", errf);
    if (!res)
        goto failed;
    if (hv_ctl_exec_command(conn, "COMMIT", "could not import the members", errf) < 0)
        goto failed;
    fprintf(out, "imported %zu members of cohort %s (%lld added, %lld removed, %lld unchanged)\n",
            imp.rows, code, added, removed, (long long)imp.rows - added);
    status = HV_CTL_OK;
failed:
    PQclear(res);
    hv_ctl_rollback(conn);
    hv_errlist_free(&errs);
    hv_ctl_import_free(&imp);
    hv_buf_free(&file);
    return status;
}
