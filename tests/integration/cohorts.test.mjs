// cohorts.test.mjs - cohorts (CONTRACT §11, §12) against real PostgreSQL, Redis and two hocvud
// instances: `hocvuctl cohorts import` and `cohorts members` (every error path, all or nothing,
// no raw citizen id stored: a pg_dump grep), data.supporter (422 invalid_supporter), and the
// figures of GET /v1/cohorts, /v1/cohorts/{code} and /{code}/pending equal to an independent
// model of §11 after shuffled deliveries with duplicates, revocations, re-attribution and the
// supporter edge cases (two certificates naming one mentor, a revoked-only mentee, an imported
// member also named on an event, a cohort imported after its events, an unknown code); a past
// year as of its end; targets (counts and shares of the members), reached_on and the rank
// within each kind; the admin token rules; and reconcile seeing and repairing cohort drift.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    SOURCE_DIR, event, genCitizenId, genPepper, genSecret, getJson, hocvuctl, hocvuctlEnv, newDatabase, newMessageId, pgTool, postEvent, psql, request,
    seededRandom, sharedPostgres, sharedRedis, shuffle, sleep, startHocvud, tempDir, waitFor,
} from './lib/harness.mjs';

const pepper = genPepper();
const secret = genSecret();
let dbUrl;
let dir;
const srv = [];

function csv(name, text) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
}
const ctl = (...args) => hocvuctlEnv({ HOCVU_ID_PEPPER: pepper }, dbUrl, ...args);

before(async () => {
    dir = tempDir('hocvu-cohorts-');
    dbUrl = await newDatabase(await sharedPostgres());
    const redisUrl = (await sharedRedis()).url;
    const env = { HOCVU_ADMIN_TOKENS: 'admin-1', HOCVU_READ_TOKENS: 'reader-1', HOCVU_SNAPSHOT_INTERVAL_MS: '200' };
    for (let i = 0; i < 2; i++) srv.push(await startHocvud({ dbUrl, redisUrl, secrets: [secret], pepper, env }));
});

