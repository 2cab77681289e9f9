/*
 * test_config.c - unit tests for the reload rules of config.c: the option table alone decides
 * which changed settings SIGHUP applies and which are reported as needing a restart, whether a
 * value comes from the environment, the config file or a flag; the per-setting fingerprints
 * never hold a secret in clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hocvu/config.h"

extern char **environ;

/* Test values made up at start-up (random, so nothing in the struct can match by accident):
 * a valid "whsec_<base64>" secret, a second one, and a 48-character pepper. */
static char secret[64], secret2[64], pepper[49];

static void make_values(void)
{
    uint8_t raw[24];
    char *outs[] = {secret, secret2};

    for (size_t k = 0; k < HV_ARRAY_LEN(outs); k++) {
        CHECK(getentropy(raw, sizeof(raw)) == 0);
        memcpy(outs[k], "whsec_", 6);
        hv_b64_encode(raw, sizeof(raw), outs[k] + 6);
    }
    CHECK(getentropy(raw, sizeof(raw)) == 0);
    hv_hex_encode(raw, sizeof(raw), pepper);
}

/* Clears every HOCVU_* variable, then sets the two required settings. */
static void base_env(void)
{
    char *names[256];
    size_t n = 0;

    for (char **e = environ; *e && n < HV_ARRAY_LEN(names); e++)
        if (strncmp(*e, "HOCVU_", 6) == 0)
            names[n++] = hv_xstrndup(*e, strcspn(*e, "="));
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
    setenv("HOCVU_WEBHOOK_SECRETS", secret, 1);
    setenv("HOCVU_ID_PEPPER", pepper, 1);
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

/* Loads the base, then the base with var set to value, and compares. */
static int changed(const char *var, const char *value, char *names, size_t n)
{
    hv_config_t a, b;
    int k = -1;

    names[0] = '\0';
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
    char two_secrets[160];

    snprintf(two_secrets, sizeof(two_secrets), "%s %s", secret, secret2);
    const struct {
        const char *var, *value;
        bool reloadable;
    } cases[] = {
        {"HOCVU_WEBHOOK_SECRETS", two_secrets, true},
        {"HOCVU_WEBHOOK_SECRETS", secret2, true},
        {"HOCVU_READ_TOKENS", "tok-a tok-b", true},
        {"HOCVU_TIMESTAMP_TOLERANCE", "60", true},
        {"HOCVU_RATE_LIMIT", "100", true},
        {"HOCVU_RATE_BURST", "50", true},
        {"HOCVU_LOG_LEVEL", "debug", true},
        {"HOCVU_LISTEN", "127.0.0.1:9999", false},
        {"HOCVU_DATABASE_URL", "postgresql:///other", false},
        {"HOCVU_READ_DATABASE_URL", "postgresql:///replica", false},
        {"HOCVU_REDIS_URL", "redis://127.0.0.1:6380/1", false},
        {"HOCVU_ID_PEPPER", "another-pepper-another-pepper-another-pepper", false},
        {"HOCVU_TARGET", "80000", false},
        {"HOCVU_THREADS", "3", false},
        {"HOCVU_BATCH_MAX", "10", false},
        {"HOCVU_SNAPSHOT_INTERVAL_MS", "100", false},
        {"HOCVU_HTTP_TIMEOUT", "5", false},
        {"HOCVU_QUEUE_MAX", "64", false},
        {"HOCVU_DEADLINE_MS", "2000", false},
    };
    for (size_t i = 0; i < HV_ARRAY_LEN(cases); i++) {
        char names[512];
        int k = changed(cases[i].var, cases[i].value, names, sizeof(names));
        CHECK_MSG(hv_config_reloadable(cases[i].var) == cases[i].reloadable, "%s", cases[i].var);
        if (cases[i].reloadable) {
            CHECK_MSG(k == 0 && names[0] == '\0', "%s: %d (%s)", cases[i].var, k, names);
        } else {
            CHECK_MSG(k == 1 && strcmp(names, cases[i].var) == 0, "%s: %d (%s)", cases[i].var, k,
                      names);
        }
    }
    CHECK(!hv_config_reloadable("HOCVU_TLS_CERT"));
    CHECK(!hv_config_reloadable("HOCVU_TLS_KEY"));
    CHECK(!hv_config_reloadable("HOCVU_CONFIG_FILE"));
    CHECK(!hv_config_reloadable("HOCVU_NO_SUCH"));
    CHECK(!hv_config_reloadable(""));

    /* The list for help and logs: exactly the reloadable settings, in table order. */
    const char *list = hv_config_reloadable_list();
    CHECK_STR(list, "HOCVU_WEBHOOK_SECRETS, HOCVU_READ_TOKENS, HOCVU_ADMIN_TOKENS, "
                    "HOCVU_TIMESTAMP_TOLERANCE, HOCVU_LOG_LEVEL, HOCVU_RATE_LIMIT, "
                    "HOCVU_RATE_BURST");
    CHECK(hv_config_reloadable_list() == list);
}

static void test_sources(void)
{
    hv_config_t a, b;
    char names[512];

    /* Nothing changed: nothing to report. */
    base_env();
    CHECK(load(&a, NULL) && load(&b, NULL));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0 && names[0] == '\0');
    hv_config_free(&b);

    /* A flag that repeats the default is no change; two changes are listed in table order,
     * whichever order the flags came in. */
    char *same[] = {"hocvud", "--listen", "127.0.0.1:8080", NULL};
    CHECK(load(&b, same));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    char *two[] = {"hocvud", "--database-url=postgresql:///elsewhere", "--listen", "127.0.0.1:1",
                   NULL};
    CHECK(load(&b, two));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 2);
    CHECK_STR(names, "HOCVU_LISTEN, HOCVU_DATABASE_URL");
    /* A short buffer is cut, never overrun; the count stays right. */
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    CHECK(hv_config_restart_needed(&a, &b, tiny, sizeof(tiny)) == 2);
    CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
    CHECK(strncmp(tiny, "HOCVU_LISTEN", strlen(tiny)) == 0);
    CHECK(hv_config_restart_needed(&a, &b, NULL, 0) == 2);
    hv_config_free(&b);
    char *mixed[] = {"hocvud", "--http-timeout=9", "--rate-limit", "3", "--log-level=warn", NULL};
    CHECK(load(&b, mixed));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 1);
    CHECK_STR(names, "HOCVU_HTTP_TIMEOUT");
    hv_config_free(&b);

    /* The default written out is no change; values are compared as written, not as parsed,
     * so "01000" is reported although it is the same number. */
    setenv("HOCVU_BATCH_MAX", "1000", 1);
    CHECK(load(&b, NULL));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    setenv("HOCVU_BATCH_MAX", "01000", 1);
    CHECK(load(&b, NULL));
    CHECK(b.batch_max == a.batch_max);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 1);
    CHECK_STR(names, "HOCVU_BATCH_MAX");
    hv_config_free(&b);
    hv_config_free(&a);

    /* The effective value counts, wherever it came from: a flag that overrides a changed
     * environment value with the running one is no change, and one that overrides the running
     * value in the environment is. */
    base_env();
    setenv("HOCVU_HTTP_TIMEOUT", "9", 1);
    CHECK(load(&a, NULL));
    setenv("HOCVU_HTTP_TIMEOUT", "5", 1);
    char *back[] = {"hocvud", "--http-timeout", "9", NULL};
    CHECK(load(&b, back));
    CHECK(b.http_timeout == 9);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    setenv("HOCVU_HTTP_TIMEOUT", "9", 1);
    char *over[] = {"hocvud", "--http-timeout=5", NULL};
    CHECK(load(&b, over));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 1);
    CHECK_STR(names, "HOCVU_HTTP_TIMEOUT");
    hv_config_free(&b);
    hv_config_free(&a);
}

