// reports.test.mjs - frozen reports (CONTRACT §10) with hocvuctl against real PostgreSQL and
// hocvud: `report freeze` stores the report object with exactly its members, canonical per RFC
// 8785, its digest the SHA-256 of the other members (checked here with an independent
// canonicaliser), and the evidence (one certificate per person counted, no citizen id); late
// events and revocations change what the same day counts now but never the frozen report;
// `report verify` says so and exits 0, and 1 once the stored report has been tampered with;
// nothing can update or delete a frozen report; reconcile --repair leaves it alone.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import {
    event, genCitizenId, getJson, hocvuctl, newDatabase, postEvent, psql, request, sharedPostgres, sharedRedis, startHocvud, waitFor,
} from './lib/harness.mjs';

let srv;
let dbUrl;
const citizens = [];

// RFC 8785 for the values a report holds (ASCII member names, finite numbers): sorted members,
// JSON.stringify for everything else.
function jcs(v) {
    if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
    if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(',')}}`;
    return JSON.stringify(v);
}

before(async () => {
    const pg = await sharedPostgres();
    dbUrl = await newDatabase(pg);
    srv = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url });
    for (const [ward, ts, group] of [
        ['31135', '2025-10-01T09:00:00+07:00', 'citizen'],
        ['31135', '2025-10-02T09:00:00+07:00', 'official'],
        ['31120', '2025-10-03T09:00:00+07:00', 'worker'],
    ]) {
        const ev = event({ ward_code: ward, group, timestamp: ts, citizen_id: genCitizenId({ year: 1980 }) });
        citizens.push(ev);
        const r = await postEvent(srv.url, { body: ev, secret: srv.secret });
        assert.equal(r.status, 200, r.text);
    }
    // A pupil: in certified_total, not in the adults.
    const pupil = event({ ward_code: '31120', group: 'student', timestamp: '2025-10-04T09:00:00+07:00', citizen_id: genCitizenId({ year: 2012 }) });
    citizens.push(pupil);
    assert.equal((await postEvent(srv.url, { body: pupil, secret: srv.secret })).status, 200);
    await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === 4, { timeout: 5000, what: 'the events' });
});

after(async () => {
    if (srv) await srv.stop();
});

// RFC 4180 records (quoted fields, doubled quotes), as a spreadsheet reads them.
function parseCsv(text) {
    const rows = [];
    let row = [], field = '', quoted = false;
    for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (quoted) {
            if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
        } else if (ch === '"') quoted = true;
        else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += ch;
    }
    if (field !== '' || row.length) { row.push(field); rows.push(row); }
    return rows;
}

function freeze(...args) {
    const r = hocvuctl(dbUrl, 'report', 'freeze', ...args);
    const id = /^frozen report (\S+)$/m.exec(r.stdout)?.[1];
    const digest = /^digest ([0-9a-f]{64})$/m.exec(r.stdout)?.[1];
    return { ...r, id, digest };
}

test('freeze: the report object with exactly its members, canonical, its digest over the rest, and its evidence', () => {
    const f = freeze('--as-of', '2025-10-05', '--label', 'Báo cáo quý IV/2025');
    assert.equal(f.status, 0, f.stderr);
    assert.ok(f.id && f.digest, f.stdout);
    const body = psql(dbUrl, `SELECT body FROM reports WHERE id = '${f.id}'`).trim();
    const obj = JSON.parse(body);
    assert.deepEqual(Object.keys(obj).sort(), ['as_of', 'by_group', 'city', 'created_at', 'digest', 'id', 'jurisdiction', 'label', 'targets', 'wards', 'year']);
    assert.equal(body, jcs(obj), 'stored canonical (RFC 8785)');
    const { digest, ...rest } = obj;
    assert.equal(digest, f.digest);
    assert.equal(crypto.createHash('sha256').update(jcs(rest)).digest('hex'), digest);
    assert.equal(obj.id, f.id);
    assert.equal(obj.as_of, '2025-10-05');
    assert.equal(obj.year, 2025);
    assert.equal(obj.label, 'Báo cáo quý IV/2025');
    assert.equal(obj.jurisdiction, 'Cần Thơ');
    assert.match(obj.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(obj.city, { target: 996000, certified_adults: 3, certified_total: 4, percent: 0 });
    assert.deepEqual(obj.by_group, { citizen: 1, official: 1, student: 0, worker: 1 });
    assert.equal(obj.wards.length, 103);
    assert.deepEqual(Object.keys(obj.wards[0]).sort(), ['certified_adults', 'certified_total', 'code', 'name', 'percent', 'rank', 'reached_on', 'target', 'target_estimated', 'type']);
    const a = obj.wards.find((w) => w.code === '31135');
    assert.equal(a.certified_adults, 2);

    // The evidence: one row per person counted, the certificate that counted them, no ids.
    const ev = psql(dbUrl, `SELECT string_agg(csv, '' ORDER BY part) FROM report_evidence_parts WHERE report_id = '${f.id}'`).replace(/\n$/, '').split('\n');
    assert.equal(ev.length, 4);
    const certs = new Set(citizens.map((c) => c.data.certificate_id));
    for (const line of ev) assert.ok(certs.has(line.split(',').at(-1)), line);
    assert.equal(psql(dbUrl, `SELECT evidence_lines FROM reports WHERE id = '${f.id}'`).trim(), '4');
    const dump = psql(dbUrl, 'SELECT body FROM reports UNION ALL SELECT csv FROM report_evidence_parts');
    for (const c of citizens) assert.ok(!dump.includes(c.data.citizen_id), 'a citizen id is stored');
});

test('late events and revocations change the day recomputed, never the frozen report; verify says so', async () => {
    const f = freeze('--as-of', '2025-10-05', '--year', '2025', '--label', 'before late events');
    assert.equal(f.status, 0, f.stderr);
    const before = psql(dbUrl, `SELECT body FROM reports WHERE id = '${f.id}'`).trim();
    // A late event attributed to 3 October in 31120, and a revocation of the citizen of
    // 1 October in 31135.
    const late = event({ ward_code: '31120', timestamp: '2025-10-03T12:00:00+07:00', citizen_id: genCitizenId({ year: 1970 }) });
    assert.equal((await postEvent(srv.url, { body: late, secret: srv.secret })).status, 200);
    const revoke = event({ type: 'certificate.revoked', citizen_id: citizens[0].data.citizen_id, certificate_id: citizens[0].data.certificate_id });
    assert.equal((await postEvent(srv.url, { body: revoke, secret: srv.secret })).status, 200);

    const v = hocvuctl(dbUrl, 'report', 'verify', f.id);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, new RegExp(`^digest ok ${f.digest}$`, 'm'));
    assert.match(v.stdout, /changes since the freeze/);
    assert.match(v.stdout, /^ward 31135 certified_adults: 2 when frozen, 1 now$/m);
    assert.match(v.stdout, /^ward 31120 certified_adults: 1 when frozen, 2 now$/m);
    assert.equal(psql(dbUrl, `SELECT body FROM reports WHERE id = '${f.id}'`).trim(), before, 'the frozen report did not change');

    // A freeze now of the same day counts the late event and the revocation.
    const again = freeze('--as-of', '2025-10-05', '--label', 'after');
    assert.equal(again.status, 0, again.stderr);
    const now = JSON.parse(psql(dbUrl, `SELECT body FROM reports WHERE id = '${again.id}'`).trim());
    assert.equal(now.city.certified_total, 4); // +1 late, -1 revoked
    assert.notEqual(again.digest, f.digest);
});

test('a frozen report cannot be changed or removed; a tampered one fails verify', () => {
    const f = freeze('--as-of', '2025-10-04', '--label', 'tamper target');
    assert.equal(f.status, 0, f.stderr);
    for (const sql of [`UPDATE reports SET label = 'x' WHERE id = '${f.id}'`, `DELETE FROM reports WHERE id = '${f.id}'`, 'DELETE FROM report_evidence_parts', `UPDATE report_evidence_parts SET csv = '' WHERE report_id = '${f.id}'`, 'TRUNCATE report_evidence_parts', 'TRUNCATE reports CASCADE']) {
        assert.throws(() => psql(dbUrl, sql), /never changed or removed/, sql);
    }
    // reconcile --repair leaves reports alone.
    const rec = hocvuctl(dbUrl, 'reconcile', '--repair');
    assert.equal(rec.status, 0, rec.stdout + rec.stderr);
    assert.equal(psql(dbUrl, `SELECT count(*) FROM reports WHERE id = '${f.id}'`).trim(), '1');
    // Only the owner bypassing the trigger can tamper; verify then fails.
    psql(dbUrl, `ALTER TABLE reports DISABLE TRIGGER reports_frozen; UPDATE reports SET body = replace(body, '"certified_total":3', '"certified_total":30') WHERE id = '${f.id}'; ALTER TABLE reports ENABLE TRIGGER reports_frozen`);
    const v = hocvuctl(dbUrl, 'report', 'verify', f.id);
    assert.equal(v.status, 1, v.stdout);
    assert.match(v.stdout, /digest MISMATCH/);
});

test('freeze and verify refuse what they cannot do', () => {
    assert.equal(freeze('--as-of', '2999-01-01', '--label', 'x').status, 1);
    assert.equal(freeze('--as-of', '2025-13-01', '--label', 'x').status, 2);
    assert.equal(freeze('--as-of', '2025-10-01').status, 2); // no label
    assert.equal(freeze('--as-of', '2025-10-01', '--year', '2024', '--label', 'x').status, 2);
    const v = hocvuctl(dbUrl, 'report', 'verify', '2025-10-01-00000000');
    assert.equal(v.status, 1);
    assert.match(v.stderr, /no report/);
});

test('the service serves frozen reports: the list, each object byte for byte, its CSV and its workbook', async () => {
    const f = freeze('--as-of', '2025-10-03', '--label', 'served');
    assert.equal(f.status, 0, f.stderr);
    const stored = psql(dbUrl, `SELECT body FROM reports WHERE id = '${f.id}'`).trim();
    let list;
    await waitFor(async () => (list = await getJson(`${srv.url}/v1/reports`)).reports.some((r) => r.id === f.id), {
        timeout: 2500,
        what: 'the new report listed within 2 s',
    });
    const item = list.reports.find((r) => r.id === f.id);
    assert.deepEqual(Object.keys(item).sort(), ['as_of', 'created_at', 'digest', 'id', 'label', 'year']);
    assert.deepEqual([item.label, item.as_of, item.year, item.digest], ['served', '2025-10-03', 2025, f.digest]);
    assert.equal(item.created_at, JSON.parse(stored).created_at);

    const one = await request(`${srv.url}/v1/reports/${f.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.text, stored, 'exactly the stored object');
    assert.ok(one.headers.etag);
    assert.equal((await request(`${srv.url}/v1/reports/${f.id}`, { headers: { 'if-none-match': one.headers.etag } })).status, 304);

    const csv = await request(`${srv.url}/v1/reports/${f.id}.csv`);
    assert.equal(csv.status, 200);
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    assert.equal(lines[0], 'rank,code,name,type,certified_adults,certified_total,target,target_estimated,percent,reached_on,as_of');
    assert.equal(lines.length, 104);
    const obj = JSON.parse(stored);
    const first = lines[1].split(',');
    assert.deepEqual([first[0], first[1], first[4], first[10]], [String(obj.wards[0].rank), obj.wards[0].code, String(obj.wards[0].certified_adults), '2025-10-03']);

    const { default: ExcelJS } = await import('exceljs');
    const x = await new Promise((resolve, reject) => {
        import('node:http').then(({ default: http }) => {
            http.get(`${srv.url}/v1/reports/${f.id}.xlsx`, (res) => {
                const chunks = [];
                res.on('data', (c) => chunks.push(c));
                res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
            }).on('error', reject);
        });
    });
    assert.equal(x.status, 200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(x.body);
    const summary = {};
    wb.getWorksheet('Tổng hợp').eachRow((row) => {
        if (typeof row.getCell(1).value === 'string') summary[row.getCell(1).value] = row.getCell(2).value;
    });
    assert.equal(summary['Mã báo cáo'], f.id);
    assert.equal(summary['Mã kiểm tra (SHA-256, RFC 8785)'], f.digest);
    assert.equal(summary['Người trưởng thành đã xác nhận'], obj.city.certified_adults);
    assert.equal(wb.getWorksheet('Phường, xã').rowCount, 104);

    for (const p of ['/v1/reports/2025-01-01-00000000', '/v1/reports/x.pdf', '/v1/reports/a/b']) {
        assert.equal((await request(`${srv.url}${p}`)).status, 404, p);
    }
});

