// readme_ops.test.mjs - the README's Operations commands, copied verbatim: every command line of
// the first `sh` block under "## Operations" runs in bash, in order, against a fresh database
// (HOCVU_DATABASE_URL and HOCVU_ID_PEPPER set as `. .run/env` sets them, hocvuctl on PATH), from
// a directory that has the checkout's data/ and deploy/. Each must exit 0. The only edit is the
// report id: `ID` in `report verify ID` becomes the id that `report freeze` printed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { BIN_DIR, SOURCE_DIR, cleanEnv, genPepper, newDatabase, readmeBlock, sharedPostgres } from './lib/harness.mjs';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hocvu-readme-ops-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

// The command lines of the first sh block after the heading, without their trailing comments.
function operationsCommands() {
    return readmeBlock('## Operations', 'sh')
        .split('\n')
        .map((l) => l.replace(/\s+#\s.*$/, '').trim())
        .filter((l) => l && !l.startsWith('#'));
}

test("the README's hocvuctl commands work as written", async () => {
    const commands = operationsCommands();
    assert.ok(commands.length >= 10, `found ${commands.length} commands`);
    for (const d of ['data', 'deploy']) fs.symlinkSync(path.join(SOURCE_DIR, d), path.join(work, d));
    const env = cleanEnv({
        PATH: `${BIN_DIR}:${process.env.PATH}`,
        HOCVU_DATABASE_URL: await newDatabase(await sharedPostgres()),
        HOCVU_ID_PEPPER: genPepper(),
    });
    let reportId = null;
    for (let cmd of commands) {
        assert.match(cmd, /^hocvuctl /, `an Operations line is a hocvuctl command: ${cmd}`);
        if (/\bverify ID\b/.test(cmd)) {
            assert.ok(reportId, 'report freeze ran before report verify');
            cmd = cmd.replace(/\bID\b/, reportId);
        }
        const r = spawnSync('bash', ['-c', cmd], { cwd: work, env, encoding: 'utf8' });
        assert.equal(r.status, 0, `${cmd}\n${r.stdout}${r.stderr}`);
        const frozen = r.stdout.match(/^frozen report (\S+)$/m);
        if (frozen) reportId = frozen[1];
        if (/^hocvuctl gen-secret/.test(cmd)) assert.match(r.stdout, /^whsec_/);
        if (/--metrics-file/.test(cmd)) {
            const file = cmd.split(/\s+/).at(-1);
            assert.match(fs.readFileSync(path.join(work, file), 'utf8'), /^hocvu_reconcile_success 1$/m);
        }
    }
    assert.ok(reportId, 'the README freezes a report');
});
