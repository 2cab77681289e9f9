// sigterm.test.mjs - SIGTERM under sustained load: hocvud stops accepting, answers every request
// it already has (a request written before the signal gets a proper HTTP answer, never a reset),
// and exits 0 within its drain deadline. Requests made after the signal may find the listener
// closed (refused or reset) and are retried; after a restart on the same port and the retries,
// the counts are exact. Run twice: with the defaults (two loops whose single events share the
// first loop's writer, so half of them cross loops) and with four loops sharing two writers.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sleep } from '../integration/lib/harness.mjs';
import { Sender, report, restartDaemon, startStack, verifyExact } from './lib.mjs';

const CONCURRENCY = 24;
const DRAIN_DEADLINE_MS = 20000; // HV_DRAIN_DEADLINE_SEC in src/lib/worker.c

async function sigtermUnderLoad(t, name, daemonOpts) {
    const { dbUrl, daemon } = await startStack({ daemon: daemonOpts });
    let srv = daemon;
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: CONCURRENCY }).start();

    await sleep(3000);
    const old = srv;
    const tSig = Date.now();
    old.signal('SIGTERM');
    const exit = await old.waitExit(DRAIN_DEADLINE_MS + 5000);
    assert.ok(exit, `hocvud still running ${DRAIN_DEADLINE_MS + 5000} ms after SIGTERM`);
    const exitMs = exit.at - tSig;
    assert.equal(exit.code, 0, `exit status after SIGTERM: ${JSON.stringify(exit)}`);
    assert.ok(exitMs < DRAIN_DEADLINE_MS, `exited within the drain deadline (${exitMs} ms)`);
    assert.match(old.logs, /shutting down/, 'logged the shutdown');
    assert.doesNotMatch(old.logs, /drain deadline reached/, 'drained before the deadline');

    srv = await restartDaemon(old);
    const tUp = Date.now();
    await sleep(2500);
    await sender.stop({ retryFor: 20000 });

    // Every request fully written before the signal got an HTTP answer, and that answer is 200.
    const before = sender.attempts.filter((a) => a.tWritten && a.tWritten < tSig);
    const inFlight = before.filter((a) => a.tEnd >= tSig);
    const unanswered = before.filter((a) => !a.status);
    assert.deepEqual(
        unanswered.map((a) => `${a.err} written ${tSig - a.tWritten} ms before the signal, reused socket ${a.reused}`),
        [],
        'requests written before SIGTERM that got no HTTP answer',
    );
    const notOk = inFlight.filter((a) => a.status !== 200);
    assert.deepEqual(notOk.map((a) => `${a.status} ${a.text}`), [], 'in-flight requests at SIGTERM are answered 200');
    const after = sender.attempts.filter((a) => a.t0 >= tSig && a.t0 < tUp);
    const afterByOutcome = {};
    for (const a of after) {
        const k = a.status ? String(a.status) : a.err;
        afterByOutcome[k] = (afterByOutcome[k] || 0) + 1;
    }

    const s = sender.summary();
    const verified = await verifyExact({ sender, url: srv.url, dbUrl });
    const info = {
        ...s,
        exitMs,
        inFlightAtSignal: inFlight.length,
        inFlightAnswered200: inFlight.length - notOk.length,
        attemptsWhileStoppedByOutcome: afterByOutcome,
        restartMs: tUp - exit.at,
        verified,
    };
    t.diagnostic(JSON.stringify(info));
    report(name, info);
    assert.equal(await srv.stop(), 0, 'the restarted hocvud exits 0 on SIGTERM');
}

test('SIGTERM under load: in-flight requests answered, exit 0, nothing lost after restart', { timeout: 90000 }, (t) =>
    sigtermUnderLoad(t, 'sigterm', {}),
);

test('the same with four loops whose single events share two writers', { timeout: 90000 }, (t) =>
    sigtermUnderLoad(t, 'sigterm_shared_writers', { threads: 4, env: { HOCVU_EVENT_WRITERS: '2' } }),
);
