// framing.test.mjs - raw requests on real sockets against hocvud: conflicting or malformed
// framing is answered 400 and the connection closed (nothing after it is read as a request),
// bodies over a route's limit are refused from the head alone, valid chunk extensions and
// Expect: 100-continue work, and the connection cap answers 503.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
    event, genCitizenId, newDatabase, newMessageId, nowSeconds, sharedPostgres, sharedRedis, sign, sleep, startHocvud,
} from './lib/harness.mjs';

let srv;
let dbUrl;
let redisUrl;

before(async () => {
    const pg = await sharedPostgres();
    dbUrl = await newDatabase(pg);
    redisUrl = (await sharedRedis()).url;
    srv = await startHocvud({ dbUrl, redisUrl });
});

after(async () => {
    if (srv) await srv.stop();
});

// Opens a connection, writes `parts` (a Buffer/string or a list, each written after `gapMs`),
// and collects what the server sends until it closes or `waitMs` passes after the last write.
function raw(port, parts, { waitMs = 1500, gapMs = 0, onData } = {}) {
    const list = Array.isArray(parts) ? parts : [parts];
    return new Promise((resolve) => {
        const chunks = [];
        let closed = false;
        let timer;
        const s = net.connect(port, '127.0.0.1', async () => {
            for (const p of list) {
                if (s.destroyed) break;
                s.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
                if (gapMs) await sleep(gapMs);
            }
            timer = setTimeout(() => s.destroy(), waitMs);
        });
        s.on('data', (b) => {
            chunks.push(b);
            if (onData) onData(Buffer.concat(chunks).toString('latin1'), s);
        });
        s.on('end', () => (closed = true));
        s.on('close', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('latin1');
            resolve({ text, closed, statuses: [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])) });
        });
        s.on('error', () => {});
    });
}

const H = 'Host: x\r\n';

describe('refused framing: status, then the connection closes', () => {
    const cases = [
        ['two different Content-Length (smuggling)', `POST /v1/events HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 40\r\n\r\nhelloGET /healthz HTTP/1.1\r\n${H}\r\n`, 400],
        ['signed Content-Length', `POST /v1/events HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
        ['Content-Length and Transfer-Encoding', `POST /v1/events HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
        ['obs-fold', `GET /healthz HTTP/1.1\r\n${H}X-A: 1\r\n folded\r\n\r\n`, 400],
        ['NUL in a header value', `GET /healthz HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400],
        ['malformed chunk size', `POST /v1/events HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400],
        ['Host twice', `GET /healthz HTTP/1.1\r\n${H}${H}\r\n`, 400],
        ['a body on a route that takes none', `POST /healthz HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\nx`, 413],
        ['a body on GET', `GET /v1/progress HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, 413],
        ['an unsupported transfer coding', `POST /v1/events HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 501],
        ['an unknown method', `BREW /healthz HTTP/1.1\r\n${H}\r\n`, 501],
        ['Expect other than 100-continue', `POST /v1/events HTTP/1.1\r\n${H}Expect: tea\r\nContent-Length: 1\r\n\r\nx`, 417],
    ];
    for (const [name, bytes, status] of cases) {
        test(name, async () => {
            const r = await raw(srv.port, bytes);
            assert.deepEqual(r.statuses, [status], r.text);
            assert.ok(r.closed, 'the server closed the connection');
            assert.match(r.text, /\r\nConnection: close\r\n/i);
            const body = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4));
            assert.equal(body.status, status);
            assert.ok(body.detail, 'the problem says why');
        });
    }

    test('a good request before a smuggled one is answered; nothing after the bad one is', async () => {
        const r = await raw(
            srv.port,
            `GET /healthz HTTP/1.1\r\n${H}\r\nPOST /v1/events HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 30\r\n\r\nxGET /healthz HTTP/1.1\r\n${H}\r\n`,
        );
        assert.deepEqual(r.statuses, [200, 400], r.text);
        assert.ok(r.closed);
    });
});

