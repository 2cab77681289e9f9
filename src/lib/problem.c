/*
 * problem.c - problem documents (RFC 9457) and HTTP reason phrases; no I/O.
 */
#include "hocvu/problem.h"

#include <stdio.h>
#include <string.h>

#include "hocvu/json.h"

void hv_problem_set(hv_problem_t *p, int status, const char *code, const char *field,
                    const char *detail)
{
    p->status = status;
    p->code = code;
    p->field = field;
    snprintf(p->detail, sizeof(p->detail), "%s", detail ? detail : "");
    p->n_candidates = 0;
}

const char *hv_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

void hv_problem_render(const hv_problem_t *p, hv_buf_t *out)
{
    hv_json_t j;

    hv_json_init(&j, out);
    hv_json_obj(&j);
    hv_json_kstr(&j, "type", "about:blank");
    hv_json_kstr(&j, "title", hv_status_text(p->status));
    hv_json_kint(&j, "status", p->status);
    hv_json_kstr(&j, "code", p->code);
    if (p->detail[0])
        hv_json_kstr(&j, "detail", p->detail);
    if (p->field)
        hv_json_kstr(&j, "field", p->field);
    if (p->n_candidates > 0) {
        hv_json_key(&j, "candidates");
        hv_json_arr(&j);
        for (int i = 0; i < p->n_candidates; i++)
            hv_json_str(&j, p->candidates[i]);
        hv_json_end(&j);
    }
    hv_json_end(&j);
}
