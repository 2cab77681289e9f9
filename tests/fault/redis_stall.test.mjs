// redis_stall.test.mjs - Redis stalled under sustained load (SIGSTOP: its connections stay open,
// nothing is answered), then resumed. The fast path must notice on its own (a breaker trips
// after a few checks miss their budget of about one commit), answer everything from
// PostgreSQL, say so in /metrics (hocvu_redis_up 0, hocvu_redis_stalled 1) and in /readyz's
// body (redis_state "stalled"), keep at least half of the healthy throughput measured in the
// same run, change no answer, and take Redis back once it answers again. Then the same for a
// Redis that answers, but 30 ms late (through a delaying proxy), against the same proxy at no
// delay in the same run.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';

import { newDatabase, sleep, startPostgres, startRedis } from '../integration/lib/harness.mjs';
import { Sender, nonOkAnswers, report, req, startDaemon, startStack, verifyExact } from './lib.mjs';

const CONCURRENCY = 32;
const PHASE_MS = 5000;

function gauge(text, name) {
    const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
}

test('Redis stalled under load: breaker trips, at least half the throughput, no answer changes', { timeout: 120000 }, async (t) => {
    const { redis, dbUrl, daemon: srv } = await startStack();
    const { wrong, onAnswer } = nonOkAnswers();
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: CONCURRENCY, onAnswer }).start();

    await sleep(1500); // warm up
    const tHealthy = Date.now();
    await sleep(PHASE_MS);
    const tStop = Date.now();
    redis.pause();
    await sleep(1500);
    const metricsStalled = (await req(`${srv.url}/metrics`)).text;
    const readyStalled = await req(`${srv.url}/readyz`);
    await sleep(PHASE_MS - 1500);
    const tResume = Date.now();
    redis.resume();
    let resumedMs = null;
    for (let i = 0; i < 100; i++) {
        const r = await req(`${srv.url}/readyz`);
        if (r.json?.redis_state === 'up') {
            resumedMs = Date.now() - tResume;
            break;
        }
        await sleep(100);
    }
    await sleep(1000);
    await sender.stop({ retryFor: 10000 });

    assert.deepEqual(wrong.slice(0, 20), [], `answers other than 200 (${wrong.length}) although only Redis stalled`);
    const healthy = sender.medianRate(tHealthy, tStop);
    const stalled = sender.medianRate(tStop + 1000, tResume);
    const info = {
        ...sender.summary(),
        acksPerSecond: { healthy: Math.round(healthy), stalled: Math.round(stalled), ratio: Number((stalled / healthy).toFixed(2)) },
        redisUpWhileStalled: gauge(metricsStalled, 'hocvu_redis_up'),
        redisStalledGauge: gauge(metricsStalled, 'hocvu_redis_stalled'),
        readyzWhileStalled: readyStalled.json,
        resumedMs,
    };
    t.diagnostic(JSON.stringify(info));
    assert.equal(info.redisUpWhileStalled, 0, 'hocvu_redis_up is 0 while Redis is stalled');
    assert.equal(info.redisStalledGauge, 1, 'hocvu_redis_stalled is 1 while Redis is stalled');
    assert.equal(readyStalled.status, 200, '/readyz stays 200: PostgreSQL answers everything');
    assert.equal(readyStalled.json?.redis_state, 'stalled', JSON.stringify(readyStalled.json));
    assert.ok(stalled >= 0.5 * healthy, `stalled Redis costs at most half the throughput: ${Math.round(stalled)} vs ${Math.round(healthy)} events/s`);
    assert.ok(resumedMs !== null, 'Redis is taken back within 10 s of answering again');

    const redeliveriesStalled = sender.attempts.filter((a) => a.d.redelivery && a.t0 > tStop && a.tEnd < tResume);
    assert.ok(redeliveriesStalled.length > 10, `redeliveries while Redis was stalled: ${redeliveriesStalled.length}`);
    for (const a of redeliveriesStalled) assert.equal(a.answer, 'duplicate', a.text);

    info.verified = await verifyExact({ sender, url: srv.url, dbUrl });
    report('redis_stall', info);
    assert.equal(await srv.stop(), 0, 'hocvud exits 0 on SIGTERM');
});

// A TCP proxy in front of Redis that delays every reply by `delayMs` (changeable at run time).
async function slowProxy(redisPort) {
    const proxy = { delayMs: 0, sockets: new Set() };
    const server = net.createServer((client) => {
        const upstream = net.connect(redisPort, '127.0.0.1');
        proxy.sockets.add(client).add(upstream);
        client.on('data', (d) => upstream.write(d));
        upstream.on('data', (d) => {
            if (proxy.delayMs > 0) setTimeout(() => client.writable && client.write(d), proxy.delayMs);
            else client.write(d);
        });
        const close = () => {
            client.destroy();
            upstream.destroy();
        };
        client.on('error', close).on('close', close);
        upstream.on('error', close).on('close', close);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy.port = server.address().port;
    proxy.close = () => {
        for (const s of proxy.sockets) s.destroy();
        return new Promise((resolve) => server.close(resolve));
    };
    return proxy;
}

test('a slow Redis (every reply 30 ms late): at least half the throughput, no answer changes', { timeout: 120000 }, async (t) => {
    const pg = await startPostgres({ fsync: true });
    const redis = await startRedis();
    const dbUrl = await newDatabase(pg);
    const proxy = await slowProxy(redis.port);
    const srv = await startDaemon({ dbUrl, redisUrl: `redis://127.0.0.1:${proxy.port}/0` });
    const { wrong, onAnswer } = nonOkAnswers();
    const sender = new Sender({ target: () => srv.url, secret: srv.secret, concurrency: CONCURRENCY, onAnswer }).start();
    await sleep(1500);
    const tFast = Date.now();
    await sleep(PHASE_MS);
    const tSlow = Date.now();
    proxy.delayMs = 30;
    await sleep(PHASE_MS);
    const tEnd = Date.now();
    const readySlow = await req(`${srv.url}/readyz`);
    proxy.delayMs = 0;
    await sleep(1500);
    await sender.stop({ retryFor: 10000 });

    const fast = sender.medianRate(tFast, tSlow);
    const slow = sender.medianRate(tSlow + 1000, tEnd);
    const info = { acksPerSecond: { fastRedis: Math.round(fast), slowRedis: Math.round(slow), ratio: Number((slow / fast).toFixed(2)) }, readyzWhileSlow: readySlow.json };
    t.diagnostic(JSON.stringify(info));
    assert.deepEqual(wrong.slice(0, 20), [], `answers other than 200 (${wrong.length})`);
    assert.ok(slow >= 0.5 * fast, `a slow Redis costs at most half the throughput: ${JSON.stringify(info)}`);
    info.verified = await verifyExact({ sender, url: srv.url, dbUrl });
    report('redis_slow', info);
    assert.equal(await srv.stop(), 0);
    await proxy.close();
});
