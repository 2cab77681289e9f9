#!/usr/bin/env bash
# scripts/deps.sh - installs what hocvu needs: Debian packages (only those missing, so re-runs
# cost a dpkg query) and, for the tests, their npm modules. Two sets:
#   --run   what ./run.sh needs: the compiler and -dev libraries, PostgreSQL, Redis, curl
#           and openssl (about 250 MB on a bare Debian 12)
#   --test  (the default) that plus what ./test.sh needs: Node.js and npm, chromium with a
#           Vietnamese-capable font (browser test), prometheus (promtool), haproxy
#           (multi-instance test), clang (fuzzers), yamllint and shellcheck (deploy lint), and
#           the npm modules of tests/integration/ and deploy/
# Packages are installed without their recommendations. No daemon is left running or enabled:
# while apt runs, a temporary /usr/sbin/policy-rc.d (when there is none) keeps the packages'
# services from starting, and the services of packages this script installed (postgresql,
# redis-server, prometheus, haproxy) are disabled afterwards. A service that was installed
# before is left exactly as it was. hocvu starts its own servers (run.sh, the tests).
#
# Usage: scripts/deps.sh [--run | --test]       install what is missing
#        scripts/deps.sh --list [--run|--test]  print the apt packages of that set
# Sourcing it only defines HOCVU_APT_PACKAGES (both sets) and the functions (used by .ci/run).
set -euo pipefail

HOCVU_RUN_APT_PACKAGES="build-essential cmake pkg-config libevent-dev libpq-dev libssl-dev
libjansson-dev libhiredis-dev libxlsxwriter-dev zlib1g-dev postgresql redis-server curl
ca-certificates openssl"
HOCVU_TEST_APT_PACKAGES="nodejs npm chromium fonts-dejavu-core prometheus haproxy clang
libclang-rt-14-dev yamllint shellcheck"
# HOCVU_EXTRA_APT_PACKAGES adds more (CI adds clang-format).
HOCVU_APT_PACKAGES="$HOCVU_RUN_APT_PACKAGES $HOCVU_TEST_APT_PACKAGES"
# The packages whose installation enables a system service, and that service.
HOCVU_DAEMON_UNITS="postgresql:postgresql.service redis-server:redis-server.service
prometheus:prometheus.service haproxy:haproxy.service"

# Prints, one per line, the packages to hand to apt-get install. Node.js from another source
# (e.g. NodeSource, whose nodejs bundles npm and conflicts with Debian's npm) counts as
# present when its commands are on PATH, so we never fight an existing install.
hocvu_apt_wanted() {
    local pkg set=$HOCVU_APT_PACKAGES
    [[ "${HOCVU_DEPS_SET:-test}" == run ]] && set=$HOCVU_RUN_APT_PACKAGES
    for pkg in $set ${HOCVU_EXTRA_APT_PACKAGES:-}; do
        case "$pkg" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        printf '%s\n' "$pkg"
    done
}

# Prints the wanted packages that dpkg does not report as installed.
hocvu_apt_missing() {
    local pkg status
    for pkg in $(hocvu_apt_wanted); do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [[ "$status" == installed ]] || printf '%s\n' "$pkg"
    done
}

# Runs a command as root: directly when we are root, else through sudo.
hocvu_as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "deps.sh: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# Installs the missing packages with their services kept from starting, then disables the
# services of the daemon packages it installed (see the header).
hocvu_install_apt() {
    local missing pkg unit policy=/usr/sbin/policy-rc.d placed=0 status=0
    missing=$(hocvu_apt_missing | tr '\n' ' ')
    if [[ -z "${missing// /}" ]]; then
        return 0
    fi
    echo "deps.sh: installing missing packages: $missing" >&2
    hocvu_as_root apt-get update
    if ! hocvu_as_root test -e "$policy"; then
        hocvu_as_root sh -c "printf '#!/bin/sh\n# scripts/deps.sh: no service starts during its install\nexit 101\n' >$policy && chmod 755 $policy"
        placed=1
    fi
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    hocvu_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $missing || status=$?
    if ((placed)); then
        hocvu_as_root rm -f "$policy"
    fi
    for pkg in $HOCVU_DAEMON_UNITS; do
        unit=${pkg#*:}
        pkg=${pkg%%:*}
        [[ " $missing " == *" $pkg "* ]] || continue
        if command -v systemctl >/dev/null 2>&1; then
            hocvu_as_root systemctl disable --quiet "$unit" 2>/dev/null || true
            # Started anyway (a system without policy-rc.d support): stop what we installed.
            if systemctl is-active --quiet "$unit" 2>/dev/null; then
                hocvu_as_root systemctl stop "$unit" || true
            fi
        fi
        echo "deps.sh: $pkg installed with $unit disabled and not running" >&2
    done
    return "$status"
}

# npm ci when node_modules is absent or older than the lockfile; npm install without a lockfile.
hocvu_install_npm() {
    local dir=$1
    [[ -f "$dir/package.json" ]] || return 0
    if [[ -f "$dir/package-lock.json" ]]; then
        if [[ -d "$dir/node_modules" && "$dir/node_modules/.package-lock.json" -nt \
            "$dir/package-lock.json" ]]; then
            return 0
        fi
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    else
        [[ -d "$dir/node_modules" ]] && return 0
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    fi
}

hocvu_deps_main() {
    local root list=0
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    HOCVU_DEPS_SET="test"
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --list) list=1 ;;
        --run) HOCVU_DEPS_SET="run" ;;
        --test) HOCVU_DEPS_SET="test" ;;
        *)
            echo "usage: scripts/deps.sh [--list] [--run|--test]" >&2
            return 2
            ;;
        esac
        shift
    done
    if ((list)); then
        hocvu_apt_wanted
        return 0
    fi
    hocvu_install_apt
    if [[ "$HOCVU_DEPS_SET" == test ]]; then
        hocvu_install_npm "$root/tests/integration"
        hocvu_install_npm "$root/deploy"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    hocvu_deps_main "$@"
fi
