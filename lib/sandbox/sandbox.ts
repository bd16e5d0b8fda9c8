// Sandbox: one test's world (API.md "a sandbox per test"). A copy-on-write view of the workspace,
// its own /tmp and /run, the rest of the host read-only (or absent), its own network, a cgroup
// of its own where one can be made, and every command run in it in the same namespaces, held by
// one holder process (holder.ts). dispose() reports and kills what is left, and removes the lot.
//
//   create:  options checked → cgroup (skipped without limits when none may be made) → the
//            sandbox's directory (root.ts) → the holder → its namespaces; undone in reverse on failure
//   dispose: freeze the cgroup → the last pid handed out, the leftovers (leftovers.ts) → kill the
//            holder (its init takes the pid namespace along) → thaw → delete the cgroup → the
//            workspace's changes counted → the directory removed, or kept and its path printed
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Cgroup } from '../cgroup/cgroup';
import { NsgroupsError } from '../errors';
import type { OverlayChange } from '../overlay/changes';
import { resolveSpawn, type SpawnOptions } from '../spawn/options';
import { spawnResolved, type ExitResult, type SandboxProcess } from '../spawn/process';
import { runProcess, type RunResult } from '../spawn/run';
import { removeScratchSync } from '../util/scratch';
import type { Plain } from '../util/validate';
import { commandUser, startHolder, type Holder } from './holder';
import { cgroupHome, cleanCgroupHomeAtExit, sandboxHome } from './janitor';
import { processesIn } from './leftovers';
import {
  checkCommandOptions,
  checkDisposeOptions,
  disposedError,
  resolveSandboxOptions,
  type ResolvedSandbox,
  type SandboxDisposeOptions,
  type SandboxOptions,
  type SandboxRunOptions,
  type SandboxSpawnOptions,
} from './options';
import { cgroupFigures, type CommandStatuses, type SandboxReport } from './report';
import { SandboxPool, type SandboxPoolOptions } from './pool';
import { layOut, type SandboxLayout } from './root';

const INTERNAL = Symbol('nsgroups.Sandbox');
/** pids 1 and 2 of the sandbox are its init and the holder's shell */
const HOLDER_PIDS = 2;
let made = 0;

// Sandboxes not disposed yet, for the warning at exit
const live = new Set<Sandbox>();
let exitHook = false;
function warnAtExit(): void {
  if (live.size === 0) return;
  const names = [...live]
    .map((s) => s.name ?? s.dir)
    .slice(0, 5)
    .join(', ');
  process.stderr.write(
    `nsgroups: ${live.size} sandbox(es) were not disposed (${names}); their processes end with this process, ` +
      'and their files and cgroups are removed right after it\n',
  );
}

/** overlayfs mounted in a user namespace leaves its work/work mode 000 */
const closedDirs = (dir: string): string[] => [path.join(dir, 'work', 'work'), path.join(dir, 'root-work', 'work')];

async function makeCgroup(o: ResolvedSandbox, n: number): Promise<Cgroup | null> {
  const name = `${cgroupHome()}/sb-${n}-${randomBytes(3).toString('hex')}`;
  try {
    const cg = await Cgroup.create(name, o.limits ?? {});
    cleanCgroupHomeAtExit(cg.path);
    return cg;
  } catch (err) {
    if (!(err instanceof NsgroupsError && err.code === 'ERR_PERMISSION')) throw err;
    // Without limits the sandbox does without a cgroup: its pid namespace finds and ends its
    // processes; only cpu and memory figures are missing from its report.
    if (o.limits === null) return null;
    throw new NsgroupsError(
      'ERR_PERMISSION',
      `Sandbox options.limits need a cgroup of the sandbox's own, and this process may not make one. ${err.message}\n` +
        'Without limits a sandbox needs no cgroup (cpu and memory are then missing from its report).',
      { path: err.path, cause: err },
    );
  }
}

/**
 * A sandbox per test: one set of namespaces every command joins, a copy-on-write view of the
 * workspace, a read-only rest of the filesystem, its own /tmp, no network by default, and a
 * cgroup for limits and figures. Made with Sandbox.create(); dispose() ends it (docs/harness.md).
 * @example
 * await using sb = await Sandbox.create({ workspace: process.cwd(), network: 'none', limits: { memory: { max: '512M' } } });
 * const r = await sb.run('npm', ['test']);
 * console.log(r.status, await sb.changes(), sb.report().cpuMs);
 */
