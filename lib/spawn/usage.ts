// What one run used, and why it ended (docs/judge.md). Every figure is the kernel's: the rusage
// it hands over when it reaps the run's processes (waitid's fifth argument, src-native
// child_watch.cc), and the run's cgroup counters, read before and after. The verdict is decided
// from facts — the kill the library itself made and why, the OOM kills the cgroup counted, the
// signal that ended the command — never guessed from an exit code.
import * as fs from 'node:fs';
import type { Cgroup } from '../cgroup/cgroup';
import type { PeakProbe, RunCounters } from '../cgroup/run-usage';

/**
 * How a run ended, one word (isolate's meta status in brackets):
 *   'ok'      exit status 0
 *   'exit'    a non-zero exit status (RE)
 *   'signal'  a signal ended it that no limit of ours explains (SG)
 *   'timeout' the wall-clock `timeout` fired (TO)
 *   'cpuTime' it used more CPU than `cpuTime` (TO), or RLIMIT_CPU's SIGXCPU ended it
 *   'memory'  the OOM killer killed a process of the run's cgroup during the run
 *   'output'  stdout or stderr outgrew `maxBuffer`, or RLIMIT_FSIZE's SIGXFSZ ended it
 *   'setup'   the command never ran (XX): run() rejects, and the NsgroupsError says 'setup'
 */
export type RunStatus = 'ok' | 'exit' | 'signal' | 'timeout' | 'cpuTime' | 'memory' | 'output' | 'setup';

/** Why the library itself stopped a run. */
export type StopReason = 'timeout' | 'cpuTime' | 'output';

/** The run's cgroup, during this run only. */
export interface CgroupUsage {
  /** CPU time in ms of every process in the cgroup during the run (its processes, the sandbox's init too); null if it could not be read */
  cpuMs: number | null;
  /** the cgroup's memory peak in bytes (page cache included, as the cgroup is charged); null if it could not be read */
  memoryPeakBytes: number | null;
  /**
   * 'run': the peak was reset when this run started; 'cgroup': the kernel cannot reset it (cgroup
   * v2 before Linux 6.12), so it is the peak since the cgroup was made
   */
  memoryPeakScope: 'run' | 'cgroup';
  /** processes the OOM killer killed in the cgroup during the run; null if it could not be read */
  oomKills: number | null;
}

/**
 * What one run used, from the kernel's own figures: the rusage of the run's reaped processes and,
 * with a cgroup, the cgroup's counters for the run (docs/judge.md).
 * @example
 * const { usage } = await run('sh', ['-c', 'echo hi'], { namespaces: ['user', 'pid'] });
 * console.log(usage.wallMs, usage.cpuUserMs + usage.cpuSystemMs, usage.maxRssBytes);
 */
export interface Usage {
  /** milliseconds from just before the clone to the reaping of the run's last process */
  wallMs: number;
  /** user CPU time in ms of the command's process and every process of the run the kernel accounts to it (see docs/judge.md) */
  cpuUserMs: number;
  /** system (kernel) CPU time in ms, of the same processes as cpuUserMs */
  cpuSystemMs: number;
  /**
   * Bytes: the largest ru_maxrss of them. Linux keeps it across execve, counting the image the process
   * replaced (fs/exec.c exec_mmap): for a process spawned from Node, that is at least Node's own
   * peak RSS. usage.cgroup.memoryPeakBytes is the run's own memory.
   */
  maxRssBytes: number;
  /** context switches the processes made by waiting (ru_nvcsw: I/O, sleep, a lock) */
  voluntaryContextSwitches: number;
  /** context switches forced on them by the scheduler (ru_nivcsw: time slice over, preempted) */
  involuntaryContextSwitches: number;
  /** with a cgroup: its figures for this run */
  cgroup?: CgroupUsage;
}

/** The rusage numbers of the addon's 'exit' event. */
export interface NativeRusage {
  userMicros: number;
  systemMicros: number;
  maxRssKiB: number;
  voluntary: number;
  involuntary: number;
}

/**
 * A run's cgroup figures: the counters at the start and, at the end, their difference. Reading
 * fails only when the cgroup went away; a figure is then null, and the run goes on.
 */
export class CgroupMeter {
  readonly #cgroup: Cgroup;
  readonly #start: RunCounters;
  readonly #peak: PeakProbe;

  constructor(cgroup: Cgroup) {
    this.#cgroup = cgroup;
    this.#start = this.#counters();
    try {
      this.#peak = cgroup._startPeak();
    } catch {
      this.#peak = { scope: 'cgroup', read: () => null, close: () => {} };
    }
  }

