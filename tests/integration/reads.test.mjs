// reads.test.mjs - the read side of CONTRACT §7 with HOCVU_READ_TOKENS set: bearer tokens
// (HOCVU_ADMIN_TOKENS pass too), one ward with its groups, the time series, the CSV report, the
// live stream, the dashboard page and the metrics.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import {
    event,
    genCitizenId,
    newDatabase,
    postEvent,
    request,
    sharedPostgres,
    sharedRedis,
    startHocvud,
    waitFor,
    withLogs,
} from './lib/harness.mjs';

const TOKENS = ['reader-token-one-9f2c', 'reader-token-two-41aa'];
const ADMIN = 'admin-token-77b1e0';
const auth = { authorization: `Bearer ${TOKENS[1]}` };
let srv;

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    srv = await startHocvud({
        dbUrl: await newDatabase(pg),
        redisUrl: redis.url,
        env: { HOCVU_READ_TOKENS: TOKENS.join(' '), HOCVU_ADMIN_TOKENS: ADMIN },
    });
    // Ward 31135: an adult citizen and a minor student on 15 Sep; ward 31120: an adult official
    // on 16 Sep (Vietnam time).
    const events = [
        event({ ward_code: '31135', citizen_id: genCitizenId({ year: 1980 }), timestamp: '2025-09-15T09:00:00+07:00' }),
        event({ ward_code: '31135', group: 'student', citizen_id: genCitizenId({ year: 2010 }), timestamp: '2025-09-15T10:00:00+07:00' }),
        event({ ward_code: '31120', group: 'official', citizen_id: genCitizenId({ year: 1975 }), timestamp: '2025-09-15T18:00:00Z' }),
    ];
    for (const ev of events) {
        const res = await postEvent(srv.url, { body: ev, secret: srv.secret });
        assert.equal(res.status, 200, res.text);
    }
    await waitFor(
        async () => {
            const r = await request(`${srv.url}/v1/progress`, { headers: auth });
            return r.status === 200 && r.json?.certified_total === 3;
        },
        { timeout: 5000, what: 'the three events to be counted' },
    );
});

after(async () => {
    if (srv) await srv.stop();
});

test('read APIs need one of the configured bearer tokens', async () => {
    await withLogs(srv, async () => {
        for (const path of ['/v1/progress', '/v1/wards', '/v1/wards/31135', '/v1/reports/wards.csv', '/metrics']) {
            assert.equal((await request(`${srv.url}${path}`)).status, 401, `${path} without a token`);
            const wrong = await request(`${srv.url}${path}`, { headers: { authorization: 'Bearer nope' } });
            assert.equal(wrong.status, 401, `${path} with a wrong token`);
            assert.ok(!wrong.text.includes(TOKENS[0]) && !wrong.text.includes(TOKENS[1]), 'reply names a token');
            // An admin token passes every read check too (CONTRACT §12).
            for (const t of [...TOKENS, ADMIN]) {
                const ok = await request(`${srv.url}${path}`, { headers: { authorization: `Bearer ${t}` } });
                assert.equal(ok.status, 200, `${path} with a configured token: ${ok.status} ${ok.text.slice(0, 300)}`);
            }
        }
        for (const t of [...TOKENS, ADMIN]) assert.ok(!srv.logs.includes(t), 'a token appears in the log');
    });
});

test('GET /v1/wards/{code}: the ward, its groups and its last 30 days', async () => {
    await withLogs(srv, async () => {
        const res = await request(`${srv.url}/v1/wards/31135`, { headers: auth });
        assert.equal(res.status, 200, res.text);
        const w = res.json;
        assert.equal(w.code, '31135');
        assert.equal(w.certified_total, 2);
        assert.equal(w.certified_adults, 1);
        assert.deepEqual(w.by_group, { citizen: 1, official: 0, student: 0, worker: 0 });
        for (const k of ['name', 'type', 'target', 'target_estimated', 'percent', 'rank']) assert.ok(k in w, `member ${k}`);
        const series = Object.values(w).find((v) => Array.isArray(v));
        assert.ok(series, `a last-30-days array in ${res.text}`);
        assert.ok(series.length <= 31, 'at most 30 days');
        const unknown = await request(`${srv.url}/v1/wards/99999`, { headers: auth });
        assert.equal(unknown.status, 404, unknown.text);
        // A legacy code is not a current ward either; nor is garbage.
        assert.equal((await request(`${srv.url}/v1/wards/abc`, { headers: auth })).status >= 400, true);
    });
});

