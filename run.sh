#!/usr/bin/env bash
# run.sh - runs hocvu locally in one command: installs what is missing, builds, starts a private
# PostgreSQL and Redis under ./.run/, loads the Cần Thơ wards, and runs hocvud in the
# foreground. Ctrl-C stops everything. Data, the webhook secret and the pepper stay in .run/
# for the next run; `./run.sh --reset` starts from scratch. `. .run/env` gives another shell
# hocvuctl on PATH and this database (HOCVU_DATABASE_URL and the pepper).
#
# One run per directory: a second ./run.sh beside a running one is refused before it touches
# anything, and run.sh only ever stops the servers it started itself.
#
# Usage: ./run.sh [--reset] [--province CODE] [--jurisdiction NAME]
#   --province CODE      the province whose units are loaded from the national list
#                        (data/vn_units_2025.csv; default 92, Cần Thơ, with its pre-2025 units
#                        and seed targets); use --reset when switching to another province
#   --jurisdiction NAME  the name on the dashboard and the reports (default: Cần Thơ for 92,
#                        else the province's name from the list)
# Settings: HOCVU_LISTEN (default 127.0.0.1:8080) and any other HOCVU_* variable pass through
# to hocvud; HOCVU_RUN_PGPORT / HOCVU_RUN_REDISPORT pick the private ports (default: the first
# free from 55433 / 56380); HOCVU_RUN_DIR (default ./.run) and HOCVU_RUN_BUILD_DIR (default
# ./build) move the state and the build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
RUN=${HOCVU_RUN_DIR:-$ROOT/.run}
BUILD=${HOCVU_RUN_BUILD_DIR:-$ROOT/build}

