// capabilities(): what this host supports, probed (a real sandbox tries each feature), never
// guessed from a version number; each answer that is "no" says why and how to get it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errnoName, NsgroupsError } from '../errors';
import { native } from '../native';
import { Cgroup } from '../cgroup/cgroup';
import { cgroupCapabilities, type CgroupCapabilities } from '../cgroup/capabilities';
import { run } from '../spawn/index';
import { resolveSpawn, type SpawnOptions } from '../spawn/options';
import { spawnResolved } from '../spawn/process';
import { decideUnprivilegedUserns, readUsernsSysctls, type UsernsSysctls } from './userns';

export interface Feature {
  supported: boolean;
  /** why not (or a note on how it was found) */
  reason?: string;
}

export interface HostCapabilities {
  kernel: { release: string; version: { major: number; minor: number; patch: number } };
  userNamespaces: {
    /** may an unprivileged user create one (decided from the sysctls and AppArmor) */
    unprivileged: Feature;
    /** can this caller create one (probed) */
    caller: Feature;
    sysctls: UsernsSysctls;
  };
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
  clone3: Feature;
  pidfd: Feature;
  timeNamespaces: Feature;
  /** recursive read-only binds (mount_setattr, Linux 5.12) */
  mountSetattr: Feature;
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
  for (const b of (await cgroupCapabilities()).base) {
    if (!b.path) continue;
    try {
      for (const name of fs.readdirSync(b.path)) if (stale(name, 'probe')) names.add(name);
    } catch {
      /* not there */
    }
  }
  for (const name of names) await Promise.resolve().then(() => Cgroup.open(name).delete({ kill: true })).catch(() => {});
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

/** Spawns `cat /proc/self/cgroup` into a fresh cgroup with CLONE_INTO_CGROUP and no fallback. */
async function probeCloneIntoCgroup(): Promise<Feature> {
  let cg: Cgroup;
  try {
    cg = await Cgroup.create(`probe-${process.pid}-${Date.now()}`);
  } catch (err) {
    return { supported: false, reason: `no cgroup of ours to try it in: ${(err as Error).message}` };
  }
  try {
    const v2Dir = cg._placement().v2Dir;
    if (!v2Dir) return { supported: false, reason: 'no cgroup2 hierarchy: CLONE_INTO_CGROUP needs one' };
    const p = spawnResolved(resolveSpawn('cat', ['/proc/self/cgroup'], { cgroup: cg, stdio: ['ignore', 'pipe', 'ignore'] }), { strictCgroup: true });
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d));
    p.on('error', () => {});
    try {
      await p.exited;
      // the pipe may have closed before the exit was seen: a 'close' listener added now would
      // never fire, and with nothing else pending Node would exit with this promise unsettled
      await new Promise((r) => (p.stdout && !p.stdout.closed ? p.stdout.once('close', r) : r(null)));
    } catch (err) {
      return { supported: false, reason: (err as Error).message };
    }
    const inside = /^0::(.*)$/m.exec(out)?.[1];
    return inside && v2Dir.endsWith(inside) ? { supported: true } : { supported: false, reason: `the child was not in its cgroup (${inside})` };
  } finally {
    // a probe must not leave its cgroup behind: one more try after a moment (EBUSY while the
    // kernel finishes the exit)
    await cg.delete({ kill: true }).catch(() => new Promise((r) => setTimeout(r, 200)).then(() => cg.delete({ kill: true }).catch(() => {})));
  }
}

export async function capabilities(): Promise<HostCapabilities> {
  const root = process.geteuid!() === 0;
  const ns = (...types: NonNullable<SpawnOptions['namespaces']>): SpawnOptions['namespaces'] =>
    root ? types : ['user', ...types];
  const sysctls = readUsernsSysctls();
  const decision = decideUnprivilegedUserns(sysctls);
  await sweepStaleProbes();

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-probe-${process.pid}-`));
  try {
    fs.chmodSync(scratch, 0o755);
    // An overlay on a tmpfs of the sandbox's own: lower, upper and work inside it.
    const overlay = (userxattr: boolean): string =>
      `cd ${scratch} && mkdir l u w m && echo x > l/f && ` +
      `mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w${userxattr ? ',userxattr' : ''} m && rm m/f && test ! -e l/f -o -e l/f`;
    const tmpfs = { type: 'tmpfs' as const, target: scratch };
    const [cgroup, cloneIntoCgroup, caller, clone, overlayHere, overlayUserns, time, setattr] = await Promise.all([
      cgroupCapabilities(),
      probeCloneIntoCgroup(),
      probeSpawn({ namespaces: ['user'], stdio: 'ignore' }),
      probeSpawn({ stdio: 'ignore' }),
      probe(overlay(!root), { namespaces: ns('mount'), mounts: [tmpfs] }),
      probe(overlay(true), { namespaces: ['user', 'mount'], mounts: [tmpfs] }),
      probeSpawn({ namespaces: ns('time'), timeOffsets: { monotonic: 0 }, stdio: 'ignore' }),
      probeSpawn({ namespaces: ns('mount'), mounts: [{ type: 'bind', source: scratch, target: scratch, readonly: true, recursive: true }], stdio: 'ignore' }),
    ]);
    const unprivileged: Feature = root
      ? { supported: decision.allowed, reason: decision.reason ?? 'decided from the sysctls (the caller is root)' }
      : { supported: caller.supported, reason: caller.supported ? undefined : decision.reason ?? caller.reason };
    return {
      kernel: parseKernelRelease(os.release()),
      userNamespaces: { unprivileged, caller, sysctls },
      overlay: { available: overlayHere, inUserNamespace: overlayUserns },
      cgroup,
      cloneIntoCgroup,
      cgroupKill: cgroup.kill,
      clone3: probeClone3(),
      pidfd: clone.supported ? { supported: true, reason: 'every spawn uses CLONE_PIDFD' } : clone,
      timeNamespaces: time,
      mountSetattr: setattr,
    };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