test('GET /v1/timeseries: new and cumulative certified adults per Vietnam day', async () => {
    await withLogs(srv, async () => {
        const city = await request(`${srv.url}/v1/timeseries?from=2025-09-14&to=2025-09-17`, { headers: auth });
        assert.equal(city.status, 200, city.text);
        const byDate = Object.fromEntries(city.json.points.map((p) => [p.date, p]));
        assert.equal(byDate['2025-09-15']?.new, 1, `15 Sep: ${city.text}`);
        assert.equal(byDate['2025-09-16']?.new, 1, `16 Sep (18:00Z on the 15th): ${city.text}`);
        assert.equal(byDate['2025-09-16']?.cumulative, 2, city.text);
        const dates = city.json.points.map((p) => p.date);
        assert.deepEqual(dates, [...dates].sort(), 'points in date order');
        const ward = await request(`${srv.url}/v1/timeseries?ward=31120&from=2025-09-01&to=2025-09-30`, { headers: auth });
        assert.equal(ward.status, 200, ward.text);
        const last = ward.json.points[ward.json.points.length - 1];
        assert.equal(last.cumulative, 1, ward.text);
        assert.equal(ward.json.points.reduce((s, p) => s + p.new, 0), 1);
        const bad = await request(`${srv.url}/v1/timeseries?from=yesterday&to=2025-09-30`, { headers: auth });
        assert.equal(bad.status, 400, `bad date: ${bad.status} ${bad.text}`);
    });
});

test('GET /v1/reports/wards.csv: UTF-8 CSV with a BOM, one row per ward', async () => {
    await withLogs(srv, async () => {
        const res = await request(`${srv.url}/v1/reports/wards.csv`, { headers: auth });
        assert.equal(res.status, 200);
        assert.match(String(res.headers['content-type']), /^text\/csv/);
        assert.ok(res.text.startsWith('\uFEFF'), 'starts with a BOM');
        const lines = res.text.slice(1).split(/\r?\n/).filter((l) => l);
        assert.equal(lines.length, 104, 'header + 103 wards');
        assert.match(lines[0], /code/);
        assert.ok(res.text.includes('Phường Ninh Kiều'), 'Vietnamese names intact');
    });
});

test('GET /v1/stream sends a progress event when the counts change', async () => {
    await withLogs(srv, async () => {
        const got = [];
        const req = http.get(`${srv.url}/v1/stream`, { headers: { ...auth, accept: 'text/event-stream' }, agent: false });
        const response = await new Promise((resolve, reject) => {
            req.on('response', resolve);
            req.on('error', reject);
        });
        try {
            assert.equal(response.statusCode, 200);
            assert.match(String(response.headers['content-type']), /^text\/event-stream/);
            let buf = '';
            response.setEncoding('utf8');
            response.on('data', (d) => {
                buf += d;
                let i;
                while ((i = buf.indexOf('\n\n')) >= 0) {
                    got.push(buf.slice(0, i));
                    buf = buf.slice(i + 2);
                }
            });
            await new Promise((r) => setTimeout(r, 300));
            const res = await postEvent(srv.url, { body: event({ ward_code: '31147', citizen_id: genCitizenId({ year: 1990 }) }), secret: srv.secret });
            assert.equal(res.status, 200, res.text);
            await waitFor(
                () =>
                    got.some((e) => {
                        if (!/^event: ?progress$/m.test(e)) return false;
                        const data = e.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
                        try {
                            return JSON.parse(data).certified_total === 4;
                        } catch {
                            return false;
                        }
                    }),
                { timeout: 5000, what: 'a progress event with certified_total 4' },
            );
        } finally {
            req.destroy();
        }
    });
});

test('GET / is the dashboard page; /metrics is Prometheus text', async () => {
    await withLogs(srv, async () => {
        const page = await request(`${srv.url}/`);
        assert.equal(page.status, 200);
        assert.match(String(page.headers['content-type']), /^text\/html/);
        assert.match(page.text, /<html[^>]*lang="vi"/i, 'Vietnamese by default');
        const metrics = await request(`${srv.url}/metrics`, { headers: auth });
        assert.equal(metrics.status, 200);
        assert.match(String(metrics.headers['content-type']), /^text\/plain/);
        assert.match(metrics.text, /^# TYPE \S+ (counter|gauge|histogram|summary)$/m);
    });
});
