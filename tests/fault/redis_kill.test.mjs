// redis_kill.test.mjs - Redis killed with SIGKILL under sustained load, then restarted empty on
// the same port. Redis is only a fast path: no answer may change (a new message is "accepted",
// a redelivery of an acknowledged id is "duplicate", never a 5xx or a network error), and the
// final counts are exact.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sleep } from '../integration/lib/harness.mjs';
import { Sender, nonOkAnswers, report, req, startStack, verifyExact } from './lib.mjs';

const CONCURRENCY = 16;

test('Redis killed and restarted under load: no answer changes, counts exact', { timeout: 90000 }, async (t) => {
    const { redis, dbUrl, daemon: srv } = await startStack();
    const { wrong, onAnswer } = nonOkAnswers();
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: CONCURRENCY, onAnswer }).start();

    await sleep(2500);
    const tKill = Date.now();
    await redis.kill();
    await sleep(2500);
    const tStart = Date.now();
    await redis.start(); // same port, empty
    await sleep(3000);
    await sender.stop({ retryFor: 10000 });

    assert.deepEqual(wrong.slice(0, 20), [], `answers other than 200 (${wrong.length}) although only Redis failed`);
    assert.deepEqual(sender.problems.slice(0, 20), [], 'wrong answers');
    const redeliveriesDown = sender.attempts.filter((a) => a.d.redelivery && a.t0 > tKill && a.tEnd < tStart);
    const redeliveriesAfter = sender.attempts.filter((a) => a.d.redelivery && a.t0 > tStart);
    assert.ok(redeliveriesDown.length > 10, `redeliveries while Redis was down: ${redeliveriesDown.length}`);
    assert.ok(redeliveriesAfter.length > 10, `redeliveries after Redis restarted empty: ${redeliveriesAfter.length}`);
    for (const a of [...redeliveriesDown, ...redeliveriesAfter]) assert.equal(a.answer, 'duplicate', a.text);
    assert.equal((await req(`${srv.url}/readyz`)).status, 200, '/readyz stays 200 (PostgreSQL is up)');

    const s = sender.summary();
    const rates = {
        before: Math.round(sender.rate(sender.startedAt + 500, tKill)),
        redisDown: Math.round(sender.rate(tKill + 200, tStart)),
        after: Math.round(sender.rate(tStart + 500, sender.stoppedAt)),
    };
    const verified = await verifyExact({ sender, url: srv.url, dbUrl });
    const info = { ...s, acksPerSecondByPhase: rates, redeliveriesDown: redeliveriesDown.length, redeliveriesAfter: redeliveriesAfter.length, verified };
    t.diagnostic(JSON.stringify(info));
    report('redis_kill', info);
    assert.equal(await srv.stop(), 0, 'hocvud exits 0 on SIGTERM');
});
