/*
 * hocvu-bench.c - load generator: realistic signed certificate events over a minimal HTTP/1.1
 * keep-alive client on libevent, open- or closed-loop, latency percentiles, and --verify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hocvu/citizen.h"
#include "hocvu/csv.h"
#include "hocvu/signature.h"
#include "hocvu/timeutil.h"
#include "hocvu/util.h"
#include "hocvu/version.h"
#include "wards.h"

#define BENCH_MAX_THREADS 64
#define BENCH_MAX_CONNECTIONS 10000
#define BENCH_MAX_BATCH 10000
#define BENCH_REQUEST_TIMEOUT_SEC 30
#define BENCH_DRAIN_SEC 10         /* after --duration: wait this long for replies */
#define BENCH_VERIFY_DRAIN_SEC 60  /* with --verify: also for retries to settle */
#define BENCH_STALENESS_US 2500000 /* CONTRACT §7: reads reflect accepted events within 2 s */
#define BENCH_STALENESS_EXTRA_US 10000000 /* keep polling this long to tell late from wrong */
#define BENCH_HDR_LINE 1024
#define BENCH_MAX_HEADER_BYTES (64 * 1024)
#define BENCH_N_GROUPS 4
#define BENCH_N_CODES 32
/* 2025-07-01T00:00:00+07:00, when the current units took effect: start of --timestamp-mode
 * spread. */
#define BENCH_SPREAD_FROM INT64_C(1751302800)

/* ---- latency histogram ----
 * Log-linear ("HDR-style") buckets over microseconds: values below 256 are exact; above, each
 * power of two is split into 128 linear sub-buckets, so a bucket is at most 1/128 (0.8 %) wide
 * relative to its values. Covers up to 2^37 µs (38 h); larger values are clamped. */
#define HIST_LINEAR 256
#define HIST_HALF 128
#define HIST_MAX_BIT 36
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_BIT - 7) * HIST_HALF)
#define HIST_MAX_VALUE ((INT64_C(1) << (HIST_MAX_BIT + 1)) - 1)

typedef struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    int64_t max;
    double sum;
} hist_t;

static int hist_index(int64_t v)
{
    if (v < 0)
        v = 0;
    if (v > HIST_MAX_VALUE)
        v = HIST_MAX_VALUE;
    if (v < HIST_LINEAR)
        return (int)v;
    int b = 63 - __builtin_clzll((uint64_t)v);
    int shift = b - 7;
    return HIST_LINEAR + (b - 8) * HIST_HALF + (int)((v >> shift) - HIST_HALF);
}

/* The highest value that falls into bucket idx (HDR's "highest equivalent value"). */
static int64_t hist_bucket_high(int idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    int k = idx - HIST_LINEAR;
    int b = k / HIST_HALF + 8;
    int64_t m = k % HIST_HALF + HIST_HALF;
    return ((m + 1) << (b - 7)) - 1;
}

static void hist_record(hist_t *h, int64_t v)
{
    h->counts[hist_index(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
}

static void hist_merge(hist_t *into, const hist_t *from)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->n += from->n;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

/* Value at quantile q (0..1]: the upper edge of the bucket holding the ceil(q*n)-th value,
 * never above the exact maximum. 0 if empty. */
static int64_t hist_quantile(const hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    uint64_t seen = 0;
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            int64_t v = hist_bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

/* ---- random numbers: xoshiro256** seeded by splitmix64 ---- */

typedef struct rng {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

static double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static uint64_t rng_below(rng_t *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

/* ---- small containers ---- */

typedef struct u32vec {
    uint32_t *v;
    size_t n, cap;
} u32vec_t;

static void u32vec_push(u32vec_t *a, uint32_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->v = hv_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = x;
}

/* Removes and returns a random element (order is not kept). The vector must not be empty. */
static uint32_t u32vec_take_random(u32vec_t *a, rng_t *r)
{
    size_t i = rng_below(r, a->n);
    uint32_t x = a->v[i];
    a->v[i] = a->v[--a->n];
    return x;
}

/* Open-addressing set of 64-bit keys (stored +1 so 0 marks an empty slot). */
typedef struct u64set {
    uint64_t *slots;
    size_t cap, n;
} u64set_t;

static size_t u64set_slot(uint64_t key, size_t cap)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

/* Adds key; returns false if it was already present. */
static bool u64set_add(u64set_t *s, uint64_t key)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4096;
        uint64_t *ns = hv_xcalloc(ncap, sizeof(*ns));
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i])
                continue;
            size_t j = u64set_slot(s->slots[i] - 1, ncap);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    size_t j = u64set_slot(key, s->cap);
    while (s->slots[j]) {
        if (s->slots[j] == key + 1)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = key + 1;
    s->n++;
    return true;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- configuration ---- */

typedef enum ts_mode { TS_NOW, TS_SPREAD } ts_mode_t;
typedef enum req_mode { MODE_EVENTS, MODE_BATCH, MODE_GET } req_mode_t;

typedef struct bench_cfg {
    char url[512];
    char host[256];
    char port[8];
    char host_header[300];
    char prefix[256]; /* path prefix of --url, without a trailing slash */
    char path[512];   /* request path, prefix included */
    req_mode_t mode;
    const char *secret; /* borrowed from argv or the environment; never printed */
    double rate;        /* requests per second; 0 with --max */
    double duration;
    long long events; /* --events: stop after this many events (requests with --get); 0 = no */
    int connections, threads, batch;
    double dup_ratio, revoke_ratio, invalid_ratio, minor_ratio;
    long persons; /* 0 = a new person for every new certificate */
    const char *wards_file;
    bool verify, json;
    uint64_t seed;
    ts_mode_t ts_mode;
    const char *read_token; /* borrowed; Authorization for GETs */
    int id_partition;       /* -1 = from the start time */
} bench_cfg_t;

typedef bench_wards_t wardtab_t;

/* Province codes of citizen ids, weighted: most learners in Cần Thơ were registered there (092),
 * many in the neighbouring Mekong provinces, a few anywhere. Built from the library's table. */
typedef struct provtab {
    char codes[100][4];
    int n;
    double cum[100];
} provtab_t;

/* ---- run data ----
 * Each worker thread owns the persons it creates and the certificates it issues, so the
 * generator needs no locks; the verification merges them after the threads have stopped. */

typedef enum msg_state {
    ST_NONE = 0,     /* revocation not attempted */
    ST_INFLIGHT = 1, /* sent or waiting for a retry */
    ST_ACKED = 2,    /* the server answered 200 (accepted or duplicate) */
    ST_FAILED = 3,   /* the server refused it: nothing stored */
    ST_UNKNOWN = 4,  /* no definitive answer (connection lost, 5xx other than 503, gave up) */
} msg_state_t;

enum { GRP_CITIZEN = 0, GRP_WORKER, GRP_STUDENT, GRP_OFFICIAL };
static const char *const group_names[BENCH_N_GROUPS] = {"citizen", "worker", "student", "official"};
static const double group_weights[BENCH_N_GROUPS] = {0.60, 0.20, 0.12, 0.08};
static const char *const courses[] = {"kns-co-ban", "ky-nang-so-1", "dich-vu-cong-truc-tuyen",
                                      "an-toan-thong-tin"};

#define PF_BDATE 1u /* the platform knows the birth date and sends it */
#define PF_MINOR 2u

typedef struct person {
    char cid[12]; /* synthetic, not NUL-terminated */
    int16_t by;
    uint8_t bm, bd;
    uint16_t ward;
    uint8_t group;
    uint8_t flags;
} person_t;

typedef struct cert {
    uint32_t person;
    uint16_t ward;
    uint8_t group;
    uint8_t flags;  /* PF_BDATE when this event carries birth_date */
    uint8_t issue;  /* msg_state_t of the certificate.issued message */
    uint8_t revoke; /* msg_state_t of its certificate.revoked message */
    uint8_t course, score;
    int64_t ts;
    int64_t revoke_ts;
} cert_t;

enum { K_ISSUE = 0, K_REVOKE = 1 };
enum { R_NEW = 0, R_DUP = 1 };

typedef struct item {
    uint32_t cert;
    uint8_t kind;
    uint8_t role;
} item_t;

/* One HTTP request's worth of messages. Owned by the connection while in flight, by the retry
 * queue while waiting to be resent. */
typedef struct job {
    item_t *items;
    int n, cap;
    uint64_t seq; /* batch message number (its webhook-id) */
    bool invalid; /* signed with a wrong signature on purpose */
    int attempts;
    int64_t ready_us;
} job_t;

typedef struct code_count {
    int status;
    char code[40];
    uint64_t n;
} code_count_t;

typedef struct stats {
    uint64_t requests, events;
    uint64_t status[600];
    uint64_t accepted, duplicate; /* single events: 200 bodies */
    uint64_t batch_accepted, batch_duplicates, batch_rejected;
    uint64_t conn_errors, timeouts, protocol_errors, connect_errors, abandoned;
    uint64_t retries, unsent, id_overflow;
    uint64_t sent_new, sent_dup, sent_revoke, sent_invalid;
    uint64_t anom_dup_accepted, anom_new_duplicate, anom_invalid_accepted, anom_unexpected,
        anom_batch_counts;
    code_count_t codes[BENCH_N_CODES];
    int ncodes;
} stats_t;

typedef struct bench bench_t;
typedef struct worker worker_t;

typedef enum conn_state { CS_DOWN, CS_CONNECTING, CS_IDLE, CS_BUSY } conn_state_t;
typedef enum parse_state { P_STATUS, P_HEADERS, P_BODY } parse_state_t;

typedef struct conn {
    worker_t *w; /* borrowed back-pointer */
    struct bufferevent *bev;
    struct event *reconnect_ev;
    conn_state_t state;
    int backoff_ms;
    parse_state_t parse;
    int status;
    long content_len;
    bool close_after, chunked;
    int retry_after;
    job_t job; /* valid while state == CS_BUSY */
    int64_t intended_us, sent_us;
} conn_t;

typedef enum phase { PH_CONNECTING, PH_RUNNING, PH_DRAINING, PH_DONE } phase_t;

struct worker {
    bench_t *b; /* borrowed */
    int index;
    pthread_t thread;
    struct event_base *base;
    conn_t *conns;
    int nconn;
    conn_t **idle;
    int nidle;
    struct event *go_ev, *stop_ev, *tick_ev, *retry_ev, *deadline_ev;
    hv_sig_verifier_t *sig;
    rng_t rng;   /* the event mix: from --seed */
    rng_t idrng; /* citizen serials: from the run tag, so runs do not collide */
    phase_t phase;
    int connected, connect_failed;
    char connect_err[200];
    /* generator */
    person_t *persons;
    size_t npersons, cap_persons, person_limit;
    cert_t *certs;
    size_t ncerts, cap_certs;
    u64set_t cids;
    u32vec_t acked;     /* cert<<1 | kind: acknowledged messages, for redeliveries */
    u32vec_t revocable; /* acknowledged, unrevoked certificates */
    uint64_t dup_debt, revoke_debt;
    uint64_t batch_seq;
    long long events_left; /* this thread's share of --events, when limited */
    bool limited;
    hv_buf_t body, req;
    /* schedule */
    double rate; /* this thread's share, requests/s; 0 = closed loop */
    int64_t start_us, stop_us, end_us;
    uint64_t next_sched;
    job_t **retryq;
    int nretry, cap_retry;
    int inflight;
    /* results */
    hist_t hist;
    stats_t st;
    _Atomic uint64_t a_requests, a_events, a_errors;
    _Atomic int64_t a_backlog;
    _Atomic int a_ready; /* 0 connecting, 1 all connected, -1 a connection failed */
    _Atomic int a_done;
};

struct bench {
    bench_cfg_t cfg;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    wardtab_t wards;
    provtab_t provs;
    hv_sig_keys_t keys;
    char tag[8]; /* per-run random prefix of certificate and message ids */
    uint64_t tag_seed;
    int id_partition; /* PPP of citizen serials */
    worker_t *workers;
    int nworkers;
};

/* ---- reference data ---- */

/* Used when no ward file can be read: a few current units with their population (public data,
 * data/cantho_wards_2025.csv). */
static const struct {
    const char *code;
    double population;
} fallback_wards[] = {
    {"31135", 119547}, {"31120", 57688}, {"31147", 85997},
    {"31150", 50150},  {"31186", 71106}, {"31153", 73412},
};

static void wardtab_fallback(wardtab_t *t)
{
    t->n = (int)HV_ARRAY_LEN(fallback_wards);
    t->code = hv_xcalloc((size_t)t->n, sizeof(*t->code));
    t->cum = hv_xcalloc((size_t)t->n, sizeof(*t->cum));
    double sum = 0;
    for (int i = 0; i < t->n; i++) {
        snprintf(t->code[i], sizeof(t->code[i]), "%s", fallback_wards[i].code);
        sum += fallback_wards[i].population;
        t->cum[i] = sum;
    }
    snprintf(t->source, sizeof(t->source), "built-in list of %d units", t->n);
}

static void provtab_build(provtab_t *p)
{
    static const char *const near[] = {"086", "087", "089", "091", "093", "094", "095", "096"};
    int n_other = 0;
    char code[4];

    p->n = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(code, sizeof(code), "0%02d", i);
        if (hv_citizen_province_known(code))
            n_other++;
    }
    double sum = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(code, sizeof(code), "0%02d", i);
        if (!hv_citizen_province_known(code))
            continue;
        double wgt = 0.10 / n_other;
        if (strcmp(code, "092") == 0)
            wgt += 0.60;
        for (size_t k = 0; k < HV_ARRAY_LEN(near); k++)
            if (strcmp(code, near[k]) == 0)
                wgt += 0.30 / (double)HV_ARRAY_LEN(near);
        memcpy(p->codes[p->n], code, 4);
        sum += wgt;
        p->cum[p->n++] = sum;
    }
}

/* ---- the generator ---- */

static int pick_group(rng_t *r)
{
    double u = rng_unit(r), acc = 0;
    for (int g = 0; g < BENCH_N_GROUPS; g++) {
        acc += group_weights[g];
        if (u < acc)
            return g;
    }
    return GRP_CITIZEN;
}

/* Creates a synthetic person: a structurally valid citizen id (province, century and gender
 * digit, birth year, serial), a birth date in that year, a home ward and group.
 *
 * Serials are "PPPSSS": PPP is the run's id partition (--id-partition, by default the start time
 * in seconds mod 1000), so persons of runs that started less than 1000 s apart never collide
 * (random serials did: a few persons per 10^4 x 10^4 runs, each silently counted once by the
 * service and so off by one in --verify). SSS is random within this thread's residue class
 * (SSS % threads == index), so threads never collide either. When the wanted cell (province,
 * digit, year) is crowded the province is drawn uniformly instead; if a run has more persons than
 * the partition can hold, serials fall back to fully random ones and id_overflow counts them. */
static uint32_t person_new(worker_t *w)
{
    bench_t *b = w->b;
    person_t *p;
    bool minor = rng_unit(&w->rng) < b->cfg.minor_ratio;
    int by = minor ? 2009 + (int)rng_below(&w->rng, 4) : 1950 + (int)rng_below(&w->rng, 58);
    int century = (by >= 2000 ? 2 : 0) + (int)rng_below(&w->rng, 2);
    const char *prov = b->provs.codes[bench_pick_cum(b->provs.cum, b->provs.n, rng_unit(&w->rng))];
    uint64_t slots = 1000 / (uint64_t)b->nworkers, serial, key;
    char cid[13];

    for (int attempt = 0;; attempt++) {
        if (attempt < 400) {
            serial = (uint64_t)b->id_partition * 1000 +
                     rng_below(&w->idrng, slots) * (uint64_t)b->nworkers + (uint64_t)w->index;
        } else {
            serial = rng_below(&w->idrng, 1000000 / (uint64_t)b->nworkers) * (uint64_t)b->nworkers +
                     (uint64_t)w->index;
        }
        snprintf(cid, sizeof(cid), "%s%d%02d%06" PRIu64, prov, century, by % 100, serial);
        key = strtoull(cid, NULL, 10);
        if (u64set_add(&w->cids, key)) {
            if (attempt >= 400)
                w->st.id_overflow++;
            break;
        }
        if (attempt >= 3) {
            prov = b->provs.codes[rng_below(&w->rng, (uint64_t)b->provs.n)];
            century = (by >= 2000 ? 2 : 0) + (int)rng_below(&w->rng, 2);
        }
    }

    if (w->npersons == w->cap_persons) {
        w->cap_persons = w->cap_persons ? w->cap_persons * 2 : 4096;
        w->persons = hv_xrealloc(w->persons, w->cap_persons * sizeof(*w->persons));
    }
    p = &w->persons[w->npersons];
    memcpy(p->cid, cid, 12);
    hv_date_t jan1 = {by, 1, 1}, next = {by + 1, 1, 1};
    int64_t d0 = hv_date_to_days(jan1);
    hv_date_t bd =
        hv_days_to_date(d0 + (int64_t)rng_below(&w->rng, (uint64_t)(hv_date_to_days(next) - d0)));
    p->by = (int16_t)by;
    p->bm = (uint8_t)bd.month;
    p->bd = (uint8_t)bd.day;
    p->ward = (uint16_t)bench_pick_cum(b->wards.cum, b->wards.n, rng_unit(&w->rng));
    p->group = (uint8_t)(minor ? GRP_STUDENT : pick_group(&w->rng));
    p->flags = (uint8_t)((rng_unit(&w->rng) < 0.7 ? PF_BDATE : 0) | (minor ? PF_MINOR : 0));
    return (uint32_t)w->npersons++;
}

/* Issues a new certificate: to a new person while the pool has room, else to a random existing
 * one. Mostly in the person's home ward and group; sometimes elsewhere, so attribution moves. */
static uint32_t cert_new(worker_t *w)
{
    bench_t *b = w->b;
    uint32_t pi;
    cert_t *c;

    if (w->person_limit == 0 || w->npersons < w->person_limit)
        pi = person_new(w);
    else
        pi = (uint32_t)rng_below(&w->rng, w->npersons);
    if (w->ncerts == w->cap_certs) {
        w->cap_certs = w->cap_certs ? w->cap_certs * 2 : 4096;
        w->certs = hv_xrealloc(w->certs, w->cap_certs * sizeof(*w->certs));
    }
    const person_t *p = &w->persons[pi];
    c = &w->certs[w->ncerts];
    memset(c, 0, sizeof(*c));
    c->person = pi;
    c->ward = rng_unit(&w->rng) < 0.8
                  ? p->ward
                  : (uint16_t)bench_pick_cum(b->wards.cum, b->wards.n, rng_unit(&w->rng));
    c->group =
        (p->flags & PF_MINOR) || rng_unit(&w->rng) < 0.8 ? p->group : (uint8_t)pick_group(&w->rng);
    c->flags = p->flags & PF_BDATE;
    c->issue = ST_INFLIGHT;
    c->course = (uint8_t)rng_below(&w->rng, HV_ARRAY_LEN(courses));
    c->score = (uint8_t)(50 + rng_below(&w->rng, 51));
    int64_t now = (int64_t)time(NULL);
    if (b->cfg.ts_mode == TS_SPREAD && now - 60 > BENCH_SPREAD_FROM)
        c->ts = BENCH_SPREAD_FROM +
                (int64_t)rng_below(&w->rng, (uint64_t)(now - 60 - BENCH_SPREAD_FROM));
    else
        c->ts = now;
    return (uint32_t)w->ncerts++;
}

/* CONTRACT §6: adult if 18 or older on the certificate's Vietnam-time date; by exact date when
 * the event carries birth_date, else by year difference. */
static bool cert_adult(const worker_t *w, const cert_t *c)
{
    const person_t *p = &w->persons[c->person];
    hv_date_t day = hv_time_vn_date(c->ts);
    int age = day.year - p->by;
    if (c->flags & PF_BDATE) {
        if (day.month < p->bm || (day.month == p->bm && day.day < p->bd))
            age--;
    }
    return age >= 18;
}

static void job_add(job_t *j, uint32_t cert, int kind, int role)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 8;
        j->items = hv_xrealloc(j->items, (size_t)j->cap * sizeof(*j->items));
    }
    j->items[j->n++] = (item_t){cert, (uint8_t)kind, (uint8_t)role};
}

