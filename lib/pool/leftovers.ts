// A pool with limits keeps its sandboxes' cgroups under one parent named after the process that
// made it. Node crashing takes the sandboxes with it (each has the parent-death signal), but
// the empty cgroups stay: the next pool removes those whose maker is provably gone (the owner
// record of Cgroup.create, judged as `nsgroups gc` judges it), and nothing else.
import { cgroupLeftovers } from '../cli/gc';

const PREFIX = 'nsgroups-pool-';

export function poolCgroupName(pid: number, sequence: number): string {
  return `${PREFIX}${pid}-${sequence}`;
}

/** Removes the cgroups of pools whose process has exited; the names removed. */
export async function sweepPoolCgroups(): Promise<string[]> {
  const removed: string[] = [];
  for (const leftover of await cgroupLeftovers()) {
    if (!leftover.what.startsWith(PREFIX) || !leftover.remove) continue;
    await leftover.remove();
    removed.push(leftover.what);
  }
  return removed;
}