/* Writes text to a new temporary file whose name goes to path (a mkstemp template). */
static void write_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

static void rewrite_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_config_file(void)
{
    hv_config_t a, b;
    char names[512], path[] = "/tmp/hocvu-test-config-XXXXXX",
                     path2[] = "/tmp/hocvu-test-config-XXXXXX";

    /* Settings from the config file count like any other source: what SIGHUP re-reads is
     * compared with what is running. */
    write_file(path, "HOCVU_RATE_LIMIT=5\n");
    base_env();
    setenv("HOCVU_CONFIG_FILE", path, 1);
    CHECK(load(&a, NULL));
    CHECK(a.rate_limit == 5);
    rewrite_file(path, "HOCVU_RATE_LIMIT=7\nHOCVU_LOG_LEVEL=debug\n");
    CHECK(load(&b, NULL));
    CHECK(b.rate_limit == 7);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    rewrite_file(path, "HOCVU_RATE_LIMIT=7\nHOCVU_TARGET=123\n# a comment\nHOCVU_BATCH_MAX='20'\n");
    CHECK(load(&b, NULL));
    CHECK(b.rate_limit == 7 && b.target == 123 && b.batch_max == 20);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 2);
    CHECK_STR(names, "HOCVU_TARGET, HOCVU_BATCH_MAX");
    hv_config_free(&b);

    /* The file's value beats the environment; a flag beats the file. */
    rewrite_file(path, "HOCVU_RATE_LIMIT=5\nHOCVU_HTTP_TIMEOUT=12\n");
    setenv("HOCVU_HTTP_TIMEOUT", "40", 1);
    CHECK(load(&b, NULL));
    CHECK(b.http_timeout == 12);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 1);
    CHECK_STR(names, "HOCVU_HTTP_TIMEOUT");
    hv_config_free(&b);
    char *flag[] = {"hocvud", "--http-timeout=30", NULL};
    CHECK(load(&b, flag));
    CHECK(b.http_timeout == 30);
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 0);
    hv_config_free(&b);
    unsetenv("HOCVU_HTTP_TIMEOUT");

    /* The file's own path cannot change on SIGHUP: another file, same content, is reported. */
    write_file(path2, "HOCVU_RATE_LIMIT=5\n");
    char *other[] = {"hocvud", "--config", path2, NULL};
    CHECK(load(&b, other));
    CHECK(hv_config_restart_needed(&a, &b, names, sizeof(names)) == 1);
    CHECK_STR(names, "HOCVU_CONFIG_FILE");
    hv_config_free(&b);
    hv_config_free(&a);
    unlink(path);
    unlink(path2);
}

