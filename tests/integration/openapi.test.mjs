// openapi.test.mjs - docs/openapi.yaml is the document API consumers build against, so it must
// be valid (Redocly lint) and true: real answers of a running hocvud, successes and every error
// we can provoke without breaking PostgreSQL, are validated against the documented status,
// media type, headers and JSON Schema (OpenAPI 3.1 = JSON Schema 2020-12). Every documented
// operation must be exercised at least once, so a new endpoint cannot go undocumented-untested.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

import {
    SOURCE_DIR,
    event,
    genCertificateId,
    genCitizenId,
    getJson,
    hocvuctl,
    hocvuctlEnv,
    legacyWards,
    newDatabase,
    newMessageId,
    nowSeconds,
    postEvent,
    request,
    sharedPostgres,
    sharedRedis,
    sign,
    startHocvud,
    waitFor,
    withLogs,
} from './lib/harness.mjs';

const SPEC_FILE = path.join(SOURCE_DIR, 'docs/openapi.yaml');
const LINT_CONFIG = path.join(SOURCE_DIR, 'docs/redocly.yaml');
const REDOCLY = path.join(SOURCE_DIR, 'tests/integration/node_modules/.bin/redocly');
const SPEC_ID = 'hocvu-openapi';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

test('docs/openapi.yaml passes redocly lint', () => {
    assert.ok(fs.existsSync(REDOCLY), `${REDOCLY} missing: run scripts/deps.sh (npm ci in tests/integration)`);
    // Offline and quiet: no telemetry, no update check.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_UPDATE_NOTIFIER: '1' };
    for (const args of [
        ['lint', '--config', LINT_CONFIG, SPEC_FILE], // the project's stricter rules
        ['lint', SPEC_FILE], // what a consumer running the plain command gets
    ]) {
        const res = spawnSync(REDOCLY, args, { cwd: SOURCE_DIR, env, encoding: 'utf8', timeout: 120000 });
        assert.equal(res.status, 0, `redocly ${args.join(' ')} exited ${res.status}:\n${res.stdout}\n${res.stderr}`);
    }
});

// ---------------------------------------------------------------------------------------------
// The document as a validator

