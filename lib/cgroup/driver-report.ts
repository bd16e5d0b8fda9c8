// The driver part of capabilities() and `nsgroups doctor`: which driver Cgroup.create() uses for
// this caller and why, whether a systemd manager answers, the controllers of the delegated
// subtree as the kernel lists them (cgroup.controllers, cgroup.subtree_control: for the systemd
// driver those of a scope made for the purpose and removed), and the step that gives delegation
// where it is missing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SystemdManager, managerEndpoints, systemdBooted, type ManagerKind } from '../systemd/manager';
import { chooseBase } from './base';
import { Cgroup } from './cgroup';
import { chooseDriver, driverFromEnv, missingControllersFix, type CgroupDriverName, type DriverDecision } from './driver';
import { hierarchyDir, type CgroupLayout } from './layout';
import { DEFAULT_V2_CONTROLLERS } from './v2';

/** The driver part of capabilities().cgroup: which driver Cgroup.create() uses and why, the systemd manager, the delegated subtree. */
export interface CgroupDriverReport {
  /** the driver Cgroup.create() uses by default for this caller; null when neither can */
  name: CgroupDriverName | null;
  /** why that driver, or why neither */
  reason: string;
  /** the systemd manager this caller would ask (its own for a user, the system's for root) */
  systemd: {
    /** it answered on its socket */
    reachable: boolean;
    /** what was found: the version and address, or why it does not answer */
    reason: string;
    /** 'user' or 'system' */
    manager: ManagerKind;
    /** the socket it answered on */
    address?: string;
    /** systemd's version, e.g. '252' */
    version?: string;
  };
  /** the delegated cgroup2 subtree the cgroups go in: the systemd scope, or the cgroupfs base's parent */
  subtree?: {
    /** its directory */
    path: string;
    /** its cgroup.controllers: the controllers it may use */
    controllers: string[];
    /** its cgroup.subtree_control: the controllers enabled for its children */
    subtreeControl: string[];
  };
  /** controllers nsgroups enables by default (cpu cpuset io memory pids) that the subtree lacks */
  missing?: string[];
  /** what gives this caller delegation, or the missing controllers */
  fix?: string;
}

const words = (file: string): string[] => {
  try {
    return fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
};

async function probeManager(kind: ManagerKind): Promise<CgroupDriverReport['systemd']> {
  if (!systemdBooted()) return { reachable: false, manager: kind, reason: 'systemd is not the init of this host (no /run/systemd/system)' };
  const endpoints = managerEndpoints(kind);
  if (!endpoints.length) {
    const where =
      kind === 'user'
        ? `${process.env.XDG_RUNTIME_DIR || `/run/user/${process.geteuid!()}`}/systemd/private or …/bus`
        : '/run/systemd/private or /run/dbus/system_bus_socket';
    return { reachable: false, manager: kind, reason: `no socket of the ${kind} manager (${where})` };
  }
  try {
    const m = await SystemdManager.connect(kind, 5000, endpoints);
    m.close();
    return {
      reachable: true,
      manager: kind,
      address: m.endpoint.address,
      version: m.version,
      reason: `systemd ${m.version} answers at ${m.endpoint.address} (${m.endpoint.via})`,
    };
  } catch (err) {
    return { reachable: false, manager: kind, reason: (err as Error).message };
  }
}

export async function describeDriver(lay: CgroupLayout, probe: boolean): Promise<CgroupDriverReport> {
  const euid = process.geteuid!();
  const kind: ManagerKind = euid === 0 ? 'system' : 'user';
  let decision: DriverDecision | null = null;
  let why = '';
  try {
    decision = chooseDriver(lay, driverFromEnv(), undefined, () => fs.readFileSync('/proc/self/cgroup', 'utf8'), null);
  } catch (err) {
    why = (err as Error).message; // NSGROUPS_CGROUP_DRIVER names what cannot work here
  }
  const systemd = await probeManager(kind);
  const report: CgroupDriverReport = { name: decision?.driver ?? null, reason: decision?.reason ?? why, systemd };
  if (decision?.fix) report.fix = decision.fix;
  if (!decision?.driver || !lay.unified) return report;

  if (decision.driver === 'systemd') {
    if (!probe) return report;
    let cg: Cgroup | null = null;
    try {
      cg = await Cgroup.create(`probe-${process.pid}-driver`, { driver: 'systemd' });
      const p = cg.path as string;
      const scopeDir = p.slice(0, p.indexOf(`/${cg.unit}`) + cg.unit!.length + 1);
      report.subtree = {
        path: scopeDir,
        controllers: words(path.join(scopeDir, 'cgroup.controllers')),
        subtreeControl: words(path.join(scopeDir, 'cgroup.subtree_control')),
      };
    } catch (err) {
      report.name = null;
      report.reason = `${decision.reason}, but it failed: ${(err as Error).message}`;
      return report;
    } finally {
      await cg?.delete({ kill: true }).catch(() => {});
    }
  } else {
    const base = chooseBase(lay.unified, undefined, () => fs.readFileSync('/proc/self/cgroup', 'utf8'));
    const dir = base && hierarchyDir(lay.unified, path.posix.dirname(base.rel));
    if (!dir) return report;
    report.subtree = { path: dir, controllers: words(path.join(dir, 'cgroup.controllers')), subtreeControl: words(path.join(dir, 'cgroup.subtree_control')) };
  }
  if (lay.mode === 'v2') {
    const missing = DEFAULT_V2_CONTROLLERS.filter((c) => !report.subtree!.controllers.includes(c));
    if (missing.length) {
      report.missing = missing;
      report.fix =
        decision.driver === 'systemd'
          ? missingControllersFix(kind, euid, missing)
          : `enable ${missing.join(', ')} in the cgroup.subtree_control of ${path.dirname(report.subtree!.path)}, or delegate them to the unit that owns ${report.subtree!.path} (Delegate=)`;
    }
  }
  return report;
}
