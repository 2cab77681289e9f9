// xlsx.test.mjs - GET /v1/reports/wards.xlsx (CONTRACT §10) opened by a real reader (exceljs):
// a summary sheet with the jurisdiction, year, as-of day and city totals equal to the API's;
// the ward sheet with Vietnamese headers, a frozen header row, counts as numbers, percentages
// in percent format, dates as dates, rows in the API's rank order; text is always text, even
// a name that starts like a formula.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import ExcelJS from 'exceljs';

import {
    event, genCitizenId, getJson, hocvuctl, newDatabase, postEvent, request, sharedPostgres, sharedRedis, startHocvud, tempDir, waitFor,
} from './lib/harness.mjs';

let srv;
const dir = tempDir('hocvu-xlsx-');
const FORMULA_NAME = '=HYPERLINK("http://x","y")';

before(async () => {
    const pg = await sharedPostgres();
    const dbUrl = await newDatabase(pg);
    // A ward renamed (by an import) to something a spreadsheet would run as a formula.
    const wards = path.join(dir, 'rename.csv');
    fs.writeFileSync(wards, `code,name,type\n31120,"${FORMULA_NAME.replace(/"/g, '""')}",phuong\n`);
    assert.equal(hocvuctl(dbUrl, 'wards', 'import', wards).status, 0);
    const targets = path.join(dir, 'targets.csv');
    fs.writeFileSync(targets, 'year,scope,group,target\n2025,city,all,10\n2025,31135,all,2\n2025,city,official,4\n');
    assert.equal(hocvuctl(dbUrl, 'targets', 'import', targets).status, 0);
    srv = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url, env: { HOCVU_JURISDICTION: 'Cần Thơ' } });
    for (const [ward, ts, group] of [
        ['31135', '2025-10-01T09:00:00+07:00', 'citizen'],
        ['31135', '2025-10-03T09:00:00+07:00', 'official'],
        ['31120', '2025-10-02T09:00:00+07:00', 'worker'],
    ]) {
        const r = await postEvent(srv.url, { body: event({ ward_code: ward, group, timestamp: ts, citizen_id: genCitizenId({ year: 1980 }) }), secret: srv.secret });
        assert.equal(r.status, 200, r.text);
    }
    await waitFor(async () => (await getJson(`${srv.url}/v1/progress?year=2025`)).certified_adults === 3, { timeout: 5000, what: 'the events' });
});

after(async () => {
    if (srv) await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});

async function workbook(query) {
    const r = await new Promise((resolve, reject) => {
        import('node:http').then(({ default: http }) => {
            http.get(`${srv.url}/v1/reports/wards.xlsx${query}`, (res) => {
                const chunks = [];
                res.on('data', (c) => chunks.push(c));
                res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
            }).on('error', reject);
        });
    });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(r.body);
    return { wb, headers: r.headers };
}

test('the ward sheet: headers, frozen row, numbers, percent format, dates, rank order, text stays text', async () => {
    const { wb, headers } = await workbook('?year=2025');
    assert.match(headers['content-disposition'], /hocvu-wards-2025-12-31\.xlsx/);
    assert.deepEqual(wb.worksheets.map((w) => w.name), ['Tổng hợp', 'Phường, xã']);
    const ws = wb.getWorksheet('Phường, xã');
    assert.deepEqual(ws.getRow(1).values.slice(1), [
        'Hạng', 'Mã', 'Tên phường, xã', 'Loại', 'Người trưởng thành đã xác nhận', 'Tổng đã xác nhận (mọi lứa tuổi)',
        'Chỉ tiêu', 'Chỉ tiêu ước tính', 'Tỷ lệ', 'Ngày về đích', 'Số liệu đến ngày',
    ]);
    assert.equal(ws.views[0].state, 'frozen');
    assert.equal(ws.views[0].ySplit, 1);
    assert.equal(ws.rowCount, 104);

    const api = (await getJson(`${srv.url}/v1/wards?year=2025`)).wards;
    for (const [i, w] of api.entries()) {
        const row = ws.getRow(i + 2);
        assert.equal(row.getCell(1).value, w.rank);
        assert.equal(row.getCell(2).value, w.code); // a string: codes keep their digits
        assert.equal(typeof row.getCell(2).value, 'string');
        assert.equal(row.getCell(3).value, w.name);
        assert.equal(row.getCell(4).value, { phuong: 'Phường', xa: 'Xã', dac_khu: 'Đặc khu' }[w.type]);
        assert.equal(row.getCell(5).value, w.certified_adults);
        assert.equal(typeof row.getCell(5).value, 'number');
        assert.equal(row.getCell(6).value, w.certified_total);
        assert.equal(row.getCell(7).value ?? null, w.target);
        if (w.percent === null) assert.equal(row.getCell(9).value ?? null, null);
        else {
            assert.ok(Math.abs(row.getCell(9).value - w.percent / 100) < 1e-9, `${w.code} percent`);
            assert.equal(row.getCell(9).numFmt, '0.00%');
        }
        const reached = row.getCell(10).value;
        if (w.reached_on === null) assert.equal(reached ?? null, null);
        else assert.equal(reached.toISOString().slice(0, 10), w.reached_on);
        assert.equal(row.getCell(11).value.toISOString().slice(0, 10), '2025-12-31');
    }
    // The ward named like a formula is a string cell holding that text, with no formula.
    const rowOf = (code) => ws.getRows(2, 103).find((r) => r.getCell(2).value === code);
    const f = rowOf('31120').getCell(3);
    assert.equal(f.value, FORMULA_NAME);
    assert.equal(f.type, ExcelJS.ValueType.String);
    assert.equal(f.formula, undefined);
    const a = rowOf('31135');
    assert.equal(a.getCell(9).value, 1); // 2 of 2: 100 %
    assert.equal(a.getCell(10).value.toISOString().slice(0, 10), '2025-10-03');
});

test('the summary sheet: jurisdiction, year, as of, the city and its groups and targets as the API says', async () => {
    const { wb } = await workbook('?as_of=2025-10-02&year=2025');
    const ws = wb.getWorksheet('Tổng hợp');
    assert.equal(ws.getCell('A1').value, 'Bình dân học vụ số — Cần Thơ');
    const byLabel = {};
    ws.eachRow((row) => {
        const k = row.getCell(1).value;
        if (typeof k === 'string') byLabel[k] = row.getCell(2).value;
    });
    assert.equal(byLabel['Năm'], 2025);
    assert.equal(byLabel['Số liệu đến hết ngày'].toISOString().slice(0, 10), '2025-10-02');
    assert.equal(byLabel['Chỉ tiêu người trưởng thành'], 10);
    assert.equal(byLabel['Người trưởng thành đã xác nhận'], 2); // as of 2 October
    assert.ok(Math.abs(byLabel['Tỷ lệ so với chỉ tiêu'] - 0.2) < 1e-9);
    assert.equal(byLabel['Người dân'], 1);
    assert.equal(byLabel['Người lao động'], 1);
    assert.equal(byLabel['Cán bộ, công chức, viên chức'], 0);
    assert.equal(byLabel['Cán bộ, công chức, viên chức (người trưởng thành)'], 4); // the group target
    assert.match(byLabel['Thời điểm lập (UTC)'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('the same parameters as the CSV: a future as_of or a bad year is 400', async () => {
    for (const q of ['?as_of=2999-01-01', '?year=2024', '?year=x']) {
        const r = await request(`${srv.url}/v1/reports/wards.xlsx${q}`);
        assert.equal(r.status, 400, q);
        assert.equal(r.json.code, 'invalid_parameter');
    }
});
