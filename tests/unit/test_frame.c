/*
 * test_frame.c - the framing guard against a table of raw requests: what is forwarded, what is
 * refused with which status, fed whole and one byte at a time (the two must agree).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hocvu/frame.h"

#define HEAD_MAX 4096

/* The routes of the daemon in miniature: two take bodies, nothing else does. */
static size_t limit_of(const char *method, const char *path, void *arg)
{
    (void)method;
    (void)arg;
    if (strcmp(path, "/v1/events") == 0)
        return 64;
    if (strcmp(path, "/v1/events/batch") == 0)
        return 1000;
    return 0;
}

typedef struct {
    char out[8192];
    size_t out_len;
    int requests; /* complete requests */
    int heads;    /* HV_FRAME_HEAD events */
    int status;   /* refusal, 0 = none */
    const char *reason;
    bool continue_wanted;
} result_t;

/* Feeds `in` in pieces of `step` bytes (0 = all at once), the way the front does. */
static result_t run(const char *in, size_t len, size_t step)
{
    result_t r = {0};
    hv_frame_t f;
    size_t off = 0;

    hv_frame_init(&f, HEAD_MAX, limit_of, NULL);
    while (off < len && !r.status) {
        size_t n = step && len - off > step ? step : len - off;
        const uint8_t *p = (const uint8_t *)in + off;
        size_t done = 0;
        while (done < n && !r.status) {
            hv_frame_step_t st = hv_frame_feed(&f, p + done, n - done);
            if (st.keep && r.out_len + st.used < sizeof(r.out)) {
                memcpy(r.out + r.out_len, p + done, st.used);
                r.out_len += st.used;
            }
            done += st.used;
            switch (st.event) {
            case HV_FRAME_HEAD:
                r.heads++;
                r.continue_wanted = hv_frame_wants_continue(&f);
                break;
            case HV_FRAME_CHUNK:
                r.out_len += hv_frame_chunk_line(&f, r.out + r.out_len);
                break;
            case HV_FRAME_DONE:
                r.requests++;
                break;
            case HV_FRAME_REFUSE:
                r.status = f.status;
                r.reason = f.reason;
                break;
            case HV_FRAME_MORE:
                break;
            }
        }
        off += n;
    }
    r.out[r.out_len] = '\0';
    return r;
}

typedef struct {
    const char *name;
    const char *in;
    int status;      /* expected refusal, 0 = accepted */
    int requests;    /* complete requests expected (before any refusal) */
    const char *out; /* expected forwarded bytes, NULL = same as in */
} case_t;

#define H "Host: x\r\n"

