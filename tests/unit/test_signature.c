/*
 * test_signature.c - unit tests for signature.c: the Standard Webhooks published test vector,
 * secret parsing, rotation (several secrets), signature lists, staleness and tampering.
 */
#include <string.h>

#include "check.h"
#include "hocvu/signature.h"

/* Standard Webhooks specification test vector. */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS "1614265330"
#define VEC_NOW INT64_C(1614265330)
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* A second, made-up secret ("second test secret, 32 bytes!!!!") and the vector message signed
 * with it (computed independently with Python's hmac module). */
#define SECOND_SECRET "whsec_c2Vjb25kIHRlc3Qgc2VjcmV0LCAzMiBieXRlcyEhISE="
#define SECOND_SIG "v1,g7hcOVNUAoBaH+906c0u0V/hjL717c14EYvWk7qARLw="
#define WRONG_SIG "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static const struct {
    const char *secrets;
    int n;           /* -1: parse must fail */
    const char *err; /* expected message when it fails */
} key_cases[] = {
    {VEC_SECRET, 1, NULL},
    {"  " VEC_SECRET "\t" SECOND_SECRET "\n", 2, NULL},
    {"", -1, "HOCVU_WEBHOOK_SECRETS: no secrets"},
    {" \t\n", -1, "HOCVU_WEBHOOK_SECRETS: no secrets"},
    {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", -1,
     "HOCVU_WEBHOOK_SECRETS: secret 1 is not a whsec_ base64 secret"},
    {VEC_SECRET " whsec_not*base64", -1,
     "HOCVU_WEBHOOK_SECRETS: secret 2 is not a whsec_ base64 secret"},
    {VEC_SECRET " whsec_", -1, "HOCVU_WEBHOOK_SECRETS: secret 2 is not a whsec_ base64 secret"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", -1,
     "HOCVU_WEBHOOK_SECRETS: secret 1 is not a whsec_ base64 secret"},
    {"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", -1,
     "HOCVU_WEBHOOK_SECRETS: secret 1 is not a whsec_ base64 secret"},
};

static void test_keys_parse(void)
{
    for (size_t i = 0; i < HV_ARRAY_LEN(key_cases); i++) {
        hv_sig_keys_t keys;
        char err[128] = "";
        int r = hv_sig_keys_parse(key_cases[i].secrets, &keys, err, sizeof(err));
        if (key_cases[i].n < 0) {
            CHECK_MSG(r == -1, "case %zu accepted", i);
            CHECK_STR(err, key_cases[i].err);
            CHECK(strstr(err, "MfKQ") == NULL);
        } else {
            CHECK_MSG(r == 0, "case %zu: %s", i, err);
            CHECK(keys.n == key_cases[i].n);
        }
    }
    hv_sig_keys_t keys;
    char err[128];
    CHECK(hv_sig_keys_parse(VEC_SECRET, &keys, err, sizeof(err)) == 0);
    CHECK(keys.len[0] == 24);

    /* a key longer than HV_SIG_MAX_KEY is refused; one of exactly that size is accepted */
    char big[8 + 4 * (HV_SIG_MAX_KEY / 3 + 2)];
    uint8_t raw[HV_SIG_MAX_KEY + 3];
    memset(raw, 0x5a, sizeof(raw));
    strcpy(big, "whsec_");
    hv_b64_encode(raw, HV_SIG_MAX_KEY + 1, big + 6);
    CHECK(hv_sig_keys_parse(big, &keys, err, sizeof(err)) == -1);
    CHECK(strstr(err, "longer than") != NULL);
    hv_b64_encode(raw, HV_SIG_MAX_KEY, big + 6);
    CHECK(hv_sig_keys_parse(big, &keys, err, sizeof(err)) == 0 && keys.len[0] == HV_SIG_MAX_KEY);

    /* too many secrets */
    char many[(sizeof(SECOND_SECRET) + 1) * (HV_SIG_MAX_SECRETS + 1)] = "";
    for (int i = 0; i < HV_SIG_MAX_SECRETS + 1; i++) {
        strcat(many, SECOND_SECRET);
        strcat(many, " ");
    }
    CHECK(hv_sig_keys_parse(many, &keys, err, sizeof(err)) == -1);
}

