// Which cgroup driver Cgroup.create() uses, and why (crun and runc have the same two):
//   cgroupfs  mkdir under a base this caller may write: /nsgroups as root, a subtree delegated
//             to the user, or the root option / NSGROUPS_CGROUP_ROOT
//   systemd   ask a systemd manager for a transient scope with Delegate=yes and make the cgroups
//             inside it (scope.ts): the way a plain user gets cgroups on a systemd host
// The decision is a pure function of what was asked and what this host has, so that it is tested
// on recorded inputs of hosts this machine is not (a systemd desktop, a user with lingering …).
import * as os from 'node:os';
import * as path from 'node:path';
import { invalidArg, NsgroupsError, unsupported } from '../errors';
import { checkKeys, checkObject, checkOneOf } from '../util/validate';
import { managerEndpoints, systemdBooted, type ManagerEndpoint, type ManagerKind } from '../systemd/manager';
import { scopeLimitProperties, type ScopeLimit } from '../systemd/properties';
import { chooseBase, type BaseChoice } from './base';
import { delegateDropIn, lingerStep } from './delegation';
import type { CgroupLayout, CgroupMode } from './layout';
import { resolveLimits } from './limits';

export const DRIVERS = ['auto', 'cgroupfs', 'systemd'] as const;
export type CgroupDriverOption = (typeof DRIVERS)[number];
/** How a cgroup is made: 'cgroupfs' directly under a writable base, 'systemd' inside a transient scope with Delegate=yes. */
export type CgroupDriverName = 'cgroupfs' | 'systemd';

export interface DriverInput {
  mode: CgroupMode;
  euid: number;
  /** the driver option, else NSGROUPS_CGROUP_DRIVER, else 'auto' */
  requested: CgroupDriverOption;
  /** what was given that only the systemd driver can do ('slice', 'scopeLimits'), if anything */
  systemdOnly: string | null;
  /** a base given explicitly ('the root option', 'NSGROUPS_CGROUP_ROOT'), if any */
  explicitBase: string | null;
  /** the cgroupfs base in the hierarchy that carries the limits (the cgroup2 one on v2), or null */
  base: BaseChoice | null;
  /** systemd is this host's init (/run/systemd/system) */
  booted: boolean;
  /** where the manager of this caller's kind listens (sockets that exist) */
  endpoints: ManagerEndpoint[];
  user: string;
}

export interface DriverDecision {
  driver: CgroupDriverName | null;
  /** the manager the systemd driver asks */
  manager: ManagerKind;
  reason: string;
  /** auto only: the cgroupfs base to use if the manager does not answer after all */
  fallback: boolean;
  /** what would give this caller delegation, where it has none */
  fix?: string;
}

/** The user manager's own tree (user@UID.service): writable by the user, but systemd --user's to manage. */
export function isUserManagerTree(base: BaseChoice | null): boolean {
  return base?.source === 'delegated' && /(^|\/)user@\d+\.service$/.test(path.posix.dirname(base.rel));
}

export function checkDriver(value: unknown, what: string): CgroupDriverOption {
  return checkOneOf(value, DRIVERS, what) as CgroupDriverOption;
}

export function decideDriver(d: DriverInput): DriverDecision {
  const manager: ManagerKind = d.euid === 0 ? 'system' : 'user';
  const decision = (driver: CgroupDriverName | null, reason: string, extra: Partial<DriverDecision> = {}): DriverDecision => ({
    driver,
    manager,
    reason,
    fallback: false,
    ...extra,
  });
  const wantsSystemd = d.requested === 'systemd' || d.systemdOnly !== null;
  if (wantsSystemd && (d.requested === 'cgroupfs' || d.explicitBase)) {
    throw invalidArg(
      `${d.systemdOnly ?? "driver: 'systemd'"} asks for a systemd scope, and ${d.explicitBase ?? "driver: 'cgroupfs'"} for a cgroupfs base: give one of them`,
    );
  }
  if (d.requested === 'cgroupfs' || d.explicitBase) {
    return decision('cgroupfs', d.explicitBase ? `the base was given (${d.explicitBase})` : "driver: 'cgroupfs' was asked for");
  }
  const managerName = manager === 'user' ? 'user manager (systemd --user)' : 'system manager';
  if (wantsSystemd) {
    if (d.mode !== 'v2') {
      throw unsupported(
        `${d.systemdOnly ?? "driver: 'systemd'"} needs a cgroup v2 host: systemd delegates cgroup2 subtrees, and this ${d.mode} host's limits are on cgroup v1 ` +
          '(boot with systemd.unified_cgroup_hierarchy=1, or use the cgroupfs driver)',
      );
    }
    return decision('systemd', `${d.systemdOnly ? `${d.systemdOnly} was given` : "driver: 'systemd' was asked for"}: a delegated scope of the ${managerName}`, {
      fix: d.endpoints.length ? undefined : noManagerFix(d),
    });
  }
  if (d.mode !== 'v2') {
    const v1 = `this ${d.mode} host's limits are on cgroup v1`;
    if (d.euid === 0) return decision('cgroupfs', `${v1}, and root writes the top of each hierarchy`);
    return d.base
      ? decision('cgroupfs', `${v1}, which systemd does not delegate to users: the base ${d.base.rel}, writable by uid ${d.euid}`)
      : decision(null, `${v1}, which systemd does not delegate to users, and no v1 cgroup is writable by uid ${d.euid}`);
  }
  if (d.euid === 0) return decision('cgroupfs', "root writes the top of the hierarchy (the system manager's scope only when driver: 'systemd' is asked for)");
  const managerTree = isUserManagerTree(d.base);
  if (d.base && !managerTree) return decision('cgroupfs', `this process sits in a subtree delegated to uid ${d.euid} (${path.posix.dirname(d.base.rel)})`);
  if (d.endpoints.length) {
    const why = managerTree
      ? `this process sits in the user manager's own tree (${path.posix.dirname(d.base!.rel)}), which is systemd --user's to manage`
      : `no cgroup is writable by uid ${d.euid}`;
    return decision('systemd', `${why}: a delegated scope of the ${managerName} at ${d.endpoints[0].address}`, { fallback: managerTree });
  }
  if (d.base) return decision('cgroupfs', `the user manager's tree ${path.posix.dirname(d.base.rel)} is writable, and no socket of systemd --user was found`);
  return decision(null, `no cgroup is writable by uid ${d.euid}, and no systemd user manager is reachable`, { fix: noManagerFix(d) });
}

