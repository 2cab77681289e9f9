// batch.test.mjs - POST /v1/events/batch (CONTRACT §5): one signed NDJSON message, each line
// judged on its own with its own idempotency id; counts per outcome, errors by line, limits.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
    event,
    genCertificateId,
    genCitizenId,
    newDatabase,
    newMessageId,
    postEvent,
    psql,
    sharedPostgres,
    sharedRedis,
    sign,
    nowSeconds,
    startHocvud,
    withLogs,
} from './lib/harness.mjs';
import { Model, expectCounts } from './lib/model.mjs';

let srv;
let dbUrl;
const model = new Model();

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    dbUrl = await newDatabase(pg);
    srv = await startHocvud({ dbUrl, redisUrl: redis.url });
});

after(async () => {
    if (srv) await srv.stop();
});

// NDJSON body of lines: each {id, ev} becomes one line; a string is sent as is.
function ndjson(lines) {
    return `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify({ id: l.id, ...l.ev }))).join('\n')}\n`;
}

function postBatch(body, opts = {}) {
    return postEvent(srv.url, {
        path: '/v1/events/batch',
        contentType: 'application/x-ndjson',
        body,
        secret: srv.secret,
        timeout: 60000,
        ...opts,
    });
}

test('each line is judged on its own', async () => {
    await withLogs(srv, async () => {
        const single = { id: newMessageId(), ev: event() };
        const r1 = await postEvent(srv.url, { id: single.id, body: single.ev, secret: srv.secret });
        assert.equal(r1.status, 200, r1.text);
        model.apply(single.id, single.ev);

        const p = genCitizenId();
        const cert = genCertificateId();
        const good = Array.from({ length: 5 }, (_, i) => ({ id: newMessageId(), ev: event({ ward_code: ['31135', '31120', '31147'][i % 3] }) }));
        const lines = [
            ...good, // 1-5 accepted
            single, // 6 duplicate: the id was accepted through /v1/events
            good[0], // 7 duplicate within the batch
            { id: newMessageId(), ev: event({ citizen_id: '12345' }) }, // 8 invalid_citizen_id
            '{"id": "x", "type": ', // 9 not JSON
            { id: newMessageId(), ev: event({ citizen_id: p, certificate_id: cert }) }, // 10 accepted
            { id: newMessageId(), ev: event({ certificate_id: cert }) }, // 11 conflict
            JSON.stringify(event()), // 12 no id
            { id: newMessageId(), ev: event({ ward_code: '31178' }) }, // 13 ambiguous_ward
        ];
        const res = await postBatch(ndjson(lines));
        assert.equal(res.status, 200, res.text);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const want = { accepted: 6, duplicates: 2, rejected: 5 };
        for (const k of Object.keys(want)) assert.equal(res.json[k], want[k], `${k} in ${res.text}`);
        const errors = Object.fromEntries(res.json.errors.map((e) => [e.line, e]));
        assert.deepEqual(Object.keys(errors).map(Number).sort((a, b) => a - b), [8, 9, 11, 12, 13], `error lines (1-based): ${res.text}`);
        assert.equal(errors[8].code, 'invalid_citizen_id');
        assert.equal(errors[8].id, lines[7].id);
        assert.equal(errors[9].code, 'invalid_json');
        assert.equal(errors[11].code, 'certificate_conflict');
        assert.equal(errors[12].code, 'invalid_event');
        assert.equal(errors[13].code, 'ambiguous_ward');
        const rejected = new Set([8, 9, 11, 12, 13]);
        lines.forEach((l, i) => {
            if (!rejected.has(i + 1)) model.apply(l.id, l.ev);
        });
        await expectCounts(srv.url, model.counts());

        // The same lines again, in another message: nothing new is accepted.
        const again = await postBatch(ndjson(lines));
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.accepted, 0, again.text);
        assert.equal(again.json.duplicates, 8, again.text);
        assert.equal(again.json.rejected, 5, again.text);
        assert.ok(!res.text.includes(lines[7].ev.data.citizen_id), 'a reply repeats a citizen id');
    });
});

