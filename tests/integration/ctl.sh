#!/usr/bin/env bash
# ctl.sh - integration test of hocvuctl against a real, throwaway PostgreSQL 15 started here
# (initdb in a temp dir, private loopback port, trust auth); usage: ctl.sh path/to/hocvuctl
# The checks are deferred expressions: eval '...' on purpose.
# shellcheck disable=SC2016,SC2034
set -u -o pipefail

CTL=${1:?usage: ctl.sh path/to/hocvuctl}
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

failures=0
checks=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hocvu-ctl.XXXXXX")
PGDATA_DIR=$TMP/pg

# PostgreSQL refuses to run as root: run the server as postgres when we are root (CI).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cleanup() {
    if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() {
    checks=$((checks + 1))
    echo "ok - $1"
}
not_ok() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "not ok - $1"
    [ -n "${OUT:-}" ] && printf '  stdout: %s\n' "$OUT"
    [ -n "${ERR:-}" ] && printf '  stderr: %s\n' "$ERR"
}
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# run CMD...: runs a command, keeping its stdout in OUT, stderr in ERR and status in RC.
run() {
    OUT=$("$@" 2>"$TMP/stderr")
    RC=$?
    ERR=$(cat "$TMP/stderr")
}
contains() { [[ $1 == *"$2"* ]]; }

# --- programs without a database ------------------------------------------------------------
run "$CTL" --help
check "--help exits 0 and lists the commands" \
    eval '[ $RC = 0 ] && contains "$OUT" "reconcile" && contains "$OUT" "HOCVU_DATABASE_URL"'
run "$CTL" help
check "help exits 0" eval '[ $RC = 0 ] && contains "$OUT" "gen-secret"'
run "$CTL" --version
check "--version prints hocvuctl VERSION" eval '[ $RC = 0 ] && [[ $OUT =~ ^hocvuctl\ [0-9]+\.[0-9]+ ]]'
run "$CTL"
check "no command is a usage error (2)" eval '[ $RC = 2 ] && contains "$ERR" "--help"'
run "$CTL" frobnicate
check "unknown command is a usage error (2)" eval '[ $RC = 2 ] && contains "$ERR" "frobnicate"'
run "$CTL" --bogus migrate
check "unknown option is a usage error (2)" eval '[ $RC = 2 ]'
run "$CTL" wards import
check "wards import without FILE is a usage error (2)" eval '[ $RC = 2 ]'

