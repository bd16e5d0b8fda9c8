// Sandbox: the filesystem a test sees — the workspace copy-on-write (the host's copy never
// changes), its own /tmp and /run, the rest of the host read-only (or absent), nothing in the
// host's mount table — and what dispose() leaves: nothing, or the kept files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Sandbox } from '../lib';
import { busyboxAvailable, makeBusyboxLayer } from './helpers/busybox';
import { itIf } from './helpers/host';
import { cgroupDirs, hostMountsMentioning, makeWorkspace, pidsInNamespace, snapshot } from './helpers/sandboxes';

let ws: string;
beforeAll(() => {
  ws = makeWorkspace('fs');
});
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

const sh = (sb: Sandbox, script: string) => sb.run('sh', ['-c', script]);

describe('Sandbox: the workspace', () => {
  it("the commands' writes never reach the host's workspace; changes() lists them; path() reads them", async () => {
    const before = snapshot(ws);
    await using sb = await Sandbox.create({ workspace: ws });
    const r = await sh(
      sb,
      'echo changed > README && echo new > added && mkdir -p out/deep && echo x > out/deep/f && rm obsolete && chmod 600 src/main.c && mv src/main.c src/moved.c && pwd',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${ws}\n`); // commands start in the workspace, at its own path
    expect(snapshot(ws)).toEqual(before);
    expect(fs.readFileSync(sb.path('README'), 'utf8')).toBe('changed\n');
    expect(fs.readFileSync(sb.path(`${ws}/out/deep/f`), 'utf8')).toBe('x\n');
    expect(fs.existsSync(sb.path('obsolete'))).toBe(false);
    expect(await sb.changes()).toEqual([
      { path: `${ws}/README`, kind: 'modified' },
      { path: `${ws}/added`, kind: 'added' },
      { path: `${ws}/obsolete`, kind: 'deleted' },
      { path: `${ws}/out`, kind: 'added' },
      { path: `${ws}/out/deep`, kind: 'added' },
      { path: `${ws}/out/deep/f`, kind: 'added' },
      { path: `${ws}/src`, kind: 'modified' },
      { path: `${ws}/src/main.c`, kind: 'deleted' },
      { path: `${ws}/src/moved.c`, kind: 'added' },
    ]);
    // the next command sees what the last one wrote
    expect((await sh(sb, 'cat added out/deep/f')).stdout).toBe('new\nx\n');
    // Node writes through path() into the sandbox's view, not into the host's workspace
    fs.writeFileSync(sb.path('from-node'), 'hi\n');
    expect((await sh(sb, 'cat from-node')).stdout).toBe('hi\n');
    expect(fs.existsSync(path.join(ws, 'from-node'))).toBe(false);
  });

  it('two sandboxes over one workspace each see the original and their own changes', async () => {
    await using a = await Sandbox.create({ workspace: ws });
    await using b = await Sandbox.create({ workspace: ws });
    await sh(a, 'echo a > README');
    expect((await sh(b, 'cat README')).stdout).toBe('the original\n');
    expect(await b.changes()).toEqual([]);
  });
});

describe('Sandbox: the rest of the filesystem', () => {
  it("the host's filesystem is read-only, /tmp and /run are the sandbox's own, and nothing reaches the host's mount table", async () => {
    const marker = `nsgroups-sb-${process.pid}-${Date.now()}`;
    await using sb = await Sandbox.create({ workspace: ws });
    const r = await sh(
      sb,
      `touch /usr/${marker} 2>&1; touch /etc/${marker} 2>&1; echo t > /tmp/${marker} && ls -A /tmp; echo r > /run/${marker} && ls -A /run; grep -E " / | /run | /tmp " /proc/self/mountinfo | cut -d" " -f5,6`,
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/Read-only file system/);
    expect(lines[1]).toMatch(/Read-only file system/);
    // /tmp holds what this sandbox wrote (and the mount points of what lies under /tmp on the host, like this workspace)
    expect(lines).toContain(marker);
    expect(fs.existsSync(`/tmp/${marker}`)).toBe(false);
    expect(fs.existsSync(`/run/${marker}`)).toBe(false);
    const opts = new Map(lines.filter((l) => /^\/\S* \S+$/.test(l)).map((l) => [l.split(' ')[0], l.split(' ')[1]]));
    expect(opts.get('/')).toMatch(/^ro,/);
    expect(opts.get('/tmp')).toMatch(/^rw,/);
    expect(opts.get('/run')).toMatch(/^rw,/);
    expect(hostMountsMentioning(sb.dir)).toEqual([]);
    expect(hostMountsMentioning(ws)).toEqual([]);
  });

  it("rootfs: 'system' shows the system's directories only (no /home, /root, /srv), and the workspace", async () => {
    await using sb = await Sandbox.create({ workspace: ws, rootfs: 'system' });
    const top = (await sh(sb, 'ls -A /')).stdout.split('\n').filter(Boolean);
    for (const absent of ['home', 'root', 'srv', 'var', 'boot']) expect(top).not.toContain(absent);
    for (const present of ['usr', 'etc', 'proc', 'dev', 'sys', 'tmp', 'run']) expect(top).toContain(present);
    expect((await sh(sb, 'cat README')).stdout).toBe('the original\n');
  });

  itIf(busyboxAvailable(), 'needs a static busybox (busybox-static)', 'rootfs: a directory is the whole root, and stays as it was', async () => {
    const image = makeBusyboxLayer(fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-sb-image-')));
    try {
      const before = snapshot(image);
      await using sb = await Sandbox.create({ workspace: ws, rootfs: image });
      const r = await sb.run('sh', ['-c', 'ls /; cat README; touch /bin/x 2>&1'], { env: { PATH: '/bin' } });
      expect(r.stdout).toMatch(/^bin\n/);
      expect(r.stdout).not.toMatch(/\nusr\n/);
      expect(r.stdout).toMatch(/the original\n.*Read-only file system/s);
      await sb.dispose();
      expect(snapshot(image)).toEqual(before);
    } finally {
      fs.rmSync(image, { recursive: true, force: true });
    }
  });

  it("commands run as the caller's uid and gid, with no capability, no_new_privs and the seccomp filter", async () => {
    await using sb = await Sandbox.create({});
    const status = (await sb.run('cat', ['/proc/self/status'])).stdout;
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)![1];
    expect(field('Uid').split(/\s+/).map(Number)).toEqual(Array(4).fill(process.geteuid!()));
    expect(field('Gid').split(/\s+/).map(Number)).toEqual(Array(4).fill(process.getegid!()));
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(set)).toBe('0000000000000000');
    expect(field('NoNewPrivs')).toBe('1');
    expect(field('Seccomp')).toBe('2');
    // the kernel paths a sandbox must not touch are masked here too
    const masked = await sb.run('sh', ['-c', 'cat /proc/kcore 2>/dev/null | wc -c; echo 1 > /proc/sys/kernel/ns_last_pid']);
    expect(masked.stdout).toBe('0\n');
    expect(masked.stderr).toMatch(/Read-only file system/);
  });
});

describe('Sandbox: dispose', () => {
  it('removes the processes, the cgroup, the files; twice is harmless; the report is final', async () => {
    const sb = await Sandbox.create({ workspace: ws });
    await sh(sb, 'echo x > added');
    const { dir, pid } = sb;
    const pidns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
    const cgroup = sb.cgroup ? cgroupDirs(sb.cgroup.path) : [];
    expect(pidsInNamespace(pidns).length).toBe(2); // the init and the holder
    await sb.dispose();
    expect(pidsInNamespace(pidns)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    for (const d of cgroup) expect(fs.existsSync(d)).toBe(false);
    const report = sb.report();
    expect(report).toMatchObject({ disposed: true, filesChanged: 1, commands: 1, leftovers: [], kept: null });
    await sb.dispose();
    await sb[Symbol.asyncDispose]();
    expect(sb.report()).toEqual(report);
    expect(await sb.changes()).toEqual([{ path: `${ws}/added`, kind: 'added' }]);
    expect(() => sb.spawn('true')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
    await expect(sb.run('true')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(() => sb.path('/tmp')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it("keep: the files stay (upper/, tmp/, report.json) and their place is printed; 'on-failure' keeps only a failed test's", async () => {
    const printed: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    const kept: string[] = [];
    try {
      const sb = await Sandbox.create({ workspace: ws, keep: 'on-failure', name: 'a failing test' });
      await sh(sb, 'echo out > result && echo t > /tmp/log');
      await sb.dispose({ failed: true });
      const where = sb.report().kept!;
      kept.push(where);
      expect(printed.join('')).toContain(`nsgroups: kept the sandbox of "a failing test" at ${where}`);
      expect(fs.readFileSync(path.join(where, 'upper', 'result'), 'utf8')).toBe('out\n');
      expect(fs.readFileSync(path.join(where, 'tmp', 'log'), 'utf8')).toBe('t\n');
      expect(JSON.parse(fs.readFileSync(path.join(where, 'report.json'), 'utf8'))).toMatchObject({ name: 'a failing test', filesChanged: 1, kept: where });
      const passing = await Sandbox.create({ workspace: ws, keep: 'on-failure' });
      await passing.dispose({ failed: false });
      expect(passing.report().kept).toBeNull();
      expect(fs.existsSync(passing.dir)).toBe(false);
    } finally {
      write.mockRestore();
      for (const k of kept) fs.rmSync(k, { recursive: true, force: true });
    }
  });
});
