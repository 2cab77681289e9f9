/*
 * config.c - configuration from the environment, the config file and flags through one
 * declarative table (name, flag, kind, default, required, whether SIGHUP applies it); every value
 * is validated before the service starts, and the table alone says what a reload may change.
 */
#include "hocvu/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "hocvu/log.h"
#include "hocvu/version.h"

typedef enum opt_kind { OPT_STRING, OPT_SECRET, OPT_INT } opt_kind_t;

/* When a changed value takes effect. */
typedef enum opt_apply {
    APPLY_RESTART = 0, /* read once at start */
    APPLY_SIGHUP,      /* applied to the next request after SIGHUP (hv_worker_sync_live) */
} opt_apply_t;

typedef struct opt_def {
    const char *env;
    const char *flag;
    opt_kind_t kind;
    const char *def;    /* NULL = required */
    long long min, max; /* OPT_INT range */
    const char *help;
    opt_apply_t apply;
} opt_def_t;

enum {
    O_LISTEN,
    O_DATABASE_URL,
    O_READ_DATABASE_URL,
    O_REDIS_URL,
    O_WEBHOOK_SECRETS,
    O_ID_PEPPER,
    O_TARGET,
    O_READ_TOKENS,
    O_ADMIN_TOKENS,
    O_TIMESTAMP_TOLERANCE,
    O_THREADS,
    O_EVENT_WRITERS,
    O_BATCH_MAX,
    O_SNAPSHOT_INTERVAL_MS,
    O_LOG_LEVEL,
    O_TLS_CERT,
    O_TLS_KEY,
    O_RATE_LIMIT,
    O_RATE_BURST,
    O_HTTP_TIMEOUT,
    O_QUEUE_MAX,
    O_DEADLINE_MS,
    O_MAX_CONNECTIONS,
    O_BODY_BUDGET_MB,
    O_JURISDICTION,
    O_CONFIG_FILE,
    O_COUNT
};
_Static_assert(O_COUNT == HV_CONFIG_N_SETTINGS, "HV_CONFIG_N_SETTINGS must count opts[]");

