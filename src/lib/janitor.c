/*
 * janitor.c - counter compaction: folds the shards of days before yesterday (Vietnam time) into
 * shard 0 through hv_compact_counters, on the primary, by one instance at a time, with lock and
 * statement timeouts (the function itself locks rows in the writers' order).
 */
#include "hocvu/janitor.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hocvu/log.h"
#include "hocvu/timeutil.h"

#define HV_COMPACT_EVERY_MS 600000 /* fold old counter shards every 10 minutes */
#define HV_COMPACT_LOCK 1752590338 /* advisory lock: one compacting instance at a time */

void hv_janitor_init(hv_janitor_t *j, const char *database_url)
{
    j->database_url = database_url;
    j->last_run_ms = 0;
}

/* One compaction on a connection of its own, released (with its advisory lock) at the end. */
static void compact(const char *database_url)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {database_url, "3", "hocvud-compact", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    char before[16], sql[160];
    PGresult *res;

    if (PQstatus(conn) != CONNECTION_OK)
        goto done;
    /* It may wait behind a writer's counter rows, briefly; a fold that cannot get them is
     * simply retried at the next due time. */
    res = PQexec(conn, "SET lock_timeout = '2s'; SET statement_timeout = '60s'");
    PQclear(res);
    hv_date_format(hv_days_to_date(hv_date_to_days(hv_time_vn_date(time(NULL))) - 1), before);
    snprintf(sql, sizeof(sql),
             "SELECT hv_compact_counters('%s') FROM (SELECT pg_try_advisory_lock(%d) AS "
             "got) l WHERE got",
             before, HV_COMPACT_LOCK);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        hv_log(strcmp(PQgetvalue(res, 0, 0), "0") ? HV_LOG_INFO : HV_LOG_DEBUG,
               "counters compacted", "before=%s rows=%s", before, PQgetvalue(res, 0, 0));
    else if (PQresultStatus(res) != PGRES_TUPLES_OK)
        hv_log(HV_LOG_WARN, "counter compaction failed", "error=%.*s",
               (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
    PQclear(res);
done:
    PQfinish(conn);
}

void hv_janitor_run(hv_janitor_t *j, int64_t now_ms)
{
    if (now_ms - j->last_run_ms < HV_COMPACT_EVERY_MS)
        return;
    j->last_run_ms = now_ms;
    compact(j->database_url);
}
