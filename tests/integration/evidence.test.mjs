// evidence.test.mjs - a frozen report's evidence at a size that spans several stored parts
// (CONTRACT §10, sql/006): 25,000 counted persons written straight into the attribution and
// counter tables, frozen, and compared line for line with PostgreSQL's own sort and CSV writer
// of the same rows; persons counted after the day and persons left without a certificate are
// not in it; the parts, line count and SHA-256 are what `report verify` and the service check.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { hocvuctl, newDatabase, psql, request, sharedPostgres, sharedRedis, startHocvud } from './lib/harness.mjs';

const N = 25000;
let dbUrl;
let srv;

before(async () => {
    dbUrl = await newDatabase(await sharedPostgres());
    // Certificate ids chosen to sort differently under any collation but bytewise ("B" < "a",
    // "10" < "9", a prefix before its extensions) and to need CSV quoting.
    psql(dbUrl, `
        CREATE TEMP TABLE fill AS
        WITH w AS (SELECT array_agg(code ORDER BY code) AS codes FROM wards)
        SELECT sha256(convert_to('ev/' || g, 'UTF8')) AS person,
               CASE g % 7 WHEN 0 THEN 'a-' || g WHEN 1 THEN 'B-' || g WHEN 2 THEN (g % 97)::text || '-' || g
                          WHEN 3 THEN 'Q,' || g WHEN 4 THEN 'say "' || g || '"' WHEN 5 THEN 'X' || repeat('-', g % 3) || g
                          ELSE 'Ü' END AS cert,
               w.codes[1 + (hashint8(g) & 2147483647) % cardinality(w.codes)] AS ward,
               (1 + g % 4)::smallint AS grp,
               date '2025-07-01' + (g % 200) AS day,
               g % 9 <> 0 AS adult
        FROM generate_series(1, ${N}) g, w;
        UPDATE fill SET cert = 'U-' || encode(person, 'hex') WHERE cert = 'Ü';
        INSERT INTO persons (person, cert_id, ward, grp, day, adult) SELECT person, cert, ward, grp, day, adult FROM fill;
        INSERT INTO persons (person) SELECT sha256(convert_to('revoked/' || g, 'UTF8')) FROM generate_series(1, 50) g;
        INSERT INTO counters (ward, grp, day, shard, adults, total)
        SELECT ward, grp, day, 0, count(*) FILTER (WHERE adult), count(*) FROM fill GROUP BY 1, 2, 3;
    `);
    srv = await startHocvud({ dbUrl, redisUrl: (await sharedRedis()).url, env: { HOCVU_ADMIN_TOKENS: 'admin-1' } });
});

after(async () => {
    if (srv) await srv.stop();
});

test('the evidence of 25,000 persons: every counted person once, in bytewise (ward, certificate) order, in parts, checked', async () => {
    const asOf = '2025-11-30';
    const f = hocvuctl(dbUrl, 'report', 'freeze', '--as-of', asOf, '--label', 'evidence at size');
    assert.equal(f.status, 0, f.stderr);
    const id = /^frozen report (\S+)$/m.exec(f.stdout)[1];

    const want = psql(dbUrl, `COPY (SELECT ward, CASE grp WHEN 1 THEN 'citizen' WHEN 2 THEN 'official' WHEN 3 THEN 'student' ELSE 'worker' END,
                                           to_char(day, 'YYYY-MM-DD'), CASE WHEN adult THEN 'true' ELSE 'false' END, cert_id
                                    FROM persons WHERE cert_id IS NOT NULL AND day <= '${asOf}'
                                    ORDER BY ward COLLATE "C", cert_id COLLATE "C") TO STDOUT (FORMAT csv)`) + '\n'; // psql() trims the last newline
    const counted = Number(psql(dbUrl, `SELECT count(*) FROM persons WHERE cert_id IS NOT NULL AND day <= '${asOf}'`).trim());
    assert.ok(counted > 15000 && counted < N, `${counted} counted`);
    assert.equal(want.split('\n').length - 1, counted);

    const parts = psql(dbUrl, `SELECT part, lines FROM report_evidence_parts WHERE report_id = '${id}' ORDER BY part`).trim().split('\n').map((l) => l.split('|').map(Number));
    assert.deepEqual(parts.map((p) => p[0]), [...Array(Math.ceil(counted / 10000)).keys()]);
    assert.ok(parts.every((p) => p[1] <= 10000 && p[1] > 0));
    assert.equal(parts.reduce((a, p) => a + p[1], 0), counted);
    assert.equal(psql(dbUrl, `SELECT evidence_lines FROM reports WHERE id = '${id}'`).trim(), String(counted));

    const served = await request(`${srv.url}/v1/reports/${id}/evidence.csv`, { headers: { authorization: 'Bearer admin-1' } });
    assert.equal(served.status, 200, served.text);
    assert.equal(served.text, `\uFEFFward,group,day,adult,certificate_id\n${want}`, 'the same lines as PostgreSQL sorts and writes them');
    const sha = crypto.createHash('sha256').update(Buffer.from(served.text)).digest('hex');
    assert.equal(psql(dbUrl, `SELECT evidence_sha256 FROM reports WHERE id = '${id}'`).trim(), sha);
    const v = hocvuctl(dbUrl, 'report', 'verify', id);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, new RegExp(`^evidence ok ${sha}$`, 'm'));
});

test('the counters and the attribution disagree: no report is made', () => {
    psql(dbUrl, `UPDATE counters SET total = total + 1, adults = adults + 1 WHERE ctid = (SELECT ctid FROM counters WHERE day <= '2025-09-01' LIMIT 1)`);
    const before = psql(dbUrl, 'SELECT count(*) FROM reports').trim();
    const f = hocvuctl(dbUrl, 'report', 'freeze', '--as-of', '2025-09-30', '--label', 'drift');
    assert.equal(f.status, 1, f.stdout);
    assert.match(f.stderr, /differ: run hocvuctl reconcile --repair first/);
    assert.equal(psql(dbUrl, 'SELECT count(*) FROM reports').trim(), before);
    assert.equal(psql(dbUrl, `SELECT count(*) FROM report_evidence_parts p WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = p.report_id)`).trim(), '0');
});
