// Cgroup: one control group, whatever the hierarchy (API.md "Cgroup"). This file holds the policy
// — names, the writable base, validation before anything is made, undo on failure, waiting —
// and leaves the files to a backend (v1.ts, v2.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromNodeError, invalidArg, NsgroupsError, unsupported } from '../errors';
import { OWNER_XATTR, ownerRecord, parseOwnerRecord } from '../host/owner';
import { native } from '../native';
import { takeTurn, turnGate } from '../util/turns';
import { checkArray, checkBoolean, checkInteger, checkKeys, checkObject, checkOneOf, checkNumber } from '../util/validate';
import { systemdBooted } from '../systemd/manager';
import { checkSliceName } from '../systemd/properties';
import { waitUntil, type CgroupBackend, type CgroupDir, type Placement } from './backend';
import { checkBaseRoot, checkCgroupName, chooseBase, permissionError } from './base';
import { CGROUPFS_MIGRATION_FIX, migratesFreely, migrationBlock, migrationError } from './delegation';
import { checkDriver, checkScopeLimits, chooseDriver, driverFromEnv, systemdUnavailable, type CgroupDriverName, type DriverDecision } from './driver';
import { CgroupEventStream, type CgroupEvent, type CgroupEventsOptions } from './events';
import { descendantsDeepestFirst, isErrno, mkdirAsync, rmdirOnce, rmdirRetrying } from './fsops';
import { detectCgroupLayoutSync, hierarchyDir, parseProcCgroup, procPathIn, type CgroupHierarchy, type CgroupLayout } from './layout';
import { controllersFor, emptyLimits, LIMIT_KEYS, NOT_ON_V2, resolveLimits, type CgroupLimits, type CgroupLimitsInForce, type ResolvedLimits } from './limits';
import { BASIC_DEVICES, devicePermissionError, devicePrivilegeProblem, resolveDevices } from './devices';
import { netUnsupported } from './net';
import type { PeakProbe, RunCounters } from './run-usage';
import { SystemdScope } from './scope';
import type { CgroupStats } from './stats';
import { V1_CONTROLLERS, V1_ON_REQUEST, V1Backend } from './v1';
import { DEFAULT_V2_CONTROLLERS, V2Backend } from './v2';

// Deletes that come together (the cgroups of sandboxes that ended together): one delete's checks
// (a stat and a read of cgroup.procs per hierarchy) per turn of the loop, before queued creates.
const deleteTurn = turnGate('delete');

/** Cgroup.create()'s options: the limits ({@link CgroupLimits}), and where and how the cgroup is made. */
export interface CgroupCreateOptions extends CgroupLimits {
  /**
   * The base, as a path from the top of each hierarchy: '/nsgroups' as root by default, the
   * delegated subtree's 'nsgroups' as a user; NSGROUPS_CGROUP_ROOT sets it too.
   */
  root?: string;
  /**
   * The controllers the cgroup uses (v1: the hierarchies it gets a directory in; v2: the ones
   * enabled for it). Default: v1: memory, pids, cpu, cpuacct, and freezer where the cgroup has no
   * cgroup2 directory (freeze() and kill() use that one where it has); v2: cpu, cpuset, io, memory,
   * pids. Those a limit needs are always added (devices, net_cls and net_prio only then, or when
   * listed here).
   */
  controllers?: string[];
  /**
   * How the cgroup is made (NSGROUPS_CGROUP_DRIVER sets it too): 'cgroupfs' under a base this
   * caller may write; 'systemd' inside a transient scope with Delegate=yes that a systemd manager
   * starts for this process (the user's own manager for a user, the system manager for root);
   * 'auto' (default): cgroupfs where a delegated or root-owned base is writable, else systemd
   * where a user manager is reachable on a cgroup v2 host (docs/rootless.md).
   */
  driver?: 'auto' | 'cgroupfs' | 'systemd';
  /** systemd driver: the slice its scope goes in ('my.slice'); default the manager's own (app.slice, system.slice) */
  slice?: string;
  /**
   * systemd driver: limits on the whole scope, set by systemd as unit properties (MemoryMax=,
   * MemoryHigh=, MemoryLow=, MemorySwapMax=, CPUQuota=, CPUWeight=, TasksMax=, IOWeight=,
   * AllowedCPUs=, AllowedMemoryNodes=). They bound every cgroup of this process in that scope
   * together; a different set gets a scope of its own. The cgroup's own limits stay in cgroupfs.
   */
  scopeLimits?: Pick<CgroupLimits, 'memory' | 'cpu' | 'pids' | 'io' | 'cpuset'>;
}

/** Cgroup.open()'s options. */
export interface CgroupOpenOptions {
  /** the base the name is relative to, as in {@link CgroupCreateOptions.root} (default: the library's base) */
  root?: string;
}

/** cg.delete()'s options. */
export interface CgroupDeleteOptions {
  /** SIGKILL what is still inside (and in child cgroups) first; without it (the default) a populated cgroup is ERR_BUSY */
  kill?: boolean;
  /** how long to wait for the processes to be gone, in ms (default 10000) */
  timeout?: number;
}

const KNOWN_CONTROLLERS = [...new Set([...V1_CONTROLLERS, ...V1_ON_REQUEST, ...DEFAULT_V2_CONTROLLERS, 'io', 'hugetlb', 'rdma', 'misc'])];
// the v1 hierarchies an existing cgroup is looked for in
const V1_DRIVEN = [...V1_CONTROLLERS, ...V1_ON_REQUEST];
const EMPTY_TIMEOUT_MS = 10000;
// pid_max can be at most 2^22 (proc(5) /proc/sys/kernel/pid_max)
const PID_MAX_LIMIT = 4194304;

