// /proc/self/mountinfo (proc(5)): enough of it to find the mount this module made at a path and
// to make sure it is still the topmost one there before unmounting.
import * as fs from 'node:fs/promises';

export interface MountEntry {
  id: number;
  parent: number;
  mountPoint: string;
  fstype: string;
  source: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal (seq_file's mangle). */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash < 0) continue;
    entries.push({
      id: Number(fields[0]),
      parent: Number(fields[1]),
      // bytes, not UTF-16: paths are byte strings; decode the octal escapes as latin1 then as UTF-8
      mountPoint: Buffer.from(unescapeMountinfo(fields[4]), 'latin1').toString(),
      fstype: fields[dash + 1],
      source: fields[dash + 2],
      superOptions: fields[dash + 3] ?? '',
    });
  }
  return entries;
}

export async function readMountinfo(): Promise<MountEntry[]> {
  return parseMountinfo(await fs.readFile('/proc/self/mountinfo', 'latin1'));
}

/** The topmost mount at `mountPoint` (one no other mount at the same point sits on), or null. */
export function topMountAt(entries: MountEntry[], mountPoint: string): MountEntry | null {
  const here = entries.filter((e) => e.mountPoint === mountPoint);
  return here.find((e) => !here.some((other) => other.parent === e.id)) ?? null;
}

/**
 * The upperdir= and workdir= of an overlay mount's super options. The kernel shows each path as
 * it was given, overlay-escaped (a backslash before ',' ':' and a backslash), with seq_file's octal escapes on top.
 */
export function overlayDirs(entry: MountEntry): { upper?: string; work?: string } {
  const dirs: { upper?: string; work?: string } = {};
  for (const option of entry.superOptions.split(',')) {
    const eq = option.indexOf('=');
    if (eq < 0) continue;
    const key = option.slice(0, eq);
    if (key !== 'upperdir' && key !== 'workdir') continue;
    const escaped = Buffer.from(unescapeMountinfo(option.slice(eq + 1)), 'latin1').toString();
    const value = escaped.replace(/\\(.)/g, '$1');
    if (key === 'upperdir') dirs.upper = value;
    else dirs.work = value;
  }
  return dirs;
}
