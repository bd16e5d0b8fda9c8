// From a ResolvedSpawn to the native plan: clone flags, the ordered filesystem/identity ops the
// child runs, and the decisions the kernel forces (DESIGN.md "The spawn path").
import type { NativeOp, NativePlan } from '../../types/native';
import { native } from '../native';
import { outsideOf } from './idmap';
import { CLONE_NEW, type NamespaceType } from '../namespace/kinds';
import type { ResolvedMount } from './mounts';
import type { ResolvedSpawn } from './options';
import { rootfsOps } from './rootfs';

// mount(2) flags
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  REMOUNT: 0x20,
  BIND: 0x1000,
  REC: 0x4000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
} as const;

const MOUNT_ATTR_RDONLY = 0x1;
const SIGKILL = 9;

/** The op list with what each op stands for, so that a failure can name its path. */
export interface PlannedOp extends NativeOp {
  /** what the user would call it: "mount proc on /proc" */
  describe: string;
  /** the path a failure concerns */
  path?: string;
}

type Ops = ReturnType<typeof native>['constants']['ops'];

/** One of the user's mounts, at `target` (its own path, or its place under a rootfs). */
function userMountOps(m: ResolvedMount, target: string, k: Ops): PlannedOp[] {
  if (m.type === 'bind') {
    const bind: PlannedOp = {
      kind: k.mount,
      a: m.source,
      b: target,
      flags: MS.BIND | (m.recursive ? MS.REC : 0),
      describe: `bind-mount '${m.source}' on '${m.target}'`,
      path: m.target,
    };
    if (!m.readonly) return [bind];
    // A recursive bind is read-only all the way down only with mount_setattr (Linux 5.12);
    // a remount would leave the submounts writable.
    return [
      bind,
      m.recursive
        ? { kind: k.mountSetattr, a: target, flags: MOUNT_ATTR_RDONLY, flags2: 1, describe: `make '${m.target}' read-only (recursively)`, path: m.target }
        : { kind: k.remount, a: target, flags: MS.RDONLY, describe: `make '${m.target}' read-only`, path: m.target },
    ];
  }
  if (m.type === 'tmpfs') {
    const data = [m.size !== null ? `size=${m.size}` : '', m.mode !== null ? `mode=0${m.mode.toString(8)}` : ''].filter(Boolean).join(',');
    return [
      {
        kind: k.mount,
        a: 'tmpfs',
        b: target,
        c: 'tmpfs',
        d: data || undefined,
        flags: MS.NOSUID | MS.NODEV | (m.readonly ? MS.RDONLY : 0),
        describe: `mount a tmpfs on '${m.target}'`,
        path: m.target,
      },
    ];
  }
  return [{ kind: k.mount, a: 'proc', b: target, c: 'proc', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, describe: `mount proc on '${m.target}'`, path: m.target }];
}

export function planOps(spec: ResolvedSpawn): PlannedOp[] {
  const k = native().constants.ops;
  const ops: PlannedOp[] = [];
  const ns = spec.namespaces;
  if (ns.has('mount')) {
    // Receive the host's mount events (unmounts included, so we never pin a host filesystem)
    // but send none back (mount_namespaces(7)); bubblewrap does the same.
    ops.push({ kind: k.mount, b: '/', flags: MS.REC | MS.SLAVE, describe: 'make / a recursive slave mount', path: '/' });
  }
  if (spec.hostname !== null) {
    ops.push({ kind: k.sethostname, a: spec.hostname, describe: `set the hostname to '${spec.hostname}'` });
  }
  if (spec.rootfs) {
    const ownNet = ns.has('net');
    ops.push(...rootfsOps(spec.rootfs, spec.mounts, k, { newPid: ns.has('pid'), ownNet }, (m, target) => userMountOps(m, target, k)));
  } else {
    if (ns.has('pid') && ns.has('mount')) {
      ops.push({ kind: k.mount, a: 'proc', b: '/proc', c: 'proc', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, describe: 'mount a fresh proc on /proc', path: '/proc' });
    }
    for (const m of spec.mounts) ops.push(...userMountOps(m, m.target, k));
  }
  if (ns.has('net') && spec.network === 'loopback') {
    ops.push({ kind: k.loopbackUp, describe: "bring the loopback interface 'lo' up" });
  }
  return ops;
}

