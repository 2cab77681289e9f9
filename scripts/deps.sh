#!/usr/bin/env bash
# scripts/deps.sh - installs what hocvu needs to build, run and test: Debian packages (only
# when one is missing, so re-runs cost a dpkg query) and the integration tests' npm modules.
#
# Usage: scripts/deps.sh            install what is missing
#        scripts/deps.sh --list     print the apt packages this machine should get installed
# Sourcing it only defines HOCVU_APT_PACKAGES and the functions (used by .ci/run).
set -euo pipefail

# Every Debian package the project needs, in one place: build, servers, the browser test
# (chromium + a font with Vietnamese glyphs), promtool (prometheus), the multi-instance test
# (haproxy) and the fuzzers (clang with its runtime). HOCVU_EXTRA_APT_PACKAGES adds more
# (CI adds clang-format).
HOCVU_APT_PACKAGES="build-essential cmake pkg-config libevent-dev libpq-dev libssl-dev
libjansson-dev libhiredis-dev libxlsxwriter-dev zlib1g-dev postgresql redis-server nodejs npm curl ca-certificates openssl
chromium fonts-dejavu-core prometheus haproxy clang libclang-rt-14-dev yamllint shellcheck"

# Prints, one per line, the packages to hand to apt-get install. Node.js from another source
# (e.g. NodeSource, whose nodejs bundles npm and conflicts with Debian's npm) counts as
# present when its commands are on PATH, so we never fight an existing install.
hocvu_apt_wanted() {
    local pkg
    for pkg in $HOCVU_APT_PACKAGES ${HOCVU_EXTRA_APT_PACKAGES:-}; do
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

hocvu_install_apt() {
    local missing
    missing=$(hocvu_apt_missing | tr '\n' ' ')
    if [[ -z "${missing// /}" ]]; then
        return 0
    fi
    echo "deps.sh: installing missing packages: $missing" >&2
    hocvu_as_root apt-get update
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    hocvu_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
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
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    case "${1:-}" in
    --list)
        hocvu_apt_wanted
        return 0
        ;;
    "") ;;
    *)
        echo "usage: scripts/deps.sh [--list]" >&2
        return 2
        ;;
    esac
    hocvu_install_apt
    hocvu_install_npm "$root/tests/integration"
    hocvu_install_npm "$root/deploy"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    hocvu_deps_main "$@"
fi
