/*
 * signature.c - Standard Webhooks v1 verification: parses whsec_ secrets, keeps one keyed
 * HMAC-SHA256 context per secret, and checks "{id}.{timestamp}.{body}" against a signature list.
 */
#include "hocvu/signature.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SIG_PREFIX "whsec_"
#define SIG_PREFIX_LEN (sizeof(SIG_PREFIX) - 1)
#define SIG_MAC_LEN 32
#define SIG_TS_MAX_DIGITS 19

struct hv_sig_verifier {
    int n;
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx[HV_SIG_MAX_SECRETS];
};

static bool is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits on whitespace and decodes each "whsec_<base64>" into out->key. Messages name the
 * secret by position only, so configuration errors can be logged without leaking the secret.
 * On failure *out is wiped so no partial key material lingers. */
int hv_sig_keys_parse(const char *secrets, hv_sig_keys_t *out, char *err, size_t errlen)
{
    const char *p = secrets ? secrets : "";
    memset(out, 0, sizeof(*out));
    for (;;) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_sep(*p))
            p++;
        size_t len = (size_t)(p - start);
        int idx = out->n + 1;
        if (out->n == HV_SIG_MAX_SECRETS) {
            snprintf(err, errlen, "HOCVU_WEBHOOK_SECRETS: too many secrets (at most %d)",
                     HV_SIG_MAX_SECRETS);
            goto failed;
        }
        if (len <= SIG_PREFIX_LEN || memcmp(start, SIG_PREFIX, SIG_PREFIX_LEN) != 0) {
            snprintf(err, errlen, "HOCVU_WEBHOOK_SECRETS: secret %d is not a whsec_ base64 secret",
                     idx);
            goto failed;
        }
        const char *b64 = start + SIG_PREFIX_LEN;
        size_t b64len = len - SIG_PREFIX_LEN;
        size_t pad = b64len >= 2 ? (b64[b64len - 1] == '=') + (b64[b64len - 2] == '=') : 0;
        if (b64len % 4 == 0 && b64len / 4 * 3 - pad > HV_SIG_MAX_KEY) {
            snprintf(err, errlen, "HOCVU_WEBHOOK_SECRETS: secret %d is longer than %d bytes", idx,
                     HV_SIG_MAX_KEY);
            goto failed;
        }
        long k = hv_b64_decode(b64, b64len, out->key[out->n], HV_SIG_MAX_KEY);
        if (k < 0) {
            snprintf(err, errlen, "HOCVU_WEBHOOK_SECRETS: secret %d is not a whsec_ base64 secret",
                     idx);
            goto failed;
        }
        if (k == 0) {
            snprintf(err, errlen, "HOCVU_WEBHOOK_SECRETS: secret %d is empty", idx);
            goto failed;
        }
        out->len[out->n] = (size_t)k;
        out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "HOCVU_WEBHOOK_SECRETS: no secrets");
        goto failed;
    }
    return 0;

failed:
    OPENSSL_cleanse(out, sizeof(*out));
    out->n = 0;
    return -1;
}

/* Returns a verifier with one HMAC-SHA256 context per secret, each keyed once here, or NULL if
 * OpenSSL cannot provide HMAC/SHA-256 (a broken installation, not a runtime condition). Caller
 * frees with hv_sig_verifier_free. */
hv_sig_verifier_t *hv_sig_verifier_new(const hv_sig_keys_t *keys)
{
    hv_sig_verifier_t *v = hv_xcalloc(1, sizeof(*v));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    v->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!v->mac)
        goto failed;
    for (int i = 0; i < keys->n && i < HV_SIG_MAX_SECRETS; i++) {
        v->ctx[i] = EVP_MAC_CTX_new(v->mac);
        if (!v->ctx[i])
            goto failed;
        v->n = i + 1;
        if (!EVP_MAC_init(v->ctx[i], keys->key[i], keys->len[i], params))
            goto failed;
    }
    return v;

