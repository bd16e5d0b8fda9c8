// The cgroup v1 backend: the same relative path in every controller hierarchy the cgroup uses
// (like cgcreate -g), translated from the one vocabulary to v1 files
// (Documentation/admin-guide/cgroup-v1/*.rst). On a hybrid host the cgroup also has a directory in
// the unified tree, without controllers: it tracks the processes (cgroup.events populated),
// kills them (cgroup.kill) and is where CLONE_INTO_CGROUP puts a child.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError, unsupported } from '../errors';
import { missingFile, waitUntil, type CgroupBackend, type CgroupDir, type EventPlan, type EventSnapshot, type Placement } from './backend';
import { exists, parseFlatKeyed, readIds, readIfExists, readText, writeValue } from './fsops';
import { hierarchyDir, parseProcCgroup, procPathIn } from './layout';
import { cpuQuota, sharesToWeight, weightToShares, type CgroupLimitsInForce, type ResolvedLimits } from './limits';
import { attachDevicePolicy, readDevicePolicy } from './device-bpf';
import { policyRules } from './devices';
import { applyNetCls, applyNetPrio, readNetCls, readNetPrio } from './net';
import { applyV1Devices, readV1Devices } from './v1-devices';
import { emptyStats, flatOrNull, key, limitOrNull, num, parseBlkioStat, readPressure, type CgroupStats } from './stats';
import { parseLimitValue, type Max } from '../util/units';
import { readPeak, v1RunCounters, v1StartPeak, type PeakProbe, type RunCounters } from './run-usage';
import { freezeKillThaw, procsRecursive, v2Events, v2Freeze, v2KillFile, v2Populated } from './v2';

/** The v1 controllers this library drives, in the order that picks the "primary" directory. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer', 'cpuset', 'blkio'];
/** Those a cgroup gets only when asked for (a limit or `controllers`), besides the ones above. */
export const V1_ON_REQUEST = ['devices', 'net_cls', 'net_prio'];

const FREEZE_TIMEOUT_MS = 10000;
// USER_HZ: cpuacct.stat counts in clock ticks, 100 per second on Linux (times(2)).
const USER_HZ = 100;

const v1Value = (v: number | Max) => (v === 'max' ? '-1' : String(v));

export class V1Backend implements CgroupBackend {
  readonly version = 1 as const;
  readonly dirs: CgroupDir[];

  /**
   * @param deviceBpf the host has no v1 devices hierarchy: a device policy is a BPF program on
   *   the unified directory (the kernel runs those on hybrid hosts too)
   */
  constructor(
    private readonly v1: CgroupDir[],
    private readonly unified: CgroupDir | null,
    private readonly deviceBpf = false,
  ) {
    this.dirs = unified ? [...v1, unified] : [...v1];
  }

  private dirFor(controller: string): CgroupDir | undefined {
    return this.v1.find((d) => d.h.controllers.includes(controller));
  }

  private need(controller: string, what: string): string {
    const d = this.dirFor(controller);
    if (!d) {
      throw unsupported(
        `${what} needs the ${controller} controller, which is not mounted as a cgroup v1 hierarchy on this host ` +
          `(or this cgroup has no directory in it: a cgroup gets one when it is created with a limit of that controller or with controllers: ['${controller}'])`,
      );
    }
    return d.dir;
  }

  private primary(): CgroupDir {
    for (const c of V1_CONTROLLERS) {
      const d = this.dirFor(c);
      if (d) return d;
    }
    return this.v1[0];
  }

