#!/usr/bin/env node
// A throwaway copy-on-write view of a directory: mount an overlay whose only lower layer is the
// directory, run a command inside the merged view, print what it changed (like `docker diff`),
// optionally keep the changes as a layer, and throw the rest away. The directory itself is never
// written to.
//
// Run it as root (mounting on the host needs CAP_SYS_ADMIN), from the repository after a build:
//
//   npm run build
//   sudo node examples/cow-view.js                      # a demo directory and a demo command
//   sudo node examples/cow-view.js /etc -- sh -c 'echo "10.0.0.1 db" >> hosts; rm -f motd; mkdir -p app && echo on > app/conf'
//   sudo node examples/cow-view.js /etc --keep /tmp/etc-layer -- sh -c 'echo x > added'
//
// Output: one line per change, "A" added, "C" modified, "D" deleted. With --keep DIR the upper
// dir is committed to DIR, a lower layer you can stack: new OverlayMount({ lower: [DIR, dir], ... }).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { OverlayMount, run } = require('../dist/index.cjs');

function parseArgs(argv) {
  const dash = argv.indexOf('--');
  const ours = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  let keep;
  const keepAt = ours.indexOf('--keep');
  if (keepAt >= 0) {
    keep = ours[keepAt + 1];
    ours.splice(keepAt, 2);
  }
  return { dir: ours[0], keep, command };
}

/** A small directory to play with when none is given. */
function demoDirectory(scratch) {
  const dir = path.join(scratch, 'demo');
  fs.mkdirSync(path.join(dir, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'README'), 'the original README\n');
  fs.writeFileSync(path.join(dir, 'docs', 'old.txt'), 'old notes\n');
  fs.writeFileSync(path.join(dir, 'config'), 'debug=false\n');
  return dir;
}

const DEMO_COMMAND = ['sh', '-c', 'echo "debug=true" > config && rm -r docs && mkdir docs && echo new > docs/new.txt && echo hi > hello'];

async function main() {
  const { dir: given, keep, command } = parseArgs(process.argv.slice(2));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-cow-view-'));
  const dir = given ? path.resolve(given) : demoDirectory(scratch);
  const [file, ...args] = command.length > 0 ? command : DEMO_COMMAND;
  const layout = {};
  for (const name of ['upper', 'work', 'merged']) fs.mkdirSync((layout[name] = path.join(scratch, name)));

  const view = new OverlayMount({ lower: [dir], upper: layout.upper, work: layout.work, target: layout.merged });
  try {
    await view.mount();
    try {
      // run the command with the merged view as its working directory; its output passes through
      const result = await run(file, args, { cwd: layout.merged, stdio: ['ignore', 'inherit', 'inherit'] });
      if (result.code !== 0) console.error(`(${file} exited with ${result.code ?? result.signal})`);
    } finally {
      await view.unmount();
    }
    const letter = { added: 'A', modified: 'C', deleted: 'D' };
    const changes = await view.changes();
    console.log(`${changes.length} change(s) to ${dir}, which itself is untouched:`);
    for (const change of changes) console.log(`${letter[change.kind]} ${change.path}`);
    if (keep) console.log(`kept as a layer in ${await view.commit(keep)}`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`cow-view: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
