#!/usr/bin/env bash
# deploy/check-image.sh - proves the Dockerfile without a Docker engine or a registry: makes a
# debian:bookworm base locally with debootstrap (once; it stays in buildah's storage), builds
# the image with `buildah bud --pull=never`, then runs hocvud --version, hocvuctl --help and the
# image's own HEALTHCHECK command inside it and checks it runs as a non-root user.
#
# Usage: deploy/check-image.sh [--rebuild-base]
#   --rebuild-base  debootstrap the base again even if debian:bookworm is already in storage
# The base and the built image (localhost/hocvu:check) stay in buildah's storage, so a second run
# skips the debootstrap; `buildah rmi` them to start from nothing.
# Environment: HOCVU_DEBIAN_MIRROR (default: the machine's own Debian mirror from
#   /etc/apt/sources.list*), BUILDAH_ISOLATION (default chroot: works as root inside a
#   container, where buildah's default OCI runtime cannot create namespaces),
#   HOCVU_IMAGE (default localhost/hocvu:check).
# Needs root (debootstrap, rootful buildah) and the Debian packages buildah and debootstrap;
# missing ones are installed with apt-get.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${HOCVU_IMAGE:-localhost/hocvu:check}
# The Dockerfile says FROM debian:bookworm; with --pull=never buildah resolves that short name
# against local storage, where a pulled image would be docker.io/library/debian:bookworm. The
# locally made base gets that name so the Dockerfile needs no edit to build here.
BASE=docker.io/library/debian:bookworm
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
REBUILD_BASE=0
for arg in "$@"; do
    case "$arg" in
    --rebuild-base) REBUILD_BASE=1 ;;
    -h | --help)
        sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "check-image.sh: unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done

if [[ "$(id -u)" -ne 0 ]]; then
    echo "check-image.sh: must run as root (debootstrap and rootful buildah)" >&2
    exit 1
fi

T0=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() {
    echo "check-image.sh: FAIL: $*" >&2
    exit 1
}

missing=()
for tool in buildah:buildah debootstrap:debootstrap; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

