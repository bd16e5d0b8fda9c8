// The limits part of capabilities(): each limit of Cgroup.create() set on a fresh cgroup of ours,
// so the answer is what Cgroup.create itself would say on this host (ERR_UNSUPPORTED with the
// file that is missing: blkio.bfq.weight without the bfq scheduler, memory.memsw.* without swap
// accounting, memory.high on v1 memory…), never a guess from the layout.
import * as fs from 'node:fs';
import { Cgroup } from '../cgroup/cgroup';
import type { CgroupLimits } from '../cgroup/limits';
import { NsgroupsError } from '../errors';
import type { Feature } from './capabilities';

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** The limits of Cgroup.create(), each tried on a cgroup of ours. */
export const LIMIT_NAMES = [
  'memory.max',
  'memory.high',
  'memory.low',
  'memory.swapMax',
  'cpu.max',
  'cpu.weight',
  'pids.max',
  'io.weight',
  'io.max',
  'cpuset',
] as const;
/** A cgroup limit capabilities() tries on a cgroup of its own, by its cgroup v2 file name. */
export type LimitName = (typeof LIMIT_NAMES)[number];

/** A whole disk to try io.max on: the first block device that is not virtual (loop, zram, ram). */
function someDisk(): string | null {
  try {
    for (const name of fs.readdirSync('/sys/block')) {
      if (fs.readlinkSync(`/sys/block/${name}`).includes('/virtual/')) continue;
      return fs.readFileSync(`/sys/block/${name}/dev`, 'utf8').trim();
    }
  } catch {
    /* no sysfs */
  }
  return null;
}

function limitProbes(): Record<LimitName, CgroupLimits | null> {
  const disk = someDisk();
  let cpus = '0';
  try {
    cpus = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  } catch {
    /* one CPU, then */
  }
  // values that change nothing a fresh cgroup would not already allow
  return {
    'memory.max': { memory: { max: 'max' } },
    'memory.high': { memory: { high: 'max' } },
    'memory.low': { memory: { low: 0 } },
    'memory.swapMax': { memory: { swapMax: 'max' } },
    'cpu.max': { cpu: { max: 'max' } },
    'cpu.weight': { cpu: { weight: 100 } },
    'pids.max': { pids: { max: 'max' } },
    'io.weight': { io: { weight: 100 } },
    'io.max': disk ? { io: { max: { [disk]: { rbps: 'max' } } } } : null,
    cpuset: { cpuset: { cpus } },
  };
}

/** How to get a limit the kernel lacks (ERR_UNSUPPORTED), for this cgroup mode. */
function limitFix(name: LimitName, v2: boolean): string | undefined {
  switch (name) {
    case 'memory.high':
    case 'memory.low':
      return v2 ? undefined : 'cgroup v2 memory: boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=memory)';
    case 'memory.swapMax':
      return 'swap accounting: boot with swapaccount=1 (a kernel with CONFIG_MEMCG_SWAP)';
    case 'io.weight':
      return v2
        ? 'the io cost model (CONFIG_BLK_CGROUP_IOCOST) or the bfq scheduler: modprobe bfq; echo bfq > /sys/block/DEV/queue/scheduler'
        : 'the bfq scheduler, which provides blkio.bfq.weight: modprobe bfq; echo bfq > /sys/block/DEV/queue/scheduler';
    case 'io.max':
      return 'I/O throttling (CONFIG_BLK_DEV_THROTTLING)';
    default:
      return undefined;
  }
}

/** Sets each limit on a fresh cgroup of ours: what Cgroup.create would say about it. */
export async function probeLimits(v2: boolean): Promise<Record<LimitName, Feature>> {
  const out = {} as Record<LimitName, Feature>;
  let cg: Cgroup;
  try {
    // every controller a limit may need (a cgroup gets a v1 directory only for those asked for)
    cg = await Cgroup.create(`probe-${process.pid}-limits-${Date.now()}`, { controllers: ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'io'] });
  } catch (err) {
    const f: Feature = { supported: false, reason: noCgroupReason(err), fix: NO_BASE_FIX };
    for (const name of LIMIT_NAMES) out[name] = f;
    return out;
  }
  try {
    for (const [name, limits] of Object.entries(limitProbes()) as Array<[LimitName, CgroupLimits | null]>) {
      if (!limits) {
        out[name] = { supported: false, reason: 'not tried: no block device on this host to limit' };
        continue;
      }
      try {
        await cg.set(limits);
        out[name] = { supported: true };
      } catch (err) {
        const unsupportedHere = err instanceof NsgroupsError && err.code === 'ERR_UNSUPPORTED';
        // an error that carries its own fix (a controller not delegated) says it after its first line
        const own = (err as Error).message.split('\n').slice(1).join('\n').trim();
        const fix = own || (unsupportedHere ? limitFix(name, v2) : undefined);
        out[name] = { supported: false, reason: firstLine(err), ...(fix ? { fix } : {}) };
      }
    }
    if (out['memory.swapMax'].supported && !activeSwap())
      out['memory.swapMax'] = { supported: true, reason: 'no swap is active (/proc/swaps) to limit, though' };
  } finally {
    await cg.delete({ kill: true }).catch(() => {});
  }
  return out;
}

function activeSwap(): boolean {
  try {
    return fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;
  } catch {
    return false;
  }
}

export function noCgroupReason(err: unknown): string {
  const why = err instanceof NsgroupsError && err.code === 'ERR_PERMISSION' ? 'this caller has no writable cgroup base' : firstLine(err);
  return `not tried: no cgroup of ours to try it in (${why})`;
}

export const NO_BASE_FIX = 'a cgroup subtree this caller may write: the fix under "a base for new cgroups"';
