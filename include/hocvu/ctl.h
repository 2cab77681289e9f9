/*
 * ctl.h - the commands of the operator CLI hocvuctl as library functions: migrate, ward imports,
 * counter reconciliation and secret generation. hocvuctl.c only parses arguments and dispatches.
 */
#ifndef HOCVU_CTL_H
#define HOCVU_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "hocvu/errlist.h"
#include "hocvu/util.h"

/* Exit statuses of hocvuctl. */
#define HV_CTL_OK 0
#define HV_CTL_FAILED 1 /* an error, or reconcile found drift it did not repair */
#define HV_CTL_USAGE 2

/*
 * A validated import file, ready to be sent in one statement: `json` is a JSON array with one
 * object per record (it owns its memory), `rows` the number of records. For wards, the has_*
 * flags say which optional columns the file has; absent columns leave stored values alone.
 */
typedef struct hv_ctl_import {
    hv_buf_t json;
    size_t rows;
    bool has_population;
    bool has_target;
    bool has_flag;
} hv_ctl_import_t;

/* Releases the memory of an import. Safe on a zeroed or already freed import. */
void hv_ctl_import_free(hv_ctl_import_t *imp);

/*
 * Parses and validates a current-wards CSV held in data[0..len) (borrowed); path is used only in
 * messages. Columns by header name: code, name, type (phuong, xa or dac_khu) required;
 * population, target, population_flag optional; others ignored. With province, only the rows
 * whose province_code is that code are read (the national list serves any province). On
 * success fills *imp (caller frees with hv_ctl_import_free) and returns 0; otherwise returns -1
 * with every bad row added to errs as "PATH:LINE: reason (column NAME)" and *imp empty.
 */
HV_MUST_CHECK int hv_ctl_wards_parse(const char *path, const char *data, size_t len,
                                     const char *province, hv_ctl_import_t *imp,
                                     hv_errlist_t *errs);

/* As hv_ctl_wards_parse, for the pre-2025 units (columns old_code, old_name, new_codes, split).
 * Each JSON object also carries its line for the database-side checks. */
HV_MUST_CHECK int hv_ctl_legacy_parse(const char *path, const char *data, size_t len,
                                      hv_ctl_import_t *imp, hv_errlist_t *errs);

/* The cohort list of `cohorts import` (CONTRACT §11): columns code, name, kind required, ward
 * optional (empty or a 5-digit code; that it is a current ward is checked in the database).
 * Each JSON object carries its line. As hv_ctl_wards_parse otherwise. */
HV_MUST_CHECK int hv_ctl_cohorts_parse(const char *path, const char *data, size_t len,
                                       hv_ctl_import_t *imp, hv_errlist_t *errs);

/* A member list of `cohorts members` (columns member_ref, citizen_id): refs 1-64 printable
 * characters, unique; citizen ids valid for `year` (§4) and unique; each id is pseudonymised
 * with the pepper and only the pseudonym (hex) goes into the JSON ({"ref", "person"}). Messages
 * never contain a citizen id. An empty list is valid (it empties the cohort). */
HV_MUST_CHECK int hv_ctl_members_parse(const char *path, const char *data, size_t len,
                                       const char *pepper, size_t pepper_len, int year,
                                       hv_ctl_import_t *imp, hv_errlist_t *errs);

/* Sends a validated import: runs upsert_sql with the JSON as $1 inside one transaction, after
 * check_sql (may be NULL), which returns a row (line, "reason (column NAME)") for each record
 * that the database refuses; they are all printed as "PATH:LINE: reason". upsert_sql returns one
 * row (inserted, updated). Prints the summary line for `noun`. Returns an exit status. */
int hv_ctl_import_send(PGconn *conn, const char *path, const hv_ctl_import_t *imp,
                       const char *check_sql, const char *upsert_sql, const char *noun, FILE *out,
                       FILE *errf);

/* A parser of one kind of import file (the shape of hv_ctl_legacy_parse). */
typedef int (*hv_ctl_parse_fn)(const char *path, const char *data, size_t len, hv_ctl_import_t *imp,
                               hv_errlist_t *errs);
/* Reads the file at path, parses it (printing every bad row) and sends it with
 * hv_ctl_import_send. Returns an exit status. */
