// asof.test.mjs - "as of a day" (CONTRACT §9, §10) against an independent model: a seeded mix
// of certificates over two years (several per person, re-issues with earlier timestamps,
// duplicates, revocations, and late arrivals sent after the first checks) in a shuffled order;
// for several days and years the wards CSV and /v1/progress equal the model's counts as of
// that day (the earliest active certificate's day <= D), reached_on equals the model's, and a
// frozen report stays byte for byte what it was after late events, revocations and
// `hocvuctl reconcile --repair`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
    event, genCertificateId, genCitizenId, getJson, hocvuctl, newDatabase, newMessageId, parallel, postEvent, psql, request, seededRandom,
    sharedPostgres, sharedRedis, shuffle, startHocvud, tempDir, waitFor,
} from './lib/harness.mjs';
import { Model, vnDate } from './lib/model.mjs';

const WARDS = ['31135', '31120', '31168', '31150'];
const dir = tempDir('hocvu-asof-');
let srv;
let dbUrl;
const model = new Model();
const rnd = seededRandom(20251231);

function day(offset) {
    // 2025-09-01 plus offset days, 09:00 Vietnam time.
    return new Date(Date.parse('2025-09-01T09:00:00+07:00') + offset * 86400000).toISOString().replace('.000Z', 'Z');
}

// A person with one to three certificates over Sep 2025 - Feb 2026, some revoked.
function person() {
    const citizen = genCitizenId({ year: rnd() < 0.15 ? 2010 : 1960 + Math.floor(rnd() * 40) });
    const ward = WARDS[Math.floor(rnd() * WARDS.length)];
    const msgs = [];
    const n = 1 + Math.floor(rnd() * 3);
    for (let i = 0; i < n; i++) {
        const ev = event({ citizen_id: citizen, ward_code: ward, certificate_id: genCertificateId(), timestamp: day(Math.floor(rnd() * 180)) });
        msgs.push({ id: newMessageId(), ev });
        if (rnd() < 0.2) msgs.push({ id: newMessageId(), ev: event({ type: 'certificate.revoked', citizen_id: citizen, certificate_id: ev.data.certificate_id }) });
    }
    return msgs;
}

async function deliver(msgs) {
    const res = await parallel(msgs.map((m) => () => postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret })), 8);
    for (const [i, r] of res.entries()) {
        assert.equal(r.status, 200, r.text);
        model.apply(msgs[i].id, msgs[i].ev);
    }
    // Redeliver a few: duplicates change nothing.
    for (const m of msgs.slice(0, 5)) assert.equal((await postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret })).status, 200);
}

// The model's counts as of day D (YYYY-MM-DD): per ward {adults, total}, and the city.
function modelAsOf(D) {
    const out = { adults: 0, total: 0, wards: Object.fromEntries(WARDS.map((w) => [w, { adults: 0, total: 0 }])) };
    for (const c of model.attribution().values()) {
        if (vnDate(new Date(c.ms).toISOString()) > D) continue;
        out.total++;
        out.wards[c.ward].total++;
        if (c.adult) {
            out.adults++;
            out.wards[c.ward].adults++;
        }
    }
    return out;
}

// The model's reached_on for a ward and target up to D: the first day the adults as of it
// reach the target.
function modelReachedOn(ward, target, D) {
    const days = [...model.attribution().values()]
        .filter((c) => c.ward === ward && c.adult)
        .map((c) => vnDate(new Date(c.ms).toISOString()))
        .filter((d) => d <= D)
        .sort();
    return target > 0 && days.length >= target ? days[target - 1] : null;
}

async function csvAsOf(D, year) {
    const r = await request(`${srv.url}/v1/reports/wards.csv?as_of=${D}&year=${year}`);
    assert.equal(r.status, 200, r.text);
    const rows = {};
    for (const l of r.text.replace(/^\uFEFF/, '').trim().split('\r\n').slice(1)) {
        const c = l.split(',');
        rows[c[1]] = { adults: Number(c[4]), total: Number(c[5]), target: c[6] === '' ? null : Number(c[6]), reached_on: c[9] || null };
    }
    return rows;
}

