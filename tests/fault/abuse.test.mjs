// abuse.test.mjs - slow and abusive clients against one hocvud while a well-behaved sender
// measures its throughput: slowloris headers and bodies, hundreds of idle connections,
// pipelined garbage, oversized headers, bodies over the limit. The well-behaved sender keeps
// getting correct answers and at least half its baseline throughput; the abusers get errors
// and are cut off by the server's limits and time-outs. Then the per-client rate limit: over
// the rate new events get 429 + Retry-After, redeliveries of accepted events are still 200
// "duplicate", another client is not affected, and after retries the counts are exact.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { newDatabase, nowSeconds, sign, sleep, startPostgres, startRedis } from '../integration/lib/harness.mjs';
import { Sender, Workload, report, startDaemon, verifyExact } from './lib.mjs';

// HOCVU_HTTP_TIMEOUT's default (config.c): the read/write time-out of a connection. This test
// asks for a short one and finishes sooner.
const SERVER_TIMEOUT_S = 30;
const ASKED_TIMEOUT_S = 5;

// The well-behaved sender offers a steady load well under what one hocvud takes on this machine
// (2 cores shared with PostgreSQL and the clients: ~1,000-3,000 events/s), so that its
// throughput measures what the abuse costs, not the noise of the machine.
const SENDER_RATE = 400;

let pg;
let redis;
after(async () => {
    await redis?.stop();
});
before(async () => {
    pg = await startPostgres({ fsync: true });
    redis = await startRedis();
});

// Raw TCP connections to the daemon, each recording what the server sent and when (and how)
// it closed the connection.
function connect(port, { onConnect } = {}) {
    return new Promise((resolve) => {
        const c = { sock: null, openedAt: Date.now(), closedAt: null, how: null, data: '', error: null };
        const sock = net.connect({ host: '127.0.0.1', port });
        c.sock = sock;
        sock.setNoDelay(true);
        sock.on('data', (b) => (c.data += b.toString('latin1')));
        sock.on('end', () => {
            c.how ||= 'fin';
            sock.end();
        });
        sock.on('error', (err) => {
            c.error = err.code || err.message;
            c.how ||= err.code === 'ECONNRESET' ? 'reset' : `error ${c.error}`;
        });
        sock.on('close', () => {
            c.closedAt ||= Date.now();
            resolve(c); // only for connections that never connected
        });
        sock.on('connect', () => {
            onConnect?.(sock);
            resolve(c);
        });
    });
}

async function connectMany(port, n, opts) {
    const out = [];
    for (let i = 0; i < n; i += 50) {
        out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => connect(port, opts)))));
    }
    return out;
}

