/*
 * test_jcs.c - RFC 8785 canonical JSON: the RFC's own examples (numbers of Appendix B, the
 * sample of §3.2.4, the UTF-16 sort of §3.2.3), and the digest helper.
 */
#include <string.h>

#include "check.h"
#include "hocvu/jcs.h"

static void number(double v, const char *want)
{
    char out[HV_JCS_NUMBER_MAX];
    hv_jcs_number(v, out);
    CHECK_MSG(strcmp(out, want) == 0, "%.17g -> %s, want %s", v, out, want);
}

static void canon(const char *in, const char *want)
{
    hv_buf_t b;
    char err[128];
    hv_buf_init(&b);
    CHECK_MSG(hv_jcs_canonicalize(in, strlen(in), &b, err, sizeof(err)) == 0, "%s: %s", in, err);
    CHECK_MSG(b.data && strcmp(b.data, want) == 0, "%s -> %s", in, b.data ? b.data : "(null)");
    hv_buf_free(&b);
}

int main(void)
{
    /* RFC 8785 Appendix B. */
    number(0.0, "0");
    number(-0.0, "0");
    number(5e-324, "5e-324");
    number(-5e-324, "-5e-324");
    number(1.7976931348623157e308, "1.7976931348623157e+308");
    number(9007199254740992.0, "9007199254740992");
    number(9007199254740994.0, "9007199254740994");
    number(295147905179352830000.0, "295147905179352830000");
    number(1e21, "1e+21");
    number(999999999999999900000.0, "999999999999999900000");
    number(0.000001, "0.000001");
    number(1e-7, "1e-7");
    number(333333333.3333333, "333333333.3333333");
    number(1e23, "1e+23");
    number(4.5, "4.5");
    number(0.002, "0.002");
    number(91.67, "91.67");
    number(140, "140");
    number(-1.5, "-1.5");

    /* RFC 8785 §3.2.4. */
    canon(
        "{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
        "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
        "  \"literals\": [null, true, false]\n}",
        "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
        "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
    /* RFC 8785 §3.2.3: sorted by UTF-16 code units (U+1F600 before U+FB33). */
    canon(
        "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet "
        "With Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":"
        "\"Control\",\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin "
        "Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro "
        "Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: "
        "Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
    /* Nested objects, integers as doubles print, Vietnamese text kept as UTF-8. */
    canon("{\"b\":{\"z\":1,\"a\":[1.0,2.50,-0]},\"a\":\"Phường Ninh Kiều\"}",
          "{\"a\":\"Phường Ninh Kiều\",\"b\":{\"a\":[1,2.5,0],\"z\":1}}");

    /* Refused: not JSON, a repeated name. */
    hv_buf_t b;
    char err[128];
    hv_buf_init(&b);
    CHECK(hv_jcs_canonicalize("{\"a\":1,\"a\":2}", 13, &b, err, sizeof(err)) == -1);
    CHECK(hv_jcs_canonicalize("{", 1, &b, err, sizeof(err)) == -1);
    hv_buf_free(&b);

    char hex[65];
    hv_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_DONE();
}
