/*
 * server.h - the HTTP service: worker threads, each an event loop with its own listener
 * (SO_REUSEPORT), batch writer, Redis connection and HMAC contexts, sharing one read snapshot.
 */
#ifndef HOCVU_SERVER_H
#define HOCVU_SERVER_H

#include "hocvu/config.h"

/* Runs the service until SIGTERM or SIGINT, then drains in-flight work. SIGHUP re-reads the
 * configuration from the same argv, the environment and the config file and applies the
 * reloadable settings. `cfg` and argv are borrowed. Returns the process exit status (0 after a
 * clean shutdown). */
int hv_server_run(const hv_config_t *cfg, int argc, char **argv);

#endif
