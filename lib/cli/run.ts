// `nsgroups run [OPTIONS] [--] COMMAND [ARGS...]`: one command in a sandbox, with the terminal's
// stdio. Its options are one table (RUN_OPTIONS): each entry parses its value into a draft and
// writes its own --help line, so a new option is one entry. Exit status as env(1), timeout(1)
// and chroot(1) have it (EXIT_STATUS below).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { Cgroup } from '../cgroup/cgroup';
import type { CgroupLimits } from '../cgroup/limits';
import { NsgroupsError } from '../errors';
import { ownerRecord } from '../host/owner';
import { NAMESPACE_TYPES, type NamespaceType } from '../namespace/kinds';
import { OverlayMount } from '../overlay/overlay-mount';
import type { IdMapEntry } from '../spawn/idmap';
import { spawn } from '../spawn/index';
import type { MountSpec } from '../spawn/mounts';
import type { NetworkOption, SpawnOptions } from '../spawn/options';
import { removeScratch } from '../util/scratch';
import type { ExitResult, SandboxProcess } from '../spawn/process';
import { parseByteSize } from '../util/units';
import { clip, formatOptions, parseArgs, UsageError, type OptionSpec } from './args';
import { formatJson, formatMeta, formatSetupJson, formatSetupMeta } from './meta';
import { cliTerms } from './terms';
import type { Readable, Writable } from 'node:stream';

export const EXIT_STATUS = `exit status:
  the command's own status, or 128+N when signal N killed it
  124  a time limit stopped it: --timeout/--wall-time (SIGTERM, then SIGKILL after
       --kill-after) or --cpu-time (SIGKILL)
  125  nsgroups could not make the sandbox (the message says why)
  126  the command was found but could not be executed
  127  the command was not found
  2    the command line is wrong (unknown option, missing or malformed value)`;

/** What the options say, before it becomes spawn() options. */
export interface RunDraft {
  namespaces?: NamespaceType[];
  join: string[];
  hostname?: string;
  network?: NetworkOption;
  user?: { uid: number; gid?: number };
  idRanges: IdMapEntry[];
  mounts: MountSpec[];
  cwd?: string;
  env: Array<[string, string]>;
  clearEnv: boolean;
  timeoutMs?: number;
  cpuTime?: number;
  extraTime?: number;
  killAfterMs?: number;
  outputLimit?: number;
  meta?: string;
  json: boolean;
  memory?: string;
  pids?: number;
  cpus?: number;
  rootfs?: string;
  overlay: string[];
  readonly: boolean;
  noInit: boolean;
  /** capabilities kept (--cap), or 'all' */
  caps: string[] | 'all' | null;
  seccomp?: 'default' | 'none';
  rlimits: Record<string, string | number>;
  keyring?: 'new' | 'inherit';
  help: boolean;
  /** API option path → the argument that set it ('mounts[0]' → '--bind /a:/b'), for messages */
  sources: Map<string, string>;
}

interface RunOption extends OptionSpec {
  apply(value: string, draft: RunDraft, text: string): void;
}

const DEFAULT_NAMESPACES: NamespaceType[] = ['user', 'pid', 'mount', 'uts', 'ipc', 'net'];

