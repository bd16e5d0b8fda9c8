// What one run used in a cgroup: the counters a run's figures are differences of, and its memory
// peak, reset at the start of the run where the kernel allows it. Few files, read directly (the
// full stats() reads a dozen): this sits on the spawn path of every run with a cgroup.
import * as fs from 'node:fs';
import { parseFlatKeyed, readIfExists } from './fsops';

export interface RunCounters {
  /** CPU time of every process in the cgroup so far, µs (v1 cpuacct.usage, v2 cpu.stat usage_usec); null: no cpu accounting */
  cpuUsec: number | null;
  /** processes the OOM killer killed in it so far (v1 memory.oom_control oom_kill, v2 memory.events oom_kill); null: not counted */
  oomKills: number | null;
}

/** The memory peak of one run, from its start. */
export interface PeakProbe {
  /**
   * 'run': reset when the run started (v1 memory.max_usage_in_bytes; v2 memory.peak, whose reset
   * is per open file since Linux 6.12); 'cgroup': this kernel cannot reset it, so it is the peak
   * since the cgroup was made
   */
  scope: 'run' | 'cgroup';
  /** bytes; null when the cgroup has no memory peak (no memory controller, v2 before 5.19) */
  read(): number | null;
  close(): void;
}

function numberIn(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

const flatKey = (file: string, key: string): number | null => {
  const text = readIfExists(file);
  if (text === null) return null;
  const v = parseFlatKeyed(text)[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

export function v1RunCounters(cpuacctDir: string | null, memoryDir: string | null): RunCounters {
  const ns = cpuacctDir === null ? null : numberIn(readIfExists(`${cpuacctDir}/cpuacct.usage`));
  return {
    cpuUsec: ns === null ? null : ns / 1000,
    oomKills: memoryDir === null ? null : flatKey(`${memoryDir}/memory.oom_control`, 'oom_kill'),
  };
}

export function v2RunCounters(dir: string): RunCounters {
  return { cpuUsec: flatKey(`${dir}/cpu.stat`, 'usage_usec'), oomKills: flatKey(`${dir}/memory.events`, 'oom_kill') };
}

/** The cgroup's memory peak now, from its file (v1 memory.max_usage_in_bytes, v2 memory.peak), or null. */
export function readPeak(file: string): number | null {
  return numberIn(readIfExists(file));
}

const noPeak: PeakProbe = { scope: 'cgroup', read: () => null, close: () => {} };

/**
 * cgroup-v1/memory.rst 5.5: writing to memory.max_usage_in_bytes resets it (to the usage now).
 * The reset is the cgroup's, for every reader: runs that share a cgroup share its peak.
 */
export function v1StartPeak(memoryDir: string | null): PeakProbe {
  if (memoryDir === null) return noPeak;
  const file = `${memoryDir}/memory.max_usage_in_bytes`;
  let scope: PeakProbe['scope'] = 'run';
  try {
    fs.writeFileSync(file, '0');
  } catch {
    scope = 'cgroup'; // not ours to reset (a cgroup we may only read)
  }
  return { scope, read: () => numberIn(readIfExists(file)), close: () => {} };
}

// memory.peak took no writes before Linux 6.12: remembered per directory, so that a run on an
// older kernel does not pay a failing open every time
const peakNotResettable = new Set<string>();

/**
 * cgroup-v2.rst memory.peak: "A write of any non-empty string to this file resets it to the
 * current memory usage for subsequent reads through the same file descriptor" (Linux 6.12). So
 * the file stays open for the run and is read through that descriptor, which leaves every other
 * reader's peak alone. Older kernels have the file read-only: the peak is then the cgroup's.
 */
export function v2StartPeak(dir: string): PeakProbe {
  const file = `${dir}/memory.peak`;
  if (!peakNotResettable.has(dir)) {
    let fd = -1;
    try {
      fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, 'reset');
      const held = fd;
      const buf = Buffer.alloc(32);
      return {
        scope: 'run',
        read: () => {
          try {
            return numberIn(buf.toString('utf8', 0, fs.readSync(held, buf, 0, buf.length, 0)));
          } catch {
            return null;
          }
        },
        close: () => fs.closeSync(held),
      };
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return noPeak; // no memory controller here, or a kernel before 5.19
      peakNotResettable.add(dir); // EACCES (read-only before 6.12) or EINVAL
    }
  }
  return { scope: 'cgroup', read: () => numberIn(readIfExists(file)), close: () => {} };
}
