/*
 * dbceiling.c - the database ceiling for hocvu's batch ingest: the same batched SQL that the
 * service's writer sends (src/lib/writer.c send_batch()), run directly against PostgreSQL with
 * no HTTP, no JSON, no signatures and no Redis in between.
 *
 * N connections (one thread each, blocking libpq) repeatedly execute the prepared statement
 *   SELECT n, outcome FROM hv_ingest($1 .. $13)
 * with B fresh synthetic certificate.issued events per call, in exactly the parameter shapes of
 * the writer: text-format array literals with every element double-quoted, NULL where the writer
 * sends NULL, and the writer's shard (backend pid mod 64). Every event is new: a unique id and
 * certificate number, and a new person (64 hex characters of pseudonym), as hocvu-bench sends by
 * default; wards are drawn from data/cantho_wards_2025.csv weighted by population, groups with
 * hocvu-bench's mix, 5 % minors, today's Vietnam day.
 *
 * Event generation stays out of the timed section as far as reasonable: each connection
 * pre-builds a few complete parameter sets before the clock starts; per call it only rewrites
 * the fixed-width sequence digits of the ids, certificate numbers and pseudonyms in place (a few
 * microseconds per 1,000 events, reported as gen_us). Throughput is events over the wall time
 * from the common start to the last reply; latency is per call, from send to result.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hocvu/csv.h"
#include "hocvu/timeutil.h"
#include "hocvu/util.h"
#include "hocvu/version.h"
#include "wards.h"

#define DBC_MAX_CONNECTIONS 64
#define DBC_MAX_BATCH 100000
#define DBC_TEMPLATES 4 /* distinct ward/group mixes per connection, used in turn */
#define DBC_NPARAMS 12  /* array parameters; the 13th is the shard */
#define DBC_MAX_RETRIES                                                                            \
    5                     /* deadlock / serialization failure retries of one call, as the writer   \
                           */
#define DBC_SEQ_DIGITS 12 /* decimal sequence digits in ids and certificate numbers */
#define DBC_SEQ_HEX 16    /* hex sequence digits at the end of a pseudonym */

/* The writer's statement (src/lib/writer.c prepare_sql), prepared once per connection. */
static const char prepare_sql[] =
    "PREPARE hv_ingest(text[], smallint[], text[], text[], text[], smallint[], bigint[], int[], "
    "boolean[], text[], real[], text[], smallint) AS "
    "SELECT n, outcome FROM hv_ingest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/* hocvu-bench's group mix (citizen, worker, student, official) in the service's codes. */
static const int group_codes[4] = {1, 4, 3, 2};
static const double group_cum[4] = {0.60, 0.80, 0.92, 1.00}; /* weights .60 .20 .12 .08 */
static const char *const courses[] = {"kns-co-ban", "ky-nang-so-1", "dich-vu-cong-truc-tuyen",
                                      "an-toan-thong-tin"};

typedef struct cfg {
    const char *database_url;
    int connections, batch;
    double duration;
    long long events; /* 0 = bounded by --duration only */
    const char *wards_file;
    double minor_ratio;
    bool json;
} cfg_t;

typedef bench_wards_t wards_t;

/* One call's parameters: array literals, and where each element's sequence digits sit. */
typedef struct tmpl {
    int n;
    hv_buf_t p[DBC_NPARAMS];
    size_t *off_id, *off_cert, *off_person;
} tmpl_t;

typedef struct conn {
    int index;
    pthread_t thread;
    PGconn *pg;
    char shard[8];
    uint64_t rng;
    char person_prefix[64 - DBC_SEQ_HEX + 1];
    uint64_t seq;
    tmpl_t t[DBC_TEMPLATES];
    tmpl_t tail; /* the last, shorter call with --events */
    /* results */
    int64_t *lat;
    size_t nlat, caplat;
    uint64_t calls, events, accepted, duplicates, conflicts, bad_rows, retries, failures;
    int64_t gen_us, end_us;
    char error[300];
    bool fatal;
} conn_t;

static cfg_t g_cfg;
static wards_t g_wards;
static char g_tag[7];
static int64_t g_ts;               /* event timestamp: the start of the run */
static int32_t g_day;              /* its Vietnam day, days since 1970-01-01 */
static _Atomic long long g_budget; /* events still to send with --events */
static int64_t g_start_us, g_stop_us;
static pthread_barrier_t g_barrier;
static volatile sig_atomic_t g_stop;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