function natural(value: string, text: string, what = 'a number'): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${text}: '${clip(value)}' is not ${what}`);
  return Number(value);
}

function positive(value: string, text: string, what: string, min = Number.MIN_VALUE): number {
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min)) throw new UsageError(`${text}: '${clip(value)}' is not ${what}`);
  return n;
}

function size(value: string, text: string, allowMax: boolean): string {
  if ((allowMax && value === 'max') || /^\d+(\.\d+)?[KMGT]?$/i.test(value)) return value;
  throw new UsageError(`${text}: '${clip(value)}' is not a size like 512K, 256M or 2G${allowMax ? " (or 'max')" : ''}`);
}

// a time namespace needs its clock offsets, which run has no option for (yet)
const RUN_NAMESPACES = NAMESPACE_TYPES.filter((t) => t !== 'time');

function nsType(name: string, text: string): NamespaceType {
  const t = name === 'mnt' ? 'mount' : name;
  if (t === 'time') throw new UsageError(`${text}: a time namespace needs clock offsets, which run cannot set`);
  if (!(RUN_NAMESPACES as readonly string[]).includes(t)) {
    throw new UsageError(`${text}: unknown namespace '${clip(name)}' (${RUN_NAMESPACES.join(', ')}, or none)`);
  }
  return t as NamespaceType;
}

export const RUN_OPTIONS: RunOption[] = [
  {
    long: 'ns',
    value: 'LIST',
    help: "namespaces to create, comma-separated, or 'none'\n(default user,pid,mount,uts,ipc,net; cgroup as well)",
    apply(v, d, text) {
      d.namespaces =
        v === 'none'
          ? []
          : v
              .split(',')
              .filter(Boolean)
              .map((n) => nsType(n, text));
      d.sources.set('namespaces', text);
    },
  },
  {
    long: 'join',
    value: 'PATH',
    help: 'enter an existing namespace (/proc/PID/ns/TYPE or a pinned file);\nrepeatable; it replaces the new namespace of its type',
    apply(v, d, text) {
      d.sources.set(`join[${d.join.length}]`, text);
      d.join.push(v);
    },
  },
  {
    long: 'hostname',
    value: 'NAME',
    help: 'hostname inside',
    apply(v, d, text) {
      d.hostname = v;
      d.sources.set('hostname', text);
    },
  },
  {
    long: 'net',
    value: 'MODE',
    help: 'none | loopback (default) | host',
    apply(v, d, text) {
      if (v !== 'none' && v !== 'loopback' && v !== 'host') throw new UsageError(`${text}: '${clip(v)}' is not none, loopback or host`);
      d.network = v;
      d.sources.set('network', text);
    },
  },
  {
    long: 'user',
    value: 'UID[:GID]',
    help: 'identity inside (default 0:0 with a user namespace)',
    apply(v, d, text) {
      const [uid, gid, more] = v.split(':');
      if (more !== undefined) throw new UsageError(`${text}: wants UID or UID:GID`);
      d.user = { uid: natural(uid, text, 'a uid'), ...(gid !== undefined ? { gid: natural(gid, text, 'a gid') } : {}) };
      d.sources.set('user', text);
    },
  },
  {
    long: 'map-range',
    value: 'INSIDE:OUTSIDE:COUNT',
    help: 'uid and gid range of the user namespace (0:100000:65536); repeatable',
    apply(v, d, text) {
      const parts = v.split(':');
      if (parts.length !== 3) throw new UsageError(`${text}: wants INSIDE:OUTSIDE:COUNT`);
      const [inside, outside, count] = parts.map((p) => natural(p, text));
      d.idRanges.push({ inside, outside, count });
      d.sources.set('uidMap', text).set('gidMap', text);
    },
  },
  {
    long: 'bind',
    value: 'SRC:DST[:ro]',
    help: 'bind-mount SRC on DST (read-only with :ro); repeatable; DST must exist,\nunless under --rootfs or --overlay',
    apply(v, d, text) {
      const parts = v.split(':');
      if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1] || (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw')) {
        throw new UsageError(`${text}: wants SRC:DST or SRC:DST:ro`);
      }
      d.sources.set(`mounts[${d.mounts.length}]`, text);
      d.mounts.push({ type: 'bind', source: parts[0], target: parts[1], readonly: parts[2] === 'ro' });
    },
  },
  {
    long: 'tmpfs',
    value: 'DST[:SIZE]',
    help: 'mount a tmpfs on DST; repeatable',
    apply(v, d, text) {
      const [target, sz, more] = v.split(':');
      if (!target || more !== undefined) throw new UsageError(`${text}: wants DST or DST:SIZE`);
      d.sources.set(`mounts[${d.mounts.length}]`, text);
      d.mounts.push({ type: 'tmpfs', target, ...(sz ? { size: size(sz, text, false) } : {}) });
    },
  },
  {
    long: 'cwd',
    value: 'DIR',
    help: 'working directory inside',
    apply(v, d, text) {
      d.cwd = v;
      d.sources.set('cwd', text);
    },
  },
  {
    long: 'env',
    value: 'NAME=VALUE',
    help: 'set a variable; repeatable',
    apply(v, d, text) {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new UsageError(`${text}: wants NAME=VALUE`);
      d.env.push([v.slice(0, eq), v.slice(eq + 1)]);
      d.sources.set('env', text);
    },
  },
  {
    long: 'clear-env',
    help: 'start from an empty environment (PATH: /usr/local/bin:/usr/bin:/bin)',
    apply(_v, d) {
      d.clearEnv = true;
    },
  },
  {
    long: 'timeout',
    value: 'SECONDS',
    help: 'wall-clock limit: SIGTERM after this long (SIGKILL --kill-after later), exit 124',
    apply(v, d, text) {
      d.timeoutMs = Math.max(1, Math.round(positive(v, text, 'a number of seconds') * 1000));
      d.sources.set('timeout', text);
    },
  },
  {
    long: 'wall-time',
    value: 'SECONDS',
    help: "the same as --timeout (isolate's name)",
    apply(v, d, text) {
      d.timeoutMs = Math.max(1, Math.round(positive(v, text, 'a number of seconds') * 1000));
      d.sources.set('timeout', text);
    },
  },
  {
    long: 'kill-after',
    value: 'SECONDS',
    help: 'SIGKILL this long after a limit sent SIGTERM (default 2)',
    apply(v, d, text) {
      d.killAfterMs = Math.round(positive(v, text, 'a number of seconds', 0) * 1000);
      if (d.killAfterMs > 2 ** 31 - 1) throw new UsageError(`${text}: at most ${Math.floor((2 ** 31 - 1) / 1000)} seconds`);
      d.sources.set('killAfter', text);
    },
  },
  {
    long: 'cpu-time',
    value: 'SECONDS',
    help: 'CPU limit of the whole sandbox (its cgroup with --memory/--pids/--cpus,\nelse the command) plus RLIMIT_CPU per process; SIGKILL, exit 124',
    apply(v, d, text) {
      d.cpuTime = positive(v, text, 'a number of seconds of at least 0.001', 0.001);
      d.sources.set('cpuTime', text);
    },
  },
  {
    long: 'extra-time',
    value: 'SECONDS',
    help: 'CPU allowed past --cpu-time before the kill (the verdict still says cpuTime)',
    apply(v, d, text) {
      d.extraTime = positive(v, text, 'a number of seconds', 0);
      d.sources.set('extraTime', text);
    },
  },
  {
    long: 'output-limit',
    value: 'SIZE',
    help: 'at most SIZE bytes on stdout and on stderr (then piped through nsgroups);\nmore stops the command (SIGTERM, then SIGKILL)',
    apply(v, d, text) {
      d.outputLimit = parseByteSize(size(v, text, false), text) as number;
    },
  },
  {
    long: 'meta',
    value: 'FILE',
    help: "write what the run used and its verdict to FILE ('-': stdout, after the\ncommand's output), isolate-style key:value lines",
    apply(v, d) {
      d.meta = v;
    },
  },
  {
    long: 'json',
    help: 'with --meta: one JSON object instead',
    apply(_v, d) {
      d.json = true;
    },
  },
  {
    long: 'memory',
    value: 'SIZE',
    help: 'memory limit (256M, 2G), in a cgroup made for this run, removed after it',
    apply(v, d, text) {
      d.memory = size(v, text, true);
      d.sources.set('cgroup.memory', text);
    },
  },
  {
    long: 'pids',
    value: 'N',
    help: 'process limit, likewise',
    apply(v, d, text) {
      d.pids = natural(v, text);
      d.sources.set('cgroup.pids', text);
    },
  },
  {
    long: 'cpus',
    value: 'N',
    help: 'CPU limit in CPUs (0.5 = half a core), likewise',
    apply(v, d, text) {
      d.cpus = positive(v, text, 'a number of CPUs of at least 0.001', 0.001);
      d.sources.set('cgroup.cpu', text);
    },
  },
  {
    long: 'rootfs',
    value: 'DIR',
    help: "the sandbox's root directory",
    apply(v, d, text) {
      d.rootfs = v;
      d.sources.set('rootfs', text);
    },
  },
  {
    long: 'overlay',
    value: 'LOWER',
    help: 'a throw-away overlay root: LOWER (topmost first; repeatable) under\na fresh upper layer, removed after the run',
    apply(v, d, text) {
      d.overlay.push(v);
      d.sources.set('rootfs', text);
    },
  },
  {
    long: 'readonly',
    help: 'with --rootfs/--overlay: the root is read-only',
    apply(_v, d, text) {
      d.readonly = true;
      d.sources.set('readonly', text);
    },
  },
  {
    long: 'no-init',
    help: 'no init as pid 1: the command is pid 1 itself',
    apply(_v, d, text) {
      d.noInit = true;
      d.sources.set('init', text);
    },
  },
  {
    long: 'cap',
    value: 'CAP',
    help: "keep this capability (CAP_NET_BIND_SERVICE, …), or 'all'; repeatable\n(default: none in any set, root inside or not)",
    apply(v, d, text) {
      if (v === 'all') d.caps = 'all';
      else if (d.caps !== 'all') d.caps = [...(d.caps ?? []), v.toUpperCase().startsWith('CAP_') ? v.toUpperCase() : `CAP_${v.toUpperCase()}`];
      d.sources.set('capabilities', text);
    },
  },
  {
    long: 'seccomp',
    value: 'MODE',
    help: 'default (the system-call filter of docs/seccomp.md) | none',
    apply(v, d, text) {
      if (v !== 'default' && v !== 'none') throw new UsageError(`${text}: '${clip(v)}' is not default or none`);
      d.seccomp = v;
      d.sources.set('seccomp', text);
    },
  },
  {
    long: 'rlimit',
    value: 'NAME=VALUE',
    help: 'a resource limit (nofile=256, fsize=16M, cpu=2, core=0 by default,\nNAME=unlimited); soft and hard alike; repeatable',
    apply(v, d, text) {
      const eq = v.indexOf('=');
      if (eq <= 0 || eq === v.length - 1) throw new UsageError(`${text}: wants NAME=VALUE`);
      const value = v.slice(eq + 1);
      d.rlimits[v.slice(0, eq)] = /^\d+$/.test(value) ? Number(value) : value;
      d.sources.set(`rlimits.${v.slice(0, eq)}`, text);
    },
  },
  {
    long: 'keyring',
    value: 'MODE',
    help: "new (default: a session keyring of its own) | inherit (the caller's)",
    apply(v, d, text) {
      if (v !== 'new' && v !== 'inherit') throw new UsageError(`${text}: '${clip(v)}' is not new or inherit`);
      d.keyring = v;
      d.sources.set('keyring', text);
    },
  },
  {
    long: 'help',
    short: 'h',
    help: 'this text',
    apply(_v, d) {
      d.help = true;
    },
  },
];

export const RUN_USAGE = `usage: nsgroups run [OPTIONS] [--] COMMAND [ARGS...]

