// The systemd driver's scope: one transient scope unit with Delegate=yes per Node process (and
// per slice and scope limits asked for), started on the first Cgroup.create that needs it and
// stopped when the last of its cgroups is deleted. systemd starts a scope around processes that
// exist, so a holder process (`sh -c 'read _'`, which ends when this process does: its stdin is
// ours) is the scope's first member; it then moves into the leaf `holder`, since cgroup v2 gives
// controllers only to cgroups without processes of their own, and the cgroups go under
// `nsgroups`:
//     …/app.slice/nsgroups-PID-XXXXXX.scope/holder          the holder
//     …/app.slice/nsgroups-PID-XXXXXX.scope/nsgroups/NAME   Cgroup.create(NAME)
// When the holder and every process below are gone, systemd stops the scope and removes its
// cgroup (CollectMode=inactive-or-failed: a failed one too): a killed Node process leaves nothing.
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromNodeError, NsgroupsError, unsupported } from '../errors';
import { Variant } from '../dbus/marshal';
import { SystemdManager, type ManagerEndpoint, type ManagerKind } from '../systemd/manager';
import type { ScopeLimit } from '../systemd/properties';
import { waitUntil } from './backend';
import { missingControllersFix } from './driver';
import { descendantsDeepestFirst, readIfExists, rmdirRetrying, writeValue } from './fsops';
import { hierarchyDir, parseProcCgroup, procPathIn, type CgroupHierarchy } from './layout';

// systemd(1) --user moves a process from outside its own tree (a login session's scope) by asking
// the system manager over the system bus (AttachProcessesToUnit): without dbus that fails
const OUTSIDE_TREE_HINT =
  "; a user manager moves a process from outside its own tree (such as this login session's scope) through the system manager, over the system bus: dbus must be running";

function withHint(err: unknown, kind: ManagerKind): unknown {
  if (kind !== 'user' || !(err instanceof NsgroupsError) || !['ERR_SYSTEM', 'ERR_PERMISSION'].includes(err.code)) return err;
  return new NsgroupsError(err.code, `${err.message}${OUTSIDE_TREE_HINT}`, { errno: err.errno, syscall: err.syscall, path: err.path, cause: err });
}

const BASE = 'nsgroups';
const HOLDER = 'holder';
const GONE_TIMEOUT_MS = 10000;

export interface ScopeRequest {
  manager: ManagerKind;
  /** the slice to start the scope in; the manager's default (app.slice, system.slice) when absent */
  slice?: string;
  limits: ScopeLimit[];
  /** endpoints to try, for tests; the manager's usual ones by default */
  endpoints?: ManagerEndpoint[];
}

const scopes = new Map<string, Promise<SystemdScope>>();
const running = new Set<SystemdScope>();

function keyOf(r: ScopeRequest): string {
  return JSON.stringify([r.manager, r.slice ?? '', r.limits.map((l) => [l.property[0], String(l.property[1].value)])]);
}

/** Spawns the holder and resolves once it runs. */
function startHolder(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawnChild('/bin/sh', ['-c', 'read _'], { stdio: ['pipe', 'ignore', 'ignore'], cwd: '/', env: {} });
    child.once('error', (err) => reject(fromNodeError(err, "starting the systemd scope's holder process (/bin/sh)")));
    child.once('spawn', () => {
      child.unref();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      resolve(child);
    });
  });
}

