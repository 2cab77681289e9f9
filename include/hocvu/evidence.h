/*
 * evidence.h - a frozen report's evidence as stored (sql/006): evidence.csv in parts, with the
 * line count and SHA-256 the freeze recorded on the report row.
 */
#ifndef HOCVU_EVIDENCE_H
#define HOCVU_EVIDENCE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/report.h"
#include "hocvu/util.h"

enum {
    HV_EVIDENCE_OK = 0,
    HV_EVIDENCE_NO_REPORT = 1,
    HV_EVIDENCE_BROKEN = 2,    /* parts missing or changed since the freeze (err says how) */
    HV_EVIDENCE_DB_FAILED = 3, /* err holds the reason */
};

/* Writes the evidence of report id, being frozen in conn's open transaction: the certificate of
 * every person counted as of as_of (YYYY-MM-DD), as evidence.csv lines in (ward, certificate)
 * order, in parts. Gives the number of lines and the SHA-256 of evidence.csv as it will be
 * served, for the report row (whose insert, later in the transaction, the parts wait for).
 * Holds the whole list in memory while sorting it (about 50 bytes a person). Returns 0, or -1
 * with err set. */
int hv_evidence_freeze(PGconn *conn, const char *id, const char *as_of, int64_t *lines,
                       char sha_hex[65], char *err, size_t errlen);

/* Reads report id's evidence through c (idle, no transaction needed): appends evidence.csv as
 * served (HV_EVIDENCE_HEAD and every part) to out unless out is NULL, puts the SHA-256 of those
 * bytes in sha_hex[65], and checks lines and digest against the report row. Returns one of the
 * HV_EVIDENCE_* values. */
int hv_evidence_load(PGconn *c, const char *id, hv_buf_t *out, char sha_hex[65], char *err,
                     size_t errlen);

#endif
