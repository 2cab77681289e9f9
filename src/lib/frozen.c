/*
 * frozen.c - the set of frozen reports the service serves (see frozen.h).
 */
#include "hocvu/frozen.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hocvu/json.h"
#include "hocvu/render.h"

hv_frozenset_t *hv_frozenset_load(PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, "SELECT id, label, as_of::text, year, "
                                 "to_char(created_at AT TIME ZONE 'UTC', "
                                 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), digest, body "
                                 "FROM reports ORDER BY created_at, id");
    hv_frozenset_t *f;
    hv_buf_t list;
    hv_json_t j;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorMessage(res);
        snprintf(err, errlen, "%.*s", (int)strcspn(m ? m : "", "\n"), m ? m : "");
        PQclear(res);
        return NULL;
    }
    f = hv_xcalloc(1, sizeof(*f));
    f->refs = 1;
    f->n = (size_t)PQntuples(res);
    f->items = hv_xcalloc(f->n ? f->n : 1, sizeof(*f->items));
    hv_buf_init(&list);
    hv_json_init(&j, &list);
    hv_json_obj(&j);
    hv_json_key(&j, "reports");
    hv_json_arr(&j);
    for (int r = 0; r < (int)f->n; r++) {
        hv_frozen_t *x = &f->items[r];
        snprintf(x->id, sizeof(x->id), "%s", PQgetvalue(res, r, 0));
        snprintf(x->as_of, sizeof(x->as_of), "%s", PQgetvalue(res, r, 2));
        x->year = atoi(PQgetvalue(res, r, 3));
        snprintf(x->digest, sizeof(x->digest), "%s", PQgetvalue(res, r, 5));
        x->body_len = (size_t)PQgetlength(res, r, 6);
        x->body = hv_xmalloc(x->body_len + 1);
        memcpy(x->body, PQgetvalue(res, r, 6), x->body_len + 1);
        hv_etag_of(x->body, x->body_len, x->etag);
        hv_json_obj(&j);
        hv_json_kstr(&j, "id", x->id);
        hv_json_kstr(&j, "label", PQgetvalue(res, r, 1));
        hv_json_kstr(&j, "as_of", x->as_of);
        hv_json_kint(&j, "year", x->year);
        hv_json_kstr(&j, "created_at", PQgetvalue(res, r, 4));
        hv_json_kstr(&j, "digest", x->digest);
        hv_json_end(&j);
    }
    hv_json_end(&j);
    hv_json_end(&j);
    PQclear(res);
    f->list = list.data;
    f->list_len = list.len;
    hv_etag_of(f->list, f->list_len, f->list_etag);
    return f;
}

void hv_frozenset_retain(hv_frozenset_t *f)
{
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
}

void hv_frozenset_release(hv_frozenset_t *f)
{
    if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->items[i].body);
    free(f->items);
    free(f->list);
    free(f);
}

const hv_frozen_t *hv_frozenset_find(const hv_frozenset_t *f, const char *id)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (strcmp(f->items[i].id, id) == 0)
            return &f->items[i];
    return NULL;
}
