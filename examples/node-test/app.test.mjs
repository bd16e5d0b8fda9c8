// node:test, one Sandbox per test: `node --test examples/node-test/` (after `npm run build`).
// Each test sees examples/project copy-on-write, its own /tmp, and a network with only loopback;
// t.after() disposes of the sandbox, killing whatever the test left running.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sandbox } from 'nsgroups/node-test';

const workspace = fileURLToPath(new URL('../project', import.meta.url));

test('the build writes into the sandbox, never into the project', async (t) => {
  const sb = await sandbox(t, { workspace });
  const r = await sb.run('node', ['app.js', 'build', 'demo']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(sb.path('dist/out.txt'), 'utf8'), 'built demo\n');
  assert.equal(readFileSync(sb.path('/tmp/app-build.log'), 'utf8'), 'built demo\n'); // the sandbox's own /tmp
  assert.deepEqual(await sb.changes(), [
    { path: `${workspace}/dist`, kind: 'added' },
    { path: `${workspace}/dist/out.txt`, kind: 'added' },
    { path: `${workspace}/stale.txt`, kind: 'deleted' },
  ]);
  assert.equal(existsSync(`${workspace}/dist`), false);
  assert.equal(existsSync(`${workspace}/stale.txt`), true);
});

test('a server started by one command answers the next', async (t) => {
  const sb = await sandbox(t, { workspace, network: 'loopback' });
  const server = sb.spawn('node', ['app.js', 'serve', '8080']);
  await new Promise((resolve) => server.stdout.once('data', resolve));
  const r = await sb.run('node', ['-e', 'fetch("http://127.0.0.1:8080").then((r) => r.text()).then((t) => process.stdout.write(t))']);
  assert.equal(r.stdout, 'hello from the sandbox\n');
  // the server is still running: dispose (in t.after) reports it as a leftover and kills it
});
