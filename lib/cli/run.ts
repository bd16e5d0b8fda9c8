// `nsgroups run [options] -- CMD ARGS…`: one command in a sandbox, with the terminal's stdio,
// exiting with the command's status (128+n for a signal, as shells do).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Cgroup } from '../cgroup/cgroup';
import type { CgroupLimits } from '../cgroup/limits';
import { NsgroupsError } from '../errors';
import { OverlayMount } from '../overlay/overlay-mount';
import { spawn } from '../spawn/index';
import type { MountSpec } from '../spawn/mounts';
import { NAMESPACE_TYPES, type NamespaceType } from '../namespace/kinds';
import type { SpawnOptions } from '../spawn/options';

export const RUN_USAGE = `usage: nsgroups run [options] -- COMMAND [ARGS...]

Runs COMMAND in a new sandbox and exits with its status (128+N when killed by signal N).
By default the sandbox has new user, pid, mount, uts, ipc and net namespaces, with loopback up.

options:
  --ns LIST            namespaces to create, comma-separated (default user,pid,mount,uts,ipc,net);
                       'none' for none; also cgroup and time
  --join PATH          enter an existing namespace (/proc/PID/ns/TYPE or a pinned file); repeatable
  --hostname NAME      hostname inside
  --net MODE           none | loopback (default) | host
  --user UID[:GID]     identity inside (default 0:0 with a user namespace)
  --map-range INSIDE:OUTSIDE:COUNT
                       uid and gid range of the user namespace (e.g. 0:100000:65536); repeatable
  --bind SRC:DST[:ro]  bind-mount SRC on the existing DST; repeatable
  --tmpfs DST[:SIZE]   mount a tmpfs on the existing DST; repeatable
  --cwd DIR            working directory inside
  --env NAME=VALUE     set a variable; repeatable
  --clear-env          start from an empty environment (PATH defaults to /usr/local/bin:/usr/bin:/bin)
  --timeout SECONDS    kill the command (SIGTERM) after this long
  --memory SIZE        memory limit (e.g. 256M), in a cgroup made for this run and removed after it
  --pids N             process limit, likewise
  --cpus N             CPU limit in CPUs (0.5 = half a core), likewise
  --rootfs DIR         the sandbox's root directory
  --overlay LOWER      a throw-away overlay root: LOWER (topmost first, repeatable) under a fresh
                       upper layer, removed after the run
  --readonly           with --rootfs/--overlay: the root is read-only
  --no-init            no init as pid 1: the command is pid 1 itself
  -h, --help           this text`;

export interface ParsedRun {
  command: string;
  args: string[];
  options: SpawnOptions;
  /** limits for a cgroup made for this run */
  limits: CgroupLimits | null;
  /** lower layers of a throw-away overlay root */
  overlay: string[] | null;
}

function cliError(message: string): NsgroupsError {
  return new NsgroupsError('ERR_INVALID_ARG', `nsgroups run: ${message} (see nsgroups run --help)`);
}

function int(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw cliError(`${what} must be a number, got '${value}'`);
  return Number(value);
}

