// ingest_status.test.mjs - every answer of POST /v1/events in CONTRACT §4: each status and
// problem code, signature rules (rotation, unknown versions), limits, and that nothing secret
// or personal leaks into replies or logs.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    event,
    genCitizenId,
    genSecret,
    getJson,
    legacyWards,
    newDatabase,
    newMessageId,
    nowSeconds,
    postEvent,
    provinceCodes,
    request,
    sharedPostgres,
    sharedRedis,
    sign,
    startHocvud,
    waitFor,
    withLogs,
} from './lib/harness.mjs';

let srv;
let secret;
let secret2;
const sentCitizenIds = new Set();
const replies = []; // every reply text, checked for leaks at the end

// Most events here go to this ward; 31135 is kept for the legacy-code test, which counts it.
const WARD = '31147';

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    const dbUrl = await newDatabase(pg);
    secret = genSecret();
    secret2 = genSecret(24);
    srv = await startHocvud({ dbUrl, redisUrl: redis.url, secrets: [secret, secret2] });
});

after(async () => {
    if (srv) await srv.stop();
});

// Posts `ev` (object or raw) signed with `secret` unless options say otherwise.
async function post(ev, opts = {}) {
    if (ev && typeof ev === 'object' && ev.data?.citizen_id) sentCitizenIds.add(String(ev.data.citizen_id));
    const res = await postEvent(srv.url, { body: ev, secret, ...opts });
    replies.push(res.text);
    return res;
}

