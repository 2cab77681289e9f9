/*
 * problem.h - why a request was refused, as the contract reports it: an RFC 9457 problem
 * document (status, code, field, detail, and for ambiguous_ward the candidate units). Pure:
 * the validation step fills one, the HTTP layer renders and sends it.
 */
#ifndef HOCVU_PROBLEM_H
#define HOCVU_PROBLEM_H

#include <stddef.h>

#include "hocvu/util.h"
#include "hocvu/ward.h"

typedef struct hv_problem {
    int status;
    const char *code;  /* static: "invalid_event", "unknown_ward", ... */
    const char *field; /* static or NULL: the JSON path (or header) at fault */
    char detail[160];  /* "" = no detail member */
    int n_candidates;  /* ambiguous_ward: the current units to choose from */
    char candidates[HV_WARD_MAX_CANDIDATES][HV_WARD_CODE_LEN + 1];
} hv_problem_t;

/* Fills a problem without candidates; detail may be NULL. */
void hv_problem_set(hv_problem_t *p, int status, const char *code, const char *field,
                    const char *detail);

/* The reason phrase of an HTTP status ("Bad Request"; "Error" for one not used here). */
const char *hv_status_text(int status);

/* Appends the problem document to out:
 * {"type":"about:blank","title":…,"status":…,"code":…[,"detail":…][,"field":…][,"candidates":[…]]}
 */
void hv_problem_render(const hv_problem_t *p, hv_buf_t *out);

#endif