describe('bodies are limited per route before they are read', () => {
    test('a 15 MiB Content-Length on /v1/events is refused from the head alone', async () => {
        const r = await raw(srv.port, `POST /v1/events HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${15 * 1024 * 1024}\r\n\r\n`);
        assert.deepEqual(r.statuses, [413], r.text);
        assert.ok(r.closed);
    });

    test('a chunked /v1/events body is refused once its chunks pass 64 KiB', async () => {
        const chunk = `4000\r\n${'a'.repeat(0x4000)}\r\n`;
        const parts = [`POST /v1/events HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`];
        for (let i = 0; i < 6; i++) parts.push(chunk);
        const r = await raw(srv.port, parts, { gapMs: 20 });
        assert.deepEqual(r.statuses, [413], r.text);
        assert.ok(r.closed);
    });

    test('the batch route takes a body over 64 KiB', async () => {
        // Unsigned: the answer is 401 from the handler, so the 100 KiB body was read whole.
        const body = `${'{}\n'.repeat(34000)}`;
        const r = await raw(srv.port, `POST /v1/events/batch HTTP/1.1\r\n${H}Content-Type: application/x-ndjson\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        assert.equal(r.statuses.length, 1, r.text);
        assert.notEqual(r.statuses[0], 413);
    });
});

describe('valid framing is accepted', () => {
    function signedEvent() {
        const body = JSON.stringify(event({ citizen_id: genCitizenId() }));
        const id = newMessageId();
        const ts = nowSeconds();
        const head =
            `POST /v1/events HTTP/1.1\r\n${H}Content-Type: application/json\r\n` +
            `webhook-id: ${id}\r\nwebhook-timestamp: ${ts}\r\nwebhook-signature: ${sign(srv.secret, id, ts, body)}\r\n`;
        return { body, head };
    }

    test('chunk extensions are accepted (and the event counted)', async () => {
        const { body, head } = signedEvent();
        const half = Math.floor(body.length / 2);
        const a = Buffer.from(body.slice(0, half));
        const b = Buffer.from(body.slice(half));
        const r = await raw(srv.port, [
            `${head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
            `${a.length.toString(16)};name=value\r\n${a}\r\n`,
            `${b.length.toString(16).toUpperCase()} ; q="x y"\r\n${b}\r\n`,
            '0\r\nX-Trailer: ignored\r\n\r\n',
        ], { gapMs: 10 });
        assert.deepEqual(r.statuses, [200], r.text);
        assert.match(r.text, /"accepted"/);
    });

    test('Expect: 100-continue gets 100 before the body is sent', async () => {
        const { body, head } = signedEvent();
        let sentBody = false;
        const r = await raw(srv.port, `${head}Expect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`, {
            waitMs: 3000,
            onData: (text, s) => {
                if (!sentBody && /^HTTP\/1\.1 100 Continue\r\n\r\n/.test(text)) {
                    sentBody = true;
                    s.write(body);
                }
            },
        });
        assert.ok(sentBody, r.text);
        assert.deepEqual(r.statuses, [100, 200], r.text);
    });

    test('pipelined requests are answered in order on one connection', async () => {
        const r = await raw(srv.port, `GET /healthz HTTP/1.1\r\n${H}\r\nGET /nope HTTP/1.1\r\n${H}\r\n\r\nGET /healthz HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        assert.deepEqual(r.statuses, [200, 404, 200], r.text);
    });
});

test('past HOCVU_MAX_CONNECTIONS a new connection is answered 503 and closed', async () => {
    const small = await startHocvud({ dbUrl, redisUrl, env: { HOCVU_MAX_CONNECTIONS: '3', HOCVU_THREADS: '1' } });
    try {
        const held = [];
        for (let i = 0; i < 3; i++) {
            held.push(await new Promise((resolve) => {
                const s = net.connect(small.port, '127.0.0.1', () => resolve(s));
                s.on('error', () => {});
            }));
        }
        await sleep(100);
        const r = await raw(small.port, `GET /healthz HTTP/1.1\r\n${H}\r\n`);
        assert.deepEqual(r.statuses, [503], r.text);
        assert.match(r.text, /Retry-After: /i);
        assert.ok(r.closed);
        for (const s of held) s.destroy();
        await sleep(300); // the front notices closed connections within 100 ms
        const ok = await raw(small.port, `GET /healthz HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        assert.deepEqual(ok.statuses, [200], ok.text);
    } finally {
        await small.stop();
    }
});
