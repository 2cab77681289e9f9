// pg_restart.test.mjs - PostgreSQL stopped (fast shutdown, like `pg_ctl stop -m fast`) for ~3 s
// under sustained load, then started again. While it is down ingest answers 503 + Retry-After
// with code "unavailable" and /readyz is 503; once it is back hocvud recovers by itself (same
// process), the senders' retries are accepted, and the final counts are exact.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sleep } from '../integration/lib/harness.mjs';
import { Sender, report, req, startStack, verifyExact } from './lib.mjs';

const CONCURRENCY = 16;
const DOWN_MS = 3000;

test('PostgreSQL stopped and restarted under load: 503 + Retry-After, recovery, nothing lost', { timeout: 90000 }, async (t) => {
    const { pg, dbUrl, daemon: srv } = await startStack();
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: CONCURRENCY }).start();

    await sleep(2500);
    const acksBeforeStop = sender.acks.length;
    const tStop = Date.now();
    await pg.stop(); // SIGINT to the postmaster: PostgreSQL's fast shutdown
    const tDown = Date.now();

    // While it is down: /readyz turns 503, ingest answers 503.
    const readyz = [];
    while (Date.now() - tDown < DOWN_MS) {
        const r = await req(`${srv.url}/readyz`, { timeout: 2000 });
        readyz.push({ t: Date.now() - tDown, status: r.status });
        await sleep(100);
    }
    const tStart = Date.now();
    await pg.start();
    const tUp = Date.now();

    // Recovery without restarting hocvud: acknowledgements resume and /readyz is 200 again.
    let recoveredMs = null;
    while (Date.now() - tUp < 15000) {
        if (sender.acks.some((x) => x > tUp)) {
            recoveredMs = Math.min(...sender.acks.filter((x) => x > tUp)) - tUp;
            break;
        }
        await sleep(50);
    }
    assert.ok(recoveredMs !== null, 'acknowledgements resumed within 15 s of PostgreSQL starting');
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
        ready = (await req(`${srv.url}/readyz`, { timeout: 2000 })).status === 200;
        if (!ready) await sleep(100);
    }
    assert.ok(ready, '/readyz is 200 again within 10 s');
    await sleep(2500);
    await sender.stop({ retryFor: 20000 });

    assert.equal(srv.exited(), null, 'hocvud was not restarted (it kept running)');
    // (requests made after PostgreSQL was fully down, answered before it was started again)
    const during = sender.attempts.filter((a) => a.t0 > tDown && a.tEnd < tStart);
    const unavailable = during.filter((a) => a.status === 503);
    assert.ok(unavailable.length > 0, 'requests answered while PostgreSQL was down got 503');
    for (const a of unavailable) {
        assert.equal(a.code, 'unavailable', a.text);
        assert.match(String(a.retryAfter), /^\d+$/, 'Retry-After in seconds');
        assert.match(String(a.headers['content-type']), /^application\/problem\+json/);
    }
    const acceptedWhileDown = during.filter((a) => a.status === 200 && a.answer === 'accepted');
    assert.deepEqual(acceptedWhileDown.map((a) => a.d.msg.id), [], 'nothing is "accepted" while PostgreSQL is down');
    const otherWhileDown = during.filter((a) => a.status !== 503 && !(a.status === 200 && a.answer === 'duplicate'));
    assert.deepEqual(
        otherWhileDown.map((a) => `${a.status || a.err} ${a.text ?? ''}`).slice(0, 10),
        [],
        'while PostgreSQL is down every answer is 503 (or duplicate for an id Redis knows)',
    );
    assert.ok(readyz.some((r) => r.status === 503), `/readyz turned 503 while PostgreSQL was down: ${JSON.stringify(readyz)}`);
    const firstReadyz503 = readyz.find((r) => r.status === 503)?.t;

    const s = sender.summary();
    const verified = await verifyExact({ sender, url: srv.url, dbUrl });
    const info = {
        ...s,
        acksBeforeStop,
        pgStopMs: tDown - tStop,
        downMs: tStart - tDown,
        pgStartMs: tUp - tStart,
        readyz503AfterMs: firstReadyz503,
        answers503WhileDown: unavailable.length,
        firstAckAfterPgUpMs: recoveredMs,
        verified,
    };
    t.diagnostic(JSON.stringify(info));
    report('pg_restart', info);
    assert.equal(await srv.stop(), 0, 'hocvud exits 0 on SIGTERM');
});
