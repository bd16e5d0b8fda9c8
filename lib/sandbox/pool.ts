// A pool of Sandboxes (docs/harness.md "A pool of sandboxes"): `size` whole sandboxes made ahead
// of time with the same options — cgroup, directory, holder, namespaces, mounts — so that a test
// gets its world at once while the next one is made in the background, on the other core.
// Each sandbox is handed out exactly once and is then the caller's: its test disposes of it.
//
// Why a pool of Sandboxes and not the spawn pool (lib/pool): a Sandbox is one long-lived holder
// that every command joins; the spawn pool's parked sandboxes each run one command and end. What
// makes a Sandbox slow to create is its holder's start (namespaces, the root's binds, the
// workspace's overlay) and its cgroup: exactly what is made here ahead.
//
// An idle sandbox costs one sleeping shell and its init; it dies with this process like any other
// (PR_SET_PDEATHSIG; the janitor removes its files and cgroup), and close() disposes of it.
import { NsgroupsError } from '../errors';
import { Backoff } from '../util/backoff';
import { checkInteger, checkKeys, checkObject, type Plain } from '../util/validate';
import { resolveKeep, resolveSandboxOptions, type ResolvedSandbox, type SandboxOptions } from './options';
import { Sandbox } from './sandbox';

/** Sandbox.pool()'s options: Sandbox.create()'s, which every sandbox of the pool gets, plus `size`. */
export interface SandboxPoolOptions extends SandboxOptions {
  /** sandboxes kept ready (1-64); default 2 */
  size?: number;
}

/** pool.create()'s options: what may differ from one test's sandbox to the next. */
export interface SandboxPoolCreateOptions {
  /** a name for the sandbox's report and kept directory (default: the pool's name option) */
  name?: string;
  /** keep the sandbox's files at dispose (default: the pool's keep option, or NSGROUPS_KEEP) */
  keep?: boolean | 'on-failure';
}

/** What a sandbox pool holds and has done. */
export interface SandboxPoolStats {
  /** sandboxes ready now */
  idle: number;
  /** being made */
  making: number;
  /** create() calls waiting for a sandbox */
  waiting: number;
  /** sandboxes handed out since the pool was made */
  handedOver: number;
  /** sandboxes that could not be made, or whose holder died while idle */
  failed: number;
}

const MAX_BACKOFF_MS = 5000;
const POOL_KEYS = ['size'];

interface Waiter {
  resolve(sb: Sandbox): void;
  reject(err: unknown): void;
}

function closedError(): NsgroupsError {
  return new NsgroupsError('ERR_BUSY', 'the sandbox pool is closed: make another with Sandbox.pool()');
}

/**
 * Sandboxes made ahead of time with one set of options (Sandbox.pool()). A sandbox is handed out
 * once, by create(), and disposed of by its test; the pool makes the next in the background.
 * @example
 * const pool = Sandbox.pool({ workspace: process.cwd(), network: 'loopback', size: 2 });
 * const sb = await pool.create({ name: 'serves on 8080' });
 * await sb.run('npm', ['test']);
 * await sb.dispose();
 * await pool.close();
 */
export class SandboxPool {
  /** sandboxes the pool keeps ready */
  readonly size: number;
  readonly #o: ResolvedSandbox;
  readonly #idle: Sandbox[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #readyWaiters: Array<{ count: number; resolve(): void; reject(err: unknown): void }> = [];
  /** sandboxes being made: how many (counted down the moment one is made), and their promises for close() */
  #makingCount = 0;
  readonly #making = new Set<Promise<void>>();
  #handedOver = 0;
  #failed = 0;
  readonly #backoff = new Backoff(() => this.#refill(), MAX_BACKOFF_MS);
  #closing: Promise<void> | null = null;

  /** @internal use Sandbox.pool() */
  constructor(options: SandboxPoolOptions | undefined) {
    const given: Plain = options === undefined ? {} : checkObject(options, 'Sandbox.pool() options');
    const { size, ...sandboxOptions } = given;
    this.size = size === undefined ? 2 : checkInteger(size, 'Sandbox.pool() options.size', 1, 64);
    // every option is checked now, the same way Sandbox.create checks it: a refill never fails on one
    this.#o = resolveSandboxOptions(sandboxOptions);
    this.#refill();
  }