int hv_ctl_import_file(PGconn *conn, const char *path, hv_ctl_parse_fn parse, const char *check_sql,
                       const char *upsert_sql, const char *noun, FILE *out, FILE *errf);

/*
 * Opens a connection to url (conninfo or URI) for hocvuctl. Returns the connection (caller
 * PQfinish()es) or NULL after printing "hocvuctl: could not connect to database: ..." to errf.
 * The URL itself is never printed.
 */
PGconn *hv_ctl_connect(const char *url, FILE *errf);

/*
 * The commands. conn is borrowed; normal output goes to out, errors (one line each) to errf.
 * Each returns the exit status: HV_CTL_OK or HV_CTL_FAILED.
 */
int hv_ctl_migrate(PGconn *conn, FILE *out, FILE *errf);
/* Loads the file at path in one transaction; all rows are validated before anything is written,
 * and re-importing the same file changes nothing. */
int hv_ctl_wards_import(PGconn *conn, const char *path, const char *province, FILE *out,
                        FILE *errf);
/* As hv_ctl_wards_import for the legacy units; every new code must already be a ward. */
int hv_ctl_wards_import_legacy(PGconn *conn, const char *path, FILE *out, FILE *errf);
/* Replaces every target of the years the file names (CONTRACT §9), all or nothing; every bad
 * row is printed as "FILE:LINE: message" (up to 50) and nothing is loaded then. */
int hv_ctl_targets_import(PGconn *conn, const char *path, FILE *out, FILE *errf);
/* Loads or updates cohorts by code (their member lists are kept), all or nothing. */
int hv_ctl_cohorts_import(PGconn *conn, const char *path, FILE *out, FILE *errf);
/* Replaces the member list of cohort `code` (which must exist), all or nothing, and recounts
 * it; reads HOCVU_ID_PEPPER. Raw citizen ids never leave this process. */
int hv_ctl_cohorts_members(PGconn *conn, const char *code, const char *path, FILE *out, FILE *errf);
/* Freezes the report as of a day (CONTRACT §10): the report object of that day against the
 * year's targets (year_arg NULL = the day's year), with its RFC 8785 digest and the evidence
 * (the certificate behind each person counted), stored in one transaction, never changed.
 * Prints the id and the digest. */
int hv_ctl_report_freeze(PGconn *conn, const char *as_of, const char *year_arg, const char *label,
                         FILE *out, FILE *errf);
/* Recomputes a stored report's digest and prints how the same as_of computed now differs.
 * HV_CTL_OK if and only if the digest matches. */
int hv_ctl_report_verify(PGconn *conn, const char *id, FILE *out, FILE *errf);
/* What one reconcile run found, for its metrics file (hv_ctl_reconcile_metrics). */
typedef struct hv_ctl_reconcile_result {
    long long counter_rows;   /* counter rows that differed from the certificates */
    long long persons;        /* persons whose attribution differed */
    long long cohort_figures; /* cohort figures (counts, sizes, memberships) that differed */
    bool repaired;            /* --repair rewrote them and nothing differs any more */
    bool completed;           /* the comparison ran to its end (no database error) */
} hv_ctl_reconcile_result_t;

/* Compares stored counters, attribution and cohort figures with those recomputed from the
 * certificates and prints every difference. With repair, rewrites them in one transaction and
 * checks that nothing differs before committing. Returns HV_CTL_OK when nothing differed or the
 * repair fixed every difference, else HV_CTL_FAILED (CONTRACT §3). Fills *result (never NULL). */
int hv_ctl_reconcile(PGconn *conn, bool repair, hv_ctl_reconcile_result_t *result, FILE *out,
                     FILE *errf);
/* Writes the result as Prometheus text (node_exporter's textfile collector) to path, atomically
 * (a temporary file renamed over it). now is the run's end in Unix seconds. Returns 0, or -1
 * after printing the reason to errf. */
int hv_ctl_reconcile_metrics(const char *path, const hv_ctl_reconcile_result_t *result, double now,
                             FILE *errf);
/* Prints "whsec_" + base64 of 32 fresh random bytes and a newline. Needs no database. */
int hv_ctl_gen_secret(FILE *out, FILE *errf);

#endif
