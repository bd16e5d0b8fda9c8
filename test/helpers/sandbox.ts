// Sandboxes the namespace tests hold open while they compare the library with the kernel.
import { once } from 'node:events';
import * as fs from 'node:fs';
import { spawn, type SandboxProcess } from '../../lib';
import type { NamespaceType, SpawnOptions } from '../../lib';

/** A sleeping process in new namespaces, started (its namespaces exist once this resolves). */
export async function startSleeper(namespaces: NamespaceType[], extra: SpawnOptions = {}): Promise<SandboxProcess> {
  const p = spawn('sleep', ['1000'], { namespaces, stdio: 'ignore', ...extra });
  await once(p, 'spawn');
  return p;
}

export async function stopSleeper(p: SandboxProcess | undefined): Promise<void> {
  if (!p) return;
  p.kill('SIGKILL');
  await p.exited.catch(() => {});
}

/**
 * The init of the pid namespace `pid` is in: the process of that namespace that is its pid 1
 * (the sandbox's init is the command's sibling, both children of the Node process).
 */
export function initOf(pid: number): number {
  const ns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/ns/pid`) !== ns) continue;
      const nspid = /^NSpid:\s*(.*)$/m
        .exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))![1]
        .trim()
        .split(/\s+/);
      if (nspid.at(-1) === '1') return Number(name);
    } catch {
      /* gone */
    }
  }
  throw new Error(`no init found for the pid namespace of ${pid}`);
}

/** The children of `pid`. */
export function childrenOf(pid: number): number[] {
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
}

/** "net:[4026531840]" → 4026531840 */
export function inodeOf(link: string): number {
  return Number(/\[(\d+)\]/.exec(link)![1]);
}

/** The nsfs mounts of our mount namespace: mount point → "net:[ino]". */
export function nsfsMounts(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash > 0 && f[dash + 1] === 'nsfs') out.set(f[4].replace(/\\040/g, ' '), f[3]);
  }
  return out;
}

/** Whether the fd is close-on-exec, from /proc/self/fdinfo (flags are octal; O_CLOEXEC 02000000). */
export function isCloexec(fd: number): boolean {
  const flags = /flags:\s*([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1];
  return (parseInt(flags, 8) & 0o2000000) !== 0;
}
