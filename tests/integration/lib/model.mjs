// model.mjs - a reference implementation of CONTRACT §6 (what counts), used to predict the
// answer to every event and the exact counters, and to compare them with what hocvud serves.

import assert from 'node:assert/strict';

import { getJson, resolveWard, sleep, wards } from './harness.mjs';

export const GROUPS = ['citizen', 'official', 'student', 'worker'];

// Calendar date (YYYY-MM-DD) of an RFC 3339 instant in Vietnam time (UTC+07:00).
export function vnDate(ts) {
    const ms = Date.parse(ts);
    if (Number.isNaN(ms)) throw new Error(`bad timestamp ${ts}`);
    return new Date(ms + 7 * 3600 * 1000).toISOString().slice(0, 10);
}

export function birthYearOf(citizenId) {
    return 1900 + Math.floor(Number(citizenId[3]) / 2) * 100 + Number(citizenId.slice(4, 6));
}

// 18 or older on the certificate's (Vietnam) date: by exact date with birth_date, else by year.
export function isAdult(citizenId, ts, birthDate) {
    const day = vnDate(ts);
    if (birthDate) {
        const eighteenth = `${String(Number(birthDate.slice(0, 4)) + 18).padStart(4, '0')}${birthDate.slice(4)}`;
        return eighteenth <= day;
    }
    return Number(day.slice(0, 4)) - birthYearOf(citizenId) >= 18;
}

// Byte-wise comparison, as PostgreSQL's "C" collation orders certificate ids.
function cmpBytes(a, b) {
    return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class Model {
    constructor() {
        this.ids = new Set(); // accepted webhook-ids
        this.certs = new Map(); // cert id -> first accepted issue
        this.revoked = new Set(); // cert ids with an accepted revocation
    }

    // Applies one delivered message and returns the expected answer: 'accepted', 'duplicate'
    // or 'certificate_conflict'.
    apply(id, ev) {
        if (this.ids.has(id)) return 'duplicate';
        const d = ev.data;
        if (ev.type === 'certificate.revoked') {
            this.ids.add(id);
            if (this.revoked.has(d.certificate_id)) return 'duplicate';
            this.revoked.add(d.certificate_id);
            return 'accepted';
        }
        const prior = this.certs.get(d.certificate_id);
        if (prior) {
            if (prior.person !== d.citizen_id) return 'certificate_conflict';
            this.ids.add(id);
            return 'duplicate';
        }
        const ward = resolveWard(d.ward_code);
        if (!ward) throw new Error(`model: ward ${d.ward_code} does not resolve`);
        this.ids.add(id);
        this.certs.set(d.certificate_id, {
            cert: d.certificate_id,
            person: d.citizen_id,
            ward,
            group: d.group,
            ms: Date.parse(ev.timestamp),
            adult: isAdult(d.citizen_id, ev.timestamp, d.birth_date),
        });
        return 'accepted';
    }

    // Each certified person's earliest active certificate: Map person -> cert record.
    attribution() {
        const best = new Map();
        for (const c of this.certs.values()) {
            if (this.revoked.has(c.cert)) continue;
            const b = best.get(c.person);
            if (!b || c.ms < b.ms || (c.ms === b.ms && cmpBytes(c.cert, b.cert) < 0)) best.set(c.person, c);
        }
        return best;
    }

    // {wards: {code: {adults, total}}, adults, total, byGroup: {group: adults}}
    counts() {
        const out = { wards: {}, adults: 0, total: 0, byGroup: Object.fromEntries(GROUPS.map((g) => [g, 0])) };
        for (const w of wards()) out.wards[w.code] = { adults: 0, total: 0 };
        for (const c of this.attribution().values()) {
            const w = out.wards[c.ward];
            w.total += 1;
            out.total += 1;
            if (c.adult) {
                w.adults += 1;
                out.adults += 1;
                out.byGroup[c.group] += 1;
            }
        }
        return out;
    }
}

// Reads /v1/progress and /v1/wards and reports every difference from `expected` (a
// Model.counts() result). Returns [] when equal.
export async function countDiffs(url, expected, { wardCodes } = {}) {
    const diffs = [];
    const progress = await getJson(`${url}/v1/progress`);
    const list = await getJson(`${url}/v1/wards`);
    if (progress.certified_adults !== expected.adults) {
        diffs.push(`progress.certified_adults ${progress.certified_adults} != ${expected.adults}`);
    }
    if (progress.certified_total !== expected.total) {
        diffs.push(`progress.certified_total ${progress.certified_total} != ${expected.total}`);
    }
    for (const g of GROUPS) {
        if (progress.by_group?.[g] !== expected.byGroup[g]) {
            diffs.push(`progress.by_group.${g} ${progress.by_group?.[g]} != ${expected.byGroup[g]}`);
        }
    }
    const seen = new Map((list.wards || []).map((w) => [w.code, w]));
    for (const code of wardCodes || Object.keys(expected.wards)) {
        const e = expected.wards[code];
        const w = seen.get(code);
        if (!w) {
            diffs.push(`ward ${code} missing from /v1/wards`);
            continue;
        }
        if (w.certified_adults !== e.adults || w.certified_total !== e.total) {
            diffs.push(
                `ward ${code}: adults ${w.certified_adults} total ${w.certified_total}, ` +
                    `expected adults ${e.adults} total ${e.total}`,
            );
        }
    }
    return diffs;
}

// Polls until the served counts equal `expected` (reads may lag up to 2 s; we allow 5 s).
export async function expectCounts(url, expected, { timeout = 5000, wardCodes } = {}) {
    const deadline = Date.now() + timeout;
    let diffs;
    for (;;) {
        diffs = await countDiffs(url, expected, { wardCodes });
        if (diffs.length === 0) return;
        if (Date.now() > deadline) break;
        await sleep(150);
    }
    assert.fail(`served counts differ from the §6 model after ${timeout} ms:\n  ${diffs.slice(0, 30).join('\n  ')}`);
}
