// A warm pool (API.md "warm pool"): `size` sandboxes made ahead of time — namespaces, mounts,
// root, identity, capabilities, limits, the seccomp filter, each in a cgroup of its own when the
// pool has limits — waiting in the kernel for a command (src-native/child.c park_then_exec).
// run()/spawn() hands one its command: it only chdirs, finds the command, installs its fds and
// execs. A pooled sandbox is used once and destroyed, never reused; the pool makes another.
//
// What a pooled run is not: the command runs in a sandbox made before the call, so the options
// that describe the sandbox are the pool's (createPool) and a run takes only the command's own
// (RUN_OPTION_KEYS, plus limits, applied to its cgroup before the hand-over). The cwd check
// (chdir) and the command lookup happen as the sandbox's user, after the capabilities are gone.
import { Cgroup, type CgroupCreateOptions } from '../cgroup/cgroup';
import type { CgroupLimits } from '../cgroup/limits';
import { invalidArg, NsgroupsError } from '../errors';
import { Backoff } from '../util/backoff';
import { checkInteger, checkObject } from '../util/validate';
import { closeJoins } from '../spawn/joins';
import { resolveRun, resolveSpawn, RUN_OPTION_KEYS, type ResolvedSpawn, type SpawnOptions } from '../spawn/options';
import { SandboxProcess, spawnResolved } from '../spawn/process';
import { collectRun, openRunStdio, splitRunOptions, type RunOptions, type RunResult } from '../spawn/run';
import { sweepPoolCgroups, poolCgroupName } from './leftovers';
import type { Readable, Writable } from 'node:stream';
import type { StdioEntry } from '../spawn/options';
import type { PipeOr, SandboxProcessByStdio, SandboxProcessWithoutNullStreams, StdioPipe } from '../spawn/index';

/**
 * createPool()'s options: spawn()'s (they describe every sandbox of the pool; cwd, env, argv0,
 * stdio, timeout, killSignal and killAfter are the defaults of each run), plus `size` and `limits`.
 * No `signal` (it belongs to a run).
 */
export interface PoolOptions extends SpawnOptions {
  /** sandboxes kept ready (1-256) */
  size: number;
  /** each sandbox gets a cgroup of its own with these limits (Cgroup.create's shape), made by
   *  the pool under the base and removed after its run; not with `cgroup` */
  limits?: CgroupCreateOptions;
}

/** A run's options: the command's own, its limits (with a pool that has them), run()'s extras. */
export type PoolRunOptions = Pick<RunOptions, (typeof RUN_OPTION_KEYS)[number] | 'input' | 'encoding' | 'maxBuffer'> & {
  /** limits set on this run's sandbox cgroup before the hand-over (only with a pool made with `limits`) */
  limits?: CgroupLimits;
};
/** pool.spawn()'s options: the command's own (cwd, env, argv0, stdio, timeout, signal, killSignal, killAfter); the sandbox is the pool's. */
export type PoolSpawnOptions = Pick<SpawnOptions, (typeof RUN_OPTION_KEYS)[number]>;

/** What a pool holds now and has done (pool.stats()): counts of sandboxes and runs. */
export interface PoolStats {
  /** sandboxes ready now */
  idle: number;
  /** being made */
  making: number;
  /** handed a command and not yet destroyed */
  running: number;
  /** runs waiting for a sandbox */
  waiting: number;
  /** commands handed over since the pool was made */
  handedOver: number;
  /** sandboxes that ended before they got a command (setup failures, killed while idle) */
  failed: number;
}

/** One sandbox of the pool, from its making to its removal. */
interface Entry {
  proc: SandboxProcess | null;
  cgroup: Cgroup | null;
  state: 'making' | 'idle' | 'running' | 'gone';
  /** the Node process's working directory when the sandbox was made: its own, inherited */
  cwd: string;
  /** settles once the cgroup is made and the sandbox spawned (or that failed) */
  started: Promise<void>;
}

interface Waiter {
  resolve(entry: Entry): void;
  reject(err: unknown): void;
}

const SIGKILL = 'SIGKILL';
const MAX_BACKOFF_MS = 5000;
let poolSequence = 0;

