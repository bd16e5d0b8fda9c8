#!/usr/bin/env node
// An overlay playground: a read-only "image" directory as the lower layer, a sandbox that
// changes things in the merged view (adds, modifies, deletes), the changes read back from the
// upper dir (whiteouts included, like `docker diff`), committed as a new layer, and that layer
// stacked on the image in a second overlay, which shows the changed tree. The image itself is
// never written to.
//
// Needs ROOT (the overlays are mounted on the host: CAP_SYS_ADMIN; as another user it says so
// and exits 2). From the package:
//
//   sudo node examples/overlay-playground.js
//
// Prints the changes ("A" added, "C" modified, "D" deleted), the committed layer's files and the
// second overlay's view; exits 0 when they are what the sandbox did. Everything is made under one
// temporary directory, unmounted and removed at the end.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { OverlayMount, run } = require('nsgroups');

const KIND = { added: 'A', modified: 'C', deleted: 'D' };

function tree(dir, at = '') {
  return fs.readdirSync(path.join(dir, at), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(at, e.name);
    return e.isDirectory() ? [`${rel}/`, ...tree(dir, rel)] : [rel];
  });
}

async function main() {
  if (process.geteuid() !== 0) {
    console.error('overlay-playground.js needs root: it mounts overlays on the host (CAP_SYS_ADMIN)');
    return 2;
  }
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-overlay-playground-'));
  const dir = (name) => {
    const p = path.join(top, name);
    fs.mkdirSync(p);
    return p;
  };
  const image = dir('image');
  fs.mkdirSync(path.join(image, 'etc'));
  fs.writeFileSync(path.join(image, 'etc', 'motd'), 'welcome\n');
  fs.writeFileSync(path.join(image, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(path.join(image, 'README'), 'the image\n');
  fs.chmodSync(image, 0o555); // read-only, to make the point
  const mounted = [];
  try {
    const ov = new OverlayMount({ lower: [image], upper: dir('upper'), work: dir('work'), target: dir('merged') });
    await ov.mount();
    mounted.push(ov);
    // the sandbox works in the merged view (a bind of it would do as well)
    const r = await run('sh', ['-c', 'echo "10.0.0.1 db" >> etc/hosts && rm etc/motd && mkdir app && echo on > app/conf'], {
      namespaces: ['user', 'pid', 'mount'],
      cwd: ov.target,
    });
    if (r.code !== 0) throw new Error(`the sandbox's command failed: ${r.stderr}`);
    const changes = await ov.changes();
    console.log('changes:');
    for (const c of changes) console.log(`  ${KIND[c.kind]} ${c.path}`);
    await ov.unmount();
    mounted.pop();
    const layer = path.join(top, 'layer');
    await ov.commit(layer);
    console.log(`committed layer: ${tree(layer).join(' ')} (etc/motd there is a whiteout: the deletion)`);
    const stacked = new OverlayMount({ lower: [layer, image], target: dir('view'), readonly: true });
    await stacked.mount();
    mounted.push(stacked);
    const view = tree(stacked.target);
    console.log(`the image with the layer on top: ${view.join(' ')}`);
    console.log(`etc/hosts there: ${JSON.stringify(fs.readFileSync(path.join(stacked.target, 'etc', 'hosts'), 'utf8'))}`);
    const want = ['README', 'app/', 'app/conf', 'etc/', 'etc/hosts'];
    const ok = JSON.stringify(view.sort()) === JSON.stringify(want) && fs.existsSync(path.join(image, 'etc', 'motd'));
    console.log(ok ? 'ok: the layer holds what the sandbox did, and the image is as it was' : 'NOT as expected');
    return ok ? 0 : 1;
  } finally {
    for (const m of mounted.reverse()) await m.unmount().catch(() => {});
    fs.chmodSync(image, 0o755);
    fs.rmSync(top, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