  path(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of this.v1) for (const c of d.h.controllers) out[c] = d.dir;
    if (this.unified) out.unified = this.unified.dir;
    return out;
  }

  precheck(limits: ResolvedLimits): void {
    if (limits.memory.high !== undefined) {
      throw unsupported("memory.high is not available with cgroup v1 memory (this host's memory controller is v1); use memory.max");
    }
    if (limits.memory.low !== undefined) {
      throw unsupported("memory.low is not available with cgroup v1 memory (this host's memory controller is v1)");
    }
    if (Object.keys(limits.memory).length) this.need('memory', 'a memory limit');
    if (Object.keys(limits.cpu).length) this.need('cpu', 'a cpu limit');
    if (Object.keys(limits.pids).length) this.need('pids', 'pids.max');
    if (Object.keys(limits.io).length) this.need('blkio', 'an io limit');
    if (Object.keys(limits.cpuset).length) this.need('cpuset', 'a cpuset');
    if (limits.devices) {
      if (!this.deviceBpf) this.need('devices', 'a device policy');
      else if (!this.unified)
        throw unsupported('a device policy on this host needs its cgroup2 directory (there is no v1 devices hierarchy), and this cgroup has none');
    }
    if (Object.keys(limits.netCls).length) this.need('net_cls', 'netCls');
    if (Object.keys(limits.netPrio).length) this.need('net_prio', 'netPrio');
    if (limits.io.weight !== undefined && limits.io.weight > 1000) {
      throw unsupported(`io.weight ${limits.io.weight}: cgroup v1 blkio.bfq.weight accepts 1..1000 (the default is 100, as for io.weight)`);
    }
  }

  // cpuset (cgroup-v1/cpusets.rst): a new cpuset has no CPUs and no memory nodes, and a task
  // cannot join it until both are set (nor may a child ask for CPUs its parent lacks): copy them
  // from the parent at every level from the top down, the base included.
  setUp(): void {
    const cpuset = this.dirFor('cpuset');
    if (!cpuset) return;
    const levels: string[] = [];
    for (let rel = cpuset.rel; rel !== cpuset.h.mountRoot && rel !== '/'; rel = path.posix.dirname(rel)) levels.unshift(rel);
    for (const rel of levels) {
      const dir = hierarchyDir(cpuset.h, rel)!;
      for (const name of ['cpuset.cpus', 'cpuset.mems']) {
        const file = path.join(dir, name);
        if (readText(file).trim()) continue;
        const parent = readText(path.join(path.dirname(dir), name)).trim();
        if (parent) writeValue(file, parent);
      }
    }
  }

  apply(limits: ResolvedLimits): void {
    this.precheck(limits);
    const m = limits.memory;
    if (m.max !== undefined || m.swapMax !== undefined) this.applyMemory(m.max, m.swapMax);
    const c = limits.cpu;
    if (c.max !== undefined) {
      const dir = this.need('cpu', 'cpu.max');
      const quotaFile = path.join(dir, 'cpu.cfs_quota_us');
      if (!exists(quotaFile)) missingFile('cpu.cfs_quota_us', 'cpu.max', 'CONFIG_CFS_BANDWIDTH');
      if (c.max === 'max') writeValue(quotaFile, '-1', 'cpu.max = max');
      else {
        const { quota, period } = cpuQuota(c.max);
        writeValue(path.join(dir, 'cpu.cfs_period_us'), String(period), `cpu.max period ${period} µs`);
        writeValue(quotaFile, String(quota), `cpu.max = ${c.max} CPUs (${quota} µs per ${period} µs)`);
      }
    }
    if (c.weight !== undefined) {
      const shares = weightToShares(c.weight);
      writeValue(path.join(this.need('cpu', 'cpu.weight'), 'cpu.shares'), String(shares), `cpu.weight ${c.weight} (cpu.shares ${shares})`);
    }
    if (limits.pids.max !== undefined) {
      writeValue(path.join(this.need('pids', 'pids.max'), 'pids.max'), String(limits.pids.max), `pids.max = ${limits.pids.max}`);
    }
    const io = limits.io;
    if (io.weight !== undefined) {
      const dir = this.need('blkio', 'io.weight');
      const file = ['blkio.bfq.weight', 'blkio.weight'].map((f) => path.join(dir, f)).find(exists);
      if (!file) missingFile('blkio.bfq.weight', 'io.weight', 'the bfq I/O scheduler (CONFIG_BFQ_GROUP_IOSCHED) provides it on cgroup v1');
      writeValue(file, String(io.weight), `io.weight = ${io.weight}`);
    }
    for (const d of io.max ?? []) {
      const dir = this.need('blkio', 'io.max');
      const files = { rbps: 'read_bps_device', wbps: 'write_bps_device', riops: 'read_iops_device', wiops: 'write_iops_device' } as const;
      for (const k of ['rbps', 'wbps', 'riops', 'wiops'] as const) {
        const value = d[k];
        if (value === undefined) continue;
        const file = path.join(dir, `blkio.throttle.${files[k]}`);
        if (!exists(file)) missingFile(`blkio.throttle.${files[k]}`, 'io.max', 'CONFIG_BLK_DEV_THROTTLING');
        // v1 throttling: 0 removes the rule for the device
        writeValue(file, `${d.device} ${value === 'max' ? 0 : value}`, `io.max ${k} for ${d.device}`);
      }
    }
    if (limits.cpuset.cpus !== undefined)
      writeValue(path.join(this.need('cpuset', 'cpuset'), 'cpuset.cpus'), limits.cpuset.cpus, `cpuset.cpus = ${limits.cpuset.cpus}`);
    if (limits.cpuset.mems !== undefined)
      writeValue(path.join(this.need('cpuset', 'cpuset'), 'cpuset.mems'), limits.cpuset.mems, `cpuset.mems = ${limits.cpuset.mems}`);
    if (limits.netCls.classid !== undefined) applyNetCls(this.need('net_cls', 'netCls'), limits.netCls.classid);
    if (limits.netPrio.ifpriomap) applyNetPrio(this.need('net_prio', 'netPrio'), limits.netPrio.ifpriomap);
    // last: a failure before it leaves the device policy untouched
    if (limits.devices) {
      if (this.deviceBpf) attachDevicePolicy(this.unified!.dir, limits.devices);
      else applyV1Devices(this.need('devices', 'a device policy'), limits.devices);
    }
  }

  // v1 limits memory+swap together (memory.memsw.limit_in_bytes = max + swapMax), and the kernel
  // keeps memsw >= limit at every moment: raise memsw first, lower it last.
  private applyMemory(max: number | Max | undefined, swapMax: number | Max | undefined): void {
    const dir = this.need('memory', 'a memory limit');
    const limitFile = path.join(dir, 'memory.limit_in_bytes');
    const memswFile = path.join(dir, 'memory.memsw.limit_in_bytes');
    const hasMemsw = exists(memswFile);
    const oldLimit = parseLimitValue(readText(limitFile));
    const oldMemsw = hasMemsw ? parseLimitValue(readText(memswFile)) : null;
    const limit = max ?? oldLimit;
    let memsw: number | Max | undefined;
    if (swapMax !== undefined) {
      if (!hasMemsw) missingFile('memory.memsw.limit_in_bytes', 'memory.swapMax', 'swap accounting (CONFIG_MEMCG_SWAP, boot with swapaccount=1)');
      if (swapMax === 'max') memsw = 'max';
      else if (limit === 'max') {
        throw unsupported('memory.swapMax needs memory.max on cgroup v1: it limits memory+swap together (memory.memsw.limit_in_bytes = max + swapMax)');
      } else memsw = limit + swapMax;
    } else if (oldMemsw !== null && oldMemsw !== 'max' && oldLimit !== 'max' && max !== undefined) {
      memsw = limit === 'max' ? 'max' : limit + (oldMemsw - oldLimit); // keep the swap allowance
    }
    const raising = memsw !== undefined && oldMemsw !== 'max' && oldMemsw !== null && (limit === 'max' || limit > oldMemsw);
    const writeMemsw = () => {
      if (memsw !== undefined) writeValue(memswFile, v1Value(memsw), `memory.max + memory.swapMax = ${memsw} (memory.memsw.limit_in_bytes)`);
    };
    if (raising) writeMemsw();
    if (max !== undefined) writeValue(limitFile, v1Value(max), `memory.max = ${max} (memory.limit_in_bytes)`);
    if (!raising) writeMemsw();
  }

  limits(): CgroupLimitsInForce {
    const out: CgroupLimitsInForce = {};
    const mem = this.dirFor('memory');
    if (mem) {
      const limit = parseLimitValue(readText(path.join(mem.dir, 'memory.limit_in_bytes')));
      out.memory = { max: limit };
      const memsw = readIfExists(path.join(mem.dir, 'memory.memsw.limit_in_bytes'));
      if (memsw !== null) {
        const m = parseLimitValue(memsw);
        out.memory.swapMax = m === 'max' || limit === 'max' ? 'max' : m - limit;
      }
    }
    const cpu = this.dirFor('cpu');
    if (cpu) {
      const quota = readIfExists(path.join(cpu.dir, 'cpu.cfs_quota_us'));
      const period = readIfExists(path.join(cpu.dir, 'cpu.cfs_period_us'));
      const q = quota === null ? -1 : Number(quota.trim());
      out.cpu = {
        max: q < 0 || period === null ? 'max' : q / Number(period.trim()),
        weight: sharesToWeight(Number(readText(path.join(cpu.dir, 'cpu.shares')).trim())),
      };
    }
    const pids = this.dirFor('pids');
    if (pids) out.pids = { max: parseLimitValue(readText(path.join(pids.dir, 'pids.max'))) };
    const blkio = this.dirFor('blkio');
    if (blkio) {
      out.io = { max: {} };
      const weight = readIfExists(path.join(blkio.dir, 'blkio.bfq.weight')) ?? readIfExists(path.join(blkio.dir, 'blkio.weight'));
      if (weight !== null) out.io.weight = Number(/(\d+)\s*$/.exec(weight.split('\n')[0])?.[1] ?? weight);
      const files = { rbps: 'read_bps_device', wbps: 'write_bps_device', riops: 'read_iops_device', wiops: 'write_iops_device' } as const;
      for (const k of ['rbps', 'wbps', 'riops', 'wiops'] as const) {
        const text = readIfExists(path.join(blkio.dir, `blkio.throttle.${files[k]}`)) ?? '';
        for (const line of text.split('\n')) {
          const [device, value] = line.trim().split(/\s+/);
          if (!device || value === undefined) continue;
          const entry = (out.io.max[device] ??= { rbps: 'max', wbps: 'max', riops: 'max', wiops: 'max' });
          entry[k] = Number(value);
        }
      }
    }
    const cpuset = this.dirFor('cpuset');
    if (cpuset) {
      out.cpuset = {
        cpus: readText(path.join(cpuset.dir, 'cpuset.cpus')).trim(),
        mems: readText(path.join(cpuset.dir, 'cpuset.mems')).trim(),
      };
    }
    const devices = this.dirFor('devices');
    if (devices) out.devices = policyRules(readV1Devices(devices.dir));
    else if (this.deviceBpf && this.unified) {
      const policy = readDevicePolicy(this.unified.dir);
      if (policy) out.devices = policyRules(policy);
    }
    const netCls = this.dirFor('net_cls');
    if (netCls) out.netCls = readNetCls(netCls.dir);
    const netPrio = this.dirFor('net_prio');
    if (netPrio) out.netPrio = readNetPrio(netPrio.dir);
    return out;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const mem = this.dirFor('memory');
    if (mem) {
      const r = (f: string) => readIfExists(path.join(mem.dir, f));
      s.memory.current = num(r('memory.usage_in_bytes'));
      s.memory.peak = num(r('memory.max_usage_in_bytes'));
      const memsw = num(r('memory.memsw.usage_in_bytes'));
      if (memsw !== null && s.memory.current !== null) s.memory.swapCurrent = Math.max(0, memsw - s.memory.current);
      // a charge fails on memsw (checked first) or on memory: each failure counts in one of them
      const failcnt = num(r('memory.failcnt'));
      s.memory.events.max = failcnt === null ? null : failcnt + (num(r('memory.memsw.failcnt')) ?? 0);
      s.memory.events.oomKill = key(parseFlatKeyed(r('memory.oom_control')), 'oom_kill');
    }
    const acct = this.dirFor('cpuacct');
    if (acct) {
      const r = (f: string) => readIfExists(path.join(acct.dir, f));
      const usec = (text: string | null) => (text === null ? null : Math.round(Number(text.trim()) / 1000));
      s.cpu.usageUsec = usec(r('cpuacct.usage'));
      s.cpu.userUsec = usec(r('cpuacct.usage_user'));
      s.cpu.systemUsec = usec(r('cpuacct.usage_sys'));
      if (s.cpu.userUsec === null || s.cpu.systemUsec === null) {
        const ticks = flatOrNull(path.join(acct.dir, 'cpuacct.stat'));
        const user = key(ticks, 'user');
        const system = key(ticks, 'system');
        s.cpu.userUsec = user === null ? null : (user * 1e6) / USER_HZ;
        s.cpu.systemUsec = system === null ? null : (system * 1e6) / USER_HZ;
      }
    }
    const cpu = this.dirFor('cpu');
    if (cpu) {
      const st = flatOrNull(path.join(cpu.dir, 'cpu.stat'));
      s.cpu.nrPeriods = key(st, 'nr_periods');
      s.cpu.nrThrottled = key(st, 'nr_throttled');
      const ns = key(st, 'throttled_time');
      s.cpu.throttledUsec = ns === null ? null : Math.round(ns / 1000);
    }
    const pids = this.dirFor('pids');
    if (pids) {
      const r = (f: string) => readIfExists(path.join(pids.dir, f));
      s.pids.current = num(r('pids.current'));
      s.pids.max = limitOrNull(r('pids.max'));
      s.pids.peak = num(r('pids.peak'));
      s.pids.events.max = key(flatOrNull(path.join(pids.dir, 'pids.events')), 'max');
    }
    const blkio = this.dirFor('blkio');
    if (blkio) {
      const io = parseBlkioStat(
        readIfExists(path.join(blkio.dir, 'blkio.throttle.io_service_bytes_recursive')),
        readIfExists(path.join(blkio.dir, 'blkio.throttle.io_serviced_recursive')),
      );
      if (io) s.io = io;
    }
    if (this.unified) {
      const pressure = readPressure(this.unified.dir);
      if (pressure) s.pressure = pressure;
    }
    return s;
  }

  procs(): number[] {
    return readIds(path.join(this.primary().dir, 'cgroup.procs'));
  }

  threads(): number[] {
    return readIds(path.join(this.primary().dir, 'tasks'));
  }

  /** Into every hierarchy; if one refuses, the process goes back where it was in the others. */
  add(pid: number): void {
    let before: string | null = null;
    try {
      before = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      /* the write below reports the missing process */
    }
    const done: CgroupDir[] = [];
    try {
      for (const d of this.dirs) {
        writeValue(path.join(d.dir, 'cgroup.procs'), String(pid), `pid ${pid}`);
        done.push(d);
      }
    } catch (err) {
      const entries = before === null ? [] : parseProcCgroup(before);
      for (const d of done) {
        const was = procPathIn(d.h, entries);
        const dir = was === null ? null : hierarchyDir(d.h, was);
        try {
          if (dir) writeValue(path.join(dir, 'cgroup.procs'), String(pid));
        } catch {
          /* best effort */
        }
      }
      throw err;
    }
  }

  private freezer(): string | null {
    return this.dirFor('freezer')?.dir ?? null;
  }

  private async setFreezer(dir: string, state: 'FROZEN' | 'THAWED'): Promise<void> {
    const file = path.join(dir, 'freezer.state');
    writeValue(file, state);
    // FREEZING until every task has stopped (cgroup-v1/freezer-subsystem.rst)
    if (!(await waitUntil(() => readText(file).trim() === state, FREEZE_TIMEOUT_MS))) {
      throw new NsgroupsError('ERR_BUSY', `${dir} did not become ${state} within ${FREEZE_TIMEOUT_MS} ms`, { path: dir });
    }
  }

  async freeze(): Promise<void> {
    const dir = this.freezer();
    if (dir) return this.setFreezer(dir, 'FROZEN');
    if (this.unified) return v2Freeze(this.unified.dir, true);
    throw unsupported(
      `freeze() needs the cgroup's directory in the v1 freezer hierarchy or in the cgroup2 tree, and this cgroup has neither: create it with controllers: [..., 'freezer'] (where the freezer is mounted and this process has a writable base in it)`,
    );
  }

  async thaw(): Promise<void> {
    const dir = this.freezer();
    if (dir) return this.setFreezer(dir, 'THAWED');
    if (this.unified) return v2Freeze(this.unified.dir, false);
    throw unsupported(
      `thaw() needs the cgroup's directory in the v1 freezer hierarchy or in the cgroup2 tree, and this cgroup has neither: create it with controllers: [..., 'freezer'] (where the freezer is mounted and this process has a writable base in it)`,
    );
  }

  private allProcs(): number[] {
    return [...new Set(this.v1.flatMap((d) => procsRecursive(d.dir)))];
  }

  async kill(): Promise<void> {
    // the unified tracking directory has cgroup.kill (5.14+) even without controllers
    if (this.unified && v2KillFile(this.unified.dir) && (await waitUntil(() => this.allProcs().length === 0, 200))) return;
    // what is left (no cgroup.kill, or processes that are in our v1 cgroups only)
    const canFreeze = this.freezer() !== null || this.unified !== null;
    await freezeKillThaw(canFreeze ? () => this.freeze() : null, canFreeze ? () => this.thaw() : null, () => this.allProcs());
  }

  populated(): boolean {
    if (this.unified && v2Populated(this.unified.dir)) return true;
    return this.allProcs().length > 0;
  }

  eventPlan(pollMs: number): EventPlan {
    const mem = this.dirFor('memory');
    const freezer = this.freezer();
    const oomControl = mem ? path.join(mem.dir, 'memory.oom_control') : null;
    return {
      watchFiles: this.unified ? [path.join(this.unified.dir, 'cgroup.events')] : [],
      oomEventfds: mem ? oomWatchChain(mem) : [],
      // v1 has no notification for populated (but notify_on_release, a root-wide helper) or freezer.state
      pollMs,
      aliveDir: this.primary().dir,
      read: (): EventSnapshot => {
        let frozen: boolean | null = null;
        if (freezer) frozen = readText(path.join(freezer, 'freezer.state')).trim() === 'FROZEN';
        else if (this.unified) frozen = v2Events(this.unified.dir).frozen === 1;
        return {
          populated: this.populated(),
          frozen,
          oom: null,
          oomKill: oomControl ? key(parseFlatKeyed(readText(oomControl)), 'oom_kill') : null,
        };
      },
      // without a notification to go by (an oom_kill count seen by polling): this cgroup
      locateOom: () => (mem ?? this.primary()).rel,
    };
  }

  runCounters(): RunCounters {
    return v1RunCounters(this.dirFor('cpuacct')?.dir ?? null, this.dirFor('memory')?.dir ?? null);
  }

  startPeak(): PeakProbe {
    return v1StartPeak(this.dirFor('memory')?.dir ?? null);
  }

  memoryPeak(): number | null {
    const dir = this.dirFor('memory')?.dir;
    return dir === undefined ? null : readPeak(`${dir}/memory.max_usage_in_bytes`);
  }

  placement(): Placement {
    return { v2Dir: this.unified?.dir ?? null, v1ProcsFiles: this.v1.map((d) => path.join(d.dir, 'cgroup.procs')) };
  }
}

// This cgroup and every ancestor below the top with a memory limit of its own (only those can
// run out), top-down: where to register an OOM eventfd.
function oomWatchChain(mem: CgroupDir): Array<{ controlFile: string; oomControlFile: string; rel: string }> {
  const out: Array<{ controlFile: string; oomControlFile: string; rel: string }> = [];
  for (let rel = mem.rel; rel !== '/' && rel !== mem.h.mountRoot; rel = path.posix.dirname(rel)) {
    const dir = hierarchyDir(mem.h, rel);
    if (!dir) break;
    const limited = ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'].some((f) => {
      const text = readIfExists(path.join(dir, f));
      return text !== null && parseLimitValue(text) !== 'max';
    });
    if (rel === mem.rel || limited) {
      out.unshift({ controlFile: path.join(dir, 'cgroup.event_control'), oomControlFile: path.join(dir, 'memory.oom_control'), rel });
    }
  }
  return out;
}
