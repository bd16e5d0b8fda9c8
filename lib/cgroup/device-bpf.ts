// A device policy on a cgroup v2 directory: its BPF_PROG_TYPE_CGROUP_DEVICE program
// (device-program.ts) loaded and attached with BPF_F_ALLOW_MULTI — the kernel then runs the
// programs of the cgroup and of every ancestor, and an access needs all of them to allow it, so
// a cgroup can never allow more than its parents (the BPF_F_ALLOW_MULTI comment in
// include/uapi/linux/bpf.h) — replacing the one nsgroups attached before, and read back from the
// kernel for limits(). The program is named, so ours are told apart from others' (systemd's).
import * as fs from 'node:fs';
import { errnoName, fromNodeError, NsgroupsError, unsupported } from '../errors';
import { native } from '../native';
import { decodeDeviceProgram, encodeDeviceProgram } from './device-program';
import { devicePermissionError, devicePrivilegeProblem, type DevicePolicy } from './devices';

/** BPF_OBJ_NAME_LEN is 16 with the NUL: letters, digits, '_' and '.' */
export const DEVICE_PROGRAM_NAME = 'nsgroups_dev';
// No GPL-only helper is called, so any license string loads; this one says what the program is under.
const LICENSE = 'MIT';

const errnoOf = (err: unknown): string => {
  const n = (err as { errno?: number })?.errno;
  return typeof n === 'number' ? errnoName(n) : '';
};

