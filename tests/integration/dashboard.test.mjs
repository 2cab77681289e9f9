// dashboard.test.mjs - the page officials open (GET /) in a real browser (Debian's chromium,
// headless, driven by playwright-core): it must show exactly what the API says, in Vietnamese
// number format; filter wards by name without diacritics; sort; follow new events live over
// SSE without a reload; fit a phone screen (every table scrolls sideways in its own box, every
// column reachable, the page never wider than the screen); draw chart axis labels that never
// overlap or repeat; and, when the read APIs need a token, ask for one and poll. The page marks
// html[data-state="ready"] once the API's numbers are on it: every test waits for that, not for
// particular elements. Leaves a desktop screenshot in the build dir (and docs/dashboard.png).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
    BIN_DIR,
    SOURCE_DIR,
    event,
    genCitizenId,
    getJson,
    genPepper,
    hocvuctl,
    hocvuctlEnv,
    newDatabase,
    newMessageId,
    nowSeconds,
    postEvent,
    request,
    seededRandom,
    sharedPostgres,
    sharedRedis,
    sign,
    startHocvud,
    waitFor,
    wards,
    withLogs,
} from './lib/harness.mjs';

const CHROMIUM = process.env.HOCVU_CHROMIUM || '/usr/bin/chromium';
const DESKTOP = { viewport: { width: 1280, height: 1400 } };
// A 390 px phone as Playwright emulates one: mobile viewport rules, touch, 3x pixels.
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };
const GROUPS = ['citizen', 'official', 'student', 'worker'];
const DAY_MS = 86400000;

// vi-VN grouping written out by hand, so the test does not trust the same Intl data as the page.
const viInt = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '.');
const viPct = (p) => `${String(p).replace('.', ',')}%`;
const fold = (s) =>
    s
        .normalize('NFD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase()
        .replace(/đ/g, 'd');

function postBatch(srv, events) {
    const body = events.map((e) => JSON.stringify({ id: newMessageId(), ...e })).join('\n') + '\n';
    const id = newMessageId();
    const ts = nowSeconds();
    return request(`${srv.url}/v1/events/batch`, {
        method: 'POST',
        headers: {
            'content-type': 'application/x-ndjson',
            'webhook-id': id,
            'webhook-timestamp': String(ts),
            'webhook-signature': sign(srv.secret, id, ts, body),
        },
        body,
    });
}

// A certificate `daysAgo` days back at a random hour, as an RFC 3339 UTC time.
function timestampDaysAgo(daysAgo, rnd) {
    const t = Date.now() - daysAgo * DAY_MS - Math.floor(rnd() * 8 * 3600 * 1000);
    return new Date(Math.max(t, Date.UTC(2025, 0, 2))).toISOString().replace(/\.\d+Z$/, 'Z');
}

// Synthetic events over the last three weeks: most wards get a few, some many, a few none;
// about one in ten learners is under 18 (counted in totals, not in adults).
function seedEvents(count, seed) {
    const rnd = seededRandom(seed);
    const codes = wards().map((w) => w.code);
    const out = [];
    for (let i = 0; i < count; i++) {
        const minor = rnd() < 0.1;
        const hot = rnd() < 0.35;
        const code = hot ? codes[Math.floor(rnd() * 6)] : codes[Math.floor(rnd() * (codes.length - 8))];
        const daysAgo = Math.floor(20 * (1 - Math.sqrt(rnd()))); // more recent days are busier
        out.push(
            event({
                citizen_id: genCitizenId({ year: minor ? 2012 : 1960 + Math.floor(rnd() * 45) }),
                ward_code: code,
                group: minor ? 'student' : GROUPS[Math.floor(rnd() * 4)],
                timestamp: timestampDaysAgo(daysAgo, rnd),
            }),
        );
    }
    return out;
}

const LAUNCH = {
    executablePath: CHROMIUM,
    args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
    ],
};