  /**
   * What the pool holds and has done.
   * @example
   * const { idle, making, waiting } = pool.stats();
   */
  stats(): SandboxPoolStats {
    return { idle: this.#idle.length, making: this.#makingCount, waiting: this.#waiters.length, handedOver: this.#handedOver, failed: this.#failed };
  }

  /**
   * Resolves once `count` sandboxes (default: the pool's size) are ready.
   * @throws NsgroupsError ERR_INVALID_ARG for a count outside 1..size; rejects with the error of a
   * sandbox that could not be made, or ERR_BUSY once the pool is closed
   * @example
   * await pool.ready(1);
   */
  ready(count: number = this.size): Promise<void> {
    const n = checkInteger(count, 'pool.ready(count)', 1, this.size);
    if (this.#closing) return Promise.reject(closedError());
    if (this.#idle.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ count: n, resolve, reject }));
  }

  /**
   * Hands out a ready sandbox (waiting for one if none is), which is then the caller's to
   * dispose of; a new one is made in its place. Its report's clock starts now.
   * @throws NsgroupsError ERR_INVALID_ARG for an option that is the pool's; ERR_BUSY once the pool
   * is closed; the error of a sandbox that could not be made (the pool then retries, backing off)
   * @example
   * await using sb = await pool.create({ name: 'test 1', keep: 'on-failure' });
   */
  async create(options?: SandboxPoolCreateOptions): Promise<Sandbox> {
    const o: Plain = options === undefined ? {} : checkObject(options, 'pool.create() options');
    const notes: Record<string, string> = {};
    for (const k of [...Object.keys(this.#o), ...POOL_KEYS]) notes[k] = `every sandbox of the pool has the pool's ${k}: give it to Sandbox.pool()`;
    checkKeys(o, ['name', 'keep'], 'pool.create() options', notes);
    const name = o.name === undefined ? this.#o.name : (o.name as string);
    if (typeof name !== 'string' && name !== null) throw new NsgroupsError('ERR_INVALID_ARG', 'pool.create() options.name must be a string');
    const keep = o.keep === undefined ? this.#o.keep : resolveKeep(o.keep, 'pool.create() options.keep');
    if (this.#closing) throw closedError();
    const sb = await this.#take();
    this.#handedOver++;
    sb._handOver(name, keep);
    return sb;
  }

  /**
   * Stops making sandboxes, disposes of the idle ones (and those being made, once made), fails
   * waiting create() calls with ERR_BUSY. Sandboxes already handed out are their tests': close()
   * does not touch them. Calling it again waits for the first call.
   * @example
   * after(() => pool.close());
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#backoff.cancel();
      for (const w of this.#waiters.splice(0)) w.reject(closedError());
      for (const w of this.#readyWaiters.splice(0)) w.reject(closedError());
      const idle = this.#idle.splice(0);
      await Promise.all([...idle.map((sb) => sb.dispose().catch(() => {})), ...this.#making]);
    })();
    return this.#closing;
  }

  /**
   * `await using pool = Sandbox.pool(...)`: close() at the end of the block.
   * @example
   * await using pool = Sandbox.pool({ size: 1 });
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #take(): Promise<Sandbox> {
    for (let sb = this.#idle.shift(); sb; sb = this.#idle.shift()) {
      if (sb._alive()) {
        this.#refill();
        return Promise.resolve(sb);
      }
      // its holder died while it waited (killed from outside): never handed out
      this.#failed++;
      void sb.dispose().catch(() => {});
    }
    const waiting = new Promise<Sandbox>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#refill();
    return waiting;
  }

  /** Makes sandboxes until `size` are ready or being made (more while create() calls wait), `size` at a time. */
  #refill(): void {
    if (this.#closing || this.#backoff.waiting) return;
    while (this.#makingCount < this.size && this.#idle.length + this.#makingCount < this.size + this.#waiters.length) {
      this.#makingCount++;
      const making: Promise<void> = this.#makeOne().finally(() => this.#making.delete(making));
      this.#making.add(making);
    }
  }

  async #makeOne(): Promise<void> {
    let sb: Sandbox;
    try {
      sb = await Sandbox._make(this.#o);
    } catch (err) {
      this.#makingCount--;
      this.#onFailed(err);
      return;
    }
    this.#makingCount--;
    if (this.#closing) {
      await sb.dispose().catch(() => {});
      return;
    }
    this.#backoff.succeeded();
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(sb);
    else this.#idle.push(sb);
    for (let i = this.#readyWaiters.length - 1; i >= 0; i--) {
      const w = this.#readyWaiters[i];
      if (this.#idle.length >= w.count) {
        this.#readyWaiters.splice(i, 1);
        w.resolve();
      }
    }
    this.#refill();
  }

  /** A sandbox that could not be made: one waiting caller hears why, and the pool retries later. */
  #onFailed(err: unknown): void {
    if (this.#closing) return;
    this.#failed++;
    this.#waiters.shift()?.reject(err);
    for (const w of this.#readyWaiters.splice(0)) w.reject(err);
    // backing off, so that a broken setup (a rootfs without /bin/sh) never spins
    this.#backoff.failed();
  }
}
