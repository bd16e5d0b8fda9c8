// Sandbox: what a test leaves running is found at dispose, reported and killed — a daemon that
// double-forked and called setsid too; a fork bomb in one sandbox does not disturb another; the
// limits are the sandbox cgroup's, and where no cgroup may be made (rootless, nothing delegated)
// limits are refused with the way to delegate while a sandbox without limits still works.
import { once } from 'node:events';
import * as fs from 'node:fs';
import { Cgroup, NsgroupsError, Sandbox } from '../lib';
import { isRoot } from './helpers/host';
import { cgroupDirs, eventually, pidsInNamespace } from './helpers/sandboxes';

/** Whether this process may make cgroups (root, or a delegated subtree): probed. */
let cgroupsAllowed = isRoot;
beforeAll(async () => {
  if (isRoot) return;
  try {
    const probe = await Cgroup.create(`nsgroups-probe-${process.pid}`);
    await probe.delete();
    cgroupsAllowed = true;
  } catch (err) {
    if (!(err instanceof NsgroupsError && err.code === 'ERR_PERMISSION')) throw err;
  }
  console.log(`rootless lane: cgroups ${cgroupsAllowed ? 'are' : 'are not'} delegated to uid ${process.geteuid!()}`);
});

const statusField = (pid: number, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
const sessionOf = (pid: number): number => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[3]);

