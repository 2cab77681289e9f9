// multi_instance.test.mjs - scale-out on loopback (issue 6): three hocvud sharing one PostgreSQL
// and one Redis behind HAProxy running the shipped deploy/haproxy.cfg. Concurrent senders that
// redeliver until acknowledged drive events through HAProxy while one instance is killed with
// SIGKILL; the counts must then equal exactly those of the acknowledged set (no loss, no double
// count) and reconcile must find no drift. PostgreSQL going away makes every /readyz 503 and
// HAProxy drains the instances, then everything recovers. And HAProxy never re-sends a POST that
// reached a server. Every server here is private: this file kills and stops them.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
    event,
    freePort,
    genCitizenId,
    genPepper,
    genSecret,
    hocvuctl,
    newDatabase,
    newMessageId,
    postEvent,
    psql,
    request,
    startHocvud,
    startPostgres,
    startRedis,
    waitFor,
    wards,
    withLogs,
} from './lib/harness.mjs';
import { deliverUntilAcknowledged, startHaproxy } from './lib/cluster.mjs';
import { GROUPS, Model, expectCounts } from './lib/model.mjs';

const N_EVENTS = 3000; // issues, plus revocations of some of them
const SENDERS = 16; // concurrent senders

let pg;
let redis;
let dbUrl;
let lb;
const nodes = [];
const secrets = [genSecret()];
const pepper = genPepper();
const codes = wards().map((w) => w.code);

before(async () => {
    pg = await startPostgres();
    redis = await startRedis();
    dbUrl = await newDatabase(pg);
    for (let i = 0; i < 3; i++) {
        // One event loop each: three instances, PostgreSQL, Redis, HAProxy and the senders share
        // two cores here.
        nodes.push(await startHocvud({ dbUrl, redisUrl: redis.url, secrets, pepper, env: { HOCVU_THREADS: '1' } }));
    }
    lb = await startHaproxy(nodes.map((d, i) => ({ name: `hocvud${i + 1}`, port: d.port })));
});

after(async () => {
    for (const d of nodes) await d.stop();
    if (lb) await lb.stop();
});

// The message stream: N_EVENTS issues for persons spread over wards, groups and birth years
// (some minors), some persons with a second certificate, and revocations of every 7th
// certificate (some revoking a person's earliest one, so attribution moves).
function messages() {
    const out = [];
    const persons = [];
    for (let i = 0; i < N_EVENTS; i++) {
        const reuse = i % 5 === 4 && persons.length > 0;
        const p = reuse ? persons[(i * 7) % persons.length] : { id: genCitizenId({ year: 1940 + (i % 72) }), ward: codes[i % codes.length], group: GROUPS[i % 4] };
        if (!reuse) persons.push(p);
        const ev = event({
            citizen_id: p.id,
            ward_code: p.ward,
            group: p.group,
            timestamp: `2025-${String(1 + (i % 9)).padStart(2, '0')}-${String(10 + (i % 18)).padStart(2, '0')}T09:00:00+07:00`,
        });
        out.push({ id: newMessageId(), ev });
        if (i % 7 === 3) {
            out.push({
                id: newMessageId(),
                ev: event({ type: 'certificate.revoked', citizen_id: p.id, certificate_id: ev.data.certificate_id, timestamp: '2025-10-01T09:00:00+07:00' }),
            });
        }
    }
    return out;
}

