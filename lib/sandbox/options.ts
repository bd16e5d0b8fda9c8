// Sandbox.create()'s options and the options of sb.run()/sb.spawn(): the public types, and their
// validation into plain data before anything is made. What a command may not change (its
// namespaces, mounts, cgroup) belongs to the sandbox: such keys are refused with a pointer to
// Sandbox.create.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveLimits, type CgroupLimits } from '../cgroup/limits';
import { fromNodeError, invalidArg, NsgroupsError } from '../errors';
import { resolveMounts, type MountSpec } from '../spawn/mounts';
import { SPAWN_OPTION_KEYS } from '../spawn/options';
import type { RunOptions } from '../spawn/run';
import { resolveRlimits, type RlimitsOption } from '../spawn/privileges';
import { checkArray, checkBoolean, checkInteger, checkKeys, checkObject, checkOneOf, checkString, type Plain } from '../util/validate';

/**
 * What the sandbox shows of the host besides the workspace, read-only:
 * 'host' every top-level directory but those the sandbox has of its own (/proc, /dev, /sys,
 * /tmp, /run) and the mount points for removable and temporary filesystems (/mnt, /media);
 * 'system' only the system's directories (/usr, /bin, /sbin, /lib*, /etc, /opt): no /home,
 * /root, /srv, /var…; a directory: that tree as the whole root (an image).
 */
export type SandboxRootfs = 'host' | 'system' | string;

/** 'none': no network, not even loopback; 'loopback': a network of its own with only `lo`; 'host': the host's (not isolated). */
export type SandboxNetwork = 'none' | 'loopback' | 'host';

/**
 * Sandbox.create()'s options: one test's world (a copy-on-write workspace, a read-only rest of
 * the filesystem, no network by default, limits). Every key is optional.
 */
export interface SandboxOptions {
  /** the directory the sandbox sees copy-on-write, at its own path (the host's copy never changes) */
  workspace?: string | URL;
  /** the sandbox's network; default 'none' */
  network?: SandboxNetwork;
  /** cgroup limits for everything that runs in the sandbox (Cgroup.create's shape); default: none (a cgroup without limits where one can be made) */
  limits?: CgroupLimits;
  /** milliseconds after which each command gets killSignal, unless its own options say otherwise; default: none */
  timeout?: number;
  /** the commands' environment (default: process.env) */
  env?: NodeJS.ProcessEnv;
  /** more mounts, as spawn's: sources on the host, targets in the sandbox (made when missing) */
  mounts?: readonly MountSpec[];
  /** the rest of the filesystem, read-only: 'host' (default), 'system' or a directory */
  rootfs?: SandboxRootfs;
  /** the hostname inside (default 'sandbox') */
  hostname?: string;
  /** setrlimit(2) limits every command starts with (spawn's rlimits; a command's own options win) */
  rlimits?: RlimitsOption;
  /** keep the sandbox's files at dispose: always (true), or when dispose() is told the test failed */
  keep?: boolean | 'on-failure';
  /** a name for reports and for the directory a kept sandbox leaves */
  name?: string;
  /** where on the host the sandbox keeps its files (upper layer, /tmp); default os.tmpdir() */
  scratch?: string;
}

export const SANDBOX_OPTION_KEYS = [
  'workspace',
  'network',
  'limits',
  'timeout',
  'env',
  'mounts',
  'rootfs',
  'hostname',
  'rlimits',
  'keep',
  'name',
  'scratch',
] as const;

export interface ResolvedSandbox {
  workspace: string | null;
  network: SandboxNetwork;
  limits: CgroupLimits | null;
  timeout: number | null;
  env: NodeJS.ProcessEnv;
  mounts: MountSpec[];
  rootfs: { kind: 'host' | 'system' } | { kind: 'dir'; dir: string };
  hostname: string;
  rlimits: RlimitsOption | undefined;
  keep: 'never' | 'always' | 'on-failure';
  name: string | null;
  scratch: string;
}

/** The paths the sandbox has of its own: a workspace cannot be there. */
const OWN_PATHS = ['/proc', '/dev', '/sys'];

function realDirectory(value: string, what: string): string {
  let real: string;
  try {
    real = fs.realpathSync(value);
  } catch (err) {
    throw fromNodeError(err, `resolving ${what} '${value}'`, { path: value, hint: 'give an existing directory' });
  }
  if (!fs.statSync(real).isDirectory()) throw invalidArg(`${what} '${value}' is not a directory`);
  return real;
}

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);

