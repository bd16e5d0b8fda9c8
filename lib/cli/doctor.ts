// `nsgroups doctor`: capabilities() readably, one line per feature with why it is missing and the
// fix, and a summary line. Informational (exit 0) unless --check asks: then exit 1 when a checked
// feature is missing. `--json` prints capabilities() itself.
import * as os from 'node:os';
import { delegationHint, detectCgroupLayout } from '../cgroup/index';
import { capabilities, type Feature, type HostCapabilities, type LimitName } from '../host/capabilities';
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args';

interface Check {
  /** the name --check takes */
  id: string;
  section: string;
  title: string;
  get(c: HostCapabilities): Feature;
  /** the fix when the feature does not carry its own */
  fix?: string;
}

const both = (a: Feature, b: Feature): Feature =>
  a.supported && b.supported
    ? { supported: true, reason: a.reason === b.reason ? a.reason : [a.reason, b.reason].filter(Boolean).join('; ') }
    : {
        supported: false,
        reason: [a, b]
          .filter((f) => !f.supported)
          .map((f) => f.reason)
          .join('; '),
        fix: [a, b].find((f) => !f.supported)?.fix,
      };

const LIMIT_CHECKS: Array<[string, LimitName, string]> = [
  ['memory', 'memory.max', 'memory.max (run --memory)'],
  ['memory-high', 'memory.high', 'memory.high'],
  ['memory-low', 'memory.low', 'memory.low'],
  ['swap', 'memory.swapMax', 'memory.swapMax (swap accounting)'],
  ['cpu', 'cpu.max', 'cpu.max (run --cpus)'],
  ['cpu-weight', 'cpu.weight', 'cpu.weight'],
  ['pids', 'pids.max', 'pids.max (run --pids)'],
  ['io-weight', 'io.weight', 'io.weight (v1: blkio.bfq.weight of the bfq scheduler)'],
  ['io-max', 'io.max', 'io.max (I/O throttling)'],
  ['cpuset', 'cpuset', 'cpuset.cpus and cpuset.mems'],
];