export class Sandbox {
  #o: ResolvedSandbox;
  readonly #layout: SandboxLayout;
  readonly #holder: Holder;
  readonly #cgroup: Cgroup | null;
  #createdAt: number;
  readonly #running = new Set<SandboxProcess>();
  #commands = 0;
  /** the commands' own CPU (rusage), µs; their verdicts counted */
  #commandCpuUsec = 0;
  #statuses: CommandStatuses = {};
  /** the highest memory peak seen before a command's start reset it (v1 resets it for the whole cgroup) */
  #memoryPeak: number | null = null;
  #lastPid: number | null = HOLDER_PIDS;
  #refreshing: Promise<void> | null = null;
  #refreshAgain = false;
  #disposing: Promise<void> | null = null;
  #final: SandboxReport | null = null;
  #finalChanges: OverlayChange[] | null = null;

  /** @internal use Sandbox.create */
  constructor(token: typeof INTERNAL, o: ResolvedSandbox, layout: SandboxLayout, holder: Holder, cgroup: Cgroup | null, createdAt: number) {
    if (token !== INTERNAL) throw new TypeError('Sandbox has no public constructor: use await Sandbox.create(options)');
    this.#o = o;
    this.#layout = layout;
    this.#holder = holder;
    this.#cgroup = cgroup;
    this.#createdAt = createdAt;
  }