/* ---- reference data ---- */

/* ---- parameters ---- */

/* Appends one quoted array element as the writer does (no element here needs escaping). */
static void el(hv_buf_t *b, const char *s)
{
    hv_buf_putc(b, b->len == 0 ? '{' : ',');
    if (!s) {
        hv_buf_puts(b, "NULL");
        return;
    }
    hv_buf_putc(b, '"');
    hv_buf_puts(b, s);
    hv_buf_putc(b, '"');
}

/* Builds the parameter arrays of n fresh events with zeroed sequence digits, remembering where
 * the digits are. */
static void tmpl_build(conn_t *c, tmpl_t *t, int n)
{
    char s[128];

    t->n = n;
    for (int i = 0; i < DBC_NPARAMS; i++) {
        hv_buf_init(&t->p[i]);
        hv_buf_reserve(&t->p[i], (size_t)n * 80 + 2);
    }
    t->off_id = hv_xcalloc((size_t)n, sizeof(size_t));
    t->off_cert = hv_xcalloc((size_t)n, sizeof(size_t));
    t->off_person = hv_xcalloc((size_t)n, sizeof(size_t));
    for (int i = 0; i < n; i++) {
        int ward = bench_pick_cum(g_wards.cum, g_wards.n, rng_unit(&c->rng));
        int g = bench_pick_cum(group_cum, 4, rng_unit(&c->rng));
        bool adult = rng_unit(&c->rng) >= g_cfg.minor_ratio;

        snprintf(s, sizeof(s), "dbc_%s_%02d_%0*d", g_tag, c->index, DBC_SEQ_DIGITS, 0);
        el(&t->p[0], s);
        t->off_id[i] = t->p[0].len - 1 - DBC_SEQ_DIGITS;
        el(&t->p[1], "1");
        snprintf(s, sizeof(s), "DBC-%s-%02d-%0*d", g_tag, c->index, DBC_SEQ_DIGITS, 0);
        el(&t->p[2], s);
        t->off_cert[i] = t->p[2].len - 1 - DBC_SEQ_DIGITS;
        snprintf(s, sizeof(s), "%s%0*d", c->person_prefix, DBC_SEQ_HEX, 0);
        el(&t->p[3], s);
        t->off_person[i] = t->p[3].len - 1 - DBC_SEQ_HEX;
        el(&t->p[4], g_wards.code[ward]);
        snprintf(s, sizeof(s), "%d", group_codes[g]);
        el(&t->p[5], s);
        snprintf(s, sizeof(s), "%lld", (long long)(g_ts - (int64_t)(rng_next(&c->rng) % 600)));
        el(&t->p[6], s);
        snprintf(s, sizeof(s), "%d", (int)g_day);
        el(&t->p[7], s);
        el(&t->p[8], adult ? "t" : "f");
        el(&t->p[9], courses[rng_next(&c->rng) % 4]);
        snprintf(s, sizeof(s), "%.3f", (double)(50 + rng_next(&c->rng) % 51));
        el(&t->p[10], s);
        el(&t->p[11], NULL); /* no supporter, as most events */
    }
    for (int i = 0; i < DBC_NPARAMS; i++)
        hv_buf_putc(&t->p[i], '}');
}

static void tmpl_free(tmpl_t *t)
{
    for (int i = 0; i < DBC_NPARAMS; i++)
        hv_buf_free(&t->p[i]);
    free(t->off_id);
    free(t->off_cert);
    free(t->off_person);
    memset(t, 0, sizeof(*t));
}

/* Gives every event of the template the next sequence number: new ids, certificates, persons. */
static void tmpl_stamp(conn_t *c, tmpl_t *t)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < t->n; i++) {
        uint64_t v = ++c->seq;
        char *id = t->p[0].data + t->off_id[i], *cert = t->p[2].data + t->off_cert[i];
        char *person = t->p[3].data + t->off_person[i];
        for (int k = DBC_SEQ_DIGITS - 1; k >= 0; k--, v /= 10)
            id[k] = cert[k] = (char)('0' + v % 10);
        v = c->seq;
        for (int k = DBC_SEQ_HEX - 1; k >= 0; k--, v >>= 4)
            person[k] = hex[v & 15];
    }
}

/* ---- the connections ---- */

