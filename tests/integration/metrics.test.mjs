// metrics.test.mjs - GET /metrics is valid Prometheus text (checked by promtool, the reference
// parser) and its counters move with real traffic: requests by route and status, events by
// result and rejection code, batch sizes and commit latency, and the availability gauges.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import {
    event,
    genSecret,
    newDatabase,
    postEvent,
    request,
    sharedPostgres,
    sharedRedis,
    startHocvud,
    waitFor,
} from './lib/harness.mjs';

let srv;
const secret = genSecret();

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    srv = await startHocvud({
        dbUrl: await newDatabase(pg),
        redisUrl: redis.url,
        secrets: [secret],
        env: { HOCVU_THREADS: '2', HOCVU_QUEUE_MAX: '1234' },
    });
});

after(async () => {
    if (srv) await srv.stop();
});

// Parses the sample lines of a Prometheus text page into a map "name{labels}" -> number.
function samples(text) {
    const out = new Map();
    for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const i = line.lastIndexOf(' ');
        out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return out;
}

async function metrics() {
    const r = await request(`${srv.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    return r.text;
}

function promtool(text) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (r.error) throw new Error(`promtool not runnable (install the prometheus package): ${r.error.message}`);
    return r;
}

test('the metrics page passes promtool check metrics before and after traffic', async () => {
    let r = promtool(await metrics());
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);

    const ok = await postEvent(srv.url, { body: event(), secret });
    assert.equal(ok.status, 200);
    const dup = await postEvent(srv.url, { id: ok.id, body: ok.raw, secret });
    assert.equal(dup.json.status, 'duplicate');
    const bad = await postEvent(srv.url, { body: event({ ward_code: '99999' }), secret });
    assert.equal(bad.status, 422);
    const unsigned = await postEvent(srv.url, { body: event(), secret: genSecret() });
    assert.equal(unsigned.status, 401);
    await request(`${srv.url}/v1/progress`);
    await request(`${srv.url}/nowhere`);

    const text = await metrics();
    r = promtool(text);
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    const m = samples(text);
    assert.ok(m.get('hocvu_events_total{result="accepted",code=""}') >= 1);
    assert.ok(m.get('hocvu_events_total{result="duplicate",code=""}') >= 1);
    assert.ok(m.get('hocvu_events_total{result="rejected",code="unknown_ward"}') >= 1);
    assert.ok(m.get('hocvu_events_total{result="rejected",code="invalid_signature"}') >= 1);
    assert.ok(m.get('hocvu_http_requests_total{route="events",status="200"}') >= 2);
    assert.ok(m.get('hocvu_http_requests_total{route="events",status="422"}') >= 1);
    assert.ok(m.get('hocvu_http_requests_total{route="progress",status="200"}') >= 1);
    assert.ok(m.get('hocvu_http_requests_total{route="other",status="404"}') >= 1);
    assert.ok(m.get('hocvu_batch_size_events_count') >= 1, 'a commit was recorded');
    assert.ok(m.get('hocvu_commit_duration_seconds_count') >= 1);
    assert.equal(
        m.get('hocvu_batch_size_events_bucket{le="+Inf"}'),
        m.get('hocvu_batch_size_events_count'),
    );
    assert.equal(m.get('hocvu_postgres_up'), 1);
    assert.equal(m.get('hocvu_redis_up'), 1);
    assert.ok(m.get('hocvu_snapshot_age_seconds') >= 0 && m.get('hocvu_snapshot_age_seconds') < 3);
    // The writer queue and its bound (the alert rules compare them): idle now, 2 loops x 1234.
    assert.equal(m.get('hocvu_writer_queue_events'), 0);
    assert.equal(m.get('hocvu_writer_queue_limit_events'), 2468);
    await waitFor(async () => samples(await metrics()).get('hocvu_certified_persons') >= 1, {
        what: 'the certified gauge to follow the snapshot',
    });
});

test('no secret or raw citizen id appears on the metrics page', async () => {
    const body = event();
    const r = await postEvent(srv.url, { body, secret });
    assert.equal(r.status, 200);
    const text = await metrics();
    assert.ok(!text.includes(body.data.citizen_id));
    assert.ok(!text.includes(secret.slice(6)));
});
