// provinces.test.mjs - any province can run hocvu (CONTRACT §3, §12): the shipped national list
// (data/vn_units_2025.csv) loads one province with `wards import --province`, a ward type is
// checked, every bad row of a wards or legacy file is reported as FILE:LINE at once with
// nothing loaded, and a Hải Phòng instance runs end to end with percentage targets and its own
// name (HOCVU_JURISDICTION) on the dashboard.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import {
    SOURCE_DIR, event, genCitizenId, getJson, hocvuctl, postEvent, psql, request, sharedPostgres, sharedRedis, startHocvud, tempDir, waitFor,
} from './lib/harness.mjs';

const NATIONAL = path.join(SOURCE_DIR, 'data/vn_units_2025.csv');
const dir = tempDir('hocvu-provinces-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function emptyDatabase() {
    const pg = await sharedPostgres();
    const url = await pg.createDb(`hv_prov_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`);
    const res = hocvuctl(url, 'migrate');
    assert.equal(res.status, 0, res.stderr);
    return url;
}

test('the national list loads one province: Hải Phòng has 114 units, Cần Thơ 103', async () => {
    const url = await emptyDatabase();
    let res = hocvuctl(url, 'wards', 'import', '--province', '31', NATIONAL);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /imported 114 wards/);
    assert.equal(psql(url, "SELECT string_agg(type || '=' || n, ',' ORDER BY type) FROM (SELECT type, count(*) n FROM wards GROUP BY type) t").trim(), 'dac_khu=2,phuong=45,xa=67');
    assert.equal(psql(url, "SELECT name FROM wards WHERE code = '11602'").trim(), 'Phường Hồng An');
    // Loading it again changes nothing.
    res = hocvuctl(url, 'wards', 'import', `--province=31`, NATIONAL);
    assert.match(res.stdout, /imported 114 wards \(0 inserted, 0 updated, 114 unchanged\)/);

    const ct = await emptyDatabase();
    res = hocvuctl(ct, 'wards', 'import', '--province', '92', NATIONAL);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(psql(ct, 'SELECT count(*) FROM wards').trim(), '103');
    // The same codes and names as the Cần Thơ file.
    const ours = fs.readFileSync(path.join(SOURCE_DIR, 'data/cantho_wards_2025.csv'), 'utf8').split(/\r?\n/).slice(1).filter(Boolean).length;
    assert.equal(ours, 103);
});

test('--province: a province without units, a file without province_code, a malformed code', async () => {
    const url = await emptyDatabase();
    let res = hocvuctl(url, 'wards', 'import', '--province', '99', NATIONAL);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /no units of province 99/);
    res = hocvuctl(url, 'wards', 'import', '--province', '92', path.join(SOURCE_DIR, 'data/cantho_wards_2025.csv'));
    assert.equal(res.status, 1);
    assert.match(res.stderr, /province_code/);
    res = hocvuctl(url, 'wards', 'import', '--province', 'HP', NATIONAL);
    assert.equal(res.status, 2);
    assert.equal(psql(url, 'SELECT count(*) FROM wards').trim(), '0');
});

test('every bad row of a wards file is reported at once; a wrong type is one of them', async () => {
    const url = await emptyDatabase();
    const file = path.join(dir, 'bad_wards.csv');
    fs.writeFileSync(
        file,
        'code,name,type,population\n' +
            '31001,Phường A,phuong,100\n' +
            '3100,Phường B,phuong,100\n' + // 3: code
            '31003,Thành phố C,thanh_pho,100\n' + // 4: type
            '31004,,xa,100\n' + // 5: name
            '31005,Xã E,xa,many\n' + // 6: population
            '31001,Phường A again,phuong,1\n', // 7: duplicate
    );
    const res = hocvuctl(url, 'wards', 'import', file);
    assert.equal(res.status, 1);
    const lines = res.stderr.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf(': '))), [3, 4, 5, 6, 7].map((n) => `${file}:${n}`), res.stderr);
    assert.match(lines[1], /type must be phuong, xa or dac_khu, got "thanh_pho" \(column type\)/);
    assert.match(lines[4], /duplicate code 31001, first on line 2/);
    assert.equal(psql(url, 'SELECT count(*) FROM wards').trim(), '0');
});

