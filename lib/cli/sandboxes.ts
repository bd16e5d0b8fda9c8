// The sandboxes running on this host, found in /proc (for `nsgroups ls`). A sandbox is a process
// tree nsgroups started, counted once, at its top:
//   - an nsgroups init (argv[0] 'nsgroups-init', exec'd from the addon's memfd): pid 1 of a new
//     pid namespace; its child is the command;
//   - a process a Node process started in namespaces other than its own (a sandbox without an
//     init: --no-init, or no pid namespace);
//   - the top process of an nsgroups cgroup (under the cgroup base) whose parent is outside it
//     (spawn({ cgroup }) with no namespaces, or cgroup.add()).
// Its namespaces are those that differ from its parent's; its cgroup, the one it is in when that
// is not its parent's, with usage and limits read from cgroupfs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../cgroup/cgroup';
import { describeBases, detectCgroupLayout } from '../cgroup/index';
import { V1_CONTROLLERS } from '../cgroup/v1';
import { HOLDER_ARGV0 } from '../namespace/holder';
import { NAMESPACE_TYPES, PROC_NS_NAME, type NamespaceType } from '../namespace/kinds';
import type { Max } from '../util/units';

// argv[0] of the addon's init (src-native/spawn.cc)
export const INIT_ARGV0 = 'nsgroups-init';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** argv, or [comm] for a process without one */
  argv: string[];
}

export interface SandboxUsage {
  /** the cgroup below the nsgroups base ('run-123'), or its path in the hierarchy ('/system.slice/x') */
  name: string;
  cpu: { usageUsec: number | null; max: number | Max | null };
  memory: { current: number | null; max: number | Max | null };
  pids: { current: number | null; max: number | Max | null };
}

export interface Sandbox {
  /** the top process: the init, or the command itself */
  pid: number;
  /** the process that started it (a Node process), and its command line */
  ppid: number;
  parent: string[];
  uid: number;
  /** the command (the init's child, where there is an init) */
  command: string[];
  commandPid: number | null;
  /** how it was found */
  kind: 'init' | 'namespaces' | 'cgroup';
  /** a pid namespace's holder (Namespace.create('pid', { pin })) */
  holder: boolean;
  /** the namespaces it does not share with its parent: type → inode */
  namespaces: Partial<Record<NamespaceType, number>>;
  cgroup: SandboxUsage | null;
  /** every process of the tree below the top, parents before children */
  processes: ProcessInfo[];
}

function readProcess(pid: number): ProcessInfo | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    const uid = fs.statSync(`/proc/${pid}`).uid;
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    return { pid, ppid, uid, argv: argv.length ? argv : [`[${comm}]`] };
  } catch {
    return null; // gone
  }
}

function namespacesOf(pid: number): Partial<Record<NamespaceType, number>> | null {
  const out: Partial<Record<NamespaceType, number>> = {};
  try {
    for (const t of NAMESPACE_TYPES) {
      try {
        out[t] = fs.statSync(`/proc/${pid}/ns/${PROC_NS_NAME[t]}`).ino;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // a type this kernel lacks
      }
    }
    return out;
  } catch {
    return null; // not ours to read, or gone
  }
}

function isNode(p: ProcessInfo | undefined): boolean {
  if (!p) return false;
  let exe = '';
  try {
    exe = path.basename(fs.readlinkSync(`/proc/${p.pid}/exe`));
  } catch {
    exe = path.basename(p.argv[0] ?? '');
  }
  return /^node(js)?[\d.]*$/.test(exe) || exe === path.basename(process.execPath);
}

