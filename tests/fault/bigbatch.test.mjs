// bigbatch.test.mjs - large batches do not stall the single events on the same event loop.
// One event loop (HOCVU_THREADS=1) serves single events offered at a steady rate (open loop,
// latency measured from the intended send time) first alone, then while 16 MiB batches of
// 10,000 lines arrive back to back. Batch lines are validated in steps and queued behind single
// events in the writer, so a single event waits for at most one step and one transaction.
// Reports both p99s; fails if the batches push the single events' p99 past half a second (or
// past five times the p99 without them, for slow builds such as the sanitizer run).

import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import { event, newMessageId, nowSeconds, postEvent, sign, sleep } from '../integration/lib/harness.mjs';
import { report, startStack } from './lib.mjs';

const RATE = 100; // single events per second
const PHASE_MS = 6000;
const LINES = 10000;
const LINE_BYTES = 1600; // 10,000 lines of 1,600 bytes: 16 MB, just under the 16 MiB limit

function p99(xs) {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] : NaN;
}

// Offers single events at RATE/s for ms; resolves with each one's latency from its slot.
async function singles(url, secret, agent, ms) {
    const lat = [];
    const pending = [];
    const t0 = Date.now();
    for (let i = 0; i < (RATE * ms) / 1000; i++) {
        const slot = t0 + (i * 1000) / RATE;
        const wait = slot - Date.now();
        if (wait > 0) await sleep(wait);
        const body = JSON.stringify(event());
        const id = newMessageId();
        const ts = nowSeconds();
        pending.push(
            new Promise((resolve) => {
                const req = http.request(`${url}/v1/events`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, id, ts, body) } }, (res) => {
                    res.resume();
                    res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - slot }));
                });
                req.on('error', () => resolve({ status: 0, ms: Date.now() - slot }));
                req.end(body);
            }),
        );
    }
    for (const r of await Promise.all(pending)) {
        assert.equal(r.status, 200, 'every single event is acknowledged');
        lat.push(r.ms);
    }
    return lat;
}

function bigBatch() {
    const lines = [];
    for (let i = 0; i < LINES; i++) {
        const base = JSON.stringify({ id: newMessageId(), ...event(), pad: '' });
        lines.push(base.replace('"pad":""', `"pad":"${'x'.repeat(Math.max(0, LINE_BYTES - base.length))}"`));
    }
    return `${lines.join('\n')}\n`;
}

test('16 MiB batches on the same loop: single events keep their latency', { timeout: 180000 }, async (t) => {
    const { daemon: srv } = await startStack({ daemon: { threads: 1 } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const bodies = [bigBatch(), bigBatch(), bigBatch()];
    assert.ok(bodies[0].length > 15.5e6 && bodies[0].length < 16 * 1024 * 1024, `batch size ${bodies[0].length}`);

    await singles(srv.url, srv.secret, agent, 1000); // warm up
    const alone = await singles(srv.url, srv.secret, agent, PHASE_MS);

    let stop = false;
    let batches = 0;
    const batchLoop = (async () => {
        for (let i = 0; !stop; i++) {
            const r = await postEvent(srv.url, { path: '/v1/events/batch', contentType: 'application/x-ndjson', body: bodies[i % bodies.length], secret: srv.secret, timeout: 120000 });
            assert.equal(r.status, 200, r.text.slice(0, 300));
            batches++;
        }
    })();
    await sleep(300);
    const withBatches = await singles(srv.url, srv.secret, agent, PHASE_MS);
    stop = true;
    await batchLoop;
    agent.destroy();

    const info = { p99MsAlone: p99(alone), p99MsWithBatches: p99(withBatches), batches, singlesPerPhase: alone.length };
    t.diagnostic(JSON.stringify(info));
    report('bigbatch', info);
    assert.ok(batches >= 1, 'at least one 16 MiB batch was committed during the measurement');
    const bound = Math.max(500, 5 * info.p99MsAlone);
    assert.ok(info.p99MsWithBatches < bound, `single events' p99 while 16 MiB batches arrive (bound ${bound} ms): ${JSON.stringify(info)}`);
    assert.equal(await srv.stop(), 0);
});
