// join: entering existing namespaces (setns), checked by their inodes as the kernel shows them.
import * as fs from 'node:fs';
import { Namespace, NsgroupsError, run, spawn, type SandboxProcess, type SpawnOptions } from '../lib';
import { isRoot, itRoot, itRootless } from './helpers/host';
import { nsLink } from './helpers/proc';

const TYPES = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup'] as const;
const procName = (t: string): string => (t === 'mount' ? 'mnt' : t);

let holder: SandboxProcess;
let holderNs: Record<string, string>;

beforeAll(async () => {
  // A sandbox to join: every kind of namespace, kept alive by sleep.
  holder = spawn('sleep', ['120'], { namespaces: [...TYPES], hostname: 'holder', stdio: 'ignore' });
  await new Promise((resolve, reject) => {
    holder.once('spawn', resolve);
    holder.once('error', reject);
  });
  holderNs = Object.fromEntries(TYPES.map((t) => [t, nsLink(holder.pid!, procName(t))]));
});

afterAll(async () => {
  holder.kill('SIGKILL');
  await holder.exited;
});

/** The holder's namespace files; rootless, its user namespace must be joined to enter the rest. */
function joinOf(...types: string[]): string[] {
  const wanted = isRoot || types.includes('user') ? types : ['user', ...types];
  return wanted.map((t) => `/proc/${holder.pid}/ns/${procName(t)}`);
}

/** The namespaces of a sandbox that joins `types` (plus `extra`), as the kernel shows them from outside. */
async function inside(types: string[], extra: SpawnOptions = {}): Promise<string[]> {
  const p = spawn('sleep', ['30'], { join: joinOf(...types), stdio: 'ignore', ...extra });
  await new Promise((resolve, reject) => {
    p.once('spawn', resolve);
    p.once('error', reject);
  });
  try {
    return TYPES.map((t) => nsLink(p.pid!, procName(t)));
  } finally {
    p.kill('SIGKILL');
    await p.exited;
  }
}

describe('join', () => {
  it.each(TYPES.filter((t) => t !== 'pid'))('joins a %s namespace: same inode as the target', async (type) => {
    const seen = await inside([type]);
    expect(seen[TYPES.indexOf(type)]).toBe(holderNs[type]);
  });

  it('joins a pid namespace: one more fork, the command runs there and is reported exactly', async () => {
    const p = spawn('sh', ['-c', 'echo $$; sleep 0.2; exit 7'], { join: joinOf('pid'), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const closed = new Promise((r) => p.once('close', r)); // before it can happen
    await new Promise((r) => p.once('spawn', r));
    // the sandbox is the grandchild now: its pid (ours to watch) is in the holder's pid namespace
    expect(nsLink(p.pid!, 'pid')).toBe(holderNs.pid);
    await expect(p.exited).resolves.toMatchObject({ code: 7, signal: null });
    await closed;
    expect(Number(out.trim())).toBeGreaterThan(1); // not the holder's init
  });

  it('joins all of them at once', async () => {
    const seen = await inside([...TYPES]);
    expect(seen).toEqual(TYPES.map((t) => holderNs[t]));
    const fromInside = await run('sh', ['-c', TYPES.map((t) => `readlink /proc/self/ns/${procName(t)}`).join(';')], { join: joinOf(...TYPES) });
    expect(fromInside.stdout.trim().split('\n')).toEqual(TYPES.map((t) => holderNs[t]));
    const r = await run('hostname', [], { join: joinOf(...TYPES) });
    expect(r.stdout.trim()).toBe('holder');
  });

  it('joined and new together: joins first, then the new ones (owned by the joined user namespace)', async () => {
    const seen = await inside(['net'], { namespaces: ['uts', 'ipc'] });
    expect(seen[TYPES.indexOf('net')]).toBe(holderNs.net);
    expect(seen[TYPES.indexOf('uts')]).not.toBe(holderNs.uts);
    expect(seen[TYPES.indexOf('uts')]).not.toBe(nsLink('self', 'uts'));
  });

  itRoot('as root, a new user namespace after joining a host-owned one', async () => {
    const r = await run('sh', ['-c', 'readlink /proc/self/ns/net /proc/self/ns/user; id -u'], {
      join: [`/proc/${holder.pid}/ns/net`],
      namespaces: ['user', 'pid'],
    });
    const [net, user, uid] = r.stdout.trim().split('\n');
    expect(net).toBe(holderNs.net);
    expect(user).not.toBe(holderNs.user);
    expect(user).not.toBe(nsLink('self', 'user'));
    expect(uid).toBe('0');
  });

  it('a joined user namespace makes the command root there', async () => {
    const r = await run('sh', ['-c', 'id -u; cat /proc/self/uid_map'], { join: joinOf('user') });
    expect(r.stdout.split('\n')[0]).toBe('0');
  });

  it('Namespace objects are accepted', async () => {
    const namespaces = await Promise.all(joinOf('net').map((p) => Namespace.of(holder.pid!, p.endsWith('user') ? 'user' : 'net')));
    const seen = await inside([], { join: namespaces });
    expect(seen[TYPES.indexOf('net')]).toBe(holderNs.net);
  });

  it('a Namespace whose process is gone is refused (it would lead elsewhere)', async () => {
    const p = spawn('sleep', ['30'], { namespaces: ['user', 'net'], stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    const ns = await Namespace.of(p.pid!, 'net');
    p.kill('SIGKILL');
    await p.exited;
    expect(() => spawn('true', [], { join: [ns] })).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });
});

describe('join: bad input and refusals', () => {
  it('a type both new and joined is ERR_INVALID_ARG, nothing opened', () => {
    const fds = fs.readdirSync('/proc/self/fd').length;
    expect(() => spawn('true', [], { join: joinOf('net'), namespaces: ['net'] })).toThrow(/both new .* and joined/);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
  });

  it('an option implying a namespace that is joined is refused', () => {
    expect(() => spawn('true', [], { join: joinOf('uts'), hostname: 'x' })).toThrow(NsgroupsError);
    expect(() => spawn('true', [], { join: joinOf('net'), network: 'none' })).toThrow(/joined/);
  });

  it('two namespaces of one type', () => {
    expect(() => spawn('true', [], { join: [...joinOf('net'), '/proc/self/ns/net'] })).toThrow(/two net namespaces/);
  });

  it('a path that is not a namespace', () => {
    expect(() => spawn('true', [], { join: ['/etc/hostname'] })).toThrow(/not a namespace file/);
  });

  it('a path that does not exist: ERR_NOT_FOUND', () => {
    expect(() => spawn('true', [], { join: ['/proc/999999999/ns/net'] })).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it('something that is neither a path nor a Namespace', () => {
    expect(() => spawn('true', [], { join: [{ type: 'uts', path: '/proc/self/ns/net' } as never] })).toThrow(/a namespace path .* or a Namespace/);
  });

  itRootless("a namespace of another user (root's) cannot be opened: ERR_PERMISSION", () => {
    expect(() => spawn('true', [], { join: ['/proc/1/ns/net'] })).toThrow(expect.objectContaining({ code: 'ERR_PERMISSION' }));
  });

  itRootless('entering a namespace without its user namespace: setns EPERM, ERR_PERMISSION', async () => {
    const p = spawn('true', [], { join: [`/proc/${holder.pid}/ns/net`] });
    const err = await p.exited.catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_PERMISSION', step: 'setns', syscall: 'setns', errno: -1 });
  });
});
