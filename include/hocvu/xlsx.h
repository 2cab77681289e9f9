/*
 * xlsx.h - the ward report as an Excel workbook (CONTRACT §10): a summary sheet and the ranked
 * ward sheet of a view, for officials who work in Excel.
 */
#ifndef HOCVU_XLSX_H
#define HOCVU_XLSX_H

#include <stddef.h>
#include <stdint.h>

#include "hocvu/snapshot.h"
#include "hocvu/util.h"

#define HV_XLSX_MEDIA_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* What the summary sheet says besides the numbers (all borrowed). */
typedef struct hv_xlsx_meta {
    const char *jurisdiction; /* HOCVU_JURISDICTION */
    const char *label;        /* a frozen report's label, or NULL */
    const char *report_id;    /* a frozen report's id, or NULL */
    const char *digest;       /* a frozen report's digest, or NULL */
    int32_t as_of_day;        /* the day counted up to */
    int64_t generated_at;     /* Unix seconds */
} hv_xlsx_meta_t;

/* Appends the workbook of view v to out. Returns 0, or -1 with err set (temporary file or
 * libxlsxwriter failure; nothing useful was appended). */
int hv_render_wards_xlsx(const hv_snapshot_t *s, const hv_view_t *v, const hv_xlsx_meta_t *m,
                         hv_buf_t *out, char *err, size_t errlen);

/* The workbook of a frozen report, from its stored object: the same sheets, its id, label,
 * creation time and digest on the summary. Returns 0, or -1 with err set. */
int hv_render_frozen_xlsx(const char *body, size_t len, hv_buf_t *out, char *err, size_t errlen);

#endif