typedef struct verify_case {
    const char *name;
    const char *id;
    const char *ts;
    const char *sig;
    const char *body;
    int64_t now;
    hv_sig_result_t want;
} verify_case_t;

#define TOL 300

static const verify_case_t verify_cases[] = {
    {"published vector", VEC_ID, VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_OK},
    {"second secret matches", VEC_ID, VEC_TS, SECOND_SIG, VEC_BODY, VEC_NOW, HV_SIG_OK},
    {"one wrong then one right", VEC_ID, VEC_TS, WRONG_SIG " " VEC_SIG, VEC_BODY, VEC_NOW,
     HV_SIG_OK},
    {"right then wrong, extra spaces", VEC_ID, VEC_TS, "  " VEC_SIG "   " WRONG_SIG " ", VEC_BODY,
     VEC_NOW, HV_SIG_OK},
    {"unknown versions skipped", VEC_ID, VEC_TS,
     "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v2,abc " VEC_SIG, VEC_BODY, VEC_NOW,
     HV_SIG_OK},
    {"unknown version only", VEC_ID, VEC_TS,
     "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", VEC_BODY, VEC_NOW, HV_SIG_MISMATCH},
    {"v2 only", VEC_ID, VEC_TS, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", VEC_BODY,
     VEC_NOW, HV_SIG_MISMATCH},
    {"entry without comma", VEC_ID, VEC_TS,
     "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", VEC_BODY, VEC_NOW, HV_SIG_MISMATCH},
    {"wrong signature", VEC_ID, VEC_TS, WRONG_SIG, VEC_BODY, VEC_NOW, HV_SIG_MISMATCH},
    {"short signature", VEC_ID, VEC_TS, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ", VEC_BODY,
     VEC_NOW, HV_SIG_MISMATCH},
    {"signature not base64", VEC_ID, VEC_TS, "v1,!!!!", VEC_BODY, VEC_NOW, HV_SIG_MISMATCH},
    {"empty v1", VEC_ID, VEC_TS, "v1,", VEC_BODY, VEC_NOW, HV_SIG_MISMATCH},
    {"tampered body", VEC_ID, VEC_TS, VEC_SIG, "{\"test\": 2432232315}", VEC_NOW, HV_SIG_MISMATCH},
    {"tampered id", "msg_p5jXN8AQM9LWM0D4loKWxJel", VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW,
     HV_SIG_MISMATCH},
    {"tampered timestamp", VEC_ID, "1614265331", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MISMATCH},
    {"stale past", VEC_ID, VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW + TOL + 1, HV_SIG_STALE},
    {"stale future", VEC_ID, VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW - TOL - 1, HV_SIG_STALE},
    {"past at tolerance", VEC_ID, VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW + TOL, HV_SIG_OK},
    {"future at tolerance", VEC_ID, VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW - TOL, HV_SIG_OK},
    {"stale wins over bad signature", VEC_ID, VEC_TS, WRONG_SIG, VEC_BODY, VEC_NOW + 10000,
     HV_SIG_STALE},
    {"missing id", NULL, VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"empty id", "", VEC_TS, VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"missing timestamp", VEC_ID, NULL, VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"empty timestamp", VEC_ID, "", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"missing signature", VEC_ID, VEC_TS, NULL, VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"empty signature", VEC_ID, VEC_TS, "", VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"blank signature", VEC_ID, VEC_TS, "   ", VEC_BODY, VEC_NOW, HV_SIG_MISSING},
    {"non-numeric timestamp", VEC_ID, "16142653x0", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MALFORMED},
    {"negative timestamp", VEC_ID, "-1614265330", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MALFORMED},
    {"signed timestamp", VEC_ID, "+1614265330", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MALFORMED},
    {"fractional timestamp", VEC_ID, "1614265330.5", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MALFORMED},
    {"timestamp with space", VEC_ID, " 1614265330", VEC_SIG, VEC_BODY, VEC_NOW, HV_SIG_MALFORMED},
    {"timestamp too long", VEC_ID, "00000000001614265330", VEC_SIG, VEC_BODY, VEC_NOW,
     HV_SIG_MALFORMED},
    {"timestamp overflows", VEC_ID, "9999999999999999999", VEC_SIG, VEC_BODY, VEC_NOW,
     HV_SIG_MALFORMED},
    {"huge timestamp is stale", VEC_ID, "9223372036854775807", VEC_SIG, VEC_BODY, VEC_NOW,
     HV_SIG_STALE},
};

