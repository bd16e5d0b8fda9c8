// The kernel as oracle: small readers of /proc used across the tests.
import * as fs from 'node:fs';

/** "net:[4026531840]" of /proc/PID/ns/TYPE. */
export function nsLink(pid: number | 'self', type: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${type}`);
}

/** Direct children of this process (all threads), from /proc/self/task/TID/children. */
export function childPids(): number[] {
  const out: number[] = [];
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      out.push(...fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch {
      /* thread gone */
    }
  }
  return out.sort((a, b) => a - b);
}

/** Zombies among our children: exited but not reaped. */
export function zombieChildren(): number[] {
  return childPids().filter((pid) => processState(pid) === 'Z');
}

export function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return null;
  }
}

export function openFds(): string[] {
  return fs.readdirSync('/proc/self/fd');
}

/** Our open fds as "fd -> target", to compare before/after (a count alone is fooled by reuse). */
export function fdTable(): Set<string> {
  const table = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      table.add(`${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      /* the fd of readdir itself, or closed meanwhile */
    }
  }
  return table;
}

/** Fds open now that were not open (to the same thing) in `before`. The one fd the library
 *  keeps for the life of the process, the sealed memfd holding the init, does not count. */
export function newFds(before: Set<string>): string[] {
  return [...fdTable()].filter((entry) => !before.has(entry) && !entry.includes('memfd:nsgroups-init'));
}

/** Waits (polling) until `check` returns true; throws after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Uid line of /proc/PID/status: [real, effective, saved, fs]. */
export function statusIds(pid: number, field: 'Uid' | 'Gid'): number[] {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith(`${field}:`))!;
  return line.split(/\s+/).slice(1, 5).map(Number);
}
