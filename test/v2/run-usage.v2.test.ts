// run().usage.cgroup on a pure cgroup v2 system (the v2 lane's guest, kernel 6.1): the figures
// of each run in a shared cgroup — CPU from cpu.stat usage_usec, OOM kills from memory.events —
// and memory.peak, which the kernel lets a reader reset only since 6.12 (a write resets it for
// that open file): before that the peak is the cgroup's since it was made, and usage says so.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup, run } from '../../lib/index';
import { isRoot, itIf } from '../helpers/host';
import { flat, hostMode, removeEverywhere, testRoot } from '../helpers/cgroupfs';

const TOP = '/sys/fs/cgroup';
const root = testRoot('v2usage');
const onV2Root = hostMode === 'v2' && isRoot;
const MiB = 1024 * 1024;
afterAll(() => removeEverywhere(root));

const itV2 = (name: string, fn: () => Promise<void>): void => itIf(onV2Root, 'needs a pure cgroup v2 host, as root (the v2 lane guest)', name, fn);

// writes `bytes` into a tmpfs of its own (the library mounts it: the command holds no capability
// to): shmem, charged to the cgroup until the sandbox ends
const fill = (bytes: number) => ['sh', ['-c', `head -c ${bytes} /dev/zero > /tmp/f`]] as const;
const sandbox = { namespaces: ['user', 'mount', 'pid'] as Array<'user' | 'mount' | 'pid'>, mounts: [{ type: 'tmpfs' as const, target: '/tmp' }] };

/** Whether this kernel takes a reset of memory.peak (Linux 6.12): its answer to a write (6.1 opens the file for writing, and refuses the write). */
function peakResettable(dir: string): boolean {
  let fd = -1;
  try {
    fd = fs.openSync(path.join(dir, 'memory.peak'), 'r+');
    fs.writeSync(fd, 'reset');
    return true;
  } catch (err) {
    expect(['EACCES', 'EINVAL']).toContain((err as NodeJS.ErrnoException).code);
    return false;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

itV2("memory.peak per run where the kernel resets it, else the cgroup's (and usage says which)", async () => {
  const cg = await Cgroup.create('peak', { root, memory: { max: '64M', swapMax: 0 }, pids: { max: 32 } });
  const dir = path.join(TOP, root, 'peak');
  try {
    const resettable = peakResettable(dir);
    // eslint-disable-next-line no-console
    console.log(
      `v2 lane: kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}: memory.peak ${resettable ? 'resets per open file' : 'takes no reset (cumulative)'}`,
    );
    const [cmd, args] = fill(24 * MiB);
    const big = await run(cmd, [...args], { ...sandbox, cgroup: cg });
    const small = await run('true', [], { ...sandbox, cgroup: cg });
    expect(big.status).toBe('ok');
    expect(big.usage.cgroup!.memoryPeakBytes!).toBeGreaterThanOrEqual(24 * MiB);
    const expectedScope = resettable ? 'run' : 'cgroup';
    expect([big.usage.cgroup!.memoryPeakScope, small.usage.cgroup!.memoryPeakScope]).toEqual([expectedScope, expectedScope]);
    if (resettable) {
      expect(small.usage.cgroup!.memoryPeakBytes!).toBeLessThan(16 * MiB);
    } else {
      // the cgroup's peak, as its own file says: the first run's tmpfs is still in it
      expect(small.usage.cgroup!.memoryPeakBytes!).toBeGreaterThanOrEqual(24 * MiB);
      expect(small.usage.cgroup!.memoryPeakBytes).toBe(Number(fs.readFileSync(path.join(dir, 'memory.peak'), 'utf8')));
    }
  } finally {
    await cg.delete({ kill: true });
  }
});

itV2('CPU and OOM kills are per run (cpu.stat, memory.events): two writers past memory.max, each run its own kills', async () => {
  const cg = await Cgroup.create('ooms', { root, memory: { max: '16M', swapMax: 0 }, pids: { max: 32 } });
  const dir = path.join(TOP, root, 'ooms');
  const kills = () => flat(fs.readFileSync(path.join(dir, 'memory.events'), 'utf8')).oom_kill;
  const usec = () => flat(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8')).usage_usec;
  try {
    const before = { kills: kills(), usec: usec() };
    const [cmd, args] = fill(64 * MiB);
    const first = await run(cmd, [...args], { ...sandbox, cgroup: cg });
    const second = await run(cmd, [...args], { ...sandbox, cgroup: cg });
    expect([first.status, second.status]).toEqual(['memory', 'memory']);
    // the tmpfs stays charged after the writer's kill, so the OOM killer may take another process
    // of the same run: each run counts its own, and together they are what the file counted
    expect(first.usage.cgroup!.oomKills!).toBeGreaterThanOrEqual(1);
    expect(second.usage.cgroup!.oomKills!).toBeGreaterThanOrEqual(1);
    expect(first.usage.cgroup!.oomKills! + second.usage.cgroup!.oomKills!).toBe(kills() - before.kills);
    const total = (usec() - before.usec) / 1000;
    expect(first.usage.cgroup!.cpuMs! + second.usage.cgroup!.cpuMs!).toBeLessThanOrEqual(total + 1);
    expect(first.usage.cgroup!.cpuMs!).toBeGreaterThan(0);
  } finally {
    await cg.delete({ kill: true });
  }
});

itV2('cpuTime watches the cgroup on v2 too', async () => {
  const cg = await Cgroup.create('cpu', { root, pids: { max: 16 } });
  try {
    const r = await run('sh', ['-c', 'while :; do :; done'], { ...sandbox, cgroup: cg, cpuTime: 0.5 });
    expect(r).toMatchObject({ status: 'cpuTime', signal: 'SIGKILL' });
    expect(r.usage.cgroup!.cpuMs!).toBeGreaterThanOrEqual(500);
  } finally {
    await cg.delete({ kill: true });
  }
});
