// harness.mjs - what every integration test needs: throwaway PostgreSQL and Redis servers on
// private loopback ports, fresh migrated databases, a hocvud under test, and a client that
// signs events exactly as a Standard Webhooks sender does. Everything spawned is killed and
// every temp dir removed when the test process exits, whatever the outcome.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const SOURCE_DIR = process.env.HOCVU_SOURCE_DIR || path.resolve(here, '../../..');
export const BIN_DIR = process.env.HOCVU_BIN_DIR || path.join(SOURCE_DIR, 'build');
export const DATA_DIR = path.join(SOURCE_DIR, 'data');
export const HOCVUD = path.join(BIN_DIR, 'hocvud');
export const HOCVUCTL = path.join(BIN_DIR, 'hocvuctl');
export const WARDS_CSV = path.join(DATA_DIR, 'cantho_wards_2025.csv');
export const LEGACY_CSV = path.join(DATA_DIR, 'cantho_old_units_pre2025.csv');
export const PROVINCES_CSV = path.join(DATA_DIR, 'cccd_province_codes.csv');

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

// ---------------------------------------------------------------------------------------------
// Process-wide cleanup: spawned children and temp dirs die with the test process.

const children = new Set(); // ChildProcess objects still running
const tempDirs = [];
const daemons = []; // hocvud instances, for post-mortem logs

function cleanup() {
    for (const child of children) {
        try {
            // PostgreSQL: SIGQUIT is its "immediate shutdown" and takes its backends with it.
            child.kill(child.hocvuSignalOnExit || 'SIGKILL');
        } catch {
            // already gone
        }
    }
    children.clear();
    for (const dir of tempDirs.splice(0)) {
        try {
            fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
        } catch {
            // a server still writing there; the OS temp cleaner gets it
        }
    }
}

process.on('exit', (code) => {
    // hocvud's own account of a failed run (or of every run with HOCVU_TEST_SHOW_LOGS=1).
    if (((code || process.exitCode) && !process.env.HOCVU_TEST_QUIET) || process.env.HOCVU_TEST_SHOW_LOGS) {
        for (const d of daemons) {
            process.stderr.write(`\n--- hocvud ${d.url} log (tail) ---\n${d.logs.slice(-6000)}\n`);
        }
    }
    cleanup();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        cleanup();
        process.exit(128 + os.constants.signals[sig]);
    });
}

// A private temp dir, removed at exit. Mode 0755 so the postgres user can reach what we put in.
export function tempDir(prefix = 'hocvu-test-') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.chmodSync(dir, 0o755);
    tempDirs.push(dir);
    return dir;
}

// Registers a spawned server for cleanup. It must not keep the test process alive: the exit
// handler kills it when the tests are done.
function track(child, signalOnExit) {
    child.hocvuSignalOnExit = signalOnExit;
    children.add(child);
    child.unref();
    for (const s of [child.stdout, child.stderr]) s?.unref?.();
    child.hocvuExited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
            children.delete(child);
            resolve({ code, signal });
        });
    });
    return child;
}

