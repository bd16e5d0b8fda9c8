// spawn's `seccomp` option: checked and turned into plain data (a ResolvedSeccomp) before
// anything is created; compile.ts turns that into the filter the child installs.
import { invalidArg } from '../errors';
import { checkArray, checkBoolean, checkInteger, checkKeys, checkObject, closest, checkString } from '../util/validate';
import { KNOWN_SYSCALLS } from './arch';
import { checkProgram, decode, MAX_ERRNO, SOCK_FILTER_SIZE } from './bpf';
import { ERRNOS } from './errnos';
import { DEFAULT_DENY, ESSENTIAL_SYSCALLS, SyscallRule, UNFILTERED_SYSCALLS } from './profile';

/**
 * The `seccomp` option as rules: the default profile (docs/seccomp.md), changed.
 * @example
 * spawn('keyctl', ['show'], { namespaces: ['user'], seccomp: { allow: ['keyctl'], deny: ['mincore'], errno: 'EPERM', log: true } });
 */
export interface SeccompRules {
  /** system calls to refuse as well as the default profile's */
  deny?: string[];
  /** system calls to take out of the default profile (allowed whatever their arguments) */
  allow?: string[];
  /** what a refused call returns: an errno name ('EPERM') or number (1..4095); default 'EPERM' */
  errno?: string | number;
  /** ask the kernel to log every refused call (SECCOMP_FILTER_FLAG_LOG): audit log, or the kernel log without auditd */
  log?: boolean;
}

/** 'default': the default profile; 'none': no filter; rules: the default profile changed; a Buffer: your own filter. */
export type SeccompOption = 'default' | 'none' | SeccompRules | Buffer;

/** A profile: system call name → rule, for every architecture (names one lacks are left out there). */
export interface SeccompProfile {
  kind: 'profile';
  rules: Readonly<Record<string, SyscallRule>>;
  /** errno of refused calls, 1..4095 (clone3's ENOSYS excepted) */
  errno: number;
  log: boolean;
}

/** A filter the caller wrote: an array of struct sock_filter, installed as it is, with no flags. */
export interface SeccompRawFilter {
  kind: 'raw';
  filter: Buffer;
}

export type ResolvedSeccomp = SeccompProfile | SeccompRawFilter;

// the kernel's names, and glibc's (and Node's) ENOTSUP, which the kernel calls EOPNOTSUPP
const ERRNO_NUMBERS: Readonly<Record<string, number>> = { ...ERRNOS, ENOTSUP: ERRNOS.EOPNOTSUPP };
const errnoNames = new Map<number, string>();
for (const [name, n] of Object.entries(ERRNOS)) if (!errnoNames.has(n)) errnoNames.set(n, name);

/** 'EPERM' for 1; 'errno 4000' for a number without a name. */
export function errnoLabel(n: number): string {
  return errnoNames.get(n) ?? `errno ${n}`;
}

/** The default profile as plain data. */
export function defaultProfile(): SeccompProfile {
  return { kind: 'profile', rules: Object.fromEntries(DEFAULT_DENY.map((e) => [e.name, structuredClone(e.rule)])), errno: ERRNO_NUMBERS.EPERM, log: false };
}

/**
 * Checks `value` and resolves it: null for 'none'. `undefined` means 'default': the caller
 * decides where undefined should mean 'none' instead (a spawn without a sandbox, whose setuid
 * programs must keep working: a filter needs no_new_privs).
 */
let sharedDefault: SeccompProfile | undefined;

