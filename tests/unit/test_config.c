/*
 * test_config.c - unit tests for the reload rules of config.c: the option table alone decides
 * which changed settings SIGHUP applies and which are reported as needing a restart, whether a
 * value comes from the environment, the config file or a flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hocvu/config.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define PEPPER "test-pepper-test-pepper-test-pepper-0"

static const char *const all_vars[] = {
    "HOCVU_LISTEN",      "HOCVU_DATABASE_URL",    "HOCVU_READ_DATABASE_URL",
    "HOCVU_REDIS_URL",   "HOCVU_WEBHOOK_SECRETS", "HOCVU_ID_PEPPER",
    "HOCVU_TARGET",      "HOCVU_READ_TOKENS",     "HOCVU_TIMESTAMP_TOLERANCE",
    "HOCVU_THREADS",     "HOCVU_BATCH_MAX",       "HOCVU_SNAPSHOT_INTERVAL_MS",
    "HOCVU_LOG_LEVEL",   "HOCVU_TLS_CERT",        "HOCVU_TLS_KEY",
    "HOCVU_RATE_LIMIT",  "HOCVU_RATE_BURST",      "HOCVU_HTTP_TIMEOUT",
    "HOCVU_CONFIG_FILE",
};

static void base_env(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(all_vars); i++)
        unsetenv(all_vars[i]);
    setenv("HOCVU_WEBHOOK_SECRETS", SECRET, 1);
    setenv("HOCVU_ID_PEPPER", PEPPER, 1);
}

/* Loads a configuration from the current environment and argv (NULL-terminated). */
static bool load(hv_config_t *cfg, char **argv)
{
    char err[256];
    int argc = 0;
    while (argv && argv[argc])
        argc++;
    hv_config_status_t st = hv_config_load(cfg, argc, argv, err, sizeof(err));
    CHECK_MSG(st == HV_CONFIG_OK, "load failed: %s", err);
    return st == HV_CONFIG_OK;
}

/* Loads the base, then the base with one change applied by `change`, and compares. */
static int changed(const char *var, const char *value, char *names, size_t n)
{
    hv_config_t a, b;
    int k = -1;

    base_env();
    if (!load(&a, NULL))
        return -1;
    setenv(var, value, 1);
    if (load(&b, NULL)) {
        k = hv_config_restart_needed(&a, &b, names, n);
        hv_config_free(&b);
    }
    hv_config_free(&a);
    return k;
}

static void test_each_setting(void)
{
    static const struct {
        const char *var, *value;
        bool reloadable;
    } cases[] = {
        {"HOCVU_WEBHOOK_SECRETS", SECRET " whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=", true},
        {"HOCVU_READ_TOKENS", "tok-a tok-b", true},
        {"HOCVU_TIMESTAMP_TOLERANCE", "60", true},
        {"HOCVU_RATE_LIMIT", "100", true},
        {"HOCVU_RATE_BURST", "50", true},
        {"HOCVU_LOG_LEVEL", "debug", true},
        {"HOCVU_LISTEN", "127.0.0.1:9999", false},
        {"HOCVU_DATABASE_URL", "postgresql:///other", false},
        {"HOCVU_READ_DATABASE_URL", "postgresql:///replica", false},
        {"HOCVU_REDIS_URL", "redis://127.0.0.1:6380/1", false},
        {"HOCVU_ID_PEPPER", PEPPER "-other", false},
        {"HOCVU_TARGET", "80000", false},
        {"HOCVU_THREADS", "3", false},
        {"HOCVU_BATCH_MAX", "10", false},
        {"HOCVU_SNAPSHOT_INTERVAL_MS", "100", false},
        {"HOCVU_HTTP_TIMEOUT", "5", false},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        char names[512];
        int k = changed(cases[i].var, cases[i].value, names, sizeof(names));
        CHECK(hv_config_reloadable(cases[i].var) == cases[i].reloadable);
        if (cases[i].reloadable) {
            CHECK_MSG(k == 0 && names[0] == '\0', "%s: %d (%s)", cases[i].var, k, names);
        } else {
            CHECK_MSG(k == 1 && strcmp(names, cases[i].var) == 0, "%s: %d (%s)", cases[i].var, k,
                      names);
        }
    }
    CHECK(!hv_config_reloadable("HOCVU_TLS_CERT"));
    CHECK(!hv_config_reloadable("HOCVU_CONFIG_FILE"));
    CHECK(!hv_config_reloadable("HOCVU_NO_SUCH"));
}

static void test_sources(void)
{
    hv_config_t a, b;
    char names[512], path[] = "/tmp/hocvu-test-config-XXXXXX";

    /* Nothing changed: nothing to report. */
    base_env();
    CHECK(load(&a, NULL) && load(&b, NULL));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0 && names[0] == '\0');
    hv_config_free(&b);

    /* A flag with the same value as the environment is no change; two changes are listed in
     * table order. */
    char *same[] = {"hocvud", "--listen", "127.0.0.1:8080", NULL};
    CHECK(load(&b, same));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    char *two[] = {"hocvud", "--http-timeout=9", "--listen", "127.0.0.1:1", NULL};
    CHECK(load(&b, two));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 2);
    CHECK_STR(names, "HOCVU_LISTEN, HOCVU_HTTP_TIMEOUT");
    /* A short buffer is cut, never overrun. */
    char tiny[8];
    CHECK(hv_config_restart_needed(&a, &b, tiny, sizeof(tiny)) == 2);
    CHECK(strlen(tiny) < sizeof(tiny));
    hv_config_free(&b);

    /* The default written out is no change; values are compared as written, so "01000" is. */
    setenv("HOCVU_BATCH_MAX", "1000", 1);
    CHECK(load(&b, NULL));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    setenv("HOCVU_BATCH_MAX", "01000", 1);
    CHECK(load(&b, NULL));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 1);
    CHECK_STR(names, "HOCVU_BATCH_MAX");
    hv_config_free(&b);
    hv_config_free(&a);

    /* Settings from the config file count like any other source. */
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "HOCVU_RATE_LIMIT=5\n");
    fclose(f);
    base_env();
    setenv("HOCVU_CONFIG_FILE", path, 1);
    CHECK(load(&a, NULL));
    CHECK(a.rate_limit == 5);
    f = fopen(path, "w");
    fprintf(f, "HOCVU_RATE_LIMIT=7\nHOCVU_TARGET=123\n# a comment\nHOCVU_BATCH_MAX='20'\n");
    fclose(f);
    CHECK(load(&b, NULL));
    CHECK(b.rate_limit == 7 && b.target == 123 && b.batch_max == 20);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 2);
    CHECK_STR(names, "HOCVU_TARGET, HOCVU_BATCH_MAX");
    hv_config_free(&b);
    hv_config_free(&a);
    unlink(path);
}

static void test_no_secret_in_clear(void)
{
    hv_config_t a;

    base_env();
    CHECK(load(&a, NULL));
    /* The pepper lives in its own allocation; the struct (fingerprints included) never holds
     * it, nor the webhook secret's text. */
    CHECK(memmem(&a, sizeof(a), PEPPER, strlen(PEPPER)) == NULL);
    CHECK(memmem(&a, sizeof(a), SECRET, strlen(SECRET)) == NULL);
    hv_config_free(&a);
}

int main(void)
{
    test_each_setting();
    test_sources();
    test_no_secret_in_clear();
    CHECK_DONE();
}
