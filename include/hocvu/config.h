/*
 * config.h - the immutable configuration snapshot: built once from the environment and the
 * command line (flags win), validated, then shared read-only by every thread.
 */
#ifndef HOCVU_CONFIG_H
#define HOCVU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/signature.h"
#include "hocvu/util.h"

#define HV_MAX_READ_TOKENS 32
#define HV_CONFIG_N_SETTINGS 26 /* rows of the option table in config.c */
#define HV_CONFIG_FP_LEN 32     /* SHA-256 */

typedef struct hv_redis_addr {
    bool unix_socket;
    char host[256]; /* host name, or socket path when unix_socket */
    int port;
    int db;
    char password[128]; /* empty if none */
} hv_redis_addr_t;

typedef struct hv_config {
    char listen_host[256];
    int listen_port;
    char *database_url;      /* owned */
    char *read_database_url; /* owned; defaults to database_url */
    char *redis_url;         /* owned, as given (for messages; password elided when logged) */
    hv_redis_addr_t redis;
    hv_sig_keys_t webhook_keys;
    uint8_t *id_pepper; /* owned */
    size_t id_pepper_len;
    int64_t target;
    int n_read_tokens;
    char *read_tokens[HV_MAX_READ_TOKENS]; /* owned */
    int n_admin_tokens;
    char *admin_tokens[HV_MAX_READ_TOKENS]; /* owned: HOCVU_ADMIN_TOKENS (CONTRACT §12) */
    int64_t timestamp_tolerance;
    int threads;
    int event_writers; /* writers that take every loop's single events; <= threads */
    int batch_max;     /* events per database transaction */
    int snapshot_interval_ms;
    int log_level;
    char *tls_cert, *tls_key; /* owned; NULL = plain HTTP */
    char *jurisdiction;       /* owned: HOCVU_JURISDICTION, shown on the dashboard and reports */
    int rate_limit;           /* ingest requests/s per client address; 0 = off */
    int rate_burst;
    int http_timeout;    /* seconds: whole-request deadline and idle keep-alive timeout */
    int queue_max;       /* events per event loop waiting for Redis or PostgreSQL */
    int max_connections; /* open client connections of the process */
    int body_budget_mb;  /* MiB of request bytes held at once, all connections */
    int deadline_ms;     /* longest an event waits in the writer queue / a batch runs */
    char *config_file;   /* owned; NULL if none */
    /* SHA-256 of each setting's effective text (after env, file and flag precedence), so two
     * configurations can be compared setting by setting without keeping secrets twice. */
    uint8_t fp[HV_CONFIG_N_SETTINGS][HV_CONFIG_FP_LEN];
} hv_config_t;

typedef enum hv_config_status {
    HV_CONFIG_OK = 0,
    HV_CONFIG_EXIT_OK, /* --help or --version was printed */
    HV_CONFIG_ERROR,   /* the message is in err */
} hv_config_status_t;

/* Builds the configuration from defaults, the environment, the optional config file
 * (HOCVU_CONFIG_FILE / --config: VAR=value lines) and argv, each overriding the previous. Prints
 * --help and
 * --version to stdout itself. On HV_CONFIG_ERROR, err holds one line naming the setting at
 * fault, never its value. The caller frees with hv_config_free(). */
hv_config_status_t hv_config_load(hv_config_t *cfg, int argc, char **argv, char *err,
                                  size_t errlen);
void hv_config_free(hv_config_t *cfg);

/* The option table says, per setting, whether SIGHUP applies it to a running service; these
 * are derived from it. */
/* Writes the names of the settings that differ between the running and the newly loaded
 * configuration but need a restart to apply, comma-separated in table order, into out ("" if
 * none). Values are compared as written: "2" and "02" differ. Returns how many. */
int hv_config_restart_needed(const hv_config_t *running, const hv_config_t *next, char *out,
                             size_t outlen);
/* True when SIGHUP applies the setting named by its environment variable. */
bool hv_config_reloadable(const char *env);
/* The reloadable settings' names, comma-separated in table order, for help and log text.
 * Static storage, built once; safe from any thread. */
const char *hv_config_reloadable_list(void);

/* Parses "redis://[:password@]host[:port][/db]" or "unix:/path[?db=N]". Returns 0 or -1. */
HV_MUST_CHECK int hv_redis_url_parse(const char *url, hv_redis_addr_t *out);

#endif