// Waits for a tracked child to exit, keeping the event loop alive meanwhile (track() unrefs it).
function awaitExit(child) {
    child.ref();
    return child.hocvuExited;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() until it returns a truthy value (returned) or the timeout passes (throws with
// the last value or error).
export async function waitFor(fn, { timeout = 5000, interval = 100, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last) return last;
        } catch (err) {
            last = err;
        }
        if (Date.now() > deadline) {
            const detail = last instanceof Error ? last.stack : JSON.stringify(last);
            throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${detail}`);
        }
        await sleep(interval);
    }
}

// A TCP port that was free a moment ago on 127.0.0.1.
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

function run(cmd, args, opts = {}) {
    const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...opts });
    if (res.error) throw new Error(`${cmd}: ${res.error.message}`);
    return res;
}

function runOk(cmd, args, opts = {}) {
    const res = run(cmd, args, opts);
    if (res.status !== 0) {
        throw new Error(`${cmd} ${args.join(' ')} exited ${res.status}:\n${res.stdout}${res.stderr}`);
    }
    return res.stdout;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

let pgBinDirCache;
function pgBinDir() {
    if (pgBinDirCache) return pgBinDirCache;
    const candidates = [];
    if (process.env.HOCVU_PG_BINDIR) candidates.push(process.env.HOCVU_PG_BINDIR);
    try {
        const versions = fs
            .readdirSync('/usr/lib/postgresql')
            .filter((v) => /^\d+$/.test(v))
            .sort((a, b) => Number(b) - Number(a));
        for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
    } catch {
        // not Debian's layout
    }
    const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
    if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
    for (const dir of candidates) {
        if (fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb'))) {
            pgBinDirCache = dir;
            return dir;
        }
    }
    throw new Error('PostgreSQL server binaries not found (install postgresql, or set HOCVU_PG_BINDIR)');
}

// The uid/gid PostgreSQL runs as: ourselves, or the postgres user when we are root (the
// server refuses to run as root).
let pgUserCache;
function pgUser() {
    if (pgUserCache) return pgUserCache;
    if (!IS_ROOT) {
        pgUserCache = { uid: process.getuid(), gid: process.getgid(), spawn: {} };
    } else {
        const uid = Number(runOk('id', ['-u', 'postgres']).trim());
        const gid = Number(runOk('id', ['-g', 'postgres']).trim());
        pgUserCache = { uid, gid, spawn: { uid, gid } };
    }
    return pgUserCache;
}

// One initdb per build dir (and server version): later clusters are copies, much faster.
// initdb runs in /tmp (the build dir may be unreachable for the postgres user) and the result
// is moved into place with an atomic rename, so concurrent test processes never see half a
// template.
function pgTemplate() {
    const bin = pgBinDir();
    const version = runOk(path.join(bin, 'postgres'), ['--version']).trim();
    let base = path.join(BIN_DIR, 'test-pgtemplate');
    try {
        fs.mkdirSync(BIN_DIR, { recursive: true });
        fs.accessSync(BIN_DIR, fs.constants.W_OK);
    } catch {
        base = path.join(os.tmpdir(), `hocvu-pgtemplate-${process.getuid?.() ?? 0}`);
    }
    const marker = path.join(base, 'HOCVU_TEMPLATE');
    if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === version) return base;

    const staging = tempDir('hocvu-initdb-');
    const data = path.join(staging, 'data');
    fs.mkdirSync(data, { mode: 0o700 });
    const user = pgUser();
    fs.chownSync(data, user.uid, user.gid);
    runOk(
        path.join(bin, 'initdb'),
        ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
        { ...user.spawn, cwd: staging, env: { ...process.env, LC_ALL: 'C' } },
    );
    fs.writeFileSync(path.join(data, 'HOCVU_TEMPLATE'), version);
    const tmp = `${base}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    runOk('cp', ['-a', data, tmp]);
    try {
        fs.rmSync(base, { recursive: true, force: true });
        fs.renameSync(tmp, base);
    } catch {
        // another process won the race; its template is as good as ours
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    return base;
}

async function pgIsReady(bin, port) {
    const res = spawnSync(path.join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'], {
        encoding: 'utf8',
    });
    return res.status === 0;
}

// Starts a private throwaway PostgreSQL (trust auth, loopback only). Returns
// {host, port, user, url(db), createDb(name), stop(), start(), kill9(), dataDir, logFile}.
// A throwaway PostgreSQL. fsync: true keeps PostgreSQL's durable defaults (fsync=on,
// full_page_writes=on), for the tests whose timing depends on what a commit costs (the fault
// tests); the others trade crash safety of the OS for speed.
export async function startPostgres({ fsync = false } = {}) {
    const bin = pgBinDir();
    const template = pgTemplate();
    const dir = tempDir('hocvu-pg-');
    const dataDir = path.join(dir, 'data');
    runOk('cp', ['-a', template, dataDir]);
    const user = pgUser();
    fs.chownSync(dir, user.uid, user.gid);
    const logFile = path.join(dir, 'postgres.log');
    let port = await freePort();
    let child = null;

    const pg = {
        host: '127.0.0.1',
        get port() {
            return port;
        },
        user: 'postgres',
        dataDir,
        logFile,
        url: (db = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${db}`,
        createDb: (name) => createDb(pg, name),
        get pid() {
            return child?.pid;
        },
        log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    };

    function spawnPostgres() {
        const fd = fs.openSync(logFile, 'a');
        const c = spawn(
            path.join(bin, 'postgres'),
            [
                '-D', dataDir,
                '-p', String(port),
                '-c', 'listen_addresses=127.0.0.1',
                '-c', `unix_socket_directories=${dir}`,
                // Speed over crash safety of the OS: the tests kill servers, never the machine.
                '-c', `fsync=${fsync ? 'on' : 'off'}`,
                '-c', `full_page_writes=${fsync ? 'on' : 'off'}`,
                '-c', 'shared_buffers=32MB',
                '-c', 'max_connections=100',
            ],
            { ...user.spawn, stdio: ['ignore', fd, fd], cwd: dir, env: { ...process.env, LC_ALL: 'C' } },
        );
        fs.closeSync(fd);
        return track(c, 'SIGQUIT');
    }

    // Starts the server and waits until it accepts connections. After a kill -9 the old
    // backends may hold the shared memory for a moment: such a refusal is retried.
    pg.start = async ({ timeout = 30000 } = {}) => {
        const deadline = Date.now() + timeout;
        for (let attempt = 0; ; attempt++) {
            child = spawnPostgres();
            let exited = null;
            child.hocvuExited.then((e) => (exited = e));
            while (!exited && Date.now() < deadline) {
                if (await pgIsReady(bin, port)) return pg;
                await sleep(50);
            }
            if (!exited) throw new Error(`postgres did not become ready on port ${port}:\n${pg.log().slice(-3000)}`);
            const log = pg.log();
            if (Date.now() > deadline) throw new Error(`postgres exited (${JSON.stringify(exited)}):\n${log.slice(-3000)}`);
            if (/could not bind|Address already in use/i.test(log.slice(-2000)) && attempt < 3 && !pg.started) {
                port = await freePort(); // lost the race for the port on first start only
            }
            await sleep(200);
        }
    };

    // Fast shutdown (SIGINT): disconnects clients and exits cleanly. Resolves when it is down.
    pg.stop = async () => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const c = child;
        c.kill('SIGINT');
        const t = setTimeout(() => c.kill('SIGKILL'), 30000);
        await awaitExit(c);
        clearTimeout(t);
    };

    // SIGKILL of the postmaster: a crash. Its backends notice and exit on their own.
    pg.kill9 = async () => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const c = child;
        c.kill('SIGKILL');
        await awaitExit(c);
    };

    await pg.start();
    pg.started = true;
    return pg;
}

async function createDb(pg, name) {
    psql(pg.url('postgres'), `CREATE DATABASE "${name}"`);
    return pg.url(name);
}

let sharedPg;
// The PostgreSQL that CI started for non-destructive tests (HOCVU_TEST_PGHOST, _PGPORT,
// _PGUSER), else one private server per test process. Never stop or kill it: tests that do
// must use startPostgres().
export async function sharedPostgres() {
    if (sharedPg) return sharedPg;
    const host = process.env.HOCVU_TEST_PGHOST;
    if (host) {
        const port = Number(process.env.HOCVU_TEST_PGPORT || 5432);
        const user = process.env.HOCVU_TEST_PGUSER || 'postgres';
        const pg = {
            host,
            port,
            user,
            shared: true,
            url: (db = 'postgres') => `postgresql://${encodeURIComponent(user)}@${host}:${port}/${db}`,
        };
        pg.createDb = (name) => createDb(pg, name);
        sharedPg = pg;
    } else {
        sharedPg = await startPostgres();
    }
    return sharedPg;
}

// Path of a PostgreSQL client program (pg_dump, pg_isready...) of the server's version.
export function pgTool(name) {
    try {
        const p = path.join(pgBinDir(), name);
        if (fs.existsSync(p)) return p;
    } catch {
        // fall back to PATH
    }
    return name;
}

// psql -c SQL against url; returns stdout (unaligned, tuples only). Throws on any error.
export function psql(url, sql) {
    return runOk('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql]).trim();
}

// Runs build/hocvuctl --database-url URL ARGS...; returns {status, stdout, stderr}.
export function hocvuctl(dbUrl, ...args) {
    const pre = dbUrl ? ['--database-url', dbUrl] : [];
    return run(HOCVUCTL, [...pre, ...args], { cwd: SOURCE_DIR, env: cleanEnv() });
}

// As hocvuctl, with these HOCVU_* settings in its environment (e.g. HOCVU_ID_PEPPER).
export function hocvuctlEnv(env, dbUrl, ...args) {
    const pre = dbUrl ? ['--database-url', dbUrl] : [];
    return run(HOCVUCTL, [...pre, ...args], { cwd: SOURCE_DIR, env: cleanEnv(env) });
}

// A fresh database on pg, migrated, with the Cần Thơ wards and legacy mapping imported.
// Returns its URL.
export async function newDatabase(pg, name) {
    const db = name || `hv_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
    const url = await pg.createDb(db);
    for (const args of [['migrate'], ['wards', 'import', WARDS_CSV], ['wards', 'import-legacy', LEGACY_CSV]]) {
        const res = hocvuctl(url, ...args);
        if (res.status !== 0) {
            throw new Error(`hocvuctl ${args.join(' ')} exited ${res.status}:\n${res.stdout}${res.stderr}`);
        }
    }
    return url;
}

// ---------------------------------------------------------------------------------------------
// Redis

function redisPing(port) {
    return new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        let buf = '';
        const done = (ok) => {
            sock.destroy();
            resolve(ok);
        };
        sock.setTimeout(1000, () => done(false));
        sock.on('error', () => done(false));
        sock.on('connect', () => sock.write('PING\r\n'));
        sock.on('data', (d) => {
            buf += d;
            if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
        });
    });
}

// Sends one inline command to a Redis at port and resolves with the raw reply text.
export function redisCommand(port, command) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        let buf = '';
        sock.setTimeout(2000, () => {
            sock.destroy();
            resolve(buf);
        });
        sock.on('error', reject);
        sock.on('connect', () => sock.write(`${command}\r\n`));
        sock.on('data', (d) => {
            buf += d;
            if (buf.endsWith('\r\n')) {
                sock.destroy();
                resolve(buf);
            }
        });
    });
}

// A private redis-server (no persistence) on a loopback port. Returns
// {url, port, stop(), start(), kill()}.
export async function startRedis() {
    const dir = tempDir('hocvu-redis-');
    const port = await freePort();
    let child = null;
    let logs = '';
    const r = {
        port,
        url: `redis://127.0.0.1:${port}/0`,
        logs: () => logs,
    };
    r.start = async () => {
        child = spawn(
            'redis-server',
            ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
            { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
        );
        track(child, 'SIGKILL');
        child.stdout.on('data', (d) => (logs += d));
        child.stderr.on('data', (d) => (logs += d));
        let exited = null;
        child.hocvuExited.then((e) => (exited = e));
        await waitFor(async () => exited || (await redisPing(port)), { timeout: 10000, interval: 25, what: 'redis' });
        if (exited) throw new Error(`redis-server exited ${JSON.stringify(exited)}:\n${logs}`);
        return r;
    };
    r.stop = async () => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await awaitExit(child);
    };
    r.kill = async () => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await awaitExit(child);
    };
    // A stalled server: the connection stays open, nothing is answered (SIGSTOP / SIGCONT).
    r.pause = () => child?.kill('SIGSTOP');
    r.resume = () => child?.kill('SIGCONT');
    await r.start();
    return r;
}

let sharedRedisCache;
// CI's Redis (HOCVU_TEST_REDIS_URL) or one private server per test process. Keys of
// different databases share it, so tests using it must use unique webhook ids.
export async function sharedRedis() {
    if (sharedRedisCache) return sharedRedisCache;
    if (process.env.HOCVU_TEST_REDIS_URL) {
        sharedRedisCache = { url: process.env.HOCVU_TEST_REDIS_URL, shared: true };
    } else {
        sharedRedisCache = await startRedis();
    }
    return sharedRedisCache;
}

// ---------------------------------------------------------------------------------------------
// hocvud

// The environment minus any HOCVU_* setting of the caller's shell, so tests see only what
// they configure.
export function cleanEnv(extra = {}) {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
        if (!k.startsWith('HOCVU_')) env[k] = v;
    }
    return { ...env, ...extra };
}

