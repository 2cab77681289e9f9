// overload.test.mjs - saturation is answered, not queued without end. (1) With a small bounded
// queue (HOCVU_QUEUE_MAX) and far more concurrent senders, events beyond it get 503
// "overloaded" with Retry-After at once - faster than the events that are served - and retried
// events all end up stored exactly once. (2) Each event has a deadline (HOCVU_DEADLINE_MS): a
// transaction still running past it (a trigger makes chosen events sleep) is cancelled on the
// server, its events get 503 "unavailable" whose text does not claim that nothing was stored,
// nothing of the cancelled transaction is stored, and the service goes on serving others.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { event, newMessageId, parallel, postEvent, psql, sleep } from '../integration/lib/harness.mjs';
import { Sender, report, startStack, verifyExact } from './lib.mjs';

const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

test('a bounded queue: beyond it 503 overloaded with Retry-After, fast; retries exact', { timeout: 120000 }, async (t) => {
    const { dbUrl, daemon: srv } = await startStack({ daemon: { threads: 1, env: { HOCVU_QUEUE_MAX: '8' } } });
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: 96, maxRetryDelay: 50 }).start();
    await sleep(5000);
    await sender.stop({ retryFor: 30000 });

    const overloaded = sender.attempts.filter((a) => a.status === 503 && a.code === 'overloaded');
    const served = sender.attempts.filter((a) => a.status === 200);
    const info = {
        ...sender.summary(),
        overloaded: overloaded.length,
        medianMsOverloaded: median(overloaded.map((a) => a.tEnd - a.t0)),
        medianMsServed: median(served.map((a) => a.tEnd - a.t0)),
    };
    t.diagnostic(JSON.stringify(info));
    assert.ok(overloaded.length > 0, 'some requests were answered 503 overloaded');
    for (const a of overloaded) assert.match(String(a.retryAfter), /^\d+$/, 'Retry-After in seconds');
    assert.ok(info.medianMsOverloaded < info.medianMsServed, `overloaded answers come faster than served ones: ${JSON.stringify(info)}`);
    info.verified = await verifyExact({ sender, url: srv.url, dbUrl });
    report('overload_queue', info);
    assert.equal(await srv.stop(), 0);
});

test('a transaction past its deadline is cancelled; its events get 503 and nothing of it is stored', { timeout: 120000 }, async (t) => {
    const { dbUrl, daemon: srv } = await startStack({ daemon: { threads: 1, env: { HOCVU_DEADLINE_MS: '1000' } } });
    psql(
        dbUrl,
        `CREATE FUNCTION hv_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.id LIKE 'slow-%' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;
         CREATE TRIGGER hv_test_slow BEFORE INSERT ON event_ledger FOR EACH ROW EXECUTE FUNCTION hv_test_slow();`,
    );
    const slow = { id: `slow-${newMessageId()}`, ev: event() };
    const t0 = Date.now();
    const slowAnswer = postEvent(srv.url, { id: slow.id, body: slow.ev, secret: srv.secret, timeout: 30000 }).then((r) => ({ ...r, ms: Date.now() - t0 }));
    await sleep(200);
    // Events sent while the slow transaction runs wait behind it, then are served.
    const others = Array.from({ length: 20 }, () => ({ id: newMessageId(), ev: event() }));
    const otherAnswers = parallel(others.map((m) => () => postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret, timeout: 30000 })), 20);
    const r = await slowAnswer;
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json?.code, 'unavailable');
    assert.match(String(r.headers['retry-after']), /^\d+$/);
    assert.doesNotMatch(r.json?.detail ?? '', /nothing was stored/, 'a timed-out commit is not claimed to be unstored');
    assert.ok(r.ms < 1000 + 5000 + 2000, `answered within the deadline and the cancel's grace: ${r.ms} ms`);
    // The server cancelled it: no backend is still sleeping in it, and it stored nothing.
    await sleep(300);
    const sleeping = Number(psql(dbUrl, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%hv_ingest%' AND state = 'active' AND wait_event = 'PgSleep'"));
    assert.equal(sleeping, 0, 'the timed-out transaction is no longer running');
    assert.equal(Number(psql(dbUrl, `SELECT count(*) FROM event_ledger WHERE id = '${slow.id}'`)), 0);

    const oa = await otherAnswers;
    const statuses = oa.reduce((o, a) => ({ ...o, [a.status]: (o[a.status] || 0) + 1 }), {});
    t.diagnostic(JSON.stringify({ slowMs: r.ms, others: statuses }));
    // Others either shared the cancelled transaction (503 unavailable) or came after it (200);
    // none waited forever, and a retry of every one of them is stored.
    for (const a of oa) assert.ok(a.status === 200 || (a.status === 503 && ['unavailable', 'overloaded'].includes(a.json?.code)), a.text);
    psql(dbUrl, 'DROP TRIGGER hv_test_slow ON event_ledger');
    for (const m of [slow, ...others]) {
        const again = await postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret });
        assert.equal(again.status, 200, again.text);
    }
    assert.equal(Number(psql(dbUrl, 'SELECT count(*) FROM event_ledger')), others.length + 1);
    report('overload_deadline', { slowMs: r.ms, others: statuses });
    assert.equal(await srv.stop(), 0);
});
