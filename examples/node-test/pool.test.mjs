// node:test with a pool: `node --test examples/node-test/` (after `npm run build`). The pool
// keeps two sandboxes made ahead (cgroup, namespaces, mounts, the workspace's overlay), so each
// test starts in one at once while the next is made on the other core. Each sandbox is used by
// one test only, and disposed of by it (t.after); after() closes the pool.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Sandbox, sandbox } from 'nsgroups/node-test';

const workspace = fileURLToPath(new URL('../project', import.meta.url));
const pool = Sandbox.pool({ workspace, network: 'loopback', size: 2 });
after(() => pool.close());

test('from a pool: the build writes into its sandbox only', async (t) => {
  const sb = await sandbox(t, pool);
  const r = await sb.run('node', ['app.js', 'build', 'pooled']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(sb.path('dist/out.txt'), 'utf8'), 'built pooled\n');
  assert.equal(existsSync(`${workspace}/dist`), false);
});

test('from a pool: the next test has a sandbox of its own', async (t) => {
  const sb = await sandbox(t, pool);
  const r = await sb.run('sh', ['-c', 'test -e dist || test -e /tmp/app-build.log || echo clean']);
  assert.equal(r.stdout, 'clean\n');
});
