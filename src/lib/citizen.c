/*
 * citizen.c - the 12-digit personal identification number: structural validation (province,
 * century/gender, birth year), masking for logs, and HMAC-SHA256 pseudonymisation with a pepper.
 */
#include "hocvu/citizen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* Province/city codes where the birth was registered: Thông tư 07/2016/TT-BCA, Phụ lục I
 * ("Bảng danh mục mã tỉnh, thành phố trực thuộc TW nơi công dân đăng ký khai sinh"), the 63
 * pre-2025 provinces, as in data/cccd_province_codes.csv. Sorted for bsearch. The 2025 province
 * mergers do not change numbers already issued. */
static const char province_codes[][4] = {
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020",
    "022", "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038",
    "040", "042", "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060",
    "062", "064", "066", "067", "068", "070", "072", "074", "075", "077", "079", "080", "082",
    "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
};

struct hv_pseudonymizer {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
};

static int cmp_code3(const void *key, const void *elem)
{
    return memcmp(key, elem, 3);
}

bool hv_citizen_province_known(const char *code3)
{
    return bsearch(code3, province_codes, HV_ARRAY_LEN(province_codes), sizeof(province_codes[0]),
                   cmp_code3) != NULL;
}

/* Digit 4 encodes century and gender in pairs: 0/1 → 1900s, 2/3 → 2000s, ... 8/9 → 2300s. */
int hv_citizen_birth_year(const char *id12)
{
    int century = 1900 + ((id12[3] - '0') / 2) * 100;
    return century + (id12[4] - '0') * 10 + (id12[5] - '0');
}

bool hv_citizen_valid(const char *s, size_t n, int event_year, int *birth_year)
{
    if (n != HV_CITIZEN_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (!hv_citizen_province_known(s))
        return false;
    int year = hv_citizen_birth_year(s);
    if (year > event_year)
        return false;
    if (birth_year)
        *birth_year = year;
    return true;
}

/* Only an all-digit id keeps its ends: anything else came from a sender we cannot trust, and
 * copying its bytes would put NULs, line breaks or terminal escapes into a log line. */
void hv_citizen_mask(const char *s, size_t n, char out[16])
{
    bool digits = n == HV_CITIZEN_LEN;
    for (size_t i = 0; digits && i < n; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (!digits) {
        memcpy(out, "***", 4);
        return;
    }
    memcpy(out, s, 3);
    memset(out + 3, '*', 7);
    memcpy(out + 10, s + 10, 2);
    out[12] = '\0';
}

/* Returns a pseudonymiser whose HMAC context is keyed with a copy of the pepper (OpenSSL keeps
 * its own copy), or NULL if OpenSSL cannot provide HMAC-SHA256. Caller frees. */
hv_pseudonymizer_t *hv_pseudonymizer_new(const void *pepper, size_t pepper_len)
{
    hv_pseudonymizer_t *p = hv_xcalloc(1, sizeof(*p));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    p->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!p->mac)
        goto failed;
    p->ctx = EVP_MAC_CTX_new(p->mac);
    if (!p->ctx)
        goto failed;
    if (!EVP_MAC_init(p->ctx, pepper, pepper_len, params))
        goto failed;
    return p;

failed:
    hv_pseudonymizer_free(p);
    return NULL;
}

void hv_pseudonymizer_free(hv_pseudonymizer_t *p)
{
    if (!p)
        return;
    EVP_MAC_CTX_free(p->ctx);
    EVP_MAC_free(p->mac);
    free(p);
}

/* Re-initialises the keyed context (NULL key keeps the pepper) and MACs the id. A failure here
 * means the crypto library is broken; writing a wrong pseudonym would corrupt the counts, so it
 * aborts instead. */
void hv_pseudonymize(hv_pseudonymizer_t *p, const char *id, size_t n, uint8_t out[HV_PSEUDONYM_LEN])
{
    size_t outl = 0;
    if (!EVP_MAC_init(p->ctx, NULL, 0, NULL) ||
        !EVP_MAC_update(p->ctx, (const unsigned char *)id, n) ||
        !EVP_MAC_final(p->ctx, out, &outl, HV_PSEUDONYM_LEN) || outl != HV_PSEUDONYM_LEN) {
        fputs("hocvu: HMAC-SHA256 failed\n", stderr);
        abort();
    }
}
