/*
 * evidence.c - a frozen report's evidence (CONTRACT §10, §12): read back and checked against
 * what the freeze recorded (hv_evidence_load, for hocvuctl and the service), and served as
 * GET /v1/reports/{id}/evidence.csv for admin tokens only. A city's evidence is tens of
 * megabytes in PostgreSQL, so each request reads it off the loop (dbjob.h).
 */
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/dbjob.h"
#include "hocvu/evidence.h"
#include "hocvu/handlers.h"
#include "hocvu/log.h"

/* --- freeze ------------------------------------------------------------------------------- */

/* One counted person, as read at freeze. The certificate id is in the arena. */
typedef struct ev_row {
    uint64_t key;  /* 8 bytes of the id after its ward's common prefix, big-endian (sort_ward) */
    uint32_t cert; /* offset into the arena */
    uint8_t grp;
    bool adult;
    char day[11];
} ev_row_t;

/* The rows of one ward, in the order read, then sorted by certificate. */
typedef struct ev_ward {
    char *code;
    ev_row_t *rows;
    size_t n, cap;
} ev_ward_t;

typedef struct ev_set {
    hv_buf_t arena; /* NUL-terminated certificate ids */
    ev_ward_t *wards;
    size_t n_wards, cap_wards;
    int32_t *slots; /* open addressing over ward codes: index into wards, or -1 */
    size_t n_slots; /* a power of two, at least twice n_wards */
} ev_set_t;

static uint32_t str_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void slots_rebuild(ev_set_t *e)
{
    free(e->slots);
    e->n_slots = e->n_slots ? e->n_slots * 2 : 256;
    e->slots = hv_xcalloc(e->n_slots, sizeof(*e->slots));
    for (size_t i = 0; i < e->n_slots; i++)
        e->slots[i] = -1;
    for (size_t w = 0; w < e->n_wards; w++) {
        size_t k = str_hash(e->wards[w].code, strlen(e->wards[w].code)) & (e->n_slots - 1);
        while (e->slots[k] >= 0)
            k = (k + 1) & (e->n_slots - 1);
        e->slots[k] = (int32_t)w;
    }
}

/* The ward of code (n bytes), added when new. */
static ev_ward_t *ward_of(ev_set_t *e, const char *code, size_t n)
{
    if (2 * (e->n_wards + 1) > e->n_slots)
        slots_rebuild(e);
    size_t k = str_hash(code, n) & (e->n_slots - 1);
    for (; e->slots[k] >= 0; k = (k + 1) & (e->n_slots - 1)) {
        ev_ward_t *w = &e->wards[e->slots[k]];
        if (strlen(w->code) == n && memcmp(w->code, code, n) == 0)
            return w;
    }
    if (e->n_wards == e->cap_wards) {
        e->cap_wards = e->cap_wards ? 2 * e->cap_wards : 128;
        e->wards = hv_xrealloc(e->wards, e->cap_wards * sizeof(*e->wards));
    }
    ev_ward_t *w = &e->wards[e->n_wards];
    *w = (ev_ward_t){.code = hv_xstrndup(code, n)};
    e->slots[k] = (int32_t)e->n_wards++;
    return w;
}

static void ev_set_free(ev_set_t *e)
{
    for (size_t w = 0; w < e->n_wards; w++) {
        free(e->wards[w].code);
        free(e->wards[w].rows);
    }
    free(e->wards);
    free(e->slots);
    hv_buf_free(&e->arena);
}

/* Splits a COPY text line into n tab-separated fields (NUL-terminated in place, backslash
 * escapes undone: a certificate id is printable ASCII, so only "\\" occurs). Returns false if
 * the line does not have exactly n fields. */
static bool split_copy_line(char *line, size_t len, char **f, int n)
{
    int k = 0;
    char *w = line;

    f[k++] = line;
    for (size_t i = 0; i < len; i++) {
        char ch = line[i];
        if (ch == '\t') {
            *w++ = '\0';
            if (k == n)
                return false;
            f[k++] = w;
        } else if (ch == '\n' && i + 1 == len) {
            break;
        } else if (ch == '\\' && i + 1 < len) {
            char nx = line[++i];
            *w++ = nx == 't' ? '\t' : nx == 'n' ? '\n' : nx == 'r' ? '\r' : nx;
        } else {
            *w++ = ch;
        }
    }
    *w = '\0';
    return k == n;
}

