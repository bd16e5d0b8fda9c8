// spawn()'s options: the public types, and their validation into a ResolvedSpawn (plain data,
// every default applied, every implication made explicit). Nothing here touches the system.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArg } from '../errors';
import {
  checkArray,
  checkBoolean,
  checkId,
  checkInteger,
  checkKeys,
  checkObject,
  checkOneOf,
  checkString,
  type Plain,
} from '../util/validate';

export const NAMESPACE_TYPES = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export type StdioName = 'pipe' | 'inherit' | 'ignore';
/** 'pipe' | 'inherit' | 'ignore', a file descriptor, or a stream that has one (process.stdout, a net.Socket…). */
export type StdioEntry = StdioName | number | { fd: number } | { _handle?: { fd?: number } } | null | undefined;

export interface UserOption {
  /** uid inside the sandbox (default 0 with a new user namespace) */
  uid?: number;
  /** gid inside the sandbox (default: the same as uid with a new user namespace, else unchanged) */
  gid?: number;
  /** supplementary groups inside (default: none, where the kernel allows dropping them) */
  groups?: readonly number[];
}

export type NetworkOption = 'none' | 'loopback' | 'host';

export interface SpawnOptions {
  /** working directory of the command (default: inherited) */
  cwd?: string | URL;
  /** environment of the command (default: process.env) */
  env?: NodeJS.ProcessEnv;
  /** argv[0] of the command (default: the command as given) */
  argv0?: string;
  stdio?: StdioName | readonly StdioEntry[];
  /** namespaces to create; none by default (then spawn is child_process.spawn with pidfds) */
  namespaces?: readonly NamespaceType[];
  /** identity inside; with a new user namespace the caller is mapped to it (root by default) */
  user?: UserOption;
  /** hostname inside (implies a uts namespace) */
  hostname?: string;
  /** 'loopback' (default with a net namespace) or 'none' imply a net namespace; 'host' keeps the host's */
  network?: NetworkOption;
  /** with a new pid namespace: a minimal init as pid 1 (default true) */
  init?: boolean;
  /** SIGKILL the command when the spawning thread (the Node process or its worker) dies (default true) */
  dieWithParent?: boolean;
  /** run the command in a new session, without a controlling terminal (default true) */
  newSession?: boolean;
  /** PR_SET_NO_NEW_PRIVS: setuid binaries and file capabilities grant nothing (default: true when any namespace is created) */
  noNewPrivileges?: boolean;
}

export const SPAWN_OPTION_KEYS = [
  'cwd',
  'env',
  'argv0',
  'stdio',
  'namespaces',
  'user',
  'hostname',
  'network',
  'init',
  'dieWithParent',
  'newSession',
  'noNewPrivileges',
] as const;

/** child_process options that make no sense here, with what to do instead. */
const UNSUPPORTED_NOTES: Record<string, string> = {
  shell: "nsgroups never runs a shell for you; spawn('sh', ['-c', command]) if you want one",
  detached: 'the command always gets its own session (newSession) and dies with its parent unless dieWithParent is false',
  uid: "use user: { uid } (the identity inside the sandbox)",
  gid: "use user: { gid } (the identity inside the sandbox)",
  windowsHide: 'nsgroups runs on Linux only',
  windowsVerbatimArguments: 'nsgroups runs on Linux only',
  serialization: 'there is no IPC channel; use stdio pipes',
};

export type ResolvedStdio = { kind: 'pipe'; childReads: boolean } | { kind: 'fd'; fd: number } | { kind: 'null' };

export interface ResolvedSpawn {
  file: string;
  args: string[];
  argv: string[];
  envp: string[];
  /** PATH walk candidates, resolved by the child in the sandbox's view */
  candidates: string[];
  cwd: string | null;
  stdio: ResolvedStdio[];
  namespaces: Set<NamespaceType>;
  /** identity inside: ids to switch to (null: keep the caller's) */
  user: { uid: number; gid: number; groups: number[] | null } | null;
  hostname: string | null;
  network: NetworkOption;
  init: boolean;
  dieWithParent: boolean;
  newSession: boolean;
  noNewPrivileges: boolean;
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
      if (typeof fd === 'number' && fd >= 0) return { kind: 'fd', fd };
      throw invalidArg(`${what}: a stream must have an underlying file descriptor (an fs or net stream that is open)`);
    }
    throw invalidArg(`${what} must be 'pipe', 'inherit', 'ignore', a file descriptor or a stream`);
  });
}

function resolveEnv(value: unknown): { envp: string[]; pathVar: string } {
  const env = value === undefined ? process.env : checkObject(value, 'options.env');
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

function resolveCwd(value: unknown): string | null {
  if (value === undefined) return null;
  const cwd = value instanceof URL ? fileURLToPath(value) : checkString(value, 'options.cwd');
  return path.resolve(cwd);
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

export function resolveSpawn(command: unknown, args: unknown, options: unknown): ResolvedSpawn {
  const file = checkString(command, 'command');
  const argList = (args === undefined || args === null ? [] : checkArray(args, 'args')).map((a, i) =>
    checkString(a, `args[${i}]`, { allowEmpty: true }),
  );
  const o: Plain = options === undefined ? {} : checkObject(options, 'options');
  checkKeys(o, SPAWN_OPTION_KEYS, 'spawn options', UNSUPPORTED_NOTES);

  const namespaces = resolveNamespaces(o.namespaces);
  const hostname = o.hostname === undefined ? null : checkString(o.hostname, 'options.hostname', { maxLength: 64 });
  const network = o.network === undefined ? undefined : checkOneOf(o.network, ['none', 'loopback', 'host'] as const, 'options.network');

  // Options that need a namespace imply it (API.md "Namespaces").
  if (hostname !== null) namespaces.add('uts');
  if (network === 'none' || network === 'loopback') namespaces.add('net');
  if (network === 'host' && namespaces.has('net')) {
    throw invalidArg("options.network is 'host' but namespaces asks for a new 'net' namespace: choose one");
  }
  if (namespaces.has('pid')) namespaces.add('mount'); // for its own /proc
  if (namespaces.has('time')) {
    throw invalidArg("namespaces: 'time' needs options.timeOffsets, which this version does not support yet");
  }

  const init = o.init === undefined ? namespaces.has('pid') : checkBoolean(o.init, 'options.init');
  if (init && !namespaces.has('pid')) throw invalidArg('options.init needs a new pid namespace: add \'pid\' to namespaces');

  const { envp, pathVar } = resolveEnv(o.env);
  const argv0 = o.argv0 === undefined ? file : checkString(o.argv0, 'options.argv0', { allowEmpty: true });
  const anyNamespace = namespaces.size > 0;

  return {
    file,
    args: argList,
    argv: [argv0, ...argList],
    envp,
    candidates: candidatesFor(file, pathVar),
    cwd: resolveCwd(o.cwd),
    stdio: resolveStdio(o.stdio),
    namespaces,
    user: resolveUser(o.user, namespaces.has('user')),
    hostname,
    network: network ?? (namespaces.has('net') ? 'loopback' : 'host'),
    init,
    dieWithParent: o.dieWithParent === undefined ? true : checkBoolean(o.dieWithParent, 'options.dieWithParent'),
    newSession: o.newSession === undefined ? true : checkBoolean(o.newSession, 'options.newSession'),
    noNewPrivileges:
      o.noNewPrivileges === undefined ? anyNamespace : checkBoolean(o.noNewPrivileges, 'options.noNewPrivileges'),
  };
}
