// cluster.mjs - what the scale-out tests add to harness.mjs: HAProxy in front of several hocvud
// (running the shipped deploy/haproxy.cfg with loopback addresses substituted), a PostgreSQL
// streaming replica of a harness primary, a webhook sender that redelivers until acknowledged,
// and small PostgreSQL helpers. Everything spawned here is killed when the test process exits.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { SOURCE_DIR, freePort, pgTool, postEvent, psql, sleep, tempDir, waitFor } from './harness.mjs';

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const children = new Set();

process.on('exit', () => {
    for (const c of children) {
        try {
            c.kill(c.hocvuSignalOnExit || 'SIGKILL');
        } catch {
            // already gone
        }
    }
});

// Registers a child for the exit-time kill; it must not keep the test process alive.
function track(child, signalOnExit = 'SIGKILL') {
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

async function stopChild(child, signal, timeoutMs = 15000) {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.ref();
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await child.hocvuExited;
    clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------
// HAProxy

export function haproxyPath() {
    for (const p of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) if (fs.existsSync(p)) return p;
    const r = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
    throw new Error('haproxy not found: install the Debian package haproxy (scripts/deps.sh does)');
}

// deploy/haproxy.cfg rewritten for loopback: the frontend on 127.0.0.1:port, the servers as
// given ([{name, port}]), the stats socket in dir, no compose DNS resolver, no stats listener.
// Every other line - balancing, health checks on /readyz, retry policy, timeouts - is the shipped
// one, so the tests exercise the configuration operators deploy. Throws if the shipped file no
// longer has a line this rewrite expects, rather than silently testing something else.
export function haproxyConfigFor({ port, servers, dir }) {
    const src = fs.readFileSync(path.join(SOURCE_DIR, 'deploy', 'haproxy.cfg'), 'utf8');
    const lines = src.split('\n');
    const out = [];
    let section = '';
    let replacedServers = false;
    const seen = { bind: false, socket: false };
    for (const line of lines) {
        const head = line.match(/^(\S+)\s*(\S*)/);
        if (head && !line.startsWith(' ') && !line.startsWith('#')) section = `${head[1]} ${head[2]}`.trim();
        if (section.startsWith('resolvers')) continue;
        if (section === 'frontend stats') continue;
        if (/^\s+stats socket /.test(line)) {
            out.push(`    stats socket ${path.join(dir, 'admin.sock')} mode 600 level admin`);
            seen.socket = true;
            continue;
        }
        if (section === 'frontend hocvu' && /^\s+bind /.test(line)) {
            out.push(`    bind 127.0.0.1:${port}`);
            seen.bind = true;
            continue;
        }
        if (section === 'backend hocvud' && /^\s+server /.test(line)) {
            if (!replacedServers) {
                for (const s of servers) out.push(`    server ${s.name} 127.0.0.1:${s.port} check`);
                replacedServers = true;
            }
            continue;
        }
        // The global connection cap needs ~2 descriptors per connection; a test process's
        // RLIMIT_NOFILE may be lower than a server's.
        if (section === 'global' && /^\s+maxconn /.test(line)) {
            out.push('    maxconn 4000');
            continue;
        }
        if (/^\s+default-server /.test(line)) {
            out.push(line.replace(/\s+resolvers \S+/, '').replace(/\s+init-addr \S+/, ''));
            continue;
        }
        // Logs go to the test's memory, not to a syslog.
        out.push(line.replace(/^(\s+log) stdout /, '$1 stderr '));
    }
    if (!seen.bind || !seen.socket || !replacedServers) {
        throw new Error(`deploy/haproxy.cfg changed shape (bind ${seen.bind}, socket ${seen.socket}, servers ${replacedServers})`);
    }
    return `${out.join('\n').trimEnd()}\n`;
}

// Sends one command to HAProxy's runtime API and resolves with the reply text.
function haproxyCommand(socketPath, command) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ path: socketPath });
        let buf = '';
        sock.setTimeout(3000, () => {
            sock.destroy();
            reject(new Error(`haproxy socket: no answer to ${command}`));
        });
        sock.on('error', reject);
        sock.on('connect', () => sock.write(`${command}\n`));
        sock.on('data', (d) => (buf += d));
        sock.on('end', () => resolve(buf));
    });
}