describe('Sandbox: leftovers', () => {
  it('a daemon (double fork, setsid) outlives its command, is found at dispose, reported and killed', async () => {
    const sb = await Sandbox.create({});
    const pidns = fs.readlinkSync(`/proc/${sb.pid}/ns/pid`);
    const r = await sb.run('sh', [
      '-c',
      '(setsid sh -c "sleep 1000 & echo \\$! > /tmp/daemon.pid" &) </dev/null >/dev/null 2>&1; while [ ! -s /tmp/daemon.pid ]; do sleep 0.01; done; cat /tmp/daemon.pid; echo $$',
    ]);
    const [daemonInside] = r.stdout.trim().split('\n').map(Number);
    // the kernel's view: a sleep in the sandbox's pid namespace, in a session of its own, whose
    // parent is the sandbox's init (pid 1 inside) since its own parent exited
    const daemon = pidsInNamespace(pidns).find((pid) => statusField(pid, 'NSpid').split(/\s+/).at(-1) === String(daemonInside))!;
    expect(daemon).toBeDefined();
    expect(fs.readFileSync(`/proc/${daemon}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');
    const parent = Number(statusField(daemon, 'PPid'));
    expect(statusField(parent, 'NSpid').split(/\s+/).at(-1)).toBe('1');
    expect(sessionOf(daemon)).not.toBe(sessionOf(sb.pid));
    // a spawned command still running is a leftover too
    const server = sb.spawn('sleep', ['999'], { stdio: 'ignore' });
    await once(server, 'spawn');
    await sb.dispose();
    expect(sb.report().leftovers).toEqual([
      { pid: daemon, sandboxPid: daemonInside, command: 'sleep 1000' },
      { pid: server.pid, sandboxPid: expect.any(Number), command: 'sleep 999' },
    ]);
    expect(fs.existsSync(`/proc/${daemon}`)).toBe(false);
    // the sandbox's kill, not a limit of the command's: the verdict is 'signal', and it is counted
    expect(await server.exited).toMatchObject({ code: null, signal: 'SIGKILL', status: 'signal' });
    expect(sb.report().statuses).toEqual({ ok: 1, signal: 1 });
    expect(pidsInNamespace(pidns)).toEqual([]);
  });

  it('a fork bomb in one sandbox does not disturb another; dispose ends it', async () => {
    // With a cgroup (root, or delegated): a real bomb, held by pids.max, a memory limit and half a
    // CPU. Without one there is nothing to hold its CPU on this shared host, so the process
    // budget is RLIMIT_NPROC — which the kernel counts per user namespace (Linux 5.14), that is
    // per sandbox — and the "bomb" forks until refused rather than churning.
    const withCgroup = cgroupsAllowed;
    const a = withCgroup
      ? await Sandbox.create({ limits: { pids: { max: 64 }, memory: { max: '128M' }, cpu: { max: 0.5 } }, name: 'bomb' })
      : await Sandbox.create({ rlimits: { nproc: 48 }, name: 'bomb' });
    const b = await Sandbox.create({ ...(withCgroup ? {} : { rlimits: { nproc: 48 } }), name: 'neighbour' });
    const pidnsA = fs.readlinkSync(`/proc/${a.pid}/ns/pid`);
    try {
      const bomb = withCgroup
        ? a.spawn('sh', ['-c', 'b() { b | b & }; b; sleep 1000'], { stdio: 'ignore' })
        : a.spawn('sh', ['-c', 'i=0; while [ $i -lt 500 ]; do sleep 1000 & i=$((i + 1)); done; wait'], { stdio: 'ignore' });
      await once(bomb, 'spawn');
      await eventually(() => pidsInNamespace(pidnsA).length >= 40, 10000, 'the bomb to fill its budget');
      // under half a CPU on a loaded host the bomb may take a while to reach pids.max itself:
      // wait until the kernel has refused it a fork (pids.events max), then load the neighbour
      if (withCgroup) {
        await eventually(async () => ((await a.cgroup!.stats()).pids?.events.max ?? 0) > 0, 20000, 'pids.max to refuse the bomb a fork');
      }
      const r = await b.run('sh', ['-c', 'for i in $(seq 20); do sh -c "exit 0" & done; wait; echo done'], { timeout: 20000 });
      expect(r).toMatchObject({ code: 0, stdout: 'done\n', timedOut: false });
      // the bomb's processes stay within its budget: the cgroup's pids.max, or RLIMIT_NPROC
      expect(pidsInNamespace(pidnsA).length).toBeLessThanOrEqual((withCgroup ? 64 : 48) + 2);
      console.log(`fork bomb held by ${withCgroup ? 'the cgroup (pids.max 64)' : 'RLIMIT_NPROC 48 in its user namespace'}`);
    } finally {
      const started = Date.now();
      await a.dispose();
      await b.dispose();
      expect(Date.now() - started).toBeLessThan(15000);
    }
    expect(a.report().leftovers.length).toBeGreaterThan(10);
    expect(pidsInNamespace(pidnsA)).toEqual([]);
  }, 90000);
});

describe('Sandbox: limits and the cgroup', () => {
  it("with a cgroup: limits are the cgroup's, every command is in it, and the report has its figures", async () => {
    if (!cgroupsAllowed) {
      // the other outcome: limits need a cgroup, and the error says how to get one
      const err = await Sandbox.create({ limits: { memory: { max: '64M' } } }).catch((e: NsgroupsError) => e);
      expect(err).toBeInstanceOf(NsgroupsError);
      expect(err).toMatchObject({ code: 'ERR_PERMISSION' });
      expect((err as NsgroupsError).message).toMatch(/Delegate=/);
      expect((err as NsgroupsError).message).toMatch(/Without limits a sandbox needs no cgroup/);
      // and without limits a sandbox works, with no cgroup
      await using sb = await Sandbox.create({});
      expect((await sb.run('echo', ['ok'])).stdout).toBe('ok\n');
      expect(sb.cgroup).toBeNull();
      expect(sb.report()).toMatchObject({ cgroup: null, cpuMs: null, memoryPeakBytes: null, commands: 1 });
      console.log('saw: no cgroup may be made here; limits refused with ERR_PERMISSION, a sandbox without limits works');
      return;
    }
    const sb = await Sandbox.create({ limits: { memory: { max: '48M' }, pids: { max: 32 } } });
    const dirs = cgroupDirs(sb.cgroup!.path);
    try {
      const limits = await sb.cgroup!.limits();
      expect(limits.memory?.max).toBe(48 * 1024 * 1024);
      const p = sb.spawn('sleep', ['100'], { stdio: 'ignore' });
      await once(p, 'spawn');
      for (const d of dirs.filter((x) => fs.existsSync(`${x}/cgroup.procs`) && !x.includes('unified'))) {
        expect(fs.readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').map(Number)).toContain(p.pid);
      }
      // a memory hog, inside the cgroup with its memory and pids limits
      const hog = await sb.run('node', ['-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))'], { timeout: 30000 });
      expect(hog.signal).toBe('SIGKILL');
      const r = sb.report();
      expect(r.oomKills).toBeGreaterThanOrEqual(1);
      expect(r.memoryPeakBytes).toBeGreaterThan(16 * 1024 * 1024);
      expect(r.cpuMs).toBeGreaterThan(0);
      expect(r.processes).toBeGreaterThanOrEqual(2);
      console.log('saw: a cgroup with the limits');
    } finally {
      await sb.dispose();
    }
    for (const d of dirs) expect(fs.existsSync(d)).toBe(false);
  }, 60000);

  it("the report's memory peak is the sandbox's whole life, though each command's run resets the cgroup's", async () => {
    if (!cgroupsAllowed) {
      await using sb = await Sandbox.create({});
      await sb.run('true');
      expect(sb.report().memoryPeakBytes).toBeNull();
      console.log('saw: no cgroup here, no memory peak');
      return;
    }
    const sb = await Sandbox.create({ limits: { memory: { max: '256M' } } });
    try {
      const hog = await sb.run('node', ['-e', 'Buffer.alloc(64 << 20, 1)']);
      expect(hog.status).toBe('ok');
      const hogPeak = hog.usage.cgroup!.memoryPeakBytes!;
      expect(hogPeak).toBeGreaterThan(64 << 20);
      const small = await sb.run('true');
      const smallPeak = small.usage.cgroup!.memoryPeakBytes!;
      // the kernel's figure now: the cgroup's own peak file, read directly
      const paths = sb.cgroup!.path;
      const peakFile = typeof paths === 'string' ? `${paths}/memory.peak` : `${paths.memory}/memory.max_usage_in_bytes`;
      const now = Number(fs.readFileSync(peakFile, 'utf8').trim());
      console.log(
        `saw: run peaks ${hogPeak} then ${smallPeak} (scope '${small.usage.cgroup!.memoryPeakScope}'); the cgroup's peak now ${now}` +
          (now < hogPeak ? ': reset by the second run (v1)' : ': not reset for other readers (v2 per-fd reset)'),
      );
      expect(smallPeak).toBeLessThan(hogPeak);
      expect(sb.report().memoryPeakBytes).toBeGreaterThanOrEqual(hogPeak);
      await sb.dispose();
      expect(sb.report().memoryPeakBytes).toBeGreaterThanOrEqual(hogPeak);
    } finally {
      await sb.dispose();
    }
  }, 60000);
});