/* Chooses the next message: a redelivery of an acknowledged message (--dup-ratio), a revocation
 * of an acknowledged certificate (--revoke-ratio) or a new certificate. A wanted redelivery or
 * revocation that has nothing to act on yet is owed and paid back later, so the mix converges to
 * the requested ratios. */
static void job_add_next(worker_t *w, job_t *j)
{
    const bench_cfg_t *cfg = &w->b->cfg;
    double u = rng_unit(&w->rng);

    if (u < cfg->dup_ratio)
        w->dup_debt++;
    else if (u < cfg->dup_ratio + cfg->revoke_ratio)
        w->revoke_debt++;
    if (w->dup_debt && w->acked.n) {
        uint32_t m = w->acked.v[rng_below(&w->rng, w->acked.n)];
        w->dup_debt--;
        w->st.sent_dup++;
        job_add(j, m >> 1, (int)(m & 1), R_DUP);
        return;
    }
    if (w->revoke_debt && w->revocable.n) {
        uint32_t ci = u32vec_take_random(&w->revocable, &w->rng);
        cert_t *c = &w->certs[ci];
        w->revoke_debt--;
        c->revoke = ST_INFLIGHT;
        c->revoke_ts = (int64_t)time(NULL);
        if (c->revoke_ts < c->ts)
            c->revoke_ts = c->ts;
        w->st.sent_revoke++;
        job_add(j, ci, K_REVOKE, R_NEW);
        return;
    }
    w->st.sent_new++;
    job_add(j, cert_new(w), K_ISSUE, R_NEW);
}

static void job_fill(worker_t *w, job_t *j)
{
    const bench_cfg_t *cfg = &w->b->cfg;
    int n = cfg->mode == MODE_BATCH ? cfg->batch : 1;

    j->n = 0;
    j->attempts = 0;
    j->invalid = false;
    j->seq = 0;
    if (w->limited) {
        /* --events: the last request of the thread's share may carry fewer events. */
        if (n > w->events_left)
            n = (int)w->events_left;
        w->events_left -= n;
    }
    if (cfg->mode == MODE_GET)
        return;
    if (cfg->mode == MODE_BATCH)
        j->seq = w->batch_seq++;
    if (cfg->invalid_ratio > 0 && rng_unit(&w->rng) < cfg->invalid_ratio) {
        /* A wrongly signed message carries new certificates only, so the 401 settles them. */
        j->invalid = true;
        w->st.sent_invalid++;
        for (int i = 0; i < n; i++)
            job_add(j, cert_new(w), K_ISSUE, R_NEW);
        return;
    }
    for (int i = 0; i < n; i++)
        job_add_next(w, j);
}

/* Idempotency keys and certificate numbers are derived from the run tag, the thread and the
 * certificate's index, so a redelivery regenerates exactly the same message. */
static void msg_id(const worker_t *w, const item_t *it, char out[64])
{
    snprintf(out, 64, "msg_%s_%d_%" PRIu32 "%s", w->b->tag, w->index, it->cert,
             it->kind == K_REVOKE ? "_r" : "");
}

static void cert_id(const worker_t *w, uint32_t ci, char out[40])
{
    snprintf(out, 40, "BH-%s-%02d-%09" PRIu32, w->b->tag, w->index, ci);
}

