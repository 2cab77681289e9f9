/*
 * xlsx.c - the ward report as an Excel workbook (CONTRACT §10), written with libxlsxwriter:
 * a summary sheet (jurisdiction, year, as of, city totals and groups, the year's targets, the
 * generation time and, for a frozen report, its digest) and the ranked ward sheet (Vietnamese
 * headers, the header row frozen, counts as numbers, percentages in percent format, dates as
 * dates). Text is always written as a string cell, never as a formula, whatever it starts with.
 *
 * libxlsxwriter 1.1 writes to a file only: the workbook goes to a private temporary file that
 * is read back and removed before returning.
 */
#include "hocvu/xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "hocvu/timeutil.h"

#include <jansson.h>
#include <math.h>

static const char *const GROUP_VI[5] = {"Mọi đối tượng", "Người dân",
                                        "Cán bộ, công chức, viên chức", "Học sinh, sinh viên",
                                        "Người lao động"};

/* The unit types of the 2025 reform, as officials write them. */
static const char *type_vi(const char *t)
{
    if (strcmp(t, "phuong") == 0)
        return "Phường";
    if (strcmp(t, "xa") == 0)
        return "Xã";
    if (strcmp(t, "dac_khu") == 0)
        return "Đặc khu";
    return t;
}

typedef struct {
    lxw_format *bold, *title, *head, *integer, *percent, *date, *text;
} formats_t;

static lxw_datetime datetime_of(int32_t day)
{
    hv_date_t d = hv_days_to_date(day);
    lxw_datetime dt = {d.year, d.month, d.day, 0, 0, 0};
    return dt;
}

static void put_pct(lxw_worksheet *ws, int row, int col, int64_t pct100, const formats_t *f)
{
    if (pct100 >= 0)
        worksheet_write_number(ws, (lxw_row_t)row, (lxw_col_t)col, (double)pct100 / 10000.0,
                               f->percent);
    else
        worksheet_write_blank(ws, (lxw_row_t)row, (lxw_col_t)col, NULL);
}

/* A label in column A and a number (or percent, or text) in column B. */
static void kv_int(lxw_worksheet *ws, int row, const char *label, int64_t v, const formats_t *f)
{
    worksheet_write_string(ws, (lxw_row_t)row, 0, label, f->bold);
    worksheet_write_number(ws, (lxw_row_t)row, 1, (double)v, f->integer);
}

static void kv_text(lxw_worksheet *ws, int row, const char *label, const char *v,
                    const formats_t *f)
{
    worksheet_write_string(ws, (lxw_row_t)row, 0, label, f->bold);
    worksheet_write_string(ws, (lxw_row_t)row, 1, v, f->text);
}

