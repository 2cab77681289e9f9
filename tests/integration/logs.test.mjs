// logs.test.mjs - the access log cannot be forged: a request path holding tabs, quotes, ANSI
// escapes and "level=error msg=..." (sent raw on a socket) is logged as one escaped value; every
// line hocvud writes parses as logfmt with each key once.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { newDatabase, sharedPostgres, sharedRedis, sleep, startHocvud } from './lib/harness.mjs';

let srv;

before(async () => {
    const pg = await sharedPostgres();
    srv = await startHocvud({ dbUrl: await newDatabase(pg), redisUrl: (await sharedRedis()).url });
});

after(async () => {
    if (srv) await srv.stop();
});

// A logfmt line as key/value pairs; throws on anything that is not logfmt.
function parseLogfmt(line) {
    const pairs = [];
    const re = /\s*([A-Za-z_][A-Za-z0-9_]*)=("((?:[^"\\]|\\.)*)"|[^\s"=]*)/y;
    let m;
    let at = 0;
    while (at < line.length && (m = re.exec(line))) {
        pairs.push([m[1], m[3] !== undefined ? m[3] : m[2]]);
        at = re.lastIndex;
    }
    if (line.slice(at).trim() !== '') throw new Error(`not logfmt at ${at}: ${JSON.stringify(line)}`);
    return pairs;
}

function rawRequest(port, bytes) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
        s.on('data', () => {});
        s.on('close', resolve);
        s.on('error', resolve);
    });
}

test('a forged path is one escaped value; every log line is logfmt with each key once', async () => {
    const forged = '/x\x1b[31mRED\tlevel=error\tmsg="forged"';
    await rawRequest(srv.port, Buffer.from(`GET ${forged} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
    await sleep(300);
    const lines = srv.logs.split('\n').filter((l) => l.trim());
    assert.ok(lines.length > 0);
    for (const l of lines) {
        assert.doesNotMatch(l, /[\x00-\x08\x0b-\x1f\x7f]/, `raw control byte in ${JSON.stringify(l)}`);
        const keys = parseLogfmt(l).map(([k]) => k);
        assert.equal(new Set(keys).size, keys.length, `a key twice in ${JSON.stringify(l)}`);
    }
    const access = lines.map(parseLogfmt).find((p) => p.some(([k, v]) => k === 'path' && v.includes('RED')));
    if (access) {
        const path = access.find(([k]) => k === 'path')[1];
        assert.equal(path, '/x\\x1b[31mRED\\x09level=error\\x09msg=\\"forged\\"');
        assert.equal(access.filter(([k]) => k === 'level').length, 1);
    }
});