export function genSecret(bytes = 32) {
    return `whsec_${crypto.randomBytes(bytes).toString('base64')}`;
}

export function genPepper() {
    return crypto.randomBytes(32).toString('base64');
}

// Spawns build/hocvud on a free loopback port and waits for /healthz (and /readyz unless
// ready:false). Returns {url, port, proc, secrets, pepper, stop(), kill9(), logs}.
// stop() sends SIGTERM and resolves with the exit code (or the signal name).
export async function startHocvud({
    dbUrl,
    redisUrl,
    secrets,
    pepper,
    env = {},
    args = [],
    ready = true,
    timeout = 20000,
} = {}) {
    if (!fs.existsSync(HOCVUD)) throw new Error(`${HOCVUD} not built`);
    secrets = secrets || [genSecret()];
    pepper = pepper || genPepper();
    for (let attempt = 0; ; attempt++) {
        const port = await freePort();
        const d = {
            port,
            url: `http://127.0.0.1:${port}`,
            secrets,
            secret: secrets[0],
            pepper,
            logs: '',
        };
        const proc = spawn(HOCVUD, args, {
            stdio: ['ignore', 'pipe', 'pipe'],
            cwd: SOURCE_DIR,
            env: cleanEnv({
                HOCVU_LISTEN: `127.0.0.1:${port}`,
                ...(dbUrl ? { HOCVU_DATABASE_URL: dbUrl } : {}),
                ...(redisUrl ? { HOCVU_REDIS_URL: redisUrl } : {}),
                HOCVU_WEBHOOK_SECRETS: secrets.join(' '),
                HOCVU_ID_PEPPER: pepper,
                HOCVU_THREADS: '2',
                ...env,
            }),
        });
        track(proc, 'SIGKILL');
        d.proc = proc;
        proc.stdout.on('data', (b) => (d.logs += b));
        proc.stderr.on('data', (b) => (d.logs += b));
        let exited = null;
        proc.hocvuExited.then((e) => (exited = e));
        d.stop = async ({ timeout: t = 15000 } = {}) => {
            if (exited) return exited.code ?? exited.signal;
            proc.kill('SIGTERM');
            const timer = setTimeout(() => proc.kill('SIGKILL'), t);
            const e = await awaitExit(proc);
            clearTimeout(timer);
            return e.code ?? e.signal;
        };
        d.kill9 = async () => {
            if (exited) return;
            proc.kill('SIGKILL');
            await awaitExit(proc);
        };
        d.exited = () => exited;
        try {
            await waitFor(
                async () => {
                    if (exited) return true;
                    const r = await request(`${d.url}/healthz`, { timeout: 1000 });
                    return r.status === 200;
                },
                { timeout, interval: 50, what: 'hocvud /healthz' },
            );
            if (!exited && ready) {
                await waitFor(
                    async () => exited || (await request(`${d.url}/readyz`, { timeout: 1000 })).status === 200,
                    { timeout, interval: 100, what: 'hocvud /readyz' },
                );
            }
        } catch (err) {
            await d.kill9();
            err.message += `\n--- hocvud log ---\n${d.logs}`;
            throw err;
        }
        if (exited) {
            if (attempt < 2 && /address already in use|bind/i.test(d.logs)) continue;
            throw new Error(`hocvud exited ${JSON.stringify(exited)} at start:\n${d.logs}`);
        }
        daemons.push(d);
        return d;
    }
}

