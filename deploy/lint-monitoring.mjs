// deploy/lint-monitoring.mjs - checks of the monitoring files that promtool cannot make (run by
// deploy/lint.sh):
//  - prometheus/hocvu-alerts.yml: group "hocvu"; every rule an alert with `for:`, a severity of
//    page or ticket, a summary and a description; every alert tested by hocvu-alerts.test.yml
//    both firing and not firing;
//  - grafana/hocvu-dashboard.json: valid JSON, schemaVersion, panel ids unique, a gridPos inside
//    the 24 columns for every panel and no two panels overlapping, every panel and query on the
//    ${DS_PROMETHEUS} data source variable, every $variable defined, refIds unique per panel;
//  - every hocvu_* metric name in the rules, their tests and the dashboard exists in the sources
//    (a "# TYPE name" line or a histogram(...) call in src/lib/*.c or src/hocvuctl.c; a
//    histogram's _bucket, _sum and _count series count as its name).
// Usage: node lint-monitoring.mjs [DIR] [--emit-dashboard-rules FILE]
//   DIR: a directory with prometheus/ and grafana/ (default: this one; lint.sh's self-test passes
//   broken copies). --emit-dashboard-rules writes every dashboard query as a recording rule, with
//   Grafana's variables replaced, so that `promtool check rules FILE` parses its PromQL.
// Prints one line per problem and exits 1 if there is any.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let emitFile = null;
const positional = [];
for (let i = 0; i < args.length; i++) {
    if (args[i] === '--emit-dashboard-rules') emitFile = args[++i];
    else positional.push(args[i]);
}
const root = positional[0] ? path.resolve(positional[0]) : here;
const src = path.resolve(here, '..', 'src');
const rulesFile = path.join(root, 'prometheus', 'hocvu-alerts.yml');
const testsFile = path.join(root, 'prometheus', 'hocvu-alerts.test.yml');
const dashFile = path.join(root, 'grafana', 'hocvu-dashboard.json');

const problems = [];
const problem = (file, msg) => problems.push(`${path.relative(process.cwd(), file) || file}: ${msg}`);

// ---- metric names the sources emit -------------------------------------------------------------