static void format_vn_time(int64_t ts, char out[32])
{
    time_t t = (time_t)(ts + HV_VN_OFFSET_SEC);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

/* Appends one event as JSON (one line, no newline); with_id adds the batch line's "id". */
static void put_event(const worker_t *w, hv_buf_t *b, const item_t *it, bool with_id)
{
    const cert_t *c = &w->certs[it->cert];
    const person_t *p = &w->persons[c->person];
    char ts[32], cid[40], mid[64];

    cert_id(w, it->cert, cid);
    hv_buf_putc(b, '{');
    if (with_id) {
        msg_id(w, it, mid);
        hv_buf_printf(b, "\"id\":\"%s\",", mid);
    }
    if (it->kind == K_REVOKE) {
        format_vn_time(c->revoke_ts, ts);
        hv_buf_printf(b,
                      "\"type\":\"certificate.revoked\",\"timestamp\":\"%s\",\"data\":{"
                      "\"citizen_id\":\"%.12s\",\"certificate_id\":\"%s\"}}",
                      ts, p->cid, cid);
        return;
    }
    format_vn_time(c->ts, ts);
    hv_buf_printf(b,
                  "\"type\":\"certificate.issued\",\"timestamp\":\"%s\",\"data\":{"
                  "\"citizen_id\":\"%.12s\",\"ward_code\":\"%s\",\"group\":\"%s\","
                  "\"certificate_id\":\"%s\"",
                  ts, p->cid, w->b->wards.code[c->ward], group_names[c->group], cid);
    if (c->flags & PF_BDATE)
        hv_buf_printf(b, ",\"birth_date\":\"%04d-%02d-%02d\"", p->by, p->bm, p->bd);
    hv_buf_printf(b, ",\"course_id\":\"%s\",\"score\":%d}}", courses[c->course], c->score);
}

/* Builds the whole HTTP request for a job into w->req (headers and body). */
static void build_request(worker_t *w, const job_t *j)
{
    const bench_cfg_t *cfg = &w->b->cfg;
    hv_buf_t *body = &w->body, *req = &w->req;
    char mid[64], ts[24], sig[72];

    hv_buf_reset(req);
    if (cfg->mode == MODE_GET) {
        hv_buf_printf(req, "GET %s HTTP/1.1\r\nHost: %s\r\n", cfg->path, cfg->host_header);
        if (cfg->read_token)
            hv_buf_printf(req, "Authorization: Bearer %s\r\n", cfg->read_token);
        hv_buf_puts(req, "\r\n");
        return;
    }
    hv_buf_reset(body);
    if (cfg->mode == MODE_BATCH) {
        for (int i = 0; i < j->n; i++) {
            put_event(w, body, &j->items[i], true);
            hv_buf_putc(body, '\n');
        }
        snprintf(mid, sizeof(mid), "bat_%s_%d_%" PRIu64, w->b->tag, w->index, j->seq);
    } else {
        put_event(w, body, &j->items[0], false);
        msg_id(w, &j->items[0], mid);
    }
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    memcpy(sig, "v1,", 3);
    if (hv_sig_sign(w->sig, 0, mid, ts, body->data, body->len, sig + 3) < 0)
        sig[3] = '\0';
    if (j->invalid)
        sig[3] = sig[3] == 'A' ? 'B' : 'A';
    hv_buf_printf(req,
                  "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "webhook-id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: %s\r\n\r\n",
                  cfg->path, cfg->host_header,
                  cfg->mode == MODE_BATCH ? "application/x-ndjson" : "application/json", body->len,
                  mid, ts, sig);
    hv_buf_append(req, body->data, body->len);
}

/* ---- outcome bookkeeping ---- */

static void count_code(stats_t *st, int status, const char *body, size_t len)
{
    char code[40] = "";
    const char *p = body ? memmem(body, len, "\"code\":\"", 8) : NULL;
    if (p) {
        p += 8;
        size_t n = 0;
        while (p + n < body + len && p[n] != '"' && n < sizeof(code) - 1)
            n++;
        memcpy(code, p, n);
        code[n] = '\0';
    }
    for (int i = 0; i < st->ncodes; i++) {
        if (st->codes[i].status == status && strcmp(st->codes[i].code, code) == 0) {
            st->codes[i].n++;
            return;
        }
    }
    if (st->ncodes < BENCH_N_CODES) {
        code_count_t *c = &st->codes[st->ncodes++];
        c->status = status;
        snprintf(c->code, sizeof(c->code), "%s", code);
        c->n = 1;
    }
}

/* Records that the server acknowledged an item (200 accepted or duplicate). */
static void item_acked(worker_t *w, const item_t *it)
{
    cert_t *c = &w->certs[it->cert];
    if (it->role == R_DUP)
        return;
    if (it->kind == K_ISSUE) {
        if (c->issue == ST_ACKED)
            return;
        c->issue = ST_ACKED;
        u32vec_push(&w->acked, it->cert << 1);
        u32vec_push(&w->revocable, it->cert);
    } else {
        if (c->revoke == ST_ACKED)
            return;
        c->revoke = ST_ACKED;
        u32vec_push(&w->acked, it->cert << 1 | 1);
    }
}

static void item_settle(worker_t *w, const item_t *it, msg_state_t st)
{
    cert_t *c = &w->certs[it->cert];
    if (it->role == R_DUP)
        return;
    if (it->kind == K_ISSUE)
        c->issue = (uint8_t)st;
    else
        c->revoke = (uint8_t)st;
}

static void retry_timer_arm(worker_t *w);

/* Moves a copy of the job's items to the retry queue (same idempotency keys, same bodies). */
static void job_retry(worker_t *w, const job_t *j, const int *which, int nwhich, int delay_ms)
{
    job_t *r = hv_xcalloc(1, sizeof(*r));
    r->seq = j->seq;
    r->invalid = j->invalid;
    r->attempts = j->attempts + 1;
    r->ready_us = mono_us() + (int64_t)delay_ms * 1000;
    if (which) {
        /* A subset of a batch becomes a new batch message with its own webhook-id. */
        r->seq = w->batch_seq++;
        for (int i = 0; i < nwhich; i++)
            job_add(r, j->items[which[i]].cert, j->items[which[i]].kind, j->items[which[i]].role);
    } else {
        for (int i = 0; i < j->n; i++)
            job_add(r, j->items[i].cert, j->items[i].kind, j->items[i].role);
    }
    if (w->nretry == w->cap_retry) {
        w->cap_retry = w->cap_retry ? w->cap_retry * 2 : 64;
        w->retryq = hv_xrealloc(w->retryq, (size_t)w->cap_retry * sizeof(*w->retryq));
    }
    w->retryq[w->nretry++] = r;
    w->st.retries++;
    retry_timer_arm(w);
}

/* A job without a definitive answer: retried with --verify, otherwise its outcome is unknown. */
static void job_lost(worker_t *w, const job_t *j, int delay_ms)
{
    if (w->b->cfg.mode == MODE_GET || j->n == 0)
        return;
    if (w->b->cfg.verify && w->phase != PH_DONE) {
        job_retry(w, j, NULL, 0, delay_ms);
        return;
    }
    for (int i = 0; i < j->n; i++)
        item_settle(w, &j->items[i], ST_UNKNOWN);
}

static void handle_single(worker_t *w, conn_t *c, const char *body, size_t len)
{
    job_t *j = &c->job;
    const item_t *it = &j->items[0];
    int status = c->status;

    if (status == 200) {
        bool dup = body && memmem(body, len, "duplicate", 9) != NULL;
        w->st.events++;
        if (dup)
            w->st.duplicate++;
        else
            w->st.accepted++;
        if (j->invalid)
            w->st.anom_invalid_accepted++;
        if (it->role == R_DUP && !dup)
            w->st.anom_dup_accepted++;
        if (it->role == R_NEW && dup && j->attempts == 0)
            w->st.anom_new_duplicate++;
        item_acked(w, it);
        return;
    }
    count_code(&w->st, status, body, len);
    if (!(j->invalid && status == 401))
        w->st.anom_unexpected++;
    if (status >= 500 && w->b->cfg.verify) {
        int delay = c->retry_after > 0 ? (c->retry_after > 2 ? 2000 : c->retry_after * 1000) : 500;
        job_retry(w, j, NULL, 0, delay);
        return;
    }
    item_settle(w, it, status >= 500 && status != 503 ? ST_UNKNOWN : ST_FAILED);
}

static int64_t json_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Batch reply (CONTRACT §5): lines not listed in "errors" were committed (accepted or
 * duplicate); listed lines were refused, except code "unavailable" which is retried with
 * --verify. The error's line number is 1-based; its id is checked against ours. */
static void handle_batch(worker_t *w, conn_t *c, const char *body, size_t len)
{
    job_t *j = &c->job;
    json_t *root = NULL, *errors;
    uint8_t *refused = NULL;
    int *again = NULL, nagain = 0;
    int status = c->status;

    if (status != 200) {
        count_code(&w->st, status, body, len);
        if (!(j->invalid && status == 401))
            w->st.anom_unexpected++;
        if (status >= 500 && w->b->cfg.verify) {
            int delay =
                c->retry_after > 0 ? (c->retry_after > 2 ? 2000 : c->retry_after * 1000) : 500;
            job_retry(w, j, NULL, 0, delay);
            return;
        }
        for (int i = 0; i < j->n; i++)
            item_settle(w, &j->items[i], status >= 500 && status != 503 ? ST_UNKNOWN : ST_FAILED);
        return;
    }
    root = json_loadb(body ? body : "", len, 0, NULL);
    int64_t acc = json_int(root, "accepted"), dups = json_int(root, "duplicates"),
            rej = json_int(root, "rejected");
    errors = json_object_get(root, "errors");
    if (!root || acc < 0 || dups < 0 || rej < 0 || !json_is_array(errors)) {
        w->st.protocol_errors++;
        json_decref(root);
        job_lost(w, j, 200);
        return;
    }
    refused = hv_xcalloc((size_t)j->n, 1);
    again = hv_xcalloc((size_t)j->n, sizeof(*again));
    size_t k;
    json_t *e;
    json_array_foreach(errors, k, e)
    {
        int64_t line = json_int(e, "line");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *eid = json_string_value(json_object_get(e, "id"));
        char mid[64];
        if (line < 1 || line > j->n) {
            w->st.anom_batch_counts++;
            continue;
        }
        msg_id(w, &j->items[line - 1], mid);
        if (eid && strcmp(eid, mid) != 0)
            w->st.anom_batch_counts++;
        refused[line - 1] = 1;
        if (code && strcmp(code, "unavailable") == 0 && w->b->cfg.verify)
            again[nagain++] = (int)(line - 1);
        else
            item_settle(w, &j->items[line - 1], ST_FAILED);
        hv_buf_t tmp;
        hv_buf_init(&tmp);
        hv_buf_printf(&tmp, "{\"code\":\"%s\"}", code ? code : "");
        count_code(&w->st, 200, tmp.data, tmp.len);
        hv_buf_free(&tmp);
    }
    int ndup = 0, nok = 0;
    for (int i = 0; i < j->n; i++) {
        if (refused[i])
            continue;
        nok++;
        ndup += j->items[i].role == R_DUP;
        item_acked(w, &j->items[i]);
    }
    w->st.batch_accepted += (uint64_t)acc;
    w->st.batch_duplicates += (uint64_t)dups;
    w->st.batch_rejected += (uint64_t)rej;
    w->st.events += (uint64_t)(acc + dups);
    if (acc + dups != nok || rej != j->n - nok || (j->attempts == 0 && dups != ndup))
        w->st.anom_batch_counts++;
    if (j->invalid)
        w->st.anom_invalid_accepted++;
    if (nagain)
        job_retry(w, j, again, nagain, 500);
    free(refused);
    free(again);
    json_decref(root);
}

/* ---- the HTTP client ---- */

static void conn_open(conn_t *c);
static void worker_pump(worker_t *w);
static void worker_check_done(worker_t *w);

static void conn_close(conn_t *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->state == CS_IDLE) {
        worker_t *w = c->w;
        for (int i = 0; i < w->nidle; i++) {
            if (w->idle[i] == c) {
                w->idle[i] = w->idle[--w->nidle];
                break;
            }
        }
    }
    c->state = CS_DOWN;
}

static void conn_schedule_reconnect(conn_t *c)
{
    struct timeval tv;
    if (c->w->phase == PH_DONE || (c->w->phase == PH_DRAINING && !c->w->b->cfg.verify))
        return;
    c->backoff_ms = c->backoff_ms ? (c->backoff_ms * 2 > 1000 ? 1000 : c->backoff_ms * 2) : 50;
    tv.tv_sec = c->backoff_ms / 1000;
    tv.tv_usec = (c->backoff_ms % 1000) * 1000;
    evtimer_add(c->reconnect_ev, &tv);
}

/* The connection failed or was closed by the peer. A request in flight is lost: with --verify it
 * is retried on another connection, since its outcome is unknown. */
static void conn_fail(conn_t *c, int what)
{
    worker_t *w = c->w;
    bool was_busy = c->state == CS_BUSY, was_connecting = c->state == CS_CONNECTING;

    conn_close(c);
    if (was_busy) {
        w->inflight--;
        if (what & BEV_EVENT_TIMEOUT)
            w->st.timeouts++;
        else
            w->st.conn_errors++;
        atomic_fetch_add_explicit(&w->a_errors, 1, memory_order_relaxed);
        job_lost(w, &c->job, 200);
    }
    if (was_connecting) {
        if (w->phase == PH_CONNECTING) {
            w->connect_failed++;
            snprintf(w->connect_err, sizeof(w->connect_err), "could not connect to %.120s: %s",
                     w->b->cfg.host_header,
                     errno ? strerror(errno) : "connection closed by the server");
            atomic_store(&w->a_ready, -1);
            return;
        }
        w->st.connect_errors++;
        atomic_fetch_add_explicit(&w->a_errors, 1, memory_order_relaxed);
    }
    conn_schedule_reconnect(c);
    worker_check_done(w);
}

static void conn_make_idle(conn_t *c)
{
    worker_t *w = c->w;
    c->state = CS_IDLE;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    w->idle[w->nidle++] = c;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn_t *c = arg;
    worker_t *w = c->w;

    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->backoff_ms = 0;
        conn_make_idle(c);
        if (w->phase == PH_CONNECTING) {
            if (++w->connected == w->nconn)
                atomic_store(&w->a_ready, 1);
            return;
        }
        worker_pump(w);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT)) {
        errno = (what & BEV_EVENT_ERROR) ? evutil_socket_geterror(bufferevent_getfd(bev)) : 0;
        conn_fail(c, what);
    }
}

/* Copies one CRLF-terminated line (truncated to cap-1) and consumes it. Returns 1, 0 if no full
 * line is buffered yet, -1 if the headers are implausibly long. */
static int read_line(struct evbuffer *in, char *out, size_t cap)
{
    size_t eol_len = 0;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
    if (p.pos < 0)
        return evbuffer_get_length(in) > BENCH_MAX_HEADER_BYTES ? -1 : 0;
    size_t n = (size_t)p.pos < cap - 1 ? (size_t)p.pos : cap - 1;
    evbuffer_copyout(in, out, n);
    out[n] = '\0';
    evbuffer_drain(in, (size_t)p.pos + eol_len);
    return 1;
}

/* A complete response arrived: record latency and status, settle the job, then reuse or close
 * the connection and send more. The body is borrowed from the input buffer. */
