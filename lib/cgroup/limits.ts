// The limits vocabulary of the API (API.md "Cgroup") and its validation. Everything here runs
// before anything is created; the backends translate the result to v1 or v2 files.
import * as fs from 'node:fs';
import { invalidArg } from '../errors';
import { checkInteger, checkKeys, checkNumber, checkObject, checkString, type Plain } from '../util/validate';
import { parseByteSize, type ByteSize, type Max } from '../util/units';
import { resolveDevices, type DevicePolicy, type DeviceRule, type DeviceRuleInForce } from './devices';

/** io.max of one block device (v1: blkio.throttle.*); a key left out is left as it is. */
export interface IoDeviceLimit {
  /** read bytes per second: bytes, '10M', or 'max' */
  rbps?: ByteSize;
  /** write bytes per second: bytes, '10M', or 'max' */
  wbps?: ByteSize;
  /** read operations per second, or 'max' */
  riops?: number | Max;
  /** write operations per second, or 'max' */
  wiops?: number | Max;
}

/**
 * Limits in one vocabulary on v1 and v2 (translated by the library). Sizes are bytes or strings
 * with K, M, G, T (powers of 1024); 'max' is no limit; a key left out is left as it is. A limit
 * the host cannot honour is ERR_UNSUPPORTED, a bad value ERR_INVALID_ARG.
 * @example
 * await cg.set({ memory: { max: '512M', swapMax: 0 }, cpu: { max: 1.5 }, pids: { max: 128 } });
 */
export interface CgroupLimits {
  /** the memory controller: sizes in bytes, '256M' or 'max' */
  memory?: {
    /** hard limit: memory.max / memory.limit_in_bytes */
    max?: ByteSize;
    /** throttle limit: memory.high (v2 only) */
    high?: ByteSize;
    /** best-effort protection: memory.low (v2 only) */
    low?: ByteSize;
    /** swap on top of max: memory.swap.max / memory.memsw.limit_in_bytes = max + swapMax */
    swapMax?: ByteSize;
  };
  /** the cpu controller (v1: cpu.cfs_* and cpu.shares) */
  cpu?: {
    /** in CPUs: 0.5 is half a core; 'max' is no limit (cpu.max / cpu.cfs_quota_us) */
    max?: number | Max;
    /** 1..10000, default 100 (cpu.weight; v1 cpu.shares = weight * 1024 / 100) */
    weight?: number;
  };
  /** the pids controller */
  pids?: {
    /** the most processes and threads at once (pids.max): a count, or 'max' */
    max?: number | Max;
  };
  /** the io controller (v1: blkio) */
  io?: {
    /** 1..10000, default 100 (io.weight, io.bfq.weight or v1 blkio.bfq.weight, whose range is 1..1000) */
    weight?: number;
    /** per device, keyed by 'MAJOR:MINOR' or a block device path ('/dev/ram0') */
    max?: Record<string, IoDeviceLimit>;
  };
  /** the cpuset controller: lists of the parent's CPUs and memory nodes (cpuset(7) syntax) */
  cpuset?: {
    /** CPU list like '0-3,6' */
    cpus?: string;
    /** memory node list like '0' */
    mems?: string;
  };
  /**
   * The device nodes its processes may open and create: the whole policy, from "deny all", the
   * entries in order (docs/cgroup-devices.md). v1: the devices controller; v2: a BPF program.
   */
  devices?: DeviceRule[];
  /** v1 only: net_cls.classid, the tc class of its sockets' packets (0x100001 is class 10:1) */
  netCls?: {
    /** 0xAAAABBBB: class major AAAA, minor BBBB */
    classid?: number;
  };
  /** v1 only: net_prio.ifpriomap, the priority of its sockets' packets per interface */
  netPrio?: {
    /** interface name → priority (a whole number) */
    ifpriomap?: Record<string, number>;
  };
}

/**
 * The limits in force (cg.limits()), in the shape of CgroupLimits with sizes in bytes; a
 * controller the cgroup does not use is left out.
 * @example
 * const { memory, cpu } = await cg.limits(); // memory.max 268435456 or 'max', cpu.max 0.5 (CPUs)
 */
