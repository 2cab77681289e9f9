/*
 * hocvud.c - the service's main: configuration, then the server. All logic is in the library.
 */
#include <stdio.h>

#include "hocvu/config.h"
#include "hocvu/log.h"
#include "hocvu/server.h"

int main(int argc, char **argv)
{
    hv_config_t cfg;
    char err[256];
    int rc;

    switch (hv_config_load(&cfg, argc, argv, err, sizeof(err))) {
    case HV_CONFIG_EXIT_OK:
        return 0;
    case HV_CONFIG_ERROR:
        fprintf(stderr, "hocvud: %s\n", err);
        return 2;
    case HV_CONFIG_OK:
        break;
    }
    hv_log_set_level((hv_log_level_t)cfg.log_level);
    rc = hv_server_run(&cfg, argc, argv);
    hv_config_free(&cfg);
    return rc;
}