static int ward_cmp(const void *a, const void *b)
{
    return strcmp(((const ev_ward_t *)a)->code, ((const ev_ward_t *)b)->code);
}

/* Rows compare by their key, then (equal keys) by the whole id: bytewise order. */
static int row_cmp(const void *a, const void *b, void *arena)
{
    const ev_row_t *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp((const char *)arena + x->cert, (const char *)arena + y->cert);
}

/* Sorts a ward's rows by certificate id, bytewise. Ids of one issuer share a long prefix
 * ("BDHVS-2025-000…"), so each row first gets the 8 bytes that follow the ward's common prefix
 * as an integer key: most comparisons are then one integer compare, not a string walk. */
static void sort_ward(ev_ward_t *w, const char *arena)
{
    size_t lcp = SIZE_MAX;

    if (w->n < 2)
        return;
    const char *first = arena + w->rows[0].cert;
    for (size_t i = 1; i < w->n && lcp > 0; i++) {
        const char *c = arena + w->rows[i].cert;
        size_t k = 0;
        while (k < lcp && first[k] && first[k] == c[k])
            k++;
        lcp = k;
    }
    for (size_t i = 0; i < w->n; i++) {
        const unsigned char *c = (const unsigned char *)arena + w->rows[i].cert + lcp;
        uint64_t key = 0;
        int k = 0;
        for (; k < 8 && c[k]; k++)
            key = key << 8 | c[k];
        w->rows[i].key = key << (8 * (8 - k));
    }
    qsort_r(w->rows, w->n, sizeof(*w->rows), row_cmp, (void *)arena);
}

/* Reads every counted person through one COPY (no sort in the server: a million-row sort of
 * text keys costs PostgreSQL seconds, the ward buckets and a sort per ward here a fraction). */
static int read_counted(PGconn *conn, const char *as_of, ev_set_t *e, char *err, size_t errlen)
{
    char *lit = PQescapeLiteral(conn, as_of, strlen(as_of)), *buf = NULL, *f[5];
    hv_buf_t sql;
    PGresult *res;
    int n, rc = -1;

    hv_buf_init(&sql);
    hv_buf_printf(&sql,
                  "COPY (SELECT ward, grp, day, adult, cert_id FROM persons "
                  "WHERE cert_id IS NOT NULL AND day <= %s::date) TO STDOUT",
                  lit ? lit : "NULL");
    res = PQexec(conn, sql.data);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
                 PQerrorMessage(conn));
        goto done;
    }
    PQclear(res);
    rc = 0;
    while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
        if (rc == 0 && (!split_copy_line(buf, (size_t)n, f, 5) || strlen(f[2]) != 10)) {
            snprintf(err, errlen, "an unexpected row of persons");
            rc = -1;
        }
        if (rc == 0) {
            ev_ward_t *w = ward_of(e, f[0], strlen(f[0]));
            if (w->n == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 1024;
                w->rows = hv_xrealloc(w->rows, w->cap * sizeof(*w->rows));
            }
            ev_row_t *r = &w->rows[w->n++];
            r->cert = (uint32_t)e->arena.len;
            r->grp = (uint8_t)atoi(f[1]);
            r->adult = f[3][0] == 't';
            memcpy(r->day, f[2], 11);
            hv_buf_append(&e->arena, f[4], strlen(f[4]) + 1);
            if (e->arena.len > UINT32_MAX) {
                snprintf(err, errlen, "too many certificates for one report");
                rc = -1;
            }
        }
        PQfreemem(buf);
    }
    res = PQgetResult(conn);
    if (n != -1 || PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
                 PQerrorMessage(conn));
        rc = -1;
    }
done:
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    PQfreemem(lit);
    hv_buf_free(&sql);
    return rc;
}

/* The SHA-256 of evidence.csv, started over HV_EVIDENCE_HEAD (caller frees), or NULL with err
 * set. */
static EVP_MD_CTX *sha_begin(char *err, size_t errlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(md, HV_EVIDENCE_HEAD, strlen(HV_EVIDENCE_HEAD))) {
        EVP_MD_CTX_free(md);
        snprintf(err, errlen, "no SHA-256 from OpenSSL");
        return NULL;
    }
    return md;
}

