// run().usage and spawn().exited's usage against what the command did: a loop of known CPU (as
// the command itself measured it), a known allocation, sleeps, the orphans an init reaps; and the
// cgroup figures of runs that share one cgroup, each the run's own, read against cgroupfs.
import * as fs from 'node:fs';
import { Cgroup, run, spawn } from '../lib';
import { cgRead, flat, hostMode, removeEverywhere, testRoot } from './helpers/cgroupfs';
import { isRoot } from './helpers/host';

const sandbox = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc', 'net'] as const };
const ns = { namespaces: [...sandbox.namespaces] };
const root = testRoot('usage');
const rel = (name: string) => `${root}/${name}`;
const MiB = 1024 * 1024;

afterAll(() => {
  if (isRoot) removeEverywhere(root);
});

/** Node code that burns `ms` of its own CPU and prints what the kernel counted for it (µs). */
const burn = (ms: number) =>
  `const t = process.cpuUsage(); for (;;) { const u = process.cpuUsage(t); if (u.user + u.system > ${ms * 1000}) break; } const u = process.cpuUsage(); console.log(u.user + u.system);`;
const cpuOf = (u: { cpuUserMs: number; cpuSystemMs: number }) => u.cpuUserMs + u.cpuSystemMs;

/** VmHWM of this process, bytes (proc(5)). */
function ownPeakRss(): number {
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}

