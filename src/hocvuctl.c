/*
 * hocvuctl.c - the operator CLI: parses global options and the command line, connects to
 * PostgreSQL when the command needs it, and dispatches to the hv_ctl_* commands.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hocvu/ctl.h"
#include "hocvu/version.h"

#define DEFAULT_DATABASE_URL "postgresql:///hocvu"

/* Prints the help text. Shows where the database URL comes from, never its value. */
static void usage(FILE *f)
{
    fputs("Usage: hocvuctl [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Operator tool of hocvu; talks to PostgreSQL directly.\n"
          "\n"
          "Commands:\n"
          "  migrate                       apply the embedded SQL migrations the database\n"
          "                                lacks (idempotent; concurrent runs wait in turn)\n"
          "  wards import [--province CODE] FILE.csv\n"
          "                                load or update the current units; columns by header\n"
          "                                name: code,name,type required (phuong, xa, dac_khu),\n"
          "                                population,target,population_flag optional; all\n"
          "                                rows or none; --province keeps the rows whose\n"
          "                                province_code is CODE (the national list)\n"
          "  wards import-legacy FILE.csv  load the pre-1 July 2025 units and their current\n"
          "                                units; columns old_code,old_name,new_codes,split\n"
          "  targets import FILE.csv       replace the targets of the years in the file;\n"
          "                                columns year,scope,group and target or percent\n"
          "                                required, base,measure optional; every bad row is\n"
          "                                reported as FILE:LINE: message, nothing loaded then\n"
          "  cohorts import FILE.csv       load or update cohorts (agencies, enterprises,\n"
          "                                schools, villages, teams, mentors); columns\n"
          "                                code,name,kind required, ward optional\n"
          "  cohorts members CODE FILE.csv replace cohort CODE's member list; columns\n"
          "                                member_ref,citizen_id; ids are pseudonymised with\n"
          "                                $HOCVU_ID_PEPPER (the service's) and never stored\n"
          "  report freeze --as-of YYYY-MM-DD [--year YYYY] --label TEXT\n"
          "                                freeze the ward report as of that day (the year's\n"
          "                                targets; default the day's year) with its RFC 8785\n"
          "                                digest and evidence; prints the id and the digest\n"
          "  report verify ID              recompute a frozen report's digest (exit 0 if it\n"
          "                                matches) and show how the same day counts now\n"
          "  reconcile [--repair] [--metrics-file FILE]\n"
          "                                recompute every counter and cohort figure from the\n"
          "                                stored certificates and print each difference;\n"
          "                                --repair rewrites them; exit 1 when a difference\n"
          "                                remains, 0 when none or all repaired; --metrics-file\n"
          "                                writes the result for node_exporter's textfile\n"
          "                                collector (hocvu_reconcile_*)\n"
          "  gen-secret                    print a fresh whsec_ webhook secret\n"
          "  help                          show this help\n"
          "\n"
          "Options:\n"
          "  --database-url URL  libpq conninfo or URI of the database\n"
          "                      (default: $HOCVU_DATABASE_URL, else " DEFAULT_DATABASE_URL ")\n"
          "  -h, --help          show this help and exit\n"
          "  -V, --version       show the version and exit\n"
          "\n"
          "Environment:\n"
          "  HOCVU_DATABASE_URL  database URL when --database-url is not given; libpq's PG*\n"
          "                      variables and ~/.pgpass apply as usual\n"
          "  HOCVU_ID_PEPPER     the service's pseudonymisation key (cohorts members)\n"
          "\n"
          "Exit status:\n"
          "  0  success: done; reconcile found no difference or repaired every one; report\n"
          "     verify found the digest and the evidence intact\n"
          "  1  failure: database unreachable or an SQL error; an import with bad rows (each\n"
          "     printed as FILE:LINE: message, nothing loaded); reconcile found differences it\n"
          "     did not repair; report verify found a mismatch\n"
          "  2  usage error: unknown command or option, missing argument\n",
          f);
}

/* Reports a usage error: one line with the reason and a hint. Returns the usage exit status. */
static int usage_error(const char *reason, const char *arg)
{
    if (arg)
        fprintf(stderr, "hocvuctl: %s: %s\n", reason, arg);
    else
        fprintf(stderr, "hocvuctl: %s\n", reason);
    fputs("Try 'hocvuctl --help' for more information.\n", stderr);
    return HV_CTL_USAGE;
}

