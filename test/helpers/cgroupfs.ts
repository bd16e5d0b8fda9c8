// cgroupfs as the oracle for the Cgroup tests: mounts read from /proc/self/mountinfo directly
// (not through the library), files read with fs, and a cleanup that removes a test's cgroups
// in every hierarchy even when a test failed half way.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Mount {
  mountPoint: string;
  version: 1 | 2;
  controllers: string[];
}

/** Every cgroup hierarchy (but named ones like name=systemd, which the library never touches). */
export function cgroupMounts(): Mount[] {
  const seen = new Set<string>();
  const out: Mount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = / - (cgroup2?) \S+ (\S+)$/.exec(line);
    if (!m) continue;
    const fields = line.split(' ');
    if (seen.has(fields[2])) continue;
    seen.add(fields[2]);
    const opts = m[2].split(',');
    if (m[1] === 'cgroup' && opts.some((o) => o.startsWith('name='))) continue;
    out.push({
      mountPoint: fields[4],
      version: m[1] === 'cgroup2' ? 2 : 1,
      controllers: m[1] === 'cgroup2' ? [] : opts.filter((o) => !['rw', 'ro', 'clone_children', 'xattr', 'noprefix'].includes(o)),
    });
  }
  return out;
}

export const mounts = cgroupMounts();
export const hostMode: 'v1' | 'v2' | 'hybrid' = mounts.every((m) => m.version === 2) ? 'v2' : mounts.some((m) => m.version === 2) ? 'hybrid' : 'v1';

/** The mount of a v1 controller, or the cgroup2 one. */
export function mountOf(controller: string): string {
  const m = mounts.find((x) => x.controllers.includes(controller)) ?? (hostMode === 'v2' ? mounts[0] : undefined);
  if (!m) throw new Error(`no hierarchy has ${controller}`);
  return m.mountPoint;
}

export function unifiedMount(): string | null {
  return mounts.find((m) => m.version === 2)?.mountPoint ?? null;
}

/** A cgroupfs file's text, trimmed. */
export function cgRead(controller: string, rel: string, file: string): string {
  return fs.readFileSync(path.join(mountOf(controller), rel, file), 'utf8').trim();
}

export function flat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k) out[k] = Number(v);
  }
  return out;
}

/** The hierarchies in which the cgroup `rel` exists as a directory. */
export function hierarchiesWith(rel: string): string[] {
  return mounts.map((m) => m.mountPoint).filter((mp) => fs.existsSync(path.join(mp, rel)));
}

/** A base unique to this test file and process (the brief: names start with nsgroups, include the pid). */
export function testRoot(tag: string): string {
  return `/nsgroups-test-${tag}-${process.pid}`;
}

function removeDeepestFirst(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeDeepestFirst(path.join(dir, e.name));
  for (const file of ['cgroup.procs']) {
    try {
      for (const pid of fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    } catch {
      /* no such file */
    }
  }
  try {
    fs.writeFileSync(path.join(dir, 'freezer.state'), 'THAWED');
  } catch {
    /* not a freezer cgroup */
  }
  for (let i = 0; i < 50; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** Removes `rel` (a test base) in every hierarchy, killing what is left inside: for afterAll. */
export function removeEverywhere(rel: string): void {
  for (const m of mounts) removeDeepestFirst(path.join(m.mountPoint, rel));
}

/** CPU time (user + system, in clock ticks) of a process, from /proc/PID/stat. */
export function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The cgroup path of `pid` in the hierarchy mounted at `mountPoint`, from /proc/PID/cgroup. */
export function procCgroupIn(pid: number, mountPoint: string): string | null {
  const m = mounts.find((x) => x.mountPoint === mountPoint)!;
  const want = [...m.controllers].sort().join(',');
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, list, p] = match;
    if (m.version === 2 && id === '0') return p;
    if (m.version === 1 && list.split(',').sort().join(',') === want) return p;
  }
  return null;
}

/** Children we start and must not leave behind. */
export class Children {
  private list: ChildProcess[] = [];

  /** A command that waits for a line on stdin before it does its work (so it can be moved first). */
  start(command: string, args: string[]): ChildProcess {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    this.list.push(child);
    return child;
  }

  killAll(): void {
    for (const c of this.list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.on('data', (d: string) => (text += d));
  return () => text;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