before(async () => {
    const pg = await sharedPostgres();
    dbUrl = await newDatabase(pg);
    const targets = path.join(dir, 'targets.csv');
    fs.writeFileSync(targets, 'year,scope,group,target\n2025,31135,all,6\n2026,31135,all,9\n2025,31120,all,4\n2026,31120,all,8\n');
    assert.equal(hocvuctl(dbUrl, 'targets', 'import', targets).status, 0);
    srv = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url });
    let msgs = [];
    for (let i = 0; i < 40; i++) msgs.push(...person());
    msgs = shuffle(msgs, 7);
    await deliver(msgs);
    await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === model.counts().total, { timeout: 5000, what: 'the counts' });
});

after(async () => {
    if (srv) await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});

const CHECKS = [
    ['2025-09-15', 2025],
    ['2025-10-31', 2025],
    ['2025-12-31', 2025],
    ['2026-01-20', 2026],
    ['2026-02-28', 2026],
];

test('as of several days and years, the wards CSV equals the model; reached_on too', async () => {
    for (const [D, year] of CHECKS) {
        const got = await csvAsOf(D, year);
        const want = modelAsOf(D);
        for (const w of WARDS) {
            assert.deepEqual([got[w].adults, got[w].total], [want.wards[w].adults, want.wards[w].total], `${w} as of ${D}`);
            if (got[w].target !== null && ['31135', '31120'].includes(w)) assert.equal(got[w].reached_on, modelReachedOn(w, got[w].target, D), `${w} reached_on as of ${D}`);
        }
    }
    // A past year's progress counts as of its 31 December.
    const p25 = await getJson(`${srv.url}/v1/progress?year=2025`);
    const m25 = modelAsOf('2025-12-31');
    assert.deepEqual([p25.certified_adults, p25.certified_total], [m25.adults, m25.total]);
});

// The certificate ids of a frozen report's stored evidence (generated ids need no CSV quoting),
// sorted.
function evidenceCerts(id) {
    const csv = psql(dbUrl, `SELECT string_agg(csv, '' ORDER BY part) FROM report_evidence_parts WHERE report_id = '${id}'`);
    return csv.split('\n').filter((l) => l.includes(',')).map((l) => l.split(',').at(-1)).sort().join(',');
}

test('a frozen report stays byte for byte after late events, revocations and reconcile --repair', async () => {
    const f = hocvuctl(dbUrl, 'report', 'freeze', '--as-of', '2025-12-31', '--label', 'year end');
    assert.equal(f.status, 0, f.stderr);
    const id = /^frozen report (\S+)$/m.exec(f.stdout)[1];
    const before = psql(dbUrl, `SELECT body FROM reports WHERE id = '${id}'`);
    const evidenceBefore = evidenceCerts(id);
    // The evidence equals the counted persons' certificates, as the model says.
    const counted = [...model.attribution().values()].filter((c) => vnDate(new Date(c.ms).toISOString()) <= '2025-12-31').map((c) => c.cert).sort();
    assert.equal(evidenceBefore, counted.join(','));

    // Late arrivals inside 2025 and revocations of counted certificates.
    const late = [];
    for (let i = 0; i < 10; i++) late.push(...person());
    const counts = [...model.attribution().values()].slice(0, 5);
    for (const c of counts) late.push({ id: newMessageId(), ev: event({ type: 'certificate.revoked', citizen_id: c.person, certificate_id: c.cert }) });
    await deliver(late);
    const rec = hocvuctl(dbUrl, 'reconcile', '--repair');
    assert.equal(rec.status, 0, rec.stdout + rec.stderr);
    assert.equal(psql(dbUrl, `SELECT body FROM reports WHERE id = '${id}'`), before, 'the frozen report did not change');
    assert.equal(evidenceCerts(id), evidenceBefore);
    let served;
    await waitFor(async () => (served = await request(`${srv.url}/v1/reports/${id}`)).status === 200, { timeout: 3000, what: 'the report served' });
    assert.equal(served.text, before, 'served byte for byte');

    // The same day recomputed now follows the model, and verify says the report still holds.
    await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === model.counts().total, { timeout: 5000, what: 'late counts' });
    const now = await csvAsOf('2025-12-31', 2025);
    const want = modelAsOf('2025-12-31');
    for (const w of WARDS) assert.deepEqual([now[w].adults, now[w].total], [want.wards[w].adults, want.wards[w].total], `${w} now`);
    const v = hocvuctl(dbUrl, 'report', 'verify', id);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^digest ok /m);
});