/**
 * Makes a pool of `size` sandboxes set up ahead of time and resolves once its first one is ready
 * (or rejects with why none can be, and closes the pool). See docs/pool.md.
 * @returns the pool, refilling itself in the background
 * @throws NsgroupsError ERR_INVALID_ARG for bad options (every option is checked here, never at
 * a later refill); the error of the first sandbox that cannot be made (ERR_UNSUPPORTED,
 * ERR_PERMISSION, …)
 * @example
 * await using pool = await createPool({ size: 4, namespaces: ['user', 'pid', 'net'], limits: { memory: { max: '256M' } } });
 * const r = await pool.run('echo', ['hi'], { timeout: 5000 });
 */
export async function createPool(options: PoolOptions): Promise<Pool> {
  const pool = new Pool(options);
  try {
    await pool.ready(1);
  } catch (err) {
    await pool.close();
    throw err;
  }
  return pool;
}

/**
 * A warm pool: sandboxes made ahead of time, each handed one command and then destroyed (docs/pool.md).
 * Made by createPool().
 * @example
 * const pool = await createPool({ size: 2, namespaces: ['user', 'pid'] });
 * console.log((await pool.run('true')).status, pool.stats().handedOver);
 * await pool.close();
 */
export class Pool {
  /** sandboxes the pool keeps ready (1-256) */
  readonly size: number;
  readonly #sandboxOptions: SpawnOptions;
  readonly #limits: CgroupCreateOptions | null;
  readonly #runDefaults: Record<string, unknown>;
  readonly #template: ResolvedSpawn;
  readonly #name: string;
  #entrySequence = 0;
  readonly #entries = new Set<Entry>();
  readonly #idle: Entry[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #readyWaiters: Array<{ count: number; resolve(): void; reject(err: unknown): void }> = [];
  readonly #cleanups = new Set<Promise<void>>();
  #closed = false;
  #handedOver = 0;
  #failed = 0;
  readonly #backoff = new Backoff(() => this.#refill(), MAX_BACKOFF_MS);
  #lastError: NsgroupsError | null = null;
  #swept: Promise<unknown> | null;

  /** @internal use createPool() */
  constructor(options: PoolOptions) {
    const o = checkObject(options, 'createPool options');
    const size = checkInteger(o.size, 'createPool options.size', 1, 256);
    const { size: _s, limits, signal, ...rest } = o as unknown as PoolOptions & Record<string, unknown>;
    if (signal !== undefined)
      throw invalidArg('createPool options.signal: a signal belongs to a run (pool.run(cmd, args, { signal })); close the pool to end it all');
    if (limits !== undefined && rest.cgroup !== undefined) {
      throw invalidArg('createPool options: limits gives each sandbox a cgroup of its own; cgroup puts them all in yours: choose one');
    }
    if (limits !== undefined) checkObject(limits, 'createPool options.limits');
    // the command's own options are defaults of each run; the rest describes the sandbox
    const runDefaults: Record<string, unknown> = {};
    for (const key of RUN_OPTION_KEYS) {
      if (key in rest) {
        runDefaults[key] = (rest as Record<string, unknown>)[key];
        delete (rest as Record<string, unknown>)[key];
      }
    }
    // Everything is checked now: a bad option is an error of createPool, not of a later refill.
    // The template of every run's spec (resolveRun): the sandbox as resolved now; the joins it
    // opened are closed (each sandbox opens its own).
    const template = resolveSpawn('true', [], { ...rest, stdio: 'ignore' });
    closeJoins(template.joins);
    resolveRun(template, 'true', [], runDefaults, 'createPool options');
    this.#template = { ...template, joins: [] };
    this.size = size;
    this.#sandboxOptions = rest as SpawnOptions;
    this.#limits = (limits as CgroupCreateOptions | undefined) ?? null;
    this.#runDefaults = runDefaults;
    this.#name = poolCgroupName(process.pid, ++poolSequence);
    // a crashed process's pools left their cgroups: remove those before making ours
    this.#swept = this.#limits ? sweepPoolCgroups().catch(() => {}) : null;
    this.#refill();
  }