/** On a hybrid host without a v1 devices hierarchy, device policies are BPF programs on the unified directory. */
const devicesByBpf = (lay: CgroupLayout) => lay.mode === 'hybrid' && !lay.v1.some((h) => h.controllers.includes('devices'));

/** ERR_PERMISSION before anything is made, when the caller cannot set a device policy at all. */
function checkDevicePrivilege(lay: CgroupLayout, limits: ResolvedLimits): void {
  if (!limits.devices) return;
  const problem = devicePrivilegeProblem(lay.mode === 'v2' || devicesByBpf(lay) ? 'bpf' : 'v1');
  if (problem) throw devicePermissionError(problem);
}

let cachedLayout: CgroupLayout | undefined;
function layout(): CgroupLayout {
  cachedLayout ??= detectCgroupLayoutSync();
  return cachedLayout;
}

/** /proc/self/cgroup, read once per call that needs it (only a user's delegated base does). */
function selfCgroupReader(): () => string {
  let text: string | undefined;
  return () => (text ??= fs.readFileSync('/proc/self/cgroup', 'utf8'));
}

function topWritable(h: CgroupHierarchy): boolean {
  try {
    fs.accessSync(path.join(h.mountPoint, 'cgroup.procs'), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// v1 names of what a v2-style vocabulary asks for, and back.
const toV1 = (c: string) => (c === 'io' ? 'blkio' : c);
const toV2 = (c: string) => (c === 'blkio' ? 'io' : c === 'cpuacct' ? 'cpu' : c);

function checkControllers(value: unknown, what: string): string[] {
  return checkArray(value, what).map((c, i) => checkOneOf(c, KNOWN_CONTROLLERS, `${what}[${i}]`));
}

function checkPid(pid: unknown, what: string): number {
  return checkInteger(pid, what, 1, PID_MAX_LIMIT);
}

interface DirPlan {
  dir: CgroupDir;
  /** the hierarchy path of the base the name is relative to */
  base: string;
  /** a failure to make it is not fatal (the unified tracking directory of a hybrid host) */
  optional: boolean;
  /** made only when the cgroup has no cgroup2 directory (the v1 freezer, for freeze() and kill()) */
  withoutTracking?: boolean;
}

/**
 * mkdir -p below the hierarchy's top, off the JS thread; pushes what it made (top-down) to
 * `made`. EEXIST on the leaf is an error. The leaf is tried first: its parents (the base, at
 * least) are usually there already, so that is one mkdir; ENOENT walks up to the deepest
 * parent that exists and makes the levels below it in order.
 */
async function makeDirs(plan: DirPlan, made: string[], retries = 3): Promise<void> {
  const { h, rel } = plan.dir;
  const levels: string[] = [];
  for (let p = rel; p !== h.mountRoot && p !== '/'; p = path.posix.dirname(p)) levels.unshift(p);
  const failure = (err: unknown, dir: string): NsgroupsError => {
    if (isErrno(err, 'EEXIST')) {
      return new NsgroupsError('ERR_BUSY', `the cgroup ${dir} already exists: open it with Cgroup.open() or choose another name`, {
        errno: -17,
        syscall: 'mkdir',
        path: dir,
      });
    }
    if (isErrno(err, 'EACCES', 'EPERM', 'EROFS')) {
      return permissionError(layout(), h, `mkdir ${dir}: ${(err as NodeJS.ErrnoException).code}`);
    }
    return fromNodeError(err, `creating the cgroup ${dir}`, { path: dir });
  };
  // from the leaf up, to the first level that could be made (or that exists: a parent)
  let from = levels.length - 1;
  for (;;) {
    const dir = hierarchyDir(h, levels[from])!;
    try {
      await mkdirAsync(dir);
      made.push(dir);
      break;
    } catch (err) {
      if (isErrno(err, 'ENOENT') && from > 0) {
        from--; // its parent is missing
        continue;
      }
      if (isErrno(err, 'EEXIST') && from < levels.length - 1) break; // a parent that is there
      throw failure(err, dir);
    }
  }
  for (let i = from + 1; i < levels.length; i++) {
    const dir = hierarchyDir(h, levels[i])!;
    try {
      await mkdirAsync(dir);
      made.push(dir);
    } catch (err) {
      // a parent we saw was removed meanwhile (another process undid its own create() of the
      // shared base): walk again, a few times
      if (isErrno(err, 'ENOENT') && retries > 0) return makeDirs(plan, made, retries - 1);
      if (isErrno(err, 'EEXIST') && i < levels.length - 1) continue;
      throw failure(err, dir);
    }
  }
}

/** The directories of `made` below a base (the base itself is never the cgroup's to remove). */
function belowBases(made: string[], plans: DirPlan[]): string[] {
  const bases = plans.map((p) => hierarchyDir(p.dir.h, p.base)).filter((b): b is string => b !== null);
  return made.filter((dir) => bases.some((b) => dir.startsWith(`${b}/`)));
}

/**
 * Marks the directories create() made below the base with their maker (lib/host/owner.ts), so
 * that `nsgroups gc` can tell what a process that died left; a parent made on the way to the
 * cgroup says so (implicit=1), so that delete() removes it with the last cgroup under it,
 * whoever made that one. Best effort: where cgroupfs takes no user xattrs there is no mark (gc
 * leaves such cgroups alone; delete() removes the parents this create() made, if empty).
 */
function markOwner(made: string[], leaves: Set<string>): void {
  for (const dir of made) {
    try {
      native().lsetxattr(dir, OWNER_XATTR, Buffer.from(ownerRecord(leaves.has(dir) ? {} : { implicit: '1' })), 0);
    } catch {
      /* no xattrs on this cgroupfs (or no addon): unmarked */
    }
  }
}

/** A parent that create() made on the way (marked implicit=1), of any maker. */
function markedImplicit(dir: string): boolean {
  try {
    return parseOwnerRecord(native().lgetxattr(dir, OWNER_XATTR).toString())?.extra.implicit === '1';
  } catch {
    return false; // no mark, no xattrs, gone
  }
}

/** Has child cgroups: kernfs keeps a directory's link count at 2 + its subdirectories. */
function hasChildren(dir: string): boolean {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  return !st || st.nlink > 2;
}

function undoDirs(made: string[]): void {
  for (const dir of [...made].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch {
      /* someone else's child appeared in a shared parent: leave it */
    }
  }
}

/** The hierarchies a new cgroup gets a directory in, and its backend. */
function planCreate(
  lay: CgroupLayout,
  segments: string[],
  rootOption: string | undefined,
  controllers: string[] | undefined,
  limits: ResolvedLimits,
  scope: SystemdScope | null,
  selfCgroup: () => string,
): { plans: DirPlan[]; backend: (dirs: CgroupDir[]) => CgroupBackend } {
  const name = segments.join('/');
  const dirIn = (h: CgroupHierarchy, optional: boolean): DirPlan | null => {
    const base = chooseBase(h, rootOption, selfCgroup);
    if (!base) {
      if (optional) return null;
      throw permissionError(lay, h, "no writable cgroup was found (this process's own cgroup and its ancestors are not writable)");
    }
    const rel = path.posix.join(base.rel, name);
    const dir = hierarchyDir(h, rel);
    if (!dir) throw invalidArg(`the cgroup base ${base.rel} is outside the part of ${h.mountPoint} this process can see (${h.mountRoot})`);
    return { dir: { h, rel, dir }, base: base.rel, optional };
  };
  // v1 hierarchies are independent: a child made without devices (net_cls, net_prio) would sit in
  // the root of that hierarchy, outside its parent's policy. So it joins those its parent is in.
  const parentIsIn = (h: CgroupHierarchy): boolean => {
    if (segments.length < 2 || !h.controllers.some((c) => V1_ON_REQUEST.includes(c))) return false;
    const base = chooseBase(h, rootOption, selfCgroup);
    const dir = base && hierarchyDir(h, path.posix.join(base.rel, ...segments.slice(0, -1)));
    return !!dir && fs.existsSync(dir);
  };
  const needed = controllersFor(limits);
  if (lay.mode === 'v2') {
    const h = lay.unified!;
    const wanted = controllers ? [...new Set(controllers.map(toV2).filter((c) => c !== 'freezer' && !NOT_ON_V2.includes(c)))] : DEFAULT_V2_CONTROLLERS;
    if (scope) {
      // inside the delegated scope: controllers are enabled from the scope down (its own
      // cgroup.subtree_control is ours, cgroup.controllers is what its manager delegated)
      const rel = path.posix.join(scope.baseRel, name);
      const plan: DirPlan = { dir: { h, rel, dir: hierarchyDir(h, rel)! }, base: scope.baseRel, optional: false };
      return { plans: [plan], backend: ([dir]) => new V2Backend(dir, scope.rel, wanted, scope.missingControllerFix) };
    }
    const plan = dirIn(h, false)!;
    const enableFrom = topWritable(h) ? h.mountRoot : path.posix.dirname(plan.base);
    return { plans: [plan], backend: ([dir]) => new V2Backend(dir, enableFrom, wanted) };
  }
  // Only the hierarchies the cgroup needs: each v1 directory costs a mkdir, a move of every
  // process into it, an rmdir. By default those stats() reads (memory, cpu/cpuacct, pids) and
  // the limits ask for; freeze() and kill() go through the unified directory where there is
  // one (cgroup.freeze, cgroup.kill), else through the v1 freezer. `controllers` asks for more.
  const usual = ['memory', 'pids', 'cpu', 'cpuacct', ...(lay.unified ? [] : ['freezer'])];
  const wanted = new Set((controllers ?? usual).map(toV1));
  const byBpf = devicesByBpf(lay);
  for (const c of needed) if (!(c === 'devices' && byBpf)) wanted.add(toV1(c));
  for (const c of wanted) {
    if (!lay.v1.some((h) => h.controllers.includes(c))) {
      if (controllers?.map(toV1).includes(c) || needed.map(toV1).includes(c)) {
        if (c === 'net_cls' || c === 'net_prio') throw netUnsupported(c, lay.mode);
        throw unsupported(`the ${c} controller is not mounted as a cgroup v1 hierarchy on this ${lay.mode} host`);
      }
    }
  }
  if (limits.devices && byBpf && !lay.unified) {
    throw unsupported(
      `a device policy needs the v1 devices controller or a cgroup2 hierarchy (for a BPF program), and this ${lay.mode} host has neither mounted`,
    );
  }
  // the unified directory carries the device program where there is no v1 devices hierarchy
  let tracking = lay.unified ? dirIn(lay.unified, !(limits.devices && byBpf)) : null;
  // A tracking directory this process's children cannot be born in (the caller sits outside its
  // subtree: the v2 delegation rule) would make every spawn fail with clone3 EACCES, while the v1
  // hierarchies, which carry the limits, have no such rule: go without it, unless the device
  // program needs it — and freeze through the v1 freezer instead.
  const own = tracking && !migratesFreely(tracking.dir.h) ? procPathIn(tracking.dir.h, parseProcCgroup(selfCgroup())) : null;
  const block = tracking && own !== null ? migrationBlock(tracking.dir.h, own, tracking.dir.rel) : null;
  if (tracking && block) {
    if (!tracking.optional) {
      throw migrationError(block, `Cgroup.create('${name}'): its device policy is a BPF program on ${tracking.dir.dir}`, 'clone3', CGROUPFS_MIGRATION_FIX);
    }
    tracking = null;
  }
  const plans: DirPlan[] = [];
  for (const h of lay.v1) {
    if (h.controllers.some((c) => wanted.has(c)) || parentIsIn(h)) plans.push(dirIn(h, false)!);
  }
  if (tracking) plans.push(tracking);
  // Without its cgroup2 directory (left out above, or not made: #make) the cgroup has no
  // cgroup.freeze: by default the v1 freezer stands in, where this process has a base in it
  // (else freeze() is ERR_UNSUPPORTED and kill() kills without freezing). After the tracking
  // plan: #make decides by whether that one was made. An explicit `controllers` is kept as given.
  const freezer = lay.v1.find((h) => h.controllers.includes('freezer'));
  if (freezer && !controllers && (!tracking || tracking.optional) && !plans.some((p) => p.dir.h === freezer)) {
    const plan = dirIn(freezer, true);
    if (plan) plans.push({ ...plan, withoutTracking: true });
  }
  return {
    plans,
    backend: (dirs) => {
      const unified = dirs.find((d) => d.h.version === 2) ?? null;
      return new V1Backend(
        dirs.filter((d) => d.h.version === 1),
        unified,
        byBpf,
      );
    },
  };
}

/** The limits in force, as limits to restore (only the keys `touched` sets). */
function restorable(before: CgroupLimitsInForce, touched: ResolvedLimits): ResolvedLimits {
  const out = emptyLimits();
  for (const k of Object.keys(touched.memory) as Array<keyof ResolvedLimits['memory']>) {
    if (before.memory?.[k] !== undefined) out.memory[k] = before.memory[k];
  }
  if (touched.cpu.max !== undefined && before.cpu) out.cpu.max = before.cpu.max;
  if (touched.cpu.weight !== undefined && before.cpu) out.cpu.weight = before.cpu.weight;
  if (touched.pids.max !== undefined && before.pids) out.pids.max = before.pids.max;
  if (touched.io.weight !== undefined && before.io?.weight !== undefined) out.io.weight = before.io.weight;
  if (touched.io.max) {
    out.io.max = touched.io.max.map((d) => ({ device: d.device, ...(before.io?.max[d.device] ?? { rbps: 'max', wbps: 'max', riops: 'max', wiops: 'max' }) }));
  }
  if (touched.cpuset.cpus !== undefined && before.cpuset) out.cpuset.cpus = before.cpuset.cpus;
  if (touched.cpuset.mems !== undefined && before.cpuset) out.cpuset.mems = before.cpuset.mems;
  if (touched.devices && before.devices) out.devices = resolveDevices(before.devices, 'the devices in force');
  if (touched.netCls.classid !== undefined && before.netCls) out.netCls.classid = before.netCls.classid;
  if (touched.netPrio.ifpriomap && before.netPrio) {
    out.netPrio.ifpriomap = touched.netPrio.ifpriomap.map(([name]) => [name, before.netPrio!.ifpriomap[name] ?? 0]);
  }
  return out;
}

/**
 * One control group, whatever the hierarchy: one directory on cgroup v2, the same relative path in
 * every controller hierarchy it uses on v1 and hybrid hosts. Limits use one vocabulary on both
 * (API.md "Cgroup"). Made with Cgroup.create(), Cgroup.open(), Cgroup.of() or Cgroup.self().
 * @example
 * await using cg = await Cgroup.create('jobs/build-42', { memory: { max: '256M' }, pids: { max: 64 } });
 * const r = await run('make', ['test'], { cgroup: cg, namespaces: ['user', 'pid'] });
 * console.log(r.stats?.memory.peak);
 */
export class Cgroup {
  /**
   * The devices every program expects in /dev (null, zero, full, random, urandom, tty, ptmx,
   * /dev/pts/*), read, write and mknod: `devices: [...Cgroup.BASIC_DEVICES, { ...more }]`.
   */
  static readonly BASIC_DEVICES = BASIC_DEVICES;

  /** relative to the base for create()/open(); the path in the hierarchy ('/…') for of()/self() */
  readonly name: string;
  /** the hierarchy that carries the limits: 2 on v2 hosts, 1 on v1 and hybrid hosts */
  readonly version: 1 | 2;
  /** v2: the directory; v1/hybrid: the directory per controller, plus 'unified' for the v2 tracking directory */
  readonly path: string | Record<string, string>;
  /** 'systemd' when it lives in a delegated systemd scope of this process, else 'cgroupfs' */
  readonly driver: CgroupDriverName;
  /** the systemd scope unit it lives in ('nsgroups-1234-5f3a9c.scope'), or null */
  readonly unit: string | null;
  readonly #backend: CgroupBackend;
  readonly #scope: SystemdScope | null;
  readonly #streams = new Set<CgroupEventStream>();
  /** the parents create() made for this cgroup (removed with it when empty) */
  readonly #madeParents: Set<string>;
  /** the bases it is under, where they are known (create, open): never its to remove, so delete() stops there */
  readonly #bases: Set<string>;

  private constructor(name: string, backend: CgroupBackend, madeParents: string[] = [], scope: SystemdScope | null = null, bases: string[] = []) {
    this.name = name;
    this.#backend = backend;
    this.#madeParents = new Set(madeParents);
    this.#bases = new Set(bases);
    this.#scope = scope;
    this.version = backend.version;
    this.path = backend.path();
    this.driver = scope ? 'systemd' : 'cgroupfs';
    this.unit = scope?.unit ?? null;
  }

  /**
   * Creates the cgroup (and missing parents) with these limits. Nothing is left behind if it
   * fails. Parents it makes are implicit: delete() removes them with the last cgroup under them.
   * @param name relative to the base, segments joined by '/' (no leading '/', no '.' or '..', no
   * control characters, at most 255 bytes each, none starting with a controller's name and '.')
   * @throws NsgroupsError ERR_INVALID_ARG for a bad name, an unknown key or a bad value;
   * ERR_UNSUPPORTED for a limit or controller the host cannot honour; ERR_PERMISSION where the
   * base (or a device policy) is not the caller's to write; ERR_BUSY when the cgroup already exists
   * @example
   * const cg = await Cgroup.create('jobs/build-42', { memory: { max: '256M', swapMax: 0 }, cpu: { max: 0.5 } });
   */
  static async create(name: string, options?: CgroupCreateOptions): Promise<Cgroup> {
    const what = 'Cgroup.create options';
    const opts = options === undefined ? {} : checkObject(options, what);
    checkKeys(opts, [...LIMIT_KEYS, 'root', 'controllers', 'driver', 'slice', 'scopeLimits'], what, {
      memoryMax: 'use memory: { max }',
      cpus: 'use cpu: { max } (in CPUs)',
      Slice: "use 'slice'",
    });
    const segments = checkCgroupName(name);
    const rootOption = opts.root === undefined ? undefined : checkBaseRoot(opts.root, `${what}.root`);
    const controllers = opts.controllers === undefined ? undefined : checkControllers(opts.controllers, `${what}.controllers`);
    const limits = resolveLimits(opts, what);
    const requested = opts.driver !== undefined ? checkDriver(opts.driver, `${what}.driver`) : driverFromEnv();
    const slice = opts.slice === undefined ? undefined : checkSliceName(opts.slice, `${what}.slice`);
    const scopeLimits = opts.scopeLimits === undefined ? [] : checkScopeLimits(opts.scopeLimits, `${what}.scopeLimits`);
    // the planning below (a dozen small reads and checks): one create's worth per turn of the
    // event loop when many start together (util/turns.ts), like the tail in #make
    await takeTurn();
    const lay = layout();
    checkDevicePrivilege(lay, limits);
    const selfCgroup = selfCgroupReader();
    const decision = chooseDriver(
      lay,
      requested,
      rootOption,
      selfCgroup,
      slice !== undefined ? 'slice' : opts.scopeLimits !== undefined ? 'scopeLimits' : null,
    );

    let scope: SystemdScope | null = null;
    if (decision.driver === 'systemd') {
      try {
        scope = await SystemdScope.acquire(lay.unified!, { manager: decision.manager, slice, limits: scopeLimits });
      } catch (err) {
        const e = err instanceof NsgroupsError ? err : new NsgroupsError('ERR_SYSTEM', String(err), { cause: err });
        // auto, from the user manager's own tree: where its manager does not answer, the old way
        if (!(decision.fallback && e.code === 'ERR_UNSUPPORTED')) throw systemdUnavailable(e, decision);
      }
    }
    try {
      return await Cgroup.#make(lay, segments, rootOption, controllers, limits, scope, selfCgroup, decision);
    } finally {
      if (scope) {
        scope.done();
        await scope.releaseIfUnused().catch(() => {}); // a create that failed leaves no scope
      }
    }
  }

  static async #make(
    lay: CgroupLayout,
    segments: string[],
    rootOption: string | undefined,
    controllers: string[] | undefined,
    limits: ResolvedLimits,
    scope: SystemdScope | null,
    selfCgroup: () => string,
    decision: DriverDecision,
  ): Promise<Cgroup> {
    let planned: ReturnType<typeof planCreate>;
    try {
      planned = planCreate(lay, segments, rootOption, controllers, limits, scope, selfCgroup);
    } catch (err) {
      // on a systemd host, what starts this user's manager (nothing changes elsewhere)
      if (decision.driver === null && decision.fix && systemdBooted() && err instanceof NsgroupsError && err.code === 'ERR_PERMISSION') {
        throw new NsgroupsError(
          'ERR_PERMISSION',
          `${err.message}
  - or let nsgroups ask systemd for a delegated scope: ${decision.fix}`,
          { path: err.path },
        );
      }
      throw err;
    }
    const { plans, backend: makeBackend } = planned;
    makeBackend(plans.map((p) => p.dir)).precheck(limits);

    // The hierarchies' directories side by side (each a mkdir off the JS thread); `made` in
    // plan order, so that an undo removes them bottom-up. A stand-in freezer only where no
    // cgroup2 directory was made.
    const made: string[] = [];
    const dirs: CgroupDir[] = [];
    const makeAll = async (batch: DirPlan[]): Promise<void> => {
      const each = batch.map(() => [] as string[]);
      const results = await Promise.allSettled(batch.map((plan, i) => makeDirs(plan, each[i])));
      let failed: unknown = null;
      for (const [i, r] of results.entries()) {
        const plan = batch[i];
        if (r.status === 'fulfilled') {
          made.push(...each[i]);
          dirs.push(plan.dir);
        } else if (plan.optional && r.reason instanceof NsgroupsError && r.reason.code === 'ERR_PERMISSION') {
          undoDirs(each[i]); // no tracking (or stand-in freezer) directory: v1 alone still works
        } else {
          made.push(...each[i]);
          failed ??= r.reason;
        }
      }
      if (failed !== null) throw failed;
    };
    try {
      await makeAll(plans.filter((p) => !p.withoutTracking));
      if (!dirs.some((d) => d.h.version === 2)) await makeAll(plans.filter((p) => p.withoutTracking));
      // the limits' writes, and what the caller does with the cgroup next (a spawn, mostly): one
      // create's worth per turn of the event loop when many finish together (util/turns.ts)
      await takeTurn();
      const leaves = new Set(plans.map((p) => p.dir.dir));
      const ours = belowBases(made, plans);
      if (!scope) markOwner(ours, leaves); // a scope's cgroups go with the scope: nothing for gc
      const backend = makeBackend(dirs);
      backend.setUp(limits);
      backend.apply(limits);
      const bases = plans.map((p) => hierarchyDir(p.dir.h, p.base)).filter((b): b is string => b !== null);
      return new Cgroup(
        segments.join('/'),
        backend,
        ours.filter((d) => !leaves.has(d)),
        scope,
        bases,
      );
    } catch (err) {
      undoDirs(made);
      throw err;
    }
  }

  /**
   * An existing cgroup under the base (ERR_NOT_FOUND when it is in no hierarchy). Synchronous,
   * like of() and self(): a few reads of /proc and cgroupfs (`await` on it works as well).
   * @throws NsgroupsError ERR_INVALID_ARG for a bad name; ERR_NOT_FOUND when no hierarchy has it
   * @example
   * const cg = Cgroup.open('jobs/build-42');
   */
  static open(name: string, options?: CgroupOpenOptions): Cgroup {
    const what = 'Cgroup.open options';
    const opts = options === undefined ? {} : checkObject(options, what);
    checkKeys(opts, ['root'], what);
    const segments = checkCgroupName(name);
    const rootOption = opts.root === undefined ? undefined : checkBaseRoot(opts.root, `${what}.root`);
    const lay = layout();
    const selfCgroup = selfCgroupReader();
    const bases: string[] = [];
    const find = (h: CgroupHierarchy): CgroupDir | null => {
      const base = chooseBase(h, rootOption, selfCgroup);
      if (!base) return null;
      const rel = path.posix.join(base.rel, ...segments);
      const dir = hierarchyDir(h, rel);
      if (!dir || !fs.existsSync(dir)) return null;
      const baseDir = hierarchyDir(h, base.rel);
      if (baseDir) bases.push(baseDir);
      return { h, rel, dir };
    };
    let backend: CgroupBackend | null = null;
    let scope: SystemdScope | null = null;
    if (lay.mode === 'v2') {
      // this process's systemd scopes first (no root option: that names a cgroupfs base)
      for (const s of rootOption === undefined ? SystemdScope.liveSync() : []) {
        const rel = path.posix.join(s.baseRel, ...segments);
        const dir = hierarchyDir(s.h, rel);
        if (dir && fs.existsSync(dir)) {
          backend = new V2Backend({ h: s.h, rel, dir }, s.rel, DEFAULT_V2_CONTROLLERS, s.missingControllerFix);
          scope = s;
          const baseDir = hierarchyDir(s.h, s.baseRel);
          if (baseDir) bases.push(baseDir);
          break;
        }
      }
      const d = backend ? null : find(lay.unified!);
      if (d) backend = new V2Backend(d, null);
    } else {
      const v1 = lay.v1
        .filter((h) => h.controllers.some((c) => V1_DRIVEN.includes(c)))
        .map(find)
        .filter((d): d is CgroupDir => d !== null);
      const unified = lay.unified ? find(lay.unified) : null;
      if (v1.length) backend = new V1Backend(v1, unified, devicesByBpf(lay));
    }
    if (!backend) {
      throw new NsgroupsError('ERR_NOT_FOUND', `no cgroup named '${segments.join('/')}' under the cgroup base of this ${lay.mode} host`);
    }
    return new Cgroup(segments.join('/'), backend, [], scope, bases);
  }

  /**
   * The cgroup process `pid` is in (from /proc/PID/cgroup).
   * @throws NsgroupsError ERR_INVALID_ARG for a pid that is not 1..4194304; ERR_NOT_FOUND when there is no such process
   * @example
   * console.log(Cgroup.of(process.ppid).name);
   */
  static of(pid: number): Cgroup {
    checkPid(pid, 'Cgroup.of(pid)');
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ESRCH')) throw new NsgroupsError('ERR_NOT_FOUND', `no process with pid ${pid}`, { errno: -3, syscall: 'open' });
      throw fromNodeError(err, `reading /proc/${pid}/cgroup`);
    }
    const entries = parseProcCgroup(text);
    const lay = layout();
    const at = (h: CgroupHierarchy): CgroupDir | null => {
      const rel = procPathIn(h, entries);
      const dir = rel === null ? null : hierarchyDir(h, rel);
      return rel === null || dir === null ? null : { h, rel, dir };
    };
    let backend: CgroupBackend | null = null;
    if (lay.mode === 'v2') {
      const d = at(lay.unified!);
      if (d) backend = new V2Backend(d, null);
    } else {
      // the hierarchies every cgroup of ours has; the others (freezer, cpuset, blkio, devices,
      // net_cls, net_prio) only where the process sits in the same cgroup as in those (a cgroup
      // made with them), not in whatever cgroup of theirs it happens to be (the root, mostly)
      const always = ['memory', 'pids', 'cpu', 'cpuacct'];
      const usual = lay.v1
        .filter((h) => h.controllers.some((c) => always.includes(c)))
        .map(at)
        .filter((d): d is CgroupDir => d !== null);
      const same = new Set(usual.map((d) => d.rel));
      const onRequest = lay.v1
        .filter((h) => !usual.some((d) => d.h === h) && h.controllers.some((c) => V1_CONTROLLERS.includes(c) || V1_ON_REQUEST.includes(c)))
        .map(at)
        .filter((d): d is CgroupDir => d !== null && same.has(d.rel) && d.rel !== d.h.mountRoot);
      const v1 = [...usual, ...onRequest];
      let unified = lay.unified ? at(lay.unified) : null;
      if (unified && unified.rel === unified.h.mountRoot) unified = null; // the root has no cgroup.events or cgroup.kill
      if (v1.length) backend = new V1Backend(v1, unified, devicesByBpf(lay));
    }
    if (!backend) throw new NsgroupsError('ERR_NOT_FOUND', `process ${pid} is in no cgroup hierarchy this process can see`);
    // its name: the one path if all hierarchies agree, else the most specific one
    const paths = backend.dirs.map((d) => d.rel);
    const name = paths.reduce((a, b) => (b.length > a.length ? b : a));
    return new Cgroup(name, backend);
  }

  /**
   * The cgroup of the calling process.
   * @example
   * console.log(Cgroup.self().name); // e.g. '/user.slice/user-1000.slice/session-2.scope'
   */
  static self(): Cgroup {
    return Cgroup.of(process.pid);
  }

  /**
   * Changes limits; on failure the limits it touched go back to what they were.
   * @throws NsgroupsError ERR_INVALID_ARG for an unknown key or a bad value; ERR_UNSUPPORTED for a
   * limit the host cannot honour; ERR_PERMISSION when a file (or a device policy) is not the caller's to write
   * @example
   * await cg.set({ memory: { max: '512M' } });
   */
  async set(limits: CgroupLimits): Promise<void> {
    const what = 'cgroup.set limits';
    const opts = checkObject(limits, what);
    checkKeys(opts, LIMIT_KEYS, what);
    const resolved = resolveLimits(opts, what);
    checkDevicePrivilege(layout(), resolved);
    this.#backend.precheck(resolved);
    const before = this.#backend.limits();
    try {
      this.#backend.apply(resolved);
    } catch (err) {
      try {
        this.#backend.apply(restorable(before, resolved));
      } catch {
        /* best effort: the original error says what went wrong */
      }
      throw err;
    }
  }

  /**
   * The limits in force, in the shape create() takes (sizes in bytes).
   * @example
   * const { memory } = await cg.limits(); // { max: 268435456, … }
   */
  async limits(): Promise<CgroupLimitsInForce> {
    return this.#backend.limits();
  }

  /**
   * What its processes use now: memory, CPU, pids, io and pressure, the same shape on v1 and v2 ({@link CgroupStats}).
   * @example
   * const { memory, cpu } = await cg.stats();
   */
  async stats(): Promise<CgroupStats> {
    return this.#backend.stats();
  }

  /** stats(), synchronously (a few small cgroupfs reads), for a report that is read synchronously. @internal */
  _statsSync(): CgroupStats {
    return this.#backend.stats();
  }

  /**
   * Moves process `pid` (all its threads) into this cgroup, in every hierarchy it uses.
   * @throws NsgroupsError ERR_INVALID_ARG for a bad pid; ERR_NOT_FOUND when there is no such
   * process; ERR_PERMISSION when the cgroup v2 delegation rule forbids the move
   * @example
   * await cg.add(child.pid!);
   */
  async add(pid: number): Promise<void> {
    checkPid(pid, 'cgroup.add(pid)');
    try {
      this.#backend.add(pid);
    } catch (err) {
      if (isErrno(err, 'ESRCH')) throw new NsgroupsError('ERR_NOT_FOUND', `no process with pid ${pid}`, { errno: -3, syscall: 'write', cause: err });
      if (!isErrno(err, 'EACCES', 'EPERM')) throw err;
      const d = this.#backend.dirs.find((x) => x.h.version === 2);
      if (!d) throw err;
      // the v2 delegation rule: the scope's manager may move it where this process may not
      if (this.#scope) return this.#scope.attach(pid, d.rel);
      let from: string | null = null;
      try {
        from = procPathIn(d.h, parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')));
      } catch {
        /* gone meanwhile: the original error */
      }
      const block = from === null ? null : migrationBlock(d.h, from, d.rel);
      if (block) throw migrationError(block, `cgroup.add(${pid})`, 'write', CGROUPFS_MIGRATION_FIX);
      throw err;
    }
  }

  /**
   * The processes in this cgroup (not in its children), sorted.
   * @example
   * const pids = await cg.procs();
   */
  async procs(): Promise<number[]> {
    return this.#backend.procs().sort((a, b) => a - b);
  }

  /**
   * The threads in this cgroup, sorted.
   * @example
   * const tids = await cg.threads();
   */
  async threads(): Promise<number[]> {
    return this.#backend.threads().sort((a, b) => a - b);
  }

  /**
   * Stops every process in it (and below) and returns once the kernel says they are frozen.
   * @throws NsgroupsError ERR_UNSUPPORTED on v1 when the cgroup has no freezer directory and no cgroup2 one
   * @example
   * await cg.freeze();
   */
  async freeze(): Promise<void> {
    return this.#backend.freeze();
  }

  /**
   * Lets the processes frozen by freeze() run again.
   * @throws NsgroupsError ERR_UNSUPPORTED as freeze()
   * @example
   * await cg.thaw();
   */
  async thaw(): Promise<void> {
    return this.#backend.thaw();
  }

  /**
   * SIGKILL to every process in it and below (cgroup.kill, else freeze → kill → thaw); returns once it is empty.
   * @param options.timeout ms to wait for it to be empty (default 10000)
   * @throws NsgroupsError ERR_BUSY when processes are still there after the timeout
   * @example
   * await cg.kill({ timeout: 2000 });
   */
  async kill(options?: { timeout?: number }): Promise<void> {
    const opts = options === undefined ? {} : checkObject(options, 'cgroup.kill options');
    checkKeys(opts, ['timeout'], 'cgroup.kill options');
    const timeout = opts.timeout === undefined ? EMPTY_TIMEOUT_MS : checkNumber(opts.timeout, 'cgroup.kill options.timeout', 0, 3600000);
    await this.#backend.kill();
    if (!(await waitUntil(() => !this.#backend.populated(), timeout))) {
      throw new NsgroupsError('ERR_BUSY', `the processes of cgroup '${this.name}' did not exit within ${timeout} ms of SIGKILL`);
    }
  }

  /**
   * What happens to the cgroup: oom, oomKill, populated, empty, frozen, thawed. Ends on abort or delete().
   * @throws NsgroupsError ERR_INVALID_ARG for bad options
   * @example
   * for await (const ev of cg.events({ signal: AbortSignal.timeout(60_000) })) if (ev.type === 'oomKill') console.log(ev.count);
   */
  events(options?: CgroupEventsOptions): AsyncIterableIterator<CgroupEvent> {
    const what = 'cgroup.events options';
    const opts = options === undefined ? {} : checkObject(options, what);
    checkKeys(opts, ['signal', 'pollInterval'], what);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalidArg(`${what}.signal must be an AbortSignal`);
    const pollMs = opts.pollInterval === undefined ? 100 : checkInteger(opts.pollInterval, `${what}.pollInterval`, 1, 3600000);
    const stream = new CgroupEventStream(this.#backend.eventPlan(pollMs), this.name, opts.signal as AbortSignal | undefined, (s) => this.#streams.delete(s));
    this.#streams.add(stream);
    return stream;
  }

  /**
   * Removes the cgroup and its children in every hierarchy; with { kill: true } kills what is
   * inside first. Then the parents that create() made implicitly go too, bottom-up, each once it
   * has no other child cgroup: `create('jobs/build-42')` then `delete()` leaves no `jobs` behind,
   * while `jobs/build-43` keeps it until that one is deleted. A parent created explicitly
   * (`create('jobs')`) is never removed by a child's delete().
   * @throws NsgroupsError ERR_BUSY when processes are still inside (without `kill`, or after the timeout)
   * @example
   * await cg.delete({ kill: true });
   */
  async delete(options?: CgroupDeleteOptions): Promise<void> {
    const what = 'cgroup.delete options';
    const opts = options === undefined ? {} : checkObject(options, what);
    checkKeys(opts, ['kill', 'timeout'], what);
    const kill = opts.kill === undefined ? false : checkBoolean(opts.kill, `${what}.kill`);
    const timeout = opts.timeout === undefined ? EMPTY_TIMEOUT_MS : checkNumber(opts.timeout, `${what}.timeout`, 0, 3600000);
    await deleteTurn();
    const alive = this.#backend.dirs.some((d) => fs.existsSync(d.dir));
    if (alive) {
      if (kill) await this.kill({ timeout });
      else if (this.#backend.populated()) {
        throw new NsgroupsError(
          'ERR_BUSY',
          `cgroup '${this.name}' still has processes (${this.#backend.procs().slice(0, 10).join(', ') || 'in child cgroups'}): ` +
            'delete({ kill: true }) kills them first',
        );
      }
      // children first, in every hierarchy; the hierarchies side by side. The directory alone is
      // tried first (a job's cgroup has no children): EBUSY is then a child cgroup, or a dying
      // task the retries wait out, as before.
      const removed = await Promise.allSettled(
        this.#backend.dirs.map(async (d) => {
          if (await rmdirOnce(d.dir)) return;
          for (const child of descendantsDeepestFirst(d.dir)) await rmdirRetrying(child);
          await rmdirRetrying(d.dir);
        }),
      );
      const failed = removed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    for (const s of [...this.#streams]) s.end();
    for (const d of this.#backend.dirs) await this.#removeImplicitParents(d.dir);
    // the last cgroup of a systemd scope ends the scope
    await this.#scope?.releaseIfUnused();
  }

  async #removeImplicitParents(leaf: string): Promise<void> {
    const below = (dir: string) => !this.#bases.has(dir); // a base is never marked (markOwner)
    for (let dir = path.dirname(leaf); below(dir) && (this.#madeParents.has(dir) || markedImplicit(dir)); dir = path.dirname(dir)) {
      if (hasChildren(dir)) return; // another cgroup lives under it: the last one removes it
      try {
        // EBUSY: a process was moved in there by hand, or a child appeared meanwhile
        await rmdirRetrying(dir, 200);
      } catch {
        return;
      }
      this.#madeParents.delete(dir);
    }
  }

  /**
   * `await using cg = await Cgroup.create(...)`: delete({ kill: true }) at the end of the block.
   * @throws NsgroupsError ERR_BUSY as delete()
   * @example
   * await using cg = await Cgroup.create('tmp-x');
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.delete({ kill: true });
  }

  /** For spawn({ cgroup }): the counters a run's usage is measured by. @internal */
  _runCounters(): RunCounters {
    return this.#backend.runCounters();
  }

  /** For spawn({ cgroup }): the memory peak of a run, from now. @internal */
  _startPeak(): PeakProbe {
    return this.#backend.startPeak();
  }

  /** For a Sandbox: the memory peak now, one file read (stats() reads a dozen). @internal */
  _memoryPeak(): number | null {
    return this.#backend.memoryPeak();
  }

  /**
   * For spawn({ cgroup }): where a child goes before it execs. A child of this process can be
   * born in the v2 directory only when this process may move processes there (the v2 delegation
   * rule, delegation.ts); where it may not, a systemd scope's manager moves it, the v1
   * hierarchies of a hybrid host do without it, and otherwise spawn fails with that rule.
   * @internal
   */
  _placement(): Placement {
    const p = this.#backend.placement();
    const d = p.v2Dir ? this.#backend.dirs.find((x) => x.h.version === 2) : undefined;
    if (!d || migratesFreely(d.h)) return p;
    const own = procPathIn(d.h, parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')));
    const block = own === null ? null : migrationBlock(d.h, own, d.rel);
    if (!block) return p;
    const scope = this.#scope;
    if (scope) return { ...p, v2Dir: null, attach: (pid) => scope.attach(pid, d.rel) };
    if (this.version === 1) return { ...p, v2Dir: null }; // the tracking directory only
    return { ...p, blocked: migrationError(block, `spawning into the cgroup '${this.name}'`, 'clone3', CGROUPFS_MIGRATION_FIX) };
  }
}
