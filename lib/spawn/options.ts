// spawn()'s options: the public types, and their validation into a ResolvedSpawn (plain data,
// every default applied, every implication explicit). Only the join targets are opened here,
// last, once everything else is known to be valid.
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import type { Stream } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { invalidArg } from '../errors';
import { checkArray, checkBoolean, checkId, checkInteger, checkKeys, checkNumber, checkObject, checkOneOf, checkString, type Plain } from '../util/validate';
import { outsideOf, planIdMaps, resolveIdMap, type IdMapEntry, type IdMaps } from './idmap';
import { checkJoins, closeJoins, openJoins, type JoinTarget, type OpenJoin } from './joins';
import { resolveMounts, type MountSpec, type ResolvedMount } from './mounts';
import { NAMESPACE_TYPES, type NamespaceType } from '../namespace/kinds';
import { checkOverlayInUserns, resolveRootfs, type ResolvedRootfs } from './rootfs';
import type { OverlayMount } from '../overlay/overlay-mount';
import { Cgroup } from '../cgroup/cgroup';
import { resolveSeccomp, type ResolvedSeccomp, type SeccompOption } from '../seccomp/index';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  capabilityNames,
  resolveCapabilities,
  resolveKeyring,
  resolvePathList,
  resolveRlimits,
  type CapabilitiesOption,
  type KeyringOption,
  type ResolvedRlimit,
  type RlimitsOption,
} from './privileges';

export { NAMESPACE_TYPES, type NamespaceType };

/**
 * A stdio entry by name: 'pipe' a new pipe whose other end the parent holds (a stream on the
 * SandboxProcess), 'inherit' the parent's own fd (fds 0-2 only), 'ignore' /dev/null.
 */
export type StdioName = 'pipe' | 'inherit' | 'ignore';
/**
 * 'pipe' | 'inherit' | 'ignore', a file descriptor, or a stream that has one (process.stdin, a
 * net.Socket, another sandbox's or a child_process's stdout: child_process takes any Stream, and
 * so does this type; one without a descriptor is ERR_INVALID_ARG).
 */
export type StdioEntry =
  | StdioName
  | number
  | {
      /** a file descriptor of the parent's, handed to the command */
      fd: number;
    }
  | Stream
  | {
      /** the handle of a Node stream (net.Socket, a pipe, a TTY), whose fd is handed to the command */
      _handle?: {
        /** the handle's file descriptor */
        fd?: number;
      };
    }
  | null
  | undefined;

/**
 * The identity the command runs as inside the sandbox (the `user` option).
 * @example
 * // the caller is mapped to uid and gid 1000 inside (the default uidMap/gidMap)
 * spawn('id', [], { namespaces: ['user'], user: { uid: 1000, gid: 1000 } });
 */
export interface UserOption {
  /** uid inside the sandbox (default 0 in a new or joined user namespace) */
  uid?: number;
  /** gid inside the sandbox (default: the same as uid in a user namespace, else unchanged) */
  gid?: number;
  /** supplementary groups inside (default: none, where the kernel allows dropping them) */
  groups?: readonly number[];
}

/**
 * The `network` option: 'loopback' a new net namespace with `lo` up (the default with a net
 * namespace), 'none' a new net namespace with no interface up, 'host' the host's network (the
 * default without one).
 */
export type NetworkOption = 'none' | 'loopback' | 'host';

/**
 * The clock offsets of a new time namespace (time_namespaces(7)), in seconds; each defaults to 0.
 * @example
 * spawn('cat', ['/proc/uptime'], { namespaces: ['user', 'time'], timeOffsets: { boottime: 86_400 } });
 */
export interface TimeOffsets {
  /** seconds added to CLOCK_MONOTONIC inside (may be fractional or negative) */
  monotonic?: number;
  /** seconds added to CLOCK_BOOTTIME inside (may be fractional or negative) */
  boottime?: number;
}

