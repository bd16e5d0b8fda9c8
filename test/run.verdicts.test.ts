// Every verdict of run() (docs/judge.md), each from a command that really does the thing, with
// the kernel as the oracle: the wait status, the cgroup's own counter files read before and after,
// /proc/PID/limits inside, the size of a file RLIMIT_FSIZE cut. Memory hogs and fork bombs run
// only in cgroups this file creates, with pids.max and a memory limit.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cgroup, NsgroupsError, run, spawn, type SandboxProcess, type SpawnOptions } from '../lib';
import { cgRead, flat, hostMode, removeEverywhere, testRoot } from './helpers/cgroupfs';
import { isRoot, itRoot } from './helpers/host';

const NS = ['user', 'pid', 'mount', 'uts', 'ipc', 'net'] as const;
const sandbox = { namespaces: [...NS] };
const root = testRoot('verdicts');
const rel = (name: string) => `${root}/${name}`;
const MiB = 1024 * 1024;
// a busy loop that never ends on its own
const BUSY = 'while :; do :; done';

let tmp: string;
let segfault: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-verdicts-'));
  fs.chmodSync(tmp, 0o777);
  segfault = path.join(tmp, 'segfault');
  execFileSync('cc', ['-O0', '-o', segfault, path.join(__dirname, 'fixtures/segfault.c')]);
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (isRoot) removeEverywhere(root);
});

const cpuOf = (r: { usage: { cpuUserMs: number; cpuSystemMs: number } }) => r.usage.cpuUserMs + r.usage.cpuSystemMs;

/** The memory controller's file, in its v1 or v2 name. */
const memFile = (v1: string, v2: string) => (hostMode === 'v2' ? v2 : v1);
const oomKillsOf = (name: string) => flat(cgRead('memory', rel(name), memFile('memory.oom_control', 'memory.events'))).oom_kill;

describe('the verdict of a run that ended by itself', () => {
  it("'ok' and 'exit': the exit status, whatever its number", async () => {
    expect(await run('true', [], sandbox)).toMatchObject({ status: 'ok', code: 0, signal: null });
    expect(await run('sh', ['-c', 'exit 3'], sandbox)).toMatchObject({ status: 'exit', code: 3 });
    // numbers that look like a timeout or a kill are still the command's own exit status
    for (const code of [124, 137, 143]) expect(await run('sh', ['-c', `exit ${code}`], sandbox)).toMatchObject({ status: 'exit', code, signal: null });
  });

  it("'signal': a real segmentation fault (and no core file: core 0 in a sandbox)", async () => {
    const r = await run(segfault, [], { ...sandbox, cwd: tmp });
    expect(r).toMatchObject({ status: 'signal', code: null, signal: 'SIGSEGV' });
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith('core'))).toEqual([]);
    // a signal it sends itself is a signal too, even SIGKILL (no cgroup, so no OOM to blame)
    expect(await run('sh', ['-c', 'kill -KILL $$'], sandbox)).toMatchObject({ status: 'signal', signal: 'SIGKILL' });
  });

  it("'setup': a missing binary rejects, and the error says 'setup' (run and spawn().exited)", async () => {
    const err = await run('nsgroups-no-such-binary', [], sandbox).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ status: 'setup', code: 'ERR_NOT_FOUND', step: 'execve' });
    const p = spawn('nsgroups-no-such-binary', [], { ...sandbox, stdio: 'ignore' });
    await expect(p.exited).rejects.toMatchObject({ status: 'setup', step: 'execve' });
    // an input file that is not there: the run never started
    await expect(run('cat', [], { input: { file: path.join(tmp, 'missing') } })).rejects.toMatchObject({ status: 'setup', code: 'ERR_NOT_FOUND' });
  });
});

// A shell that ignores SIGTERM and then says so. Its "ready" is the kernel's word that the trap
// was in place before the timeout's SIGTERM: on a busy host (or one where a user's id maps go
// through newuidmap) the shell may not reach it in 200 ms, and then SIGTERM ends it. Such a run
// tests nothing, and is made again with a longer timeout.
const IGNORES_TERM = 'trap "" TERM; echo ready; while :; do sleep 0.05; done';
const TIMEOUTS = [200, 1000, 4000];

async function runIgnoringTerm(options: Parameters<typeof run>[2]) {
  for (const timeout of TIMEOUTS) {
    const r = await run('sh', ['-c', IGNORES_TERM], { ...options, timeout });
    if (r.stdout.includes('ready')) return { r, timeout };
  }
  throw new Error(`the shell never reached its trap before SIGTERM, even with a ${TIMEOUTS.at(-1)} ms timeout`);
}

