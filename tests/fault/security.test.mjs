// security.test.mjs - the security controls end to end: webhook secret and read-token rotation
// without a restart (config file + SIGHUP), bearer tokens on the read APIs, native TLS checked
// with curl against a generated certificate, and no secret, pepper, token or raw citizen id in
// the logs (debug level), any response body, /metrics or a pg_dump of the database.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    event,
    genCitizenId,
    genSecret,
    hocvuctl,
    newDatabase,
    newMessageId,
    nowSeconds,
    pgTool,
    sign,
    sleep,
    startPostgres,
    startRedis,
    tempDir,
} from '../integration/lib/harness.mjs';
import { Model, expectCounts, req, report, startDaemon } from './lib.mjs';

let pg;
let redis;
before(async () => {
    pg = await startPostgres({ fsync: true });
    redis = await startRedis();
});
after(async () => {
    await redis?.stop();
});

// Everything the service must never reveal, and everything it answered, for the leak check.
const secretsUsed = new Set();
const citizenIdsSent = new Set();
const bodies = []; // every response body seen

async function post(url, { id = newMessageId(), ev, raw, secret, ts = nowSeconds(), headers = {}, ca } = {}) {
    raw ??= JSON.stringify(ev);
    if (ev?.data?.citizen_id) citizenIdsSent.add(ev.data.citizen_id);
    const r = await req(`${url}/v1/events`, {
        method: 'POST',
        ca,
        headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(ts),
            'webhook-signature': sign(secret, id, ts, raw),
            ...headers,
        },
        body: raw,
    });
    bodies.push(r.text);
    return { ...r, id };
}

async function get(url, headers = {}, opts = {}) {
    const r = await req(url, { headers, ...opts });
    bodies.push(r.text);
    return r;
}

// Sends SIGHUP and waits for hocvud to log the outcome (reloaded or refused).
async function reload(d, pattern = /configuration reloaded/g) {
    const before = (d.logs.match(pattern) || []).length;
    d.signal('SIGHUP');
    const deadline = Date.now() + 5000;
    while ((d.logs.match(pattern) || []).length === before) {
        assert.ok(Date.now() < deadline, `no "${pattern.source}" in the log 5 s after SIGHUP:\n${d.logs.slice(-2000)}`);
        await sleep(20);
    }
}