// Runs fn; on failure appends the tail of hocvud's log to the error, so a test report shows
// what the service said.
export async function withLogs(daemon, fn) {
    try {
        return await fn();
    } catch (err) {
        const list = Array.isArray(daemon) ? daemon : [daemon];
        for (const d of list) {
            if (d) err.message += `\n--- hocvud ${d.url} log (tail) ---\n${d.logs.slice(-4000)}`;
        }
        throw err;
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP client

// One HTTP request without connection reuse. body: string, Buffer or undefined. Resolves with
// {status, headers, text, json} (json undefined unless the body parses). Network errors reject.
export function request(url, { method = 'GET', headers = {}, body, timeout = 15000 } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers, agent: false, timeout }, (res) => {
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
        req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeout} ms`)));
        req.on('error', reject);
        if (body !== undefined) req.end(body);
        else req.end();
    });
}

export async function getJson(url, opts = {}) {
    const r = await request(url, opts);
    if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.text}`);
    if (r.json === undefined) throw new Error(`GET ${url}: not JSON: ${r.text.slice(0, 500)}`);
    return r.json;
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks

// The signature of one message, as the Standard Webhooks spec defines it: base64 of
// HMAC-SHA256 keyed by the base64-decoded secret (after "whsec_") over "id.ts.body".
export function sign(secret, id, ts, body) {
    const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
    const mac = crypto.createHmac('sha256', key);
    mac.update(`${id}.${ts}.`);
    mac.update(Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'));
    return `v1,${mac.digest('base64')}`;
}

export function nowSeconds() {
    return Math.floor(Date.now() / 1000);
}

export function newMessageId() {
    return `msg_${crypto.randomUUID().replace(/-/g, '')}`;
}

// POSTs one event to url/v1/events. body: object (serialised) or string/Buffer (sent as is).
// The Standard Webhooks headers are computed unless given; a header set to null in `headers`
// is left out. Resolves with {status, headers, text, json, id, raw}.
export async function postEvent(
    url,
    { id = newMessageId(), ts = nowSeconds(), body, secret, signature, contentType = 'application/json', headers = {}, path: p = '/v1/events', timeout } = {},
) {
    const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const h = {
        'content-type': contentType,
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signature ?? (secret ? sign(secret, id, ts, raw) : undefined),
    };
    for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
    for (const k of Object.keys(h)) if (h[k] === null || h[k] === undefined) delete h[k];
    const res = await request(`${url}${p}`, { method: 'POST', headers: h, body: raw, timeout });
    return { ...res, id, raw };
}

// ---------------------------------------------------------------------------------------------
// Synthetic data (never real people)

function readCsv(file) {
    const lines = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l);
    const header = lines[0].split(',');
    return lines.slice(1).map((l) => {
        const cells = l.split(',');
        return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
    });
}

// The first fenced `lang` block of the README section under `heading` (e.g. '## Operations'),
// as written: the README tests run these verbatim.
export function readmeBlock(heading, lang) {
    const readme = fs.readFileSync(path.join(SOURCE_DIR, 'README.md'), 'utf8');
    const start = readme.indexOf(`\n${heading}`);
    if (start < 0) throw new Error(`README has no "${heading}" section`);
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const m = section.match(new RegExp('```' + lang + '\\n([\\s\\S]*?)```'));
    if (!m) throw new Error(`README section "${heading}" has no ${lang} block`);
    return m[1];
}

let provincesCache;
export function provinceCodes() {
    provincesCache ||= readCsv(PROVINCES_CSV).map((r) => r.code);
    return provincesCache;
}

let wardsCache;
// Current wards: [{code, name, type, population, population_flag}].
export function wards() {
    wardsCache ||= readCsv(WARDS_CSV);
    return wardsCache;
}

let legacyCache;
// Pre-2025 units: [{old_code, new_codes: [..], split: bool}].
export function legacyWards() {
    legacyCache ||= readCsv(LEGACY_CSV).map((r) => ({
        old_code: r.old_code,
        old_name: r.old_name,
        new_codes: r.new_codes.split('|'),
        split: r.split !== 'full',
    }));
    return legacyCache;
}

// The current ward a (current or legacy) code resolves to, null if split or unknown.
export function resolveWard(code) {
    if (wards().some((w) => w.code === code)) return code;
    const l = legacyWards().find((x) => x.old_code === code);
    if (!l || l.split || l.new_codes.length !== 1) return null;
    return l.new_codes[0];
}

const usedSerials = new Set();
// A valid synthetic 12-digit citizen id: province code, century/gender digit, two-digit birth
// year, six serial digits (random and unique in this process unless given).
export function genCitizenId({ province = '092', year = 1990, female = false, serial } = {}) {
    if (!provinceCodes().includes(province)) throw new Error(`unknown province code ${province}`);
    const century = Math.floor(year / 100) - 19;
    if (century < 0 || century > 4) throw new Error(`birth year ${year} out of range`);
    const prefix = `${province}${century * 2 + (female ? 1 : 0)}${String(year % 100).padStart(2, '0')}`;
    let s = serial;
    if (s === undefined) {
        do {
            s = crypto.randomInt(0, 1000000);
        } while (usedSerials.has(`${prefix}${s}`));
    }
    usedSerials.add(`${prefix}${s}`);
    return `${prefix}${String(s).padStart(6, '0')}`;
}

let certCounter = 0;
const runTag = crypto.randomBytes(3).toString('hex').toUpperCase();
export function genCertificateId() {
    certCounter += 1;
    return `HV-${runTag}-${String(certCounter).padStart(6, '0')}`;
}

// Builds an event body. Members left undefined are omitted. A revocation carries only what it
// must (citizen_id, certificate_id) plus timestamp unless told otherwise.
export function event({
    type = 'certificate.issued',
    citizen_id = genCitizenId(),
    ward_code = '31135',
    group = 'citizen',
    certificate_id = genCertificateId(),
    timestamp = '2025-09-15T09:00:00+07:00',
    birth_date,
    course_id,
    score,
    extra = {},
    dataExtra = {},
} = {}) {
    const data =
        type === 'certificate.revoked'
            ? { citizen_id, certificate_id }
            : { citizen_id, ward_code, group, certificate_id, birth_date, course_id, score };
    for (const k of Object.keys(data)) if (data[k] === undefined) delete data[k];
    const ev = { type, timestamp, data: { ...data, ...dataExtra }, ...extra };
    if (ev.timestamp === undefined) delete ev.timestamp;
    return ev;
}

// Fisher-Yates with a seeded generator, so a failing order can be replayed.
export function shuffle(array, seed) {
    const rnd = seededRandom(seed);
    const a = array.slice();
    for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
}

export function seededRandom(seed) {
    let s = seed >>> 0 || 1;
    return () => {
        // mulberry32
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Runs tasks (functions returning promises) with at most `limit` in flight; resolves with
// their results in order.
export async function parallel(tasks, limit = 4) {
    const results = new Array(tasks.length);
    let next = 0;
    async function worker() {
        while (next < tasks.length) {
            const i = next++;
            results[i] = await tasks[i]();
        }
    }
    await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
    return results;
}
