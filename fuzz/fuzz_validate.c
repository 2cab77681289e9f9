/*
 * fuzz_validate.c - libFuzzer target for the validation step (validate.c) as ingest runs it:
 * any body, as a single event or as a batch line, against a ward table with current, merged and
 * split pre-2025 units. Every refusal is a well-formed problem document that parses as JSON;
 * every accepted event is a complete write item (resolved current ward, 64-hex pseudonym, the
 * right idempotency key) with a 12-character masked citizen id for the debug log.
 */
#include <jansson.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "hocvu/json.h"
#include "hocvu/validate.h"

/* 2027-06-01T00:00:00Z, as in tests/unit/test_event.c. */
#define NOW INT64_C(1811808000)
#define PEPPER "fuzz-pepper-fuzz-pepper-fuzz-pepper-0"

static hv_wardtab_t *wards;
static hv_pseudonymizer_t *pseud;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *merged[] = {"31135"};
    const char *split[] = {"31120", "31168"};

    wards = hv_wardtab_new();
    if (hv_wardtab_add(wards, "31135", "Phường Ninh Kiều", "phuong", 100, -1) < 0 ||
        hv_wardtab_add(wards, "31120", "Phường Cái Khế", "phuong", 100, -1) < 0 ||
        hv_wardtab_add(wards, "31168", "Phường Bình Thủy", "phuong", 100, -1) < 0 ||
        hv_wardtab_add_legacy(wards, "31123", merged, 1, false) < 0 ||
        hv_wardtab_add_legacy(wards, "31178", split, 2, true) < 0)
        abort();
    hv_wardtab_finish(wards);
    pseud = hv_pseudonymizer_new(PEPPER, strlen(PEPPER));
    return 0;
}

static void check_problem(const hv_problem_t *p)
{
    hv_buf_t b;
    json_error_t jerr;

    FUZZ_ASSERT(p->status == 400 || p->status == 422);
    FUZZ_ASSERT(p->code != NULL && p->detail[0] != '\0');
    FUZZ_ASSERT(p->n_candidates == 0 || strcmp(p->code, "ambiguous_ward") == 0);
    hv_buf_init(&b);
    hv_problem_render(p, &b);
    json_t *doc = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_ASSERT(doc != NULL);
    FUZZ_ASSERT(json_integer_value(json_object_get(doc, "status")) == p->status);
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(doc, "code")), p->code) == 0);
    json_decref(doc);
    hv_buf_free(&b);
}

static void check_item(const hv_write_item_t *it, const char *msg_id, const char *id_out)
{
    FUZZ_ASSERT(strlen(it->person_hex) == 64);
    FUZZ_ASSERT(strcmp(it->id, id_out ? id_out : msg_id) == 0);
    FUZZ_ASSERT(it->cert_id[0] != '\0');
    if (it->kind == HV_EV_ISSUED) {
        FUZZ_ASSERT(hv_wardtab_find(wards, it->ward) != NULL);
        FUZZ_ASSERT(it->grp >= 1 && it->grp <= 4);
    } else {
        FUZZ_ASSERT(it->kind == HV_EV_REVOKED && it->ward[0] == '\0' && it->grp == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hv_write_item_t item;
    hv_problem_t why;
    char id[HV_EVENT_ID_MAX + 1], masked[16];
    bool line = size > 0 && (data[0] & 1);
    char *body = fuzz_dup_exact(data, size);

    memset(&item, 0, sizeof(item));
    if (hv_validate_event(wards, pseud, body, size, NOW, "fuzz-msg", line, line ? id : NULL, &item,
                          masked, &why)) {
        check_item(&item, "fuzz-msg", line ? id : NULL);
        FUZZ_ASSERT(strlen(masked) == 12 && strchr(masked, '*') != NULL);
    } else {
        check_problem(&why);
    }
    free(body);
    return 0;
}
