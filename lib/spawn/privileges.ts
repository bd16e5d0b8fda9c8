// Least privilege in a sandbox (docs/security.md): the options that say what the command may do
// — capabilities, rlimits, masked and read-only kernel paths, the session keyring — checked and
// resolved here; the child applies them last before execve (src-native/child_privs.c).
import * as path from 'node:path';
import { invalidArg } from '../errors';
import { parseByteSize } from '../util/units';
import { checkArray, checkInteger, checkKeys, checkObject, checkOneOf, checkString, closest } from '../util/validate';

/** capabilities(7), by number: CAP_CHOWN is 0. */
export const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;
/** A capability's name as in capabilities(7), e.g. 'CAP_NET_BIND_SERVICE'. */
export type CapabilityName = (typeof CAPABILITIES)[number];

/** The capabilities a sandboxed command keeps: none by default; 'all' keeps what it would have. */
export type CapabilitiesOption = readonly CapabilityName[] | 'all';

/** Every capability this table knows, as a mask (the kernel may know fewer: the child stops at its last). */
export const ALL_CAPABILITIES = CAPABILITIES.reduce((mask, _c, i) => mask + 2 ** i, 0);

/** The mask of capabilities to keep. */
export function resolveCapabilities(value: unknown): number {
  if (value === 'all') return ALL_CAPABILITIES;
  let mask = 0;
  for (const [i, entry] of checkArray(value, 'options.capabilities').entries()) {
    const what = `options.capabilities[${i}]`;
    const name = checkString(entry, what);
    const at = CAPABILITIES.indexOf(name as CapabilityName);
    if (at < 0) {
      const guess = closest(name.toUpperCase().startsWith('CAP_') ? name.toUpperCase() : `CAP_${name.toUpperCase()}`, CAPABILITIES, 3);
      throw invalidArg(
        `${what}: '${name}' is not a capability${guess.length ? ` (did you mean ${guess.map((g) => `'${g}'`).join(', ')}?)` : ''}; names as in capabilities(7), e.g. 'CAP_NET_BIND_SERVICE', or 'all'`,
      );
    }
    mask += (mask / 2 ** at) % 2 >= 1 ? 0 : 2 ** at;
  }
  return mask;
}

/** Names of the capabilities in a mask, for messages. */
export function capabilityNames(mask: number): CapabilityName[] {
  return CAPABILITIES.filter((_c, i) => Math.floor(mask / 2 ** i) % 2 === 1);
}

// setrlimit(2) resources (asm-generic/resource.h: the same numbers on x86_64 and aarch64), with
// the unit a value is given in
const RLIMITS = {
  cpu: { resource: 0, unit: 'seconds' },
  fsize: { resource: 1, unit: 'bytes' },
  data: { resource: 2, unit: 'bytes' },
  stack: { resource: 3, unit: 'bytes' },
  core: { resource: 4, unit: 'bytes' },
  rss: { resource: 5, unit: 'bytes' },
  nproc: { resource: 6, unit: 'count' },
  nofile: { resource: 7, unit: 'count' },
  memlock: { resource: 8, unit: 'bytes' },
  as: { resource: 9, unit: 'bytes' },
  locks: { resource: 10, unit: 'count' },
  sigpending: { resource: 11, unit: 'count' },
  msgqueue: { resource: 12, unit: 'bytes' },
  nice: { resource: 13, unit: 'count' },
  rtprio: { resource: 14, unit: 'count' },
  rttime: { resource: 15, unit: 'microseconds' },
} as const;
/**
 * A setrlimit(2) resource, RLIMIT_ without the prefix, lower case. Its unit: cpu seconds; fsize,
 * data, stack, core, rss, memlock, as, msgqueue bytes; rttime microseconds; the others a count.
 */
export type RlimitName = keyof typeof RLIMITS;
export const RLIMIT_NAMES = Object.keys(RLIMITS) as RlimitName[];

