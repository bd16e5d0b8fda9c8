// Some tests run the library in another Node process (a worker, a process we SIGKILL): those load
// the built dist/. Rebuild it first when a source under lib/ is newer, so they never test stale code.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

module.exports = async () => {
  const root = path.join(__dirname, '..');
  const dist = path.join(root, 'dist', 'index.cjs');
  const built = fs.existsSync(dist) ? fs.statSync(dist).mtimeMs : 0;
  if (built < newest(path.join(root, 'lib'))) {
    execFileSync('npm', ['run', '--silent', 'build:ts'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
};
