/*
 * ctl.c - the hocvuctl commands: embedded migrations, all-or-nothing idempotent ward imports
 * from CSV, reconciliation of counters against the certificates, webhook secret generation.
 */
#include "hocvu/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "hocvu/csv.h"
#include "hocvu/ctlutil.h"
#include "hocvu/event.h"
#include "hocvu/evidence.h"
#include "hocvu/json.h"
#include "hocvu/migrate.h"
#include "hocvu/targets.h"
#include "hocvu/readmodel.h"
#include "hocvu/report.h"
#include "hocvu/snapshot.h"
#include "hocvu/timeutil.h"
#include "hocvu/ward.h"
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#define HV_WARD_CODES 100000 /* 5-digit codes: 00000..99999 */
#define HV_MAX_INT_DIGITS 18 /* fits int64 */

static bool is_code(const char *s, size_t n)
{
    return n == 5 && hv_all_digits(s, n);
}

/* Validates a required text field of the current record and writes it as the string member
 * "key" of the open object. Returns 0, or -1 with err set. */
static int put_text(hv_json_t *json, const hv_csv_t *csv, int col, const char *key,
                    const char *path, hv_errlist_t *errs)
{
    size_t n;
    const char *v = hv_trim(hv_csv_field(csv, col), &n);

    if (n == 0)
        return hv_ctl_row_fail(errs, path, csv->record_line, key, "%s is empty", key);
    if (!hv_ctl_clean_text(v, n))
        return hv_ctl_row_fail(errs, path, csv->record_line, key,
                               "%s is not valid UTF-8 text or contains a control character", key);
    hv_json_key(json, key);
    hv_json_strn(json, v, n);
    return 0;
}

/* Validates an optional non-negative integer field (empty = null) and writes it as member
 * "key". A column that the file lacks (col < 0) writes nothing. Returns 0 or -1 with err. */
static int put_count(hv_json_t *json, const hv_csv_t *csv, int col, const char *key,
                     const char *path, hv_errlist_t *errs)
{
    size_t n;
    const char *v;

    if (col < 0)
        return 0;
    v = hv_trim(hv_csv_field(csv, col), &n);
    if (n > 0 && (!hv_all_digits(v, n) || n > HV_MAX_INT_DIGITS))
        return hv_ctl_row_fail(errs, path, csv->record_line, key,
                               "%s must be empty or a non-negative integer, got \"%.*s\"", key,
                               (int)(n > 40 ? 40 : n), v);
    /* Written only once valid, so a bad field leaves the row's object well formed. */
    hv_json_key(json, key);
    if (n == 0)
        hv_json_null(json);
    else
        hv_json_int(json, strtoll(v, NULL, 10));
    return 0;
}

/* Closes a row that was written on its own (rj into row) and adds it to the import when none
 * of its fields was bad. */
static void keep_row(hv_json_t *j, hv_json_t *rj, const hv_buf_t *row, bool good,
                     hv_ctl_import_t *imp)
{
    hv_json_end(rj);
    if (!good)
        return;
    hv_json_raw(j, row->data, row->len);
    imp->rows++;
}

static bool ward_type_ok(const char *v, size_t n)
{
    return (n == 6 && memcmp(v, "phuong", 6) == 0) || (n == 2 && memcmp(v, "xa", 2) == 0) ||
           (n == 7 && memcmp(v, "dac_khu", 7) == 0);
}

int hv_ctl_wards_parse(const char *path, const char *data, size_t len, const char *province,
                       hv_ctl_import_t *imp, hv_errlist_t *errs)
{
    size_t bad_before = errs->total;
    int r;
    int c_code, c_name, c_type, c_pop, c_target, c_flag, c_prov = -1;
    uint32_t *seen = NULL; /* line of the first row with each code, 0 = not seen */
    hv_csv_t csv;
    hv_json_t j;
    hv_buf_t row;

    memset(imp, 0, sizeof(*imp));
    hv_buf_init(&imp->json);
    hv_buf_init(&row);
    hv_json_init(&j, &imp->json);
    hv_csv_init(&csv, data, len);
    if (hv_csv_read_header(&csv) < 0) {
        hv_ctl_csv_fail(&csv, path, errs);
        goto done;
    }
    c_code = hv_ctl_required_column(&csv, path, "code", errs);
    c_name = hv_ctl_required_column(&csv, path, "name", errs);
    c_type = hv_ctl_required_column(&csv, path, "type", errs);
    if (province && (c_prov = hv_ctl_required_column(&csv, path, "province_code", errs)) < 0)
        hv_ctl_row_fail(errs, path, 1, NULL, "--province needs a province_code column");
    if (errs->total > bad_before)
        goto done;
    c_pop = hv_csv_column(&csv, "population");
    c_target = hv_csv_column(&csv, "target");
    c_flag = hv_csv_column(&csv, "population_flag");
    imp->has_population = c_pop >= 0;
    imp->has_target = c_target >= 0;
    imp->has_flag = c_flag >= 0;

    seen = hv_xcalloc(HV_WARD_CODES, sizeof(*seen));
    hv_json_arr(&j);
    while ((r = hv_csv_next(&csv)) == 1) {
        long line = csv.record_line;
        size_t n, bad = errs->total;
        const char *code = hv_trim(hv_csv_field(&csv, c_code), &n);
        hv_json_t rj;

        if (province) {
            size_t pn;
            const char *pv = hv_trim(hv_csv_field(&csv, c_prov), &pn);
            if (pn != strlen(province) || memcmp(pv, province, pn) != 0)
                continue; /* another province's unit */
        }
        /* Each row is written on its own and kept only when every field passed, so that
         * every bad row is found and reported. */
        hv_buf_reset(&row);
        hv_json_init(&rj, &row);
        hv_json_obj(&rj);
        if (!is_code(code, n)) {
            hv_ctl_row_fail(errs, path, line, "code", "code must be exactly 5 digits, got \"%.*s\"",
                            (int)(n > 40 ? 40 : n), code);
        } else {
            uint32_t *first = &seen[strtol(code, NULL, 10)];
            if (*first)
                hv_ctl_row_fail(errs, path, line, "code", "duplicate code %.5s, first on line %u",
                                code, *first);
            else
                *first = (uint32_t)line;
            hv_json_key(&rj, "code");
            hv_json_strn(&rj, code, n);
        }
        (void)put_text(&rj, &csv, c_name, "name", path, errs);
        if (put_text(&rj, &csv, c_type, "type", path, errs) == 0) {
            const char *type = hv_trim(hv_csv_field(&csv, c_type), &n);
            if (!ward_type_ok(type, n))
                hv_ctl_row_fail(errs, path, line, "type",
                                "type must be phuong, xa or dac_khu, got \"%.*s\"",
                                (int)(n > 40 ? 40 : n), type);
        }
        (void)put_count(&rj, &csv, c_pop, "population", path, errs);
        (void)put_count(&rj, &csv, c_target, "target", path, errs);
        if (c_flag >= 0) {
            const char *flag = hv_trim(hv_csv_field(&csv, c_flag), &n);

            if (n == 0) {
                hv_json_kstr(&rj, "population_flag", NULL);
            } else if (!hv_ctl_clean_text(flag, n)) {
                hv_ctl_row_fail(errs, path, line, "population_flag",
                                "population_flag is not valid UTF-8 text or contains a control "
                                "character");
            } else {
                hv_json_key(&rj, "population_flag");
                hv_json_strn(&rj, flag, n);
            }
        }
        keep_row(&j, &rj, &row, errs->total == bad, imp);
    }
    if (r < 0)
        hv_ctl_csv_fail(&csv, path, errs);
    else if (imp->rows == 0 && errs->total == bad_before && province)
        hv_ctl_row_fail(errs, path, csv.line, NULL, "no units of province %s in the file",
                        province);
    else if (imp->rows == 0 && errs->total == bad_before)
        hv_ctl_row_fail(errs, path, csv.line, NULL, "no records after the header");
    hv_json_end(&j);
done:
    if (errs->total > bad_before)
        hv_ctl_import_free(imp);
    free(seen);
    hv_buf_free(&row);
    hv_csv_free(&csv);
    return errs->total > bad_before ? -1 : 0;
}

