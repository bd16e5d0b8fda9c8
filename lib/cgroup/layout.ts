// Which cgroup hierarchies this host has, where they are mounted, and where a process sits in
// each: parsed from /proc/self/mountinfo (proc(5)) and /proc/PID/cgroup (cgroups(7)).
// A pure parser (tested on recorded inputs of v1, v2, hybrid and co-mounted hosts) and a reader
// for this host.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromNodeError, unsupported } from '../errors';

/** How the host mounts cgroups: 'v2' the unified hierarchy only, 'v1' v1 hierarchies only, 'hybrid' v1 controllers with a cgroup2 tree beside them. */
export type CgroupMode = 'v2' | 'v1' | 'hybrid';

/** One mounted hierarchy: the cgroup2 tree, or a v1 tree carrying one or more controllers. */
export interface CgroupHierarchy {
  /** 1 for a v1 hierarchy, 2 for the cgroup2 tree */
  version: 1 | 2;
  /** where it is mounted (the first mount of it in mountinfo) */
  mountPoint: string;
  /** the cgroup (in this hierarchy's own path space) that is visible at mountPoint; '/' unless bind-mounted or in a cgroup namespace */
  mountRoot: string;
  /** v1: the controllers bound to it (cpu,cpuacct when co-mounted); v2: the controllers in cgroup.controllers at its top */
  controllers: string[];
  /** v1 named hierarchies without controllers, like 'systemd' for name=systemd */
  name?: string;
  /** v1: the hierarchy id in /proc/PID/cgroup (0 for v2) */
  id: number;
  /** mountinfo's major:minor: one per hierarchy, so duplicate mounts are recognised */
  device: string;
}

/** Where one controller is mounted. */
export interface CgroupControllerInfo {
  /** the hierarchy it is bound to: 1 (a v1 hierarchy) or 2 (the cgroup2 tree) */
  version: 1 | 2;
  /** that hierarchy's mount point, e.g. '/sys/fs/cgroup/memory' */
  mountPoint: string;
  /** other controllers sharing the same v1 hierarchy (['cpuacct'] for cpu in cpu,cpuacct) */
  coMounted: string[];
}

export interface CgroupLayout {
  mode: CgroupMode;
  /** every controller mounted somewhere, with its version and mount point */
  controllers: Record<string, CgroupControllerInfo>;
  /** the cgroup2 hierarchy, if one is mounted (on hybrid hosts it has few or no controllers) */
  unified: CgroupHierarchy | null;
  /** the v1 hierarchies that carry controllers (named ones like name=systemd are in `named`) */
  v1: CgroupHierarchy[];
  /** v1 hierarchies without controllers (name=systemd): reported, never written to */
  named: CgroupHierarchy[];
}

// Superblock options of a v1 cgroup mount that are not controllers (see cgroup1_parse_param in
// kernel/cgroup/cgroup-v1.c).
const V1_NON_CONTROLLER_OPTIONS = new Set([
  'rw',
  'ro',
  'none',
  'all',
  'noprefix',
  'clone_children',
  'cpuset_v2_mode',
  'xattr',
  'favordynmods',
  'nofavordynmods',
  'sane_behavior',
]);

interface MountEntry {
  device: string;
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal (proc(5)).
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 4) continue;
    out.push({
      device: fields[2],
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      fsType: fields[sep + 1],
      superOptions: fields[sep + 3].split(','),
    });
  }
  return out;
}

/** One line of /proc/PID/cgroup: "ID:CONTROLLERS:PATH" (cgroups(7)). */
export interface ProcCgroupEntry {
  id: number;
  /** v1: the controllers of that hierarchy (may include 'name=systemd'); v2: [] */
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const list = line.slice(first + 1, second);
    out.push({
      id: parseInt(line.slice(0, first), 10),
      controllers: list ? list.split(',') : [],
      path: line.slice(second + 1),
    });
  }
  return out;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * The layout from the text of /proc/self/mountinfo and /proc/self/cgroup, plus the cgroup2
 * top's cgroup.controllers (the only part mountinfo cannot tell). Pure: no file is read.
 */