/** The same with spawn(): resolves once the shell is ready, its timeout to come (or gone by). */
async function spawnIgnoringTerm(options: SpawnOptions): Promise<SandboxProcess> {
  for (const timeout of TIMEOUTS) {
    const p = spawn('sh', ['-c', IGNORES_TERM], { ...options, timeout, stdio: ['ignore', 'pipe', 'ignore'] });
    const ready = await new Promise<boolean>((res) => {
      p.stdout.once('data', () => res(true));
      p.once('exit', () => res(false));
    });
    if (ready) return p;
    await p.exited;
  }
  throw new Error(`the shell never reached its trap before SIGTERM, even with a ${TIMEOUTS.at(-1)} ms timeout`);
}

describe("'timeout' and killAfter: the wall clock, and the escalation to SIGKILL", () => {
  it('sleep past its timeout: SIGTERM, wall time far above CPU time', async () => {
    const r = await run('sleep', ['30'], { ...sandbox, timeout: 300 });
    expect(r).toMatchObject({ status: 'timeout', signal: 'SIGTERM', timedOut: true });
    expect(r.usage.wallMs).toBeGreaterThanOrEqual(300);
    expect(r.usage.wallMs).toBeLessThan(5000);
    expect(cpuOf(r)).toBeLessThan(r.usage.wallMs / 3);
  });

  it('a command that ignores SIGTERM gets SIGKILL killAfter ms later', async () => {
    const { r, timeout } = await runIgnoringTerm({ ...sandbox, killAfter: 400 });
    expect(r).toMatchObject({ status: 'timeout', signal: 'SIGKILL', timedOut: true });
    expect(r.usage.wallMs).toBeGreaterThanOrEqual(timeout + 400);
    expect(r.usage.wallMs).toBeLessThan(timeout + 3000);
  });

  it('by default it cannot outlive its timeout by more than 2 s; killAfter: false never escalates', async () => {
    const { r, timeout } = await runIgnoringTerm(sandbox);
    expect(r).toMatchObject({ status: 'timeout', signal: 'SIGKILL' });
    expect(r.usage.wallMs).toBeGreaterThanOrEqual(timeout + 2000);
    expect(r.usage.wallMs).toBeLessThan(timeout + 5000);
    const p = await spawnIgnoringTerm({ ...sandbox, killAfter: false });
    await new Promise((res) => setTimeout(res, 3000));
    expect(p.exitCode === null && p.signalCode === null).toBe(true);
    expect(fs.existsSync(`/proc/${p.pid}`)).toBe(true);
    p.kill('SIGKILL');
    expect(await p.exited).toMatchObject({ status: 'timeout', signal: 'SIGKILL' });
  }, 20000);
});