/* Finishes md into lowercase hex. Returns 0, or -1 with err set. */
static int sha_end(EVP_MD_CTX *md, char sha_hex[65], char *err, size_t errlen)
{
    unsigned char sum[32];
    unsigned int n = 0;

    if (!EVP_DigestFinal_ex(md, sum, &n) || n != sizeof(sum)) {
        snprintf(err, errlen, "no SHA-256 from OpenSSL");
        return -1;
    }
    for (unsigned i = 0; i < sizeof(sum); i++)
        snprintf(sha_hex + 2 * i, 3, "%02x", sum[i]);
    return 0;
}

/* Stores one part of lines and adds it to the digest. Returns 0, or -1 with err set. */
static int put_part(PGconn *conn, const char *id, int part_no, int lines, const hv_buf_t *part,
                    EVP_MD_CTX *md, char *err, size_t errlen)
{
    char pn[16], ln[16];
    snprintf(pn, sizeof(pn), "%d", part_no);
    snprintf(ln, sizeof(ln), "%d", lines);
    const char *p[4] = {id, pn, ln, part->data};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO report_evidence_parts (report_id, part, lines, csv) "
                                 "VALUES ($1, $2, $3, $4)",
                                 4, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    PQclear(res);
    if (!ok) {
        snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
                 PQerrorMessage(conn));
        return -1;
    }
    EVP_DigestUpdate(md, part->data, part->len);
    return 0;
}

int hv_evidence_freeze(PGconn *conn, const char *id, const char *as_of, int64_t *lines,
                       char sha_hex[65], char *err, size_t errlen)
{
    ev_set_t e = {0};
    EVP_MD_CTX *md = NULL;
    hv_buf_t part;
    int rc = -1, n_parts = 0, in_part = 0;

    hv_buf_init(&part);
    hv_buf_init(&e.arena);
    *lines = 0;
    if (!(md = sha_begin(err, errlen)))
        goto done;
    if (read_counted(conn, as_of, &e, err, errlen) < 0)
        goto done;
    if (e.n_wards > 1)
        qsort(e.wards, e.n_wards, sizeof(*e.wards), ward_cmp);
    for (size_t w = 0; w < e.n_wards; w++) {
        ev_ward_t *wd = &e.wards[w];
        sort_ward(wd, e.arena.data);
        for (size_t i = 0; i < wd->n; i++) {
            const ev_row_t *r = &wd->rows[i];
            hv_report_evidence_line(&part, wd->code, (hv_group_t)r->grp, r->day, r->adult,
                                    e.arena.data + r->cert);
            (*lines)++;
            if (++in_part < HV_EVIDENCE_PART_LINES)
                continue;
            if (put_part(conn, id, n_parts++, in_part, &part, md, err, errlen) < 0)
                goto done;
            hv_buf_reset(&part);
            in_part = 0;
        }
    }
    if (in_part > 0 && put_part(conn, id, n_parts++, in_part, &part, md, err, errlen) < 0)
        goto done;
    if (sha_end(md, sha_hex, err, errlen) < 0)
        goto done;
    rc = 0;
done:
    EVP_MD_CTX_free(md);
    hv_buf_free(&part);
    ev_set_free(&e);
    return rc;
}

/* --- read back and serve ---------------------------------------------------------------------- */

/* A hex SHA-256 as base64, as Repr-Digest (RFC 9530) carries it. */
static void sha_hex_to_b64(const char hex[65], char out[48])
{
    unsigned char raw[32];

    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        raw[i] = (unsigned char)v;
    }
    EVP_EncodeBlock((unsigned char *)out, raw, 32);
}