static void conn_complete(conn_t *c, const char *body, size_t len)
{
    worker_t *w = c->w;
    int64_t now = mono_us();

    hist_record(&w->hist, now - c->intended_us);
    w->st.requests++;
    w->st.status[c->status < 600 && c->status >= 0 ? c->status : 0]++;
    w->inflight--;
    if (w->b->cfg.mode == MODE_GET) {
        w->st.events++;
        if (c->status >= 400)
            count_code(&w->st, c->status, body, len);
    } else if (w->b->cfg.mode == MODE_BATCH) {
        handle_batch(w, c, body, len);
    } else {
        handle_single(w, c, body, len);
    }
    if (c->status < 200 || c->status >= 300)
        atomic_fetch_add_explicit(&w->a_errors, 1, memory_order_relaxed);
    atomic_store_explicit(&w->a_requests, w->st.requests, memory_order_relaxed);
    atomic_store_explicit(&w->a_events, w->st.events, memory_order_relaxed);
    w->end_us = now;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char line[BENCH_HDR_LINE];

    for (;;) {
        if (c->state != CS_BUSY) {
            /* Nothing was asked: the server may only be closing; drop it. */
            evbuffer_drain(in, evbuffer_get_length(in));
            return;
        }
        if (c->parse == P_BODY) {
            if (evbuffer_get_length(in) < (size_t)c->content_len)
                return;
            const char *body =
                c->content_len ? (const char *)evbuffer_pullup(in, c->content_len) : "";
            conn_complete(c, body, (size_t)c->content_len);
            evbuffer_drain(in, (size_t)c->content_len);
            if (c->close_after || c->w->phase == PH_DONE) {
                conn_close(c);
                conn_schedule_reconnect(c);
            } else {
                conn_make_idle(c);
            }
            worker_pump(c->w);
            return;
        }
        int r = read_line(in, line, sizeof(line));
        if (r == 0)
            return;
        if (r < 0)
            goto protocol_error;
        if (c->parse == P_STATUS) {
            int minor = 0;
            if (sscanf(line, "HTTP/1.%d %d", &minor, &c->status) != 2 || c->status < 100 ||
                c->status > 599)
                goto protocol_error;
            c->close_after = minor == 0;
            c->chunked = false;
            c->content_len = -1;
            c->retry_after = 0;
            c->parse = P_HEADERS;
            continue;
        }
        if (line[0] == '\0') {
            if (c->status < 200) {
                c->parse = P_STATUS;
                continue;
            }
            if (c->chunked)
                goto protocol_error; /* hocvud and evhttp always send Content-Length */
            if (c->content_len < 0) {
                if (c->status != 204 && c->status != 304)
                    goto protocol_error;
                c->content_len = 0;
            }
            c->parse = P_BODY;
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *val = colon + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        if (strcasecmp(line, "content-length") == 0) {
            char *end;
            c->content_len = strtol(val, &end, 10);
            if (end == val || c->content_len < 0)
                goto protocol_error;
        } else if (strcasecmp(line, "connection") == 0) {
            if (strncasecmp(val, "close", 5) == 0)
                c->close_after = true;
            else if (strncasecmp(val, "keep-alive", 10) == 0)
                c->close_after = false;
        } else if (strcasecmp(line, "transfer-encoding") == 0) {
            c->chunked = strcasecmp(val, "identity") != 0;
        } else if (strcasecmp(line, "retry-after") == 0) {
            c->retry_after = atoi(val);
        }
    }

protocol_error:
    c->w->st.protocol_errors++;
    errno = EPROTO;
    conn_fail(c, BEV_EVENT_ERROR);
    worker_pump(c->w);
}

static void conn_open(conn_t *c)
{
    worker_t *w = c->w;
    bench_t *b = w->b;

    c->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        errno = ENOMEM;
        c->state = CS_CONNECTING;
        conn_fail(c, BEV_EVENT_ERROR);
        return;
    }
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = CS_CONNECTING;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&b->addr, (int)b->addrlen) < 0) {
        int e = errno;
        conn_close(c);
        c->state = CS_CONNECTING;
        errno = e;
        conn_fail(c, BEV_EVENT_ERROR);
    }
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    if (c->state == CS_DOWN && c->w->phase != PH_DONE)
        conn_open(c);
}

/* Sends a job on an idle connection. The job's items are copied into the connection's own job
 * (whose storage it keeps and reuses). */
static void conn_send(conn_t *c, const job_t *j, int64_t intended_us)
{
    worker_t *w = c->w;
    struct timeval tmo = {BENCH_REQUEST_TIMEOUT_SEC, 0};

    if (&c->job != j) {
        c->job.n = 0;
        for (int i = 0; i < j->n; i++)
            job_add(&c->job, j->items[i].cert, j->items[i].kind, j->items[i].role);
        c->job.seq = j->seq;
        c->job.invalid = j->invalid;
        c->job.attempts = j->attempts;
    }
    build_request(w, &c->job);
    c->state = CS_BUSY;
    c->parse = P_STATUS;
    c->intended_us = intended_us;
    c->sent_us = mono_us();
    w->inflight++;
    bufferevent_set_timeouts(c->bev, &tmo, NULL);
    bufferevent_write(c->bev, w->req.data, w->req.len);
}

/* ---- scheduling ---- */

static int64_t sched_time(const worker_t *w, uint64_t i)
{
    return w->start_us + (int64_t)((double)i * 1e6 / w->rate);
}

static void retry_timer_arm(worker_t *w)
{
    int64_t first = INT64_MAX, now = mono_us();
    for (int i = 0; i < w->nretry; i++)
        if (w->retryq[i]->ready_us < first)
            first = w->retryq[i]->ready_us;
    if (first == INT64_MAX)
        return;
    int64_t d = first > now ? first - now : 0;
    struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
    evtimer_add(w->retry_ev, &tv);
}

static job_t *retry_take_ready(worker_t *w, int64_t now)
{
    int best = -1;
    for (int i = 0; i < w->nretry; i++)
        if (w->retryq[i]->ready_us <= now &&
            (best < 0 || w->retryq[i]->ready_us < w->retryq[best]->ready_us))
            best = i;
    if (best < 0)
        return NULL;
    job_t *j = w->retryq[best];
    memmove(&w->retryq[best], &w->retryq[best + 1],
            (size_t)(w->nretry - best - 1) * sizeof(*w->retryq));
    w->nretry--;
    return j;
}

static void worker_finish(worker_t *w)
{
    if (w->phase == PH_DONE)
        return;
    w->phase = PH_DONE;
    for (int i = 0; i < w->nconn; i++) {
        conn_t *c = &w->conns[i];
        evtimer_del(c->reconnect_ev);
        if (c->state == CS_BUSY) {
            w->st.abandoned++;
            w->inflight--;
            for (int k = 0; k < c->job.n; k++)
                item_settle(w, &c->job.items[k], ST_UNKNOWN);
        }
        conn_close(c);
    }
    for (int i = 0; i < w->nretry; i++) {
        for (int k = 0; k < w->retryq[i]->n; k++)
            item_settle(w, &w->retryq[i]->items[k], ST_UNKNOWN);
        w->st.abandoned++;
        free(w->retryq[i]->items);
        free(w->retryq[i]);
    }
    w->nretry = 0;
    if (!w->end_us)
        w->end_us = mono_us();
    event_base_loopexit(w->base, NULL);
    atomic_store(&w->a_done, 1);
}

static void worker_check_done(worker_t *w)
{
    if (w->phase == PH_DRAINING && w->inflight == 0 && w->nretry == 0)
        worker_finish(w);
}

static void worker_enter_drain(worker_t *w)
{
    if (w->phase != PH_RUNNING)
        return;
    w->phase = PH_DRAINING;
    if (w->rate > 0 && !(w->limited && w->events_left <= 0)) {
        /* Requests that were due but never found a free connection. */
        int64_t now = mono_us();
        uint64_t due = (uint64_t)((double)(now - w->start_us) * w->rate / 1e6);
        uint64_t limit = (uint64_t)(w->b->cfg.duration * w->rate);
        if (due > limit)
            due = limit;
        if (due > w->next_sched)
            w->st.unsent = due - w->next_sched;
    }
    evtimer_del(w->tick_ev);
    struct timeval tv = {w->b->cfg.verify ? BENCH_VERIFY_DRAIN_SEC : BENCH_DRAIN_SEC, 0};
    evtimer_add(w->deadline_ev, &tv);
    worker_check_done(w);
}

/* Hands work to idle connections: first retries that are due, then (while running) new
 * requests — back to back with --max, at their intended times with --rate. */
static void worker_pump(worker_t *w)
{
    int64_t now;

    if (w->phase == PH_RUNNING && mono_us() >= w->stop_us)
        worker_enter_drain(w);
    if (w->phase != PH_RUNNING && w->phase != PH_DRAINING)
        return;
    while (w->nidle > 0) {
        now = mono_us();
        job_t *r = w->nretry ? retry_take_ready(w, now) : NULL;
        conn_t *c;
        if (r) {
            c = w->idle[--w->nidle];
            conn_send(c, r, r->ready_us);
            free(r->items);
            free(r);
            continue;
        }
        if (w->phase != PH_RUNNING)
            break;
        if (w->limited && w->events_left <= 0) {
            /* --events sent: wait for the replies (and retries) in flight, then stop. */
            worker_enter_drain(w);
            break;
        }
        int64_t intended = now;
        if (w->rate > 0) {
            intended = sched_time(w, w->next_sched);
            if (intended > now || intended >= w->stop_us)
                break;
            w->next_sched++;
        }
        c = w->idle[--w->nidle];
        job_fill(w, &c->job);
        conn_send(c, &c->job, intended);
    }
    if (w->phase == PH_RUNNING && w->rate > 0) {
        now = mono_us();
        int64_t next = sched_time(w, w->next_sched);
        int64_t backlog = next <= now ? (int64_t)((double)(now - next) * w->rate / 1e6) + 1 : 0;
        atomic_store_explicit(&w->a_backlog, backlog, memory_order_relaxed);
        if (next > now && next < w->stop_us) {
            int64_t d = next - now;
            struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
            evtimer_add(w->tick_ev, &tv);
        }
    }
    worker_check_done(w);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_pump(arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    worker_pump(w);
    if (w->nretry)
        retry_timer_arm(w);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    if (w->phase == PH_CONNECTING) {
        worker_finish(w);
        return;
    }
    worker_enter_drain(w);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_finish(arg);
}

/* Started from the main thread once every worker is connected: the clock starts now. */
static void go_cb(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    int64_t d = w->stop_us - mono_us();
    struct timeval tv = {(time_t)(d > 0 ? d / 1000000 : 0), (suseconds_t)(d > 0 ? d % 1000000 : 0)};

    w->phase = PH_RUNNING;
    evtimer_add(w->stop_ev, &tv);
    worker_pump(w);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < w->nconn; i++)
        conn_open(&w->conns[i]);
    event_base_dispatch(w->base);
    atomic_store(&w->a_done, 1);
    return NULL;
}

/* Sets up a worker's event loop, connections and generator. Returns 0 or -1 with a message. */
static int worker_init(bench_t *b, worker_t *w, int index, int nconn, char *err, size_t errlen)
{
    struct event_config *ec = event_config_new();

    w->b = b;
    w->index = index;
    if (ec)
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    if (!w->base) {
        snprintf(err, errlen, "could not create an event loop");
        return -1;
    }
    w->nconn = nconn;
    w->conns = hv_xcalloc((size_t)nconn, sizeof(*w->conns));
    w->idle = hv_xcalloc((size_t)nconn, sizeof(*w->idle));
    for (int i = 0; i < nconn; i++) {
        w->conns[i].w = w;
        w->conns[i].reconnect_ev = evtimer_new(w->base, reconnect_cb, &w->conns[i]);
    }
    w->go_ev = event_new(w->base, -1, 0, go_cb, w);
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    w->tick_ev = evtimer_new(w->base, tick_cb, w);
    w->retry_ev = evtimer_new(w->base, retry_cb, w);
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    if (b->cfg.mode != MODE_GET) {
        w->sig = hv_sig_verifier_new(&b->keys);
        if (!w->sig) {
            snprintf(err, errlen, "could not set up HMAC-SHA256 (OpenSSL)");
            return -1;
        }
    }
    rng_seed(&w->rng, b->cfg.seed * 1000003u + (uint64_t)index);
    rng_seed(&w->idrng, b->tag_seed * 1000003u + (uint64_t)index);
    if (b->cfg.persons > 0) {
        long share = b->cfg.persons / b->nworkers + (index < b->cfg.persons % b->nworkers);
        w->person_limit = share > 0 ? (size_t)share : 1;
    }
    w->rate = b->cfg.rate > 0 ? b->cfg.rate * nconn / b->cfg.connections : 0;
    if (b->cfg.events > 0) {
        w->limited = true;
        w->events_left = b->cfg.events / b->nworkers + (index < b->cfg.events % b->nworkers);
    }
    hv_buf_init(&w->body);
    hv_buf_init(&w->req);
    return 0;
}

static void worker_free(worker_t *w)
{
    for (int i = 0; i < w->nconn; i++) {
        if (w->conns[i].bev)
            bufferevent_free(w->conns[i].bev);
        if (w->conns[i].reconnect_ev)
            event_free(w->conns[i].reconnect_ev);
        free(w->conns[i].job.items);
    }
    free(w->conns);
    free(w->idle);
    struct event *evs[] = {w->go_ev, w->stop_ev, w->tick_ev, w->retry_ev, w->deadline_ev};
    for (size_t i = 0; i < HV_ARRAY_LEN(evs); i++)
        if (evs[i])
            event_free(evs[i]);
    for (int i = 0; i < w->nretry; i++) {
        free(w->retryq[i]->items);
        free(w->retryq[i]);
    }
    free(w->retryq);
    hv_sig_verifier_free(w->sig);
    free(w->persons);
    free(w->certs);
    free(w->cids.slots);
    free(w->acked.v);
    free(w->revocable.v);
    hv_buf_free(&w->body);
    hv_buf_free(&w->req);
    if (w->base)
        event_base_free(w->base);
}

/* ---- verification ---- */

