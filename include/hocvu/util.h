/*
 * util.h - allocation that aborts on OOM, growable byte buffer, base64/hex, constant-time compare,
 * change-detection hashes.
 * Every other module builds on these so call sites stay free of allocation-failure branches.
 */
#ifndef HOCVU_UTIL_H
#define HOCVU_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_MUST_CHECK __attribute__((warn_unused_result))
#define HV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation wrappers: never return NULL; on OOM they log and abort(). Caller frees with free(). */
void *hv_xmalloc(size_t n);
void *hv_xcalloc(size_t nmemb, size_t size);
void *hv_xrealloc(void *p, size_t n);
char *hv_xstrdup(const char *s);
char *hv_xstrndup(const char *s, size_t n);

/* Growable buffer. Owns `data`; always NUL-terminated after any append (data may be NULL
 * before the first append). hv_buf_free() releases the memory and resets to empty. */
typedef struct hv_buf {
    char *data;
    size_t len;
    size_t cap;
} hv_buf_t;

void hv_buf_init(hv_buf_t *b);
void hv_buf_free(hv_buf_t *b);
void hv_buf_reset(hv_buf_t *b); /* len = 0, keeps the allocation */
void hv_buf_reserve(hv_buf_t *b, size_t extra);
void hv_buf_append(hv_buf_t *b, const void *p, size_t n);
void hv_buf_puts(hv_buf_t *b, const char *s);
void hv_buf_putc(hv_buf_t *b, char c);
void hv_buf_printf(hv_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string literal including the quotes, escaping as RFC 8259 requires.
 * Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON. */
void hv_buf_json_str(hv_buf_t *b, const char *s, size_t n);

/* Standard base64 (RFC 4648 §4, with padding). Decode accepts padded input only and returns the
 * number of bytes written, or -1 on malformed input or if it would exceed `cap`. */
HV_MUST_CHECK long hv_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);
/* Writes NUL-terminated base64 of in[0..n) to out; out needs 4*((n+2)/3)+1 bytes. Returns length.
 */
size_t hv_b64_encode(const uint8_t *in, size_t n, char *out);
/* Lowercase hex; out needs 2n+1 bytes. */
void hv_hex_encode(const uint8_t *in, size_t n, char *out);

/* FNV-1a, 64-bit, continuing from h (start with HV_FNV_OFFSET): a fast change detector for
 * caches and snapshots, not a security measure. */
#define HV_FNV_OFFSET 1469598103934665603ULL
uint64_t hv_fnv1a(uint64_t h, const void *p, size_t n);
/* A bijective 64-bit finalizer (MurmurHash3's): spreads a hash so that sums of hashes do not
 * cancel out. */
uint64_t hv_mix64(uint64_t h);

/* Constant-time equality of two equal-length byte strings. */
bool hv_ct_memeq(const void *a, const void *b, size_t n);

/* True if s[0..n) is well-formed UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF. */
bool hv_utf8_valid(const char *s, size_t n);

/* s without surrounding ASCII spaces and tabs: a pointer into s (borrowed), its length in *n. */
const char *hv_trim(const char *s, size_t *n);
/* True if s[0..n) is one or more ASCII digits. */
bool hv_all_digits(const char *s, size_t n);
/* The value of a hex digit, or -1. */
int hv_hex_value(int c);

#endif
