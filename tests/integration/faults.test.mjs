// faults.test.mjs - the service under failures of its peers (CONTRACT §4, DESIGN): Redis down
// or restarted empty changes no answer and no count; PostgreSQL down means 503 + Retry-After
// with nothing stored, and recovery without restarting hocvud; SIGTERM exits 0.
// Every server here is private: this file stops and kills them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    event,
    genCitizenId,
    hocvuctl,
    newDatabase,
    newMessageId,
    parallel,
    postEvent,
    request,
    startHocvud,
    startPostgres,
    startRedis,
    waitFor,
    wards,
    withLogs,
} from './lib/harness.mjs';
import { GROUPS, Model, expectCounts } from './lib/model.mjs';

let pg;
let redis;
let dbUrl;
let srv;
const model = new Model();
const codes = wards().map((w) => w.code);
let n = 0;

before(async () => {
    pg = await startPostgres();
    redis = await startRedis();
    dbUrl = await newDatabase(pg);
    srv = await startHocvud({ dbUrl, redisUrl: redis.url });
});

after(async () => {
    if (srv) await srv.stop();
});

// `count` new messages: issues for fresh persons spread over wards and groups.
function fresh(count) {
    return Array.from({ length: count }, () => {
        n += 1;
        return {
            id: newMessageId(),
            ev: event({
                citizen_id: genCitizenId({ year: 1950 + (n % 60) }),
                ward_code: codes[n % codes.length],
                group: GROUPS[n % 4],
                timestamp: `2025-0${1 + (n % 9)}-1${n % 10}T09:00:00+07:00`,
            }),
        };
    });
}

// Delivers messages (4 at a time) and checks every answer against the model.
async function deliver(msgs, label) {
    const replies = await parallel(
        msgs.map((m) => () => postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret, timeout: 20000 })),
        4,
    );
    const wrong = [];
    replies.forEach((r, i) => {
        const want = model.apply(msgs[i].id, msgs[i].ev);
        if (r.status !== 200 || r.json?.status !== want) wrong.push(`${msgs[i].id}: want ${want}, got ${r.status} ${r.text}`);
    });
    assert.deepEqual(wrong, [], `${label}: answers`);
}

function assertUnavailable(res) {
    assert.equal(res.status, 503, `expected 503 unavailable, got ${res.status}: ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.json?.code, 'unavailable', res.text);
    assert.ok(res.headers['retry-after'], 'Retry-After header');
    assert.match(res.headers['retry-after'], /^\d+$/, 'Retry-After in seconds');
}

describe('Redis failures cost speed, never correctness', () => {
    test('Redis stopped, killed and restarted empty', async () => {
        await withLogs(srv, async () => {
            const a = fresh(20);
            await deliver(a, 'set A, Redis up');
            await deliver(a.slice(0, 5), 'redeliveries of A, Redis up');
            await expectCounts(srv.url, model.counts());

            await redis.stop();
            const b = fresh(20);
            const reissueA = a.slice(0, 3).map((m) => ({ id: newMessageId(), ev: m.ev }));
            await deliver([...b, ...a, ...reissueA], 'set B + redeliveries of A, Redis stopped');
            await expectCounts(srv.url, model.counts());

            await redis.start(); // same port, empty: it remembers no id
            const c = fresh(10);
            await deliver([...c, ...b], 'set C + redeliveries of B, Redis restarted empty');
            await waitFor(async () => (await request(`${srv.url}/readyz`)).status === 200, { timeout: 5000, what: '/readyz' });

            await redis.kill();
            const d = fresh(10);
            await deliver([...d, ...c, ...a.slice(0, 5)], 'set D + redeliveries, Redis killed');
            await redis.start();
            await deliver(d, 'redeliveries of D, Redis back');
            await expectCounts(srv.url, model.counts());
        });
    });
});

describe('PostgreSQL failures', () => {
    async function outage(label, down) {
        await withLogs(srv, async () => {
            await deliver(fresh(5), `${label}: before the outage`);
            await down();
            await waitFor(async () => (await request(`${srv.url}/readyz`)).status === 503, {
                timeout: 10000,
                what: '/readyz 503 while PostgreSQL is down',
            });
            assert.equal((await request(`${srv.url}/healthz`)).status, 200, '/healthz stays 200');
            const e = fresh(6);
            for (const m of e) {
                assertUnavailable(await postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret, timeout: 20000 }));
            }

            await pg.start();
            // Recovers by itself: the same message, retried as a sender would, gets through.
            const probe = fresh(1)[0];
            const started = Date.now();
            let last;
            await waitFor(
                async () => {
                    last = await postEvent(srv.url, { id: probe.id, body: probe.ev, secret: srv.secret, timeout: 20000 });
                    if (last.status === 503) return false;
                    return true;
                },
                { timeout: 10000, interval: 200, what: `${label}: events accepted again after PostgreSQL restarted` },
            );
            assert.equal(last.status, 200, `probe after restart: ${last.status} ${last.text}`);
            assert.equal(last.json?.status, model.apply(probe.id, probe.ev), 'probe answer');
            assert.ok(Date.now() - started < 10000);
            await waitFor(async () => (await request(`${srv.url}/readyz`)).status === 200, { timeout: 10000, what: '/readyz 200 again' });

            // Nothing was stored for the 503s: their retries are accepted, not duplicates.
            await deliver(e, `${label}: retries of the events that got 503`);
            await deliver(e, `${label}: redeliveries`);
            await expectCounts(srv.url, model.counts());
            const res = hocvuctl(dbUrl, 'reconcile');
            assert.equal(res.status, 0, `reconcile after ${label}:\n${res.stdout}${res.stderr}`);
        });
    }

    test('PostgreSQL stopped (fast shutdown) and restarted', async () => {
        await outage('fast shutdown', () => pg.stop());
    });

    test('PostgreSQL killed with SIGKILL and restarted (crash recovery)', async () => {
        await outage('kill -9', () => pg.kill9());
    });
});

describe('shutdown', () => {
    test('SIGTERM: hocvud exits 0', async () => {
        await withLogs(srv, async () => {
            const code = await srv.stop();
            assert.equal(code, 0, 'exit code after SIGTERM');
        });
    });
});
