/*
 * frame.c - strict HTTP/1.1 request framing (see frame.h). One byte-at-a-time state machine
 * for the head, chunk-size lines and trailers; bodies and chunk data are taken in one stretch.
 */
#include "hocvu/frame.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hocvu/util.h"

enum {
    S_START,    /* before a request: empty lines are skipped */
    S_START_LF, /* after an empty line's CR */
    S_METHOD,
    S_TARGET,
    S_VERSION,
    S_RL_LF, /* after the request line's CR */
    S_LINE,  /* at the start of a field line (or the blank line ending the section) */
    S_NAME,
    S_OWS, /* after the colon */
    S_VALUE,
    S_LF,     /* after a field line's CR */
    S_END_LF, /* after the blank line's CR */
    S_BODY,   /* Content-Length body */
    S_CSIZE,  /* chunk size, hex digits */
    S_CBWS,   /* whitespace after the size: only a chunk extension may follow */
    S_CEXT,   /* chunk extension, dropped */
    S_CSIZE_LF,
    S_CDATA,
    S_CDATA_CR,
    S_CDATA_LF,
    S_REFUSED,
};

#define MAX_BLANK_LINES 8

/* RFC 9110 tchar: the characters of a token (method, field name). */
static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

void hv_frame_init(hv_frame_t *f, size_t head_max, hv_frame_limit_fn limit_fn, void *arg)
{
    memset(f, 0, sizeof(*f));
    f->head_max = head_max;
    f->limit_fn = limit_fn;
    f->limit_arg = arg;
    f->state = S_START;
}

/* Forgets the previous request (its first byte has arrived). */
static void new_request(hv_frame_t *f)
{
    hv_frame_limit_fn fn = f->limit_fn;
    void *arg = f->limit_arg;
    size_t head_max = f->head_max;

    hv_frame_init(f, head_max, fn, arg);
}

static hv_frame_event_t refuse(hv_frame_t *f, int status, const char *reason)
{
    f->state = S_REFUSED;
    f->status = status;
    f->reason = reason;
    return HV_FRAME_REFUSE;
}

/* Whether the byte about to be read in the current state is forwarded. The head and the data
 * are; empty lines before a request, chunk-size lines and trailer fields are not, except the
 * CRLF that ends the trailer section (it ends the chunked body evhttp reads). */
static bool keeps(const hv_frame_t *f, uint8_t c)
{
    switch (f->state) {
    case S_START:
        return c != '\r';
    case S_START_LF:
    case S_CSIZE:
    case S_CBWS:
    case S_CEXT:
    case S_CSIZE_LF:
        return false;
    case S_LINE:
        return f->in_trailer ? c == '\r' : true;
    case S_END_LF:
        return true;
    default:
        return !f->in_trailer;
    }
}

static bool value_is(const hv_frame_t *f, const char *want)
{
    return !f->value_long && strcasecmp(f->value, want) == 0;
}

/* A field line is complete: note what framing depends on. */
static hv_frame_event_t field_done(hv_frame_t *f)
{
    f->value_len -= f->value_ws; /* trailing whitespace is not part of the value */

    f->value[f->value_len] = '\0';
    f->name[f->name_len] = '\0';
    if (f->in_trailer || f->name_long)
        return HV_FRAME_MORE;
    if (strcmp(f->name, "content-length") == 0) {
        if (f->has_cl)
            return refuse(f, 400, "Content-Length appears twice");
        f->has_cl = true;
        if (f->value_long || f->value_len == 0 || f->value_len > 18)
            return refuse(f, 400, "Content-Length is not a number");
        for (size_t i = 0; i < f->value_len; i++) {
            if (f->value[i] < '0' || f->value[i] > '9')
                return refuse(f, 400, "Content-Length is not a number");
            f->content_length = f->content_length * 10 + (uint64_t)(f->value[i] - '0');
        }
    } else if (strcmp(f->name, "transfer-encoding") == 0) {
        if (f->has_te)
            return refuse(f, 400, "Transfer-Encoding appears twice");
        f->has_te = true;
        f->te_chunked = value_is(f, "chunked");
    } else if (strcmp(f->name, "host") == 0) {
        if (f->has_host)
            return refuse(f, 400, "Host appears twice");
        f->has_host = true;
    } else if (strcmp(f->name, "expect") == 0) {
        f->has_expect = true;
        f->expect_continue = value_is(f, "100-continue");
    }
    return HV_FRAME_MORE;
}

