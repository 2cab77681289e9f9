/*
 * fuzz_signature.c - libFuzzer target for the Standard Webhooks header parser and verifier:
 * input is "id\ntimestamp\nsignature-header\nbody"; also feeds the header to the secrets parser.
 */
#include <inttypes.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/signature.h"

/* The Standard Webhooks specification's test vector secret, and a second one for rotation. */
#define SECRETS                                                                                    \
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_dGVzdC1zZWNyZXQtMi0zMi1ieXRlcy1sb25nLWtleSE="
#define NOW INT64_C(1614265330)
#define TOLERANCE 300

static hv_sig_verifier_t *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    hv_sig_keys_t keys;
    char err[160];
    if (hv_sig_keys_parse(SECRETS, &keys, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_signature: %s\n", err);
        abort();
    }
    verifier = hv_sig_verifier_new(&keys);
    FUZZ_ASSERT(verifier != NULL);
    return 0;
}

/* Independent reading of the timestamp rule: 1-19 digits and within ±TOLERANCE of NOW. */
static bool ts_acceptable(const char *ts)
{
    size_t n = strlen(ts);
    if (n == 0 || n > 19 || strspn(ts, "0123456789") != n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(ts[i] - '0');
    }
    if (v > INT64_MAX)
        return false;
    int64_t t = (int64_t)v;
    return (t > NOW ? t - NOW : NOW - t) <= TOLERANCE;
}

/* Does the whitespace-separated header list the exact token "v1,<sig>"? */
static bool header_lists(const char *hdr, const char *sig)
{
    size_t want = strlen(sig) + 3;
    const char *p = hdr;
    while (*p) {
        p += strspn(p, " \t\r\n");
        size_t n = strcspn(p, " \t\r\n");
        if (n == want && memcmp(p, "v1,", 3) == 0 && memcmp(p + 3, sig, n - 3) == 0)
            return true;
        p += n;
    }
    return false;
}

/* Verifies with every argument in exact-size heap copies so ASan catches any over-read. */
static hv_sig_result_t verify(const char *id, const char *ts, const char *hdr, const void *body,
                              size_t body_len)
{
    char *i = fuzz_dup_cstr(id, strlen(id)), *t = fuzz_dup_cstr(ts, strlen(ts)),
         *h = fuzz_dup_cstr(hdr, strlen(hdr)), *b = fuzz_dup_exact(body, body_len);
    hv_sig_result_t r = hv_sig_verify(verifier, i, t, h, b, body_len, NOW, TOLERANCE);
    free(i);
    free(t);
    free(h);
    free(b);
    return r;
}

/* Signs (id, ts, body) with key k and checks that the signature verifies alone and beside the
 * fuzzed header's tokens, and that any change to the signed content makes it fail. */
static void check_sign_roundtrip(const char *id, const char *fuzz_hdr, const uint8_t *body,
                                 size_t body_len, int k, int64_t delta)
{
    char ts[32], ts2[32], sig[64], hdr[80];
    if (!*id)
        return;
    snprintf(ts, sizeof(ts), "%" PRId64, NOW + delta);
    FUZZ_ASSERT(hv_sig_sign(verifier, k, id, ts, body, body_len, sig) == 0);
    FUZZ_ASSERT(strlen(sig) == 44);
    snprintf(hdr, sizeof(hdr), "v1,%s", sig);
    FUZZ_ASSERT(verify(id, ts, hdr, body, body_len) == HV_SIG_OK);

    /* junk tokens before and after, including other versions, never hide a good signature */
    size_t hl = strlen(fuzz_hdr);
    char *mixed = malloc(hl + 2 * sizeof(hdr) + 4);
    FUZZ_ASSERT(mixed != NULL);
    snprintf(mixed, hl + 2 * sizeof(hdr) + 4, "%s %s v2,%s", fuzz_hdr, hdr, sig);
    FUZZ_ASSERT(verify(id, ts, mixed, body, body_len) == HV_SIG_OK);
    free(mixed);

    /* one more byte of body, of id, or another timestamp: a different message */
    uint8_t *longer = malloc(body_len + 1);
    FUZZ_ASSERT(longer != NULL);
    if (body_len)
        memcpy(longer, body, body_len);
    longer[body_len] = body_len ? body[0] : 'x';
    FUZZ_ASSERT(verify(id, ts, hdr, longer, body_len + 1) == HV_SIG_MISMATCH);
    free(longer);
    if (body_len > 0)
        FUZZ_ASSERT(verify(id, ts, hdr, body, body_len - 1) == HV_SIG_MISMATCH);

    size_t il = strlen(id);
    char *id2 = malloc(il + 2);
    FUZZ_ASSERT(id2 != NULL);
    memcpy(id2, id, il);
    id2[il] = id[0] == '.' ? '-' : '.';
    id2[il + 1] = '\0';
    FUZZ_ASSERT(verify(id2, ts, hdr, body, body_len) == HV_SIG_MISMATCH);
    free(id2);

    snprintf(ts2, sizeof(ts2), "%" PRId64, NOW + (delta > 0 ? delta - 1 : delta + 1));
    FUZZ_ASSERT(verify(id, ts2, hdr, body, body_len) == HV_SIG_MISMATCH);

    /* a flipped bit in the signature, a truncated one, an unknown version: no match */
    char bad[80];
    memcpy(bad, hdr, sizeof(bad));
    bad[3] = bad[3] == 'A' ? 'B' : 'A';
    FUZZ_ASSERT(verify(id, ts, bad, body, body_len) == HV_SIG_MISMATCH);
    memcpy(bad, hdr, sizeof(bad));
    bad[strlen(bad) - 1] = '\0';
    FUZZ_ASSERT(verify(id, ts, bad, body, body_len) == HV_SIG_MISMATCH);
    memcpy(bad, hdr, sizeof(bad));
    bad[1] = '2';
    FUZZ_ASSERT(verify(id, ts, bad, body, body_len) == HV_SIG_MISMATCH);

    /* outside the tolerance the signature is not even looked at */
    snprintf(ts2, sizeof(ts2), "%" PRId64, NOW + (delta >= 0 ? TOLERANCE + 1 : -TOLERANCE - 1));
    FUZZ_ASSERT(hv_sig_sign(verifier, k, id, ts2, body, body_len, sig) == 0);
    snprintf(hdr, sizeof(hdr), "v1,%s", sig);
    FUZZ_ASSERT(verify(id, ts2, hdr, body, body_len) == HV_SIG_STALE);
}