export interface CgroupLimitsInForce {
  /** memory limits in bytes, or 'max' */
  memory?: {
    /** the hard limit, bytes */
    max: number | Max;
    /** the throttle limit, bytes (v2 only) */
    high?: number | Max;
    /** the protected amount, bytes (v2 only) */
    low?: number | Max;
    /** swap allowed on top of max, bytes */
    swapMax?: number | Max;
  };
  /** CPU limits */
  cpu?: {
    /** in CPUs (quota / period), or 'max' */
    max: number | Max;
    /** 1..10000 (v1: from cpu.shares) */
    weight: number;
  };
  /** process limit */
  pids?: {
    /** a count, or 'max' */
    max: number | Max;
  };
  /** io limits */
  io?: {
    /** 1..10000 (1..1000 for blkio.bfq.weight), where the host has a weight */
    weight?: number;
    /** per device 'MAJOR:MINOR' */
    max: Record<
      string,
      {
        /** read bytes per second, or 'max' */
        rbps: number | Max;
        /** write bytes per second, or 'max' */
        wbps: number | Max;
        /** read operations per second, or 'max' */
        riops: number | Max;
        /** write operations per second, or 'max' */
        wiops: number | Max;
      }
    >;
  };
  /** the cpuset set on it (on v2, where none was set: cpuset.cpus.effective and cpuset.mems.effective) */
  cpuset?: {
    /** CPU list like '0-3' */
    cpus: string;
    /** memory node list like '0' */
    mems: string;
  };
  /** present when a device policy is set on it (by nsgroups on v2) */
  devices?: DeviceRuleInForce[];
  /** v1 only: net_cls */
  netCls?: {
    /** net_cls.classid: 0xAAAABBBB, class AAAA:BBBB */
    classid: number;
  };
  /** every interface of the caller's network namespace, as net_prio.ifpriomap lists them */
  netPrio?: {
    /** interface name → priority */
    ifpriomap: Record<string, number>;
  };
}

export interface ResolvedIoMax {
  device: string;
  rbps?: number | Max;
  wbps?: number | Max;
  riops?: number | Max;
  wiops?: number | Max;
}

/** Validated limits: sizes in bytes, devices as 'MAJOR:MINOR'; absent keys are left alone. */
export interface ResolvedLimits {
  memory: { max?: number | Max; high?: number | Max; low?: number | Max; swapMax?: number | Max };
  cpu: { max?: number | Max; weight?: number };
  pids: { max?: number | Max };
  io: { weight?: number; max?: ResolvedIoMax[] };
  cpuset: { cpus?: string; mems?: string };
  devices?: DevicePolicy;
  netCls: { classid?: number };
  /** [interface, priority] in the order given */
  netPrio: { ifpriomap?: Array<[string, number]> };
}

export const LIMIT_KEYS = ['memory', 'cpu', 'pids', 'io', 'cpuset', 'devices', 'netCls', 'netPrio'] as const;

/** Controllers that cgroup v2 does not have: devices is a BPF program there, net_cls and net_prio have no equivalent. */
export const NOT_ON_V2 = ['devices', 'net_cls', 'net_prio'];

export function emptyLimits(): ResolvedLimits {
  return { memory: {}, cpu: {}, pids: {}, io: {}, cpuset: {}, netCls: {}, netPrio: {} };
}

/** Which controllers a set of limits needs (v2 names; the v1 backend maps io to blkio). */
export function controllersFor(limits: ResolvedLimits): string[] {
  const out: string[] = [];
  if (Object.keys(limits.memory).length) out.push('memory');
  if (Object.keys(limits.cpu).length) out.push('cpu');
  if (Object.keys(limits.pids).length) out.push('pids');
  if (Object.keys(limits.io).length) out.push('io');
  if (Object.keys(limits.cpuset).length) out.push('cpuset');
  if (limits.devices) out.push('devices');
  if (Object.keys(limits.netCls).length) out.push('net_cls');
  if (Object.keys(limits.netPrio).length) out.push('net_prio');
  return out;
}

