// /proc/PID/mountinfo (proc(5)): the mounts of a mount namespace, parsed for what pins need.
import { promises as fsp } from 'node:fs';

export interface MountEntry {
  mountId: number;
  parentId: number;
  /** the root of the mount within its filesystem: for an nsfs pin, "net:[4026532177]" */
  root: string;
  mountPoint: string;
  fstype: string;
}

// Paths in mountinfo escape space, tab, newline and backslash as \ooo (octal).
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6); // optional fields end with a lone '-'
    if (dash < 0 || fields.length < dash + 2) continue;
    entries.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      root: unescape(fields[3]),
      mountPoint: unescape(fields[4]),
      fstype: fields[dash + 1],
    });
  }
  return entries;
}

export async function readMountinfo(pid: number | 'self' = 'self'): Promise<MountEntry[]> {
  return parseMountinfo(await fsp.readFile(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** The mount visible at `mountPoint`: of the mounts stacked there, the one no other is mounted on. */
export function topMountAt(entries: MountEntry[], mountPoint: string): MountEntry | undefined {
  const stacked = entries.filter((e) => e.mountPoint === mountPoint);
  return stacked.find((e) => !stacked.some((other) => other.parentId === e.mountId)) ?? stacked.at(-1);
}
