// mounts without a rootfs: tmpfs, bind (ro/rw, recursive), proc — visible inside only.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NsgroupsError, run, spawn, type SpawnOptions } from '../lib';
import { isRoot, itRoot } from './helpers/host';

let dir: string;
const base: SpawnOptions = { namespaces: isRoot ? [] : ['user'] };
/** The host's mounts under our test directory (other sessions mount elsewhere meanwhile). */
const hostMounts = (): string[] =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir));

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-mounts-'));
  fs.chmodSync(dir, 0o755);
  for (const d of ['src', 'src/sub', 'dst', 'tmp', 'proc']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'src/file'), 'from the host\n');
  fs.writeFileSync(path.join(dir, 'target-file'), '');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('mounts', () => {
  it('tmpfs with size and mode, only inside', async () => {
    const target = path.join(dir, 'tmp');
    const r = await run('sh', ['-c', `stat -c %a ${target}; grep " ${target} " /proc/self/mountinfo; df -k ${target} | tail -1`], {
      ...base,
      mounts: [{ type: 'tmpfs', target, size: '2M', mode: 0o1777 }],
    });
    const [mode, mountinfo, df] = r.stdout.trim().split('\n');
    expect(mode).toBe('1777');
    expect(mountinfo).toMatch(/ - tmpfs tmpfs rw,.*size=2048k/);
    expect(df.split(/\s+/)[1]).toBe('2048');
    expect(hostMounts()).toEqual([]);
  });

  it('a read-write bind: writes land in the source on the host', async () => {
    const dst = path.join(dir, 'dst');
    const r = await run('sh', ['-c', `cat ${dst}/file && echo written > ${dst}/new`], {
      ...base,
      mounts: [{ type: 'bind', source: path.join(dir, 'src'), target: dst }],
    });
    expect(r).toMatchObject({ code: 0, stdout: 'from the host\n' });
    expect(fs.readFileSync(path.join(dir, 'src/new'), 'utf8')).toBe('written\n');
    fs.rmSync(path.join(dir, 'src/new'));
    expect(fs.readdirSync(dst)).toEqual([]); // nothing mounted on the host
  });

  it('a read-only bind refuses writes (EROFS)', async () => {
    const dst = path.join(dir, 'dst');
    const r = await run('sh', ['-c', `cat ${dst}/file; touch ${dst}/nope`], {
      ...base,
      mounts: [{ type: 'bind', source: path.join(dir, 'src'), target: dst, readonly: true }],
    });
    expect(r.stdout).toBe('from the host\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(fs.existsSync(path.join(dir, 'src/nope'))).toBe(false);
  });

  it('a file bind-mounted onto a file', async () => {
    const target = path.join(dir, 'target-file');
    const r = await run('cat', [target], { ...base, mounts: [{ type: 'bind', source: path.join(dir, 'src/file'), target }] });
    expect(r.stdout).toBe('from the host\n');
  });

  it('proc at a target of our choosing, in a new pid namespace', async () => {
    const target = path.join(dir, 'proc');
    const r = await run('sh', ['-c', `ls ${target} | grep -c '^[0-9]'`], {
      namespaces: ['user', 'pid'],
      mounts: [{ type: 'proc', target }],
    });
    expect(Number(r.stdout.trim())).toBeLessThanOrEqual(4);
  });

  itRoot('recursive binds carry submounts, read-only all the way down; non-recursive ones do not', async () => {
    const sub = path.join(dir, 'src/sub');
    execFileSync('mount', ['-t', 'tmpfs', 'nsgroups-test', sub]);
    try {
      fs.writeFileSync(path.join(sub, 'in-submount'), 'x');
      const dst = path.join(dir, 'dst');
      const rec = await run('sh', ['-c', `ls ${dst}/sub; touch ${dst}/sub/y`], {
        mounts: [{ type: 'bind', source: path.join(dir, 'src'), target: dst, readonly: true }],
      });
      expect(rec.stdout).toBe('in-submount\n');
      expect(rec.stderr).toMatch(/Read-only file system/);
      const flat = await run('ls', [`${dst}/sub`], {
        mounts: [{ type: 'bind', source: path.join(dir, 'src'), target: dst, recursive: false }],
      });
      expect(flat.stdout).toBe(''); // the submount stays behind
    } finally {
      execFileSync('umount', [sub]);
    }
  });

  it("binds and tmpfs are nosuid and nodev unless asked; noexec when asked (the kernel's mount options)", async () => {
    const src = path.join(dir, 'src');
    const optionsOf = (target: string): string =>
      `grep " ${target} " /proc/self/mountinfo | cut -d" " -f6 | tr , "\\n" | grep -E "^(nosuid|nodev|noexec)$" | tr "\\n" " "; echo`;
    const r = await run('sh', ['-c', [optionsOf(path.join(dir, 'dst')), optionsOf(path.join(dir, 'tmp'))].join('; ')], {
      ...base,
      mounts: [
        { type: 'bind', source: src, target: path.join(dir, 'dst') },
        { type: 'tmpfs', target: path.join(dir, 'tmp'), noexec: true },
      ],
    });
    expect(r.stdout.split('\n').slice(0, 2)).toEqual(['nosuid nodev ', 'nosuid nodev noexec ']);
    const relaxed = await run('sh', ['-c', optionsOf(path.join(dir, 'dst'))], {
      ...base,
      mounts: [{ type: 'bind', source: src, target: path.join(dir, 'dst'), suid: true, dev: true, noexec: true }],
    });
    // flags the host's own mount of the source already has stay (the kernel locks them)
    const hostFlags = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[4] === execFileSync('findmnt', ['-no', 'TARGET', '-T', src], { encoding: 'utf8' }).trim())!
      .split(' ')[5]
      .split(',');
    const expected = ['nosuid', 'nodev']
      .filter((f) => hostFlags.includes(f))
      .concat('noexec')
      .join(' ');
    expect(relaxed.stdout.trim().split(' ').sort().join(' ')).toBe(expected.split(' ').sort().join(' '));
  });

  it('noexec holds: a binary on a noexec bind cannot be executed (EACCES from the kernel)', async () => {
    const bin = path.join(dir, 'src', 'true-copy');
    fs.copyFileSync('/bin/true', bin);
    fs.chmodSync(bin, 0o755);
    try {
      const r = await run('sh', ['-c', `${path.join(dir, 'dst', 'true-copy')}; echo "status $?"`], {
        ...base,
        mounts: [{ type: 'bind', source: path.join(dir, 'src'), target: path.join(dir, 'dst'), noexec: true }],
      });
      expect(r.stdout).toBe('status 126\n');
      expect(r.stderr).toMatch(/Permission denied/);
    } finally {
      fs.rmSync(bin);
    }
  });

  it('nothing is mounted on the host, during or after', async () => {
    const p = spawn('sleep', ['30'], {
      ...base,
      mounts: [
        { type: 'tmpfs', target: path.join(dir, 'tmp') },
        { type: 'bind', source: path.join(dir, 'src'), target: path.join(dir, 'dst'), readonly: true },
      ],
      stdio: 'ignore',
    });
    await new Promise((r) => p.once('spawn', r));
    const inside = fs.readFileSync(`/proc/${p.pid}/mountinfo`, 'utf8');
    expect(inside).toContain(` ${path.join(dir, 'tmp')} `);
    expect(inside).toContain(` ${path.join(dir, 'dst')} `);
    expect(hostMounts()).toEqual([]);
    p.kill('SIGKILL');
    await p.exited;
    expect(hostMounts()).toEqual([]);
  });
});

