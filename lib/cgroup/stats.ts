// The one shape of stats() on v1 and v2, and the parsers of the files that fill it. A value the
// host cannot measure is null (v1 has no memory.high, hence no `high` events), never a guess.
import { parseFlatKeyed, parseNestedKeyed, readIfExists } from './fsops';
import { parseLimitValue, type Max } from '../util/units';

/** One line of a PSI file: how much of the time tasks were stalled on the resource. */
export interface PressureFigures {
  /** percentage of time stalled, averaged over 10 seconds */
  avg10: number;
  /** percentage of time stalled, averaged over 60 seconds */
  avg60: number;
  /** percentage of time stalled, averaged over 300 seconds */
  avg300: number;
  /** total stall time in microseconds */
  total: number;
}

/** Pressure stall information (Documentation/accounting/psi.rst): `some` and, where defined, `full`. */
export interface Pressure {
  /** some task was stalled */
  some: PressureFigures;
  /** every non-idle task was stalled at once; null where the file has no `full` line */
  full: PressureFigures | null;
}

/** I/O done on one block device by the cgroup's processes (io.stat; v1: blkio.throttle.*). */
export interface IoDeviceStats {
  /** bytes read */
  rbytes: number;
  /** bytes written */
  wbytes: number;
  /** read operations */
  rios: number;
  /** write operations */
  wios: number;
}

/**
 * What a cgroup's processes use, in the same shape on v1 and v2 (cg.stats()). A figure the host
 * cannot measure is null, never a guess; counts are since the cgroup was made.
 * @example
 * const s = await cg.stats();
 * console.log(s.memory.current, s.memory.events.oomKill, s.cpu.usageUsec / 1e6, s.pids.current);
 */
export interface CgroupStats {
  /** the memory controller's figures, bytes */
  memory: {
    /** memory in use now, bytes (page cache included): memory.current, v1 memory.usage_in_bytes */
    current: number | null;
    /** the highest usage recorded, bytes: memory.peak where the kernel has it, v1 memory.max_usage_in_bytes */
    peak: number | null;
    /** swap in use now, bytes: memory.swap.current, v1 memsw.usage_in_bytes minus usage */
    swapCurrent: number | null;
    /** counts of memory.events since the cgroup was made (v2); v1 has only max and oomKill */
    events: {
      /** times the usage fell below memory.low and was reclaimed anyway (v2 only) */
      low: number | null;
      /** times the usage went over memory.high and was throttled (v2 only) */
      high: number | null;
      /** times the usage hit the hard limit (v1: memory.failcnt) */
      max: number | null;
      /** times the cgroup ran out of memory (v2 only: v1 keeps no count) */
      oom: number | null;
      /** processes killed by the OOM killer */
      oomKill: number | null;
      /** times the OOM killer killed the whole cgroup (memory.oom.group; v2 only) */
      oomGroupKill: number | null;
    };
  };
  /** the CPU time used, µs (cpu.stat; v1: cpuacct and cpu.stat) */
  cpu: {
    /** CPU time used, µs (v1: cpuacct.usage) */
    usageUsec: number | null;
    /** user CPU time, µs */
    userUsec: number | null;
    /** system CPU time, µs */
    systemUsec: number | null;
    /** CFS enforcement periods that have elapsed (with a cpu.max) */
    nrPeriods: number | null;
    /** periods in which the cgroup was throttled */
    nrThrottled: number | null;
    /** time the cgroup was throttled, µs */
    throttledUsec: number | null;
  };
  /** the pids controller */
  pids: {
    /** processes and threads now */
    current: number | null;
    /** pids.max in force: a count, or 'max' */
    max: number | Max | null;
    /** the most processes and threads at once (pids.peak; null where the kernel has none) */
    peak: number | null;
    /** fork failures because of pids.max (pids.events 'max') */
    events: {
      /** fork and clone calls refused because of pids.max */
      max: number | null;
    };
  };
  /** per device 'MAJOR:MINOR' (io.stat, or v1 blkio.throttle.io_service_bytes/io_serviced) */
  io?: Record<string, IoDeviceStats>;
  /** PSI of the cgroup (cgroup v2 files: also in the unified tree of a hybrid host) */
  pressure?: {
    /** cpu.pressure */
    cpu: Pressure | null;
    /** memory.pressure */
    memory: Pressure | null;
    /** io.pressure */
    io: Pressure | null;
  };
}

