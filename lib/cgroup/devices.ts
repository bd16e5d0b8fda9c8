// The `devices` limit: which device nodes the processes of a cgroup may open (read, write) or
// create (mknod). One vocabulary for both kernels: cgroup v1's devices controller
// (Documentation/admin-guide/cgroup-v1/devices.rst) and, on cgroup v2, a BPF_PROG_TYPE_CGROUP_DEVICE
// program (device-program.ts) that decides as the v1 controller would, as runc and crun do.
//
// The list is the whole policy (OCI linux.resources.devices): it starts from "deny all" and its
// entries apply in order, each changing what the ones before it allowed, into the form the kernel
// keeps — a default (allow or deny all) and exceptions to it, one per device pattern. This file
// validates the list and computes that form; nothing here touches the system.
import * as fs from 'node:fs';
import { invalidArg, NsgroupsError } from '../errors';
import { checkArray, checkBoolean, checkInteger, checkKeys, checkObject, checkString } from '../util/validate';

/** 'c' a character device, 'b' a block device, 'a' both. */
export type DeviceType = 'a' | 'b' | 'c';
/** A device's major or minor number, or '*' for every one. */
export type DeviceNumber = number | '*';

/** One entry of `devices` (the shape of OCI's LinuxDeviceCgroup). */
export interface DeviceRule {
  /** 'c' character device, 'b' block device, 'a' both (the default) */
  type?: DeviceType;
  /** the major number; omitted or '*' matches every major */
  major?: DeviceNumber;
  /** the minor number; omitted or '*' matches every minor */
  minor?: DeviceNumber;
  /** what it allows or denies: a non-empty subset of 'rwm' (read, write, mknod); default 'rwm' */
  access?: string;
  /** true: allow this access; false: deny it */
  allow: boolean;
}

/** An entry as limits() reports it: every field given. */
export interface DeviceRuleInForce {
  /** 'c', 'b', or 'a' for both */
  type: DeviceType;
  /** the major number, or '*' */
  major: DeviceNumber;
  /** the minor number, or '*' */
  minor: DeviceNumber;
  /** a subset of 'rwm' (read, write, mknod) */
  access: string;
  /** allowed (true) or denied (false) */
  allow: boolean;
}

/** Access bits, as the kernel numbers them (DEVCG_ACC_* in security/device_cgroup.c, BPF_DEVCG_ACC_* in uapi/linux/bpf.h). */
export const ACCESS = { m: 1, r: 2, w: 4 } as const;
export const ALL_ACCESS = 7;

/** An exception to the default: a device pattern and the access bits it grants (or takes away). */
export interface DeviceException {
  type: 'b' | 'c';
  major: DeviceNumber;
  minor: DeviceNumber;
  access: number;
}

/** What a list resolves to: the form both kernels hold. */
export interface DevicePolicy {
  defaultAllow: boolean;
  /** one per pattern, sorted by type, major, minor ('*' first) */
  exceptions: DeviceException[];
}

// A dev_t has 12 bits of major and 20 of minor (include/linux/kdev_t.h MINORBITS; glibc's
// makedev keeps 32 + 32, but no driver registers beyond these).
const MAJOR_MAX = 4095;
const MINOR_MAX = 1048575;
const MAX_RULES = 1000;

/**
 * The devices every program expects in /dev — null, zero, full, random, urandom, tty, ptmx and
 * the pseudo-terminals /dev/pts/* — with read, write and mknod, as runc grants by default and as
 * bubblewrap's /dev provides. Spread it into a list: `devices: [...Cgroup.BASIC_DEVICES, {...}]`.
 */
export const BASIC_DEVICES: readonly Readonly<DeviceRuleInForce>[] = Object.freeze(
  (
    [
      [1, 3], // /dev/null
      [1, 5], // /dev/zero
      [1, 7], // /dev/full
      [1, 8], // /dev/random
      [1, 9], // /dev/urandom
      [5, 0], // /dev/tty
      [5, 2], // /dev/ptmx
      [136, '*'], // /dev/pts/* (UNIX98_PTY_MASTER_MAJOR + 8: the first block of slave majors)
    ] as Array<[number, DeviceNumber]>
  ).map(([major, minor]) => Object.freeze({ type: 'c' as const, major, minor, access: 'rwm', allow: true })),
);