function assertProblem(r, status, code) {
    assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.text}`);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.json?.code, code, r.text);
}

describe('rotation without restart, read tokens, and no leaks', () => {
    const oldSecret = genSecret();
    const newSecret = genSecret();
    const tokA = `tokA-${genSecret(18).slice(6)}`;
    const tokB = `tokB-${genSecret(18).slice(6)}`;
    for (const s of [oldSecret, newSecret, tokA, tokB]) secretsUsed.add(s);
    let srv;
    let dbUrl;
    let cfg;
    const model = new Model();
    const writeCfg = (secrets, tokens) =>
        fs.writeFileSync(cfg, `# hocvu test configuration\nHOCVU_WEBHOOK_SECRETS="${secrets.join(' ')}"\nHOCVU_READ_TOKENS="${tokens.join(' ')}"\n`, { mode: 0o600 });
    const issue = () => event({ citizen_id: genCitizenId({ year: 1980 }), ward_code: '31135', timestamp: '2025-09-01T09:00:00+07:00' });
    async function expectAccepted(secret, label) {
        const ev = issue();
        const r = await post(srv.url, { ev, secret });
        assert.equal(r.status, 200, `${label}: ${r.status} ${r.text}`);
        assert.equal(r.json?.status, 'accepted', label);
        model.apply(r.id, ev);
    }
    async function expectRefused(secret, label) {
        const r = await post(srv.url, { ev: issue(), secret });
        assertProblem(r, 401, 'invalid_signature');
        assert.ok(label);
    }
    const auth = (tok) => (tok ? { authorization: `Bearer ${tok}` } : {});

    before(async () => {
        dbUrl = await newDatabase(pg);
        cfg = path.join(tempDir('hocvu-sec-'), 'hocvu.conf');
        writeCfg([oldSecret], [tokA]);
        srv = await startDaemon({
            dbUrl,
            redisUrl: redis.url,
            secrets: [oldSecret],
            env: { HOCVU_CONFIG_FILE: cfg, HOCVU_LOG_LEVEL: 'debug' },
        });
        secretsUsed.add(srv.pepper);
    });

    test('webhook secret rotation by SIGHUP: old, old+new, new only', async () => {
        await expectAccepted(oldSecret, 'old secret at start');
        await expectRefused(newSecret, 'new secret before the rotation');

        writeCfg([newSecret, oldSecret], [tokA]);
        await reload(srv);
        await expectAccepted(newSecret, 'new secret during the rotation');
        await expectAccepted(oldSecret, 'old secret during the rotation');

        writeCfg([newSecret], [tokA]);
        await reload(srv);
        await expectRefused(oldSecret, 'old secret after it was removed');
        await expectAccepted(newSecret, 'new secret after the rotation');

        // A broken file is refused with its line number; the running configuration stays.
        fs.writeFileSync(cfg, `HOCVU_WEBHOOK_SECRETS="${newSecret}"\nthis line is not a setting\n`);
        await reload(srv, /reload refused/g);
        assert.match(srv.logs, /reload refused[^\n]*:2:/, 'the refusal names line 2');
        await expectAccepted(newSecret, 'new secret after a refused reload');
        await expectRefused(oldSecret, 'old secret after a refused reload');
        writeCfg([newSecret], [tokA]);
        await reload(srv);
        assert.equal(srv.exited(), null, 'the same process throughout');
    });

    test('read tokens: 401 + WWW-Authenticate without or with a wrong token, rotation by SIGHUP', async () => {
        for (const p of ['/v1/progress', '/v1/wards']) {
            for (const [label, h] of [
                ['no token', {}],
                ['wrong token', auth('nope')],
                ['a token that is a prefix of the right one', auth(tokA.slice(0, -1))],
                ['right token with a suffix', auth(`${tokA}x`)],
                ['Basic scheme', { authorization: `Basic ${Buffer.from(`u:${tokA}`).toString('base64')}` }],
            ]) {
                const r = await get(`${srv.url}${p}`, h);
                assert.equal(r.status, 401, `${p} with ${label}: ${r.status}`);
                assert.match(String(r.headers['www-authenticate']), /^Bearer/, `${p} ${label}: WWW-Authenticate`);
            }
            assert.equal((await get(`${srv.url}${p}`, auth(tokA))).status, 200, `${p} with the right token`);
        }
        // Rotation: add B, then drop A.
        writeCfg([newSecret], [tokB, tokA]);
        await reload(srv);
        assert.equal((await get(`${srv.url}/v1/progress`, auth(tokA))).status, 200);
        assert.equal((await get(`${srv.url}/v1/progress`, auth(tokB))).status, 200);
        writeCfg([newSecret], [tokB]);
        await reload(srv);
        assert.equal((await get(`${srv.url}/v1/progress`, auth(tokA))).status, 401, 'a dropped token');
        assert.equal((await get(`${srv.url}/v1/progress`, auth(tokB))).status, 200);
        // Counts are right behind the token (expectCounts reads without one, so check here).
        // (reads may lag the writes by up to 2 s: poll for 5 s)
        const want = model.counts();
        let p;
        for (let i = 0; i < 50; i++) {
            p = (await get(`${srv.url}/v1/progress`, auth(tokB))).json;
            if (p.certified_adults === want.adults && p.certified_total === want.total) break;
            await sleep(100);
        }
        assert.equal(p.certified_adults, want.adults);
        assert.equal(p.certified_total, want.total);
    });

    test('no secret, pepper, token or raw citizen id in logs, error bodies, /metrics or pg_dump', async (t) => {
        const secret = newSecret;
        // Refusals of every kind, each carrying a raw citizen id somewhere.
        const cid = () => genCitizenId({ year: 1975 });
        const ward = '31135';
        const cases = [
            ['bad signature', { ev: issue(), secret: oldSecret }],
            ['stale timestamp', { ev: issue(), secret, ts: nowSeconds() - 3600 }],
            ['invalid citizen id (unknown province)', { ev: event({ citizen_id: `999${cid().slice(3)}`, ward_code: ward }), secret }],
            ['invalid citizen id (born after the event)', { ev: event({ citizen_id: genCitizenId({ year: 2030 }), ward_code: ward }), secret }],
            ['citizen id with a letter', { ev: event({ citizen_id: `${cid().slice(0, 11)}X`, ward_code: ward }), secret }],
            ['citizen id too long', { ev: event({ citizen_id: `${cid()}7`, ward_code: ward }), secret }],
            ['unknown ward', { ev: event({ citizen_id: cid(), ward_code: '99999' }), secret }],
            ['bad group', { ev: event({ citizen_id: cid(), ward_code: ward, group: 'alien' }), secret }],
            ['bad birth date', { ev: event({ citizen_id: genCitizenId({ year: 1975 }), birth_date: '1976-01-01', ward_code: ward }), secret }],
            ['bad JSON', { raw: `{"type":"certificate.issued","data":{"citizen_id":"${cid()}",`, secret }],
            ['wrong type of citizen_id', { ev: event({ citizen_id: Number(cid()), ward_code: ward }), secret }],
        ];
        for (const [, c] of cases) {
            if (c.raw) citizenIdsSent.add(/"citizen_id":"(\d+)"/.exec(c.raw)[1]);
            if (c.ev) citizenIdsSent.add(String(c.ev.data.citizen_id));
        }
        const statuses = {};
        for (const [label, c] of cases) {
            const r = await post(srv.url, c);
            assert.ok(r.status >= 400 && r.status < 500, `${label}: ${r.status} ${r.text}`);
            statuses[label] = `${r.status} ${r.json?.code}`;
        }
        // And accepted events, with redeliveries and a conflict, so the database has data.
        for (let i = 0; i < 20; i++) await expectAccepted(secret, 'valid event');
        const ev = issue();
        const first = await post(srv.url, { ev, secret });
        model.apply(first.id, ev);
        assert.equal((await post(srv.url, { ev, id: first.id, secret })).json?.status, 'duplicate');
        const conflict = await post(srv.url, { ev: { ...ev, data: { ...ev.data, citizen_id: cid() } }, secret });
        assertProblem(conflict, 409, 'certificate_conflict');

        // Exact counts behind the token.
        writeCfg([newSecret], []);
        await reload(srv);
        await expectCounts(srv.url, model.counts());
        const metrics = await get(`${srv.url}/metrics`);
        assert.equal(metrics.status, 200);
        for (const p of ['/v1/progress', '/v1/wards', '/v1/wards/31135', '/v1/reports/wards.csv', '/v1/timeseries?ward=31135']) await get(`${srv.url}${p}`);
        const rec = hocvuctl(dbUrl, 'reconcile');
        assert.equal(rec.status, 0, `${rec.stdout}${rec.stderr}`);

        const dump = spawnSync(pgTool('pg_dump'), ['--no-owner', '-d', dbUrl], { encoding: 'utf8', maxBuffer: 512 << 20 });
        assert.equal(dump.status, 0, dump.stderr);
        assert.match(dump.stdout, /COPY public\.certificates/);

        // The needles: every citizen id, every secret (and its key part), the pepper, the tokens.
        const needles = new Map();
        for (const id of citizenIdsSent) if (id && id.length >= 10) needles.set(id, `citizen id ${id.slice(0, 3)}…`);
        for (const s of secretsUsed) {
            needles.set(s, 'a secret/token/pepper');
            if (s.startsWith('whsec_')) needles.set(s.slice(6), 'the key part of a webhook secret');
        }
        // The pepper also as hex and its raw bytes as latin1 (if it were dumped unencoded).
        needles.set(Buffer.from(srv.pepper).toString('hex'), 'the pepper as hex');
        const haystacks = {
            'hocvud log (debug)': srv.logs,
            'response bodies': bodies.join('\n'),
            '/metrics': metrics.text,
            pg_dump: dump.stdout,
        };
        const leaks = [];
        for (const [where, text] of Object.entries(haystacks)) {
            for (const [needle, what] of needles) if (text.includes(needle)) leaks.push(`${what} in ${where}`);
        }
        assert.deepEqual(leaks, [], 'leaked secrets or identities');
        assert.match(srv.logs, /level=debug/, 'the log is at debug level (the check means something)');

        const info = {
            needles: needles.size,
            citizenIds: citizenIdsSent.size,
            logBytes: srv.logs.length,
            bodies: bodies.length,
            dumpBytes: dump.stdout.length,
            refusals: statuses,
        };
        t.diagnostic(JSON.stringify(info));
        report('security-leaks', info);
        assert.equal(await srv.stop(), 0);
    });
});

