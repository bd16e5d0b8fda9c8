// Links between network namespaces (NetworkLinks over rtnetlink), checked with ip(8) as the
// kernel's witness, and TCP across them. Every link and address lives in namespaces this test
// created (pinned as /run/netns/nsgroups-<pid>-*); the host's interfaces and routes are only
// read, before and after, to show they did not change.
// The data path: sandboxes that join the pinned namespaces (spawn({ join })).
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Namespace, NetworkLinks, run, spawn, type SandboxProcess } from '../lib';
import { isRoot, itRoot, itRootless } from './helpers/host';
import { nsLink } from './helpers/proc';
import { startSleeper, stopSleeper } from './helpers/sandbox';

interface IpLink {
  ifname: string;
  operstate: string;
  flags: string[];
  master?: string;
  linkinfo?: { info_kind?: string };
}
interface IpAddr {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

const names: string[] = [];

function ip<T>(netns: string | null, ...args: string[]): T {
  const full = netns ? ['-n', netns, '-j', ...args] : ['-j', ...args];
  return JSON.parse(execFileSync('ip', full, { encoding: 'utf8' }) || '[]') as T;
}

function linkIn(netns: string, dev: string): IpLink | undefined {
  return ip<IpLink[]>(netns, '-d', 'link', 'show').find((l) => l.ifname === dev);
}

async function netns(suffix: string): Promise<{ name: string; ns: Namespace; links: NetworkLinks }> {
  const name = `nsgroups-${process.pid}-${suffix}`;
  names.push(name);
  const ns = await Namespace.create('net', { pin: `/run/netns/${name}` });
  return { name, ns, links: new NetworkLinks(ns) };
}

/** A one-connection TCP echo server in a sandbox that joins `netnsName`, answering in upper case plus its netns. */
async function startServer(netnsName: string, address: string, port: number): Promise<SandboxProcess> {
  const code = `const fs = require('fs');
    const s = require('net').createServer((c) => c.on('data', (d) => {
      c.end(d.toString().toUpperCase() + ' from ' + fs.readlinkSync('/proc/self/ns/net')); s.close();
    }));
    s.listen(${port}, '${address}', () => console.log('listening'));`;
  const server = spawn(process.execPath, ['-e', code], { join: [`/run/netns/${netnsName}`], stdio: ['ignore', 'pipe', 'inherit'] });
  server.stdout!.on('error', () => {}); // the pipe may reset when we stop it
  await once(server.stdout!, 'data');
  server.stdout!.resume();
  return server;
}

async function stopServer(server: SandboxProcess): Promise<void> {
  server.kill();
  await server.exited;
}

async function tcpClient(netnsName: string, address: string, port: number): Promise<string> {
  const code = `const c = require('net').connect(${port}, '${address}'); let b = '';
    c.on('connect', () => c.write('hello')); c.on('data', (d) => (b += d)); c.on('end', () => console.log(b));
    c.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(3); }); setTimeout(() => process.exit(4), 8000).unref();`;
  return (await run(process.execPath, ['-e', code], { join: [`/run/netns/${netnsName}`] })).stdout.trim();
}

/** A describe block that exists only in the root lane (deselected, not skipped, elsewhere). */
const describeRoot = (name: string, fn: () => void): void => (isRoot ? describe(name, fn) : undefined);

let hostBefore: { links: string; addrs: string; routes: string };
const hostState = () => ({
  links: JSON.stringify(ip<IpLink[]>(null, 'link', 'show').map((l) => [l.ifname, l.flags])),
  addrs: JSON.stringify(ip<IpAddr[]>(null, 'addr', 'show').map((a) => [a.ifname, a.addr_info.map((i) => i.local)])),
  routes: execFileSync('ip', ['-j', 'route', 'show'], { encoding: 'utf8' }),
});

beforeAll(() => {
  if (!isRoot) return;
  hostBefore = hostState();
  fs.mkdirSync('/run/netns', { recursive: true }); // as ip netns add does; left for others
});

afterAll(async () => {
  for (const name of names) await Namespace.unpin(`/run/netns/${name}`, { remove: true }).catch(() => {});
  if (isRoot) {
    // the host's own interfaces, addresses and routes are as they were
    expect(hostState()).toEqual(hostBefore);
    expect(ip<IpLink[]>(null, 'link', 'show').some((l) => l.ifname.startsWith('nsg-'))).toBe(false);
  }
});

describeRoot('veth pairs between namespaces', () => {
  let a: Awaited<ReturnType<typeof netns>>;
  let b: Awaited<ReturnType<typeof netns>>;

  beforeAll(async () => {
    a = await netns('a');
    b = await netns('b');
  });

  itRoot('addVeth puts one end here and the peer in another namespace', async () => {
    await a.links.addVeth('nsg-a', { peer: 'nsg-b', peerNamespace: b.ns });
    expect(linkIn(a.name, 'nsg-a')?.linkinfo?.info_kind).toBe('veth');
    expect(linkIn(b.name, 'nsg-b')?.linkinfo?.info_kind).toBe('veth');
    expect(linkIn(a.name, 'nsg-b')).toBeUndefined();
    expect(await a.links.get('nsg-a')).toMatchObject({ kind: 'veth', up: false });
  });

  itRoot('addresses and link state, as ip sees them', async () => {
    await a.links.addAddress('nsg-a', '10.200.1.1/30');
    await b.links.addAddress('nsg-b', '10.200.1.2/30');
    await a.links.addAddress('nsg-a', 'fd00:200:1::1/64');
    await a.links.up('nsg-a');
    await b.links.up('nsg-b');
    const addrs = ip<IpAddr[]>(a.name, 'addr', 'show', 'dev', 'nsg-a')[0].addr_info;
    expect(addrs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: 'inet', local: '10.200.1.1', prefixlen: 30 }),
        expect.objectContaining({ family: 'inet6', local: 'fd00:200:1::1', prefixlen: 64 }),
      ]),
    );
    expect(linkIn(a.name, 'nsg-a')!.flags).toContain('UP');
    expect(linkIn(b.name, 'nsg-b')!.flags).toContain('UP');
    // our own reading agrees with ip's
    const mine = (await a.links.addresses('nsg-a')).map((x) => x.cidr);
    expect(mine).toEqual(expect.arrayContaining(['10.200.1.1/30', 'fd00:200:1::1/64']));
    const l = await a.links.get('nsg-a');
    expect(l).toMatchObject({ up: true, lowerUp: true, mtu: 1500 });
  });

  itRoot('two sandboxes exchange TCP over the veth pair', async () => {
    const server = await startServer(b.name, '10.200.1.2', 7070);
    try {
      const reply = await tcpClient(a.name, '10.200.1.2', 7070);
      expect(reply).toBe(`HELLO from ${String(b.ns)}`);
    } finally {
      await stopServer(server);
    }
  });

  itRoot('removeAddress and delete: deleting one end removes both', async () => {
    await a.links.removeAddress('nsg-a', 'fd00:200:1::1/64');
    expect(ip<IpAddr[]>(a.name, 'addr', 'show', 'dev', 'nsg-a')[0].addr_info.some((x) => x.local === 'fd00:200:1::1')).toBe(false);
    await a.links.delete('nsg-a');
    expect(linkIn(a.name, 'nsg-a')).toBeUndefined();
    expect(linkIn(b.name, 'nsg-b')).toBeUndefined();
    await expect(a.links.get('nsg-a')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });
});