RESET=0
PROVINCE=92
JURISDICTION=
while [[ $# -gt 0 ]]; do
    case "$1" in
    --reset) RESET=1 ;;
    --province)
        [[ $# -ge 2 ]] || { echo "run.sh: --province needs a code" >&2; exit 2; }
        PROVINCE=$2
        shift
        ;;
    --jurisdiction)
        [[ $# -ge 2 ]] || { echo "run.sh: --jurisdiction needs a name" >&2; exit 2; }
        JURISDICTION=$2
        shift
        ;;
    *)
        echo "usage: ./run.sh [--reset] [--province CODE] [--jurisdiction NAME]" >&2
        exit 2
        ;;
    esac
    shift
done
NATIONAL=data/vn_units_2025.csv
if ! [[ "$PROVINCE" =~ ^[0-9]{2}$ ]] ||
    ! awk -F, -v p="$PROVINCE" 'NR > 1 && $4 == p { found = 1 } END { exit !found }' "$NATIONAL"; then
    echo "run.sh: no province $PROVINCE in $NATIONAL (e.g. 92 Cần Thơ, 31 Hải Phòng, 01 Hà Nội)" >&2
    exit 2
fi
if [[ -z "$JURISDICTION" ]]; then
    if [[ "$PROVINCE" == 92 ]]; then
        JURISDICTION="Cần Thơ"
    else
        JURISDICTION=$(awk -F, -v p="$PROVINCE" 'NR > 1 && $4 == p { print $5; exit }' "$NATIONAL")
    fi
fi
# A unit of the province, for the example sender.
EXAMPLE_WARD=31135
if [[ "$PROVINCE" != 92 ]]; then
    EXAMPLE_WARD=$(awk -F, -v p="$PROVINCE" 'NR > 1 && $4 == p { print $1; exit }' "$NATIONAL")
fi

# --- one run per directory: the lock comes before anything is touched ------------------------
# The lock is held on fd 9 for as long as this script runs; the servers it starts do not
# inherit it (9>&- on each), so a server left behind by a killed run never holds it.
mkdir -p "$RUN"
chmod 755 "$RUN"
exec 9>>"$RUN/lock"
if ! flock -n 9; then
    echo "run.sh: another ./run.sh is already running from $RUN (pid $(cat "$RUN/run.pid" 2>/dev/null || echo '?'));" \
        "nothing was touched. Use that one (. $RUN/env for hocvuctl), or stop it with Ctrl-C first." >&2
    exit 1
fi
echo $$ >"$RUN/run.pid"

LISTEN=${HOCVU_LISTEN:-127.0.0.1:8080}
URL="http://$LISTEN"
# shellcheck source=scripts/ports.sh
. "$ROOT/scripts/ports.sh"
# Ports are checked before anything starts or migrates (a listener with SO_REUSEPORT could
# otherwise silently share a port with another service).
if port_busy "${LISTEN##*:}"; then
    echo "run.sh: $LISTEN is already in use; set HOCVU_LISTEN=127.0.0.1:PORT (nothing was started)" >&2
    exit 1
fi
for var in HOCVU_RUN_PGPORT HOCVU_RUN_REDISPORT; do
    if [[ -n "${!var:-}" ]] && port_busy "${!var}"; then
        echo "run.sh: $var=${!var} is already in use (nothing was started)" >&2
        exit 1
    fi
done

scripts/deps.sh --run
# A build dir of one's own (HOCVU_RUN_BUILD_DIR, e.g. the tests') keeps its configuration.
if [[ -z "${HOCVU_RUN_BUILD_DIR:-}" || ! -f "$BUILD/CMakeCache.txt" ]]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)"

PGBINS=(/usr/lib/postgresql/*/bin)
PGBIN=$(printf '%s\n' "${PGBINS[@]}" | sort -V | tail -n 1)
if [[ ! -x "$PGBIN/initdb" ]]; then
    PGBIN=$(pg_config --bindir)
fi

# PostgreSQL refuses to run as root: then it runs as the postgres user, which must be able to
# reach its directory. A repo under a private home (e.g. /root) is not reachable, so the server
# then lives in /var/tmp, under a name derived from the repo path (reused by the next run).
as_pg() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
as_pg_hint() { if [[ "$(id -u)" -eq 0 ]]; then echo "runuser -u postgres --"; fi; }
PGHOME=$RUN/postgres
if [[ "$(id -u)" -eq 0 ]] && ! runuser -u postgres -- test -x "$RUN"; then
    PGHOME=/var/tmp/hocvu-run-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
fi
PGDATA_DIR=$PGHOME/data
if [[ $RESET -eq 1 ]]; then
    if [[ -f "$PGDATA_DIR/postmaster.pid" ]] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
        echo "run.sh: --reset: a PostgreSQL is still running on $PGDATA_DIR (left by an earlier run);" \
            "stop it first: $(as_pg_hint) $PGBIN/pg_ctl -D $PGDATA_DIR stop" >&2
        exit 1
    fi
    find "$RUN" -mindepth 1 -maxdepth 1 ! -name lock ! -name run.pid -exec rm -rf {} +
    [[ "$PGHOME" == "$RUN/postgres" ]] || rm -rf "$PGHOME"
fi

HOCVUD_PID=
REDIS_PID=
PG_STARTED=0
# Stops what this run started, and nothing else.
# shellcheck disable=SC2317 # called by the traps
stop_all() {
    local stopped=()
    trap - EXIT INT TERM
    if [[ -n "$HOCVUD_PID" ]] && kill -0 "$HOCVUD_PID" 2>/dev/null; then
        kill -TERM "$HOCVUD_PID" 2>/dev/null || true
        wait "$HOCVUD_PID" 2>/dev/null || true
        stopped+=(hocvud)
    fi
    if ((PG_STARTED)); then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
        stopped+=(PostgreSQL)
    fi
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        stopped+=(Redis)
    fi
    if ((${#stopped[@]})); then
        echo "run.sh: stopped ${stopped[*]} (data kept in $RUN)" >&2
    fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- PostgreSQL -------------------------------------------------------------------------------
if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
    mkdir -p "$PGHOME"
    chmod 700 "$PGHOME"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown postgres: "$PGHOME"
    fi
    as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C \
        >"$RUN/initdb.log"
fi
# A server left running by a killed run (no trap ran) is not ours to stop: say how to.
if [[ -f "$PGDATA_DIR/postmaster.pid" ]] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
    echo "run.sh: a PostgreSQL left by an earlier run is still running on $PGDATA_DIR" \
        "(port $(sed -n 4p "$PGDATA_DIR/postmaster.pid")); nothing was touched. Stop it with:" \
        "$(as_pg_hint) $PGBIN/pg_ctl -D $PGDATA_DIR stop" >&2
    exit 1
fi
PGPORT=${HOCVU_RUN_PGPORT:-$(free_port 55433)}
PG_STARTED=1
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGHOME/postgres.log" -w -t 60 \
    -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null 9>&-
DBURL="postgresql://postgres@127.0.0.1:$PGPORT/hocvu"
if ! psql -X -q -At -d "postgresql://postgres@127.0.0.1:$PGPORT/postgres" \
    -c "SELECT 1 FROM pg_database WHERE datname = 'hocvu'" | grep -q 1; then
    psql -X -q -d "postgresql://postgres@127.0.0.1:$PGPORT/postgres" -c 'CREATE DATABASE hocvu'
fi

# --- Redis ------------------------------------------------------------------------------------
REDISPORT=${HOCVU_RUN_REDISPORT:-$(free_port 56380)}
mkdir -p "$RUN/redis"
redis-server --port "$REDISPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$RUN/redis" >"$RUN/redis.log" 2>&1 9>&- &
REDIS_PID=$!
for _ in $(seq 50); do
    [[ "$(redis-cli -p "$REDISPORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.1
done

# --- schema, reference data, secrets ----------------------------------------------------------
"$BUILD/hocvuctl" --database-url "$DBURL" migrate
if [[ "$PROVINCE" == 92 ]]; then
    "$BUILD/hocvuctl" --database-url "$DBURL" wards import data/cantho_wards_2025.csv
    "$BUILD/hocvuctl" --database-url "$DBURL" wards import-legacy data/cantho_old_units_pre2025.csv
    "$BUILD/hocvuctl" --database-url "$DBURL" targets import data/targets_cantho.csv
else
    # Another province: its units from the national list (no population, no pre-2025
    # mapping); give it targets with hocvuctl targets import.
    "$BUILD/hocvuctl" --database-url "$DBURL" wards import --province "$PROVINCE" "$NATIONAL"
fi

# Kept across runs: a new pepper would give every returning person a new pseudonym.
umask 077
[[ -s "$RUN/webhook-secret" ]] || "$BUILD/hocvuctl" gen-secret >"$RUN/webhook-secret"
[[ -s "$RUN/id-pepper" ]] || openssl rand -base64 48 >"$RUN/id-pepper"
umask 022
SECRET=$(tr -d '[:space:]' <"$RUN/webhook-secret")
# Taken between the check above and now (the build can take a while)?
if port_busy "${LISTEN##*:}"; then
    echo "run.sh: $LISTEN was taken while building; set HOCVU_LISTEN=127.0.0.1:PORT" >&2
    exit 1
fi

# For another shell: `. .run/env` puts hocvuctl on PATH with this database and pepper.
umask 077
cat >"$RUN/env" <<ENV
# Written by run.sh for the run it is serving. In another shell: . $RUN/env
# then e.g.: hocvuctl reconcile
export PATH="$BUILD:\$PATH"
export HOCVU_DATABASE_URL='$DBURL'
export HOCVU_REDIS_URL='redis://127.0.0.1:$REDISPORT/0'
export HOCVU_JURISDICTION='$JURISDICTION'
export HOCVU_ID_PEPPER='$(tr -d '\n' <"$RUN/id-pepper")'
export HOCVU_URL='$URL'
export HOCVU_SECRET='$SECRET'
ENV
umask 022

# A ready-to-run example sender (bash, openssl and curl only), also printed below.
cat >"$RUN/send-example.sh" <<EXAMPLE
#!/usr/bin/env bash
# Sends one signed certificate.issued event for a synthetic person to the local hocvud.
set -euo pipefail
SECRET='$SECRET'
id="msg_\$(date +%s%N)"
ts=\$(date +%s)
cid="0921900\$(printf '%05d' \$((RANDOM % 100000)))"
body='{"type":"certificate.issued","timestamp":"'"\$(date +%Y-%m-%dT%H:%M:%S%:z)"'","data":{"citizen_id":"'"\$cid"'","ward_code":"$EXAMPLE_WARD","group":"citizen","certificate_id":"DEMO-'"\$id"'","birth_date":"1990-05-17","course_id":"kns-co-ban","score":86}}'
key=\$(printf '%s' "\${SECRET#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
sig=\$(printf '%s' "\$id.\$ts.\$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:\$key" -binary | base64)
curl -sS -X POST '$URL/v1/events' -H 'content-type: application/json' \\
  -H "webhook-id: \$id" -H "webhook-timestamp: \$ts" -H "webhook-signature: v1,\$sig" \\
  --data-binary "\$body"
echo
EXAMPLE
chmod 700 "$RUN/send-example.sh"

cat <<EOF

  hocvu ($JURISDICTION, province $PROVINCE) is starting on $URL
  dashboard:       $URL/
  progress:        $URL/v1/progress
  webhook secret:  $SECRET   (also in .run/webhook-secret)
  database:        $DBURL
  redis:           redis://127.0.0.1:$REDISPORT/0

$([[ "$PROVINCE" == 92 ]] || echo "  targets:         none imported yet: the city target is HOCVU_TARGET until
                   hocvuctl targets import loads yours (deploy/examples/targets_commune_percent.csv)
")
  hocvuctl in another terminal (on PATH, with this database and pepper):
    . ${RUN#"$ROOT"/}/env && hocvuctl reconcile

  Send a signed example event (from another terminal):
    ${RUN#"$ROOT"/}/send-example.sh
  or paste:
$(sed -n '/^SECRET=/,$p' "$RUN/send-example.sh" | sed 's/^/    /')

  Ctrl-C stops hocvud, PostgreSQL and Redis.

EOF

export HOCVU_LISTEN=$LISTEN HOCVU_DATABASE_URL=$DBURL HOCVU_JURISDICTION=$JURISDICTION
export HOCVU_REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
HOCVU_WEBHOOK_SECRETS=$SECRET HOCVU_ID_PEPPER=$(tr -d '\n' <"$RUN/id-pepper") \
    "$BUILD/hocvud" 9>&- &
HOCVUD_PID=$!
# wait returns when hocvud exits or a signal arrives (then the traps stop everything).
status=0
wait "$HOCVUD_PID" || status=$?
HOCVUD_PID=
exit "$status"