test('every bad row of a legacy file is reported, the unknown new codes included', async () => {
    const url = await emptyDatabase();
    assert.equal(hocvuctl(url, 'wards', 'import', '--province', '92', NATIONAL).status, 0);
    const file = path.join(dir, 'bad_legacy.csv');
    fs.writeFileSync(
        file,
        'old_code,old_name,new_codes,split\n' +
            '31117,Phường Cái Khế,31135,full\n' +
            '3111,X,31135,full\n' + // 3: old_code
            '31118,Y,31135|31120,full\n' + // 4: not split but two codes
            '31119,Z,31135,maybe\n' + // 5: split
            '31121,W,39999,full\n' + // 6: unknown new code (database check)
            '31122,V,39998,full\n', // 7: unknown new code
    );
    let res = hocvuctl(url, 'wards', 'import-legacy', file);
    assert.equal(res.status, 1);
    assert.deepEqual(res.stderr.trim().split('\n').map((l) => l.slice(0, l.indexOf(': '))), [3, 4, 5].map((n) => `${file}:${n}`), res.stderr);
    // With the file's own errors fixed, the database check reports both unknown codes.
    fs.writeFileSync(file, 'old_code,old_name,new_codes,split\n31121,W,39999,full\n31122,V,39998,full\n');
    res = hocvuctl(url, 'wards', 'import-legacy', file);
    assert.equal(res.status, 1);
    const lines = res.stderr.trim().split('\n');
    assert.equal(lines.length, 2, res.stderr);
    assert.match(lines[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: .*39999`));
    assert.match(lines[1], /:3: .*39998/);
    assert.equal(psql(url, 'SELECT count(*) FROM legacy_wards').trim(), '0');
});

test('a Hải Phòng instance end to end: its 114 units, percentage targets for 2025 and 2026, its name on the dashboard', async () => {
    const url = await emptyDatabase();
    assert.equal(hocvuctl(url, 'wards', 'import', '--province', '31', NATIONAL).status, 0);
    // Percentage targets of one commune: 80 % of its adults in 2025, 100 % in 2026 (the example
    // file's illustrative base), and the city's own figure.
    const file = path.join(dir, 'hp_targets.csv');
    fs.writeFileSync(
        file,
        'year,scope,group,target,percent,base,measure\n' +
            '2025,city,all,,80,10,\n' +
            '2026,city,all,,100,10,\n' +
            '2025,11560,all,,80,5,\n' +
            '2026,11560,all,,100,5,\n',
    );
    let res = hocvuctl(url, 'targets', 'import', file);
    assert.equal(res.status, 0, res.stderr);
    const example = hocvuctl(url, 'targets', 'import', path.join(SOURCE_DIR, 'deploy/examples/targets_commune_percent.csv'));
    assert.equal(example.status, 0, example.stderr); // the shipped example imports too
    res = hocvuctl(url, 'targets', 'import', file); // and back to this test's figures
    assert.equal(res.status, 0, res.stderr);

    const srv = await startHocvud({ dbUrl: url, redisUrl: (await sharedRedis()).url, env: { HOCVU_JURISDICTION: 'Hải Phòng <Thủy Nguyên>' } });
    try {
        // Four adults of Phường Thủy Nguyên (11560): three in 2025, one in 2026.
        for (const ts of ['2025-11-01T09:00:00+07:00', '2025-11-02T09:00:00+07:00', '2025-11-03T09:00:00+07:00', '2026-03-01T09:00:00+07:00']) {
            const r = await postEvent(srv.url, { body: event({ ward_code: '11560', citizen_id: genCitizenId({ province: '031', year: 1985 }), timestamp: ts }), secret: srv.secret });
            assert.equal(r.status, 200, r.text);
        }
        // A Cần Thơ ward code is not a unit of this instance.
        const other = await postEvent(srv.url, { body: event({ ward_code: '31135' }), secret: srv.secret });
        assert.equal(other.status, 422, other.text);
        assert.equal(other.json.code, 'unknown_ward');

        let p25;
        await waitFor(async () => (p25 = await getJson(`${srv.url}/v1/progress?year=2025`)).certified_adults === 3, { timeout: 5000, what: '2025 counts' });
        assert.equal(p25.target, 8); // ceil(80 % x 10)
        assert.equal(p25.wards, 114);
        assert.equal(p25.percent, 37.5);
        const w25 = (await getJson(`${srv.url}/v1/wards?year=2025`)).wards.find((w) => w.code === '11560');
        assert.deepEqual([w25.target, w25.target_estimated, w25.certified_adults, w25.percent, w25.reached_on, w25.rank], [4, false, 3, 75, null, 1]);
        const w26 = (await getJson(`${srv.url}/v1/wards?year=2026`)).wards.find((w) => w.code === '11560');
        assert.deepEqual([w26.target, w26.certified_adults, w26.percent, w26.reached_on], [5, 4, 80, null]);
        // No population in the national list: the other units have no estimated target.
        const rest = (await getJson(`${srv.url}/v1/wards?year=2026`)).wards.filter((w) => w.code !== '11560');
        assert.ok(rest.every((w) => w.target === null && w.target_estimated === false));

        const page = await request(`${srv.url}/`);
        assert.equal(page.status, 200);
        assert.match(page.text, /<title>Bình dân học vụ số — Hải Phòng &lt;Thủy Nguyên&gt;<\/title>/);
        assert.doesNotMatch(page.text, /Cần Thơ|\{\{JURISDICTION\}\}/);
    } finally {
        await srv.stop();
    }
});
