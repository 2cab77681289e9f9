// replica.test.mjs - reads from a PostgreSQL streaming replica (issue 6): hocvud commits to the
// primary (HOCVU_DATABASE_URL) and builds its read snapshot from a hot standby
// (HOCVU_READ_DATABASE_URL). The snapshot's session is seen on the standby and not on the
// primary, the read APIs reflect every acknowledged event within the 2 s bound, and stopping the
// standby makes /readyz 503 (postgres false) while ingest still commits - unless the read URL
// lists the primary as a fallback (target_session_attrs=prefer-standby), the documented setup.
// Every server here is private: this file stops them.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    event,
    genCitizenId,
    genPepper,
    genSecret,
    getJson,
    hocvuctl,
    newDatabase,
    newMessageId,
    postEvent,
    psql,
    request,
    sleep,
    startHocvud,
    startPostgres,
    startRedis,
    waitFor,
    wards,
    withLogs,
} from './lib/harness.mjs';
import { inRecovery, startReplica } from './lib/cluster.mjs';
import { GROUPS, Model, expectCounts } from './lib/model.mjs';

let primary;
let replica;
let redis;
let dbName;
let dbUrl;
let readUrl;
let srv; // reads from the replica only
let srvFallback; // reads from the replica, else the primary
const secrets = [genSecret()];
const pepper = genPepper();
const model = new Model();
const codes = wards().map((w) => w.code);
let n = 0;

before(async () => {
    primary = await startPostgres();
    replica = await startReplica(primary);
    redis = await startRedis();
    dbName = `hv_replica_${Date.now().toString(36)}`;
    dbUrl = await newDatabase(primary, dbName);
    readUrl = replica.url(dbName);
    // The new database and its wards reach the standby through WAL.
    await waitFor(() => psql(readUrl, 'SELECT count(*) FROM wards') === String(codes.length), {
        timeout: 10000,
        what: 'wards replicated to the standby',
    });
    srv = await startHocvud({ dbUrl, redisUrl: redis.url, secrets, pepper, env: { HOCVU_READ_DATABASE_URL: readUrl } });
    const fallback =
        `postgresql://postgres@127.0.0.1:${replica.port},127.0.0.1:${primary.port}/${dbName}` +
        '?target_session_attrs=prefer-standby&connect_timeout=2';
    srvFallback = await startHocvud({ dbUrl, redisUrl: redis.url, secrets, pepper, env: { HOCVU_READ_DATABASE_URL: fallback } });
});

after(async () => {
    for (const d of [srv, srvFallback]) if (d) await d.stop();
    if (replica) await replica.stop();
});

function fresh() {
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
}

async function deliver(d, m) {
    const r = await postEvent(d.url, { id: m.id, body: m.ev, secret: secrets[0] });
    const want = model.apply(m.id, m.ev);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, want, r.text);
}

// application_name of the client sessions of `db` on the server at url.
function sessions(url) {
    return psql(url, `SELECT coalesce(string_agg(application_name, ',' ORDER BY application_name), '') FROM pg_stat_activity WHERE datname = '${dbName}' AND pid <> pg_backend_pid()`);
}

describe('hocvud with HOCVU_READ_DATABASE_URL on a streaming replica', () => {
    test('the standby is a standby, and the snapshot reads there, not on the primary', async () => {
        assert.ok(inRecovery(readUrl), 'the read server is in recovery');
        assert.ok(!inRecovery(dbUrl), 'the primary is not');
        await waitFor(() => sessions(readUrl).split(',').filter((a) => a === 'hocvud-snapshot').length === 2, {
            timeout: 5000,
            what: 'two hocvud-snapshot sessions on the standby',
        });
        assert.ok(!sessions(dbUrl).split(',').includes('hocvud-snapshot'), `primary sessions: ${sessions(dbUrl)}`);
    });

    test('reads reflect each acknowledged event within 2 s', async () => {
        // A batch first, then single events whose visibility delay is measured one by one.
        for (let i = 0; i < 150; i++) await deliver(srv, fresh());
        await expectCounts(srv.url, model.counts(), { timeout: 3000 });
        const lags = [];
        for (let i = 0; i < 8; i++) {
            await deliver(srv, fresh());
            const want = model.counts().total;
            const t0 = Date.now();
            await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === want, {
                timeout: 3000,
                interval: 25,
                what: `progress total ${want}`,
            });
            lags.push(Date.now() - t0);
        }
        console.log(`# read-after-ack delay via the replica: ${lags.join(', ')} ms`);
        assert.ok(Math.max(...lags) <= 2000, `a read lagged more than 2 s: ${lags}`);
        await withLogs([srv, srvFallback], () => expectCounts(srvFallback.url, model.counts(), { timeout: 3000 }));
    });

    test('standby down: /readyz 503 (postgres false), ingest still commits; a prefer-standby URL falls back', async () => {
        await replica.stop();
        try {
            await waitFor(async () => (await request(`${srv.url}/readyz`)).status === 503, { timeout: 10000, what: '/readyz 503' });
            const r = await request(`${srv.url}/readyz`);
            assert.equal(r.json?.postgres, false, r.text);
            // Writes go to the primary, which is fine.
            const m = fresh();
            await deliver(srv, m);
            assert.equal(psql(dbUrl, `SELECT count(*) FROM event_ledger WHERE id = '${m.id}'`), '1');
            // The instance whose read URL lists the primary after the standby stays ready and
            // serves the new count from the primary.
            await sleep(1500);
            assert.equal((await request(`${srvFallback.url}/readyz`)).status, 200, 'prefer-standby instance stays ready');
            await expectCounts(srvFallback.url, model.counts(), { timeout: 5000 });
            assert.ok(sessions(dbUrl).split(',').includes('hocvud-snapshot'), 'fallback reads from the primary');
        } finally {
            await replica.start();
        }
        await waitFor(async () => (await request(`${srv.url}/readyz`)).status === 200, { timeout: 15000, what: '/readyz 200 again' });
        await expectCounts(srv.url, model.counts(), { timeout: 3000 });
        const rec = hocvuctl(dbUrl, 'reconcile');
        assert.equal(rec.status, 0, `reconcile:\n${rec.stdout}${rec.stderr}`);
    });
});
