// Turning what failed in the child (a {step, errno, index} record) or at clone3 into an
// NsgroupsError that says what was being done, on which path, and what would fix it.
import { errnoName, NsgroupsError, systemError } from '../errors';
import { native } from '../native';
import type { ResolvedSpawn } from './options';
import type { PlannedOp } from './plan';

export interface ChildFailure {
  step: number;
  errno: number; // positive, as the child reports it
  index: number;
  /** the entry of an op's list that failed (maskedPaths, readonlyPaths, /dev), or -1 */
  item: number;
}

function hintFor(stepName: string, err: string, spec: ResolvedSpawn): string | undefined {
  if (stepName === 'cgroup') {
    return err === 'EBUSY'
      ? 'cgroup v2 keeps processes in leaves only ("no internal processes"): give a cgroup without children'
      : "writing cgroup.procs needs write access to it and to the common ancestor's (delegation)";
  }
  const userns = spec.namespaces.has('user');
  const maps = spec.idMaps;
  const callerUnmapped = maps !== null && !maps.uid.some((e) => process.geteuid!() >= e.outside && process.geteuid!() < e.outside + e.count);
  if (err === 'EACCES' && callerUnmapped && spec.rootfs && ['resolve', 'mount', 'mkdir', 'mkfile', 'symlink', 'move_mount', 'open_tree'].includes(stepName)) {
    return (
      `the sandbox's root is uid ${maps!.uid.find((e) => e.inside === 0)?.outside ?? '(unmapped)'} outside (uidMap), which the rootfs does not let in: ` +
      'make the rootfs directories searchable by others (mode 755) or owned by the mapped range'
    );
  }
  if (err === 'EPERM' || err === 'EACCES') {
    switch (stepName) {
      case 'setresuid':
      case 'setresgid':
        return userns
          ? 'the id must be mapped in the user namespace (uidMap/gidMap)'
          : "changing the user needs root (CAP_SETUID/CAP_SETGID), or a user namespace ('user' in namespaces)";
      case 'setgroups':
        return userns && process.geteuid!() !== 0
          ? 'an unprivileged user namespace denies setgroups (user_namespaces(7)): supplementary groups cannot be set'
          : 'setting supplementary groups needs root (CAP_SETGID)';
      case 'mount':
      case 'remount':
      case 'open_tree':
      case 'move_mount':
      case 'mount_setattr':
      case 'pivot_root':
        return userns
          ? 'the kernel refuses this mount inside a user namespace (locked mount flags, or a filesystem that is not mountable there)'
          : "mounting needs root (CAP_SYS_ADMIN) or a user namespace ('user' in namespaces)";
      case 'sethostname':
        return "setting the hostname needs a uts namespace owned by the sandbox ('uts' and, rootless, 'user')";
      case 'execve':
        return 'the file is not executable (or a directory, or on a noexec mount)';
      case 'setns':
        return 'joining a namespace needs CAP_SYS_ADMIN in the user namespace that owns it';
      case 'unshare':
        return userns
          ? 'the kernel refused a namespace inside the new user namespace (a limit in /proc/sys/user/max_*_namespaces, or a seccomp filter)'
          : `creating namespaces (${[...spec.namespaces].join(', ')}) needs root (CAP_SYS_ADMIN); add 'user' to namespaces to run rootless`;
      default:
        return undefined;
    }
  }
  if (err === 'ENOENT' && stepName === 'execve') {
    return spec.file.includes('/')
      ? 'no such file inside the sandbox'
      : `not found in PATH inside the sandbox (${spec.candidates.map((c) => c.slice(0, -spec.file.length - 1) || '.').join(':')})`;
  }
  if (err === 'ENOEXEC' && stepName === 'execve') {
    return 'not an executable format the kernel knows (a script needs a #! line)';
  }
  return undefined;
}

/**
 * A path inside the rootfs that the child refused to follow: the rootfs is at fault, not the
 * system (ERR_INVALID_ARG naming the path). Null for any other failure.
 */
