// The one shape of stats() on v1 and v2, and the parsers of the files that fill it. A value the
// host cannot measure is null (v1 has no memory.high, hence no `high` events), never a guess.
import { parseFlatKeyed, parseNestedKeyed, readIfExists } from './fsops';
import { parseLimitValue, type Max } from '../util/units';

export interface PressureFigures {
  /** percentage of time stalled, averaged over 10, 60 and 300 seconds */
  avg10: number;
  avg60: number;
  avg300: number;
  /** total stall time in microseconds */
  total: number;
}

/** Pressure stall information (Documentation/accounting/psi.rst): `some` and, where defined, `full`. */
export interface Pressure {
  some: PressureFigures;
  full: PressureFigures | null;
}

export interface IoDeviceStats {
  rbytes: number;
  wbytes: number;
  rios: number;
  wios: number;
}

export interface CgroupStats {
  memory: {
    current: number | null;
    peak: number | null;
    swapCurrent: number | null;
    events: {
      low: number | null;
      high: number | null;
      /** times the usage hit the hard limit (v1: memory.failcnt) */
      max: number | null;
      /** times the cgroup ran out of memory (v2 only: v1 keeps no count) */
      oom: number | null;
      /** processes killed by the OOM killer */
      oomKill: number | null;
      oomGroupKill: number | null;
    };
  };
  cpu: {
    usageUsec: number | null;
    userUsec: number | null;
    systemUsec: number | null;
    nrPeriods: number | null;
    nrThrottled: number | null;
    throttledUsec: number | null;
  };
  pids: {
    current: number | null;
    max: number | Max | null;
    peak: number | null;
    /** fork failures because of pids.max (pids.events 'max') */
    events: { max: number | null };
  };
  /** per device 'MAJOR:MINOR' (io.stat, or v1 blkio.throttle.io_service_bytes/io_serviced) */
  io?: Record<string, IoDeviceStats>;
  /** PSI of the cgroup (cgroup v2 files: also in the unified tree of a hybrid host) */
  pressure?: { cpu: Pressure | null; memory: Pressure | null; io: Pressure | null };
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