function resolveWorkspace(value: unknown): string | null {
  if (value === undefined) return null;
  const given = value instanceof URL ? fileURLToPath(value) : checkString(value, 'Sandbox options.workspace');
  const ws = realDirectory(path.resolve(given), 'Sandbox options.workspace');
  if (ws === '/') throw invalidArg("Sandbox options.workspace '/' is the whole host: give a project directory");
  const own = OWN_PATHS.find((p) => inside(ws, p));
  if (own) throw invalidArg(`Sandbox options.workspace '${ws}' is under ${own}, which the sandbox has of its own: give a directory elsewhere`);
  return ws;
}

export function resolveKeep(value: unknown, what = 'Sandbox options.keep'): ResolvedSandbox['keep'] {
  if (value === undefined) {
    const env = process.env.NSGROUPS_KEEP;
    if (env === undefined || env === '' || env === '0' || env === 'never') return 'never';
    if (env === '1' || env === 'always') return 'always';
    if (env === 'on-failure') return 'on-failure';
    throw invalidArg(`NSGROUPS_KEEP='${env}' must be 'on-failure', 'always' (or 1) or 'never' (or 0)`);
  }
  if (value === 'on-failure') return 'on-failure';
  if (typeof value === 'boolean') return value ? 'always' : 'never';
  throw invalidArg(`${what} must be true, false or 'on-failure', got ${JSON.stringify(value)}`);
}

export function resolveSandboxOptions(options: unknown): ResolvedSandbox {
  const what = 'Sandbox options';
  const o: Plain = options === undefined ? {} : checkObject(options, what);
  checkKeys(o, SANDBOX_OPTION_KEYS, what, {
    namespaces: 'a sandbox always has its own user, mount, pid, uts, ipc and (unless network is host) net namespaces',
    cgroup: 'give limits: the sandbox makes its own cgroup',
    cwd: 'give cwd to sb.run() / sb.spawn(); they default to the workspace',
  });
  const workspace = resolveWorkspace(o.workspace);
  const network = o.network === undefined ? 'none' : checkOneOf(o.network, ['none', 'loopback', 'host'] as const, `${what}.network`);
  const limits = o.limits === undefined ? null : (checkObject(o.limits, `${what}.limits`) as CgroupLimits);
  // checked now, before anything is made (Cgroup.create and spawn check them again)
  if (limits) resolveLimits(limits as Plain, `${what}.limits`);
  const timeout = o.timeout === undefined ? null : checkInteger(o.timeout, `${what}.timeout`, 1, 2 ** 31 - 1);
  const env = o.env === undefined ? process.env : (checkObject(o.env, `${what}.env`) as NodeJS.ProcessEnv);
  const mounts = o.mounts === undefined ? [] : (checkArray(o.mounts, `${what}.mounts`) as MountSpec[]);
  resolveMounts(mounts, true);
  let rootfs: ResolvedSandbox['rootfs'] = { kind: 'host' };
  if (o.rootfs !== undefined) {
    const r = checkString(o.rootfs, `${what}.rootfs`);
    if (r === 'host' || r === 'system') rootfs = { kind: r };
    else if (!path.isAbsolute(r)) throw invalidArg(`${what}.rootfs must be 'host', 'system' or an absolute directory, got '${r}'`);
    else {
      const dir = realDirectory(r, `${what}.rootfs`);
      if (dir === '/') throw invalidArg(`${what}.rootfs '/' is the host's own root: use rootfs: 'host' (the default)`);
      rootfs = { kind: 'dir', dir };
    }
  }
  const hostname = o.hostname === undefined ? 'sandbox' : checkString(o.hostname, `${what}.hostname`, { maxLength: 64 });
  const rlimits = o.rlimits === undefined ? undefined : (checkObject(o.rlimits, `${what}.rlimits`) as RlimitsOption);
  if (rlimits) resolveRlimits(rlimits, {});
  const keep = resolveKeep(o.keep);
  const name = o.name === undefined ? null : checkString(o.name, `${what}.name`, { maxLength: 4096 });
  const scratch = o.scratch === undefined ? os.tmpdir() : realDirectory(path.resolve(checkString(o.scratch, `${what}.scratch`)), `${what}.scratch`);
  if (scratch.includes('\n')) throw invalidArg(`${what}.scratch must not contain a newline`);
  if (workspace !== null && inside(scratch, workspace)) {
    throw invalidArg(
      `the sandbox's scratch directory ${scratch} is inside the workspace ${workspace} (the upper layer of an overlay cannot ` +
        'lie in its lower layer): give options.scratch a directory outside the workspace',
    );
  }
  return { workspace, network, limits, timeout, env, mounts, rootfs, hostname, rlimits, keep, name, scratch };
}

