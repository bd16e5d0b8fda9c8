// SandboxProcess: what spawn() returns. Shaped like child_process.ChildProcess (pid, stdio
// streams, kill, 'spawn' → 'exit' → 'close') plus `exited`. The native side reports records
// and the exit; this class turns them into events, in an order users can rely on:
//   'spawn' once the command runs; 'exit' when it ended; 'close' after 'exit' and the end of
//   its stdio; or, if it never ran, only 'error' (after the child was reaped, so nothing is
//   left behind) and a rejected `exited`.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ChildEvent, NativeChildHandle, NativeError, NativeSpawnResult } from '../../types/native';
import { errnoName, fromNodeError, NsgroupsError } from '../errors';
import { native } from '../native';
import * as fs from 'node:fs';
import { CGROUPFS_MIGRATION_FIX, MIGRATION_RULE } from '../cgroup/delegation';
import { CLONE_NEW } from '../namespace/kinds';
import { turnGate } from '../util/turns';
import { childFailureError, cloneError } from './failure';
import { idMapWriteError, nativeIdMapWrites, writeIdMaps } from './idmap';
import { closeJoins } from './joins';
import { type ResolvedSpawn } from './options';
import { buildHandover, buildPlan, type BuiltPlan, type PlannedOp } from './plan';
import { LIBRARY_MOUNTPOINTS } from './rootfs';
import { CgroupMeter, decideStatus, processCpuUsec, usageOf, type NativeRusage, type RunStatus, type StopReason, type Usage } from './usage';

// The exits of many sandboxes that end together (their pidfds ready in one poll phase): one
// exit's work (the cgroup's counters, the events, the caller's next steps) per turn of the loop,
// before any queued delete or create (util/turns.ts).
const exitTurn = turnGate('exit');

/** How the command ended: its exit status, or the signal that killed it (the other is null). */
export interface ExitInfo {
  /** the command's own exit status (0-255); null when a signal ended it */
  code: number | null;
  /** the signal that ended the command, e.g. 'SIGKILL'; null when it exited by itself */
  signal: NodeJS.Signals | null;
}

/** What `exited` resolves with: the command's own status, what the run used, and the verdict. */
export interface ExitResult extends ExitInfo {
  /** what the run used: wall and CPU time, peak RSS, context switches, the cgroup's figures */
  usage: Usage;
  /** why the run ended, one word (see {@link RunStatus}); never 'setup', which rejects instead */
  status: Exclude<RunStatus, 'setup'>;
}

const SIGKILL = osConstants.signals.SIGKILL;

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(osConstants.signals).map(([name, num]) => [num, name as NodeJS.Signals]));

const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

/** A signal name or number, as kill() takes it; throws ERR_INVALID_ARG for anything else. */
export function signalNumber(signal: NodeJS.Signals | number | undefined, what = 'signal'): number {
  if (signal === undefined) return osConstants.signals.SIGTERM;
  if (typeof signal === 'number' && Number.isInteger(signal) && signal >= 0 && signal <= 64) return signal;
  if (typeof signal === 'string' && signal in osConstants.signals) {
    return osConstants.signals[signal as keyof typeof osConstants.signals];
  }
  throw new NsgroupsError('ERR_INVALID_ARG', `${what} must be a signal name like 'SIGTERM' or a number 0-64, got ${String(signal)}`);
}

function siginfoToExit(siCode: number, siStatus: number): ExitInfo {
  if (siCode === CLD_EXITED) return { code: siStatus, signal: null };
  if (siCode === CLD_KILLED || siCode === CLD_DUMPED) return { code: null, signal: signalNames.get(siStatus) ?? null };
  return { code: null, signal: null };
}

/** What a warm pool hears from a sandbox it made ahead of time (spawnResolved with park). */
export interface ParkHooks {
  /** it is ready: everything but the command is done, and it waits for _handOver */
  parked(): void;
  /** it ended before it was handed a command: why (a setup error, or what killed it) */
  ended(err: NsgroupsError): void;
}

/**
 * The events of a {@link SandboxProcess} and their listeners' arguments, in the order they come:
 * `'spawn'` once the command runs; `'exit'` when it ended (`code` its exit status, or `signal`
 * the signal that killed it; the other is null); `'close'` after `'exit'` and the end of its
 * piped stdout and stderr, with the same two values. A command that never ran gets only
 * `'error'`: an {@link NsgroupsError} (its `status` is `'setup'`), or an `AbortError` (an Error
 * with `code: 'ABORT_ERR'`) when the `signal` option aborted the run, while `'exit'` still comes.
 */
export interface SandboxProcessEvents {
  /** the command runs (execve succeeded); no arguments */
  spawn: [];
  /** the command ended: its exit status, or the signal that ended it */
  exit: [code: number | null, signal: NodeJS.Signals | null];
  /** after 'exit' and the end of the piped stdout and stderr, with the same two values */
  close: [code: number | null, signal: NodeJS.Signals | null];
  /** the command never ran (an NsgroupsError, status 'setup'), or the `signal` option aborted it (AbortError) */
  error: [err: Error];
}

