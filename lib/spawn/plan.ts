// From a ResolvedSpawn to the native plan: clone flags, the ordered filesystem/identity ops the
// child runs, and the decisions the kernel forces (DESIGN.md "The spawn path").
import type { NativeOp, NativePlan } from '../../types/native';
import { native } from '../native';
import type { NamespaceType, ResolvedSpawn } from './options';

export const CLONE_NEW: Record<NamespaceType, number> = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  cgroup: 0x02000000,
  time: 0x00000080,
};

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

const SIGKILL = 9;

/** The op list with what each op stands for, so that a failure can name its path. */
export interface PlannedOp extends NativeOp {
  /** what the user would call it: "mount proc on /proc" */
  describe: string;
  /** the path a failure concerns */
  path?: string;
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
  if (ns.has('pid') && ns.has('mount')) {
    ops.push({
      kind: k.mount,
      a: 'proc',
      b: '/proc',
      c: 'proc',
      flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
      describe: 'mount a fresh proc on /proc',
      path: '/proc',
    });
  }
  if (ns.has('net') && spec.network === 'loopback') {
    ops.push({ kind: k.loopbackUp, describe: "bring the loopback interface 'lo' up" });
  }
  return ops;
}

export interface BuiltPlan {
  plan: NativePlan;
  ops: PlannedOp[];
}

export function buildPlan(spec: ResolvedSpawn): BuiltPlan {
  const ns = spec.namespaces;
  let cloneFlags = 0;
  for (const type of ns) cloneFlags |= CLONE_NEW[type];
  const ops = planOps(spec);

  // Ids: with a user namespace the caller's kuid is mapped to user.uid, so switching to it
  // changes nothing outside; without one, a switch is a real setuid (root only).
  const user = spec.user;
  const changesKuid =
    !ns.has('user') && user !== null && (user.uid !== process.geteuid!() || user.gid !== process.getegid!());
  // A CLONE_VM child shares our memory: a credential change in it would reset the dumpable
  // flag of *our* mm (commit_creds), so only plans that keep the kuid may use it.
  const useVm = !changesKuid;

  // Supplementary groups: dropped (setgroups(0)) where the kernel lets us; inside an
  // unprivileged user namespace setgroups is denied (user_namespaces(7)) and they stay.
  let groups: number[] | null = null;
  if (user?.groups) groups = user.groups;
  else if (user && (!ns.has('user') || process.geteuid!() === 0)) groups = [];

  const plan: NativePlan = {
    cloneFlags,
    cgroupFd: -1,
    useVm,
    init: spec.init,
    stdio: spec.stdio.map((s) => (s.kind === 'pipe' ? { kind: 'pipe', childReads: s.childReads } : s)),
    joins: [],
    unshareUser: false,
    unshareFlags: 0,
    forkAfterUnshare: false,
    unshareTime: false,
    unshareCgroupLate: false,
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
  return { plan, ops };
}
