/*
 * ctlutil.c - what the hocvuctl commands (ctl.c, ctl_cohorts.c) share: bad-row messages,
 * text checks, one-line database errors, statements with checked status, file reading.
 */
#include "hocvu/ctlutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hocvu/csv.h"
#include "hocvu/ctl.h"

int hv_ctl_row_fail(hv_errlist_t *errs, const char *path, long line, const char *column,
                    const char *fmt, ...)
{
    char reason[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (column)
        hv_errlist_add(errs, path, line, "%s (column %s)", reason, column);
    else
        hv_errlist_add(errs, path, line, "%s", reason);
    return -1;
}

int hv_ctl_required_column(const hv_csv_t *csv, const char *path, const char *name,
                           hv_errlist_t *errs)
{
    int col = hv_csv_column(csv, name);

    if (col < 0)
        hv_ctl_row_fail(errs, path, csv->record_line, name, "required column is missing");
    return col;
}

int hv_ctl_csv_fail(const hv_csv_t *csv, const char *path, hv_errlist_t *errs)
{
    return hv_ctl_row_fail(errs, path, csv->err_line, NULL, "%s", csv->errstr);
}

bool hv_ctl_clean_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return false;
    return hv_utf8_valid(s, n);
}

void hv_ctl_db_error(FILE *errf, const char *what, PGconn *conn, const PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg == NULL)
        msg = PQerrorMessage(conn);
    if (msg == NULL || msg[0] == '\0')
        msg = "unknown error";
    fprintf(errf, "hocvuctl: %s: %.*s\n", what, (int)strcspn(msg, "\r\n"), msg);
}

PGresult *hv_ctl_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                      ExecStatusType want, const char *what, FILE *errf)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (res == NULL || PQresultStatus(res) != want) {
        hv_ctl_db_error(errf, what, conn, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

int hv_ctl_exec_command(PGconn *conn, const char *sql, const char *what, FILE *errf)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    if (res == NULL || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
        hv_ctl_db_error(errf, what, conn, res);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

void hv_ctl_rollback(PGconn *conn)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

int hv_ctl_read_file(const char *path, hv_buf_t *b, FILE *errf)
{
    int rc = -1;
    char chunk[65536];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        fprintf(errf, "hocvuctl: could not read %s: %s\n", path, strerror(errno));
        goto failed;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        hv_buf_append(b, chunk, n);
    if (ferror(f)) {
        fprintf(errf, "hocvuctl: could not read %s: %s\n", path, strerror(errno));
        goto failed;
    }
    if (b->data == NULL)
        hv_buf_puts(b, "");
    rc = 0;
failed:
    if (f)
        fclose(f);
    return rc;
}

void hv_ctl_import_free(hv_ctl_import_t *imp)
{
    hv_buf_free(&imp->json);
    memset(imp, 0, sizeof(*imp));
}