test('evidence.csv: admin tokens only (403 admin_disabled, 401, 403 forbidden, all before any 404), one row per person counted', async () => {
    const f = freeze('--as-of', '2025-10-05', '--label', 'evidence');
    assert.equal(f.status, 0, f.stderr);
    // Without HOCVU_ADMIN_TOKENS the endpoint is off, for any id.
    for (const id of [f.id, '2025-01-01-00000000']) {
        const off = await request(`${srv.url}/v1/reports/${id}/evidence.csv`);
        assert.equal(off.status, 403);
        assert.equal(off.json.code, 'admin_disabled');
    }
    const guarded = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url, env: { HOCVU_READ_TOKENS: 'reader-1', HOCVU_ADMIN_TOKENS: 'admin-1' } });
    try {
        const url = (id) => `${guarded.url}/v1/reports/${id}/evidence.csv`;
        for (const id of [f.id, '2025-01-01-00000000']) {
            const none = await request(url(id));
            assert.equal(none.status, 401);
            assert.equal(none.json.code, 'unauthorized');
            assert.equal((await request(url(id), { headers: { authorization: 'Bearer nope' } })).status, 401);
            const reader = await request(url(id), { headers: { authorization: 'Bearer reader-1' } });
            assert.equal(reader.status, 403);
            assert.equal(reader.json.code, 'forbidden');
        }
        const admin = { authorization: 'Bearer admin-1' };
        assert.equal((await request(url('2025-01-01-00000000'), { headers: admin })).status, 404);
        const ok = await request(url(f.id), { headers: admin });
        assert.equal(ok.status, 200, ok.text);
        assert.match(ok.headers['content-type'], /^text\/csv/);
        const lines = ok.text.replace(/^\uFEFF/, '').trim().split('\n');
        assert.equal(lines[0], 'ward,group,day,adult,certificate_id');
        const stored = JSON.parse(psql(dbUrl, `SELECT body FROM reports WHERE id = '${f.id}'`));
        assert.equal(lines.length - 1, stored.city.certified_total, 'one row per person counted');
        for (const c of citizens) assert.ok(!ok.text.includes(c.data.citizen_id), 'no citizen id');
        const adults = lines.slice(1).filter((l) => l.split(',')[3] === 'true').length;
        assert.equal(adults, stored.city.certified_adults);
        // The body is what the freeze recorded: its SHA-256 is in Repr-Digest (RFC 9530).
        const sha = crypto.createHash('sha256').update(Buffer.from(ok.text)).digest('base64');
        assert.equal(ok.headers['repr-digest'], `sha-256=:${sha}:`);
        // Admin tokens pass every read check too.
        assert.equal((await request(`${guarded.url}/v1/reports`, { headers: admin })).status, 200);

        // Certificate ids with a comma, quotes and a formula-like start are written exactly
        // (RFC 4180 quoting, no defusing): a CSV reader gives back the very ids.
        const odd = ['ODD,1', 'ODD "quoted"', '=ODD+1', 'ODD\\.'];
        for (const [i, cert] of odd.entries()) {
            const ev = event({ ward_code: '31135', timestamp: `2025-10-06T0${i}:00:00+07:00`, certificate_id: cert, citizen_id: genCitizenId({ year: 1975 }) });
            citizens.push(ev);
            assert.equal((await postEvent(srv.url, { body: ev, secret: srv.secret })).status, 200);
        }
        await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === 4 + odd.length, { timeout: 5000, what: 'the odd certificates' });
        const g = freeze('--as-of', '2025-10-06', '--label', 'odd ids');
        assert.equal(g.status, 0, g.stderr);
        const odds = await request(url(g.id), { headers: admin });
        assert.equal(odds.status, 200);
        const rows = parseCsv(odds.text.replace(/^\uFEFF/, ''));
        assert.deepEqual(rows[0], ['ward', 'group', 'day', 'adult', 'certificate_id']);
        assert.equal(rows.length - 1, 4 + odd.length);
        const got = rows.slice(1).filter((r) => r[4].includes('ODD')).map((r) => r[4]).sort();
        assert.deepEqual(got, [...odd].sort());
        assert.deepEqual(rows.slice(1).map((r) => `${r[0]} ${r[4]}`), rows.slice(1).map((r) => `${r[0]} ${r[4]}`).sort(), 'in (ward, certificate) order');

        // Evidence changed behind the triggers' back: verify fails, the service refuses to serve it.
        psql(dbUrl, `ALTER TABLE report_evidence_parts DISABLE TRIGGER report_evidence_parts_frozen; UPDATE report_evidence_parts SET csv = replace(csv, 'ODD,1', 'ODD,2') WHERE report_id = '${g.id}'; ALTER TABLE report_evidence_parts ENABLE TRIGGER report_evidence_parts_frozen`);
        const v = hocvuctl(dbUrl, 'report', 'verify', g.id);
        assert.equal(v.status, 1, v.stdout);
        assert.match(v.stdout, /^digest ok /m);
        assert.match(v.stdout, /^evidence MISMATCH/m);
        const broken = await request(url(g.id), { headers: admin });
        assert.equal(broken.status, 500);
        assert.equal(broken.json.code, 'evidence_broken');
        const intact = hocvuctl(dbUrl, 'report', 'verify', f.id);
        assert.equal(intact.status, 0, intact.stdout);
        assert.match(intact.stdout, /^evidence ok [0-9a-f]{64}$/m);
    } finally {
        await guarded.stop();
    }
});