static void summary_sheet(lxw_workbook *wb, const hv_snapshot_t *s, const hv_view_t *v,
                          const hv_xlsx_meta_t *m, const formats_t *f)
{
    lxw_worksheet *ws = workbook_add_worksheet(wb, "Tổng hợp");
    char title[256], ts[32];
    lxw_datetime as_of = datetime_of(m->as_of_day);
    int row = 0;

    worksheet_set_column(ws, 0, 0, 44, NULL);
    worksheet_set_column(ws, 1, 3, 18, NULL);
    snprintf(title, sizeof(title), "Bình dân học vụ số — %s", m->jurisdiction);
    worksheet_write_string(ws, (lxw_row_t)row++, 0, title, f->title);
    worksheet_write_string(ws, (lxw_row_t)row++, 0,
                           m->label ? m->label : "Báo cáo tiến độ xác nhận kỹ năng số", f->text);
    row++;
    kv_int(ws, row++, "Năm", v->year, f);
    worksheet_write_string(ws, (lxw_row_t)row, 0, "Số liệu đến hết ngày", f->bold);
    worksheet_write_datetime(ws, (lxw_row_t)row++, 1, &as_of, f->date);
    kv_int(ws, row++, "Chỉ tiêu người trưởng thành", v->target, f);
    kv_int(ws, row++, "Người trưởng thành đã xác nhận", v->adults, f);
    kv_int(ws, row++, "Tổng số người đã xác nhận (mọi lứa tuổi)", v->total, f);
    worksheet_write_string(ws, (lxw_row_t)row, 0, "Tỷ lệ so với chỉ tiêu", f->bold);
    put_pct(ws, row++, 1, hv_pct100(v->adults, v->target), f);
    kv_int(ws, row++, "Còn lại để đạt chỉ tiêu", v->adults >= v->target ? 0 : v->target - v->adults,
           f);
    kv_int(ws, row++, "Phường, xã đạt chỉ tiêu", v->wards_at_target, f);
    kv_int(ws, row++, "Số phường, xã", (int64_t)s->wards->n_wards, f);
    row++;
    worksheet_write_string(ws, (lxw_row_t)row++, 0, "Người trưởng thành đã xác nhận theo đối tượng",
                           f->head);
    for (int g = 1; g <= 4; g++)
        kv_int(ws, row++, GROUP_VI[g], v->group_adults[g], f);
    if (v->n_targets) {
        row++;
        worksheet_write_string(ws, (lxw_row_t)row, 0, "Chỉ tiêu của năm", f->head);
        worksheet_write_string(ws, (lxw_row_t)row, 1, "Chỉ tiêu", f->head);
        worksheet_write_string(ws, (lxw_row_t)row, 2, "Đã xác nhận", f->head);
        worksheet_write_string(ws, (lxw_row_t)row++, 3, "Tỷ lệ", f->head);
        for (size_t i = 0; i < v->n_targets; i++) {
            const hv_target_stat_t *t = &v->targets[i];
            char label[96];
            snprintf(label, sizeof(label), "%s%s", GROUP_VI[t->grp],
                     t->all_ages ? " (mọi lứa tuổi)" : " (người trưởng thành)");
            worksheet_write_string(ws, (lxw_row_t)row, 0, label, f->text);
            worksheet_write_number(ws, (lxw_row_t)row, 1, (double)t->target, f->integer);
            worksheet_write_number(ws, (lxw_row_t)row, 2, (double)t->certified, f->integer);
            put_pct(ws, row++, 3, t->pct100, f);
        }
    }
    row++;
    hv_time_format_utc(m->generated_at, ts);
    kv_text(ws, row++, "Thời điểm lập (UTC)", ts, f);
    if (m->report_id)
        kv_text(ws, row++, "Mã báo cáo", m->report_id, f);
    if (m->digest)
        kv_text(ws, row++, "Mã kiểm tra (SHA-256, RFC 8785)", m->digest, f);
}

static void wards_sheet(lxw_workbook *wb, const hv_snapshot_t *s, const hv_view_t *v,
                        const hv_xlsx_meta_t *m, const formats_t *f)
{
    static const char *const heads[] = {"Hạng",
                                        "Mã",
                                        "Tên phường, xã",
                                        "Loại",
                                        "Người trưởng thành đã xác nhận",
                                        "Tổng đã xác nhận (mọi lứa tuổi)",
                                        "Chỉ tiêu",
                                        "Chỉ tiêu ước tính",
                                        "Tỷ lệ",
                                        "Ngày về đích",
                                        "Số liệu đến ngày"};
    static const double widths[] = {7, 8, 30, 9, 16, 16, 12, 10, 10, 13, 13};
    lxw_worksheet *ws = workbook_add_worksheet(wb, "Phường, xã");
    lxw_datetime as_of = datetime_of(m->as_of_day);

    for (int c = 0; c < (int)(sizeof(heads) / sizeof(heads[0])); c++) {
        worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, widths[c], NULL);
        worksheet_write_string(ws, 0, (lxw_col_t)c, heads[c], f->head);
    }
    worksheet_set_row(ws, 0, 32, NULL);
    worksheet_freeze_panes(ws, 1, 0);
    for (size_t i = 0; i < s->wards->n_wards; i++) {
        const hv_ward_stats_t *r = &v->stats[v->ranked[i]];
        lxw_row_t row = (lxw_row_t)(i + 1);
        worksheet_write_number(ws, row, 0, r->rank, f->integer);
        worksheet_write_string(ws, row, 1, r->ward->code, f->text);
        worksheet_write_string(ws, row, 2, r->ward->name, f->text);
        worksheet_write_string(ws, row, 3, type_vi(r->ward->type), f->text);
        worksheet_write_number(ws, row, 4, (double)r->adults, f->integer);
        worksheet_write_number(ws, row, 5, (double)r->total, f->integer);
        if (r->target >= 0)
            worksheet_write_number(ws, row, 6, (double)r->target, f->integer);
        else
            worksheet_write_blank(ws, row, 6, NULL);
        worksheet_write_string(ws, row, 7, r->target_estimated ? "có" : "không", f->text);
        put_pct(ws, (int)row, 8, r->pct100, f);
        if (r->reached_on != HV_NO_DAY) {
            lxw_datetime d = datetime_of(r->reached_on);
            worksheet_write_datetime(ws, row, 9, &d, f->date);
        } else {
            worksheet_write_blank(ws, row, 9, NULL);
        }
        worksheet_write_datetime(ws, row, 10, &as_of, f->date);
    }
}

