/*
 * web.c - the dashboard page that cmake/embed_file.cmake compiled into the library from
 * web/dashboard.html (see cmake/web.cmake), with the jurisdiction's name put in its title.
 */
#include "hocvu/web.h"

#include <string.h>

#include "hocvu/util.h"

/* Defined in the generated dashboard_html.c. */
extern const unsigned char hv_dashboard_html[];
extern const size_t hv_dashboard_html_len;

#define PLACEHOLDER "{{JURISDICTION}}"

const char *hv_web_dashboard(size_t *len)
{
    if (len)
        *len = hv_dashboard_html_len;
    return (const char *)hv_dashboard_html;
}

/* Appends s HTML-escaped (it lands in element text and an attribute value). */
static void put_escaped(hv_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            hv_buf_puts(b, "&amp;");
            break;
        case '<':
            hv_buf_puts(b, "&lt;");
            break;
        case '>':
            hv_buf_puts(b, "&gt;");
            break;
        case '"':
            hv_buf_puts(b, "&quot;");
            break;
        case '\'':
            hv_buf_puts(b, "&#39;");
            break;
        default:
            hv_buf_putc(b, *s);
        }
    }
}

char *hv_web_dashboard_page(const char *jurisdiction, size_t *len)
{
    const char *page = (const char *)hv_dashboard_html, *end = page + hv_dashboard_html_len;
    size_t plen = strlen(PLACEHOLDER);
    hv_buf_t b;

    hv_buf_init(&b);
    while (page < end) {
        const char *at = strstr(page, PLACEHOLDER);
        if (!at || at >= end) {
            hv_buf_append(&b, page, (size_t)(end - page));
            break;
        }
        hv_buf_append(&b, page, (size_t)(at - page));
        put_escaped(&b, jurisdiction);
        page = at + plen;
    }
    *len = b.len;
    return b.data ? b.data : hv_xstrdup("");
}