function sourceMetrics() {
    const files = [path.join(src, 'hocvuctl.c')];
    for (const f of fs.readdirSync(path.join(src, 'lib')).sort()) {
        if (f.endsWith('.c')) files.push(path.join(src, 'lib', f));
    }
    const names = new Set();
    const histograms = new Set();
    for (const f of files) {
        const text = fs.readFileSync(f, 'utf8');
        for (const m of text.matchAll(/# TYPE (hocvu_[a-z0-9_]+) /g)) names.add(m[1]);
        for (const m of text.matchAll(/\bhistogram\(\s*\w+,\s*"(hocvu_[a-z0-9_]+)"/g)) {
            names.add(m[1]);
            histograms.add(m[1]);
        }
    }
    return { names, histograms };
}

const { names: known, histograms } = sourceMetrics();
if (known.size === 0) problem(src, 'no metric names found in the sources (# TYPE lines): checker out of date?');

function knownMetric(name) {
    if (known.has(name)) return true;
    const m = name.match(/^(.*)_(bucket|sum|count)$/);
    return m !== null && histograms.has(m[1]);
}

// Every string inside a parsed document, with where it is.
function* strings(v, where) {
    if (typeof v === 'string') yield [v, where];
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* strings(v[i], `${where}[${i}]`);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* strings(x, `${where}.${k}`);
}

function checkMetricNames(file, doc) {
    const used = new Set();
    for (const [s, where] of strings(doc, '')) {
        for (const m of s.matchAll(/\bhocvu_[a-z0-9_]*[a-z0-9]/g)) {
            used.add(m[0]);
            if (!knownMetric(m[0])) problem(file, `${where}: unknown metric ${m[0]} (not emitted by src/)`);
        }
    }
    return used;
}

function readYaml(file) {
    try {
        return parseYaml(fs.readFileSync(file, 'utf8'));
    } catch (e) {
        problem(file, `YAML: ${e.message}`);
        return null;
    }
}

// ---- alerting rules ----------------------------------------------------------------------------

const rules = readYaml(rulesFile);
const alerts = new Map();
if (rules) {
    checkMetricNames(rulesFile, rules);
    const groups = Array.isArray(rules.groups) ? rules.groups : [];
    if (!groups.some((g) => g.name === 'hocvu')) problem(rulesFile, 'no rule group named hocvu');
    for (const g of groups) {
        for (const [i, r] of (g.rules || []).entries()) {
            const where = `${g.name}[${i}]`;
            if (!r.alert) {
                problem(rulesFile, `${where}: not an alerting rule`);
                continue;
            }
            if (alerts.has(r.alert)) problem(rulesFile, `${r.alert}: defined twice`);
            alerts.set(r.alert, r);
            if (!r.for) problem(rulesFile, `${r.alert}: no for:`);
            if (!['page', 'ticket'].includes(r.labels?.severity)) {
                problem(rulesFile, `${r.alert}: labels.severity must be page or ticket, not ${r.labels?.severity}`);
            }
            for (const a of ['summary', 'description']) {
                if (!r.annotations?.[a]) problem(rulesFile, `${r.alert}: no annotations.${a}`);
            }
        }
    }
    if (alerts.size === 0) problem(rulesFile, 'no alerts');
}

// Each alert must be tested both ways.
const tests = readYaml(testsFile);
if (tests) {
    checkMetricNames(testsFile, tests);
    const fires = new Set();
    const quiet = new Set();
    for (const t of tests.tests || []) {
        for (const a of t.alert_rule_test || []) {
            (a.exp_alerts && a.exp_alerts.length > 0 ? fires : quiet).add(a.alertname);
            if (!alerts.has(a.alertname)) problem(testsFile, `${t.name}: tests unknown alert ${a.alertname}`);
        }
    }
    for (const name of alerts.keys()) {
        if (!fires.has(name)) problem(testsFile, `${name}: no test where it fires`);
        if (!quiet.has(name)) problem(testsFile, `${name}: no test where it stays quiet`);
    }
}

// ---- Grafana dashboard -------------------------------------------------------------------------

const DS_UID = '${DS_PROMETHEUS}';
const builtins = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s',
    '__range_ms', '__from', '__to', '__dashboard', '__name', '__org', '__user', 'timeFilter']);

let dash = null;
try {
    dash = JSON.parse(fs.readFileSync(dashFile, 'utf8'));
} catch (e) {
    problem(dashFile, `JSON: ${e.message}`);
}

const queries = []; // [panel title, refId, expr] for --emit-dashboard-rules

if (dash) {
    checkMetricNames(dashFile, dash);
    if (!Number.isInteger(dash.schemaVersion) || dash.schemaVersion < 36) {
        problem(dashFile, `schemaVersion ${dash.schemaVersion}: expected 36 or later`);
    }
    for (const k of ['title', 'uid']) if (!dash[k]) problem(dashFile, `no ${k}`);

    const vars = new Map((dash.templating?.list || []).map((v) => [v.name, v]));
    const ds = vars.get('DS_PROMETHEUS');
    if (!ds || ds.type !== 'datasource' || ds.query !== 'prometheus') {
        problem(dashFile, 'templating: no DS_PROMETHEUS variable of type datasource (query prometheus)');
    }
    const inst = vars.get('instance');
    if (!inst) problem(dashFile, 'templating: no instance variable');
    else if (inst.datasource?.uid !== DS_UID) problem(dashFile, 'templating: instance variable not on ${DS_PROMETHEUS}');

    const checkVars = (where, s) => {
        for (const m of s.matchAll(/\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g)) {
            const v = m[1] || m[2];
            if (!vars.has(v) && !builtins.has(v)) problem(dashFile, `${where}: undefined variable $${v}`);
        }
    };

    // Panels, those inside collapsed rows included.
    const all = [];
    for (const p of dash.panels || []) {
        all.push(p);
        for (const q of p.panels || []) all.push(q);
    }
    if (all.length === 0) problem(dashFile, 'no panels');

    const ids = new Map();
    const boxes = [];
    for (const p of all) {
        const name = `panel ${p.id} "${p.title}"`;
        if (!Number.isInteger(p.id) || p.id <= 0) problem(dashFile, `${name}: id must be a positive integer`);
        else if (ids.has(p.id)) problem(dashFile, `${name}: id ${p.id} also used by "${ids.get(p.id)}"`);
        else ids.set(p.id, p.title);
        if (!p.title) problem(dashFile, `${name}: no title`);

        const g = p.gridPos;
        const ints = g && ['h', 'w', 'x', 'y'].every((k) => Number.isInteger(g[k]));
        if (!ints) problem(dashFile, `${name}: gridPos needs integer h, w, x, y`);
        else if (g.w < 1 || g.h < 1 || g.x < 0 || g.y < 0 || g.x + g.w > 24) {
            problem(dashFile, `${name}: gridPos ${JSON.stringify(g)} outside the 24-column grid`);
        } else {
            for (const [other, o] of boxes) {
                if (g.x < o.x + o.w && o.x < g.x + g.w && g.y < o.y + o.h && o.y < g.y + g.h) {
                    problem(dashFile, `${name}: gridPos overlaps "${other}"`);
                }
            }
            boxes.push([p.title, g]);
        }

        if (p.type === 'row') continue;
        if (p.datasource?.type !== 'prometheus' || p.datasource?.uid !== DS_UID) {
            problem(dashFile, `${name}: datasource must be {type: prometheus, uid: ${DS_UID}}`);
        }
        const targets = p.targets || [];
        if (targets.length === 0) problem(dashFile, `${name}: no queries`);
        const refs = new Set();
        for (const t of targets) {
            if (!t.refId || refs.has(t.refId)) problem(dashFile, `${name}: missing or repeated refId ${t.refId}`);
            refs.add(t.refId);
            if (t.datasource && (t.datasource.type !== 'prometheus' || t.datasource.uid !== DS_UID)) {
                problem(dashFile, `${name} ${t.refId}: query datasource differs from ${DS_UID}`);
            }
            if (typeof t.expr !== 'string' || t.expr.trim() === '') {
                problem(dashFile, `${name} ${t.refId}: no expr`);
                continue;
            }
            checkVars(`${name} ${t.refId}`, t.expr);
            queries.push([p.title, t.refId, t.expr]);
        }
    }
    const iq = inst?.query?.query ?? inst?.query;
    if (typeof iq === 'string') queries.push(['variable instance', 'A', iq.replace(/^label_values\((.*),\s*\w+\)$/, '$1')]);
}

// Dashboard PromQL as recording rules, so that promtool parses it.
if (emitFile) {
    const subst = (e) => e
        .replace(/\$(\{__rate_interval\}|__rate_interval|\{__interval\}|__interval|\{__range\}|__range)(?!\w)/g, '5m')
        .replace(/\$(\{instance(:\w+)?\}|instance)(?!\w)/g, '.*');
    const doc = {
        groups: [{
            name: 'hocvu-dashboard-queries',
            rules: queries.map(([title, ref, expr], i) => ({
                record: `dashboard:query_${i + 1}`,
                expr: subst(expr),
                labels: { panel: `${title} ${ref}` },
            })),
        }],
    };
    fs.writeFileSync(emitFile, stringifyYaml(doc));
}

for (const p of problems) console.error(p);
if (problems.length > 0) {
    console.error(`lint-monitoring: ${problems.length} problem(s)`);
    process.exit(1);
}
console.log(`monitoring: ${alerts.size} alerts (each tested firing and quiet), ` +
    `${dash ? (dash.panels || []).length : 0} dashboard panels, ${queries.length} queries; ` +
    `every hocvu_* metric exists in src/ (${known.size} known)`);
