// counting.test.mjs - CONTRACT §6 against the real service: revocations (before or after the
// issue), re-attribution, adulthood by exact date in Vietnam time, one count per person,
// duplicates and conflicts; then the same ~300 events in two shuffled orders (with
// redeliveries) into two databases must give identical reads, zero reconcile drift, and a
// database dump without a single raw citizen id.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import {
    event,
    genCertificateId,
    genCitizenId,
    getJson,
    hocvuctl,
    legacyWards,
    newDatabase,
    newMessageId,
    parallel,
    pgTool,
    postEvent,
    request,
    seededRandom,
    sharedPostgres,
    sharedRedis,
    shuffle,
    startHocvud,
    startRedis,
    waitFor,
    wards,
    withLogs,
} from './lib/harness.mjs';
import { GROUPS, Model, expectCounts } from './lib/model.mjs';

const daemons = [];
after(async () => {
    for (const d of daemons) await d.stop();
});

async function wardCounts(url, code) {
    const { wards: list } = await getJson(`${url}/v1/wards`);
    const w = list.find((x) => x.code === code);
    assert.ok(w, `ward ${code} listed`);
    return { adults: w.certified_adults, total: w.certified_total };
}

// Polls until ward `code` shows {adults, total}.
async function expectWard(url, code, want) {
    let last;
    try {
        await waitFor(
            async () => {
                last = await wardCounts(url, code);
                return last.adults === want.adults && last.total === want.total;
            },
            { timeout: 5000, what: `ward ${code}` },
        );
    } catch {
        assert.fail(`ward ${code}: served ${JSON.stringify(last)}, expected ${JSON.stringify(want)}`);
    }
}