export interface BuiltPlan {
  plan: NativePlan;
  ops: PlannedOp[];
  /** cgroup.procs files the parent writes the child's pid to before it may exec */
  procsFiles: string[];
  /** the cgroup v2 directory the child is cloned into (CLONE_INTO_CGROUP), if any */
  cgroupDir: string | null;
}

export function buildPlan(spec: ResolvedSpawn): BuiltPlan {
  const ns = spec.namespaces;
  const joining = spec.joins.length > 0;
  const joinedTypes = new Set(spec.joins.map((j) => j.type));
  const newFlags = (types: Iterable<NamespaceType>): number => {
    let flags = 0;
    for (const t of types) flags |= CLONE_NEW[t];
    return flags;
  };
  // Joins come before new namespaces (after CLONE_NEWUSER, joining a host-owned namespace is
  // EPERM), so with joins everything new is unshared in the child, the user namespace first.
  // A time namespace is always unshared late: a process born in one has frozen offsets.
  // A cgroup namespace is rooted where its creator is when it is made: when the parent moves the
  // child into v1 cgroups after clone, the child makes it after that move (DESIGN.md).
  const placement = spec.cgroup?._placement() ?? null;
  const lateCgroupns = !joining && ns.has('cgroup') && (placement?.v1ProcsFiles.length ?? 0) > 0;
  const atClone = joining ? [] : [...ns].filter((t) => t !== 'time' && !(t === 'cgroup' && lateCgroupns));
  const unshared = joining ? [...ns].filter((t) => t !== 'time' && t !== 'user') : [];
  const ops = planOps(spec);

  // Ids: with a new user namespace the caller's kuid maps to user.uid unless ranges say
  // otherwise; without one, a switch is a real setuid (root only).
  const user = spec.user;
  const userns = ns.has('user') || joinedTypes.has('user');
  const changesKuid = user !== null && (spec.idMaps
    ? outsideOf(spec.idMaps.uid, user.uid) !== process.geteuid!() || outsideOf(spec.idMaps.gid, user.gid) !== process.getegid!()
    : !userns && (user.uid !== process.geteuid!() || user.gid !== process.getegid!()));
  // A CLONE_VM child shares our memory: a credential change in it would reset the dumpable
  // flag of *our* mm (commit_creds); setns into a time namespace is refused in it; and a
  // member of a joined namespace could ptrace it. Those plans use a fork-style child.
  const useVm = !changesKuid && !joining && !ns.has('time');

  // Supplementary groups: dropped (setgroups(0)) where the kernel lets us; an unprivileged
  // user namespace denies setgroups (user_namespaces(7)) and a joined one may, so leave them.
  let groups: number[] | null = null;
  if (user?.groups) groups = user.groups;
  else if (user && process.geteuid!() === 0 && !joinedTypes.has('user')) groups = [];

  const plan: NativePlan = {
    cloneFlags: newFlags(atClone),
    cgroupFd: -1,
    useVm,
    init: spec.init,
    stdio: spec.stdio.map((s) => (s.kind === 'pipe' ? { kind: 'pipe', childReads: s.childReads } : s)),
    joins: spec.joins.map((j) => ({ fd: j.fd, nstype: CLONE_NEW[j.type] })),
    nondumpable: joining,
    unshareUser: joining && ns.has('user'),
    unshareFlags: newFlags(unshared),
    forkAfterUnshare: joining && (ns.has('pid') || joinedTypes.has('pid')),
    unshareTime: ns.has('time'),
    unshareCgroupLate: lateCgroupns,
    ops: ops.map(({ describe: _d, path: _p, ...op }) => op),
    cwd: spec.cwd,
    candidates: spec.candidates,
    argv: spec.argv,
    envp: spec.envp,
    ids: user ? { uid: user.uid, gid: user.gid } : null,
    groups,
    pdeathsig: spec.dieWithParent ? SIGKILL : 0,
    newSession: spec.newSession,
    noNewPrivs: spec.noNewPrivileges,
  };
  return { plan, ops, procsFiles: placement?.v1ProcsFiles ?? [], cgroupDir: placement?.v2Dir ?? null };
}