typedef struct counts {
    int64_t adults, total;
    int64_t by_group[BENCH_N_GROUPS];
    int nwards;
    char (*code)[8];
    int64_t *w_adults, *w_total;
} counts_t;

static void counts_free(counts_t *c)
{
    free(c->code);
    free(c->w_adults);
    free(c->w_total);
    memset(c, 0, sizeof(*c));
}

static int counts_ward(const counts_t *c, const char *code)
{
    for (int i = 0; i < c->nwards; i++)
        if (strcmp(c->code[i], code) == 0)
            return i;
    return -1;
}

/* Blocking GET for the few verification reads. Fills status and body (caller owns body).
 * Returns 0, or -1 with a message. */
static int http_get(const bench_t *b, const char *path, int *status, hv_buf_t *body, char *err,
                    size_t errlen)
{
    const bench_cfg_t *cfg = &b->cfg;
    struct timeval tv = {10, 0};
    hv_buf_t raw;
    char chunk[16384];
    ssize_t n;
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = -1;

    hv_buf_init(&raw);
    if (fd < 0) {
        snprintf(err, errlen, "could not create a socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0) {
        snprintf(err, errlen, "could not connect to %.120s: %s", cfg->host_header, strerror(errno));
        goto done;
    }
    hv_buf_printf(&raw, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", path,
                  cfg->host_header);
    if (cfg->read_token)
        hv_buf_printf(&raw, "Authorization: Bearer %s\r\n", cfg->read_token);
    hv_buf_puts(&raw, "\r\n");
    if (send(fd, raw.data, raw.len, MSG_NOSIGNAL) != (ssize_t)raw.len) {
        snprintf(err, errlen, "could not send to %.120s: %s", cfg->host_header, strerror(errno));
        goto done;
    }
    hv_buf_reset(&raw);
    while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
        hv_buf_append(&raw, chunk, (size_t)n);
    if (n < 0) {
        snprintf(err, errlen, "could not read GET %.200s: %s", path, strerror(errno));
        goto done;
    }
    const char *hdr_end = raw.data ? strstr(raw.data, "\r\n\r\n") : NULL;
    if (!hdr_end || sscanf(raw.data, "HTTP/1.%*d %d", status) != 1) {
        snprintf(err, errlen, "GET %.200s: malformed response", path);
        goto done;
    }
    hdr_end += 4;
    hv_buf_reset(body);
    hv_buf_append(body, hdr_end, raw.len - (size_t)(hdr_end - raw.data));
    rc = 0;

done:
    close(fd);
    hv_buf_free(&raw);
    return rc;
}

/* Reads /v1/progress and /v1/wards into *out. Returns 0, or -1 with a message. */
static int read_counts(const bench_t *b, counts_t *out, char *err, size_t errlen)
{
    char path[600];
    hv_buf_t body;
    int status = 0, rc = -1;
    json_t *root = NULL;
    json_error_t jerr;
    const char *base = b->cfg.prefix;
    memset(out, 0, sizeof(*out));
    hv_buf_init(&body);
    snprintf(path, sizeof(path), "%s/v1/progress", base);
    if (http_get(b, path, &status, &body, err, errlen) < 0)
        goto done;
    if (status != 200) {
        snprintf(err, errlen, "GET %.200s answered %d", path, status);
        goto done;
    }
    root = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
    json_t *bg = json_object_get(root, "by_group");
    if (!json_is_integer(json_object_get(root, "certified_adults")) ||
        !json_is_integer(json_object_get(root, "certified_total")) || !json_is_object(bg)) {
        snprintf(err, errlen, "GET %.200s: unexpected document", path);
        goto done;
    }
    out->adults = json_integer_value(json_object_get(root, "certified_adults"));
    out->total = json_integer_value(json_object_get(root, "certified_total"));
    for (int g = 0; g < BENCH_N_GROUPS; g++)
        out->by_group[g] = json_integer_value(json_object_get(bg, group_names[g]));
    json_decref(root);
    root = NULL;

    snprintf(path, sizeof(path), "%s/v1/wards", base);
    if (http_get(b, path, &status, &body, err, errlen) < 0)
        goto done;
    if (status != 200) {
        snprintf(err, errlen, "GET %.200s answered %d", path, status);
        goto done;
    }
    root = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
    json_t *wards = json_object_get(root, "wards"), *wd;
    size_t i;
    if (!json_is_array(wards)) {
        snprintf(err, errlen, "GET %.200s: unexpected document", path);
        goto done;
    }
    out->nwards = (int)json_array_size(wards);
    out->code = hv_xcalloc((size_t)out->nwards + 1, sizeof(*out->code));
    out->w_adults = hv_xcalloc((size_t)out->nwards + 1, sizeof(*out->w_adults));
    out->w_total = hv_xcalloc((size_t)out->nwards + 1, sizeof(*out->w_total));
    json_array_foreach(wards, i, wd)
    {
        const char *code = json_string_value(json_object_get(wd, "code"));
        snprintf(out->code[i], sizeof(out->code[i]), "%s", code ? code : "?");
        out->w_adults[i] = json_integer_value(json_object_get(wd, "certified_adults"));
        out->w_total[i] = json_integer_value(json_object_get(wd, "certified_total"));
    }
    rc = 0;

done:
    json_decref(root);
    hv_buf_free(&body);
    if (rc < 0)
        counts_free(out);
    return rc;
}

typedef struct expected {
    int64_t adults, total;
    int64_t by_group[BENCH_N_GROUPS];
    int64_t *w_adults, *w_total; /* indexed like bench->wards */
    uint64_t unknown;            /* messages whose outcome is unknown */
    uint64_t persons, acked_issues, acked_revokes;
} expected_t;

/* Applies CONTRACT §6 to what the server acknowledged: for each person the earliest active
 * certificate (by timestamp, then certificate id) decides ward, group and adulthood. */
static void compute_expected(const bench_t *b, expected_t *e)
{
    memset(e, 0, sizeof(*e));
    e->w_adults = hv_xcalloc((size_t)b->wards.n, sizeof(int64_t));
    e->w_total = hv_xcalloc((size_t)b->wards.n, sizeof(int64_t));
    for (int t = 0; t < b->nworkers; t++) {
        const worker_t *w = &b->workers[t];
        int64_t *best = hv_xmalloc((w->npersons ? w->npersons : 1) * sizeof(*best));
        for (size_t i = 0; i < w->npersons; i++)
            best[i] = -1;
        for (size_t ci = 0; ci < w->ncerts; ci++) {
            const cert_t *c = &w->certs[ci];
            if (c->issue == ST_UNKNOWN || c->issue == ST_INFLIGHT)
                e->unknown++;
            if (c->revoke == ST_UNKNOWN || c->revoke == ST_INFLIGHT)
                e->unknown++;
            e->acked_issues += c->issue == ST_ACKED;
            e->acked_revokes += c->revoke == ST_ACKED;
            if (c->issue != ST_ACKED || c->revoke == ST_ACKED)
                continue;
            int64_t *bp = &best[c->person];
            /* Equal timestamps: the smaller certificate id, which within a thread is the
             * smaller index (fixed-width ids, compared bytewise as COLLATE "C" does). */
            if (*bp < 0 || c->ts < w->certs[*bp].ts)
                *bp = (int64_t)ci;
        }
        for (size_t pi = 0; pi < w->npersons; pi++) {
            if (best[pi] < 0)
                continue;
            const cert_t *c = &w->certs[best[pi]];
            bool adult = cert_adult(w, c);
            e->persons++;
            e->total++;
            e->w_total[c->ward]++;
            if (adult) {
                e->adults++;
                e->by_group[c->group]++;
                e->w_adults[c->ward]++;
            }
        }
        free(best);
    }
}

typedef struct verify_result {
    const char *result; /* "ok", "mismatch", "inconclusive", "error" */
    char error[300];
    double waited_s;
    double matched_after_s; /* < 0 if never matched */
    hv_buf_t diff;          /* human-readable mismatch lines */
    hv_buf_t json_diff;     /* JSON array of mismatches */
    counts_t base, after;
    expected_t exp;
} verify_result_t;

static void diff_line(verify_result_t *v, int *n, const char *what, int64_t expected,
                      int64_t observed, int64_t base)
{
    if (expected == observed - base)
        return;
    if (*n < 40)
        hv_buf_printf(&v->diff,
                      "  %-36s expected %+lld, observed %+lld (baseline %lld -> %lld), off by "
                      "%+lld\n",
                      what, (long long)expected, (long long)(observed - base), (long long)base,
                      (long long)observed, (long long)(observed - base - expected));
    hv_buf_printf(&v->json_diff,
                  "%s{\"what\":\"%s\",\"expected_delta\":%lld,\"observed_delta\":%lld,"
                  "\"baseline\":%lld,\"observed\":%lld}",
                  *n ? "," : "", what, (long long)expected, (long long)(observed - base),
                  (long long)base, (long long)observed);
    (*n)++;
}

/* Compares observed counts with baseline + expected deltas; returns the number of mismatches and
 * fills v->diff / v->json_diff. */
static int compare_counts(const bench_t *b, verify_result_t *v, const counts_t *obs)
{
    const counts_t *base = &v->base;
    const expected_t *e = &v->exp;
    int n = 0;
    char what[64];

    hv_buf_reset(&v->diff);
    hv_buf_reset(&v->json_diff);
    diff_line(v, &n, "progress.certified_adults", e->adults, obs->adults, base->adults);
    diff_line(v, &n, "progress.certified_total", e->total, obs->total, base->total);
    for (int g = 0; g < BENCH_N_GROUPS; g++) {
        snprintf(what, sizeof(what), "progress.by_group.%s", group_names[g]);
        diff_line(v, &n, what, e->by_group[g], obs->by_group[g], base->by_group[g]);
    }
    for (int i = 0; i < obs->nwards; i++) {
        int bi = counts_ward(base, obs->code[i]);
        int ei = -1;
        for (int k = 0; k < b->wards.n; k++)
            if (strcmp(b->wards.code[k], obs->code[i]) == 0)
                ei = k;
        int64_t ba = bi >= 0 ? base->w_adults[bi] : 0, bt = bi >= 0 ? base->w_total[bi] : 0;
        snprintf(what, sizeof(what), "ward %s certified_adults", obs->code[i]);
        diff_line(v, &n, what, ei >= 0 ? e->w_adults[ei] : 0, obs->w_adults[i], ba);
        snprintf(what, sizeof(what), "ward %s certified_total", obs->code[i]);
        diff_line(v, &n, what, ei >= 0 ? e->w_total[ei] : 0, obs->w_total[i], bt);
    }
    for (int k = 0; k < b->wards.n; k++) {
        if (counts_ward(obs, b->wards.code[k]) < 0 && (e->w_total[k] || e->w_adults[k])) {
            snprintf(what, sizeof(what), "ward %s missing from /v1/wards", b->wards.code[k]);
            diff_line(v, &n, what, e->w_total[k], 0, 0);
        }
    }
    if (n > 40)
        hv_buf_printf(&v->diff, "  ... and %d more\n", n - 40);
    return n;
}

/* After the run: waits for the read staleness bound, reads the counts and compares them with
 * the expected deltas; if they differ, keeps polling a while to tell "late" from "wrong". */
static void verify_run(const bench_t *b, verify_result_t *v)
{
    int64_t t0 = mono_us();
    counts_t obs;
    char err[300];

    v->matched_after_s = -1;
    compute_expected(b, &v->exp);
    if (v->exp.unknown) {
        v->result = "inconclusive";
        snprintf(v->error, sizeof(v->error),
                 "%" PRIu64 " messages have no definitive answer (gave up after retries)",
                 v->exp.unknown);
        return;
    }
    int64_t sleep_us = BENCH_STALENESS_US;
    for (;;) {
        if (sleep_us > 0)
            usleep((useconds_t)sleep_us);
        if (read_counts(b, &obs, err, sizeof(err)) < 0) {
            v->result = "error";
            snprintf(v->error, sizeof(v->error), "%s", err);
            return;
        }
        int64_t waited = mono_us() - t0;
        int n = compare_counts(b, v, &obs);
        counts_free(&v->after);
        v->after = obs;
        v->waited_s = (double)waited / 1e6;
        if (n == 0) {
            v->matched_after_s = v->waited_s;
            v->result = waited <= BENCH_STALENESS_US + 500000 ? "ok" : "mismatch";
            if (strcmp(v->result, "mismatch") == 0)
                snprintf(v->error, sizeof(v->error),
                         "counts matched only after %.1f s: reads must reflect accepted events "
                         "within 2 s",
                         v->waited_s);
            return;
        }
        if (waited >= BENCH_STALENESS_US + BENCH_STALENESS_EXTRA_US) {
            v->result = "mismatch";
            snprintf(v->error, sizeof(v->error),
                     "counts differ from those implied by the acknowledged events (still after "
                     "%.1f s)",
                     v->waited_s);
            return;
        }
        sleep_us = 1000000;
    }
}

/* ---- reporting ---- */

typedef struct totals {
    stats_t st;
    hist_t hist;
    double elapsed_s;
} totals_t;

static void totals_collect(const bench_t *b, totals_t *t, int64_t start_us)
{
    int64_t end = start_us;
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < b->nworkers; i++) {
        const worker_t *w = &b->workers[i];
        const stats_t *s = &w->st;
        hist_merge(&t->hist, &w->hist);
        if (w->end_us > end)
            end = w->end_us;
        t->st.requests += s->requests;
        t->st.events += s->events;
        for (int k = 0; k < 600; k++)
            t->st.status[k] += s->status[k];
#define ADD(f) t->st.f += s->f
        ADD(accepted);
        ADD(duplicate);
        ADD(batch_accepted);
        ADD(batch_duplicates);
        ADD(batch_rejected);
        ADD(conn_errors);
        ADD(timeouts);
        ADD(protocol_errors);
        ADD(connect_errors);
        ADD(abandoned);
        ADD(retries);
        ADD(unsent);
        ADD(id_overflow);
        ADD(sent_new);
        ADD(sent_dup);
        ADD(sent_revoke);
        ADD(sent_invalid);
        ADD(anom_dup_accepted);
        ADD(anom_new_duplicate);
        ADD(anom_invalid_accepted);
        ADD(anom_unexpected);
        ADD(anom_batch_counts);
#undef ADD
        for (int k = 0; k < s->ncodes; k++) {
            int f = -1;
            for (int m = 0; m < t->st.ncodes; m++)
                if (t->st.codes[m].status == s->codes[k].status &&
                    strcmp(t->st.codes[m].code, s->codes[k].code) == 0)
                    f = m;
            if (f < 0 && t->st.ncodes < BENCH_N_CODES) {
                f = t->st.ncodes++;
                t->st.codes[f] = s->codes[k];
                t->st.codes[f].n = 0;
            }
            if (f >= 0)
                t->st.codes[f].n += s->codes[k].n;
        }
    }
    t->elapsed_s = (double)(end - start_us) / 1e6;
    if (t->elapsed_s <= 0)
        t->elapsed_s = 1e-6;
}

