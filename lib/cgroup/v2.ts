// The cgroup v2 backend: one directory, controllers enabled in cgroup.subtree_control down the
// path, interface files as Documentation/admin-guide/cgroup-v2.rst names them. Every file is
// feature-detected: the guest lane runs kernel 6.1, the host 6.18 (no memory.swap.peak,
// pids.peak … on the older one).
import * as path from 'node:path';
import { NsgroupsError, unsupported } from '../errors';
import { missingFile, waitUntil, killPids, type CgroupBackend, type CgroupDir, type EventPlan, type EventSnapshot, type Placement } from './backend';
import { descendantsDeepestFirst, exists, isErrno, parseFlatKeyed, parseNestedKeyed, readIds, readIfExists, readText, writeValue } from './fsops';
import { hierarchyDir } from './layout';
import { controllersFor, cpuQuota, NOT_ON_V2, type CgroupLimitsInForce, type ResolvedLimits } from './limits';
import { attachDevicePolicy, readDevicePolicy } from './device-bpf';
import { policyRules } from './devices';
import { netUnsupported } from './net';
import { emptyStats, flatOrNull, key, limitOrNull, num, parseIoStat, readPressure, type CgroupStats } from './stats';
import { parseLimitValue, type Max } from '../util/units';
import { readPeak, v2RunCounters, v2StartPeak, type PeakProbe, type RunCounters } from './run-usage';

/** Controllers a new cgroup gets when its parent offers them (stats need them even without limits). */
export const DEFAULT_V2_CONTROLLERS = ['cpu', 'cpuset', 'io', 'memory', 'pids'];

const FREEZE_TIMEOUT_MS = 10000;

// --- operations on any cgroup v2 directory (also the tracking directory of a hybrid host) ---

export function v2Events(dir: string): Record<string, number> {
  return parseFlatKeyed(readText(path.join(dir, 'cgroup.events')));
}

export function v2Populated(dir: string): boolean {
  return v2Events(dir).populated === 1;
}

/** cgroup.freeze, then wait for "frozen 1" (or 0) in cgroup.events. */
export async function v2Freeze(dir: string, frozen: boolean): Promise<void> {
  const file = path.join(dir, 'cgroup.freeze');
  if (!exists(file)) missingFile(file, frozen ? 'freeze()' : 'thaw()', 'the cgroup v2 freezer needs kernel 5.2');
  writeValue(file, frozen ? '1' : '0');
  const want = frozen ? 1 : 0;
  if (!(await waitUntil(() => v2Events(dir).frozen === want, FREEZE_TIMEOUT_MS))) {
    throw new NsgroupsError('ERR_BUSY', `${dir} did not become ${frozen ? 'frozen' : 'thawed'} within ${FREEZE_TIMEOUT_MS} ms`, { path: dir });
  }
}

/** cgroup.kill (kernel 5.14+): true when the kernel did it, false when the file is missing. */
export function v2KillFile(dir: string): boolean {
  const file = path.join(dir, 'cgroup.kill');
  if (!exists(file)) return false;
  writeValue(file, '1');
  return true;
}

/** cgroup.procs of a directory and all below it. */
export function procsRecursive(dir: string): number[] {
  const out = readIds(path.join(dir, 'cgroup.procs'));
  for (const child of descendantsDeepestFirst(dir)) out.push(...readIds(path.join(child, 'cgroup.procs')));
  return out;
}