type EventName = keyof SandboxProcessEvents;
type Listener<K extends EventName> = (...args: SandboxProcessEvents[K]) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyListener = (...args: any[]) => void;

// EventEmitter's methods with the listeners typed per event (child_process.ChildProcess's
// overloads, written once over SandboxProcessEvents): an arrow function's arguments are typed
// from the event's name. Like ChildProcess, the second overload keeps EventEmitter's own
// signature, so that `new Promise((r) => p.once('spawn', r))` still compiles.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface SandboxProcess {
  /**
   * Adds a listener for one of the {@link SandboxProcessEvents}, its arguments typed by the event.
   * @returns this
   * @example
   * p.on('exit', (code, signal) => console.log(code ?? signal));
   */
  on<K extends EventName>(event: K, listener: Listener<K>): this;
  /** Adds a listener for any event (EventEmitter's own signature). */
  on(event: string | symbol, listener: AnyListener): this;
  /**
   * Adds a listener called at most once, its arguments typed by the event.
   * @returns this
   * @example
   * p.once('spawn', () => console.log('running as', p.pid));
   */
  once<K extends EventName>(event: K, listener: Listener<K>): this;
  /** Adds a one-time listener for any event (EventEmitter's own signature). */
  once(event: string | symbol, listener: AnyListener): this;
  /**
   * Removes a listener added with on() or once().
   * @returns this
   * @example
   * const onExit = (code: number | null) => console.log(code);
   * p.on('exit', onExit).off('exit', onExit);
   */
  off<K extends EventName>(event: K, listener: Listener<K>): this;
  /** Removes a listener of any event (EventEmitter's own signature). */
  off(event: string | symbol, listener: AnyListener): this;
  /**
   * The same as on().
   * @returns this
   * @example
   * p.addListener('close', (code, signal) => console.log(code, signal));
   */
  addListener<K extends EventName>(event: K, listener: Listener<K>): this;
  /** The same as on() (EventEmitter's own signature). */
  addListener(event: string | symbol, listener: AnyListener): this;
  /**
   * The same as off().
   * @returns this
   * @example
   * p.removeListener('exit', onExit);
   */
  removeListener<K extends EventName>(event: K, listener: Listener<K>): this;
  /** The same as off() (EventEmitter's own signature). */
  removeListener(event: string | symbol, listener: AnyListener): this;
  /**
   * Adds a listener called before those already added.
   * @returns this
   * @example
   * p.prependListener('exit', () => console.log('first'));
   */
  prependListener<K extends EventName>(event: K, listener: Listener<K>): this;
  /** Adds a listener called first, for any event (EventEmitter's own signature). */
  prependListener(event: string | symbol, listener: AnyListener): this;
  /**
   * Adds a one-time listener called before those already added.
   * @returns this
   * @example
   * p.prependOnceListener('error', (err) => console.error(err));
   */
  prependOnceListener<K extends EventName>(event: K, listener: Listener<K>): this;
  /** Adds a one-time listener called first, for any event (EventEmitter's own signature). */
  prependOnceListener(event: string | symbol, listener: AnyListener): this;
  /**
   * Calls the event's listeners (the library emits the events itself).
   * @returns whether it had listeners
   * @example
   * p.emit('spawn'); // only for tests of your own listeners
   */
  emit<K extends EventName>(event: K, ...args: SandboxProcessEvents[K]): boolean;
  /** Calls any event's listeners (EventEmitter's own signature). @returns whether it had listeners */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  emit(event: string | symbol, ...args: any[]): boolean;
}