/* Parses a split value: full/false → false, partial/true → true. Returns 0 or -1. */
static int parse_split(const char *v, size_t n, bool *split)
{
    if ((n == 4 && strncasecmp(v, "full", 4) == 0) || (n == 5 && strncasecmp(v, "false", 5) == 0))
        *split = false;
    else if ((n == 7 && strncasecmp(v, "partial", 7) == 0) ||
             (n == 4 && strncasecmp(v, "true", 4) == 0))
        *split = true;
    else
        return -1;
    return 0;
}

/* Validates the '|'-separated new_codes field of the current record and writes it as the array
 * member "new_codes". *count receives the number of codes. Returns 0, or -1 with err set. */
static int put_new_codes(hv_json_t *json, const hv_csv_t *csv, int col, const char *path,
                         size_t *count, hv_errlist_t *errs)
{
    size_t n;
    const char *v = hv_trim(hv_csv_field(csv, col), &n);
    const char *end = v + n;
    char codes[64][5];

    *count = 0;
    if (n == 0)
        return hv_ctl_row_fail(errs, path, csv->record_line, "new_codes", "new_codes is empty");
    while (v <= end) {
        const char *bar = memchr(v, '|', (size_t)(end - v));
        const char *stop = bar ? bar : end;
        size_t len = (size_t)(stop - v);

        while (len > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
            len--;
        if (!is_code(v, len))
            return hv_ctl_row_fail(errs, path, csv->record_line, "new_codes",
                                   "each new code must be exactly 5 digits, got \"%.*s\"",
                                   (int)(len > 40 ? 40 : len), v);
        for (size_t i = 0; i < *count; i++)
            if (memcmp(codes[i], v, 5) == 0)
                return hv_ctl_row_fail(errs, path, csv->record_line, "new_codes",
                                       "new code %.5s is listed twice", v);
        if (*count == HV_ARRAY_LEN(codes))
            return hv_ctl_row_fail(errs, path, csv->record_line, "new_codes",
                                   "more than %zu new codes", HV_ARRAY_LEN(codes));
        memcpy(codes[*count], v, 5);
        (*count)++;
        v = stop + 1;
    }
    /* Written only once every code is valid, so the row's object stays well formed. */
    hv_json_key(json, "new_codes");
    hv_json_arr(json);
    for (size_t i = 0; i < *count; i++)
        hv_json_strn(json, codes[i], 5);
    hv_json_end(json);
    return 0;
}

int hv_ctl_legacy_parse(const char *path, const char *data, size_t len, hv_ctl_import_t *imp,
                        hv_errlist_t *errs)
{
    size_t bad_before = errs->total;
    int r;
    int c_code, c_name, c_new, c_split;
    uint32_t *seen = NULL;
    hv_csv_t csv;
    hv_json_t j;
    hv_buf_t row;

    memset(imp, 0, sizeof(*imp));
    hv_buf_init(&imp->json);
    hv_buf_init(&row);
    hv_json_init(&j, &imp->json);
    hv_csv_init(&csv, data, len);
    if (hv_csv_read_header(&csv) < 0) {
        hv_ctl_csv_fail(&csv, path, errs);
        goto done;
    }
    c_code = hv_ctl_required_column(&csv, path, "old_code", errs);
    c_name = hv_ctl_required_column(&csv, path, "old_name", errs);
    c_new = hv_ctl_required_column(&csv, path, "new_codes", errs);
    c_split = hv_ctl_required_column(&csv, path, "split", errs);
    if (errs->total > bad_before)
        goto done;

    seen = hv_xcalloc(HV_WARD_CODES, sizeof(*seen));
    hv_json_arr(&j);
    while ((r = hv_csv_next(&csv)) == 1) {
        long line = csv.record_line;
        size_t n, ncodes = 0, bad = errs->total;
        bool split = false;
        const char *code = hv_trim(hv_csv_field(&csv, c_code), &n);
        const char *sv;
        hv_json_t rj;

        hv_buf_reset(&row);
        hv_json_init(&rj, &row);
        hv_json_obj(&rj);
        hv_json_kint(&rj, "line", line);
        if (!is_code(code, n)) {
            hv_ctl_row_fail(errs, path, line, "old_code",
                            "old_code must be exactly 5 digits, got \"%.*s\"",
                            (int)(n > 40 ? 40 : n), code);
        } else {
            uint32_t *first = &seen[strtol(code, NULL, 10)];
            if (*first)
                hv_ctl_row_fail(errs, path, line, "old_code",
                                "duplicate old_code %.5s, first on line %u", code, *first);
            else
                *first = (uint32_t)line;
            hv_json_key(&rj, "old_code");
            hv_json_strn(&rj, code, 5);
        }
        (void)put_text(&rj, &csv, c_name, "old_name", path, errs);
        bool codes_ok = put_new_codes(&rj, &csv, c_new, path, &ncodes, errs) == 0;
        sv = hv_trim(hv_csv_field(&csv, c_split), &n);
        if (parse_split(sv, n, &split) < 0)
            hv_ctl_row_fail(errs, path, line, "split",
                            "split must be full, partial, true or false, got \"%.*s\"",
                            (int)(n > 40 ? 40 : n), sv);
        else if (codes_ok && !split && ncodes != 1)
            hv_ctl_row_fail(errs, path, line, "new_codes",
                            "a unit that was not split must map to exactly one new code, got %zu",
                            ncodes);
        hv_json_kbool(&rj, "split", split);
        keep_row(&j, &rj, &row, errs->total == bad, imp);
    }
    if (r < 0)
        hv_ctl_csv_fail(&csv, path, errs);
    else if (imp->rows == 0 && errs->total == bad_before)
        hv_ctl_row_fail(errs, path, csv.line, NULL, "no records after the header");
    hv_json_end(&j);
done:
    if (errs->total > bad_before)
        hv_ctl_import_free(imp);
    free(seen);
    hv_buf_free(&row);
    hv_csv_free(&csv);
    return errs->total > bad_before ? -1 : 0;
}

PGconn *hv_ctl_connect(const char *url, FILE *errf)
{
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {url, "hocvuctl", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);

    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        hv_ctl_db_error(errf, "could not connect to database", conn, NULL);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int hv_ctl_migrate(PGconn *conn, FILE *out, FILE *errf)
{
    char err[512];

    if (hv_migrate(conn, out, err, sizeof(err)) < 0) {
        fprintf(errf, "hocvuctl: %s\n", err);
        return HV_CTL_FAILED;
    }
    return HV_CTL_OK;
}

int hv_ctl_import_send(PGconn *conn, const char *path, const hv_ctl_import_t *imp,
                       const char *check_sql, const char *upsert_sql, const char *noun, FILE *out,
                       FILE *errf)
{
    int status = HV_CTL_FAILED;
    const char *params[1] = {imp->json.data};
    char what[128];
    PGresult *res = NULL;

    snprintf(what, sizeof(what), "could not import %s", noun);
    if (hv_ctl_exec_command(conn, "BEGIN", what, errf) < 0)
        goto failed;
    if (check_sql) {
        res = hv_ctl_exec(conn, check_sql, 1, params, PGRES_TUPLES_OK, what, errf);
        if (res == NULL)
            goto failed;
        if (PQntuples(res) > 0) {
            hv_errlist_t errs = {0};
            for (int r = 0; r < PQntuples(res); r++)
                hv_errlist_add(&errs, path, atol(PQgetvalue(res, r, 0)), "%s",
                               PQgetvalue(res, r, 1));
            hv_errlist_print(&errs, errf);
            hv_errlist_free(&errs);
            goto failed;
        }
        PQclear(res);
    }
    res = hv_ctl_exec(conn, upsert_sql, 1, params, PGRES_TUPLES_OK, what, errf);
    if (res == NULL)
        goto failed;
    if (hv_ctl_exec_command(conn, "COMMIT", what, errf) < 0)
        goto failed;
    {
        long long inserted = atoll(PQgetvalue(res, 0, 0));
        long long updated = atoll(PQgetvalue(res, 0, 1));

        fprintf(out, "imported %zu %s (%lld inserted, %lld updated, %lld unchanged)\n", imp->rows,
                noun, inserted, updated, (long long)imp->rows - inserted - updated);
    }
    status = HV_CTL_OK;
failed:
    PQclear(res);
    hv_ctl_rollback(conn);
    return status;
}

int hv_ctl_import_file(PGconn *conn, const char *path, hv_ctl_parse_fn parse, const char *check_sql,
                       const char *upsert_sql, const char *noun, FILE *out, FILE *errf)
{
    int status = HV_CTL_FAILED;
    hv_errlist_t errs = {0};
    hv_buf_t file;
    hv_ctl_import_t imp = {0};

    hv_buf_init(&file);
    if (hv_ctl_read_file(path, &file, errf) < 0)
        goto failed;
    if (parse(path, file.data, file.len, &imp, &errs) < 0) {
        hv_errlist_print(&errs, errf);
        goto failed;
    }
    status = hv_ctl_import_send(conn, path, &imp, check_sql, upsert_sql, noun, out, errf);
failed:
    hv_errlist_free(&errs);
    hv_ctl_import_free(&imp);
    hv_buf_free(&file);
    return status;
}

int hv_ctl_wards_import(PGconn *conn, const char *path, const char *province, FILE *out, FILE *errf)
{
    int status = HV_CTL_FAILED;
    hv_errlist_t errs = {0};
    hv_buf_t file, sql;
    hv_ctl_import_t imp = {0};
    /* Optional columns the file lacks are neither inserted nor updated. */
    const char *cols[6] = {"name", "type", NULL, NULL, NULL, NULL};
    const char *types = "code text, name text, type text, population bigint, "
                        "population_flag text, target bigint";
    size_t ncols = 2;

    hv_buf_init(&file);
    hv_buf_init(&sql);
    if (hv_ctl_read_file(path, &file, errf) < 0)
        goto failed;
    if (hv_ctl_wards_parse(path, file.data, file.len, province, &imp, &errs) < 0) {
        hv_errlist_print(&errs, errf);
        goto failed;
    }
    if (imp.has_population)
        cols[ncols++] = "population";
    if (imp.has_flag)
        cols[ncols++] = "population_flag";
    if (imp.has_target)
        cols[ncols++] = "target";

    hv_buf_puts(&sql, "WITH src AS (SELECT * FROM json_to_recordset($1::json) AS s(");
    hv_buf_printf(&sql, "%s)), up AS (INSERT INTO wards AS w (code", types);
    for (size_t i = 0; i < ncols; i++)
        hv_buf_printf(&sql, ", %s", cols[i]);
    hv_buf_puts(&sql, ") SELECT code");
    for (size_t i = 0; i < ncols; i++)
        hv_buf_printf(&sql, ", %s", cols[i]);
    hv_buf_puts(&sql,
                " FROM src ORDER BY code ON CONFLICT (code) DO UPDATE SET updated_at = now()");
    for (size_t i = 0; i < ncols; i++)
        hv_buf_printf(&sql, ", %s = EXCLUDED.%s", cols[i], cols[i]);
    hv_buf_puts(&sql, " WHERE (");
    for (size_t i = 0; i < ncols; i++)
        hv_buf_printf(&sql, "%sw.%s", i ? ", " : "", cols[i]);
    hv_buf_puts(&sql, ") IS DISTINCT FROM (");
    for (size_t i = 0; i < ncols; i++)
        hv_buf_printf(&sql, "%sEXCLUDED.%s", i ? ", " : "", cols[i]);
    /* xmax = 0 only on a freshly inserted row version. */
    hv_buf_puts(&sql, ") RETURNING (w.xmax = 0) AS inserted) "
                      "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT "
                      "inserted) FROM up");

    status = hv_ctl_import_send(conn, path, &imp, NULL, sql.data, "wards", out, errf);
failed:
    hv_errlist_free(&errs);
    hv_ctl_import_free(&imp);
    hv_buf_free(&file);
    hv_buf_free(&sql);
    return status;
}

int hv_ctl_wards_import_legacy(PGconn *conn, const char *path, FILE *out, FILE *errf)
{
    static const char check_sql[] =
        "SELECT s.line, 'new code ' || c.code || ' is not a current ward, import the wards "
        "first with hocvuctl wards import (column new_codes)' "
        "FROM json_to_recordset($1::json) AS s(line int, new_codes text[]) "
        "CROSS JOIN LATERAL unnest(s.new_codes) WITH ORDINALITY AS c(code, k) "
        "WHERE NOT EXISTS (SELECT 1 FROM wards w WHERE w.code = c.code) "
        "ORDER BY s.line, c.k LIMIT 51";
    static const char upsert_sql[] =
        "WITH src AS (SELECT * FROM json_to_recordset($1::json) "
        "  AS s(old_code text, old_name text, new_codes text[], split boolean)), "
        "up AS (INSERT INTO legacy_wards AS l (old_code, old_name, new_codes, split) "
        "  SELECT old_code, old_name, new_codes, split FROM src ORDER BY old_code "
        "  ON CONFLICT (old_code) DO UPDATE SET old_name = EXCLUDED.old_name, "
        "    new_codes = EXCLUDED.new_codes, split = EXCLUDED.split "
        "  WHERE (l.old_name, l.new_codes, l.split) IS DISTINCT FROM "
        "    (EXCLUDED.old_name, EXCLUDED.new_codes, EXCLUDED.split) "
        "  RETURNING (l.xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";
    return hv_ctl_import_file(conn, path, hv_ctl_legacy_parse, check_sql, upsert_sql,
                              "legacy units", out, errf);
}

int hv_ctl_targets_import(PGconn *conn, const char *path, FILE *out, FILE *errf)
{
    static const char delete_sql[] =
        "WITH src AS (SELECT DISTINCT year FROM json_to_recordset($1::json) AS s(year int)), "
        "gone AS (DELETE FROM targets WHERE year IN (SELECT year FROM src) RETURNING 1) "
        "SELECT count(*) FROM gone";
    static const char insert_sql[] =
        "WITH ins AS (INSERT INTO targets (year, scope, grp, measure, target, percent, base, line) "
        "  SELECT year, scope, grp, measure, target, percent, base, line "
        "  FROM json_to_recordset($1::json) AS s(line int, year int, scope text, grp text, "
        "    measure text, target bigint, percent numeric, base bigint) RETURNING year) "
        "SELECT count(*), string_agg(DISTINCT year::text, ', ' ORDER BY year::text) FROM ins";
    int status = HV_CTL_FAILED;
    hv_buf_t file, json;
    hv_errlist_t errs = {0};
    hv_target_row_t *rows = NULL;
    size_t n = 0;
    PGresult *res = NULL;
    hv_json_t j;

    hv_buf_init(&file);
    hv_buf_init(&json);
    if (hv_ctl_read_file(path, &file, errf) < 0)
        goto failed;
    (void)hv_targets_parse(path, file.data, file.len, &rows, &n, &errs);
    {
        /* A ward scope must be a current ward: one look at the table checks every row that
         * passed, so the file's bad rows are all reported at once. */
        res = hv_ctl_exec(conn, "SELECT code FROM wards", 0, NULL, PGRES_TUPLES_OK,
                          "could not read the wards", errf);
        if (res == NULL)
            goto failed;
        for (size_t i = 0; i < n; i++) {
            bool known =
                strcmp(rows[i].scope, "city") == 0 || strncmp(rows[i].scope, "cohort:", 7) == 0;
            for (int r = 0; !known && r < PQntuples(res); r++)
                known = strcmp(PQgetvalue(res, r, 0), rows[i].scope) == 0;
            if (!known)
                hv_errlist_add(&errs, path, rows[i].line,
                               "scope %s is not a current ward (import the wards first with "
                               "hocvuctl wards import)",
                               rows[i].scope);
        }
        PQclear(res);
        res = NULL;
    }
    if (errs.total > 0) {
        hv_errlist_print(&errs, errf);
        goto failed;
    }
    hv_json_init(&j, &json);
    hv_json_arr(&j);
    for (size_t i = 0; i < n; i++) {
        const hv_target_row_t *t = &rows[i];
        hv_json_obj(&j);
        hv_json_kint(&j, "line", t->line);
        hv_json_kint(&j, "year", t->year);
        hv_json_kstr(&j, "scope", t->scope);
        hv_json_kstr(&j, "grp", t->grp);
        hv_json_kstr(&j, "measure", t->measure);
        hv_json_key(&j, "target");
        if (t->target >= 0)
            hv_json_int(&j, t->target);
        else
            hv_json_null(&j);
        hv_json_kstr(&j, "percent", t->percent[0] ? t->percent : NULL);
        hv_json_key(&j, "base");
        if (t->base >= 0)
            hv_json_int(&j, t->base);
        else
            hv_json_null(&j);
        hv_json_end(&j);
    }
    hv_json_end(&j);
    {
        const char *params[1] = {json.data};
        if (hv_ctl_exec_command(conn, "BEGIN", "could not import targets", errf) < 0)
            goto failed;
        PGresult *gone = hv_ctl_exec(conn, delete_sql, 1, params, PGRES_TUPLES_OK,
                                     "could not import targets", errf);
        if (gone == NULL)
            goto failed;
        res = hv_ctl_exec(conn, insert_sql, 1, params, PGRES_TUPLES_OK, "could not import targets",
                          errf);
        if (res == NULL ||
            hv_ctl_exec_command(conn, "COMMIT", "could not import targets", errf) < 0) {
            PQclear(gone);
            goto failed;
        }
        fprintf(out, "imported %s targets for %s (replacing %s)\n", PQgetvalue(res, 0, 0),
                PQgetvalue(res, 0, 1), PQgetvalue(gone, 0, 0));
        PQclear(gone);
    }
    status = HV_CTL_OK;
failed:
    PQclear(res);
    hv_ctl_rollback(conn);
    hv_errlist_free(&errs);
    free(rows);
    hv_buf_free(&file);
    hv_buf_free(&json);
    return status;
}

/* The read model as the service builds it, from what conn's transaction sees: a snapshot
 * (caller releases) or NULL after printing. */
static hv_snapshot_t *load_snapshot(PGconn *conn, int current_year, FILE *errf)
{
    char err[256];
    hv_target_t *targets = NULL;
    hv_count_row_t *rows = NULL;
    size_t nt = 0, nr = 0;
    const char *env = getenv("HOCVU_TARGET");
    int64_t city = env && env[0] ? strtoll(env, NULL, 10) : 996000;
    hv_wardtab_t *wards = hv_wardtab_load(conn, err, sizeof(err));

    if (!wards || hv_readmodel_targets(conn, &targets, &nt, err, sizeof(err)) < 0 ||
        hv_readmodel_rows(conn, &rows, &nr, err, sizeof(err)) < 0) {
        fprintf(errf, "hocvuctl: could not read the counts: %s\n", err);
        hv_wardtab_free(wards);
        free(targets);
        return NULL;
    }
    hv_snapshot_t *snap = hv_snapshot_build(wards, rows, nr, targets, nt, city > 0 ? city : 996000,
                                            current_year, (int64_t)time(NULL), 0);
    free(targets);
    free(rows);
    return snap;
}

int hv_ctl_report_freeze(PGconn *conn, const char *as_of, const char *year_arg, const char *label,
                         FILE *out, FILE *errf)
{
    int status = HV_CTL_FAILED;
    hv_date_t d;
    int64_t now = (int64_t)time(NULL);
    int current = hv_time_vn_date(now).year, year;
    hv_snapshot_t *snap = NULL;
    hv_view_t *v = NULL;
    hv_buf_t body;
    char digest[65], id[32], err[256], created[32], ystr[16], evsha[65], evlines[24];
    int64_t lines = 0;
    unsigned char rnd[4];
    const char *jurisdiction = getenv("HOCVU_JURISDICTION");
    PGresult *res = NULL;

    hv_buf_init(&body);
    if (!jurisdiction || !jurisdiction[0])
        jurisdiction = "Cần Thơ";
    if (!hv_date_parse(as_of, strlen(as_of), &d)) {
        fprintf(errf, "hocvuctl: --as-of must be a day YYYY-MM-DD, got \"%s\"\n", as_of);
        return HV_CTL_USAGE;
    }
    int32_t day = (int32_t)hv_date_to_days(d);
    if (day > (int32_t)hv_date_to_days(hv_time_vn_date(now))) {
        fprintf(errf, "hocvuctl: --as-of %s is in the future (Vietnam time)\n", as_of);
        return HV_CTL_FAILED;
    }
    year = year_arg ? atoi(year_arg) : d.year;
    if (year < HV_FIRST_YEAR || year > current || (year_arg && strlen(year_arg) != 4)) {
        fprintf(errf, "hocvuctl: the year must be from %d to %d\n", HV_FIRST_YEAR, current);
        return HV_CTL_USAGE;
    }
    if (!label || !label[0] || strlen(label) > 200 || !hv_ctl_clean_text(label, strlen(label))) {
        fprintf(errf, "hocvuctl: --label must be 1-200 bytes of text\n");
        return HV_CTL_USAGE;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        fprintf(errf, "hocvuctl: no random bytes from OpenSSL\n");
        return HV_CTL_FAILED;
    }
    snprintf(id, sizeof(id), "%s-%02x%02x%02x%02x", as_of, rnd[0], rnd[1], rnd[2], rnd[3]);

    /* One snapshot of the database for the counts and the evidence. The evidence sort gets
     * the memory of a maintenance job, not of a query. */
    if (hv_ctl_exec_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ", "could not freeze",
                            errf) < 0 ||
        hv_ctl_exec_command(conn, "SET LOCAL work_mem = '256MB'", "could not freeze", errf) < 0)
        goto failed;
    snap = load_snapshot(conn, current, errf);
    if (!snap)
        goto failed;
    v = hv_view_build(snap, year, day);
    hv_report_meta_t meta = {
        .id = id, .label = label, .jurisdiction = jurisdiction, .created_at = now};
    if (hv_report_build(snap, v, &meta, &body, digest, err, sizeof(err)) < 0) {
        fprintf(errf, "hocvuctl: could not build the report: %s\n", err);
        goto failed;
    }
    /* The parts go first (their reference to the report is checked at commit), so the report
     * row is written once, with the evidence's size and digest. */
    if (hv_evidence_freeze(conn, id, as_of, &lines, evsha, err, sizeof(err)) < 0) {
        fprintf(errf, "hocvuctl: could not store the evidence: %s\n", err);
        goto failed;
    }
    /* Every person counted has their certificate in the evidence, or the report is not made. */
    if (lines != v->total) {
        fprintf(errf,
                "hocvuctl: the counters (%lld certified) and the attribution (%lld persons) "
                "differ: run hocvuctl reconcile --repair first\n",
                (long long)v->total, (long long)lines);
        goto failed;
    }
    hv_time_format_utc(now, created);
    snprintf(ystr, sizeof(ystr), "%d", year);
    snprintf(evlines, sizeof(evlines), "%lld", (long long)lines);
    {
        const char *p[9] = {id, label, as_of, ystr, created, digest, body.data, evlines, evsha};
        res = hv_ctl_exec(conn,
                          "INSERT INTO reports (id, label, as_of, year, created_at, digest, body, "
                          "evidence_lines, evidence_sha256) "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                          9, p, PGRES_COMMAND_OK, "could not store the report", errf);
        if (!res)
            goto failed;
    }
    if (hv_ctl_exec_command(conn, "COMMIT", "could not freeze", errf) < 0)
        goto failed;
    fprintf(out, "frozen report %s\ndigest %s\n", id, digest);
    status = HV_CTL_OK;
failed:
    PQclear(res);
    hv_ctl_rollback(conn);
    hv_view_free(v);
    hv_snapshot_release(snap);
    hv_buf_free(&body);
    return status;
}

/* Prints how one member of the stored and the recomputed object differ, if they do. */
static int print_change(FILE *out, const char *what, const char *member, json_t *then, json_t *now)
{
    if (json_equal(json_object_get(then, member), json_object_get(now, member)))
        return 0;
    char *a = json_dumps(json_object_get(then, member), JSON_ENCODE_ANY | JSON_COMPACT);
    char *b = json_dumps(json_object_get(now, member), JSON_ENCODE_ANY | JSON_COMPACT);
    fprintf(out, "%s %s: %s when frozen, %s now\n", what, member, a ? a : "?", b ? b : "?");
    free(a);
    free(b);
    return 1;
}

int hv_ctl_report_verify(PGconn *conn, const char *id, FILE *out, FILE *errf)
{
    static const char *const ward_members[] = {
        "certified_adults", "certified_total", "target", "target_estimated",
        "percent",          "reached_on",      "rank"};
    static const char *const city_members[] = {"target", "certified_adults", "certified_total",
                                               "percent"};
    const char *p[1] = {id};
    PGresult *res = hv_ctl_exec(conn, "SELECT body, digest, as_of, year FROM reports WHERE id = $1",
                                1, p, PGRES_TUPLES_OK, "could not read the report", errf);
    char computed[65], stated[65], err[256];
    int status = HV_CTL_FAILED, changes = 0;
    hv_snapshot_t *snap = NULL;
    hv_view_t *v = NULL;
    hv_buf_t now_body;
    json_t *then = NULL, *now = NULL;

    hv_buf_init(&now_body);
    if (!res)
        return HV_CTL_FAILED;
    if (PQntuples(res) == 0) {
        fprintf(errf, "hocvuctl: no report %s\n", id);
        goto done;
    }
    const char *body = PQgetvalue(res, 0, 0);
    if (hv_report_digest(body, strlen(body), computed, stated, err, sizeof(err)) < 0) {
        fprintf(errf, "hocvuctl: report %s: %s\n", id, err);
        goto done;
    }
    bool ok = strcmp(computed, stated) == 0 && strcmp(stated, PQgetvalue(res, 0, 1)) == 0;
    if (ok)
        fprintf(out, "digest ok %s\n", computed);
    else
        fprintf(out, "digest MISMATCH: the report states %s, its contents give %s\n", stated,
                computed);
    /* The evidence: the parts as frozen, by their line count and SHA-256. */
    char evsha[65];
    switch (hv_evidence_load(conn, id, NULL, evsha, err, sizeof(err))) {
    case HV_EVIDENCE_OK:
        fprintf(out, "evidence ok %s\n", evsha);
        break;
    case HV_EVIDENCE_BROKEN:
        fprintf(out, "evidence MISMATCH: %s\n", err);
        ok = false;
        break;
    default:
        fprintf(errf, "hocvuctl: could not read the evidence: %s\n", err);
        goto done;
    }

    /* The same as_of recomputed from what the database holds now. */
    hv_date_t d;
    then = json_loads(body, 0, NULL);
    if (!hv_date_parse(PQgetvalue(res, 0, 2), 10, &d) || !then)
        goto done;
    int current = hv_time_vn_date((int64_t)time(NULL)).year;
    snap = load_snapshot(conn, current, errf);
    if (!snap)
        goto done;
    v = hv_view_build(snap, atoi(PQgetvalue(res, 0, 3)), (int32_t)hv_date_to_days(d));
    hv_report_meta_t meta = {.id = id,
                             .label = json_string_value(json_object_get(then, "label")),
                             .jurisdiction =
                                 json_string_value(json_object_get(then, "jurisdiction")),
                             .created_at = (int64_t)time(NULL)};
    char ignored[65];
    if (hv_report_build(snap, v, &meta, &now_body, ignored, err, sizeof(err)) < 0 ||
        !(now = json_loads(now_body.data, 0, NULL))) {
        fprintf(errf, "hocvuctl: could not recompute the report: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < sizeof(city_members) / sizeof(city_members[0]); i++)
        changes += print_change(out, "city", city_members[i], json_object_get(then, "city"),
                                json_object_get(now, "city"));
    changes += print_change(out, "city", "by_group", then, now);
    json_t *tw = json_object_get(then, "wards"), *nw = json_object_get(now, "wards");
    for (size_t i = 0; i < json_array_size(tw); i++) {
        json_t *a = json_array_get(tw, i), *b = NULL;
        const char *code = json_string_value(json_object_get(a, "code"));
        for (size_t k = 0; k < json_array_size(nw) && !b; k++)
            if (code && strcmp(code, json_string_value(
                                         json_object_get(json_array_get(nw, k), "code"))) == 0)
                b = json_array_get(nw, k);
        char what[32];
        snprintf(what, sizeof(what), "ward %s", code ? code : "?");
        if (!b) {
            fprintf(out, "%s: no longer a ward\n", what);
            changes++;
            continue;
        }
        for (size_t m = 0; m < sizeof(ward_members) / sizeof(ward_members[0]); m++)
            changes += print_change(out, what, ward_members[m], a, b);
    }
    if (changes == 0)
        fprintf(out, "no change since the freeze: the same as_of recomputed now gives the same "
                     "figures\n");
    else
        fprintf(out,
                "%d changes since the freeze (late events, revocations); the frozen report "
                "stands as it was\n",
                changes);
    status = ok ? HV_CTL_OK : HV_CTL_FAILED;
done:
    json_decref(then);
    json_decref(now);
    hv_view_free(v);
    hv_snapshot_release(snap);
    hv_buf_free(&now_body);
    PQclear(res);
    return status;
}

/* Rewrites attribution and counters from the certificates. Must run inside the transaction that
 * holds the EXCLUSIVE locks on persons and counters. Returns 0, or -1 after printing. */
static int repair(PGconn *conn, FILE *errf)
{
    static const char *const steps[] = {
        "CREATE TEMP TABLE hv_reconcile_expected ON COMMIT DROP AS "
        "SELECT * FROM hv_expected_attribution",
        "ANALYZE hv_reconcile_expected",
        "UPDATE persons p SET cert_id = e.cert_id, ward = e.ward, grp = e.grp, day = e.day, "
        "adult = e.adult FROM hv_reconcile_expected e WHERE e.person = p.person "
        "AND (p.cert_id, p.ward, p.grp, p.day, p.adult) IS DISTINCT FROM "
        "(e.cert_id, e.ward, e.grp, e.day, e.adult)",
        "UPDATE persons p SET cert_id = NULL, ward = NULL, grp = NULL, day = NULL, adult = NULL "
        "WHERE (p.cert_id IS NOT NULL OR p.ward IS NOT NULL) AND NOT EXISTS "
        "(SELECT 1 FROM hv_reconcile_expected e WHERE e.person = p.person)",
        "INSERT INTO persons (person, cert_id, ward, grp, day, adult) "
        "SELECT e.person, e.cert_id, e.ward, e.grp, e.day, e.adult FROM hv_reconcile_expected e "
        "WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person = e.person)",
        "DELETE FROM counters",
        "INSERT INTO counters (ward, grp, day, shard, adults, total) "
        "SELECT ward, grp, day, 0, count(*) FILTER (WHERE adult), count(*) "
        "FROM hv_reconcile_expected GROUP BY ward, grp, day",
        /* Tell every instance's read snapshot that the counters moved. */
        "INSERT INTO counter_versions AS v (shard, version) VALUES (0, 1) "
        "ON CONFLICT (shard) DO UPDATE SET version = v.version + 1",
        /* Cohort figures follow the repaired attribution (and supporter memberships the
         * certificates). */
        "SELECT hv_cohort_repair()",
    };

    for (size_t i = 0; i < HV_ARRAY_LEN(steps); i++)
        if (hv_ctl_exec_command(conn, steps[i], "could not repair", errf) < 0)
            return -1;
    return 0;
}

/* Counts what still differs after a repair, inside its transaction. Returns the count, or -1
 * after printing. */
static long long remaining_drift(PGconn *conn, FILE *errf)
{
    long long n;
    PGresult *res = hv_ctl_exec(conn,
                                "SELECT (SELECT count(*) FROM hv_counter_drift) + "
                                "(SELECT count(*) FROM hv_attribution_drift) + "
                                "(SELECT count(*) FROM hv_cohort_drift)",
                                0, NULL, PGRES_TUPLES_OK, "could not check the repair", errf);

    if (res == NULL)
        return -1;
    n = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

int hv_ctl_reconcile(PGconn *conn, bool do_repair, hv_ctl_reconcile_result_t *result, FILE *out,
                     FILE *errf)
{
    static const char what[] = "could not reconcile";
    int status = HV_CTL_FAILED;
    PGresult *drift = NULL, *attr = NULL, *totals = NULL, *cohorts = NULL;
    int ndrift, ncohorts;
    long long nattr, left;

    memset(result, 0, sizeof(*result));

    /* A read-only check sees one consistent snapshot; a repair first stops the writers (readers
     * go on) so that what it prints is what it fixes. */
    if (hv_ctl_exec_command(conn,
                            do_repair ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                            what, errf) < 0)
        goto done;
    /* (The membership lock before the tables: writers take it first too.) */
    if (do_repair &&
        (hv_ctl_exec_command(conn, "SELECT pg_advisory_xact_lock(1752590340, 0)", what, errf) < 0 ||
         hv_ctl_exec_command(conn, "LOCK TABLE persons, counters IN EXCLUSIVE MODE", what, errf) <
             0))
        goto done;
    drift = hv_ctl_exec(conn,
                        "SELECT ward, grp, to_char(day, 'YYYY-MM-DD'), stored_adults, "
                        "expected_adults, stored_total, expected_total FROM hv_counter_drift "
                        "ORDER BY ward, grp, day",
                        0, NULL, PGRES_TUPLES_OK, what, errf);
    if (drift == NULL)
        goto done;
    attr = hv_ctl_exec(conn, "SELECT count(*) FROM hv_attribution_drift", 0, NULL, PGRES_TUPLES_OK,
                       what, errf);
    if (attr == NULL)
        goto done;
    cohorts = hv_ctl_exec(conn,
                          "SELECT cohort, grp, to_char(day, 'YYYY-MM-DD'), stored, expected "
                          "FROM hv_cohort_drift ORDER BY cohort, grp NULLS FIRST, day, stored",
                          0, NULL, PGRES_TUPLES_OK, what, errf);
    if (cohorts == NULL)
        goto done;
    totals = hv_ctl_exec(conn,
                         "SELECT count(*), count(*) FILTER (WHERE adult) "
                         "FROM hv_expected_attribution",
                         0, NULL, PGRES_TUPLES_OK, what, errf);
    if (totals == NULL)
        goto done;

    ndrift = PQntuples(drift);
    nattr = atoll(PQgetvalue(attr, 0, 0));
    result->counter_rows = ndrift;
    result->persons = nattr;
    result->cohort_figures = PQntuples(cohorts);
    for (int i = 0; i < ndrift; i++)
        fprintf(out,
                "ward=%s group=%s day=%s adults stored=%s expected=%s total stored=%s "
                "expected=%s\n",
                PQgetvalue(drift, i, 0), hv_group_name((hv_group_t)atoi(PQgetvalue(drift, i, 1))),
                PQgetvalue(drift, i, 2), PQgetvalue(drift, i, 3), PQgetvalue(drift, i, 4),
                PQgetvalue(drift, i, 5), PQgetvalue(drift, i, 6));
    if (nattr > 0)
        fprintf(out, "attribution differs for %lld persons\n", nattr);
    ncohorts = PQntuples(cohorts);
    for (int i = 0; i < ncohorts; i++) {
        const char *code = PQgetvalue(cohorts, i, 0), *stored = PQgetvalue(cohorts, i, 3),
                   *expected = PQgetvalue(cohorts, i, 4);
        if (!PQgetisnull(cohorts, i, 1))
            fprintf(out, "cohort=%s group=%s day=%s certified stored=%s expected=%s\n", code,
                    hv_group_name((hv_group_t)atoi(PQgetvalue(cohorts, i, 1))),
                    PQgetvalue(cohorts, i, 2), stored, expected);
        else if (strcmp(stored, "-1") == 0)
            fprintf(out, "cohort=%s supporter memberships differ from the certificates\n", code);
        else
            fprintf(out, "cohort=%s members stored=%s expected=%s\n", code, stored, expected);
    }

    if (ndrift == 0 && nattr == 0 && ncohorts == 0) {
        if (hv_ctl_exec_command(conn, "COMMIT", what, errf) < 0)
            goto done;
        fprintf(out, "no drift: %s certified persons, %s adults\n", PQgetvalue(totals, 0, 0),
                PQgetvalue(totals, 0, 1));
        result->completed = true;
        status = HV_CTL_OK;
        goto done;
    }
    fprintf(out, "drift: %d counter rows and %lld persons differ from the certificates\n", ndrift,
            nattr);
    if (ncohorts > 0)
        fprintf(out, "drift: %d cohort figures differ from the memberships\n", ncohorts);
    if (!do_repair) {
        if (hv_ctl_exec_command(conn, "COMMIT", what, errf) == 0)
            result->completed = true;
        fprintf(out, "run hocvuctl reconcile --repair to rewrite them from the certificates\n");
        goto done; /* drift found: exit 1 (CONTRACT §3) */
    }
    /* The repair is checked by the same views before it commits: exit 0 only when nothing
     * differs any more (a difference that remains is printed and exits 1). */
    if (repair(conn, errf) < 0 || (left = remaining_drift(conn, errf)) < 0 ||
        hv_ctl_exec_command(conn, "COMMIT", what, errf) < 0)
        goto done;
    result->completed = true;
    if (left > 0) {
        fprintf(out, "repair incomplete: %lld differences remain\n", left);
        goto done;
    }
    result->repaired = true;
    fprintf(out, "repaired: counters and attribution rewritten (%s certified persons, %s adults)\n",
            PQgetvalue(totals, 0, 0), PQgetvalue(totals, 0, 1));
    status = HV_CTL_OK;
done:
    PQclear(drift);
    PQclear(attr);
    PQclear(totals);
    PQclear(cohorts);
    hv_ctl_rollback(conn);
    return status;
}

int hv_ctl_reconcile_metrics(const char *path, const hv_ctl_reconcile_result_t *r, double now,
                             FILE *errf)
{
    char tmp[4096];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());

    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        fprintf(errf, "hocvuctl: metrics file path too long: %s\n", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(errf, "hocvuctl: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    /* Prometheus text; the drift figures are those found before any repair. */
    fprintf(f,
            "# HELP hocvu_reconcile_drift_rows Counter rows and persons that differed from the "
            "certificates at the last reconcile (before any repair).\n"
            "# TYPE hocvu_reconcile_drift_rows gauge\n"
            "hocvu_reconcile_drift_rows %lld\n"
            "# HELP hocvu_reconcile_cohort_drift Cohort figures that differed from the memberships "
            "at the last reconcile (before any repair).\n"
            "# TYPE hocvu_reconcile_cohort_drift gauge\n"
            "hocvu_reconcile_cohort_drift %lld\n"
            "# HELP hocvu_reconcile_repaired 1 if the last reconcile repaired every difference.\n"
            "# TYPE hocvu_reconcile_repaired gauge\n"
            "hocvu_reconcile_repaired %d\n"
            "# HELP hocvu_reconcile_success 1 if the last reconcile ran to its end.\n"
            "# TYPE hocvu_reconcile_success gauge\n"
            "hocvu_reconcile_success %d\n"
            "# HELP hocvu_reconcile_last_run_timestamp_seconds When the last reconcile ended.\n"
            "# TYPE hocvu_reconcile_last_run_timestamp_seconds gauge\n"
            "hocvu_reconcile_last_run_timestamp_seconds %.3f\n",
            r->counter_rows + r->persons, r->cohort_figures, r->repaired ? 1 : 0,
            r->completed ? 1 : 0, now);
    if (ferror(f) | (fclose(f) != 0)) {
        fprintf(errf, "hocvuctl: cannot write %s: %s\n", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(errf, "hocvuctl: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int hv_ctl_gen_secret(FILE *out, FILE *errf)
{
    uint8_t key[32];
    char b64[4 * ((sizeof(key) + 2) / 3) + 1];

    if (RAND_bytes(key, sizeof(key)) != 1) {
        fprintf(errf, "hocvuctl: could not generate random bytes: %s\n",
                ERR_error_string(ERR_get_error(), NULL));
        return HV_CTL_FAILED;
    }
    hv_b64_encode(key, sizeof(key), b64);
    OPENSSL_cleanse(key, sizeof(key));
    fprintf(out, "whsec_%s\n", b64);
    return fflush(out) == 0 ? HV_CTL_OK : HV_CTL_FAILED;
}