export const CHECKS: Check[] = [
  { id: 'addon', section: 'nsgroups', title: 'native addon', get: (c) => c.addon },
  { id: 'userns', section: 'user namespaces', title: 'for this caller (probed)', get: (c) => c.userNamespaces.caller },
  { id: 'userns-unprivileged', section: 'user namespaces', title: 'for unprivileged users', get: (c) => c.userNamespaces.unprivileged },
  {
    id: 'newuidmap',
    section: 'user namespaces',
    title: 'newuidmap and newgidmap (id ranges without root)',
    get: (c) => both(c.idMapping.newuidmap, c.idMapping.newgidmap),
  },
  {
    id: 'subids',
    section: 'user namespaces',
    title: 'ranges in /etc/subuid and /etc/subgid for this user',
    get: (c) => both(c.idMapping.subuid, c.idMapping.subgid),
  },
  {
    id: 'overlay',
    section: 'filesystems',
    title: 'overlayfs',
    get: (c) => c.overlay.available,
    fix: 'load the module (modprobe overlay) or use a kernel with CONFIG_OVERLAY_FS',
  },
  {
    id: 'overlay-userns',
    section: 'filesystems',
    title: 'overlayfs inside a user namespace (userxattr)',
    get: (c) => c.overlay.inUserNamespace,
    fix: 'Linux 5.11+ (userxattr); rootless sandboxes cannot use an overlay rootfs without it',
  },
  {
    id: 'mount-setattr',
    section: 'filesystems',
    title: 'recursive read-only binds (mount_setattr)',
    get: (c) => c.mountSetattr,
    fix: 'Linux 5.12+; read-only recursive binds are unavailable without it',
  },
  { id: 'cgroups', section: 'cgroups', title: 'a base for new cgroups', get: baseFeature },
  { id: 'cgroup-driver', section: 'cgroups', title: 'cgroup driver', get: driverFeature },
  { id: 'delegation', section: 'cgroups', title: 'controllers in the delegated subtree', get: delegationFeature },
  {
    id: 'cgroup-kill',
    section: 'cgroups',
    title: 'cgroup.kill',
    get: (c) => c.cgroup.kill,
    fix: 'Linux 5.14+ (kill() then freezes, signals and thaws instead)',
  },
  { id: 'freeze', section: 'cgroups', title: 'freeze', get: (c) => c.cgroup.freeze, fix: 'Linux 5.2+ (cgroup.freeze) or the v1 freezer controller' },
  { id: 'psi', section: 'cgroups', title: 'pressure stall information (PSI)', get: (c) => c.cgroup.psi, fix: 'boot with psi=1 (CONFIG_PSI)' },
  { id: 'clone-into-cgroup', section: 'cgroups', title: 'born in the cgroup (CLONE_INTO_CGROUP)', get: (c) => c.cloneIntoCgroup },
  { id: 'devices', section: 'cgroups', title: 'device policies (devices)', get: (c) => c.cgroup.devices },
  { id: 'net-cls', section: 'cgroups', title: 'net_cls (netCls)', get: (c) => c.cgroup.netCls },
  { id: 'net-prio', section: 'cgroups', title: 'net_prio (netPrio)', get: (c) => c.cgroup.netPrio },
  ...LIMIT_CHECKS.map(([id, name, title]): Check => ({ id, section: 'limits (set on a cgroup of ours)', title, get: (c) => c.limits[name] })),
  {
    id: 'clone3',
    section: 'processes',
    title: 'clone3',
    get: (c) => c.clone3,
    fix: "Linux 5.3+, and no seccomp filter that refuses clone3 (Docker's default profile does)",
  },
  { id: 'pidfd', section: 'processes', title: 'pidfd', get: (c) => c.pidfd, fix: 'Linux 5.3+' },
  { id: 'time-ns', section: 'processes', title: 'time namespaces', get: (c) => c.timeNamespaces, fix: 'Linux 5.6+ with CONFIG_TIME_NS' },
  { id: 'least-privilege', section: "least privilege (a sandbox's command)", title: 'no capabilities, no_new_privs', get: (c) => c.leastPrivilege },
  {
    id: 'seccomp',
    section: "least privilege (a sandbox's command)",
    title: 'the default seccomp filter',
    get: (c) => c.seccomp,
    fix: "a kernel with CONFIG_SECCOMP_FILTER; meanwhile spawn with seccomp: 'none'",
  },
  {
    id: 'landlock',
    section: "least privilege (a sandbox's command)",
    title: 'Landlock (not used by nsgroups yet)',
    get: (c) => c.landlock,
    fix: 'Linux 5.13+ with landlock in the lsm= list',
  },
];

/** Which driver Cgroup.create() uses, why, and whether a systemd manager answers. */
function driverFeature(c: HostCapabilities): Feature {
  const d = c.cgroup.driver;
  const manager = `systemd ${d.systemd.manager} manager: ${d.systemd.reachable ? `systemd ${d.systemd.version} at ${d.systemd.address}` : d.systemd.reason}`;
  if (!d.name) return { supported: false, reason: `${d.reason}; ${manager}`, fix: d.fix ?? 'the fix under "a base for new cgroups"' };
  return { supported: true, reason: `${d.name}: ${d.reason}${d.name === 'systemd' ? '' : `; ${manager}`}` };
}

/** The controllers the kernel lists for the delegated subtree (v2), against those nsgroups enables. */
function delegationFeature(c: HostCapabilities): Feature {
  const d = c.cgroup.driver;
  if (!d.subtree) {
    return c.cgroup.mode === 'v2'
      ? { supported: false, reason: d.name ? 'not probed' : 'no delegated subtree (no driver can make cgroups)', fix: d.fix }
      : { supported: true, reason: `this ${c.cgroup.mode} host's limits are on cgroup v1 (the cgroup2 tree is for tracking only)` };
  }
  const lists = `${d.subtree.path}: cgroup.controllers ${d.subtree.controllers.join(' ') || '(none)'}, cgroup.subtree_control ${d.subtree.subtreeControl.join(' ') || '(none)'}`;
  if (d.missing?.length) return { supported: false, reason: `${d.missing.join(', ')} not delegated (${lists})`, fix: d.fix };
  return { supported: true, reason: lists };
}