static const opt_def_t opts[O_COUNT] = {
    [O_LISTEN] = {"HOCVU_LISTEN", "--listen", OPT_STRING, "127.0.0.1:8080", 0, 0,
                  "host:port to serve HTTP on"},
    [O_DATABASE_URL] = {"HOCVU_DATABASE_URL", "--database-url", OPT_SECRET, "postgresql:///hocvu",
                        0, 0, "libpq conninfo or URI of the primary"},
    [O_READ_DATABASE_URL] = {"HOCVU_READ_DATABASE_URL", "--read-database-url", OPT_SECRET, "", 0, 0,
                             "optional conninfo for reads (snapshot); default: the primary"},
    [O_REDIS_URL] = {"HOCVU_REDIS_URL", "--redis-url", OPT_SECRET, "redis://127.0.0.1:6379/0", 0, 0,
                     "redis://[:password@]host:port/db or unix:/path"},
    [O_WEBHOOK_SECRETS] = {"HOCVU_WEBHOOK_SECRETS", "--webhook-secrets", OPT_SECRET, NULL, 0, 0,
                           "space-separated whsec_ secrets; any one verifies (required)",
                           APPLY_SIGHUP},
    [O_ID_PEPPER] = {"HOCVU_ID_PEPPER", "--id-pepper", OPT_SECRET, NULL, 0, 0,
                     "key (>= 32 bytes) for pseudonymising citizen ids (required)"},
    [O_TARGET] = {"HOCVU_TARGET", "--target", OPT_INT, "996000", 1, 1000000000,
                  "city target of certified adults"},
    [O_READ_TOKENS] = {"HOCVU_READ_TOKENS", "--read-tokens", OPT_SECRET, "", 0, 0,
                       "space-separated bearer tokens for read APIs; empty = public", APPLY_SIGHUP},
    [O_ADMIN_TOKENS] = {"HOCVU_ADMIN_TOKENS", "--admin-tokens", OPT_SECRET, "", 0, 0,
                        "space-separated bearer tokens for the endpoints that name people or "
                        "certificates; they also pass every read check; empty = those are off",
                        APPLY_SIGHUP},
    [O_TIMESTAMP_TOLERANCE] = {"HOCVU_TIMESTAMP_TOLERANCE", "--timestamp-tolerance", OPT_INT, "300",
                               1, 86400, "seconds of allowed webhook-timestamp skew", APPLY_SIGHUP},
    [O_THREADS] = {"HOCVU_THREADS", "--threads", OPT_INT, "0", 0, 64,
                   "event-loop threads; 0 = one per CPU"},
    [O_EVENT_WRITERS] = {"HOCVU_EVENT_WRITERS", "--event-writers", OPT_INT, "1", 1, 64,
                         "how many of the loops' writers take the single events (POST /v1/events) "
                         "of every loop: fewer make larger transactions; batch lines use their "
                         "own loop's writer (at most HOCVU_THREADS)"},
    [O_BATCH_MAX] = {"HOCVU_BATCH_MAX", "--batch-max", OPT_INT, "1000", 1, 10000,
                     "most events per database transaction (group commit)"},
    [O_SNAPSHOT_INTERVAL_MS] = {"HOCVU_SNAPSHOT_INTERVAL_MS", "--snapshot-interval-ms", OPT_INT,
                                "500", 50, 1900, "read snapshot refresh interval"},
    [O_LOG_LEVEL] = {"HOCVU_LOG_LEVEL", "--log-level", OPT_STRING, "info", 0, 0,
                     "debug, info, warn or error", APPLY_SIGHUP},
    [O_TLS_CERT] = {"HOCVU_TLS_CERT", "--tls-cert", OPT_STRING, "", 0, 0,
                    "PEM certificate chain file: serve HTTPS instead of HTTP"},
    [O_TLS_KEY] = {"HOCVU_TLS_KEY", "--tls-key", OPT_STRING, "", 0, 0,
                   "PEM private key file for HOCVU_TLS_CERT"},
    [O_RATE_LIMIT] = {"HOCVU_RATE_LIMIT", "--rate-limit", OPT_INT, "0", 0, 10000000,
                      "ingest requests per second per client address; 0 = no limit", APPLY_SIGHUP},
    [O_RATE_BURST] = {"HOCVU_RATE_BURST", "--rate-burst", OPT_INT, "0", 0, 10000000,
                      "requests a client may send at once above the rate; 0 = one second's worth",
                      APPLY_SIGHUP},
    [O_HTTP_TIMEOUT] = {"HOCVU_HTTP_TIMEOUT", "--http-timeout", OPT_INT, "30", 1, 3600,
                        "seconds a request may take from its first byte to its last, and an "
                        "idle connection may stay open"},
    [O_QUEUE_MAX] = {"HOCVU_QUEUE_MAX", "--queue-max", OPT_INT, "20000", 1, 1000000,
                     "most events one event loop holds waiting for Redis or PostgreSQL; beyond "
                     "it ingest answers 503 overloaded"},
    [O_DEADLINE_MS] = {"HOCVU_DEADLINE_MS", "--deadline-ms", OPT_INT, "10000", 100, 120000,
                       "longest an event waits for the database: queued past it, 503 overloaded; "
                       "a transaction running past it is cancelled"},
    [O_MAX_CONNECTIONS] = {"HOCVU_MAX_CONNECTIONS", "--max-connections", OPT_INT, "1024", 1,
                           1000000,
                           "most open client connections of the process; beyond, a new "
                           "connection is answered 503 and closed"},
    [O_BODY_BUDGET_MB] = {"HOCVU_BODY_BUDGET_MB", "--body-budget-mb", OPT_INT, "128", 1, 65536,
                          "MiB of request bytes the process holds at once (bodies being read "
                          "or handled, across all connections); beyond, 503 and close"},
    [O_JURISDICTION] = {"HOCVU_JURISDICTION", "--jurisdiction", OPT_STRING, "Cần Thơ", 0, 0,
                        "the name the dashboard and the reports are titled with (a province, "
                        "city or commune)"},
    [O_CONFIG_FILE] = {"HOCVU_CONFIG_FILE", "--config-file", OPT_STRING, "", 0, 0,
                       "file of VAR=value lines applied over the environment; re-read on SIGHUP, "
                       "but a new path needs a restart (--config is an older spelling)"},
};

