// The cgroup part of capabilities() (API.md): the layout, the writable base the library would use,
// the cgroup v2 core files that the kernel may or may not have (cgroup.kill 5.14, cgroup.freeze
// 5.2, PSI) — found by looking at a real non-root cgroup, never from the version number — and
// whether device policies, net_cls and net_prio can be set here (a device program is loaded to tell).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBases, type CgroupBaseReport } from './base';
import { describeDriver, type CgroupDriverReport } from './driver-report';
import { probeDeviceBpf } from './device-bpf';
import { devicePrivilegeProblem } from './devices';
import { detectCgroupLayout, type CgroupLayout } from './layout';
import { netUnsupported } from './net';
import { V1_CONTROLLERS } from './v1';

/** One cgroup feature of capabilities().cgroup: whether it works here, and if not why. */
export interface CgroupFeature {
  /** the feature works on this host, for this caller */
  supported: boolean;
  /** why not, or how it is provided */
  reason?: string;
}

/** The cgroup part of capabilities(): the hierarchies, the writable base and the cgroup features. */
export interface CgroupCapabilities {
  /** 'v2' the unified hierarchy only, 'v1' v1 hierarchies only, 'hybrid' v1 controllers with a cgroup2 tree beside them */
  mode: CgroupLayout['mode'];
  /** per controller: its version and mount point (co-mounted ones name each other) */
  controllers: CgroupLayout['controllers'];
  /** the cgroup2 mount, if any (on hybrid hosts: tracking, cgroup.kill and CLONE_INTO_CGROUP only) */
  unified: string | null;
  /** where Cgroup.create() would put cgroups, per hierarchy (null: not writable by this caller) */
  base: CgroupBaseReport[];
  /** cgroup.kill in the cgroup2 tree (Linux 5.14); else kill() freezes, signals and thaws */
  kill: CgroupFeature;
  /** freeze(): cgroup.freeze (v2, Linux 5.2) or the v1 freezer controller */
  freeze: CgroupFeature;
  /** pressure stall information (*.pressure in the cgroup2 tree) */
  psi: CgroupFeature;
  /** the `devices` limit, for this caller: the v1 devices controller, else a BPF program on the cgroup2 directory */
  devices: CgroupFeature;
  /** `netCls`: a v1 net_cls hierarchy (cgroup v2 has none) */
  netCls: CgroupFeature;
  /** `netPrio`: a v1 net_prio hierarchy (cgroup v2 has none) */
  netPrio: CgroupFeature;
  /** which driver Cgroup.create() uses for this caller and why, the delegated subtree's controllers, and the fix where delegation is missing */
  driver: CgroupDriverReport;
}

function deviceFeature(layout: CgroupLayout): CgroupFeature {
  if (layout.mode !== 'v2' && layout.controllers.devices?.version === 1) {
    const problem = devicePrivilegeProblem('v1');
    return problem ? { supported: false, reason: problem } : { supported: true, reason: 'the v1 devices controller (devices.allow, devices.deny)' };
  }
  if (!layout.unified) return { supported: false, reason: 'neither a v1 devices hierarchy nor a cgroup2 hierarchy is mounted' };
  return probeDeviceBpf();
}

function netFeature(layout: CgroupLayout, controller: 'net_cls' | 'net_prio'): CgroupFeature {
  const info = layout.controllers[controller];
  if (info?.version === 1) return { supported: true, reason: `cgroup v1 at ${info.mountPoint}` };
  return { supported: false, reason: netUnsupported(controller, layout.mode).message };
}

/** A non-root cgroup2 directory to look at: an existing child, or a probe we make and remove (as root). */
function withChild<T>(top: string, look: (dir: string) => T): T | null {
  try {
    for (const e of fs.readdirSync(top, { withFileTypes: true })) if (e.isDirectory()) return look(path.join(top, e.name));
  } catch {
    return null; // unreadable: nothing to tell
  }
  const probe = path.join(top, `nsgroups-probe-${process.pid}`);
  try {
    fs.mkdirSync(probe);
  } catch {
    return null;
  }
  try {
    return look(probe);
  } finally {
    fs.rmdirSync(probe);
  }
}

/** `probeDriver: false` skips the driver's probe (a systemd scope made and removed): for callers that want the base only. */
export async function cgroupCapabilities(options: { probeDriver?: boolean } = {}): Promise<CgroupCapabilities> {
  const layout = await detectCgroupLayout();
  const top = layout.unified?.mountPoint ?? null;
  const files = top ? withChild(top, (dir) => fs.readdirSync(dir)) : null;
  const v2 = (file: string, missing: string): CgroupFeature =>
    !top
      ? { supported: false, reason: 'no cgroup2 hierarchy is mounted' }
      : files === null
        ? { supported: false, reason: `no non-root cgroup under ${top} to look at, and none could be made` }
        : files.includes(file)
          ? { supported: true }
          : { supported: false, reason: missing };
  const kill = v2('cgroup.kill', 'the kernel has no cgroup.kill (Linux 5.14+): kill() freezes, signals every process and thaws');
  let freeze = v2('cgroup.freeze', 'the kernel has no cgroup.freeze (Linux 5.2+)');
  if (layout.mode !== 'v2' && layout.controllers.freezer?.version === 1) {
    freeze = { supported: true, reason: 'the v1 freezer controller (freezer.state)' };
  }
  let psi = v2('cpu.pressure', 'no *.pressure files: the kernel lacks CONFIG_PSI');
  if (psi.supported && top) {
    try {
      fs.readFileSync(path.join(top, 'cpu.pressure'), 'utf8');
    } catch {
      psi = { supported: false, reason: 'PSI is disabled: boot with psi=1' };
    }
  }
  return {
    mode: layout.mode,
    controllers: layout.controllers,
    unified: top,
    base: describeBases(layout, V1_CONTROLLERS),
    kill,
    freeze,
    psi,
    devices: deviceFeature(layout),
    netCls: netFeature(layout, 'net_cls'),
    netPrio: netFeature(layout, 'net_prio'),
    driver: await describeDriver(layout, options.probeDriver ?? true),
  };
}
