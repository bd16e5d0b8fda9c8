// The holder: one long-lived process that owns a sandbox's namespaces — user, mount, pid, uts,
// ipc and (unless the network is the host's) net — and whose mount namespace holds the sandbox's
// filesystem (root.ts). Every command joins them (spawn's `join`), so the commands of one sandbox
// share one world: a server started by one is reachable from the next.
//
// The pid namespace is shared too, with the library's init as its pid 1: orphans are reparented
// to it and reaped, /proc shows every process of the sandbox, and killing the init ends them all
// (pid_namespaces(7)) — what disposes of a sandbox that has no cgroup. The holder's own command
// is a shell that answers a line on its stdin with /proc/loadavg, whose last field is the last
// pid handed out in the reader's pid namespace (proc(5)): how many processes the sandbox started,
// with no process started to ask. It exits at EOF, so it dies with the Node process twice over
// (PR_SET_PDEATHSIG, and the pipe).
//
// Identity: the caller's ids are mapped onto themselves (as root: every id, so files keep their
// owners), so commands run with the caller's uid and gid, and what they write is the caller's.
//
// A pool of sandboxes (pool.ts) makes whole sandboxes ahead, holders included: a holder is the
// same whether a test waits for it or a pool made it before the test began.
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { NsgroupsError } from '../errors';
import { Namespace } from '../namespace/namespace';
import type { NamespaceType } from '../namespace/kinds';
import { spawn, type SandboxProcess } from '../spawn/index';
import type { IdMapEntry } from '../spawn/idmap';
import type { ResolvedSandbox } from './options';
import type { SandboxLayout } from './root';

const HOLDER_SCRIPT = 'while read -r _; do read -r l < /proc/loadavg; echo "$l"; done';
const HOLDER_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface Holder {
  /** the holder's pid (its shell, pid 2 in the sandbox; the init is pid 1) */
  readonly pid: number;
  /** the namespaces commands join */
  readonly join: Namespace[];
  /** "pid:[inode]": how /proc/PID/ns/pid of a process of the sandbox reads */
  readonly pidNamespace: string;
  /** the last pid handed out in the sandbox's pid namespace (1 and 2 are the holder's) */
  lastPid(): Promise<number | null>;
  /** false once the holder has exited (killed from outside, or stopped) */
  alive(): boolean;
  /** SIGKILL: the init goes with it, and every process of the pid namespace with the init */
  stop(): Promise<void>;
}

export interface HolderPlan {
  options: ResolvedSandbox;
  layout: SandboxLayout;
}

function identityMaps(): { uidMap: IdMapEntry[]; gidMap: IdMapEntry[] } {
  const uid = process.geteuid!();
  const gid = process.getegid!();
  if (uid === 0) {
    const all = [{ inside: 0, outside: 0, count: 0xffffffff }];
    return { uidMap: all, gidMap: all };
  }
  return { uidMap: [{ inside: uid, outside: uid, count: 1 }], gidMap: [{ inside: gid, outside: gid, count: 1 }] };
}

/** The identity commands take in the sandbox: the caller's own. */
export function commandUser(): { uid: number; gid: number } {
  return { uid: process.geteuid!(), gid: process.getegid!() };
}

function started(p: SandboxProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    p.once('error', reject);
    p.once('spawn', () => {
      p.off('error', reject);
      resolve();
    });
  });
}

function holderError(err: unknown, plan: HolderPlan): unknown {
  if (err instanceof NsgroupsError && err.step === 'execve' && plan.options.rootfs.kind === 'dir') {
    return new NsgroupsError(
      err.code,
      `the sandbox's rootfs ${plan.options.rootfs.dir} has no /bin/sh, which the sandbox runs as its holder: give an image with a shell`,
      { step: err.step, path: plan.options.rootfs.dir, cause: err },
    );
  }
  return err;
}

export async function startHolder(plan: HolderPlan): Promise<Holder> {
  const { options: o, layout } = plan;
  const types: NamespaceType[] = ['user', 'mount', 'pid', 'uts', 'ipc', ...(o.network === 'host' ? [] : (['net'] as const))];
  const p = spawn('/bin/sh', ['-c', HOLDER_SCRIPT], {
    namespaces: types,
    ...identityMaps(),
    user: commandUser(),
    network: o.network,
    hostname: o.hostname,
    rootfs: layout.rootfs,
    readonly: true,
    sysfs: true,
    mounts: layout.mounts,
    env: { PATH: HOLDER_PATH },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  try {
    await started(p);
  } catch (err) {
    throw holderError(err, plan);
  }
  try {
    const join = await Promise.all(types.map((t) => Namespace.of(p.pid, t)));
    const pidNamespace = fs.readlinkSync(`/proc/${p.pid}/ns/pid`);
    // infrastructure: a sandbox the caller forgot must not keep the event loop alive
    p.unref();
    const alive = (): boolean => p.exitCode === null && p.signalCode === null;
    return { pid: p.pid!, join, pidNamespace, lastPid: lastPidReader(p), alive, stop: stopper(p) };
  } catch (err) {
    p.kill('SIGKILL');
    await p.exited.catch(() => {});
    throw err;
  }
}

/** Asks the holder's shell: one line out, one line back, in order. */
function lastPidReader(p: SandboxProcess): () => Promise<number | null> {
  const stdin = p.stdin as Writable;
  const stdout = p.stdout as Readable;
  stdin.on('error', () => {});
  const waiting: Array<(line: string | null) => void> = [];
  let buffered = '';
  stdout.setEncoding('utf8');
  stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      waiting.shift()?.(line);
    }
    if (waiting.length === 0) p.unref();
  });
  stdout.on('close', () => {
    for (const w of waiting.splice(0)) w(null);
  });
  return async () => {
    if (p.exitCode !== null || p.signalCode !== null || stdout.destroyed) return null;
    const line = await new Promise<string | null>((resolve) => {
      waiting.push(resolve);
      p.ref(); // while an answer is awaited, the loop must not end under it
      stdin.write('\n');
    });
    // "0.00 0.01 0.05 1/123 457": the last field is the last pid
    const last = Number(line?.trim().split(/\s+/).at(-1));
    return line !== null && Number.isInteger(last) ? last : null;
  };
}

function stopper(p: SandboxProcess): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      p.ref(); // an unref'd exit watch would let the loop end before the exit arrives
      p.kill('SIGKILL');
      await p.exited.catch(() => {});
    })();
    return stopping;
  };
}
