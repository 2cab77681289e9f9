/*
 * migrate.h - the versioned SQL migrations of sql/NNN_*.sql, embedded into the binary at build
 * time, and the runner that applies the missing ones under an advisory lock.
 */
#ifndef HOCVU_MIGRATE_H
#define HOCVU_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "hocvu/util.h"

/* One embedded migration; all strings are static. */
typedef struct hv_migration {
    int version;      /* NNN of the file name */
    const char *name; /* file name without ".sql", e.g. "001_schema" */
    const char *sql;  /* the file's text */
} hv_migration_t;

/* Generated (build/generated/migrations_data.c): sorted by version, hv_migrations_count
 * entries followed by a {0, NULL, NULL} terminator. Immutable. */
extern const hv_migration_t hv_migrations[];
extern const size_t hv_migrations_count;

/* Highest embedded migration version: the schema version this binary expects. */
int hv_migrate_latest_version(void);

/*
 * Applies every embedded migration that the database has not recorded in hocvu_migrations
 * (created if missing), each in its own transaction together with its record. Holds a
 * session-level advisory lock meanwhile, so concurrent migrators run one after another and
 * the later ones find nothing to do. Prints "applied NNN_name" per migration, or
 * "schema up to date (version N)", to out (may be NULL). conn is borrowed and must not be in
 * a transaction. Returns 0, or -1 with a one-line reason in err.
 */
HV_MUST_CHECK int hv_migrate(PGconn *conn, FILE *out, char *err, size_t errlen);

/*
 * Stores in *version the highest migration version recorded in the database (0 when
 * hocvu_migrations does not exist yet). conn is borrowed. Returns 0, or -1 with err set.
 */
HV_MUST_CHECK int hv_migrate_schema_version(PGconn *conn, int *version, char *err, size_t errlen);

#endif
