/*
 * migrate.c - applies the embedded sql/NNN_*.sql migrations that a database lacks, one
 * transaction each, serialised across concurrent migrators by a session advisory lock.
 */
#include "hocvu/migrate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Session advisory lock (single bigint key space) held while migrating. Arbitrary but fixed:
 * every hocvu version must use the same key. */
#define HV_MIGRATE_LOCK_KEY "7237005577332262213"

/* Copies the first line of msg (a libpq message, possibly NULL) into err. */
static void first_line(char *err, size_t errlen, const char *prefix, const char *msg)
{
    size_t n;

    if (msg == NULL || msg[0] == '\0')
        msg = "unknown error";
    n = strcspn(msg, "\r\n");
    snprintf(err, errlen, "%s: %.*s", prefix, (int)n, msg);
}

/* Describes a failed result: the server's primary message when there is one, else libpq's
 * connection message. res and conn are borrowed. */
static void describe(char *err, size_t errlen, const char *prefix, PGconn *conn,
                     const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    first_line(err, errlen, prefix, primary ? primary : PQerrorMessage(conn));
}

/* Runs sql and checks its status. Returns the result (caller PQclear()s) or NULL with err set
 * to "<what>: <reason>". */
static PGresult *run(PGconn *conn, const char *sql, ExecStatusType want, const char *what,
                     char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);

    if (res == NULL || PQresultStatus(res) != want) {
        describe(err, errlen, what, conn, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

int hv_migrate_latest_version(void)
{
    int v = 0;

    for (size_t i = 0; i < hv_migrations_count; i++)
        if (hv_migrations[i].version > v)
            v = hv_migrations[i].version;
    return v;
}

/* Stores in *exists whether the hocvu_migrations table is present. Returns 0 or -1 with err. */
static int table_exists(PGconn *conn, bool *exists, char *err, size_t errlen)
{
    PGresult *res = run(conn, "SELECT to_regclass('hocvu_migrations') IS NOT NULL", PGRES_TUPLES_OK,
                        "could not read the schema version", err, errlen);

    if (res == NULL)
        return -1;
    *exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

int hv_migrate_schema_version(PGconn *conn, int *version, char *err, size_t errlen)
{
    int rc = -1;
    bool exists = false;
    PGresult *res = NULL;

    *version = 0;
    if (table_exists(conn, &exists, err, errlen) < 0)
        goto failed;
    if (exists) {
        res = run(conn, "SELECT coalesce(max(version), 0) FROM hocvu_migrations", PGRES_TUPLES_OK,
                  "could not read the schema version", err, errlen);
        if (res == NULL)
            goto failed;
        *version = atoi(PQgetvalue(res, 0, 0));
    }
    rc = 0;
failed:
    PQclear(res);
    return rc;
}

/* Applies one migration and records it, in one transaction. Returns 0 or -1 with err set; on
 * failure the transaction is rolled back. */
static int apply_one(PGconn *conn, const hv_migration_t *m, char *err, size_t errlen)
{
    int rc = -1;
    char prefix[128];
    char version[16];
    const char *params[2] = {version, m->name};
    PGresult *res = NULL;

    snprintf(prefix, sizeof(prefix), "could not apply migration %s", m->name);
    snprintf(version, sizeof(version), "%d", m->version);
    res = run(conn, "BEGIN", PGRES_COMMAND_OK, prefix, err, errlen);
    if (res == NULL)
        goto failed;
    PQclear(res);
    res = PQexec(conn, m->sql);
    if (res == NULL ||
        (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)) {
        describe(err, errlen, prefix, conn, res);
        goto failed;
    }
    PQclear(res);
    res = PQexecParams(conn, "INSERT INTO hocvu_migrations (version, name) VALUES ($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        describe(err, errlen, prefix, conn, res);
        goto failed;
    }
    PQclear(res);
    res = run(conn, "COMMIT", PGRES_COMMAND_OK, prefix, err, errlen);
    if (res == NULL)
        goto failed;
    rc = 0;
failed:
    PQclear(res);
    if (rc < 0 && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

int hv_migrate(PGconn *conn, FILE *out, char *err, size_t errlen)
{
    int rc = -1;
    bool locked = false;
    bool exists = false;
    int applied_now = 0;
    int db_version = 0;
    PGresult *res = NULL;
    PGresult *done = NULL;

    res = run(conn, "SELECT pg_advisory_lock(" HV_MIGRATE_LOCK_KEY ")", PGRES_TUPLES_OK,
              "could not take the migration lock", err, errlen);
    if (res == NULL)
        goto failed;
    locked = true;
    PQclear(res);
    res = NULL;

    /* Only checked and created under the lock: CREATE TABLE IF NOT EXISTS races otherwise. */
    if (table_exists(conn, &exists, err, errlen) < 0)
        goto failed;
    if (!exists) {
        res = run(conn,
                  "CREATE TABLE hocvu_migrations ("
                  " version int PRIMARY KEY,"
                  " name text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())",
                  PGRES_COMMAND_OK, "could not create table hocvu_migrations", err, errlen);
        if (res == NULL)
            goto failed;
        PQclear(res);
        res = NULL;
    }

    done = run(conn, "SELECT version FROM hocvu_migrations ORDER BY version", PGRES_TUPLES_OK,
               "could not read the applied migrations", err, errlen);
    if (done == NULL)
        goto failed;
    for (int i = 0; i < PQntuples(done); i++) {
        int v = atoi(PQgetvalue(done, i, 0));
        if (v > db_version)
            db_version = v;
    }

    for (size_t i = 0; i < hv_migrations_count; i++) {
        const hv_migration_t *m = &hv_migrations[i];
        bool have = false;

        for (int j = 0; j < PQntuples(done) && !have; j++)
            have = atoi(PQgetvalue(done, j, 0)) == m->version;
        if (have)
            continue;
        if (apply_one(conn, m, err, errlen) < 0)
            goto failed;
        applied_now++;
        if (m->version > db_version)
            db_version = m->version;
        if (out) {
            fprintf(out, "applied %s\n", m->name);
            fflush(out);
        }
    }
    if (applied_now == 0 && out)
        fprintf(out, "schema up to date (version %d)\n", db_version);
    rc = 0;
failed:
    PQclear(res);
    PQclear(done);
    if (locked)
        PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" HV_MIGRATE_LOCK_KEY ")"));
    return rc;
}
