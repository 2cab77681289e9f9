/*
 * signature.h - Standard Webhooks verification: HMAC-SHA256 over "{id}.{timestamp}.{body}",
 * any v1 signature matching any configured secret passes; comparison is constant-time.
 */
#ifndef HOCVU_SIGNATURE_H
#define HOCVU_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hocvu/util.h"

#define HV_SIG_MAX_SECRETS 16
#define HV_SIG_MAX_KEY 256

/* Immutable list of decoded secrets. Created once from configuration; shared read-only by all
 * threads. */
typedef struct hv_sig_keys {
    int n;
    size_t len[HV_SIG_MAX_SECRETS];
    uint8_t key[HV_SIG_MAX_SECRETS][HV_SIG_MAX_KEY];
} hv_sig_keys_t;

/* Parses a space-separated list of "whsec_<base64>" secrets (tabs/newlines also separate).
 * Returns 0 and fills *out, or -1 with a message (never containing secret material) in err. */
HV_MUST_CHECK int hv_sig_keys_parse(const char *secrets, hv_sig_keys_t *out, char *err,
                                    size_t errlen);

/* Per-thread verifier: holds one keyed HMAC context per secret so each verification only
 * re-initialises it. Not thread-safe; create one per event loop. */
typedef struct hv_sig_verifier hv_sig_verifier_t;

/* Returns a new verifier (caller frees with hv_sig_verifier_free). Borrows nothing: the keys are
 * copied into the HMAC contexts. */
hv_sig_verifier_t *hv_sig_verifier_new(const hv_sig_keys_t *keys);
void hv_sig_verifier_free(hv_sig_verifier_t *v);

typedef enum hv_sig_result {
    HV_SIG_OK = 0,
    HV_SIG_MISSING,   /* a header is absent or empty */
    HV_SIG_MALFORMED, /* timestamp is not an integer, or the header cannot be parsed */
    HV_SIG_STALE,     /* timestamp outside ±tolerance of now */
    HV_SIG_MISMATCH,  /* no listed v1 signature matches any secret */
} hv_sig_result_t;

/* Verifies a message. All pointers are borrowed; msg_id/timestamp/sig_header may be NULL
 * (→ HV_SIG_MISSING). `now` is Unix seconds, `tolerance` seconds. The timestamp is checked
 * before the HMAC so stale messages cost nothing. */
hv_sig_result_t hv_sig_verify(hv_sig_verifier_t *v, const char *msg_id, const char *timestamp,
                              const char *sig_header, const void *body, size_t body_len,
                              int64_t now, int64_t tolerance);

/* Computes the base64 v1 signature (no "v1," prefix) of a message with key index k into
 * out[64+]. Used by hocvu-bench and tests to sign like a sender. Returns 0, or -1 if k is out
 * of range. */
HV_MUST_CHECK int hv_sig_sign(hv_sig_verifier_t *v, int k, const char *msg_id,
                              const char *timestamp, const void *body, size_t body_len,
                              char out[64]);

#endif
