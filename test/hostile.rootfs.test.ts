// A hostile root filesystem against the library's mounts (the class of runc's CVE-2021-30465 and
// CVE-2019-19921): symlinks at and on the way to every path the library or the user mounts on,
// in a directory rootfs and in an overlay's lower layer. Nothing may be created on the host and
// the host's mount table must not change; what cannot be done safely is refused with
// ERR_INVALID_ARG naming the path. The kernel is the oracle: the host directory's entries, and
// /proc/self/mountinfo. Also under a seccomp filter that hides openat2/open_tree/mount_setattr
// (older kernels), where the fallbacks must be as safe.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NsgroupsError, OverlayMount, run, type SpawnOptions } from '../lib';
import { busyboxAvailable, makeBusyboxLayer } from './helpers/busybox';
import { isRoot, itIf } from './helpers/host';

const hasBusybox = busyboxAvailable();
const ENV = { PATH: '/bin' };
const LANES: Array<[string, SpawnOptions['namespaces']]> = isRoot
  ? [
      ['root, no user namespace', ['pid', 'mount', 'net']],
      ['root, user namespace', ['user', 'pid', 'mount', 'net']],
    ]
  : [['rootless', ['user', 'pid', 'mount', 'net']]];

let scratch: string;
let template: string;
let victim: string;
let n = 0;

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-hostile-${process.pid}-`));
  fs.chmodSync(scratch, 0o755);
  if (hasBusybox) template = makeBusyboxLayer(path.join(scratch, 'template'));
  victim = path.join(scratch, 'host-victim');
  fs.mkdirSync(victim, { mode: 0o777 });
  fs.chmodSync(victim, 0o777); // writable by anyone: only the symlink rules keep the sandbox out
  fs.writeFileSync(path.join(victim, 'precious'), 'host data\n');
});
afterAll(() => {
  const open = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      fs.chmodSync(path.join(dir, e.name), 0o700);
      open(path.join(dir, e.name));
    }
  };
  open(scratch);
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** A fresh busybox root (a copy of the template) changed by `hostile`. */
function rootfs(hostile: (root: string) => void): string {
  const root = path.join(scratch, `root-${n++}`);
  execFileSync('cp', ['-a', template, root]);
  hostile(root);
  return root;
}

function replace(root: string, rel: string, make: (p: string) => void): void {
  fs.rmSync(path.join(root, rel), { recursive: true, force: true });
  make(path.join(root, rel));
}

/** What the host can see: the victim's entries, and every mount that mentions the scratch dir. */
function hostView(): { victim: string[]; mounts: string[] } {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(scratch));
  return { victim: fs.readdirSync(victim).sort(), mounts };
}

async function attempt(options: SpawnOptions, script = 'echo inside'): Promise<{ stdout?: string; error?: NsgroupsError }> {
  try {
    const r = await run('/bin/sh', ['-c', script], { env: ENV, ...options });
    return { stdout: r.stdout };
  } catch (err) {
    if (!(err instanceof NsgroupsError)) throw err;
    return { error: err };
  }
}

for (const [lane, namespaces] of LANES) {
  describe(`${lane}: a directory rootfs`, () => {
    const library = ['proc', 'dev', 'tmp', 'sys'];
    const layouts: Array<[string, (p: string) => void]> = [
      ['an absolute symlink to a host directory', (p) => fs.symlinkSync(victim, p)],
      ['a relative symlink climbing out', (p) => fs.symlinkSync('../'.repeat(12) + victim.slice(1), p)],
      ["a symlink to '..' (the root itself)", (p) => fs.symlinkSync('..', p)],
      ['a regular file', (p) => fs.writeFileSync(p, 'not a directory\n')],
    ];
    for (const dir of library) {
      for (const [what, make] of layouts) {
        itIf(hasBusybox, 'needs busybox-static', `its /${dir} is ${what}: refused, nothing on the host`, async () => {
          const root = rootfs((r) => replace(r, dir, make));
          const before = hostView();
          const r = await attempt({ namespaces, rootfs: root, sysfs: dir === 'sys' });
          expect(r.error).toBeDefined();
          expect(r.error!.code).toBe('ERR_INVALID_ARG');
          expect(r.error!.path).toBe(`/${dir}`);
          expect(r.error!.message).toMatch(what === 'a regular file' ? /not a directory/ : /symlink/);
          expect(hostView()).toEqual(before);
        });
      }
    }

    itIf(hasBusybox, 'needs busybox-static', 'a mount target through an absolute symlink to the host: refused, nothing created there', async () => {
      const root = rootfs((r) => fs.symlinkSync(victim, path.join(r, 'data')));
      const before = hostView();
      const r = await attempt({ namespaces, rootfs: root, mounts: [{ type: 'tmpfs', target: '/data/sub' }] });
      expect(r.error).toMatchObject({ code: 'ERR_INVALID_ARG', path: '/data/sub' });
      expect(r.error!.message).toMatch(/leads nowhere inside the root/);
      expect(hostView()).toEqual(before); // no 'sub' in the host directory
    });

    itIf(hasBusybox, 'needs busybox-static', 'a bind-file mount point under a symlinked parent: nothing created on the host', async () => {
      const root = rootfs((r) => fs.symlinkSync(victim, path.join(r, 'etc', 'conf.d')));
      const source = path.join(scratch, `source-${n++}.conf`);
      fs.writeFileSync(source, 'setting=1\n');
      const before = hostView();
      const r = await attempt({ namespaces, rootfs: root, mounts: [{ type: 'bind', source, target: '/etc/conf.d/app.conf' }] });
      expect(r.error).toMatchObject({ code: 'ERR_INVALID_ARG' });
      expect(hostView()).toEqual(before); // no app.conf in the host directory
    });

    itIf(hasBusybox, 'needs busybox-static', "a relative symlink climbing out, for a user's mount: stays inside the root", async () => {
      // ../../.. (twelve times) then a name at the top: on the host that would be /<name>
      const name = `nsgroups-escape-${process.pid}`;
      const root = rootfs((r) => {
        fs.symlinkSync('../'.repeat(12) + name, path.join(r, 'data'));
        fs.mkdirSync(path.join(r, name)); // where it leads inside the root
      });
      const before = hostView();
      const r = await attempt(
        { namespaces, rootfs: root, mounts: [{ type: 'tmpfs', target: '/data' }] },
        `grep " /${name} " /proc/self/mountinfo | cut -d" " -f5,9`,
      );
      expect(r).toEqual({ stdout: `/${name} tmpfs\n` }); // the tmpfs is at the in-root path the symlink names
      expect(fs.existsSync(`/${name}`)).toBe(false);
      expect(hostView()).toEqual(before);
    });

    itIf(hasBusybox, 'needs busybox-static', 'an ordinary symlink inside the root (var/run -> ../run) is followed, inside the root', async () => {
      const root = rootfs((r) => {
        fs.mkdirSync(path.join(r, 'run'));
        fs.mkdirSync(path.join(r, 'var'));
        fs.symlinkSync('../run', path.join(r, 'var', 'run'));
      });
      const r = await attempt(
        { namespaces, rootfs: root, mounts: [{ type: 'tmpfs', target: '/var/run/app' }] },
        'grep " /run/app " /proc/self/mountinfo | cut -d" " -f5,9',
      );
      expect(r).toEqual({ stdout: '/run/app tmpfs\n' });
      expect(fs.existsSync(path.join(root, 'run', 'app'))).toBe(true); // made inside the root
    });
  });

  describe(`${lane}: an overlay whose lower layer is hostile`, () => {
    itIf(hasBusybox, 'needs busybox-static', 'tmp an absolute symlink, proc a file: refused, the host untouched', async () => {
      for (const [dir, make] of [
        ['tmp', (p: string) => fs.symlinkSync(victim, p)],
        ['proc', (p: string) => fs.writeFileSync(p, 'x')],
      ] as const) {
        const lower = rootfs((r) => replace(r, dir, make));
        const base = path.join(scratch, `ovl-${n++}`);
        for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d), { recursive: true });
        const ov = new OverlayMount({ lower: [lower], upper: path.join(base, 'upper'), work: path.join(base, 'work'), target: path.join(base, 'merged') });
        const before = hostView();
        const r = await attempt({ namespaces, rootfs: ov });
        expect(r.error).toMatchObject({ code: 'ERR_INVALID_ARG', path: `/${dir}` });
        expect(hostView()).toEqual(before);
        expect(ov.mounted).toBe(false);
      }
    });
  });
}

describe('where the kernel lacks openat2, open_tree and mount_setattr (a seccomp filter says ENOSYS)', () => {
  let enosys: string;
  beforeAll(() => {
    enosys = path.join(scratch, 'enosys');
    execFileSync('cc', ['-O2', '-Wall', '-o', enosys, path.join(__dirname, 'fixtures/enosys.c')]);
  });
  const NR = { open_tree: 428, move_mount: 429, openat2: 437, mount_setattr: 442 };
  function underFilter(nrs: number[], script: string): string {
    const lib = JSON.stringify(path.join(__dirname, 'fixtures/lib.js'));
    return execFileSync(
      enosys,
      [
        nrs.join(','),
        process.execPath,
        '-e',
        `const ns = require(${lib});\n(async () => {\n${script}\n})().catch((e) => { console.log(JSON.stringify({ error: e.code, path: e.path, message: e.message })); });`,
      ],
      {
        encoding: 'utf8',
        timeout: 30000,
      },
    );
  }
  const namespaces = LANES[LANES.length - 1][1];

  itIf(hasBusybox, 'needs busybox-static', 'no openat2: symlinks in the rootfs are refused (ELOOP), plain paths still work', () => {
    const plain = rootfs(() => {});
    const hostile = rootfs((r) => fs.symlinkSync(victim, path.join(r, 'data')));
    const before = hostView();
    const out = underFilter(
      [NR.openat2],
      `
      const ok = await ns.run('/bin/sh', ['-c', 'echo fine'], { env: { PATH: '/bin' }, namespaces: ${JSON.stringify(namespaces)}, rootfs: ${JSON.stringify(plain)}, mounts: [{ type: 'tmpfs', target: '/mnt/x' }] });
      console.log(JSON.stringify({ ok: ok.stdout }));
      await ns.run('/bin/sh', ['-c', 'true'], { env: { PATH: '/bin' }, namespaces: ${JSON.stringify(namespaces)}, rootfs: ${JSON.stringify(hostile)}, mounts: [{ type: 'tmpfs', target: '/data/sub' }] });`,
    );
    const [first, second] = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(first).toEqual({ ok: 'fine\n' });
    expect(second).toMatchObject({ error: 'ERR_INVALID_ARG', path: '/data/sub' });
    expect(second.message).toMatch(/no openat2/);
    expect(hostView()).toEqual(before);
  });

  itIf(hasBusybox, 'needs busybox-static', 'no open_tree or mount_setattr: binds by mount(2) onto the fd, still read-only, nosuid and nodev', () => {
    const root = rootfs(() => {});
    const data = path.join(scratch, `data-${n++}`);
    fs.mkdirSync(data);
    fs.chmodSync(data, 0o755);
    const out = underFilter(
      [NR.open_tree, NR.mount_setattr, NR.move_mount],
      `
      const r = await ns.run('/bin/sh', ['-c', 'grep " /data " /proc/self/mountinfo | cut -d" " -f6; touch /data/x 2>&1 || echo refused'],
        { env: { PATH: '/bin' }, namespaces: ${JSON.stringify(namespaces)}, rootfs: ${JSON.stringify(root)}, readonly: true, mounts: [{ type: 'bind', source: ${JSON.stringify(data)}, target: '/data', readonly: true }] });
      console.log(JSON.stringify(r.stdout));`,
    );
    const stdout = JSON.parse(out.trim()) as string;
    const [opts] = stdout.split('\n');
    expect(opts.split(',')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev']));
    expect(stdout).toMatch(/refused/);
    expect(fs.readdirSync(data)).toEqual([]);
  });
});
