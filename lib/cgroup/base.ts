// Where this library may create cgroups (DESIGN.md "Cgroups"): as root, an `nsgroups` subtree at
// the top of each hierarchy; as a user, under the subtree delegated to it (systemd Delegate=),
// found by walking up from its own cgroup; either overridable by the `root` option or
// NSGROUPS_CGROUP_ROOT. Also the checks on cgroup names.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidArg, NsgroupsError } from '../errors';
import { checkString } from '../util/validate';
import { hierarchyDir, parseProcCgroup, procPathIn, type CgroupHierarchy, type CgroupLayout } from './layout';

export const DEFAULT_BASE_NAME = 'nsgroups';

// A name segment that looks like an interface file would collide with one (cgroup-v2.rst
// "Avoid Name Collisions"): refuse the prefixes of the core and of every controller.
const RESERVED_PREFIX = /^(cgroup|memory|cpu|cpuacct|cpuset|io|blkio|pids|freezer|hugetlb|rdma|misc|devices|net_cls|net_prio|perf_event|dmem)\./;

/** A cgroup name relative to the base: 'jobs/build-42'. Returns its segments. */
export function checkCgroupName(value: unknown, what = 'cgroup name'): string[] {
  const name = checkString(value, what, { maxLength: 4096 });
  if (name.startsWith('/')) {
    throw invalidArg(`${what} ${JSON.stringify(name)} must be relative to the cgroup base (no leading '/'); use the 'root' option to move the base`);
  }
  const segments = name.split('/');
  if (name.endsWith('/')) segments.pop();
  for (const seg of segments) {
    if (seg === '') throw invalidArg(`${what} ${JSON.stringify(name)} has an empty path segment ('//')`);
    if (seg === '.' || seg === '..') throw invalidArg(`${what} ${JSON.stringify(name)} must not contain '.' or '..' segments (path traversal)`);
    if (/[\x00-\x1f\x7f]/.test(seg)) throw invalidArg(`${what} ${JSON.stringify(name)} must not contain control characters`);
    if (Buffer.byteLength(seg) > 255) throw invalidArg(`${what}: segment '${seg.slice(0, 20)}…' is longer than 255 bytes`);
    if (RESERVED_PREFIX.test(seg)) {
      throw invalidArg(`${what}: segment '${seg}' looks like a cgroup interface file (it starts with '${seg.split('.')[0]}.'); choose another name`);
    }
  }
  return segments;
}

