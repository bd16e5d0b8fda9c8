// capabilities(): what this host supports, probed (a real sandbox tries each feature), never
// guessed from a version number; each answer that is "no" says why and how to get it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errnoName, NsgroupsError } from '../errors';
import { addonStatus, native } from '../native';
import { Cgroup } from '../cgroup/cgroup';
import { cgroupCapabilities, type CgroupCapabilities } from '../cgroup/capabilities';
import { run } from '../spawn/index';
import { resolveSpawn, type SpawnOptions } from '../spawn/options';
import { spawnResolved } from '../spawn/process';
import { probeIdMapping } from './idmapping';
import { firstLine, NO_BASE_FIX, noCgroupReason, probeLimits, type LimitName } from './limits';
import { decideUnprivilegedUserns, readUsernsSysctls, type UsernsSysctls } from './userns';

export { LIMIT_NAMES, type LimitName } from './limits';

/** One answer of capabilities(): whether the host (for this caller) has a feature, and if not why. */
export interface Feature {
  /** the feature works here (most are probed by trying them) */
  supported: boolean;
  /** why not (or a note on how it was found) */
  reason?: string;
  /** how to get it, where that depends on why it is missing (doctor prints it) */
  fix?: string;
}

/**
 * What capabilities() found: the kernel, and one {@link Feature} per thing the library can use.
 * `nsgroups doctor` prints it.
 */
export interface HostCapabilities {
  /** the running kernel (uname -r) */
  kernel: {
    /** the release string, e.g. '6.1.0-18-amd64' */
    release: string;
    /** the release's leading numbers (0 for a part it lacks) */
    version: {
      /** e.g. 6 */
      major: number;
      /** e.g. 1 */
      minor: number;
      /** e.g. 0 */
      patch: number;
    };
  };
  /** user namespaces, for unprivileged users and for this caller */
  userNamespaces: {
    /** may an unprivileged user create one (decided from the sysctls and AppArmor) */
    unprivileged: Feature;
    /** can this caller create one (probed) */
    caller: Feature;
    /** the sysctls that gate them, as read */
    sysctls: UsernsSysctls;
  };
  /** overlayfs */
  overlay: {
    /** overlayfs mounts (probed in a sandbox of this caller) */
    available: Feature;
    /** overlayfs inside a user namespace, with userxattr (probed; Linux 5.11+) */
    inUserNamespace: Feature;
  };
  /** cgroup mode, controllers per hierarchy, the writable base, cgroup.kill, freeze, PSI */
  cgroup: CgroupCapabilities;
  /** a child born in its cgroup (clone3 CLONE_INTO_CGROUP, Linux 5.7), probed in a cgroup of ours */
  cloneIntoCgroup: Feature;
  /** cgroup.kill (Linux 5.14): the same as cgroup.kill, at the top level with the other features */
  cgroupKill: Feature;
  /** the clone3(2) system call (Linux 5.3) */
  clone3: Feature;
  /** pidfds (CLONE_PIDFD): every spawn uses one */
  pidfd: Feature;
  /** time namespaces (Linux 5.6), probed with a spawn */
  timeNamespaces: Feature;
  /** a sandbox's command runs under the default seccomp filter (SECCOMP_MODE_FILTER) */
  seccomp: Feature;
  /** a sandbox's command holds no capability, with no_new_privs */
  leastPrivilege: Feature;
  /** Landlock (nsgroups does not use it yet: reported for what the host could do) */
  landlock: Feature;
  /** recursive read-only binds (mount_setattr, Linux 5.12) */
  mountSetattr: Feature;
  /** the native addon loads: every feature probed by a spawn needs it */
  addon: Feature;
  /** each limit, set on a cgroup of ours (not tried when there is no writable cgroup base) */
  limits: Record<LimitName, Feature>;
  /** what an unprivileged caller needs to map id ranges (uidMap/gidMap beyond its own ids) */
  idMapping: {
    /** the newuidmap setuid helper (shadow-utils) */
    newuidmap: Feature;
    /** the newgidmap setuid helper */
    newgidmap: Feature;
    /** an entry for the caller in /etc/subuid */
    subuid: Feature;
    /** an entry for the caller in /etc/subgid */
    subgid: Feature;
  };
}