int hv_render_wards_xlsx(const hv_snapshot_t *s, const hv_view_t *v, const hv_xlsx_meta_t *m,
                         hv_buf_t *out, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    lxw_workbook_options opts = {0};
    lxw_workbook *wb;
    lxw_error rc;
    formats_t f;
    int fd;

    snprintf(path, sizeof(path), "%s/hocvu-report-XXXXXX", dir && dir[0] ? dir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0) {
        snprintf(err, errlen, "could not create a temporary file: %s", strerror(errno));
        return -1;
    }
    close(fd);
    opts.tmpdir = dir && dir[0] ? (char *)dir : (char *)"/tmp";
    wb = workbook_new_opt(path, &opts);
    if (!wb) {
        unlink(path);
        snprintf(err, errlen, "could not start the workbook");
        return -1;
    }
    lxw_doc_properties props = {.title = (char *)"Bình dân học vụ số",
                                .subject = (char *)m->jurisdiction,
                                .company = (char *)"hocvu"};
    workbook_set_properties(wb, &props);
    f.bold = workbook_add_format(wb);
    format_set_bold(f.bold);
    f.title = workbook_add_format(wb);
    format_set_bold(f.title);
    format_set_font_size(f.title, 14);
    f.head = workbook_add_format(wb);
    format_set_bold(f.head);
    format_set_text_wrap(f.head);
    format_set_bg_color(f.head, 0xE3E8ED);
    format_set_border(f.head, LXW_BORDER_THIN);
    f.integer = workbook_add_format(wb);
    format_set_num_format(f.integer, "#,##0");
    f.percent = workbook_add_format(wb);
    format_set_num_format(f.percent, "0.00%");
    f.date = workbook_add_format(wb);
    format_set_num_format(f.date, "dd/mm/yyyy");
    f.text = workbook_add_format(wb);
    format_set_num_format(f.text, "@"); /* text: never a number or a formula */

    summary_sheet(wb, s, v, m, &f);
    wards_sheet(wb, s, v, m, &f);
    rc = workbook_close(wb);
    if (rc != LXW_NO_ERROR) {
        unlink(path);
        snprintf(err, errlen, "could not write the workbook: %s", lxw_strerror(rc));
        return -1;
    }
    FILE *in = fopen(path, "rb");
    unlink(path);
    if (!in) {
        snprintf(err, errlen, "could not read the workbook back: %s", strerror(errno));
        return -1;
    }
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        hv_buf_append(out, chunk, n);
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        snprintf(err, errlen, "could not read the workbook back");
        return -1;
    }
    return 0;
}

