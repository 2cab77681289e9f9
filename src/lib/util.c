/*
 * util.c - allocation that aborts on OOM, the growable byte buffer with JSON string escaping,
 * base64/hex codecs, a constant-time compare and the change-detection hashes shared by every
 * other module.
 */
#include "hocvu/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out of memory is not recoverable for a request-serving daemon: say so once and abort, so no
 * call site needs a failure branch. */
static void oom(void)
{
    fputs("hocvu: out of memory\n", stderr);
    abort();
}

void *hv_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *hv_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *hv_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *hv_xstrdup(const char *s)
{
    return hv_xstrndup(s, strlen(s));
}

/* Returns a new NUL-terminated copy of at most n bytes of s (stops early at a NUL); caller
 * frees. */
char *hv_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = hv_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void hv_buf_init(hv_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void hv_buf_free(hv_buf_t *b)
{
    free(b->data);
    hv_buf_init(b);
}

void hv_buf_reset(hv_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Ensures room for `extra` more bytes plus the terminating NUL; grows geometrically so appends
 * are amortised O(1). */
void hv_buf_reserve(hv_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need < b->len)
        oom(); /* size_t overflow: no allocation could satisfy it */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    b->data = hv_xrealloc(b->data, cap);
    b->cap = cap;
}

void hv_buf_append(hv_buf_t *b, const void *p, size_t n)
{
    hv_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hv_buf_puts(hv_buf_t *b, const char *s)
{
    hv_buf_append(b, s, strlen(s));
}

void hv_buf_putc(hv_buf_t *b, char c)
{
    hv_buf_append(b, &c, 1);
}

/* Formats straight into the buffer: one vsnprintf to measure when the spare room is too small,
 * a second to write. */
void hv_buf_printf(hv_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    hv_buf_reserve(b, 0);
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        hv_buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 if the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

void hv_buf_json_str(hv_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    hv_buf_reserve(b, n + 2);
    hv_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t len = utf8_seq_len(u + i, n - i);
            if (len == 0) {
                hv_buf_append(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                hv_buf_append(b, u + i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
        case '"':
            hv_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            hv_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            hv_buf_append(b, "\\n", 2);
            break;
        case '\r':
            hv_buf_append(b, "\\r", 2);
            break;
        case '\t':
            hv_buf_append(b, "\\t", 2);
            break;
        case '\b':
            hv_buf_append(b, "\\b", 2);
            break;
        case '\f':
            hv_buf_append(b, "\\f", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                hv_buf_append(b, esc, sizeof(esc));
            } else {
                hv_buf_putc(b, (char)c);
            }
        }
        i++;
    }
    hv_buf_putc(b, '"');
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of one base64 alphabet character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict decoder: length a multiple of 4, '=' only as the final one or two characters, and the
 * unused bits before padding must be zero so every byte string has exactly one encoding. */
long hv_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
    if (inlen % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        const unsigned char *q = (const unsigned char *)in + i;
        bool last = i + 4 == inlen;
        int v0 = b64_value(q[0]), v1 = b64_value(q[1]);
        if (v0 < 0 || v1 < 0)
            return -1;
        int pad = 0;
        if (last && q[3] == '=')
            pad = q[2] == '=' ? 2 : 1;
        int v2 = pad == 2 ? 0 : b64_value(q[2]);
        int v3 = pad >= 1 ? 0 : b64_value(q[3]);
        if (v2 < 0 || v3 < 0)
            return -1;
        if (pad == 2 && (v1 & 0x0F))
            return -1;
        if (pad == 1 && (v2 & 0x03))
            return -1;
        size_t nout = 3 - (size_t)pad;
        if (cap - o < nout)
            return -1;
        uint32_t w = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 | (uint32_t)v2 << 6 | (uint32_t)v3;
        out[o++] = (uint8_t)(w >> 16);
        if (nout > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (nout > 2)
            out[o++] = (uint8_t)w;
    }
    return (long)o;
}

size_t hv_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[w >> 18];
        out[o++] = b64_alphabet[(w >> 12) & 63];
        out[o++] = b64_alphabet[(w >> 6) & 63];
        out[o++] = b64_alphabet[w & 63];
    }
    if (n - i == 1) {
        uint32_t w = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[w >> 18];
        out[o++] = b64_alphabet[(w >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[w >> 18];
        out[o++] = b64_alphabet[(w >> 12) & 63];
        out[o++] = b64_alphabet[(w >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

void hv_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Accumulates the XOR of every byte pair so the running time does not depend on where the first
 * difference is; volatile keeps the compiler from short-circuiting the loop. */
bool hv_ct_memeq(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= (unsigned char)(x[i] ^ y[i]);
    return acc == 0;
}

uint64_t hv_fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

uint64_t hv_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

bool hv_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned char c = u[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            len = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            len = 4;
        else
            return false;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        else if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (i + len > n || u[i + 1] < lo || u[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

const char *hv_trim(const char *s, size_t *n)
{
    size_t len = strlen(s);

    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *n = len;
    return s;
}

bool hv_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

int hv_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