static const char *mode_name(req_mode_t m)
{
    return m == MODE_GET ? "get" : m == MODE_BATCH ? "batch" : "events";
}

static uint64_t anomalies(const stats_t *s)
{
    return s->anom_dup_accepted + s->anom_new_duplicate + s->anom_invalid_accepted +
           s->anom_batch_counts;
}

static void print_human(const bench_t *b, const totals_t *t, const verify_result_t *v)
{
    const bench_cfg_t *cfg = &b->cfg;
    const stats_t *s = &t->st;
    const hist_t *h = &t->hist;
    FILE *o = stdout;

    fprintf(o, "hocvu-bench %s: %s %s (%s), run tag %s, id partition %03d\n", HOCVU_VERSION,
            cfg->mode == MODE_GET ? "GET" : "POST", cfg->path, cfg->url, b->tag, b->id_partition);
    if (cfg->rate > 0)
        fprintf(o, "  open loop at %.0f req/s", cfg->rate);
    else
        fprintf(o, "  closed loop (--max)");
    fprintf(o, ", %d connections, %d thread%s, %.1f s", cfg->connections, b->nworkers,
            b->nworkers == 1 ? "" : "s", cfg->duration);
    if (cfg->events > 0)
        fprintf(o, " at most, stopping after %lld %s", cfg->events,
                cfg->mode == MODE_GET ? "requests" : "events");
    if (cfg->mode == MODE_BATCH)
        fprintf(o, ", batches of %d", cfg->batch);
    fprintf(o, "\n");
    if (cfg->mode != MODE_GET)
        fprintf(o,
                "  mix: dup %.3f revoke %.3f invalid %.3f minor %.3f, persons %s, timestamps "
                "%s, wards from %s\n",
                cfg->dup_ratio, cfg->revoke_ratio, cfg->invalid_ratio, cfg->minor_ratio,
                cfg->persons ? "bounded" : "one per new certificate",
                cfg->ts_mode == TS_NOW ? "now" : "spread", b->wards.source);
    fprintf(o, "\nrequests   %" PRIu64 " in %.2f s = %.1f req/s\n", s->requests, t->elapsed_s,
            (double)s->requests / t->elapsed_s);
    fprintf(o, "events     %" PRIu64 " = %.1f events/s\n", s->events,
            (double)s->events / t->elapsed_s);
    fprintf(o,
            "latency    p50 %" PRId64 " µs  p90 %" PRId64 " µs  p99 %" PRId64 " µs  p99.9 %" PRId64
            " µs  max %" PRId64 " µs  (mean %.0f µs; %s)\n",
            hist_quantile(h, 0.50), hist_quantile(h, 0.90), hist_quantile(h, 0.99),
            hist_quantile(h, 0.999), h->max, h->n ? h->sum / (double)h->n : 0.0,
            cfg->rate > 0 ? "from the intended send time" : "from the send time");
    fprintf(o, "status    ");
    for (int k = 0; k < 600; k++)
        if (s->status[k])
            fprintf(o, " %d: %" PRIu64, k, s->status[k]);
    fprintf(o, "\n");
    if (cfg->mode == MODE_EVENTS)
        fprintf(o, "replies    accepted %" PRIu64 ", duplicate %" PRIu64 "\n", s->accepted,
                s->duplicate);
    if (cfg->mode == MODE_BATCH)
        fprintf(o,
                "lines      accepted %" PRIu64 ", duplicates %" PRIu64 ", rejected %" PRIu64 "\n",
                s->batch_accepted, s->batch_duplicates, s->batch_rejected);
    if (s->ncodes) {
        fprintf(o, "codes     ");
        for (int k = 0; k < s->ncodes; k++)
            fprintf(o, " %d %s: %" PRIu64 ";", s->codes[k].status,
                    s->codes[k].code[0] ? s->codes[k].code : "(none)", s->codes[k].n);
        fprintf(o, "\n");
    }
    if (cfg->mode != MODE_GET)
        fprintf(o,
                "sent       new %" PRIu64 ", redeliveries %" PRIu64 ", revocations %" PRIu64
                ", wrongly signed requests %" PRIu64 ", retries %" PRIu64 "\n",
                s->sent_new, s->sent_dup, s->sent_revoke, s->sent_invalid, s->retries);
    fprintf(o,
            "errors     connection %" PRIu64 ", timeout %" PRIu64 ", protocol %" PRIu64
            ", reconnect %" PRIu64 ", abandoned %" PRIu64 ", unexpected status %" PRIu64 "\n",
            s->conn_errors, s->timeouts, s->protocol_errors, s->connect_errors, s->abandoned,
            cfg->mode == MODE_GET ? 0 : s->anom_unexpected);
    if (s->unsent)
        fprintf(o,
                "warning    %" PRIu64 " scheduled requests never found a free connection: the "
                "target rate was not sustained\n",
                s->unsent);
    if (s->id_overflow)
        fprintf(o,
                "warning    %" PRIu64 " persons did not fit the id partition and got random "
                "serials: --verify may see collisions with earlier runs\n",
                s->id_overflow);
    if (anomalies(s))
        fprintf(o,
                "anomalies  redelivery answered accepted %" PRIu64
                ", new message answered duplicate %" PRIu64 ", wrong signature accepted %" PRIu64
                ", batch reply inconsistent %" PRIu64 "\n",
                s->anom_dup_accepted, s->anom_new_duplicate, s->anom_invalid_accepted,
                s->anom_batch_counts);
    if (cfg->mode == MODE_BATCH && s->status[404])
        fprintf(o, "note       %s answered 404: is the batch endpoint implemented?\n", cfg->path);
    if (v) {
        fprintf(o,
                "\nverify     %s: %" PRIu64 " acknowledged issues, %" PRIu64
                " acknowledged revocations, %" PRIu64 " persons certified by this run\n",
                v->result, v->exp.acked_issues, v->exp.acked_revokes, v->exp.persons);
        fprintf(o,
                "           expected delta: certified_adults %+lld, certified_total %+lld, "
                "by_group citizen %+lld worker %+lld student %+lld official %+lld\n",
                (long long)v->exp.adults, (long long)v->exp.total, (long long)v->exp.by_group[0],
                (long long)v->exp.by_group[1], (long long)v->exp.by_group[2],
                (long long)v->exp.by_group[3]);
        if (v->error[0])
            fprintf(o, "           %s\n", v->error);
        if (v->diff.len)
            fprintf(o, "%s", v->diff.data);
    }
}