function rootfsLayoutError(f: ChildFailure, stepName: string, op: PlannedOp | undefined): NsgroupsError | null {
  if (!op?.inRoot || !op.path) return null;
  const err = errnoName(f.errno);
  const where = `the rootfs's '${op.path}'`;
  let why: string | null = null;
  if (err === 'ELOOP') {
    why = op.noSymlinks
      ? `${where} (or a directory on the way to it) is a symlink: nsgroups mounts its own ${op.library ? 'file system' : 'device'} there and follows no symlink for it; make it a plain directory or remove it`
      : `a symlink on the way to ${where} could not be followed safely (this kernel has no openat2 RESOLVE_IN_ROOT, Linux 5.6): replace it with a directory`;
  } else if (err === 'ENOTDIR') {
    why = `${where} (or a component of it) is not a directory`;
  } else if (err === 'ENOENT' && (stepName === 'mkdir' || stepName === 'mkfile' || stepName === 'resolve')) {
    why = `a symlink on the way to ${where} leads nowhere inside the root (symlinks in a rootfs are resolved inside it, never on the host)`;
  } else if (err === 'EXDEV') {
    why = `${where} moved out of the root while it was being resolved (a rename under a running sandbox?)`;
  }
  if (!why) return null;
  return new NsgroupsError('ERR_INVALID_ARG', `${op.describe} failed: ${why}`, {
    errno: -Math.abs(f.errno),
    syscall: 'openat2',
    path: op.path,
    step: stepName,
  });
}

export function childFailureError(f: ChildFailure, spec: ResolvedSpawn, ops: PlannedOp[], procsFiles: readonly string[] = []): NsgroupsError {
  const step = native().steps[f.step] ?? { name: `step ${f.step}`, syscall: 'unknown' };
  const listed = f.index >= 0 && f.index < ops.length ? ops[f.index] : undefined;
  // an op over a list failed on one entry: the error names that entry's path
  const op =
    listed?.items && f.item >= 0 && f.item < listed.items.length
      ? { ...listed, path: listed.items[f.item], describe: `${listed.describe}: '${listed.items[f.item]}'` }
      : listed;
  const layout = rootfsLayoutError(f, step.name, op);
  if (layout) return layout;
  let what: string;
  let path: string | undefined;
  switch (step.name) {
    case 'execve':
      what = `executing '${spec.file}'`;
      path = spec.file;
      break;
    case 'chdir':
      what = op ? op.describe : `changing to the working directory '${spec.cwd}'`;
      path = op ? op.path : (spec.cwd ?? undefined);
      break;
    case 'stdio':
      what = `installing stdio[${f.index}]`;
      break;
    case 'cgroup':
      what = 'moving the sandbox into its cgroup';
      path = procsFiles[f.index];
      break;
    default:
      what = op ? op.describe : `the sandbox setup step '${step.name}'`;
      path = op?.path;
  }
  const hint = hintFor(step.name, errnoName(f.errno), spec);
  return systemError(f.errno, step.syscall, what, { path, step: step.name, hint });
}

export function cloneError(errno: number, syscall: string, spec: ResolvedSpawn): NsgroupsError {
  const name = errnoName(errno);
  const list = [...spec.namespaces].join(', ');
  let hint: string | undefined;
  if (name === 'EPERM') {
    hint = spec.namespaces.has('user')
      ? 'the kernel refused a new user namespace: unprivileged user namespaces are disabled or restricted on this host (run `nsgroups doctor`)'
      : process.geteuid!() === 0
        ? undefined
        : `creating namespaces (${list}) needs root (CAP_SYS_ADMIN); add 'user' to namespaces to run rootless`;
  } else if (name === 'ENOSPC' || name === 'EUSERS') {
    hint = 'a namespace limit was reached (/proc/sys/user/max_*_namespaces, or user namespaces nested 32 deep)';
  } else if (name === 'EAGAIN') {
    hint = "a process limit was reached (RLIMIT_NPROC, or pids.max of the caller's cgroup)";
  } else if (name === 'ENOSYS') {
    return new NsgroupsError('ERR_UNSUPPORTED', `${syscall} is not available: the kernel is older than 5.3 or a seccomp filter forbids it`, {
      errno: -Math.abs(errno),
      syscall,
    });
  } else if (name === 'EBUSY' && spec.cgroup) {
    hint = 'cgroup v2 keeps processes in leaves only ("no internal processes"): the cgroup must have no controllers enabled for children';
  } else if (name === 'EINVAL' && spec.namespaces.size > 0) {
    hint = `this kernel does not support one of the namespaces asked for (${list})`;
  }
  return systemError(errno, syscall, spec.namespaces.size ? `creating the sandbox (namespaces: ${list})` : 'creating the child process', { hint });
}
