// restore.test.mjs - the Redis fast path never answers for what the database does not hold.
// 300 events are accepted (Redis marks every one), then the database is restored from a dump
// taken before them while Redis keeps all its keys - with hocvud left running, and again with
// hocvud restarted, and by an in-place pg_restore --clean into the live database. Each time
// the platform's redelivery of the 300 must be stored and counted ("accepted"), and the counts
// must equal the model of what the restored database plus the redeliveries hold.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import { event, newMessageId, pgTool, postEvent, psql, sleep, tempDir, waitFor } from '../integration/lib/harness.mjs';
import { Model, deliverUntilAcked, expectCounts, report, restartDaemon, startStack } from './lib.mjs';

const RETRY = { rounds: 50, timeout: 30000 };

function run(cmd, args) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.error) throw r.error;
    assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
}

test('after a restore from an older dump, redeliveries Redis remembers are stored and counted', { timeout: 180000 }, async () => {
    let { pg, dbUrl, daemon: srv } = await startStack();
    const name = new URL(dbUrl).pathname.slice(1);
    const dir = tempDir('hocvu-restore-');
    const dump = path.join(dir, 'before.dump');
    const info = {};

    const early = Array.from({ length: 50 }, () => ({ id: newMessageId(), ev: event() }));
    (await deliverUntilAcked(srv.url, srv.secret, early, RETRY)).forEach((a) => assert.equal(a, 'accepted'));
    run(pgTool('pg_dump'), ['--format=custom', '--no-owner', '--file', dump, '--dbname', dbUrl]);

    const restores = [
        {
            how: 'dropped and recreated, hocvud left running',
            restore: async () => {
                psql(pg.url('postgres'), `DROP DATABASE "${name}" WITH (FORCE)`);
                psql(pg.url('postgres'), `CREATE DATABASE "${name}"`);
                run(pgTool('pg_restore'), ['--no-owner', '--exit-on-error', '--dbname', dbUrl, dump]);
            },
        },
        {
            how: 'dropped and recreated, hocvud restarted',
            restore: async () => {
                await srv.stop();
                psql(pg.url('postgres'), `DROP DATABASE "${name}" WITH (FORCE)`);
                psql(pg.url('postgres'), `CREATE DATABASE "${name}"`);
                run(pgTool('pg_restore'), ['--no-owner', '--exit-on-error', '--dbname', dbUrl, dump]);
                srv = await restartDaemon(srv);
            },
        },
        {
            how: 'pg_restore --clean into the live database, hocvud left running',
            restore: async () => {
                run(pgTool('pg_restore'), ['--no-owner', '--clean', '--if-exists', '--exit-on-error', '--dbname', dbUrl, dump]);
                // The writer re-reads the database identity every second; the fast path trusts
                // none older than 2.5 s (docs/SCALING.md). Restores take longer than that.
                await sleep(1500);
            },
        },
    ];
    for (const r of restores) {
        const late = Array.from({ length: 300 }, () => ({ id: newMessageId(), ev: event() }));
        (await deliverUntilAcked(srv.url, srv.secret, late, RETRY)).forEach((a) => assert.equal(a, 'accepted'));
        // Redelivered once more while the database still holds them: Redis answers.
        (await deliverUntilAcked(srv.url, srv.secret, late.slice(0, 20), RETRY)).forEach((a) => assert.equal(a, 'duplicate'));

        await r.restore();
        assert.equal(Number(psql(dbUrl, 'SELECT count(*) FROM event_ledger')), early.length, `${r.how}: the restore holds only the early events`);
        await waitFor(async () => (await postEvent(srv.url, { id: early[0].id, body: early[0].ev, secret: srv.secret })).status === 200, { timeout: 15000, what: 'hocvud answering after the restore' });

        const answers = await deliverUntilAcked(srv.url, srv.secret, late, RETRY);
        const counts = answers.reduce((o, a) => ({ ...o, [a]: (o[a] || 0) + 1 }), {});
        info[r.how] = counts;
        assert.deepEqual(counts, { accepted: late.length }, `${r.how}: every redelivery of an event the restore lost is stored`);
        (await deliverUntilAcked(srv.url, srv.secret, early, RETRY)).forEach((a) => assert.equal(a, 'duplicate'));

        const model = new Model();
        for (const m of [...early, ...late]) model.apply(m.id, m.ev);
        await expectCounts(srv.url, model.counts(), { timeout: 5000 });
        assert.equal(Number(psql(dbUrl, 'SELECT count(*) FROM event_ledger')), early.length + late.length);
        // Back to the dump's state for the next way of restoring.
        if (r !== restores[restores.length - 1]) {
            await srv.stop();
            psql(pg.url('postgres'), `DROP DATABASE "${name}" WITH (FORCE)`);
            psql(pg.url('postgres'), `CREATE DATABASE "${name}"`);
            run(pgTool('pg_restore'), ['--no-owner', '--exit-on-error', '--dbname', dbUrl, dump]);
            srv = await restartDaemon(srv);
        }
    }
    report('restore', info);
    assert.equal(await srv.stop(), 0);
});