// Starts HAProxy (foreground) on a free loopback port with the shipped configuration in front of
// servers ([{name, port}]). Returns {url, port, config, logs(), stop(), states(), waitStates()}.
export async function startHaproxy(servers) {
    const bin = haproxyPath();
    const dir = tempDir('hocvu-haproxy-');
    const port = await freePort();
    const config = haproxyConfigFor({ port, servers, dir });
    const cfgFile = path.join(dir, 'haproxy.cfg');
    fs.writeFileSync(cfgFile, config);
    const check = spawnSync(bin, ['-c', '-q', '-f', cfgFile], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`haproxy -c failed:\n${check.stdout}${check.stderr}\n${config}`);

    let logs = '';
    const child = track(spawn(bin, ['-db', '-f', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir }), 'SIGKILL');
    child.stdout.on('data', (d) => (logs += d));
    child.stderr.on('data', (d) => (logs += d));
    const socket = path.join(dir, 'admin.sock');
    const h = {
        port,
        url: `http://127.0.0.1:${port}`,
        config,
        logs: () => logs,
        stop: () => stopChild(child, 'SIGUSR1'), // soft stop: finish what is in flight
        // Rows of "show stat" as objects keyed by its CSV header (pxname, svname, status,
        // wretr, wredis, hrsp_5xx...).
        async stat() {
            const csv = await haproxyCommand(socket, 'show stat');
            const [head, ...rows] = csv.split('\n').filter((l) => l);
            const header = head.replace(/^# /, '').split(',');
            return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [header[i], v])));
        },
        // {serverName: 'UP' | 'DOWN' | 'MAINT' | 'UP 1/2' ...} of backend hocvud.
        async states() {
            const out = {};
            for (const r of await h.stat()) {
                if (r.pxname === 'hocvud' && r.svname !== 'BACKEND' && r.svname !== 'FRONTEND') out[r.svname] = r.status;
            }
            return out;
        },
        // Waits until pred(states) is true; returns the states.
        async waitStates(pred, { timeout = 10000, what = 'haproxy server states' } = {}) {
            let last;
            await waitFor(
                async () => {
                    last = await h.states();
                    return pred(last);
                },
                { timeout, interval: 100, what: `${what} (last: ${JSON.stringify(last)})` },
            );
            return last;
        },
    };
    await waitFor(() => fs.existsSync(socket) || child.exitCode !== null, { timeout: 10000, what: 'haproxy start' });
    if (child.exitCode !== null) throw new Error(`haproxy exited ${child.exitCode}:\n${logs}`);
    return h;
}

// ---------------------------------------------------------------------------------------------
// Webhook sender

// Delivers one message the way a Standard Webhooks sender does: the same webhook-id and body on
// every attempt, retried after anything but a 200 (connection error, 502, 503, timeout) until
// acknowledged. A 4xx other than 408/429 is a definite answer and is returned, not retried.
// Resolves with {status, json, attempts}.
export async function deliverUntilAcknowledged(url, { id, body, secret, deadlineMs = 60000, timeout = 10000 }) {
    const deadline = Date.now() + deadlineMs;
    for (let attempt = 1; ; attempt++) {
        let r;
        try {
            r = await postEvent(url, { id, body, secret, timeout });
        } catch (err) {
            r = { status: 0, text: err.message };
        }
        const definite = r.status === 200 || (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429);
        if (definite) return { ...r, attempts: attempt };
        if (Date.now() > deadline) throw new Error(`message ${id} not acknowledged after ${attempt} attempts: ${r.status} ${r.text}`);
        await sleep(Math.min(50 * attempt, 500));
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL streaming replica

function postgresIds() {
    if (!IS_ROOT) return { uid: process.getuid(), gid: process.getgid(), spawn: {} };
    const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const uid = id('-u');
    const gid = id('-g');
    return { uid, gid, spawn: { uid, gid } };
}

// A hot standby of `primary` (a harness startPostgres() server) on its own loopback port:
// pg_basebackup -R (streaming WAL, standby.signal and primary_conninfo written), then a
// postgres on the copy. PostgreSQL 15's defaults already allow it (wal_level replica,
// max_wal_senders 10, hot_standby on) and the harness's trust pg_hba has replication lines.
// Returns {port, url(db), stop(), start(), log(), dataDir}.
export async function startReplica(primary) {
    const user = postgresIds();
    const dir = tempDir('hocvu-replica-');
    fs.chownSync(dir, user.uid, user.gid);
    const dataDir = path.join(dir, 'data');
    const logFile = path.join(dir, 'postgres.log');
    const bb = spawnSync(
        pgTool('pg_basebackup'),
        ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
        { ...user.spawn, encoding: 'utf8', cwd: dir },
    );
    if (bb.status !== 0) throw new Error(`pg_basebackup exited ${bb.status}:\n${bb.stdout}${bb.stderr}`);
    const port = await freePort();
    let child = null;
    const r = {
        port,
        dataDir,
        url: (db = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${db}`,
        log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    };
    r.start = async () => {
        const fd = fs.openSync(logFile, 'a');
        child = track(
            spawn(
                pgTool('postgres'),
                [
                    '-D', dataDir,
                    '-p', String(port),
                    '-c', 'listen_addresses=127.0.0.1',
                    '-c', `unix_socket_directories=${dir}`,
                    '-c', 'hot_standby=on',
                    '-c', 'fsync=off',
                    '-c', 'shared_buffers=32MB',
                ],
                { ...user.spawn, stdio: ['ignore', fd, fd], cwd: dir, env: { ...process.env, LC_ALL: 'C' } },
            ),
            'SIGQUIT',
        );
        fs.closeSync(fd);
        await waitFor(
            () => {
                if (child.exitCode !== null) throw new Error(`replica exited ${child.exitCode}:\n${r.log().slice(-3000)}`);
                return spawnSync(pgTool('pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]).status === 0;
            },
            { timeout: 30000, interval: 50, what: 'replica accepting connections' },
        );
        return r;
    };
    r.stop = () => stopChild(child, 'SIGINT', 30000);
    await r.start();
    return r;
}

// True when url is a server in recovery (a standby).
export function inRecovery(url) {
    return psql(url, 'SELECT pg_is_in_recovery()') === 't';
}