describe('counting rules, one at a time', () => {
    let srv;
    let model;
    const codes = wards().map((w) => w.code);
    let nextWard = 0;
    const ward = () => codes[nextWard++];

    // Sends ev under id (fresh unless given), checks the answer against the model.
    async function send(ev, { id = newMessageId() } = {}) {
        const want = model.apply(id, ev);
        const res = await postEvent(srv.url, { id, body: ev, secret: srv.secret });
        if (want === 'certificate_conflict') {
            assert.equal(res.status, 409, `expected 409 for ${JSON.stringify(ev)}: ${res.status} ${res.text}`);
            assert.equal(res.json?.code, 'certificate_conflict');
        } else {
            assert.equal(res.status, 200, `expected ${want} for ${JSON.stringify(ev)}: ${res.status} ${res.text}`);
            assert.equal(res.json?.status, want, `answer to ${JSON.stringify(ev)}`);
        }
        return id;
    }
    const revoke = (citizen_id, certificate_id, timestamp = '2025-10-01T09:00:00+07:00') =>
        event({ type: 'certificate.revoked', citizen_id, certificate_id, timestamp });

    before(async () => {
        const pg = await sharedPostgres();
        const redis = await sharedRedis();
        const dbUrl = await newDatabase(pg);
        srv = await startHocvud({ dbUrl, redisUrl: redis.url });
        daemons.push(srv);
        model = new Model();
    });

    test('a revocation that arrives before the issue wins', async () => {
        await withLogs(srv, async () => {
            const w = ward();
            const p = genCitizenId();
            const c = genCertificateId();
            await send(revoke(p, c));
            await send(event({ citizen_id: p, certificate_id: c, ward_code: w }));
            await send(event({ citizen_id: p, certificate_id: c, ward_code: w }));
            await expectWard(srv.url, w, { adults: 0, total: 0 });
        });
    });

    test('revoking the earliest active certificate moves the person', async () => {
        await withLogs(srv, async () => {
            const [w1, w2] = [ward(), ward()];
            const p = genCitizenId({ year: 1985 });
            const c1 = genCertificateId();
            const c2 = genCertificateId();
            await send(event({ citizen_id: p, certificate_id: c1, ward_code: w1, timestamp: '2025-03-10T09:00:00+07:00' }));
            await send(event({ citizen_id: p, certificate_id: c2, ward_code: w2, timestamp: '2025-04-10T09:00:00+07:00', group: 'worker' }));
            await expectWard(srv.url, w1, { adults: 1, total: 1 });
            await expectWard(srv.url, w2, { adults: 0, total: 0 });
            await send(revoke(p, c1));
            await expectWard(srv.url, w1, { adults: 0, total: 0 });
            await expectWard(srv.url, w2, { adults: 1, total: 1 });
            await send(revoke(p, c2));
            await expectWard(srv.url, w2, { adults: 0, total: 0 });
            // A revocation is final: issuing the same certificate again does not revive it.
            await send(event({ citizen_id: p, certificate_id: c2, ward_code: w2, timestamp: '2025-04-10T09:00:00+07:00', group: 'worker' }));
            await expectWard(srv.url, w2, { adults: 0, total: 0 });
        });
    });

    test('an earlier certificate that arrives later moves the person', async () => {
        await withLogs(srv, async () => {
            const [w1, w2] = [ward(), ward()];
            const p = genCitizenId({ year: 1970, female: true });
            await send(event({ citizen_id: p, ward_code: w1, timestamp: '2025-05-01T09:00:00+07:00' }));
            await expectWard(srv.url, w1, { adults: 1, total: 1 });
            await send(event({ citizen_id: p, ward_code: w2, timestamp: '2025-04-01T09:00:00+07:00', group: 'official' }));
            await expectWard(srv.url, w1, { adults: 0, total: 0 });
            await expectWard(srv.url, w2, { adults: 1, total: 1 });
        });
    });

    test('equal timestamps: the smaller certificate_id wins', async () => {
        await withLogs(srv, async () => {
            const [w1, w2] = [ward(), ward()];
            const p = genCitizenId({ year: 1999 });
            const base = genCertificateId();
            const ts = '2025-06-01T10:00:00+07:00';
            // Same instant written in another offset.
            await send(event({ citizen_id: p, certificate_id: `${base}-B`, ward_code: w1, timestamp: ts }));
            await send(event({ citizen_id: p, certificate_id: `${base}-A`, ward_code: w2, timestamp: '2025-06-01T03:00:00Z' }));
            await expectWard(srv.url, w1, { adults: 0, total: 0 });
            await expectWard(srv.url, w2, { adults: 1, total: 1 });
        });
    });

    test('adulthood: exact birth date on the certificate day, in Vietnam time', async () => {
        await withLogs(srv, async () => {
            const [w1, w2, w3] = [ward(), ward(), ward()];
            const ts = '2025-06-15T10:00:00+07:00';
            // 18th birthday on the certificate date: adult. The day after: minor.
            await send(event({ citizen_id: genCitizenId({ year: 2007 }), birth_date: '2007-06-15', ward_code: w1, timestamp: ts }));
            await send(event({ citizen_id: genCitizenId({ year: 2007, female: true }), birth_date: '2007-06-16', ward_code: w1, timestamp: ts, group: 'student' }));
            // Without birth_date: certificate year - birth year >= 18.
            await send(event({ citizen_id: genCitizenId({ year: 2007 }), ward_code: w1, timestamp: '2025-01-02T10:00:00+07:00' }));
            await send(event({ citizen_id: genCitizenId({ year: 2008 }), ward_code: w1, timestamp: '2025-11-01T10:00:00+07:00' }));
            await expectWard(srv.url, w1, { adults: 2, total: 4 });
            // 18:30 UTC on the 14th is already the 15th in Vietnam; 15:30 UTC is still the 14th.
            await send(event({ citizen_id: genCitizenId({ year: 2007 }), birth_date: '2007-06-15', ward_code: w2, timestamp: '2025-06-14T18:30:00Z' }));
            await send(event({ citizen_id: genCitizenId({ year: 2007 }), birth_date: '2007-06-15', ward_code: w2, timestamp: '2025-06-15T00:30:00+09:00' }));
            await expectWard(srv.url, w2, { adults: 1, total: 2 });
            // Adulthood belongs to the attributed (earliest) certificate.
            const p = genCitizenId({ year: 2007, female: true });
            const minorCert = genCertificateId();
            await send(event({ citizen_id: p, birth_date: '2007-08-01', certificate_id: minorCert, ward_code: w3, timestamp: '2025-06-01T10:00:00+07:00' }));
            await send(event({ citizen_id: p, birth_date: '2007-08-01', ward_code: w3, timestamp: '2025-09-01T10:00:00+07:00' }));
            await expectWard(srv.url, w3, { adults: 0, total: 1 });
            await send(revoke(p, minorCert));
            await expectWard(srv.url, w3, { adults: 1, total: 1 });
        });
    });

    test('a person counts once however many certificates they hold', async () => {
        await withLogs(srv, async () => {
            const w = ward();
            const p = genCitizenId({ year: 1960 });
            for (let i = 0; i < 3; i++) {
                await send(event({ citizen_id: p, ward_code: w, timestamp: `2025-0${i + 3}-01T09:00:00+07:00`, group: GROUPS[i] }));
            }
            await expectWard(srv.url, w, { adults: 1, total: 1 });
        });
    });

    test('duplicates and conflicts change nothing', async () => {
        await withLogs(srv, async () => {
            const w = ward();
            const p = genCitizenId();
            const q = genCitizenId();
            const c = genCertificateId();
            const ev = event({ citizen_id: p, certificate_id: c, ward_code: w });
            const id = await send(ev);
            await send(ev, { id });
            await send(ev);
            await send(event({ citizen_id: q, certificate_id: c, ward_code: w })); // conflict
            await send(event({ citizen_id: q, certificate_id: c, ward_code: ward() })); // conflict
            await expectWard(srv.url, w, { adults: 1, total: 1 });
        });
    });

    test('the city progress and every ward match the model', async () => {
        await withLogs(srv, async () => {
            const expected = model.counts();
            await expectCounts(srv.url, expected);
            const progress = await getJson(`${srv.url}/v1/progress`);
            assert.equal(progress.target, 996000);
            assert.equal(progress.wards, 103);
            assert.equal(progress.remaining, progress.target - expected.adults);
            assert.ok(Math.abs(progress.percent - (100 * expected.adults) / progress.target) < 0.01, `percent ${progress.percent}`);
            assert.equal(typeof progress.wards_at_target, 'number');
            assert.ok(!Number.isNaN(Date.parse(progress.as_of)), `as_of ${progress.as_of}`);
            const sum = GROUPS.reduce((s, g) => s + progress.by_group[g], 0);
            assert.equal(sum, progress.certified_adults, 'by_group sums to certified_adults');
        });
    });

    test('/v1/wards shape, ranking and ETag', async () => {
        await withLogs(srv, async () => {
            const res = await request(`${srv.url}/v1/wards`);
            assert.equal(res.status, 200);
            const list = res.json.wards;
            assert.equal(list.length, 103);
            for (const w of list) {
                for (const k of ['code', 'name', 'type', 'certified_adults', 'certified_total', 'target', 'target_estimated', 'percent', 'rank']) {
                    assert.ok(k in w, `ward member ${k} in ${JSON.stringify(w)}`);
                }
                assert.ok(w.certified_adults <= w.certified_total);
            }
            // Ranked by percent, then certified adults (wards without a target last or null).
            const ranked = list.filter((w) => typeof w.percent === 'number');
            for (let i = 1; i < ranked.length; i++) {
                const a = ranked[i - 1];
                const b = ranked[i];
                assert.ok(
                    a.percent > b.percent || (a.percent === b.percent && a.certified_adults >= b.certified_adults),
                    `ranking order: ${JSON.stringify(a)} before ${JSON.stringify(b)}`,
                );
            }
            for (const path of ['/v1/wards', '/v1/progress']) {
                const first = await request(`${srv.url}${path}`);
                const etag = first.headers.etag;
                assert.ok(etag, `${path} has an ETag`);
                const again = await request(`${srv.url}${path}`, { headers: { 'if-none-match': etag } });
                assert.equal(again.status, 304, `${path} If-None-Match: ${again.status}`);
            }
        });
    });
});

