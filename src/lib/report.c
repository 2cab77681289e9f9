/*
 * report.c - the frozen report object and its digest (see report.h). The object is written
 * with the one JSON writer, then canonicalised (jcs.c): the digest covers the canonical bytes
 * of every member but digest, and the stored object is the canonical form with digest added.
 */
#include "hocvu/report.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "hocvu/jcs.h"
#include "hocvu/json.h"
#include "hocvu/render.h"
#include "hocvu/timeutil.h"

/* The object without digest, in any member order. */
static void write_object(const hv_snapshot_t *s, const hv_view_t *v, const hv_report_meta_t *m,
                         hv_buf_t *out)
{
    hv_json_t j;
    char ts[32];

    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_kstr(&j, "id", m->id);
    hv_json_kstr(&j, "label", m->label);
    hv_render_day(&j, "as_of", v->cutoff);
    hv_json_kint(&j, "year", v->year);
    hv_time_format_utc(m->created_at, ts);
    hv_json_kstr(&j, "created_at", ts);
    hv_json_kstr(&j, "jurisdiction", m->jurisdiction);
    hv_json_key(&j, "city");
    hv_json_obj(&j);
    hv_json_kint(&j, "target", v->target);
    hv_json_kint(&j, "certified_adults", v->adults);
    hv_json_kint(&j, "certified_total", v->total);
    hv_render_pct(&j, "percent", hv_pct100(v->adults, v->target));
    hv_json_end(&j);
    hv_render_by_group(&j, v->group_adults);
    hv_render_targets(&j, v);
    hv_json_key(&j, "wards");
    hv_json_arr(&j);
    for (size_t i = 0; i < s->wards->n_wards; i++) {
        hv_render_ward_fields(&j, &v->stats[v->ranked[i]]);
        hv_json_end(&j);
    }
    hv_json_end(&j);
    hv_json_end(&j);
}

int hv_report_build(const hv_snapshot_t *s, const hv_view_t *v, const hv_report_meta_t *m,
                    hv_buf_t *out, char digest[65], char *err, size_t errlen)
{
    hv_buf_t raw, canon;
    int rc = -1;

    hv_buf_init(&raw);
    hv_buf_init(&canon);
    write_object(s, v, m, &raw);
    if (hv_jcs_canonicalize(raw.data, raw.len, &canon, err, errlen) < 0)
        goto done;
    hv_sha256_hex(canon.data, canon.len, digest);
    /* Add the digest, then canonicalise again: "digest" takes its place in the member order. */
    if (canon.len < 2 || canon.data[canon.len - 1] != '}') {
        snprintf(err, errlen, "the report is not an object");
        goto done;
    }
    canon.data[--canon.len] = '\0';
    hv_buf_printf(&canon, ",\"digest\":\"%s\"}", digest);
    if (hv_jcs_canonicalize(canon.data, canon.len, out, err, errlen) < 0)
        goto done;
    rc = 0;
done:
    hv_buf_free(&raw);
    hv_buf_free(&canon);
    return rc;
}

int hv_report_digest(const char *json, size_t len, char digest[65], char stated[65], char *err,
                     size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    const char *d;
    char *text = NULL;
    hv_buf_t canon;
    int rc = -1;

    hv_buf_init(&canon);
    if (!o || !json_is_object(o) || !(d = json_string_value(json_object_get(o, "digest"))) ||
        strlen(d) != 64) {
        snprintf(err, errlen, "not a report object with a digest");
        goto done;
    }
    snprintf(stated, 65, "%s", d);
    json_object_del(o, "digest");
    /* Real numbers are kept as they are; jcs.c re-reads and writes the canonical form. */
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text || hv_jcs_canonicalize(text, strlen(text), &canon, err, errlen) < 0)
        goto done;
    hv_sha256_hex(canon.data, canon.len, digest);
    rc = 0;
done:
    free(text);
    json_decref(o);
    hv_buf_free(&canon);
    return rc;
}

void hv_report_evidence_line(hv_buf_t *b, const char *ward, hv_group_t group, const char *day,
                             bool adult, const char *cert_id)
{
    hv_render_csv_field(b, ward, false);
    hv_buf_putc(b, ',');
    hv_buf_puts(b, hv_group_name(group));
    hv_buf_putc(b, ',');
    hv_buf_puts(b, day);
    hv_buf_puts(b, adult ? ",true," : ",false,");
    hv_render_csv_field(b, cert_id, false);
    hv_buf_putc(b, '\n');
}