static void print_help(void)
{
    printf("usage: hocvud [--flag value | --flag=value]...\n\n"
           "hocvu: verifies signed certificate webhooks, counts each certified adult once per\n"
           "ward in PostgreSQL and serves progress APIs.\n\n"
           "Every setting is read from its environment variable; a flag of the same name wins.\n"
           "Secrets are better passed in the environment (flags are visible to other users).\n\n");
    for (int i = 0; i < O_COUNT; i++) {
        const opt_def_t *o = &opts[i];
        printf("  %-24s %-28s %s", o->flag, o->env, o->help);
        if (o->def && o->kind != OPT_SECRET && o->def[0])
            printf(" [default: %s]", o->def);
        if (o->apply == APPLY_SIGHUP)
            printf(" [SIGHUP applies it]");
        printf("\n");
    }
    printf("  %-24s %-28s %s\n  %-24s %-28s %s\n", "--help", "", "show this help", "--version", "",
           "show the version");
    printf("\nSIGHUP re-reads the config file and applies these settings to the next request:\n"
           "  %s\n"
           "A change to any other setting is logged as needing a restart.\n",
           hv_config_reloadable_list());
}

/* Finds the option a flag names. `arg` is "--flag" or "--flag=value"; *inline_val receives the
 * value after '=' or NULL. Returns the index or -1. */
static int find_flag(const char *arg, const char **inline_val)
{
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

    *inline_val = eq ? eq + 1 : NULL;
    /* The one alias: --config, the flag's name before it followed the rule (kept working). */
    if (n == 8 && strncmp(arg, "--config", 8) == 0)
        return O_CONFIG_FILE;
    for (int i = 0; i < O_COUNT; i++)
        if (strlen(opts[i].flag) == n && strncmp(arg, opts[i].flag, n) == 0)
            return i;
    return -1;
}

static int parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_listen(const char *s, hv_config_t *cfg)
{
    const char *colon = strrchr(s, ':');
    long long port;
    size_t hlen;

    if (!colon || colon == s)
        return -1;
    hlen = (size_t)(colon - s);
    if (s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']') { /* [::1]:8080 */
        s++;
        hlen -= 2;
    }
    if (hlen >= sizeof(cfg->listen_host) || parse_int(colon + 1, 1, 65535, &port) < 0)
        return -1;
    memcpy(cfg->listen_host, s, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (int)port;
    return 0;
}

int hv_redis_url_parse(const char *url, hv_redis_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "unix:", 5) == 0) {
        const char *path = url + 5, *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        long long db = 0;

        if (strncmp(path, "//", 2) == 0) { /* unix:///path */
            path += 2;
            n -= 2;
        }
        if (n == 0 || n >= sizeof(out->host) || path[0] != '/')
            return -1;
        if (q && (strncmp(q, "?db=", 4) != 0 || parse_int(q + 4, 0, 1024, &db) < 0))
            return -1;
        out->unix_socket = true;
        memcpy(out->host, path, n);
        out->db = (int)db;
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *p = url + 8, *at = strchr(p, '@'), *slash, *colon;
    if (at) {
        const char *pw = memchr(p, ':', (size_t)(at - p));
        if (pw) {
            size_t n = (size_t)(at - pw - 1);
            if (n >= sizeof(out->password))
                return -1;
            memcpy(out->password, pw + 1, n);
        }
        p = at + 1;
    }
    slash = strchr(p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    colon = memchr(p, ':', hostport);
    size_t hlen = colon ? (size_t)(colon - p) : hostport;
    if (hlen == 0 || hlen >= sizeof(out->host))
        return -1;
    memcpy(out->host, p, hlen);
    if (colon) {
        char port[8];
        long long v;
        size_t plen = hostport - hlen - 1;
        if (plen == 0 || plen >= sizeof(port))
            return -1;
        memcpy(port, colon + 1, plen);
        port[plen] = '\0';
        if (parse_int(port, 1, 65535, &v) < 0)
            return -1;
        out->port = (int)v;
    }
    if (slash && slash[1]) {
        long long db;
        if (parse_int(slash + 1, 0, 1024, &db) < 0)
            return -1;
        out->db = (int)db;
    }
    return 0;
}

/* Splits a space-separated token list into owned strings. Returns the count or -1 if too many. */
static int split_tokens(const char *s, char **out, int max)
{
    int n = 0;

    while (*s) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *start = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (n == max)
            return -1;
        out[n++] = hv_xstrndup(start, (size_t)(s - start));
    }
    return n;
}

static hv_config_status_t hv_config_load_with(hv_config_t *cfg, int argc, char **argv, char **owned,
                                              char *err, size_t errlen);

