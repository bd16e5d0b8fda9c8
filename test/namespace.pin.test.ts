// Pinning (bind mounts of nsfs files), Namespace.open/unpin, and Namespace.create for every type
// it supports, against mountinfo, /proc, lsns-style listing and ip-netns(8).
// Pins are made only in a temp dir this test creates and under /run/netns/nsgroups-<pid>-*.
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Namespace, NetworkLinks, run, type SandboxProcess } from '../lib';
import { isRoot, itRoot, itRootless } from './helpers/host';
import { childPids, nsLink, waitFor } from './helpers/proc';
import { inodeOf, isCloexec, nsfsMounts, startSleeper, stopSleeper } from './helpers/sandbox';

const TYPES = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup'] as const;
const procName = (t: string) => (t === 'mount' ? 'mnt' : t);

let dir: string;
const netnsNames: string[] = [];
const netnsName = (suffix: string) => {
  const name = `nsgroups-${process.pid}-${suffix}`;
  netnsNames.push(name);
  return name;
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-pins-'));
});

afterAll(async () => {
  // whatever a failed test left: unpin every pin in our dir and our /run/netns names
  const mounts = nsfsMounts();
  const ours = [...mounts.keys()].filter((m) => m.startsWith(`${dir}/`) || netnsNames.some((n) => m === `/run/netns/${n}`));
  for (const m of ours) await Namespace.unpin(m, { remove: true }).catch(() => {});
  for (const n of netnsNames) fs.rmSync(`/run/netns/${n}`, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Processes in the pid namespace `inode` (from /proc, the kernel's view). */
function membersOfPidNs(inode: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => {
      try {
        return inodeOf(fs.readlinkSync(`/proc/${pid}/ns/pid`)) === inode;
      } catch {
        return false;
      }
    });
}

describe('pin, open, unpin', () => {
  itRoot('a pin keeps a namespace alive after its last process exits; unpin lets it go', async () => {
    let p: SandboxProcess | undefined = await startSleeper(['net', 'uts']);
    try {
      const ns = await Namespace.of(p.pid!, 'net');
      const file = `${dir}/net-a`;
      const pinned = await ns.pin(file);
      expect(pinned.path).toBe(file);
      expect(pinned.equals(ns)).toBe(true);
      expect(nsfsMounts().get(file)).toBe(String(ns)); // the kernel's mount table
      await stopSleeper(p);
      p = undefined;

      expect(() => ns.openFd()).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' })); // /proc/PID is gone
      const reopened = await Namespace.open(file);
      expect(reopened.equals(ns)).toBe(true);
      expect(fs.statSync(file).ino).toBe(ns.inode);
      const listed = (await Namespace.list()).find((e) => e.type === 'net' && e.inode === ns.inode);
      expect(listed).toMatchObject({ pids: [], pid: null, pins: [file] });
      expect(listed!.namespace.path).toBe(file);

      await Namespace.unpin(file);
      expect(nsfsMounts().has(file)).toBe(false);
      expect(fs.existsSync(file)).toBe(false); // we created it, so unpin removed it
      expect((await Namespace.list()).some((e) => e.type === 'net' && e.inode === ns.inode)).toBe(false);
      await expect(Namespace.open(file)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    } finally {
      await stopSleeper(p);
    }
  });

  itRoot('a pin on an existing file leaves the file at unpin (unless remove: true)', async () => {
    const file = `${dir}/existing`;
    fs.writeFileSync(file, '');
    await (await Namespace.of('uts')).pin(file);
    expect(nsfsMounts().get(file)).toBe(nsLink('self', 'uts'));
    await Namespace.unpin(file);
    expect(fs.existsSync(file)).toBe(true);
    await (await Namespace.of('uts')).pin(file);
    await Namespace.unpin(file, { remove: true });
    expect(fs.existsSync(file)).toBe(false);
  });

  itRoot('refuses a missing directory, a directory, a double pin; unpin refuses what is no pin', async () => {
    const ns = await Namespace.of('ipc');
    await expect(ns.pin(`${dir}/no-such-dir/x`)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/does not exist/) });
    expect(fs.existsSync(`${dir}/no-such-dir`)).toBe(false);
    fs.mkdirSync(`${dir}/a-dir`);
    await expect(ns.pin(`${dir}/a-dir`)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    const file = `${dir}/twice`;
    await ns.pin(file);
    try {
      await expect(ns.pin(file)).rejects.toMatchObject({ code: 'ERR_BUSY' });
      expect([...nsfsMounts().keys()].filter((m) => m === file)).toHaveLength(1);
    } finally {
      await Namespace.unpin(file);
    }
    await expect(Namespace.unpin(file)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(Namespace.unpin(dir)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(ns.pin('bad\0path')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(Namespace.unpin(file, { remvoe: true } as never)).rejects.toMatchObject({ message: expect.stringContaining("did you mean 'remove'") });
  });

  itRootless('without root, pinning is ERR_PERMISSION and leaves nothing behind', async () => {
    const file = `${dir}/rootless`;
    await expect((await Namespace.of('net')).pin(file)).rejects.toMatchObject({ code: 'ERR_PERMISSION', syscall: 'mount' });
    expect(fs.existsSync(file)).toBe(false);
  });

  itRoot('a net namespace pinned under /run/netns/NAME is the one `ip netns exec NAME` runs in', async () => {
    fs.mkdirSync('/run/netns', { recursive: true }); // as ip netns add does; left in place for others
    const name = netnsName('x');
    const file = `/run/netns/${name}`;
    const ns = await Namespace.create('net', { pin: file });
    try {
      expect(ns.path).toBe(file);
      expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(name);
      const inside = execFileSync('ip', ['netns', 'exec', name, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
      expect(inside).toBe(String(ns));
      expect(inside).not.toBe(nsLink('self', 'net'));
    } finally {
      await Namespace.unpin(file);
    }
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(name);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('Namespace.create', () => {
  for (const type of TYPES) {
    itRoot(`create('${type}', { pin }) makes a new ${type} namespace, pins it and reaps its child`, async () => {
      const before = childPids();
      const file = `${dir}/created-${type}`;
      const ns = await Namespace.create(type, { pin: file });
      try {
        expect(ns.type).toBe(type);
        expect(ns.path).toBe(file);
        expect(nsfsMounts().get(file)).toBe(String(ns));
        expect(String(ns)).not.toBe(nsLink('self', procName(type)));
        expect((await Namespace.open(file)).equals(ns)).toBe(true);
        // as root the new namespace is owned by ours (no user namespace was needed)
        if (type !== 'user') {
          const owner = (await ns.owner())!;
          expect(String(owner)).toBe(nsLink('self', 'user'));
          owner.close();
        } else {
          const parent = (await ns.parent())!;
          expect(String(parent)).toBe(nsLink('self', 'user'));
          parent.close();
        }
        if (type === 'pid') {
          // a pid namespace keeps its holder init; joining it and forking works (nsenter forks)
          expect(membersOfPidNs(ns.inode).length).toBeGreaterThan(0);
          const inside = execFileSync('nsenter', [`--pid=${file}`, '--', 'sh', '-c', 'echo $$; readlink /proc/self/ns/pid'], {
            encoding: 'utf8',
          });
          const [pidInside, link] = inside.trim().split('\n');
          expect(link).toBe(String(ns));
          expect(Number(pidInside)).toBeGreaterThan(1); // the holder is pid 1
        } else {
          // nothing is left running in it: the child was killed and reaped
          await waitFor(() => childPids().length === before.length, 5000, 'the child to be reaped');
          expect(childPids()).toEqual(before);
        }
      } finally {
        await Namespace.unpin(file);
      }
      expect(fs.existsSync(file)).toBe(false);
      if (type === 'pid') await waitFor(() => membersOfPidNs(ns.inode).length === 0, 5000, 'the holder to end');
      expect(nsfsMounts().has(file)).toBe(false);
    });
  }

  itRoot(
    'a pid pin never outlives its holder: removed when its creator exits, kept (and unpinnable from elsewhere) when it is killed',
    async () => {
      // the library bundled for a second Node process, which creates the pins
      const bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-bundle-'));
      try {
        fs.symlinkSync(path.join(__dirname, '..', 'build'), `${bundleDir}/build`); // native() looks in ../build
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('esbuild').buildSync({
          entryPoints: [path.join(__dirname, '..', 'lib', 'index.ts')],
          bundle: true,
          platform: 'node',
          format: 'cjs',
          outfile: `${bundleDir}/out/index.cjs`,
          logLevel: 'error',
        });
        const creator = (file: string, thenWait: boolean) =>
          `require(${JSON.stringify(`${bundleDir}/out/index.cjs`)}).Namespace.create('pid', { pin: ${JSON.stringify(file)} })` +
          `.then((ns) => { console.log(ns.inode); ${thenWait ? 'setInterval(() => {}, 1000);' : ''} })`;

        // 1. the creator exits normally: spawn ends the holder, and the pin goes first
        const exiting = `${dir}/pid-exit`;
        const inode1 = Number(execFileSync(process.execPath, ['-e', creator(exiting, false)], { encoding: 'utf8', timeout: 20000 }).trim());
        expect(inode1).toBeGreaterThan(0);
        expect(nsfsMounts().has(exiting)).toBe(false);
        expect(fs.existsSync(exiting)).toBe(false);
        await waitFor(() => membersOfPidNs(inode1).length === 0, 5000, 'the holder to end');

        // 2. the creator is killed: nothing ends the holder, the pin stays valid
        const kept = `${dir}/pid-kept`;
        const child = spawnChild(process.execPath, ['-e', creator(kept, true)], { stdio: ['ignore', 'pipe', 'inherit'] });
        const [line] = (await once(child.stdout!, 'data')) as [Buffer];
        const inode2 = Number(line.toString().trim());
        child.kill('SIGKILL');
        await once(child, 'exit');
        expect(nsfsMounts().get(kept)).toBe(`pid:[${inode2}]`);
        expect(membersOfPidNs(inode2).length).toBeGreaterThan(0);
        const inside = execFileSync('nsenter', [`--pid=${kept}`, '--', 'readlink', '/proc/self/ns/pid'], { encoding: 'utf8' });
        expect(inside.trim()).toBe(`pid:[${inode2}]`); // forking into it works: its init lives
        // unpin from this process, which did not make it, finds the holder and ends it
        await Namespace.unpin(kept, { remove: true });
        await waitFor(() => membersOfPidNs(inode2).length === 0, 5000, 'the holder to end');
        expect(fs.existsSync(kept)).toBe(false);
      } finally {
        fs.rmSync(bundleDir, { recursive: true, force: true });
      }
    },
    30000,
  );

  it("create('pid') without a pin holds the namespace and its init until close()", async () => {
    const ns = await Namespace.create('pid');
    expect(ns.path).toMatch(new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    const members = membersOfPidNs(ns.inode);
    expect(members.length).toBeGreaterThan(0);
    await expect(ns.pin(`${dir}/late-pid`)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' }); // before any mount: both lanes
    expect(fs.existsSync(`${dir}/late-pid`)).toBe(false);
    ns.close();
    await waitFor(() => membersOfPidNs(ns.inode).length === 0, 5000, 'the holder to end');
  });

  it.each(['net', 'uts', 'ipc', 'user', 'mount', 'cgroup'] as const)("create('%s') without a pin is held by a close-on-exec fd until close()", async (type) => {
    const before = childPids();
    const ns = await Namespace.create(type);
    const fd = Number(/\/fd\/(\d+)$/.exec(ns.path)![1]);
    expect(ns.path).toBe(`/proc/${process.pid}/fd/${fd}`);
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe(String(ns));
    expect(isCloexec(fd)).toBe(true);
    expect(String(ns)).not.toBe(nsLink('self', procName(type)));
    expect(childPids()).toEqual(before);
    // rootless, a user namespace was made for it: its owner is new, and that one's parent is ours
    const owner = await ns.owner();
    if (type === 'user') {
      expect(String(owner)).toBe(nsLink('self', 'user'));
    } else if (isRoot) {
      expect(String(owner)).toBe(nsLink('self', 'user'));
    } else {
      expect(String(owner)).not.toBe(nsLink('self', 'user'));
      const grand = (await owner!.parent())!;
      expect(String(grand)).toBe(nsLink('self', 'user'));
      expect(await owner!.ownerUid()).toBe(process.geteuid!());
      grand.close();
    }
    owner?.close();
    ns.close();
    const now = fs.existsSync(`/proc/self/fd/${fd}`) ? fs.readlinkSync(`/proc/self/fd/${fd}`) : null;
    expect(now).not.toBe(String(ns));
  });

  itRoot("create('net') brings lo up; network: 'none' leaves it down (as ip netns add)", async () => {
    const up = await Namespace.create('net');
    const down = await Namespace.create('net', { network: 'none' });
    try {
      expect((await new NetworkLinks(up).get('lo')).up).toBe(true);
      expect((await new NetworkLinks(down).get('lo')).up).toBe(false);
    } finally {
      up.close();
      down.close();
    }
  });

  it("create('time', { timeOffsets }): a new time namespace whose clocks a joiner sees shifted", async () => {
    const ns = await Namespace.create('time', { timeOffsets: { boottime: 86400 } });
    try {
      expect(ns.type).toBe('time');
      expect(ns.equals(await Namespace.of('time'))).toBe(false);
      // joining it needs CAP_SYS_ADMIN over its owner: rootless, that is the user namespace made with it
      const owner = isRoot ? null : await ns.owner();
      const r = await run('cut', ['-d', ' ', '-f1', '/proc/uptime'], { join: owner ? [owner, ns] : [ns] });
      const hostUptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      expect(Number(r.stdout) - hostUptime).toBeGreaterThan(86400 - 5);
      expect(Number(r.stdout) - hostUptime).toBeLessThan(86400 + 5);
      owner?.close();
    } finally {
      ns.close();
    }
  });

  it("timeOffsets apply to 'time' only", async () => {
    await expect(Namespace.create('net', { timeOffsets: { boottime: 1 } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('bad input is ERR_INVALID_ARG before anything is made', async () => {
    const before = childPids();
    await expect(Namespace.create('nett' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringContaining("'net'") });
    await expect(Namespace.create('uts', { network: 'none' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(Namespace.create('net', { pinn: 'x' } as never)).rejects.toMatchObject({ message: expect.stringContaining("did you mean 'pin'") });
    await expect(Namespace.create('net', { pin: `${dir}/missing-dir/n` })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(childPids()).toEqual(before);
  });

  itRootless('without root, create with a pin is ERR_PERMISSION, and the child and the file are gone', async () => {
    const before = childPids();
    const file = `${dir}/rootless-create`;
    await expect(Namespace.create('net', { pin: file })).rejects.toMatchObject({ code: 'ERR_PERMISSION' });
    expect(fs.existsSync(file)).toBe(false);
    expect(childPids()).toEqual(before);
  });
});