WORK=$(mktemp -d /tmp/hocvu-image.XXXXXX)
CONTAINERS=()
cleanup() {
    local c
    for c in "${CONTAINERS[@]}"; do
        buildah rm "$c" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The mirror this machine already uses for bookworm (it is known to be reachable), so the base
# matches the host's package versions; deb.debian.org otherwise.
debian_mirror() {
    local uri
    if [[ -n "${HOCVU_DEBIAN_MIRROR:-}" ]]; then
        echo "$HOCVU_DEBIAN_MIRROR"
        return
    fi
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -v '^[[:space:]]*#' |
        grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' | head -n 1 | tr -d '[:space:]' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# Deletes docs, manuals, translations and caches from a debootstrapped tree. Refuses anything
# that is not a fresh debootstrap target under $WORK: these paths must never resolve on the host.
slim_rootfs() {
    local r=${1:?slim_rootfs needs a directory}
    [[ "$r" == "$WORK"/* && -f "$r/etc/debian_version" && "$(cd "$r" && pwd -P)" != / ]] ||
        fail "refusing to slim '$r': not a debootstrap tree under $WORK"
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "${r:?}"/usr/share/{info,man,groff,linda,lintian} "${r:?}"/var/cache/apt/archives/*.deb \
        "${r:?}"/var/cache/apt/*.bin "${r:?}"/var/lib/apt/lists/* "${r:?}"/var/log/*.log "${r:?}"/tmp/*
    mkdir -p "$r/usr/share/man" "$r/usr/share/info"
}

# ---- 1. the base image ---------------------------------------------------------------------------
if ((REBUILD_BASE)) || ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    MIRROR=$(debian_mirror)
    SECURITY=${MIRROR%/debian}/debian-security
    [[ "$SECURITY" == "$MIRROR/debian-security" ]] && SECURITY=http://deb.debian.org/debian-security
    step "debootstrap --variant=minbase bookworm from $MIRROR"
    rootfs="$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 30 "$WORK/debootstrap.log" >&2
        fail "debootstrap failed (log above)"
    }
    # Like the official image: updates and security suites too, so `apt-get upgrade` in a
    # derived image gets fixes; no package caches or lists baked into the base.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Slim like debian:bookworm-slim (debuerreotype's --slimify): no manuals, docs or
    # translations, now or in packages installed later; licences stay. Saves ~50 MB.
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/info/*' 'path-exclude /usr/share/man/*' \
        'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/linda/*' \
        'path-exclude /usr/share/lintian/*' 'path-exclude /usr/share/locale/*' \
        'path-include /usr/share/locale/locale.alias' \
        >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
    slim_rootfs "$rootfs"
    # /dev, /proc and /sys are provided by the container runtime at run time.
    tar --numeric-owner -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf "$WORK/rootfs.tar" .
    step "importing the base as $BASE ($(du -sh "$WORK/rootfs.tar" | cut -f1) uncompressed)"
    ctr=$(buildah from --pull=never scratch)
    CONTAINERS+=("$ctr")
    buildah add --quiet "$ctr" "$WORK/rootfs.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash --label org.opencontainers.image.description="debootstrap --variant=minbase bookworm ($MIRROR)" \
        "$ctr"
    buildah commit --quiet --rm "$ctr" "$BASE" >/dev/null
    CONTAINERS=()
    rm -rf "$rootfs" "$WORK/rootfs.tar"
else
    step "base $BASE already in local storage (--rebuild-base to remake it)"
fi

# ---- 2. the image --------------------------------------------------------------------------------
# --format docker: the OCI image format has no HEALTHCHECK field and buildah would drop it.
# No --layers: every run builds from the base as CI would, and leaves no stale build-stage
# images (about 750 MB each) behind.
step "buildah bud --pull=never --isolation $BUILDAH_ISOLATION -t $IMAGE"
B0=$SECONDS
old_id=$(buildah images -q --no-trunc "$IMAGE" 2>/dev/null | head -n 1 || true)
buildah bud --pull=never --format docker --isolation "$BUILDAH_ISOLATION" \
    -f "$ROOT/Dockerfile" -t "$IMAGE" "$ROOT" >"$WORK/bud.log" 2>&1 || {
    tail -n 40 "$WORK/bud.log" >&2
    fail "buildah bud failed (log above)"
}
BUILD_SECONDS=$((SECONDS - B0))
# The previous build under this tag is now untagged: remove that one image, nothing else.
new_id=$(buildah images -q --no-trunc "$IMAGE" | head -n 1)
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    buildah rmi "$old_id" >/dev/null 2>&1 || true
fi

# ---- 3. what the image declares ------------------------------------------------------------------
step "inspecting $IMAGE"
inspect() { buildah inspect --type image --format "$1" "$IMAGE"; }
user=$(inspect '{{.Docker.Config.User}}')
case "${user%%:*}" in
"" | 0 | root) fail "image runs as root (User='$user')" ;;
esac
health=$(inspect '{{range .Docker.Config.Healthcheck.Test}}{{.}} {{end}}')
[[ "$health" == *"/healthz"* ]] || fail "no HEALTHCHECK on /healthz (Healthcheck.Test='$health')"
entry=$(inspect '{{range .Docker.Config.Entrypoint}}{{.}} {{end}}')
[[ "$entry" == *hocvud* ]] || fail "ENTRYPOINT is not hocvud ('$entry')"
# shellcheck disable=SC2016 # a Go template, not shell
ports=$(inspect '{{range $p, $_ := .Docker.Config.ExposedPorts}}{{$p}} {{end}}')
[[ "$ports" == *8080/tcp* ]] || fail "port 8080 not exposed ('$ports')"
env=$(inspect '{{range .Docker.Config.Env}}{{.}} {{end}}')
[[ "$env" == *HOCVU_LISTEN=0.0.0.0:8080* ]] || fail "HOCVU_LISTEN not set to 0.0.0.0:8080"
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -n 1)
echo "user=$user entrypoint=$entry exposed=$ports size=$size"
echo "healthcheck: $health"

# ---- 4. running it -------------------------------------------------------------------------------
step "running the programs inside $IMAGE"
ctr=$(buildah from --pull=never "$IMAGE")
CONTAINERS+=("$ctr")
inside() { buildah run --isolation "$BUILDAH_ISOLATION" "$ctr" -- "$@"; }
inside /usr/local/bin/hocvud --version
inside /usr/local/bin/hocvuctl --help >"$WORK/ctl-help.txt" || fail "hocvuctl --help failed"
grep -q 'reconcile' "$WORK/ctl-help.txt" || fail "hocvuctl --help does not list its commands"
echo "hocvuctl --help: $(wc -l <"$WORK/ctl-help.txt") lines"
uid=$(inside id -u)
[[ "$uid" != 0 ]] || fail "buildah run executes as root inside the image"
echo "runs as uid $uid ($(inside id -un))"
for f in cantho_wards_2025.csv cantho_old_units_pre2025.csv cccd_province_codes.csv; do
    inside test -r "/usr/share/hocvu/data/$f" || fail "data file /usr/share/hocvu/data/$f missing"
done
echo "data set: $(inside ls /usr/share/hocvu/data | tr '\n' ' ')"

# The HEALTHCHECK command itself, against a hocvud started in the image with no database: the
# process is alive, so /healthz must answer 200 (readiness, not liveness, tracks PostgreSQL).
# chroot isolation shares the host's network, so use 8080 only if nobody listens there.
# shellcheck source=scripts/ports.sh
. "$ROOT/scripts/ports.sh"
port=8080
if port_busy "$port"; then
    port=$(free_port 18080) || fail "no free port for the HEALTHCHECK probe"
fi
probe=${health#CMD }
probe=${probe//127.0.0.1:8080/127.0.0.1:$port}
step "HEALTHCHECK command against hocvud on 127.0.0.1:$port inside the image"
# The secret and pepper are throwaway values made and dropped inside this one container.
# shellcheck disable=SC2016 # the script expands inside the container, not here
buildah run --isolation "$BUILDAH_ISOLATION" \
    --env HOCVU_LISTEN="127.0.0.1:$port" \
    --env HOCVU_DATABASE_URL="postgresql://hocvu@127.0.0.1:1/hocvu?connect_timeout=1" \
    --env HOCVU_REDIS_URL="redis://127.0.0.1:1/0" \
    --env HOCVU_THREADS=1 \
    "$ctr" -- bash -c '
        set -euo pipefail
        HOCVU_WEBHOOK_SECRETS=$(hocvuctl gen-secret) HOCVU_ID_PEPPER=$(head -c 32 /dev/urandom | base64) \
            hocvud 2>/tmp/hocvud.log &
        pid=$!
        ok=1
        for _ in $(seq 50); do
            if '"$probe"' 2>/dev/null; then ok=0; break; fi
            sleep 0.1
        done
        kill -TERM "$pid"
        status=0
        wait "$pid" || status=$?
        if ((ok)); then echo "healthcheck never passed; hocvud said:"; cat /tmp/hocvud.log; exit 1; fi
        echo "healthcheck passed; hocvud exited $status after SIGTERM"
        exit "$status"' || fail "the image's HEALTHCHECK did not pass against a running hocvud"

TOTAL=$((SECONDS - T0))
step "OK: $IMAGE built in ${BUILD_SECONDS}s, checked in ${TOTAL}s total"