int hv_evidence_load(PGconn *c, const char *id, hv_buf_t *out, char sha_hex[65], char *err,
                     size_t errlen)
{
    const char *p[1] = {id};
    PGresult *res =
        PQexecParams(c, "SELECT evidence_lines, evidence_sha256 FROM reports WHERE id = $1", 1,
                     NULL, p, NULL, NULL, 0);
    EVP_MD_CTX *md = NULL;
    long long want_lines, lines = 0;
    char want_sha[65];
    int rc = HV_EVIDENCE_DB_FAILED, next_part = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto db_failed;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return HV_EVIDENCE_NO_REPORT;
    }
    want_lines = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(want_sha, sizeof(want_sha), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    res = NULL;
    if (!(md = sha_begin(err, errlen)))
        goto done;
    if (out)
        hv_buf_puts(out, HV_EVIDENCE_HEAD);
    /* One part at a time (single-row mode): a city's evidence is never twice in memory. */
    if (!PQsendQueryParams(c,
                           "SELECT part, lines, csv FROM report_evidence_parts "
                           "WHERE report_id = $1 ORDER BY part",
                           1, NULL, p, NULL, NULL, 0) ||
        !PQsetSingleRowMode(c))
        goto db_failed;
    while ((res = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            const char *csv = PQgetvalue(res, 0, 2);
            size_t len = (size_t)PQgetlength(res, 0, 2);
            if (atoi(PQgetvalue(res, 0, 0)) != next_part++)
                rc = HV_EVIDENCE_BROKEN;
            lines += strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            EVP_DigestUpdate(md, csv, len);
            if (out)
                hv_buf_append(out, csv, len);
        } else if (st != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
            rc = HV_EVIDENCE_DB_FAILED;
            PQclear(res);
            while ((res = PQgetResult(c)) != NULL)
                PQclear(res);
            goto done;
        }
        PQclear(res);
    }
    if (sha_end(md, sha_hex, err, errlen) < 0)
        goto done;
    if (rc == HV_EVIDENCE_BROKEN || lines != want_lines || strcmp(sha_hex, want_sha) != 0) {
        snprintf(err, errlen,
                 "the stored evidence (%lld lines, sha256 %s) is not what was frozen (%lld lines, "
                 "sha256 %s)",
                 lines, sha_hex, want_lines, want_sha);
        rc = HV_EVIDENCE_BROKEN;
    } else {
        rc = HV_EVIDENCE_OK;
    }
    goto done;
db_failed:
    snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
    PQclear(res);
    while ((res = PQgetResult(c)) != NULL) /* leave the connection idle for the caller */
        PQclear(res);
done:
    EVP_MD_CTX_free(md);
    return rc;
}

/* On the job's thread: the evidence, checked. */
static void run_export(PGconn *c, hv_dbjob_io_t *io)
{
    switch (hv_evidence_load(c, io->key, &io->out, io->note, io->err, sizeof(io->err))) {
    case HV_EVIDENCE_OK:
        io->status = 200;
        break;
    case HV_EVIDENCE_NO_REPORT:
        io->status = 404;
        break;
    case HV_EVIDENCE_BROKEN:
        io->status = 500;
        break;
    default:
        io->status = 503;
    }
}

/* On the loop: the answer. */
static void end_export(hv_req_t *r, const hv_dbjob_io_t *io)
{
    char disp[160], b64[48], digest[64];

    if (io->status == 200) {
        snprintf(disp, sizeof(disp), "attachment; filename=\"hocvu-evidence-%s.csv\"", io->key);
        hv_http_add_header(r, "Content-Disposition", disp);
        sha_hex_to_b64(io->note, b64);
        snprintf(digest, sizeof(digest), "sha-256=:%s:", b64);
        hv_http_add_header(r, "Repr-Digest", digest);
        hv_http_end(r, 200, "text/csv; charset=utf-8", io->out.data, io->out.len, NULL);
    } else if (io->status == 404) {
        hv_http_problem(r, 404, "not_found", NULL, "no such report");
    } else if (io->status == 500) {
        hv_log(HV_LOG_ERROR, "evidence does not match its freeze", "report=%s error=%s", io->key,
               io->err);
        hv_http_problem(r, 500, "evidence_broken", NULL,
                        "the stored evidence is not what was frozen; see the service log");
    } else {
        hv_log(HV_LOG_ERROR, "evidence export failed", "report=%s error=%s", io->key, io->err);
        hv_http_problem(r, 503, "unavailable", NULL, "the database is unavailable");
    }
}

void hv_handle_evidence(hv_req_t *r, const char *id)
{
    hv_dbjob_start(r, "hocvud-evidence", id, run_export, end_export);
}