  /**
   * Makes one test's world (SandboxOptions). Nothing is left behind if it fails.
   * @throws NsgroupsError ERR_INVALID_ARG for bad options; ERR_PERMISSION when `limits` need a
   * cgroup this process may not make; the spawn's error when the host refuses a namespace
   * (ERR_PERMISSION, ERR_UNSUPPORTED)
   * @example
   * const sb = await Sandbox.create({ workspace: '/src/app', name: 'build', keep: 'on-failure' });
   */
  static async create(options?: SandboxOptions): Promise<Sandbox> {
    const sb = await Sandbox._make(resolveSandboxOptions(options));
    sb._handOver(sb.#o.name, sb.#o.keep);
    return sb;
  }

  /**
   * A pool of sandboxes made ahead of time with the same options: `await pool.create()` hands
   * one over at once and makes another in the background (SandboxPool; docs/harness.md).
   * @throws NsgroupsError ERR_INVALID_ARG for bad options or size (checked now: a refill never fails on them)
   * @example
   * const pool = Sandbox.pool({ workspace: process.cwd(), size: 2 });
   * await using sb = await pool.create({ name: 'test 1' });
   * await pool.close();
   */
  static pool(options?: SandboxPoolOptions): SandboxPool {
    return new SandboxPool(options);
  }

  /**
   * @internal Makes a sandbox for resolved options; it is the caller's from _handOver() on
   * (until then it is not in the exit-time warning's list: a pool's idle sandboxes are the pool's).
   */
  static async _make(o: ResolvedSandbox): Promise<Sandbox> {
    const createdAt = performance.now();
    const n = ++made;
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const cgroup = await makeCgroup(o, n);
      if (cgroup) undo.push(() => cgroup.delete({ kill: true }));
      const home = sandboxHome(o.scratch);
      const dir = fs.mkdtempSync(path.join(home, `sb-${n}-`));
      undo.push(async () => removeScratchSync(dir, closedDirs(dir)));
      const layout = layOut(o, home, dir);
      const holder = await startHolder({ options: o, layout });
      undo.push(() => holder.stop());
      return new Sandbox(INTERNAL, o, layout, holder, cgroup, createdAt);
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => {});
      throw err;
    }
  }

  /**
   * @internal The sandbox becomes a test's: its name and keep are the test's, its report's clock
   * starts now (a pooled sandbox's idle time is not its test's), and it is warned of at exit
   * unless disposed.
   */
  _handOver(name: string | null, keep: ResolvedSandbox['keep']): void {
    this.#o = { ...this.#o, name, keep };
    this.#createdAt = performance.now();
    live.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', warnAtExit);
    }
  }

  /** @internal false once its holder is gone (a pool does not hand such a sandbox out) */
  _alive(): boolean {
    if (this.#disposing !== null || !this.#holder.alive()) return false;
    // its exit may not have been heard yet: the kernel's word, not a zombie (proc(5) stat's state)
    // and not a reused pid (which would be in another pid namespace)
    const pid = this.#holder.pid;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state !== 'Z' && state !== 'X' && fs.readlinkSync(`/proc/${pid}/ns/pid`) === this.#holder.pidNamespace;
    } catch {
      return false;
    }
  }

  /** The name given to create(), or null. */
  get name(): string | null {
    return this.#o.name;
  }

  /** The workspace (its real path, which is also its path inside), or null without one. */
  get workspace(): string | null {
    return this.#o.workspace;
  }

  /** The sandbox's own directory on the host (upper/: the workspace's changes; tmp/: its /tmp). */
  get dir(): string {
    return this.#layout.dir;
  }

  /** The sandbox's cgroup, or null when it has none (rootless without a delegated cgroup, and no limits). */
  get cgroup(): Cgroup | null {
    return this.#cgroup;
  }

  /** The pid of the holder, the process whose namespaces every command joins (for inspection). */
  get pid(): number {
    return this.#holder.pid;
  }

  #check(what: string): void {
    if (this.#disposing) throw disposedError(what);
  }

  #spawnOptions(o: Plain): SpawnOptions {
    const { rlimits, ...rest } = o as SandboxRunOptions;
    return {
      ...rest,
      join: this.#holder.join,
      ...(this.#cgroup ? { cgroup: this.#cgroup } : {}),
      user: (o.user as SpawnOptions['user']) ?? commandUser(),
      env: (o.env as NodeJS.ProcessEnv | undefined) ?? this.#o.env,
      ...(o.timeout === undefined && this.#o.timeout !== null ? { timeout: this.#o.timeout } : {}),
      ...(rlimits || this.#o.rlimits ? { rlimits: { ...this.#o.rlimits, ...rlimits } } : {}),
    } as SpawnOptions;
  }

  #track(p: SandboxProcess): void {
    this.#commands++;
    this.#running.add(p);
    const done = (result: ExitResult | null): void => {
      this.#running.delete(p);
      const status = result?.status ?? 'setup';
      this.#statuses[status] = (this.#statuses[status] ?? 0) + 1;
      if (result) {
        this.#commandCpuUsec += Math.round((result.usage.cpuUserMs + result.usage.cpuSystemMs) * 1000);
        this.#notePeak(result.usage.cgroup?.memoryPeakBytes ?? null);
      }
      void this.#refresh();
    };
    p._whenEnded(done);
  }

  /**
   * Keeps the sandbox's memory peak across its commands' runs: each run's figures reset the
   * cgroup's peak where the kernel allows it (v1 memory.max_usage_in_bytes: for every reader),
   * so the peak so far is read just before a command starts, and each run's own peak at its end.
   */
  #notePeak(bytes: number | null = this.#cgroupPeak()): void {
    if (bytes !== null) this.#memoryPeak = Math.max(this.#memoryPeak ?? 0, bytes);
  }

  #cgroupPeak(): number | null {
    if (!this.#cgroup) return null;
    try {
      return this.#cgroup._memoryPeak();
    } catch {
      return null; // being deleted
    }
  }

  /** Reads the last pid the sandbox handed out (coalesced: one query at a time, one more after it). */
  #refresh(): Promise<void> {
    if (this.#disposing) return Promise.resolve();
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#refreshAgain = false;
        const last = await this.#holder.lastPid().catch(() => null);
        if (last !== null) this.#lastPid = Math.max(this.#lastPid ?? 0, last);
      } while (this.#refreshAgain && !this.#disposing);
      this.#refreshing = null;
    })();
    return this.#refreshing;
  }

  /**
   * Runs a command in the sandbox to its end (run()'s result). cwd defaults to the workspace.
   * @throws NsgroupsError ERR_INVALID_ARG for an option the sandbox decides (namespaces, rootfs…);
   * ERR_NOT_FOUND once the sandbox is disposed; a setup error (status 'setup') when the command cannot start
   * @example
   * const { code, stdout } = await sb.run('ls', ['-a'], { timeout: 5000 });
   */
  run(command: string, args?: readonly string[], options?: SandboxRunOptions): Promise<RunResult<string>>;
  run(command: string, args: readonly string[], options: SandboxRunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
  async run(command: string, args?: readonly string[], options?: SandboxRunOptions): Promise<RunResult> {
    this.#check('sb.run()');
    if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as SandboxRunOptions];
    const o = checkCommandOptions(options, false, this.#defaultCwd());
    this.#notePeak();
    const result = await runProcess(command, args, this.#spawnOptions(o), (p) => this.#track(p));
    await this.#refresh();
    return result;
  }

  /**
   * Starts a command in the sandbox (spawn()'s SandboxProcess); it shares the sandbox with every other.
   * @throws NsgroupsError ERR_INVALID_ARG for an option the sandbox decides; ERR_NOT_FOUND once the sandbox is disposed
   * @example
   * const server = sb.spawn('node', ['server.js']);
   * await sb.run('curl', ['http://localhost:8080']);
   * server.kill();
   */
  spawn(command: string, args?: readonly string[], options?: SandboxSpawnOptions): SandboxProcess {
    this.#check('sb.spawn()');
    if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as SandboxSpawnOptions];
    const o = checkCommandOptions(options, true, this.#defaultCwd());
    this.#notePeak();
    const p = spawnResolved(resolveSpawn(command, args, this.#spawnOptions(o)));
    this.#track(p);
    return p;
  }

  #defaultCwd(): string {
    return this.#o.workspace ?? '/tmp';
  }

  /**
   * Where Node reads (or writes) the sandbox's path `p` from outside: /proc/PID/root of the
   * holder, the sandbox's own view. `p` is absolute in the sandbox, or relative to the
   * workspace. A symlink with an absolute target is resolved against the caller's root.
   * @throws NsgroupsError ERR_INVALID_ARG for a path that is not a string or holds a NUL byte;
   * ERR_NOT_FOUND once the sandbox is disposed
   * @example
   * fs.readFileSync(sb.path('out/result.json'), 'utf8');
   */
  path(p: string): string {
    this.#check('sb.path()');
    if (typeof p !== 'string' || p.includes('\0')) throw new NsgroupsError('ERR_INVALID_ARG', 'sb.path() takes a path string');
    return `/proc/${this.#holder.pid}/root${path.posix.resolve(this.#defaultCwd(), p)}`;
  }

  /**
   * What the commands added, modified and deleted in the workspace so far, as sandbox paths
   * (absolute: the workspace's own path), in tree order; [] without a workspace. After dispose(),
   * the changes as they were at the end.
   * @example
   * for (const { path, kind } of await sb.changes()) console.log(kind, path);
   */
  async changes(): Promise<OverlayChange[]> {
    if (this.#final) return [...(this.#finalChanges ?? [])];
    const ov = this.#layout.workspace;
    if (!ov || !fs.existsSync(ov.upper!)) return [];
    const ws = this.#o.workspace!;
    return (await ov.changes()).map((c) => ({ path: path.posix.join(ws, c.path), kind: c.kind }));
  }

  /**
   * What ran in the sandbox and what it cost (SandboxReport); final once dispose() has resolved.
   * @example
   * await sb.dispose();
   * console.log(sb.report().leftovers);
   */
  report(): SandboxReport {
    if (this.#final) return { ...this.#final, leftovers: [...this.#final.leftovers], statuses: { ...this.#final.statuses } };
    let figures: Pick<SandboxReport, 'cpuMs' | 'memoryPeakBytes' | 'oomKills'> = { cpuMs: null, memoryPeakBytes: null, oomKills: null };
    if (this.#cgroup) {
      try {
        figures = cgroupFigures(this.#cgroup._statsSync());
      } catch {
        /* being deleted */
      }
    }
    return {
      name: this.#o.name,
      durationMs: Math.round((performance.now() - this.#createdAt) * 10) / 10,
      ...figures,
      memoryPeakBytes: this.#withPeak(figures.memoryPeakBytes),
      ...this.#commandFigures(),
      processes: this.#lastPid === null ? null : this.#lastPid - HOLDER_PIDS,
      commands: this.#commands,
      leftovers: [],
      filesChanged: null,
      cgroup: this.#cgroup?.name ?? null,
      kept: null,
      disposed: false,
    };
  }

  #withPeak(bytes: number | null): number | null {
    if (bytes === null) return this.#memoryPeak;
    return this.#memoryPeak === null ? bytes : Math.max(bytes, this.#memoryPeak);
  }

  #commandFigures(): Pick<SandboxReport, 'commandCpuMs' | 'statuses'> {
    return { commandCpuMs: Math.round(this.#commandCpuUsec / 100) / 10, statuses: { ...this.#statuses } };
  }

  /**
   * Kills whatever still runs in the sandbox (reported as leftovers), removes its cgroup and
   * its files — or keeps the files (keep: true, or 'on-failure' with { failed: true }) and
   * prints where. Calling it again waits for the first call; it never throws for that.
   * @example
   * await sb.dispose({ failed: testFailed });
   */
  async dispose(options?: SandboxDisposeOptions): Promise<void> {
    const { failed, keep } = checkDisposeOptions(options);
    this.#disposing ??= this.#dispose(keep ?? (this.#o.keep === 'always' || (this.#o.keep === 'on-failure' && failed)));
    return this.#disposing;
  }

  /**
   * `await using sb = await Sandbox.create(...)`: dispose() at the end of the block.
   * @example
   * await using sb = await Sandbox.create();
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async #dispose(keep: boolean): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async <T>(step: () => Promise<T> | T): Promise<T | undefined> => {
      try {
        return await step();
      } catch (err) {
        errors.push(err);
        return undefined;
      }
    };
    const cg = this.#cgroup;
    await this.#refreshing;
    // a frozen cgroup holds still while it is listed: a fork bomb cannot outrun the list
    const frozen = cg
      ? await cg.freeze().then(
          () => true,
          () => false,
        )
      : false;
    const last = await this.#holder.lastPid().catch(() => null);
    if (last !== null) this.#lastPid = Math.max(this.#lastPid ?? 0, last);
    const holderPid = this.#holder.pid;
    const leftovers = (await attempt(() => processesIn(this.#holder.pidNamespace, (p) => p.pid === holderPid || p.sandboxPid === 1))) ?? [];
    const snapshot = this.report();
    const stopping = this.#holder.stop(); // the init's death kills every process of the pid namespace
    if (frozen) await attempt(() => cg!.thaw()); // frozen processes die once thawed
    await stopping;
    await Promise.all([...this.#running].map((p) => p.exited.catch(() => {})));
    const figures = cg ? ((await attempt(() => cgroupFigures(cg._statsSync()))) ?? snapshot) : snapshot;
    if (cg) await attempt(() => cg.delete({ kill: true }));
    const changes = (await attempt(() => this.changes())) ?? null;
    this.#finalChanges = changes;
    const report: SandboxReport = {
      ...snapshot,
      cpuMs: figures.cpuMs,
      memoryPeakBytes: this.#withPeak(figures.memoryPeakBytes),
      oomKills: figures.oomKills,
      ...this.#commandFigures(), // the leftovers sb.spawn() started are counted now they have ended
      leftovers,
      filesChanged: changes?.length ?? null,
      disposed: true,
    };
    if (keep) report.kept = (await attempt(() => this.#keep(report, changes ?? []))) ?? null;
    else await attempt(() => removeScratchSync(this.#layout.dir, closedDirs(this.#layout.dir)));
    report.durationMs = Math.round((performance.now() - this.#createdAt) * 10) / 10;
    this.#final = report;
    live.delete(this);
    if (errors.length > 0) throw errors[0];
  }

  /** Moves the sandbox's directory out of this instance's (which goes at exit) and says where. */
  async #keep(report: SandboxReport, changes: OverlayChange[]): Promise<string> {
    const slug = (this.#o.name ?? 'sandbox').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60);
    const kept = fs.mkdtempSync(path.join(this.#o.scratch, `nsgroups-kept-${slug}-`));
    fs.renameSync(this.#layout.dir, kept); // over the empty directory mkdtemp made (rename(2))
    fs.writeFileSync(path.join(kept, 'report.json'), `${JSON.stringify({ ...report, kept }, null, 2)}\n`);
    fs.writeFileSync(path.join(kept, 'changes.json'), `${JSON.stringify(changes, null, 2)}\n`);
    process.stderr.write(
      `nsgroups: kept the sandbox${this.#o.name ? ` of "${this.#o.name}"` : ''} at ${kept}` +
        `${this.#o.workspace ? ` (upper/: what changed in ${this.#o.workspace};` : ' ('} tmp/: its /tmp; report.json, changes.json)\n`,
    );
    return kept;
  }
}
