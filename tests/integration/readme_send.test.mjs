// readme_send.test.mjs - the README's hand-signing recipes, copied verbatim: the first `sh` block
// under "## Sending events" runs in bash (with a .run/env giving HOCVU_URL and HOCVU_SECRET, as
// run.sh writes it) and must print exactly the replies its `# {...}` comments promise, in
// order; the first `js` block runs in node with the npm standardwebhooks package and must print
// `200 {"status":"accepted"}`. Then the counts are what those events mean.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
    cleanEnv,
    getJson,
    newDatabase,
    readmeBlock,
    sharedPostgres,
    sharedRedis,
    startHocvud,
    waitFor,
} from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hocvu-readme-send-'));
let srv;

before(async () => {
    const pg = await sharedPostgres();
    const redis = await sharedRedis();
    srv = await startHocvud({ dbUrl: await newDatabase(pg), redisUrl: redis.url });
    fs.mkdirSync(path.join(work, '.run'));
    fs.writeFileSync(
        path.join(work, '.run', 'env'),
        `export HOCVU_URL='${srv.url}'\nexport HOCVU_SECRET='${srv.secret}'\n`,
    );
});

after(async () => {
    if (srv) await srv.stop();
    fs.rmSync(work, { recursive: true, force: true });
});

const block = (lang) => readmeBlock('## Sending events', lang);

test('the openssl + curl recipe gets the replies it promises', () => {
    const script = block('sh');
    const promised = script
        .split('\n')
        .filter((l) => l.startsWith('# {'))
        .map((l) => l.slice(2));
    assert.ok(promised.length >= 3, 'the recipe shows its replies');
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: work,
        env: cleanEnv(),
        encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout.split('\n').filter((l) => l.trim());
    assert.deepEqual(got, promised);
});

test('the node standardwebhooks recipe is accepted', () => {
    // Written beside this test so that `import 'standardwebhooks'` finds tests/integration's module.
    const file = path.join(here, `.readme-send-${process.pid}.mjs`);
    fs.writeFileSync(file, block('js'));
    try {
        const r = spawnSync(process.execPath, [file], {
            env: cleanEnv({ HOCVU_URL: srv.url, HOCVU_SECRET: srv.secret }),
            encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), '200 {"status":"accepted"}');
    } finally {
        fs.rmSync(file, { force: true });
    }
});

test('the counts are what those events mean', async () => {
    // Issued then revoked: not counted; the batch's valid line (born 2005) and node's (1990) are.
    await waitFor(
        async () => {
            const p = await getJson(`${srv.url}/v1/progress?year=2026`);
            return p.certified_adults === 2 && p.certified_total === 2;
        },
        { what: 'two certified adults' },
    );
});