after(async () => {
    for (const s of srv) await s.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const read = { authorization: 'Bearer reader-1' };
const admin = { authorization: 'Bearer admin-1' };

describe('imports', () => {
    test('cohorts import: every bad row reported, nothing loaded; then loaded, re-import unchanged; the shipped examples load', async () => {
        const bad = csv('bad.csv', [
            'code,name,kind,ward',
            'SO-GD,Sở Giáo dục,agency,31135',
            'bad code!,X,agency,',
            'SO-GD,Duplicate,agency,',
            'DN-1,,enterprise,',
            'DN-2,Doanh nghiệp 2,company,',
            'AP-1,Ấp 1,village,3113',
            'AP-2,Ấp 2,village,99999',
            `${'x'.repeat(65)},Too long,team,`,
        ].join('\n'));
        const r = ctl('cohorts', 'import', bad);
        assert.equal(r.status, 1, r.stdout);
        const lines = r.stderr.trim().split('\n');
        // (Line 8's ward is well formed; whether it is a current ward is the database's check,
        // made once the file itself is clean.)
        assert.deepEqual(lines.map((l) => l.split(':')[1]), ['3', '4', '5', '6', '7', '9']);
        assert.match(r.stderr, /bad\.csv:3: code must be 1-64 characters/);
        assert.match(r.stderr, /bad\.csv:4: duplicate code SO-GD, first on line 2/);
        assert.match(r.stderr, /bad\.csv:5: name is empty/);
        assert.match(r.stderr, /bad\.csv:6: kind must be agency, enterprise, school, village, team or mentor, got "company"/);
        assert.match(r.stderr, /bad\.csv:7: ward must be empty or a 5-digit ward code/);
        assert.match(r.stderr, /bad\.csv:9: code must be/);
        assert.equal(psql(dbUrl, 'SELECT count(*) FROM cohorts'), '0');
        // The database check: a well-formed ward that is not a current ward.
        const notWard = csv('notward.csv', 'code,name,kind,ward\nAP-2,Ấp 2,village,99999\nAP-3,Ấp 3,village,99998\n');
        const w = ctl('cohorts', 'import', notWard);
        assert.equal(w.status, 1);
        assert.match(w.stderr, /notward\.csv:2: ward 99999 is not a current ward \(column ward\)\n.*notward\.csv:3: ward 99998/);
        assert.equal(ctl('cohorts', 'import', csv('nocol.csv', 'code,name\nA,B\n')).status, 1);
        assert.match(ctl('cohorts', 'import', csv('nocol2.csv', 'code,name\nA,B\n')).stderr, /required column is missing \(column kind\)/);
        assert.match(ctl('cohorts', 'import', csv('quote.csv', 'code,name,kind\nA,"open,agency\n')).stderr, /quote\.csv:2:/);

        const good = csv('cohorts.csv', [
            'code,name,kind,ward',
            'SO-GD,Sở Giáo dục và Đào tạo,agency,31135',
            'UBND-NK,UBND phường Ninh Kiều,agency,31135',
            'DN-ABC,Công ty ABC,enterprise,31120',
            'TH-1,Trường THCS An Hòa,school,31120',
            'AP-1,Khu vực 1,village,31135',
            'TEAM-1,Tổ công nghệ số cộng đồng 1,team,31135',
            'MENTOR-1,"Nguyễn Văn A, đại sứ số",mentor,',
        ].join('\n'));
        const ok = ctl('cohorts', 'import', good);
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(ok.stdout.trim(), 'imported 7 cohorts (7 inserted, 0 updated, 0 unchanged)');
        assert.equal(ctl('cohorts', 'import', good).stdout.trim(), 'imported 7 cohorts (0 inserted, 0 updated, 7 unchanged)');
        // The shipped examples load (on a database of their own: this one's figures are the
        // model's).
        const db = await newDatabase(await sharedPostgres());
        const a = hocvuctl(db, 'cohorts', 'import', path.join(SOURCE_DIR, 'deploy/examples/cohorts_example.csv'));
        assert.equal(a.status, 0, a.stderr);
        assert.match(a.stdout, /^imported 7 cohorts/);
        const t = hocvuctl(db, 'targets', 'import', path.join(SOURCE_DIR, 'deploy/examples/targets_cohorts_example.csv'));
        assert.equal(t.status, 0, t.stderr);
    });

    test('cohorts members: every error path, never a citizen id in a message; all or nothing', () => {
        const ids = [genCitizenId({ year: 1980 }), genCitizenId({ year: 1985 })];
        const future = genCitizenId({ year: new Date().getFullYear() + 1 });
        const bad = csv('members-bad.csv', [
            'member_ref,citizen_id',
            `NV-001,${ids[0]}`,
            `NV-001,${ids[1]}`,
            `,${genCitizenId()}`,
            `${'é'.repeat(65)},${genCitizenId()}`,
            'NV-004,12345',
            'NV-005,999000000001',
            `NV-006,${future}`,
            `NV-007,${ids[0]}`,
        ].join('\n'));
        const r = ctl('cohorts', 'members', 'SO-GD', bad);
        assert.equal(r.status, 1, r.stdout);
        assert.deepEqual(r.stderr.trim().split('\n').map((l) => l.split(':')[1]), ['3', '4', '5', '6', '7', '8', '9']);
        assert.match(r.stderr, /members-bad\.csv:3: duplicate member_ref, first on line 2/);
        assert.match(r.stderr, /members-bad\.csv:4: member_ref must be 1-64 printable characters/);
        assert.match(r.stderr, /members-bad\.csv:6: citizen_id must be 12 digits/);
        assert.match(r.stderr, /members-bad\.csv:9: the same citizen as line 2/);
        for (const id of [...ids, '999000000001', future]) assert.ok(!r.stderr.includes(id), 'a citizen id in a message');
        assert.equal(psql(dbUrl, 'SELECT count(*) FROM cohort_members'), '0');

        const ok = csv('members-ok.csv', `member_ref,citizen_id\nNV-001,${ids[0]}\n`);
        const unknown = ctl('cohorts', 'members', 'NO-SUCH', ok);
        assert.equal(unknown.status, 1);
        assert.match(unknown.stderr, /no cohort NO-SUCH: import it first/);
        assert.equal(ctl('cohorts', 'members', 'bad code', ok).status, 2);
        const nopepper = hocvuctl(dbUrl, 'cohorts', 'members', 'SO-GD', ok);
        assert.equal(nopepper.status, 1);
        assert.match(nopepper.stderr, /needs HOCVU_ID_PEPPER/);
        assert.match(ctl('cohorts', 'members', 'SO-GD', csv('m-nocol.csv', 'member_ref\nA\n')).stderr, /required column is missing \(column citizen_id\)/);
        assert.equal(ctl('cohorts', 'members').status, 2);
    });
});

// --- the model ------------------------------------------------------------------------------

const vnDay = (ts) => new Date(Date.parse(ts) + 7 * 3600e3).toISOString().slice(0, 10);

// §6 and §11 from the events accepted and the imported lists, independently of hocvu.
function model(events, imported) {
    const certs = new Map(); // cert -> {person, ts, day, group, supporter}
    const revoked = new Set();
    for (const e of events) {
        const d = e.body.data;
        if (e.body.type === 'certificate.revoked') revoked.add(d.certificate_id);
        else if (!certs.has(d.certificate_id)) certs.set(d.certificate_id, { person: d.citizen_id, ts: Date.parse(e.body.timestamp), day: vnDay(e.body.timestamp), group: d.group, supporter: d.supporter });
    }
    const attribution = new Map(); // person -> {day, group}
    for (const [cert, c] of [...certs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        if (revoked.has(cert)) continue;
        const cur = attribution.get(c.person);
        if (!cur || c.ts < cur.ts || (c.ts === cur.ts && cert < cur.cert)) attribution.set(c.person, { ts: c.ts, cert, day: c.day, group: c.group });
    }
    const members = new Map(); // cohort -> Map(person -> ref)
    const of = (code) => members.get(code) ?? members.set(code, new Map()).get(code);
    for (const [code, list] of Object.entries(imported)) for (const [ref, person] of list) of(code).set(person, ref);
    const fromEvents = new Map(); // cohort -> Map(person -> smallest cert)
    for (const [cert, c] of certs) {
        if (!c.supporter) continue;
        const m = fromEvents.get(c.supporter) ?? fromEvents.set(c.supporter, new Map()).get(c.supporter);
        if (!m.has(c.person) || Buffer.compare(Buffer.from(cert), Buffer.from(m.get(c.person))) < 0) m.set(c.person, cert);
    }
    for (const [code, m] of fromEvents) for (const [person, cert] of m) if (!of(code).has(person)) of(code).set(person, `cert:${cert}`);
    return {
        members: (code) => of(code).size,
        certified(code, asOf = '9999-12-31') {
            const byGroup = { citizen: 0, official: 0, student: 0, worker: 0 };
            const days = [];
            for (const person of of(code).keys()) {
                const a = attribution.get(person);
                if (a && a.day <= asOf) {
                    byGroup[a.group]++;
                    days.push(a.day);
                }
            }
            return { n: days.length, byGroup, days: days.sort() };
        },
        pending: (code) => [...of(code)].filter(([p]) => !attribution.has(p)).map(([, ref]) => ref).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    };
}

const pct = (n, d) => (d > 0 ? Math.round((n * 10000) / d + 1e-9) / 100 : null);

// --- the scenario ---------------------------------------------------------------------------

describe('figures', () => {
    const P = Array.from({ length: 12 }, (_, i) => genCitizenId({ year: 1970 + i, province: i % 2 ? '092' : '001' }));
    const pupil = genCitizenId({ year: 2013 });
    const imported = {
        'SO-GD': [['NV-001', P[0]], ['NV-002', P[1]], ['NV-003', P[2]], ['NV-004', P[3]]],
        'DN-ABC': [['CN-1', P[4]], ['CN-2', P[5]]],
        'MENTOR-1': [['HV-A', P[6]]],
        'TH-1': [['HS-1', pupil]],
    };
    const events = [];
    const issue = (citizen_id, cert, ts, extra = {}) => {
        const { group = 'citizen', supporter, ward_code = '31135' } = extra;
        const body = event({ citizen_id, certificate_id: cert, timestamp: ts, group, ward_code, dataExtra: supporter === undefined ? {} : { supporter } });
        events.push({ id: newMessageId(), body });
    };
    const revoke = (citizen_id, cert, ts) => events.push({ id: newMessageId(), body: event({ type: 'certificate.revoked', citizen_id, certificate_id: cert, timestamp: ts }) });

    // Imported staff certified in 2025 and 2026, one pending.
    issue(P[0], 'C-P0', '2025-09-01T09:00:00+07:00', { group: 'official' });
    issue(P[1], 'C-P1', '2025-10-01T09:00:00+07:00', { group: 'official' });
    issue(P[2], 'C-P2', '2026-02-01T09:00:00+07:00', { group: 'official' });
    // Re-attribution: P4's earlier certificate arrives later; then it is revoked.
    issue(P[4], 'C-P4-b', '2025-11-10T09:00:00+07:00', { group: 'worker' });
    issue(P[4], 'C-P4-a', '2025-08-10T09:00:00+07:00', { group: 'worker' });
    revoke(P[4], 'C-P4-a', '2025-12-01T09:00:00+07:00');
    // Mentor: two certificates of one mentee naming the mentor (member once, the smaller id).
    issue(P[7], 'M-Z', '2025-09-05T09:00:00+07:00', { supporter: 'MENTOR-1' });
    issue(P[7], 'M-B', '2025-09-06T09:00:00+07:00', { supporter: 'MENTOR-1' });
    // A revoked-only mentee: a member, pending.
    issue(P[8], 'M-R', '2025-09-07T09:00:00+07:00', { supporter: 'MENTOR-1' });
    revoke(P[8], 'M-R', '2025-09-08T09:00:00+07:00');
    // An imported member also named on an event: counted once, the imported ref stands.
    issue(P[6], 'M-A', '2025-09-09T09:00:00+07:00', { supporter: 'MENTOR-1' });
    // A cohort imported after its events (TEAM-LATE), and an unknown code.
    issue(P[9], 'T-1', '2025-10-10T09:00:00+07:00', { supporter: 'TEAM-LATE' });
    issue(P[10], 'T-2', '2026-01-10T09:00:00+07:00', { supporter: 'TEAM-LATE' });
    issue(P[11], 'U-1', '2025-10-11T09:00:00+07:00', { supporter: 'NOBODY' });
    // An imported enterprise member named by a team.
    issue(P[5], 'T-3', '2026-01-11T09:00:00+07:00', { supporter: 'TEAM-1', group: 'worker' });
    // A pupil: certified at any age.
    issue(pupil, 'S-1', '2026-01-15T09:00:00+07:00', { group: 'student', ward_code: '31120' });

    test('data.supporter: anything but a cohort code is 422 invalid_supporter; an unknown code is accepted', async () => {
        for (const supporter of ['', 'has space', 'x'.repeat(65), 5, null, ['A'], 'Ü']) {
            const body = event({ dataExtra: { supporter } });
            const r = await postEvent(srv[0].url, { body, secret });
            assert.equal(r.status, 422, `${JSON.stringify(supporter)}: ${r.text}`);
            assert.equal(r.json.code, 'invalid_supporter');
            assert.equal(r.json.field, 'data.supporter');
        }
        // A revocation's supporter is not read.
        const rv = await postEvent(srv[0].url, { body: event({ type: 'certificate.revoked', dataExtra: { supporter: 5 } }), secret });
        assert.equal(rv.status, 200, rv.text);
    });

    test('counts equal the model: shuffled, replayed, over two instances; imports before and after the events', async () => {
        for (const [code, list] of Object.entries(imported)) {
            const f = csv(`m-${code}.csv`, `member_ref,citizen_id\n${list.map(([r, p]) => `${r},${p}`).join('\n')}\n`);
            const r = ctl('cohorts', 'members', code, f);
            assert.equal(r.status, 0, r.stderr);
        }
        // Every event twice (a replay with the same ids), in a shuffled order, spread over both
        // instances.
        const rnd = seededRandom(13);
        const deliveries = shuffle([...events, ...events], 13);
        for (const [i, e] of deliveries.entries()) {
            const r = await postEvent(srv[Math.floor(rnd() * 2)].url, { id: e.id, body: e.body, secret });
            assert.equal(r.status, 200, `${i}: ${r.text}`);
        }
        // TEAM-LATE is imported only now.
        const late = ctl('cohorts', 'import', csv('late.csv', 'code,name,kind,ward\nTEAM-LATE,Tổ đến muộn,team,31120\n'));
        assert.equal(late.status, 0, late.stderr);

        const m = model(events, Object.fromEntries(Object.entries(imported).map(([k, v]) => [k, v])));
        const codes = ['SO-GD', 'UBND-NK', 'DN-ABC', 'TH-1', 'AP-1', 'TEAM-1', 'MENTOR-1', 'TEAM-LATE'];
        // Both instances, within §11's 2 seconds.
        await waitFor(async () => {
            for (const s of srv) {
                const got = await getJson(`${s.url}/v1/cohorts`, { headers: read });
                if (got.cohorts.length !== codes.length || !got.cohorts.every((c) => c.members === m.members(c.code) && c.certified === m.certified(c.code).n)) return false;
            }
            return true;
        }, { timeout: 2000, what: 'cohort figures on both instances' });
        const list = await getJson(`${srv[0].url}/v1/cohorts`, { headers: read });
        assert.deepEqual(Object.keys(list).sort(), ['as_of', 'cohorts', 'year']);
        assert.ok(!list.cohorts.some((c) => c.code === 'NOBODY'), 'an unknown code is not a cohort');
        for (const c of list.cohorts) {
            assert.deepEqual(Object.keys(c).sort(), ['certified', 'code', 'kind', 'members', 'name', 'percent', 'rank', 'reached_on', 'target', 'ward']);
            const want = m.certified(c.code);
            assert.equal(c.members, m.members(c.code), c.code);
            assert.equal(c.certified, want.n, c.code);
            assert.equal(c.target, null);
            assert.equal(c.reached_on, null);
            assert.equal(c.percent, pct(want.n, m.members(c.code)), c.code);
            const one = await getJson(`${srv[0].url}/v1/cohorts/${c.code}`, { headers: read });
            assert.deepEqual(one.by_group, want.byGroup, c.code);
            assert.equal(one.certified, want.n);
        }
        // The edge cases, spelled out.
        const get = (code) => list.cohorts.find((c) => c.code === code);
        assert.deepEqual([get('MENTOR-1').members, get('MENTOR-1').certified], [3, 2]); // P6 (imported, named), P7 (twice), P8 revoked-only
        assert.deepEqual([get('TEAM-LATE').members, get('TEAM-LATE').certified], [2, 2]);
        assert.deepEqual([get('DN-ABC').members, get('DN-ABC').certified], [2, 2]); // P4 moved to C-P4-b
        assert.deepEqual([get('TEAM-1').members, get('TEAM-1').certified], [1, 1]); // P5 through T-3
        assert.deepEqual([get('TH-1').members, get('TH-1').certified], [1, 1]); // the pupil
        assert.equal(get('SO-GD').ward, '31135');
        assert.equal(get('MENTOR-1').ward, null);
        assert.equal(get('MENTOR-1').name, 'Nguyễn Văn A, đại sứ số');

        // Pending lists (admin), as the model says, sorted by UTF-8 bytes.
        for (const code of codes) {
            const r = await request(`${srv[0].url}/v1/cohorts/${code}/pending`, { headers: admin });
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.json, { pending: m.pending(code) }, code);
        }
        assert.deepEqual((await getJson(`${srv[0].url}/v1/cohorts/MENTOR-1/pending`, { headers: admin })).pending, ['cert:M-R']);
        assert.deepEqual((await getJson(`${srv[0].url}/v1/cohorts/SO-GD/pending`, { headers: admin })).pending, ['NV-004']);

        // A past year counts as of its 31 December; members are today's.
        const y25 = await getJson(`${srv[0].url}/v1/cohorts?year=2025`, { headers: read });
        assert.equal(y25.year, 2025);
        for (const c of y25.cohorts) {
            assert.equal(c.certified, m.certified(c.code, '2025-12-31').n, `2025 ${c.code}`);
            assert.equal(c.members, m.members(c.code));
        }
        const gd25 = await getJson(`${srv[0].url}/v1/cohorts/SO-GD?year=2025`, { headers: read });
        assert.deepEqual(gd25.by_group, m.certified('SO-GD', '2025-12-31').byGroup);

        // Filters: kind and ward; rank stays within the kind whatever the filters.
        const agencies = await getJson(`${srv[0].url}/v1/cohorts?kind=agency`, { headers: read });
        assert.deepEqual(agencies.cohorts.map((c) => c.code), ['SO-GD', 'UBND-NK']);
        assert.deepEqual(agencies.cohorts.map((c) => c.rank), [1, 2]);
        const inWard = await getJson(`${srv[0].url}/v1/cohorts?ward=31120`, { headers: read });
        assert.deepEqual(inWard.cohorts.map((c) => c.code).sort(), ['DN-ABC', 'TEAM-LATE', 'TH-1']);
        assert.equal(inWard.cohorts.find((c) => c.code === 'TEAM-LATE').rank, list.cohorts.find((c) => c.code === 'TEAM-LATE').rank);
        for (const q of ['kind=company', 'ward=311', 'year=2024', 'year=abcd', `year=${new Date().getFullYear() + 1}`]) {
            const r = await request(`${srv[0].url}/v1/cohorts?${q}`, { headers: read });
            assert.equal(r.status, 400, q);
            assert.equal(r.json.code, 'invalid_parameter');
        }
        assert.equal((await request(`${srv[0].url}/v1/cohorts/NOBODY`, { headers: read })).status, 404);

        // The database agrees with itself.
        const rec = hocvuctl(dbUrl, 'reconcile');
        assert.equal(rec.status, 0, rec.stdout + rec.stderr);
    });

    test('another order on a fresh database: member lists imported after the events, other shuffle, same figures as the model', async () => {
        const db2 = await newDatabase(await sharedPostgres());
        const other = await startHocvud({ dbUrl: db2, redisUrl: (await sharedRedis()).url, secrets: [secret], pepper, env: { HOCVU_SNAPSHOT_INTERVAL_MS: '200' } });
        try {
            const ctl2 = (...args) => hocvuctlEnv({ HOCVU_ID_PEPPER: pepper }, db2, ...args);
            // Revocations and re-issues first this time, every event once more at the end.
            const order = shuffle(events, 29);
            for (const e of [...order, ...order.slice(0, 7)]) {
                const r = await postEvent(other.url, { id: e.id, body: e.body, secret });
                assert.equal(r.status, 200, r.text);
            }
            assert.equal(ctl2('cohorts', 'import', path.join(dir, 'cohorts.csv')).status, 0);
            assert.equal(ctl2('cohorts', 'import', path.join(dir, 'late.csv')).status, 0);
            for (const code of Object.keys(imported)) assert.equal(ctl2('cohorts', 'members', code, path.join(dir, `m-${code}.csv`)).status, 0);
            const m = model(events, imported);
            await waitFor(async () => {
                const got = await getJson(`${other.url}/v1/cohorts`);
                return got.cohorts.length === 8 && got.cohorts.every((c) => c.members === m.members(c.code) && c.certified === m.certified(c.code).n);
            }, { timeout: 2000, what: 'the figures of the second order' });
            for (const c of (await getJson(`${other.url}/v1/cohorts?year=2025`)).cohorts) assert.equal(c.certified, m.certified(c.code, '2025-12-31').n, c.code);
            for (const code of ['MENTOR-1', 'SO-GD', 'TEAM-LATE']) {
                const one = await getJson(`${other.url}/v1/cohorts/${code}`);
                assert.deepEqual(one.by_group, m.certified(code).byGroup, code);
            }
            const rec = hocvuctl(db2, 'reconcile');
            assert.equal(rec.status, 0, rec.stdout);
        } finally {
            await other.stop();
        }
    });

    test('targets: a count and a share of the members; percent, reached_on and rank within the kind', async () => {
        const year = 2026;
        const t = ctl('targets', 'import', csv('targets.csv', [
            'year,scope,group,target,percent',
            `${year},cohort:SO-GD,all,,75`,
            `${year},cohort:UBND-NK,all,1,`,
            `${year},cohort:MENTOR-1,all,2,`,
            `${year},city,all,996000,`,
        ].join('\n')));
        assert.equal(t.status, 0, t.stderr);
        await waitFor(async () => (await getJson(`${srv[0].url}/v1/cohorts/SO-GD?year=${year}`, { headers: read })).target === 3, { timeout: 5000, what: 'the targets' });
        const gd = await getJson(`${srv[0].url}/v1/cohorts/SO-GD?year=${year}`, { headers: read });
        // 75 % of 4 members = 3; certified 3 (P0, P1 in 2025, P2 on 2026-02-01): reached that day.
        assert.deepEqual([gd.target, gd.certified, gd.percent, gd.reached_on], [3, 3, 100, '2026-02-01']);
        const ub = await getJson(`${srv[0].url}/v1/cohorts/UBND-NK?year=${year}`, { headers: read });
        assert.deepEqual([ub.target, ub.certified, ub.percent, ub.reached_on], [1, 0, 0, null]);
        const mentor = await getJson(`${srv[0].url}/v1/cohorts/MENTOR-1?year=${year}`, { headers: read });
        // P7 on 2025-09-05 (M-Z is earlier than M-B), P6 on 2025-09-09: the second reaches 2.
        assert.deepEqual([mentor.target, mentor.certified, mentor.percent, mentor.reached_on], [2, 2, 100, '2025-09-09']);
        const agencies = await getJson(`${srv[0].url}/v1/cohorts?kind=agency&year=${year}`, { headers: read });
        assert.deepEqual(agencies.cohorts.map((c) => [c.code, c.rank]), [['SO-GD', 1], ['UBND-NK', 2]]);
        // A member list change moves a share target with it: 75 % of 5 = ceil(3.75) = 4.
        const more = [...imported['SO-GD'], ['NV-005', genCitizenId({ year: 1990 })]];
        assert.equal(ctl('cohorts', 'members', 'SO-GD', csv('gd5.csv', `member_ref,citizen_id\n${more.map(([r, p]) => `${r},${p}`).join('\n')}\n`)).status, 0);
        await waitFor(async () => (await getJson(`${srv[0].url}/v1/cohorts/SO-GD?year=${year}`, { headers: read })).target === 4, { timeout: 5000, what: 'the share target' });
        const gd5 = await getJson(`${srv[0].url}/v1/cohorts/SO-GD?year=${year}`, { headers: read });
        assert.deepEqual([gd5.members, gd5.certified, gd5.percent, gd5.reached_on], [5, 3, 75, null]);
    });

    test('access: pending needs an admin token (401, 403 forbidden, before any 404); off without admin tokens', async () => {
        const url = (code) => `${srv[0].url}/v1/cohorts/${code}/pending`;
        for (const code of ['SO-GD', 'NO-SUCH']) {
            assert.equal((await request(url(code))).status, 401);
            assert.equal((await request(url(code), { headers: { authorization: 'Bearer wrong' } })).status, 401);
            const r = await request(url(code), { headers: read });
            assert.equal(r.status, 403);
            assert.equal(r.json.code, 'forbidden');
        }
        assert.equal((await request(url('NO-SUCH'), { headers: admin })).status, 404);
        assert.equal((await request(`${srv[0].url}/v1/cohorts`)).status, 401, 'the list needs a read token when tokens are set');
        assert.equal((await request(`${srv[0].url}/v1/cohorts`, { headers: admin })).status, 200, 'admin tokens pass read checks');
        const open = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url, secrets: [secret], pepper });
        try {
            const off = await request(`${open.url}/v1/cohorts/SO-GD/pending`);
            assert.equal(off.status, 403);
            assert.equal(off.json.code, 'admin_disabled');
            assert.equal((await request(`${open.url}/v1/cohorts`)).status, 200);
        } finally {
            await open.stop();
        }
    });

    test('member lists replaced while events for their members arrive on both instances: no drift', async () => {
        const people = Array.from({ length: 120 }, (_, i) => genCitizenId({ year: 1960 + (i % 40) }));
        const deliveries = people.map((p, i) => ({ id: newMessageId(), body: event({ citizen_id: p, timestamp: `2026-0${1 + (i % 8)}-1${i % 10}T09:00:00+07:00`, dataExtra: i % 3 === 0 ? { supporter: 'TEAM-1' } : {} }) }));
        let sending = true;
        const sender = (async () => {
            for (const [i, d] of deliveries.entries()) {
                const r = await postEvent(srv[i % 2].url, { id: d.id, body: d.body, secret });
                assert.equal(r.status, 200, r.text);
            }
            sending = false;
        })();
        // Meanwhile the enterprise's list changes again and again (each a different half).
        let imports = 0;
        // (hocvuctl runs synchronously: yield between imports so the deliveries go on.)
        while ((sending || imports < 3) && imports < 200) {
            await sleep(25);
            const half = people.filter((_, i) => (i + imports) % 2 === 0).slice(0, 40);
            const f = csv(`churn-${imports}.csv`, `member_ref,citizen_id\n${half.map((p, i) => `W-${imports}-${i},${p}`).join('\n')}\n`);
            const r = ctl('cohorts', 'members', 'DN-ABC', f);
            assert.equal(r.status, 0, r.stderr);
            imports++;
        }
        await sender;
        assert.ok(imports >= 3, `${imports} imports`);
        const rec = hocvuctl(dbUrl, 'reconcile');
        assert.equal(rec.status, 0, `after ${imports} imports during ingest:\n${rec.stdout}${rec.stderr}`);
        // What the service serves is what the database holds.
        const stored = Number(psql(dbUrl, "SELECT count(*) FROM hv_cohort_membership m JOIN persons p ON p.person = m.person WHERE m.cohort = 'DN-ABC' AND p.cert_id IS NOT NULL"));
        await waitFor(async () => (await getJson(`${srv[0].url}/v1/cohorts/DN-ABC`, { headers: read })).certified === stored, { timeout: 2000, what: 'DN-ABC served' });
    });

    test('no raw citizen id in the database (pg_dump); reconcile sees and repairs cohort drift', () => {
        const dump = spawnSync(pgTool('pg_dump'), ['--data-only', '--dbname', dbUrl], { encoding: 'utf8', maxBuffer: 256 << 20 });
        assert.equal(dump.status, 0, dump.stderr);
        for (const id of [...P, pupil]) assert.ok(!dump.stdout.includes(id), 'a raw citizen id is stored');
        assert.ok(dump.stdout.includes('NV-001'), 'the dump holds the member lists');

        psql(dbUrl, "UPDATE cohort_counts SET certified = certified + 2 WHERE ctid = (SELECT ctid FROM cohort_counts WHERE cohort = 'SO-GD' LIMIT 1)");
        psql(dbUrl, "DELETE FROM cohort_supported WHERE cohort = 'MENTOR-1' AND first_cert = 'M-B'");
        const r = hocvuctl(dbUrl, 'reconcile');
        assert.equal(r.status, 1, r.stdout);
        assert.match(r.stdout, /^cohort=SO-GD group=official day=\S+ certified stored=\d+ expected=\d+$/m);
        assert.match(r.stdout, /drift: \d+ cohort figures differ from the memberships/);
        const fix = hocvuctl(dbUrl, 'reconcile', '--repair');
        assert.equal(fix.status, 0, 'a repair that fixed everything exits 0 (CONTRACT §3): ' + fix.stdout + fix.stderr);
        assert.match(fix.stdout, /repaired/);
        const again = hocvuctl(dbUrl, 'reconcile');
        assert.equal(again.status, 0, again.stdout);
    });
});
