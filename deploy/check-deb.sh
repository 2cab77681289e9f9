#!/usr/bin/env bash
# deploy/check-deb.sh - proves the Debian package: builds it with CPack (prefix /usr), then in a
# throwaway buildah container over the local debian:bookworm base (deploy/check-image.sh makes
# it) installs it with apt (its Depends resolved from the mirror), checks what it installed,
# starts PostgreSQL and Redis, writes /etc/hocvu/hocvud.env from the shipped example, migrates,
# imports the shipped Cần Thơ wards, starts hocvud exactly as the installed unit says
# (ExecStart, User, EnvironmentFile; systemd is not PID 1 in a container) and waits for
# /readyz 200, then removes the package and checks the operator's env file stays.
#
# Usage: deploy/check-deb.sh [BUILD_DIR]   (default build-deb/ in the checkout; configured with
#                                          -DCMAKE_INSTALL_PREFIX=/usr if new)
# Needs root, buildah and the base image (run deploy/check-image.sh once first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build-deb}
BASE=docker.io/library/debian:bookworm
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
T0=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() {
    echo "check-deb.sh: FAIL: $*" >&2
    exit 1
}

[[ "$(id -u)" -eq 0 ]] || fail "must run as root (rootful buildah)"
command -v buildah >/dev/null 2>&1 || fail "buildah not installed (deploy/check-image.sh installs it)"
buildah inspect --type image "$BASE" >/dev/null 2>&1 ||
    fail "no $BASE in local storage: run deploy/check-image.sh first (it debootstraps one)"

# ---- 1. the package ------------------------------------------------------------------------------
step "building the .deb in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target hocvud hocvuctl hocvu-bench >/dev/null
rm -f "$BUILD"/hocvu_*.deb
(cd "$BUILD" && cpack -G DEB >"$BUILD/cpack.log" 2>&1) || {
    tail -n 30 "$BUILD/cpack.log" >&2
    fail "cpack failed (log above)"
}
DEB=$(ls "$BUILD"/hocvu_*.deb)
echo "$(basename "$DEB"): $(du -h "$DEB" | cut -f1)"
dpkg-deb --field "$DEB" Package Version Architecture Depends Recommends Suggests
contents=$(dpkg-deb --contents "$DEB" | awk '{print $6}')
for f in ./usr/bin/hocvud ./usr/bin/hocvuctl ./usr/bin/hocvu-bench \
    ./usr/lib/systemd/system/hocvud.service ./usr/lib/systemd/system/hocvu-reconcile.timer \
    ./etc/hocvu/hocvud.env.example ./usr/share/hocvu/data/cantho_wards_2025.csv \
    ./usr/share/hocvu/data/SOURCES.md ./usr/share/doc/hocvu/README.md \
    ./usr/share/doc/hocvu/openapi.yaml ./usr/share/doc/hocvu/copyright; do
    grep -qx "$f" <<<"$contents" || fail "the package lacks $f"
done
grep -q 'ExecStart=/usr/bin/hocvud$' <(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/lib/systemd/system/hocvud.service) ||
    fail "the packaged unit does not run /usr/bin/hocvud"

