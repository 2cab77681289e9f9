/*
 * ctlutil.h - helpers shared by the hocvuctl command modules (ctl.c, ctl_cohorts.c). Messages
 * go to the FILE the command was given; every one is a single line.
 */
#ifndef HOCVU_CTLUTIL_H
#define HOCVU_CTLUTIL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hocvu/errlist.h"
#include "hocvu/util.h"

/* Adds "PATH:LINE: reason (column NAME)" to the bad rows (column may be NULL); returns -1. */
int hv_ctl_row_fail(hv_errlist_t *errs, const char *path, long line, const char *column,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

struct hv_csv;

/* The index of a column the file must have, or -1 after adding "PATH:LINE: required column
 * is missing (column NAME)". */
int hv_ctl_required_column(const struct hv_csv *csv, const char *path, const char *name,
                           hv_errlist_t *errs);
/* Adds the CSV reader's syntax error as "PATH:LINE: reason"; returns -1. */
int hv_ctl_csv_fail(const struct hv_csv *csv, const char *path, hv_errlist_t *errs);

/* True if s[0..n) is well-formed UTF-8 without control characters. */
bool hv_ctl_clean_text(const char *s, size_t n);

/* Prints "hocvuctl: <what>: <first line of the reason>" to errf. The reason is the server's
 * primary message when res carries one, else libpq's message for conn. */
void hv_ctl_db_error(FILE *errf, const char *what, PGconn *conn, const PGresult *res);

/* Runs sql with text parameters and checks the status. Returns the result (caller PQclear()s),
 * or NULL after printing "hocvuctl: <what>: <reason>". */
PGresult *hv_ctl_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      ExecStatusType want, const char *what, FILE *errf);

/* Runs a statement (one, without parameters), ignoring any rows it returns. Returns 0, or -1
 * after printing the error. */
int hv_ctl_exec_command(PGconn *conn, const char *sql, const char *what, FILE *errf);

/* Rolls back an open or failed transaction on conn, if any. */
void hv_ctl_rollback(PGconn *conn);

/* Reads the whole file at path into b (NUL-terminated). Returns 0, or -1 after printing
 * "hocvuctl: could not read PATH: reason". */
int hv_ctl_read_file(const char *path, hv_buf_t *b, FILE *errf);

#endif