/** Every hierarchy the limits use has a writable base (on hybrid hosts the cgroup2 one is optional). */
function baseFeature(c: HostCapabilities): Feature {
  if (c.cgroup.driver.name === 'systemd') {
    return { supported: true, reason: `a delegated systemd scope of this process (${c.cgroup.driver.subtree?.path ?? 'made on the first Cgroup.create'})` };
  }
  const needed = c.cgroup.mode === 'v2' ? c.cgroup.base : c.cgroup.base.filter((b) => b.version === 1);
  const missing = needed.filter((b) => !b.path);
  if (needed.length === 0) return { supported: false, reason: 'no cgroup hierarchy is mounted' };
  if (missing.length) {
    const uid = process.geteuid!();
    return {
      supported: false,
      reason: `none writable by uid ${uid} in ${missing.length === needed.length ? 'any hierarchy' : missing.map((b) => b.hierarchy).join(', ')}`,
    };
  }
  // one line for the base, however many hierarchies share it
  const how = { root: 'as root', delegated: 'delegated to this user', env: 'NSGROUPS_CGROUP_ROOT', option: 'given' };
  const groups = new Map<string, { rel: string; source: string; hierarchies: string[] }>();
  for (const b of c.cgroup.base.filter((x) => x.path)) {
    const rel = b.path!.slice(b.hierarchy.length) || '/';
    const key = `${rel} ${b.source}`;
    const g = groups.get(key) ?? { rel, source: how[b.source!], hierarchies: [] };
    g.hierarchies.push(b.hierarchy);
    groups.set(key, g);
  }
  const reason = [...groups.values()]
    .map((g) => `${g.rel} in ${g.hierarchies.length === 1 ? g.hierarchies[0] : `each of the ${g.hierarchies.length} hierarchies`}, ${g.source}`)
    .join('; ');
  const tracking = c.cgroup.mode === 'hybrid' && c.cgroup.base.some((b) => b.version === 2 && !b.path);
  return { supported: true, reason: tracking ? `${reason}; none in the cgroup2 tree (no CLONE_INTO_CGROUP, no cgroup.kill)` : reason };
}

function hierarchies(c: HostCapabilities): string[] {
  const byMount = new Map<string, { version: number; names: string[] }>();
  for (const [name, info] of Object.entries(c.cgroup.controllers)) {
    const m = byMount.get(info.mountPoint) ?? { version: info.version, names: [] };
    m.names.push(name);
    byMount.set(info.mountPoint, m);
  }
  const out: string[] = [];
  for (const version of [1, 2]) {
    const mounts = [...byMount].filter(([, m]) => m.version === version);
    if (!mounts.length) continue;
    const parents = new Set(mounts.map(([mp]) => mp.slice(0, mp.lastIndexOf('/'))));
    const list = mounts.map(([, m]) => m.names.sort().join(',')).join(' ');
    if (version === 1) out.push(`  v1 controllers: ${list}${parents.size === 1 ? ` (each under ${[...parents][0]})` : ''}`);
    else out.push(`  v2 controllers: ${list || '(none)'}`);
  }
  return out;
}

function indent(label: string, text: string): string {
  const pad = ' '.repeat(7);
  return text
    .split('\n')
    .map((l, i) => (i === 0 ? `\n${pad}${label}: ${l}` : `\n${pad}     ${l}`))
    .join('');
}

function line(check: Check, f: Feature, fixFor: (check: Check, f: Feature) => string | undefined): string {
  if (f.supported) return `  yes  ${check.title}${f.reason ? `  (${f.reason})` : ''}`;
  // what could not be tried has no fix of its own: the line that says why not has it
  if (f.reason?.startsWith('not probed')) return `  NO   ${check.title}  (${f.reason})`;
  const fix = fixFor(check, f);
  return `  NO   ${check.title}${f.reason ? indent('why', f.reason) : ''}${fix ? indent('fix', fix) : ''}`;
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'no passwd entry';
  }
}

