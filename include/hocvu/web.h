/*
 * web.h - the dashboard page (web/dashboard.html), compiled into the library so GET / needs no
 * files at run time.
 */
#ifndef HOCVU_WEB_H
#define HOCVU_WEB_H

#include <stddef.h>

/* Returns the dashboard HTML (UTF-8, NUL-terminated, static storage: never freed) and stores
 * its length in bytes, without the NUL, in *len (which may be NULL). Safe from any thread. */
const char *hv_web_dashboard(size_t *len);

/* The page as served: every {{JURISDICTION}} of it replaced by the jurisdiction's name, HTML
 * escaped. Returns an owned copy (caller frees) and its length in *len. */
char *hv_web_dashboard_page(const char *jurisdiction, size_t *len);

#endif
