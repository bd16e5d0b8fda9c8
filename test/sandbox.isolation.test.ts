// Sandbox: two tests at once see only their own files, processes and ports (both bind
// 127.0.0.1:8080); the commands of one sandbox share its world (a server started by one call
// answers the next); the network is none by default, loopback on request.
import * as fs from 'node:fs';
import { once } from 'node:events';
import { Sandbox, type SandboxOptions, type SandboxProcess } from '../lib';
import { makeWorkspace, pidsInNamespace } from './helpers/sandboxes';

let ws: string;
beforeAll(() => {
  ws = makeWorkspace('iso');
});
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

// A server on 127.0.0.1:8080 that answers with its name, and says when it listens.
const SERVER = `require('http').createServer((q, r) => r.end(process.argv[1])).listen(8080, '127.0.0.1', () => console.log('listening'))`;
const CLIENT = `fetch('http://127.0.0.1:8080').then((r) => r.text()).then((t) => console.log(t), (e) => console.log('error ' + (e.cause?.code ?? e.message)))`;

async function listening(p: SandboxProcess): Promise<void> {
  let out = '';
  p.stderr!.on('data', (d: Buffer) => (out += String(d)));
  const [chunk] = (await Promise.race([once(p.stdout!, 'data'), p.exited.then(() => [null])])) as [Buffer | null];
  if (chunk === null || !String(chunk).includes('listening')) throw new Error(`the server did not listen: ${out}`);
}

// a sandbox made as the test starts, and one a pool made ahead: the same world
const makers: Array<[string, (o: SandboxOptions) => Promise<Sandbox>]> = [
  ['Sandbox.create', (o) => Sandbox.create(o)],
  [
    'Sandbox.pool',
    async (o) => {
      const pool = Sandbox.pool({ ...o, size: 1 });
      await pool.ready(); // made ahead, idle, then handed over
      const sb = await pool.create();
      await pool.close();
      return sb;
    },
  ],
];

describe.each(makers)('Sandbox: isolation, made by %s', (_, make) => {
  it('two sandboxes at once: each has only its own files, processes and ports (both bind 127.0.0.1:8080)', async () => {
    const [a, b] = await Promise.all([make({ workspace: ws, network: 'loopback', name: 'A' }), make({ workspace: ws, network: 'loopback', name: 'B' })]);
    try {
      const servers = [a.spawn('node', ['-e', SERVER, 'server-A']), b.spawn('node', ['-e', SERVER, 'server-B'])];
      await Promise.all(servers.map(listening)); // both hold 127.0.0.1:8080 at the same time
      // a server started by one command answers the next one, in its own sandbox only
      expect((await a.run('node', ['-e', CLIENT])).stdout).toBe('server-A\n');
      expect((await b.run('node', ['-e', CLIENT])).stdout).toBe('server-B\n');
      // files: the workspace and /tmp
      await a.run('sh', ['-c', 'echo a > only-in-a && echo a > /tmp/only-in-a']);
      expect((await b.run('sh', ['-c', 'ls only-in-a /tmp/only-in-a 2>&1 | grep -c "No such file"'])).stdout).toBe('2\n');
      // processes: /proc in each shows its own (the init, the holder, its server, the ps)
      const procs = async (sb: Sandbox): Promise<string[]> =>
        (await sb.run('sh', ['-c', 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done'])).stdout.split('\n').filter(Boolean);
      const inA = await procs(a);
      expect(inA.some((c) => c.includes('server-A'))).toBe(true);
      expect(inA.some((c) => c.includes('server-B'))).toBe(false);
      expect((await procs(b)).some((c) => c.includes('server-A'))).toBe(false);
      // the kernel's view: the servers are in two pid namespaces, each the holder's
      const nsOf = (pid: number): string => fs.readlinkSync(`/proc/${pid}/ns/pid`);
      expect(nsOf(servers[0].pid!)).toBe(nsOf(a.pid));
      expect(nsOf(servers[1].pid!)).toBe(nsOf(b.pid));
      expect(nsOf(a.pid)).not.toBe(nsOf(b.pid));
      expect(fs.readlinkSync(`/proc/${servers[0].pid}/ns/net`)).not.toBe(fs.readlinkSync(`/proc/${servers[1].pid}/ns/net`));
      expect(fs.readlinkSync(`/proc/${servers[0].pid}/ns/net`)).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
      // and from the host, 127.0.0.1:8080 is neither of them
      expect(pidsInNamespace(nsOf(a.pid))).toContain(servers[0].pid);
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
    expect(a.report().leftovers.map((p) => p.command)).toEqual([`node -e ${SERVER} server-A`]);
  });

  it("network 'none' (the default): no interface is up, not even loopback", async () => {
    await using sb = await make({});
    const r = await sb.run('sh', ['-c', 'ls /sys/class/net; cat /sys/class/net/lo/operstate']);
    expect(r.stdout).toBe('lo\ndown\n');
    // a server may bind 127.0.0.1, but nothing reaches it: the loopback interface is down
    const script = `require('net').createServer().listen(8080, '127.0.0.1', () => require('net').connect(8080, '127.0.0.1')
      .on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); }))`;
    const r2 = await sb.run('node', ['-e', script], { timeout: 10000 });
    expect(r2.stdout).toBe('ENETUNREACH\n');
    expect(fs.readlinkSync(`/proc/${sb.pid}/ns/net`)).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
  });

  it("network 'loopback': lo up and nothing else; the hostname and the uts and ipc namespaces are the sandbox's", async () => {
    await using sb = await make({ network: 'loopback', hostname: 'test-box' });
    const r = await sb.run('sh', ['-c', 'ls /sys/class/net; cat /sys/class/net/lo/operstate; hostname']);
    expect(r.stdout).toMatch(/^lo\n(unknown|up)\ntest-box\n$/);
    for (const ns of ['uts', 'ipc', 'mnt', 'user']) expect(fs.readlinkSync(`/proc/${sb.pid}/ns/${ns}`)).not.toBe(fs.readlinkSync(`/proc/self/ns/${ns}`));
  });

  it("network 'host': the host's network namespace, the rest the sandbox's own", async () => {
    await using sb = await make({ network: 'host' });
    const p = sb.spawn('sleep', ['100'], { stdio: 'ignore' });
    await once(p, 'spawn');
    expect(fs.readlinkSync(`/proc/${p.pid}/ns/net`)).toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(fs.readlinkSync(`/proc/${p.pid}/ns/mnt`)).not.toBe(fs.readlinkSync('/proc/self/ns/mnt'));
  });
});
