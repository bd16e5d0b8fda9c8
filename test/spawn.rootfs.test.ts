// spawn({ rootfs }): a sandbox on an overlay of a busybox layer (or on a plain directory), with
// its own /proc, /dev, /tmp, pivot_root — and nothing of it in the host's mount table.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NsgroupsError, OverlayMount, run, spawn, type SpawnOptions } from '../lib';
import { busyboxAvailable, makeBusyboxLayer } from './helpers/busybox';
import { isRoot, itIf } from './helpers/host';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../lib/spawn/privileges';

const ENV = { PATH: '/bin' };
const NS: SpawnOptions['namespaces'] = isRoot ? ['pid', 'mount', 'ipc', 'uts', 'net'] : ['user', 'pid', 'mount', 'ipc', 'uts', 'net'];

let scratch: string;
let lower: string;
const hasBusybox = busyboxAvailable();

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-rootfs-${process.pid}-`));
  fs.chmodSync(scratch, 0o755);
  lower = hasBusybox ? makeBusyboxLayer(path.join(scratch, 'busybox')) : '';
  fs.mkdirSync(path.join(scratch, 'app/etc'), { recursive: true });
  fs.writeFileSync(path.join(scratch, 'app/etc/motd'), 'from the app layer\n');
  fs.writeFileSync(path.join(scratch, 'app/etc/only-app'), 'app\n');
});
// overlayfs leaves work/work with mode 000 when mounted in a user namespace: open it up first
afterAll(() => {
  const open = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      fs.chmodSync(p, 0o700);
      open(p);
    }
  };
  open(scratch);
  fs.rmSync(scratch, { recursive: true, force: true });
});

let n = 0;
function freshOverlay(lowers = [path.join(scratch, 'app'), lower]): OverlayMount {
  const base = path.join(scratch, `ctr${n++}`);
  for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d), { recursive: true });
  return new OverlayMount({ lower: lowers, upper: path.join(base, 'upper'), work: path.join(base, 'work'), target: path.join(base, 'merged') });
}

const ourMounts = (): string[] =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(scratch));

const needBusybox = (name: string, fn: () => Promise<void>): void => itIf(hasBusybox, 'needs /bin/busybox (Debian package busybox-static)', name, fn);

describe('an overlay root', () => {
  needBusybox('sees the merged layers (topmost lower wins) and writes land in upper only', async () => {
    fs.writeFileSync(path.join(lower, 'etc/motd'), 'from busybox\n');
    const ov = freshOverlay();
    const r = await run('sh', ['-c', 'cat /etc/motd /etc/only-app; ls /bin/sh; echo new > /etc/added; rm /etc/only-app'], {
      rootfs: ov,
      namespaces: NS,
      env: ENV,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('from the app layer\napp\n/bin/sh\n');
    expect(fs.readFileSync(path.join(ov.upper!, 'etc/added'), 'utf8')).toBe('new\n');
    // a delete leaves a whiteout (0/0 character device) in upper; the lower keeps its file
    const wh = fs.statSync(path.join(ov.upper!, 'etc/only-app'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(fs.readFileSync(path.join(scratch, 'app/etc/only-app'), 'utf8')).toBe('app\n');
    expect(fs.existsSync(path.join(lower, 'etc/added'))).toBe(false);
    expect(await ov.changes()).toEqual([
      { path: '/etc', kind: 'modified' },
      { path: '/etc/added', kind: 'added' },
      { path: '/etc/only-app', kind: 'deleted' },
    ]);
  });

  needBusybox("cannot see the host's /tmp; /proc shows only its own processes; mount shows no host mount", async () => {
    const marker = path.join(os.tmpdir(), `nsgroups-marker-${process.pid}`);
    fs.writeFileSync(marker, 'host');
    try {
      const ov = freshOverlay();
      const r = await run('sh', ['-c', `ls ${marker} 2>&1; echo ---; ls /proc | grep -c '^[0-9]'; echo ---; mount`], { rootfs: ov, namespaces: NS, env: ENV });
      const [tmp, procs, mounts] = r.stdout.split('---\n');
      expect(tmp).toMatch(/No such file or directory/);
      expect(Number(procs.trim())).toBeLessThanOrEqual(4);
      const points = mounts
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[2]);
      expect(points[0]).toBe('/');
      // the library's own, and the kernel paths it hides or makes read-only (those this kernel has)
      const library = ['/', '/proc', '/tmp', '/dev', '/dev/pts', '/dev/shm', '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];
      const hidden = [...DEFAULT_MASKED_PATHS, ...DEFAULT_READONLY_PATHS].filter((p) => p.startsWith('/proc/') && fs.existsSync(p));
      for (const p of points) expect([...library, ...hidden]).toContain(p);
      for (const p of hidden) expect(points).toContain(p);
    } finally {
      fs.rmSync(marker);
    }
  });

  needBusybox("the host's mount table has none of it, during or after; changes() ignores the library's mount points", async () => {
    const ov = freshOverlay();
    const p = spawn('sleep', ['30'], { rootfs: ov, namespaces: NS, env: ENV, stdio: 'ignore' });
    await new Promise((resolve, reject) => {
      p.once('spawn', resolve);
      p.once('error', reject);
    });
    expect(fs.readFileSync(`/proc/${p.pid}/mountinfo`, 'utf8')).toMatch(/ \/ .* - overlay overlay /);
    expect(ourMounts()).toEqual([]);
    expect(ov.mounted).toBe(false);
    await expect(ov.commit(path.join(scratch, 'nope'))).rejects.toMatchObject({ code: 'ERR_BUSY' });
    p.kill('SIGKILL');
    await p.exited;
    expect(ourMounts()).toEqual([]);
    expect(await ov.changes()).toEqual([]);
  });

  needBusybox('a minimal /dev: null, zero, full, random, urandom, tty, pts, shm, fd links', async () => {
    const ov = freshOverlay();
    const script =
      'ls /dev | tr "\\n" " "; echo; echo x > /dev/null && head -c 4 /dev/zero | wc -c; readlink /dev/fd; readlink /dev/ptmx; touch /dev/shm/x && echo shm-ok';
    const r = await run('sh', ['-c', script], { rootfs: ov, namespaces: NS, env: ENV });
    expect(r.stderr).toBe('');
    const [devs, ...rest] = r.stdout.trim().split('\n');
    expect(devs.trim().split(' ').sort()).toEqual([
      'fd',
      'full',
      'null',
      'ptmx',
      'pts',
      'random',
      'shm',
      'stderr',
      'stdin',
      'stdout',
      'tty',
      'urandom',
      'zero',
    ]);
    expect(rest.map((l) => l.trim())).toEqual(['4', '/proc/self/fd', 'pts/ptmx', 'shm-ok']);
  });

  needBusybox('readonly: the root refuses writes; /tmp and /dev stay writable', async () => {
    const ov = freshOverlay();
    const r = await run('sh', ['-c', 'touch /etc/x 2>&1; touch /tmp/x && echo tmp-ok; echo > /dev/null && echo dev-ok'], {
      rootfs: ov,
      namespaces: NS,
      env: ENV,
      readonly: true,
    });
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(r.stdout).toContain('tmp-ok');
    expect(r.stdout).toContain('dev-ok');
    expect(fs.readdirSync(ov.upper!).filter((f) => f !== 'proc' && f !== 'dev' && f !== 'tmp')).toEqual([]);
  });

  needBusybox("the user's mounts go inside the root; cwd defaults to /", async () => {
    const data = path.join(scratch, 'data');
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, 'file'), 'shared\n');
    const ov = freshOverlay();
    const r = await run('sh', ['-c', 'pwd; cat /data/file; echo out > /data/out; df -k /scratch | tail -1'], {
      rootfs: ov,
      namespaces: NS,
      env: ENV,
      mounts: [
        { type: 'bind', source: data, target: '/data' },
        { type: 'tmpfs', target: '/scratch', size: '1M' },
      ],
    });
    expect(r.stderr).toBe('');
    const [cwd, file, df] = r.stdout.trim().split('\n');
    expect(cwd).toBe('/');
    expect(file).toBe('shared');
    expect(df.split(/\s+/)[1]).toBe('1024');
    expect(fs.readFileSync(path.join(data, 'out'), 'utf8')).toBe('out\n');
    expect(await ov.changes()).toEqual([]); // /data and /scratch are mount points, not changes
  });

  needBusybox('sysfs: /sys read-only', async () => {
    const ov = freshOverlay();
    const r = await run('sh', ['-c', 'ls /sys/class/net; touch /sys/x 2>&1'], { rootfs: ov, namespaces: NS, env: ENV, sysfs: true });
    expect(r.stdout).toMatch(/^lo\n/);
    expect(r.stdout).toMatch(/Read-only file system/);
  });

  needBusybox('a command that is not in the root is not found, even if the host has it', async () => {
    const ov = freshOverlay();
    const p = spawn('node', ['-e', '0'], { rootfs: ov, namespaces: NS, env: ENV });
    await expect(p.exited).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', step: 'execve' });
  });
});

describe('a directory root', () => {
  needBusybox('runs in the directory, and its writes land there', async () => {
    const dir = path.join(scratch, `dirroot${n++}`);
    fs.cpSync(lower, dir, { recursive: true, verbatimSymlinks: true });
    const r = await run('sh', ['-c', 'echo hi > /root/made; ls /'], { rootfs: dir, namespaces: NS, env: ENV });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'root/made'), 'utf8')).toBe('hi\n');
    expect(ourMounts()).toEqual([]);
  });
});

describe('rootfs: refused before anything is created', () => {
  it('a directory that does not exist', () => {
    expect(() => spawn('sh', [], { rootfs: '/nonexistent-root' })).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });
  it('a relative path, the host root, a file', () => {
    expect(() => spawn('sh', [], { rootfs: 'relative' })).toThrow(/absolute/);
    expect(() => spawn('sh', [], { rootfs: '/' })).toThrow(/host's own root/);
    expect(() => spawn('sh', [], { rootfs: '/etc/hostname' })).toThrow(/not a directory/);
  });
  it('an overlay whose layer does not exist: ERR_NOT_FOUND', () => {
    const ov = new OverlayMount({
      lower: [path.join(scratch, 'missing')],
      upper: path.join(scratch, 'u'),
      work: path.join(scratch, 'w'),
      target: path.join(scratch, 'app'),
    });
    expect(() => spawn('sh', [], { rootfs: ov, namespaces: NS })).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it('an overlay without a target', () => {
    const ov = new OverlayMount({ lower: [path.join(scratch, 'app')], upper: path.join(scratch, 'u'), work: path.join(scratch, 'w') } as never);
    expect(() => spawn('sh', [], { rootfs: ov, namespaces: NS })).toThrow(NsgroupsError);
  });
  it('readonly or sysfs without a rootfs', () => {
    expect(() => spawn('sh', [], { readonly: true })).toThrow(/applies to a rootfs/);
    expect(() => spawn('sh', [], { sysfs: true })).toThrow(/applies to a rootfs/);
  });
  it('a rootfs with a joined mount namespace', () => {
    expect(() => spawn('sh', [], { rootfs: scratch, join: ['/proc/self/ns/mnt'] })).toThrow(/joined/);
  });
  it('a root mount the kernel refuses fails at step mount, with nothing mounted', async () => {
    // upper and work on different filesystems: overlayfs refuses (EINVAL) inside the child
    const shm = fs.mkdtempSync('/dev/shm/nsgroups-rootfs-');
    try {
      const base = path.join(scratch, `bad${n++}`);
      for (const d of ['work', 'merged']) fs.mkdirSync(path.join(base, d), { recursive: true });
      const ov = new OverlayMount({ lower: [path.join(scratch, 'app')], upper: shm, work: path.join(base, 'work'), target: path.join(base, 'merged') });
      const p = spawn('sh', [], { rootfs: ov, namespaces: NS, env: ENV });
      const err = await p.exited.catch((e) => e);
      expect(err).toMatchObject({ step: 'mount', syscall: 'mount', path: path.join(base, 'merged') });
      expect(err.message).toMatch(/mount the overlay root/);
      expect(ourMounts()).toEqual([]);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });
});
