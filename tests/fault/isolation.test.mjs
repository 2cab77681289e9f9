// isolation.test.mjs - CONTRACT §4's isolation rule: an event is judged on its own. A data error
// that PostgreSQL raises for one event (here injected by a trigger that refuses chosen ids with
// SQLSTATE 22023, as the database would refuse bytes it cannot store) is that event's own
// 400 invalid_event; every other event of the same group commit is acknowledged on its first
// try, through the single-event and the batch endpoint. A webhook-id outside the §4 rule
// (bytes ff fe, a space) is refused before it reaches the writer.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';

import { event, newMessageId, nowSeconds, parallel, postEvent, psql, sign } from '../integration/lib/harness.mjs';
import { Model, expectCounts, report, startStack } from './lib.mjs';

const GOOD = 400;
const CONCURRENCY = 64;

const POISON_SQL = `
CREATE FUNCTION hv_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id LIKE 'poison-%' THEN
        RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER hv_test_poison BEFORE INSERT ON event_ledger
    FOR EACH ROW EXECUTE FUNCTION hv_test_poison();`;

// One POST /v1/events written byte for byte on a socket (node's http client would re-encode a
// header holding bytes above 0x7f); resolves with the status and the parsed problem body.
function rawPost(url, idBytes, ts, signature, body) {
    const { hostname, port } = new URL(url);
    const head = Buffer.concat([
        Buffer.from('POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n'),
        Buffer.from('webhook-id: '),
        idBytes,
        Buffer.from(`\r\nwebhook-timestamp: ${ts}\r\nwebhook-signature: ${signature}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`),
    ]);
    return new Promise((resolve, reject) => {
        const chunks = [];
        const sock = net.connect(Number(port), hostname, () => sock.end(Buffer.concat([head, Buffer.from(body)])));
        sock.on('data', (c) => chunks.push(c));
        sock.on('error', reject);
        sock.on('close', () => {
            const text = Buffer.concat(chunks).toString('latin1');
            const status = Number(text.split(' ')[1]);
            const json = text.includes('\r\n\r\n') ? JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4) || 'null') : null;
            resolve({ status, json, text });
        });
    });
}

// Signs with the id's raw bytes as sent on the wire (latin1), for ids that are not ASCII.
function signBytes(secret, idBytes, ts, body) {
    const key = Buffer.from(secret.slice(6), 'base64');
    return `v1,${crypto.createHmac('sha256', key).update(Buffer.concat([idBytes, Buffer.from(`.${ts}.`), Buffer.from(body)])).digest('base64')}`;
}

test('one event the database refuses is its own 400; its neighbours commit on the first try', { timeout: 120000 }, async () => {
    const { dbUrl, daemon: srv } = await startStack({ daemon: { env: { HOCVU_BATCH_MAX: '64' } } });
    psql(dbUrl, POISON_SQL);
    const model = new Model();

    // Single events: 400 good ones and three poisoned ones in the middle, 64 at a time, so the
    // poisoned ones share group commits with good ones.
    const msgs = Array.from({ length: GOOD }, () => ({ id: newMessageId(), ev: event() }));
    for (const k of [37, 200, 201]) msgs.splice(k, 0, { id: `poison-${newMessageId()}`, ev: event(), poison: true });
    const t0 = Date.now();
    const answers = await parallel(msgs.map((m) => () => postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret, timeout: 30000 })), CONCURRENCY);
    const elapsed = Date.now() - t0;
    const wrong = [];
    msgs.forEach((m, i) => {
        const a = answers[i];
        if (m.poison) {
            if (a.status !== 400 || a.json?.code !== 'invalid_event') wrong.push(`poison ${m.id}: ${a.status} ${a.text}`);
        } else {
            if (a.status !== 200 || a.json?.status !== 'accepted') wrong.push(`good ${m.id}: ${a.status} ${a.text}`);
            else model.apply(m.id, m.ev);
        }
    });
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} events answered wrongly on the first try`);
    const stored = Number(psql(dbUrl, "SELECT count(*) FROM event_ledger WHERE id LIKE 'poison-%'"));
    assert.equal(stored, 0, 'no poisoned event is stored');

    // A redelivery of the poisoned event gets the same answer; the good ones are duplicates.
    const again = await postEvent(srv.url, { id: msgs[37].id, body: msgs[37].ev, secret: srv.secret });
    assert.equal(again.status, 400, again.text);
    const dup = await postEvent(srv.url, { id: msgs[0].id, body: msgs[0].ev, secret: srv.secret });
    assert.equal(dup.json?.status, 'duplicate', dup.text);

    // A batch: two poisoned lines among 60 are rejected on their own, the rest accepted.
    const lines = Array.from({ length: 60 }, (_, i) => ({ id: i === 10 || i === 47 ? `poison-${newMessageId()}` : newMessageId(), ev: event() }));
    const body = `${lines.map((l) => JSON.stringify({ id: l.id, ...l.ev })).join('\n')}\n`;
    const res = await postEvent(srv.url, { path: '/v1/events/batch', contentType: 'application/x-ndjson', body, secret: srv.secret, timeout: 30000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.accepted, 58, res.text);
    assert.equal(res.json.rejected, 2, res.text);
    assert.deepEqual(res.json.errors.map((e) => [e.line, e.code]), [[11, 'invalid_event'], [48, 'invalid_event']]);
    lines.filter((l) => !l.id.startsWith('poison-')).forEach((l) => model.apply(l.id, l.ev));

    // webhook-ids outside printable ASCII never reach the database: 400 on their own.
    const raw = JSON.stringify(event());
    const ts = nowSeconds();
    const idBytes = Buffer.from([0x6d, 0x73, 0x67, 0xff, 0xfe]);
    const bad = await rawPost(srv.url, idBytes, ts, signBytes(srv.secret, idBytes, ts, raw), raw);
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json?.code, 'invalid_event');
    assert.equal(bad.json?.field, 'webhook-id');
    const spaced = await postEvent(srv.url, { id: 'msg with space', body: raw, secret: srv.secret, ts, signature: sign(srv.secret, 'msg with space', ts, raw) });
    assert.equal(spaced.status, 400, spaced.text);
    assert.equal(spaced.json?.field, 'webhook-id');

    await expectCounts(srv.url, model.counts());
    report('isolation', { single: msgs.length, poisoned: 3, elapsedMs: elapsed, batchAccepted: res.json.accepted });
    await srv.stop();
});
