// Unit properties for the systemd cgroup driver's scope (systemd.resource-control(5) names them;
// the D-Bus types are those of org.freedesktop.systemd1(5)), the check on slice names, and how to
// see that systemd applied a limit: the scope's own interface file, read back.
import { invalidArg } from '../errors';
import { Variant } from '../dbus/marshal';
import { checkString } from '../util/validate';
import type { ResolvedLimits } from '../cgroup/limits';

/** uint64 -1: "infinity" for every limit property (systemd's CGROUP_LIMIT_MAX, USEC_INFINITY). */
const INFINITY = (1n << 64n) - 1n;
const USEC_PER_SEC = 1000000;
// systemd writes cpu.max with this period unless CPUQuotaPeriodSec= says otherwise
const DEFAULT_PERIOD_USEC = 100000;

/** A slice unit name: 'my.slice', 'app-build.slice' (nested under app.slice), '-.slice' (the root). */
export function checkSliceName(value: unknown, what: string): string {
  const name = checkString(value, what, { maxLength: 255 });
  // unit_name_is_valid + slice_name_is_valid: [A-Za-z0-9:_.\\-], '-' separates levels, none empty
  const prefix = name.endsWith('.slice') ? name.slice(0, -'.slice'.length) : null;
  if (prefix === null) throw invalidArg(`${what} ${JSON.stringify(name)} must end in '.slice' (a systemd slice unit, like 'my.slice')`);
  if (prefix === '-') return name;
  if (!/^[A-Za-z0-9:_.\\-]+$/.test(prefix)) {
    throw invalidArg(`${what} ${JSON.stringify(name)} may hold only letters, digits and ':_.\\-' (systemd.unit(5))`);
  }
  if (prefix.startsWith('-') || prefix.endsWith('-') || prefix.includes('--')) {
    throw invalidArg(`${what} ${JSON.stringify(name)}: '-' separates slice levels ('a-b.slice' is b under a.slice), so none may be empty`);
  }
  return name;
}

/** The cgroup path a slice makes under its manager's root: 'a-b.slice' → 'a.slice/a-b.slice' (systemd.slice(5)). */
export function slicePath(slice: string): string {
  if (slice === '-.slice') return '';
  const parts = slice.slice(0, -'.slice'.length).split('-');
  return parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`).join('/');
}

const uint = (v: number | 'max'): bigint => (v === 'max' ? INFINITY : BigInt(v));

/** A CPU or node list ('0-3,6') as systemd's bitmask: byte i, bit j is CPU 8i+j. */
function bitmask(list: string): number[] {
  const bytes: number[] = [];
  for (const part of list.split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let n = a; n <= (b ?? a); n++) {
      while (bytes.length <= n >> 3) bytes.push(0);
      bytes[n >> 3] |= 1 << (n & 7);
    }
  }
  return bytes;
}

/** One scope limit: its property, and the file of the scope's own cgroup that shows it applied. */
export interface ScopeLimit {
  property: [string, Variant];
  file: string;
  /** the text systemd writes there (first word compared), or null: the file existing is enough */
  expect: string | null;
}

/**
 * The limits of `scopeLimits` as unit properties. Those systemd has no property for (io.max per
 * device, devices, net_cls, net_prio) belong on the cgroup itself: ERR_INVALID_ARG.
 */
export function scopeLimitProperties(l: ResolvedLimits, what: string): ScopeLimit[] {
  const out: ScopeLimit[] = [];
  const add = (name: string, sig: string, value: unknown, file: string, expect: string | null) =>
    out.push({ property: [name, new Variant(sig, value)], file, expect });
  const text = (v: number | 'max') => String(v);
  if (l.memory.max !== undefined) add('MemoryMax', 't', uint(l.memory.max), 'memory.max', text(l.memory.max));
  if (l.memory.high !== undefined) add('MemoryHigh', 't', uint(l.memory.high), 'memory.high', text(l.memory.high));
  if (l.memory.low !== undefined) add('MemoryLow', 't', uint(l.memory.low), 'memory.low', text(l.memory.low));
  if (l.memory.swapMax !== undefined) add('MemorySwapMax', 't', uint(l.memory.swapMax), 'memory.swap.max', text(l.memory.swapMax));
  if (l.cpu.max !== undefined) {
    const perSec = l.cpu.max === 'max' ? INFINITY : BigInt(Math.round(l.cpu.max * USEC_PER_SEC));
    const quota = l.cpu.max === 'max' ? 'max' : String(Math.round(l.cpu.max * DEFAULT_PERIOD_USEC)); // what systemd writes (cgroup.c cgroup_apply_unified_cpu_quota)
    add('CPUQuotaPerSecUSec', 't', perSec, 'cpu.max', quota);
  }
  if (l.cpu.weight !== undefined) add('CPUWeight', 't', BigInt(l.cpu.weight), 'cpu.weight', String(l.cpu.weight));
  if (l.pids.max !== undefined) add('TasksMax', 't', uint(l.pids.max), 'pids.max', text(l.pids.max));
  if (l.io.weight !== undefined) add('IOWeight', 't', BigInt(l.io.weight), 'io.weight', null);
  if (l.cpuset.cpus !== undefined) add('AllowedCPUs', 'ay', bitmask(l.cpuset.cpus), 'cpuset.cpus', null);
  if (l.cpuset.mems !== undefined) add('AllowedMemoryNodes', 'ay', bitmask(l.cpuset.mems), 'cpuset.mems', null);
  const other = [
    l.io.max?.length ? 'io.max' : '',
    l.devices ? 'devices' : '',
    Object.keys(l.netCls).length ? 'netCls' : '',
    Object.keys(l.netPrio).length ? 'netPrio' : '',
  ].filter(Boolean);
  if (other.length) {
    throw invalidArg(
      `${what}: ${other.join(', ')} ${other.length > 1 ? 'are' : 'is'} not a limit systemd sets on a scope here: give ${other.length > 1 ? 'them' : 'it'} to the cgroup itself`,
    );
  }
  return out;
}