/* Secrets parsing: never accepts more than the limits allow and never echoes a secret. */
static void check_keys_parse(const char *s)
{
    hv_sig_keys_t keys;
    char err[160] = "";
    if (hv_sig_keys_parse(s, &keys, err, sizeof(err)) == 0) {
        FUZZ_ASSERT(keys.n >= 1 && keys.n <= HV_SIG_MAX_SECRETS);
        for (int i = 0; i < keys.n; i++)
            FUZZ_ASSERT(keys.len[i] >= 1 && keys.len[i] <= HV_SIG_MAX_KEY);
        return;
    }
    FUZZ_ASSERT(keys.n == 0);
    FUZZ_ASSERT(strncmp(err, "HOCVU_WEBHOOK_SECRETS: ", 23) == 0);
    const char *p = s;
    while (*p) {
        p += strspn(p, " \t\r\n");
        size_t n = strcspn(p, " \t\r\n");
        if (n > 6 && strncmp(p, "whsec_", 6) == 0)
            FUZZ_ASSERT(memmem(err, strlen(err), p, n) == NULL);
        p += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *f_id, *f_ts, *f_hdr;
    size_t n_id, n_ts, n_hdr;
    unsigned sum = 0;

    for (size_t i = 0; i < size; i++)
        sum += data[i];
    fuzz_split(&data, &size, '\n', &f_id, &n_id);
    fuzz_split(&data, &size, '\n', &f_ts, &n_ts);
    fuzz_split(&data, &size, '\n', &f_hdr, &n_hdr);
    char *id = fuzz_dup_cstr(f_id, n_id), *ts = fuzz_dup_cstr(f_ts, n_ts),
         *hdr = fuzz_dup_cstr(f_hdr, n_hdr);

    hv_sig_result_t r = verify(id, ts, hdr, data, size);
    FUZZ_ASSERT(r >= HV_SIG_OK && r <= HV_SIG_MISMATCH);
    /* NULL headers are "missing", whatever else is given */
    FUZZ_ASSERT(hv_sig_verify(verifier, NULL, ts, hdr, data, size, NOW, TOLERANCE) ==
                HV_SIG_MISSING);
    FUZZ_ASSERT(hv_sig_verify(verifier, id, ts, NULL, data, size, NOW, TOLERANCE) ==
                HV_SIG_MISSING);
    if (r == HV_SIG_OK) {
        /* OK only for an acceptable timestamp and a listed signature from one of the keys */
        char sig[64];
        bool listed = false;
        FUZZ_ASSERT(*id && ts_acceptable(ts));
        for (int k = 0; k < 2; k++) {
            FUZZ_ASSERT(hv_sig_sign(verifier, k, id, ts, data, size, sig) == 0);
            listed |= header_lists(hdr, sig);
        }
        FUZZ_ASSERT(listed);
    } else if (r == HV_SIG_STALE || r == HV_SIG_MISMATCH) {
        FUZZ_ASSERT(*id && *ts);
        FUZZ_ASSERT(ts_acceptable(ts) == (r == HV_SIG_MISMATCH));
    } else if (r == HV_SIG_MALFORMED) {
        FUZZ_ASSERT(*id && *ts && !ts_acceptable(ts));
    }
    check_sign_roundtrip(id, hdr, data, size, (int)(sum & 1),
                         (int64_t)(sum % (2 * TOLERANCE + 1)) - TOLERANCE);
    check_keys_parse(hdr);
    free(id);
    free(ts);
    free(hdr);
    return 0;
}