export function formatReport(c: HostCapabilities, checks: readonly Check[], delegation: string): string {
  const fixFor = (check: Check, f: Feature): string | undefined => f.fix ?? check.fix ?? (check.id === 'cgroups' ? delegation : undefined);
  const uid = process.geteuid!();
  const out = [`kernel ${c.kernel.release}, node ${process.version}, ${uid === 0 ? 'as root' : `as ${userName()} (uid ${uid})`}`];
  const sections = new Map<string, Check[]>();
  for (const k of checks) sections.set(k.section, [...(sections.get(k.section) ?? []), k]);
  for (const [section, list] of sections) {
    if (section === 'cgroups') {
      out.push(`cgroups: ${c.cgroup.mode}${c.cgroup.unified ? ` (cgroup2 at ${c.cgroup.unified})` : ''}`, ...hierarchies(c));
    } else out.push(`${section}:`);
    const features = list.map((k) => k.get(c));
    // limits that all fail for one reason (no cgroup to try them on) take one line, not ten
    const oneReason = list.length > 1 && features.every((f) => !f.supported && f.reason === features[0].reason);
    if (section.startsWith('limits') && oneReason) {
      out.push(line({ ...list[0], title: `any limit (${list.map((k) => k.id).join(', ')})` }, features[0], fixFor));
      continue;
    }
    list.forEach((k, i) => out.push(line(k, features[i], fixFor)));
  }
  return out.join('\n');
}

export function summary(c: HostCapabilities, checks: readonly Check[], checked: boolean): string {
  const missing = checks.filter((k) => !k.get(c).supported).map((k) => k.id);
  const what = checked ? 'checked features' : 'features';
  if (missing.length === 0) return `all ${checks.length} ${what} available`;
  return `${checks.length - missing.length} of ${checks.length} ${what} available; missing: ${missing.join(', ')}`;
}

const DOCTOR_OPTIONS: OptionSpec[] = [
  { long: 'check', help: 'exit 1 when a FEATURE named after the options (or, with none, any) is missing' },
  { long: 'json', help: 'print capabilities() as JSON instead' },
  { long: 'help', short: 'h', help: 'this text' },
];

export const DOCTOR_USAGE = `usage: nsgroups doctor [--json] [--check [FEATURE...]]

Probes what this host supports for this caller (each feature is tried, not guessed from the kernel
version) and prints one line per feature, with why it is missing and how to get it, and a summary.
Exits 0 whatever is missing; with --check, 1 when a checked feature is missing.

options:
${formatOptions(DOCTOR_OPTIONS)}

features:
${CHECKS.map((k) => `  ${k.id.padEnd(21)}${k.section.split(' (')[0]}: ${k.title}`).join('\n')}`;

export async function doctor(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, DOCTOR_OPTIONS, false);
  const flags = new Set(options.map((o) => o.spec.long));
  if (flags.has('help')) {
    console.log(DOCTOR_USAGE);
    return 0;
  }
  const check = flags.has('check');
  if (positionals.length && !check) throw new UsageError(`unexpected argument '${positionals[0]}' (feature names follow --check)`);
  const unknown = positionals.find((p) => !CHECKS.some((k) => k.id === p));
  if (unknown !== undefined) throw new UsageError(`unknown feature '${unknown}' (nsgroups doctor --help lists them)`);
  const checks = positionals.length ? CHECKS.filter((k) => positionals.includes(k.id)) : CHECKS;

  const c = await capabilities();
  if (flags.has('json')) console.log(JSON.stringify(c, null, 2));
  else {
    console.log(formatReport(c, checks, delegationHint(await detectCgroupLayout())));
    console.log(summary(c, checks, positionals.length > 0));
  }
  return check && checks.some((k) => !k.get(c).supported) ? 1 : 0;
}