export function resolveSeccomp(value: unknown, what = 'options.seccomp'): ResolvedSeccomp | null {
  // one frozen default for every spawn: compile.ts compiles each profile object once
  if (value === undefined || value === 'default') return (sharedDefault ??= deepFreeze(defaultProfile()));
  if (value === 'none') return null;
  if (value instanceof Uint8Array) return resolveRaw(value, what);
  if (typeof value === 'string') {
    const guess = closest(value, ['default', 'none'], 1)[0];
    throw invalidArg(
      `${what} must be 'default', 'none', { deny, allow, errno, log } or a Buffer of struct sock_filter, got the string ${JSON.stringify(value)}${guess ? ` (did you mean '${guess}'?)` : ''}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArg(
      `${what} must be 'default', 'none', { deny, allow, errno, log } or a Buffer of struct sock_filter, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  return resolveRules(checkObject(value, what), what);
}

function resolveRules(obj: Record<string, unknown>, what: string): SeccompProfile {
  checkKeys(obj, ['deny', 'allow', 'errno', 'log'], what);
  const profile = defaultProfile();
  const rules: Record<string, SyscallRule> = { ...profile.rules };
  const deny = syscallNames(obj.deny, `${what}.deny`);
  const allow = syscallNames(obj.allow, `${what}.allow`);
  for (const name of deny) {
    if (allow.includes(name)) throw invalidArg(`${what}: '${name}' is in both deny and allow; keep it in one`);
    if (ESSENTIAL_SYSCALLS.includes(name)) {
      throw invalidArg(
        `${what}.deny: '${name}' cannot be denied: the sandbox needs it after the filter is installed (to exec its command or report why it could not)`,
      );
    }
    if (UNFILTERED_SYSCALLS.includes(name)) {
      throw invalidArg(`${what}.deny: '${name}' cannot be denied: the kernel lets it past every seccomp filter (it serves uprobes)`);
    }
    // A call the profile already handles keeps its rule (clone its CLONE_NEWUSER check, clone3 ENOSYS).
    rules[name] ??= { kind: 'deny' };
  }
  for (const name of allow) delete rules[name];
  return {
    kind: 'profile',
    rules,
    errno: obj.errno === undefined ? profile.errno : resolveErrno(obj.errno, `${what}.errno`),
    log: obj.log === undefined ? false : checkBoolean(obj.log, `${what}.log`),
  };
}

function syscallNames(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  const names = checkArray(value, what).map((v, i) => checkString(v, `${what}[${i}]`));
  names.forEach((name, i) => {
    if (KNOWN_SYSCALLS.includes(name)) return;
    const near = closest(name, KNOWN_SYSCALLS, 3);
    const containing = near.length ? [] : KNOWN_SYSCALLS.filter((k) => k.includes(name)).slice(0, 5);
    const hint = [...near, ...containing];
    throw invalidArg(
      `${what}[${i}]: '${name}' is not a system call on x86_64 or aarch64` +
        (hint.length ? ` (did you mean ${hint.map((h) => `'${h}'`).join(', ')}?)` : " (names are the kernel's, as in syscalls(2): 'openat', 'clone3')"),
    );
  });
  return [...new Set(names)];
}

function resolveErrno(value: unknown, what: string): number {
  if (typeof value === 'number') return checkInteger(value, what, 1, MAX_ERRNO);
  const name = checkString(value, what);
  const n = Object.prototype.hasOwnProperty.call(ERRNO_NUMBERS, name) ? ERRNO_NUMBERS[name] : undefined;
  if (n === undefined) {
    const near = closest(name.toUpperCase(), Object.keys(ERRNO_NUMBERS), 3);
    throw invalidArg(
      `${what}: '${name}' is not an errno name${near.length ? ` (did you mean ${near.map((h) => `'${h}'`).join(', ')}?)` : " (e.g. 'EPERM', 'EACCES', 'ENOSYS')"}`,
    );
  }
  return n;
}

function resolveRaw(value: Uint8Array, what: string): SeccompRawFilter {
  if (value.byteLength % SOCK_FILTER_SIZE !== 0) {
    throw invalidArg(`${what}: a raw filter is an array of struct sock_filter (8 bytes each), got ${value.byteLength} bytes`);
  }
  const problem = checkProgram(decode(value));
  if (problem) throw invalidArg(`${what}: the kernel would refuse this filter: ${problem}`);
  return { kind: 'raw', filter: Buffer.from(value) };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