export function accessString(bits: number): string {
  return (bits & ACCESS.r ? 'r' : '') + (bits & ACCESS.w ? 'w' : '') + (bits & ACCESS.m ? 'm' : '');
}

function parseAccess(value: unknown, what: string): number {
  const text = checkString(value, what);
  let bits = 0;
  for (const ch of text) {
    if (!(ch in ACCESS)) throw invalidArg(`${what} must be letters of 'rwm' (read, write, mknod), got ${JSON.stringify(text)}`);
    bits |= ACCESS[ch as keyof typeof ACCESS];
  }
  return bits;
}

function parseNumber(value: unknown, what: string, max: number): DeviceNumber {
  if (value === undefined || value === '*') return '*';
  if (typeof value !== 'number') throw invalidArg(`${what} must be a number or '*' (any), got ${JSON.stringify(value)}`);
  return checkInteger(value, what, 0, max);
}

/** "c 1:3 rwm", the line format of devices.allow, devices.deny and devices.list. */
export function deviceLine(type: DeviceType, major: DeviceNumber, minor: DeviceNumber, access: number): string {
  return `${type} ${major}:${minor} ${accessString(access)}`;
}

interface CheckedRule {
  type: DeviceType;
  major: DeviceNumber;
  minor: DeviceNumber;
  access: number;
  allow: boolean;
}

function checkRule(value: unknown, what: string): CheckedRule {
  const r = checkObject(value, what);
  checkKeys(r, ['type', 'major', 'minor', 'access', 'allow'], what, {
    path: "give type, major and minor (ls -l /dev/NAME shows 'c' or 'b' and 'MAJOR, MINOR')",
    permissions: "use 'access' (letters of 'rwm')",
  });
  const type = r.type === undefined ? 'a' : r.type;
  if (type !== 'a' && type !== 'b' && type !== 'c') {
    throw invalidArg(`${what}.type must be 'c' (character), 'b' (block) or 'a' (both), got ${JSON.stringify(type)}`);
  }
  if (r.allow === undefined) throw invalidArg(`${what}.allow is required: true allows the access, false denies it`);
  return {
    type,
    major: parseNumber(r.major, `${what}.major`, MAJOR_MAX),
    minor: parseNumber(r.minor, `${what}.minor`, MINOR_MAX),
    access: r.access === undefined ? ALL_ACCESS : parseAccess(r.access, `${what}.access`),
    allow: checkBoolean(r.allow, `${what}.allow`),
  };
}

const covers = (wide: DeviceNumber, narrow: DeviceNumber) => wide === '*' || wide === narrow;
const meets = (a: DeviceNumber, b: DeviceNumber) => a === '*' || b === '*' || a === b;
const numberKey = (n: DeviceNumber) => (n === '*' ? -1 : n);

function compareExceptions(a: DeviceException, b: DeviceException): number {
  return a.type.localeCompare(b.type) || numberKey(a.major) - numberKey(b.major) || numberKey(a.minor) - numberKey(b.minor);
}

/**
 * Validates `devices` and resolves it into a policy. Each entry, in order:
 * - `{ type: 'a', access: 'rwm' }` with any major and minor resets: allow all or deny all, and
 *   what came before is forgotten;
 * - an entry that goes against the default adds its access to the exception for its pattern
 *   (type 'a' stands for both 'b' and 'c');
 * - an entry that goes with the default takes its access back from the exceptions for its
 *   pattern and the narrower ones inside it. Taking access back from part of a wider exception
 *   (deny c 1:3 after allow c 1:*) is refused: the kernel keeps one exception per pattern and
 *   would silently ignore it (devices.rst; runc refuses it too).
 * Throws ERR_INVALID_ARG.
 */