static void print_json(const bench_t *b, const totals_t *t, const verify_result_t *v)
{
    const bench_cfg_t *cfg = &b->cfg;
    const stats_t *s = &t->st;
    const hist_t *h = &t->hist;
    hv_buf_t o;

    hv_buf_init(&o);
    hv_buf_puts(&o, "{\"tool\":\"hocvu-bench\",\"version\":\"" HOCVU_VERSION "\",\"config\":{");
    hv_buf_puts(&o, "\"url\":");
    hv_buf_json_str(&o, cfg->url, strlen(cfg->url));
    hv_buf_puts(&o, ",\"path\":");
    hv_buf_json_str(&o, cfg->path, strlen(cfg->path));
    hv_buf_printf(&o, ",\"mode\":\"%s\",\"loop\":\"%s\",", mode_name(cfg->mode),
                  cfg->rate > 0 ? "open" : "closed");
    if (cfg->rate > 0)
        hv_buf_printf(&o, "\"rate\":%.3f,", cfg->rate);
    else
        hv_buf_puts(&o, "\"rate\":null,");
    hv_buf_printf(&o,
                  "\"duration_s\":%.3f,\"connections\":%d,\"threads\":%d,\"batch\":%d,"
                  "\"dup_ratio\":%g,\"revoke_ratio\":%g,\"invalid_ratio\":%g,\"minor_ratio\":%g,",
                  cfg->duration, cfg->connections, b->nworkers,
                  cfg->mode == MODE_BATCH ? cfg->batch : 1, cfg->dup_ratio, cfg->revoke_ratio,
                  cfg->invalid_ratio, cfg->minor_ratio);
    if (cfg->events > 0)
        hv_buf_printf(&o, "\"events_limit\":%lld,", cfg->events);
    else
        hv_buf_puts(&o, "\"events_limit\":null,");
    if (cfg->persons)
        hv_buf_printf(&o, "\"persons\":%ld,", cfg->persons);
    else
        hv_buf_puts(&o, "\"persons\":null,");
    hv_buf_printf(&o,
                  "\"seed\":%" PRIu64
                  ",\"timestamp_mode\":\"%s\",\"run_tag\":\"%s\",\"id_partition\":%d,",
                  cfg->seed, cfg->ts_mode == TS_NOW ? "now" : "spread", b->tag, b->id_partition);
    hv_buf_puts(&o, "\"wards\":");
    hv_buf_json_str(&o, b->wards.source, strlen(b->wards.source));
    hv_buf_printf(&o, ",\"verify\":%s},", cfg->verify ? "true" : "false");
    hv_buf_printf(&o,
                  "\"elapsed_s\":%.3f,\"requests\":%" PRIu64 ",\"events\":%" PRIu64
                  ",\"throughput\":{\"requests_per_s\":%.1f,\"events_per_s\":%.1f},",
                  t->elapsed_s, s->requests, s->events, (double)s->requests / t->elapsed_s,
                  (double)s->events / t->elapsed_s);
    hv_buf_printf(&o,
                  "\"latency_us\":{\"basis\":\"%s\",\"count\":%" PRIu64
                  ",\"mean\":%.1f,\"p50\":%" PRId64 ",\"p90\":%" PRId64 ",\"p99\":%" PRId64
                  ",\"p999\":%" PRId64 ",\"max\":%" PRId64 "},",
                  cfg->rate > 0 ? "intended_send_time" : "send_time", h->n,
                  h->n ? h->sum / (double)h->n : 0.0, hist_quantile(h, 0.5), hist_quantile(h, 0.9),
                  hist_quantile(h, 0.99), hist_quantile(h, 0.999), h->max);
    hv_buf_puts(&o, "\"status\":{");
    int first = 1;
    for (int k = 0; k < 600; k++) {
        if (!s->status[k])
            continue;
        hv_buf_printf(&o, "%s\"%d\":%" PRIu64, first ? "" : ",", k, s->status[k]);
        first = 0;
    }
    hv_buf_puts(&o, "},\"codes\":[");
    for (int k = 0; k < s->ncodes; k++) {
        hv_buf_printf(&o, "%s{\"status\":%d,\"code\":", k ? "," : "", s->codes[k].status);
        hv_buf_json_str(&o, s->codes[k].code, strlen(s->codes[k].code));
        hv_buf_printf(&o, ",\"count\":%" PRIu64 "}", s->codes[k].n);
    }
    hv_buf_printf(&o,
                  "],\"replies\":{\"accepted\":%" PRIu64 ",\"duplicate\":%" PRIu64
                  "},\"batch_lines\":{\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64
                  ",\"rejected\":%" PRIu64 "},",
                  s->accepted, s->duplicate, s->batch_accepted, s->batch_duplicates,
                  s->batch_rejected);
    hv_buf_printf(&o,
                  "\"sent\":{\"new\":%" PRIu64 ",\"redeliveries\":%" PRIu64
                  ",\"revocations\":%" PRIu64 ",\"wrongly_signed_requests\":%" PRIu64
                  ",\"retries\":%" PRIu64 "},",
                  s->sent_new, s->sent_dup, s->sent_revoke, s->sent_invalid, s->retries);
    hv_buf_printf(&o,
                  "\"errors\":{\"connection\":%" PRIu64 ",\"timeout\":%" PRIu64
                  ",\"protocol\":%" PRIu64 ",\"reconnect\":%" PRIu64 ",\"abandoned\":%" PRIu64
                  ",\"unexpected_status\":%" PRIu64 ",\"unsent_backlog\":%" PRIu64
                  ",\"id_overflow\":%" PRIu64 "},",
                  s->conn_errors, s->timeouts, s->protocol_errors, s->connect_errors, s->abandoned,
                  cfg->mode == MODE_GET ? 0 : s->anom_unexpected, s->unsent, s->id_overflow);
    hv_buf_printf(&o,
                  "\"anomalies\":{\"redelivery_accepted\":%" PRIu64
                  ",\"new_message_duplicate\":%" PRIu64 ",\"wrong_signature_accepted\":%" PRIu64
                  ",\"batch_reply_inconsistent\":%" PRIu64 "},",
                  s->anom_dup_accepted, s->anom_new_duplicate, s->anom_invalid_accepted,
                  s->anom_batch_counts);
    if (!v) {
        hv_buf_puts(&o, "\"verify\":null}");
    } else {
        const expected_t *e = &v->exp;
        hv_buf_printf(&o, "\"verify\":{\"result\":\"%s\",\"error\":", v->result);
        hv_buf_json_str(&o, v->error, strlen(v->error));
        hv_buf_printf(&o,
                      ",\"waited_s\":%.2f,\"acknowledged_issues\":%" PRIu64
                      ",\"acknowledged_revocations\":%" PRIu64 ",\"persons_certified\":%" PRIu64
                      ",\"unknown_outcomes\":%" PRIu64 ",",
                      v->waited_s, e->acked_issues, e->acked_revokes, e->persons, e->unknown);
        hv_buf_printf(&o,
                      "\"expected_delta\":{\"certified_adults\":%lld,\"certified_total\":%lld,"
                      "\"by_group\":{\"citizen\":%lld,\"worker\":%lld,\"student\":%lld,"
                      "\"official\":%lld}},",
                      (long long)e->adults, (long long)e->total, (long long)e->by_group[0],
                      (long long)e->by_group[1], (long long)e->by_group[2],
                      (long long)e->by_group[3]);
        hv_buf_printf(&o,
                      "\"baseline\":{\"certified_adults\":%lld,\"certified_total\":%lld},"
                      "\"observed\":{\"certified_adults\":%lld,\"certified_total\":%lld},",
                      (long long)v->base.adults, (long long)v->base.total,
                      (long long)v->after.adults, (long long)v->after.total);
        hv_buf_printf(&o, "\"mismatches\":[%s]}}", v->json_diff.data ? v->json_diff.data : "");
    }
    hv_buf_putc(&o, '\n');
    fwrite(o.data, 1, o.len, stdout);
    hv_buf_free(&o);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hocvu-bench --url URL --secret whsec_... [--rate N[/s] | --max]\n"
            "                   --duration S --connections C [--batch N] [--dup-ratio R]\n"
            "                   [--revoke-ratio R] [--invalid-ratio R] [--persons N]\n"
            "                   [--wards FILE.csv] [--verify] [--json]\n"
            "       hocvu-bench --url URL --get PATH [--rate N | --max] --duration S ...\n"
            "\n"
            "Sends realistic, signed certificate events (Standard Webhooks) to hocvud and reports\n"
            "throughput, latency percentiles and errors by HTTP status.\n"
            "\n"
            "  --url URL            http://host:port of the service (a path prefix is kept)\n"
            "  --secret whsec_...   signing secret (default: first of $HOCVU_WEBHOOK_SECRETS)\n"
            "  --rate N[/s]         open loop: N requests/s at fixed intended times; latency\n"
            "                       counts from the intended time (no coordinated omission)\n"
            "  --max                closed loop: every connection sends back to back (default)\n"
            "  --duration S         seconds of load (default 10)\n"
            "  --events N           stop after sending N events (requests with --get): the\n"
            "                       last request may be a shorter batch; replies and, with\n"
            "                       --verify, retries are awaited, so N are acknowledged\n"
            "                       unless refused; --duration then only bounds the run\n"
            "                       (default 86400 s)\n"
            "  --connections C      keep-alive connections, one request in flight each (16)\n"
            "  --threads T          event loops (default 1)\n"
            "  --batch N            POST N events per request to /v1/events/batch (NDJSON)\n"
            "  --dup-ratio R        share of messages that redeliver an acknowledged one (0)\n"
            "  --revoke-ratio R     share that revoke an acknowledged certificate (0)\n"
            "  --invalid-ratio R    share of requests with a wrong signature, expecting 401 (0)\n"
            "  --minor-ratio R      share of persons born 2009-2012 (default 0.05)\n"
            "  --persons N          bound the person pool: persons then hold several\n"
            "                       certificates (default: a new person per certificate)\n"
            "  --wards FILE.csv     ward codes weighted by population\n"
            "                       (default data/cantho_wards_2025.csv)\n"
            "  --timestamp-mode M   now (default) or spread (2025-07-01 .. now)\n"
            "  --seed N             seed of the event mix (ids are always unique per run)\n"
            "  --path PATH          POST to PATH instead of /v1/events (/v1/events/batch)\n"
            "  --get PATH           read-only mode: GET PATH (e.g. /v1/progress)\n"
            "  --read-token TOKEN   bearer token for reads (default $HOCVU_READ_TOKEN)\n"
            "  --id-partition N     0-999: first digits of citizen serials (default: start\n"
            "                       time in seconds mod 1000); give runs on one database\n"
            "                       different partitions so their persons never collide\n"
            "  --verify             after the run, compare /v1/progress and /v1/wards with the\n"
            "                       counts implied by what the server acknowledged; 5xx and\n"
            "                       lost requests are retried with the same webhook-id\n"
            "  --json               one JSON object on stdout; no progress lines\n"
            "  --help, --version\n"
            "\n"
            "--verify takes a baseline before the run and compares differences, so the database\n"
            "may hold earlier data, but it assumes no other writers during the run and that the\n"
            "run's persons are new: certificate and message ids carry a random run tag, citizen\n"
            "ids the id partition, so runs that started less than 1000 s apart (or were given\n"
            "different --id-partition values) never share a person. All citizen ids are\n"
            "synthetic.\n"
            "\n"
            "Exit status: 0 ok, 1 verification mismatch or fatal error, 2 usage error.\n");
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= lo && v <= hi))
        return false;
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Splits http://host[:port][/prefix] into the config. Returns false on a malformed URL. */
static bool parse_url(bench_cfg_t *cfg, const char *url, char *err, size_t errlen)
{
    const char *p, *host_end, *port_start = NULL;

    if (strncasecmp(url, "https://", 8) == 0) {
        snprintf(err, errlen, "--url: https is not supported; bench the plain HTTP listener");
        return false;
    }
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "--url must start with http://");
        return false;
    }
    snprintf(cfg->url, sizeof(cfg->url), "%s", url);
    p = url + 7;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            snprintf(err, errlen, "--url: unterminated IPv6 address");
            return false;
        }
        snprintf(cfg->host, sizeof(cfg->host), "%.*s", (int)(host_end - p - 1), p + 1);
        p = host_end + 1;
    } else {
        size_t n = strcspn(p, ":/");
        snprintf(cfg->host, sizeof(cfg->host), "%.*s", (int)n, p);
        p += n;
    }
    if (*p == ':') {
        port_start = ++p;
        size_t n = strspn(p, "0123456789");
        if (n == 0 || n > 5) {
            snprintf(err, errlen, "--url: bad port");
            return false;
        }
        snprintf(cfg->port, sizeof(cfg->port), "%.*s", (int)n, p);
        p += n;
    } else {
        snprintf(cfg->port, sizeof(cfg->port), "80");
    }
    if (cfg->host[0] == '\0' || (*p && *p != '/')) {
        snprintf(err, errlen, "--url: expected http://host:port");
        return false;
    }
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    snprintf(cfg->prefix, sizeof(cfg->prefix), "%.*s", (int)plen, p);
    if (strchr(cfg->host, ':'))
        snprintf(cfg->host_header, sizeof(cfg->host_header), "[%s]%s%s", cfg->host,
                 port_start ? ":" : "", port_start ? cfg->port : "");
    else
        snprintf(cfg->host_header, sizeof(cfg->host_header), "%s%s%s", cfg->host,
                 port_start ? ":" : "", port_start ? cfg->port : "");
    return true;
}

enum {
    OPT_URL = 256,
    OPT_SECRET,
    OPT_RATE,
    OPT_MAX,
    OPT_DURATION,
    OPT_EVENTS,
    OPT_CONNECTIONS,
    OPT_BATCH,
    OPT_DUP,
    OPT_REVOKE,
    OPT_INVALID,
    OPT_MINOR,
    OPT_PERSONS,
    OPT_WARDS,
    OPT_VERIFY,
    OPT_JSON,
    OPT_THREADS,
    OPT_SEED,
    OPT_TSMODE,
    OPT_PATH,
    OPT_GET,
    OPT_TOKEN,
    OPT_PARTITION,
    OPT_HELP,
    OPT_VERSION,
};

/* Parses argv into b->cfg. Returns 0, 1 when --help/--version was handled, or 2 on a usage
 * error (message printed). */