/**
 * The options of spawn() (and run(), a pool, a Sandbox's spawn): child_process.spawn's own, plus
 * the sandbox's design. With none of the sandbox options spawn() creates no namespace. An unknown
 * key, or a child_process option that has no meaning here (shell, detached, uid, gid…), is
 * ERR_INVALID_ARG.
 * @example
 * const options: SpawnOptions = { namespaces: ['user', 'pid'], hostname: 'box', network: 'none', timeout: 10_000 };
 * await spawn('sh', ['-c', 'hostname'], options).exited;
 */
export interface SpawnOptions {
  /** working directory of the command (default: inherited) */
  cwd?: string | URL;
  /** environment of the command (default: process.env) */
  env?: NodeJS.ProcessEnv;
  /** argv[0] of the command (default: the command as given) */
  argv0?: string;
  /**
   * the command's fds 0, 1, 2 (and more): one name for all three, or one entry per fd (at most 64);
   * default 'pipe' for fds 0-2, 'ignore' past them
   */
  stdio?: StdioName | readonly StdioEntry[];
  /** namespaces to create; none by default (then spawn is child_process.spawn with pidfds) */
  namespaces?: readonly NamespaceType[];
  /** existing namespaces to enter: /proc/PID/ns/TYPE paths, pinned files or Namespace objects */
  join?: readonly JoinTarget[];
  /** identity inside; with a new user namespace the caller is mapped to it (root by default) */
  user?: UserOption;
  /** uid ranges of a new user namespace (default: the caller's uid mapped to user.uid) */
  uidMap?: readonly IdMapEntry[];
  /** gid ranges of a new user namespace (default: the caller's gid mapped to user.gid) */
  gidMap?: readonly IdMapEntry[];
  /** hostname inside, at most 64 characters (implies a uts namespace); default: the host's */
  hostname?: string;
  /** 'loopback' (default with a net namespace) or 'none' imply a net namespace; 'host' keeps the host's */
  network?: NetworkOption;
  /** mounts in the sandbox's own mount namespace (implied); without a rootfs targets must exist */
  mounts?: readonly MountSpec[];
  /** born inside this cgroup (CLONE_INTO_CGROUP, or it moves itself in before anything else); default: the caller's cgroup */
  cgroup?: Cgroup;
  /** the sandbox's root: a directory, or an OverlayMount mounted inside the sandbox (implies mount) */
  rootfs?: string | OverlayMount;
  /** with a rootfs: make it read-only (recursively); /proc, /dev, /tmp and mounts stay as they are. Default false */
  readonly?: boolean;
  /** with a rootfs: /sys, read-only (a fresh sysfs with a new net namespace, else the host's). Default false */
  sysfs?: boolean;
  /** clock offsets of a new time namespace ('time' in namespaces) */
  timeOffsets?: TimeOffsets;
  /** with a new pid namespace: a minimal init as pid 1 (default true) */
  init?: boolean;
  /** SIGKILL the command when the spawning thread (the Node process or its worker) dies (default true) */
  dieWithParent?: boolean;
  /** run the command in a new session, without a controlling terminal (default true) */
  newSession?: boolean;
  /** PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant nothing (default: true when any namespace is created or joined) */
  noNewPrivileges?: boolean;
  /** milliseconds after which the command gets killSignal (as in child_process); default: none */
  timeout?: number;
  /** aborting it sends killSignal and makes the spawn end with an AbortError (as in child_process) */
  signal?: AbortSignal;
  /** the signal for timeout and abort (default 'SIGTERM') */
  killSignal?: NodeJS.Signals | number;
  /**
   * ms after killSignal (timeout, abort, maxBuffer) to send SIGKILL, as `timeout --kill-after`;
   * default 2000; false: never
   */
  killAfter?: number | false;
  /**
   * seconds of CPU for the whole sandbox: the cgroup's CPU usage watched by the parent (without a
   * cgroup, the command's own with the children it waited for), plus RLIMIT_CPU per process.
   * Over cpuTime + extraTime the command gets SIGKILL; over cpuTime the verdict is 'cpuTime'.
   */
  cpuTime?: number;
  /** seconds of CPU allowed beyond cpuTime before the kill (isolate's --extra-time); default 0 */
  extraTime?: number;
  /**
   * capabilities the command keeps, in every set (capabilities(7) names); default in a sandbox:
   * none, root inside or not; 'all' keeps what it would have. Without a sandbox the caller's.
   */
  capabilities?: CapabilitiesOption;
  /** the system-call filter: 'default' in a sandbox (docs/seccomp.md), 'none', rules, or a raw filter */
  seccomp?: SeccompOption;
  /** paths hidden from the command (default in a sandbox: runc's list under /proc and /sys) */
  maskedPaths?: readonly string[];
  /** paths the command may read but not change (default in a sandbox: runc's list, and /sys without a rootfs) */
  readonlyPaths?: readonly string[];
  /** resource limits (setrlimit(2)) of the command; in a sandbox core defaults to 0 */
  rlimits?: RlimitsOption;
  /** 'new' (default in a sandbox): a session keyring of its own; 'inherit': the caller's */
  keyring?: KeyringOption;
}

