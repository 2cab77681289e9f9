// kill9.test.mjs - hocvud killed with SIGKILL in the middle of sustained load (twice), restarted
// on the same port. The senders retry every message that was not answered 200 (same webhook-id
// and body, re-signed) until it is. Afterwards nothing acknowledged is missing and nothing
// counts twice: the served counts equal the CONTRACT §6 model of the acknowledged set, the
// database holds exactly the accepted ids, and `hocvuctl reconcile` finds no drift.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sleep } from '../integration/lib/harness.mjs';
import { Sender, report, restartDaemon, startStack, verifyExact } from './lib.mjs';

const CONCURRENCY = 24;

test('kill -9 of hocvud under load: nothing acknowledged lost, nothing counted twice', { timeout: 90000 }, async (t) => {
    const { dbUrl, daemon } = await startStack();
    let srv = daemon;
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: CONCURRENCY }).start();

    const kills = [];
    for (const at of [2500, 2500]) {
        await sleep(at);
        const acksBefore = sender.acks.length;
        const t0 = Date.now();
        await srv.kill9();
        await sleep(200); // the senders meet refused connections meanwhile
        srv = await restartDaemon(srv);
        kills.push({ acksBefore, downMs: Date.now() - t0 });
    }
    await sleep(2500);
    await sender.stop({ retryFor: 20000 });

    const s = sender.summary();
    const netErrors = sender.attempts.filter((a) => !a.status).length;
    assert.ok(netErrors > 0, 'the kills interrupted requests in flight (else the test proved nothing)');
    assert.ok(s.acks > 500, `sustained load: only ${s.acks} acknowledgements`);

    const verified = await verifyExact({ sender, url: srv.url, dbUrl });
    const info = { ...s, kills, interruptedAttempts: netErrors, retryPhaseMs: sender.finishedAt - sender.stoppedAt, verified };
    t.diagnostic(JSON.stringify(info));
    report('kill9', info);
    assert.equal(await srv.stop(), 0, 'the restarted hocvud exits 0 on SIGTERM');
});