static int parse_args(bench_t *b, int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"rate", required_argument, NULL, OPT_RATE},
        {"max", no_argument, NULL, OPT_MAX},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"events", required_argument, NULL, OPT_EVENTS},
        {"connections", required_argument, NULL, OPT_CONNECTIONS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"dup-ratio", required_argument, NULL, OPT_DUP},
        {"revoke-ratio", required_argument, NULL, OPT_REVOKE},
        {"invalid-ratio", required_argument, NULL, OPT_INVALID},
        {"minor-ratio", required_argument, NULL, OPT_MINOR},
        {"persons", required_argument, NULL, OPT_PERSONS},
        {"wards", required_argument, NULL, OPT_WARDS},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"json", no_argument, NULL, OPT_JSON},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"timestamp-mode", required_argument, NULL, OPT_TSMODE},
        {"path", required_argument, NULL, OPT_PATH},
        {"get", required_argument, NULL, OPT_GET},
        {"read-token", required_argument, NULL, OPT_TOKEN},
        {"id-partition", required_argument, NULL, OPT_PARTITION},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    bench_cfg_t *cfg = &b->cfg;
    const char *url = NULL, *path = NULL, *get = NULL;
    bool max = false, seed_set = false, duration_set = false;
    char err[200] = "", tmp[64];
    long l;
    int opt;

    cfg->duration = 10;
    cfg->connections = 16;
    cfg->threads = 1;
    cfg->minor_ratio = 0.05;
    cfg->ts_mode = TS_NOW;
    cfg->id_partition = -1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_URL:
            url = optarg;
            break;
        case OPT_SECRET:
            cfg->secret = optarg;
            break;
        case OPT_RATE:
            snprintf(tmp, sizeof(tmp), "%s", optarg);
            if (strlen(tmp) > 2 && strcmp(tmp + strlen(tmp) - 2, "/s") == 0)
                tmp[strlen(tmp) - 2] = '\0';
            if (!parse_double(tmp, 0.001, 1e8, &cfg->rate))
                snprintf(err, sizeof(err), "--rate: expected a positive number of requests/s");
            break;
        case OPT_MAX:
            max = true;
            break;
        case OPT_DURATION:
            snprintf(tmp, sizeof(tmp), "%s", optarg);
            if (strlen(tmp) > 1 && tmp[strlen(tmp) - 1] == 's')
                tmp[strlen(tmp) - 1] = '\0';
            if (!parse_double(tmp, 0.1, 86400, &cfg->duration))
                snprintf(err, sizeof(err), "--duration: expected seconds (0.1 to 86400)");
            duration_set = true;
            break;
        case OPT_EVENTS:
            if (!parse_long(optarg, 1, 1000000000000L, &l))
                snprintf(err, sizeof(err), "--events: expected a positive number");
            cfg->events = l;
            break;
        case OPT_CONNECTIONS:
            if (!parse_long(optarg, 1, BENCH_MAX_CONNECTIONS, &l))
                snprintf(err, sizeof(err), "--connections: expected 1 to %d",
                         BENCH_MAX_CONNECTIONS);
            cfg->connections = (int)l;
            break;
        case OPT_BATCH:
            if (!parse_long(optarg, 1, BENCH_MAX_BATCH, &l))
                snprintf(err, sizeof(err), "--batch: expected 1 to %d", BENCH_MAX_BATCH);
            cfg->batch = (int)l;
            break;
        case OPT_DUP:
            if (!parse_double(optarg, 0, 1, &cfg->dup_ratio))
                snprintf(err, sizeof(err), "--dup-ratio: expected 0 to 1");
            break;
        case OPT_REVOKE:
            if (!parse_double(optarg, 0, 1, &cfg->revoke_ratio))
                snprintf(err, sizeof(err), "--revoke-ratio: expected 0 to 1");
            break;
        case OPT_INVALID:
            if (!parse_double(optarg, 0, 1, &cfg->invalid_ratio))
                snprintf(err, sizeof(err), "--invalid-ratio: expected 0 to 1");
            break;
        case OPT_MINOR:
            if (!parse_double(optarg, 0, 1, &cfg->minor_ratio))
                snprintf(err, sizeof(err), "--minor-ratio: expected 0 to 1");
            break;
        case OPT_PERSONS:
            if (!parse_long(optarg, 1, 100000000, &cfg->persons))
                snprintf(err, sizeof(err), "--persons: expected 1 to 100000000");
            break;
        case OPT_WARDS:
            cfg->wards_file = optarg;
            break;
        case OPT_VERIFY:
            cfg->verify = true;
            break;
        case OPT_JSON:
            cfg->json = true;
            break;
        case OPT_THREADS:
            if (!parse_long(optarg, 1, BENCH_MAX_THREADS, &l))
                snprintf(err, sizeof(err), "--threads: expected 1 to %d", BENCH_MAX_THREADS);
            cfg->threads = (int)l;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            cfg->seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end || errno)
                snprintf(err, sizeof(err), "--seed: expected an unsigned integer");
            seed_set = true;
            break;
        }
        case OPT_TSMODE:
            if (strcmp(optarg, "now") == 0)
                cfg->ts_mode = TS_NOW;
            else if (strcmp(optarg, "spread") == 0)
                cfg->ts_mode = TS_SPREAD;
            else
                snprintf(err, sizeof(err), "--timestamp-mode: expected now or spread");
            break;
        case OPT_PATH:
            path = optarg;
            break;
        case OPT_GET:
            get = optarg;
            break;
        case OPT_TOKEN:
            cfg->read_token = optarg;
            break;
        case OPT_PARTITION:
            if (!parse_long(optarg, 0, 999, &l))
                snprintf(err, sizeof(err), "--id-partition: expected 0 to 999");
            cfg->id_partition = (int)l;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("hocvu-bench %s\n", HOCVU_VERSION);
            return 1;
        default:
            snprintf(err, sizeof(err), "unknown or incomplete option %s",
                     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            break;
        }
        if (err[0])
            break;
    }
    if (!err[0] && optind < argc)
        snprintf(err, sizeof(err), "unexpected argument %s", argv[optind]);
    if (!err[0] && !url)
        snprintf(err, sizeof(err), "--url is required");
    if (!err[0] && max && cfg->rate > 0)
        snprintf(err, sizeof(err), "--rate and --max exclude each other");
    if (!err[0])
        parse_url(cfg, url, err, sizeof(err));
    cfg->mode = get ? MODE_GET : cfg->batch ? MODE_BATCH : MODE_EVENTS;
    if (!err[0] && get && (cfg->batch || cfg->verify || path))
        snprintf(err, sizeof(err), "--get excludes --batch, --verify and --path");
    if (!err[0] && (get || path) && (get ? get : path)[0] != '/')
        snprintf(err, sizeof(err), "%s must start with /", get ? "--get" : "--path");
    if (!err[0] && cfg->dup_ratio + cfg->revoke_ratio > 1)
        snprintf(err, sizeof(err), "--dup-ratio plus --revoke-ratio must not exceed 1");
    if (!err[0] && !cfg->secret && !get) {
        const char *env = getenv("HOCVU_WEBHOOK_SECRETS");
        if (env && *env)
            cfg->secret = env;
        else
            snprintf(err, sizeof(err), "--secret is required (or set HOCVU_WEBHOOK_SECRETS)");
    }
    if (!err[0] && !get) {
        char kerr[160] = "unusable secret";
        if (hv_sig_keys_parse(cfg->secret, &b->keys, kerr, sizeof(kerr)) < 0 || b->keys.n < 1)
            snprintf(err, sizeof(err), "--secret: %s", kerr);
    }
    if (err[0]) {
        fprintf(stderr, "hocvu-bench: %s\n(try hocvu-bench --help)\n", err);
        return 2;
    }
    if (!cfg->read_token) {
        const char *env = getenv("HOCVU_READ_TOKEN");
        if (env && *env)
            cfg->read_token = env;
    }
    char full[sizeof(cfg->path)];
    const char *suffix = get                       ? get
                         : path                    ? path
                         : cfg->mode == MODE_BATCH ? "/v1/events/batch"
                                                   : "/v1/events";
    snprintf(full, sizeof(full), "%s%s", cfg->prefix, suffix);
    memcpy(cfg->path, full, sizeof(full));
    if (cfg->threads > cfg->connections)
        cfg->threads = cfg->connections;
    if (cfg->events > 0 && !duration_set)
        cfg->duration = 86400;
    if (!seed_set) {
        if (getrandom(&cfg->seed, sizeof(cfg->seed), 0) != sizeof(cfg->seed))
            cfg->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    }
    return 0;
}

/* Resolves the host once; every connection uses the same address. */
static int resolve(bench_t *b, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(b->cfg.host, b->cfg.port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "could not resolve %s: %s", b->cfg.host, gai_strerror(rc));
        return -1;
    }
    memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
    b->addrlen = (socklen_t)ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int load_wards(bench_t *b)
{
    char err[400];
    const char *file = b->cfg.wards_file;

    if (b->cfg.mode == MODE_GET) {
        wardtab_fallback(&b->wards);
        return 0;
    }
    if (file) {
        if (bench_wards_load(&b->wards, file, err, sizeof(err)) < 0) {
            fprintf(stderr, "hocvu-bench: %s\n", err);
            return -1;
        }
        return 0;
    }
    if (bench_wards_load(&b->wards, "data/cantho_wards_2025.csv", err, sizeof(err)) == 0)
        return 0;
#ifdef HOCVU_SOURCE_DIR
    if (bench_wards_load(&b->wards, HOCVU_SOURCE_DIR "/data/cantho_wards_2025.csv", err,
                         sizeof(err)) == 0)
        return 0;
#endif
    fprintf(stderr, "hocvu-bench: no ward file found (%s); using a built-in list\n", err);
    wardtab_fallback(&b->wards);
    return 0;
}

/* Prints one progress line per second on stderr (rewritten in place on a terminal) and waits
 * for the workers; SIGINT/SIGTERM end the load early (a second one aborts). */
static int run_progress(bench_t *b, int64_t start_us, const sigset_t *sigs)
{
    bool tty = isatty(STDERR_FILENO), quiet = b->cfg.json;
    uint64_t last_req = 0, last_ev = 0;
    int64_t last_t = start_us;
    int interrupts = 0;

    for (;;) {
        bool all_done = true;
        for (int i = 0; i < b->nworkers; i++)
            if (!atomic_load(&b->workers[i].a_done))
                all_done = false;
        if (all_done)
            break;
        int64_t now = mono_us();
        int64_t next = last_t + 1000000;
        int64_t wait = next > now ? next - now : 0;
        struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
        siginfo_t si;
        if (sigtimedwait(sigs, &si, &ts) > 0) {
            if (++interrupts > 1) {
                fprintf(stderr, "\nhocvu-bench: interrupted\n");
                return -1;
            }
            if (!quiet)
                fprintf(stderr, "%shocvu-bench: stopping early, waiting for replies\n",
                        tty ? "\n" : "");
            for (int i = 0; i < b->nworkers; i++)
                event_active(b->workers[i].stop_ev, EV_READ, 0);
            continue;
        }
        now = mono_us();
        if (now < next)
            continue;
        uint64_t req = 0, ev = 0, errs = 0;
        int64_t backlog = 0;
        for (int i = 0; i < b->nworkers; i++) {
            worker_t *w = &b->workers[i];
            req += atomic_load_explicit(&w->a_requests, memory_order_relaxed);
            ev += atomic_load_explicit(&w->a_events, memory_order_relaxed);
            errs += atomic_load_explicit(&w->a_errors, memory_order_relaxed);
            backlog += atomic_load_explicit(&w->a_backlog, memory_order_relaxed);
        }
        double dt = (double)(now - last_t) / 1e6;
        if (!quiet) {
            fprintf(stderr,
                    "%s[%5.1fs] %9.0f req/s %9.0f events/s  total %" PRIu64 " req  errors %" PRIu64
                    "%s",
                    tty ? "\r" : "", (double)(now - start_us) / 1e6, (double)(req - last_req) / dt,
                    (double)(ev - last_ev) / dt, req, errs, tty ? "\033[K" : "\n");
            if (b->cfg.rate > 0 && backlog > 0)
                fprintf(stderr, "  backlog %lld%s", (long long)backlog, tty ? "" : "\n");
            fflush(stderr);
        }
        last_req = req;
        last_ev = ev;
        last_t = now;
    }
    if (tty && !quiet)
        fprintf(stderr, "\n");
    return 0;
}

int main(int argc, char **argv)
{
    bench_t b;
    verify_result_t vr;
    bool verified = false;
    sigset_t sigs;
    char err[300];
    int rc = 1, started = 0;
    uint8_t rnd[8];

    memset(&b, 0, sizeof(b));
    memset(&vr, 0, sizeof(vr));
    hv_buf_init(&vr.diff);
    hv_buf_init(&vr.json_diff);
    switch (parse_args(&b, argc, argv)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() < 0) {
        fprintf(stderr, "hocvu-bench: could not enable libevent threading\n");
        return 1;
    }
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        fprintf(stderr, "hocvu-bench: could not read random bytes: %s\n", strerror(errno));
        return 1;
    }
    static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 6; i++)
        b.tag[i] = alnum[rnd[i] % 32];
    memcpy(&b.tag_seed, rnd, sizeof(b.tag_seed));
    b.id_partition = b.cfg.id_partition >= 0 ? b.cfg.id_partition : (int)(time(NULL) % 1000);
    provtab_build(&b.provs);
    if (load_wards(&b) < 0)
        return 1;
    if (resolve(&b, err, sizeof(err)) < 0) {
        fprintf(stderr, "hocvu-bench: %s\n", err);
        goto done;
    }
    if (b.cfg.verify && read_counts(&b, &vr.base, err, sizeof(err)) < 0) {
        fprintf(stderr, "hocvu-bench: could not read the baseline for --verify: %s\n", err);
        goto done;
    }

    /* Signals go to the main thread's sigtimedwait only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    b.nworkers = b.cfg.threads;
    b.workers = hv_xcalloc((size_t)b.nworkers, sizeof(*b.workers));
    for (int i = 0; i < b.nworkers; i++) {
        int nconn = b.cfg.connections / b.nworkers + (i < b.cfg.connections % b.nworkers);
        if (worker_init(&b, &b.workers[i], i, nconn, err, sizeof(err)) < 0) {
            fprintf(stderr, "hocvu-bench: %s\n", err);
            goto done;
        }
    }
    for (; started < b.nworkers; started++) {
        if (pthread_create(&b.workers[started].thread, NULL, worker_main, &b.workers[started]) !=
            0) {
            fprintf(stderr, "hocvu-bench: could not start a thread\n");
            goto stop;
        }
    }
    /* Wait until every connection is established, so the clock measures load, not handshakes. */
    for (int64_t until = mono_us() + 10000000;;) {
        int ready = 0, failed = -1;
        for (int i = 0; i < b.nworkers; i++) {
            int r = atomic_load(&b.workers[i].a_ready);
            ready += r == 1;
            if (r < 0)
                failed = i;
        }
        if (failed >= 0) {
            usleep(20000);
            fprintf(stderr, "hocvu-bench: %s\n", b.workers[failed].connect_err);
            goto stop;
        }
        if (ready == b.nworkers)
            break;
        if (mono_us() > until) {
            fprintf(stderr, "hocvu-bench: could not connect to %s within 10 s\n",
                    b.cfg.host_header);
            goto stop;
        }
        usleep(2000);
    }
    int64_t start = mono_us();
    for (int i = 0; i < b.nworkers; i++) {
        b.workers[i].start_us = start;
        b.workers[i].stop_us = start + (int64_t)(b.cfg.duration * 1e6);
    }
    for (int i = 0; i < b.nworkers; i++)
        event_active(b.workers[i].go_ev, EV_READ, 0);
    if (run_progress(&b, start, &sigs) < 0)
        goto stop;
    for (int i = 0; i < started; i++)
        pthread_join(b.workers[i].thread, NULL);
    started = 0;

    totals_t tot;
    totals_collect(&b, &tot, start);
    if (b.cfg.verify) {
        if (!b.cfg.json)
            fprintf(stderr, "hocvu-bench: verifying (waiting %.1f s for the read snapshot)\n",
                    BENCH_STALENESS_US / 1e6);
        verify_run(&b, &vr);
        verified = true;
    }
    if (b.cfg.json)
        print_json(&b, &tot, verified ? &vr : NULL);
    else
        print_human(&b, &tot, verified ? &vr : NULL);
    rc = 0;
    if (verified && strcmp(vr.result, "ok") != 0)
        rc = 1;
    if (verified && anomalies(&tot.st))
        rc = 1;
    goto done;

stop:
    for (int i = 0; i < started; i++)
        event_active(b.workers[i].stop_ev, EV_READ, 0);
    for (int i = 0; i < started; i++)
        pthread_join(b.workers[i].thread, NULL);
    rc = 1;

done:
    for (int i = 0; i < b.nworkers && b.workers; i++)
        worker_free(&b.workers[i]);
    free(b.workers);
    free(b.wards.code);
    free(b.wards.cum);
    counts_free(&vr.base);
    counts_free(&vr.after);
    free(vr.exp.w_adults);
    free(vr.exp.w_total);
    hv_buf_free(&vr.diff);
    hv_buf_free(&vr.json_diff);
    return rc;
}