  /**
   * What the pool holds and has done.
   * @example
   * const { idle, making, running, waiting } = pool.stats();
   */
  stats(): PoolStats {
    let making = 0;
    let running = 0;
    for (const e of this.#entries) {
      if (e.state === 'making') making++;
      else if (e.state === 'running') running++;
    }
    return { idle: this.#idle.length, making, running, waiting: this.#waiters.length, handedOver: this.#handedOver, failed: this.#failed };
  }

  /**
   * Resolves once `count` sandboxes (default: the pool's size) are ready.
   * @throws NsgroupsError ERR_INVALID_ARG for a count outside 1..size; rejects with ERR_BUSY once the pool is closed
   * @example
   * await pool.ready(1);
   * pool.spawn('true');
   */
  ready(count = this.size): Promise<void> {
    const n = checkInteger(count, 'pool.ready(count)', 1, this.size);
    if (this.#closed) return Promise.reject(closedError());
    if (this.#idle.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ count: n, resolve, reject }));
  }

  /**
   * Starts `command` in a ready sandbox and returns at once, like spawn(). ERR_BUSY when none is
   * ready (all are in use or being made): await pool.ready(1) first, or use run(), which waits.
   * The streams are typed non-null when `stdio` is given as pipes (the pool's own default may not
   * be 'pipe').
   * @throws NsgroupsError ERR_BUSY when no sandbox is ready or the pool is closed; ERR_INVALID_ARG
   * for an option that describes the sandbox, or `limits`
   * @example
   * await pool.ready(1);
   * const p = pool.spawn('cat', [], { stdio: 'pipe' });
   * p.stdin.end('hi');
   */
  spawn(command: string, args: readonly string[], options: PoolSpawnOptions & { stdio: 'pipe' | readonly StdioPipe[] }): SandboxProcessWithoutNullStreams;
  spawn(command: string, options: PoolSpawnOptions & { stdio: 'pipe' | readonly StdioPipe[] }): SandboxProcessWithoutNullStreams;
  spawn<const I extends StdioEntry, const O extends StdioEntry, const E extends StdioEntry>(
    command: string,
    args: readonly string[],
    options: PoolSpawnOptions & { stdio: readonly [I, O, E, ...StdioEntry[]] },
  ): SandboxProcessByStdio<PipeOr<I, Writable>, PipeOr<O, Readable>, PipeOr<E, Readable>>;
  spawn(command: string, args?: readonly string[], options?: PoolSpawnOptions): SandboxProcess;
  spawn(command: string, options?: PoolSpawnOptions): SandboxProcess;
  spawn(command: string, args?: readonly string[] | PoolSpawnOptions, options?: PoolSpawnOptions): SandboxProcess {
    if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as PoolSpawnOptions];
    if (this.#closed) throw closedError();
    const opts = options === undefined ? {} : checkObject(options, 'pool.spawn options');
    if ('limits' in opts)
      throw invalidArg(
        'pool.spawn options: limits are applied before the hand-over, which spawn() cannot wait for: use pool.run(), or give createPool the limits',
      );
    const template = this.#template;
    const spec = resolveRun(template, command, args, { ...this.#runDefaults, ...opts }, 'pool.spawn options');
    for (;;) {
      const entry = this.#idle.shift();
      if (!entry) {
        this.#refill();
        const { making, running } = this.stats();
        const last = this.#lastError ? `; the last one failed: ${this.#lastError.message}` : '';
        throw new NsgroupsError(
          'ERR_BUSY',
          `no sandbox of the pool is ready (${making} being made, ${running} running${last}): await pool.ready(1) first, or use pool.run(), which waits`,
          this.#lastError ? { cause: this.#lastError } : {},
        );
      }
      const proc = this.#handOver(entry, spec);
      if (!proc) continue;
      const done = (): void => this.#destroy(entry);
      proc.once('exit', done);
      proc.once('error', done);
      return proc;
    }
  }

  /**
   * Runs `command` to completion in a sandbox of the pool (run()'s result); waits for one.
   * @throws NsgroupsError ERR_INVALID_ARG for an option that describes the sandbox, or `limits`
   * with a pool that has none; ERR_BUSY when the pool is (or gets) closed; a setup error (status
   * 'setup') when the command cannot start
   * @example
   * const r = await pool.run('python3', ['sol.py'], { input: '1 2\n', timeout: 5000, limits: { memory: { max: '128M' } } });
   */
  run(command: string, args?: readonly string[], options?: PoolRunOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
  run(command: string, args: readonly string[], options: PoolRunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
  run(command: string, options?: PoolRunOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
  async run(command: string, args?: readonly string[] | PoolRunOptions, options?: PoolRunOptions): Promise<RunResult> {
    if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as PoolRunOptions];
    if (this.#closed) throw closedError();
    const opts = options === undefined ? {} : checkObject(options, 'pool.run options');
    const { limits, ...rest } = opts as PoolRunOptions;
    if (limits !== undefined && !this.#limits) {
      throw invalidArg('pool.run options.limits: this pool has no cgroup per sandbox; give createPool limits (the defaults of every run)');
    }
    if (limits !== undefined) checkObject(limits, 'pool.run options.limits');
    // the pool's defaults, then the run's own (input and stdio agree: splitRunOptions checks)
    const parts = splitRunOptions({ ...this.#runDefaults, ...(rest as RunOptions) });
    const { stdio, file } = await openRunStdio(parts);
    let closing: Promise<void> | null = null;
    const closeFile = (): Promise<void> => (closing ??= file ? file.close() : Promise.resolve());
    try {
      const spec = resolveRun(this.#template, command, args, { ...parts.spawnOptions, stdio }, 'pool.run options');
      for (;;) {
        const entry = await this.#take(spec.signal);
        if (limits !== undefined) {
          try {
            await entry.cgroup!.set(limits);
          } catch (err) {
            this.#destroy(entry);
            throw err;
          }
        }
        const proc = this.#handOver(entry, spec);
        if (!proc) continue; // it ended while idle: the next one
        // the sandbox has its own copy of the input file's descriptor now
        await closeFile();
        try {
          // the cgroup's stats are the run's: the sandbox goes once they are read
          return await collectRun(proc, parts, entry.cgroup ?? spec.cgroup);
        } finally {
          this.#destroy(entry);
        }
      }
    } finally {
      await closeFile().catch(() => {});
    }
  }

  /**
   * Destroys the idle sandboxes, stops making new ones and fails the runs still waiting
   * (ERR_BUSY); waits until every sandbox it handed out has ended and every cgroup is removed.
   * @example
   * await pool.close();
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#backoff.cancel();
      for (const w of this.#waiters.splice(0)) w.reject(closedError());
      for (const w of this.#readyWaiters.splice(0)) w.reject(closedError());
      for (const e of this.#idle.splice(0)) this.#destroy(e);
      for (const e of [...this.#entries]) if (e.state === 'making') this.#destroy(e);
    }
    while (this.#entries.size > 0 || this.#cleanups.size > 0) {
      await Promise.all([...this.#cleanups]);
      if (this.#entries.size > 0) await new Promise((r) => setTimeout(r, 5));
    }
    if (this.#limits) await removeParent(this.#name);
  }

  /**
   * `await using pool = await createPool(...)`: close() at the end of the block.
   * @example
   * await using pool = await createPool({ size: 1, namespaces: ['user'] });
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ---

  #refill(): void {
    if (this.#closed || this.#backoff.waiting) return;
    let live = 0;
    for (const e of this.#entries) if (e.state === 'making' || e.state === 'idle') live++;
    for (; live < this.size; live++) this.#make();
  }

  #make(): void {
    const entry: Entry = { proc: null, cgroup: null, state: 'making', started: Promise.resolve(), cwd: process.cwd() };
    this.#entries.add(entry);
    const gone = (): boolean => entry.state === 'gone';
    const start = async (): Promise<void> => {
      if (this.#swept) await this.#swept;
      if (gone()) return;
      if (this.#limits) entry.cgroup = await Cgroup.create(`${this.#name}/${++this.#entrySequence}`, this.#limits);
      if (gone()) return; // destroyed meanwhile: its cleanup removes the cgroup
      const spec = resolveSpawn('true', [], { ...this.#sandboxOptions, ...(entry.cgroup ? { cgroup: entry.cgroup } : {}), stdio: 'ignore' });
      entry.proc = spawnResolved(spec, {
        park: {
          parked: () => this.#onParked(entry),
          ended: (err) => this.#onEnded(entry, err),
        },
      });
      // a failure is the hooks' to report; no 'error' event may go unheard
      entry.proc.on('error', () => {});
    };
    entry.started = start().catch((err: unknown) =>
      this.#onEnded(entry, err instanceof NsgroupsError ? err : new NsgroupsError('ERR_SYSTEM', String(err), { cause: err })),
    );
  }

  #onParked(entry: Entry): void {
    if (entry.state !== 'making') return;
    this.#backoff.succeeded();
    this.#lastError = null;
    if (this.#closed) return this.#destroy(entry);
    entry.state = 'idle';
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(entry);
      return;
    }
    this.#idle.push(entry);
    for (let i = this.#readyWaiters.length - 1; i >= 0; i--) {
      const w = this.#readyWaiters[i];
      if (this.#idle.length >= w.count) {
        this.#readyWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** A sandbox that ended before its command: removed; the next one waits a little if it failed. */
  #onEnded(entry: Entry, err: NsgroupsError): void {
    const wasMaking = entry.state === 'making';
    const idleAt = this.#idle.indexOf(entry);
    if (idleAt >= 0) this.#idle.splice(idleAt, 1);
    this.#destroy(entry);
    if (this.#closed) return;
    this.#failed++;
    if (wasMaking) {
      // A sandbox that could not be made: the callers waiting hear why, one per failure, and
      // the pool retries later (backing off), so a broken setup never spins.
      this.#lastError = err;
      this.#waiters.shift()?.reject(err);
      for (const w of this.#readyWaiters.splice(0)) w.reject(err);
      this.#backoff.failed();
      return;
    }
    this.#refill();
  }

  #take(signal: AbortSignal | null): Promise<Entry> {
    // closed while the run opened its input file
    if (this.#closed) return Promise.reject(closedError());
    const entry = this.#idle.shift();
    if (entry) return Promise.resolve(entry);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    this.#refill();
    return new Promise<Entry>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (e) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(e);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Hands `spec` to an idle sandbox; null if it was gone (then it is removed). The caller
   *  destroys the entry once the run is over. */
  #handOver(entry: Entry, spec: ResolvedSpawn): SandboxProcess | null {
    let proc: SandboxProcess;
    try {
      // no cwd given: the sandbox keeps the one it inherited, as a spawn() does (a path could be
      // hidden by the sandbox's own mounts, a tmpfs on /tmp), unless Node has moved since
      const moved = spec.cwd === null && spec.rootfs === null && process.cwd() !== entry.cwd;
      // a cgroup of its own is the run's: its usage and stats are what the run used
      proc = entry.proc!._handOver({ ...spec, ...(moved ? { cwd: process.cwd() } : {}), ...(entry.cgroup ? { cgroup: entry.cgroup } : {}) });
    } catch (err) {
      if (err instanceof NsgroupsError && err.code === 'ERR_BUSY') {
        this.#destroy(entry);
        this.#refill();
        return null;
      }
      // the sandbox is still parked and fine (a command too big): back to the pool
      this.#idle.unshift(entry);
      throw err;
    }
    entry.state = 'running';
    this.#handedOver++;
    this.#refill();
    return proc;
  }

  /** Kills what is left of the sandbox and removes its cgroup; close() waits for it. */
  #destroy(entry: Entry): void {
    if (entry.state === 'gone') return;
    const was = entry.state;
    entry.state = 'gone';
    if (was === 'idle' || was === 'making') entry.proc?.kill(SIGKILL);
    const cleanup = (async () => {
      await entry.started;
      entry.proc?.kill(SIGKILL); // spawned after the kill above, if it was still being made
      if (entry.proc && was !== 'running') await entry.proc.exited.catch(() => {});
      if (entry.cgroup) await entry.cgroup.delete({ kill: true }).catch(() => {});
    })().finally(() => {
      this.#entries.delete(entry);
      this.#cleanups.delete(cleanup);
    });
    this.#cleanups.add(cleanup);
  }
}

function closedError(): NsgroupsError {
  return new NsgroupsError('ERR_BUSY', 'the pool is closed');
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

async function removeParent(name: string): Promise<void> {
  try {
    await Cgroup.open(name).delete({ kill: true });
  } catch (err) {
    if (!(err instanceof NsgroupsError && err.code === 'ERR_NOT_FOUND')) throw err;
  }
}