test('the batch message is signed and typed like a single event', async () => {
    await withLogs(srv, async () => {
        const body = ndjson([{ id: newMessageId(), ev: event() }]);
        const ts = nowSeconds();
        const id = newMessageId();
        const wrong = await postBatch(body, { id, ts, signature: sign(srv.secret, id, ts, `${body} `) });
        assert.equal(wrong.status, 401, wrong.text);
        assert.equal(wrong.json?.code, 'invalid_signature');
        const stale = await postBatch(body, { ts: ts - 1000 });
        assert.equal(stale.status, 401, stale.text);
        assert.equal(stale.json?.code, 'stale_timestamp');
        const json = await postBatch(body, { contentType: 'text/plain' });
        assert.equal(json.status, 415, json.text);
        assert.equal(json.json?.code, 'unsupported_media_type');
    });
});

test('limits: 10,000 lines and 16 MiB', async () => {
    await withLogs(srv, async () => {
        const line = (i) => JSON.stringify({ id: `limit-${i}-${newMessageId()}`, ...event() });
        const tooMany = `${Array.from({ length: 10001 }, (_, i) => line(i)).join('\n')}\n`;
        const r1 = await postBatch(tooMany);
        assert.equal(r1.status, 413, `10,001 lines: ${r1.status} ${r1.text.slice(0, 300)}`);
        assert.equal(r1.json?.code, 'payload_too_large');
        const big = `${line(0)}\n${' '.repeat(16 * 1024 * 1024)}\n`;
        let r2;
        try {
            r2 = await postBatch(big);
        } catch (err) {
            assert.fail(`17 MiB body: no HTTP answer (${err.message}); expected 413`);
        }
        assert.equal(r2.status, 413, `over 16 MiB: ${r2.status}`);
    });
});

test('a full batch of 10,000 lines is accepted and counted', async () => {
    await withLogs(srv, async () => {
        const lines = Array.from({ length: 10000 }, () => ({
            id: newMessageId(),
            ev: event({ citizen_id: genCitizenId({ year: 1950 + Math.floor(Math.random() * 50) }), ward_code: '31147' }),
        }));
        const started = Date.now();
        const res = await postBatch(ndjson(lines));
        assert.equal(res.status, 200, res.text.slice(0, 500));
        assert.equal(res.json.accepted, 10000, res.text.slice(0, 500));
        assert.ok(Date.now() - started < 30000, 'a full batch answers within 30 s');
        for (const l of lines) model.apply(l.id, l.ev);
        await expectCounts(srv.url, model.counts());
    });
});

// The writer sends every column as a binary array: values an array literal would have to quote
// or escape are stored byte for byte, and a redelivery finds them again.
test('ids, certificate ids and course ids with quotes, backslashes, braces (and Vietnamese course ids) are stored exactly', async () => {
    await withLogs(srv, async () => {
        const tag = newMessageId().slice(-8);
        // Ids are printable ASCII (CONTRACT §4); text beyond ASCII goes in course_id.
        const odd = [`q"uote-${tag}`, `back\\slash-${tag}`, `{brace,comma}-${tag}`, `NULL-${tag}`, `'~!@#$%^&*()[]-${tag}`];
        const lines = odd.map((id, i) => ({
            id,
            ev: event({ certificate_id: `C"\\{${i}},${tag}`, course_id: `k"n\\s{${i}}, Kỹ năng`, score: 86.5 }),
        }));
        const body = ndjson(lines);
        const res = await postBatch(body);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.accepted, odd.length, res.text);
        for (const l of lines) model.apply(l.id, l.ev);
        const stored = psql(dbUrl, `SELECT '[' || id || E']\\t' || cert_id FROM event_ledger WHERE id LIKE '%${tag}' ORDER BY id`);
        const want = lines.map((l) => `[${l.id}]\t${l.ev.data.certificate_id}`).sort();
        assert.deepEqual(stored.split('\n').sort(), want);
        const courses = psql(dbUrl, `SELECT course_id || E'\\t' || score FROM certificates WHERE cert_id LIKE '%${tag}' ORDER BY cert_id`);
        assert.deepEqual(courses.split('\n').sort(), lines.map((l) => `${l.ev.data.course_id}\t86.5`).sort());
        const again = await postBatch(body);
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.duplicates, odd.length, again.text);
        await expectCounts(srv.url, model.counts());
    });
});
