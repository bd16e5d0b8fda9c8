// spawn({ cgroup }): the sandbox is in the cgroup before it execs — on this hybrid host, born in
// the unified directory (CLONE_INTO_CGROUP), and it moves itself into the v1 ones first of all
// (through cgroup.procs files the parent opened: src-native/child.c); its cgroup namespace is rooted at its own cgroup; limits hold from the start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup, NsgroupsError, run, spawn } from '../lib';
import { hostMode, mountOf, procCgroupIn, removeEverywhere, testRoot, unifiedMount } from './helpers/cgroupfs';
import { isRoot } from './helpers/host';

const root = testRoot('spawn');
afterAll(() => removeEverywhere(root));

// Creating cgroups needs root here (nothing is delegated on this host's v1 hierarchies): the
// rootless lane checks the clear error instead (test/cgroup.test.ts).
const describeRoot = (name: string, fn: () => void): void => (isRoot ? describe(name, fn) : undefined);

describeRoot('born in the cgroup', () => {
  it("the command's first look at /proc/self/cgroup already shows its cgroup, in every hierarchy", async () => {
    const cg = await Cgroup.create('born', { root, memory: { max: '256M' }, pids: { max: 64 } });
    const r = await run('cat', ['/proc/self/cgroup'], { cgroup: cg });
    const lines = r.stdout.trim().split('\n');
    const inMemory = lines.find((l) => /^\d+:memory:/.test(l))!;
    const inPids = lines.find((l) => /^\d+:pids:/.test(l))!;
    expect(inMemory.endsWith(`${root}/born`)).toBe(true);
    expect(inPids.endsWith(`${root}/born`)).toBe(true);
    if (unifiedMount()) expect(lines.find((l) => l.startsWith('0::'))!.endsWith(`${root}/born`)).toBe(true);
    await cg.delete();
  });

  it('a v1 move the kernel refuses (a cpuset cgroup with no CPUs: ENOSPC) is a typed error of the cgroup step; nothing is left', async () => {
    if (!fs.existsSync('/sys/fs/cgroup/cpuset/cgroup.procs')) {
      // pure cgroup v2 (or no v1 cpuset): the move is CLONE_INTO_CGROUP's, tested in test/v2
      console.warn(`this ${hostMode} host has no v1 cpuset hierarchy: the refused v1 move cannot be made here`);
      return;
    }
    const cpus = fs.readFileSync('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8').trim();
    const cg = await Cgroup.create('refused', { root, cpuset: { cpus, mems: '0' }, pids: { max: 16 } });
    const procs = `${(cg.path as Record<string, string>).cpuset}/cgroup.procs`;
    fs.writeFileSync(`${(cg.path as Record<string, string>).cpuset}/cpuset.cpus`, '\n'); // our own cgroup: no CPU to run on
    const err = await run('true', [], { cgroup: cg, namespaces: ['user', 'pid', 'mount'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ step: 'cgroup', syscall: 'write', path: procs, status: 'setup' });
    expect((err as NsgroupsError).message).toMatch(/moving the sandbox into its cgroup/);
    expect((err as NsgroupsError).errno).toBe(-28); // ENOSPC: cpuset_can_attach, no CPUs
    expect(await cg.procs()).toEqual([]);
    await cg.delete();
  });

  it('seen from outside: /proc/PID/cgroup and cgroup.procs agree while it runs', async () => {
    const cg = await Cgroup.create('outside', { root, pids: { max: 64 } });
    const p = spawn('sleep', ['30'], { cgroup: cg, namespaces: ['user', 'pid'], stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    expect(procCgroupIn(p.pid!, mountOf('pids'))).toBe(`${root}/outside`);
    if (unifiedMount()) expect(procCgroupIn(p.pid!, unifiedMount()!)).toBe(`${root}/outside`);
    expect(await cg.procs()).toContain(p.pid);
    p.kill('SIGKILL');
    await p.exited;
    await cg.delete();
  });

  it('a cgroup namespace is rooted at its own cgroup, in v1 hierarchies too', async () => {
    const cg = await Cgroup.create('cgns', { root, memory: { max: '256M' } });
    const r = await run('cat', ['/proc/self/cgroup'], { cgroup: cg, namespaces: ['user', 'cgroup'] });
    const lines = r.stdout.trim().split('\n');
    expect(lines.find((l) => /^\d+:memory:/.test(l))).toMatch(/:memory:\/$/);
    if (unifiedMount()) expect(lines).toContain('0::/');
    await cg.delete();
  });

  it('pids.max holds from the start: a fork loop fails inside', async () => {
    const cg = await Cgroup.create('pids', { root, pids: { max: 3 } });
    const r = await run('sh', ['-c', 'for i in 1 2 3 4 5 6; do sleep 1 & done 2>&1; echo done'], { cgroup: cg, namespaces: ['user', 'pid'], timeout: 10000 });
    expect(r.stdout + r.stderr).toMatch(/fork|Resource temporarily unavailable|Cannot/i);
    await cg.delete({ kill: true });
  });

  it('run() resolves the cgroup stats', async () => {
    const cg = await Cgroup.create('stats', { root, memory: { max: '256M' }, pids: { max: 64 } });
    const r = await run('sh', ['-c', 'head -c 20000000 /dev/zero > /dev/null'], { cgroup: cg });
    expect(r.stats).toBeDefined();
    expect(r.stats!.pids.max).toBe(64);
    expect(r.stats!.cpu.usageUsec).toBeGreaterThan(0);
    expect(typeof r.stats!.memory.current).toBe('number');
    await cg.delete();
  });

  it('children of the command inherit the cgroup', async () => {
    const cg = await Cgroup.create('inherit', { root, pids: { max: 64 } });
    const r = await run('sh', ['-c', 'sh -c "cat /proc/self/cgroup" | grep pids'], { cgroup: cg });
    expect(r.stdout.trim().endsWith(`${root}/inherit`)).toBe(true);
    await cg.delete();
  });

  it('with joins and a pid-namespace join too (the grandchild is in the cgroup)', async () => {
    const holder = spawn('sleep', ['30'], { namespaces: ['pid'], stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    const cg = await Cgroup.create('joined', { root, pids: { max: 64 } });
    try {
      const r = await run('sh', ['-c', 'grep pids /proc/self/cgroup; echo $$'], { cgroup: cg, join: [`/proc/${holder.pid}/ns/pid`] });
      const [line, pid] = r.stdout.trim().split('\n');
      expect(line.endsWith(`${root}/joined`)).toBe(true);
      expect(Number(pid)).toBeGreaterThan(1);
    } finally {
      holder.kill('SIGKILL');
      await holder.exited;
      await cg.delete({ kill: true });
    }
  });

  it('a deleted cgroup: the spawn fails at step cgroup, and nothing is left', async () => {
    const cg = await Cgroup.create('gone', { root, pids: { max: 64 } });
    await cg.delete();
    const p = spawn('true', [], { cgroup: cg });
    const err = await p.exited.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect((err as NsgroupsError).code).toBe('ERR_NOT_FOUND');
    expect(fs.existsSync(path.join(mountOf('pids'), root, 'gone'))).toBe(false);
  });
});

it('options.cgroup must be a Cgroup', () => {
  expect(() => spawn('true', [], { cgroup: '/sys/fs/cgroup/x' as never })).toThrow(/must be a Cgroup/);
  expect(hostMode).toMatch(/v1|v2|hybrid/);
});