/* Runs a command that needs the database: connects, calls it, disconnects. Exactly one of the
 * argument combinations is used depending on `cmd`. Returns the exit status. */
static int with_database(const char *url, const char *cmd, const char *file, bool repair,
                         const char *province)
{
    int status = HV_CTL_FAILED;
    hv_ctl_reconcile_result_t rec;
    PGconn *conn = hv_ctl_connect(url, stderr);

    memset(&rec, 0, sizeof(rec));
    if (conn == NULL)
        goto done;
    if (strcmp(cmd, "migrate") == 0)
        status = hv_ctl_migrate(conn, stdout, stderr);
    else if (strcmp(cmd, "import") == 0)
        status = hv_ctl_wards_import(conn, file, province, stdout, stderr);
    else if (strcmp(cmd, "import-legacy") == 0)
        status = hv_ctl_wards_import_legacy(conn, file, stdout, stderr);
    else if (strcmp(cmd, "targets-import") == 0)
        status = hv_ctl_targets_import(conn, file, stdout, stderr);
    else
        status = hv_ctl_reconcile(conn, repair, &rec, stdout, stderr);
done:
    PQfinish(conn);
    /* A reconcile with --metrics-file reports every run, a failed connection too
     * (hocvu_reconcile_success 0), so an alert sees a run that could not check anything. */
    if (strcmp(cmd, "reconcile") == 0 && file != NULL &&
        hv_ctl_reconcile_metrics(file, &rec, (double)time(NULL), stderr) < 0)
        status = HV_CTL_FAILED;
    if (fflush(stdout) != 0 && status == HV_CTL_OK)
        status = HV_CTL_FAILED;
    return status;
}

/* hocvuctl report freeze --as-of YYYY-MM-DD [--year YYYY] --label TEXT | report verify ID */
static int report_command(const char *url, int nargs, char **args)
{
    const char *as_of = NULL, *year = NULL, *label = NULL;
    int status;
    PGconn *conn;

    if (nargs == 0 || (strcmp(args[0], "freeze") != 0 && strcmp(args[0], "verify") != 0))
        return usage_error("report needs a subcommand: freeze or verify", nargs ? args[0] : NULL);
    if (strcmp(args[0], "verify") == 0) {
        if (nargs != 2)
            return usage_error("report verify takes one report id", nargs > 2 ? args[2] : NULL);
    } else {
        for (int k = 1; k < nargs; k++) {
            const char **slot = strcmp(args[k], "--as-of") == 0   ? &as_of
                                : strcmp(args[k], "--year") == 0  ? &year
                                : strcmp(args[k], "--label") == 0 ? &label
                                                                  : NULL;
            if (!slot)
                return usage_error("unknown report freeze argument", args[k]);
            if (k + 1 >= nargs)
                return usage_error("option requires an argument", args[k]);
            *slot = args[++k];
        }
        if (!as_of || !label)
            return usage_error("report freeze needs --as-of YYYY-MM-DD and --label TEXT", NULL);
    }
    conn = hv_ctl_connect(url, stderr);
    if (!conn)
        return HV_CTL_FAILED;
    status = strcmp(args[0], "verify") == 0
                 ? hv_ctl_report_verify(conn, args[1], stdout, stderr)
                 : hv_ctl_report_freeze(conn, as_of, year, label, stdout, stderr);
    PQfinish(conn);
    if (fflush(stdout) != 0 && status == HV_CTL_OK)
        status = HV_CTL_FAILED;
    return status;
}

/* hocvuctl cohorts import FILE.csv | cohorts members CODE FILE.csv */
static int cohorts_command(const char *url, int nargs, char **args)
{
    int status;
    PGconn *conn;
    bool members = nargs > 0 && strcmp(args[0], "members") == 0;

    if (nargs == 0 || (!members && strcmp(args[0], "import") != 0))
        return usage_error("cohorts needs a subcommand: import or members", nargs ? args[0] : NULL);
    if (nargs != (members ? 3 : 2))
        return usage_error(members ? "usage: cohorts members CODE FILE.csv"
                                   : "usage: cohorts import FILE.csv",
                           nargs > (members ? 3 : 2) ? args[members ? 3 : 2] : NULL);
    conn = hv_ctl_connect(url, stderr);
    if (!conn)
        return HV_CTL_FAILED;
    status = members ? hv_ctl_cohorts_members(conn, args[1], args[2], stdout, stderr)
                     : hv_ctl_cohorts_import(conn, args[1], stdout, stderr);
    PQfinish(conn);
    if (fflush(stdout) != 0 && status == HV_CTL_OK)
        status = HV_CTL_FAILED;
    return status;
}