static void test_no_secret_in_clear(void)
{
    hv_config_t a;

    base_env();
    CHECK(load(&a, NULL));
    /* The pepper lives in its own allocation (which must hold it, or this test proves
     * nothing); the struct, fingerprints included, holds neither it nor the webhook secret's
     * text. */
    CHECK(a.id_pepper_len == strlen(pepper) && memcmp(a.id_pepper, pepper, a.id_pepper_len) == 0);
    CHECK(memmem(&a, sizeof(a), pepper, strlen(pepper)) == NULL);
    CHECK(memmem(&a, sizeof(a), pepper, 16) == NULL);
    CHECK(memmem(&a, sizeof(a), secret, strlen(secret)) == NULL);
    CHECK(memmem(&a, sizeof(a), secret + 6, strlen(secret) - 6) == NULL);
    CHECK(memmem(a.fp, sizeof(a.fp), pepper, 8) == NULL);
    CHECK(memmem(a.fp, sizeof(a.fp), secret + 6, 8) == NULL);

    /* Each setting has its own fingerprint: the rows are not all alike. */
    int same_rows = 0;
    for (int i = 1; i < HV_CONFIG_N_SETTINGS; i++)
        same_rows += memcmp(a.fp[i], a.fp[0], HV_CONFIG_FP_LEN) == 0;
    CHECK(same_rows < HV_CONFIG_N_SETTINGS - 1);

    /* Freeing wipes the fingerprints with the rest. */
    hv_config_free(&a);
    for (int i = 0; i < HV_CONFIG_N_SETTINGS; i++) {
        static const uint8_t zero[HV_CONFIG_FP_LEN];
        CHECK(memcmp(a.fp[i], zero, HV_CONFIG_FP_LEN) == 0);
    }
}

int main(void)
{
    make_values();
    test_each_setting();
    test_sources();
    test_config_file();
    test_no_secret_in_clear();
    CHECK_DONE();
}