// ~300 messages over 100 synthetic persons: issues (some under legacy codes, some tied in
// time), revocations (some of certificates never issued), redeliveries and re-issues.
function workload(seed) {
    const rnd = seededRandom(seed);
    const pick = (a) => a[Math.floor(rnd() * a.length)];
    const codes = wards().map((w) => w.code);
    const legacy = legacyWards().filter((l) => !l.split).map((l) => l.old_code);
    const pad = (n) => String(n).padStart(2, '0');
    const when = () => {
        const d = new Date(Date.UTC(2025, 2, 1) + Math.floor(rnd() * 240) * 86400000);
        return `${d.toISOString().slice(0, 10)}T${pad(8 + Math.floor(rnd() * 10))}:${pad(Math.floor(rnd() * 60))}:00+07:00`;
    };
    const msgs = [];
    const issues = [];
    for (let i = 0; i < 100; i++) {
        const year = rnd() < 0.2 ? 2005 + Math.floor(rnd() * 6) : 1950 + Math.floor(rnd() * 55);
        const citizen_id = genCitizenId({ year, female: rnd() < 0.5 });
        const birth_date = rnd() < 0.5 ? `${year}-${pad(1 + Math.floor(rnd() * 12))}-${pad(1 + Math.floor(rnd() * 28))}` : undefined;
        const n = 1 + Math.floor(rnd() * 3);
        let last;
        for (let j = 0; j < n; j++) {
            const timestamp = last && rnd() < 0.15 ? last : when();
            last = timestamp;
            const ev = event({
                citizen_id,
                birth_date,
                timestamp,
                certificate_id: genCertificateId(),
                ward_code: rnd() < 0.15 ? pick(legacy) : pick(codes),
                group: pick(GROUPS),
                course_id: 'kns-co-ban',
                score: Math.floor(rnd() * 101),
            });
            const m = { id: newMessageId(), ev };
            msgs.push(m);
            issues.push(m);
            if (rnd() < 0.25) {
                msgs.push({ id: newMessageId(), ev: event({ type: 'certificate.revoked', citizen_id, certificate_id: ev.data.certificate_id, timestamp: when() }) });
            }
        }
    }
    for (let i = 0; i < 5; i++) {
        msgs.push({ id: newMessageId(), ev: event({ type: 'certificate.revoked', citizen_id: genCitizenId(), certificate_id: genCertificateId() }) });
    }
    const originals = msgs.slice();
    for (const m of originals) if (rnd() < 0.12) msgs.push(m); // redelivery, same id
    for (const m of issues) if (rnd() < 0.06) msgs.push({ id: newMessageId(), ev: m.ev }); // re-issue
    return { msgs, distinct: originals };
}