export function parseCgroupLayout(mountinfo: string, procSelfCgroup: string, v2Controllers = ''): CgroupLayout {
  const self = parseProcCgroup(procSelfCgroup);
  const seen = new Set<string>();
  const v1: CgroupHierarchy[] = [];
  const named: CgroupHierarchy[] = [];
  let unified: CgroupHierarchy | null = null;
  for (const m of parseMountinfo(mountinfo)) {
    if (m.fsType !== 'cgroup' && m.fsType !== 'cgroup2') continue;
    if (seen.has(m.device)) continue; // the same hierarchy mounted twice: keep the first
    seen.add(m.device);
    if (m.fsType === 'cgroup2') {
      const controllers = v2Controllers.split(/\s+/).filter(Boolean);
      unified = { version: 2, mountPoint: m.mountPoint, mountRoot: m.root, controllers, id: 0, device: m.device };
      continue;
    }
    const controllers = m.superOptions.filter((o) => !V1_NON_CONTROLLER_OPTIONS.has(o) && !o.includes('='));
    const nameOpt = m.superOptions.find((o) => o.startsWith('name='));
    const procKey = [...controllers, ...(nameOpt ? [nameOpt] : [])];
    const entry = self.find((e) => e.id > 0 && sameSet(e.controllers, procKey));
    const h: CgroupHierarchy = {
      version: 1,
      mountPoint: m.mountPoint,
      mountRoot: m.root,
      controllers,
      id: entry?.id ?? -1,
      device: m.device,
    };
    if (nameOpt) h.name = nameOpt.slice('name='.length);
    (controllers.length ? v1 : named).push(h);
  }
  const controllers: Record<string, CgroupControllerInfo> = {};
  for (const h of v1) {
    for (const c of h.controllers) {
      controllers[c] = { version: 1, mountPoint: h.mountPoint, coMounted: h.controllers.filter((o) => o !== c) };
    }
  }
  // A controller is bound to one hierarchy at a time: those on v1 are not on v2.
  if (unified) {
    for (const c of unified.controllers) {
      if (!controllers[c]) controllers[c] = { version: 2, mountPoint: unified.mountPoint, coMounted: [] };
    }
  }
  if (!unified && v1.length === 0) {
    throw unsupported(
      'no cgroup filesystem is mounted (neither cgroup2 nor a v1 controller hierarchy in /proc/self/mountinfo): ' +
        'mount one, e.g. `mount -t cgroup2 none /sys/fs/cgroup`',
    );
  }
  const mode: CgroupMode = v1.length === 0 ? 'v2' : unified ? 'hybrid' : 'v1';
  return { mode, controllers, unified, v1, named };
}

/**
 * The directory of `cgroupPath` (a path in the hierarchy's own space, as /proc/PID/cgroup shows
 * it) under the hierarchy's mount point, or null when that cgroup is not visible there.
 */
export function hierarchyDir(h: CgroupHierarchy, cgroupPath: string): string | null {
  const root = h.mountRoot === '/' ? '' : h.mountRoot;
  if (root && cgroupPath !== root && !cgroupPath.startsWith(root + '/')) return null;
  const rest = cgroupPath.slice(root.length);
  return rest === '' || rest === '/' ? h.mountPoint : path.join(h.mountPoint, rest);
}

/** Where process `pid` sits in hierarchy `h`, from the parsed /proc/PID/cgroup. */
export function procPathIn(h: CgroupHierarchy, entries: ProcCgroupEntry[]): string | null {
  if (h.version === 2) return entries.find((e) => e.id === 0 && e.controllers.length === 0)?.path ?? null;
  return entries.find((e) => e.id === h.id)?.path ?? null;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fromNodeError(err, `reading ${file}`, { path: file });
  }
}

/** The layout of this host, as seen by this process. */
export async function detectCgroupLayout(): Promise<CgroupLayout> {
  const [mountinfo, procCgroup] = await Promise.all([
    fs.promises.readFile('/proc/self/mountinfo', 'utf8'),
    fs.promises.readFile('/proc/self/cgroup', 'utf8'),
  ]).catch((err: unknown) => {
    throw fromNodeError(err, 'reading /proc/self/mountinfo and /proc/self/cgroup');
  });
  const first = parseCgroupLayout(mountinfo, procCgroup);
  if (!first.unified) return first;
  let controllers = '';
  try {
    controllers = await fs.promises.readFile(path.join(first.unified.mountPoint, 'cgroup.controllers'), 'utf8');
  } catch {
    /* an unreadable top: no controllers known on v2 */
  }
  return parseCgroupLayout(mountinfo, procCgroup, controllers);
}

/** The same, synchronously (used where a layout is needed once and cached). */
export function detectCgroupLayoutSync(): CgroupLayout {
  const mountinfo = read('/proc/self/mountinfo');
  const procCgroup = read('/proc/self/cgroup');
  const first = parseCgroupLayout(mountinfo, procCgroup);
  if (!first.unified) return first;
  let controllers = '';
  try {
    controllers = fs.readFileSync(path.join(first.unified.mountPoint, 'cgroup.controllers'), 'utf8');
  } catch {
    /* as above */
  }
  return parseCgroupLayout(mountinfo, procCgroup, controllers);
}