function withDir<T>(dir: string, use: (fd: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    throw fromNodeError(err, `opening the cgroup ${dir}`, { path: dir });
  }
  try {
    return use(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

function loadError(err: unknown): NsgroupsError {
  const code = errnoOf(err);
  // a refusal by the verifier carries its log after 'BPF_PROG_LOAD: ' (src-native/bpf.cc)
  const verifier = /BPF_PROG_LOAD: ./.test((err as Error).message ?? '');
  if (code === 'EPERM' || (code === 'EACCES' && !verifier)) {
    return devicePermissionError(
      devicePrivilegeProblem('bpf') ?? 'the kernel refused to load the program (EPERM): bpf(2) may be restricted here (a seccomp filter, an LSM)',
      {
        errno: (err as { errno?: number }).errno,
        syscall: 'bpf',
        cause: err,
      },
    );
  }
  if (code === 'ENOSYS') return unsupported('device policies on cgroup v2 need the bpf(2) system call, which this kernel lacks (CONFIG_BPF_SYSCALL)');
  if (code === 'EINVAL' && !verifier) {
    return unsupported('this kernel cannot load cgroup device programs (BPF_PROG_TYPE_CGROUP_DEVICE needs CONFIG_CGROUP_BPF, Linux 4.15)');
  }
  return fromNodeError(err, 'loading the device program (bpf BPF_PROG_LOAD)');
}

function load(policy: DevicePolicy): number {
  const n = native();
  try {
    return n.bpfProgLoad(n.bpfConstants.BPF_PROG_TYPE_CGROUP_DEVICE, encodeDeviceProgram(policy), LICENSE, DEVICE_PROGRAM_NAME);
  } catch (err) {
    throw loadError(err);
  }
}

interface Attached {
  id: number;
  fd: number;
  insns: Buffer | null;
}

/** Our programs attached to the cgroup itself (fds open: the caller closes them). */
function ours(dirFd: number): Attached[] {
  const n = native();
  const { ids } = n.bpfProgQuery(dirFd, n.bpfConstants.BPF_CGROUP_DEVICE);
  const out: Attached[] = [];
  try {
    for (const id of ids) {
      let fd: number;
      try {
        fd = n.bpfProgGetFdById(id);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue; // detached meanwhile
        throw err;
      }
      let info;
      try {
        info = n.bpfProgInfo(fd);
      } catch (err) {
        closeQuietly(fd);
        throw err;
      }
      if (info.name === DEVICE_PROGRAM_NAME) out.push({ id, fd, insns: info.insns });
      else closeQuietly(fd);
    }
  } catch (err) {
    for (const o of out) closeQuietly(o.fd);
    throw err;
  }
  return out;
}

function attachError(err: unknown, dir: string): NsgroupsError {
  const code = errnoOf(err);
  if (code === 'EPERM') {
    const problem = devicePrivilegeProblem('bpf');
    return devicePermissionError(
      problem ??
        `the kernel refused to attach to ${dir} (EPERM): a device program is attached there without BPF_F_ALLOW_MULTI, ` +
          'which allows no other program beside it (bpf(2) BPF_PROG_ATTACH)',
      { errno: (err as { errno?: number }).errno, syscall: 'bpf', path: dir, cause: err },
    );
  }
  return fromNodeError(err, `attaching the device program to ${dir} (bpf BPF_PROG_ATTACH)`, { path: dir });
}

/**
 * Puts `policy` in force on the cgroup v2 directory `dir`: loads its program and attaches it in
 * place of ours (BPF_F_REPLACE, atomic, Linux 5.6), else beside it and then detaches the old one
 * — never a moment without a policy. Others' programs are left alone.
 */
export function attachDevicePolicy(dir: string, policy: DevicePolicy): void {
  const n = native();
  const { BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_F_REPLACE } = n.bpfConstants;
  const prog = load(policy);
  try {
    withDir(dir, (dirFd) => {
      let old: Attached[];
      try {
        old = ours(dirFd);
      } catch (err) {
        throw fromNodeError(err, `listing the device programs of ${dir} (bpf BPF_PROG_QUERY)`, { path: dir });
      }
      try {
        if (old.length === 1) {
          try {
            n.bpfProgAttach(dirFd, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI | BPF_F_REPLACE, old[0].fd);
            return;
          } catch (err) {
            // EINVAL: no BPF_F_REPLACE before 5.6; ENOENT: it was detached meanwhile
            if (!['EINVAL', 'ENOENT'].includes(errnoOf(err))) throw attachError(err, dir);
          }
        }
        try {
          n.bpfProgAttach(dirFd, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, -1);
        } catch (err) {
          throw attachError(err, dir);
        }
        for (const o of old) {
          try {
            n.bpfProgDetach(dirFd, o.fd, BPF_CGROUP_DEVICE);
          } catch (err) {
            if (errnoOf(err) !== 'ENOENT') throw fromNodeError(err, `detaching the old device program from ${dir}`, { path: dir });
          }
        }
      } finally {
        for (const o of old) closeQuietly(o.fd);
      }
    });
  } finally {
    closeQuietly(prog);
  }
}

/**
 * The policy in force on `dir` from the program nsgroups attached, as the kernel reports it:
 * undefined when none is attached; null when one is but the kernel withholds its instructions
 * (kernel.kptr_restrict=2) or they are not ours to read.
 */
export function readDevicePolicy(dir: string): DevicePolicy | null | undefined {
  return withDir(dir, (dirFd) => {
    let found: Attached[];
    try {
      found = ours(dirFd);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EPERM' || code === 'EACCES' || code === 'ENOSYS' || code === 'EINVAL') return null; // not ours to see
      throw fromNodeError(err, `listing the device programs of ${dir} (bpf BPF_PROG_QUERY)`, { path: dir });
    }
    for (const f of found) closeQuietly(f.fd);
    if (!found.length) return undefined;
    const last = found[found.length - 1]; // the newest (attach order)
    return last.insns ? decodeDeviceProgram(last.insns) : null;
  });
}

/** The ids of our programs on `dir` (BPF_PROG_QUERY), for tests and `nsgroups ls`. */
export function devicePrograms(dir: string): number[] {
  return withDir(dir, (dirFd) => {
    const found = ours(dirFd);
    for (const f of found) closeQuietly(f.fd);
    return found.map((f) => f.id);
  });
}

/** Can this caller load a cgroup device program? A trivial one is loaded and dropped. */
export function probeDeviceBpf(): { supported: boolean; reason?: string } {
  try {
    fs.closeSync(load({ defaultAllow: true, exceptions: [] }));
    return { supported: true, reason: 'a BPF_PROG_TYPE_CGROUP_DEVICE program on the cgroup2 directory' };
  } catch (err) {
    return { supported: false, reason: (err as Error).message };
  }
}
