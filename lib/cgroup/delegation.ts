// The cgroup v2 delegation rule a non-root caller meets when it moves a process, and the steps
// that give a user delegation. Documentation/admin-guide/cgroup-v2.rst, "Delegation
// Containment": to migrate a process, the writer must be able to write the destination's
// cgroup.procs *and* that of the common ancestor of the source and destination cgroups. A child
// born with CLONE_INTO_CGROUP is checked the same way (its source is its parent's cgroup): so a
// cgroup the caller may create and write is still one it cannot put its own children into when
// the caller sits outside that subtree — clone3 then fails with EACCES.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError } from '../errors';
import { hierarchyDir, type CgroupHierarchy } from './layout';

export const MIGRATION_RULE =
  'cgroup v2 lets a process be moved only by a writer of cgroup.procs of the common ancestor of its old and new cgroup ' +
  '(Documentation/admin-guide/cgroup-v2.rst, "Delegation Containment")';

/** The deepest cgroup that contains both paths (hierarchy paths, as /proc/PID/cgroup shows them). */
export function commonAncestor(a: string, b: string): string {
  const x = a.split('/').filter(Boolean);
  const y = b.split('/').filter(Boolean);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return '/' + x.slice(0, n).join('/');
}

function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface MigrationBlock {
  /** the common ancestor's cgroup.procs, which this caller may not write */
  file: string;
  from: string;
  to: string;
}

/**
 * No move in hierarchy `h` can be blocked for this caller: v1 checks only the destination, and
 * root passes every check. Then there is no need to read where this process is (/proc/self/cgroup).
 */
export function migratesFreely(h: CgroupHierarchy, euid = process.geteuid!()): boolean {
  return h.version !== 2 || euid === 0;
}

/**
 * Why this process could not move a process from cgroup `from` into `to` in hierarchy `h`
 * (v2 only: v1 checks only the destination), or null when it may. Root passes every check.
 */
export function migrationBlock(h: CgroupHierarchy, from: string, to: string, euid = process.geteuid!()): MigrationBlock | null {
  if (migratesFreely(h, euid)) return null;
  const ancestor = commonAncestor(from, to);
  const dir = hierarchyDir(h, ancestor);
  // an ancestor above what this mount shows (a cgroup namespace, a bind mount) is not ours to write
  const file = dir === null ? path.join(h.mountPoint, 'cgroup.procs') : path.join(dir, 'cgroup.procs');
  if (dir !== null && writable(file)) return null;
  return { file, from, to };
}

/** The typed error for a blocked move: the rule, where it bites, and what fixes it. */
export function migrationError(block: MigrationBlock, doing: string, syscall: string, fix: string): NsgroupsError {
  return new NsgroupsError(
    'ERR_PERMISSION',
    `${doing}: this process is in ${block.from} and may not move a process into ${block.to}: ${MIGRATION_RULE}, ` +
      `and ${block.file} is not writable by uid ${process.geteuid!()}. ${fix}`,
    { errno: -13, syscall, path: block.file },
  );
}

/** What fixes a blocked move for a cgroup of the cgroupfs driver (a subtree root chowned to the user). */
export const CGROUPFS_MIGRATION_FIX =
  'Fix: run this program inside that subtree (move its own process there first: echo $$ > SUBTREE/cgroup.procs, as root if need be), ' +
  "or, on a systemd host, leave NSGROUPS_CGROUP_ROOT and the root option unset so that nsgroups asks systemd for a delegated scope (driver: 'systemd').";

/** The drop-in that delegates every controller nsgroups uses to a user's manager (systemd.resource-control(5) Delegate=). */
export function delegateDropIn(uid: number): string {
  const dir = `/etc/systemd/system/user@${uid}.service.d`;
  return [
    `sudo mkdir -p ${dir}`,
    `printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee ${dir}/delegate.conf`,
    'sudo systemctl daemon-reload',
    `sudo systemctl restart user@${uid}.service   # or log out and in again`,
  ].join('\n');
}

/** The step that starts a user's manager without a login, and keeps it (loginctl(1) enable-linger). */
export function lingerStep(user: string): string {
  return `sudo loginctl enable-linger ${user}   # starts user@UID.service (systemd --user) now and at boot, without a login`;
}