/** Freeze, SIGKILL every process, thaw: the way without cgroup.kill (a frozen cgroup cannot fork meanwhile). */
export async function freezeKillThaw(freeze: (() => Promise<void>) | null, thaw: (() => Promise<void>) | null, pids: () => number[]): Promise<void> {
  if (freeze && thaw) {
    await freeze();
    try {
      killPids(pids());
    } finally {
      await thaw();
    }
    return;
  }
  // no freezer at all: kill until nothing is left (a fork may race each round)
  for (let round = 0; round < 50; round++) {
    const left = pids();
    if (!left.length) return;
    killPids(left);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function readPair(text: string): [string, string] {
  const [a, b] = text.trim().split(/\s+/);
  return [a, b];
}

export class V2Backend implements CgroupBackend {
  readonly version = 2 as const;
  readonly dirs: CgroupDir[];

  /**
   * @param cg the cgroup's directory
   * @param enableFrom the hierarchy path of the highest cgroup whose subtree_control this library
   *   may write (the mount's top as root, the delegated cgroup as a user); null: write none
   * @param wanted the controllers to enable when the parent offers them (limits add theirs)
   */
  constructor(
    private readonly cg: CgroupDir,
    private readonly enableFrom: string | null,
    private readonly wanted: readonly string[] = DEFAULT_V2_CONTROLLERS,
    /** what to say when a controller a limit needs is not delegated (the systemd driver's drop-in) */
    private readonly missingFix?: (controller: string) => string,
  ) {
    this.dirs = [cg];
  }

  private file(name: string): string {
    return path.join(this.cg.dir, name);
  }

  path(): string {
    return this.cg.dir;
  }

  precheck(limits: ResolvedLimits): void {
    // whether a controller is there is known only from cgroup.controllers: setUp() checks
    if (Object.keys(limits.netCls).length) throw netUnsupported('net_cls', 'v2');
    if (Object.keys(limits.netPrio).length) throw netUnsupported('net_prio', 'v2');
  }

  // "Top-down constraint" and "no internal process constraint" (cgroup-v2.rst): a controller is
  // enabled in every ancestor's cgroup.subtree_control, from the top we may write down to the
  // parent of the leaf; only cgroups without processes of their own may have them enabled.
  setUp(limits: ResolvedLimits): void {
    const needed = controllersFor(limits).filter((c) => !NOT_ON_V2.includes(c));
    const wanted = [...new Set([...this.wanted, ...needed])];
    const levels: string[] = [];
    const parent = path.posix.dirname(this.cg.rel);
    if (this.enableFrom !== null) {
      for (let p = parent; ; p = path.posix.dirname(p)) {
        levels.unshift(p);
        if (p === this.enableFrom || p === '/' || p === this.cg.h.mountRoot) break;
      }
    }
    for (const level of levels) {
      const dir = hierarchyDir(this.cg.h, level)!;
      const available = readText(path.join(dir, 'cgroup.controllers')).split(/\s+/).filter(Boolean);
      for (const c of needed) {
        if (!available.includes(c)) {
          throw unsupported(
            `the ${c} controller is not available to ${dir} (its cgroup.controllers lists: ${available.join(' ') || 'nothing'}); ` +
              (this.missingFix ? this.missingFix(c) : `it must be enabled in the parent's cgroup.subtree_control or delegated (systemd: Delegate=${c})`),
          );
        }
      }
      const enabled = readText(path.join(dir, 'cgroup.subtree_control')).split(/\s+/).filter(Boolean);
      const missing = wanted.filter((c) => available.includes(c) && !enabled.includes(c));
      if (!missing.length) continue;
      const control = path.join(dir, 'cgroup.subtree_control');
      // A non-root cgroup with processes of its own must not get controllers: domain ones are
      // EBUSY, and threaded ones (cpu, cpuset, pids) would even succeed and turn it into a
      // "domain threaded" root where memory and io are then EOPNOTSUPP. So look before writing.
      const isTop = level === '/' || level === this.cg.h.mountRoot;
      if (!isTop && readIds(path.join(dir, 'cgroup.procs')).length > 0) {
        const blocked = needed.filter((c) => missing.includes(c));
        if (!blocked.length) continue; // only defaults were missing: the cgroup works without them
        throw new NsgroupsError(
          'ERR_BUSY',
          `cannot enable the ${blocked.join(', ')} controller in ${dir}: it has processes of its own, and cgroup v2 ` +
            'gives controllers only to cgroups without them ("no internal processes", cgroup-v2.rst): move its processes into a leaf cgroup first',
          { errno: -16, syscall: 'write', path: control },
        );
      }
      try {
        writeValue(control, missing.map((c) => `+${c}`).join(' '));
      } catch {
        // all-or-nothing write: retry one by one; only a controller a limit needs is fatal
        // (the cpu controller, for one, refuses while a realtime process sits below)
        for (const c of missing) {
          try {
            writeValue(control, `+${c}`);
          } catch (one) {
            if (needed.includes(c)) throw one;
          }
        }
      }
    }
  }

  apply(limits: ResolvedLimits): void {
    const w = (name: string, value: string, what: string, fix?: string) => {
      const file = this.file(name);
      if (!exists(file)) {
        // a controller not enabled for this cgroup, rather than a file the kernel lacks
        const controller = name.split('.')[0];
        const enabled = (readIfExists(this.file('cgroup.controllers')) ?? '').split(/\s+/);
        if (!enabled.includes(controller)) {
          throw unsupported(
            `${what} needs the ${controller} controller, which is not enabled for ${this.cg.dir} (its cgroup.controllers lists: ${enabled.join(' ').trim() || 'nothing'})` +
              `\n${this.missingFix ? this.missingFix(controller) : `enable it in the parent's cgroup.subtree_control, or delegate it (systemd: Delegate=${controller})`}`,
          );
        }
        missingFile(name, what, fix);
      }
      writeValue(file, value, `${what} = ${value}`);
    };
    const bytes = (v: number | Max) => String(v);
    const m = limits.memory;
    if (m.max !== undefined) w('memory.max', bytes(m.max), 'memory.max', 'enable the memory controller');
    if (m.high !== undefined) w('memory.high', bytes(m.high), 'memory.high');
    if (m.low !== undefined) w('memory.low', bytes(m.low), 'memory.low');
    if (m.swapMax !== undefined) w('memory.swap.max', bytes(m.swapMax), 'memory.swapMax', 'swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1)');
    const c = limits.cpu;
    if (c.max !== undefined) {
      if (c.max === 'max') w('cpu.max', 'max', 'cpu.max', 'CONFIG_CFS_BANDWIDTH');
      else {
        const { quota, period } = cpuQuota(c.max);
        w('cpu.max', `${quota} ${period}`, 'cpu.max', 'CONFIG_CFS_BANDWIDTH');
      }
    }
    if (c.weight !== undefined) w('cpu.weight', String(c.weight), 'cpu.weight');
    if (limits.pids.max !== undefined) w('pids.max', String(limits.pids.max), 'pids.max');
    const io = limits.io;
    if (io.weight !== undefined) {
      if (exists(this.file('io.weight'))) w('io.weight', String(io.weight), 'io.weight');
      else if (exists(this.file('io.bfq.weight'))) {
        if (io.weight > 1000) throw unsupported(`io.weight ${io.weight}: this cgroup has only io.bfq.weight, whose range is 1..1000`);
        w('io.bfq.weight', String(io.weight), 'io.weight');
      } else missingFile('io.weight', 'io.weight', 'the io cost model (CONFIG_BLK_CGROUP_IOCOST) or the bfq scheduler');
    }
    for (const d of io.max ?? []) {
      const pairs = (['rbps', 'wbps', 'riops', 'wiops'] as const).filter((k) => d[k] !== undefined).map((k) => `${k}=${d[k]}`);
      w('io.max', `${d.device} ${pairs.join(' ')}`, `io.max for ${d.device}`, 'CONFIG_BLK_DEV_THROTTLING');
    }
    if (limits.cpuset.cpus !== undefined) w('cpuset.cpus', limits.cpuset.cpus, 'cpuset.cpus');
    if (limits.cpuset.mems !== undefined) w('cpuset.mems', limits.cpuset.mems, 'cpuset.mems');
    // last: a failure before it leaves the device policy untouched
    if (limits.devices) attachDevicePolicy(this.cg.dir, limits.devices);
  }

  limits(): CgroupLimitsInForce {
    const out: CgroupLimitsInForce = {};
    const r = (name: string) => readIfExists(this.file(name));
    const max = r('memory.max');
    if (max !== null) {
      out.memory = { max: parseLimitValue(max) };
      const high = r('memory.high');
      const low = r('memory.low');
      const swap = r('memory.swap.max');
      if (high !== null) out.memory.high = parseLimitValue(high);
      if (low !== null) out.memory.low = parseLimitValue(low);
      if (swap !== null) out.memory.swapMax = parseLimitValue(swap);
    }
    const cpuMax = r('cpu.max');
    const weight = r('cpu.weight');
    if (cpuMax !== null || weight !== null) {
      let cpus: number | Max = 'max';
      if (cpuMax !== null) {
        const [quota, period] = readPair(cpuMax);
        if (quota !== 'max') cpus = Number(quota) / Number(period);
      }
      out.cpu = { max: cpus, weight: weight === null ? 100 : Number(weight) };
    }
    const pids = r('pids.max');
    if (pids !== null) out.pids = { max: parseLimitValue(pids) };
    const ioMax = r('io.max');
    const ioWeight = r('io.weight') ?? r('io.bfq.weight');
    if (ioMax !== null || ioWeight !== null) {
      out.io = { max: {} };
      if (ioWeight !== null) {
        const d = parseNestedKeyed(ioWeight);
        const line = /^default\s+(\d+)/m.exec(ioWeight);
        out.io.weight = line ? Number(line[1]) : Number(Object.keys(d)[0]);
      }
      for (const [device, v] of Object.entries(parseNestedKeyed(ioMax))) {
        out.io.max[device] = {
          rbps: parseLimitValue(v.rbps ?? 'max'),
          wbps: parseLimitValue(v.wbps ?? 'max'),
          riops: parseLimitValue(v.riops ?? 'max'),
          wiops: parseLimitValue(v.wiops ?? 'max'),
        };
      }
    }
    const cpus = r('cpuset.cpus');
    if (cpus !== null) {
      const effective = (name: string, own: string | null) => (own && own.trim() ? own.trim() : (r(`${name}.effective`) ?? '').trim());
      out.cpuset = { cpus: effective('cpuset.cpus', cpus), mems: effective('cpuset.mems', r('cpuset.mems')) };
    }
    const devices = readDevicePolicy(this.cg.dir);
    if (devices) out.devices = policyRules(devices);
    return out;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const r = (name: string) => readIfExists(this.file(name));
    s.memory.current = num(r('memory.current'));
    s.memory.peak = num(r('memory.peak'));
    s.memory.swapCurrent = num(r('memory.swap.current'));
    const ev = flatOrNull(this.file('memory.events'));
    s.memory.events = {
      low: key(ev, 'low'),
      high: key(ev, 'high'),
      max: key(ev, 'max'),
      oom: key(ev, 'oom'),
      oomKill: key(ev, 'oom_kill'),
      oomGroupKill: key(ev, 'oom_group_kill'),
    };
    const cpu = flatOrNull(this.file('cpu.stat'));
    s.cpu = {
      usageUsec: key(cpu, 'usage_usec'),
      userUsec: key(cpu, 'user_usec'),
      systemUsec: key(cpu, 'system_usec'),
      nrPeriods: key(cpu, 'nr_periods'),
      nrThrottled: key(cpu, 'nr_throttled'),
      throttledUsec: key(cpu, 'throttled_usec'),
    };
    s.pids.current = num(r('pids.current'));
    s.pids.max = limitOrNull(r('pids.max'));
    s.pids.peak = num(r('pids.peak'));
    s.pids.events.max = key(flatOrNull(this.file('pids.events')), 'max');
    const io = parseIoStat(r('io.stat'));
    if (io) s.io = io;
    const pressure = readPressure(this.cg.dir);
    if (pressure) s.pressure = pressure;
    return s;
  }

  procs(): number[] {
    return readIds(this.file('cgroup.procs'));
  }

  threads(): number[] {
    return readIds(this.file('cgroup.threads'));
  }

  add(pid: number): void {
    try {
      writeValue(this.file('cgroup.procs'), String(pid), `pid ${pid}`);
    } catch (err) {
      if (!isErrno(err, 'EBUSY')) throw err;
      // "no internal processes" from the other side: controllers are enabled for its children
      throw new NsgroupsError(
        'ERR_BUSY',
        `cannot add pid ${pid} to ${this.cg.dir}: its cgroup.subtree_control gives controllers to child cgroups, ` +
          'and cgroup v2 keeps processes in leaves ("no internal processes", cgroup-v2.rst): add it to a child cgroup',
        { errno: -16, syscall: 'write', path: this.file('cgroup.procs'), cause: err },
      );
    }
  }

  freeze(): Promise<void> {
    return v2Freeze(this.cg.dir, true);
  }

  thaw(): Promise<void> {
    return v2Freeze(this.cg.dir, false);
  }

  async kill(): Promise<void> {
    if (v2KillFile(this.cg.dir)) return;
    const freezable = exists(this.file('cgroup.freeze'));
    await freezeKillThaw(freezable ? () => this.freeze() : null, freezable ? () => this.thaw() : null, () => procsRecursive(this.cg.dir));
  }

  populated(): boolean {
    return v2Populated(this.cg.dir);
  }

  eventPlan(): EventPlan {
    const memoryEvents = this.file('memory.events');
    const watchFiles = [this.file('cgroup.events'), ...(exists(memoryEvents) ? [memoryEvents] : [])];
    const locate = oomLocator(this.cg);
    return {
      watchFiles,
      oomEventfds: [],
      pollMs: null,
      aliveDir: this.cg.dir,
      read: (): EventSnapshot => {
        const events = v2Events(this.cg.dir);
        const mem = flatOrNull(memoryEvents);
        return {
          populated: events.populated === undefined ? null : events.populated === 1,
          frozen: events.frozen === undefined ? null : events.frozen === 1,
          oom: key(mem, 'oom'),
          oomKill: key(mem, 'oom_kill'),
        };
      },
      locateOom: locate,
    };
  }

  runCounters(): RunCounters {
    return v2RunCounters(this.cg.dir);
  }

  startPeak(): PeakProbe {
    return v2StartPeak(this.cg.dir);
  }

  memoryPeak(): number | null {
    return readPeak(`${this.cg.dir}/memory.peak`);
  }

  placement(): Placement {
    return { v2Dir: this.cg.dir, v1ProcsFiles: [] };
  }
}

/**
 * Which cgroup's limit fired: memory.events is hierarchical, memory.events.local (5.2+) is not,
 * so the cgroup whose local 'oom' count rose is the one that ran out. Candidates are this
 * cgroup, its descendants and its ancestors (an ancestor's limit also kills in here).
 */
function oomLocator(cg: CgroupDir): () => string {
  const candidates = (): Array<[string, string]> => {
    const out: Array<[string, string]> = [];
    for (const dir of descendantsDeepestFirst(cg.dir)) out.push([dir, path.posix.join(cg.rel, path.relative(cg.dir, dir))]);
    out.push([cg.dir, cg.rel]);
    for (let rel = path.posix.dirname(cg.rel); rel !== '/' && rel.startsWith(cg.h.mountRoot); rel = path.posix.dirname(rel)) {
      const dir = hierarchyDir(cg.h, rel);
      if (dir) out.push([dir, rel]);
    }
    return out;
  };
  const localOom = (dir: string) => key(flatOrNull(path.join(dir, 'memory.events.local')), 'oom') ?? 0;
  const seen = new Map<string, number>();
  for (const [dir] of candidates()) seen.set(dir, localOom(dir));
  return () => {
    let found: string | null = null;
    for (const [dir, rel] of candidates()) {
      const now = localOom(dir);
      if (found === null && now > (seen.get(dir) ?? 0)) found = rel;
      seen.set(dir, now);
    }
    return found ?? cg.rel;
  };
}