export const SPAWN_OPTION_KEYS = [
  'cwd',
  'env',
  'argv0',
  'stdio',
  'namespaces',
  'join',
  'user',
  'uidMap',
  'gidMap',
  'hostname',
  'network',
  'mounts',
  'cgroup',
  'rootfs',
  'readonly',
  'sysfs',
  'timeOffsets',
  'init',
  'dieWithParent',
  'newSession',
  'noNewPrivileges',
  'timeout',
  'signal',
  'killSignal',
  'killAfter',
  'cpuTime',
  'extraTime',
  'capabilities',
  'seccomp',
  'maskedPaths',
  'readonlyPaths',
  'rlimits',
  'keyring',
] as const;

/** child_process options that make no sense here, with what to do instead. */
const UNSUPPORTED_NOTES: Record<string, string> = {
  shell: "nsgroups never runs a shell for you; spawn('sh', ['-c', command]) if you want one",
  detached: 'the command always gets its own session (newSession) and dies with its parent unless dieWithParent is false',
  uid: 'use user: { uid } (the identity inside the sandbox)',
  gid: 'use user: { gid } (the identity inside the sandbox)',
  windowsHide: 'nsgroups runs on Linux only',
  windowsVerbatimArguments: 'nsgroups runs on Linux only',
  serialization: 'there is no IPC channel; use stdio pipes',
};

/** 'fd' from a stream: `shared` is the stream, which the parent stops reading once the child has it. */
export type ResolvedStdio = { kind: 'pipe'; childReads: boolean } | { kind: 'fd'; fd: number; shared?: object } | { kind: 'null' };

export interface ResolvedSpawn {
  file: string;
  args: string[];
  argv: string[];
  /** null: the caller's own environment, as it is at spawn */
  envp: string[] | null;
  /** PATH walk candidates, resolved by the child in the sandbox's view */
  candidates: string[];
  cwd: string | null;
  stdio: ResolvedStdio[];
  /** namespaces to create */
  namespaces: Set<NamespaceType>;
  /** namespaces to enter, opened (the spawn closes the fds) */
  joins: OpenJoin[];
  /** identity inside: ids to switch to (null: keep the caller's) */
  user: { uid: number; gid: number; groups: number[] | null } | null;
  /** the maps of a new user namespace */
  idMaps: IdMaps | null;
  hostname: string | null;
  network: NetworkOption;
  mounts: ResolvedMount[];
  rootfs: ResolvedRootfs | null;
  cgroup: Cgroup | null;
  /** [seconds, nanoseconds] per clock, for a new time namespace */
  timeOffsets: { monotonic: [number, number]; boottime: [number, number] } | null;
  init: boolean;
  dieWithParent: boolean;
  newSession: boolean;
  noNewPrivileges: boolean;
  timeout: number | null;
  signal: AbortSignal | null;
  killSignal: NodeJS.Signals | number;
  /** ms from killSignal to SIGKILL, or null: never */
  killAfter: number | null;
  /** the cpuTime limit and the kill threshold (cpuTime + extraTime), ms; null: none */
  cpuTime: { limitMs: number; killMs: number } | null;
  /** the capabilities kept (a mask), or null to leave the caller's as they are */
  keepCapabilities: number | null;
  seccomp: ResolvedSeccomp | null;
  /** applied in the sandbox's own mount namespace (empty without one) */
  maskedPaths: string[];
  readonlyPaths: string[];
  rlimits: ResolvedRlimit[];
  newKeyring: boolean;
}

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

