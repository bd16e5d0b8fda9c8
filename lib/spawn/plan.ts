// From a ResolvedSpawn to the native plan: clone flags, the ordered filesystem/identity ops the
// child runs, and the decisions the kernel forces (DESIGN.md "The spawn path"). The plan's keys
// and types are the schema of src-native/child.h; the addon refuses anything else.
import type { NativeHandover, NativePlan, NativeStdio } from '../../types/native';
import type { NsgroupsError } from '../errors';
import { native } from '../native';
import { outsideOf, insideOf } from './idmap';
import { CLONE_NEW, type NamespaceType } from '../namespace/kinds';
import { compileSeccomp } from '../seccomp/index';
import type { ResolvedSeccomp } from '../seccomp/options';
import { maskOps, MS, op, userMountOps, type PlannedOp } from './ops';
import type { ResolvedSpawn } from './options';
import { rootfsOps } from './rootfs';

export type { PlannedOp } from './ops';

/** `earlyIds`: the caller's own ids are unmapped in the new user namespace (see buildPlan). */
export function planOps(spec: ResolvedSpawn, earlyIds: boolean): PlannedOp[] {
  const k = native().constants.ops;
  const ops: PlannedOp[] = [];
  const ns = spec.namespaces;
  if (ns.has('mount')) {
    // Receive the host's mount events (unmounts included, so we never pin a host filesystem)
    // but send none back (mount_namespaces(7)); bubblewrap does the same.
    ops.push(op({ kind: k.mount, target: '/', flags: MS.REC | MS.SLAVE, describe: 'make / a recursive slave mount', path: '/' }));
  }
  if (spec.hostname !== null) {
    ops.push(op({ kind: k.sethostname, data: spec.hostname, describe: `set the hostname to '${spec.hostname}'` }));
  }
  if (spec.rootfs) {
    ops.push(...rootfsOps(spec.rootfs, spec.mounts, k, { newPid: ns.has('pid'), ownNet: ns.has('net'), earlyIds }, maskOps(spec, k, true)));
  } else {
    if (earlyIds) ops.push(op({ kind: k.earlyIds, describe: "take the sandbox's identity" }));
    if (ns.has('pid') && ns.has('mount')) {
      ops.push(
        op({
          kind: k.mount,
          source: 'proc',
          target: '/proc',
          fstype: 'proc',
          flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
          describe: 'mount a fresh proc on /proc',
          path: '/proc',
        }),
      );
    }
    ops.push(...maskOps(spec, k, false));
    for (const m of spec.mounts) ops.push(...userMountOps(m, k, false));
  }
  if (ns.has('net') && spec.network === 'loopback') {
    ops.push(op({ kind: k.loopbackUp, describe: "bring the loopback interface 'lo' up" }));
  }
  return ops;
}

const SIGKILL = 9;

export interface BuiltPlan {
  plan: NativePlan;
  ops: PlannedOp[];
  /** cgroup.procs files the parent writes the child's pid to before it may exec */
  procsFiles: string[];
  /** the cgroup v2 directory the child is cloned into (CLONE_INTO_CGROUP), if any */
  cgroupDir: string | null;
  /** the cgroup's systemd manager moves the child into its v2 directory, before it may exec */
  attach: ((pid: number) => Promise<void>) | null;
  /** why the child cannot enter its cgroup at all (the v2 delegation rule): the spawn fails with it */
  cgroupBlocked: NsgroupsError | null;
}

/** The system calls a parked sandbox makes after its hand-over (src-native/child.c
 *  park_then_exec): a filter installed before the hand-over must let them through. */
export const HANDOVER_SYSCALLS: readonly string[] = [
  'recvmsg',
  'chdir',
  'newfstatat',
  'faccessat',
  'fcntl',
  'dup3',
  'close',
  'close_range',
  'prlimit64',
  'rt_sigprocmask',
  'execve',
  'write',
  'exit',
  'exit_group',
];

/** Does the filter have to wait until after the hand-over (it has a rule for a call made there)? */
export function seccompAtHandover(seccomp: ResolvedSeccomp | null): boolean {
  if (!seccomp) return false;
  if (seccomp.kind === 'raw') return true; // nobody can tell what it refuses
  return HANDOVER_SYSCALLS.some((name) => Object.prototype.hasOwnProperty.call(seccomp.rules, name));
}

function nativeStdio(spec: ResolvedSpawn): NativeStdio[] {
  return spec.stdio.map((s) =>
    s.kind === 'pipe'
      ? { kind: 'pipe', fd: -1, childReads: s.childReads }
      : s.kind === 'fd'
        ? { kind: 'fd', fd: s.fd, childReads: false }
        : { kind: 'null', fd: -1, childReads: false },
  );
}

/** What a parked sandbox (buildPlan with park) gets at its hand-over: the command of `spec`. */
export function buildHandover(spec: ResolvedSpawn): NativeHandover {
  return { cwd: spec.cwd, candidates: spec.candidates, argv: spec.argv, inheritEnv: spec.envp === null, envp: spec.envp ?? [], stdio: nativeStdio(spec) };
}

/**
 * `park`: a warm pool's sandbox, made now and given its command later (buildHandover): the
 * plan carries no stdio, cwd or command.
 */