describe("'cpuTime': CPU seconds, watched by the parent, plus RLIMIT_CPU per process", () => {
  it('a busy loop is killed once it used cpuTime, and RLIMIT_CPU is set inside (soft ceil(cpuTime + extraTime), hard +1)', async () => {
    const r = await run('sh', ['-c', BUSY], { ...sandbox, cpuTime: 0.4 });
    expect(r).toMatchObject({ status: 'cpuTime', signal: 'SIGKILL', timedOut: false });
    expect(cpuOf(r)).toBeGreaterThanOrEqual(400);
    expect(cpuOf(r)).toBeLessThan(900);
    const limits = await run('cat', ['/proc/self/limits'], { ...sandbox, cpuTime: 0.4, extraTime: 1 });
    expect(limits.stdout).toMatch(/^Max cpu time\s+2\s+3\s+seconds/m);
    expect(limits.status).toBe('ok');
  });

  it('extraTime: killed only at cpuTime + extraTime; one that ends inside the grace is still over cpuTime', async () => {
    const killed = await run('sh', ['-c', BUSY], { ...sandbox, cpuTime: 0.3, extraTime: 0.4 });
    expect(killed).toMatchObject({ status: 'cpuTime', signal: 'SIGKILL' });
    expect(cpuOf(killed)).toBeGreaterThanOrEqual(700);
    // burns 500 ms of its own CPU (as the kernel counts it for it), then exits 0
    const burn = 'const t = process.cpuUsage(); for (;;) { const u = process.cpuUsage(t); if (u.user + u.system > 5e5) break; }';
    const r = await run(process.execPath, ['-e', burn], { ...sandbox, cpuTime: 0.3, extraTime: 5 });
    expect(r).toMatchObject({ status: 'cpuTime', code: 0, signal: null });
    expect(cpuOf(r)).toBeGreaterThanOrEqual(500);
  });

  it('rlimits.cpu alone: SIGXCPU at the soft limit, SIGKILL at the hard one, both a cpuTime verdict', async () => {
    const soft = await run('sh', ['-c', BUSY], { ...sandbox, rlimits: { cpu: { soft: 1, hard: 3 } } });
    expect(soft).toMatchObject({ status: 'cpuTime', signal: 'SIGXCPU' });
    // the kernel checks RLIMIT_CPU against tick samples, rusage is the exact runtime: on a busy
    // host the samples run ahead (seen: 790-821 ms at a 1 s limit, load 14-16), never by half
    expect(cpuOf(soft)).toBeGreaterThanOrEqual(500);
    expect(cpuOf(soft)).toBeLessThan(3000);
    // soft = hard: the kernel goes straight to SIGKILL (kernel/time/posix-cpu-timers.c)
    const hard = await run('sh', ['-c', BUSY], { ...sandbox, rlimits: { cpu: 1 } });
    expect(hard).toMatchObject({ status: 'cpuTime', signal: 'SIGKILL' });
    expect(cpuOf(hard)).toBeGreaterThanOrEqual(500);
    // a SIGKILL of its own, under an RLIMIT_CPU it is far from, is no CPU verdict
    expect(await run('sh', ['-c', 'kill -KILL $$'], { ...sandbox, rlimits: { cpu: 5 } })).toMatchObject({ status: 'signal', signal: 'SIGKILL' });
  });

  itRoot('with a cgroup it is the whole sandbox: two loops share the budget (root)', async () => {
    const cg = await Cgroup.create('cpu', { root, pids: { max: 16 } });
    try {
      // ns: v1 cpuacct.usage, v2 cpu.stat usage_usec
      const usage = () =>
        hostMode === 'v2' ? flat(cgRead('cpu', rel('cpu'), 'cpu.stat')).usage_usec * 1000 : Number(cgRead('cpuacct', rel('cpu'), 'cpuacct.usage'));
      const before = usage();
      const r = await run('sh', ['-c', `sh -c '${BUSY}' & sh -c '${BUSY}' & wait`], { ...sandbox, cgroup: cg, cpuTime: 0.6 });
      const after = usage();
      expect(r).toMatchObject({ status: 'cpuTime', signal: 'SIGKILL' });
      expect(r.usage.cgroup!.cpuMs!).toBeGreaterThanOrEqual(600);
      // the cgroup's own counter (ns), read around the run, holds what the run reported
      // (ns against ms: a nanosecond of floating point slack; seen 637.828408 < 637.8284080000001)
      expect((after - before) / 1e6).toBeGreaterThanOrEqual(r.usage.cgroup!.cpuMs! - 1e-6);
      expect((after - before) / 1e6 - r.usage.cgroup!.cpuMs!).toBeLessThan(50);
      // neither loop reached its own RLIMIT_CPU (1 s): the parent's watch of the cgroup ended it
      expect(r.usage.cgroup!.cpuMs!).toBeLessThan(1000 + 300);
      expect(await cg.procs()).toEqual([]);
    } finally {
      await cg.delete({ kill: true });
    }
  });
});

describe("'output': maxBuffer per stream, and RLIMIT_FSIZE's SIGXFSZ", () => {
  it('a flood of stdout is cut at maxBuffer, the command stopped', async () => {
    const r = await run('yes', [], { ...sandbox, maxBuffer: 65536 });
    expect(r).toMatchObject({ status: 'output', signal: 'SIGTERM' });
    expect(r.stdout.length).toBe(65536);
    expect(r.stdout).toBe('y\n'.repeat(32768));
    const err = await run('sh', ['-c', 'echo fine; yes >&2'], { ...sandbox, maxBuffer: 1000, encoding: 'buffer' });
    expect(err.status).toBe('output');
    expect(err.stderr.length).toBe(1000);
    expect(err.stdout.toString()).toBe('fine\n');
  });

  it('a flood that ignores SIGTERM is SIGKILLed killAfter later', async () => {
    // an ignored signal stays ignored across execve (signal(7)): yes ignores SIGTERM too
    const r = await run('sh', ['-c', 'trap "" TERM; yes'], { ...sandbox, maxBuffer: 4096, killAfter: 200 });
    expect(r).toMatchObject({ status: 'output', signal: 'SIGKILL' });
    expect(r.stdout.length).toBe(4096);
  });

  it('a file past rlimits.fsize: SIGXFSZ, and the file is exactly the limit', async () => {
    const file = path.join(tmp, 'big');
    const r = await run('sh', ['-c', `exec head -c 2097152 /dev/zero > ${file}`], { ...sandbox, rlimits: { fsize: '1M' } });
    expect(r).toMatchObject({ status: 'output', signal: 'SIGXFSZ' });
    expect(fs.statSync(file).size).toBe(MiB);
  });
});

