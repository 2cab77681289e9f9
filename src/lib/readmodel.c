/*
 * readmodel.c - the rows of the read model, fetched from PostgreSQL (see readmodel.h).
 */
#include "hocvu/readmodel.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    PGresult *res = fetch(conn,
                          "SELECT ward, grp, (day - date '1970-01-01'), sum(adults)::bigint, "
                          "sum(total)::bigint FROM counters GROUP BY ward, grp, day "
                          "HAVING sum(adults) <> 0 OR sum(total) <> 0",
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
