// interop.test.mjs - events signed by the reference Standard Webhooks library (npm
// `standardwebhooks`, as a real sender would) and by the Svix SDK (npm `svix`, with its svix-
// header names) are accepted; the same library's messages with a
// tampered body, id or timestamp are not. Guards against two implementations of one mistake
// (ours in the service and ours in lib/harness.mjs).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import {
    event,
    genSecret,
    newDatabase,
    newMessageId,
    postEvent,
    sharedPostgres,
    sharedRedis,
    sign,
    startHocvud,
    withLogs,
} from './lib/harness.mjs';

let Webhook;
try {
    ({ Webhook } = createRequire(import.meta.url)('standardwebhooks'));
} catch (err) {
    throw new Error(`npm module standardwebhooks missing (run scripts/deps.sh): ${err.message}`);
}

// The Svix SDK (npm `svix`), as a sender on Svix's platform signs: its own headers and code.
let SvixWebhook;
try {
    ({ Webhook: SvixWebhook } = createRequire(import.meta.url)('svix'));
} catch (err) {
    throw new Error(`npm module svix missing (run scripts/deps.sh): ${err.message}`);
}

let srv;
// One secret as the library's examples make them (24 random bytes), one of 32.
const secrets = [genSecret(24), genSecret(32)];

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    srv = await startHocvud({ dbUrl: await newDatabase(pg), redisUrl: redis.url, secrets });
});

after(async () => {
    if (srv) await srv.stop();
});

// Headers exactly as the library produces them for (id, now, payload).
function libraryHeaders(secret, id, payload, date = new Date()) {
    const signature = new Webhook(secret).sign(id, date, payload);
    return { signature, ts: Math.floor(date.getTime() / 1000) };
}

test('the harness signs exactly as the reference library does', () => {
    const payload = JSON.stringify(event());
    const id = newMessageId();
    const date = new Date();
    const ts = Math.floor(date.getTime() / 1000);
    for (const s of secrets) assert.equal(sign(s, id, ts, payload), new Webhook(s).sign(id, date, payload));
});

test('messages signed by standardwebhooks are accepted, with either secret', async () => {
    await withLogs(srv, async () => {
        for (const secret of secrets) {
            const payload = JSON.stringify(event({ birth_date: '1990-05-17', course_id: 'kns-co-ban', score: 86 }));
            const id = newMessageId();
            const { signature, ts } = libraryHeaders(secret, id, payload);
            const res = await postEvent(srv.url, { id, ts, body: payload, signature });
            assert.equal(res.status, 200, res.text);
            assert.deepEqual(res.json, { status: 'accepted' });
            // The library verifies what it signed: the sender's view agrees with ours.
            new Webhook(secret).verify(payload, { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signature });
        }
    });
});

test('a non-ASCII payload (Vietnamese course name) is signed over its UTF-8 bytes', async () => {
    await withLogs(srv, async () => {
        const payload = JSON.stringify(event({ course_id: 'Kỹ năng số cơ bản – Cần Thơ' }));
        const id = newMessageId();
        const { signature, ts } = libraryHeaders(secrets[0], id, payload);
        const res = await postEvent(srv.url, { id, ts, body: payload, signature });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.status, 'accepted');
    });
});

test('tampered messages are rejected with invalid_signature', async () => {
    await withLogs(srv, async () => {
        const payload = JSON.stringify(event({ ward_code: '31147' }));
        const id = newMessageId();
        const { signature, ts } = libraryHeaders(secrets[0], id, payload);
        const attempts = [
            { id, ts, body: payload.replace('31147', '31120'), signature }, // body changed
            { id: `${id}x`, ts, body: payload, signature }, // id changed
            { id, ts: ts - 1, body: payload, signature }, // timestamp changed
            { id, ts, body: payload, signature: new Webhook(genSecret()).sign(id, new Date(ts * 1000), payload) },
        ];
        for (const a of attempts) {
            const res = await postEvent(srv.url, a);
            assert.equal(res.status, 401, `${res.status} ${res.text}`);
            assert.equal(res.json?.code, 'invalid_signature');
        }
        // The untouched message still goes through.
        const ok = await postEvent(srv.url, { id, ts, body: payload, signature });
        assert.equal(ok.status, 200, ok.text);
    });
});