static void lat_push(conn_t *c, int64_t us)
{
    if (c->nlat == c->caplat) {
        c->caplat = c->caplat ? c->caplat * 2 : 4096;
        c->lat = hv_xrealloc(c->lat, c->caplat * sizeof(*c->lat));
    }
    c->lat[c->nlat++] = us;
}

/* Runs one hv_ingest call with t's parameters, retrying deadlocks like the writer. Returns 0,
 * or -1 with c->error set. With timed, records latency and outcomes. */
static int call(conn_t *c, tmpl_t *t, bool timed)
{
    const char *values[DBC_NPARAMS + 1];
    for (int i = 0; i < DBC_NPARAMS; i++)
        values[i] = t->p[i].data;
    values[DBC_NPARAMS] = c->shard;

    for (int attempt = 0;; attempt++) {
        int64_t t0 = mono_us();
        PGresult *res = PQexecPrepared(c->pg, "hv_ingest", DBC_NPARAMS + 1, values, NULL, NULL, 0);
        int64_t t1 = mono_us();
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK) {
            int rows = PQntuples(res);
            if (timed) {
                lat_push(c, t1 - t0);
                c->calls++;
                c->events += (uint64_t)t->n;
                c->end_us = t1;
                c->bad_rows += rows != t->n;
                for (int r = 0; r < rows; r++) {
                    int o = atoi(PQgetvalue(res, r, 1));
                    c->accepted += o == 0;
                    c->duplicates += o == 1;
                    c->conflicts += o == 2;
                }
            }
            PQclear(res);
            return 0;
        }
        const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool retry = code && (strcmp(code, "40P01") == 0 || strcmp(code, "40001") == 0);
        if (retry && attempt < DBC_MAX_RETRIES) {
            c->retries++;
            PQclear(res);
            continue;
        }
        const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
        snprintf(c->error, sizeof(c->error), "hv_ingest failed (sqlstate %s): %.*s",
                 code ? code : "?", (int)strcspn(m, "\n"), m);
        c->failures++;
        PQclear(res);
        return -1;
    }
}

static int conn_setup(conn_t *c)
{
    uint8_t rnd[24];
    char hexbuf[64];

    c->pg = PQconnectdb(g_cfg.database_url);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c->pg);
        snprintf(c->error, sizeof(c->error), "could not connect: %.*s", (int)strcspn(m, "\n"), m);
        return -1;
    }
    PGresult *res = PQexec(c->pg, prepare_sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorMessage(res);
        snprintf(c->error, sizeof(c->error),
                 "could not prepare hv_ingest (has hocvuctl migrate run?): %.*s",
                 (int)strcspn(m, "\n"), m);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    snprintf(c->shard, sizeof(c->shard), "%d", PQbackendPID(c->pg) % 64);
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        snprintf(c->error, sizeof(c->error), "getrandom failed");
        return -1;
    }
    hv_hex_encode(rnd, sizeof(rnd), hexbuf);
    memcpy(c->person_prefix, hexbuf, 64 - DBC_SEQ_HEX);
    c->person_prefix[64 - DBC_SEQ_HEX] = '\0';
    memcpy(&c->rng, rnd, sizeof(c->rng));
    for (int i = 0; i < DBC_TEMPLATES; i++)
        tmpl_build(c, &c->t[i], g_cfg.batch);
    /* Warm-up (not timed): plans the statements of the function in this session. */
    tmpl_stamp(c, &c->t[0]);
    return call(c, &c->t[0], false);
}

/* Claims the size of the next call: the batch, less at the end of --events, 0 when done. */
static int claim(void)
{
    if (g_cfg.events <= 0)
        return g_cfg.batch;
    long long left = atomic_load(&g_budget);
    for (;;) {
        if (left <= 0)
            return 0;
        long long take = left < g_cfg.batch ? left : g_cfg.batch;
        if (atomic_compare_exchange_weak(&g_budget, &left, left - take))
            return (int)take;
    }
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    bool ok = conn_setup(c) == 0;
    if (!ok)
        c->fatal = true;
    pthread_barrier_wait(&g_barrier); /* everyone ready */
    pthread_barrier_wait(&g_barrier); /* the clock has started */
    if (!ok)
        return NULL;
    for (uint64_t k = 0; !g_stop && mono_us() < g_stop_us; k++) {
        int n = claim();
        if (n == 0)
            break;
        tmpl_t *t = &c->t[k % DBC_TEMPLATES];
        if (n < t->n) {
            tmpl_free(&c->tail);
            tmpl_build(c, &c->tail, n);
            t = &c->tail;
        }
        int64_t g0 = mono_us();
        tmpl_stamp(c, t);
        c->gen_us += mono_us() - g0;
        if (call(c, t, true) < 0) {
            c->fatal = true;
            break;
        }
    }
    return NULL;
}