/* Reads a file of VAR=value lines (blank lines and '#' comments ignored, optional matching
 * quotes around the value) and applies every known variable to val[], storing the copies it
 * makes in owned[] (freed by the caller). Returns 0, or -1 with a line-numbered message. */
static int read_config_file(const char *path, const char **val, char **owned, char *err,
                            size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0, rc = -1;

    if (!f) {
        snprintf(err, errlen, "HOCVU_CONFIG_FILE: could not open %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *eq, *v;
        size_t n;
        int i;

        lineno++;
        n = strlen(p);
        if (n && p[n - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            goto failed;
        }
        while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
            p[--n] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected VAR=value", path, lineno);
            goto failed;
        }
        *eq = '\0';
        v = eq + 1;
        n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        for (i = 0; i < O_COUNT; i++)
            if (strcmp(p, opts[i].env) == 0)
                break;
        if (i == O_COUNT) {
            snprintf(err, errlen, "%s:%d: unknown setting %.64s", path, lineno, p);
            goto failed;
        }
        if (i == O_CONFIG_FILE)
            continue;
        free(owned[i]);
        owned[i] = hv_xstrdup(v);
        val[i] = owned[i];
    }
    rc = 0;
failed:
    fclose(f);
    return rc;
}

hv_config_status_t hv_config_load(hv_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    hv_config_status_t st;
    char *owned[O_COUNT] = {0};

    st = hv_config_load_with(cfg, argc, argv, owned, err, errlen);
    for (int i = 0; i < O_COUNT; i++) {
        if (owned[i])
            explicit_bzero(owned[i], strlen(owned[i]));
        free(owned[i]);
    }
    return st;
}

/* The body of hv_config_load: defaults, then the environment, then the config file, then the
 * flags. Strings read from the file live in owned[] until the caller frees them. */
static hv_config_status_t hv_config_load_with(hv_config_t *cfg, int argc, char **argv, char **owned,
                                              char *err, size_t errlen)
{
    const char *val[O_COUNT];
    long long v;

    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < O_COUNT; i++) {
        const char *e = getenv(opts[i].env);
        val[i] = e ? e : opts[i].def;
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            print_help();
            return HV_CONFIG_EXIT_OK;
        }
        if (strcmp(argv[a], "--version") == 0) {
            printf("hocvud %s\n", HOCVU_VERSION);
            return HV_CONFIG_EXIT_OK;
        }
    }
    /* The config file sits between the environment and the flags: find it first. */
    const char *file = val[O_CONFIG_FILE];
    for (int a = 1; a < argc; a++) {
        const char *inline_val;

        if (find_flag(argv[a], &inline_val) != O_CONFIG_FILE)
            continue;
        if (inline_val)
            file = inline_val;
        else if (a + 1 < argc)
            file = argv[a + 1];
    }
    if (file && file[0]) {
        cfg->config_file = hv_xstrdup(file);
        if (read_config_file(file, val, owned, err, errlen) < 0)
            goto failed;
    }
    for (int a = 1; a < argc; a++) {
        const char *inline_val;
        int i;

        i = find_flag(argv[a], &inline_val);
        if (i < 0) {
            snprintf(err, errlen, "unknown argument '%.64s' (see --help)", argv[a]);
            goto failed;
        }
        if (!inline_val) {
            if (a + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", opts[i].flag);
                goto failed;
            }
            inline_val = argv[++a];
        }
        val[i] = inline_val;
    }
    for (int i = 0; i < O_COUNT; i++) {
        const char *text = val[i] ? val[i] : "";
        SHA256((const unsigned char *)text, strlen(text), cfg->fp[i]);
    }
    for (int i = 0; i < O_COUNT; i++) {
        if (!val[i] || (opts[i].def == NULL && val[i][0] == '\0')) {
            snprintf(err, errlen, "%s is required (or %s)", opts[i].env, opts[i].flag);
            goto failed;
        }
    }

    if (parse_listen(val[O_LISTEN], cfg) < 0) {
        snprintf(err, errlen, "HOCVU_LISTEN must be host:port with a port of 1-65535");
        goto failed;
    }
    cfg->database_url = hv_xstrdup(val[O_DATABASE_URL]);
    cfg->read_database_url =
        hv_xstrdup(val[O_READ_DATABASE_URL][0] ? val[O_READ_DATABASE_URL] : val[O_DATABASE_URL]);
    cfg->redis_url = hv_xstrdup(val[O_REDIS_URL]);
    if (hv_redis_url_parse(val[O_REDIS_URL], &cfg->redis) < 0) {
        snprintf(err, errlen, "HOCVU_REDIS_URL must be redis://host:port/db or unix:/path");
        goto failed;
    }
    {
        char why[160];
        if (hv_sig_keys_parse(val[O_WEBHOOK_SECRETS], &cfg->webhook_keys, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s", why);
            goto failed;
        }
    }
    cfg->id_pepper_len = strlen(val[O_ID_PEPPER]);
    if (cfg->id_pepper_len < 32) {
        snprintf(err, errlen, "HOCVU_ID_PEPPER must be at least 32 bytes (it is %zu)",
                 cfg->id_pepper_len);
        goto failed;
    }
    cfg->id_pepper = hv_xmalloc(cfg->id_pepper_len);
    memcpy(cfg->id_pepper, val[O_ID_PEPPER], cfg->id_pepper_len);
    cfg->n_admin_tokens = split_tokens(val[O_ADMIN_TOKENS], cfg->admin_tokens, HV_MAX_READ_TOKENS);
    if (cfg->n_admin_tokens < 0) {
        cfg->n_admin_tokens = HV_MAX_READ_TOKENS;
        snprintf(err, errlen, "HOCVU_ADMIN_TOKENS holds more than %d tokens", HV_MAX_READ_TOKENS);
        goto failed;
    }
    cfg->n_read_tokens = split_tokens(val[O_READ_TOKENS], cfg->read_tokens, HV_MAX_READ_TOKENS);
    if (cfg->n_read_tokens < 0) {
        cfg->n_read_tokens = HV_MAX_READ_TOKENS;
        snprintf(err, errlen, "HOCVU_READ_TOKENS holds more than %d tokens", HV_MAX_READ_TOKENS);
        goto failed;
    }

    static const struct {
        int opt;
        size_t off;
    } ints[] = {
        {O_TARGET, offsetof(hv_config_t, target)},
        {O_TIMESTAMP_TOLERANCE, offsetof(hv_config_t, timestamp_tolerance)},
    };
    for (size_t k = 0; k < HV_ARRAY_LEN(ints); k++) {
        const opt_def_t *o = &opts[ints[k].opt];
        if (parse_int(val[ints[k].opt], o->min, o->max, &v) < 0) {
            snprintf(err, errlen, "%s must be an integer from %lld to %lld", o->env, o->min,
                     o->max);
            goto failed;
        }
        *(int64_t *)((char *)cfg + ints[k].off) = v;
    }
    static const struct {
        int opt;
        size_t off;
    } small_ints[] = {
        {O_THREADS, offsetof(hv_config_t, threads)},
        {O_EVENT_WRITERS, offsetof(hv_config_t, event_writers)},
        {O_BATCH_MAX, offsetof(hv_config_t, batch_max)},
        {O_SNAPSHOT_INTERVAL_MS, offsetof(hv_config_t, snapshot_interval_ms)},
        {O_RATE_LIMIT, offsetof(hv_config_t, rate_limit)},
        {O_RATE_BURST, offsetof(hv_config_t, rate_burst)},
        {O_HTTP_TIMEOUT, offsetof(hv_config_t, http_timeout)},
        {O_QUEUE_MAX, offsetof(hv_config_t, queue_max)},
        {O_DEADLINE_MS, offsetof(hv_config_t, deadline_ms)},
        {O_MAX_CONNECTIONS, offsetof(hv_config_t, max_connections)},
        {O_BODY_BUDGET_MB, offsetof(hv_config_t, body_budget_mb)},
    };
    for (size_t k = 0; k < HV_ARRAY_LEN(small_ints); k++) {
        const opt_def_t *o = &opts[small_ints[k].opt];
        if (parse_int(val[small_ints[k].opt], o->min, o->max, &v) < 0) {
            snprintf(err, errlen, "%s must be an integer from %lld to %lld", o->env, o->min,
                     o->max);
            goto failed;
        }
        *(int *)((char *)cfg + small_ints[k].off) = (int)v;
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n < 1 ? 1 : n > 16 ? 16 : (int)n;
    }
    if (cfg->event_writers > cfg->threads)
        cfg->event_writers = cfg->threads;
    if (cfg->rate_burst == 0)
        cfg->rate_burst = cfg->rate_limit;
    if ((val[O_TLS_CERT][0] != '\0') != (val[O_TLS_KEY][0] != '\0')) {
        snprintf(err, errlen, "HOCVU_TLS_CERT and HOCVU_TLS_KEY must be set together");
        goto failed;
    }
    if (val[O_TLS_CERT][0]) {
        cfg->tls_cert = hv_xstrdup(val[O_TLS_CERT]);
        cfg->tls_key = hv_xstrdup(val[O_TLS_KEY]);
    }
    {
        const char *jn = val[O_JURISDICTION];
        size_t jl = strlen(jn);
        bool ok = jl > 0 && jl <= 120;
        for (size_t i = 0; ok && i < jl; i++)
            ok = (unsigned char)jn[i] >= 0x20 && jn[i] != 0x7F;
        if (!ok || !hv_utf8_valid(jn, jl)) {
            snprintf(err, errlen,
                     "HOCVU_JURISDICTION must be 1-120 bytes of UTF-8 text without control "
                     "characters");
            goto failed;
        }
        cfg->jurisdiction = hv_xstrdup(jn);
    }
    cfg->log_level = hv_log_level_parse(val[O_LOG_LEVEL]);
    if (cfg->log_level < 0) {
        snprintf(err, errlen, "HOCVU_LOG_LEVEL must be debug, info, warn or error");
        goto failed;
    }
    return HV_CONFIG_OK;

failed:
    hv_config_free(cfg);
    return HV_CONFIG_ERROR;
}

