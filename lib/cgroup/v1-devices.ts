// A device policy (devices.ts) in the cgroup v1 devices controller
// (Documentation/admin-guide/cgroup-v1/devices.rst): writes to devices.allow and devices.deny,
// read back from devices.list.
//
// Kernel rules that shape this (security/device_cgroup.c devcgroup_update_access):
// - 'a' written to devices.deny (deny all) or devices.allow (allow all) drops every exception,
//   and is EINVAL while the cgroup has child cgroups;
// - a cgroup cannot allow what its parent denies (EPERM), and writing needs CAP_SYS_ADMIN (EPERM);
// - devices.list of an allow-all cgroup shows 'a *:* rwm' and not its deny exceptions: those are
//   kept beside it in a user xattr (kernfs has them on cgroupfs since Linux 5.7), to report them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromNodeError, NsgroupsError } from '../errors';
import { native } from '../native';
import { isErrno } from './fsops';
import { deviceLine, devicePermissionError, devicePrivilegeProblem, parseDeviceLines, type DevicePolicy } from './devices';

const DENIES_XATTR = 'user.nsgroups.devices.deny';

function readDenies(dir: string): string | null {
  try {
    return native().lgetxattr(dir, DENIES_XATTR).toString('utf8');
  } catch {
    return null; // never written, or no user xattrs on this kernel's cgroupfs
  }
}

function writeDenies(dir: string, policy: DevicePolicy): void {
  const lines = policy.defaultAllow ? policy.exceptions.map((e) => deviceLine(e.type, e.major, e.minor, e.access)).join('\n') : '';
  try {
    native().lsetxattr(dir, DENIES_XATTR, Buffer.from(lines), 0);
  } catch {
    /* limits() then cannot show the deny entries of an allow-all policy (the kernel enforces them all the same) */
  }
}

/** The policy in force: devices.list, and for an allow-all cgroup the deny entries recorded beside it. */
export function readV1Devices(dir: string): DevicePolicy {
  const listed = parseDeviceLines(fs.readFileSync(path.join(dir, 'devices.list'), 'utf8'));
  if (!listed.defaultAllow) return listed;
  const denies = readDenies(dir);
  return { defaultAllow: true, exceptions: denies ? parseDeviceLines(denies).exceptions : [] };
}

function write(dir: string, file: 'devices.allow' | 'devices.deny', line: string): void {
  const target = path.join(dir, file);
  try {
    fs.writeFileSync(target, line);
  } catch (err) {
    const details = { errno: (err as NodeJS.ErrnoException).errno, syscall: 'write', path: target, cause: err };
    if (isErrno(err, 'EPERM')) {
      const problem = devicePrivilegeProblem('v1');
      if (problem) throw devicePermissionError(problem, details);
      const parent = path.dirname(dir);
      let list = '';
      try {
        list = ` (its devices.list: ${fs.readFileSync(path.join(parent, 'devices.list'), 'utf8').trim().split('\n').join(', ')})`;
      } catch {
        /* the message does without it */
      }
      throw devicePermissionError(
        `the parent cgroup ${parent} does not allow '${line}'${list}, and a cgroup cannot allow more than its parent ` + '(cgroup-v1/devices.rst "Hierarchy")',
        details,
      );
    }
    if (isErrno(err, 'EINVAL') && line === 'a') {
      throw new NsgroupsError(
        'ERR_BUSY',
        `cannot change the device policy of ${dir} between allow-all and deny-all: it has child cgroups, and the v1 ` +
          "devices controller takes 'a' only in a cgroup without them (cgroup-v1/devices.rst); remove them first",
        details,
      );
    }
    throw fromNodeError(err, `writing '${line}' to ${target}`, { path: target });
  }
}

/**
 * Puts `policy` in force. From deny-all to deny-all it only adds and removes access, granting
 * first, so nothing that stays allowed is denied in between (as runc's transition does). Any
 * other change starts over with 'a' (allow-all's deny entries cannot be read, so they cannot be
 * changed one by one): an allow-all policy is then briefly without its denies.
 */
export function applyV1Devices(dir: string, policy: DevicePolicy): void {
  const current = parseDeviceLines(fs.readFileSync(path.join(dir, 'devices.list'), 'utf8'));
  const key = (e: { type: string; major: unknown; minor: unknown }) => `${e.type} ${e.major}:${e.minor}`;
  if (!current.defaultAllow && !policy.defaultAllow) {
    const had = new Map(current.exceptions.map((e) => [key(e), e.access]));
    const wants = new Map(policy.exceptions.map((e) => [key(e), e.access]));
    for (const e of policy.exceptions) {
      const gained = e.access & ~(had.get(key(e)) ?? 0);
      if (gained) write(dir, 'devices.allow', deviceLine(e.type, e.major, e.minor, gained));
    }
    for (const e of current.exceptions) {
      const dropped = e.access & ~(wants.get(key(e)) ?? 0);
      if (dropped) write(dir, 'devices.deny', deviceLine(e.type, e.major, e.minor, dropped));
    }
  } else {
    write(dir, policy.defaultAllow ? 'devices.allow' : 'devices.deny', 'a');
    const file = policy.defaultAllow ? 'devices.deny' : 'devices.allow';
    for (const e of policy.exceptions) write(dir, file, deviceLine(e.type, e.major, e.minor, e.access));
  }
  writeDenies(dir, policy);
}
