// The helper instead of (or besides) the environment: useSandbox() makes a Sandbox before each
// test and disposes of it after; `sb.run(...)` reaches the running test's.
const path = require('node:path');
const { useSandbox } = require('nsgroups/jest');

const sb = useSandbox({ workspace: path.join(__dirname, '..', 'project'), network: 'loopback' });

test('a server started by one command answers the next', async () => {
  const server = sb.spawn('node', ['app.js', 'serve', '8080']);
  await new Promise((resolve) => server.stdout.once('data', resolve));
  const r = await sb.run('node', ['-e', 'fetch("http://127.0.0.1:8080").then((r) => r.text()).then((t) => process.stdout.write(t))']);
  expect(r.stdout).toBe('hello from the sandbox\n');
});