run "$CTL" gen-secret
S1=$OUT
run "$CTL" gen-secret
S2=$OUT
check "gen-secret prints whsec_ + base64 of 32 bytes" \
    eval '[ $RC = 0 ] && [[ $S1 =~ ^whsec_[A-Za-z0-9+/]{43}=$ ]] &&
          [ "$(printf %s "${S1#whsec_}" | base64 -d | wc -c)" -ge 24 ]'
check "two gen-secret calls differ" eval '[ "$S1" != "$S2" ]'

run "$CTL" --database-url "postgresql://hocvu:s3cretpw@127.0.0.1:1/hocvu" migrate
check "unreachable database: exit 1, one line, no password" \
    eval '[ $RC = 1 ] && contains "$ERR" "hocvuctl: could not connect to database: " &&
          ! contains "$ERR$OUT" "s3cretpw" && [ "$(printf "%s\n" "$ERR" | wc -l)" = 1 ]'

# --- a throwaway PostgreSQL -------------------------------------------------------------------
mkdir -p "$PGDATA_DIR"
if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$TMP"
fi
if ! as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --no-locale \
    --no-sync >"$TMP/initdb.log" 2>&1; then
    cat "$TMP/initdb.log"
    echo "Bail out! initdb failed"
    exit 1
fi
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
started=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$((20000 + RANDOM % 30000))
    port_in_use "$PORT" && continue
    if as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$TMP/pg.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $TMP -c fsync=off" start >/dev/null; then
        started=1
        break
    fi
done
if [ $started != 1 ]; then
    cat "$TMP/pg.log"
    echo "Bail out! could not start PostgreSQL"
    exit 1
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE hocvu_ctl" -c "CREATE DATABASE hocvu_race"
export HOCVU_DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/hocvu_ctl"
q() { "${PSQL[@]}" -d hocvu_ctl -At -c "$1"; }

# --- migrate ----------------------------------------------------------------------------------
run "$CTL" migrate
check "migrate applies every migration" \
    eval '[ $RC = 0 ] && contains "$OUT" "applied 001_schema" && contains "$OUT" "applied 002_ingest"'
LATEST=$(q "SELECT max(version) FROM hocvu_migrations")
run "$CTL" migrate
check "second migrate is idempotent" \
    eval '[ $RC = 0 ] && [ "$OUT" = "schema up to date (version $LATEST)" ]'

# Concurrent migrators (several instances, a Kubernetes Job) serialise on the advisory lock.
race_url="postgresql://postgres@127.0.0.1:$PORT/hocvu_race"
for k in 1 2 3 4; do
    "$CTL" --database-url "$race_url" migrate >"$TMP/race$k.out" 2>&1 &
done
race_ok=1
for job in $(jobs -p); do wait "$job" || race_ok=0; done
OUT=$(cat "$TMP"/race*.out)
ERR=
check "four concurrent migrators all succeed, each migration applied once" \
    eval '[ $race_ok = 1 ] && [ "$(grep -c "applied 001_schema" <<<"$OUT")" = 1 ] &&
          [ "$("${PSQL[@]}" -d hocvu_race -At -c "SELECT count(*) FROM hocvu_migrations")" = "$LATEST" ]'

# --- wards import -----------------------------------------------------------------------------
WARDS=$SRC/data/cantho_wards_2025.csv
LEGACY=$SRC/data/cantho_old_units_pre2025.csv
wards_sum() { q "SELECT count(*) || ':' || md5(string_agg(w::text, ',' ORDER BY code)) FROM wards w"; }
legacy_sum() {
    q "SELECT count(*) || ':' || md5(string_agg(l::text, ',' ORDER BY old_code)) FROM legacy_wards l"
}

run "$CTL" wards import "$WARDS"
check "wards import loads 103 wards" \
    eval '[ $RC = 0 ] && [ "$OUT" = "imported 103 wards (103 inserted, 0 updated, 0 unchanged)" ] &&
          [ "$(q "SELECT count(*) FROM wards")" = 103 ]'
FLAG=$(q "SELECT population_flag FROM wards WHERE code = '31723'")
check "population_flag is stored" eval '[ "$FLAG" = implausible_in_source ]'
SUM1=$(wards_sum)
sleep 0.01
run "$CTL" wards import "$WARDS"
check "second wards import changes nothing (updated_at included)" \
    eval '[ $RC = 0 ] && contains "$OUT" "(0 inserted, 0 updated, 103 unchanged)" &&
          [ "$(wards_sum)" = "$SUM1" ]'

# A changed population is an update of exactly that row.
sed '2s/,119547,/,119548,/' "$WARDS" >"$TMP/changed.csv"
run "$CTL" wards import "$TMP/changed.csv"
POP=$(q "SELECT population FROM wards WHERE code = '31135'")
check "a changed row is updated" \
    eval '[ $RC = 0 ] && contains "$OUT" "(0 inserted, 1 updated, 102 unchanged)" && [ "$POP" = 119548 ]'
run "$CTL" wards import "$WARDS"
SUM1=$(wards_sum)

# Bad files (the shipped files have CRLF line ends): the message names file, line and column;
# nothing is written. Each bad file also changes row 2 so a partial write shows in the checksum.
bad_wards() { # bad_wards NAME DESCRIPTION EXPECTED-STDERR-PART...: file $TMP/NAME must be refused
    local name=$1 desc=$2
    shift 2
    run "$CTL" wards import "$TMP/$name"
    local good=1
    [ $RC = 1 ] || good=0
    for part in "$@"; do contains "$ERR" "$part" || good=0; done
    [ "$(wards_sum)" = "$SUM1" ] || good=0
    if [ $good = 1 ]; then ok "$desc"; else not_ok "$desc"; fi
}
sed -e '2s/,119547,/,1,/' -e '5s/^[0-9]*,/3117,/' "$WARDS" >"$TMP/bad_code.csv"
bad_wards bad_code.csv "non-5-digit code on line 5 is refused, table unchanged" \
    "bad_code.csv:5:" "(column code)"
sed -e '2s/,119547,/,1,/' -e '7s/,62483,/,62k83,/' "$WARDS" >"$TMP/bad_pop.csv"
bad_wards bad_pop.csv "non-numeric population on line 7 is refused, table unchanged" \
    "bad_pop.csv:7:" "(column population)" "62k83"
sed -e '1s/,type,/,kind,/' "$WARDS" >"$TMP/no_type.csv"
bad_wards no_type.csv "missing required column is refused" "no_type.csv:1:" "(column type)"
{ cat "$WARDS"; sed -n '3p' "$WARDS"; } >"$TMP/dup.csv"
bad_wards dup.csv "duplicate code is refused with both lines" "dup.csv:105:" "first on line 3"
sed -e '2s/,119547,/,1,/' -e '9s/^\([0-9]*\),/\1,"unterminated/' "$WARDS" >"$TMP/quote.csv"
bad_wards quote.csv "unterminated quote is refused with its line" "quote.csv:9:" "unterminated"
sed -e '2s/,119547,/,1,/' -e '6s/^\([0-9]*\),[^,]*,/\1,,/' "$WARDS" >"$TMP/no_name.csv"
bad_wards no_name.csv "empty name is refused" "no_name.csv:6:" "(column name)"
sed -e '2s/,119547,/,1,/' -e '4s/,85997,\(\r\?\)$/,85997,x,y\1/' "$WARDS" >"$TMP/fields.csv"
bad_wards fields.csv "row with extra fields is refused" "fields.csv:4:" "expected 13 fields"
run "$CTL" wards import "$TMP/does-not-exist.csv"
check "missing file: exit 1 with the reason" \
    eval '[ $RC = 1 ] && contains "$ERR" "could not read" && contains "$ERR" "No such file"'

# Optional columns and quoting: a minimal file with quoted names adds a ward and leaves others.
printf 'name,code,type,target\r\n"Xã Thử, nghiệm ""A""",99999,xa,1000\r\n' >"$TMP/extra.csv"
run "$CTL" wards import "$TMP/extra.csv"
EXTRA=$(q "SELECT name || '/' || target || '/' || coalesce(population::text, 'null') FROM wards WHERE code = '99999'")
NPOP=$(q "SELECT count(*) FROM wards WHERE population IS NOT NULL")
check "header-driven columns, CRLF and quoted names" \
    eval '[ $RC = 0 ] && contains "$OUT" "imported 1 wards (1 inserted" &&
          [ "$EXTRA" = "Xã Thử, nghiệm \"A\"/1000/null" ]'
check "importing without population keeps stored populations" eval '[ "$NPOP" = 99 ]'
q "DELETE FROM wards WHERE code = '99999'" >/dev/null
SUM1=$(wards_sum)

# --- legacy import ----------------------------------------------------------------------------
run "$CTL" wards import-legacy "$LEGACY"
check "import-legacy loads 263 units" \
    eval '[ $RC = 0 ] && contains "$OUT" "imported 263 legacy units (263 inserted" &&
          [ "$(q "SELECT count(*) FROM legacy_wards")" = 263 ] &&
          [ "$(q "SELECT count(*) FROM legacy_wards WHERE split")" = 3 ]'
LSUM=$(legacy_sum)
run "$CTL" wards import-legacy "$LEGACY"
check "second import-legacy changes nothing" \
    eval '[ $RC = 0 ] && contains "$OUT" "(0 inserted, 0 updated, 263 unchanged)" &&
          [ "$(legacy_sum)" = "$LSUM" ]'
sed -e '2s/Phường Cái Khế,Phường/Phường Cái Khế mới,Phường/' -e '10s/,311\([0-9][0-9]\),/,39999,/' \
    "$LEGACY" >"$TMP/bad_legacy.csv"
run "$CTL" wards import-legacy "$TMP/bad_legacy.csv"
check "legacy unit mapped to an unknown ward: line number, hint, nothing written" \
    eval '[ $RC = 1 ] && contains "$ERR" "bad_legacy.csv:10:" && contains "$ERR" "39999" &&
          contains "$ERR" "import the wards first" && [ "$(legacy_sum)" = "$LSUM" ]'
sed -e '4s/,full\(\r\?\)$/,maybe\1/' "$LEGACY" >"$TMP/bad_split.csv"
run "$CTL" wards import-legacy "$TMP/bad_split.csv"
check "bad split value is refused with its line" \
    eval '[ $RC = 1 ] && contains "$ERR" "bad_split.csv:4:" && contains "$ERR" "(column split)"'

# --- reconcile --------------------------------------------------------------------------------
run "$CTL" reconcile
check "reconcile on an empty ledger: no drift, exit 0" \
    eval '[ $RC = 0 ] && [ "$OUT" = "no drift: 0 certified persons, 0 adults" ]'

# Certificates through the real write path (hv_ingest), as hocvud would store them:
#   person aa: C1 citizen adult 2026-10-10 (31135) and a later C4 → attributed to C1
#   person bb: C2 citizen minor 2026-10-10 (31135)
#   person cc: C3 official adult 2026-10-11 (31120), then revoked → not certified
D10=$(q "SELECT date '2026-10-10' - date '1970-01-01'")
TS10=$(q "SELECT extract(epoch FROM timestamptz '2026-10-10 08:00+07')::bigint")
q "SELECT count(*) FROM hv_ingest(
     ARRAY['e1','e2','e3','e4'], ARRAY[1,1,1,1]::smallint[], ARRAY['C1','C2','C3','C4'],
     ARRAY[repeat('aa',32), repeat('bb',32), repeat('cc',32), repeat('aa',32)],
     ARRAY['31135','31135','31120','31147'], ARRAY[1,1,2,3]::smallint[],
     ARRAY[$TS10, $TS10 + 60, $TS10 + 86400, $TS10 + 7200]::bigint[],
     ARRAY[$D10, $D10, $D10 + 1, $D10]::int[], ARRAY[true,false,true,true],
     ARRAY[NULL,NULL,NULL,NULL]::text[], ARRAY[NULL,NULL,NULL,NULL]::real[], 1::smallint)" >/dev/null
q "SELECT count(*) FROM hv_ingest(
     ARRAY['e5'], ARRAY[2]::smallint[], ARRAY['C3'], ARRAY[repeat('cc',32)], ARRAY[NULL]::text[],
     ARRAY[NULL]::smallint[], ARRAY[$TS10 + 90000]::bigint[], ARRAY[NULL]::int[],
     ARRAY[NULL]::boolean[], ARRAY[NULL]::text[], ARRAY[NULL]::real[], 2::smallint)" >/dev/null
