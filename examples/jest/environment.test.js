// With testEnvironment: 'nsgroups/jest-environment', every test has `sandbox` (globalThis.sandbox):
// examples/project copy-on-write, its own /tmp, and a network with only loopback.
const fs = require('node:fs');
const path = require('node:path');

const workspace = fs.realpathSync(path.join(__dirname, '..', 'project'));

test('the build writes into the sandbox, never into the project', async () => {
  const r = await sandbox.run('node', ['app.js', 'build', 'demo']);
  expect(r.code).toBe(0);
  expect(fs.readFileSync(sandbox.path('dist/out.txt'), 'utf8')).toBe('built demo\n');
  expect(await sandbox.changes()).toEqual([
    { path: `${workspace}/dist`, kind: 'added' },
    { path: `${workspace}/dist/out.txt`, kind: 'added' },
    { path: `${workspace}/stale.txt`, kind: 'deleted' },
  ]);
  expect(fs.existsSync(`${workspace}/dist`)).toBe(false);
});

test('each test has a sandbox of its own: the last one left nothing', async () => {
  const r = await sandbox.run('sh', ['-c', 'ls dist /tmp/app-build.log 2>&1 | grep -c "No such file"']);
  expect(r.stdout).toBe('2\n');
});