/* Appends ", name" (or just name when it is the first) to out, cutting rather than overrunning
 * when out is short. *len is the text length so far, kept below outlen. */
static void append_name(char *out, size_t outlen, size_t *len, const char *name)
{
    if (outlen == 0 || *len >= outlen - 1)
        return;
    int w = snprintf(out + *len, outlen - *len, "%s%s", *len ? ", " : "", name);
    if (w > 0)
        *len += (size_t)w < outlen - *len ? (size_t)w : outlen - *len - 1;
}

int hv_config_restart_needed(const hv_config_t *running, const hv_config_t *next, char *out,
                             size_t outlen)
{
    int n = 0;
    size_t len = 0;

    if (outlen)
        out[0] = '\0';
    for (int i = 0; i < O_COUNT; i++) {
        if (opts[i].apply != APPLY_RESTART ||
            memcmp(running->fp[i], next->fp[i], HV_CONFIG_FP_LEN) == 0)
            continue;
        append_name(out, outlen, &len, opts[i].env);
        n++;
    }
    return n;
}

bool hv_config_reloadable(const char *env)
{
    for (int i = 0; i < O_COUNT; i++)
        if (strcmp(opts[i].env, env) == 0)
            return opts[i].apply == APPLY_SIGHUP;
    return false;
}