function assertOk(res, status) {
    assert.equal(res.status, 200, `expected 200 ${status}, got ${res.status}: ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json, { status });
}

function assertProblem(res, status, code, field) {
    assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/, 'problem content type');
    assert.ok(res.json && typeof res.json === 'object', `problem body is JSON: ${res.text}`);
    assert.equal(res.json.code, code, `code in ${res.text}`);
    assert.equal(res.json.status, status, `status member in ${res.text}`);
    assert.equal(typeof res.json.type, 'string', `type member in ${res.text}`);
    assert.equal(typeof res.json.title, 'string', `title member in ${res.text}`);
    assert.equal(typeof res.json.detail, 'string', `detail member in ${res.text}`);
    if (field !== undefined) assert.equal(res.json.field, field, `field member in ${res.text}`);
}

const issued = (over = {}) => event({ ward_code: WARD, ...over });

describe('accepted and duplicate', () => {
    test('a valid certificate.issued is accepted, its redelivery is a duplicate', async () => {
        await withLogs(srv, async () => {
            const ev = issued({ course_id: 'kns-co-ban', score: 86, birth_date: '1990-05-17', citizen_id: genCitizenId({ year: 1990 }) });
            const id = newMessageId();
            const ts = nowSeconds();
            assertOk(await post(ev, { id, ts }), 'accepted');
            assertOk(await post(ev, { id, ts }), 'duplicate');
            // A retry is re-signed with a fresh timestamp by real senders.
            assertOk(await post(ev, { id, ts: ts + 1 }), 'duplicate');
        });
    });

    test('the same certificate for the same person under a new webhook-id is a duplicate', async () => {
        await withLogs(srv, async () => {
            const ev = issued();
            assertOk(await post(ev), 'accepted');
            assertOk(await post(ev), 'duplicate');
        });
    });

    test('charset parameter, unknown fields and all four groups are accepted', async () => {
        await withLogs(srv, async () => {
            assertOk(await post(issued(), { contentType: 'application/json; charset=utf-8' }), 'accepted');
            assertOk(
                await post(issued({ extra: { source: 'mooc', nested: { a: [1, 2] } }, dataExtra: { teacher: 'x' } })),
                'accepted',
            );
            for (const group of ['citizen', 'official', 'student', 'worker']) {
                assertOk(await post(issued({ group })), 'accepted');
            }
        });
    });

    test('a revocation needs only citizen_id and certificate_id', async () => {
        await withLogs(srv, async () => {
            const citizen_id = genCitizenId();
            const certificate_id = `REV-${newMessageId()}`;
            assertOk(await post(issued({ citizen_id, certificate_id })), 'accepted');
            const rev = { type: 'certificate.revoked', timestamp: '2025-09-16T09:00:00+07:00', data: { citizen_id, certificate_id } };
            assertOk(await post(rev), 'accepted');
            // A second revocation of the same certificate changes nothing.
            assertOk(await post(rev), 'duplicate');
        });
    });

    test('an event timestamp up to 5 minutes in the future is accepted', async () => {
        await withLogs(srv, async () => {
            const ts = new Date(Date.now() + 120 * 1000).toISOString();
            assertOk(await post(issued({ timestamp: ts })), 'accepted');
        });
    });
});

describe('400 invalid_json / invalid_event', () => {
    test('bodies that are not JSON', async () => {
        await withLogs(srv, async () => {
            assertProblem(await post('{"type": "certificate.issued", '), 400, 'invalid_json');
            assertProblem(await post('not json at all'), 400, 'invalid_json');
            assertProblem(await post(''), 400, 'invalid_json');
        });
    });

    const cases = [
        ['missing data.citizen_id', (e) => delete e.data.citizen_id, 'data.citizen_id'],
        ['missing data.certificate_id', (e) => delete e.data.certificate_id, 'data.certificate_id'],
        ['missing data.ward_code', (e) => delete e.data.ward_code, 'data.ward_code'],
        ['missing data.group', (e) => delete e.data.group, 'data.group'],
        ['missing type', (e) => delete e.type, 'type'],
        ['missing timestamp', (e) => delete e.timestamp, 'timestamp'],
        ['missing data', (e) => delete e.data, 'data'],
        ['citizen_id is a number', (e) => (e.data.citizen_id = 92190012345), 'data.citizen_id'],
        ['certificate_id is a number', (e) => (e.data.certificate_id = 123), 'data.certificate_id'],
        ['ward_code is a number', (e) => (e.data.ward_code = 31135), 'data.ward_code'],
        ['group is an array', (e) => (e.data.group = ['citizen']), 'data.group'],
        ['data is a string', (e) => (e.data = 'x'), 'data'],
        ['timestamp is a number', (e) => (e.timestamp = 1760000000), 'timestamp'],
    ];
    for (const [name, mutate, field] of cases) {
        test(name, async () => {
            await withLogs(srv, async () => {
                const ev = issued();
                mutate(ev);
                assertProblem(await post(ev), 400, 'invalid_event', field);
            });
        });
    }

    test('a JSON array or scalar is not an event', async () => {
        await withLogs(srv, async () => {
            for (const raw of ['[]', '42', '"x"', 'null']) {
                const res = await post(raw);
                assert.equal(res.status, 400, `${raw}: ${res.status} ${res.text}`);
                assert.ok(['invalid_event', 'invalid_json'].includes(res.json?.code), `${raw}: ${res.text}`);
            }
        });
    });
});

describe('401 invalid_signature / stale_timestamp', () => {
    for (const header of ['webhook-signature', 'webhook-id', 'webhook-timestamp']) {
        test(`missing ${header}`, async () => {
            await withLogs(srv, async () => {
                assertProblem(await post(issued(), { headers: { [header]: null } }), 401, 'invalid_signature');
            });
        });
    }

    test('wrong signatures', async () => {
        await withLogs(srv, async () => {
            const ev = issued();
            const raw = JSON.stringify(ev);
            const id = newMessageId();
            const ts = nowSeconds();
            const bad = [
                `v1,${Buffer.alloc(32, 7).toString('base64')}`,
                sign(genSecret(), id, ts, raw), // an unknown secret
                sign(secret, id, ts, raw + ' '), // signed another body
                sign(secret, `${id}x`, ts, raw), // signed another id
                sign(secret, id, ts + 1, raw), // signed another timestamp
                'garbage',
                'v1,',
                '',
            ];
            for (const signature of bad) {
                assertProblem(await post(raw, { id, ts, signature }), 401, 'invalid_signature');
            }
            // The body was tampered with after signing.
            const tampered = raw.replace(WARD, '31120');
            assertProblem(await post(tampered, { id, ts, signature: sign(secret, id, ts, raw) }), 401, 'invalid_signature');
        });
    });

    test('unknown signature versions are skipped', async () => {
        await withLogs(srv, async () => {
            const raw = JSON.stringify(issued());
            const id = newMessageId();
            const ts = nowSeconds();
            const good = sign(secret, id, ts, raw);
            const mac = good.slice(3);
            // Only an unknown version, even with a correct MAC: nothing verifies.
            assertProblem(await post(raw, { id, ts, signature: `v2,${mac}` }), 401, 'invalid_signature');
            assertProblem(await post(raw, { id, ts, signature: `v1a,${mac}` }), 401, 'invalid_signature');
            // Unknown versions and wrong v1 signatures before a good one do not prevent a match.
            const list = `v2,${mac} v1,${Buffer.alloc(32).toString('base64')} v1a,zzz ${good}`;
            assertOk(await post(raw, { id, ts, signature: list }), 'accepted');
        });
    });

    test('rotation: any configured secret verifies', async () => {
        await withLogs(srv, async () => {
            assertOk(await post(issued(), { secret: secret2 }), 'accepted');
            const raw = JSON.stringify(issued());
            const id = newMessageId();
            const ts = nowSeconds();
            const both = `${sign(genSecret(), id, ts, raw)} ${sign(secret2, id, ts, raw)}`;
            assertOk(await post(raw, { id, ts, signature: both }), 'accepted');
        });
    });

    test('webhook-timestamp outside the tolerance', async () => {
        await withLogs(srv, async () => {
            assertProblem(await post(issued(), { ts: nowSeconds() - 400 }), 401, 'stale_timestamp');
            assertProblem(await post(issued(), { ts: nowSeconds() + 400 }), 401, 'stale_timestamp');
            assertProblem(await post(issued(), { ts: nowSeconds() - 86400 * 365 }), 401, 'stale_timestamp');
            assertOk(await post(issued(), { ts: nowSeconds() - 200 }), 'accepted');
            assertOk(await post(issued(), { ts: nowSeconds() + 200 }), 'accepted');
        });
    });

    test('a webhook-timestamp that is not an integer is refused', async () => {
        await withLogs(srv, async () => {
            for (const ts of ['abc', '1.5e9', '']) {
                const res = await post(issued(), { ts });
                assert.equal(res.status, 401, `ts ${JSON.stringify(ts)}: ${res.status} ${res.text}`);
                assert.ok(['invalid_signature', 'stale_timestamp'].includes(res.json?.code), res.text);
            }
        });
    });
});

describe('413, 409, 415', () => {
    // An event padded with an ignored member to exactly `size` bytes.
    function padded(size) {
        const ev = issued({ extra: { padding: '' } });
        const base = Buffer.byteLength(JSON.stringify(ev));
        ev.padding = 'x'.repeat(size - base);
        const raw = JSON.stringify(ev);
        assert.equal(Buffer.byteLength(raw), size);
        return raw;
    }

    test('a body over 64 KiB is payload_too_large; exactly 64 KiB is fine', async () => {
        await withLogs(srv, async () => {
            assertOk(await post(padded(65536)), 'accepted');
            for (const size of [65537, 200 * 1024]) {
                let res;
                try {
                    res = await post(padded(size));
                } catch (err) {
                    assert.fail(`${size}-byte body: no HTTP answer (${err.message}); expected 413`);
                }
                assertProblem(res, 413, 'payload_too_large');
            }
        });
    });

    test('a certificate already issued to another person is certificate_conflict', async () => {
        await withLogs(srv, async () => {
            const certificate_id = `CONFLICT-${newMessageId()}`;
            assertOk(await post(issued({ certificate_id })), 'accepted');
            const other = issued({ certificate_id });
            const id = newMessageId();
            assertProblem(await post(other, { id }), 409, 'certificate_conflict');
            // Refused, not accepted: a redelivery is judged again, not called a duplicate.
            assertProblem(await post(other, { id }), 409, 'certificate_conflict');
        });
    });

    test('a body that is not application/json is unsupported_media_type', async () => {
        await withLogs(srv, async () => {
            for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/x-ndjson', null]) {
                assertProblem(await post(issued(), { contentType }), 415, 'unsupported_media_type');
            }
        });
    });
});

describe('422 well-formed but invalid', () => {
    const missingProvince = () => {
        const known = new Set(provinceCodes());
        for (let i = 1; i < 1000; i++) {
            const c = String(i).padStart(3, '0');
            if (!known.has(c)) return c;
        }
        throw new Error('no unused province code');
    };

    test('invalid citizen ids', async () => {
        await withLogs(srv, async () => {
            const good = genCitizenId({ year: 1990 });
            const bad = [
                good.slice(0, 11), // 11 digits
                `${good}0`, // 13 digits
                `${good.slice(0, 11)}a`,
                `${missingProvince()}${good.slice(3)}`, // no such province
                `092230${good.slice(6)}`, // born 2030, after the event's year (2025)
                '',
                '０９２１９００１２３４５', // full-width digits are not ASCII digits
            ];
            for (const citizen_id of bad) {
                const res = await post(issued({ citizen_id }));
                assertProblem(res, 422, 'invalid_citizen_id', 'data.citizen_id');
                assert.ok(!citizen_id || !res.text.includes(citizen_id), `reply repeats the citizen id: ${res.text}`);
            }
            // Born in the event's own year is valid (a baby's certificate is odd but well-formed).
            assertOk(await post(issued({ citizen_id: genCitizenId({ year: 2025 }) })), 'accepted');
        });
    });

    test('unknown ward codes', async () => {
        await withLogs(srv, async () => {
            for (const ward_code of ['99999', '00000', '3113', '311355', 'abcde']) {
                const res = await post(issued({ ward_code }));
                assert.ok([400, 422].includes(res.status), `${ward_code}: ${res.status} ${res.text}`);
                if (/^\d{5}$/.test(ward_code)) assertProblem(res, 422, 'unknown_ward', 'data.ward_code');
            }
        });
    });

    test('a split pre-2025 unit is ambiguous_ward and lists the candidates', async () => {
        await withLogs(srv, async () => {
            const split = legacyWards().find((l) => l.old_code === '31178');
            assert.ok(split && split.split && split.new_codes.length >= 2, 'data: 31178 is a split unit');
            const res = await post(issued({ ward_code: '31178' }));
            assertProblem(res, 422, 'ambiguous_ward', 'data.ward_code');
            for (const code of split.new_codes) assert.ok(res.text.includes(code), `candidate ${code} in ${res.text}`);
            if (Array.isArray(res.json.candidates)) {
                const codes = res.json.candidates.map((c) => (typeof c === 'string' ? c : c?.code));
                assert.deepEqual([...codes].sort(), [...split.new_codes].sort());
            }
        });
    });

    test('a pre-2025 code merged whole is counted under its current ward', async () => {
        await withLogs(srv, async () => {
            const legacy = legacyWards().find((l) => l.old_code === '31123');
            assert.deepEqual(legacy.new_codes, ['31135']);
            assertOk(await post(event({ ward_code: '31123', citizen_id: genCitizenId({ year: 1980 }) })), 'accepted');
            await waitFor(
                async () => {
                    const { wards } = await getJson(`${srv.url}/v1/wards`);
                    const w = wards.find((x) => x.code === '31135');
                    return w && w.certified_total === 1 && w.certified_adults === 1 ? w : null;
                },
                { timeout: 5000, what: 'ward 31135 to count the legacy-coded event' },
            );
            const { wards } = await getJson(`${srv.url}/v1/wards`);
            assert.equal(wards.find((x) => x.code === '31123'), undefined, 'old code is not listed as a ward');
        });
    });

    test('invalid groups', async () => {
        await withLogs(srv, async () => {
            for (const group of ['farmer', '', 'citizens']) {
                assertProblem(await post(issued({ group })), 422, 'invalid_group', 'data.group');
            }
        });
    });

    test('invalid event timestamps', async () => {
        await withLogs(srv, async () => {
            const future = new Date(Date.now() + 3600 * 1000).toISOString();
            for (const timestamp of [future, '2024-12-31T23:59:59+07:00', '2019-05-01T00:00:00Z', 'yesterday', '2025-13-01T00:00:00Z', '2025-09-15']) {
                assertProblem(await post(issued({ timestamp })), 422, 'invalid_timestamp', 'timestamp');
            }
        });
    });

    test('a birth_date that disagrees with the citizen id is refused', async () => {
        await withLogs(srv, async () => {
            for (const birth_date of ['1991-05-17', '1990-02-30', '17/05/1990']) {
                const res = await post(issued({ citizen_id: genCitizenId({ year: 1990 }), birth_date }));
                assert.equal(res.status, 422, `${birth_date}: ${res.status} ${res.text}`);
                assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
                assert.equal(res.json?.field, 'data.birth_date', res.text);
            }
        });
    });
});

describe('privacy', () => {
    test('no secret, pepper or raw citizen id in replies or logs', async () => {
        // A reply that fails must not echo the citizen id either (checked above); here the sum.
        const secrets = [secret, secret2, secret.slice(6), secret2.slice(6), srv.pepper];
        for (const text of replies) {
            for (const s of secrets) assert.ok(!text.includes(s), `a reply contains a secret: ${text}`);
        }
        for (const s of secrets) assert.ok(!srv.logs.includes(s), 'hocvud log contains a secret or the pepper');
        const leaked = [...sentCitizenIds].filter((id) => /^\d{12}$/.test(id) && srv.logs.includes(id));
        assert.deepEqual(leaked, [], 'hocvud log contains raw citizen ids');
        const r = await request(`${srv.url}/healthz`);
        assert.equal(r.status, 200);
    });
});