  #counters(): RunCounters {
    try {
      return this.#cgroup._runCounters();
    } catch {
      return { cpuUsec: null, oomKills: null };
    }
  }

  /** CPU µs the cgroup used since the start, or null. */
  cpuUsecSinceStart(): number | null {
    const now = this.#counters().cpuUsec;
    return now === null || this.#start.cpuUsec === null ? null : now - this.#start.cpuUsec;
  }

  /** The run's figures; the meter is done after this. */
  finish(): CgroupUsage {
    const end = this.#counters();
    const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : Math.max(0, a - b));
    let peak: number | null = null;
    try {
      peak = this.#peak.read();
    } catch {
      /* gone */
    }
    this.close();
    const cpu = diff(end.cpuUsec, this.#start.cpuUsec);
    return {
      cpuMs: cpu === null ? null : cpu / 1000,
      memoryPeakBytes: peak,
      memoryPeakScope: this.#peak.scope,
      oomKills: diff(end.oomKills, this.#start.oomKills),
    };
  }

  close(): void {
    try {
      this.#peak.close();
    } catch {
      /* closed already */
    }
  }
}

// proc(5): /proc/PID/stat counts CPU in clock ticks, sysconf(_SC_CLK_TCK), 100 on Linux (USER_HZ)
const CLK_TCK = 100;

/**
 * CPU µs of a process and of the children it has waited for (/proc/PID/stat utime, stime,
 * cutime, cstime), or null once it is gone: the cpuTime watch without a cgroup.
 */
export function processCpuUsec(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // fields after the parenthesised comm start at field 3 (state); utime is field 14
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return Number.isFinite(ticks) ? (ticks * 1e6) / CLK_TCK : null;
}

export function usageOf(wallMs: number, ru: NativeRusage, cgroup: CgroupUsage | null): Usage {
  const usage: Usage = {
    wallMs,
    cpuUserMs: ru.userMicros / 1000,
    cpuSystemMs: ru.systemMicros / 1000,
    maxRssBytes: ru.maxRssKiB * 1024,
    voluntaryContextSwitches: ru.voluntary,
    involuntaryContextSwitches: ru.involuntary,
  };
  if (cgroup) usage.cgroup = cgroup;
  return usage;
}

export interface VerdictFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the first reason the library stopped the run for, if it did */
  stoppedFor: StopReason | null;
  usage: Usage;
  /** the cpuTime limit in ms, if one was set */
  cpuLimitMs: number | null;
  /** the soft RLIMIT_CPU in ms, if one was set (by cpuTime or rlimits.cpu) */
  rlimitCpuMs: number | null;
  /** an RLIMIT_FSIZE was set (SIGXFSZ is then the output limit firing) */
  fsizeLimited: boolean;
}

/** The CPU the verdict goes by: the cgroup's (the whole sandbox) where there is one, else rusage. */
export function cpuUsedMs(usage: Usage): number {
  const own = usage.cpuUserMs + usage.cpuSystemMs;
  const cg = usage.cgroup?.cpuMs;
  return cg === null || cg === undefined ? own : Math.max(cg, own);
}

// RLIMIT_CPU is checked against the process's tick-sampled CPU time (a whole tick is charged to
// the task running when it fires: kernel/sched/cputime.c account_process_tick, the PROF clock of
// kernel/time/posix-cpu-timers.c check_process_timers), while rusage and the cgroup give the
// exact runtime (cputime_adjust scales the sampled split to it). On a busy host the samples run
// ahead: at the SIGXCPU of a 1 s soft limit, /proc/PID/schedstat's runtime was 854-882 ms and
// rusage 790-821 ms at load 14-16. So a SIGKILL under an RLIMIT_CPU is the limit's once the run
// used half the soft limit; a command that SIGKILLs itself after that much CPU is taken for one
// the limit ended.
const RLIMIT_SAMPLING_MARGIN = 0.5;

/** The verdict, in this order: our own stop, the kernel's OOM kills, CPU over the limit, the rlimit signals, a signal, the exit status. */
export function decideStatus(f: VerdictFacts): Exclude<RunStatus, 'setup'> {
  if (f.stoppedFor) return f.stoppedFor;
  if ((f.usage.cgroup?.oomKills ?? 0) > 0) return 'memory';
  const cpu = cpuUsedMs(f.usage);
  if (f.cpuLimitMs !== null && cpu > f.cpuLimitMs) return 'cpuTime';
  // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one (setrlimit(2))
  if (f.rlimitCpuMs !== null && (f.signal === 'SIGXCPU' || (f.signal === 'SIGKILL' && cpu >= f.rlimitCpuMs * RLIMIT_SAMPLING_MARGIN))) return 'cpuTime';
  if (f.fsizeLimited && f.signal === 'SIGXFSZ') return 'output';
  if (f.signal !== null) return 'signal';
  return f.code === 0 ? 'ok' : 'exit';
}
