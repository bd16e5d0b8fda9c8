// The sandboxes running on this host, found in /proc (for `nsgroups ls`). A sandbox is what one
// spawn started, counted once. It is found by
//   - an nsgroups init (argv[0] 'nsgroups-init'): pid 1 of a new pid namespace, with the command
//     as pid 2 (the init's child or its sibling, depending on the addon's version);
//   - a process a Node process started in namespaces other than its own (no init: --no-init, or
//     no pid namespace);
//   - the top process of an nsgroups cgroup (under the cgroup base) whose parent is outside it
//     (spawn({ cgroup }) with no namespaces, or cgroup.add()).
// With its own pid namespace, a sandbox is every process in that namespace; without, the process
// found and those below it. Its namespaces are those that differ from its starter's; its cgroup,
// the one it is in when that is not its starter's, with usage and limits read from cgroupfs.
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
  /** the top process, the pid spawn() returned: the command when it is its starter's own child, else the init */
  pid: number;
  /** the process that started it (a Node process), and its command line */
  ppid: number;
  parent: string[];
  uid: number;
  /** the command (pid 2 of its pid namespace after an init; [] once it has exited) */
  command: string[];
  commandPid: number | null;
  /** the nsgroups init, pid 1 of the sandbox's pid namespace */
  initPid: number | null;
  /** how it was found */
  kind: 'init' | 'namespaces' | 'cgroup';
  /** a pid namespace's holder (Namespace.create('pid', { pin })) */
  holder: boolean;
  /** the namespaces it does not share with its parent: type → inode */
  namespaces: Partial<Record<NamespaceType, number>>;
  cgroup: SandboxUsage | null;
  /** its other processes (the init, the command, what they started), by pid */
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
  let exe: string;
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

/** The innermost entry of NSpid (proc(5)): the process's pid in its own pid namespace. */
function innerPid(pid: number): number | null {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NSpid:'));
    return line ? Number(line.trim().split(/\s+/).at(-1)) : null;
  } catch {
    return null;
  }
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
  const descendants = (pid: number, into: ProcessInfo[]): ProcessInfo[] => {
    for (const c of (children.get(pid) ?? []).sort((x, y) => x - y)) {
      into.push(procs.get(c)!);
      descendants(c, into);
    }
    return into;
  };

  // A sandbox with its own pid namespace is every process in that namespace, whoever is whose
  // parent (the init may be the command's parent, or its sibling under the Node process); one
  // without is the seed process and what is below it.
  const seeds: Array<{ p: ProcessInfo; kind: Sandbox['kind'] }> = [];
  for (const p of procs.values()) {
    if (p.pid === process.pid || isInit(procs.get(p.ppid))) continue; // ourselves; inside an init's namespace
    if (isInit(p)) seeds.push({ p, kind: 'init' });
    else if (isNode(procs.get(p.ppid)) && Object.keys(differing(p.pid, p.ppid)).length > 0) seeds.push({ p, kind: 'namespaces' });
    else if (cgroupOf.has(p.pid) && cgroupOf.get(p.ppid) !== cgroupOf.get(p.pid)) seeds.push({ p, kind: 'cgroup' });
  }
  const byPidns = new Map<number, { kind: Sandbox['kind']; members: ProcessInfo[] }>();
  const single: Array<{ kind: Sandbox['kind']; members: ProcessInfo[] }> = [];
  for (const { p, kind } of seeds) {
    const own = differing(p.pid, p.ppid).pid;
    if (own === undefined) {
      single.push({ kind, members: [p, ...descendants(p.pid, [])] });
      continue;
    }
    const group = byPidns.get(own) ?? { kind, members: [] };
    if (kind === 'init') group.kind = 'init';
    byPidns.set(own, group);
  }
  for (const p of procs.values()) {
    const group = byPidns.get(ns(p.pid)?.pid ?? -1);
    if (group && p.pid !== process.pid) group.members.push(p);
  }

  const found: Sandbox[] = [];
  for (const { kind, members } of [...byPidns.values(), ...single]) {
    if (members.length === 0) continue;
    const inner = new Map(members.map((m) => [m.pid, innerPid(m.pid)]));
    const init = members.find((m) => isInit(m) && inner.get(m.pid) === 1);
    // the command: pid 2 after an init, else pid 1 of the namespace, else the seed
    const command = init ? members.find((m) => inner.get(m.pid) === 2) : (members.find((m) => inner.get(m.pid) === 1) ?? members[0]);
    const outside = (m: ProcessInfo) => !members.some((o) => o.pid === m.ppid);
    // the top is the pid spawn() returned: the command when it is the starter's own child
    const top = command && outside(command) ? command : (init ?? members[0]);
    found.push({
      pid: top.pid,
      ppid: top.ppid,
      parent: procs.get(top.ppid)?.argv ?? [],
      uid: top.uid,
      command: command?.argv ?? [],
      commandPid: command?.pid ?? null,
      initPid: init?.pid ?? null,
      kind,
      holder: command?.argv[0] === HOLDER_ARGV0,
      namespaces: differing(top.pid, top.ppid),
      cgroup: await usageOf(command?.pid ?? top.pid, top.ppid, cgroupOf.get(command?.pid ?? top.pid) ?? cgroupOf.get(top.pid), isNode(procs.get(top.ppid))),
      processes: members.filter((m) => m !== top).sort((x, y) => x.pid - y.pid),
    });
  }
  return found.sort((a, b) => a.pid - b.pid);
}
