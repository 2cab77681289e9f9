/*
 * fuzz_citizen.c - libFuzzer target for the citizen-id validator and log mask: compared with a
 * reference check written here from the contract and data/cccd_province_codes.csv.
 */
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/citizen.h"

/* Province codes read from the data file, not from citizen.c's table, so a typo in either shows. */
static bool province[1000];
static hv_pseudonymizer_t *pseudo;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char line[512];
    int n = 0;
    FILE *fp = fopen(HOCVU_SOURCE_DIR "/data/cccd_province_codes.csv", "r");
    FUZZ_ASSERT(fp != NULL);
    FUZZ_ASSERT(fgets(line, sizeof(line), fp) != NULL); /* header */
    while (fgets(line, sizeof(line), fp)) {
        FUZZ_ASSERT(strspn(line, "0123456789") == 3 && line[3] == ',');
        province[(line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0')] = true;
        n++;
    }
    fclose(fp);
    FUZZ_ASSERT(n == 63);
    static const char pepper[] = "fuzz-pepper-0123456789abcdef0123456789";
    pseudo = hv_pseudonymizer_new(pepper, sizeof(pepper) - 1);
    FUZZ_ASSERT(pseudo != NULL);
    return 0;
}

/* The contract's rule, restated: 12 ASCII digits, a known province, digit 4 the century pair,
 * digits 5-6 the year within it, not after the event's year. */
static bool reference_valid(const char *s, size_t n, int event_year, int *year)
{
    if (n != 12)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (!province[(s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0')])
        return false;
    static const int century[10] = {1900, 1900, 2000, 2000, 2100, 2100, 2200, 2200, 2300, 2300};
    *year = century[s[3] - '0'] + (s[4] - '0') * 10 + (s[5] - '0');
    return *year <= event_year;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* two bytes pick the event year around the plausible range, including far off */
    int event_year = 1850 + ((data[0] << 8 | data[1]) % 600);
    data += 2;
    size -= 2;
    char *id = fuzz_dup_exact(data, size);

    int year = -1, ref_year = -1;
    bool ok = hv_citizen_valid(id, size, event_year, &year);
    bool ref = reference_valid(id, size, event_year, &ref_year);
    FUZZ_ASSERT(ok == ref);
    if (ok) {
        FUZZ_ASSERT(year == ref_year);
        FUZZ_ASSERT(hv_citizen_birth_year(id) == year);
        FUZZ_ASSERT(hv_citizen_province_known(id));
        /* NULL birth_year is allowed */
        FUZZ_ASSERT(hv_citizen_valid(id, size, event_year, NULL));
    }
    if (size >= 3) {
        bool known = hv_citizen_province_known(id);
        if (id[0] >= '0' && id[0] <= '9' && id[1] >= '0' && id[1] <= '9' && id[2] >= '0' &&
            id[2] <= '9')
            FUZZ_ASSERT(known ==
                        province[(id[0] - '0') * 100 + (id[1] - '0') * 10 + (id[2] - '0')]);
        else
            FUZZ_ASSERT(!known);
    }

    /* the mask reveals at most 3 + 2 digits, never other bytes, and is always terminated */
    char mask[16];
    memset(mask, 0x55, sizeof(mask));
    hv_citizen_mask(id, size, mask);
    size_t mn = strnlen(mask, sizeof(mask));
    FUZZ_ASSERT(mn < sizeof(mask));
    bool digits = size == HV_CITIZEN_LEN;
    for (size_t i = 0; digits && i < size; i++)
        digits = id[i] >= '0' && id[i] <= '9';
    if (digits) {
        FUZZ_ASSERT(mn == HV_CITIZEN_LEN);
        FUZZ_ASSERT(memcmp(mask, id, 3) == 0 && memcmp(mask + 10, id + 10, 2) == 0);
        FUZZ_ASSERT(strspn(mask + 3, "*") == 7);
    } else {
        FUZZ_ASSERT(strcmp(mask, "***") == 0);
    }
    size_t revealed = 0;
    for (size_t i = 0; i < mn; i++) {
        FUZZ_ASSERT(mask[i] == '*' || (mask[i] >= '0' && mask[i] <= '9'));
        revealed += mask[i] != '*';
    }
    FUZZ_ASSERT(revealed <= 5);

    /* pseudonyms: deterministic, and one changed digit gives another pseudonym */
    if (ok) {
        uint8_t p1[HV_PSEUDONYM_LEN], p2[HV_PSEUDONYM_LEN];
        hv_pseudonymize(pseudo, id, size, p1);
        hv_pseudonymize(pseudo, id, size, p2);
        FUZZ_ASSERT(memcmp(p1, p2, sizeof(p1)) == 0);
        id[11] = id[11] == '9' ? '0' : (char)(id[11] + 1);
        hv_pseudonymize(pseudo, id, size, p2);
        FUZZ_ASSERT(memcmp(p1, p2, sizeof(p1)) != 0);
    }
    free(id);
    return 0;
}