export function buildPlan(spec: ResolvedSpawn, park = false): BuiltPlan {
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
  // Without joins only a new user namespace is made at clone (the parent writes its maps before
  // the child goes on); the others are unshared by the child: making a net namespace takes the
  // kernel half a millisecond, which clone would spend on the JS thread.
  // A time namespace is always unshared late: a process born in one has frozen offsets.
  // A cgroup namespace is rooted where its creator is when it is made: when the child moves
  // itself into v1 cgroups after clone (child.c, 1b), it makes the namespace after that move.
  // A new or joined pid namespace is entered by forking: the first child makes it (unshare) and
  // forks the init and the command's process into it as our own children.
  const placement = spec.cgroup?._placement() ?? null;
  const lateCgroupns = ns.has('cgroup') && (joining || (placement?.v1ProcsFiles.length ?? 0) > 0);
  const withInit = ns.has('pid') && spec.init;
  const forkIntoPidns = ns.has('pid') || joinedTypes.has('pid');
  const atClone = !joining && ns.has('user') ? ['user' as const] : [];
  const unshared = [...ns].filter((t) => t !== 'time' && t !== 'user' && !(t === 'cgroup' && lateCgroupns));
  // With ranges that leave the caller's own ids unmapped (0 -> 100000 as root), the child would
  // own nothing in a filesystem mounted in the namespace (EOVERFLOW): it becomes root inside
  // (or the user) before the first such mount.
  const maps = spec.idMaps;
  const user = spec.user;
  const earlyIds = maps !== null && user !== null && (insideOf(maps.uid, process.geteuid!()) === null || insideOf(maps.gid, process.getegid!()) === null);
  const earlyUid = earlyIds ? (outsideOf(maps!.uid, 0) !== null ? 0 : user!.uid) : 0;
  const earlyGid = earlyIds ? (outsideOf(maps!.gid, 0) !== null ? 0 : user!.gid) : 0;
  const ops = planOps(spec, earlyIds);
  const seccomp = spec.seccomp ? compileSeccomp(spec.seccomp) : null;

  // Ids: with a new user namespace the caller's kuid maps to user.uid unless ranges say
  // otherwise; without one, a switch is a real setuid (root only).
  const userns = ns.has('user') || joinedTypes.has('user');
  const changesKuid =
    user !== null &&
    (spec.idMaps
      ? outsideOf(spec.idMaps.uid, user.uid) !== process.geteuid!() || outsideOf(spec.idMaps.gid, user.gid) !== process.getegid!()
      : !userns && (user.uid !== process.geteuid!() || user.gid !== process.getegid!()));
  // A CLONE_VM child shares our memory: a credential change in it would reset the dumpable
  // flag of *our* mm (commit_creds); setns into a time namespace is refused in it; and a
  // member of a joined namespace could ptrace it. Those plans use a fork-style child.
  const useVm = !changesKuid && !earlyIds && !joining && !ns.has('time');

  // Supplementary groups: dropped (setgroups(0)) where the kernel lets us; an unprivileged
  // user namespace denies setgroups (user_namespaces(7)) and a joined one may, so leave them.
  let groups: number[] | null = null;
  if (user?.groups) groups = user.groups;
  else if (user && process.geteuid!() === 0 && !joinedTypes.has('user')) groups = [];

  const plan: NativePlan = {
    cloneFlags: newFlags(atClone),
    cgroupFd: -1,
    procsFds: [],
    useVm,
    stdio: park ? [] : nativeStdio(spec),
    joins: spec.joins.map((j) => ({ fd: j.fd, nstype: CLONE_NEW[j.type] })),
    nondumpable: joining,
    unshareUser: joining && ns.has('user'),
    unshareFlags: newFlags(unshared),
    forkIntoPidns,
    init: withInit,
    unshareTime: ns.has('time'),
    unshareCgroupLate: lateCgroupns,
    earlyIds,
    earlyUid,
    earlyGid,
    ops: ops.map(({ describe: _d, path: _p, library: _l, items: _i, ...o }) => o),
    cwd: park ? null : spec.cwd,
    candidates: park ? [] : spec.candidates,
    argv: park ? [] : spec.argv,
    inheritEnv: !park && spec.envp === null,
    envp: park ? [] : (spec.envp ?? []),
    setGroups: groups !== null,
    groups: groups ?? [],
    setIds: user !== null,
    uid: user?.uid ?? 0,
    gid: user?.gid ?? 0,
    pdeathsig: spec.dieWithParent ? SIGKILL : 0,
    newSession: spec.newSession,
    newKeyring: spec.newKeyring,
    rlimits: spec.rlimits.map(({ resource, soft, hard }) => ({ resource, soft, hard })),
    dropCapabilities: spec.keepCapabilities !== null,
    keepCapabilities: spec.keepCapabilities ?? 0,
    noNewPrivs: spec.noNewPrivileges,
    seccompFilter: seccomp?.filter ?? Buffer.alloc(0),
    seccompFlags: seccomp?.flags ?? 0,
    park,
    seccompAtHandover: park && seccompAtHandover(spec.seccomp),
  };
  return {
    plan,
    ops,
    procsFiles: placement?.v1ProcsFiles ?? [],
    cgroupDir: placement?.v2Dir ?? null,
    attach: placement?.attach ?? null,
    cgroupBlocked: placement?.blocked ?? null,
  };
}
