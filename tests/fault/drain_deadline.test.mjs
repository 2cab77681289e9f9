// drain_deadline.test.mjs - SIGTERM while a request cannot finish: its transaction is held by a
// trigger far past the drain deadline (20 s). At the deadline hocvud answers what it still
// holds - 503 with Retry-After, written and flushed to the client before the process exits -
// instead of closing the connection on it; the process then exits.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { event, newMessageId, postEvent, psql, sleep } from '../integration/lib/harness.mjs';
import { report, startStack } from './lib.mjs';

const DRAIN_DEADLINE_MS = 20000; // HV_DRAIN_DEADLINE_SEC in src/lib/worker.c

test('past the drain deadline, held requests get a flushed 503 before the exit', { timeout: 90000 }, async () => {
    // A deadline far beyond the drain's, so only the drain ends the held request.
    const { dbUrl, daemon: srv } = await startStack({ daemon: { threads: 1, env: { HOCVU_DEADLINE_MS: '60000' } } });
    psql(
        dbUrl,
        `CREATE FUNCTION hv_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.id LIKE 'hold-%' THEN PERFORM pg_sleep(45); END IF; RETURN NEW; END $$;
         CREATE TRIGGER hv_test_hold BEFORE INSERT ON event_ledger FOR EACH ROW EXECUTE FUNCTION hv_test_hold();`,
    );
    const id = `hold-${newMessageId()}`;
    const held = postEvent(srv.url, { id, body: event(), secret: srv.secret, timeout: 60000 }).then(
        (r) => ({ ...r, at: Date.now() }),
        (err) => ({ status: 0, err: err.code || String(err), at: Date.now() }),
    );
    await sleep(500);
    const tSig = Date.now();
    srv.signal('SIGTERM');
    const exit = await srv.waitExit(DRAIN_DEADLINE_MS + 10000);
    const r = await held;
    report('drain_deadline', { status: r.status, code: r.json?.code, answeredAfterMs: r.at - tSig, exitAfterMs: exit ? exit.at - tSig : null });
    assert.ok(exit, 'hocvud exited after its drain deadline');
    assert.equal(r.status, 503, `the held request got an HTTP answer: ${JSON.stringify(r)}`);
    assert.equal(r.json?.code, 'unavailable', r.text);
    assert.match(String(r.headers['retry-after']), /^\d+$/);
    assert.ok(r.at - tSig >= DRAIN_DEADLINE_MS - 1000, 'answered at the deadline, not before');
    assert.match(srv.logs, /drain deadline reached/);
});