export function parseKernelRelease(release: string): HostCapabilities['kernel'] {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  return {
    release,
    version: { major: Number(m?.[1] ?? 0), minor: Number(m?.[2] ?? 0), patch: Number(m?.[3] ?? 0) },
  };
}

/** Runs `script` with sh in a sandbox; supported when it exits 0, else the reason it gave. */
async function probe(script: string, options: SpawnOptions): Promise<Feature> {
  try {
    const r = await run('sh', ['-c', script], { ...options, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, timeout: 10000 });
    if (r.code === 0) return { supported: true };
    return { supported: false, reason: (r.stderr.trim().split('\n').pop() || `exit status ${r.code ?? r.signal}`).slice(0, 300) };
  } catch (err) {
    return { supported: false, reason: err instanceof NsgroupsError ? err.message : String(err) };
  }
}

async function probeSpawn(options: SpawnOptions): Promise<Feature> {
  return probe('true', options);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Probes leave nothing behind — unless their process was killed in the middle of one: what a
 * dead process left (its pid is in the name) is removed by the next capabilities().
 */
async function sweepStaleProbes(): Promise<void> {
  const stale = (name: string, prefix: string): boolean => {
    const m = new RegExp(`^${prefix}-(\\d+)-`).exec(name);
    return m !== null && Number(m[1]) !== process.pid && !processExists(Number(m[1]));
  };
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (stale(name, 'nsgroups-probe')) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
  const names = new Set<string>();
  for (const b of (await cgroupCapabilities({ probeDriver: false })).base) {
    if (!b.path) continue;
    try {
      for (const name of fs.readdirSync(b.path)) if (stale(name, 'probe')) names.add(name);
    } catch {
      /* not there */
    }
  }
  for (const name of names)
    await Promise.resolve()
      .then(() => Cgroup.open(name).delete({ kill: true }))
      .catch(() => {});
}

/** clone3 itself (spawn falls back to clone where it is refused, so a spawn says nothing). */
function probeClone3(): Feature {
  const r = native().probeClone3();
  if (r === -22) return { supported: true }; // EINVAL: there, and refusing our empty arguments
  return {
    supported: false,
    reason: `clone3 answers ${errnoName(r)}: a kernel older than 5.3, or a seccomp filter (Docker's default profile) refuses it; spawn uses clone instead, without CLONE_INTO_CGROUP`,
  };
}

/**
 * Spawns `cat /proc/self/cgroup` into a fresh cgroup with CLONE_INTO_CGROUP and no fallback.
 * Where it cannot be tried, the reason says what is missing on this host — a cgroup2 directory
 * the caller may write, or clone3 itself — not a kernel version.
 */
async function probeCloneIntoCgroup(): Promise<Feature> {
  let cg: Cgroup;
  try {
    cg = await Cgroup.create(`probe-${process.pid}-${Date.now()}`);
  } catch (err) {
    return { supported: false, reason: noCgroupReason(err), fix: NO_BASE_FIX };
  }
  try {
    const placement = cg._placement();
    const v2Dir = placement.v2Dir;
    if (placement.attach || placement.blocked) {
      // the v2 delegation rule: this process sits outside the subtree its cgroups are in
      return {
        supported: false,
        reason:
          `not for this process: it may not move processes into ${cg.driver === 'systemd' ? `its systemd scope ${cg.unit}` : 'its cgroups'} ` +
          `(the common-ancestor rule of cgroup v2 delegation)${placement.attach ? ', so systemd moves each child there (AttachProcessesToUnit) before it execs' : ''}`,
        fix: "run the program inside the delegated subtree (for a user: in the user manager's tree, e.g. systemd-run --user --scope node …), then its children are born in their cgroup",
      };
    }
    if (!v2Dir) {
      return {
        supported: false,
        reason: 'not tried: no cgroup2 directory of ours (CLONE_INTO_CGROUP takes a cgroup2 directory; this host has no cgroup2 mount we may write)',
        fix: 'a cgroup2 mount (a v2 or hybrid host) with a subtree this caller may write',
      };
    }
    const clone3 = probeClone3();
    if (!clone3.supported) return { supported: false, reason: `no clone3: ${clone3.reason}` };
    let out = '';
    try {
      const p = spawnResolved(resolveSpawn('cat', ['/proc/self/cgroup'], { cgroup: cg, stdio: ['ignore', 'pipe', 'ignore'] }), { strictCgroup: true });
      p.stdout?.on('data', (d: Buffer) => (out += d));
      p.on('error', () => {});
      // listen for the end of the output now: it may come before the exit does
      const outputRead = new Promise((r) => (p.stdout ? p.stdout.once('close', r) : r(null)));
      await p.exited;
      await outputRead;
    } catch (err) {
      // clone3 refuses a flag it does not know with EINVAL or E2BIG (clone(2)): an older kernel
      const old = err instanceof NsgroupsError && (err.errno === -22 || err.errno === -7);
      return { supported: false, reason: firstLine(err), ...(old ? { fix: 'Linux 5.7+ (clone3 with CLONE_INTO_CGROUP)' } : {}) };
    }
    const inside = /^0::(.*)$/m.exec(out)?.[1];
    return inside && v2Dir.endsWith(inside) ? { supported: true } : { supported: false, reason: `the child was not in its cgroup (${inside})` };
  } finally {
    // a probe must not leave its cgroup behind: one more try after a moment (EBUSY while the
    // kernel finishes the exit)
    await cg.delete({ kill: true }).catch(() => new Promise((r) => setTimeout(r, 200)).then(() => cg.delete({ kill: true }).catch(() => {})));
  }
}

/**
 * Does the native addon load? The one place that asks (doctor reports a missing addon instead of
 * failing): point it at lib/native's own answer once that exists.
 */
/** landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version, or why not. */
function probeLandlock(): Feature {
  const r = native().probeLandlock();
  if (r > 0) return { supported: true, reason: `ABI version ${r}; nsgroups does not apply Landlock rules yet` };
  return {
    supported: false,
    reason: `landlock_create_ruleset answers ${errnoName(r)}: ${r === -38 ? 'a kernel older than 5.13, or one without CONFIG_SECURITY_LANDLOCK' : 'Landlock is off (boot with lsm=...,landlock)'}`,
  };
}

/** Whether the native addon loaded, and which file (or why not: the platform and libc looked for). */
export function probeAddon(): Feature {
  const status = addonStatus();
  if (status.loaded) return { supported: true, reason: `${status.file} (${status.platform}, ${status.libc})` };
  return {
    supported: false,
    reason: firstLine(status.error).trim(),
    fix: 'npm install-scripts approve nsgroups && npm rebuild nsgroups (needs python3, make and a C++ compiler)',
  };
}

/**
 * What this host supports, detected by trying each feature in a throw-away sandbox, never guessed
 * from a version number; each answer that is "no" says why and how to get it. It takes a moment
 * (tens of spawns): call it once.
 * @returns the kernel, user namespaces, overlay, cgroup layout and limits, clone3,
 * CLONE_INTO_CGROUP, pidfd, time namespaces, seccomp and more ({@link HostCapabilities})
 * @example
 * const caps = await capabilities();
 * if (!caps.userNamespaces.caller.supported) console.error(caps.userNamespaces.caller.reason);
 * console.log(caps.kernel.release, caps.cgroup.mode);
 */
export async function capabilities(): Promise<HostCapabilities> {
  const root = process.geteuid!() === 0;
  const ns = (...types: NonNullable<SpawnOptions['namespaces']>): SpawnOptions['namespaces'] => (root ? types : ['user', ...types]);
  const sysctls = readUsernsSysctls();
  const decision = decideUnprivilegedUserns(sysctls);
  const addon = probeAddon();
  // without the addon nothing can be spawned: those features are not probed, and say why
  const notProbed: Feature = { supported: false, reason: 'not probed: the native addon did not load' };
  const ifAddon = (probe: () => Promise<Feature>): Promise<Feature> => (addon.supported ? probe() : Promise.resolve(notProbed));
  await sweepStaleProbes();

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-probe-${process.pid}-`));
  try {
    fs.chmodSync(scratch, 0o755);
    // An overlay on a tmpfs of the sandbox's own: lower, upper and work inside it.
    const overlay = (userxattr: boolean): string =>
      `cd ${scratch} && mkdir l u w m && echo x > l/f && ` +
      `mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w${userxattr ? ',userxattr' : ''} m && rm m/f && test ! -e l/f -o -e l/f`;
    const tmpfs = { type: 'tmpfs' as const, target: scratch };
    const layout = await cgroupCapabilities();
    // what the command of a default sandbox sees of itself (the kernel's words, /proc/self/status)
    const status = (field: string, value: string): string =>
      `test "$(grep '^${field}:' /proc/self/status | cut -f2)" = ${value} || { grep '^${field}:' /proc/self/status >&2; exit 1; }`;
    const [cgroup, cloneIntoCgroup, caller, clone, overlayHere, overlayUserns, time, setattr, limits, seccomp, leastPrivilege] = await Promise.all([
      layout,
      ifAddon(probeCloneIntoCgroup),
      ifAddon(() => probeSpawn({ namespaces: ['user'], stdio: 'ignore' })),
      ifAddon(() => probeSpawn({ stdio: 'ignore' })),
      // the probe itself mounts: it keeps the sandbox's capabilities (a sandbox's command has none)
      ifAddon(() => probe(overlay(!root), { namespaces: ns('mount'), mounts: [tmpfs], capabilities: 'all' })),
      ifAddon(() => probe(overlay(true), { namespaces: ['user', 'mount'], mounts: [tmpfs], capabilities: 'all' })),
      ifAddon(() => probeSpawn({ namespaces: ns('time'), timeOffsets: { monotonic: 0 }, stdio: 'ignore' })),
      ifAddon(() =>
        probeSpawn({ namespaces: ns('mount'), mounts: [{ type: 'bind', source: scratch, target: scratch, readonly: true, recursive: true }], stdio: 'ignore' }),
      ),
      probeLimits(layout.mode === 'v2'),
      ifAddon(() => probe(status('Seccomp', '2'), { namespaces: ns('mount') })),
      ifAddon(() =>
        probe(`${status('CapEff', '0000000000000000')} && ${status('CapBnd', '0000000000000000')} && ${status('NoNewPrivs', '1')}`, {
          namespaces: ns('mount'),
        }),
      ),
    ]);
    const unprivileged: Feature =
      root || !addon.supported
        ? { supported: decision.allowed, reason: decision.reason ?? `decided from the sysctls (${root ? 'the caller is root' : 'not probed: no addon'})` }
        : { supported: caller.supported, reason: caller.supported ? undefined : (decision.reason ?? caller.reason) };
    return {
      kernel: parseKernelRelease(os.release()),
      userNamespaces: { unprivileged, caller, sysctls },
      overlay: { available: overlayHere, inUserNamespace: overlayUserns },
      cgroup,
      cloneIntoCgroup,
      cgroupKill: cgroup.kill,
      clone3: addon.supported ? probeClone3() : notProbed,
      pidfd: clone.supported ? { supported: true, reason: 'every spawn uses CLONE_PIDFD' } : clone,
      timeNamespaces: time,
      seccomp,
      leastPrivilege,
      landlock: addon.supported ? probeLandlock() : notProbed,
      mountSetattr: setattr,
      addon,
      limits,
      idMapping: probeIdMapping(addon.supported),
    };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
