/*
 * test_util.c - unit tests for util.c: base64 round trips and strict decoding, JSON string
 * escaping (including invalid UTF-8), hex, the growable buffer and the constant-time compare.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hocvu/util.h"

/* RFC 4648 §10 vectors plus binary data. */
static const struct {
    const char *plain;
    const char *b64;
} b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    {"\xff\xfe\xfd\x00\x01", "//79AAE="},
    {"\xfb\xff", "+/8="},
};

static const char *const b64_invalid[] = {
    "Zg",       /* missing padding */
    "Zg=",      /* short padding */
    "Zm9v!A==", /* character outside the alphabet */
    "Z===",     /* too much padding */
    "=Zg=",     /* padding first */
    "Zg==Zg==", /* padding in the middle */
    "Zh==",     /* non-zero bits under the padding */
    "Zm9=",     /* non-zero bits under the padding */
    "Zm9v\n",   /* whitespace */
    "Zm-_",     /* url-safe alphabet is not standard base64 */
};

static void test_b64(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(b64_vectors); i++) {
        const char *plain = b64_vectors[i].plain;
        /* the binary vector contains a NUL: its length is known */
        size_t n = i == 7 ? 5 : strlen(plain);
        char enc[64];
        uint8_t dec[64];
        size_t elen = hv_b64_encode((const uint8_t *)plain, n, enc);
        CHECK_STR(enc, b64_vectors[i].b64);
        CHECK(elen == strlen(b64_vectors[i].b64));
        long dlen = hv_b64_decode(enc, elen, dec, sizeof(dec));
        CHECK(dlen == (long)n);
        CHECK(dlen >= 0 && memcmp(dec, plain, n) == 0);
    }
    for (size_t i = 0; i < HV_ARRAY_LEN(b64_invalid); i++) {
        uint8_t dec[64];
        long r = hv_b64_decode(b64_invalid[i], strlen(b64_invalid[i]), dec, sizeof(dec));
        CHECK_MSG(r == -1, "decoding \"%s\" gave %ld", b64_invalid[i], r);
    }
    /* capacity is enforced exactly */
    uint8_t small[3];
    CHECK(hv_b64_decode("Zm9v", 4, small, 3) == 3);
    CHECK(hv_b64_decode("Zm9vYg==", 8, small, 3) == -1);
    CHECK(hv_b64_decode("Zm8=", 4, small, 1) == -1);

    /* all byte values round trip */
    uint8_t all[256], back[256];
    char enc[4 * ((256 + 2) / 3) + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n <= 256; n += 37) {
        size_t elen = hv_b64_encode(all, n, enc);
        CHECK(elen == 4 * ((n + 2) / 3));
        CHECK(hv_b64_decode(enc, elen, back, sizeof(back)) == (long)n);
        CHECK(memcmp(all, back, n) == 0);
    }
}

static const struct {
    const char *in;
    size_t n; /* 0 = strlen */
    const char *out;
} json_vectors[] = {
    {"", 0, "\"\""},
    {"plain", 0, "\"plain\""},
    {"a\"b\\c", 0, "\"a\\\"b\\\\c\""},
    {"\n\r\t\b\f", 0, "\"\\n\\r\\t\\b\\f\""},
    {"\x01\x1f", 0, "\"\\u0001\\u001f\""},
    {"a\0b", 3, "\"a\\u0000b\""},
    {"</script>", 0, "\"</script>\""},
    /* valid multi-byte UTF-8 is kept as is */
    {"Phường Ninh Kiều", 0, "\"Phường Ninh Kiều\""},
    {"Xã Thới Hưng", 0, "\"Xã Thới Hưng\""},
    {"\xF0\x9F\x98\x80", 0, "\"\xF0\x9F\x98\x80\""},
    /* invalid UTF-8 becomes U+FFFD, one per bad byte */
    {"a\xFF"
     "b",
     0,
     "\"a\xEF\xBF\xBD"
     "b\""},
    {"\xC3", 0, "\"\xEF\xBF\xBD\""},                                 /* truncated sequence */
    {"\xC0\xAF", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},                 /* overlong */
    {"\xED\xA0\x80", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* surrogate */
    {"\xF4\x90\x80\x80", 0,
     "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* > U+10FFFF */
    {"\xE1\xBB", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},          /* cut off mid-character */
};

static void test_json_str(void)
{
    hv_buf_t b;
    hv_buf_init(&b);
    for (size_t i = 0; i < HV_ARRAY_LEN(json_vectors); i++) {
        size_t n = json_vectors[i].n ? json_vectors[i].n : strlen(json_vectors[i].in);
        hv_buf_reset(&b);
        hv_buf_json_str(&b, json_vectors[i].in, n);
        CHECK_STR(b.data, json_vectors[i].out);
        CHECK(b.len == strlen(json_vectors[i].out));
    }
    hv_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_buf(void)
{
    hv_buf_t b;
    hv_buf_init(&b);
    hv_buf_puts(&b, "abc");
    hv_buf_putc(&b, '-');
    hv_buf_printf(&b, "%d:%s", 42, "x");
    CHECK_STR(b.data, "abc-42:x");
    CHECK(b.len == 8);
    /* growth past the first allocation, through printf */
    char big[1000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hv_buf_printf(&b, "[%s]", big);
    CHECK(b.len == 8 + 2 + 999);
    CHECK(b.data[b.len] == '\0' && b.data[8] == '[' && b.data[b.len - 1] == ']');
    hv_buf_reset(&b);
    CHECK(b.len == 0 && b.data[0] == '\0');
    hv_buf_append(&b, "", 0);
    CHECK_STR(b.data, "");
    hv_buf_free(&b);

    char *s = hv_xstrndup("hello", 3);
    CHECK_STR(s, "hel");
    free(s);
    s = hv_xstrdup("world");
    CHECK_STR(s, "world");
    free(s);

    char hex[9];
    hv_hex_encode((const uint8_t *)"\x00\xab\x10\xff", 4, hex);
    CHECK_STR(hex, "00ab10ff");
}

static void test_ct_memeq(void)
{
    CHECK(hv_ct_memeq("abcd", "abcd", 4));
    CHECK(!hv_ct_memeq("abcd", "abce", 4));
    CHECK(!hv_ct_memeq("xbcd", "abcd", 4));
    CHECK(hv_ct_memeq("abcd", "abce", 3));
    CHECK(hv_ct_memeq("", "", 0));
    CHECK(!hv_ct_memeq("\x80", "\x00", 1));
}

int main(void)
{
    test_b64();
    test_json_str();
    test_buf();
    test_ct_memeq();
    CHECK_DONE();
}