// CONTRACT §4: the Svix names are aliases of the three webhook- headers; webhook- wins.
test('svix-id, svix-timestamp and svix-signature are accepted as aliases; webhook- headers win', async () => {
    await withLogs(srv, async () => {
        const payload = JSON.stringify(event());
        const id = newMessageId();
        const { signature, ts } = libraryHeaders(secrets[0], id, payload);
        const svix = { 'svix-id': id, 'svix-timestamp': String(ts), 'svix-signature': signature };
        const only = await postEvent(srv.url, {
            body: payload,
            headers: { 'webhook-id': null, 'webhook-timestamp': null, 'webhook-signature': null, ...svix },
        });
        assert.equal(only.status, 200, only.text);
        assert.equal(only.json.status, 'accepted');
        // The same message again under the webhook- names is the same idempotency key.
        const again = await postEvent(srv.url, { id, ts, body: payload, signature });
        assert.equal(again.json?.status, 'duplicate', again.text);

        // Both forms present: the webhook- values are the ones checked.
        const payload2 = JSON.stringify(event());
        const id2 = newMessageId();
        const good = libraryHeaders(secrets[1], id2, payload2);
        const bothGood = await postEvent(srv.url, {
            id: id2,
            ts: good.ts,
            body: payload2,
            signature: good.signature,
            headers: { 'svix-id': 'other', 'svix-timestamp': '1', 'svix-signature': 'v1,AAAA' },
        });
        assert.equal(bothGood.status, 200, bothGood.text);
        const payload3 = JSON.stringify(event());
        const id3 = newMessageId();
        const h3 = libraryHeaders(secrets[1], id3, payload3);
        const webhookWrong = await postEvent(srv.url, {
            id: id3,
            ts: h3.ts,
            body: payload3,
            signature: 'v1,AAAA',
            headers: { 'svix-id': id3, 'svix-timestamp': String(h3.ts), 'svix-signature': h3.signature },
        });
        assert.equal(webhookWrong.status, 401, webhookWrong.text);
        assert.equal(webhookWrong.json?.code, 'invalid_signature');
    });
});

// A sender using the Svix SDK: it signs with its own code and sends only the svix- headers.
test('events signed by the Svix SDK (npm svix) with svix- headers only are accepted; both libraries agree', async () => {
    await withLogs(srv, async () => {
        const payload = JSON.stringify(event());
        const id = newMessageId();
        const when = new Date();
        const sx = new SvixWebhook(secrets[0]);
        const signature = sx.sign(id, when, payload);
        const ts = String(Math.floor(when.getTime() / 1000));
        const r = await postEvent(srv.url, {
            body: payload,
            headers: { 'webhook-id': null, 'webhook-timestamp': null, 'webhook-signature': null, 'svix-id': id, 'svix-timestamp': ts, 'svix-signature': signature },
        });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.status, 'accepted');

        // The two libraries sign the same message alike, so either verifies the other's.
        const std = libraryHeaders(secrets[0], id, payload, when);
        assert.deepEqual(sx.verify(payload, { 'svix-id': id, 'svix-timestamp': String(std.ts), 'svix-signature': std.signature }), JSON.parse(payload));

        // A body changed after the Svix signature: refused like any other.
        const tampered = await postEvent(srv.url, {
            body: `${payload} `,
            headers: { 'webhook-id': null, 'webhook-timestamp': null, 'webhook-signature': null, 'svix-id': id, 'svix-timestamp': ts, 'svix-signature': signature },
        });
        assert.equal(tampered.status, 401, tampered.text);
        assert.equal(tampered.json.code, 'invalid_signature');
    });
});