static const case_t cases[] = {
    {"simple GET", "GET /healthz HTTP/1.1\r\n" H "\r\n", 0, 1, NULL},
    {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 0, 1, NULL},
    {"two pipelined", "GET /a HTTP/1.1\r\n" H "\r\nGET /b HTTP/1.1\r\n" H "\r\n", 0, 2, NULL},
    {"empty lines before a request are dropped", "\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", 0, 1,
     "GET / HTTP/1.1\r\n" H "\r\n"},
    {"POST with a body", "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello", 0, 1,
     NULL},
    {"POST with Content-Length 0 on a bodiless route",
     "POST /healthz HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", 0, 1, NULL},
    {"GET with Content-Length 0", "GET / HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", 0, 1, NULL},
    {"Content-Length with OWS", "POST /v1/events HTTP/1.1\r\n" H "Content-Length:  2 \t\r\n\r\nhi",
     0, 1, NULL},
    {"body at the limit",
     "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 64\r\n\r\n"
     "0123456789012345678901234567890123456789012345678901234567890123",
     0, 1, NULL},
    {"query string does not change the route",
     "POST /v1/events?x=1 HTTP/1.1\r\n" H "Content-Length: 2\r\n\r\nhi", 0, 1, NULL},
    {"chunked",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     0, 1, NULL},
    {"chunked, case-insensitive coding",
     "POST /v1/events HTTP/1.1\r\n" H "transfer-encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 0,
     1, NULL},
    {"chunk extensions are accepted and not forwarded",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "5;name=value;q=\"a b\"\r\nhello\r\n0 ; last\r\n\r\n",
     0, 1,
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
    {"upper-case hex and leading zeros are normalised",
     "POST /v1/events/batch HTTP/1.1\r\n" H
     "Transfer-Encoding: chunked\r\n\r\n00A\r\n0123456789\r\n0\r\n\r\n",
     0, 1,
     "POST /v1/events/batch HTTP/1.1\r\n" H
     "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"},
    {"trailers are dropped",
     "POST /v1/events HTTP/1.1\r\n" H
     "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n",
     0, 1,
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"},
    {"chunked then pipelined GET",
     "POST /v1/events HTTP/1.1\r\n" H
     "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n",
     0, 2, NULL},
    {"obs-text in a value", "GET / HTTP/1.1\r\n" H "X-Name: Th\xc6\xa1\r\n\r\n", 0, 1, NULL},
    {"long unrelated header value",
     "GET / HTTP/1.1\r\n" H "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 0,
     1, NULL},
    {"Expect: 100-continue",
     "POST /v1/events HTTP/1.1\r\n" H "Expect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 0, 1,
     NULL},

    /* smuggling and malformed framing: 400 */
    {"two Content-Length",
     "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
     0, NULL},
    {"two equal Content-Length",
     "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, 0,
     NULL},
    {"Content-Length list", "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\nhello",
     400, 0, NULL},
    {"signed Content-Length", "POST /v1/events HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\nhello",
     400, 0, NULL},
    {"negative Content-Length", "POST /v1/events HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400,
     0, NULL},
    {"hex Content-Length", "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 0x5\r\n\r\nhello", 400,
     0, NULL},
    {"empty Content-Length", "POST /v1/events HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400, 0,
     NULL},
    {"huge Content-Length",
     "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n", 400, 0, NULL},
    {"Content-Length and Transfer-Encoding",
     "POST /v1/events HTTP/1.1\r\n" H
     "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, 0, NULL},
    {"Transfer-Encoding twice",
     "POST /v1/events HTTP/1.1\r\n" H
     "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, 0, NULL},
    {"Transfer-Encoding on HTTP/1.0",
     "POST /v1/events HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0, NULL},
    {"obs-fold", "GET / HTTP/1.1\r\n" H "X-A: 1\r\n  folded\r\n\r\n", 400, 0, NULL},
    {"obs-fold with a tab", "GET / HTTP/1.1\r\n" H "X-A: 1\r\n\tfolded\r\n\r\n", 400, 0, NULL},
    {"space before the colon", "GET / HTTP/1.1\r\n" H "Content-Length : 5\r\n\r\n", 400, 0, NULL},
    {"NUL in a value", "GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n", 400, 0, NULL},
    {"ESC in a value", "GET / HTTP/1.1\r\n" H "X-A: \x1b[31m\r\n\r\n", 400, 0, NULL},
    {"DEL in a value", "GET / HTTP/1.1\r\n" H "X-A: a\x7f\r\n\r\n", 400, 0, NULL},
    {"bare LF line ending", "GET / HTTP/1.1\n" H "\n", 400, 0, NULL},
    {"bare CR in a value", "GET / HTTP/1.1\r\n" H "X-A: a\rb\r\n\r\n", 400, 0, NULL},
    {"bare LF in a value", "GET / HTTP/1.1\r\n" H "X-A: a\nb: c\r\n\r\n", 400, 0, NULL},
    {"field without a colon", "GET / HTTP/1.1\r\n" H "nocolon\r\n\r\n", 400, 0, NULL},
    {"Host missing on HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, 0, NULL},
    {"Host twice", "GET / HTTP/1.1\r\n" H H "\r\n", 400, 0, NULL},
    {"two spaces in the request line", "GET  / HTTP/1.1\r\n" H "\r\n", 400, 0, NULL},
    {"control byte in the target", "GET /a\x01 HTTP/1.1\r\n" H "\r\n", 400, 0, NULL},
    {"lower-case version", "GET / http/1.1\r\n" H "\r\n", 400, 0, NULL},
    {"request line without a version", "GET /\r\n" H "\r\n", 400, 0, NULL},
    {"malformed chunk size",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, 0, NULL},
    {"signed chunk size",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
     400, 0, NULL},
    {"empty chunk size", "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n\r\n",
     400, 0, NULL},
    {"chunk size with trailing space only",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
     400, 0, NULL},
    {"chunk data longer than its size",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
     400, 0, NULL},
    {"control byte in a chunk extension",
     "POST /v1/events HTTP/1.1\r\n" H
     "Transfer-Encoding: chunked\r\n\r\n2;a\x01\r\nhi\r\n0\r\n\r\n",
     400, 0, NULL},
    {"obs-fold in a trailer",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n 2\r\n\r\n",
     400, 0, NULL},
    {"good request, then a smuggled one",
     "GET / HTTP/1.1\r\n" H "\r\nPOST /v1/events HTTP/1.1\r\n" H
     "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     400, 1, NULL},

    /* sizes: 413 / 414 / 431 */
    {"body over the route's limit", "POST /v1/events HTTP/1.1\r\n" H "Content-Length: 65\r\n\r\n",
     413, 0, NULL},
    {"body on a bodiless route", "POST /healthz HTTP/1.1\r\n" H "Content-Length: 1\r\n\r\nx", 413,
     0, NULL},
    {"body on GET", "GET /v1/events HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello", 413, 0, NULL},
    {"chunked body on GET", "GET / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     413, 0, NULL},
    {"chunked over the limit in one chunk",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n41\r\n", 413, 0, NULL},
    {"chunked over the limit in sum",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "20\r\n01234567890123456789012345678901\r\n20\r\n01234567890123456789012345678901\r\n1\r\n",
     413, 0, NULL},
    {"chunk size with many digits",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
     413, 0, NULL},
    {"too many leading zeros",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\n",
     400, 0, NULL},

    /* semantics the front refuses itself */
    {"Expect other than 100-continue",
     "POST /v1/events HTTP/1.1\r\n" H "Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417, 0, NULL},
    {"unknown method", "BREW / HTTP/1.1\r\n" H "\r\n", 501, 0, NULL},
    {"TRACE", "TRACE / HTTP/1.1\r\n" H "\r\n", 501, 0, NULL},
    {"transfer coding gzip",
     "POST /v1/events HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, 0, NULL},
    {"HTTP/2.0 request line", "GET / HTTP/2.0\r\n" H "\r\n", 505, 0, NULL},
};

/* The whole input, as a length: the table's strings may hold NUL. */
static size_t case_len(const case_t *c)
{
    /* Only the NUL case embeds one; its literal is measured by hand. */
    if (strcmp(c->name, "NUL in a value") == 0)
        return sizeof("GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n") - 1;
    return strlen(c->in);
}

static void check_case(const case_t *c)
{
    size_t len = case_len(c);
    size_t steps[] = {0, 1, 2, 7};

    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        result_t r = run(c->in, len, steps[s]);
        CHECK_MSG(r.status == c->status, "%s (step %zu): status %d, want %d (%s)", c->name,
                  steps[s], r.status, c->status, r.reason ? r.reason : "-");
        CHECK_MSG(r.requests == c->requests, "%s (step %zu): %d requests, want %d", c->name,
                  steps[s], r.requests, c->requests);
        if (c->status == 0) {
            const char *want = c->out ? c->out : c->in;
            CHECK_MSG(r.out_len == strlen(want) && memcmp(r.out, want, r.out_len) == 0,
                      "%s (step %zu): forwarded \"%s\"", c->name, steps[s], r.out);
        } else {
            CHECK_MSG(r.reason && r.reason[0], "%s: a refusal says why", c->name);
        }
    }
}

/* After a refusal nothing more is read, and the refusal stays. */
static void test_refusal_is_final(void)
{
    hv_frame_t f;
    const char *bad = "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n";
    hv_frame_step_t st;
    size_t off = 0;

    hv_frame_init(&f, HEAD_MAX, limit_of, NULL);
    do {
        st = hv_frame_feed(&f, (const uint8_t *)bad + off, strlen(bad) - off);
        off += st.used;
    } while (st.event == HV_FRAME_MORE && off < strlen(bad));
    CHECK(st.event == HV_FRAME_REFUSE);
    st = hv_frame_feed(&f, (const uint8_t *)"GET / HTTP/1.1\r\n", 16);
    CHECK(st.event == HV_FRAME_REFUSE && st.used == 0);
}

/* The head limit counts the request line and every field. */
static void test_head_limit(void)
{
    char buf[HEAD_MAX + 200];
    int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(buf + n, 'a', HEAD_MAX);
    memcpy(buf + n + HEAD_MAX, "\r\n\r\n", 5);
    result_t r = run(buf, strlen(buf), 0);
    CHECK(r.status == 431);

    /* A target over HV_FRAME_TARGET_MAX is 414 even when the head limit is larger. */
    static char big[HV_FRAME_TARGET_MAX + 64];
    hv_frame_t f;
    n = snprintf(big, sizeof(big), "GET /");
    memset(big + n, 'a', HV_FRAME_TARGET_MAX);
    hv_frame_init(&f, 2 * HV_FRAME_TARGET_MAX, limit_of, NULL);
    hv_frame_step_t st = hv_frame_feed(&f, (const uint8_t *)big, (size_t)n + HV_FRAME_TARGET_MAX);
    CHECK(st.event == HV_FRAME_REFUSE && f.status == 414);

    /* 101 fields */
    char many[4096];
    size_t len = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < HV_FRAME_FIELDS_MAX; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "A%d: 1\r\n", i);
    len += (size_t)snprintf(many + len, sizeof(many) - len, "\r\n");
    r = run(many, len, 0);
    CHECK(r.status == 431);
}

/* The head event and what it tells the front: a body follows, 100-continue wanted. */
static void test_head_event(void)
{
    const char *req = "POST /v1/events/batch HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
                      "Content-Length: 3\r\n\r\n";
    result_t r = run(req, strlen(req), 0);
    CHECK(r.heads == 1 && r.requests == 0 && r.status == 0);
    CHECK(r.continue_wanted);

    req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    r = run(req, strlen(req), 0);
    CHECK(r.heads == 0 && r.requests == 1);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(&cases[i]);
    test_refusal_is_final();
    test_head_limit();
    test_head_event();
    CHECK_DONE();
}