/** Why no manager answers, and the step that fixes it. */
function noManagerFix(d: DriverInput): string {
  if (!d.booted) {
    return 'systemd is not the init of this host (no /run/systemd/system): a root step is needed instead (see the cgroupfs hint)';
  }
  return d.euid === 0
    ? 'start dbus (the system bus), or run as root with /run/systemd/private present'
    : `the user manager user@${d.euid}.service is not running (no socket in /run/user/${d.euid}): log in, or\n${lingerStep(d.user)}`;
}

/** The fix when the delegated subtree lacks controllers nsgroups uses. */
export function missingControllersFix(kind: ManagerKind, euid: number, missing: string[]): string {
  if (kind === 'system') return `the system manager has no ${missing.join(', ')} controller (enable it in the kernel or on the command line)`;
  return `delegate ${missing.join(', ')} to the user manager (systemd.resource-control(5) Delegate=), as root:\n${delegateDropIn(euid)}`;
}

/** The error for a systemd driver that was chosen but could not be used. */
export function systemdUnavailable(err: NsgroupsError, decision: DriverDecision): NsgroupsError {
  const fix = decision.fix ? `\nfix: ${decision.fix}` : '';
  return new NsgroupsError(err.code, `the systemd cgroup driver (${decision.reason}) failed: ${err.message}${fix}`, {
    errno: err.errno,
    syscall: err.syscall,
    path: err.path,
    cause: err,
  });
}

/** NSGROUPS_CGROUP_DRIVER, the driver option's default. */
export function driverFromEnv(): CgroupDriverOption {
  const env = process.env.NSGROUPS_CGROUP_DRIVER;
  return env ? checkDriver(env, 'NSGROUPS_CGROUP_DRIVER') : 'auto';
}

/** The scopeLimits option: the limits systemd can set on a scope, as its unit properties. */
export function checkScopeLimits(value: unknown, what: string): ScopeLimit[] {
  const obj = checkObject(value, what);
  checkKeys(obj, ['memory', 'cpu', 'pids', 'io', 'cpuset'], what);
  return scopeLimitProperties(resolveLimits(obj, what), what);
}

/** The driver for this create(): decideDriver() on what was asked and what this host and caller have. */
export function chooseDriver(
  lay: CgroupLayout,
  requested: CgroupDriverOption,
  rootOption: string | undefined,
  selfCgroup: () => string,
  systemdOnly: string | null,
): DriverDecision {
  const euid = process.geteuid!();
  const limitsIn = lay.mode === 'v2' ? lay.unified! : (lay.v1.find((h) => h.controllers.includes('memory')) ?? lay.v1[0]);
  let base: BaseChoice | null = null;
  try {
    base = chooseBase(limitsIn, rootOption, selfCgroup);
  } catch (err) {
    if (rootOption !== undefined) throw err;
  }
  const explicitBase = rootOption !== undefined ? 'the root option' : process.env.NSGROUPS_CGROUP_ROOT ? 'NSGROUPS_CGROUP_ROOT' : null;
  const asksManager = lay.mode === 'v2' && (euid !== 0 || requested === 'systemd' || systemdOnly !== null);
  return decideDriver({
    mode: lay.mode,
    euid,
    requested,
    systemdOnly,
    explicitBase,
    base,
    booted: asksManager && systemdBooted(),
    endpoints: asksManager ? managerEndpoints(euid === 0 ? 'system' : 'user') : [],
    user: userName(),
  });
}

// the name only goes into a hint; os.userInfo() reads the passwd database (NSS) every time
let userNameOf: { euid: number; name: string } | undefined;
export function userName(): string {
  const euid = process.geteuid!();
  if (userNameOf?.euid === euid) return userNameOf.name;
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    name = String(euid);
  }
  userNameOf = { euid, name };
  return name;
}