describe('native TLS', () => {
    test('HTTPS with a generated certificate: curl and a signed event; plain HTTP fails', async (t) => {
        const dir = tempDir('hocvu-tls-');
        const cert = path.join(dir, 'cert.pem');
        const key = path.join(dir, 'key.pem');
        const gen = spawnSync(
            'openssl',
            ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
            { encoding: 'utf8' },
        );
        assert.equal(gen.status, 0, gen.stderr);
        const ca = fs.readFileSync(cert);
        const dbUrl = await newDatabase(pg);
        const srv = await startDaemon({ dbUrl, redisUrl: redis.url, env: { HOCVU_TLS_CERT: cert, HOCVU_TLS_KEY: key }, tls: { ca } });
        assert.match(srv.url, /^https:/);
        assert.match(srv.logs, /tls=on/);

        const curl = (...args) => spawnSync('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' });
        const health = curl('--cacert', cert, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', `${srv.url}/healthz`);
        assert.equal(health.status, 0, health.stderr);
        assert.equal(health.stdout, '200 0', 'curl --cacert: 200 and the certificate verifies');
        const untrusted = curl('-o', '/dev/null', `${srv.url}/healthz`);
        assert.notEqual(untrusted.status, 0, 'without --cacert the self-signed certificate is not trusted');

        // A signed event over HTTPS, sent by curl...
        const ev = event({ citizen_id: genCitizenId({ year: 1988 }), ward_code: '31135', timestamp: '2025-09-01T09:00:00+07:00' });
        const raw = JSON.stringify(ev);
        const bodyFile = path.join(dir, 'event.json');
        fs.writeFileSync(bodyFile, raw);
        const id = newMessageId();
        const ts = nowSeconds();
        const c = curl(
            '--cacert', cert, '-w', '\n%{http_code}', '-H', 'Content-Type: application/json', '-H', `webhook-id: ${id}`, '-H', `webhook-timestamp: ${ts}`,
            '-H', `webhook-signature: ${sign(srv.secret, id, ts, raw)}`, '--data-binary', `@${bodyFile}`, `${srv.url}/v1/events`,
        );
        assert.equal(c.status, 0, c.stderr);
        const [cbody, ccode] = c.stdout.split('\n');
        assert.equal(ccode, '200', c.stdout);
        assert.equal(JSON.parse(cbody).status, 'accepted');
        // ...and by node over https (its redelivery is a duplicate).
        const again = await post(srv.url, { id, raw, secret: srv.secret, ca });
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.status, 'duplicate');
        const ev2 = event({ citizen_id: genCitizenId({ year: 1990 }), ward_code: '31135', timestamp: '2025-09-02T09:00:00+07:00' });
        const n = await post(srv.url, { ev: ev2, secret: srv.secret, ca });
        assert.equal(n.status, 200, n.text);
        assert.equal(n.json.status, 'accepted');
        const progress = await req(`${srv.url}/v1/progress`, { ca });
        assert.equal(progress.status, 200);

        // Plain HTTP to the TLS port gets no HTTP answer.
        const plain = await req(`http://127.0.0.1:${srv.port}/healthz`, { timeout: 5000 }).then(
            (r) => `HTTP ${r.status}`,
            (err) => `error ${err.code || err.message}`,
        );
        assert.match(plain, /^error /, `plain HTTP to the HTTPS port: ${plain}`);
        const plainCurl = curl('-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${srv.port}/healthz`);
        assert.ok(plainCurl.status !== 0 || plainCurl.stdout === '000', `curl http:// ${plainCurl.status} ${plainCurl.stdout}`);
        // The service survived all of that.
        assert.equal((await req(`${srv.url}/healthz`, { ca })).status, 200);

        const model = new Model();
        model.apply(id, ev);
        model.apply(n.id, ev2);
        let last;
        for (let i = 0; i < 50; i++) {
            last = (await req(`${srv.url}/v1/progress`, { ca })).json;
            if (last.certified_total === 2) break;
            await sleep(100);
        }
        assert.equal(last.certified_total, model.counts().total);
        assert.equal(last.certified_adults, model.counts().adults);
        const rec = hocvuctl(dbUrl, 'reconcile');
        assert.equal(rec.status, 0, `${rec.stdout}${rec.stderr}`);
        t.diagnostic(JSON.stringify({ curlHealth: health.stdout, plainHttp: plain, plainCurl: `${plainCurl.status} ${plainCurl.stdout}` }));
        assert.equal(await srv.stop(), 0);
    });
});