describeRoot('a bridge in a namespace the test owns', () => {
  itRoot(
    'ports attach and detach; sandboxes on it talk TCP',
    async () => {
      const hub = await netns('h');
      const x = await netns('x');
      const y = await netns('y');
      await hub.links.addBridge('nsg-br');
      await hub.links.up('nsg-br');
      for (const [port, peer, side] of [
        ['nsg-hx', 'nsg-x', x],
        ['nsg-hy', 'nsg-y', y],
      ] as const) {
        await hub.links.addVeth(port, { peer, peerNamespace: side.ns });
        await hub.links.set(port, { master: 'nsg-br', up: true });
        await side.links.up(peer);
      }
      await x.links.addAddress('nsg-x', '10.200.2.1/24');
      await y.links.addAddress('nsg-y', '10.200.2.2/24');
      const ports = ip<IpLink[]>(hub.name, 'link', 'show', 'master', 'nsg-br')
        .map((l) => l.ifname)
        .sort();
      expect(ports).toEqual(['nsg-hx', 'nsg-hy']);
      expect((await hub.links.get('nsg-hx')).master).toBe('nsg-br');

      const server = await startServer(y.name, '10.200.2.2', 7071);
      try {
        expect(await tcpClient(x.name, '10.200.2.2', 7071)).toBe(`HELLO from ${String(y.ns)}`);
      } finally {
        await stopServer(server);
      }

      await hub.links.set('nsg-hx', { master: null });
      expect(ip<IpLink[]>(hub.name, 'link', 'show', 'master', 'nsg-br').map((l) => l.ifname)).toEqual(['nsg-hy']);
      expect((await hub.links.get('nsg-hx')).master).toBeNull();
    },
    30000,
  );
});

