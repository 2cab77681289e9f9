// targets.test.mjs - CONTRACT §9 against real PostgreSQL and hocvud: `hocvuctl targets import`
// (every bad row reported with its line, nothing loaded then; a new import replaces the years it
// names), targets by year, group and ward on /v1/progress and /v1/wards, counts of a past year
// as of its 31 December, reached_on, the ranking, ?year= validation, and the wards CSV as of a
// day.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
    event,
    genCitizenId,
    getJson,
    hocvuctl,
    newDatabase,
    postEvent,
    psql,
    request,
    sharedPostgres,
    sharedRedis,
    SOURCE_DIR,
    startHocvud,
    tempDir,
    waitFor,
    withLogs,
} from './lib/harness.mjs';

let srv;
let dbUrl;
const dir = tempDir('hocvu-targets-');
const thisYear = Number(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric' }).format(new Date()));

function writeCsv(name, text) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
}

const adult = () => genCitizenId({ year: 1980 });

before(async () => {
    const pg = await sharedPostgres();
    dbUrl = await newDatabase(pg);
    srv = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url, env: { HOCVU_TARGET: '500000' } });
    // 2025: ward 31135 gets 3 adults (two on 1 Oct, one on 5 Oct) and a pupil; ward 31120 gets
    // one official on 2 Oct. 2026: 31135 one more adult on 10 Jan, 31120 two workers on 3 Feb.
    const events = [
        event({ ward_code: '31135', citizen_id: adult(), timestamp: '2025-10-01T09:00:00+07:00' }),
        event({ ward_code: '31135', citizen_id: adult(), timestamp: '2025-10-01T10:00:00+07:00' }),
        event({ ward_code: '31135', citizen_id: adult(), timestamp: '2025-10-05T10:00:00+07:00' }),
        event({ ward_code: '31135', group: 'student', citizen_id: genCitizenId({ year: 2012 }), timestamp: '2025-10-06T10:00:00+07:00' }),
        event({ ward_code: '31120', group: 'official', citizen_id: adult(), timestamp: '2025-10-02T10:00:00+07:00' }),
        event({ ward_code: '31135', citizen_id: adult(), timestamp: '2026-01-10T10:00:00+07:00' }),
        event({ ward_code: '31120', group: 'worker', citizen_id: adult(), timestamp: '2026-02-03T10:00:00+07:00' }),
        event({ ward_code: '31120', group: 'worker', citizen_id: adult(), timestamp: '2026-02-03T11:00:00+07:00' }),
    ];
    for (const ev of events) {
        const res = await postEvent(srv.url, { body: ev, secret: srv.secret });
        assert.equal(res.status, 200, res.text);
    }
    await waitFor(async () => (await getJson(`${srv.url}/v1/progress`))?.certified_total === 8, {
        timeout: 5000,
        what: 'the events to be counted',
    });
});

after(async () => {
    if (srv) await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});

test('a bad targets file: every bad row reported as FILE:LINE, nothing loaded', async () => {
    const file = writeCsv(
        'bad.csv',
        'year,scope,group,target,percent,base,measure\n' +
            '2026,city,all,1000,,,\n' +
            '2026,99999,all,5,,,\n' + // not a current ward
            '2026,city,farmers,5,,,\n' +
            '2026,city,all,,80,,\n' + // percent without base
            '2026,cohort:A,all,,50,,adults\n' +
            '2026,city,all,7,,,\n', // duplicate of line 2
    );
    const res = hocvuctl(dbUrl, 'targets', 'import', file);
    assert.equal(res.status, 1, res.stdout + res.stderr);
    const lines = res.stderr.trim().split('\n');
    assert.deepEqual(
        lines.map((l) => l.slice(0, l.indexOf(': '))),
        [`${file}:3`, `${file}:4`, `${file}:5`, `${file}:6`, `${file}:7`],
        res.stderr,
    );
    assert.match(lines[0], /99999 is not a current ward/);
    assert.match(lines[4], /duplicate target .* first on line 2/);
    assert.equal(psql(dbUrl, 'SELECT count(*) FROM targets').trim(), '0');
});