function maxOrCount(value: unknown, what: string): number | Max {
  if (value === 'max') return 'max';
  if (typeof value !== 'number') throw invalidArg(`${what} must be a whole number or 'max', got ${JSON.stringify(value)}`);
  return checkInteger(value, what, 0, Number.MAX_SAFE_INTEGER);
}

// The CPU list syntax of cpuset(7): comma-separated numbers and ranges.
function parseList(text: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) out.add(i);
  }
  return out;
}

function readOnline(file: string, fallback: string): Set<number> {
  try {
    return parseList(fs.readFileSync(file, 'utf8'));
  } catch {
    return parseList(fallback);
  }
}

function checkCpuList(value: unknown, what: string, onlineFile: string, fallback: string): string {
  const text = checkString(value, what).trim();
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) {
    throw invalidArg(`${what} must be a list like '0', '0-3' or '0,2-3' (cpuset(7) list format), got ${JSON.stringify(value)}`);
  }
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (b !== undefined && b < a) throw invalidArg(`${what}: range '${part}' goes backwards`);
  }
  const online = readOnline(onlineFile, fallback);
  const missing = [...parseList(text)].filter((n) => !online.has(n));
  if (missing.length) {
    throw invalidArg(`${what} names ${missing.join(', ')}, which this host does not have online (${onlineFile}: ${[...online].join(',')})`);
  }
  return text;
}

// major/minor from a dev_t as glibc's gnu_dev_major/minor split it.
function devNumbers(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

function resolveDevice(key: string, what: string): string {
  if (/^\d+:\d+$/.test(key)) return key;
  if (!key.startsWith('/')) throw invalidArg(`${what}: '${key}' is neither 'MAJOR:MINOR' nor the path of a block device`);
  checkString(key, what);
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(key, { bigint: true });
  } catch {
    throw invalidArg(`${what}: the device ${key} does not exist`);
  }
  if (!st.isBlockDevice()) throw invalidArg(`${what}: ${key} is not a block device`);
  return devNumbers(st.rdev);
}

