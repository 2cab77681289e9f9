/*
 * web.c - hands out the dashboard page that cmake/embed_file.cmake compiled into the library
 * from web/dashboard.html (see cmake/web.cmake).
 */
#include "hocvu/web.h"

/* Defined in the generated dashboard_html.c. */
extern const unsigned char hv_dashboard_html[];
extern const size_t hv_dashboard_html_len;

const char *hv_web_dashboard(size_t *len)
{
    if (len)
        *len = hv_dashboard_html_len;
    return (const char *)hv_dashboard_html;
}