/** A limit: one value for soft and hard, or both; bytes may be '16M'; 'unlimited' (or 'max') is none. */
export type RlimitValue =
  | number
  | string
  | {
      /** the limit the kernel enforces (SIGXCPU for cpu, SIGXFSZ for fsize); at most hard */
      soft: number | string;
      /** the ceiling the process may raise its soft limit to */
      hard: number | string;
    };
/**
 * The `rlimits` option: resource limits of the command (setrlimit(2)), by name. In a sandbox
 * `core` defaults to 0; `cpuTime` sets `cpu` unless it is given here. A soft limit above the hard
 * one, or an unknown name, is ERR_INVALID_ARG.
 * @example
 * spawn('make', [], { namespaces: ['user'], rlimits: { nofile: 256, fsize: '16M', cpu: { soft: 2, hard: 3 } } });
 */
export type RlimitsOption = Partial<Record<RlimitName, RlimitValue>>;

/** RLIM_INFINITY as the plan carries it (src-native/child.h: 2^53-1 and up). */
export const RLIM_INFINITY = Number.MAX_SAFE_INTEGER;

export interface ResolvedRlimit {
  name: RlimitName;
  resource: number;
  soft: number;
  hard: number;
}

function limitValue(name: RlimitName, value: unknown, what: string): number {
  if (value === 'unlimited' || value === 'max' || value === 'infinity') return RLIM_INFINITY;
  if (RLIMITS[name].unit === 'bytes') {
    const size = parseByteSize(value, what);
    return size === 'max' ? RLIM_INFINITY : size;
  }
  return checkInteger(value, what, 0, RLIM_INFINITY);
}

/** `defaults` apply where the option says nothing (a sandbox's core: 0). */
export function resolveRlimits(value: unknown, defaults: RlimitsOption): ResolvedRlimit[] {
  const given = value === undefined ? {} : checkObject(value, 'options.rlimits');
  checkKeys(given, RLIMIT_NAMES, 'options.rlimits');
  const all = { ...defaults, ...given } as Record<string, unknown>;
  return RLIMIT_NAMES.filter((name) => all[name] !== undefined).map((name) => {
    const what = `options.rlimits.${name}`;
    const v = all[name];
    let soft: number, hard: number;
    if (typeof v === 'object' && v !== null) {
      const o = checkObject(v, what);
      checkKeys(o, ['soft', 'hard'], what);
      soft = limitValue(name, o.soft, `${what}.soft`);
      hard = limitValue(name, o.hard, `${what}.hard`);
      if (soft > hard) throw invalidArg(`${what}: soft (${o.soft}) is above hard (${o.hard}); the kernel refuses that`);
    } else {
      soft = hard = limitValue(name, v, what);
    }
    return { name, resource: RLIMITS[name].resource, soft, hard };
  });
}

/** runc's and Docker's defaults: kernel files a sandbox has no business reading. */
export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/sys/devices/virtual/tpm',
] as const;

/** runc's defaults: kernel files a sandbox may read but never change. */
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;

export function resolvePathList(value: unknown, fallback: readonly string[], what: string): string[] {
  if (value === undefined) return [...fallback];
  return checkArray(value, what).map((entry, i) => {
    const p = checkString(entry, `${what}[${i}]`);
    if (!path.isAbsolute(p)) throw invalidArg(`${what}[${i}] must be an absolute path inside the sandbox, got '${p}'`);
    const normal = path.posix.normalize(p);
    if (normal === '/') throw invalidArg(`${what}[${i}] is the root itself`);
    if (normal.includes('\n')) throw invalidArg(`${what}[${i}] must not contain a newline`);
    return normal;
  });
}

/** The `keyring` option: 'new' (the default in a sandbox) a session keyring of its own (keyctl(2) KEYCTL_JOIN_SESSION_KEYRING), 'inherit' the caller's. */
export type KeyringOption = 'new' | 'inherit';

export function resolveKeyring(value: unknown, sandboxed: boolean): boolean {
  if (value === undefined) return sandboxed;
  return checkOneOf(value, ['new', 'inherit'] as const, 'options.keyring') === 'new';
}