describeRoot("a veth end in a running sandbox's namespace", () => {
  let sandbox: SandboxProcess | undefined;
  afterAll(() => stopSleeper(sandbox));

  itRoot('the peer appears inside the sandbox; set({ namespace }) moves a link there', async () => {
    const c = await netns('c');
    sandbox = await startSleeper([], { network: 'none' });
    const inside = await Namespace.of(sandbox.pid!, 'net');
    await c.links.addVeth('nsg-c', { peer: 'eth1', peerNamespace: inside });
    const seen = () => JSON.parse(execFileSync('nsenter', ['-t', String(sandbox!.pid), '-n', 'ip', '-j', 'link', 'show'], { encoding: 'utf8' })) as IpLink[];
    expect(seen().map((l) => l.ifname)).toEqual(expect.arrayContaining(['lo', 'eth1']));
    await c.links.set('nsg-c', { namespace: inside });
    expect(seen().map((l) => l.ifname)).toEqual(expect.arrayContaining(['eth1', 'nsg-c']));
    expect(linkIn(c.name, 'nsg-c')).toBeUndefined();
    expect((await new NetworkLinks(inside).list()).map((l) => l.name).sort()).toEqual(['eth1', 'lo', 'nsg-c']);
  });
});

describe('errors', () => {
  itRoot('bad names, addresses and namespaces are ERR_INVALID_ARG; a taken name is EEXIST; a missing link ERR_NOT_FOUND', async () => {
    const e = await netns('e');
    await e.links.addVeth('nsg-e1', { peer: 'nsg-e2' });
    await expect(e.links.addVeth('nsg-e1', { peer: 'nsg-e3' })).rejects.toMatchObject({ errno: -17, syscall: 'netlink' });
    await expect(e.links.up('nsg-nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringContaining('nsg-nope') });
    await expect(e.links.addVeth('a/b', { peer: 'x' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(e.links.addVeth('a-name-longer-than-15', { peer: 'x' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(e.links.addVeth('same', { peer: 'same' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(e.links.addAddress('nsg-e1', '10.200.3.1/33')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(e.links.addAddress('nsg-e1', '10.200.3.256/24')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(e.links.set('nsg-e1', { upp: true } as never)).rejects.toMatchObject({ message: expect.stringContaining("did you mean 'up'") });
  });

  it('NetworkLinks takes network namespaces only', async () => {
    expect(() => new NetworkLinks(undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    // a look-alike is not a Namespace: its path was never checked
    expect(() => new NetworkLinks({ type: 'net', path: '/proc/self/ns/net' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    const uts = await Namespace.of('uts');
    expect(() => new NetworkLinks(uts)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('uts') }));
  });

  itRootless("without root, another namespace's links are ERR_PERMISSION (setns needs CAP_SYS_ADMIN)", async () => {
    const ns = await Namespace.create('net');
    try {
      await expect(new NetworkLinks(ns).list()).rejects.toMatchObject({ code: 'ERR_PERMISSION', syscall: 'setns' });
    } finally {
      ns.close();
    }
  });
});

describe("network: 'none'", () => {
  let server: net.Server;
  let port: number;
  let accepted = 0;

  beforeAll(async () => {
    server = net.createServer((c) => {
      accepted++;
      c.on('error', () => {}); // the client exits as soon as it is connected: a reset is fine
      c.end('hi');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => server.close());

  it("a sandbox with network: 'none' cannot reach a server on the host's loopback (the host can)", async () => {
    const client = `const fs = require('fs'); console.log(fs.readlinkSync('/proc/self/ns/net'));
      require('net').connect(${port}, '127.0.0.1')
        .on('connect', () => { console.log('connected'); process.exit(0); })
        .on('error', (e) => { console.log(e.code); process.exit(3); });
      setTimeout(() => { console.log('timeout'); process.exit(4); }, 5000);`;
    const control = await run(process.execPath, ['-e', client]);
    expect(String(control.stdout).split('\n')).toEqual([nsLink('self', 'net'), 'connected', '']);
    expect(accepted).toBe(1);

    const boxed = await run(process.execPath, ['-e', client], { namespaces: isRoot ? [] : ['user'], network: 'none' });
    const [link, outcome] = String(boxed.stdout).trim().split('\n');
    expect(link).not.toBe(nsLink('self', 'net')); // a fresh namespace of its own
    expect(boxed.code).toBe(3);
    expect(['ENETUNREACH', 'ECONNREFUSED']).toContain(outcome);
    expect(accepted).toBe(1); // the server never saw it
  });
});