static char reloadable_names[O_COUNT * 40]; /* every name is under 38 bytes with its ", " */
static pthread_once_t reloadable_once = PTHREAD_ONCE_INIT;

static void build_reloadable_list(void)
{
    size_t len = 0;

    for (int i = 0; i < O_COUNT; i++)
        if (opts[i].apply == APPLY_SIGHUP)
            append_name(reloadable_names, sizeof(reloadable_names), &len, opts[i].env);
}

const char *hv_config_reloadable_list(void)
{
    pthread_once(&reloadable_once, build_reloadable_list);
    return reloadable_names;
}

void hv_config_free(hv_config_t *cfg)
{
    free(cfg->config_file);
    free(cfg->tls_cert);
    free(cfg->jurisdiction);
    free(cfg->tls_key);
    free(cfg->database_url);
    free(cfg->read_database_url);
    free(cfg->redis_url);
    if (cfg->id_pepper) {
        explicit_bzero(cfg->id_pepper, cfg->id_pepper_len);
        free(cfg->id_pepper);
    }
    for (int i = 0; i < cfg->n_read_tokens; i++)
        free(cfg->read_tokens[i]);
    for (int i = 0; i < cfg->n_admin_tokens; i++)
        free(cfg->admin_tokens[i]);
    explicit_bzero(&cfg->webhook_keys, sizeof(cfg->webhook_keys));
    memset(cfg, 0, sizeof(*cfg));
}