run "$CTL" reconcile
check "reconcile after ingest: no drift, 2 certified persons, 1 adult" \
    eval '[ $RC = 0 ] && [ "$OUT" = "no drift: 2 certified persons, 1 adults" ]'

q "UPDATE counters SET adults = adults + 4, total = total + 4 WHERE ward = '31135'" >/dev/null
run "$CTL" reconcile
check "corrupted counter: exit 1 and the difference printed" \
    eval '[ $RC = 1 ] &&
          contains "$OUT" "ward=31135 group=citizen day=2026-10-10 adults stored=5 expected=1 total stored=6 expected=2"'
q "UPDATE persons SET cert_id = 'C4', ward = '31147', grp = 3 WHERE person = decode(repeat('aa',32), 'hex')" >/dev/null
q "INSERT INTO counters VALUES ('31183', 4, date '2026-01-01', 3, 0, 1)" >/dev/null
PROM="$TMP/reconcile.prom"
run "$CTL" reconcile --metrics-file "$PROM"
check "corrupted attribution and a phantom counter are reported" \
    eval '[ $RC = 1 ] && contains "$OUT" "attribution differs for 1 persons" &&
          contains "$OUT" "ward=31183 group=worker day=2026-01-01 adults stored=0 expected=0 total stored=1 expected=0" &&
          ! contains "$OUT" "aaaaaaaa"'
