// Namespace identity: of/all/open/equals against /proc/PID/ns, and parent/owner/ownerUid
// (NS_GET_PARENT, NS_GET_USERNS, NS_GET_OWNER_UID) against namespaces the test creates. Both lanes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { Namespace, NsgroupsError, spawn, type SandboxProcess } from '../lib';
import { nsLink, waitFor } from './helpers/proc';
import { initOf, isCloexec, startSleeper, stopSleeper } from './helpers/sandbox';

const TYPES = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup', 'time'] as const;
const procName = (t: string) => (t === 'mount' ? 'mnt' : t);

let sandbox: SandboxProcess;
let sleeper: number; // the sandbox's init (the command is sandbox.pid)

beforeAll(async () => {
  sandbox = await startSleeper(['user', 'pid', 'net', 'uts', 'ipc', 'cgroup']);
  sleeper = initOf(sandbox.pid!);
});
afterAll(() => stopSleeper(sandbox));

describe('Namespace.of / all', () => {
  it.each(TYPES)('of(pid, %s) is what /proc/PID/ns links to, device included', async (type) => {
    for (const pid of [process.pid, sandbox.pid!]) {
      const ns = await Namespace.of(pid, type);
      const file = `/proc/${pid}/ns/${procName(type)}`;
      expect(String(ns)).toBe(fs.readlinkSync(file));
      expect(ns.type).toBe(type);
      expect(ns.inode).toBe(fs.statSync(file).ino);
      expect(ns.dev).toBe(fs.statSync(file).dev);
      expect(fs.statSync(ns.path).ino).toBe(ns.inode);
    }
  });

  it('the pid defaults to the calling process', async () => {
    const ns = await Namespace.of('uts');
    expect(String(ns)).toBe(nsLink('self', 'uts'));
    expect((await Namespace.of(undefined, 'ipc')).equals(await Namespace.of(process.pid, 'ipc'))).toBe(true);
  });

  it('all(pid) gives every type, as /proc/PID/ns shows them', async () => {
    const all = await Namespace.all(sandbox.pid!);
    expect(Object.keys(all).sort()).toEqual([...TYPES].sort());
    for (const type of TYPES) expect(String(all[type])).toBe(nsLink(sandbox.pid!, procName(type)));
  });

  it('equals: same namespace through different paths; different namespaces differ', async () => {
    const ours = await Namespace.of('net');
    const theirs = await Namespace.of(sandbox.pid!, 'net');
    const sleepers = await Namespace.of(sleeper, 'net');
    expect(theirs.equals(sleepers)).toBe(true); // init and command share the sandbox's
    expect(theirs.path).not.toBe(sleepers.path);
    expect(ours.equals(theirs)).toBe(false);
    expect(ours.equals(await Namespace.of('uts'))).toBe(false); // never across types
    expect(ours.equals({ ...ours.toJSON() })).toBe(false);
    // the time namespace is shared with the host (no 'time' asked): same identity
    expect((await Namespace.of('time')).equals(await Namespace.of(sandbox.pid!, 'time'))).toBe(true);
  });

  it('open(path) of /proc/PID/ns/TYPE finds the type with NS_GET_NSTYPE', async () => {
    for (const type of TYPES) {
      const ns = await Namespace.open(`/proc/${sleeper}/ns/${procName(type)}`);
      expect(ns.type).toBe(type);
      expect(ns.equals(await Namespace.of(sleeper, type))).toBe(true);
    }
  });

  it('open() refuses a file that is no namespace, and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-ns-id-'));
    try {
      fs.writeFileSync(`${dir}/plain`, '');
      await expect(Namespace.open(`${dir}/plain`)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/not a namespace/) });
      await expect(Namespace.open(`${dir}/missing`)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', errno: -2 });
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('bad input is ERR_INVALID_ARG, a missing process ERR_NOT_FOUND', async () => {
    await expect(Namespace.of(1.5, 'net')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(Namespace.of(0, 'net')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(Namespace.of(process.pid, 'mnt' as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringContaining("did you mean 'mount'"),
    });
    await expect(Namespace.all(-3)).rejects.toBeInstanceOf(NsgroupsError);
    // a pid that exists nowhere: above pid_max
    const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    await expect(Namespace.of(Math.min(pidMax + 1, 4194304), 'net')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('openFd() gives a close-on-exec fd of the namespace, and refuses once the path leads elsewhere', async () => {
    const p = await startSleeper(['user', 'uts']);
    const ns = await Namespace.of(p.pid!, 'uts');
    const fd = ns.openFd();
    try {
      expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe(String(ns));
      expect(isCloexec(fd)).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
    await stopSleeper(p);
    expect(() => ns.openFd()).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });
});

describe('parent, owner, ownerUid (ioctl_ns)', () => {
  it("the sandbox's net namespace is owned by its user namespace", async () => {
    const net = await Namespace.of(sandbox.pid!, 'net');
    const owner = await net.owner();
    try {
      expect(owner).not.toBeNull();
      expect(owner!.equals(await Namespace.of(sandbox.pid!, 'user'))).toBe(true);
      expect(String(owner)).toBe(nsLink(sandbox.pid!, 'user'));
      expect(owner!.type).toBe('user');
    } finally {
      owner?.close();
    }
  });

  it("the sandbox's user and pid namespaces have ours as parent; the owner of a user namespace is its parent", async () => {
    const user = await Namespace.of(sandbox.pid!, 'user');
    const parent = await user.parent();
    const owner = await user.owner();
    const pidParent = await (await Namespace.of(sandbox.pid!, 'pid')).parent();
    try {
      expect(parent!.equals(await Namespace.of('user'))).toBe(true);
      expect(owner!.equals(parent)).toBe(true);
      expect(pidParent!.equals(await Namespace.of('pid'))).toBe(true);
    } finally {
      parent?.close();
      owner?.close();
      pidParent?.close();
    }
  });

  it('our own namespaces: the top the caller sees has no parent (EPERM is an answer, null)', async () => {
    // the test runs in the initial user and pid namespaces (both lanes)
    expect(await (await Namespace.of('user')).parent()).toBeNull();
    expect(await (await Namespace.of('pid')).parent()).toBeNull();
    expect(await (await Namespace.of('user')).owner()).toBeNull();
    await expect((await Namespace.of('net')).parent()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('ownerUid: the uid that created the owning user namespace (ours, for the sandbox)', async () => {
    expect(await (await Namespace.of(sandbox.pid!, 'user')).ownerUid()).toBe(process.geteuid!());
    expect(await (await Namespace.of(sandbox.pid!, 'net')).ownerUid()).toBe(process.geteuid!());
    // the initial user namespace was "created" by uid 0
    expect(await (await Namespace.of('user')).ownerUid()).toBe(0);
    expect(await (await Namespace.of('net')).ownerUid()).toBe(0);
  });

  it('a nested user namespace: parent() walks back up to ours, owner() of its net is the innermost', async () => {
    // the sandbox (user namespace U1) runs unshare(1), which makes U2 inside U1 and a net
    // namespace owned by U2, then execs sleep in them
    // (it makes namespaces itself: the default seccomp filter refuses a nested user namespace)
    const p = spawn('unshare', ['--user', '--net', 'sleep', '1000'], { namespaces: ['user'], seccomp: 'none', stdio: 'ignore' });
    try {
      await once(p, 'spawn');
      await waitFor(() => fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').startsWith('sleep'), 5000, 'unshare to exec sleep');
      const chain: string[] = [];
      let ns: Namespace | null = await Namespace.of(p.pid!, 'user');
      while (ns) {
        chain.push(String(ns));
        const up: Namespace | null = await ns.parent();
        ns.close();
        ns = up;
      }
      expect(chain).toHaveLength(3);
      expect(chain[0]).toBe(nsLink(p.pid!, 'user'));
      expect(chain[2]).toBe(nsLink('self', 'user'));
      const owner = (await (await Namespace.of(p.pid!, 'net')).owner())!;
      expect(String(owner)).toBe(chain[0]);
      // U2 was created by root of U1, which is us outside
      expect(await owner.ownerUid()).toBe(process.geteuid!());
      owner.close();
    } finally {
      await stopSleeper(p);
    }
  });

  it('related namespaces are held by a close-on-exec fd that close() releases', async () => {
    const owner = (await (await Namespace.of(sandbox.pid!, 'net')).owner())!;
    const fd = Number(/\/fd\/(\d+)$/.exec(owner.path)![1]);
    expect(owner.path).toBe(`/proc/${process.pid}/fd/${fd}`);
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe(String(owner));
    expect(isCloexec(fd)).toBe(true);
    owner.close();
    const now = fs.existsSync(`/proc/self/fd/${fd}`) ? fs.readlinkSync(`/proc/self/fd/${fd}`) : null;
    expect(now).not.toBe(String(owner));
    expect(() => owner.openFd()).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });
});
