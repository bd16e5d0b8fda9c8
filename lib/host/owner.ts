// Who made a cgroup, a pin or a scratch directory, so that `nsgroups gc` can prove the maker is
// gone before it removes what the maker left. A pid alone proves nothing (pids are reused), so a
// record names the process by its pid *and* its start time (proc(5): /proc/PID/stat field 22,
// clock ticks after boot), both as seen from its pid and time namespaces, whose inodes the record
// carries too: a reader in other namespaces sees other pids and start times and cannot judge.
//
//   pid=1234 start=5678901 pidns=4026531836 timens=4026531834
//
// Where a record lives: the `user.nsgroups.owner` xattr of each cgroup directory Cgroup.create
// made (cgroupfs keeps user xattrs, v2 since Linux 5.7), the environment of a pid namespace's
// holder (NSGROUPS_OWNER), or a file `owner` in a scratch directory of `nsgroups run`.
import * as fs from 'node:fs';

export const OWNER_XATTR = 'user.nsgroups.owner';
export const OWNER_ENV = 'NSGROUPS_OWNER';

export interface OwnerRecord {
  pid: number;
  /** /proc/PID/stat starttime: clock ticks after boot */
  start: number;
  /** inodes of the maker's pid and time namespaces */
  pidns: number;
  timens: number | null;
  /** extra words a maker adds (e.g. pin=created) */
  extra: Record<string, string>;
}

export type OwnerState = { state: 'alive'; reason: string } | { state: 'gone'; reason: string } | { state: 'unknown'; reason: string };

/**
 * Field 22 of /proc/PID/stat (after the parenthesised comm, which may hold spaces); null if the
 * process is gone — or has exited and waits to be reaped (a zombie, state Z or X).
 */
export function startTimeOf(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); starttime, field 22, is fields[19]
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : null;
}

function nsInode(pid: number | 'self', name: string): number | null {
  try {
    return fs.statSync(`/proc/${pid}/ns/${name}`).ino;
  } catch {
    return null;
  }
}

let selfRecord: string | undefined;

/** This process's record (extra words appended). */
export function ownerRecord(extra: Record<string, string> = {}): string {
  selfRecord ??= [
    `pid=${process.pid}`,
    `start=${startTimeOf(process.pid) ?? 0}`,
    `pidns=${nsInode('self', 'pid') ?? 0}`,
    `timens=${nsInode('self', 'time') ?? 0}`,
  ].join(' ');
  return [selfRecord, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)].join(' ');
}

export function parseOwnerRecord(text: string): OwnerRecord | null {
  const words = new Map<string, string>();
  for (const w of text.trim().split(/\s+/)) {
    const eq = w.indexOf('=');
    if (eq > 0) words.set(w.slice(0, eq), w.slice(eq + 1));
  }
  const num = (k: string): number | null => (words.has(k) && /^\d+$/.test(words.get(k)!) ? Number(words.get(k)) : null);
  const pid = num('pid');
  const start = num('start');
  const pidns = num('pidns');
  if (pid === null || start === null || pidns === null) return null;
  const extra: Record<string, string> = {};
  for (const [k, v] of words) if (!['pid', 'start', 'pidns', 'timens'].includes(k)) extra[k] = v;
  return { pid, start, pidns, timens: num('timens') || null, extra };
}

/** Is the maker still running? 'unknown' when this process cannot tell (other namespaces). */
export function ownerState(record: OwnerRecord): OwnerState {
  if (record.pidns !== nsInode('self', 'pid')) {
    return { state: 'unknown', reason: `made in another pid namespace (pid:[${record.pidns}])` };
  }
  const timens = nsInode('self', 'time');
  if (record.timens !== null && timens !== null && record.timens !== timens) {
    return { state: 'unknown', reason: `made in another time namespace (time:[${record.timens}])` };
  }
  const start = startTimeOf(record.pid);
  if (start === null) return { state: 'gone', reason: `its maker, pid ${record.pid}, has exited` };
  if (start !== record.start) return { state: 'gone', reason: `its maker, pid ${record.pid}, has exited (the pid now belongs to another process)` };
  return { state: 'alive', reason: `its maker, pid ${record.pid}, is running` };
}