PROMTEXT=$(cat "$PROM")
check "--metrics-file records the drift found (2 rows + 1 person), not repaired, run completed" \
    eval 'contains "$PROMTEXT" "hocvu_reconcile_drift_rows 3" &&
          contains "$PROMTEXT" "hocvu_reconcile_repaired 0" &&
          contains "$PROMTEXT" "hocvu_reconcile_success 1" &&
          contains "$PROMTEXT" "hocvu_reconcile_last_run_timestamp_seconds " &&
          { ! command -v promtool >/dev/null || promtool check metrics <"$PROM" >/dev/null 2>&1; }'
run "$CTL" reconcile --repair --metrics-file "$PROM"
PROMTEXT=$(cat "$PROM")
check "reconcile --repair fixes the drift and exits 0 (CONTRACT §3)" \
    eval '[ $RC = 0 ] && contains "$OUT" "repaired:" && contains "$PROMTEXT" "hocvu_reconcile_repaired 1" &&
          contains "$PROMTEXT" "hocvu_reconcile_drift_rows 3"'
run "$CTL" reconcile
check "reconcile after repair: no drift" \
    eval '[ $RC = 0 ] && [ "$OUT" = "no drift: 2 certified persons, 1 adults" ]'
run "$CTL" --database-url "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2" reconcile --metrics-file "$PROM"
PROMTEXT=$(cat "$PROM")
check "--metrics-file reports a run that could not connect (success 0, exit 1)" \
    eval '[ $RC = 1 ] && contains "$PROMTEXT" "hocvu_reconcile_success 0"'