int main(int argc, char **argv)
{
    const char *url = getenv("HOCVU_DATABASE_URL");
    int i = 1;

    if (url == NULL || url[0] == '\0')
        url = DEFAULT_DATABASE_URL;

    /* --help anywhere on the line wins, so "hocvuctl wards import --help" helps. */
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--") == 0)
            break;
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            usage(stdout);
            return HV_CTL_OK;
        }
    }

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("hocvuctl %s\n", HOCVU_VERSION);
            return HV_CTL_OK;
        } else if (strcmp(a, "--database-url") == 0) {
            if (i + 1 >= argc)
                return usage_error("option requires an argument", a);
            url = argv[++i];
        } else if (strncmp(a, "--database-url=", 15) == 0) {
            url = a + 15;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (i >= argc)
        return usage_error("missing command", NULL);

    const char *cmd = argv[i++];
    int nargs = argc - i;
    char **args = argv + i;

    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return HV_CTL_OK;
    }
    if (strcmp(cmd, "gen-secret") == 0) {
        if (nargs != 0)
            return usage_error("gen-secret takes no arguments, got", args[0]);
        return hv_ctl_gen_secret(stdout, stderr);
    }
    if (strcmp(cmd, "migrate") == 0) {
        if (nargs != 0)
            return usage_error("migrate takes no arguments, got", args[0]);
        return with_database(url, "migrate", NULL, false, NULL);
    }
    if (strcmp(cmd, "reconcile") == 0) {
        bool repair = false;
        const char *metrics_file = NULL;

        for (int k = 0; k < nargs; k++) {
            if (strcmp(args[k], "--repair") == 0) {
                repair = true;
            } else if (strcmp(args[k], "--metrics-file") == 0) {
                if (k + 1 >= nargs)
                    return usage_error("option requires an argument", args[k]);
                metrics_file = args[++k];
            } else {
                return usage_error("unknown reconcile argument", args[k]);
            }
        }
        return with_database(url, "reconcile", metrics_file, repair, NULL);
    }
    if (strcmp(cmd, "wards") == 0) {
        if (nargs == 0)
            return usage_error("wards needs a subcommand: import or import-legacy", NULL);
        if (strcmp(args[0], "import") != 0 && strcmp(args[0], "import-legacy") != 0)
            return usage_error("unknown wards subcommand", args[0]);
        const char *province = NULL, *file = NULL;
        for (int k = 1; k < nargs; k++) {
            if (strcmp(args[0], "import") == 0 && strcmp(args[k], "--province") == 0) {
                if (k + 1 >= nargs)
                    return usage_error("option requires an argument", "--province");
                province = args[++k];
            } else if (strcmp(args[0], "import") == 0 && strncmp(args[k], "--province=", 11) == 0) {
                province = args[k] + 11;
            } else if (!file && args[k][0] != '-') {
                file = args[k];
            } else {
                return usage_error(file ? "too many arguments for wards" : "unknown wards option",
                                   args[k]);
            }
        }
        if (!file)
            return usage_error("missing FILE.csv for wards", args[0]);
        if (province && (strlen(province) != 2 || province[0] < '0' || province[0] > '9' ||
                         province[1] < '0' || province[1] > '9'))
            return usage_error("--province takes a 2-digit province code (e.g. 92, 31)", province);
        return with_database(url, args[0], file, false, province);
    }
    if (strcmp(cmd, "targets") == 0) {
        if (nargs == 0 || strcmp(args[0], "import") != 0)
            return usage_error("targets needs a subcommand: import", nargs ? args[0] : NULL);
        if (nargs != 2)
            return usage_error(nargs < 2 ? "missing FILE.csv for targets import"
                                         : "too many arguments for targets import",
                               args[0]);
        return with_database(url, "targets-import", args[1], false, NULL);
    }
    if (strcmp(cmd, "report") == 0)
        return report_command(url, nargs, args);
    if (strcmp(cmd, "cohorts") == 0)
        return cohorts_command(url, nargs, args);
    return usage_error("unknown command", cmd);
}