describe('mounts: refused before anything is created', () => {
  const refuse = (mounts: unknown, code: string, message: RegExp): void => {
    const fds = fs.readdirSync('/proc/self/fd').length;
    let caught: unknown;
    try {
      spawn('true', [], { ...base, mounts } as SpawnOptions);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NsgroupsError);
    expect(caught).toMatchObject({ code });
    expect((caught as Error).message).toMatch(message);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
  };

  it('a target that does not exist: ERR_NOT_FOUND, and no directory is created', () => {
    const target = path.join(dir, 'missing');
    refuse([{ type: 'tmpfs', target }], 'ERR_NOT_FOUND', /does not exist.*never creates directories/);
    expect(fs.existsSync(target)).toBe(false);
  });
  it('a bind source that does not exist', () =>
    refuse([{ type: 'bind', source: '/nonexistent-src', target: path.join(dir, 'dst') }], 'ERR_NOT_FOUND', /source/));
  it('a directory onto a file', () =>
    refuse([{ type: 'bind', source: path.join(dir, 'src'), target: path.join(dir, 'target-file') }], 'ERR_INVALID_ARG', /cannot bind a directory/));
  it('a relative target', () => refuse([{ type: 'tmpfs', target: 'tmp' }], 'ERR_INVALID_ARG', /absolute path/));
  it('an unknown type', () => refuse([{ type: 'squashfs', target: dir }], 'ERR_INVALID_ARG', /type must be one of/));
  it('an overlay without an OverlayMount', () => refuse([{ type: 'overlay', target: dir }], 'ERR_INVALID_ARG', /overlay must be an OverlayMount/));
  it('a bad size', () => refuse([{ type: 'tmpfs', target: path.join(dir, 'tmp'), size: '12X' }], 'ERR_INVALID_ARG', /size/));
  it('an unknown key', () => refuse([{ type: 'proc', target: path.join(dir, 'proc'), readonly: true }], 'ERR_INVALID_ARG', /unknown option 'readonly'/));
  it('mounts with a joined mount namespace', () => {
    expect(() => spawn('true', [], { join: ['/proc/self/ns/mnt'], mounts: [{ type: 'tmpfs', target: path.join(dir, 'tmp') }] })).toThrow(/joined/);
  });
});