describe('order independence', () => {
    const stripAsOf = (o) => {
        const { as_of: _, ...rest } = o;
        return rest;
    };

    test('two shuffled deliveries of the same events give identical reads and no drift', async () => {
        const { msgs, distinct } = workload(20251010);
        assert.ok(msgs.length >= 280, `workload has ${msgs.length} messages`);
        const model = new Model();
        let acceptedWant = 0;
        for (const m of distinct) if (model.apply(m.id, m.ev) === 'accepted') acceptedWant += 1;
        const expected = model.counts();
        assert.ok(expected.total > 20 && expected.adults < expected.total, 'the workload has adults and minors');

        const pg = await sharedPostgres();
        const runs = [];
        for (const [seed, extra] of [[1, []], [2, shuffle(msgs, 99).slice(0, 40)]]) {
            // Own Redis per run: both runs use the same webhook-ids on different databases.
            const redis = await startRedis();
            const dbUrl = await newDatabase(pg);
            const srv = await startHocvud({ dbUrl, redisUrl: redis.url });
            daemons.push(srv);
            const order = shuffle([...msgs, ...extra], seed);
            const replies = await withLogs(srv, () =>
                parallel(
                    order.map((m) => () => postEvent(srv.url, { id: m.id, body: m.ev, secret: srv.secret })),
                    4,
                ),
            );
            const bad = replies.filter((r) => r.status !== 200 || !['accepted', 'duplicate'].includes(r.json?.status));
            assert.deepEqual(bad.map((r) => `${r.status} ${r.text}`), [], 'every delivery is accepted or duplicate');
            const accepted = replies.filter((r) => r.json.status === 'accepted').length;
            assert.equal(accepted, acceptedWant, `run ${seed}: accepted answers`);
            runs.push({ srv, dbUrl, redis });
        }

        for (const r of runs) await withLogs(r.srv, () => expectCounts(r.srv.url, expected));
        const [a, b] = runs;
        const reads = async (r) => ({
            progress: stripAsOf(await getJson(`${r.srv.url}/v1/progress`)),
            wards: Object.fromEntries((await getJson(`${r.srv.url}/v1/wards`)).wards.map((w) => [w.code, w])),
        });
        assert.deepEqual(await reads(b), await reads(a), 'the two orders give identical /v1/progress and /v1/wards');

        for (const r of runs) {
            const res = hocvuctl(r.dbUrl, 'reconcile');
            assert.equal(res.status, 0, `hocvuctl reconcile found drift or failed:\n${res.stdout}${res.stderr}`);
        }

        // Privacy by construction: no raw citizen id anywhere in the database or the logs.
        const ids = [...new Set(msgs.map((m) => m.ev.data.citizen_id))];
        const dump = spawnSync(pgTool('pg_dump'), ['--no-owner', '-d', a.dbUrl], { encoding: 'utf8', maxBuffer: 512 << 20 });
        assert.equal(dump.status, 0, dump.stderr);
        assert.ok(dump.stdout.includes('COPY') || dump.stdout.includes('INSERT'), 'the dump has data');
        assert.deepEqual(ids.filter((id) => dump.stdout.includes(id)), [], 'raw citizen ids in pg_dump');
        for (const r of runs) {
            assert.deepEqual(ids.filter((id) => r.srv.logs.includes(id)), [], 'raw citizen ids in hocvud logs');
        }
        for (const r of runs) await r.redis.stop();
    });

    test('reconcile on a fresh database exits 0, with and without --repair', async () => {
        // reconcile --repair on a clean database is a no-op that exits 0 and leaves no drift.
        const pg = await sharedPostgres();
        const dbUrl = await newDatabase(pg);
        const res = hocvuctl(dbUrl, 'reconcile', '--repair');
        assert.equal(res.status, 0, `${res.stdout}${res.stderr}`);
        const again = hocvuctl(dbUrl, 'reconcile');
        assert.equal(again.status, 0, `${again.stdout}${again.stderr}`);
    });
});