failed:
    hv_sig_verifier_free(v);
    return NULL;
}

void hv_sig_verifier_free(hv_sig_verifier_t *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++)
        EVP_MAC_CTX_free(v->ctx[i]);
    EVP_MAC_free(v->mac);
    free(v);
}

/* HMAC of "{id}.{ts}.{body}" with an already keyed context: re-initialising with a NULL key
 * keeps the key schedule, and the three parts are fed separately so the body is never copied. */
static bool mac_compute(EVP_MAC_CTX *ctx, const char *msg_id, const char *timestamp,
                        const void *body, size_t body_len, uint8_t out[SIG_MAC_LEN])
{
    size_t outl = 0;
    if (!EVP_MAC_init(ctx, NULL, 0, NULL))
        return false;
    if (!EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1))
        return false;
    if (body_len > 0 && !EVP_MAC_update(ctx, body, body_len))
        return false;
    if (!EVP_MAC_final(ctx, out, &outl, SIG_MAC_LEN))
        return false;
    return outl == SIG_MAC_LEN;
}

/* Parses a webhook-timestamp: 1-19 ASCII digits, no sign, no spaces, no overflow. */
static bool parse_timestamp(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t v = 0;
    if (n == 0 || n > SIG_TS_MAX_DIGITS)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Distance between two instants without signed overflow. */
static uint64_t abs_diff(int64_t a, int64_t b)
{
    return a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
}

hv_sig_result_t hv_sig_verify(hv_sig_verifier_t *v, const char *msg_id, const char *timestamp,
                              const char *sig_header, const void *body, size_t body_len,
                              int64_t now, int64_t tolerance)
{
    uint8_t macs[HV_SIG_MAX_SECRETS][SIG_MAC_LEN];
    bool have_macs = false;
    int64_t ts;
    hv_sig_result_t res = HV_SIG_MISMATCH;

    if (!msg_id || !*msg_id || !timestamp || !*timestamp || !sig_header)
        return HV_SIG_MISSING;
    const char *p = sig_header;
    while (*p && is_sep(*p))
        p++;
    if (!*p)
        return HV_SIG_MISSING;
    if (!parse_timestamp(timestamp, &ts))
        return HV_SIG_MALFORMED;
    if (abs_diff(now, ts) > (uint64_t)(tolerance > 0 ? tolerance : 0))
        return HV_SIG_STALE;

    /* Entries without a comma or with another version are skipped, as the reference
     * implementations do, so a sender can list future versions alongside v1. */
    while (*p && res != HV_SIG_OK) {
        const char *start = p;
        while (*p && !is_sep(*p))
            p++;
        const char *end = p;
        while (*p && is_sep(*p))
            p++;
        if ((size_t)(end - start) < 3 || memcmp(start, "v1,", 3) != 0)
            continue;
        uint8_t sig[SIG_MAC_LEN];
        long k = hv_b64_decode(start + 3, (size_t)(end - start - 3), sig, sizeof(sig));
        if (k != SIG_MAC_LEN)
            continue;
        if (!have_macs) {
            for (int i = 0; i < v->n; i++)
                if (!mac_compute(v->ctx[i], msg_id, timestamp, body, body_len, macs[i]))
                    goto failed;
            have_macs = true;
        }
        for (int i = 0; i < v->n; i++)
            if (hv_ct_memeq(sig, macs[i], SIG_MAC_LEN))
                res = HV_SIG_OK;
    }

failed:
    OPENSSL_cleanse(macs, sizeof(macs));
    return res;
}

int hv_sig_sign(hv_sig_verifier_t *v, int k, const char *msg_id, const char *timestamp,
                const void *body, size_t body_len, char out[64])
{
    uint8_t mac[SIG_MAC_LEN];
    if (k < 0 || k >= v->n)
        return -1;
    if (!mac_compute(v->ctx[k], msg_id, timestamp, body, body_len, mac))
        return -1;
    hv_b64_encode(mac, sizeof(mac), out);
    return 0;
}