/** Validates the limits part of create()/set() options. Throws ERR_INVALID_ARG. */
export function resolveLimits(options: Plain, what: string): ResolvedLimits {
  const out = emptyLimits();
  if (options.memory !== undefined) {
    const m = checkObject(options.memory, `${what}.memory`);
    checkKeys(m, ['max', 'high', 'low', 'swapMax'], `${what}.memory`, {
      swap: "use 'swapMax' (swap on top of max)",
      limit: "use 'max'",
    });
    for (const key of ['max', 'high', 'low', 'swapMax'] as const) {
      if (m[key] !== undefined) out.memory[key] = parseByteSize(m[key], `${what}.memory.${key}`);
    }
  }
  if (options.cpu !== undefined) {
    const c = checkObject(options.cpu, `${what}.cpu`);
    checkKeys(c, ['max', 'weight'], `${what}.cpu`, { shares: "use 'weight' (1..10000; v1 shares = weight * 1024 / 100)" });
    if (c.max !== undefined) {
      if (c.max === 'max') out.cpu.max = 'max';
      else {
        const cpus = checkNumber(c.max, `${what}.cpu.max (in CPUs)`, 0, 1e6);
        // the kernel's smallest quota is 1 ms in a period of at most 1 s (sched/core.c min_cfs_quota_period)
        if (cpus < 0.001) throw invalidArg(`${what}.cpu.max must be at least 0.001 CPUs (1 ms per second), got ${cpus}`);
        out.cpu.max = cpus;
      }
    }
    if (c.weight !== undefined) out.cpu.weight = checkInteger(c.weight, `${what}.cpu.weight`, 1, 10000);
  }
  if (options.pids !== undefined) {
    const p = checkObject(options.pids, `${what}.pids`);
    checkKeys(p, ['max'], `${what}.pids`);
    if (p.max !== undefined) out.pids.max = maxOrCount(p.max, `${what}.pids.max`);
  }
  if (options.io !== undefined) {
    const io = checkObject(options.io, `${what}.io`);
    checkKeys(io, ['weight', 'max'], `${what}.io`);
    if (io.weight !== undefined) out.io.weight = checkInteger(io.weight, `${what}.io.weight`, 1, 10000);
    if (io.max !== undefined) {
      const devices = checkObject(io.max, `${what}.io.max`);
      out.io.max = [];
      for (const [key, value] of Object.entries(devices)) {
        const w = `${what}.io.max['${key}']`;
        const d = checkObject(value, w);
        checkKeys(d, ['rbps', 'wbps', 'riops', 'wiops'], w);
        const entry: ResolvedIoMax = { device: resolveDevice(key, w) };
        if (d.rbps !== undefined) entry.rbps = parseByteSize(d.rbps, `${w}.rbps`);
        if (d.wbps !== undefined) entry.wbps = parseByteSize(d.wbps, `${w}.wbps`);
        if (d.riops !== undefined) entry.riops = maxOrCount(d.riops, `${w}.riops`);
        if (d.wiops !== undefined) entry.wiops = maxOrCount(d.wiops, `${w}.wiops`);
        if (Object.keys(entry).length === 1) throw invalidArg(`${w} sets nothing: give rbps, wbps, riops or wiops`);
        out.io.max.push(entry);
      }
    }
  }
  if (options.cpuset !== undefined) {
    const s = checkObject(options.cpuset, `${what}.cpuset`);
    checkKeys(s, ['cpus', 'mems'], `${what}.cpuset`);
    if (s.cpus !== undefined) out.cpuset.cpus = checkCpuList(s.cpus, `${what}.cpuset.cpus`, '/sys/devices/system/cpu/online', '0');
    if (s.mems !== undefined) out.cpuset.mems = checkCpuList(s.mems, `${what}.cpuset.mems`, '/sys/devices/system/node/online', '0');
  }
  if (options.devices !== undefined) out.devices = resolveDevices(options.devices, `${what}.devices`);
  if (options.netCls !== undefined) {
    const n = checkObject(options.netCls, `${what}.netCls`);
    checkKeys(n, ['classid'], `${what}.netCls`);
    if (n.classid !== undefined)
      out.netCls.classid = checkInteger(n.classid, `${what}.netCls.classid (a u32: 0xAAAABBBB is tc class AAAA:BBBB)`, 0, 0xffffffff);
  }
  if (options.netPrio !== undefined) {
    const n = checkObject(options.netPrio, `${what}.netPrio`);
    checkKeys(n, ['ifpriomap'], `${what}.netPrio`);
    if (n.ifpriomap !== undefined) {
      const map = checkObject(n.ifpriomap, `${what}.netPrio.ifpriomap`);
      out.netPrio.ifpriomap = Object.entries(map).map(([name, prio]) => [
        checkInterfaceName(name, `${what}.netPrio.ifpriomap`),
        checkInteger(prio, `${what}.netPrio.ifpriomap['${name}']`, 0, 0xffffffff),
      ]);
    }
  }
  return out;
}

// An interface name as the kernel takes one (net/core/dev.c dev_valid_name): 1..15 bytes
// (IFNAMSIZ 16 with the NUL), not '.' or '..', no '/', ':' or whitespace.
function checkInterfaceName(name: string, what: string): string {
  if (!name || Buffer.byteLength(name) > 15 || name === '.' || name === '..' || /[/:\s\x00]/.test(name)) {
    throw invalidArg(`${what}: ${JSON.stringify(name)} is not an interface name (1 to 15 bytes, no '/', ':' or spaces)`);
  }
  return name;
}

/** cpu.max in CPUs → quota and period in µs. The period stays 100 ms unless the quota would fall under 1 ms. */
export function cpuQuota(cpus: number): { quota: number; period: number } {
  const period = cpus * 100000 >= 1000 ? 100000 : 1000000;
  return { quota: Math.round(cpus * period), period };
}

/** systemd's mapping between cpu.weight (default 100) and v1 cpu.shares (default 1024). */
export function weightToShares(weight: number): number {
  return Math.min(262144, Math.max(2, Math.round((weight * 1024) / 100)));
}

export function sharesToWeight(shares: number): number {
  return Math.min(10000, Math.max(1, Math.round((shares * 100) / 1024)));
}