Runs COMMAND in a new sandbox and exits with its status. By default the sandbox has new user,
pid, mount, uts, ipc and net namespaces, with loopback up, and COMMAND holds no capability, runs
under the default seccomp filter, sees /proc/sys read-only and a few kernel files hidden
(docs/security.md; --cap, --seccomp relax that). Options end at COMMAND: what follows
is COMMAND's own (nsgroups run ls -l /); '--' before COMMAND is allowed, and needed only for a
COMMAND that starts with '-'.

options:
${formatOptions(RUN_OPTIONS)}

${EXIT_STATUS}`;

export interface ParsedRun {
  command: string;
  args: string[];
  options: SpawnOptions;
  /** limits for a cgroup made for this run */
  limits: CgroupLimits | null;
  /** lower layers of a throw-away overlay root */
  overlay: string[] | null;
  /** --timeout, in ms */
  timeoutMs: number | null;
  /** --output-limit, bytes per stream */
  outputLimit: number | null;
  /** --meta: a file, '-' for stdout; json: as one JSON object */
  meta: { to: string; json: boolean } | null;
  /** API option path → the argument that set it */
  sources: Map<string, string>;
}

function emptyDraft(): RunDraft {
  return {
    join: [],
    idRanges: [],
    mounts: [],
    env: [],
    clearEnv: false,
    overlay: [],
    readonly: false,
    noInit: false,
    caps: null,
    rlimits: {},
    help: false,
    json: false,
    sources: new Map(),
  };
}

/** Parses the arguments after `run` (pure: what is on the host is checked when the sandbox is made). */
export function parseRunArgs(argv: readonly string[]): ParsedRun | 'help' {
  const { options: given, positionals } = parseArgs(argv, RUN_OPTIONS, true);
  const d = emptyDraft();
  for (const o of given) (o.spec as RunOption).apply(o.value ?? '', d, o.text);
  if (d.help) return 'help';
  if (positionals.length === 0) throw new UsageError('no command given (nsgroups run [OPTIONS] [--] COMMAND [ARGS...])');
  if (d.rootfs !== undefined && d.overlay.length) throw new UsageError('--rootfs and --overlay: choose one');
  if (d.readonly && d.rootfs === undefined && !d.overlay.length) throw new UsageError('--readonly applies to a root: give --rootfs or --overlay');
  if (d.json && d.meta === undefined) throw new UsageError('--json applies to --meta: give --meta FILE or --meta -');
  if (d.extraTime !== undefined && d.cpuTime === undefined) throw new UsageError('--extra-time applies to --cpu-time: give --cpu-time too');
  const [command, ...args] = positionals;

  let namespaces = d.namespaces ?? DEFAULT_NAMESPACES;
  if (d.namespaces === undefined) {
    // joined namespaces replace the default new ones of the same type; --net host keeps the host's
    const joined = d.join.map((p) => /\/ns\/(\w+)$/.exec(p)?.[1]).map((t) => (t === 'mnt' ? 'mount' : t));
    namespaces = namespaces.filter((t) => !joined.includes(t) && !(t === 'net' && d.network === 'host'));
  }
  const options: SpawnOptions = { namespaces, stdio: 'inherit' };
  if (d.join.length) options.join = d.join;
  if (d.hostname !== undefined) options.hostname = d.hostname;
  if (d.network !== undefined) options.network = d.network;
  if (d.user) options.user = d.user;
  if (d.idRanges.length) {
    options.uidMap = d.idRanges;
    options.gidMap = d.idRanges;
  }
  if (d.mounts.length) options.mounts = d.mounts;
  if (d.cwd !== undefined) options.cwd = d.cwd;
  if (d.env.length || d.clearEnv) {
    const env: NodeJS.ProcessEnv = d.clearEnv ? {} : { ...process.env };
    for (const [k, v] of d.env) env[k] = v;
    options.env = env;
  }
  if (d.noInit) options.init = false;
  if (d.timeoutMs !== undefined) options.timeout = d.timeoutMs;
  if (d.killAfterMs !== undefined) options.killAfter = d.killAfterMs;
  if (d.cpuTime !== undefined) options.cpuTime = d.cpuTime;
  if (d.extraTime !== undefined) options.extraTime = d.extraTime;
  if (d.outputLimit !== undefined) options.stdio = ['inherit', 'pipe', 'pipe'];
  if (d.rootfs !== undefined) options.rootfs = d.rootfs;
  if (d.readonly) options.readonly = true;
  if (d.caps !== null) options.capabilities = d.caps as SpawnOptions['capabilities'];
  if (d.seccomp !== undefined) options.seccomp = d.seccomp;
  if (Object.keys(d.rlimits).length) options.rlimits = d.rlimits as SpawnOptions['rlimits'];
  if (d.keyring !== undefined) options.keyring = d.keyring;
  let limits: CgroupLimits | null = null;
  if (d.memory !== undefined || d.pids !== undefined || d.cpus !== undefined) {
    limits = {};
    if (d.memory !== undefined) limits.memory = { max: d.memory };
    if (d.pids !== undefined) limits.pids = { max: d.pids };
    if (d.cpus !== undefined) limits.cpu = { max: d.cpus };
  }
  return {
    command,
    args,
    options,
    limits,
    overlay: d.overlay.length ? d.overlay : null,
    timeoutMs: d.timeoutMs ?? null,
    outputLimit: d.outputLimit ?? null,
    meta: d.meta === undefined ? null : { to: d.meta, json: d.json },
    sources: d.sources,
  };
}

/** Runs the parsed command; resolves with the exit status. Errors come out in CLI terms. */
export async function runCommand(parsed: ParsedRun): Promise<number> {
  try {
    return await runMade(parsed);
  } catch (err) {
    const e = err instanceof NsgroupsError ? cliTerms(err, parsed.sources) : err;
    // a run that never started has a verdict too (isolate's XX)
    if (parsed.meta && e instanceof NsgroupsError && e.code !== 'ERR_INVALID_ARG') {
      writeMeta(parsed.meta, parsed.meta.json ? formatSetupJson(e.message) : formatSetupMeta(e.message));
    }
    throw e;
  }
}

function writeMeta(meta: { to: string }, text: string): void {
  if (meta.to === '-') process.stdout.write(text);
  else fs.writeFileSync(meta.to, text);
}

async function runMade(parsed: ParsedRun): Promise<number> {
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
      const scratch = await makeScratch();
      undo.push(() => removeScratch(scratch));
      options.rootfs = new OverlayMount({
        lower: parsed.overlay.map((l) => path.resolve(l)),
        upper: path.join(scratch, 'upper'),
        work: path.join(scratch, 'work'),
        target: path.join(scratch, 'root'),
      });
    }
    const result = await runSandbox(parsed.command, parsed.args, options, parsed.outputLimit);
    if (parsed.meta) writeMeta(parsed.meta, parsed.meta.json ? formatJson(result) : formatMeta(result));
    // timeout(1): 124 once a time limit stopped it, whatever the command then did
    if (result.status === 'timeout' || result.status === 'cpuTime') return 124;
    return result.code ?? 128 + (result.signal ? osConstants.signals[result.signal] : 0);
  } finally {
    for (const step of undo.reverse()) await step().catch((err: Error) => console.error(`nsgroups run: cleanup: ${err.message}`));
  }
}

/** A scratch directory for an overlay root, carrying its maker (lib/host/owner.ts) for `nsgroups gc`. */
async function makeScratch(): Promise<string> {
  const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'nsgroups-run-'));
  try {
    await fs.promises.writeFile(path.join(scratch, 'owner'), `${ownerRecord()}\n`);
    for (const d of ['upper', 'work', 'root']) await fs.promises.mkdir(path.join(scratch, d));
    return scratch;
  } catch (err) {
    await removeScratch(scratch);
    throw err;
  }
}

export { removeScratch };

async function runSandbox(command: string, args: string[], options: SpawnOptions, outputLimit: number | null): Promise<ExitResult> {
  const p: SandboxProcess = spawn(command, args, options);
  // The sandbox runs in its own session: forward what the terminal sends us.
  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  const forward = (sig: NodeJS.Signals): void => void p.kill(sig);
  for (const sig of forwarded) process.on(sig, forward);
  try {
    const closed = new Promise<void>((resolve, reject) => {
      p.once('close', () => resolve());
      p.once('error', reject);
    });
    closed.catch(() => {}); // a failure to start rejects `exited` too: that one is thrown
    if (outputLimit !== null) {
      relay(p.stdout!, process.stdout, outputLimit, () => p._stop('output'));
      relay(p.stderr!, process.stderr, outputLimit, () => p._stop('output'));
    }
    const result = await p.exited;
    await closed; // all its output is through before the meta
    return result;
  } finally {
    for (const sig of forwarded) process.off(sig, forward);
  }
}

/** Copies `from` to `to` (with backpressure) up to `limit` bytes; past them `onOver`, once, and the rest is dropped. */
function relay(from: Readable, to: Writable, limit: number, onOver: () => void): void {
  let sent = 0;
  let over = false;
  from.on('data', (chunk: Buffer) => {
    if (over) return;
    const room = limit - sent;
    if (chunk.length > room) {
      over = true;
      if (room > 0) to.write(chunk.subarray(0, room));
      sent = limit;
      from.resume();
      onOver();
      return;
    }
    sent += chunk.length;
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
}