export function resolveDevices(value: unknown, what: string): DevicePolicy {
  const list = checkArray(value, what);
  if (list.length > MAX_RULES) throw invalidArg(`${what} has ${list.length} entries; at most ${MAX_RULES} are supported`);
  let defaultAllow = false;
  let exceptions = new Map<string, DeviceException & { from: number }>();
  list.forEach((item, i) => {
    const rule = checkRule(item, `${what}[${i}]`);
    if (rule.type === 'a' && rule.major === '*' && rule.minor === '*' && rule.access === ALL_ACCESS) {
      defaultAllow = rule.allow;
      exceptions = new Map();
      return;
    }
    for (const type of rule.type === 'a' ? (['b', 'c'] as const) : [rule.type]) {
      const key = `${type} ${rule.major}:${rule.minor}`;
      if (rule.allow !== defaultAllow) {
        const ex = exceptions.get(key) ?? { type, major: rule.major, minor: rule.minor, access: 0, from: i };
        ex.access |= rule.access;
        ex.from = i;
        exceptions.set(key, ex);
        continue;
      }
      for (const [k, ex] of exceptions) {
        if (!(ex.access & rule.access) || ex.type !== type) continue;
        if (covers(rule.major, ex.major) && covers(rule.minor, ex.minor)) {
          ex.access &= ~rule.access;
          if (!ex.access) exceptions.delete(k);
        } else if (meets(rule.major, ex.major) && meets(rule.minor, ex.minor)) {
          const verb = rule.allow ? 'allow' : 'deny';
          throw invalidArg(
            `${what}[${i}] (${verb} ${deviceLine(type, rule.major, rule.minor, rule.access)}) would ${verb} part of ` +
              `${what}[${ex.from}] (${rule.allow ? 'deny' : 'allow'} ${deviceLine(ex.type, ex.major, ex.minor, ex.access)}): ` +
              'the devices controller keeps one exception per device pattern and cannot cut a hole in a wider one ' +
              '(cgroup-v1/devices.rst); list the devices one by one instead',
          );
        }
      }
    }
  });
  const out = [...exceptions.values()].map(({ type, major, minor, access }) => ({ type, major, minor, access }));
  return { defaultAllow, exceptions: out.sort(compareExceptions) };
}

/** The policy as a list (what limits() reports; create() takes it back unchanged). */
export function policyRules(policy: DevicePolicy): DeviceRuleInForce[] {
  const exceptions = policy.exceptions.map((e) => ({
    type: e.type,
    major: e.major,
    minor: e.minor,
    access: accessString(e.access),
    allow: !policy.defaultAllow,
  }));
  return policy.defaultAllow ? [{ type: 'a', major: '*', minor: '*', access: 'rwm', allow: true }, ...exceptions] : exceptions;
}

export function samePolicy(a: DevicePolicy, b: DevicePolicy): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Parses devices.list (or lines in its format) into exceptions; 'a *:* rwm' means allow all. */
export function parseDeviceLines(text: string): DevicePolicy {
  const exceptions: DeviceException[] = [];
  let defaultAllow = false;
  for (const line of text.split('\n')) {
    const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line.trim());
    if (!m) continue;
    const num = (s: string): DeviceNumber => (s === '*' ? '*' : Number(s));
    if (m[1] === 'a') {
      defaultAllow = true; // devices.list shows an allow-all cgroup as 'a *:* rwm', and nothing else
      continue;
    }
    exceptions.push({ type: m[1] as 'b' | 'c', major: num(m[2]), minor: num(m[3]), access: parseAccess(m[4], 'devices.list') });
  }
  return { defaultAllow, exceptions: exceptions.sort(compareExceptions) };
}

// CAP_SYS_ADMIN is bit 21, CAP_NET_ADMIN 12, CAP_BPF 39 (include/uapi/linux/capability.h).
function effectiveCaps(): bigint {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex ? BigInt(`0x${hex}`) : 0n;
  } catch {
    return 0n;
  }
}

const hasCap = (caps: bigint, bit: number) => (caps & (1n << BigInt(bit))) !== 0n;

/** What the caller lacks to set a device policy that way, or null (the kernel has the last word). */
export function devicePrivilegeProblem(mechanism: 'v1' | 'bpf'): string | null {
  const caps = effectiveCaps();
  if (hasCap(caps, 21)) return null;
  if (mechanism === 'v1') {
    return 'writing devices.allow and devices.deny needs CAP_SYS_ADMIN (security/device_cgroup.c devcgroup_update_access); run as root';
  }
  if (hasCap(caps, 39) && hasCap(caps, 12)) return null;
  return 'loading a cgroup device program (BPF_PROG_TYPE_CGROUP_DEVICE) needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN (bpf(2)); run as root';
}

export function devicePermissionError(problem: string, extra: { path?: string; errno?: number; syscall?: string; cause?: unknown } = {}): NsgroupsError {
  return new NsgroupsError('ERR_PERMISSION', `cannot set a device policy: ${problem}`, extra);
}
