// mounts: [{ type: 'overlay', overlay, target }] — an OverlayMount mounted at a target inside the
// sandbox only (userxattr in a user namespace); and, under a rootfs, a mount inside a tmpfs of
// the user's mounts gets its mount point in that tmpfs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OverlayMount, run, type SpawnOptions } from '../lib';
import { isRoot } from './helpers/host';

let dir: string;
const userns: SpawnOptions = { namespaces: isRoot ? [] : ['user'] };
/** The host's mounts under our test directory. */
const hostMounts = (): string[] =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir));

function layers(name: string): { lower: string; upper: string; work: string; target: string } {
  const l = {
    lower: path.join(dir, name, 'lower'),
    upper: path.join(dir, name, 'upper'),
    work: path.join(dir, name, 'work'),
    target: path.join(dir, name, 'target'),
  };
  for (const d of Object.values(l)) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(l.lower, 'kept'), 'lower\n');
  fs.writeFileSync(path.join(l.lower, 'gone'), 'lower\n');
  return l;
}

// A root directory with the host's system directories: /usr (and /bin, /lib… as the host has
// them: links into /usr, or directories to bind)
const SYSTEM = ['usr', 'bin', 'sbin', 'lib', 'lib64'];
function systemRoot(root: string): string {
  fs.mkdirSync(root, { recursive: true });
  for (const name of SYSTEM) {
    const st = fs.lstatSync(`/${name}`, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(`/${name}`), path.join(root, name));
  }
  return root;
}
function systemMounts(): Array<{ type: 'bind'; source: string; target: string; readonly: true }> {
  return SYSTEM.filter((n) => fs.lstatSync(`/${n}`, { throwIfNoEntry: false })?.isDirectory()).map((n) => ({
    type: 'bind',
    source: `/${n}`,
    target: `/${n}`,
    readonly: true,
  }));
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-ovmount-'));
  fs.chmodSync(dir, 0o755);
});
afterAll(() => {
  for (const name of fs.readdirSync(dir)) if (fs.existsSync(path.join(dir, name, 'work', 'work'))) fs.chmodSync(path.join(dir, name, 'work', 'work'), 0o700);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("mounts: { type: 'overlay' }", () => {
  it('mounts the overlay at the target inside only; writes go to upper, the lower layer stays', async () => {
    const l = layers('plain');
    const ov = new OverlayMount({ lower: [l.lower], upper: l.upper, work: l.work });
    for (const opts of [userns, { namespaces: ['user' as const] }]) {
      const r = await run('sh', ['-c', `cd ${l.target} && cat kept && echo new > added && rm gone && grep " ${l.target} " /proc/self/mountinfo`], {
        ...opts,
        mounts: [{ type: 'overlay', overlay: ov, target: l.target }],
      });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^lower\n.* - overlay overlay /);
      // in a user namespace overlayfs keeps its markers in user.* xattrs (userxattr)
      if (opts.namespaces?.includes('user')) expect(r.stdout).toMatch(/userxattr/);
      fs.rmSync(path.join(l.upper, 'added'), { force: true });
      fs.rmSync(path.join(l.upper, 'gone'), { force: true });
    }
    expect(fs.readdirSync(l.lower).sort()).toEqual(['gone', 'kept']);
    expect(fs.readdirSync(l.target)).toEqual([]);
    expect(hostMounts()).toEqual([]);
  });

  it('changes() reads the upper dir the sandbox wrote, without the mount points of the mounts inside it', async () => {
    const l = layers('changes');
    const ov = new OverlayMount({ lower: [l.lower], upper: l.upper, work: l.work });
    const inner = path.join(l.target, 'cache');
    const r2 = await run('/bin/sh', ['-c', `cd ${l.target} && echo new > added && rm gone && grep -c " ${inner} " /proc/self/mountinfo`], {
      namespaces: ['user'],
      rootfs: systemRoot(path.join(dir, 'changes', 'root')),
      mounts: [...systemMounts(), { type: 'overlay', overlay: ov, target: l.target }, { type: 'tmpfs', target: inner }],
    });
    expect(r2.stderr).toBe('');
    expect(r2.stdout).toBe('1\n');
    expect(fs.existsSync(path.join(l.upper, 'cache'))).toBe(true); // its mount point, made in the overlay
    expect(await ov.changes()).toEqual([
      { path: '/added', kind: 'added' },
      { path: '/gone', kind: 'deleted' },
    ]);
  });

  it('is refused when the OverlayMount is mounted on the host, or a layer is missing', async () => {
    const l = layers('refused');
    const missing = new OverlayMount({ lower: [path.join(dir, 'nope')], upper: l.upper, work: l.work });
    await expect(run('true', [], { ...userns, mounts: [{ type: 'overlay', overlay: missing, target: l.target }] })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    await expect(run('true', [], { ...userns, mounts: [{ type: 'overlay', overlay: 'x' as never, target: l.target }] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
    });
    // a tmpfs upper is a rootfs's (made on the root before the overlay covers it): not a mount's
    const throwAway = new OverlayMount({ lower: [l.lower], tmpfs: true });
    await expect(run('true', [], { ...userns, mounts: [{ type: 'overlay', overlay: throwAway, target: l.target }] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/tmpfs upper.*give it upper and work/),
    });
    if (isRoot) {
      const onHost = new OverlayMount({ lower: [l.lower], upper: l.upper, work: l.work, target: l.target });
      await onHost.mount();
      try {
        await expect(run('true', [], { mounts: [{ type: 'overlay', overlay: onHost, target: l.target }] })).rejects.toMatchObject({ code: 'ERR_BUSY' });
      } finally {
        await onHost.unmount();
      }
    }
  });
});

describe('mount points under a tmpfs of the mounts', () => {
  it('under a rootfs, a mount inside an earlier tmpfs gets its mount point in that tmpfs', async () => {
    const root = path.join(dir, 'late-root');
    const src = path.join(dir, 'late-src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'f'), 'bound\n');
    const r = await run('/bin/sh', ['-c', 'cat /scratch/deep/in/f && grep -c " /scratch " /proc/self/mountinfo'], {
      namespaces: ['user'],
      rootfs: systemRoot(root),
      mounts: [...systemMounts(), { type: 'tmpfs', target: '/scratch' }, { type: 'bind', source: src, target: '/scratch/deep/in' }],
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('bound\n1\n');
    // made in the tmpfs, not in the root directory below it
    expect(fs.readdirSync(path.join(root, 'scratch'))).toEqual([]);
  });
});