test('targets by year and ward: progress, wards, reached_on and ranking', async () => {
    await withLogs(srv, async () => {
        const file = writeCsv(
            'targets.csv',
            'year,scope,group,target,percent,base,measure\n' +
                '2025,city,all,10,,,\n' +
                '2025,31135,all,3,,,\n' +
                '2026,city,all,,50,40,\n' + // 20
                '2026,city,official,2,,,\n' +
                '2026,city,student,,100,4,all\n' +
                '2026,31135,all,4,,,\n' +
                '2026,31120,all,2,,,\n' +
                '2026,cohort:SO-GD,all,,100,,\n',
        );
        const res = hocvuctl(dbUrl, 'targets', 'import', file);
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stdout, /imported 8 targets for 2025, 2026 \(replacing 0\)/);

        let p;
        await waitFor(async () => (p = await getJson(`${srv.url}/v1/progress?year=2026`))?.target === 20, {
            timeout: 5000,
            what: 'the imported 2026 city target',
        });
        assert.equal(p.year, 2026);
        assert.equal(p.certified_adults, 7);
        assert.equal(p.certified_total, 8);
        assert.equal(p.percent, 35);
        assert.equal(p.remaining, 13);
        assert.deepEqual(p.targets, [
            { scope: 'city', group: 'all', measure: 'adults', target: 20, certified: 7, percent: 35 },
            { scope: 'city', group: 'official', measure: 'adults', target: 2, certified: 1, percent: 50 },
            { scope: 'city', group: 'student', measure: 'all', target: 4, certified: 1, percent: 25 },
        ]);

        // 2025 as of its 31 December: 4 adults and the pupil; the 2025 targets.
        const p25 = (await getJson(`${srv.url}/v1/progress?year=2025`));
        assert.equal(p25.year, 2025);
        assert.equal(p25.target, 10);
        assert.equal(p25.certified_adults, 4);
        assert.equal(p25.certified_total, 5);
        assert.equal(p25.percent, 40);
        assert.equal(p25.wards_at_target, 1);

        const w25 = (await getJson(`${srv.url}/v1/wards?year=2025`));
        assert.equal(w25.year, 2025);
        const a25 = w25.wards.find((w) => w.code === '31135');
        assert.equal(a25.target, 3);
        assert.equal(a25.target_estimated, false);
        assert.equal(a25.certified_adults, 3);
        assert.equal(a25.percent, 100);
        assert.equal(a25.reached_on, '2025-10-05');
        assert.equal(a25.rank, 1);
        const b25 = w25.wards.find((w) => w.code === '31120');
        assert.equal(b25.target_estimated, true); // 2025's city target 10 shared by population
        assert.equal(b25.reached_on, null);

        const w26 = (await getJson(`${srv.url}/v1/wards?year=2026`));
        const a = w26.wards.find((w) => w.code === '31135');
        const b = w26.wards.find((w) => w.code === '31120');
        assert.deepEqual([a.target, a.certified_adults, a.percent, a.reached_on], [4, 4, 100, '2026-01-10']);
        assert.deepEqual([b.target, b.certified_adults, b.percent, b.reached_on], [2, 3, 150, '2026-02-03']);
        // 150 % ranks before 100 %; the rest count nothing and have no percent (the city's 20
        // shared by population rounds to 0, or a ward has no population), so they share rank 3,
        // listed by code.
        assert.deepEqual(w26.wards.slice(0, 2).map((w) => [w.code, w.rank]), [['31120', 1], ['31135', 2]]);
        const rest = w26.wards.slice(2);
        const odd = rest.filter((w) => !(w.rank === 3 && w.percent === null && w.certified_adults === 0));
        assert.deepEqual(odd.slice(0, 3), [], 'the rest share rank 3');
        assert.deepEqual(rest.map((w) => w.code), [...rest.map((w) => w.code)].sort());

        const one = (await getJson(`${srv.url}/v1/wards/31135?year=2025`));
        assert.equal(one.year, 2025);
        assert.equal(one.reached_on, '2025-10-05');
        assert.equal(one.last_30_days.at(-1).date, '2025-12-31');
    });
});