export function emptyStats(): CgroupStats {
  return {
    memory: { current: null, peak: null, swapCurrent: null, events: { low: null, high: null, max: null, oom: null, oomKill: null, oomGroupKill: null } },
    cpu: { usageUsec: null, userUsec: null, systemUsec: null, nrPeriods: null, nrThrottled: null, throttledUsec: null },
    pids: { current: null, max: null, peak: null, events: { max: null } },
  };
}

export function num(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

export function limitOrNull(text: string | null): number | Max | null {
  return text === null ? null : parseLimitValue(text);
}

/** A flat-keyed value, or null when the file or the key is missing. */
export function key(record: Record<string, number> | null, name: string): number | null {
  return record && typeof record[name] === 'number' && Number.isFinite(record[name]) ? record[name] : null;
}

export function flatOrNull(file: string): Record<string, number> | null {
  const text = readIfExists(file);
  return text === null ? null : parseFlatKeyed(text);
}

function figures(entry: Record<string, string> | undefined): PressureFigures | null {
  if (!entry || entry.avg10 === undefined) return null;
  return { avg10: Number(entry.avg10), avg60: Number(entry.avg60), avg300: Number(entry.avg300), total: Number(entry.total) };
}

export function parsePressure(text: string | null): Pressure | null {
  if (text === null) return null;
  const nested = parseNestedKeyed(text);
  const some = figures(nested.some);
  return some ? { some, full: figures(nested.full) } : null;
}

/** io.stat (v2): "8:0 rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…". */
export function parseIoStat(text: string | null): Record<string, IoDeviceStats> | undefined {
  if (text === null) return undefined;
  const out: Record<string, IoDeviceStats> = {};
  for (const [device, values] of Object.entries(parseNestedKeyed(text))) {
    out[device] = {
      rbytes: Number(values.rbytes ?? 0),
      wbytes: Number(values.wbytes ?? 0),
      rios: Number(values.rios ?? 0),
      wios: Number(values.wios ?? 0),
    };
  }
  return out;
}

/** v1 blkio.throttle.io_service_bytes + io_serviced: "8:0 Read 4096" lines, then "Total N". */
export function parseBlkioStat(bytes: string | null, ios: string | null): Record<string, IoDeviceStats> | undefined {
  if (bytes === null && ios === null) return undefined;
  const out: Record<string, IoDeviceStats> = {};
  const fill = (text: string | null, read: keyof IoDeviceStats, write: keyof IoDeviceStats) => {
    for (const line of (text ?? '').split('\n')) {
      const [device, op, value] = line.trim().split(/\s+/);
      if (!device || !/^\d+:\d+$/.test(device) || value === undefined) continue;
      const entry = (out[device] ??= { rbytes: 0, wbytes: 0, rios: 0, wios: 0 });
      if (op === 'Read') entry[read] = Number(value);
      else if (op === 'Write') entry[write] = Number(value);
    }
  };
  fill(bytes, 'rbytes', 'wbytes');
  fill(ios, 'rios', 'wios');
  return out;
}

/** PSI files of a cgroup v2 directory (absent files, e.g. with psi=0, read as null). */
export function readPressure(dir: string): CgroupStats['pressure'] | undefined {
  const cpu = parsePressure(readIfExists(`${dir}/cpu.pressure`));
  const memory = parsePressure(readIfExists(`${dir}/memory.pressure`));
  const io = parsePressure(readIfExists(`${dir}/io.pressure`));
  return cpu || memory || io ? { cpu, memory, io } : undefined;
}
