/*
 * readmodel.c - the rows of the read model, fetched from PostgreSQL (see readmodel.h).
 */
#include "hocvu/readmodel.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/cohorts.h"
#include "hocvu/event.h"

static PGresult *fetch(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorMessage(res);
        snprintf(err, errlen, "%.*s", (int)strcspn(m ? m : "", "\n"), m ? m : "");
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t int_or(const PGresult *res, int r, int c, int64_t dflt)
{
    return PQgetisnull(res, r, c) ? dflt : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

int hv_readmodel_targets(PGconn *conn, hv_target_t **out, size_t *n, char *err, size_t errlen)
{
    PGresult *res =
        fetch(conn, "SELECT year, scope, grp, measure, coalesce(effective, -1) FROM hv_targets",
              err, errlen);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    hv_target_t *t = hv_xcalloc(rows ? (size_t)rows : 1, sizeof(*t));
    for (int r = 0; r < rows; r++) {
        const char *g = PQgetvalue(res, r, 2);
        t[r].year = atoi(PQgetvalue(res, r, 0));
        snprintf(t[r].scope, sizeof(t[r].scope), "%s", PQgetvalue(res, r, 1));
        for (int k = 1; k <= 4; k++)
            if (strcmp(g, hv_group_name((hv_group_t)k)) == 0)
                t[r].grp = k;
        t[r].all_ages = strcmp(PQgetvalue(res, r, 3), "all") == 0;
        t[r].value = int_or(res, r, 4, -1);
    }
    PQclear(res);
    *out = t;
    *n = (size_t)rows;
    return 0;
}

int hv_readmodel_rows(PGconn *conn, hv_count_row_t **out, size_t *n, char *err, size_t errlen)
{
    /* Summed as int4 into PostgreSQL's int8 accumulator, not as bigint into numeric: half the
     * time and memory of the whole-table aggregate (bench/PROFILE.md 8.4). One row counts the
     * people of one ward, group, day and shard, far below 2^31; a larger value would fail the
     * refresh loudly, never wrap. */
    PGresult *res = fetch(conn,
                          "SELECT ward, grp, (day - date '1970-01-01'), sum(adults::int4), "
                          "sum(total::int4) FROM counters GROUP BY ward, grp, day "
                          "HAVING sum(adults::int4) <> 0 OR sum(total::int4) <> 0",
                          err, errlen);
    if (!res)
        return -1;
    int rows = PQntuples(res);
    hv_count_row_t *c = hv_xcalloc(rows ? (size_t)rows : 1, sizeof(*c));
    for (int r = 0; r < rows; r++) {
        snprintf(c[r].ward, sizeof(c[r].ward), "%s", PQgetvalue(res, r, 0));
        c[r].grp = atoi(PQgetvalue(res, r, 1));
        c[r].day = (int32_t)atol(PQgetvalue(res, r, 2));
        c[r].adults = int_or(res, r, 3, 0);
        c[r].total = int_or(res, r, 4, 0);
    }
    PQclear(res);
    *out = c;
    *n = (size_t)rows;
    return 0;
}

struct hv_cohortset *hv_readmodel_cohorts(PGconn *conn, int current_year, int64_t now, char *err,
                                          size_t errlen)
{
    static const char cohorts_sql[] =
        "SELECT c.code, c.name, c.kind, coalesce(c.ward, ''), coalesce(z.members, 0) "
        "FROM cohorts c LEFT JOIN (SELECT cohort, sum(members)::bigint AS members "
        "  FROM cohort_sizes GROUP BY 1) z ON z.cohort = c.code";
    static const char counts_sql[] =
        "SELECT k.cohort, k.grp, k.day - date '1970-01-01', sum(k.certified)::bigint "
        "FROM cohort_counts k WHERE k.cohort IN (SELECT code FROM cohorts) "
        "GROUP BY 1, 2, 3 HAVING sum(k.certified) <> 0";
    /* A share of the members (no base) is computed here, in exact decimal, like hv_targets. */
    static const char targets_sql[] =
        "SELECT t.year, substr(t.scope, 8), coalesce(t.target, "
        "  ceil(t.percent * coalesce(t.base, z.members, 0) / 100)::bigint) "
        "FROM targets t LEFT JOIN (SELECT cohort, sum(members) AS members FROM cohort_sizes "
        "  GROUP BY 1) z ON z.cohort = substr(t.scope, 8) "
        "WHERE t.scope LIKE 'cohort:%' AND t.grp = 'all' AND t.measure = 'all'";
    PGresult *cr = NULL, *kr = NULL, *tr = NULL;
    hv_cohort_row_t *rows = NULL;
    hv_cohort_count_t *counts = NULL;
    hv_cohort_target_t *targets = NULL;
    hv_cohortset_t *set = NULL;
    int nc = 0, nk = 0, nt = 0;

    if (!(cr = fetch(conn, cohorts_sql, err, errlen)) ||
        !(kr = fetch(conn, counts_sql, err, errlen)) ||
        !(tr = fetch(conn, targets_sql, err, errlen)))
        goto done;
    nc = PQntuples(cr);
    nk = PQntuples(kr);
    nt = PQntuples(tr);
    rows = hv_xcalloc(nc ? (size_t)nc : 1, sizeof(*rows));
    counts = hv_xcalloc(nk ? (size_t)nk : 1, sizeof(*counts));
    targets = hv_xcalloc(nt ? (size_t)nt : 1, sizeof(*targets));
    for (int r = 0; r < nc; r++) {
        snprintf(rows[r].code, sizeof(rows[r].code), "%s", PQgetvalue(cr, r, 0));
        rows[r].name = hv_xstrdup(PQgetvalue(cr, r, 1));
        snprintf(rows[r].kind, sizeof(rows[r].kind), "%s", PQgetvalue(cr, r, 2));
        snprintf(rows[r].ward, sizeof(rows[r].ward), "%s", PQgetvalue(cr, r, 3));
        rows[r].members = int_or(cr, r, 4, 0);
    }
    for (int r = 0; r < nk; r++) {
        snprintf(counts[r].code, sizeof(counts[r].code), "%s", PQgetvalue(kr, r, 0));
        counts[r].grp = atoi(PQgetvalue(kr, r, 1));
        counts[r].day = (int32_t)atol(PQgetvalue(kr, r, 2));
        counts[r].certified = int_or(kr, r, 3, 0);
    }
    for (int r = 0; r < nt; r++) {
        targets[r].year = atoi(PQgetvalue(tr, r, 0));
        snprintf(targets[r].code, sizeof(targets[r].code), "%s", PQgetvalue(tr, r, 1));
        targets[r].value = int_or(tr, r, 2, -1);
    }
    set = hv_cohortset_build(rows, (size_t)nc, counts, (size_t)nk, targets, (size_t)nt,
                             current_year, now);
done:
    PQclear(cr);
    PQclear(kr);
    PQclear(tr);
    free(rows); /* the names went to the set */
    free(counts);
    free(targets);
    return set;
}