test('re-importing a year replaces only that year', async () => {
    const file = writeCsv('y2026.csv', 'year,scope,group,target\n2026,city,all,70\n');
    const res = hocvuctl(dbUrl, 'targets', 'import', file);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /imported 1 targets for 2026 \(replacing 6\)/);
    await waitFor(async () => (await getJson(`${srv.url}/v1/progress?year=2026`))?.target === 70, {
        timeout: 5000,
        what: 'the new 2026 target',
    });
    assert.equal((await getJson(`${srv.url}/v1/progress?year=2025`)).target, 10);
    // The default year is the current one.
    const cur = (await getJson(`${srv.url}/v1/progress`));
    assert.equal(cur.year, thisYear);
});

test('?year outside the campaign, or malformed, is 400 invalid_parameter', async () => {
    for (const q of ['year=2024', `year=${thisYear + 1}`, 'year=abc', 'year=20266', 'year=']) {
        for (const p of ['/v1/progress', '/v1/wards', '/v1/wards/31135', '/v1/reports/wards.csv']) {
            const r = await request(`${srv.url}${p}?${q}`);
            assert.equal(r.status, 400, `${p}?${q}: ${r.text}`);
            assert.equal(r.json.code, 'invalid_parameter');
            assert.equal(r.json.field, 'year');
        }
    }
});

test('the wards CSV as of a day, against a year', async () => {
    const r = await request(`${srv.url}/v1/reports/wards.csv?as_of=2025-10-03&year=2025`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-disposition'], /hocvu-wards-2025-10-03\.csv/);
    const lines = r.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    assert.equal(lines[0], 'rank,code,name,type,certified_adults,certified_total,target,target_estimated,percent,reached_on,as_of');
    const row = (code) => lines.find((l) => l.split(',')[1] === code).split(',');
    // As of 3 Oct 2025: 31135 has its two adults of 1 Oct (target 3: 66.67 %), 31120 its official.
    const a = row('31135');
    assert.deepEqual(a.slice(4, 11), ['2', '2', '3', 'false', '66.67', '', '2025-10-03']);
    assert.equal(row('31120')[4], '1');
    // The default as_of of a past year is its 31 December; of the current year, today.
    const y = await request(`${srv.url}/v1/reports/wards.csv?year=2025`);
    assert.match(y.headers['content-disposition'], /2025-12-31/);
    assert.deepEqual(y.text.split('\r\n').find((l) => l.split(',')[1] === '31135').split(',').slice(4, 10), ['3', '4', '3', 'false', '100', '2025-10-05']);
    const future = await request(`${srv.url}/v1/reports/wards.csv?as_of=${thisYear + 1}-01-01`);
    assert.equal(future.status, 400);
    assert.equal(future.json.field, 'as_of');
    const bad = await request(`${srv.url}/v1/reports/wards.csv?as_of=2025-13-01`);
    assert.equal(bad.status, 400);
});

test('the shipped seed targets (data/targets_cantho.csv) import: 996,000 for 2025 and 2026', async () => {
    const pg = await sharedPostgres();
    const url = await newDatabase(pg);
    const res = hocvuctl(url, 'targets', 'import', path.join(SOURCE_DIR, 'data/targets_cantho.csv'));
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /imported 2 targets for 2025, 2026/);
    assert.equal(psql(url, "SELECT string_agg(year || ':' || target, ',' ORDER BY year) FROM targets WHERE scope = 'city'").trim(), '2025:996000,2026:996000');
});