function resolveStdio(value: unknown): ResolvedStdio[] {
  let entries: unknown[];
  if (value === undefined || value === null) entries = ['pipe', 'pipe', 'pipe'];
  else if (typeof value === 'string') entries = [value, value, value];
  else entries = checkArray(value, 'options.stdio').slice();
  if (entries.length > 64) throw invalidArg('options.stdio has more than 64 entries');
  while (entries.length < 3) entries.push(undefined);
  return entries.map((entry, i) => {
    const what = `options.stdio[${i}]`;
    if (entry === undefined || entry === null) entry = i < 3 ? 'pipe' : 'ignore';
    if (typeof entry === 'string') {
      const name = checkOneOf(entry, ['pipe', 'inherit', 'ignore'] as const, what);
      if (name === 'pipe') return { kind: 'pipe', childReads: i === 0 };
      if (name === 'ignore') return { kind: 'null' };
      if (i > 2) throw invalidArg(`${what}: 'inherit' applies to fds 0-2 only; pass the fd number instead`);
      return { kind: 'fd', fd: i };
    }
    if (typeof entry === 'number') return { kind: 'fd', fd: checkInteger(entry, what, 0, 0x7fffffff) };
    if (typeof entry === 'object') {
      const obj = entry as { fd?: unknown; _handle?: { fd?: unknown } };
      const fd = typeof obj.fd === 'number' ? obj.fd : obj._handle?.fd;
      if (typeof fd === 'number' && fd >= 0) return { kind: 'fd', fd, shared: entry as object };
      throw invalidArg(`${what}: a stream must have an underlying file descriptor (an fs or net stream that is open)`);
    }
    throw invalidArg(`${what} must be 'pipe', 'inherit', 'ignore', a file descriptor or a stream`);
  });
}