describe('three instances behind HAProxy', () => {
    test('all three are UP in HAProxy (health checks on /readyz)', async () => {
        await lb.waitStates((s) => Object.keys(s).length === 3 && Object.values(s).every((v) => v === 'UP'), { what: 'all UP' });
    });

    test('SIGKILL of one instance mid-run: exact counts from the acknowledged set, reconcile clean', async () => {
        const msgs = messages();
        const model = new Model();
        const acked = new Map(); // id -> 'accepted' | 'duplicate'
        const victim = nodes[1];
        let killedAt = -1;
        let next = 0;
        let retried = 0;
        const t0 = Date.now();

        async function sender() {
            while (next < msgs.length) {
                const m = msgs[next++];
                const r = await deliverUntilAcknowledged(lb.url, { id: m.id, body: m.ev, secret: secrets[0] });
                assert.equal(r.status, 200, `${m.id}: definite non-200 answer ${r.status} ${r.text}`);
                acked.set(m.id, r.json.status);
                if (r.attempts > 1) retried += 1;
                if (killedAt < 0 && acked.size >= msgs.length / 3) {
                    killedAt = acked.size;
                    await victim.kill9();
                }
            }
        }
        await withLogs(nodes, () => Promise.all(Array.from({ length: SENDERS }, sender)));
        const seconds = (Date.now() - t0) / 1000;
        assert.ok(killedAt > 0, 'the instance was killed during the run');
        assert.ok(victim.exited(), 'the victim is dead');
        assert.equal(acked.size, msgs.length, 'every message acknowledged');

        // A first delivery may be answered "duplicate" only if an earlier attempt of the same
        // message was committed but its reply lost with the killed instance.
        const dups = [...acked.values()].filter((s) => s === 'duplicate').length;
        assert.ok(dups <= retried, `${dups} duplicates but only ${retried} messages needed a retry`);
        for (const m of msgs) model.apply(m.id, m.ev);

        // Stored exactly once: one ledger row per acknowledged message, no more.
        assert.equal(Number(psql(dbUrl, 'SELECT count(*) FROM event_ledger')), msgs.length, 'ledger rows');

        // Every surviving instance, and HAProxy, serve the model's counts (reads lag <= 2 s).
        const expected = model.counts();
        for (const d of nodes.filter((x) => !x.exited())) await withLogs(d, () => expectCounts(d.url, expected, { timeout: 3000 }));
        await expectCounts(lb.url, expected, { timeout: 3000 });
        assert.ok(expected.adults > 0 && expected.total > expected.adults, 'the stream has adults and minors');

        const rec = hocvuctl(dbUrl, 'reconcile');
        assert.equal(rec.status, 0, `reconcile found drift:\n${rec.stdout}${rec.stderr}`);

        // Writers of different instances never share a counter shard, so they never deadlock:
        // PostgreSQL counted no deadlock in this database (the killed instance's included), and
        // no surviving writer retried a batch.
        const deadlocks = Number(psql(dbUrl, 'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()'));
        assert.equal(deadlocks, 0, 'deadlocks detected by PostgreSQL');
        for (const d of nodes.filter((x) => !x.exited())) {
            const metrics = (await request(`${d.url}/metrics`)).text;
            const retries = Number(metrics.match(/^hocvu_writer_retries_total (\d+)$/m)?.[1]);
            assert.equal(retries, 0, `${d.url}: batches retried after a deadlock or serialization failure`);
        }
        const be = (await lb.stat()).find((r) => r.pxname === 'hocvud' && r.svname === 'BACKEND');
        console.log(
            `# ${msgs.length} messages via HAProxy in ${seconds.toFixed(1)} s; instance killed after ${killedAt} acks; ` +
                `${retried} needed a sender retry, ${dups} answered duplicate; HAProxy connection retries ${be.wretr}, ` +
                `redispatches ${be.wredis}; adults ${expected.adults}, total ${expected.total}`,
        );

        // HAProxy noticed the dead instance and routes around it.
        await lb.waitStates((s) => s.hocvud2 && s.hocvud2.startsWith('DOWN'), { what: 'hocvud2 DOWN' });
    });

    test('PostgreSQL down: every /readyz is 503, HAProxy drains all, then all recover', async () => {
        const live = nodes.filter((d) => !d.exited());
        assert.equal(live.length, 2);
        await pg.stop();
        try {
            for (const d of live) {
                await waitFor(async () => (await request(`${d.url}/readyz`, { timeout: 2000 })).status === 503, {
                    timeout: 10000,
                    what: `${d.url}/readyz 503`,
                });
                const r = await request(`${d.url}/readyz`);
                assert.equal(r.json?.postgres, false, r.text);
            }
            await lb.waitStates((s) => Object.values(s).every((v) => v.startsWith('DOWN')), { what: 'all DOWN' });
            // With no server up, HAProxy answers 503 itself: the sender keeps the message.
            const r = await postEvent(lb.url, { body: event(), secret: secrets[0] });
            assert.equal(r.status, 503, `through HAProxy with every instance drained: ${r.status} ${r.text}`);
        } finally {
            await pg.start();
        }
        for (const d of live) {
            await waitFor(async () => (await request(`${d.url}/readyz`, { timeout: 2000 })).status === 200, {
                timeout: 15000,
                what: `${d.url}/readyz 200 again`,
            });
        }
        await lb.waitStates((s) => s.hocvud1 === 'UP' && s.hocvud3 === 'UP', { what: 'live instances UP again' });
        const ev = event();
        const r = await deliverUntilAcknowledged(lb.url, { id: newMessageId(), body: ev, secret: secrets[0], deadlineMs: 15000 });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.status, 'accepted');
    });
});

describe('HAProxy retry policy', () => {
    test('a POST that reached a server is not re-sent to another one', async () => {
        // A server that passes the /readyz check but drops every POST after reading it (as a
        // crash after commit would look to HAProxy), beside a real hocvud.
        const received = [];
        const blackhole = http.createServer((req, res) => {
            if (req.method === 'GET') {
                res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}');
                return;
            }
            req.resume();
            req.on('end', () => {
                received.push(req.headers['webhook-id']);
                req.socket.destroy();
            });
        });
        const bhPort = await freePort();
        await new Promise((resolve) => blackhole.listen(bhPort, '127.0.0.1', resolve));
        const real = nodes[0];
        const lb2 = await startHaproxy([
            { name: 'hocvud1', port: bhPort },
            { name: 'hocvud2', port: real.port },
        ]);
        try {
            await lb2.waitStates((s) => s.hocvud1 === 'UP' && s.hocvud2 === 'UP', { what: 'both UP' });
            const answers = [];
            for (let i = 0; i < 8; i++) {
                const id = newMessageId();
                const r = await postEvent(lb2.url, { id, body: event(), secret: secrets[0] });
                answers.push({ id, status: r.status });
            }
            const dropped = answers.filter((a) => a.status !== 200).map((a) => a.id);
            assert.ok(dropped.length >= 2, `round-robin sent some POSTs to the dropping server: ${JSON.stringify(answers)}`);
            assert.ok(answers.every((a) => a.status === 200 || a.status === 502), JSON.stringify(answers));
            // Each dropped POST reached the black hole exactly once and never the real server.
            assert.deepEqual([...received].sort(), [...dropped].sort(), 'each dropped POST delivered once');
            const inLedger = psql(dbUrl, `SELECT count(*) FROM event_ledger WHERE id IN (${dropped.map((id) => `'${id}'`).join(',')})`);
            assert.equal(Number(inLedger), 0, 'a POST that reached a server was re-sent to another');
        } finally {
            await lb2.stop();
            blackhole.close();
        }
    });
});

