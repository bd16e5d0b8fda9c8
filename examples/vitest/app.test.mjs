// vitest, a Sandbox fixture: `npx vitest run --root examples/vitest` (after `npm run build`).
// A test that asks for `sandbox` gets a fresh one, disposed of after the test.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test as base, expect } from 'vitest';
import { sandboxFixture } from 'nsgroups/vitest';

const workspace = fileURLToPath(new URL('../project', import.meta.url));
const test = base.extend({ sandbox: sandboxFixture({ workspace, network: 'loopback' }) });

test('the build writes into the sandbox, never into the project', async ({ sandbox }) => {
  const r = await sandbox.run('node', ['app.js', 'build', 'demo']);
  expect(r.code).toBe(0);
  expect(readFileSync(sandbox.path('dist/out.txt'), 'utf8')).toBe('built demo\n');
  expect((await sandbox.changes()).map((c) => `${c.kind} ${c.path.slice(workspace.length)}`)).toEqual([
    'added /dist',
    'added /dist/out.txt',
    'deleted /stale.txt',
  ]);
  expect(existsSync(`${workspace}/dist`)).toBe(false);
});

test('a server started by one command answers the next', async ({ sandbox }) => {
  const server = sandbox.spawn('node', ['app.js', 'serve', '8080']);
  await new Promise((resolve) => server.stdout.once('data', resolve));
  const r = await sandbox.run('node', ['-e', 'fetch("http://127.0.0.1:8080").then((r) => r.text()).then((t) => process.stdout.write(t))']);
  expect(r.stdout).toBe('hello from the sandbox\n');
});
