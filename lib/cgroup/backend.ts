// The one interface both cgroup backends implement (crun's cgroup-v1.c / cgroup-v2.c split): the
// Cgroup class holds policy (names, bases, validation, undo) and asks a backend for files.
import { unsupported, type NsgroupsError } from '../errors';
import { sleep } from './fsops';
import type { CgroupHierarchy } from './layout';
import type { CgroupLimitsInForce, ResolvedLimits } from './limits';
import type { PeakProbe, RunCounters } from './run-usage';
import type { CgroupStats } from './stats';

/** One directory of a cgroup: on v2 the only one; on v1 one per hierarchy it uses. */
export interface CgroupDir {
  h: CgroupHierarchy;
  /** the path in the hierarchy's own space, as /proc/PID/cgroup shows it: '/nsgroups/jobs/build-42' */
  rel: string;
  /** the directory: '/sys/fs/cgroup/memory/nsgroups/jobs/build-42' */
  dir: string;
}

/** What events() reads and watches: the kernel's state now, and how to learn that it changed. */
export interface EventSnapshot {
  populated: boolean | null;
  frozen: boolean | null;
  /** v2 memory.events 'oom'; null where the kernel keeps no count (v1: the eventfd says it) */
  oom: number | null;
  oomKill: number | null;
}

export interface EventPlan {
  /** files whose modification the kernel notifies (inotify; cgroup-v2.rst "file modified event") */
  watchFiles: string[];
  /**
   * v1: eventfd + memory.oom_control through cgroup.event_control, on this cgroup and on each
   * ancestor with a memory limit, top-down. An OOM notifies the cgroup whose limit fired and its
   * descendants, so the topmost that fires is the one (mm/memcontrol-v1.c mem_cgroup_oom_notify).
   */
  oomEventfds: Array<{ controlFile: string; oomControlFile: string; rel: string }>;
  /** the state that has no notification (v1 freezer.state, v1 populated) is polled this often */
  pollMs: number | null;
  /** a directory that disappears when the cgroup is removed: the iteration ends then */
  aliveDir: string;
  read(): EventSnapshot;
  /** the cgroup (hierarchy path) whose memory limit fired, best known */
  locateOom(): string;
}

export interface Placement {
  /** the cgroup v2 directory (CLONE_INTO_CGROUP), or null without a unified hierarchy */
  v2Dir: string | null;
  /** every v1 hierarchy's cgroup.procs (the parent writes the child's pid there before exec) */
  v1ProcsFiles: string[];
  /** the cgroup's systemd manager moves the child into the v2 directory (this process may not) */
  attach?: (pid: number) => Promise<void>;
  /** why no child of this process can enter the v2 directory: spawn fails with it */
  blocked?: NsgroupsError;
}

export interface CgroupBackend {
  readonly version: 1 | 2;
  readonly dirs: CgroupDir[];
  /** v2: the directory; v1: the directory per controller (+ 'unified' for the tracking dir) */
  path(): string | Record<string, string>;
  /** ERR_UNSUPPORTED for limits this layout cannot express at all, before anything is made */
  precheck(limits: ResolvedLimits): void;
  /** after mkdir, before limits: v2 enables controllers down the path, v1 initialises cpuset */
  setUp(limits: ResolvedLimits): void;
  apply(limits: ResolvedLimits): void;
  limits(): CgroupLimitsInForce;
  stats(): CgroupStats;
  /** the counters a run's usage is the difference of (run-usage.ts) */
  runCounters(): RunCounters;
  /** the memory peak from now on: reset where the kernel allows it */
  startPeak(): PeakProbe;
  /** the memory peak as the cgroup's own file says now (one read), or null without one */
  memoryPeak(): number | null;
  procs(): number[];
  threads(): number[];
  add(pid: number): void;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** SIGKILL to every process in the cgroup and its descendants (does not wait) */
  kill(): Promise<void>;
  /** any live process in it or below */
  populated(): boolean;
  eventPlan(pollMs: number): EventPlan;
  placement(): Placement;
}

/** Polls `check` with a growing delay (1 ms → 20 ms) until true; false after `ms`. */
export async function waitUntil(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  let delay = 1;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= end) return false;
    await sleep(delay);
    delay = Math.min(delay * 2, 20);
  }
}

export function missingFile(file: string, what: string, fix?: string): never {
  throw unsupported(`${what} needs ${file}, which this kernel or cgroup does not have${fix ? `: ${fix}` : ''}`);
}

/** SIGKILL to each pid, ignoring those already gone. */
export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* ESRCH: exited meanwhile */
    }
  }
}