/** The base given by option or environment: a path from the top of each hierarchy. */
export function checkBaseRoot(value: unknown, what: string): string {
  const text = checkString(value, what, { maxLength: 4096 });
  const rel = text.replace(/^\/+/, '');
  if (rel === '') return '/';
  checkCgroupName(rel, what);
  return '/' + rel.replace(/\/+$/, '');
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    fs.accessSync(path.join(dir, 'cgroup.procs'), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// A hierarchy top found writable stays so for this euid (root's, on a read-write cgroupfs): it
// is asked once per process, not twice per hierarchy per create(). One that was not is asked
// again each time (a chown or a remount can open it); a top that closes later makes mkdir fail
// with the same ERR_PERMISSION.
const writableTops = new Set<string>();
function topIsWritable(h: CgroupHierarchy): boolean {
  const key = `${process.geteuid?.() ?? -1}:${h.mountPoint}`;
  if (writableTops.has(key)) return true;
  if (!writable(h.mountPoint)) return false;
  writableTops.add(key);
  return true;
}

/** The drop-ins and commands that would give this user a writable subtree. */
export function delegationHint(layout: CgroupLayout): string {
  const uid = process.geteuid?.() ?? -1;
  const lines = [
    `cgroups are not delegated to uid ${uid}. To fix it, either run as root, or:`,
    '  - with systemd on cgroup v2, delegate the controllers to your user manager (then log in again):',
    '      sudo mkdir -p /etc/systemd/system/user@.service.d',
    "      printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf",
    '      sudo systemctl daemon-reload',
    '    or start the program in a delegated unit: systemd-run --user -p Delegate=yes --scope … or Delegate=yes in its service;',
  ];
  if (layout.mode !== 'v2') {
    const dirs = [...layout.v1.map((h) => h.mountPoint), ...(layout.unified ? [layout.unified.mountPoint] : [])];
    lines.push(
      `  - cgroup v1 controllers (this host is ${layout.mode}) are not delegated by systemd to users; have root create a subtree and give it to you:`,
      `      for d in ${dirs.join(' ')}; do sudo mkdir -p $d/nsgroups-${uid} && sudo chown -R ${uid} $d/nsgroups-${uid}; done`,
      `    then run with NSGROUPS_CGROUP_ROOT=/nsgroups-${uid}`,
    );
  }
  return lines.join('\n');
}

/** The cgroup base of one hierarchy, and where the choice came from. */
export interface BaseChoice {
  /** the base's path in the hierarchy's own space ('/nsgroups' or '/user.slice/…/nsgroups') */
  rel: string;
  /** 'option' the `root` option, 'env' NSGROUPS_CGROUP_ROOT, 'root' the hierarchy's top is writable, 'delegated' below this caller's delegated subtree */
  source: 'option' | 'env' | 'root' | 'delegated';
}

/**
 * The base in hierarchy `h`: the option, else NSGROUPS_CGROUP_ROOT, else `/nsgroups` when the
 * top is writable (root), else `<delegated subtree>/nsgroups`; null when nothing is writable.
 */
export function chooseBase(h: CgroupHierarchy, rootOption: string | undefined, selfCgroup: () => string): BaseChoice | null {
  if (rootOption !== undefined) return { rel: rootOption, source: 'option' };
  const env = process.env.NSGROUPS_CGROUP_ROOT;
  if (env) return { rel: checkBaseRoot(env, 'NSGROUPS_CGROUP_ROOT'), source: 'env' };
  const top = h.mountRoot;
  if (topIsWritable(h)) return { rel: path.posix.join(top, DEFAULT_BASE_NAME), source: 'root' };
  // Walk up from our own cgroup while the directory is ours to write: the top of that run is
  // the delegation point (systemd chowns the delegated unit's directory and cgroup.procs).
  const own = procPathIn(h, parseProcCgroup(selfCgroup()));
  if (own === null) return null;
  let found: string | null = null;
  for (let p = own; ; p = path.posix.dirname(p)) {
    const dir = hierarchyDir(h, p);
    if (dir === null || !writable(dir)) break;
    found = p;
    if (p === '/' || p === top) break;
  }
  return found === null ? null : { rel: path.posix.join(found, DEFAULT_BASE_NAME), source: 'delegated' };
}

export function permissionError(layout: CgroupLayout, h: CgroupHierarchy, detail: string): NsgroupsError {
  return new NsgroupsError('ERR_PERMISSION', `cannot create cgroups in ${h.mountPoint}: ${detail}\n${delegationHint(layout)}`, {
    path: h.mountPoint,
  });
}

/** Where Cgroup.create() would put cgroups in one hierarchy (capabilities().cgroup.base). */
export interface CgroupBaseReport {
  /** the hierarchy's mount point, e.g. '/sys/fs/cgroup/memory' */
  hierarchy: string;
  /** 1 for a v1 hierarchy, 2 for the cgroup2 tree */
  version: 1 | 2;
  /** the base directory cgroups are created under, or null when none is writable */
  path: string | null;
  /** how the base was chosen ({@link BaseChoice.source}); null when there is none */
  source: BaseChoice['source'] | null;
}

/** For capabilities(): the writable base in each hierarchy the library uses (v1: those of `controllers`). */
export function describeBases(layout: CgroupLayout, controllers: readonly string[], selfCgroup?: string): CgroupBaseReport[] {
  const self = selfCgroup ?? fs.readFileSync('/proc/self/cgroup', 'utf8');
  const hierarchies =
    layout.mode === 'v2'
      ? [layout.unified!]
      : [...layout.v1.filter((h) => h.controllers.some((c) => controllers.includes(c))), ...(layout.unified ? [layout.unified] : [])];
  return hierarchies.map((h) => {
    let choice: BaseChoice | null;
    try {
      choice = chooseBase(h, undefined, () => self);
    } catch {
      choice = null; // a bad NSGROUPS_CGROUP_ROOT: reported as no base
    }
    const dir = choice ? hierarchyDir(h, choice.rel) : null;
    return { hierarchy: h.mountPoint, version: h.version, path: dir, source: dir ? choice!.source : null };
  });
}
