/*
 * dbjob.h - a request answered from PostgreSQL off the event loop: the few reads that cannot
 * come from a snapshot (a report's evidence, a cohort's pending members) run on a thread of
 * their own with their own connection (the read replica when configured). The loop polls the
 * job from a timer it owns and ends the request there, so the thread never touches the event
 * base or the request.
 */
#ifndef HOCVU_DBJOB_H
#define HOCVU_DBJOB_H

#include <libpq-fe.h>

#include "hocvu/http.h"
#include "hocvu/util.h"

#define HV_DBJOB_MAX 4 /* jobs running at once per process; more get 503 overloaded */

/* What a job reads and what it found. The run function fills out, note, err and status. */
typedef struct hv_dbjob_io {
    char key[80];  /* in: what to read (a report id, a cohort code) */
    hv_buf_t out;  /* out: the body */
    char note[80]; /* out: a short result for the end function (a digest, ...) */
    char err[200]; /* out: why it failed, for the log */
    int status;    /* out: the run function's result; -1 when no connection could be made */
} hv_dbjob_io_t;

/* On the job's thread, with a connected PGconn. */
typedef void (*hv_dbjob_run_fn)(PGconn *c, hv_dbjob_io_t *io);
/* On the loop, once: ends req from io. */
typedef void (*hv_dbjob_end_fn)(hv_req_t *req, const hv_dbjob_io_t *io);

/* Takes over r (it is ended by `end`, or here with 503 when too many jobs run or no thread
 * can start). app names the connection in pg_stat_activity. */
void hv_dbjob_start(hv_req_t *r, const char *app, const char *key, hv_dbjob_run_fn run,
                    hv_dbjob_end_fn end);

#endif