/** sb.run()'s options: run()'s, less what the sandbox decides. */
export type SandboxRunOptions = Pick<
  RunOptions,
  | 'cwd'
  | 'env'
  | 'argv0'
  | 'stdio'
  | 'input'
  | 'encoding'
  | 'maxBuffer'
  | 'timeout'
  | 'signal'
  | 'killSignal'
  | 'killAfter'
  | 'cpuTime'
  | 'extraTime'
  | 'user'
  | 'rlimits'
  | 'capabilities'
  | 'seccomp'
>;
/** sb.spawn()'s options: sb.run()'s without input, encoding and maxBuffer. */
export type SandboxSpawnOptions = Omit<SandboxRunOptions, 'input' | 'encoding' | 'maxBuffer'>;

const RUN_KEYS = [
  'cwd',
  'env',
  'argv0',
  'stdio',
  'input',
  'encoding',
  'maxBuffer',
  'timeout',
  'signal',
  'killSignal',
  'killAfter',
  'cpuTime',
  'extraTime',
  'user',
  'rlimits',
  'capabilities',
  'seccomp',
] as const;
const RUN_ONLY = ['input', 'encoding', 'maxBuffer'];
// every other spawn option describes the sandbox, decided once at create (a new spawn option
// lands here without being listed)
const SET_AT_CREATE = SPAWN_OPTION_KEYS.filter((k) => !(RUN_KEYS as readonly string[]).includes(k));

/** Checks a command's options: only those a command may choose; cwd made absolute in the sandbox. */
export function checkCommandOptions(options: unknown, spawnOnly: boolean, defaultCwd: string): Plain {
  const what = spawnOnly ? 'sb.spawn() options' : 'sb.run() options';
  const o: Plain = options === undefined ? {} : { ...checkObject(options, what) };
  const notes: Record<string, string> = {};
  for (const k of SET_AT_CREATE) notes[k] = `the sandbox decides ${k} for all its commands (see Sandbox.create)`;
  if (spawnOnly) {
    notes.input = 'sb.run() takes input; with sb.spawn() write to p.stdin';
    notes.encoding = 'sb.run() takes encoding; sb.spawn() gives streams';
    notes.maxBuffer = 'sb.run() takes maxBuffer; sb.spawn() gives streams';
  }
  checkKeys(o, spawnOnly ? RUN_KEYS.filter((k) => !RUN_ONLY.includes(k)) : RUN_KEYS, what, notes);
  const cwd = o.cwd === undefined ? defaultCwd : o.cwd instanceof URL ? fileURLToPath(o.cwd) : checkString(o.cwd, `${what}.cwd`);
  o.cwd = path.posix.resolve(defaultCwd, cwd);
  if (o.capabilities !== undefined && o.capabilities !== 'all') checkArray(o.capabilities, `${what}.capabilities`);
  return o;
}

/** A dispose() that is told how the test went. */
export interface SandboxDisposeOptions {
  /** the test failed: a sandbox created with keep: 'on-failure' keeps its files */
  failed?: boolean;
  /** keep the files whatever the keep option says */
  keep?: boolean;
}

export function checkDisposeOptions(options: unknown): { failed: boolean; keep: boolean | null } {
  const o: Plain = options === undefined ? {} : checkObject(options, 'sb.dispose() options');
  checkKeys(o, ['failed', 'keep'], 'sb.dispose() options');
  return {
    failed: o.failed === undefined ? false : checkBoolean(o.failed, 'sb.dispose() options.failed'),
    keep: o.keep === undefined ? null : checkBoolean(o.keep, 'sb.dispose() options.keep'),
  };
}

export function disposedError(what: string): NsgroupsError {
  return new NsgroupsError('ERR_NOT_FOUND', `${what}: the sandbox was disposed; create another one`);
}
