/*
 * frame.h - HTTP/1.1 request framing, checked strictly (RFC 9112) before evhttp parses a byte.
 *
 * A connection's bytes are fed in order to hv_frame_feed(), which says, one step at a time,
 * what the next stretch of them is: bytes to forward as they are, bytes to drop (empty lines
 * before a request, chunk-size lines - forwarded normalised, without extensions - and trailer
 * fields), and what happened at the end of the stretch: a request's head is complete, a chunk
 * begins, the request is complete, or the framing is refused with an HTTP status. A refused
 * connection answers that status and closes; nothing after the refusal is read.
 *
 * Refused (the request never reaches a handler):
 *   400  malformed request line or field, obs-fold, a control byte (NUL, bare CR or LF) in the
 *        head, Content-Length twice, signed or not all digits, Content-Length together with
 *        Transfer-Encoding, Transfer-Encoding twice or on HTTP/1.0, Host missing on HTTP/1.1 or
 *        twice, malformed chunk size or chunk framing
 *   413  a body over the route's limit (from Content-Length at once, from the chunk sizes as
 *        they arrive), or any body on a method evhttp reads none for (GET, HEAD, ...)
 *   414  request target over HV_FRAME_TARGET_MAX       417  an Expect other than 100-continue
 *   431  head over the configured size, or more than HV_FRAME_FIELDS_MAX fields
 *   501  a method hocvu does not serve, or a transfer coding other than chunked
 *   505  an HTTP version other than 1.0 and 1.1
 *
 * Pure: no I/O, no allocation; the state lives in hv_frame_t (caller-owned).
 */
#ifndef HOCVU_FRAME_H
#define HOCVU_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_FRAME_TARGET_MAX 8192
#define HV_FRAME_FIELDS_MAX 100
#define HV_FRAME_PATH_MAX 255 /* stored for the limit callback; longer paths have no body */
#define HV_FRAME_CHUNK_LINE_MAX 4096

/* The body limit of a request, from its method and path (the target up to '?', at most
 * HV_FRAME_PATH_MAX bytes; a longer one is passed as ""). 0 = the route takes no body. */
typedef size_t (*hv_frame_limit_fn)(const char *method, const char *path, void *arg);

typedef enum {
    HV_FRAME_MORE,   /* nothing to act on: feed the rest of the input, then more */
    HV_FRAME_HEAD,   /* the head is complete and valid; a body follows */
    HV_FRAME_CHUNK,  /* a chunk-size line was read: forward hv_frame_chunk_line() in its place */
    HV_FRAME_DONE,   /* the request is complete; the next byte starts the next request */
    HV_FRAME_REFUSE, /* answer f->status (f->reason says why) and close */
} hv_frame_event_t;

typedef struct {
    size_t used;            /* bytes of the input this step covers */
    bool keep;              /* forward them as they are; false: drop them */
    hv_frame_event_t event; /* what the end of them is */
} hv_frame_step_t;

typedef struct hv_frame {
    /* set by hv_frame_init */
    hv_frame_limit_fn limit_fn;
    void *limit_arg;
    size_t head_max;
    /* the request being read (valid from HV_FRAME_HEAD until the next request starts) */
    int state;
    bool in_trailer;      /* reading the trailer section of a chunked body */
    unsigned blank_lines; /* empty lines before this request */
    size_t head_len, line_len, fields;
    char method[16];
    size_t method_len;
    char path[HV_FRAME_PATH_MAX + 1];
    size_t path_len, target_len;
    bool path_done, path_long;
    char version[9];
    size_t version_len;
    int minor;
    char name[20];
    size_t name_len;
    bool name_long;
    char value[24];
    size_t value_len, value_ws; /* value_ws: trailing SP/HTAB stored so far */
    bool value_long;
    bool has_cl, has_te, te_chunked, has_host, has_expect, expect_continue;
    uint64_t content_length;
    size_t limit;          /* the route's body limit */
    uint64_t body_len;     /* body bytes so far (chunked: sum of chunk sizes) */
    uint64_t remaining;    /* of the current Content-Length body or chunk */
    uint64_t chunk_size;   /* of the chunk-size line just read */
    unsigned chunk_digits; /* hex digits of it */
    int status;            /* HV_FRAME_REFUSE: the HTTP status to answer */
    const char *reason;    /* static text: why */
} hv_frame_t;

/* Prepares f for a new connection. head_max bounds request line + fields + trailers. */
void hv_frame_init(hv_frame_t *f, size_t head_max, hv_frame_limit_fn limit_fn, void *arg);

/* Reads from p[0..n): returns the next step (step.used <= n; 0 only with n == 0 and an event
 * pending, or after a refusal, which is final). */
hv_frame_step_t hv_frame_feed(hv_frame_t *f, const uint8_t *p, size_t n);

/* The normalised chunk-size line of the last HV_FRAME_CHUNK ("1a\r\n"); returns its length.
 * buf holds at least 20 bytes. */
size_t hv_frame_chunk_line(const hv_frame_t *f, char *buf);

/* The request announced Expect: 100-continue (valid from HV_FRAME_HEAD). */
bool hv_frame_wants_continue(const hv_frame_t *f);

#endif