# ---- 2. install it in a fresh container ----------------------------------------------------------
CTR=
cleanup() { [[ -z "$CTR" ]] || buildah rm "$CTR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
CTR=$(buildah from --pull=never "$BASE")
inside() { buildah run --isolation "$BUILDAH_ISOLATION" "$CTR" -- "$@"; }
buildah copy --quiet "$CTR" "$DEB" /tmp/hocvu.deb >/dev/null
step "apt-get install ./hocvu.deb postgresql redis-server curl (in the container)"
inside sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends /tmp/hocvu.deb postgresql redis-server curl >/tmp/apt.log 2>&1 ||
    { tail -n 30 /tmp/apt.log; exit 1; }' || fail "apt-get install of the package failed"
inside sh -c 'hocvud --version && hocvuctl --version && hocvu-bench --help >/dev/null && echo "hocvu-bench --help: ok"' ||
    fail "the programs do not run from PATH"
inside sh -c 'getent passwd hocvu >/dev/null && stat -c "%U:%G %a %n" /etc/hocvu /etc/hocvu/hocvud.env.example' ||
    fail "postinst did not create the hocvu user or /etc/hocvu"
inside sh -c 'grep -qx /etc/hocvu/hocvud.env.example /var/lib/dpkg/info/hocvu.conffiles' ||
    fail "the example env file is not a conffile"
if inside sh -c 'command -v systemd-analyze' >/dev/null 2>&1; then
    inside systemd-analyze verify /usr/lib/systemd/system/hocvud.service \
        /usr/lib/systemd/system/hocvu-reconcile.service /usr/lib/systemd/system/hocvu-reconcile.timer ||
        fail "systemd-analyze verify of the installed units"
fi

# ---- 3. start it as the unit would ---------------------------------------------------------------
# One `buildah run`: servers started in one run do not outlive it (its mounts go with it).
step "PostgreSQL, Redis, /etc/hocvu/hocvud.env, migrate, wards import; hocvud as its unit starts it"
cat >"$BUILD/check-inside.sh" <<'INSIDE'
set -e
# A cluster of its own under /tmp: the one apt created lives in an earlier run's layer, which
# PostgreSQL cannot reopen under chroot isolation ("could not open file global/...").
pgbin=/usr/lib/postgresql/15/bin
install -d -o postgres -m 700 /tmp/pg
runuser -u postgres -- $pgbin/initdb -D /tmp/pg/data -E UTF8 --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 >/dev/null
runuser -u postgres -- $pgbin/pg_ctl -D /tmp/pg/data -l /tmp/pg/log -w start \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=/tmp/pg" >/dev/null ||
    { cat /tmp/pg/log; exit 1; }
export PGHOST=/tmp/pg PGPORT=$PG_PORT
redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save "" >/dev/null
runuser -u postgres -- psql -q -c "CREATE ROLE hocvu LOGIN PASSWORD 'check-deb'" -c "CREATE DATABASE hocvu OWNER hocvu"
secret=$(hocvuctl gen-secret)
pepper=$(head -c 48 /dev/urandom | base64 -w0)
db=postgresql://hocvu:check-deb@127.0.0.1:$PG_PORT/hocvu
sed -e "s#^HOCVU_DATABASE_URL=.*#HOCVU_DATABASE_URL=$db#" \
    -e "s#^HOCVU_WEBHOOK_SECRETS=.*#HOCVU_WEBHOOK_SECRETS=$secret#" \
    -e "s#^HOCVU_ID_PEPPER=.*#HOCVU_ID_PEPPER=$pepper#" \
    -e "s#^HOCVU_LISTEN=.*#HOCVU_LISTEN=127.0.0.1:$HTTP_PORT#" \
    -e "s#^HOCVU_REDIS_URL=.*#HOCVU_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0#" \
    /etc/hocvu/hocvud.env.example >/etc/hocvu/hocvud.env
chown root:hocvu /etc/hocvu/hocvud.env
chmod 0640 /etc/hocvu/hocvud.env
if grep -v "^#" /etc/hocvu/hocvud.env | grep REPLACE_ME; then exit 1; fi
HOCVU_DATABASE_URL=$db hocvuctl migrate
HOCVU_DATABASE_URL=$db hocvuctl wards import /usr/share/hocvu/data/cantho_wards_2025.csv
unit=/usr/lib/systemd/system/hocvud.service
exec_start=$(sed -n "s/^ExecStart=//p" $unit)
user=$(sed -n "s/^User=//p" $unit)
envfile=$(sed -n "s/^EnvironmentFile=//p" $unit)
echo "as the unit says: ExecStart=$exec_start User=$user EnvironmentFile=$envfile"
# EnvironmentFile holds VAR=value lines; systemd reads it as root and passes the values.
set -a
. "$envfile"
set +a
# setpriv execs the program itself (as systemd does), so the signal below reaches hocvud.
setpriv --reuid="$user" --regid="$user" --init-groups $exec_start >/tmp/hocvud.log 2>&1 &
pid=$!
for _ in $(seq 100); do
    if curl -fsS http://127.0.0.1:$HTTP_PORT/readyz 2>/dev/null; then echo; break; fi
    sleep 0.2
done
curl -fsS -o /dev/null http://127.0.0.1:$HTTP_PORT/readyz || { cat /tmp/hocvud.log; exit 1; }
echo "GET /readyz: 200"
wards=$(curl -fsS http://127.0.0.1:$HTTP_PORT/v1/wards | grep -o '"code":"[0-9]*"' | wc -l)
echo "GET /v1/wards: $wards wards"
[ "$wards" -eq 103 ]
kill -TERM $pid
status=0
wait $pid || status=$?
echo "hocvud exited $status after SIGTERM"
[ "$status" -eq 0 ]
redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true
runuser -u postgres -- $pgbin/pg_ctl -D /tmp/pg/data -w stop >/dev/null
INSIDE
buildah copy --quiet "$CTR" "$BUILD/check-inside.sh" /tmp/check-inside.sh >/dev/null
# Under chroot isolation the container shares the host's network: use ports free here.
# shellcheck source=scripts/ports.sh
. "$ROOT/scripts/ports.sh"
PG_PORT=$(free_port 25432) || fail "no free port for PostgreSQL"
REDIS_PORT=$(free_port 26379) || fail "no free port for Redis"
HTTP_PORT=$(free_port 28080) || fail "no free port for hocvud"
echo "ports: PostgreSQL $PG_PORT, Redis $REDIS_PORT, hocvud $HTTP_PORT"
inside env PG_PORT="$PG_PORT" REDIS_PORT="$REDIS_PORT" HTTP_PORT="$HTTP_PORT" sh /tmp/check-inside.sh || fail "hocvud did not become ready as its unit starts it"

# ---- 4. remove ----------------------------------------------------------------------------------
step "apt-get remove hocvu"
inside sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q hocvu >/dev/null &&
    ! command -v hocvud && test -f /etc/hocvu/hocvud.env && echo "removed; /etc/hocvu/hocvud.env kept"' ||
    fail "remove left hocvud or lost /etc/hocvu/hocvud.env"
step "OK: $(basename "$DEB") built, installed, started (/readyz 200) and removed"
