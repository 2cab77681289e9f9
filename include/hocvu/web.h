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

#endif
