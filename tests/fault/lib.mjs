// lib.mjs - what the fault tests share on top of the integration harness: a hocvud that can be
// restarted on the same port (and spoken to over TLS), a throwaway PostgreSQL + Redis + database
// stack, a sustained-load sender with keep-alive connections and a realistic event mix that
// retries every message until it is acknowledged, and the end-of-test checks (served counts
// equal the CONTRACT §6 model of the acknowledged set, the database holds exactly the accepted
// ids, `hocvuctl reconcile` finds no drift).
//
// The integration harness (../integration/lib/harness.mjs) is reused as is; nothing here
// changes it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

import {
    HOCVUD,
    SOURCE_DIR,
    cleanEnv,
    event,
    freePort,
    genCertificateId,
    genCitizenId,
    genPepper,
    genSecret,
    hocvuctl,
    legacyWards,
    newDatabase,
    newMessageId,
    nowSeconds,
    parallel,
    postEvent,
    psql,
    seededRandom,
    sign,
    sleep,
    startPostgres,
    startRedis,
    wards,
} from '../integration/lib/harness.mjs';
import { GROUPS, Model, expectCounts } from '../integration/lib/model.mjs';

export { GROUPS, Model, expectCounts };

// ---------------------------------------------------------------------------------------------
// hocvud on a fixed port

const procs = new Set(); // hocvud processes still running
const daemons = []; // for the post-mortem log dump

process.on('exit', (code) => {
    if (((code || process.exitCode) && !process.env.HOCVU_TEST_QUIET) || process.env.HOCVU_TEST_SHOW_LOGS) {
        for (const d of daemons) {
            process.stderr.write(`\n--- hocvud ${d.url} (pid ${d.pid}) log (tail) ---\n${d.logs.slice(-5000)}\n`);
        }
    }
    for (const p of procs) {
        try {
            p.kill('SIGKILL');
        } catch {
            // gone
        }
    }
});

