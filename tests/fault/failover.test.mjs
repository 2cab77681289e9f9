// failover.test.mjs - a failover that loses recent commits. hocvud writes to a primary with an
// asynchronous standby; the standby stops following, 300 more events are accepted on the
// primary (Redis marks every one), the primary dies and the standby is promoted without them.
// hocvud, left running with a multi-host URL, follows the new primary by itself; the promoted
// server has the same system identifier but a new WAL timeline, so the fast path's old marks
// are never consulted: every redelivery of the 300 is stored and counted.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startReplica } from '../integration/lib/cluster.mjs';
import { event, newDatabase, newMessageId, psql, startPostgres, startRedis, waitFor } from '../integration/lib/harness.mjs';
import { Model, deliverUntilAcked, expectCounts, report, startDaemon } from './lib.mjs';

const RETRY = { rounds: 100, timeout: 20000 };

test('failover to a standby that lacks recent commits: their redeliveries are stored again', { timeout: 180000 }, async () => {
    const pg = await startPostgres({ fsync: true });
    const redis = await startRedis();
    const dbUrl = await newDatabase(pg);
    const db = new URL(dbUrl).pathname.slice(1);
    const standby = await startReplica(pg);
    const url = `postgresql://postgres@127.0.0.1:${pg.port},127.0.0.1:${standby.port}/${db}?target_session_attrs=read-write&connect_timeout=2`;
    const srv = await startDaemon({ dbUrl: url, redisUrl: redis.url });

    const early = Array.from({ length: 50 }, () => ({ id: newMessageId(), ev: event() }));
    (await deliverUntilAcked(srv.url, srv.secret, early, RETRY)).forEach((a) => assert.equal(a, 'accepted'));
    await waitFor(() => Number(psql(standby.url(db), 'SELECT count(*) FROM event_ledger')) === early.length, { timeout: 15000, what: 'the standby has the early events' });
    const tliBefore = psql(dbUrl, 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)');

    await standby.stop(); // it stops following
    const late = Array.from({ length: 300 }, () => ({ id: newMessageId(), ev: event() }));
    (await deliverUntilAcked(srv.url, srv.secret, late, RETRY)).forEach((a) => assert.equal(a, 'accepted'));
    (await deliverUntilAcked(srv.url, srv.secret, late.slice(0, 20), RETRY)).forEach((a) => assert.equal(a, 'duplicate'));

    await pg.kill9(); // the primary is lost with its last 300 commits
    await standby.start();
    psql(standby.url('postgres'), 'SELECT pg_promote(true, 30)');
    const tliAfter = psql(standby.url(db), 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)');
    assert.notEqual(tliAfter, tliBefore, 'the promotion started a new timeline');
    assert.equal(Number(psql(standby.url(db), 'SELECT count(*) FROM event_ledger')), early.length, 'the new primary lacks the late events');

    const answers = await deliverUntilAcked(srv.url, srv.secret, late, RETRY);
    const counts = answers.reduce((o, a) => ({ ...o, [a]: (o[a] || 0) + 1 }), {});
    assert.deepEqual(counts, { accepted: late.length }, 'every redelivery of an event the failover lost is stored');
    (await deliverUntilAcked(srv.url, srv.secret, early, RETRY)).forEach((a) => assert.equal(a, 'duplicate'));
    const model = new Model();
    for (const m of [...early, ...late]) model.apply(m.id, m.ev);
    await expectCounts(srv.url, model.counts(), { timeout: 10000 });
    report('failover', { timelineBefore: tliBefore, timelineAfter: tliAfter, redeliveries: counts });
    assert.equal(await srv.stop(), 0);
    await standby.stop();
});
