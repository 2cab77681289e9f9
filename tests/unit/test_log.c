/*
 * test_log.c - unit tests for log.c: every logged value is logfmt-escaped, so a value holding
 * quotes, tabs, newlines, ANSI escapes, '=' or non-ASCII bytes can neither end its field nor
 * forge another field or line. stderr is captured in a temporary file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hocvu/log.h"

/* Runs one hv_log call with stderr sent to a file; returns what was written (static buffer). */
static const char *captured(void (*fn)(void))
{
    static char buf[4096];
    char path[] = "/tmp/hocvu-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    ssize_t n;

    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return buf;
}

static void forged_path(void)
{
    hv_log(HV_LOG_WARN, "request", "req=%s path=%s status=%d", "r-1",
           "/x\x1b[31mRED\tlevel=error\tmsg=\"forged\"\nts=0 level=error", 404);
}

static void quoted_error(void)
{
    hv_log(HV_LOG_ERROR, "database unavailable", "reason=%s n=%lld",
           "connection to server at \"127.0.0.1\", port 5432 failed: Phường \\", (long long)-7);
}

static void precision_and_plain(void)
{
    hv_log(HV_LOG_INFO, "batch", "error=%.*s plain=%s empty=%s size=%zu pct=%.1f", 5, "abcdefgh",
           "w0", "", (size_t)42, 12.25);
}

int main(void)
{
    hv_log_set_level(HV_LOG_DEBUG);
    const char *l = captured(forged_path);
    /* One line, and the value quoted with every control byte escaped. */
    CHECK(strchr(l, '\n') == l + strlen(l) - 1);
    CHECK(strstr(l, " level=warn msg=\"request\" req=r-1 path=\"/x\\x1b[31mRED\\x09level=error"
                    "\\x09msg=\\\"forged\\\"\\x0ats=0 level=error\" status=404\n") != NULL);
    CHECK_MSG(strstr(l, "level=error") == strstr(l, "\\x09level=error") + 4, "%s", l);

    l = captured(quoted_error);
    CHECK_MSG(strstr(l, " reason=\"connection to server at \\\"127.0.0.1\\\", port 5432 failed: "
                        "Ph\\xc6\\xb0\\xe1\\xbb\\x9dng \\\\\" n=-7\n") != NULL,
              "%s", l);

    l = captured(precision_and_plain);
    CHECK_MSG(
        strstr(l, " msg=\"batch\" error=abcde plain=w0 empty=\"\" size=42 pct=12.2") != NULL ||
            strstr(l, " msg=\"batch\" error=abcde plain=w0 empty=\"\" size=42 pct=12.3") != NULL,
        "%s", l);
    CHECK_DONE();
}