(isRoot ? describe : () => undefined)('the cgroup as witness (root)', () => {
  it("'memory': a 512 MiB hog under 64 MiB is OOM-killed, once, by the count in the cgroup's own file", async () => {
    const cg = await Cgroup.create('oom', { root, memory: { max: '64M', swapMax: 0 }, pids: { max: 64 } });
    try {
      const before = oomKillsOf('oom');
      const r = await run(process.execPath, ['-e', 'Buffer.alloc(512 * 1024 * 1024, 1)'], { ...sandbox, cgroup: cg });
      expect(r).toMatchObject({ status: 'memory', signal: 'SIGKILL' });
      expect(r.usage.cgroup).toMatchObject({ oomKills: 1, memoryPeakScope: 'run' });
      expect(oomKillsOf('oom') - before).toBe(1);
      // the peak is the cgroup's own figure, at the limit
      const peakFile = Number(cgRead('memory', rel('oom'), memFile('memory.max_usage_in_bytes', 'memory.peak')));
      expect(r.usage.cgroup!.memoryPeakBytes).toBe(peakFile);
      expect(peakFile).toBeGreaterThan(48 * MiB);
      expect(peakFile).toBeLessThanOrEqual(64 * MiB);
    } finally {
      await cg.delete({ kill: true });
    }
  });

  it('a fork bomb is held at pids.max and ends by the time limit that stops it; nothing of it is left', async () => {
    const cg = await Cgroup.create('bomb', { root, memory: { max: '256M', swapMax: 0 }, pids: { max: 32 } });
    try {
      const r = await run('sh', ['-c', 'f() { f | f & }; f; sleep 30'], { ...sandbox, cgroup: cg, timeout: 1500, cpuTime: 1 });
      expect(['timeout', 'cpuTime']).toContain(r.status);
      expect(r.stderr).toMatch(/fork/i);
      const events = flat(cgRead('pids', rel('bomb'), 'pids.events'));
      expect(events.max).toBeGreaterThan(0); // forks the kernel refused
      const pidsDir = typeof cg.path === 'string' ? cg.path : cg.path.pids;
      if (fs.existsSync(path.join(pidsDir, 'pids.peak'))) {
        expect(Number(cgRead('pids', rel('bomb'), 'pids.peak'))).toBeLessThanOrEqual(32);
      }
      expect(Number(cgRead('pids', rel('bomb'), 'pids.current'))).toBe(0);
      expect(await cg.procs()).toEqual([]);
    } finally {
      await cg.delete({ kill: true });
    }
  });

  it("a SIGKILL that was not the OOM killer's is 'signal', not 'memory'", async () => {
    const cg = await Cgroup.create('selfkill', { root, memory: { max: '64M', swapMax: 0 }, pids: { max: 16 } });
    try {
      const r = await run('sh', ['-c', 'kill -KILL $$'], { ...sandbox, cgroup: cg });
      expect(r).toMatchObject({ status: 'signal', signal: 'SIGKILL' });
      expect(r.usage.cgroup!.oomKills).toBe(0);
    } finally {
      await cg.delete({ kill: true });
    }
  });
});

describe('the hardened defaults stay on with every judge option', () => {
  it('no capabilities, no_new_privs, the seccomp filter, core 0, and the limits, inside', async () => {
    const r = await run(
      'sh',
      ['-c', 'grep -E "^(CapEff|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status; grep -E "^Max (core file size|cpu time)" /proc/self/limits'],
      {
        ...sandbox,
        cpuTime: 5,
        extraTime: 1,
        timeout: 10000,
        killAfter: 500,
        maxBuffer: 1 << 20,
      },
    );
    expect(r.status).toBe('ok');
    expect(r.stdout).toMatch(/^CapPrm:\s+0+$/m);
    expect(r.stdout).toMatch(/^CapEff:\s+0+$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    expect(r.stdout).toMatch(/^Max cpu time\s+6\s+7\s+seconds/m);
  });

  it('bad limits are ERR_INVALID_ARG before anything runs', () => {
    expect(() => spawn('true', [], { cpuTime: 0 })).toThrow(/cpuTime/);
    expect(() => spawn('true', [], { cpuTime: -1 })).toThrow(/cpuTime/);
    expect(() => spawn('true', [], { extraTime: 1 })).toThrow(/extraTime .*cpuTime/);
    expect(() => spawn('true', [], { killAfter: -5 })).toThrow(/killAfter/);
    expect(() => spawn('true', [], { killAfter: true as unknown as number })).toThrow(/killAfter/);
    return expect(run('true', [], { maxBuffer: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/maxBuffer/) });
  });
});