/** pid → its cgroup below the nsgroups base, for every process in one (none on a host without cgroups). */
async function nsgroupsCgroupMembers(): Promise<Map<number, string>> {
  const members = new Map<number, string>();
  let bases: Array<{ path: string | null }>;
  try {
    bases = describeBases(await detectCgroupLayout(), V1_CONTROLLERS).filter((b) => b.path);
  } catch {
    return members;
  }
  const walk = (base: string, dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = path.join(dir, e.name);
      try {
        for (const pid of fs.readFileSync(path.join(full, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          if (!members.has(Number(pid))) members.set(Number(pid), path.relative(base, full));
        }
      } catch {
        /* removed meanwhile */
      }
      walk(base, full);
    }
  };
  for (const b of bases) walk(b.path!, b.path!);
  return members;
}

/**
 * The sandbox's cgroup: one under the nsgroups base, or another one that its starter (still its
 * parent) is not in; null when it shares its parent's (an orphan's new parent says nothing).
 */
async function usageOf(pid: number, ppid: number, nsgroupsName: string | undefined, parentIsStarter: boolean): Promise<SandboxUsage | null> {
  let cg: Cgroup;
  try {
    cg = Cgroup.of(pid);
    if (nsgroupsName === undefined && (!parentIsStarter || Cgroup.of(ppid).name === cg.name)) return null;
  } catch {
    return null;
  }
  const [stats, limits] = await Promise.all([cg.stats().catch(() => null), cg.limits().catch(() => null)]);
  return {
    name: nsgroupsName ?? cg.name,
    cpu: { usageUsec: stats?.cpu.usageUsec ?? null, max: limits?.cpu?.max ?? null },
    memory: { current: stats?.memory.current ?? null, max: limits?.memory?.max ?? null },
    pids: { current: stats?.pids.current ?? null, max: limits?.pids?.max ?? null },
  };
}

export async function listSandboxes(): Promise<Sandbox[]> {
  const procs = new Map<number, ProcessInfo>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProcess(Number(name));
    if (p) procs.set(p.pid, p);
  }
  const children = new Map<number, number[]>();
  for (const p of procs.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const cgroupOf = await nsgroupsCgroupMembers();
  const nsCache = new Map<number, Partial<Record<NamespaceType, number>> | null>();
  const ns = (pid: number) => {
    if (!nsCache.has(pid)) nsCache.set(pid, namespacesOf(pid));
    return nsCache.get(pid)!;
  };
  const differing = (pid: number, ppid: number): Partial<Record<NamespaceType, number>> => {
    const mine = ns(pid);
    const theirs = ns(ppid) ?? ns(process.pid);
    const out: Partial<Record<NamespaceType, number>> = {};
    if (!mine || !theirs) return out;
    for (const t of NAMESPACE_TYPES) if (mine[t] !== undefined && mine[t] !== theirs[t]) out[t] = mine[t];
    return out;
  };
  const isInit = (p: ProcessInfo | undefined) => p?.argv[0] === INIT_ARGV0;

  const found: Sandbox[] = [];
  for (const p of procs.values()) {
    if (p.pid === process.pid || isInit(procs.get(p.ppid))) continue; // ourselves; an init's command
    let kind: Sandbox['kind'] | null = null;
    if (isInit(p)) kind = 'init';
    else if (isNode(procs.get(p.ppid)) && Object.keys(differing(p.pid, p.ppid)).length > 0) kind = 'namespaces';
    else if (cgroupOf.has(p.pid) && cgroupOf.get(p.ppid) !== cgroupOf.get(p.pid)) kind = 'cgroup';
    if (!kind) continue;
    const commandPid = kind === 'init' ? (children.get(p.pid) ?? []).sort((a, b) => a - b)[0] ?? null : p.pid;
    const command = commandPid !== null && commandPid !== p.pid ? procs.get(commandPid)!.argv : kind === 'init' ? p.argv.slice(4) : p.argv;
    const processes: ProcessInfo[] = [];
    const below = (pid: number): void => {
      for (const c of (children.get(pid) ?? []).sort((a, b) => a - b)) {
        processes.push(procs.get(c)!);
        below(c);
      }
    };
    below(p.pid);
    found.push({
      pid: p.pid,
      ppid: p.ppid,
      parent: procs.get(p.ppid)?.argv ?? [],
      uid: p.uid,
      command,
      commandPid,
      kind,
      holder: command[0] === HOLDER_ARGV0,
      namespaces: differing(p.pid, p.ppid),
      cgroup: await usageOf(commandPid ?? p.pid, p.ppid, cgroupOf.get(commandPid ?? p.pid) ?? cgroupOf.get(p.pid), isNode(procs.get(p.ppid))),
      processes,
    });
  }
  return found.sort((a, b) => a.pid - b.pid);
}