run "$CTL" reconcile --metrics-file "$TMP/no/such/dir/x.prom"
check "--metrics-file in a missing directory: exit 1 with the reason" \
    eval '[ $RC = 1 ] && contains "$ERR" "cannot write"'
COUNTERS=$(q "SELECT string_agg(concat_ws('/', ward, grp, day, shard, adults, total), ' ') FROM counters")
AA_CERT=$(q "SELECT cert_id FROM persons WHERE person = decode(repeat('aa', 32), 'hex')")
check "repair rewrote the counters into shard 0 and restored the attribution" \
    eval '[ "$COUNTERS" = "31135/1/2026-10-10/0/1/2" ] && [ "$AA_CERT" = C1 ]'

# The write path keeps working on top of a repaired table (its shard adds to shard 0).
q "SELECT count(*) FROM hv_ingest(
     ARRAY['e6'], ARRAY[2]::smallint[], ARRAY['C1'], ARRAY[repeat('aa',32)], ARRAY[NULL]::text[],
     ARRAY[NULL]::smallint[], ARRAY[$TS10 + 99000]::bigint[], ARRAY[NULL]::int[],
     ARRAY[NULL]::boolean[], ARRAY[NULL]::text[], ARRAY[NULL]::real[], 1::smallint)" >/dev/null
run "$CTL" reconcile
check "ingest after repair stays consistent (C1 revoked: person moves to C4)" \
    eval '[ $RC = 0 ] && [ "$OUT" = "no drift: 2 certified persons, 1 adults" ]'

# Folding old shards into shard 0 keeps every total and leaves no drift.
q "INSERT INTO counters (ward, grp, day, shard, adults, total)
   VALUES ('31135', 2, '2025-05-01', 7, 3, 4), ('31135', 2, '2025-05-01', 9, -1, -1)" >/dev/null
q "INSERT INTO counters (ward, grp, day, shard, adults, total)
   VALUES ('31135', 2, '2025-05-01', 0, -2, -3)" >/dev/null
BEFORE=$(q "SELECT sum(adults) || '/' || sum(total) FROM counters")
FOLDED=$(q "SELECT hv_compact_counters('2026-01-01')")
AFTER=$(q "SELECT sum(adults) || '/' || sum(total) FROM counters")
OLD_SHARDS=$(q "SELECT count(*) FROM counters WHERE shard <> 0 AND day < '2026-01-01'")
run "$CTL" reconcile
check "hv_compact_counters folds old shards into shard 0, totals and reconcile unchanged" \
    eval '[ "$FOLDED" = 2 ] && [ "$BEFORE" = "$AFTER" ] && [ "$OLD_SHARDS" = 0 ] && [ $RC = 0 ]'

echo "1..$checks"
if [ $failures -ne 0 ]; then
    echo "$failures of $checks checks failed"
    exit 1
fi
echo "all $checks checks passed"