// The status code of the first HTTP response in raw bytes, or null.
const firstStatus = (data) => {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
    return m ? Number(m[1]) : null;
};
const allStatuses = (data) => [...data.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
// p50/p99/max latency (ms) of the sender's attempts that started in [t0, t1).
function latency(sender, t0, t1) {
    const ms = sender.attempts
        .filter((a) => a.t0 >= t0 && a.t0 < t1)
        .map((a) => a.tEnd - a.t0)
        .sort((x, y) => x - y);
    const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
    return { n: ms.length, p50: q(0.5), p99: q(0.99), max: ms[ms.length - 1] };
}
const closed = (conns) => conns.filter((c) => c.closedAt !== null);

describe('slow and abusive clients', () => {
    let srv;
    let dbUrl;
    let sender;
    let trickle;
    let baseline;
    let during;
    let tAbuse;
    const conns = {};
    const all = () => Object.values(conns).flat();

    // One hocvud; a well-behaved sender (8 keep-alive connections) measured for 3 s; then ~800
    // abusive connections opened at once, and the sender measured again for the next 3 s (the
    // median of 1 s windows each time: the machine is shared with PostgreSQL and the clients).
    before(async () => {
        dbUrl = await newDatabase(pg);
        srv = await startDaemon({ dbUrl, redisUrl: redis.url, env: { HOCVU_HTTP_TIMEOUT: String(ASKED_TIMEOUT_S) } });
        sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: 8, pace: SENDER_RATE }).start();
        await sleep(2000); // warm-up
        const tBase = Date.now();
        await sleep(3000);
        tAbuse = Date.now();
        baseline = sender.medianRate(tBase, tAbuse);

        // 500 idle connections: connect, send nothing.
        conns.idle = await connectMany(srv.port, 500);
        // 200 slowloris header senders: a request line, then one header byte a second.
        conns.slowHeaders = await connectMany(srv.port, 200, {
            onConnect: (s) => s.write('POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '),
        });
        // 50 slowloris body senders: complete headers announcing 60000 bytes, then a trickle.
        conns.slowBodies = await connectMany(srv.port, 50, {
            onConnect: (s) => {
                const ts = nowSeconds();
                s.write(
                    'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
                        `Content-Length: 60000\r\nwebhook-id: msg_slow\r\nwebhook-timestamp: ${ts}\r\n` +
                        `webhook-signature: ${sign(srv.secret, 'msg_slow', ts, 'x')}\r\n\r\n{"type":`,
                );
            },
        });
        trickle = setInterval(() => {
            for (const c of conns.slowHeaders) if (!c.closedAt) c.sock.write('a');
            for (const c of conns.slowBodies) if (!c.closedAt) c.sock.write(' ');
        }, 1000);
        // Garbage, pipelined behind a valid request and on its own.
        conns.garbage = await connectMany(srv.port, 10, {
            onConnect: (s) => s.write(Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), crypto.randomBytes(8192)])),
        });
        conns.pureGarbage = await connectMany(srv.port, 10, {
            onConnect: (s) => s.write(Buffer.concat([crypto.randomBytes(2048), Buffer.from('\r\n\r\n'), crypto.randomBytes(2048)])),
        });
        // Headers over the 32 KiB limit: one huge header, or thousands of small ones.
        conns.bigHeaders = await connectMany(srv.port, 10, {
            onConnect: (s) => s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`),
        });
        conns.manyHeaders = await connectMany(srv.port, 5, {
            onConnect: (s) => {
                let h = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
                for (let i = 0; i < 3000; i++) h += `X-H${i}: ${'b'.repeat(10)}\r\n`;
                s.write(`${h}\r\n`);
            },
        });
        // A body over the 64 KiB limit of /v1/events (signed, so only its size is wrong).
        const bigBody = Buffer.from(`{"type":"certificate.issued","pad":"${'p'.repeat(70 * 1024)}"}`);
        conns.bigBodies = await connectMany(srv.port, 5, {
            onConnect: (s) => {
                const ts = nowSeconds();
                const id = `msg_big_${crypto.randomBytes(4).toString('hex')}`;
                s.write(
                    `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bigBody.length}\r\n` +
                        `webhook-id: ${id}\r\nwebhook-timestamp: ${ts}\r\nwebhook-signature: ${sign(srv.secret, id, ts, bigBody)}\r\n\r\n`,
                );
                s.write(bigBody);
            },
        });

        // The well-behaved sender during the abuse.
        const tMeasure = Date.now() + 200;
        await sleep(3300);
        during = sender.medianRate(tMeasure, Date.now());
        await sender.stop({ retryFor: 10000 });
    });

    after(async () => {
        clearInterval(trickle);
        for (const c of all()) c.sock.destroy();
        if (srv && !srv.exited()) await srv.stop();
    });

    test('oversized headers, garbage and bodies over the limit are refused at once', () => {
        for (const c of [...conns.bigHeaders, ...conns.manyHeaders]) {
            const st = firstStatus(c.data);
            assert.ok([400, 413, 431].includes(st), `oversized headers answered ${st}: ${c.data.slice(0, 200)}`);
            assert.ok(c.closedAt, 'connection with oversized headers closed');
        }
        for (const c of conns.bigBodies) {
            assert.equal(firstStatus(c.data), 413, `body over 64 KiB: ${c.data.slice(0, 300)}`);
            assert.match(c.data, /content-type: application\/problem\+json/i);
            assert.match(c.data, /"code":"payload_too_large"/);
        }
        for (const c of conns.garbage) {
            const st = allStatuses(c.data);
            assert.equal(st[0], 200, `the valid request before the garbage is answered: ${c.data.slice(0, 200)}`);
            assert.ok(st.length === 1 || st[1] === 400, `then the garbage gets 400 or nothing: ${st}`);
            assert.ok(c.closedAt, 'connection with pipelined garbage closed');
        }
        for (const c of conns.pureGarbage) {
            const st = firstStatus(c.data);
            assert.ok(st === null || st === 400, `garbage answered ${st}`);
            assert.ok(c.closedAt, 'garbage connection closed');
        }
    });

    test('the well-behaved sender gets correct answers and keeps at least half its throughput', (t) => {
        assert.deepEqual(sender.problems.slice(0, 10), [], 'the well-behaved sender got wrong answers');
        assert.deepEqual(
            sender.attempts.filter((a) => a.status !== 200).map((a) => `${a.status || a.err} ${a.text ?? ''}`).slice(0, 10),
            [],
            'the well-behaved sender got errors',
        );
        const info = {
            senderConcurrency: sender.concurrency,
            offeredPerSecond: SENDER_RATE,
            baselinePerSecond: Math.round(baseline), // median of 1 s windows
            duringAbusePerSecond: Math.round(during),
            ratio: Number((during / baseline).toFixed(2)),
            latencyMs: {
                baseline: latency(sender, tAbuse - 3000, tAbuse),
                duringAbuse: latency(sender, tAbuse + 200, sender.stoppedAt),
            },
            perSecond: sender.windowRates(sender.startedAt, sender.stoppedAt, 500).map((r) => Math.round(r)),
            abuseStartsAtSecond: (tAbuse - sender.startedAt) / 1000,
            abuseConnections: all().length,
            oversizedHeaderStatus: [...new Set([...conns.bigHeaders, ...conns.manyHeaders].map((c) => firstStatus(c.data)))],
            garbageStatuses: [...new Set(conns.garbage.map((c) => allStatuses(c.data).join('+')))],
            pureGarbageStatuses: [...new Set(conns.pureGarbage.map((c) => firstStatus(c.data)))],
        };
        t.diagnostic(JSON.stringify(info));
        report('abuse-throughput', info);
        assert.ok(during >= 0.5 * baseline, `throughput during abuse ${during.toFixed(0)}/s < 50% of baseline ${baseline.toFixed(0)}/s`);
    });

    test('idle and slow connections are cut off by the server', { timeout: (SERVER_TIMEOUT_S + 10) * 1000 }, async (t) => {
        // The server's read time-out is 30 s (less if HOCVU_HTTP_TIMEOUT is honoured): give it
        // 35 s from the moment the connections were opened.
        const waitUntil = tAbuse + (SERVER_TIMEOUT_S + 5) * 1000;
        const slow = [...conns.idle, ...conns.slowHeaders, ...conns.slowBodies];
        while (Date.now() < waitUntil && closed(slow).length < slow.length) await sleep(250);
        const life = (cs) => {
            const ms = closed(cs).map((c) => c.closedAt - c.openedAt);
            return { open: cs.length - ms.length, closed: ms.length, ...(ms.length ? { minMs: Math.min(...ms), maxMs: Math.max(...ms) } : {}) };
        };
        const info = { idle: life(conns.idle), slowHeaders: life(conns.slowHeaders), slowBodies: life(conns.slowBodies) };
        t.diagnostic(JSON.stringify(info));
        report('abuse-cutoff', info);
        assert.equal(closed(conns.idle).length, conns.idle.length, `idle connections still open ${SERVER_TIMEOUT_S + 5} s later: ${JSON.stringify(info.idle)}`);
        assert.equal(
            closed(conns.slowHeaders).length,
            conns.slowHeaders.length,
            `slowloris headers (a byte a second) still open ${SERVER_TIMEOUT_S + 5} s later: ${JSON.stringify(info.slowHeaders)}`,
        );
        assert.equal(
            closed(conns.slowBodies).length,
            conns.slowBodies.length,
            `slowloris bodies (a byte a second) still open ${SERVER_TIMEOUT_S + 5} s later: ${JSON.stringify(info.slowBodies)}`,
        );
        for (const c of conns.slowBodies) {
            const st = firstStatus(c.data);
            assert.ok(st === null || st === 408 || st === 400, `a cut-off slow body is not processed: ${c.data.slice(0, 200)}`);
        }
    });

    test("the well-behaved sender's events are all counted, exactly", async (t) => {
        clearInterval(trickle);
        for (const c of all()) c.sock.destroy();
        const verified = await verifyExact({ sender, url: srv.url, dbUrl });
        t.diagnostic(JSON.stringify({ ...sender.summary(), verified }));
        assert.equal(await srv.stop(), 0, 'hocvud exits 0 on SIGTERM');
    });
});

describe('per-client rate limit', () => {
    test('429 + Retry-After for new events over the rate, never for redeliveries', { timeout: 60000 }, async (t) => {
        const dbUrl = await newDatabase(pg);
        const srv = await startDaemon({ dbUrl, redisUrl: redis.url, env: { HOCVU_RATE_LIMIT: '50', HOCVU_RATE_BURST: '50' } });
        const workload = new Workload();
        const fast = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: 16, workload });
        const fresh = () => ({ msg: workload.message(workload.issue(workload.newPerson()), 'issue'), redelivery: false, expect: ['accepted'] });

        // 40 events: within the burst, all accepted.
        const first = Array.from({ length: 40 }, fresh);
        for (const d of first) {
            const a = await fast.attempt(d);
            assert.equal(a.status, 200, `within the burst: ${a.status} ${a.text}`);
            assert.equal(a.answer, 'accepted');
            workload.acked(d, a.answer);
        }

        // 300 new events as fast as 16 connections go: far over 50/s.
        const flood = Array.from({ length: 300 }, fresh);
        const floodAttempts = [];
        let next = 0;
        const t0 = Date.now();
        await Promise.all(
            Array.from({ length: 16 }, async () => {
                while (next < flood.length) {
                    const d = flood[next++];
                    const a = await fast.attempt(d);
                    floodAttempts.push(a);
                    if (a.status === 200) workload.acked(d, a.answer);
                }
            }),
        );
        const floodMs = Date.now() - t0;
        const limited = floodAttempts.filter((a) => a.status === 429);
        const okFlood = floodAttempts.filter((a) => a.status === 200);
        assert.equal(limited.length + okFlood.length, flood.length, `flood answers: ${[...new Set(floodAttempts.map((a) => `${a.status || a.err} ${a.code}`))]}`);
        assert.ok(limited.length > 100, `over the rate most new events get 429 (${limited.length} of ${flood.length} in ${floodMs} ms)`);
        for (const a of limited) {
            assert.equal(a.code, 'rate_limited', a.text);
            assert.match(String(a.headers['content-type']), /^application\/problem\+json/);
            assert.match(String(a.retryAfter), /^[1-9]\d*$/, `Retry-After: ${a.retryAfter}`);
        }
        for (const a of okFlood) assert.equal(a.answer, 'accepted', a.text);

        // Still over the rate (the bucket is empty): redeliveries of accepted events are answered
        // "duplicate", never 429 - over and over.
        const acceptedSoFar = [...first, ...flood.filter((d) => d.msg.acked)];
        const redeliveries = [];
        for (let round = 0; round < 3; round++) {
            await Promise.all(
                acceptedSoFar.map(async (d) => {
                    const a = await fast.attempt({ msg: d.msg, redelivery: true, expect: ['duplicate'] });
                    redeliveries.push(a);
                }),
            );
        }
        const badRedeliveries = redeliveries.filter((a) => a.status !== 200 || a.answer !== 'duplicate');
        assert.deepEqual(badRedeliveries.map((a) => `${a.status} ${a.text}`).slice(0, 10), [], 'redeliveries over the rate');
        // ...while new events from the same client are still refused. The bucket holds at most
        // the burst (50), however slowly the redeliveries went (a sanitizer build is slow enough
        // to refill it), so of 60 new events sent at once at least 10 must get 429.
        const probeEvents = Array.from({ length: 60 }, fresh);
        const probes = await Promise.all(probeEvents.map((d) => fast.attempt(d)));
        const probe429 = probes.filter((a) => a.status === 429);
        assert.ok(
            probe429.length >= 10,
            `new events right after the redeliveries: ${probes.map((a) => a.status).join(' ')}`,
        );
        probes.forEach((a, k) => {
            assert.ok(a.status === 429 || (a.status === 200 && a.answer === 'accepted'), `${a.status} ${a.text}`);
            if (a.status === 200) workload.acked(probeEvents[k], a.answer);
            flood.push(probeEvents[k]); // retried below unless acknowledged
        });

        // Another client address (127.0.0.2, still loopback) has its own bucket.
        let otherClient = 'skipped (127.0.0.2 not bindable)';
        const other = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: 1, workload, localAddress: '127.0.0.2' });
        const od = fresh();
        const oa = await other.attempt(od);
        if (!(oa.err && /EADDRNOTAVAIL|EINVAL/.test(oa.err))) {
            assert.equal(oa.status, 200, `another client is not limited: ${oa.status || oa.err} ${oa.text}`);
            assert.equal(oa.answer, 'accepted');
            workload.acked(od, oa.answer);
            otherClient = '200 accepted';
        } else {
            workload.messages.delete(od.msg.id);
        }
        other.agent.destroy();

        // The refused events, retried after Retry-After as a sender would, all get in.
        const retry = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: 8, workload, maxRetryDelay: 1000 });
        const pending = flood.filter((d) => !d.msg.acked);
        const tRetry = Date.now();
        retry.giveUpAt = Date.now() + 30000;
        let i = 0;
        await Promise.all(
            Array.from({ length: 8 }, async () => {
                while (i < pending.length) await retry.deliver(pending[i++]);
            }),
        );
        retry.agent.destroy();
        fast.agent.destroy();
        const retryMs = Date.now() - tRetry;
        retry.problems.push(...fast.problems);
        const verified = await verifyExact({ sender: retry, url: srv.url, dbUrl });
        const info = {
            rateLimit: 50,
            burst: 50,
            flood: { sent: floodAttempts.length, ms: floodMs, accepted: okFlood.length, limited: limited.length },
            redeliveriesOverTheRate: redeliveries.length,
            otherClient,
            retriedUntilAccepted: pending.length,
            retryMs,
            retry429s: retry.attempts.filter((a) => a.status === 429).length,
            verified,
        };
        t.diagnostic(JSON.stringify(info));
        report('ratelimit', info);
        assert.equal(await srv.stop(), 0, 'hocvud exits 0 on SIGTERM');
    });
});