// One HTTP(S) request. opts: method, headers, body, timeout, agent (default: none, one
// connection per request), ca (HTTPS), localAddress. Resolves with {status, headers, text,
// json}; network errors reject (err.code set by node).
export function req(url, { method = 'GET', headers = {}, body, timeout = 10000, agent = false, ca, localAddress } = {}) {
    const mod = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
        const r = mod.request(url, { method, headers, agent, timeout, ca, localAddress }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json;
                try {
                    json = text ? JSON.parse(text) : undefined;
                } catch {
                    json = undefined;
                }
                resolve({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        r.on('timeout', () => r.destroy(Object.assign(new Error(`${method} ${url}: no answer within ${timeout} ms`), { code: 'ETIMEDOUT' })));
        r.on('error', reject);
        r.end(body);
    });
}

// Starts build/hocvud. Unlike the harness's startHocvud it takes the port (so a restarted
// daemon comes back where senders expect it), keeps its whole stderr, and knows TLS.
// Returns {url, port, pid, proc, secrets, secret, pepper, logs, env, signal(sig), kill9(),
// stop(), waitExit(ms), exited()}.
export async function startDaemon({
    dbUrl,
    redisUrl,
    secrets = [genSecret()],
    pepper = genPepper(),
    port,
    env = {},
    threads = 2,
    ready = true,
    tls, // {ca: PEM} when the daemon serves HTTPS
    timeout = 20000,
} = {}) {
    port = port || (await freePort());
    const scheme = tls ? 'https' : 'http';
    const fullEnv = cleanEnv({
        HOCVU_LISTEN: `127.0.0.1:${port}`,
        ...(dbUrl ? { HOCVU_DATABASE_URL: dbUrl } : {}),
        ...(redisUrl ? { HOCVU_REDIS_URL: redisUrl } : {}),
        HOCVU_WEBHOOK_SECRETS: secrets.join(' '),
        HOCVU_ID_PEPPER: pepper,
        HOCVU_THREADS: String(threads),
        ...env,
    });
    const proc = spawn(HOCVUD, [], { stdio: ['ignore', 'pipe', 'pipe'], cwd: SOURCE_DIR, env: fullEnv });
    procs.add(proc);
    const d = {
        port,
        url: `${scheme}://127.0.0.1:${port}`,
        pid: proc.pid,
        proc,
        secrets,
        secret: secrets[0],
        pepper,
        env: fullEnv,
        logs: '',
    };
    proc.stdout.on('data', (b) => (d.logs += b));
    proc.stderr.on('data', (b) => (d.logs += b));
    // It must not keep the test process alive (a failed test leaves it running; the exit
    // handler kills it); waiting for its exit refs it again.
    proc.unref();
    for (const st of [proc.stdout, proc.stderr]) st.unref?.();
    let exited = null;
    const exitPromise = new Promise((resolve) => {
        proc.once('exit', (code, signal) => {
            procs.delete(proc);
            exited = { code, signal, at: Date.now() };
            resolve(exited);
        });
    });
    d.exited = () => exited;
    d.signal = (sig) => {
        if (!exited) proc.kill(sig);
    };
    // Resolves with {code, signal, at} or null if it is still running after ms.
    d.waitExit = async (ms = 30000) => {
        if (exited) return exited;
        proc.ref();
        let t;
        const r = await Promise.race([exitPromise, new Promise((res) => (t = setTimeout(() => res(null), ms)))]);
        clearTimeout(t);
        return r;
    };
    d.kill9 = async () => {
        if (exited) return exited;
        proc.ref();
        proc.kill('SIGKILL');
        return exitPromise;
    };
    // SIGTERM; SIGKILL after `timeout`. Resolves with the exit code (or signal name).
    d.stop = async ({ timeout: t = 25000 } = {}) => {
        if (!exited) proc.kill('SIGTERM');
        const e = await d.waitExit(t);
        if (!e) {
            await d.kill9();
            return 'SIGKILL (did not stop in time)';
        }
        return e.code ?? e.signal;
    };
    const deadline = Date.now() + timeout;
    for (;;) {
        if (exited) throw new Error(`hocvud exited ${JSON.stringify(exited)} at start:\n${d.logs}`);
        try {
            const r = await req(`${d.url}/${ready ? 'readyz' : 'healthz'}`, { timeout: 1000, ca: tls?.ca });
            if (r.status === 200) break;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            await d.kill9();
            throw new Error(`hocvud on port ${port} not ${ready ? 'ready' : 'up'} within ${timeout} ms:\n${d.logs}`);
        }
        await sleep(50);
    }
    daemons.push(d);
    return d;
}

// The same daemon configuration again on the same port (after a kill -9 or an exit).
export function restartDaemon(old, opts = {}) {
    return startDaemon({
        port: old.port,
        secrets: old.secrets,
        pepper: old.pepper,
        env: old.env,
        ...opts,
    });
}

// Private PostgreSQL + (optionally) Redis + a migrated database with the Cần Thơ wards, and a
// hocvud on them. Returns {pg, redis, dbUrl, daemon}.
// Every fault test runs PostgreSQL with fsync=on: fsync=off would hide what a commit costs.
export async function startStack({ redis: withRedis = true, daemon: daemonOpts = {} } = {}) {
    const pg = await startPostgres({ fsync: true });
    const redis = withRedis ? await startRedis() : null;
    const dbUrl = await newDatabase(pg);
    const daemon = await startDaemon({ dbUrl, redisUrl: redis?.url ?? 'redis://127.0.0.1:1/0', ...daemonOpts });
    return { pg, redis, dbUrl, daemon };
}

// ---------------------------------------------------------------------------------------------
// Workload: a realistic stream of deliveries

const pad = (n) => String(n).padStart(2, '0');

// Generates deliveries: issues for new persons (some minors, some with birth_date, some under a
// pre-2025 ward code), further certificates of known persons, revocations of acknowledged
// certificates, revocations of certificates never issued, redeliveries of acknowledged messages
// (same id and body) and re-issues of acknowledged certificates under a new id.
//
// A message: {id, ev, raw, kind, acked, ackedAt, answers: [status/answer strings], accepted}.
// A delivery: {msg, redelivery: bool, expect: ['accepted'] | ['duplicate'] ...}.
export class Workload {
    constructor({
        seed = crypto.randomInt(1, 2 ** 31),
        minorRatio = 0.12,
        extraCertRatio = 0.12,
        revokeRatio = 0.07,
        orphanRevokeRatio = 0.01,
        redeliverRatio = 0.1,
        reissueRatio = 0.03,
    } = {}) {
        this.seed = seed;
        this.rnd = seededRandom(seed);
        this.ratios = { minorRatio, extraCertRatio, revokeRatio, orphanRevokeRatio, redeliverRatio, reissueRatio };
        this.codes = wards().map((w) => w.code);
        this.legacy = legacyWards()
            .filter((l) => !l.split)
            .map((l) => l.old_code);
        this.messages = new Map(); // id -> message
        this.ackedIssues = []; // acknowledged issue messages whose certificate is not revoked (by us)
        this.ackedPersons = []; // persons with at least one acknowledged issue
        this.ackedAll = []; // every acknowledged message (for redeliveries)
        this.revokedCerts = new Set();
    }

    pick(a) {
        return a[Math.floor(this.rnd() * a.length)];
    }

    when() {
        const d = new Date(Date.UTC(2025, 0, 2) + Math.floor(this.rnd() * 300) * 86400000);
        return `${d.toISOString().slice(0, 10)}T${pad(7 + Math.floor(this.rnd() * 12))}:${pad(Math.floor(this.rnd() * 60))}:00+07:00`;
    }

    newPerson() {
        const minor = this.rnd() < this.ratios.minorRatio;
        const year = minor ? 2008 + Math.floor(this.rnd() * 3) : 1950 + Math.floor(this.rnd() * 55);
        const citizen_id = genCitizenId({ year, female: this.rnd() < 0.5 });
        const birth_date = this.rnd() < 0.5 ? `${year}-${pad(1 + Math.floor(this.rnd() * 12))}-${pad(1 + Math.floor(this.rnd() * 28))}` : undefined;
        return { citizen_id, birth_date };
    }

    message(ev, kind) {
        const m = { id: newMessageId(), ev, raw: JSON.stringify(ev), kind, acked: false, ackedAt: 0, answers: [], accepted: 0 };
        this.messages.set(m.id, m);
        return m;
    }

    issue(person) {
        return event({
            citizen_id: person.citizen_id,
            birth_date: person.birth_date,
            timestamp: this.when(),
            certificate_id: genCertificateId(),
            ward_code: this.rnd() < 0.1 ? this.pick(this.legacy) : this.pick(this.codes),
            group: this.pick(GROUPS),
            course_id: 'kns-co-ban',
            score: Math.floor(this.rnd() * 101),
        });
    }

    // The next delivery to make.
    next() {
        const r = this.rnd();
        const t = this.ratios;
        let acc = 0;
        if (this.ackedAll.length > 20 && r < (acc += t.redeliverRatio)) {
            return { msg: this.pick(this.ackedAll), redelivery: true, expect: ['duplicate'] };
        }
        if (this.ackedIssues.length > 20 && r < (acc += t.reissueRatio)) {
            const orig = this.pick(this.ackedIssues);
            return { msg: this.message(orig.ev, 'reissue'), redelivery: false, expect: ['duplicate'] };
        }
        if (this.ackedIssues.length > 20 && r < (acc += t.revokeRatio)) {
            // Revoke a random acknowledged, not yet revoked certificate.
            for (let tries = 0; tries < 5; tries++) {
                const i = Math.floor(this.rnd() * this.ackedIssues.length);
                const orig = this.ackedIssues[i];
                this.ackedIssues.splice(i, 1);
                if (this.revokedCerts.has(orig.ev.data.certificate_id)) continue;
                this.revokedCerts.add(orig.ev.data.certificate_id);
                const ev = event({
                    type: 'certificate.revoked',
                    citizen_id: orig.ev.data.citizen_id,
                    certificate_id: orig.ev.data.certificate_id,
                    timestamp: '2025-11-01T09:00:00+07:00',
                });
                return { msg: this.message(ev, 'revoke'), redelivery: false, expect: ['accepted'] };
            }
        }
        if (r < (acc += t.orphanRevokeRatio)) {
            const certificate_id = genCertificateId();
            this.revokedCerts.add(certificate_id);
            const ev = event({ type: 'certificate.revoked', citizen_id: genCitizenId(), certificate_id, timestamp: '2025-10-01T09:00:00+07:00' });
            return { msg: this.message(ev, 'orphan-revoke'), redelivery: false, expect: ['accepted'] };
        }
        if (this.ackedPersons.length > 20 && r < (acc += t.extraCertRatio)) {
            return { msg: this.message(this.issue(this.pick(this.ackedPersons)), 'issue'), redelivery: false, expect: ['accepted'] };
        }
        const person = this.newPerson();
        return { msg: this.message(this.issue(person), 'issue'), redelivery: false, expect: ['accepted'], person };
    }

    // Records that a delivery was acknowledged (200).
    acked(d, answer) {
        const m = d.msg;
        if (answer === 'accepted') m.accepted += 1;
        if (m.acked) return;
        m.acked = true;
        m.ackedAt = Date.now();
        this.ackedAll.push(m);
        if (m.kind === 'issue') {
            this.ackedIssues.push(m);
            if (d.person) this.ackedPersons.push(d.person);
        }
    }

    // Every message ever generated.
    all() {
        return [...this.messages.values()];
    }

    // The CONTRACT §6 model of the acknowledged messages.
    model() {
        const model = new Model();
        const acked = this.all()
            .filter((m) => m.acked)
            .sort((a, b) => a.ackedAt - b.ackedAt);
        for (const m of acked) model.apply(m.id, m.ev);
        return model;
    }
}

// ---------------------------------------------------------------------------------------------
// Sender: N concurrent senders, keep-alive connections, retry until acknowledged

// Retry policy: a message not answered 200 is sent again with the same webhook-id and body,
// re-signed with a fresh timestamp, after Retry-After (capped so tests stay short) or a short
// back-off after a network error.
export class Sender {
    constructor({
        target, // () => base URL (read on every attempt)
        secret,
        workload = new Workload(),
        concurrency = 16,
        timeout = 10000,
        localAddress,
        maxRetryDelay = 500,
        onAnswer, // (delivery, attempt) => void, for scenario-specific checks
        pace = 0, // new deliveries per second offered by all senders together; 0 = as fast as answered
    }) {
        this.pace = pace;
        this.nextSlot = 0;
        this.target = target;
        this.secret = secret;
        this.workload = workload;
        this.concurrency = concurrency;
        this.timeout = timeout;
        this.localAddress = localAddress;
        this.maxRetryDelay = maxRetryDelay;
        this.onAnswer = onAnswer;
        // A well-behaved keep-alive client: sockets are used round robin (fifo) so none sits
        // idle past the server's idle timeout, and an idle socket is dropped after 2 s, before
        // any server (HOCVU_HTTP_TIMEOUT >= 5 s in these tests) closes it under a new request.
        this.agent = new http.Agent({
            keepAlive: true,
            maxSockets: concurrency,
            keepAliveMsecs: 1000,
            scheduling: 'fifo',
            timeout: 2000,
        });
        this.stopping = false;
        this.giveUpAt = Infinity;
        this.attempts = []; // {d, t0, tWritten, tEnd, status, answer, code, err}
        this.acks = []; // times of 200 answers
        this.problems = []; // wrong answers (strings)
        this.unacked = []; // deliveries given up on
        this.deliveries = 0;
        this.workers = [];
    }

    // One attempt of one delivery. Never rejects.
    attempt(d) {
        const m = d.msg;
        const ts = nowSeconds();
        const headers = {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(m.raw),
            'webhook-id': m.id,
            'webhook-timestamp': String(ts),
            'webhook-signature': sign(this.secret, m.id, ts, m.raw),
        };
        const a = { d, t0: Date.now(), tWritten: 0, tEnd: 0, status: 0, answer: null, code: null, err: null, retryAfter: null, reused: false };
        return new Promise((resolve) => {
            let done = false;
            const finish = () => {
                if (done) return;
                done = true;
                a.tEnd = Date.now();
                this.attempts.push(a);
                resolve(a);
            };
            const r = http.request(`${this.target()}/v1/events`, {
                method: 'POST',
                headers,
                agent: this.agent,
                timeout: this.timeout,
                localAddress: this.localAddress,
            });
            r.on('socket', (s) => {
                a.reused = r.reusedSocket;
                s.setNoDelay(true);
            });
            r.on('finish', () => (a.tWritten = Date.now()));
            r.on('timeout', () => r.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
            r.on('error', (err) => {
                a.err = err.code || err.message;
                finish();
            });
            r.on('response', (res) => {
                const chunks = [];
                res.on('data', (c) => chunks.push(c));
                res.on('error', (err) => {
                    a.err = err.code || err.message;
                    finish();
                });
                res.on('end', () => {
                    a.status = res.statusCode;
                    a.headers = res.headers;
                    a.text = Buffer.concat(chunks).toString('utf8');
                    try {
                        const j = JSON.parse(a.text);
                        a.answer = typeof j.status === 'string' ? j.status : null;
                        a.code = j.code ?? null;
                    } catch {
                        // not JSON
                    }
                    a.retryAfter = res.headers['retry-after'] ?? null;
                    finish();
                });
            });
            r.end(m.raw);
        });
    }

    // Delivers until acknowledged (200) or given up. Returns the acknowledging attempt or null.
    async deliver(d) {
        this.deliveries += 1;
        let ambiguous = false; // an earlier attempt may have been committed without our knowing
        for (let n = 0; ; n++) {
            const a = await this.attempt(d);
            this.onAnswer?.(d, a);
            if (a.status === 200) {
                d.msg.answers.push(a.answer);
                const ok = ambiguous && !d.redelivery && d.expect[0] === 'accepted' ? ['accepted', 'duplicate'] : d.expect;
                if (!ok.includes(a.answer)) {
                    this.problems.push(`${d.msg.kind}${d.redelivery ? ' redelivery' : ''} ${d.msg.id}: answered ${a.answer}, expected ${ok.join('|')} (attempt ${n + 1}): ${a.text}`);
                }
                this.workload.acked(d, a.answer);
                this.acks.push(a.tEnd);
                return a;
            }
            if (a.status === 503 || a.status === 429) {
                if (a.status === 503 && a.code !== 'unavailable' && a.code !== 'overloaded') this.problems.push(`503 with code ${a.code}: ${a.text}`);
                if (!a.retryAfter) this.problems.push(`${a.status} without Retry-After: ${a.text}`);
                // "unavailable" means not confirmed: a commit that timed out may have happened,
                // so the retry may be answered "duplicate". "overloaded" was never stored.
                if (a.status === 503 && a.code === 'unavailable') ambiguous = true;
            } else if (a.status) {
                // Anything else is a wrong answer: the message is valid and signed.
                this.problems.push(`${d.msg.kind} ${d.msg.id}: unexpected ${a.status} ${a.text}`);
                return null;
            } else {
                ambiguous = true;
            }
            if (Date.now() > this.giveUpAt) {
                this.unacked.push(d);
                return null;
            }
            const ra = Number(a.retryAfter) * 1000;
            await sleep(Math.min(Number.isFinite(ra) && ra > 0 ? ra : 100 + 50 * Math.min(n, 8), this.maxRetryDelay));
        }
    }

    async worker() {
        while (!this.stopping) {
            if (this.pace > 0) {
                // Open-loop pacing: one slot every 1/pace s, shared by all senders.
                const now = Date.now();
                this.nextSlot = Math.max(this.nextSlot + 1000 / this.pace, now - 100);
                if (this.nextSlot > now) await sleep(this.nextSlot - now);
                if (this.stopping) break;
            }
            const d = this.workload.next();
            await this.deliver(d);
        }
    }

    start() {
        this.startedAt = Date.now();
        this.workers = Array.from({ length: this.concurrency }, () => this.worker());
        return this;
    }

    // Stops making new deliveries; each sender finishes (retries) the one it is on, for at most
    // `retryFor` ms. Resolves when all have finished.
    async stop({ retryFor = 30000 } = {}) {
        this.stopping = true;
        this.stoppedAt = Date.now();
        this.giveUpAt = Date.now() + retryFor;
        await Promise.all(this.workers);
        this.finishedAt = Date.now();
        this.agent.destroy();
    }

    // Acknowledgements per second between two instants.
    rate(t0, t1) {
        const n = this.acks.filter((t) => t >= t0 && t < t1).length;
        return n / Math.max(0.001, (t1 - t0) / 1000);
    }

    // The median of the acknowledgement rates of consecutive `windowMs` windows in [t0, t1):
    // robust against a single stall caused by something else on the machine.
    medianRate(t0, t1, windowMs = 1000) {
        const rates = this.windowRates(t0, t1, windowMs);
        rates.sort((x, y) => x - y);
        if (!rates.length) return 0;
        const mid = Math.floor(rates.length / 2);
        return rates.length % 2 ? rates[mid] : (rates[mid - 1] + rates[mid]) / 2;
    }

    // The acknowledgement rates of consecutive `windowMs` windows in [t0, t1).
    windowRates(t0, t1, windowMs = 1000) {
        const rates = [];
        for (let a = t0; a + windowMs <= t1; a += windowMs) rates.push(this.rate(a, a + windowMs));
        return rates;
    }

    // A summary for logs and the report.
    summary() {
        const byStatus = {};
        for (const a of this.attempts) {
            const k = a.status ? `${a.status}${a.answer ? ` ${a.answer}` : a.code ? ` ${a.code}` : ''}` : `error ${a.err}`;
            byStatus[k] = (byStatus[k] || 0) + 1;
        }
        const msgs = this.workload.all();
        const kinds = {};
        for (const m of msgs) kinds[m.kind] = (kinds[m.kind] || 0) + 1;
        const secs = ((this.stoppedAt || Date.now()) - this.startedAt) / 1000;
        return {
            concurrency: this.concurrency,
            loadSeconds: Number(secs.toFixed(1)),
            deliveries: this.deliveries,
            attempts: this.attempts.length,
            acks: this.acks.length,
            acksPerSecond: Number((this.acks.filter((t) => t <= (this.stoppedAt || Infinity)).length / secs).toFixed(0)),
            messages: msgs.length,
            kinds,
            byStatus,
        };
    }
}

// ---------------------------------------------------------------------------------------------
// The end-of-test checks

// Asserts that the sender saw every message acknowledged with the right answers, that no id was
// answered "accepted" twice, that the served counts equal the §6 model of the acknowledged set,
// that the database holds exactly the accepted ids / certificates / revocations, and that
// `hocvuctl reconcile` finds zero drift. Returns a summary of what was verified.
export async function verifyExact({ sender, url, dbUrl }) {
    const w = sender.workload;
    assert.deepEqual(sender.problems.slice(0, 20), [], `wrong answers (${sender.problems.length})`);
    assert.deepEqual(
        sender.unacked.map((d) => d.msg.id),
        [],
        'deliveries never acknowledged although retried',
    );
    const msgs = w.all();
    const unacked = msgs.filter((m) => !m.acked);
    assert.deepEqual(unacked.map((m) => m.id), [], 'messages never acknowledged');
    const twice = msgs.filter((m) => m.accepted > 1);
    assert.deepEqual(twice.map((m) => `${m.id}: ${m.answers.join(',')}`), [], 'ids answered "accepted" more than once');

    const model = w.model();
    const expected = model.counts();
    await expectCounts(url, expected);

    // The database: every id that was answered "accepted" is in the ledger, and the ledger holds
    // no id we did not send; one row per accepted certificate and revocation.
    const ledger = new Set(psql(dbUrl, 'SELECT id FROM event_ledger').split('\n').filter(Boolean));
    const missing = msgs.filter((m) => m.acked && m.kind !== 'reissue' && !ledger.has(m.id)).map((m) => m.id);
    assert.deepEqual(missing.slice(0, 10), [], `acknowledged ids missing from event_ledger (${missing.length})`);
    const foreign = [...ledger].filter((id) => !w.messages.has(id));
    assert.deepEqual(foreign.slice(0, 10), [], 'ids in event_ledger that were never sent');
    const certs = Number(psql(dbUrl, 'SELECT count(*) FROM certificates'));
    const revs = Number(psql(dbUrl, 'SELECT count(*) FROM revocations'));
    assert.equal(certs, model.certs.size, 'rows in certificates = distinct accepted certificate ids');
    assert.equal(revs, model.revoked.size, 'rows in revocations = distinct accepted revocations');

    const rec = hocvuctl(dbUrl, 'reconcile');
    assert.equal(rec.status, 0, `hocvuctl reconcile found drift or failed:\n${rec.stdout}${rec.stderr}`);
    return {
        messages: msgs.length,
        acceptedAnswers: msgs.filter((m) => m.accepted === 1).length,
        ledger: ledger.size,
        certificates: certs,
        revocations: revs,
        certified_total: expected.total,
        certified_adults: expected.adults,
        by_group: expected.byGroup,
        wards_nonzero: Object.values(expected.wards).filter((x) => x.total > 0).length,
    };
}

// Prints one line for the report (the test's own stdout; ctest shows it with -V).
export function report(name, obj) {
    process.stdout.write(`# ${name}: ${JSON.stringify(obj)}\n`);
}

// Delivers single events (16 at a time) until each is acknowledged - a 503 while hocvud
// reconnects is retried every 300 ms, for at most `rounds` rounds; any other non-200 fails -
// and returns the answers ('accepted', 'duplicate', ...) in the order of msgs.
export async function deliverUntilAcked(url, secret, msgs, { rounds = 100, timeout = 30000 } = {}) {
    const answers = new Map();
    for (let round = 0; round < rounds && answers.size < msgs.length; round++) {
        const todo = msgs.filter((m) => !answers.has(m.id));
        const res = await parallel(todo.map((m) => () => postEvent(url, { id: m.id, body: m.ev, secret, timeout })), 16);
        res.forEach((r, i) => {
            if (r.status === 200) answers.set(todo[i].id, r.json.status);
            else assert.equal(r.status, 503, `${todo[i].id}: ${r.status} ${r.text}`);
        });
        if (answers.size < msgs.length) await sleep(300);
    }
    assert.equal(answers.size, msgs.length, 'every delivery acknowledged');
    return msgs.map((m) => answers.get(m.id));
}

// For scenarios where only a fast-path part fails: collects every answer other than 200 from a
// Sender (pass onAnswer), to assert none was seen.
export function nonOkAnswers() {
    const wrong = [];
    return {
        wrong,
        onAnswer: (d, a) => {
            if (a.status !== 200) wrong.push(`${d.msg.kind}${d.redelivery ? ' redelivery' : ''}: ${a.status || a.err} ${a.text ?? ''}`);
        },
    };
}
