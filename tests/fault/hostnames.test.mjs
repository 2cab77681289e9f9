// hostnames.test.mjs - PostgreSQL and Redis given by host name ("localhost"). Names are resolved
// on a thread of their own, never on an event loop, and every address a name resolves to is
// tried in order, as libpq itself would:
// events are accepted, redeliveries answered from Redis, and a name that resolves to nothing
// leaves the service answering 503 instead of hanging.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { event, newDatabase, newMessageId, postEvent, request, sharedPostgres, sharedRedis, startHocvud, waitFor } from '../integration/lib/harness.mjs';

let srv;
let bad;

const byName = (url) => url.replace('//127.0.0.1:', '//localhost:').replace('@127.0.0.1:', '@localhost:');

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    const dbUrl = await newDatabase(pg);
    srv = await startHocvud({ dbUrl: byName(dbUrl), redisUrl: byName(redis.url) });
    bad = await startHocvud({
        dbUrl: dbUrl.replace(/@[^/]+\//, '@no-such-host.invalid:5432/'),
        redisUrl: 'redis://no-such-host.invalid:6379/0',
        ready: false,
    });
});

after(async () => {
    for (const d of [srv, bad]) if (d) await d.stop();
});

test('database and Redis given by host name: accepted, then duplicate from Redis', async () => {
    const id = newMessageId();
    const ev = event();
    const r1 = await postEvent(srv.url, { id, body: ev, secret: srv.secret });
    assert.equal(r1.json?.status, 'accepted', r1.text);
    await waitFor(async () => (await request(`${srv.url}/readyz`)).json?.redis_state === 'up', { what: 'redis up' });
    const hits = async () => Number((await request(`${srv.url}/metrics`)).text.match(/hocvu_redis_dedup_total\{result="hit"\} (\d+)/)?.[1]);
    const before = await hits();
    const r2 = await postEvent(srv.url, { id, body: ev, secret: srv.secret });
    assert.equal(r2.json?.status, 'duplicate', r2.text);
    assert.equal(await hits(), before + 1, 'the redelivery was answered by Redis');
});

test('a host name that resolves to nothing: 503 at once, the loop keeps answering', async () => {
    const t0 = Date.now();
    const r = await postEvent(bad.url, { body: event(), secret: bad.secret });
    assert.equal(r.status, 503, r.text);
    const h = await request(`${bad.url}/healthz`);
    assert.equal(h.status, 200);
    assert.ok(Date.now() - t0 < 5000, 'answered without waiting on name resolution');
});
