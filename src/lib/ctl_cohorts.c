/*
 * ctl_cohorts.c - `hocvuctl cohorts import` and `cohorts members` (CONTRACT §11): the files
 * are checked by cohortfile.c, then loaded all or nothing. Only pseudonyms reach the database.
 */
#include "hocvu/ctl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/ctlutil.h"
#include "hocvu/event.h"
#include "hocvu/timeutil.h"

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
    return hv_ctl_import_file(conn, path, hv_ctl_cohorts_parse, check_sql, upsert_sql, "cohorts",
                              out, errf);
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