/** Its end (the child is ref'd meanwhile: an unref'd one would let the event loop end first). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.ref();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export class SystemdScope {
  /** the scope's hierarchy path and directory */
  readonly rel: string;
  readonly dir: string;
  /** where Cgroup.create() puts cgroups: `${rel}/nsgroups` */
  readonly baseRel: string;
  #users = 0;
  #closing = false;

  private constructor(
    readonly h: CgroupHierarchy,
    readonly unit: string,
    readonly key: string,
    rel: string,
    private readonly holder: ChildProcess,
    private manager: SystemdManager | null,
    /** whose manager started it: the user's own, or the system's (root) */
    readonly kind: ManagerKind,
  ) {
    this.rel = rel;
    this.dir = hierarchyDir(h, rel)!;
    this.baseRel = path.posix.join(rel, BASE);
  }

  /** The scope for this request, started if need be, counted as in use until done() is called. */
  static async acquire(h: CgroupHierarchy, request: ScopeRequest): Promise<SystemdScope> {
    const key = keyOf(request);
    for (;;) {
      let pending = scopes.get(key);
      if (!pending) {
        pending = SystemdScope.#start(h, request, key);
        scopes.set(key, pending);
        pending.catch(() => scopes.delete(key));
      }
      const scope = await pending;
      if (scope.#closing) continue; // it is being stopped: start another
      scope.#users++;
      return scope;
    }
  }

  /** The running scopes of this process (Cgroup.open looks in them). */
  static liveSync(): SystemdScope[] {
    return [...running].filter((s) => !s.#closing);
  }

  /** What to do when a controller a limit needs is not in the scope's cgroup.controllers. */
  readonly missingControllerFix = (controller: string): string =>
    `systemd gives this scope only what its ${this.kind} manager was delegated: ${missingControllersFix(this.kind, process.geteuid!(), [controller])}`;

  static async #start(h: CgroupHierarchy, request: ScopeRequest, key: string): Promise<SystemdScope> {
    const manager = await SystemdManager.connect(request.manager, undefined, request.endpoints);
    const unit = `nsgroups-${process.pid}-${randomBytes(3).toString('hex')}.scope`;
    let holder: ChildProcess | null = null;
    let started = false;
    try {
      holder = await startHolder();
      const properties: Array<[string, Variant]> = [
        ['Description', new Variant('s', `nsgroups: cgroups of process ${process.pid}`)],
        ['PIDs', new Variant('au', [holder.pid!])],
        ['Delegate', new Variant('b', true)],
        ['CollectMode', new Variant('s', 'inactive-or-failed')],
        ...(request.slice ? ([['Slice', new Variant('s', request.slice)]] as Array<[string, Variant]>) : []),
        ...request.limits.map((l) => l.property),
      ];
      await manager.startTransientUnit(unit, properties).catch((err: unknown) => {
        throw withHint(err, request.manager);
      });
      started = true;
      // where systemd put it: the kernel's answer, not a guess from the slice
      const rel = procPathIn(h, parseProcCgroup(fs.readFileSync(`/proc/${holder.pid}/cgroup`, 'utf8')));
      if (rel === null || path.posix.basename(rel) !== unit) {
        throw new NsgroupsError('ERR_SYSTEM', `systemd started ${unit}, but its holder process is in ${rel ?? 'no cgroup2 cgroup'}`);
      }
      const scope = new SystemdScope(h, unit, key, rel, holder, manager, request.manager);
      scope.#setUp(request.limits);
      manager.conn.unref(); // kept for attach(); it must not keep the event loop alive
      running.add(scope);
      return scope;
    } catch (err) {
      if (started) await manager.stopUnit(unit).catch(() => {});
      if (holder) {
        holder.kill('SIGKILL');
        await exited(holder);
      }
      manager.close();
      throw err;
    }
  }

  /** The holder into its leaf, the base made, and the scope limits read back from the scope's own files. */
  #setUp(limits: ScopeLimit[]): void {
    const leaf = path.join(this.dir, HOLDER);
    try {
      fs.mkdirSync(leaf);
      writeValue(path.join(leaf, 'cgroup.procs'), String(this.holder.pid));
      fs.mkdirSync(path.join(this.dir, BASE));
    } catch (err) {
      throw err instanceof NsgroupsError ? err : fromNodeError(err, `setting up the delegated scope ${this.dir}`, { path: this.dir });
    }
    for (const l of limits) {
      const text = readIfExists(path.join(this.dir, l.file));
      const [name] = l.property;
      if (text === null) {
        throw unsupported(
          `scope limit ${name}: the scope has no ${l.file}, so its ${this.kind} manager cannot apply it ` +
            `(the ${l.file.split('.')[0]} controller is not delegated to it: see \`nsgroups doctor\`)`,
        );
      }
      if (l.expect !== null && text.trim().split(/\s+/)[0] !== l.expect) {
        throw new NsgroupsError('ERR_SYSTEM', `scope limit ${name}: systemd left ${l.file} at '${text.trim()}', not ${l.expect}`, {
          path: path.join(this.dir, l.file),
        });
      }
    }
  }

  /** A Cgroup.create() that used this scope has finished (made its cgroup or given up). */
  done(): void {
    this.#users--;
  }

  /**
   * Asks the manager to move `pid` into the cgroup `rel` of this scope: for a process outside the
   * scope's subtree, this process itself may not (delegation.ts).
   */
  async attach(pid: number, rel: string): Promise<void> {
    const sub = rel.slice(this.rel.length) || '/';
    if (!this.manager) this.manager = await this.#connect();
    try {
      await this.manager.attachProcesses(this.unit, sub, [pid]);
    } catch (err) {
      // a connection lost meanwhile: one new one
      if (!(err instanceof NsgroupsError && /closed|ECONN|EPIPE/.test(err.message))) throw withHint(err, this.kind);
      this.manager.close();
      this.manager = await this.#connect();
      await this.manager.attachProcesses(this.unit, sub, [pid]).catch((e: unknown) => {
        throw withHint(e, this.kind);
      });
    }
  }

  /** A connection to the scope's manager that does not keep the event loop alive (a call pending does, by its timer). */
  async #connect(): Promise<SystemdManager> {
    const m = await SystemdManager.connect(this.kind);
    m.conn.unref();
    return m;
  }

  /**
   * Stops the scope when no create() is using it and no cgroup is left in its base: the holder
   * ends, our directories go, and systemd removes the scope (waited for, up to 10 s).
   */
  async releaseIfUnused(): Promise<void> {
    if (this.#closing || this.#users > 0) return;
    if (descendantsDeepestFirst(path.join(this.dir, BASE)).length > 0) return;
    this.#closing = true;
    scopes.delete(this.key);
    running.delete(this);
    this.holder.kill('SIGKILL');
    await exited(this.holder);
    for (const d of [HOLDER, BASE]) await rmdirRetrying(path.join(this.dir, d)).catch(() => {});
    const gone = () => !fs.existsSync(this.dir);
    if (!(await waitUntil(gone, GONE_TIMEOUT_MS / 2))) {
      // systemd did not notice the empty scope yet: stop it (which removes the cgroup)
      try {
        this.manager ??= await this.#connect();
        await this.manager.stopUnit(this.unit);
      } catch {
        /* the directory check below says whether it is gone */
      }
      await waitUntil(gone, GONE_TIMEOUT_MS / 2);
    }
    this.manager?.close();
    this.manager = null;
    if (!gone()) {
      throw new NsgroupsError('ERR_BUSY', `systemd did not remove the scope ${this.unit} (${this.dir}) within ${GONE_TIMEOUT_MS} ms of its last process`, {
        path: this.dir,
      });
    }
  }
}