describe('dashboard in a browser', () => {
    let srv;
    let locked;
    let browser;
    const token = 'dashboard-test-token';
    let reportId;
    let reportDigest;
    const pageErrors = [];

    before(async () => {
        assert.ok(
            fs.existsSync(CHROMIUM),
            `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set HOCVU_CHROMIUM`,
        );
        const pg = await sharedPostgres();
        const redis = await sharedRedis();
        const db = await newDatabase(pg);
        // The seed city target, and this year's group targets: shown under the groups.
        const year = new Date().getUTCFullYear();
        const targets = path.join(BIN_DIR, 'dashboard-targets.csv');
        fs.writeFileSync(
            targets,
            `year,scope,group,target,measure\n2025,city,all,996000,adults\n${year},city,all,996000,adults\n` +
                `${year},city,official,120,adults\n${year},city,student,500,all\n`,
        );
        const imported = hocvuctl(db, 'targets', 'import', targets);
        assert.equal(imported.status, 0, imported.stderr);
        // A frozen report for the reports panel.
        const frozen = hocvuctl(db, 'report', 'freeze', '--as-of', '2025-12-31', '--label', 'Báo cáo năm 2025');
        assert.equal(frozen.status, 0, frozen.stderr);
        reportId = /^frozen report (\S+)$/m.exec(frozen.stdout)[1];
        reportDigest = /^digest (\S+)$/m.exec(frozen.stdout)[1];
        const pepper = genPepper();
        srv = await startHocvud({ dbUrl: db, redisUrl: redis.url, pepper });
        locked = await startHocvud({ dbUrl: db, redisUrl: redis.url, pepper, env: { HOCVU_READ_TOKENS: token } });
        const res = await postBatch(srv, seedEvents(400, 20261010));
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.rejected, 0, res.text);
        await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === 400, {
            what: 'seeded events visible',
        });
        // Units for the units view: two agencies with staff lists, two mentors and a team
        // credited through data.supporter.
        const cohortsCsv = path.join(BIN_DIR, 'dashboard-cohorts.csv');
        fs.writeFileSync(cohortsCsv, 'code,name,kind,ward\nSO-GD,Sở Giáo dục và Đào tạo,agency,31135\nUBND-CK,UBND phường Cái Khế,agency,31120\n' +
            'MENTOR-A,Trần Thị Đại Sứ,mentor,31135\nMENTOR-B,Lê Văn Hướng Dẫn,mentor,31120\nTEAM-1,Tổ công nghệ số khu vực 1,team,31135\n');
        assert.equal(hocvuctl(db, 'cohorts', 'import', cohortsCsv).status, 0);
        const staff = { 'SO-GD': 6, 'UBND-CK': 3 };
        const unitEvents = [];
        const rnd = seededRandom(7);
        for (const [code, n] of Object.entries(staff)) {
            const ids = Array.from({ length: n }, (_, i) => genCitizenId({ year: 1970 + i }));
            const file = path.join(BIN_DIR, `dashboard-${code}.csv`);
            fs.writeFileSync(file, `member_ref,citizen_id\n${ids.map((id, i) => `NV-${i + 1},${id}`).join('\n')}\n`);
            const m = hocvuctlEnv({ HOCVU_ID_PEPPER: pepper }, db, 'cohorts', 'members', code, file);
            assert.equal(m.status, 0, m.stderr);
            fs.rmSync(file);
            // SO-GD: 4 of 6 certified; UBND-CK: all 3.
            for (const id of ids.slice(0, code === 'SO-GD' ? 4 : 3)) {
                unitEvents.push(event({ citizen_id: id, group: 'official', ward_code: code === 'SO-GD' ? '31135' : '31120', timestamp: timestampDaysAgo(3, rnd) }));
            }
        }
        for (const [code, n] of [['MENTOR-A', 6], ['MENTOR-B', 2], ['TEAM-1', 3]]) {
            for (let i = 0; i < n; i++) unitEvents.push(event({ citizen_id: genCitizenId({ year: 1950 + i }), timestamp: timestampDaysAgo(2, rnd), dataExtra: { supporter: code } }));
        }
        const units = await postBatch(srv, unitEvents);
        assert.equal(units.json?.accepted, unitEvents.length, units.text);
        await waitFor(async () => (await getJson(`${srv.url}/v1/progress`)).certified_total === 400 + unitEvents.length, {
            what: 'unit events visible',
        });
        browser = await chromium.launch(LAUNCH);
    });

    after(async () => {
        await browser?.close();
        await srv?.stop();
        await locked?.stop();
    });

    // Opens the page; unless told not to, waits until it says its data is shown.
    async function openPage(url, { device = DESKTOP, ready = true } = {}) {
        const context = await browser.newContext({ ...device, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
        const page = await context.newPage();
        page.on('pageerror', (err) => pageErrors.push(`${url}: ${err.message}`));
        page.on('console', (msg) => {
            // A 401 for the first, token-less request is expected behind a token.
            if (msg.type() === 'error' && !/status of 401/.test(msg.text())) pageErrors.push(`${url}: console: ${msg.text()}`);
        });
        await page.goto(url);
        if (ready) await waitReady(page);
        return { page, context };
    }

    // html[data-state="ready"]: the first answers from the API (or, after a year switch or a
    // token, the new ones) are on the page.
    async function waitReady(page, timeout = 10000) {
        try {
            await page.waitForSelector('html[data-state="ready"]', { state: 'attached', timeout });
        } catch {
            assert.fail(`the page never became ready: html[data-state=${JSON.stringify(await page.getAttribute('html', 'data-state'))}]`);
        }
    }

    async function expectCsvDownload(page) {
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 5000 }), page.click('#csv-link')]);
        assert.match(download.suggestedFilename(), /^hocvu-wards-\d{4}-\d{2}-\d{2}\.csv$/);
        const csv = fs.readFileSync(await download.path(), 'utf8');
        assert.ok(csv.startsWith('\uFEFFrank,code,name,'), `CSV starts with ${JSON.stringify(csv.slice(0, 40))}`);
        assert.equal(csv.trim().split('\n').length, 104, 'header and 103 wards');
    }

    const text = (page, sel) => page.locator(sel).first().textContent();

    // Waits until the page shows `want` in `sel`; fails with what it showed instead.
    async function expectText(page, sel, want, timeout = 5000) {
        try {
            await page.waitForFunction(([s, w]) => document.querySelector(s)?.textContent.trim() === w, [sel, want], {
                timeout,
            });
        } catch {
            assert.fail(`${sel}: page shows ${JSON.stringify(await text(page, sel))}, expected ${JSON.stringify(want)}`);
        }
    }

    test('shows the numbers the API serves, in Vietnamese format', async () => {
        await withLogs(srv, async () => {
            const { page, context } = await openPage(`${srv.url}/`);
            assert.equal(await page.title(), 'Bình dân học vụ số — Cần Thơ');
            assert.equal(await page.getAttribute('html', 'lang'), 'vi');
            const p = await getJson(`${srv.url}/v1/progress`);
            assert.equal((await text(page, '#city-adults')).trim(), viInt(p.certified_adults));
            assert.equal((await text(page, '#city-target')).trim(), '996.000');
            assert.equal((await text(page, '#city-percent')).trim(), viPct(p.percent));
            assert.equal((await text(page, '#city-remaining')).trim(), viInt(p.remaining));
            assert.equal((await text(page, '#wards-at-target')).trim(), viInt(p.wards_at_target));
            for (const g of GROUPS) assert.equal((await text(page, `#group-${g}`)).trim(), viInt(p.by_group[g]), g);
            // The year's targets by group, each with its progress.
            assert.equal(p.targets.length, 3);
            const shown = await page.$$eval('#targets-list li', (lis) =>
                lis.map((li) => [li.dataset.group, li.dataset.measure, li.querySelector('.num').textContent]),
            );
            assert.deepEqual(
                shown,
                p.targets.map((t) => [t.group, t.measure, `${viInt(t.certified)} / ${viInt(t.target)} · ${viPct(t.percent)}`]),
            );
            assert.match(await text(page, '#as-of'), /\d{2}:\d{2}:\d{2} \d{2}\/\d{2}\/20\d\d/);

            // The table: every ward, ranked as the API ranks them, with the API's numbers.
            const { wards: list } = await getJson(`${srv.url}/v1/wards`);
            const rows = await page.$$eval('#ward-table tbody tr[data-code]', (trs) =>
                trs.map((tr) => ({ code: tr.dataset.code, cells: [...tr.cells].map((td) => td.textContent.trim()) })),
            );
            assert.deepEqual(
                rows.map((r) => r.code),
                list.map((w) => w.code),
                'rows in rank order',
            );
            for (const [i, w] of list.entries()) {
                const c = rows[i].cells;
                assert.equal(c[0], viInt(w.rank));
                assert.equal(c[3], w.type === 'phuong' ? 'Phường' : 'Xã');
                assert.equal(c[4], viInt(w.certified_adults), `${w.code} adults`);
                assert.equal(c[5], viInt(w.certified_total), `${w.code} total`);
                if (w.target === null) {
                    assert.equal(c[6], 'chưa có chỉ tiêu', `${w.code} has no target`);
                    assert.equal(c[7], '—');
                } else if (w.target_estimated) {
                    assert.equal(c[6], `≈ ${viInt(w.target)}`, `${w.code} estimated target`);
                } else {
                    assert.equal(c[6], viInt(w.target));
                }
                if (w.percent !== null) assert.equal(c[7], viPct(w.percent));
                assert.equal(c[8], w.reached_on ? w.reached_on.split('-').reverse().join('/') : '—', `${w.code} reached_on`);
            }
            assert.ok(list.some((w) => w.target === null), 'the data set has wards without a target');
            const estimatedTitle = await page.getAttribute('#ward-table tbody .estimated', 'title');
            assert.equal(estimatedTitle, 'ước tính theo dân số');

            // The chart draws one bar per day of the default series.
            const series = await getJson(`${srv.url}/v1/timeseries`);
            assert.equal(await page.locator('#chart rect.bar-new').count(), series.points.length);
            assert.equal(await page.locator('#chart path.line-cum').count(), series.points.length > 1 ? 1 : 0);

            await expectCsvDownload(page);

            // The reports panel: the frozen report with its digest and its downloads.
            assert.equal(await page.locator(`#reports-table tr[data-id="${reportId}"]`).count(), 1);
            const cells = await page.$$eval(`#reports-table tr[data-id="${reportId}"] td`, (tds) => tds.map((td) => td.textContent.trim()));
            assert.equal(cells[0], 'Báo cáo năm 2025');
            assert.equal(cells[1], '31/12/2025');
            assert.equal(cells[2], '2025');
            assert.equal(cells[3], `${reportDigest.slice(0, 12)}…`);
            assert.equal(await page.getAttribute(`#reports-table tr[data-id="${reportId}"] .digest`, 'title'), reportDigest);
            const hrefs = await page.$$eval(`#reports-table tr[data-id="${reportId}"] a`, (as) => as.map((a) => a.getAttribute('href')));
            assert.deepEqual(hrefs, [`v1/reports/${reportId}.csv`, `v1/reports/${reportId}.xlsx`, `v1/reports/${reportId}`]);
            const [xdl] = await Promise.all([page.waitForEvent('download', { timeout: 5000 }), page.click(`#reports-table tr[data-id="${reportId}"] a[href$=".xlsx"]`)]);
            assert.equal(xdl.suggestedFilename(), `hocvu-report-${reportId}.xlsx`);

            // The year switch: the current year is shown; 2025 shows the counts as of its end,
            // with its targets, and the CSV link follows.
            assert.equal(await page.inputValue('#year'), String(p.year));
            const years = await page.$$eval('#year option', (os) => os.map((o) => o.value));
            assert.equal(years.at(-1), '2025');
            assert.equal(years[0], String(p.year));
            if (p.year > 2025) {
                const p25 = await getJson(`${srv.url}/v1/progress?year=2025`);
                // The switch reloads everything: loading, then ready with the year's numbers.
                await page.selectOption('#year', '2025');
                await waitReady(page);
                assert.equal((await text(page, '#city-adults')).trim(), viInt(p25.certified_adults));
                assert.equal(await page.getAttribute('#csv-link', 'href'), 'v1/reports/wards.csv?year=2025');
                const w25 = (await getJson(`${srv.url}/v1/wards?year=2025`)).wards;
                assert.equal(await page.getAttribute('#ward-table tbody tr[data-code]', 'data-code'), w25[0].code);
                await page.selectOption('#year', String(p.year));
                await waitReady(page);
                assert.equal((await text(page, '#city-adults')).trim(), viInt(p.certified_adults));
            }

            await context.close();
        });
    });

    test('search ignores diacritics and case; headers sort', async () => {
        await withLogs(srv, async () => {
            const { page, context } = await openPage(`${srv.url}/`);
            const codes = () => page.$$eval('#ward-table tbody tr[data-code]', (trs) => trs.map((tr) => tr.dataset.code));
            assert.equal((await codes()).length, 103);

            // The table follows the search box as it is typed in (no fetch involved).
            await page.fill('#ward-search', 'ninh kieu');
            assert.deepEqual(await codes(), ['31135'], '"ninh kieu" finds Phường Ninh Kiều only');

            // đ is not decomposed by NFD: "dong thuan" must still find "Xã Đông Thuận".
            const withD = wards().filter((w) => w.name.includes('Đ'));
            for (const w of withD.slice(0, 3)) {
                const q = fold(w.name).replace(/^(phuong|xa) /, '').toUpperCase();
                await page.fill('#ward-search', q);
                const expected = wards()
                    .filter((x) => fold(`${x.name} ${x.code}`).includes(q.toLowerCase()))
                    .map((x) => x.code)
                    .sort();
                assert.deepEqual((await codes()).sort(), expected, `search ${q}`);
            }

            await page.fill('#ward-search', 'zzz-không-có');
            assert.deepEqual(await codes(), []);
            await page.fill('#ward-search', '');
            assert.equal((await codes()).length, 103);

            // Sorting by code, then reversed; aria-sort follows.
            const sorted = wards().map((w) => w.code).sort();
            await page.click('#ward-table th button[data-key="code"]');
            assert.deepEqual(await codes(), sorted);
            assert.equal(await page.getAttribute('#ward-table th:nth-child(2)', 'aria-sort'), 'ascending');
            await page.click('#ward-table th button[data-key="code"]');
            assert.deepEqual(await codes(), sorted.slice().reverse());
            assert.equal(await page.getAttribute('#ward-table th:nth-child(2)', 'aria-sort'), 'descending');
            // Counts sort largest first.
            await page.click('#ward-table th button[data-key="certified_adults"]');
            const adults = await page.$$eval('#ward-table tbody tr[data-code] td:nth-child(5)', (tds) =>
                tds.map((td) => Number(td.textContent.replace(/\./g, ''))),
            );
            assert.deepEqual(adults, adults.slice().sort((a, b) => b - a));
            await context.close();
        });
    });

    test('follows new events live over SSE, without a reload', async (t) => {
        await withLogs(srv, async () => {
            const { page, context } = await openPage(`${srv.url}/`);
            const before = await getJson(`${srv.url}/v1/progress`);
            assert.equal((await text(page, '#city-adults')).trim(), viInt(before.certified_adults));
            await page.waitForSelector('#live[data-state="live"]', { timeout: 5000 });
            await page.evaluate(() => {
                window.__notReloaded = true;
            });
            const ward = '31135';
            const wardBefore = (await getJson(`${srv.url}/v1/wards/${ward}`)).certified_adults;

            for (let i = 0; i < 5; i++) {
                const r = await postEvent(srv.url, {
                    secret: srv.secret,
                    body: event({ ward_code: ward, group: 'worker', citizen_id: genCitizenId({ year: 1985 }), timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }),
                });
                assert.equal(r.status, 200, r.text);
            }
            const started = Date.now();
            await expectText(page, '#city-adults', viInt(before.certified_adults + 5), 5000);
            const seconds = (Date.now() - started) / 1000;
            await expectText(page, '#group-worker', viInt(before.by_group.worker + 5), 1000);
            // Wards and the chart follow within the page's refresh gap (3 s) after the event.
            await expectText(page, `#ward-table tbody tr[data-code="${ward}"] td:nth-child(5)`, viInt(wardBefore + 5), 8000);
            assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page was not reloaded');
            assert.equal(await page.getAttribute('#live', 'data-state'), 'live');

            // The desktop screenshot for the README, with live numbers on it. Written to the
            // build dir every run; docs/dashboard.png only when missing or asked for, so test
            // runs do not leave a modified file in the work tree.
            await page.evaluate(() => window.scrollTo(0, 0));
            const shot = await page.screenshot({ fullPage: false });
            fs.writeFileSync(path.join(BIN_DIR, 'dashboard.png'), shot);
            const docsShot = path.join(SOURCE_DIR, 'docs/dashboard.png');
            if (process.env.HOCVU_UPDATE_SCREENSHOT === '1' || !fs.existsSync(docsShot)) fs.writeFileSync(docsShot, shot);
            // The whole page (targets, ranking, reports panel), for reviews.
            fs.writeFileSync(path.join(BIN_DIR, 'dashboard-full.png'), await page.screenshot({ fullPage: true }));
            await context.close();
            t.diagnostic(`page updated ${seconds.toFixed(1)} s after the events were accepted`);
        });
    });

    test('units view: by kind, ranked within the kind, searchable, by ward; supporters with the 5-mentee mark', async () => {
        await withLogs(srv, async () => {
            const { page, context } = await openPage(`${srv.url}/`);
            const api = await getJson(`${srv.url}/v1/cohorts`);
            // [code, rank, name and code, kind, ward, members, certified, target, %, reached_on]
            const rows = await page.$$eval('#unit-table tbody tr[data-code]', (trs) => trs.map((tr) => [tr.dataset.code, ...[...tr.children].map((td) => td.textContent.trim())]));
            // In the API's order, with its figures, in Vietnamese format.
            assert.deepEqual(rows.map((r) => r[0]), api.cohorts.map((c) => c.code));
            for (const [i, c] of api.cohorts.entries()) {
                assert.equal(rows[i][1], String(c.rank), c.code);
                assert.ok(rows[i][2].startsWith(c.name) && rows[i][2].endsWith(c.code), rows[i][2]);
                assert.equal(rows[i][5], viInt(c.members), c.code);
                assert.equal(rows[i][6], viInt(c.certified), c.code);
                assert.equal(rows[i][8].replace(/\s+/g, ''), c.percent === null ? '—' : viPct(c.percent), c.code);
            }
            const so = rows.find((r) => r[0] === 'SO-GD');
            assert.deepEqual([so[3], so[4], so[5], so[6]], ['Cơ quan', 'Phường Ninh Kiều', '6', '4']);
            // Agencies: UBND-CK (3 of 3) ranks above SO-GD (4 of 6) within its kind.
            assert.equal(rows.find((r) => r[0] === 'UBND-CK')[1], '1');
            assert.equal(so[1], '2');
            // The whole row fits a desktop screen: nothing to scroll sideways.
            assert.ok(await page.$eval('#units-section .table-scroll', (el) => el.scrollWidth <= el.clientWidth), 'the units table fits');
            await page.selectOption('#unit-kind', 'mentor');
            assert.deepEqual(await page.$$eval('#unit-table tbody tr[data-code]', (trs) => trs.map((tr) => tr.dataset.code)), ['MENTOR-A', 'MENTOR-B']);
            await page.selectOption('#unit-kind', '');
            await page.selectOption('#unit-ward', '31120');
            assert.deepEqual((await page.$$eval('#unit-table tbody tr[data-code]', (trs) => trs.map((tr) => tr.dataset.code))).sort(), ['MENTOR-B', 'UBND-CK']);
            await page.selectOption('#unit-ward', '');
            await page.fill('#unit-search', 'so giao duc');
            assert.deepEqual(await page.$$eval('#unit-table tbody tr[data-code]', (trs) => trs.map((tr) => tr.dataset.code)), ['SO-GD']);
            await page.fill('#unit-search', 'không có đơn vị này');
            await expectText(page, '#unit-table tbody td', 'Không tìm thấy đơn vị nào.');
            await page.fill('#unit-search', '');
            // Supporters: by certified people supported; a mentor's mark at 5.
            const sup = await page.$$eval('#supporter-table tbody tr[data-code]', (trs) => trs.map((tr) => [tr.dataset.code, ...[...tr.children].map((td) => td.textContent.trim())]));
            assert.deepEqual(sup.map((r) => r[0]), ['MENTOR-A', 'TEAM-1', 'MENTOR-B']);
            assert.deepEqual(sup.map((r) => r[6]), ['Đạt 5', '—', '2/5']);
            assert.deepEqual(sup.map((r) => r[5]), ['6', '3', '2']);
            await page.locator('#units-section').scrollIntoViewIfNeeded();
            const unitsShot = await page.locator('#units-section').screenshot();
            fs.writeFileSync(path.join(BIN_DIR, 'dashboard-units.png'), unitsShot);
            const docsUnits = path.join(SOURCE_DIR, 'docs/dashboard-units.png');
            if (process.env.HOCVU_UPDATE_SCREENSHOT === '1' || !fs.existsSync(docsUnits)) fs.writeFileSync(docsUnits, unitsShot);
            fs.writeFileSync(path.join(BIN_DIR, 'dashboard-supporters.png'), await page.locator('#supporters-section').screenshot());
            await context.close();
        });
    });

    // Every table of the page with its sideways scroll box: whether the box scrolls (or the
    // table fits), and whether each column header can be brought wholly into the box's inside
    // by scrolling it; the last one by scrolling to the far right, where it must also be the
    // topmost thing on screen at its centre (not cut off by anything around the box).
    function tableReach(page) {
        return page.evaluate(() =>
            [...document.querySelectorAll('table')].map((table) => {
                const box = table.closest('.table-scroll');
                const heads = [...table.tHead.rows[0].cells];
                const name = table.id || table.tHead.textContent.trim().slice(0, 20);
                if (!box) return { name, box: false };
                const inside = () => {
                    const r = box.getBoundingClientRect();
                    return { left: r.left + box.clientLeft, right: r.left + box.clientLeft + box.clientWidth };
                };
                const shown = (th) => {
                    const r = th.getBoundingClientRect();
                    const i = inside();
                    return r.width > 0 && r.left >= i.left - 0.5 && r.right <= i.right + 0.5;
                };
                const unreachable = [];
                for (const th of heads) {
                    box.scrollLeft = 0;
                    box.scrollLeft = th.getBoundingClientRect().left - inside().left;
                    if (!shown(th)) unreachable.push(th.textContent.trim());
                }
                const last = heads.at(-1);
                box.scrollLeft = box.scrollWidth;
                const atRight = box.scrollLeft;
                last.scrollIntoView({ block: 'center', inline: 'nearest' });
                const r = last.getBoundingClientRect();
                const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
                const result = {
                    name,
                    box: true,
                    overflowX: getComputedStyle(box).overflowX,
                    scrolls: box.scrollWidth > box.clientWidth,
                    fits: box.scrollWidth <= box.clientWidth,
                    atRight,
                    lastShown: shown(last),
                    lastOnTop: last.contains(top),
                    last: last.textContent.trim(),
                    unreachable,
                    boxRight: box.getBoundingClientRect().right,
                };
                box.scrollLeft = 0;
                return result;
            }),
        );
    }

    test('fits a phone: every table scrolls sideways in its own box, every column reachable; the page never does', async () => {
        await withLogs(srv, async () => {
            const { page, context } = await openPage(`${srv.url}/`, { device: PHONE });
            const m = await page.evaluate(() => {
                // Tables scroll sideways inside their own containers; nothing else may stick out.
                const scrollers = [...document.querySelectorAll('.table-scroll')];
                const wide = [...document.body.querySelectorAll('*')]
                    .filter((el) => !scrollers.some((sc) => sc.contains(el)) && el.getBoundingClientRect().right > window.innerWidth + 1)
                    .map((el) => el.id || el.tagName);
                return {
                    page: document.documentElement.scrollWidth,
                    viewport: window.innerWidth,
                    dpr: window.devicePixelRatio,
                    wide,
                    meta: document.querySelector('meta[name="viewport"]')?.content,
                };
            });
            assert.match(m.meta, /width=device-width/);
            assert.equal(m.viewport, 390);
            assert.equal(m.dpr, 3);
            assert.ok(m.page <= m.viewport, `page is ${m.page}px wide on a ${m.viewport}px screen`);
            assert.deepEqual(m.wide, [], 'elements sticking out of the screen');

            const tables = await tableReach(page);
            assert.ok(tables.length >= 4, `tables: ${tables.map((t) => t.name)}`);
            for (const t of tables) {
                assert.ok(t.box, `${t.name} has its own scroll box`);
                assert.match(t.overflowX, /^(auto|scroll)$/, `${t.name} box overflow-x`);
                assert.ok(t.scrolls || t.fits, `${t.name} scrolls or fits`);
                assert.ok(t.boxRight <= m.viewport + 0.5, `${t.name} box ends at ${t.boxRight}px on a ${m.viewport}px screen`);
                assert.deepEqual(t.unreachable, [], `${t.name}: columns that scrolling cannot bring into view`);
                assert.ok(t.lastShown, `${t.name}: scrolled to the far right, the last column (${t.last}) is in view`);
                assert.ok(t.lastOnTop, `${t.name}: the last column header (${t.last}) is not hidden under something`);
            }
            // The ranking is wider than a phone: it scrolls, and only inside its box.
            const ranking = tables.find((t) => t.name === 'ward-table');
            assert.ok(ranking.scrolls && ranking.atRight > 0, 'the ranking table scrolls inside its box');
            // As a user does it: a sideways wheel over the ranking scrolls it to its last column,
            // the page stays put sideways, and the box says there are columns to its left.
            await page.evaluate(() => document.querySelector('#ward-table thead').scrollIntoView({ block: 'start' }));
            const box = await page.locator('#table-scroll').boundingBox();
            await page.mouse.move(box.x + box.width / 2, Math.max(box.y, 0) + 60);
            await page.mouse.wheel(4000, 0);
            await page.waitForFunction(() => {
                const b = document.querySelector('#table-scroll');
                return b.scrollLeft > 0 && b.scrollLeft >= b.scrollWidth - b.clientWidth - 1;
            });
            const after = await page.evaluate(() => {
                const b = document.querySelector('#table-scroll');
                const i = b.getBoundingClientRect();
                const th = document.querySelector('#ward-table thead th:last-child').getBoundingClientRect();
                return { scrollX: window.scrollX, page: document.documentElement.scrollWidth, more: b.dataset.more, th: [th.left, th.right], box: [i.left + b.clientLeft, i.left + b.clientLeft + b.clientWidth] };
            });
            assert.equal(after.scrollX, 0, 'the page does not scroll sideways');
            assert.ok(after.page <= m.viewport);
            assert.ok(after.th[0] >= after.box[0] - 0.5 && after.th[1] <= after.box[1] + 0.5, `last header ${after.th} inside ${after.box}`);
            assert.equal(after.more, 'left', 'at the far right, only the left edge has more columns');
            fs.writeFileSync(path.join(BIN_DIR, 'dashboard-phone-table.png'), await page.screenshot({ fullPage: false }));
            await page.evaluate(() => window.scrollTo(0, 0));
            fs.writeFileSync(path.join(BIN_DIR, 'dashboard-phone.png'), await page.screenshot({ fullPage: false }));
            await context.close();
        });
    });

    // The chart's axis labels as drawn: every <text> of the chart but the "no data" note, with
    // its box in CSS px. Dates (dd/mm) are the x axis; numbers left or right of the chart's
    // middle are the left (new per day) and right (cumulative) axes.
    function chartLabels(page) {
        return page.evaluate(() => {
            const chart = document.querySelector('#chart').getBoundingClientRect();
            return [...document.querySelectorAll('#chart text:not(.empty)')].map((t) => {
                const r = t.getBoundingClientRect();
                const text = t.textContent.trim();
                const axis = /^\d{2}\/\d{2}$/.test(text) ? 'x' : (r.left + r.right) / 2 < (chart.left + chart.right) / 2 ? 'left' : 'right';
                return { axis, text, left: r.left, right: r.right, top: r.top, bottom: r.bottom, chart: [chart.left, chart.right] };
            });
        });
    }

    function assertLabelsClear(labels, what) {
        for (const axis of ['x', 'left', 'right']) {
            const on = labels.filter((l) => l.axis === axis);
            assert.ok(on.length > 0, `${what}: no ${axis} axis labels`);
            const texts = on.map((l) => l.text);
            assert.deepEqual(texts.filter((t, i) => texts.indexOf(t) !== i), [], `${what}: ${axis} axis labels drawn more than once`);
        }
        for (const l of labels) {
            assert.ok(l.right > l.left && l.bottom > l.top, `${what}: ${l.text} has an empty box`);
            assert.ok(l.left >= l.chart[0] - 0.5 && l.right <= l.chart[1] + 0.5, `${what}: ${l.axis} label ${l.text} sticks out of the chart`);
        }
        for (let i = 0; i < labels.length; i++) {
            for (let j = i + 1; j < labels.length; j++) {
                const a = labels[i];
                const b = labels[j];
                const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
                assert.ok(!overlap, `${what}: ${a.axis} label ${a.text} [${a.left.toFixed(1)}, ${a.right.toFixed(1)}] overlaps ${b.axis} label ${b.text} [${b.left.toFixed(1)}, ${b.right.toFixed(1)}]`);
            }
        }
    }

    test('chart axis labels never overlap or repeat, on a desktop and on a phone', async () => {
        await withLogs(srv, async () => {
            const vnDay = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric', month: '2-digit', day: '2-digit' });
            const today = (back) => vnDay.format(new Date(Date.now() - back * DAY_MS));
            // The city's series over each range the page offers, and one ward per length of
            // series (1 day, 2 days, ...): together they hit every way of spacing the dates.
            const scenarios = [];
            for (const range of ['', '90', '30']) {
                const qs = range ? `?from=${today(Number(range) - 1)}&to=${today(0)}` : '';
                scenarios.push({ ward: '', range, points: (await getJson(`${srv.url}/v1/timeseries${qs}`)).points });
            }
            const byLength = new Map();
            for (const w of wards()) {
                const { points } = await getJson(`${srv.url}/v1/timeseries?ward=${w.code}`);
                if (points.some((pt) => pt.new > 0) && !byLength.has(points.length)) byLength.set(points.length, { ward: w.code, range: '', points });
            }
            scenarios.push(...[...byLength.keys()].sort((a, b) => a - b).map((n) => byLength.get(n)));
            assert.ok(byLength.size >= 5, `ward series of ${[...byLength.keys()]} days`);

            const fullDay = (iso) => iso.split('-').reverse().join('/');
            for (const [device, name] of [[DESKTOP, 'desktop'], [PHONE, 'phone']]) {
                const { page, context } = await openPage(`${srv.url}/`, { device });
                for (const sc of scenarios) {
                    const what = `${name}, ${sc.ward || 'city'}${sc.range ? `, last ${sc.range} days` : ''} (${sc.points.length} days)`;
                    await page.selectOption('#chart-range', sc.range);
                    await page.selectOption('#chart-ward', sc.ward);
                    // Drawn: a bar per day, each titled with its day and its count.
                    const bars = sc.points.map((pt) => `${fullDay(pt.date)}: ${viInt(pt.new)} `);
                    try {
                        await page.waitForFunction(
                            (want) => {
                                const rects = document.querySelectorAll('#chart rect.bar-new');
                                return rects.length === want.length && want.every((t, i) => rects[i].textContent.startsWith(t));
                            },
                            bars,
                            { timeout: 5000 },
                        );
                    } catch {
                        assert.fail(`${what}: the chart does not show the series`);
                    }
                    const labels = await chartLabels(page);
                    assertLabelsClear(labels, what);
                    // The last day is always labelled.
                    const lastDay = fullDay(sc.points.at(-1).date).slice(0, 5);
                    assert.ok(labels.some((l) => l.axis === 'x' && l.text === lastDay), `${what}: last day ${lastDay} not labelled`);
                }
                await context.close();
            }
        });
    });

    test('data-state: loading, error when the first load fails, ready after a later refresh', async () => {
        await withLogs(srv, async () => {
            // As served, before any script runs: loading.
            assert.match((await request(`${srv.url}/`)).text, /<html [^>]*data-state="loading"/);
            const context = await browser.newContext({ ...DESKTOP, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
            const page = await context.newPage();
            page.on('pageerror', (err) => pageErrors.push(`data-state: ${err.message}`));
            // The first ward list fails (a 503 from a proxy, say); everything after goes through.
            let refused = 0;
            await context.route(/\/v1\/wards(\?|$)/, (route) => {
                if (refused++ === 0) return route.fulfill({ status: 503, contentType: 'application/problem+json', body: '{"title":"Service Unavailable"}' });
                return route.continue();
            });
            await page.goto(`${srv.url}/`, { waitUntil: 'commit' });
            const states = [];
            await page.exposeFunction('__hocvuState', (v) => states.push(v));
            await page.evaluate(() => {
                window.__hocvuState(document.documentElement.dataset.state);
                new MutationObserver(() => window.__hocvuState(document.documentElement.dataset.state)).observe(document.documentElement, { attributeFilter: ['data-state'] });
            });
            await page.waitForSelector('html[data-state="error"]', { state: 'attached', timeout: 5000 });
            // The stream's progress event brings a refresh of the details: ready.
            await waitReady(page, 15000);
            assert.equal(refused >= 2, true, 'the ward list was asked for again');
            assert.equal(await page.locator('#ward-table tbody tr[data-code]').count(), 103);
            const p = await getJson(`${srv.url}/v1/progress`);
            assert.equal((await text(page, '#city-adults')).trim(), viInt(p.certified_adults));
            assert.equal(await page.isVisible('#error'), false, 'the error banner is gone');
            assert.deepEqual(states.filter((v, i) => v !== states[i - 1]).slice(-2), ['error', 'ready']);
            assert.ok(['loading', 'error'].includes(states[0]), `first state ${states[0]}`);
            await context.close();
        });
    });

    test('behind read tokens: asks for a token, then polls with it', async () => {
        await withLogs(locked, async () => {
            const { page, context } = await openPage(`${locked.url}/`, { ready: false });
            await page.waitForSelector('#auth:not([hidden])', { timeout: 5000 });
            // Refused without a token: no data, so the page is not ready.
            assert.equal(await page.getAttribute('html', 'data-state'), 'error');
            await page.fill('#token', token);
            await page.click('#auth-form button[type="submit"]');
            await waitReady(page);
            const p = await getJson(`${locked.url}/v1/progress`, { headers: { authorization: `Bearer ${token}` } });
            assert.equal((await text(page, '#city-adults')).trim(), viInt(p.certified_adults));
            assert.equal(await page.evaluate(() => sessionStorage.getItem('hocvu.readToken')), token);
            await page.waitForSelector('#live[data-state="polling"]', { timeout: 5000 });
            assert.equal(await page.locator('#ward-table tbody tr[data-code]').count(), 103);

            const r = await postEvent(locked.url, {
                secret: locked.secret,
                body: event({ citizen_id: genCitizenId({ year: 1970 }), timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }),
            });
            assert.equal(r.status, 200, r.text);
            // Snapshot refresh (≤ 1 s) plus one polling period (2 s).
            await expectText(page, '#city-adults', viInt(p.certified_adults + 1), 5000);

            // The CSV link fetches with the token and still downloads under the server's name.
            await expectCsvDownload(page);

            // A reload keeps the token for the tab.
            await page.reload();
            await waitReady(page);
            assert.equal((await text(page, '#city-adults')).trim(), viInt(p.certified_adults + 1));
            assert.equal(await page.isHidden('#auth'), true);
            await context.close();
        });
    });

    test('no script errors', () => {
        assert.deepEqual(pageErrors, []);
    });
});