/**
 * A command started by spawn(), shaped like child_process.ChildProcess: `pid`, the stdio streams,
 * kill(), the events 'spawn', 'exit', 'close' and 'error' ({@link SandboxProcessEvents}), plus
 * `exited`, a promise of the exit, the run's usage and its verdict. Made by spawn(), a Pool or a
 * Sandbox, never with `new`.
 * @example
 * const p = spawn('sh', ['-c', 'echo $$'], { namespaces: ['user', 'pid'] });
 * p.stdout.on('data', (d) => process.stdout.write(d)); // '1': the command's pid inside
 * const { code, status, usage } = await p.exited;
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class SandboxProcess extends EventEmitter {
  /** the command's pid in the caller's pid namespace (with an init too: the command is our child) */
  pid: number | undefined;
  /** the command's stdin when stdio[0] is 'pipe' (the default), else null */
  readonly stdin: Writable | null;
  /** the command's stdout when stdio[1] is 'pipe' (the default), else null */
  readonly stdout: Readable | null;
  /** the command's stderr when stdio[2] is 'pipe' (the default), else null */
  readonly stderr: Readable | null;
  /** one entry per fd of the `stdio` option: the parent's end of a pipe, or null */
  readonly stdio: Array<Readable | Writable | null>;
  /** the command as given to spawn() */
  readonly spawnfile: string;
  /** the command's argv: argv0 (default: the command), then the arguments */
  readonly spawnargs: string[];
  /** the command's exit status once it exited by itself; null before, and when a signal ended it */
  exitCode: number | null = null;
  /** the signal that ended the command (e.g. 'SIGKILL'); null before, and when it exited */
  signalCode: NodeJS.Signals | null = null;
  /** kill() delivered a signal (not 0) */
  killed = false;
  /** the timeout option fired and sent killSignal */
  timedOut = false;

  #handle: NativeChildHandle | null = null;
  #spec: ResolvedSpawn;
  #ops: PlannedOp[];
  #unshareUser: boolean;
  // the addon wrote the id maps right after clone: null, or how it went (error: which write failed)
  #addonMaps: { error: NativeSpawnResult['idMapsError'] } | null = null;
  #spawned = false;
  #failure: NsgroupsError | null = null;
  #requestsDone = new Set<number>();
  #exit: ExitInfo | null = null;
  #closesNeeded = 1; // the exit, plus each readable stdio stream
  #exited: Promise<ExitResult>;
  #resolveExited!: (info: ExitResult) => void;
  #rejectExited!: (err: NsgroupsError) => void;
  #exitedObserved = false;
  #timer: NodeJS.Timeout | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #cpuWatch: NodeJS.Timeout | null = null;
  #stoppedFor: StopReason | null = null;
  #startedAt: number;
  #meter: CgroupMeter | null;
  #releaseRootfs: (() => void) | null = null;
  #procsFiles: string[] = [];
  #abortListener: (() => void) | null = null;
  /** a pool's sandbox before its hand-over; after it, the process the events go to */
  #park: { hooks: ParkHooks; state: 'waiting' | 'parked' | 'handed'; built: BuiltPlan; to: SandboxProcess | null } | null = null;
  #endHooks: Array<(result: ExitResult | null) => void> = [];

  /** @internal use spawn() */
  constructor(spec: ResolvedSpawn, built: BuiltPlan, result: NativeSpawnResult | null, startedAt = performance.now(), meter: CgroupMeter | null = null) {
    super();
    this.#spec = spec;
    this.#startedAt = startedAt;
    this.#meter = meter;
    this.#ops = built.ops;
    this.#unshareUser = built.plan.unshareUser;
    this.spawnfile = spec.file;
    this.spawnargs = spec.argv.slice();
    this.#exited = new Promise<ExitResult>((resolve, reject) => {
      this.#resolveExited = resolve;
      this.#rejectExited = reject;
    });
    this.#exited.catch(() => {}); // a failure is also an 'error' event; never unhandled
    this.stdio = spec.stdio.map((s, i) => {
      const fd = result?.stdio[i] ?? -1;
      if (s.kind !== 'pipe' || fd < 0) return null;
      const socket = new net.Socket({ fd, readable: !s.childReads, writable: s.childReads });
      if (!s.childReads) {
        this.#closesNeeded++;
        socket.on('close', () => this.#maybeClose());
      }
      return socket;
    });
    this.stdin = (this.stdio[0] as Writable | null) ?? null;
    this.stdout = (this.stdio[1] as Readable | null) ?? null;
    this.stderr = (this.stdio[2] as Readable | null) ?? null;
    if (result) {
      this.pid = result.pid;
      this.#handle = result.handle;
    }
  }

  /**
   * Resolves when the command has ended, with its own exit code or signal, what the run used
   * and the verdict; rejects with NsgroupsError (status 'setup') if it never started (an abort
   * through the `signal` option is an 'error' event, and `exited` still resolves with the exit).
   * @example
   * const { code, signal, status, usage } = await spawn('true').exited;
   */
  get exited(): Promise<ExitResult> {
    this.#exitedObserved = true;
    return this.#exited;
  }

  /**
   * Sends a signal (default SIGTERM) to the command through its pidfd; with an init, the init
   * forwards it. Returns false when there was nothing to signal (it exited, or never started).
   * @throws NsgroupsError ERR_INVALID_ARG for a signal that is neither a name nor 0-64
   * @example
   * p.kill('SIGINT');
   */
  kill(signal?: NodeJS.Signals | number): boolean {
    const sig = signalNumber(signal);
    if (!this.#handle || this.#exit) return false;
    const r = this.#handle.kill(sig);
    if (r === 0 && sig !== 0) this.killed = true;
    return r === 0;
  }

  /**
   * Lets the event loop exit while the sandbox runs (its streams included).
   * @returns this
   * @example
   * spawn('sleep', ['60'], { stdio: 'ignore' }).unref();
   */
  unref(): this {
    this.#handle?.unref();
    for (const s of this.stdio) (s as net.Socket | null)?.unref();
    return this;
  }

  /**
   * Undoes unref(): the event loop waits for the sandbox (and its streams) again.
   * @returns this
   * @example
   * p.unref(); p.ref();
   */
  ref(): this {
    this.#handle?.ref();
    for (const s of this.stdio) (s as net.Socket | null)?.ref();
    return this;
  }

  /**
   * `await using p = spawn(...)`: kills the sandbox (SIGKILL) if it still runs, and waits until it ended.
   * @example
   * await using p = spawn('sleep', ['60'], { namespaces: ['user', 'pid'] }); // killed at the end of the block
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exit && !this.#failure) this.kill('SIGKILL');
    await this.#exited.catch(() => {});
  }

  /** @internal */
  _start(): void {
    this.#handle!.start((...event) => this._onEvent(...event));
  }

  /** @internal one event of the native watch (a pooled sandbox's go to the process it became) */
  _onEvent(...args: ChildEvent): void {
    const to = this.#park?.to;
    if (to) return to._onEvent(...args);
    const [event, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0] = args as [ChildEvent[0], ...number[]];
    {
      switch (event) {
        case 'record':
          return this.#onRecord(a, b, c, d, e);
        case 'eof':
          // every holder of the report pipe exec'd or exited (close-on-exec): the command runs
          if (!this.#failure) this.#onSpawned();
          return;
        case 'child_pid':
          // the command's process, forked into the pid namespace as our child (the addon
          // checked that it is, and let it go on)
          this.pid = a;
          return;
        case 'violation':
          return this.#protocolViolation(`the addon refused a report (${violationName(a)})`);
        case 'exit': {
          // the end is now: its wall time, and no limit may fire after it (a timeout's timer
          // would otherwise call an exit that came first a timeout)
          const endedAt = performance.now();
          this.#disarm();
          const rusage = { userMicros: c, systemMicros: d, maxRssKiB: e, voluntary: f, involuntary: g };
          const wait = exitTurn();
          if (!wait) return this.#onExit(a, b, rusage, endedAt);
          void wait.then(() => this.#onExit(a, b, rusage, endedAt));
          return;
        }
      }
    }
  }

  /** @internal the addon wrote the id maps right after clone: `result` says whether it could */
  _idMapsWrittenBy(result: NativeSpawnResult): void {
    this.#addonMaps = { error: result.idMapsError };
  }

  /** @internal parent-side work between clone and the child's go-ahead */
  _release(procsFiles: string[], attach: ((pid: number) => Promise<void>) | null = null): void {
    if (!this.#park) this.#armLimits(); // a pooled sandbox's run is armed at its hand-over
    this.#procsFiles = procsFiles; // the child moves itself into them: an error names the file
    if (attach) {
      // the cgroup's systemd manager moves it (AttachProcessesToUnit), then the rest
      const pid = this.pid!;
      attach(pid).then(
        () => (this.#failure || this.#exit ? undefined : this.#afterCgroup()),
        (err: unknown) =>
          this._fail(
            err instanceof NsgroupsError
              ? new NsgroupsError(err.code, `moving the sandbox into its cgroup: ${err.message}`, {
                  errno: err.errno,
                  syscall: err.syscall,
                  path: err.path,
                  step: 'cgroup',
                  cause: err,
                })
              : new NsgroupsError('ERR_SYSTEM', `moving the sandbox into its cgroup: ${String(err)}`, { step: 'cgroup' }),
          ),
      );
      return;
    }
    this.#afterCgroup();
  }

  #afterCgroup(): void {
    // A user namespace made at clone gets its maps now; one unshared after joins asks for them.
    if (this.#spec.idMaps && !this.#unshareUser) this.#writeMapsThenRelease();
    else this.#handle!.release();
  }

  #writeMapsThenRelease(): void {
    const maps = this.#spec.idMaps!;
    const pid = this.pid!;
    if (this.#addonMaps) {
      // the addon wrote them right after clone (spawnResolved), or could not
      const failed = this.#addonMaps.error;
      if (failed) return this._fail(idMapWriteError(pid, failed.file, failed.errno));
      this.#handle?.release();
      return;
    }
    writeIdMaps(pid, maps).then(
      () => this.#handle?.release(),
      (err: NsgroupsError) => this._fail(err),
    );
  }

  #writeTimeOffsets(): void {
    const t = this.#spec.timeOffsets!;
    const target = `/proc/${this.pid}/timens_offsets`;
    try {
      // time_namespaces(7): "<clock> <secs> <nanosecs>" per line, once, before anyone entered
      fs.writeFileSync(target, `monotonic ${t.monotonic[0]} ${t.monotonic[1]}\nboottime ${t.boottime[0]} ${t.boottime[1]}\n`);
    } catch (err) {
      return this._fail(
        fromNodeError(err, "writing the time namespace's clock offsets", {
          path: target,
          step: 'timens',
          hint: 'offsets need CAP_SYS_TIME in the user namespace that owns the time namespace',
        }),
      );
    }
    this.#handle?.release();
  }

  #armLimits(): void {
    const spec = this.#spec;
    if (spec.timeout !== null && spec.timeout > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this._stop('timeout');
      }, spec.timeout);
    }
    if (spec.cpuTime) this.#watchCpu(spec.cpuTime.killMs);
    const signal = spec.signal;
    if (signal) {
      const onAbort = (): void => {
        this.#abortListener = null;
        this.#killEscalating();
        // child_process's behaviour: an AbortError, while the exit is still reported
        const err = Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
          name: 'AbortError',
          code: 'ABORT_ERR',
        });
        if (this.listenerCount('error') > 0 || !this.#exitedObserved) this.emit('error', err);
      };
      if (signal.aborted) process.nextTick(onAbort);
      else {
        this.#abortListener = onAbort;
        signal.addEventListener('abort', onAbort, { once: true });
      }
    }
  }

  // The parent looks at the CPU used so far a few times per second of the limit (at most every
  // 100 ms): the cgroup's, for the whole sandbox; without one the command's own (/proc/PID/stat,
  // with the children it waited for), RLIMIT_CPU capping each other process on its own.
  #watchCpu(killMs: number): void {
    const every = Math.min(100, Math.max(10, killMs / 20));
    this.#cpuWatch = setInterval(() => {
      const used = this.#meter?.cpuUsecSinceStart() ?? (this.pid === undefined ? null : processCpuUsec(this.pid));
      if (used !== null && used > killMs * 1000) this._stop('cpuTime');
    }, every);
    this.#cpuWatch.unref(); // the process's own handle keeps the loop alive, or not (unref())
  }

  /** killSignal now, SIGKILL killAfter ms later if it is still there (timeout --kill-after). */
  #killEscalating(): boolean {
    const spec = this.#spec;
    const sent = this.kill(spec.killSignal);
    if (sent && spec.killAfter !== null && signalNumber(spec.killSignal) !== SIGKILL && !this.#killTimer) {
      this.#killTimer = setTimeout(() => {
        this.#killTimer = null;
        this.kill(SIGKILL);
      }, spec.killAfter);
    }
    return sent;
  }

  /**
   * @internal A limit of the run was reached: the first reason is the verdict. Over the CPU time
   * the command gets SIGKILL (as RLIMIT_CPU's hard limit, and isolate); otherwise killSignal, then
   * SIGKILL after killAfter.
   */
  _stop(reason: StopReason): void {
    if (this.#exit || this.#failure) return;
    // a kill that reached nothing (it had just exited) is no reason for its end
    const sent = reason === 'cpuTime' ? this.kill(SIGKILL) : this.#killEscalating();
    if (!sent) return;
    this.#stoppedFor ??= reason;
    if (reason === 'timeout') this.timedOut = true;
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#killTimer) clearTimeout(this.#killTimer);
    this.#killTimer = null;
    if (this.#cpuWatch) clearInterval(this.#cpuWatch);
    this.#cpuWatch = null;
    if (this.#abortListener) this.#spec.signal?.removeEventListener('abort', this.#abortListener);
    this.#abortListener = null;
  }

  /** @internal the spawn failed in the parent: kill the child; 'error' follows its reaping */
  _fail(err: NsgroupsError): void {
    if (!this.#failure) this.#failure = err;
    this.#handle?.kill(osConstants.signals.SIGKILL);
  }

  /** @internal an overlay rootfs is in use (no host mount, no commit) until the sandbox ends */
  _holdRootfs(release: () => void): void {
    this.#releaseRootfs = release;
  }

  /** @internal made by a warm pool: it parks once set up, and reports to `hooks` */
  _parkWith(hooks: ParkHooks, built: BuiltPlan): void {
    this.#park = { hooks, state: 'waiting', built, to: null };
  }

  /**
   * @internal A parked sandbox gets its command (`run`: the pool's sandbox with the run's
   * command, stdio, cwd, env and timeouts): returns the process the caller sees, which gets the
   * events from here on. Throws NsgroupsError; the sandbox is then unchanged (still parked) or
   * gone (ERR_BUSY), never half handed over.
   */
  _handOver(run: ResolvedSpawn): SandboxProcess {
    const park = this.#park;
    if (!park || park.state !== 'parked' || !this.#handle || this.#failure) {
      throw new NsgroupsError('ERR_BUSY', 'this pooled sandbox is not waiting for a command (it was handed one, or it ended)', { step: 'handover' });
    }
    let fds: number[];
    try {
      fds = this.#handle.handOver(buildHandover(run)).stdio;
    } catch (err) {
      const e = err as NativeError;
      if (typeof e.errno !== 'number') throw err;
      const name = errnoName(e.errno);
      if (name === 'E2BIG') {
        throw new NsgroupsError('ERR_INVALID_ARG', `the command's arguments and environment are too big for the hand-over (${e.message})`, {
          errno: e.errno,
          syscall: e.syscall,
          step: 'handover',
        });
      }
      const gone = name === 'ESRCH' || name === 'EPIPE' || name === 'ECONNRESET' || name === 'ECONNREFUSED';
      throw new NsgroupsError(gone ? 'ERR_BUSY' : 'ERR_SYSTEM', `handing the command to a pooled sandbox failed: ${e.message}`, {
        errno: e.errno,
        syscall: e.syscall,
        step: 'handover',
      });
    }
    park.state = 'handed';
    for (const s of run.stdio) if (s.kind === 'fd' && s.shared) stopReading(s.shared);
    // the run's figures start now: the cgroup's counters and peak from here, wall time from here
    this.#meter?.close();
    this.#meter = null;
    const meter = run.cgroup ? new CgroupMeter(run.cgroup) : null;
    const proc = new SandboxProcess(run, park.built, { pid: this.pid!, handle: this.#handle, stdio: fds }, performance.now(), meter);
    park.to = proc;
    const { requests } = native().constants;
    proc.#requestsDone = new Set([requests.idMaps, requests.timeOffsets, requests.parked]); // all were made here
    proc._holdRootfs(this.#releaseRootfs ?? (() => {}));
    this.#releaseRootfs = null;
    this.#handle = null;
    proc.#armLimits();
    return proc;
  }

  /** @internal `fn` runs once the process has ended (with its result) or failed to start (null);
   *  not an event listener, so it changes nothing about when 'error' is emitted (a Sandbox counts
   *  its commands and sums their usage with it) */
  _whenEnded(fn: (result: ExitResult | null) => void): void {
    this.#endHooks.push(fn);
  }

  #ended(result: ExitResult | null): void {
    for (const fn of this.#endHooks.splice(0)) fn(result);
  }

  /** @internal clone itself failed: no process exists */
  _failBeforeClone(err: NsgroupsError): void {
    this.#failure = err;
    this.#meter?.close();
    this.#releaseRootfs?.();
    for (const s of this.stdio) (s as net.Socket | null)?.destroy();
    process.nextTick(() => this.#emitFailure());
  }

  // Records come from nsgroups' own code in the child, but are checked like any input: a field
  // out of range, a request the plan never makes or makes twice, fails this spawn, nothing else.
  #onRecord(kind: number, step: number, err: number, index: number, value: number): void {
    const { reports, requests } = native().constants;
    if (kind === reports.error) {
      const steps = native().steps.length;
      if (!(step >= 0 && step < steps && err >= 1 && err < 4096 && index >= -1 && index < 65536 && value >= -1 && value < 65536)) {
        return this.#protocolViolation(`a malformed error report (step ${step}, errno ${err}, index ${index}, item ${value})`);
      }
      if (!this.#failure) this.#failure = childFailureError({ step, errno: err, index, item: value }, this.#spec, this.#ops, this.#procsFiles);
      return;
    }
    const expected = new Map<number, boolean>([
      [requests.idMaps, this.#unshareUser],
      [requests.timeOffsets, this.#spec.timeOffsets !== null],
      [requests.parked, this.#park?.state === 'waiting'],
    ]);
    if (kind !== reports.request || !expected.get(value) || this.#requestsDone.has(value)) {
      return this.#protocolViolation(`an unexpected report (kind ${kind}, value ${value})`);
    }
    this.#requestsDone.add(value);
    if (value === requests.parked) {
      this.#park!.state = 'parked';
      this.#park!.hooks.parked();
    } else if (value === requests.idMaps) this.#writeMapsThenRelease();
    else this.#writeTimeOffsets();
  }

  #protocolViolation(what: string): void {
    this._fail(
      new NsgroupsError('ERR_SYSTEM', `the sandbox's setup broke the report protocol: ${what}; the sandbox was killed`, {
        step: 'report',
        syscall: 'read',
      }),
    );
  }

  #onSpawned(): void {
    if (this.#spawned) return;
    this.#spawned = true;
    this.#handle?.closeSync();
    this.emit('spawn');
  }

  #onExit(siCode: number, siStatus: number, rusage: NativeRusage, endedAt: number): void {
    const wallMs = endedAt - this.#startedAt;
    this.#handle = null;
    this.#disarm();
    this.#releaseRootfs?.();
    if (this.#park) {
      // a pool's sandbox that ended idle: nobody but the pool knows it
      const info = siginfoToExit(siCode, siStatus);
      const how = info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
      const err = this.#failure ?? new NsgroupsError('ERR_SYSTEM', `a pooled sandbox ${how} before it was given a command`, { step: 'handover' });
      this.#meter?.close();
      this.#failure = err;
      this.#rejectExited(err);
      this.#park.hooks.ended(err);
      return;
    }
    if (this.#failure) {
      this.#meter?.close();
      for (const s of this.stdio) (s as net.Socket | null)?.destroy();
      this.#emitFailure();
      return;
    }
    // The command's process is our child, init or not: its own status is the command's.
    const info = siginfoToExit(siCode, siStatus);
    this.#onSpawned(); // a child killed before its exec still counts as started (then ended)
    this.#exit = info;
    this.exitCode = info.code;
    this.signalCode = info.signal;
    // every process of the run is reaped: the cgroup's counters hold all it did
    const usage = usageOf(wallMs, rusage, this.#meter?.finish() ?? null);
    const spec = this.#spec;
    const cpuRlimit = spec.rlimits.find((r) => r.name === 'cpu');
    const status = decideStatus({
      ...info,
      stoppedFor: this.#stoppedFor,
      usage,
      cpuLimitMs: spec.cpuTime?.limitMs ?? null,
      rlimitCpuMs: cpuRlimit && cpuRlimit.soft < Number.MAX_SAFE_INTEGER ? cpuRlimit.soft * 1000 : null,
      fsizeLimited: spec.rlimits.some((r) => r.name === 'fsize' && r.soft < Number.MAX_SAFE_INTEGER),
    });
    this.emit('exit', info.code, info.signal);
    const result: ExitResult = { ...info, usage, status };
    this.#resolveExited(result);
    // our end of a pipe that another command reads (a pipeline) never sees its EOF here:
    // close it, so that 'close' can come
    for (const s of this.stdio) if (s && handedOver.has(s)) (s as net.Socket).destroy();
    this.#maybeClose();
    this.#ended(result);
  }

  #emitFailure(): void {
    const err = this.#failure!;
    // the verdict of a run that never ran (run() rejects with it)
    if (err instanceof NsgroupsError) err.status = 'setup';
    this.#rejectExited(err);
    this.#ended(null);
    // Like child_process, failures are 'error' events; but a caller who awaits `exited` and
    // listens to nothing else gets the rejection instead of an uncaught 'error'.
    if (this.listenerCount('error') > 0 || !this.#exitedObserved) this.emit('error', err);
  }

  #maybeClose(): void {
    if (--this.#closesNeeded > 0) return;
    const info = this.#exit;
    if (info) this.emit('close', info.code, info.signal);
  }
}

/** Streams of ours that another command reads from now (see stopReading). */
const handedOver = new WeakSet<object>();

/**
 * A Node stream handed to the command as its stdio (another sandbox's stdout, a child_process
 * pipe) is the command's to read now: a net.Socket starts reading as soon as it is made, and
 * would take data meant for the command. child_process stops it the same way
 * (lib/internal/child_process.js, stdio of type 'wrap'); a stream written to is left alone.
 */
/** Why moving into a cgroup failed, in the user's terms. */
function procsHint(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'EBUSY'
    ? 'cgroup v2 keeps processes in leaves only ("no internal processes"): give a cgroup without children'
    : "writing cgroup.procs needs write access to it and to the common ancestor's (delegation)";
}

function stopReading(stream: object): void {
  const s = stream as {
    readable?: boolean;
    pause?: () => void;
    _handle?: { reading?: boolean; readStop?: () => number };
    _readableState?: { reading?: boolean; flowing?: boolean | null };
  };
  if (!s.readable || typeof s._handle?.readStop !== 'function') return;
  handedOver.add(stream);
  s._handle.reading = false;
  s._handle.readStop();
  s.pause?.();
  if (s._readableState) {
    s._readableState.reading = false;
    s._readableState.flowing = false;
  }
  // child_process resumes a child's unread stdout when the child exits (flushStdio), except for
  // streams it marked as used as stdio (a private symbol) or that are not readable: it must not
  // take the rest of the data meant for the command
  s.readable = false;
}

function violationName(reason: number): string {
  const v = native().constants.violations;
  return reason === v.malformed
    ? 'malformed'
    : reason === v.tooMany
      ? 'too many records'
      : reason === v.outOfState
        ? 'a pid report out of place'
        : reason === v.notOurChild
          ? 'a pid that is not our child'
          : `reason ${reason}`;
}

/**
 * Runs `command` with `args` in a sandbox described by `options` (API.md "spawn and run").
 * Bad input throws NsgroupsError (ERR_INVALID_ARG) before anything is created; a failure to
 * start is an 'error' event and a rejected `exited`.
 */
/**
 * Internal knobs: `strictCgroup` (no fallback when CLONE_INTO_CGROUP fails: the capabilities
 * probe); `reportFdForTests` (the command inherits the report pipe's write end as that fd, so
 * that tests can show what the parent does with records it did not expect; never in lib/).
 */
export interface SpawnInternals {
  strictCgroup?: boolean;
  reportFdForTests?: number;
  /** a warm pool's sandbox: it parks once set up (the spec's command, stdio and cwd are not used) */
  park?: ParkHooks;
}

export function spawnResolved(spec: ResolvedSpawn, internal: SpawnInternals = {}): SandboxProcess {
  let built: BuiltPlan;
  try {
    built = buildPlan(spec, internal.park !== undefined);
  } catch (err) {
    closeJoins(spec.joins);
    throw err;
  }
  const overlay = spec.rootfs?.overlay;
  // the mount points the sandbox makes in the overlay are not changes of the command's
  overlay?._recordLibraryMountpoints([...LIBRARY_MOUNTPOINTS, ...(spec.rootfs!.sysfs ? ['/sys'] : []), ...spec.mounts.map((m) => m.target)]);
  const releases = overlay ? [overlay._use()] : [];
  for (const [i, m] of spec.mounts.entries()) {
    if (m.type !== 'overlay') continue;
    // likewise the mount points of the later mounts that sit inside this overlay
    const inside = spec.mounts.slice(i + 1).filter((n) => n.target.startsWith(`${m.target}/`));
    m.overlay._recordLibraryMountpoints(inside.map((n) => n.target.slice(m.target.length)));
    releases.push(m.overlay._use());
  }
  const releaseRootfs = releases.length > 0 ? () => releases.forEach((release) => release()) : null;
  const startedAt = performance.now();
  const failed = (err: NsgroupsError): SandboxProcess => {
    closeJoins(spec.joins);
    const proc = new SandboxProcess(spec, built, null, startedAt);
    if (releaseRootfs) proc._holdRootfs(releaseRootfs);
    proc._failBeforeClone(err);
    return proc;
  };

  if (internal.reportFdForTests !== undefined) {
    const at = internal.reportFdForTests;
    while (built.plan.stdio.length <= at) built.plan.stdio.push({ kind: 'null', fd: -1, childReads: false });
    built.plan.stdio[at] = { kind: 'report', fd: -1, childReads: false };
  }
  if (built.cgroupBlocked) return failed(built.cgroupBlocked);
  let procsFiles = built.procsFiles;
  let cgroupFd = -1;
  // The child moves itself into the cgroups the clone cannot put it in (child.c, 1b): the files
  // opened here, so that the kernel checks our credentials (the opener's), not the child's.
  const procsFds: number[] = [];
  const closeFds = (): void => {
    for (const fd of procsFds.splice(0)) fs.closeSync(fd);
    if (cgroupFd >= 0) fs.closeSync(cgroupFd);
    cgroupFd = -1;
  };
  const openProcs = (file: string): void => {
    procsFds.push(fs.openSync(file, fs.constants.O_WRONLY));
  };
  try {
    for (const file of procsFiles) openProcs(file);
    if (built.cgroupDir) cgroupFd = fs.openSync(built.cgroupDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    const file = (err as NodeJS.ErrnoException).path ?? built.cgroupDir ?? undefined;
    closeFds();
    return failed(fromNodeError(err, "opening the sandbox's cgroup", { path: file, step: 'cgroup', hint: procsHint(err) }));
  }
  // the cgroup's counters before the run's first process exists (run-usage.ts)
  const meter = spec.cgroup ? new CgroupMeter(spec.cgroup) : null;
  let result: NativeSpawnResult;
  // the maps of a user namespace made at clone: the addon writes them right after it
  const idMaps = spec.idMaps && built.plan.cloneFlags & CLONE_NEW.user ? nativeIdMapWrites(spec.idMaps) : null;
  try {
    try {
      result = native().spawn({ ...built.plan, cgroupFd, procsFds }, idMaps);
    } catch (err) {
      // Born in the cgroup where the kernel can (CLONE_INTO_CGROUP, Linux 5.7); else the child
      // moves itself in first (E2BIG: older clone3; EOPNOTSUPP: a threaded cgroup).
      const e = err as NativeError;
      if (cgroupFd >= 0 && errnoName(e.errno) === 'EACCES') throw cgroupEntryRefused(built.cgroupDir!, err);
      if (cgroupFd < 0 || internal.strictCgroup || !['E2BIG', 'EOPNOTSUPP', 'ENOTSUP', 'EINVAL', 'EBADF', 'ENOSYS'].includes(errnoName(e.errno))) throw err;
      procsFiles = [`${built.cgroupDir}/cgroup.procs`, ...procsFiles];
      try {
        procsFds.unshift(fs.openSync(procsFiles[0], fs.constants.O_WRONLY));
      } catch (openErr) {
        meter?.close();
        return failed(fromNodeError(openErr, "opening the sandbox's cgroup", { path: procsFiles[0], step: 'cgroup', hint: procsHint(openErr) }));
      }
      result = native().spawn({ ...built.plan, cgroupFd: -1, procsFds }, idMaps);
    }
  } catch (err) {
    meter?.close();
    if (err instanceof NsgroupsError) return failed(err);
    const e = err as NativeError;
    return failed(
      typeof e.errno === 'number' ? cloneError(e.errno, e.syscall, spec) : new NsgroupsError('ERR_SYSTEM', `spawn failed: ${e.message}`, { cause: err }),
    );
  } finally {
    closeFds(); // the child has its own copies
  }
  closeJoins(spec.joins); // the child has its own copies now
  for (const s of spec.stdio) if (s.kind === 'fd' && s.shared) stopReading(s.shared);
  const proc = new SandboxProcess(spec, built, result, startedAt, meter);
  if (idMaps) proc._idMapsWrittenBy(result);
  if (releaseRootfs) proc._holdRootfs(releaseRootfs);
  if (internal.park) proc._parkWith(internal.park, built);
  proc._start();
  proc._release(procsFiles, built.attach);
  return proc;
}

/** clone3 EACCES into a cgroup: the v2 delegation rule (found here if the check before cloning missed it). */
function cgroupEntryRefused(dir: string, cause: unknown): NsgroupsError {
  return new NsgroupsError(
    'ERR_PERMISSION',
    `creating the child in the cgroup ${dir} failed: EACCES: ${MIGRATION_RULE}, and this process may not write it for its own cgroup and that one. ` +
      CGROUPFS_MIGRATION_FIX,
    { errno: -13, syscall: 'clone3', path: dir, cause },
  );
}