describe("usage: the kernel's rusage of the run", () => {
  it('a loop of known CPU: the CPU the command counted itself, within tolerance; wall time covers it', async () => {
    const r = await run(process.execPath, ['-e', burn(400)], ns);
    const own = Number(r.stdout) / 1000; // ms, as the command saw it (its own getrusage)
    expect(own).toBeGreaterThanOrEqual(400);
    expect(cpuOf(r.usage)).toBeGreaterThanOrEqual(own);
    expect(cpuOf(r.usage)).toBeLessThan(own + 300); // the rest of node's exit, and the init's
    expect(r.usage.wallMs).toBeGreaterThanOrEqual(cpuOf(r.usage) * 0.9);
  });

  it('a sleep: wall time far above CPU time, and it switched voluntarily', async () => {
    const r = await run('sleep', ['0.5'], ns);
    expect(r.usage.wallMs).toBeGreaterThanOrEqual(500);
    expect(r.usage.wallMs).toBeLessThan(5000);
    expect(cpuOf(r.usage)).toBeLessThan(100);
    expect(r.usage.voluntaryContextSwitches).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(r.usage.involuntaryContextSwitches)).toBe(true);
    expect(r.usage.cgroup).toBeUndefined(); // no cgroup given
  });

  it('maxRss of a known allocation (above the Linux floor: the RSS of the image execve replaced)', async () => {
    // Linux keeps ru_maxrss across execve, counting the image it replaced (fs/exec.c
    // exec_mmap): for a command spawned from this process, that is our own peak RSS
    const floor = ownPeakRss();
    const plain = await run('true', [], ns);
    // (the kernel's RSS counters are per-CPU and approximate since 6.2: a little slack)
    expect(plain.usage.maxRssBytes).toBeGreaterThanOrEqual(floor * 0.95);
    // an allocation well above that floor is the command's own
    const size = Math.max(256 * MiB, Math.ceil((2 * ownPeakRss()) / MiB) * MiB);
    const r = await run(process.execPath, ['-e', `const b = Buffer.alloc(${size}, 1); console.log(b.length)`], ns);
    expect(r.stdout.trim()).toBe(String(size));
    expect(r.usage.maxRssBytes).toBeGreaterThanOrEqual(size);
    expect(r.usage.maxRssBytes).toBeLessThan(size + 160 * MiB); // node's own baseline on top
  });

  it("with an init, the orphans it reaped count; without a pid namespace they are not the run's", async () => {
    // the subshell exits at once: its child, burning 300 ms, is an orphan
    const script = (pidns: boolean) => `(${process.execPath} -e '${burn(300)}' &); ${pidns ? 'sleep 2' : 'true'}`;
    const withInit = await run('sh', ['-c', script(true)], ns);
    const orphan = Number(withInit.stdout) / 1000;
    expect(orphan).toBeGreaterThanOrEqual(300);
    expect(cpuOf(withInit.usage)).toBeGreaterThanOrEqual(orphan);
    // no pid namespace: the orphan goes to the host's reaper, not to us
    const without = await run('sh', ['-c', script(false)], { namespaces: ['user', 'mount'] });
    expect(Number(without.stdout) / 1000).toBeGreaterThanOrEqual(300);
    expect(cpuOf(without.usage)).toBeLessThan(150);
  });

  it('spawn().exited carries the usage and the verdict too', async () => {
    const p = spawn(process.execPath, ['-e', burn(200)], { ...ns, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    const closed = new Promise((res) => p.once('close', res));
    const e = await p.exited;
    expect(e).toMatchObject({ code: 0, signal: null, status: 'ok' });
    expect(cpuOf(e.usage)).toBeGreaterThanOrEqual(200);
    await closed;
    expect(cpuOf(e.usage)).toBeGreaterThanOrEqual(Number(out) / 1000);
  });
});

(isRoot ? describe : () => undefined)('usage.cgroup: this run only, in a cgroup runs share (root)', () => {
  const oomKills = (name: string) => flat(cgRead('memory', rel(name), hostMode === 'v2' ? 'memory.events' : 'memory.oom_control')).oom_kill;
  const peakFile = (name: string) => Number(cgRead('memory', rel(name), hostMode === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes'));

  it('peak memory and CPU of each run, not running totals', async () => {
    const cg = await Cgroup.create('shared', { root, memory: { max: '256M', swapMax: 0 }, pids: { max: 32 } });
    try {
      const big = await run(process.execPath, ['-e', `Buffer.alloc(${96 * MiB}, 1); ${burn(200)}`], { ...ns, cgroup: cg });
      const small = await run('true', [], { ...ns, cgroup: cg });
      expect(big.usage.cgroup!.memoryPeakScope).toBe('run'); // v1: memory.max_usage_in_bytes is reset per run
      expect(big.usage.cgroup!.memoryPeakBytes!).toBeGreaterThanOrEqual(96 * MiB);
      expect(small.usage.cgroup!.memoryPeakBytes!).toBeLessThan(16 * MiB);
      expect(small.usage.cgroup!.memoryPeakBytes).toBe(peakFile('shared')); // the kernel's own figure, now
      expect(big.usage.cgroup!.cpuMs!).toBeGreaterThanOrEqual(200);
      expect(small.usage.cgroup!.cpuMs!).toBeLessThan(big.usage.cgroup!.cpuMs! / 4);
      // each run's cgroup CPU holds its rusage (the cgroup also has the sandbox's setup)
      expect(big.usage.cgroup!.cpuMs!).toBeGreaterThanOrEqual(cpuOf(big.usage) - 5);
      // stats() is still the cgroup's, cumulative as before
      expect(big.stats!.cpu.usageUsec! / 1000).toBeGreaterThanOrEqual(Math.floor(big.usage.cgroup!.cpuMs!));
    } finally {
      await cg.delete({ kill: true });
    }
  });

  it('OOM kills are counted per run: two hogs in one cgroup report one each', async () => {
    const cg = await Cgroup.create('ooms', { root, memory: { max: '64M', swapMax: 0 }, pids: { max: 32 } });
    try {
      const before = oomKills('ooms');
      const hog = () => run(process.execPath, ['-e', `Buffer.alloc(${256 * MiB}, 1)`], { ...ns, cgroup: cg });
      const first = await hog();
      const second = await hog();
      const fine = await run('true', [], { ...ns, cgroup: cg });
      expect([first.status, second.status, fine.status]).toEqual(['memory', 'memory', 'ok']);
      expect([first.usage.cgroup!.oomKills, second.usage.cgroup!.oomKills, fine.usage.cgroup!.oomKills]).toEqual([1, 1, 0]);
      expect(oomKills('ooms') - before).toBe(2);
    } finally {
      await cg.delete({ kill: true });
    }
  });

  it('spawn() with a cgroup measures the same way', async () => {
    const cg = await Cgroup.create('spawned', { root, memory: { max: '128M' }, pids: { max: 8 } });
    try {
      const e = await spawn(process.execPath, ['-e', `Buffer.alloc(${32 * MiB}, 1)`], { ...ns, cgroup: cg, stdio: 'ignore' }).exited;
      expect(e.usage.cgroup).toMatchObject({ memoryPeakScope: 'run', oomKills: 0 });
      expect(e.usage.cgroup!.memoryPeakBytes!).toBeGreaterThanOrEqual(32 * MiB);
    } finally {
      await cg.delete({ kill: true });
    }
  });
});
