// sb.report(): what ran in a sandbox and what it cost. The cgroup's figures (cpu, peak memory,
// OOM kills) and the processes count are read when each command ends and at dispose, so a report
// taken between is as of the last command's end; after dispose it is final.
import type { CgroupStats } from '../cgroup/stats';
import type { RunStatus } from '../spawn/usage';
import type { LeftoverProcess } from './leftovers';

export type { LeftoverProcess };

/** How many of the sandbox's commands ended with each status (run()'s `status`; 'setup': never started). */
export type CommandStatuses = Partial<Record<RunStatus, number>>;

/**
 * sb.report(): what ran in a sandbox and what it cost; final once dispose() has resolved.
 * @example
 * const { commands, statuses, cpuMs, memoryPeakBytes, leftovers } = sb.report();
 */
export interface SandboxReport {
  /** the name given to Sandbox.create, or null */
  name: string | null;
  /** from create() to now, or to the end of dispose() */
  durationMs: number;
  /** CPU time (user + system) of everything that ran, from the sandbox's cgroup; null without one */
  cpuMs: number | null;
  /**
   * the cgroup's peak memory use over the sandbox's life (v2 memory.peak, v1
   * memory.max_usage_in_bytes, which each command's run resets: the sandbox keeps the highest it
   * saw before each reset); null without one
   */
  memoryPeakBytes: number | null;
  /** processes the kernel's OOM killer ended in the cgroup; null without one */
  oomKills: number | null;
  /**
   * CPU time of the commands sb.run() and sb.spawn() started that have ended, and of the
   * processes each waited for (the kernel's rusage when it reaped them: usage.cpuUserMs +
   * cpuSystemMs), with or without a cgroup. Orphans the sandbox's init reaped (daemons,
   * leftovers) are not in it: cpuMs, the cgroup's, has everything.
   */
  commandCpuMs: number;
  /** the ended commands counted by their status (run()'s verdict: ok, exit, signal, timeout, cpuTime, memory, output; setup: never started) */
  statuses: CommandStatuses;
  /**
   * pids the sandbox's pid namespace handed out: every process and thread started in it (a
   * Node.js process counts its threads too); null when the holder could not tell
   */
  processes: number | null;
  /** commands started with sb.run() and sb.spawn() */
  commands: number;
  /** processes still running at dispose, which it killed (empty before dispose) */
  leftovers: LeftoverProcess[];
  /** workspace paths the commands added, modified or deleted, counted at dispose; null before */
  filesChanged: number | null;
  /** the sandbox's cgroup (its name below the cgroup base), or null when it has none */
  cgroup: string | null;
  /** where the sandbox's files were kept, or null */
  kept: string | null;
  /** dispose() has finished: the report is final */
  disposed: boolean;
}

/** The figures the report takes from a cgroup's stats(). */
export function cgroupFigures(stats: CgroupStats): Pick<SandboxReport, 'cpuMs' | 'memoryPeakBytes' | 'oomKills'> {
  const usec = stats.cpu?.usageUsec;
  return {
    cpuMs: typeof usec === 'number' ? Math.round(usec / 100) / 10 : null,
    memoryPeakBytes: stats.memory?.peak ?? null,
    oomKills: stats.memory?.events?.oomKill ?? null,
  };
}