/* ---- output ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t quantile(const int64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(q * (double)n);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return v[i - 1];
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dbceiling [--database-url URL] [--connections N] [--batch B]\n"
               "                 [--duration S] [--events N] [--json]\n"
               "\n"
               "The database ceiling of hocvu's ingest: runs the writer's batched SQL\n"
               "(SELECT n, outcome FROM hv_ingest(...), prepared, text-format arrays) directly,\n"
               "N connections each calling it back to back with B fresh synthetic events,\n"
               "and prints events/s and per-call latency percentiles. Stores real rows: use a\n"
               "throwaway or benchmark database.\n"
               "\n"
               "  --database-url URL   libpq conninfo or URI (default $HOCVU_DATABASE_URL,\n"
               "                       else postgresql:///hocvu)\n"
               "  --connections N      connections, one thread each (default 2: hocvud runs\n"
               "                       one writer connection per event loop, one per CPU)\n"
               "  --batch B            events per call (default 1000)\n"
               "  --duration S         seconds of load (default 10)\n"
               "  --events N           stop after N events in total (the last call may be\n"
               "                       shorter); --duration still bounds the run (default\n"
               "                       then 3600 s). Also a quick consistent bulk load.\n"
               "  --wards FILE.csv     ward codes weighted by population\n"
               "                       (default data/cantho_wards_2025.csv)\n"
               "  --minor-ratio R      share of events of minors (default 0.05)\n"
               "  --json               one JSON object on stdout\n"
               "  --help, --version\n"
               "\n"
               "Exit status: 0 ok, 1 a call failed or an event was not accepted, 2 usage error.\n");
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"database-url", required_argument, NULL, 'd'},
        {"connections", required_argument, NULL, 'c'},
        {"batch", required_argument, NULL, 'b'},
        {"duration", required_argument, NULL, 't'},
        {"events", required_argument, NULL, 'e'},
        {"wards", required_argument, NULL, 'w'},
        {"minor-ratio", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool duration_set = false;
    double v;
    int opt;
    char err[400];

    g_cfg.connections = 2;
    g_cfg.batch = 1000;
    g_cfg.duration = 10;
    g_cfg.minor_ratio = 0.05;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *bad = NULL;
        switch (opt) {
        case 'd':
            g_cfg.database_url = optarg;
            break;
        case 'c':
            if (!parse_num(optarg, 1, DBC_MAX_CONNECTIONS, &v) || v != floor(v))
                bad = "--connections: expected 1 to 64";
            g_cfg.connections = (int)v;
            break;
        case 'b':
            if (!parse_num(optarg, 1, DBC_MAX_BATCH, &v) || v != floor(v))
                bad = "--batch: expected 1 to 100000";
            g_cfg.batch = (int)v;
            break;
        case 't':
            if (!parse_num(optarg, 0.1, 86400, &v))
                bad = "--duration: expected seconds (0.1 to 86400)";
            g_cfg.duration = v;
            duration_set = true;
            break;
        case 'e':
            if (!parse_num(optarg, 1, 1e12, &v) || v != floor(v))
                bad = "--events: expected a positive integer";
            g_cfg.events = (long long)v;
            break;
        case 'w':
            g_cfg.wards_file = optarg;
            break;
        case 'm':
            if (!parse_num(optarg, 0, 1, &g_cfg.minor_ratio))
                bad = "--minor-ratio: expected 0 to 1";
            break;
        case 'j':
            g_cfg.json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("dbceiling %s\n", HOCVU_VERSION);
            return 0;
        default:
            bad = "unknown or incomplete option";
            break;
        }
        if (bad) {
            fprintf(stderr, "dbceiling: %s (%s)\n(try dbceiling --help)\n", bad,
                    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dbceiling: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    if (!g_cfg.database_url) {
        const char *env = getenv("HOCVU_DATABASE_URL");
        g_cfg.database_url = env && *env ? env : "postgresql:///hocvu";
    }
    if (g_cfg.events > 0 && !duration_set)
        g_cfg.duration = 3600;

    /* Reference data, the run tag and the event time. */
    int wrc = -1;
    if (g_cfg.wards_file) {
        wrc = bench_wards_load(&g_wards, g_cfg.wards_file, err, sizeof(err));
    } else {
        wrc = bench_wards_load(&g_wards, "data/cantho_wards_2025.csv", err, sizeof(err));
#ifdef HOCVU_SOURCE_DIR
        if (wrc < 0)
            wrc = bench_wards_load(&g_wards, HOCVU_SOURCE_DIR "/data/cantho_wards_2025.csv", err,
                                   sizeof(err));
#endif
    }
    if (wrc < 0) {
        fprintf(stderr, "dbceiling: %s\n", err);
        return 1;
    }
    uint8_t rnd[6];
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        fprintf(stderr, "dbceiling: could not read random bytes\n");
        return 1;
    }
    static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 6; i++)
        g_tag[i] = alnum[rnd[i] % 32];
    g_ts = (int64_t)time(NULL);
    g_day = (int32_t)hv_date_to_days(hv_time_vn_date(g_ts));
    atomic_store(&g_budget, g_cfg.events);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int n = g_cfg.connections, started = 0, rc = 0;
    conn_t *conns = hv_xcalloc((size_t)n, sizeof(*conns));
    pthread_barrier_init(&g_barrier, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        conns[i].index = i;
        if (pthread_create(&conns[i].thread, NULL, conn_main, &conns[i]) != 0) {
            fprintf(stderr, "dbceiling: could not start a thread\n");
            exit(1); /* the barrier cannot be released without it */
        }
        started++;
    }
    pthread_barrier_wait(&g_barrier);
    g_start_us = mono_us();
    g_stop_us = g_start_us + (int64_t)(g_cfg.duration * 1e6);
    for (int i = 0; i < n; i++)
        if (conns[i].fatal)
            g_stop = 1; /* a connection could not start: measure nothing */
    pthread_barrier_wait(&g_barrier);
    for (int i = 0; i < started; i++)
        pthread_join(conns[i].thread, NULL);

    /* Totals. */
    uint64_t calls = 0, events = 0, acc = 0, dups = 0, confl = 0, bad = 0, retries = 0, fails = 0;
    int64_t end = g_start_us, gen = 0;
    size_t nlat = 0;
    const char *first_error = NULL;
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[i];
        calls += c->calls;
        events += c->events;
        acc += c->accepted;
        dups += c->duplicates;
        confl += c->conflicts;
        bad += c->bad_rows;
        retries += c->retries;
        fails += c->failures + (c->fatal && !c->failures);
        gen += c->gen_us;
        nlat += c->nlat;
        if (c->end_us > end)
            end = c->end_us;
        if (c->error[0] && !first_error)
            first_error = c->error;
    }
    int64_t *lat = hv_xcalloc(nlat ? nlat : 1, sizeof(*lat));
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(lat + k, conns[i].lat, conns[i].nlat * sizeof(*lat));
        k += conns[i].nlat;
    }
    qsort(lat, nlat, sizeof(*lat), cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++)
        sum += (double)lat[i];
    double elapsed = (double)(end - g_start_us) / 1e6;
    if (elapsed <= 0)
        elapsed = 1e-6;
    double mean = nlat ? sum / (double)nlat : 0;
    int64_t p50 = quantile(lat, nlat, 0.50), p90 = quantile(lat, nlat, 0.90),
            p99 = quantile(lat, nlat, 0.99), p999 = quantile(lat, nlat, 0.999),
            mx = nlat ? lat[nlat - 1] : 0;
    char where[200] = "?";
    for (int i = 0; i < n; i++)
        if (conns[i].pg && PQstatus(conns[i].pg) == CONNECTION_OK) {
            snprintf(where, sizeof(where), "%s:%s/%s", PQhost(conns[i].pg), PQport(conns[i].pg),
                     PQdb(conns[i].pg));
            break;
        }
    if (fails || bad || dups || confl || acc != events)
        rc = 1;

    if (g_cfg.json) {
        hv_buf_t o;
        hv_buf_init(&o);
        hv_buf_puts(&o, "{\"tool\":\"dbceiling\",\"version\":\"" HOCVU_VERSION "\",\"config\":{");
        hv_buf_puts(&o, "\"database\":");
        hv_buf_json_str(&o, where, strlen(where));
        hv_buf_printf(&o, ",\"connections\":%d,\"batch\":%d,\"duration_s\":%.3f,", n, g_cfg.batch,
                      g_cfg.duration);
        if (g_cfg.events > 0)
            hv_buf_printf(&o, "\"events_limit\":%lld,", g_cfg.events);
        else
            hv_buf_puts(&o, "\"events_limit\":null,");
        hv_buf_printf(&o, "\"minor_ratio\":%g,\"run_tag\":\"%s\",\"wards\":", g_cfg.minor_ratio,
                      g_tag);
        hv_buf_json_str(&o, g_wards.source, strlen(g_wards.source));
        hv_buf_printf(&o,
                      "},\"elapsed_s\":%.3f,\"calls\":%" PRIu64 ",\"events\":%" PRIu64
                      ",\"throughput\":{\"events_per_s\":%.1f,\"calls_per_s\":%.1f},",
                      elapsed, calls, events, (double)events / elapsed, (double)calls / elapsed);
        hv_buf_printf(&o,
                      "\"latency_us\":{\"basis\":\"per_call\",\"count\":%zu,\"mean\":%.1f,"
                      "\"p50\":%" PRId64 ",\"p90\":%" PRId64 ",\"p99\":%" PRId64
                      ",\"p999\":%" PRId64 ",\"max\":%" PRId64 "},",
                      nlat, mean, p50, p90, p99, p999, mx);
        hv_buf_printf(
            &o,
            "\"us_per_event\":%.3f,\"outcomes\":{\"accepted\":%" PRIu64 ",\"duplicate\":%" PRIu64
            ",\"conflict\":%" PRIu64 "},\"retries\":%" PRIu64 ",\"failures\":%" PRIu64
            ",\"bad_row_counts\":%" PRIu64 ",\"gen_us\":%" PRId64 ",\"error\":",
            events ? sum / (double)events : 0.0, acc, dups, confl, retries, fails, bad, gen);
        if (first_error)
            hv_buf_json_str(&o, first_error, strlen(first_error));
        else
            hv_buf_puts(&o, "null");
        hv_buf_puts(&o, "}\n");
        fwrite(o.data, 1, o.len, stdout);
        hv_buf_free(&o);
    } else {
        printf("dbceiling %s: hv_ingest on %s, %d connection%s, batches of %d, %s%.1f s\n",
               HOCVU_VERSION, where, n, n == 1 ? "" : "s", g_cfg.batch,
               g_cfg.events > 0 ? "at most " : "", g_cfg.duration);
        if (g_cfg.events > 0)
            printf("  stopping after %lld events\n", g_cfg.events);
        printf("\ncalls      %" PRIu64 " in %.2f s = %.1f calls/s\n", calls, elapsed,
               (double)calls / elapsed);
        printf("events     %" PRIu64 " = %.1f events/s\n", events, (double)events / elapsed);
        printf("latency    per call: p50 %" PRId64 " µs  p90 %" PRId64 " µs  p99 %" PRId64
               " µs  p99.9 %" PRId64 " µs  max %" PRId64 " µs  (mean %.0f µs, %.2f µs/event)\n",
               p50, p90, p99, p999, mx, mean, events ? sum / (double)events : 0.0);
        printf("outcomes   accepted %" PRIu64 ", duplicate %" PRIu64 ", conflict %" PRIu64
               "; retries %" PRIu64 ", failures %" PRIu64 "\n",
               acc, dups, confl, retries, fails);
        printf("generation %.1f ms in total outside the timed calls\n", (double)gen / 1000);
        if (first_error)
            printf("error      %s\n", first_error);
    }
    if (first_error && g_cfg.json)
        fprintf(stderr, "dbceiling: %s\n", first_error);

    for (int i = 0; i < n; i++) {
        for (int t = 0; t < DBC_TEMPLATES; t++)
            tmpl_free(&conns[i].t[t]);
        tmpl_free(&conns[i].tail);
        free(conns[i].lat);
        if (conns[i].pg)
            PQfinish(conns[i].pg);
    }
    free(conns);
    free(lat);
    bench_wards_free(&g_wards);
    pthread_barrier_destroy(&g_barrier);
    return rc;
}