const spec = YAML.parse(fs.readFileSync(SPEC_FILE, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
// The whole document is one schema resource, so every "#/components/..." $ref resolves as is.
ajv.addSchema({ ...spec, $id: SPEC_ID });

const pointer = (...parts) => parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

function deref(obj) {
    while (obj && obj.$ref) {
        const parts = obj.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
        obj = parts.reduce((o, k) => o?.[k], spec);
    }
    return obj;
}

// Which (path template, method) a concrete request hits.
function operationFor(method, urlPath) {
    for (const [tmpl, item] of Object.entries(spec.paths)) {
        const re = new RegExp(`^${tmpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
        if (re.test(urlPath) && item[method]) return { tmpl, op: item[method] };
    }
    return null;
}

const covered = new Set();
const validators = new Map();

function schemaValidator(tmpl, method, status, mediaType, response) {
    const key = `${tmpl} ${method} ${status} ${mediaType}`;
    if (!validators.has(key)) {
        // Point into the document rather than copying, so relative $refs keep resolving.
        let ref;
        const raw = spec.paths[tmpl][method].responses[status];
        if (raw.$ref) ref = `${raw.$ref}/content/${pointer(mediaType)}/schema`;
        else ref = `#/${pointer('paths', tmpl, method, 'responses', status, 'content', mediaType, 'schema')}`;
        assert.ok(response.content[mediaType].schema, `${key}: no schema`);
        validators.set(key, ajv.compile({ $ref: `${SPEC_ID}${ref}` }));
    }
    return validators.get(key);
}

// Checks one real answer against the document: the status is documented for the operation,
// the media type is one it lists, every required header is present and valid, and a JSON body
// validates against the schema. Returns the response for further checks.
function conforms(method, urlPath, res, what = '') {
    const label = `${method.toUpperCase()} ${urlPath} ${what} -> ${res.status}`;
    const found = operationFor(method, urlPath);
    assert.ok(found, `${label}: operation not documented`);
    const { tmpl, op } = found;
    const status = String(res.status);
    assert.ok(op.responses[status], `${label}: status not documented (documented: ${Object.keys(op.responses).join(', ')})`);
    const response = deref(op.responses[status]);
    covered.add(`${method} ${tmpl}`);

    for (const [name, h] of Object.entries(response.headers || {})) {
        const header = deref(h);
        const value = res.headers[name.toLowerCase()];
        if (header.required) assert.ok(value !== undefined, `${label}: header ${name} missing`);
        if (value !== undefined && header.schema) {
            const ok = ajv.validate(header.schema, value);
            assert.ok(ok, `${label}: header ${name}: ${JSON.stringify(value)} ${ajv.errorsText()}`);
        }
    }
    // Every response carries X-Request-Id, documented or not.
    assert.ok(res.headers['x-request-id'], `${label}: no X-Request-Id`);

    if (!response.content) {
        assert.equal(res.text, '', `${label}: documented without a body`);
        return res;
    }
    const ct = (res.headers['content-type'] || '').split(';')[0].trim();
    assert.ok(response.content[ct], `${label}: Content-Type ${ct} not documented (${Object.keys(response.content).join(', ')})`);
    if (ct.endsWith('json')) {
        assert.ok(res.json !== undefined, `${label}: body is not JSON: ${res.text.slice(0, 300)}`);
        const validate = schemaValidator(tmpl, method, status, ct, response);
        assert.ok(
            validate(res.json),
            `${label}: body does not match the schema:\n${JSON.stringify(validate.errors, null, 1)}\n${res.text.slice(0, 2000)}`,
        );
    }
    return res;
}

// ---------------------------------------------------------------------------------------------
// Real answers

describe('real responses match docs/openapi.yaml', () => {
    let srv;
    let locked;
    const token = 'read-token-for-openapi-test';

    before(async () => {
        const pg = await sharedPostgres();
        const redis = await sharedRedis();
        const db = await newDatabase(pg);
        srv = await startHocvud({ dbUrl: db, redisUrl: redis.url });
        Object.assign(srv, { dbUrl: db, redisUrl: redis.url });
        // The same data behind read tokens, for the 401 of the read APIs.
        locked = await startHocvud({ dbUrl: db, redisUrl: redis.url, env: { HOCVU_READ_TOKENS: token } });
    });
    after(async () => {
        await srv?.stop();
        await locked?.stop();
    });

    const send = (opts) => postEvent(srv.url, { secret: srv.secret, ...opts });
    const get = (p, opts) => request(`${srv.url}${p}`, opts);

    const postBatch = (lines, opts) => postBatchTo(srv, lines, opts);

    function postBatchTo(d, lines, { contentType = 'application/x-ndjson', secret = d.secret } = {}) {
        const body = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
        const id = newMessageId();
        const ts = nowSeconds();
        return request(`${d.url}/v1/events/batch`, {
            method: 'POST',
            headers: {
                'content-type': contentType,
                'webhook-id': id,
                'webhook-timestamp': String(ts),
                'webhook-signature': sign(secret, id, ts, body),
            },
            body,
        });
    }

    test('POST /v1/events: accepted, duplicate and every provokable problem', async () => {
        await withLogs(srv, async () => {
            const ev = event({ birth_date: '1990-05-17', citizen_id: genCitizenId({ year: 1990 }), course_id: 'kns-co-ban', score: 86 });
            const id = newMessageId();
            let r = conforms('post', '/v1/events', await send({ id, body: ev }), 'accepted');
            assert.equal(r.json.status, 'accepted');
            r = conforms('post', '/v1/events', await send({ id, body: ev }), 'duplicate');
            assert.equal(r.json.status, 'duplicate');

            const revoked = event({ type: 'certificate.revoked', citizen_id: ev.data.citizen_id, certificate_id: genCertificateId() });
            assert.equal(conforms('post', '/v1/events', await send({ body: revoked }), 'revoked').json.status, 'accepted');

            const cases = [
                ['invalid_json', 400, { body: '{"type":' }],
                ['invalid_event', 400, { body: { type: 'certificate.issued', timestamp: '2025-09-15T09:00:00+07:00', data: { citizen_id: genCitizenId() } } }],
                ['invalid_signature', 401, { signature: 'v1,AAAA' }],
                ['stale_timestamp', 401, { ts: nowSeconds() - 3600 }],
                ['certificate_conflict', 409, { body: event({ certificate_id: ev.data.certificate_id }) }],
                ['payload_too_large', 413, { body: JSON.stringify({ ...event(), pad: 'x'.repeat(70 * 1024) }) }],
                ['unsupported_media_type', 415, { contentType: 'text/plain' }],
                ['invalid_citizen_id', 422, { body: event({ citizen_id: '000190012345' }) }],
                ['unknown_ward', 422, { body: event({ ward_code: '99999' }) }],
                ['ambiguous_ward', 422, { body: event({ ward_code: legacyWards().find((l) => l.split).old_code }) }],
                ['invalid_group', 422, { body: event({ group: 'teacher' }) }],
                ['invalid_timestamp', 422, { body: event({ timestamp: '2024-12-31T23:00:00+07:00' }) }],
                ['invalid_birth_date', 422, { body: event({ citizen_id: genCitizenId({ year: 1990 }), birth_date: '1991-01-01' }) }],
            ];
            for (const [code, status, opts] of cases) {
                const res = await send({ body: event(), ...opts });
                conforms('post', '/v1/events', res, code);
                assert.equal(res.status, status, `${code}: ${res.text}`);
                assert.equal(res.json.code, code);
                if (code === 'ambiguous_ward') assert.ok(res.json.candidates.length >= 2);
            }
            // A wrong method is judged by the 405 documented on the path's operation.
            conforms('post', '/v1/events', await get('/v1/events'), 'sent as GET');
        });
    });

    test('POST /v1/events/batch: summary with per-line errors, and its problems', async () => {
        await withLogs(srv, async () => {
            const good = { id: `line-${newMessageId()}`, ...event() };
            const res = conforms(
                'post',
                '/v1/events/batch',
                await postBatch([good, good, { id: 'bad-ward', ...event({ ward_code: '99999' }) }, 'not json', '', { ...event() }]),
                'mixed',
            );
            assert.equal(res.status, 200);
            assert.equal(res.json.accepted, 1);
            assert.equal(res.json.duplicates, 1);
            assert.deepEqual(
                res.json.errors.map((e) => [e.line, e.code]),
                [
                    [3, 'unknown_ward'],
                    [4, 'invalid_json'],
                    [6, 'invalid_event'],
                ],
            );
            conforms('post', '/v1/events/batch', await postBatch([good], { contentType: 'application/json' }), '415');
            conforms('post', '/v1/events/batch', await postBatch([good], { secret: 'whsec_' + Buffer.alloc(32).toString('base64') }), '401');
            conforms('post', '/v1/events/batch', await get('/v1/events/batch'), 'sent as GET');
        });
    });

    test('reads: progress, wards, one ward, timeseries, report, stream', async () => {
        await withLogs(srv, async () => {
            // Accepted events above must be visible before the documents are judged.
            await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total >= 2, { what: 'counts' });

            const p = conforms('get', '/v1/progress', await get('/v1/progress'));
            assert.equal(p.status, 200);
            const etag = p.headers.etag;
            const nm = conforms('get', '/v1/progress', await get('/v1/progress', { headers: { 'if-none-match': etag } }), 'revalidation');
            assert.equal(nm.status, 304);

            const wl = conforms('get', '/v1/wards', await get('/v1/wards'));
            assert.equal(wl.json.wards.length, 103);
            assert.ok(wl.json.wards.some((w) => w.target === null), 'the data set has wards without a target');
            const code = wl.json.wards[0].code;

            const wd = conforms('get', `/v1/wards/${code}`, await get(`/v1/wards/${code}`));
            assert.equal(wd.json.code, code);
            assert.equal(conforms('get', '/v1/wards/99999', await get('/v1/wards/99999')).status, 404);

            const ts = conforms('get', '/v1/timeseries', await get('/v1/timeseries'));
            assert.equal(ts.json.ward, null);
            conforms('get', '/v1/timeseries', await get(`/v1/timeseries?ward=${code}&from=2025-09-01&to=2025-09-30`), 'ward range');
            for (const [q, field] of [
                ['from=2025-13-01', 'from'],
                ['to=yesterday', 'to'],
                ['from=2025-10-01&to=2025-09-01', 'from'],
            ]) {
                const r = conforms('get', '/v1/timeseries', await get(`/v1/timeseries?${q}`), q);
                assert.equal(r.status, 400, q);
                assert.equal(r.json.code, 'invalid_parameter');
                assert.equal(r.json.field, field, q);
            }
            assert.equal(conforms('get', '/v1/timeseries', await get('/v1/timeseries?ward=99999'), 'unknown ward').status, 404);

            const csv = conforms('get', '/v1/reports/wards.csv', await get('/v1/reports/wards.csv'));
            assert.ok(csv.text.startsWith('\uFEFFrank,code,name,'), 'CSV starts with a BOM and the header');
            // A frozen report: the list, the object, its CSV and workbook, an unknown id.
            const frozen = hocvuctl(srv.dbUrl, 'report', 'freeze', '--as-of', '2025-10-01', '--label', 'openapi');
            assert.equal(frozen.status, 0, frozen.stderr);
            const rid = /^frozen report (\S+)$/m.exec(frozen.stdout)[1];
            await waitFor(async () => (await get('/v1/reports')).json?.reports?.some((x) => x.id === rid), { timeout: 3000, what: 'the report listed' });
            conforms('get', '/v1/reports', await get('/v1/reports'));
            conforms('get', `/v1/reports/${rid}`, await get(`/v1/reports/${rid}`));
            conforms('get', `/v1/reports/${rid}.csv`, await get(`/v1/reports/${rid}.csv`));
            conforms('get', `/v1/reports/${rid}.xlsx`, await get(`/v1/reports/${rid}.xlsx`));
            assert.equal(conforms('get', '/v1/reports/2025-01-01-00000000', await get('/v1/reports/2025-01-01-00000000'), 'unknown').status, 404);
            const ev = conforms('get', `/v1/reports/${rid}/evidence.csv`, await get(`/v1/reports/${rid}/evidence.csv`), 'no admin tokens');
            assert.equal(ev.status, 403);
            assert.equal(ev.json.code, 'admin_disabled');
            const xlsx = conforms('get', '/v1/reports/wards.xlsx', await get('/v1/reports/wards.xlsx'));
            assert.ok(xlsx.text.startsWith('PK'), 'the workbook is a zip file');
            assert.equal(conforms('get', '/v1/reports/wards.xlsx', await get('/v1/reports/wards.xlsx?year=2024'), 'bad year').status, 400);

            // Cohorts: a list, one, the filters, the pending list without admin tokens.
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hocvu-openapi-'));
            fs.writeFileSync(path.join(dir, 'c.csv'), 'code,name,kind,ward\nSO-GD,Sở Giáo dục,agency,31135\nMENTOR-1,Đại sứ số,mentor,\n');
            fs.writeFileSync(path.join(dir, 'm.csv'), `member_ref,citizen_id\nNV-1,${genCitizenId({ year: 1980 })}\n`);
            assert.equal(hocvuctl(srv.dbUrl, 'cohorts', 'import', path.join(dir, 'c.csv')).status, 0);
            const members = hocvuctlEnv({ HOCVU_ID_PEPPER: srv.pepper }, srv.dbUrl, 'cohorts', 'members', 'SO-GD', path.join(dir, 'm.csv'));
            assert.equal(members.status, 0, members.stderr);
            fs.rmSync(dir, { recursive: true, force: true });
            await waitFor(async () => (await get('/v1/cohorts')).json?.cohorts?.length === 2, { timeout: 3000, what: 'the cohorts' });
            conforms('get', '/v1/cohorts', await get('/v1/cohorts'));
            conforms('get', '/v1/cohorts', await get('/v1/cohorts?kind=agency&ward=31135&year=2025'), 'filters');
            assert.equal(conforms('get', '/v1/cohorts', await get('/v1/cohorts?kind=nope'), 'bad kind').status, 400);
            const one = conforms('get', '/v1/cohorts/{code}', await get('/v1/cohorts/SO-GD'));
            assert.equal(one.json.members, 1);
            assert.equal(conforms('get', '/v1/cohorts/{code}', await get('/v1/cohorts/NOPE'), 'unknown').status, 404);
            const pend = conforms('get', '/v1/cohorts/{code}/pending', await get('/v1/cohorts/SO-GD/pending'), 'no admin tokens');
            assert.equal(pend.json.code, 'admin_disabled');
            const sup = conforms('post', '/v1/events', await postEvent(srv.url, { body: event({ dataExtra: { supporter: 'not a code' } }), secret: srv.secret }), 'bad supporter');
            assert.equal(sup.json.code, 'invalid_supporter');

            const stream = await firstStreamEvent(`${srv.url}/v1/stream`);
            conforms('get', '/v1/stream', stream.res);
            const validate = ajv.getSchema(`${SPEC_ID}#/components/schemas/Progress`);
            assert.ok(validate(stream.data), `stream data: ${JSON.stringify(validate.errors)}`);
            assert.equal(stream.event, 'progress');

            conforms('get', '/v1/progress', await get('/v1/progress', { method: 'POST' }), 'sent as POST');
        });
    });

    test('reads behind a token: 401 with WWW-Authenticate, 200 with the token', async () => {
        await withLogs(locked, async () => {
            for (const p of ['/v1/progress', '/v1/wards', '/v1/wards/31135', '/v1/timeseries', '/v1/reports/wards.csv', '/v1/stream']) {
                const r = await request(`${locked.url}${p}`);
                conforms('get', p, r, 'no token');
                assert.equal(r.status, 401, p);
                assert.match(r.headers['www-authenticate'], /^Bearer/);
            }
            const ok = await request(`${locked.url}/v1/progress`, { headers: { authorization: `Bearer ${token}` } });
            assert.equal(conforms('get', '/v1/progress', ok, 'token').status, 200);
            // The page stays public: it asks for the token itself.
            assert.equal((await request(`${locked.url}/`)).status, 200);
        });
    });

    test('rate limit: 429 with Retry-After on both ingest endpoints', async () => {
        const limited = await startHocvud({
            dbUrl: srv.dbUrl,
            redisUrl: srv.redisUrl,
            secrets: srv.secrets,
            pepper: srv.pepper,
            env: { HOCVU_RATE_LIMIT: '1', HOCVU_RATE_BURST: '1' },
        });
        try {
            await withLogs(limited, async () => {
                const statuses = [];
                for (let i = 0; i < 4; i++) {
                    const r = await postEvent(limited.url, { secret: limited.secret, body: event() });
                    conforms('post', '/v1/events', r, `limited #${i}`);
                    statuses.push(r.status);
                }
                assert.ok(statuses.includes(429), `statuses ${statuses}`);
                const b = await postBatchTo(limited, [{ id: `line-${newMessageId()}`, ...event() }]);
                conforms('post', '/v1/events/batch', b, 'limited');
                assert.equal(b.status, 429, b.text);
            });
        } finally {
            await limited.stop();
        }
    });

    test('operations and the page', async () => {
        await withLogs(srv, async () => {
            conforms('get', '/healthz', await get('/healthz'));
            conforms('get', '/readyz', await get('/readyz'));
            const m = conforms('get', '/metrics', await get('/metrics'));
            assert.match(m.text, /^# (HELP|TYPE) hocvu_/m);
            const page = conforms('get', '/', await get('/'));
            assert.match(page.text, /<html lang="vi"[ >]/);
            conforms('get', '/healthz', await get('/healthz', { method: 'POST' }), 'sent as POST');
        });
    });

    test('every documented operation was exercised', () => {
        const missing = [];
        for (const [tmpl, item] of Object.entries(spec.paths)) {
            for (const m of METHODS) if (item[m] && !covered.has(`${m} ${tmpl}`)) missing.push(`${m.toUpperCase()} ${tmpl}`);
        }
        assert.deepEqual(missing, []);
    });
});

// Opens an SSE stream, resolves with the HTTP answer and its first event, then hangs up.
async function firstStreamEvent(url) {
    const http = await import('node:http');
    return new Promise((resolve, reject) => {
        const req = http.get(url, { agent: false }, (res) => {
            let buf = '';
            const timer = setTimeout(() => {
                req.destroy();
                reject(new Error(`no SSE event within 5 s: ${JSON.stringify(buf)}`));
            }, 5000);
            res.setEncoding('utf8');
            res.on('data', (chunk) => {
                buf += chunk;
                const end = buf.indexOf('\n\n', buf.indexOf('event:'));
                if (buf.includes('event:') && end >= 0) {
                    clearTimeout(timer);
                    const block = buf.slice(buf.indexOf('event:'), end);
                    const field = (name) =>
                        block
                            .split('\n')
                            .filter((l) => l.startsWith(`${name}:`))
                            .map((l) => l.slice(name.length + 1).replace(/^ /, ''))
                            .join('\n');
                    req.destroy();
                    resolve({
                        res: { status: res.statusCode, headers: res.headers, text: '', json: undefined },
                        event: field('event'),
                        data: JSON.parse(field('data')),
                    });
                }
            });
        });
        req.on('error', (err) => {
            if (err.code !== 'ECONNRESET') reject(err);
        });
    });
}