/** envp null: the caller's environment as it is when the child is made (the addon copies it). */
function resolveEnv(value: unknown): { envp: string[] | null; pathVar: string } {
  // process.env is the C environment behind a slow accessor: not copied key by key here
  if (value === undefined) return { envp: null, pathVar: process.env.PATH ?? DEFAULT_PATH };
  const env = checkObject(value, 'options.env');
  const envp: string[] = [];
  for (const [key, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (key.length === 0 || key.includes('=') || key.includes('\0')) {
      throw invalidArg(`options.env: invalid variable name ${JSON.stringify(key)}`);
    }
    const str = String(v);
    if (str.includes('\0')) throw invalidArg(`options.env.${key} must not contain NUL bytes`);
    envp.push(`${key}=${str}`);
  }
  const pathVar = typeof env.PATH === 'string' ? env.PATH : DEFAULT_PATH;
  return { envp, pathVar };
}

/** execvp's candidates: a command with a slash is taken as is, else each PATH entry. */
function candidatesFor(file: string, pathVar: string): string[] {
  if (file.includes('/')) return [file];
  const dirs = pathVar.split(':').slice(0, 128);
  return dirs.map((dir) => (dir === '' ? file : `${dir.replace(/\/+$/, '')}/${file}`));
}

/** Under a rootfs, cwd is a path of the sandbox's root ('/' by default); else of ours. */
function resolveCwd(value: unknown, underRootfs: boolean): string | null {
  if (value === undefined) return underRootfs ? '/' : null;
  const cwd = value instanceof URL ? fileURLToPath(value) : checkString(value, 'options.cwd');
  return underRootfs ? path.posix.resolve('/', cwd) : path.resolve(cwd);
}

function resolveNamespaces(value: unknown): Set<NamespaceType> {
  const set = new Set<NamespaceType>();
  if (value === undefined) return set;
  for (const [i, ns] of checkArray(value, 'options.namespaces').entries()) {
    const type = checkOneOf(ns, NAMESPACE_TYPES, `options.namespaces[${i}]`);
    if (set.has(type)) throw invalidArg(`options.namespaces lists '${type}' twice`);
    set.add(type);
  }
  return set;
}

function resolveUser(value: unknown, userns: boolean): ResolvedSpawn['user'] {
  if (value === undefined) return userns ? { uid: 0, gid: 0, groups: null } : null;
  const user = checkObject(value, 'options.user');
  checkKeys(user, ['uid', 'gid', 'groups'], 'options.user');
  const uid = user.uid === undefined ? (userns ? 0 : process.geteuid!()) : checkId(user.uid, 'options.user.uid');
  const gid = user.gid === undefined ? (userns ? uid : process.getegid!()) : checkId(user.gid, 'options.user.gid');
  let groups: number[] | null = null;
  if (user.groups !== undefined) {
    groups = checkArray(user.groups, 'options.user.groups').map((g, i) => checkId(g, `options.user.groups[${i}]`));
    if (groups.length > 65536) throw invalidArg('options.user.groups has more than 65536 entries');
  }
  return { uid, gid, groups };
}

function resolveTimeOffsets(value: unknown): ResolvedSpawn['timeOffsets'] {
  const o = checkObject(value, 'options.timeOffsets');
  checkKeys(o, ['monotonic', 'boottime'], 'options.timeOffsets');
  // time_namespaces(7): an offset must keep the clock's value representable; a century is plenty
  const split = (v: unknown, what: string): [number, number] => {
    if (v === undefined) return [0, 0];
    const secs = checkNumber(v, what, -3.2e9, 3.2e9);
    const whole = Math.floor(secs);
    return [whole, Math.round((secs - whole) * 1e9)];
  };
  return { monotonic: split(o.monotonic, 'options.timeOffsets.monotonic'), boottime: split(o.boottime, 'options.timeOffsets.boottime') };
}

export function resolveSpawn(command: unknown, args: unknown, options: unknown): ResolvedSpawn {
  const file = checkString(command, 'command');
  const argList = (args === undefined || args === null ? [] : checkArray(args, 'args')).map((a, i) => checkString(a, `args[${i}]`, { allowEmpty: true }));
  const o: Plain = options === undefined ? {} : checkObject(options, 'options');
  checkKeys(o, SPAWN_OPTION_KEYS, 'spawn options', UNSUPPORTED_NOTES);

  const namespaces = resolveNamespaces(o.namespaces);
  const joinTargets = checkJoins(o.join);
  const hostname = o.hostname === undefined ? null : checkString(o.hostname, 'options.hostname', { maxLength: 64 });
  const network = o.network === undefined ? undefined : checkOneOf(o.network, ['none', 'loopback', 'host'] as const, 'options.network');
  const underRootfs = o.rootfs !== undefined;
  const mounts = resolveMounts(o.mounts, underRootfs);
  const readonly = o.readonly === undefined ? false : checkBoolean(o.readonly, 'options.readonly');
  const sysfs = o.sysfs === undefined ? false : checkBoolean(o.sysfs, 'options.sysfs');
  if ((readonly || sysfs) && !underRootfs) throw invalidArg(`options.${readonly ? 'readonly' : 'sysfs'} applies to a rootfs: give options.rootfs`);
  const timeOffsets = o.timeOffsets === undefined ? null : resolveTimeOffsets(o.timeOffsets);
  if (o.cgroup !== undefined && !(o.cgroup instanceof Cgroup)) {
    throw invalidArg('options.cgroup must be a Cgroup (from Cgroup.create or Cgroup.open)');
  }
  const timeout = o.timeout === undefined ? null : checkInteger(o.timeout, 'options.timeout', 0, 2 ** 31 - 1);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArg('options.signal must be an AbortSignal');
  const killSignal = o.killSignal === undefined ? 'SIGTERM' : (o.killSignal as NodeJS.Signals | number);
  checkSignal(killSignal, 'options.killSignal');
  const killAfter =
    o.killAfter === false ? null : o.killAfter === undefined ? DEFAULT_KILL_AFTER_MS : checkInteger(o.killAfter, 'options.killAfter', 0, 2 ** 31 - 1);
  const cpuTime = resolveCpuTime(o.cpuTime, o.extraTime);
  if (timeOffsets && !namespaces.has('time')) {
    throw invalidArg("options.timeOffsets needs a new time namespace: add 'time' to namespaces");
  }
  if (namespaces.has('time') && !timeOffsets) {
    throw invalidArg("namespaces: 'time' needs options.timeOffsets (the offsets of its clocks)");
  }

  const { envp, pathVar } = resolveEnv(o.env);
  const argv0 = o.argv0 === undefined ? file : checkString(o.argv0, 'options.argv0', { allowEmpty: true });
  const stdio = resolveStdio(o.stdio);
  const cwd = resolveCwd(o.cwd, underRootfs);
  const init = o.init === undefined ? undefined : checkBoolean(o.init, 'options.init');
  const dieWithParent = o.dieWithParent === undefined ? true : checkBoolean(o.dieWithParent, 'options.dieWithParent');
  const newSession = o.newSession === undefined ? true : checkBoolean(o.newSession, 'options.newSession');
  const noNewPrivileges = o.noNewPrivileges === undefined ? undefined : checkBoolean(o.noNewPrivileges, 'options.noNewPrivileges');
  const uidMapIn = o.uidMap === undefined ? undefined : resolveIdMap(o.uidMap, 'options.uidMap');
  const gidMapIn = o.gidMap === undefined ? undefined : resolveIdMap(o.gidMap, 'options.gidMap');

  // The join targets are opened last: everything above is pure validation.
  const joins = openJoins(joinTargets);
  try {
    const joined = new Set(joins.map((j) => j.type));
    for (const t of joined) {
      if (namespaces.has(t)) throw invalidArg(`the ${t} namespace is both new (namespaces) and joined (join): choose one`);
    }
    // Options that need a namespace imply a new one (API.md "Namespaces") — never a joined one,
    // which belongs to somebody else.
    const imply = (type: NamespaceType, why: string): void => {
      if (joined.has(type)) throw invalidArg(`${why} needs a new ${type} namespace, but the ${type} namespace is joined`);
      namespaces.add(type);
    };
    if (hostname !== null) imply('uts', 'options.hostname');
    if (network === 'none' || network === 'loopback') imply('net', `options.network '${network}'`);
    if (network === 'host' && (namespaces.has('net') || joined.has('net'))) {
      throw invalidArg("options.network is 'host' but the sandbox has its own net namespace: choose one");
    }
    if (mounts.length > 0) imply('mount', 'options.mounts');
    if (underRootfs) imply('mount', 'options.rootfs');
    if (namespaces.has('pid') && !joined.has('mount')) namespaces.add('mount'); // for its own /proc

    const userns = namespaces.has('user') || joined.has('user');
    if ((uidMapIn || gidMapIn) && !namespaces.has('user')) {
      throw invalidArg("options.uidMap/gidMap describe a new user namespace: add 'user' to namespaces");
    }
    const user = resolveUser(o.user, userns);
    let idMaps: IdMaps | null = null;
    if (namespaces.has('user')) {
      const uidMap = uidMapIn ?? [{ inside: user!.uid, outside: process.geteuid!(), count: 1 }];
      const gidMap = gidMapIn ?? [{ inside: user!.gid, outside: process.getegid!(), count: 1 }];
      if (outsideOf(uidMap, user!.uid) === null) throw invalidArg(`options.user.uid ${user!.uid} is not mapped by options.uidMap`);
      if (outsideOf(gidMap, user!.gid) === null) throw invalidArg(`options.user.gid ${user!.gid} is not mapped by options.gidMap`);
      for (const g of user!.groups ?? []) {
        if (outsideOf(gidMap, g) === null) throw invalidArg(`options.user.groups: gid ${g} is not mapped by options.gidMap`);
      }
      idMaps = planIdMaps(uidMap, gidMap);
    }
    if (init && !namespaces.has('pid')) throw invalidArg("options.init needs a new pid namespace: add 'pid' to namespaces");
    const rootfs = underRootfs ? resolveRootfs(o.rootfs, { readonly, sysfs, userns }) : null;
    for (const m of mounts) {
      if (m.type !== 'overlay') continue;
      if (userns) checkOverlayInUserns('an overlay mount');
      m.data = m.overlay._mountData({ userxattr: userns });
    }
    const sandboxed = namespaces.size > 0 || joins.length > 0;
    // The kernel paths a sandbox must not change are hidden or made read-only in a mount
    // namespace of its own: every sandbox gets one, unless it joins somebody else's.
    const masksGiven = o.maskedPaths !== undefined || o.readonlyPaths !== undefined;
    if (masksGiven && joined.has('mount')) {
      throw invalidArg('options.maskedPaths/readonlyPaths apply in a new mount namespace, but the mount namespace is joined');
    }
    if (sandboxed && !joined.has('mount')) namespaces.add('mount');
    const ownMounts = namespaces.has('mount');
    const maskedPaths = ownMounts ? resolvePathList(o.maskedPaths, sandboxed ? DEFAULT_MASKED_PATHS : [], 'options.maskedPaths') : [];
    const readonlyDefaults = sandboxed ? [...DEFAULT_READONLY_PATHS, ...(underRootfs ? [] : ['/sys'])] : [];
    const readonlyPaths = ownMounts ? resolvePathList(o.readonlyPaths, readonlyDefaults, 'options.readonlyPaths') : [];
    if (masksGiven && !ownMounts) throw invalidArg("options.maskedPaths/readonlyPaths need a mount namespace: add 'mount' to namespaces");

    const keepCapabilities = o.capabilities === undefined ? (sandboxed ? 0 : null) : resolveCapabilities(o.capabilities);
    const nnp = noNewPrivileges ?? sandboxed;
    const seccomp = o.seccomp === undefined && !sandboxed ? null : resolveSeccomp(o.seccomp);
    if (seccomp && !nnp) {
      // seccomp(2): a filter needs no_new_privs, or CAP_SYS_ADMIN at the time it is installed
      const sysAdmin = keepCapabilities === null ? process.geteuid!() === 0 : capabilityNames(keepCapabilities).includes('CAP_SYS_ADMIN');
      if (!sysAdmin) {
        throw invalidArg(
          "a seccomp filter needs noNewPrivileges (or CAP_SYS_ADMIN kept in options.capabilities): set noNewPrivileges: true, or seccomp: 'none' to run without a filter",
        );
      }
    }
    // RLIMIT_CPU caps every process on its own, also while the parent cannot look (setrlimit(2):
    // SIGXCPU at the soft limit, SIGKILL at the hard one); rlimits.cpu, when given, wins
    const cpuRlimit = cpuTime ? Math.ceil(cpuTime.killMs / 1000) : null;
    const rlimits = resolveRlimits(o.rlimits, {
      ...(sandboxed ? { core: 0 } : {}),
      ...(cpuRlimit !== null ? { cpu: { soft: cpuRlimit, hard: cpuRlimit + 1 } } : {}),
    });
    const newKeyring = resolveKeyring(o.keyring, sandboxed);

    return {
      file,
      args: argList,
      argv: [argv0, ...argList],
      envp,
      candidates: candidatesFor(file, pathVar),
      cwd,
      stdio,
      namespaces,
      joins,
      user,
      idMaps,
      hostname,
      network: network ?? (namespaces.has('net') ? 'loopback' : 'host'),
      mounts,
      rootfs,
      cgroup: (o.cgroup as Cgroup | undefined) ?? null,
      timeOffsets,
      init: init ?? namespaces.has('pid'),
      dieWithParent,
      newSession,
      noNewPrivileges: nnp,
      timeout,
      signal: (o.signal as AbortSignal | undefined) ?? null,
      killSignal,
      killAfter,
      cpuTime,
      keepCapabilities,
      seccomp,
      maskedPaths,
      readonlyPaths,
      rlimits,
      newKeyring,
    };
  } catch (err) {
    closeJoins(joins);
    throw err;
  }
}

/** `timeout --kill-after`'s role: a command that ignores killSignal outlives it by this much at most. */
export const DEFAULT_KILL_AFTER_MS = 2000;

function resolveCpuTime(cpuTime: unknown, extraTime: unknown): ResolvedSpawn['cpuTime'] {
  if (cpuTime === undefined) {
    if (extraTime !== undefined) throw invalidArg('options.extraTime is the grace after options.cpuTime: give cpuTime too');
    return null;
  }
  // RLIMIT_CPU counts whole seconds; a year is more than any run
  const limit = checkNumber(cpuTime, 'options.cpuTime', 0.001, 31_536_000);
  const extra = extraTime === undefined ? 0 : checkNumber(extraTime, 'options.extraTime', 0, 31_536_000);
  return { limitMs: limit * 1000, killMs: (limit + extra) * 1000 };
}

function checkSignal(signal: unknown, what: string): void {
  if (typeof signal === 'number' && Number.isInteger(signal) && signal >= 1 && signal <= 64) return;
  if (typeof signal === 'string' && /^SIG[A-Z0-9]+$/.test(signal) && signal in osConstants.signals) return;
  throw invalidArg(`${what} must be a signal name like 'SIGTERM' or a number 1-64, got ${String(signal)}`);
}

/** The options a warm pool takes per run: the command's own; the sandbox is the pool's. */
export const RUN_OPTION_KEYS = ['cwd', 'env', 'argv0', 'stdio', 'timeout', 'signal', 'killSignal', 'killAfter'] as const;

/**
 * The sandbox `base` (a pool's, resolved once) with the command of one run: `options` may hold
 * only RUN_OPTION_KEYS; another key says it belongs to the pool. Joins were the pool's to open
 * and close: the result has none.
 */
export function resolveRun(base: ResolvedSpawn, command: unknown, args: unknown, options: unknown, what = 'run options'): ResolvedSpawn {
  const file = checkString(command, 'command');
  const argList = (args === undefined || args === null ? [] : checkArray(args, 'args')).map((a, i) => checkString(a, `args[${i}]`, { allowEmpty: true }));
  const o: Plain = options === undefined ? {} : checkObject(options, 'options');
  for (const key of Object.keys(o)) {
    if ((RUN_OPTION_KEYS as readonly string[]).includes(key)) continue;
    if ((SPAWN_OPTION_KEYS as readonly string[]).includes(key)) {
      throw invalidArg(`${what}: '${key}' describes the sandbox, which is the pool's: give it to createPool (a run takes ${RUN_OPTION_KEYS.join(', ')})`);
    }
    checkKeys({ [key]: o[key] }, RUN_OPTION_KEYS, what, UNSUPPORTED_NOTES);
  }
  const timeout = o.timeout === undefined ? null : checkInteger(o.timeout, 'options.timeout', 0, 2 ** 31 - 1);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalidArg('options.signal must be an AbortSignal');
  const killSignal = o.killSignal === undefined ? 'SIGTERM' : (o.killSignal as NodeJS.Signals | number);
  checkSignal(killSignal, 'options.killSignal');
  const killAfter =
    o.killAfter === false ? null : o.killAfter === undefined ? DEFAULT_KILL_AFTER_MS : checkInteger(o.killAfter, 'options.killAfter', 0, 2 ** 31 - 1);
  const { envp, pathVar } = resolveEnv(o.env);
  const argv0 = o.argv0 === undefined ? file : checkString(o.argv0, 'options.argv0', { allowEmpty: true });
  return {
    ...base,
    file,
    args: argList,
    argv: [argv0, ...argList],
    envp,
    candidates: candidatesFor(file, pathVar),
    // none given: inherited, as a spawn()'s is (the pool gives Node's cwd if it moved since)
    cwd: resolveCwd(o.cwd, base.rootfs !== null),
    stdio: resolveStdio(o.stdio),
    joins: [],
    timeout,
    signal: (o.signal as AbortSignal | undefined) ?? null,
    killSignal,
    killAfter,
  };
}
