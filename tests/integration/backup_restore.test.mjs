// backup_restore.test.mjs - the logical backup round trip of docs/SCALING.md: pg_dump of a
// populated database, pg_restore into a fresh one, then hocvuctl reconcile finds zero drift on
// the restore, a hocvud on it serves exactly the original counts, and idempotency survived (a
// redelivery of an accepted message is a duplicate, answered from the restored ledger because
// that hocvud has an empty Redis). Non-destructive: works on CI's shared PostgreSQL.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
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
    parallel,
    pgTool,
    postEvent,
    psql,
    sharedPostgres,
    sharedRedis,
    startHocvud,
    startRedis,
    tempDir,
    wards,
    withLogs,
} from './lib/harness.mjs';
import { GROUPS, Model, expectCounts } from './lib/model.mjs';

let pg;
let dbUrl;
let srv;
let restored;
let srv2;
const secrets = [genSecret()];
const pepper = genPepper(); // the restore must run with the same pepper, like any instance
const model = new Model();
const sent = [];
const codes = wards().map((w) => w.code);

before(async () => {
    pg = await sharedPostgres();
    dbUrl = await newDatabase(pg);
    srv = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url, secrets, pepper });
});

after(async () => {
    for (const d of [srv, srv2]) if (d) await d.stop();
});

const withoutAsOf = ({ as_of: _asOf, ...rest }) => rest;

function run(cmd, args) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.error) throw r.error;
    assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    return r;
}

describe('pg_dump / pg_restore round trip', () => {
    test('populate: issues, second certificates, revocations, minors', async () => {
        const persons = [];
        for (let i = 0; i < 400; i++) {
            const reuse = i % 6 === 5;
            const p = reuse ? persons[(i * 3) % persons.length] : { id: genCitizenId({ year: 1945 + (i % 70) }), ward: codes[i % codes.length], group: GROUPS[i % 4] };
            if (!reuse) persons.push(p);
            const ev = event({ citizen_id: p.id, ward_code: p.ward, group: p.group, timestamp: `2025-0${1 + (i % 9)}-2${i % 8}T10:00:00+07:00` });
            sent.push({ id: newMessageId(), ev });
            if (i % 9 === 2) {
                sent.push({ id: newMessageId(), ev: event({ type: 'certificate.revoked', citizen_id: p.id, certificate_id: ev.data.certificate_id }) });
            }
        }
        const replies = await parallel(sent.map((m) => () => postEvent(srv.url, { id: m.id, body: m.ev, secret: secrets[0] })), 4);
        replies.forEach((r, i) => assert.equal(r.status, 200, `${sent[i].id}: ${r.status} ${r.text}`));
        for (const m of sent) model.apply(m.id, m.ev);
        await withLogs(srv, () => expectCounts(srv.url, model.counts(), { timeout: 3000 }));
    });

    test('restore: reconcile clean, identical reads, idempotency kept', async () => {
        const original = {
            progress: withoutAsOf(await getJson(`${srv.url}/v1/progress`)),
            wards: withoutAsOf(await getJson(`${srv.url}/v1/wards`)),
        };
        const dir = tempDir('hocvu-dump-');
        const dump = path.join(dir, 'hocvu.dump');
        // Custom format: compressed, restorable selectively and in parallel (pg_restore -j).
        run(pgTool('pg_dump'), ['--format=custom', '--no-owner', '--file', dump, '--dbname', dbUrl]);
        const name = `hv_restored_${Date.now().toString(36)}`;
        restored = await pg.createDb(name);
        run(pgTool('pg_restore'), ['--no-owner', '--exit-on-error', '--dbname', restored, dump]);

        for (const [table, want] of [['event_ledger', sent.length], ['wards', codes.length]]) {
            assert.equal(Number(psql(restored, `SELECT count(*) FROM ${table}`)), want, `${table} rows after restore`);
        }
        const rec = hocvuctl(restored, 'reconcile');
        assert.equal(rec.status, 0, `reconcile on the restore:\n${rec.stdout}${rec.stderr}`);
        const mig = hocvuctl(restored, 'migrate');
        assert.equal(mig.status, 0, `migrate on the restore is a no-op:\n${mig.stdout}${mig.stderr}`);

        // A fresh Redis: any "duplicate" below comes from the restored ledger.
        const redis = await startRedis();
        srv2 = await startHocvud({ dbUrl: restored, redisUrl: redis.url, secrets, pepper });
        await withLogs(srv2, () => expectCounts(srv2.url, model.counts(), { timeout: 3000 }));
        assert.deepEqual(withoutAsOf(await getJson(`${srv2.url}/v1/progress`)), original.progress);
        assert.deepEqual(withoutAsOf(await getJson(`${srv2.url}/v1/wards`)), original.wards);

        const again = await postEvent(srv2.url, { id: sent[0].id, body: sent[0].ev, secret: secrets[0] });
        assert.equal(again.json?.status, 'duplicate', again.text);
        const m = { id: newMessageId(), ev: event({ ward_code: codes[0], timestamp: '2025-09-01T10:00:00+07:00' }) };
        const r = await postEvent(srv2.url, { id: m.id, body: m.ev, secret: secrets[0] });
        assert.equal(r.json?.status, model.apply(m.id, m.ev), r.text);
        await expectCounts(srv2.url, model.counts(), { timeout: 3000 });
    });
});
