// run_sh.test.mjs - the README's first command, ./run.sh, as an operator meets it: it starts a
// private PostgreSQL and Redis, loads the Cần Thơ wards and serves; a second ./run.sh from the
// same directory is refused before it touches anything and the first keeps serving; a port in
// use is found before anything starts or migrates; `. .run/env` gives hocvuctl on PATH with the
// run's database, so the README's `hocvuctl reconcile` works as written; Ctrl-C stops exactly
// the servers that run started. The state goes to a temporary HOCVU_RUN_DIR and the binaries
// come from the tests' build (HOCVU_RUN_BUILD_DIR), so the developer's .run/ is left alone.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { BIN_DIR, SOURCE_DIR, cleanEnv, event, freePort, postEvent, request, sleep, waitFor } from './lib/harness.mjs';

const RUN_SH = path.join(SOURCE_DIR, 'run.sh');
const dirs = [];
const procs = [];

function runDir() {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hocvu-runsh-'));
    dirs.push(d);
    return d;
}

// Starts run.sh in the background; resolves its exit with {code, out}.
function startRun(dir, listen) {
    const child = spawn('bash', [RUN_SH], {
        cwd: SOURCE_DIR,
        env: cleanEnv({ HOCVU_RUN_DIR: dir, HOCVU_RUN_BUILD_DIR: BIN_DIR, HOCVU_LISTEN: listen }),
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = { child, out: '' };
    child.stdout.on('data', (d) => (r.out += d));
    child.stderr.on('data', (d) => (r.out += d));
    r.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    procs.push(r);
    return r;
}

async function exitWithin(r, ms) {
    return Promise.race([r.exited, sleep(ms).then(() => null)]);
}

function pgRunning(dir) {
    const pid = path.join(dir, 'postgres', 'data', 'postmaster.pid');
    if (!fs.existsSync(pid)) return false;
    const n = Number(fs.readFileSync(pid, 'utf8').split('\n')[0]);
    try {
        process.kill(n, 0);
        return true;
    } catch {
        return false;
    }
}

after(async () => {
    for (const r of procs) {
        if (r.child.exitCode === null && r.child.signalCode === null) {
            r.child.kill('SIGINT');
            await exitWithin(r, 20000);
        }
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('run.sh serves; a second run.sh is refused and harms nothing; a busy port stops it before it starts; Ctrl-C stops its own servers', { timeout: 240000 }, async () => {
    const dir = runDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = startRun(dir, `127.0.0.1:${port}`);
    await waitFor(async () => (await request(`${url}/readyz`).catch(() => ({ status: 0 }))).status === 200, {
        timeout: 180000,
        interval: 500,
        what: `run.sh to serve on ${url}`,
    });
    assert.match(first.out, /dashboard: +http:\/\/127\.0\.0\.1:\d+\//, first.out);
    assert.match(first.out, /\. .*env && hocvuctl reconcile/, 'the banner says how to reach hocvuctl');
    const wards = await request(`${url}/v1/wards`);
    assert.equal(wards.json.wards.length, 103, 'the Cần Thơ wards are loaded');
    const secret = fs.readFileSync(path.join(dir, 'webhook-secret'), 'utf8').trim();
    const pgStat = fs.statSync(path.join(dir, 'postgres', 'data', 'postmaster.pid'));

    // A second run from the same directory, on another port: refused at once, nothing touched.
    const second = startRun(dir, `127.0.0.1:${await freePort()}`);
    const done = await exitWithin(second, 30000);
    assert.ok(done, 'the second run.sh exits by itself');
    assert.equal(done.code, 1, second.out);
    assert.match(second.out, /another \.\/run\.sh is already running/, second.out);
    assert.doesNotMatch(second.out, /stopped/, 'the second run stops nothing');
    assert.equal(fs.statSync(path.join(dir, 'postgres', 'data', 'postmaster.pid')).mtimeMs, pgStat.mtimeMs, 'PostgreSQL untouched');
    assert.ok(pgRunning(dir), "the first run's PostgreSQL still runs");
    assert.equal((await request(`${url}/readyz`)).status, 200, 'the first run is still ready');
    const ev = await postEvent(url, { body: event(), secret });
    assert.equal(ev.status, 200, ev.text);
    assert.equal(ev.json.status, 'accepted', 'the first run still commits events');

    // The README's hocvuctl line, verbatim after sourcing the env file run.sh wrote.
    const ctl = spawnSync('bash', ['-c', `. '${dir}/env' && hocvuctl reconcile`], { env: cleanEnv({ PATH: '/usr/bin:/bin' }), encoding: 'utf8' });
    assert.equal(ctl.status, 0, ctl.stdout + ctl.stderr);
    assert.match(ctl.stdout, /^no drift: 1 certified persons/m);
    assert.equal(fs.statSync(path.join(dir, 'env')).mode & 0o077, 0, 'the env file (it holds the pepper) is private');

    // A port in use: found before any server starts or any migration runs.
    const busyDir = runDir();
    const third = startRun(busyDir, `127.0.0.1:${port}`);
    const busy = await exitWithin(third, 30000);
    assert.ok(busy, 'run.sh on a busy port exits by itself');
    assert.equal(busy.code, 1, third.out);
    assert.match(third.out, /already in use/, third.out);
    assert.ok(!fs.existsSync(path.join(busyDir, 'postgres')), 'no PostgreSQL was created');
    assert.doesNotMatch(third.out, /migrat|stopped/, third.out);
    assert.equal((await request(`${url}/readyz`)).status, 200, 'the first run is still ready');

    // Ctrl-C: the first run stops hocvud, its PostgreSQL and its Redis.
    first.child.kill('SIGINT');
    const stopped = await exitWithin(first, 30000);
    assert.ok(stopped, 'run.sh exits on Ctrl-C');
    assert.match(first.out, /stopped hocvud PostgreSQL Redis/, first.out);
    assert.ok(!pgRunning(dir), 'its PostgreSQL is stopped');
    const open = await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
    });
    assert.equal(open, false, 'nothing listens on its port any more');
});