static int64_t int_member(json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static int64_t pct_member(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? llround(json_number_value(v) * 100.0) : -1;
}

static int32_t day_member(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    hv_date_t d;
    return s && hv_date_parse(s, strlen(s), &d) ? (int32_t)hv_date_to_days(d) : HV_NO_DAY;
}

int hv_render_frozen_xlsx(const char *body, size_t len, hv_buf_t *out, char *err, size_t errlen)
{
    static const char *const groups[5] = {"all", "citizen", "official", "student", "worker"};
    json_t *o = json_loadb(body, len, 0, NULL);
    json_t *wards = o ? json_object_get(o, "wards") : NULL, *city = json_object_get(o, "city");
    hv_wardtab_t *tab = hv_wardtab_new();
    hv_snapshot_t s = {0};
    hv_view_t v = {0};
    int rc = -1;

    if (!json_is_array(wards) || !json_is_object(city)) {
        snprintf(err, errlen, "not a report object");
        goto done;
    }
    size_t n = json_array_size(wards);
    for (size_t i = 0; i < n; i++) {
        json_t *w = json_array_get(wards, i);
        const char *code = json_string_value(json_object_get(w, "code"));
        const char *name = json_string_value(json_object_get(w, "name"));
        const char *type = json_string_value(json_object_get(w, "type"));
        if (!code || !name || !type || hv_wardtab_add(tab, code, name, type, -1, -1) < 0) {
            snprintf(err, errlen, "a ward of the report is malformed");
            goto done;
        }
    }
    hv_wardtab_finish(tab);
    s.wards = tab;
    v.year = (int)int_member(o, "year", 0);
    v.cutoff = day_member(o, "as_of");
    v.target = int_member(city, "target", 0);
    v.adults = int_member(city, "certified_adults", 0);
    v.total = int_member(city, "certified_total", 0);
    for (int g = 1; g <= 4; g++)
        v.group_adults[g] = int_member(json_object_get(o, "by_group"), groups[g], 0);
    v.stats = hv_xcalloc(n ? n : 1, sizeof(*v.stats));
    v.ranked = hv_xcalloc(n ? n : 1, sizeof(*v.ranked));
    for (size_t i = 0; i < n; i++) {
        json_t *w = json_array_get(wards, i);
        const hv_ward_t *ward = hv_wardtab_find(tab, json_string_value(json_object_get(w, "code")));
        size_t k = (size_t)(ward - tab->wards);
        hv_ward_stats_t *r = &v.stats[k];
        v.ranked[i] = k; /* the stored rank order */
        r->ward = ward;
        r->adults = int_member(w, "certified_adults", 0);
        r->total = int_member(w, "certified_total", 0);
        r->target = int_member(w, "target", -1);
        r->target_estimated = json_is_true(json_object_get(w, "target_estimated"));
        r->pct100 = pct_member(w, "percent");
        r->reached_on = day_member(w, "reached_on");
        r->rank = (int)int_member(w, "rank", 0);
        if (r->target > 0 && r->adults >= r->target)
            v.wards_at_target++;
    }
    json_t *targets = json_object_get(o, "targets");
    v.n_targets = json_array_size(targets);
    v.targets = hv_xcalloc(v.n_targets ? v.n_targets : 1, sizeof(*v.targets));
    for (size_t i = 0; i < v.n_targets; i++) {
        json_t *t = json_array_get(targets, i);
        const char *g = json_string_value(json_object_get(t, "group"));
        for (int k = 0; k <= 4; k++)
            if (g && strcmp(g, groups[k]) == 0)
                v.targets[i].grp = k;
        v.targets[i].all_ages =
            json_string_value(json_object_get(t, "measure")) &&
            strcmp(json_string_value(json_object_get(t, "measure")), "all") == 0;
        v.targets[i].target = int_member(t, "target", 0);
        v.targets[i].certified = int_member(t, "certified", 0);
        v.targets[i].pct100 = pct_member(t, "percent");
    }
    const char *created = json_string_value(json_object_get(o, "created_at"));
    hv_xlsx_meta_t meta = {
        .jurisdiction = json_string_value(json_object_get(o, "jurisdiction")),
        .label = json_string_value(json_object_get(o, "label")),
        .report_id = json_string_value(json_object_get(o, "id")),
        .digest = json_string_value(json_object_get(o, "digest")),
        .as_of_day = v.cutoff,
        .generated_at = 0,
    };
    if (!meta.jurisdiction || v.cutoff == HV_NO_DAY) {
        snprintf(err, errlen, "not a report object");
        goto done;
    }
    if (created) {
        struct tm tm = {0};
        if (strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm))
            meta.generated_at = (int64_t)timegm(&tm);
    }
    rc = hv_render_wards_xlsx(&s, &v, &meta, out, err, errlen);
done:
    free(v.stats);
    free(v.ranked);
    free(v.targets);
    hv_wardtab_free(tab);
    json_decref(o);
    return rc;
}