static void test_verify(void)
{
    hv_sig_keys_t keys;
    char err[128];
    CHECK(hv_sig_keys_parse(VEC_SECRET " " SECOND_SECRET, &keys, err, sizeof(err)) == 0);
    hv_sig_verifier_t *v = hv_sig_verifier_new(&keys);
    CHECK(v != NULL);
    if (!v)
        return;
    /* run the table twice: the re-initialised contexts must not carry state between calls */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < HV_ARRAY_LEN(verify_cases); i++) {
            const verify_case_t *c = &verify_cases[i];
            hv_sig_result_t r =
                hv_sig_verify(v, c->id, c->ts, c->sig, c->body, strlen(c->body), c->now, TOL);
            CHECK_MSG(r == c->want, "%s: got %d, want %d", c->name, (int)r, (int)c->want);
        }
    }
    hv_sig_verifier_free(v);

    /* with only the first secret, the second secret's signature no longer verifies */
    CHECK(hv_sig_keys_parse(VEC_SECRET, &keys, err, sizeof(err)) == 0);
    v = hv_sig_verifier_new(&keys);
    CHECK(v != NULL);
    CHECK(hv_sig_verify(v, VEC_ID, VEC_TS, SECOND_SIG, VEC_BODY, strlen(VEC_BODY), VEC_NOW, TOL) ==
          HV_SIG_MISMATCH);
    CHECK(hv_sig_verify(v, VEC_ID, VEC_TS, VEC_SIG, VEC_BODY, strlen(VEC_BODY), VEC_NOW, TOL) ==
          HV_SIG_OK);
    hv_sig_verifier_free(v);
}

static void test_sign(void)
{
    hv_sig_keys_t keys;
    char err[128], sig[64], header[80];
    CHECK(hv_sig_keys_parse(VEC_SECRET " " SECOND_SECRET, &keys, err, sizeof(err)) == 0);
    hv_sig_verifier_t *v = hv_sig_verifier_new(&keys);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK(hv_sig_sign(v, 0, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig) == 0);
    CHECK_STR(sig, &VEC_SIG[3]);
    CHECK(hv_sig_sign(v, 1, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig) == 0);
    CHECK_STR(sig, &SECOND_SIG[3]);
    CHECK(hv_sig_sign(v, 2, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig) == -1);
    CHECK(hv_sig_sign(v, -1, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig) == -1);

    /* round trip, including a body with a NUL byte and an empty body */
    static const char bin_body[] = "{\"a\":1}\0tail";
    CHECK(hv_sig_sign(v, 1, "msg_2", "1800000000", bin_body, sizeof(bin_body), sig) == 0);
    snprintf(header, sizeof(header), "v1,%s", sig);
    CHECK(hv_sig_verify(v, "msg_2", "1800000000", header, bin_body, sizeof(bin_body), 1800000000,
                        TOL) == HV_SIG_OK);
    CHECK(hv_sig_verify(v, "msg_2", "1800000000", header, bin_body, 7, 1800000000, TOL) ==
          HV_SIG_MISMATCH);
    CHECK(hv_sig_sign(v, 0, "msg_3", "1800000000", NULL, 0, sig) == 0);
    snprintf(header, sizeof(header), "v1,%s", sig);
    CHECK(hv_sig_verify(v, "msg_3", "1800000000", header, "", 0, 1800000000, TOL) == HV_SIG_OK);
    hv_sig_verifier_free(v);
}

int main(void)
{
    test_keys_parse();
    test_verify();
    test_sign();
    CHECK_DONE();
}
