// Holders of pid namespaces made by Namespace.create('pid'). A pid namespace dies with its init
// (pid_namespaces(7): once pid 1 is gone, fork() into it fails with ENOMEM), so a created one
// keeps a small init — the library's own, running a long sleep — for as long as it is pinned
// (and, pinned or not, no longer than the process that made it runs: see pin.ts). The holder's
// sleeping command carries HOLDER_ARGV0 so that an unpin from another process can recognise it.
import { promises as fsp } from 'node:fs';
import type { SandboxProcess } from '../spawn/index';

export const HOLDER_ARGV0 = 'nsgroups-pid-holder';

export interface PidHolder {
  /** the init's pid, in the caller's pid namespace */
  readonly pid: number;
  /** SIGKILLs the init (the kernel then kills the whole namespace) and waits for it */
  stop(): Promise<void>;
}

export function holderOf(child: SandboxProcess): PidHolder {
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    stop() {
      stopping ??= (async () => {
        child.ref(); // an unref'd exit watch would let the loop end before the exit arrives
        child.kill('SIGKILL');
        await child.exited.catch(() => {});
      })();
      return stopping;
    },
  };
}

// pin path → holder, for the pins this process made
const pinned = new Map<string, PidHolder>();

export function registerHolder(pinPath: string, holder: PidHolder): void {
  pinned.set(pinPath, holder);
}

async function statusField(pid: number, field: string): Promise<string | undefined> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  return status
    .split('\n')
    .find((l) => l.startsWith(`${field}:`))
    ?.slice(field.length + 1)
    .trim();
}

async function pidNamespaceInode(pid: number): Promise<number | undefined> {
  const link = await fsp.readlink(`/proc/${pid}/ns/pid`);
  return Number(/\[(\d+)\]/.exec(link)?.[1]);
}

/**
 * Ends the holder of the pid namespace `inode` that was pinned at `pinPath`, whoever made it:
 * found in /proc as a process of that namespace whose argv[0] is HOLDER_ARGV0; the namespace's
 * pid 1 (the init) is then killed, and the namespace with it. (The holder is not the init's
 * child: it is its creator's, and once its creator is gone the host's init's.) A holder this
 * process started is then also waited for, so it is reaped before unpin resolves.
 */
export async function stopHolder(pinPath: string, inode: number): Promise<void> {
  const own = pinned.get(pinPath);
  pinned.delete(pinPath);
  await killHolderInit(inode);
  await own?.stop();
}

async function killHolderInit(inode: number): Promise<void> {
  const members: number[] = [];
  let holder = false;
  for (const name of await fsp.readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      if ((await pidNamespaceInode(pid)) !== inode) continue;
      members.push(pid);
      if ((await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0] === HOLDER_ARGV0) holder = true;
    } catch {
      /* gone, or not ours to read */
    }
  }
  if (!holder) return; // not a namespace nsgroups holds: leave it alone
  for (const pid of members) {
    try {
      // pid 1 of that namespace: NSpid's last entry is its pid there
      if ((await statusField(pid, 'NSpid'))?.split(/\s+/).at(-1) !== '1') continue;
      process.kill(pid, 'SIGKILL');
      return;
    } catch {
      /* gone meanwhile */
    }
  }
}