static bool method_has_body(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static bool method_known(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

/* The blank line after the fields: decide how the body is framed, and whether it may come. */
static hv_frame_event_t head_done(hv_frame_t *f)
{
    if (f->has_te && f->minor == 0)
        return refuse(f, 400, "Transfer-Encoding on HTTP/1.0");
    if (f->has_te && f->has_cl)
        return refuse(f, 400, "both Content-Length and Transfer-Encoding");
    if (f->has_te && !f->te_chunked)
        return refuse(f, 501, "only the chunked transfer coding is supported");
    if (f->minor == 1 && !f->has_host)
        return refuse(f, 400, "Host is missing");
    if (f->has_expect && !f->expect_continue)
        return refuse(f, 417, "only Expect: 100-continue is supported");
    if (!method_known(f->method))
        return refuse(f, 501, "method not supported");
    f->path[f->path_len] = '\0';
    f->limit = method_has_body(f->method) && f->limit_fn
                   ? f->limit_fn(f->method, f->path_long ? "" : f->path, f->limit_arg)
                   : 0;
    if (f->has_te) {
        if (f->limit == 0)
            return refuse(f, 413, "this route takes no body");
        f->state = S_CSIZE;
        f->line_len = 0;
        return HV_FRAME_HEAD;
    }
    if (f->content_length > 0) {
        if (f->content_length > f->limit)
            return refuse(f, 413,
                          f->limit ? "body over the route's limit" : "this route takes no body");
        f->remaining = f->content_length;
        f->state = S_BODY;
        return HV_FRAME_HEAD;
    }
    f->state = S_START;
    return HV_FRAME_DONE;
}

static hv_frame_event_t version_done(hv_frame_t *f)
{
    const char *v = f->version;

    f->version[f->version_len] = '\0';
    if (strcmp(v, "HTTP/1.1") == 0)
        f->minor = 1;
    else if (strcmp(v, "HTTP/1.0") == 0)
        f->minor = 0;
    else if (f->version_len == 8 && strncmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
             v[6] == '.' && v[7] >= '0' && v[7] <= '9')
        return refuse(f, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    else
        return refuse(f, 400, "malformed request line");
    return HV_FRAME_MORE;
}

/* Field lines, shared by the head and the trailer section. */
static hv_frame_event_t field_byte(hv_frame_t *f, uint8_t c)
{
    switch (f->state) {
    case S_LINE:
        if (c == '\r') {
            f->state = S_END_LF;
        } else if (c == ' ' || c == '\t') {
            return refuse(f, 400, "obsolete line folding");
        } else if (is_tchar(c)) {
            if (++f->fields > HV_FRAME_FIELDS_MAX)
                return refuse(f, 431, "too many header fields");
            f->name_len = 0;
            f->name_long = false;
            f->name[f->name_len++] = (char)(c | ((c >= 'A' && c <= 'Z') ? 0x20 : 0));
            f->state = S_NAME;
        } else {
            return refuse(f, 400, "malformed header field");
        }
        return HV_FRAME_MORE;
    case S_NAME:
        if (c == ':') {
            f->value_len = 0;
            f->value_ws = 0;
            f->value_long = false;
            f->state = S_OWS;
        } else if (is_tchar(c)) {
            if (f->name_len < sizeof(f->name) - 1)
                f->name[f->name_len++] = (char)(c | ((c >= 'A' && c <= 'Z') ? 0x20 : 0));
            else
                f->name_long = true;
        } else {
            return refuse(f, 400, "malformed header field name");
        }
        return HV_FRAME_MORE;
    case S_OWS:
        if (c == ' ' || c == '\t')
            return HV_FRAME_MORE;
        f->state = S_VALUE;
        /* fall through */
    case S_VALUE:
        if (c == '\r') {
            f->state = S_LF;
        } else if (c == '\t' || (c >= 0x20 && c != 0x7F)) {
            if (f->value_len < sizeof(f->value) - 1) {
                f->value[f->value_len++] = (char)c;
                f->value_ws = (c == ' ' || c == '\t') ? f->value_ws + 1 : 0;
            } else {
                f->value_long = true;
            }
        } else {
            return refuse(f, 400, "control character in a header field");
        }
        return HV_FRAME_MORE;
    case S_LF:
        if (c != '\n')
            return refuse(f, 400, "CR without LF");
        f->state = S_LINE;
        return field_done(f);
    case S_END_LF:
        if (c != '\n')
            return refuse(f, 400, "CR without LF");
        if (f->in_trailer) {
            f->state = S_START;
            return HV_FRAME_DONE;
        }
        return head_done(f);
    default:
        return refuse(f, 400, "internal framing state");
    }
}

static hv_frame_event_t request_line_byte(hv_frame_t *f, uint8_t c)
{
    switch (f->state) {
    case S_METHOD:
        if (c == ' ') {
            if (f->method_len == 0)
                return refuse(f, 400, "malformed request line");
            f->method[f->method_len] = '\0';
            f->state = S_TARGET;
        } else if (is_tchar(c)) {
            if (f->method_len >= sizeof(f->method) - 1)
                return refuse(f, 501, "method not supported");
            f->method[f->method_len++] = (char)c;
        } else {
            return refuse(f, 400, "malformed request line");
        }
        return HV_FRAME_MORE;
    case S_TARGET:
        if (c == ' ') {
            if (f->target_len == 0)
                return refuse(f, 400, "malformed request line");
            f->state = S_VERSION;
        } else if (c > 0x20 && c < 0x7F) {
            if (++f->target_len > HV_FRAME_TARGET_MAX)
                return refuse(f, 414, "request target too long");
            if (c == '?' || c == '#')
                f->path_done = true;
            if (!f->path_done) {
                if (f->path_len < HV_FRAME_PATH_MAX)
                    f->path[f->path_len++] = (char)c;
                else
                    f->path_long = true;
            }
        } else {
            return refuse(f, 400, "malformed request target");
        }
        return HV_FRAME_MORE;
    case S_VERSION:
        if (c == '\r') {
            f->state = S_RL_LF;
            return version_done(f);
        }
        if (f->version_len >= 8 || c <= 0x20 || c >= 0x7F)
            return refuse(f, 400, "malformed request line");
        f->version[f->version_len++] = (char)c;
        return HV_FRAME_MORE;
    case S_RL_LF:
        if (c != '\n')
            return refuse(f, 400, "CR without LF");
        f->state = S_LINE;
        return HV_FRAME_MORE;
    default:
        return refuse(f, 400, "internal framing state");
    }
}

static hv_frame_event_t chunk_byte(hv_frame_t *f, uint8_t c)
{
    int d;

    if (f->state != S_CDATA_CR && f->state != S_CDATA_LF && ++f->line_len > HV_FRAME_CHUNK_LINE_MAX)
        return refuse(f, 400, "chunk-size line too long");
    switch (f->state) {
    case S_CSIZE:
        d = hv_hex_value(c);
        if (d >= 0) {
            if (++f->chunk_digits > 16)
                return refuse(f, 400, "malformed chunk size");
            f->chunk_size = f->chunk_size * 16 + (uint64_t)d;
            if (f->chunk_size > f->limit)
                return refuse(f, 413, "body over the route's limit");
            return HV_FRAME_MORE;
        }
        if (f->chunk_digits == 0)
            return refuse(f, 400, "malformed chunk size");
        if (c == ';')
            f->state = S_CEXT;
        else if (c == ' ' || c == '\t')
            f->state = S_CBWS;
        else if (c == '\r')
            f->state = S_CSIZE_LF;
        else
            return refuse(f, 400, "malformed chunk size");
        return HV_FRAME_MORE;
    case S_CBWS:
        if (c == ';')
            f->state = S_CEXT;
        else if (c != ' ' && c != '\t')
            return refuse(f, 400, "malformed chunk extension");
        return HV_FRAME_MORE;
    case S_CEXT:
        if (c == '\r')
            f->state = S_CSIZE_LF;
        else if (c != '\t' && (c < 0x20 || c == 0x7F))
            return refuse(f, 400, "control character in a chunk extension");
        return HV_FRAME_MORE;
    case S_CSIZE_LF:
        if (c != '\n')
            return refuse(f, 400, "CR without LF");
        if (f->body_len + f->chunk_size > f->limit)
            return refuse(f, 413, "body over the route's limit");
        f->body_len += f->chunk_size;
        if (f->chunk_size == 0) {
            f->in_trailer = true;
            f->state = S_LINE;
        } else {
            f->remaining = f->chunk_size;
            f->state = S_CDATA;
        }
        return HV_FRAME_CHUNK;
    case S_CDATA_CR:
        if (c != '\r')
            return refuse(f, 400, "chunk data longer than its size");
        f->state = S_CDATA_LF;
        return HV_FRAME_MORE;
    case S_CDATA_LF:
        if (c != '\n')
            return refuse(f, 400, "CR without LF");
        f->state = S_CSIZE;
        f->chunk_size = 0;
        f->chunk_digits = 0;
        f->line_len = 0;
        return HV_FRAME_MORE;
    default:
        return refuse(f, 400, "internal framing state");
    }
}

static hv_frame_event_t byte(hv_frame_t *f, uint8_t c)
{
    switch (f->state) {
    case S_START:
        if (c == '\r') {
            if (++f->blank_lines > MAX_BLANK_LINES)
                return refuse(f, 400, "too many empty lines");
            f->state = S_START_LF;
            return HV_FRAME_MORE;
        }
        new_request(f);
        f->state = S_METHOD;
        f->head_len = 1;
        return request_line_byte(f, c);
    case S_START_LF:
        if (c != '\n')
            return refuse(f, 400, "CR without LF");
        f->state = S_START;
        return HV_FRAME_MORE;
    case S_METHOD:
    case S_TARGET:
    case S_VERSION:
    case S_RL_LF:
        if (++f->head_len > f->head_max)
            return refuse(f, 431, "request head too large");
        return request_line_byte(f, c);
    case S_LINE:
    case S_NAME:
    case S_OWS:
    case S_VALUE:
    case S_LF:
    case S_END_LF:
        if (++f->head_len > f->head_max)
            return refuse(f, 431,
                          f->in_trailer ? "trailer section too large" : "request head too large");
        return field_byte(f, c);
    default:
        return chunk_byte(f, c);
    }
}

hv_frame_step_t hv_frame_feed(hv_frame_t *f, const uint8_t *p, size_t n)
{
    hv_frame_step_t st = {0, true, HV_FRAME_MORE};
    size_t i = 0;

    if (f->state == S_REFUSED) {
        st.event = HV_FRAME_REFUSE;
        return st;
    }
    while (i < n) {
        if (f->state == S_BODY || f->state == S_CDATA) {
            uint64_t take = n - i < f->remaining ? n - i : f->remaining;
            if (i > 0 && !st.keep)
                break;
            st.keep = true;
            i += (size_t)take;
            f->remaining -= take;
            if (f->remaining > 0)
                continue;
            if (f->state == S_CDATA) {
                f->state = S_CDATA_CR;
                continue;
            }
            f->state = S_START;
            st.used = i;
            st.event = HV_FRAME_DONE;
            return st;
        }
        bool keep = keeps(f, p[i]);
        if (i == 0)
            st.keep = keep;
        else if (keep != st.keep)
            break;
        hv_frame_event_t ev = byte(f, p[i++]);
        if (ev != HV_FRAME_MORE) {
            st.used = i;
            st.event = ev;
            return st;
        }
    }
    st.used = i;
    return st;
}

size_t hv_frame_chunk_line(const hv_frame_t *f, char *buf)
{
    return (size_t)snprintf(buf, 20, "%llx\r\n", (unsigned long long)f->chunk_size);
}

bool hv_frame_wants_continue(const hv_frame_t *f)
{
    return f->expect_continue && f->minor == 1;
}