/** Parses the arguments after `run` into spawn() arguments (pure; validation of values is spawn's). */
export function parseRunArgs(argv: string[]): ParsedRun | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ns: { type: 'string' },
      join: { type: 'string', multiple: true },
      hostname: { type: 'string' },
      net: { type: 'string' },
      user: { type: 'string' },
      'map-range': { type: 'string', multiple: true },
      bind: { type: 'string', multiple: true },
      tmpfs: { type: 'string', multiple: true },
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      'clear-env': { type: 'boolean' },
      timeout: { type: 'string' },
      memory: { type: 'string' },
      pids: { type: 'string' },
      cpus: { type: 'string' },
      rootfs: { type: 'string' },
      overlay: { type: 'string', multiple: true },
      readonly: { type: 'boolean' },
      'no-init': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length === 0) throw cliError('no command given: nsgroups run [options] -- COMMAND [ARGS...]');
  const [command, ...args] = positionals;

  let namespaces: NamespaceType[] = ['user', 'pid', 'mount', 'uts', 'ipc', 'net'];
  if (values.ns !== undefined) {
    namespaces = values.ns === 'none' ? [] : (values.ns.split(',').filter(Boolean) as NamespaceType[]);
    for (const ns of namespaces) if (!NAMESPACE_TYPES.includes(ns)) throw cliError(`--ns: unknown namespace '${ns}'`);
  }
  const options: SpawnOptions = { namespaces, stdio: 'inherit' };
  if (values.join) {
    options.join = values.join;
    const joinedTypes = values.join.map((p) => /\/ns\/(\w+)$/.exec(p)?.[1]).map((t) => (t === 'mnt' ? 'mount' : t));
    // joined namespaces replace the default new ones of the same type
    if (values.ns === undefined) options.namespaces = namespaces.filter((t) => !joinedTypes.includes(t));
  }
  if (values.hostname !== undefined) options.hostname = values.hostname;
  if (values.net !== undefined) {
    if (values.net === 'host') options.namespaces = (options.namespaces ?? []).filter((t) => t !== 'net');
    options.network = values.net as SpawnOptions['network'];
  }
  if (values.user !== undefined) {
    const [uid, gid] = values.user.split(':');
    options.user = { uid: int(uid, '--user'), ...(gid !== undefined ? { gid: int(gid, '--user') } : {}) };
  }
  if (values['map-range']) {
    const ranges = values['map-range'].map((r) => {
      const parts = r.split(':');
      if (parts.length !== 3) throw cliError(`--map-range wants INSIDE:OUTSIDE:COUNT, got '${r}'`);
      const [inside, outside, count] = parts.map((p) => int(p, '--map-range'));
      return { inside, outside, count };
    });
    options.uidMap = ranges;
    options.gidMap = ranges;
  }
  const mounts: MountSpec[] = [];
  for (const b of values.bind ?? []) {
    const parts = b.split(':');
    if (parts.length < 2 || parts.length > 3 || (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw')) {
      throw cliError(`--bind wants SRC:DST[:ro], got '${b}'`);
    }
    mounts.push({ type: 'bind', source: parts[0], target: parts[1], readonly: parts[2] === 'ro' });
  }
  for (const t of values.tmpfs ?? []) {
    const [target, size] = t.split(':');
    mounts.push({ type: 'tmpfs', target, ...(size ? { size } : {}) });
  }
  if (mounts.length) options.mounts = mounts;
  if (values.cwd !== undefined) options.cwd = values.cwd;
  if (values.env || values['clear-env']) {
    const env: NodeJS.ProcessEnv = values['clear-env'] ? {} : { ...process.env };
    for (const kv of values.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw cliError(`--env wants NAME=VALUE, got '${kv}'`);
      env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    options.env = env;
  }
  if (values.timeout !== undefined) {
    const secs = Number(values.timeout);
    if (!Number.isFinite(secs) || secs <= 0) throw cliError(`--timeout wants a number of seconds, got '${values.timeout}'`);
    options.timeout = Math.round(secs * 1000);
  }
  if (values['no-init']) options.init = false;
  let limits: CgroupLimits | null = null;
  if (values.memory !== undefined || values.pids !== undefined || values.cpus !== undefined) {
    limits = {};
    if (values.memory !== undefined) limits.memory = { max: values.memory };
    if (values.pids !== undefined) limits.pids = { max: int(values.pids, '--pids') };
    if (values.cpus !== undefined) {
      const cpus = Number(values.cpus);
      if (!Number.isFinite(cpus) || cpus <= 0) throw cliError(`--cpus wants a number of CPUs, got '${values.cpus}'`);
      limits.cpu = { max: cpus };
    }
  }
  if (values.rootfs !== undefined && values.overlay) throw cliError('--rootfs and --overlay: choose one');
  if (values.rootfs !== undefined) options.rootfs = values.rootfs;
  if (values.readonly) options.readonly = true;
  return { command, args, options, limits, overlay: values.overlay ?? null };
}

/** Runs the parsed command; resolves with the exit status for the CLI. */
export async function runCommand(parsed: ParsedRun): Promise<number> {
  // what this run makes for itself, undone in reverse order whatever happens
  const undo: Array<() => Promise<void>> = [];
  try {
    const options = { ...parsed.options };
    if (parsed.limits) {
      const cg = await Cgroup.create(`run-${process.pid}`, parsed.limits);
      undo.push(() => cg.delete({ kill: true }));
      options.cgroup = cg;
    }
    if (parsed.overlay) {
      const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'nsgroups-run-'));
      undo.push(() => removeScratch(scratch));
      for (const d of ['upper', 'work', 'root']) await fs.promises.mkdir(path.join(scratch, d));
      options.rootfs = new OverlayMount({
        lower: parsed.overlay.map((l) => path.resolve(l)),
        upper: path.join(scratch, 'upper'),
        work: path.join(scratch, 'work'),
        target: path.join(scratch, 'root'),
      });
    }
    return await runSandbox(parsed.command, parsed.args, options);
  } finally {
    for (const step of undo.reverse()) await step().catch((err: Error) => console.error(`nsgroups: cleanup: ${err.message}`));
  }
}

/** overlayfs leaves work/work mode 000 when mounted in a user namespace: open up, then remove. */
async function removeScratch(dir: string): Promise<void> {
  const open = async (d: string): Promise<void> => {
    for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      await fs.promises.chmod(path.join(d, e.name), 0o700).catch(() => {});
      await open(path.join(d, e.name));
    }
  };
  await open(dir).catch(() => {});
  await fs.promises.rm(dir, { recursive: true, force: true });
}

async function runSandbox(command: string, args: string[], options: SpawnOptions): Promise<number> {
  const p = spawn(command, args, options);
  // The sandbox runs in its own session: forward what the terminal sends us.
  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  const forward = (sig: NodeJS.Signals): void => void p.kill(sig);
  for (const sig of forwarded) process.on(sig, forward);
  try {
    const { code, signal } = await p.exited;
    return code ?? 128 + (signal ? osConstants.signals[signal] : 0);
  } finally {
    for (const sig of forwarded) process.off(sig, forward);
  }
}
