// as_of.test.mjs - `as_of` is when the counts last changed (README, Read): it stays put while
// no events arrive, survives a restart of the service, is the same on two instances of one
// database, and moves when an event changes the counts. The time lives in the database
// (sql/008_read_state.sql), so a restart or a second instance finds it there.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { event, genPepper, genSecret, newDatabase, postEvent, request, sharedPostgres, sharedRedis, sleep, startHocvud, waitFor } from './lib/harness.mjs';

let dbUrl, redisUrl;
const secrets = [genSecret()];
const pepper = genPepper();
const started = [];

async function start() {
    const srv = await startHocvud({ dbUrl, redisUrl, secrets, pepper });
    started.push(srv);
    return srv;
}

async function progress(srv) {
    const r = await request(`${srv.url}/v1/progress`);
    assert.equal(r.status, 200, r.text);
    return r.json;
}

async function certifiedIs(srv, n) {
    await waitFor(async () => (await progress(srv)).certified_total === n, { timeout: 5000, what: `${n} certified on ${srv.url}` });
    return progress(srv);
}

before(async () => {
    const pg = await sharedPostgres();
    redisUrl = (await sharedRedis()).url;
    dbUrl = await newDatabase(pg);
});

after(async () => {
    for (const s of started) await s.stop();
});

test('as_of stays put while nothing arrives, across a restart and on a second instance; it moves on a change', async () => {
    let a = await start();
    const first = await postEvent(a.url, { body: event(), secret: secrets[0] });
    assert.equal(first.status, 200, first.text);
    const p1 = await certifiedIs(a, 1);
    // as_of has a resolution of a second: wait past the next second so a reset would show.
    await sleep(2200);
    assert.equal((await progress(a)).as_of, p1.as_of, 'unchanged counts keep their as_of');

    assert.equal(await a.stop(), 0);
    started.splice(started.indexOf(a), 1);
    a = await start();
    assert.equal((await certifiedIs(a, 1)).as_of, p1.as_of, 'a restart keeps as_of');

    const b = await start();
    assert.equal((await certifiedIs(b, 1)).as_of, p1.as_of, 'a second instance reports the same as_of');

    const second = await postEvent(b.url, { body: event(), secret: secrets[0] });
    assert.equal(second.status, 200, second.text);
    const pa = await certifiedIs(a, 2);
    const pb = await certifiedIs(b, 2);
    assert.ok(Date.parse(pa.as_of) > Date.parse(p1.as_of), `as_of moved on a change (${p1.as_of} -> ${pa.as_of})`);
    assert.equal(pb.as_of, pa.as_of, 'both instances agree on the new as_of');
    // A duplicate changes nothing, so as_of stays.
    const dup = await postEvent(a.url, { id: second.id, body: second.raw, secret: secrets[0] });
    assert.equal(dup.json.status, 'duplicate');
    await sleep(1200);
    assert.equal((await progress(a)).as_of, pa.as_of);
});
